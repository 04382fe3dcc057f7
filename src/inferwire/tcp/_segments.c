/* inferwire.tcp._segments: one direction's TCP segments reassembled and classified, in C.
 *
 * The same rules as the readable Python, step for step (tests/tcp/test_segments_c.py compares
 * them on random directions):
 *
 * reassemble(buffer, off, wire, cap, t, frame, src)
 *     -> (starts, ends, times, frames, srcs, retransmitted_segments, retransmitted_bytes,
 *         differing_segments, uncaptured)
 *   DirectionStream.add called for every segment in turn (stream.py): the segments (time order;
 *   int64 columns, native order: stream offset, wire length, captured length, capture time,
 *   frame, offset of the first captured byte in ``buffer``) fill only the bytes no earlier
 *   segment carried; the five piece columns and ``uncaptured`` (int64 pairs: [end of the
 *   captured part, end on the wire) of each segment cut by the snap length) come back as bytes.
 *
 * classify(off, wire, t, frame, ooo_ns, mark_off, mark_t, mark_frame)
 *     -> (kinds, out_of_order, advanced_end, advanced_t)
 *   delivery.classify: per copy (time order) 0 new, 1 retransmission, 2 out of order, 3 probe
 *   (int8 bytes), the count of out-of-order copies, and (int64 bytes) the highest byte and its
 *   time after every copy or header-only mark that advanced it.
 *
 * Cost, whatever the order of the segments (a hostile or corrupt capture may send a direction's
 * segments in descending or random offset order): the pieces and the covered intervals are
 * kept in a skip list (``Ivls`` below), so a segment costs O(log pieces) expected to place, plus
 * O(its own length) to walk the pieces it overlaps and compare their bytes (every piece or gap
 * visited holds at least one of its bytes; the walks of a direction are bounded by its
 * captured bytes).  A segment in order is appended in O(1), as before.  Sorted arrays with a
 * memmove per insertion made the descending order O(n^2): 200k segments 12 s, 1M ~5 min;
 * now 1M descending segments take 0.17 s (both functions), 4M 0.65 s; a random order costs
 * more, each step of a search a cache miss: 1M 2.0 s, 4M 20 s (benchmarks/bench_hostile.py
 * --segments, docs/bad-input.md).
 *
 * header_marks(seg_d, seg_ts, seg_seq, seg_off, seg_plen, seg_fin, head_d, head_ts, head_seq,
 *              head_fin) -> (positions, offsets)
 *   grouping._header_marks' walk (its numpy reading, _header_marks_py, is the reference:
 *   tests/tcp/test_header_marks.py): the data and FIN segments (grouped by direction, time order:
 *   direction, time key, raw sequence number, stream offset, payload length, FIN 0/1) and the
 *   payload-free headers (the same order, their own columns) merged in time, a segment before a
 *   header at one time; a header's offset is its sequence number's distance (modulo 2**32) from
 *   its direction's segment before it (else after it), and it reveals a hole when that offset is
 *   past every byte (and FIN) its direction used before it.  The revealing headers' positions
 *   among the headers and their offsets, as int64 bytes.
 *
 * bucket_order(src_hi, src_lo, sport, dst_hi, dst_lo, dport, n) -> (order, counts)
 *   analysis/buckets.py's cut of the packets into n buckets of whole 4-tuples in one pass and a
 *   counting sort: each row's bucket by bucket_ids' hash (the two endpoints, address halves as
 *   uint64 and ports as 32-bit, XORed, splitmix64's finaliser, modulo n), the rows in bucket
 *   order (file order within one) and each bucket's count, as int64 bytes.
 *
 * gather(buffer, srcs, lens, i, j) -> bytes
 *   buffer[srcs[k]:srcs[k] + lens[k]] for k in range(i, j), joined (DirectionStream._runs'
 *   join of a run of small pieces; slices clamped to the buffer as Python clamps them).
 *
 * (TCP header starts and timestamps are read with the headers: packets/_headers.c.)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- growable int64 columns */

typedef struct {
    int64_t *v;
    Py_ssize_t n, cap;
} Col;

