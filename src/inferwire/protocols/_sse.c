/* inferwire.protocols._sse: the usual Server-Sent Events bodies split into events in C.
 *
 * split(bodies, pieces, counts) reads each body's event stream, which lies in pieces of the
 * body's bytes (a chunked body: its chunks' data; a body of known length: one piece), and
 * returns
 *
 *     (fast, per_body, start, end, nbytes, kind, complete)
 *
 * bodies: a sequence of bytes-like objects; pieces: int64 triples (native order) per piece,
 * every body's in turn: the piece's index in its body, its length and the stream offset of its
 * first byte; counts: int64 per body, its number of pieces.  The event stream of a body is its
 * pieces' bytes joined (the decoded body), never built here: it is read where it lies.
 *
 * A body is split here only when it is the usual stream, the one data_line_columns
 * (protocols/sse.py) accepts: no CR, every event one "data:" line ended by exactly one blank line
 * (LF LF, no third LF after it), the last possibly cut (no LF in it), every event at least 5
 * bytes.  fast: one byte per body, 1 when it was split here, 0 when not (the Python code reads
 * it then); per_body: int64 per body, its number of events (0 when not split); start, end: int64
 * per event, the stream offset of its first byte and one past its last byte; nbytes: int64, its
 * length in the decoded body; kind: int8, 1 when its data is exactly [DONE] (one space after the
 * colon allowed), else 0; complete: one byte, 0 for a cut last event.  The same events, at the
 * same stream offsets, as data_line_columns and the offset mapping of
 * exchanges/message_columns.py's _sse_spans (tests/protocols/test_sse_c.py compares them on
 * fuzzed bodies).
 *
 * split_chunked(bodies, bases, max_line) is split of chunked bodies (body k from stream offset
 * bases[k], int64) whose pieces it finds itself: the data of their whole plain chunks
 * (chunkwalk.h, the walk of _chunks.c) up to the last chunk ("0" then LF or CRLF) or the
 * body's end.  A body with any other chunk before that (cut inside, an odd size line) is not
 * split here (fast 0), as one that is not the usual stream.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "chunkwalk.h"

typedef struct {
    const unsigned char *base;  /* the body's bytes */
    const int64_t *pc;          /* its pieces: (index in body, length, stream offset) triples */
    Py_ssize_t n;               /* its number of pieces */
    Py_ssize_t k;               /* the piece of the cursor */
    int64_t p;                  /* the cursor's index in that piece */
    int64_t v;                  /* the cursor's index in the decoded body */
} Cursor;

/* Move the cursor past exhausted (or empty) pieces: it then lies in a piece holding its byte,
 * or k == n at the end. */
static void settle(Cursor *c)
{
    while (c->k < c->n && c->p >= c->pc[3 * c->k + 1]) {
        c->k++;
        c->p = 0;
    }
}

/* The stream offset of the cursor's byte (settled, not at the end). */
static int64_t offset_of(const Cursor *c)
{
    return c->pc[3 * c->k + 2] + c->p;
}

/* Advance the cursor by one byte (settled). */
static void step(Cursor *c)
{
    c->p++;
    c->v++;
    settle(c);
}

/* The cursor moved to the next LF (1), or to the end when there is none (0). */
static int next_lf(Cursor *c)
{
    while (c->k < c->n) {
        const unsigned char *at = c->base + c->pc[3 * c->k] + c->p;
        int64_t left = c->pc[3 * c->k + 1] - c->p;
        const unsigned char *lf = memchr(at, '\n', (size_t)left);
        if (lf != NULL) {
            c->p += lf - at;
            c->v += lf - at;
            return 1;
        }
        c->v += left;
        c->k++;
        c->p = 0;
    }
    return 0;
}

