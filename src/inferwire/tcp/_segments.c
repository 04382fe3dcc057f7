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
 * gather(buffer, srcs, lens, i, j) -> bytes
 *   buffer[srcs[k]:srcs[k] + lens[k]] for k in range(i, j), joined (DirectionStream._runs'
 *   join of a run of small pieces; slices clamped to the buffer as Python clamps them).
 *
 * header_starts(buffer, payload_off, sport, dport, words_order) -> bytes
 *   options.header_starts: per row (int64 columns), the offset of its TCP header in ``buffer``
 *   (int64; -1: no header length fits), trying the lengths in ``words_order`` (bytes) in turn.
 *
 * timestamps(buffer, payload_off, heads) -> (tsval, tsecr, other)
 *   options.timestamps' usual layout (NOP NOP TS first): per row TSval and TSecr (int64 bytes,
 *   -1 absent) and ``other`` (int8 bytes, 1: options of another layout, at least 10 bytes, for
 *   the Python option walk).
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

/* Insert x at index i (0 <= i <= n). */
static int col_insert(Col *c, Py_ssize_t i, int64_t x)
{
    if (col_reserve(c, c->n + 1) < 0) return -1;
    memmove(c->v + i + 1, c->v + i, (size_t)(c->n - i) * sizeof(int64_t));
    c->v[i] = x;
    c->n++;
    return 0;
}

/* Replace v[i:j] by the one value x (i <= j). */
static int col_splice1(Col *c, Py_ssize_t i, Py_ssize_t j, int64_t x)
{
    if (j < i) j = i;                  /* never for valid intervals; never a move past the end */
    if (i == j) return col_insert(c, i, x);
    memmove(c->v + i + 1, c->v + j, (size_t)(c->n - j) * sizeof(int64_t));
    c->v[i] = x;
    c->n -= j - i - 1;
    return 0;
}

static PyObject *col_bytes(const Col *c)
{
    return PyBytes_FromStringAndSize((const char *)c->v, c->n * (Py_ssize_t)sizeof(int64_t));
}

/* bisect.bisect_right / bisect_left over v[0:n] */
static Py_ssize_t bisect_right(const int64_t *v, Py_ssize_t n, int64_t x)
{
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (x < v[mid]) hi = mid; else lo = mid + 1;
    }
    return lo;
}

static Py_ssize_t bisect_left(const int64_t *v, Py_ssize_t n, int64_t x)
{
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x) lo = mid + 1; else hi = mid;
    }
    return lo;
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
    Py_buffer view[8];
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

/* ---------------------------------------------------------------- reassemble */

typedef struct {
    Col starts, ends, times, frames, srcs;
} Pieces;

static void pieces_free(Pieces *p)
{
    free(p->starts.v); free(p->ends.v); free(p->times.v); free(p->frames.v); free(p->srcs.v);
}

static int pieces_insert(Pieces *p, Py_ssize_t j, int64_t s, int64_t e, int64_t t, int64_t f,
                         int64_t src)
{
    if (col_insert(&p->starts, j, s) < 0 || col_insert(&p->ends, j, e) < 0
        || col_insert(&p->times, j, t) < 0 || col_insert(&p->frames, j, f) < 0
        || col_insert(&p->srcs, j, src) < 0) return -1;
    return 0;
}

/* buf[a:a+n] as Python slices it (a >= 0 assumed; clamped to the buffer's length). */
static void clamp(Py_ssize_t len, int64_t a, int64_t n, int64_t *lo, int64_t *hi)
{
    *lo = a < 0 ? 0 : (a > len ? len : a);
    int64_t b = a + n;
    *hi = b < *lo ? *lo : (b > len ? len : b);
}

/* DirectionStream._differs: do the bytes of [start, end) at src differ from the pieces' copy? */
static int differs(const Pieces *p, const unsigned char *buf, Py_ssize_t len, int64_t start,
                   int64_t end, int64_t src)
{
    Py_ssize_t n = p->starts.n;
    for (Py_ssize_t i = bisect_right(p->ends.v, n, start); i < n && p->starts.v[i] < end; i++) {
        int64_t s = max64(p->starts.v[i], start), e = min64(p->ends.v[i], end);
        if (s >= e) continue;
        int64_t a0, a1, b0, b1;
        clamp(len, p->srcs.v[i] + (s - p->starts.v[i]), e - s, &a0, &a1);
        clamp(len, src + (s - start), e - s, &b0, &b1);
        if (a1 - a0 != b1 - b0 || memcmp(buf + a0, buf + b0, (size_t)(a1 - a0)) != 0) return 1;
    }
    return 0;
}