static int col_reserve(Col *c, Py_ssize_t want)
{
    if (want <= c->cap) return 0;
    Py_ssize_t cap = c->cap ? c->cap : 64;
    while (cap < want) cap *= 2;
    int64_t *v = realloc(c->v, (size_t)cap * sizeof(int64_t));
    if (v == NULL) { PyErr_NoMemory(); return -1; }
    c->v = v;
    c->cap = cap;
    return 0;
}

static int col_push(Col *c, int64_t x)
{
    if (c->n == c->cap && col_reserve(c, c->n + 1) < 0) return -1;
    c->v[c->n++] = x;
    return 0;
}

static PyObject *col_bytes(const Col *c)
{
    return PyBytes_FromStringAndSize((const char *)c->v, c->n * (Py_ssize_t)sizeof(int64_t));
}

/* A segment [off, off + len) the columns cannot hold: a negative length or an end past
 * INT64_MAX (ValueError set; the callers' numpy columns never have one). */
static int bad_span(int64_t off, int64_t len)
{
    if (len >= 0 && off <= INT64_MAX - len) return 0;
    PyErr_Format(PyExc_ValueError, "a segment at offset %lld with length %lld",
                 (long long)off, (long long)len);
    return 1;
}

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* ---------------------------------------------------------------- argument columns */

typedef struct {
    Py_buffer view[12];
    int held;
} Views;

static void views_release(Views *w)
{
    for (int i = 0; i < w->held; i++) PyBuffer_Release(&w->view[i]);
    w->held = 0;
}

/* The int64 column ``obj`` (any contiguous buffer of 8-byte items); its length in *n, which
 * must equal the first column's (n < 0: this is the first). */