/* Copy want bytes (or as many as there are) from the cursor (not moved) into out. */
static void copy_out(const Cursor *c, unsigned char *out, int want)
{
    int got = 0;
    Py_ssize_t k = c->k;
    int64_t p = c->p;
    while (got < want && k < c->n) {
        int64_t left = c->pc[3 * k + 1] - p;
        int64_t take = left < want - got ? left : want - got;
        memcpy(out + got, c->base + c->pc[3 * k] + p, (size_t)take);
        got += (int)take;
        k++;
        p = 0;
    }
}

typedef struct {
    int64_t *start, *end, *nbytes;
    char *kind, *complete;
    Py_ssize_t count, cap;
} Events;

static void events_free(Events *e)
{
    PyMem_Free(e->start);
    PyMem_Free(e->end);
    PyMem_Free(e->nbytes);
    PyMem_Free(e->kind);
    PyMem_Free(e->complete);
}

static int grow(Events *e)
{
    Py_ssize_t cap = e->cap ? e->cap * 2 : 1024;
    int64_t *s = PyMem_Realloc(e->start, cap * sizeof(int64_t));
    if (s) e->start = s;
    int64_t *en = PyMem_Realloc(e->end, cap * sizeof(int64_t));
    if (en) e->end = en;
    int64_t *nb = PyMem_Realloc(e->nbytes, cap * sizeof(int64_t));
    if (nb) e->nbytes = nb;
    char *kd = PyMem_Realloc(e->kind, cap);
    if (kd) e->kind = kd;
    char *cp = PyMem_Realloc(e->complete, cap);
    if (cp) e->complete = cp;
    if (!s || !en || !nb || !kd || !cp) return -1;
    e->cap = cap;
    return 0;
}

/* "[DONE]" after "data:" and at most one space, then only LFs (the event's bytes in head,
 * len of them). */
static int is_done(const unsigned char *head, int len)
{
    int a = 5, b = len;
    while (b > a && head[b - 1] == '\n') b--;
    if (b > a && head[a] == ' ') a++;
    return b - a == 6 && memcmp(head + a, "[DONE]", 6) == 0;
}

/* One body's events appended to ev: 1 when split, 0 when not the usual stream (ev->count put
 * back), -1 on no memory. */
static int split_body(const unsigned char *base, Py_ssize_t blen, const int64_t *pc,
                      Py_ssize_t n, Events *ev)
{
    Py_ssize_t first = ev->count;
    int64_t total = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        int64_t at = pc[3 * k], len = pc[3 * k + 1];
        if (at < 0 || len < 0 || at > blen || len > blen - at) return 0;
        if (len && memchr(base + at, '\r', (size_t)len) != NULL) return 0;
        total += len;
    }
    Cursor c = {base, pc, n, 0, 0, 0};
    settle(&c);
    while (c.v < total) {
        Cursor s = c;                      /* the event's first byte */
        int64_t end_v, end_off;
        int cut = !next_lf(&c);
        if (cut) {
            end_v = total;
            /* one past the last byte of the last piece holding one */
            Py_ssize_t k = n - 1;
            while (k >= 0 && pc[3 * k + 1] == 0) k--;
            end_off = pc[3 * k + 2] + pc[3 * k + 1];
        } else {
            step(&c);                      /* the byte after the LF: another LF, or not usual */
            if (c.v >= total) goto not_usual;
            if (c.base[c.pc[3 * c.k] + c.p] != '\n') goto not_usual;
            end_off = offset_of(&c) + 1;
            end_v = c.v + 1;
            step(&c);    /* (a third LF: the next event starts with it, and is not usual) */
        }
        int64_t len = end_v - s.v;
        if (len < 5) goto not_usual;
        unsigned char head[16];
        copy_out(&s, head, len < 16 ? (int)len : 16);
        if (memcmp(head, "data:", 5) != 0) goto not_usual;
        if (ev->count == ev->cap && grow(ev) < 0) return -1;
        ev->start[ev->count] = offset_of(&s);
        ev->end[ev->count] = end_off;
        ev->nbytes[ev->count] = len;
        ev->kind[ev->count] = (len >= 11 && len <= 14 && is_done(head, (int)len)) ? 1 : 0;
        ev->complete[ev->count] = cut ? 0 : 1;
        ev->count++;
        if (cut) break;
    }
    return 1;