/* DirectionStream._insert: fill only the parts of [start, end) no earlier segment carried. */
static int insert(Pieces *p, const unsigned char *buf, Py_ssize_t len, int64_t start,
                  int64_t end, int64_t t, int64_t frame, int64_t src, int64_t *counts)
{
    Py_ssize_t i = bisect_right(p->ends.v, p->starts.n, start);
    int64_t cursor = start, covered = 0;
    Col news = {0}, newe = {0};
    int rc = 0;
    while (cursor < end) {
        if (i < p->starts.n && p->starts.v[i] <= cursor) {
            covered += min64(p->ends.v[i], end) - cursor;
            cursor = p->ends.v[i];
            i++;
            continue;
        }
        int64_t stop = i < p->starts.n ? min64(end, p->starts.v[i]) : end;
        if (col_push(&news, cursor) < 0 || col_push(&newe, stop) < 0) { rc = -1; goto done; }
        cursor = stop;
    }
    if (covered) {
        counts[0] += 1;
        counts[1] += covered;
        counts[2] += differs(p, buf, len, start, end, src);
    }
    for (Py_ssize_t k = 0; k < news.n; k++) {
        int64_t s = news.v[k];
        Py_ssize_t j = bisect_left(p->starts.v, p->starts.n, s);
        if (pieces_insert(p, j, s, newe.v[k], t, frame, src + (s - start)) < 0) { rc = -1; goto done; }
    }
done:
    free(news.v);
    free(newe.v);
    return rc;
}

static PyObject *reassemble(PyObject *self, PyObject *args)
{
    PyObject *bufobj, *o[6];
    if (!PyArg_ParseTuple(args, "OOOOOOO", &bufobj, &o[0], &o[1], &o[2], &o[3], &o[4], &o[5]))
        return NULL;
    static const char *names[6] = {"off", "wire", "cap", "t", "frame", "src"};
    Views w = {.held = 0};
    Pieces p;
    memset(&p, 0, sizeof p);
    Col uncaptured = {0};
    PyObject *result = NULL;
    const int64_t *c[6];
    Py_ssize_t n = -1;
    Py_buffer *bv = &w.view[w.held];
    if (PyObject_GetBuffer(bufobj, bv, PyBUF_SIMPLE) < 0) return NULL;
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
        if (p.ends.n == 0 || start >= p.ends.v[p.ends.n - 1]) {       /* in order: append */
            if (col_push(&p.starts, start) < 0 || col_push(&p.ends, end) < 0
                || col_push(&p.times, c[3][i]) < 0 || col_push(&p.frames, c[4][i]) < 0
                || col_push(&p.srcs, c[5][i]) < 0) goto done;
            continue;
        }
        if (insert(&p, buf, bv->len, start, end, c[3][i], c[4][i], c[5][i], counts) < 0)
            goto done;
    }
    result = Py_BuildValue("(NNNNNLLLN)", col_bytes(&p.starts), col_bytes(&p.ends),
                           col_bytes(&p.times), col_bytes(&p.frames), col_bytes(&p.srcs),
                           (long long)counts[0], (long long)counts[1], (long long)counts[2],
                           col_bytes(&uncaptured));
done:
    views_release(&w);
    pieces_free(&p);
    free(uncaptured.v);
    return result;
}

/* ---------------------------------------------------------------- classify */

enum { NEW = 0, RETRANS = 1, OOO = 2, PROBE = 3 };

/* delivery._merge: add [s, e) to the sorted disjoint intervals cs/ce. */
static int merge(Col *cs, Col *ce, int64_t s, int64_t e)
{
    Py_ssize_t i = bisect_left(ce->v, ce->n, s), j = bisect_right(cs->v, cs->n, e);
    if (i < j) {
        s = min64(s, cs->v[i]);
        e = max64(e, ce->v[j - 1]);
    }
    if (col_splice1(cs, i, j, s) < 0 || col_splice1(ce, i, j, e) < 0) return -1;
    return 0;
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
    Col cs = {0}, ce = {0}, adv_end = {0}, adv_t = {0};
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
            if (ce.n && off == ce.v[ce.n - 1]) {
                ce.v[ce.n - 1] = end;
            } else if (wire > 0) {
                if (col_push(&cs, off) < 0 || col_push(&ce, end) < 0) goto done;
            }
        } else {
            Py_ssize_t j = bisect_right(ce.v, ce.n, off);
            int overlaps = j < cs.n && cs.v[j] < end;
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
            if (merge(&cs, &ce, off, end) < 0) goto done;
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
    free(cs.v); free(ce.v); free(adv_end.v); free(adv_t.v);
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

/* ---------------------------------------------------------------- TCP options */

static PyObject *header_starts(PyObject *self, PyObject *args)
{
    PyObject *bufobj, *o[3];
    const char *order;
    Py_ssize_t norder;
    if (!PyArg_ParseTuple(args, "OOOOy#", &bufobj, &o[0], &o[1], &o[2], &order, &norder))
        return NULL;
    Views w = {.held = 0};
    const int64_t *c[3];
    static const char *names[3] = {"payload_off", "sport", "dport"};
    Py_ssize_t n = -1;
    PyObject *out = NULL;
    Py_buffer *bv = &w.view[w.held];
    if (PyObject_GetBuffer(bufobj, bv, PyBUF_SIMPLE) < 0) return NULL;
    w.held++;
    for (int k = 0; k < 3; k++)
        if ((c[k] = int64_column(&w, o[k], &n, names[k])) == NULL) goto done;
    out = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    if (out == NULL) goto done;
    int64_t *heads = (int64_t *)PyBytes_AS_STRING(out);
    const unsigned char *u8 = (const unsigned char *)bv->buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        heads[i] = -1;
        for (Py_ssize_t k = 0; k < norder; k++) {
            int words = (unsigned char)order[k];
            int64_t a = c[0][i] - 4 * words;
            if (a < 0 || a + 13 > bv->len) continue;
            if ((u8[a + 12] >> 4) == words && ((u8[a] << 8) | u8[a + 1]) == c[1][i]
                && ((u8[a + 2] << 8) | u8[a + 3]) == c[2][i]) {
                heads[i] = a;
                break;
            }
        }
    }
done:
    views_release(&w);
    return out;
}