static const int64_t *int64_column(Views *w, PyObject *obj, Py_ssize_t *n, const char *name)
{
    Py_buffer *b = &w->view[w->held];
    if (PyObject_GetBuffer(obj, b, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    w->held++;
    const char *f = b->format ? b->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    if (b->itemsize != 8 || !(strcmp(f, "q") == 0 || strcmp(f, "l") == 0)
        || (*n >= 0 && b->len / 8 != *n)) {
        PyErr_Format(PyExc_ValueError, "%s: an int64 column of the other columns' length", name);
        return NULL;
    }
    *n = b->len / 8;
    return (const int64_t *)b->buf;
}

/* ---------------------------------------------------------------- ordered intervals */

/* A skip list of disjoint intervals [s, e), sorted (so their ends are sorted too): what the
 * sorted columns of the Python (``starts``/``ends`` in stream.py, delivery._merge's lists) hold,
 * with each search, insertion and removal O(log n) expected instead of a memmove of the columns
 * behind it.  Those memmoves made a direction whose segments arrive in descending (or random)
 * offset order O(n^2).
 *
 * Node 0 is the head (no interval).  Level 0 links every interval in order; level L > 0 about
 * one in 4^L of them (levels drawn from a fixed-seed xorshift, so a run is reproducible; the
 * results never depend on the levels).  ``last[L]`` is the last node linked at level L (the head
 * when none): appending after ``last`` is the in-order path, O(1) like a push.  Nodes are never
 * moved; a removed node's slots are left unused (at most one node per segment is made). */

#define LEVELS 24                       /* 4^24 nodes: far more than a capture holds */
#define NIL ((int64_t)-1)
#define HEAD ((int64_t)0)

/* A node is a run of int64 in one pool, at offset x: its start, end, level, row (the nodes
 * made before it: the index of its payload, if any) and the next node at each level.  One run
 * a node, not a column a field: a step of a search reads one cache line, not three. */
typedef struct {
    Col pool;
    int64_t rows;
    int64_t last[LEVELS];
    uint64_t rng;
} Ivls;

#define START(iv, x) ((iv)->pool.v[(x)])
#define END(iv, x) ((iv)->pool.v[(x) + 1])
#define LEVEL(iv, x) ((iv)->pool.v[(x) + 2])
#define ROW(iv, x) ((iv)->pool.v[(x) + 3])
#define NEXT(iv, x, L) ((iv)->pool.v[(x) + 4 + (L)])

static void ivls_free(Ivls *v)
{
    free(v->pool.v);
}

/* A new unlinked node [s, e) with a random level; its index, or NIL (MemoryError set). */
static int64_t ivls_node(Ivls *v, int64_t s, int64_t e, int level)
{
    int64_t x = v->pool.n;
    if (col_reserve(&v->pool, x + 4 + level) < 0) return NIL;
    int64_t *at = v->pool.v + x;
    at[0] = s; at[1] = e; at[2] = level; at[3] = v->rows++;
    for (int L = 0; L < level; L++) at[4 + L] = NIL;
    v->pool.n += 4 + level;
    return x;
}

static int ivls_init(Ivls *v)
{
    memset(v, 0, sizeof *v);
    v->rng = 0x9E3779B97F4A7C15u;
    for (int L = 0; L < LEVELS; L++) v->last[L] = HEAD;
    if (ivls_node(v, 0, 0, LEVELS) == NIL) return -1;
    v->rows = 0;                        /* the head has no row */
    return 0;
}

static int random_level(Ivls *v)
{
    int level = 1;
    while (level < LEVELS) {
        v->rng ^= v->rng << 13; v->rng ^= v->rng >> 7; v->rng ^= v->rng << 17;
        if (v->rng & 3) break;
        level++;
    }
    return level;
}

static inline int64_t ivls_first(const Ivls *v) { return NEXT(v, HEAD, 0); }
static inline int64_t ivls_tail(const Ivls *v) { return v->last[0]; }   /* HEAD: empty */

/* The first interval whose end is past x (``inclusive``: at or past x), as bisect_right
 * (bisect_left) over the ends finds it, or NIL; before[L]: the last node at level L before it. */
static int64_t ivls_seek(const Ivls *v, int64_t x, int inclusive, int64_t before[LEVELS])
{
    int64_t node = HEAD;
    for (int L = LEVELS - 1; L >= 0; L--) {
        for (int64_t nx = NEXT(v, node, L); nx != NIL; nx = NEXT(v, node, L)) {
            int64_t e = END(v, nx);
            if (e > x || (inclusive && e == x)) break;
            node = nx;
        }
        before[L] = node;
    }
    return NEXT(v, node, 0);
}

/* Link a new interval [s, e) right after before[] (as ivls_seek left it); its index or NIL. */
static int64_t ivls_link(Ivls *v, int64_t s, int64_t e, const int64_t before[LEVELS])
{
    int level = random_level(v);
    int64_t x = ivls_node(v, s, e, level);
    if (x == NIL) return NIL;
    for (int L = 0; L < level; L++) {
        NEXT(v, x, L) = NEXT(v, before[L], L);
        NEXT(v, before[L], L) = x;
        if (NEXT(v, x, L) == NIL) v->last[L] = x;
    }
    return x;
}

/* Append [s, e) after every interval (the in-order path); its index or NIL.  ``last`` is
 * before[] here: ivls_link reads before[L] before it moves last[L] to the new node. */
static int64_t ivls_append(Ivls *v, int64_t s, int64_t e)
{
    return ivls_link(v, s, e, v->last);
}

/* Unlink x, the node right after before[] at each of its levels (the nodes between were
 * unlinked before it). */
static void ivls_unlink(Ivls *v, int64_t x, const int64_t before[LEVELS])
{
    for (int L = 0; L < LEVEL(v, x); L++) {
        NEXT(v, before[L], L) = NEXT(v, x, L);
        if (v->last[L] == x) v->last[L] = before[L];
    }
}

/* ---------------------------------------------------------------- reassemble */

/* The pieces: intervals in ``iv``, and per node (at its row) the time, frame and source
 * offset of the segment that first carried the piece. */
typedef struct {
    Ivls iv;
    Col times, frames, srcs;
} Pieces;

static void pieces_free(Pieces *p)
{
    ivls_free(&p->iv); free(p->times.v); free(p->frames.v); free(p->srcs.v);
}

/* The payload of the node x just made, at its row (the next): -1 if x is NIL (MemoryError
 * set) or memory runs out. */
static int pieces_payload(Pieces *p, int64_t x, int64_t t, int64_t f, int64_t src)
{
    if (x == NIL || col_push(&p->times, t) < 0 || col_push(&p->frames, f) < 0
        || col_push(&p->srcs, src) < 0) return -1;
    return 0;
}

/* buf[a:a+n] as Python slices it (a >= 0 assumed; clamped to the buffer's length). */
static void clamp(Py_ssize_t len, int64_t a, int64_t n, int64_t *lo, int64_t *hi)
{
    *lo = a < 0 ? 0 : (a > len ? len : a);
    int64_t b = a + n;
    *hi = b < *lo ? *lo : (b > len ? len : b);
}

/* DirectionStream._differs: do the bytes of [start, end) at src differ from the pieces' copy?
 * ``first``: the first piece ending past start.  Every piece visited shares a byte with the
 * segment, so the walk is bounded by the segment's length, not the direction's. */
static int differs(const Pieces *p, int64_t first, const unsigned char *buf, Py_ssize_t len,
                   int64_t start, int64_t end, int64_t src)
{
    const Ivls *v = &p->iv;
    for (int64_t i = first; i != NIL && START(v, i) < end; i = NEXT(v, i, 0)) {
        int64_t s = max64(START(v, i), start), e = min64(END(v, i), end);
        if (s >= e) continue;
        int64_t a0, a1, b0, b1;
        clamp(len, p->srcs.v[ROW(v, i)] + (s - START(v, i)), e - s, &a0, &a1);
        clamp(len, src + (s - start), e - s, &b0, &b1);
        if (a1 - a0 != b1 - b0 || memcmp(buf + a0, buf + b0, (size_t)(a1 - a0)) != 0) return 1;
    }
    return 0;
}

/* DirectionStream._insert: fill only the parts of [start, end) no earlier segment carried.
 * The walk visits the pieces [start, end) overlaps and the gaps between them, each at least
 * one byte of the segment: O(segment length + log pieces).  ``gaps``: scratch pairs. */
static int insert(Pieces *p, Col *gaps, const unsigned char *buf, Py_ssize_t len, int64_t start,
                  int64_t end, int64_t t, int64_t frame, int64_t src, int64_t *counts)
{
    Ivls *v = &p->iv;
    int64_t before[LEVELS];
    int64_t first = ivls_seek(v, start, 0, before), i = first;
    int64_t cursor = start, covered = 0;
    gaps->n = 0;
    while (cursor < end) {
        if (i != NIL && START(v, i) <= cursor) {
            covered += min64(END(v, i), end) - cursor;
            cursor = END(v, i);
            i = NEXT(v, i, 0);
            continue;
        }
        int64_t stop = i != NIL ? min64(end, START(v, i)) : end;
        if (col_push(gaps, cursor) < 0 || col_push(gaps, stop) < 0) return -1;
        cursor = stop;
    }
    if (covered) {
        counts[0] += 1;
        counts[1] += covered;
        counts[2] += differs(p, first, buf, len, start, end, src);
    }
    for (Py_ssize_t k = 0; k < gaps->n; k += 2) {
        int64_t s = gaps->v[k];
        /* the gap lies between pieces: it goes before the first piece ending past s */
        ivls_seek(v, s, 0, before);
        if (pieces_payload(p, ivls_link(v, s, gaps->v[k + 1], before), t, frame,
                           src + (s - start)) < 0) return -1;
    }
    return 0;
}

/* The five piece columns as bytes, in stream order. */
static PyObject *pieces_result(const Pieces *p)
{
    const Ivls *v = &p->iv;
    Py_ssize_t n = (Py_ssize_t)v->rows;
    PyObject *out[5] = {NULL};
    PyObject *result = NULL;
    for (int c = 0; c < 5; c++)
        if ((out[c] = PyBytes_FromStringAndSize(NULL, n * 8)) == NULL) goto done;
    int64_t *to[5];
    for (int c = 0; c < 5; c++) to[c] = (int64_t *)PyBytes_AS_STRING(out[c]);
    for (int64_t x = ivls_first(v); x != NIL; x = NEXT(v, x, 0)) {
        int64_t row = ROW(v, x);
        *to[0]++ = START(v, x);
        *to[1]++ = END(v, x);
        *to[2]++ = p->times.v[row];
        *to[3]++ = p->frames.v[row];
        *to[4]++ = p->srcs.v[row];
    }
    result = PyTuple_Pack(5, out[0], out[1], out[2], out[3], out[4]);
done:
    for (int c = 0; c < 5; c++) Py_XDECREF(out[c]);
    return result;
}

static PyObject *reassemble(PyObject *self, PyObject *args)
{
    PyObject *bufobj, *o[6];
    if (!PyArg_ParseTuple(args, "OOOOOOO", &bufobj, &o[0], &o[1], &o[2], &o[3], &o[4], &o[5]))
        return NULL;
    static const char *names[6] = {"off", "wire", "cap", "t", "frame", "src"};
    Views w = {.held = 0};
    Pieces p;
    Col uncaptured = {0}, gaps = {0};
    PyObject *result = NULL, *cols = NULL;
    const int64_t *c[6];
    Py_ssize_t n = -1;
    memset(&p, 0, sizeof p);
    if (ivls_init(&p.iv) < 0) goto done;
    Py_buffer *bv = &w.view[w.held];
    if (PyObject_GetBuffer(bufobj, bv, PyBUF_SIMPLE) < 0) goto done;
    w.held++;
    for (int k = 0; k < 6; k++)
        if ((c[k] = int64_column(&w, o[k], &n, names[k])) == NULL) goto done;
    const unsigned char *buf = (const unsigned char *)bv->buf;
    int64_t counts[3] = {0, 0, 0};
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t start = c[0][i], wire = c[1][i], cap = c[2][i];
        if (bad_span(start, wire) || bad_span(start, cap)) goto done;
        int64_t end = start + cap;
        if (cap < wire && (col_push(&uncaptured, end) < 0
                           || col_push(&uncaptured, start + wire) < 0)) goto done;
        if (cap <= 0) continue;
        int64_t tail = ivls_tail(&p.iv);
        if (tail == HEAD || start >= END(&p.iv, tail)) {                /* in order: append */
            if (pieces_payload(&p, ivls_append(&p.iv, start, end), c[3][i], c[4][i],
                               c[5][i]) < 0) goto done;
            continue;
        }
        if (insert(&p, &gaps, buf, bv->len, start, end, c[3][i], c[4][i], c[5][i], counts) < 0)
            goto done;
    }
    if ((cols = pieces_result(&p)) == NULL) goto done;
    result = Py_BuildValue("(OOOOOLLLN)", PyTuple_GET_ITEM(cols, 0), PyTuple_GET_ITEM(cols, 1),
                           PyTuple_GET_ITEM(cols, 2), PyTuple_GET_ITEM(cols, 3),
                           PyTuple_GET_ITEM(cols, 4), (long long)counts[0],
                           (long long)counts[1], (long long)counts[2], col_bytes(&uncaptured));
done:
    Py_XDECREF(cols);
    views_release(&w);
    pieces_free(&p);
    free(uncaptured.v);
    free(gaps.v);
    return result;
}

/* ---------------------------------------------------------------- classify */

enum { NEW = 0, RETRANS = 1, OOO = 2, PROBE = 3 };

/* delivery._merge: add [s, e) to the disjoint intervals, joining those it overlaps or touches
 * (ends at or past s, starts at or before e): each removed once, so O(log n) amortized. */
static int merge(Ivls *v, int64_t s, int64_t e)
{
    int64_t before[LEVELS];
    int64_t x = ivls_seek(v, s, 1, before), e0 = e;
    if (x != NIL && START(v, x) <= e0) s = min64(s, START(v, x));
    while (x != NIL && START(v, x) <= e0) {
        int64_t next = NEXT(v, x, 0);
        e = max64(e, END(v, x));
        ivls_unlink(v, x, before);
        x = next;
    }
    return ivls_link(v, s, e, before) == NIL ? -1 : 0;
}
static PyObject *classify(PyObject *self, PyObject *args)
{
    PyObject *o[7];
    long long ooo_ns;
    if (!PyArg_ParseTuple(args, "OOOOLOOO", &o[0], &o[1], &o[2], &o[3], &ooo_ns, &o[4], &o[5],
                          &o[6]))
        return NULL;
    static const char *names[7] = {"off", "wire", "t", "frame", "mark_off", "mark_t",
                                   "mark_frame"};
    Views w = {.held = 0};
    const int64_t *c[7];
    Py_ssize_t n = -1, nm = -1;
    Col adv_end = {0}, adv_t = {0};
    Ivls cover;                         /* the bytes covered so far */
    if (ivls_init(&cover) < 0) { ivls_free(&cover); return NULL; }
    PyObject *kinds_obj = NULL, *result = NULL;
    for (int k = 0; k < 4; k++)
        if ((c[k] = int64_column(&w, o[k], &n, names[k])) == NULL) goto done;
    for (int k = 4; k < 7; k++)
        if ((c[k] = int64_column(&w, o[k], &nm, names[k])) == NULL) goto done;
    kinds_obj = PyBytes_FromStringAndSize(NULL, n);
    if (kinds_obj == NULL) goto done;
    char *kinds = PyBytes_AS_STRING(kinds_obj);
    const int64_t *moff = c[4], *mt = c[5], *mf = c[6];
    int64_t max_end = 0, t_adv = -1, ooo = 0;
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t off = c[0][i], wire = c[1][i], t = c[2][i], frame = c[3][i];
        while (k < nm && t >= 0 && (mt[k] < t || (mt[k] == t && mf[k] < frame))) {
            if (moff[k] > max_end) {
                max_end = moff[k];
                t_adv = mt[k];
                if (col_push(&adv_end, max_end) < 0 || col_push(&adv_t, t_adv) < 0) goto done;
            }
            k++;
        }
        if (bad_span(off, wire)) goto done;
        int64_t end = off + wire;
        if (off >= max_end) {                  /* new bytes in order: the usual copy */
            kinds[i] = NEW;
            int64_t tail = ivls_tail(&cover);
            if (tail != HEAD && off == END(&cover, tail)) {
                END(&cover, tail) = end;
            } else if (wire > 0) {
                if (ivls_append(&cover, off, end) == NIL) goto done;
            }
        } else {
            int64_t before[LEVELS];
            int64_t j = ivls_seek(&cover, off, 0, before);
            int overlaps = j != NIL && START(&cover, j) < end;
            char kind;
            if (wire <= 1 && off == max_end - 1 && end <= max_end) {
                kind = PROBE;
            } else if (overlaps) {
                kind = RETRANS;
            } else {                           /* off < max_end here */
                int late = t < 0 || t_adv < 0 || t - t_adv >= ooo_ns;
                kind = late ? RETRANS : OOO;
                ooo += kind == OOO;
            }
            kinds[i] = kind;
            if (merge(&cover, off, end) < 0) goto done;
        }
        if (end > max_end) {
            max_end = end;
            t_adv = t;
            if (col_push(&adv_end, max_end) < 0 || col_push(&adv_t, t_adv) < 0) goto done;
        }
    }
    result = Py_BuildValue("(OLNN)", kinds_obj, (long long)ooo, col_bytes(&adv_end),
                           col_bytes(&adv_t));
done:
    Py_XDECREF(kinds_obj);
    views_release(&w);
    ivls_free(&cover); free(adv_end.v); free(adv_t.v);
    return result;
}