not_usual:
    ev->count = first;
    return 0;
}

/* (fast, per_body, start, end, nbytes, kind, complete) of the events found. */
static PyObject *events_result(PyObject *fast, PyObject *per, const Events *ev)
{
    /* (y# of a NULL pointer would be None: no events is empty bytes) */
    static const char none[1] = {0};
    Py_ssize_t n = ev->count, w = n * (Py_ssize_t)sizeof(int64_t);
    return Py_BuildValue("(OOy#y#y#y#y#)", fast, per,
                         n ? (const char *)ev->start : none, w,
                         n ? (const char *)ev->end : none, w,
                         n ? (const char *)ev->nbytes : none, w,
                         n ? ev->kind : none, n, n ? ev->complete : none, n);
}

/* The data pieces of a chunked body's whole plain chunks (chunkwalk.h), as split_body's
 * triples (index in body, length, stream offset: base + index) in *out (grown as needed,
 * *cap its room in triples); their number, or -1 when the body is not read here (a chunk not
 * whole or not plain before the last chunk "0" LF or CRLF, or the body's end), -2 on no
 * memory. */
static Py_ssize_t chunk_pieces(const unsigned char *p, Py_ssize_t n, int64_t base,
                               Py_ssize_t max_line, int64_t **out, Py_ssize_t *cap)
{
    Py_ssize_t count = 0, pos = 0;
    int64_t span[4];
    while (pos < n && one_chunk(p, pos, n, max_line, span)) {
        if (count == *cap) {
            Py_ssize_t more = *cap ? *cap * 2 : 256;
            int64_t *grown = PyMem_Realloc(*out, more * 3 * sizeof(int64_t));
            if (grown == NULL) return -2;
            *out = grown;
            *cap = more;
        }
        (*out)[3 * count] = span[1];
        (*out)[3 * count + 1] = span[2] - span[1];
        (*out)[3 * count + 2] = base + span[1];
        count++;
        pos = span[3];
    }
    if (pos == n) return count;                     /* cut after a whole chunk */
    if (n - pos >= 2 && p[pos] == '0' && p[pos + 1] == '\n') return count;
    if (n - pos >= 3 && p[pos] == '0' && p[pos + 1] == '\r' && p[pos + 2] == '\n') return count;
    return -1;
}

/* How one body is split: its events appended to ev; 1 split, 0 not (left to Python), -1 no
 * memory, -2 an error already set. */
typedef int (*body_split)(const unsigned char *p, Py_ssize_t n, Py_ssize_t b, void *how,
                          Events *ev);

/* Every body of the sequence ``bodies`` split by ``one``: (fast, per_body, start, end, nbytes,
 * kind, complete), or NULL with an error set. */
static PyObject *split_bodies(PyObject *bodies, Py_ssize_t nb, body_split one, void *how)
{
    PyObject *result = NULL;
    Events ev = {0};
    PyObject *fast = PyBytes_FromStringAndSize(NULL, nb);
    PyObject *per = PyBytes_FromStringAndSize(NULL, nb * (Py_ssize_t)sizeof(int64_t));
    if (fast == NULL || per == NULL) goto done;
    char *fast_out = PyBytes_AS_STRING(fast);
    int64_t *per_out = (int64_t *)PyBytes_AS_STRING(per);
    for (Py_ssize_t b = 0; b < nb; b++) {
        Py_buffer body;
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(bodies, b), &body, PyBUF_SIMPLE) < 0)
            goto done;
        Py_ssize_t before = ev.count;
        int r = one(body.buf, body.len, b, how, &ev);
        PyBuffer_Release(&body);
        if (r == -1) PyErr_NoMemory();
        if (r < 0) goto done;
        fast_out[b] = (char)r;
        per_out[b] = ev.count - before;
    }
    result = events_result(fast, per, &ev);