static int64_t be32(const unsigned char *p)
{
    return ((int64_t)p[0] << 24) | ((int64_t)p[1] << 16) | ((int64_t)p[2] << 8) | p[3];
}

static PyObject *timestamps(PyObject *self, PyObject *args)
{
    PyObject *bufobj, *o[2];
    if (!PyArg_ParseTuple(args, "OOO", &bufobj, &o[0], &o[1])) return NULL;
    Views w = {.held = 0};
    const int64_t *end, *heads;
    Py_ssize_t n = -1;
    PyObject *tsval = NULL, *tsecr = NULL, *other = NULL, *result = NULL;
    Py_buffer *bv = &w.view[w.held];
    if (PyObject_GetBuffer(bufobj, bv, PyBUF_SIMPLE) < 0) return NULL;
    w.held++;
    if ((end = int64_column(&w, o[0], &n, "payload_off")) == NULL
        || (heads = int64_column(&w, o[1], &n, "heads")) == NULL) goto done;
    tsval = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    tsecr = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    other = PyBytes_FromStringAndSize(NULL, n);
    if (tsval == NULL || tsecr == NULL || other == NULL) goto done;
    int64_t *val = (int64_t *)PyBytes_AS_STRING(tsval), *ecr = (int64_t *)PyBytes_AS_STRING(tsecr);
    char *oth = PyBytes_AS_STRING(other);
    const unsigned char *u8 = (const unsigned char *)bv->buf;
    Py_ssize_t len = bv->len;
    static const unsigned char head[4] = {1, 1, 8, 10};     /* NOP NOP TS length 10 */
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t size = heads[i] >= 0 ? end[i] - heads[i] - 20 : 0;
        int64_t top = len - 12 > 0 ? len - 12 : 0;           /* as options.timestamps clips */
        int64_t at = heads[i] + 20 < 0 ? 0 : (heads[i] + 20 > top ? top : heads[i] + 20);
        int usual = size >= 12 && len > 0;
        for (int k = 0; usual && k < 4; k++)
            usual = u8[at + k < len - 1 ? at + k : len - 1] == head[k];
        val[i] = ecr[i] = -1;
        oth[i] = !usual && size >= 10;
        if (usual && at + 12 <= len) {
            val[i] = be32(u8 + at + 4);
            ecr[i] = be32(u8 + at + 8);
        }
    }
    result = PyTuple_Pack(3, tsval, tsecr, other);
done:
    Py_XDECREF(tsval);
    Py_XDECREF(tsecr);
    Py_XDECREF(other);
    views_release(&w);
    return result;
}

static PyMethodDef methods[] = {
    {"header_starts", header_starts, METH_VARARGS,
     "header_starts(buffer, payload_off, sport, dport, words_order) -> bytes: each row's TCP "
     "header offset (int64, -1: none fits)."},
    {"timestamps", timestamps, METH_VARARGS,
     "timestamps(buffer, payload_off, heads) -> (tsval, tsecr, other): the usual layout's "
     "TCP timestamps (int64, -1 absent) and the rows of another layout (int8)."},
    {"gather", gather, METH_VARARGS,
     "gather(buffer, srcs, lens, i, j) -> bytes: the pieces [i, j) of the buffer joined."},
    {"reassemble", reassemble, METH_VARARGS,
     "reassemble(buffer, off, wire, cap, t, frame, src) -> (starts, ends, times, frames, srcs, "
     "retransmitted_segments, retransmitted_bytes, differing_segments, uncaptured): "
     "DirectionStream.add over one direction's segments."},
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