/* ---------------------------------------------------------------- header marks */

#define HALF32 ((int64_t)1 << 31)
#define MASK32 ((uint64_t)0xFFFFFFFFu)

static PyObject *header_marks(PyObject *self, PyObject *args)
{
    PyObject *o[10];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6],
                          &o[7], &o[8], &o[9]))
        return NULL;
    static const char *names[10] = {"seg_d", "seg_ts", "seg_seq", "seg_off", "seg_plen",
                                    "seg_fin", "head_d", "head_ts", "head_seq", "head_fin"};
    Views w = {.held = 0};
    const int64_t *c[10];
    Py_ssize_t n = -1, m = -1;
    Col pos = {0}, offs = {0};
    PyObject *result = NULL;
    for (int k = 0; k < 6; k++)
        if ((c[k] = int64_column(&w, o[k], &n, names[k])) == NULL) goto done;
    for (int k = 6; k < 10; k++)
        if ((c[k] = int64_column(&w, o[k], &m, names[k])) == NULL) goto done;
    const int64_t *sd = c[0], *sts = c[1], *sseq = c[2], *soff = c[3], *splen = c[4],
                  *sfin = c[5], *hd = c[6], *hts = c[7], *hseq = c[8], *hfin = c[9];
    Py_ssize_t i = 0, j = 0;
    int64_t group = 0, run_max = -1;    /* the group (direction) and its rows' used ends */
    Py_ssize_t last = -1;               /* its last data row so far (-1: none) */
    int started = 0;
    while (i < n || j < m) {
        /* the merged order: by (direction, time), a data row before a header at one time */
        int data = i < n && (j >= m || sd[i] < hd[j] || (sd[i] == hd[j] && sts[i] <= hts[j]));
        int64_t d = data ? sd[i] : hd[j];
        if (!started || d != group) {
            started = 1;
            group = d;
            run_max = -1;
            last = -1;
        }
        if (data) {
            int64_t used = splen[i] == 0 ? -1 : soff[i] + splen[i] + (sfin[i] != 0);
            if (used > run_max) run_max = used;
            last = i++;
            continue;
        }
        /* a header: its offset from the direction's data row before it, else after it */
        Py_ssize_t ref = last >= 0 ? last : (i < n && sd[i] == d ? i : -1);
        int64_t used = -1;
        if (ref >= 0) {
            int64_t rel = (int64_t)(((uint64_t)(hseq[j] - sseq[ref] + HALF32)) & MASK32)
                          - HALF32;
            int64_t off = soff[ref] + rel;
            if (off > (run_max > 0 ? run_max : 0)
                    && (col_push(&pos, j) < 0 || col_push(&offs, off) < 0)) goto done;
            if (hfin[j]) used = off + 1;
        }
        if (used > run_max) run_max = used;
        j++;
    }
    result = Py_BuildValue("(NN)", col_bytes(&pos), col_bytes(&offs));