done:
    events_free(&ev);
    Py_XDECREF(fast);
    Py_XDECREF(per);
    return result;
}

typedef struct {
    const int64_t *pieces, *counts;
    Py_ssize_t npieces, at;
} GivenPieces;

static int split_given(const unsigned char *p, Py_ssize_t n, Py_ssize_t b, void *how,
                       Events *ev)
{
    GivenPieces *g = how;
    int64_t count = g->counts[b];
    if (count < 0 || count > g->npieces - g->at) {
        PyErr_Format(PyExc_ValueError, "split: body %zd's pieces run past the pieces given", b);
        return -2;
    }
    int r = split_body(p, n, g->pieces + 3 * g->at, (Py_ssize_t)count, ev);
    g->at += (Py_ssize_t)count;
    return r;
}

static PyObject *split(PyObject *self, PyObject *args)
{
    PyObject *bodies, *seq, *result = NULL;
    Py_buffer pieces, counts;
    if (!PyArg_ParseTuple(args, "Oy*y*:split", &bodies, &pieces, &counts))
        return NULL;
    seq = PySequence_Fast(bodies, "split: bodies must be a sequence");
    if (seq != NULL) {
        Py_ssize_t nb = PySequence_Fast_GET_SIZE(seq);
        GivenPieces g = {pieces.buf, counts.buf,
                         pieces.len / (3 * (Py_ssize_t)sizeof(int64_t)), 0};
        if (counts.len != nb * (Py_ssize_t)sizeof(int64_t))
            PyErr_SetString(PyExc_ValueError, "split: one piece count per body");
        else
            result = split_bodies(seq, nb, split_given, &g);
    }
    Py_XDECREF(seq);
    PyBuffer_Release(&pieces);
    PyBuffer_Release(&counts);
    return result;
}

typedef struct {
    const int64_t *bases;
    Py_ssize_t max_line, cap;
    int64_t *pieces;            /* room for the chunks' pieces of one body, reused */
} OwnChunks;

static int split_walked(const unsigned char *p, Py_ssize_t n, Py_ssize_t b, void *how,
                        Events *ev)
{
    OwnChunks *w = how;
    Py_ssize_t count = chunk_pieces(p, n, w->bases[b], w->max_line, &w->pieces, &w->cap);
    if (count == -2) return -1;
    return count < 0 ? 0 : split_body(p, n, w->pieces, count, ev);
}

static PyObject *split_chunked(PyObject *self, PyObject *args)
{
    PyObject *bodies, *seq, *result = NULL;
    Py_buffer bases;
    Py_ssize_t max_line;
    if (!PyArg_ParseTuple(args, "Oy*n:split_chunked", &bodies, &bases, &max_line))
        return NULL;
    seq = PySequence_Fast(bodies, "split_chunked: bodies must be a sequence");
    if (seq != NULL) {
        Py_ssize_t nb = PySequence_Fast_GET_SIZE(seq);
        OwnChunks w = {bases.buf, max_line, 0, NULL};
        if (bases.len != nb * (Py_ssize_t)sizeof(int64_t))
            PyErr_SetString(PyExc_ValueError, "split_chunked: one base offset per body");
        else
            result = split_bodies(seq, nb, split_walked, &w);
        PyMem_Free(w.pieces);
    }
    Py_XDECREF(seq);
    PyBuffer_Release(&bases);
    return result;
}

static PyMethodDef methods[] = {
    {"split", split, METH_VARARGS,
     "split(bodies, pieces, counts) -> (fast, per_body, start, end, nbytes, kind, complete): the "
     "usual SSE bodies' events at stream offsets, read where their pieces lie."},
    {"split_chunked", split_chunked, METH_VARARGS,
     "split_chunked(bodies, bases, max_line) -> as split: the usual SSE bodies of whole plain "
     "chunks (then the last chunk, or the end), their chunks walked here."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sse", "Server-Sent Events bodies split in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__sse(void)
{
    return PyModule_Create(&module);
}