done:
    views_release(&w);
    free(pos.v); free(offs.v);
    return result;
}

/* ---------------------------------------------------------------- bucket order */

/* The raw column ``obj`` of ``size``-byte items (any contiguous buffer), of the other columns'
 * length (*n < 0: this is the first); ValueError otherwise. */
static const void *raw_column(Views *w, PyObject *obj, Py_ssize_t size, Py_ssize_t *n,
                              const char *name)
{
    Py_buffer *b = &w->view[w->held];
    if (PyObject_GetBuffer(obj, b, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    w->held++;
    if (b->itemsize != size || (*n >= 0 && b->len / size != *n)) {
        PyErr_Format(PyExc_ValueError, "%s: a column of %zd-byte items of the other columns' "
                     "length", name, size);
        return NULL;
    }
    *n = b->len / size;
    return b->buf;
}

static inline uint64_t mix64(uint64_t x)      /* splitmix64's finaliser (buckets._mix) */
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}

static PyObject *bucket_order(PyObject *self, PyObject *args)
{
    PyObject *o[6];
    Py_ssize_t nb;
    if (!PyArg_ParseTuple(args, "OOOOOOn", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &nb))
        return NULL;
    if (nb < 1 || nb > 65536) {
        PyErr_SetString(PyExc_ValueError, "bucket_order: 1 to 65536 buckets");
        return NULL;
    }
    static const char *names[6] = {"src_hi", "src_lo", "sport", "dst_hi", "dst_lo", "dport"};
    static const Py_ssize_t sizes[6] = {8, 8, 4, 8, 8, 4};
    Views w = {.held = 0};
    const void *c[6];
    Py_ssize_t n = -1;
    PyObject *order = NULL, *counts = NULL, *result = NULL;
    uint16_t *ids = NULL;
    for (int k = 0; k < 6; k++)
        if ((c[k] = raw_column(&w, o[k], sizes[k], &n, names[k])) == NULL) goto done;
    const uint64_t *shi = c[0], *slo = c[1], *dhi = c[3], *dlo = c[4];
    const uint32_t *sp = c[2], *dp = c[5];
    ids = malloc((size_t)(n ? n : 1) * sizeof(uint16_t));
    counts = PyBytes_FromStringAndSize(NULL, nb * (Py_ssize_t)sizeof(int64_t));
    order = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    if (ids == NULL || counts == NULL || order == NULL) {
        if (ids == NULL) PyErr_NoMemory();
        goto done;
    }
    int64_t *count = (int64_t *)PyBytes_AS_STRING(counts);
    memset(count, 0, (size_t)nb * sizeof(int64_t));
    for (Py_ssize_t i = 0; i < n; i++) {     /* buckets.bucket_ids: both endpoints XORed */
        uint64_t a = ((uint64_t)sp[i] << 48) ^ slo[i] ^ (shi[i] * 0x94D049BB133111EBull);
        uint64_t b = ((uint64_t)dp[i] << 48) ^ dlo[i] ^ (dhi[i] * 0x94D049BB133111EBull);
        uint16_t id = (uint16_t)(mix64(a ^ b) % (uint64_t)nb);
        ids[i] = id;
        count[id]++;
    }
    int64_t *next = malloc((size_t)nb * sizeof(int64_t)), at = 0;
    if (next == NULL) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t k = 0; k < nb; k++) { next[k] = at; at += count[k]; }
    int64_t *out = (int64_t *)PyBytes_AS_STRING(order);
    for (Py_ssize_t i = 0; i < n; i++)       /* stable: file order within a bucket */
        out[next[ids[i]]++] = i;
    free(next);
    result = PyTuple_Pack(2, order, counts);
done:
    views_release(&w);
    free(ids);
    Py_XDECREF(order);
    Py_XDECREF(counts);
    return result;
}

/* ---------------------------------------------------------------- gather */

static PyObject *gather(PyObject *self, PyObject *args)
{
    PyObject *bufobj, *o[2];
    Py_ssize_t i, j;
    if (!PyArg_ParseTuple(args, "OOOnn", &bufobj, &o[0], &o[1], &i, &j)) return NULL;
    Views w = {.held = 0};
    const int64_t *srcs, *lens;
    Py_ssize_t n = -1;
    PyObject *out = NULL;
    Py_buffer *bv = &w.view[w.held];
    if (PyObject_GetBuffer(bufobj, bv, PyBUF_SIMPLE) < 0) return NULL;
    w.held++;
    if ((srcs = int64_column(&w, o[0], &n, "srcs")) == NULL
        || (lens = int64_column(&w, o[1], &n, "lens")) == NULL) goto done;
    if (i < 0 || j > n || i > j) {
        PyErr_SetString(PyExc_IndexError, "gather: pieces [i, j) out of range");
        goto done;
    }
    int64_t total = 0, lo, hi;
    for (Py_ssize_t k = i; k < j; k++) {
        clamp(bv->len, srcs[k], lens[k], &lo, &hi);
        total += hi - lo;
    }
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (out == NULL) goto done;
    char *dst = PyBytes_AS_STRING(out);
    for (Py_ssize_t k = i; k < j; k++) {
        clamp(bv->len, srcs[k], lens[k], &lo, &hi);
        memcpy(dst, (const char *)bv->buf + lo, (size_t)(hi - lo));
        dst += hi - lo;
    }
done:
    views_release(&w);
    return out;
}

static PyMethodDef methods[] = {
    {"gather", gather, METH_VARARGS,
     "gather(buffer, srcs, lens, i, j) -> bytes: the pieces [i, j) of the buffer joined."},
    {"reassemble", reassemble, METH_VARARGS,
     "reassemble(buffer, off, wire, cap, t, frame, src) -> (starts, ends, times, frames, srcs, "
     "retransmitted_segments, retransmitted_bytes, differing_segments, uncaptured): "
     "DirectionStream.add over one direction's segments."},
    {"bucket_order", bucket_order, METH_VARARGS,
     "bucket_order(src_hi, src_lo, sport, dst_hi, dst_lo, dport, n) -> (order, counts): the "
     "rows by bucket (analysis.buckets.bucket_ids' hash), file order within each, and each "
     "bucket's count, as int64 bytes."},
    {"header_marks", header_marks, METH_VARARGS,
     "header_marks(seg_d, seg_ts, seg_seq, seg_off, seg_plen, seg_fin, head_d, head_ts, "
     "head_seq, head_fin) -> (positions, offsets): the headers that reveal bytes not captured "
     "(grouping._header_marks)."},
    {"classify", classify, METH_VARARGS,
     "classify(off, wire, t, frame, ooo_ns, mark_off, mark_t, mark_frame) -> (kinds, "
     "out_of_order, advanced_end, advanced_t): delivery.classify over one direction's copies."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_segments", "One TCP direction's segments reassembled in C.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__segments(void)
{
    return PyModule_Create(&module);
}
