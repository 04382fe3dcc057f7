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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

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

static PyObject *split(PyObject *self, PyObject *args)
{
    PyObject *bodies;
    Py_buffer pieces, counts;
    if (!PyArg_ParseTuple(args, "Oy*y*:split", &bodies, &pieces, &counts))
        return NULL;
    PyObject *seq = PySequence_Fast(bodies, "split: bodies must be a sequence");
    PyObject *result = NULL, *fast = NULL, *per = NULL;
    Events ev = {0};
    if (seq == NULL) goto done;
    Py_ssize_t nb = PySequence_Fast_GET_SIZE(seq);
    const int64_t *pc = pieces.buf, *cnt = counts.buf;
    Py_ssize_t npieces = pieces.len / (3 * (Py_ssize_t)sizeof(int64_t));
    if (counts.len != nb * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "split: one piece count per body");
        goto done;
    }
    fast = PyBytes_FromStringAndSize(NULL, nb);
    per = PyBytes_FromStringAndSize(NULL, nb * (Py_ssize_t)sizeof(int64_t));
    if (fast == NULL || per == NULL) goto done;
    char *fast_out = PyBytes_AS_STRING(fast);
    int64_t *per_out = (int64_t *)PyBytes_AS_STRING(per);
    Py_ssize_t at = 0;
    for (Py_ssize_t b = 0; b < nb; b++) {
        if (cnt[b] < 0 || cnt[b] > npieces - at) {
            PyErr_Format(PyExc_ValueError, "split: body %zd's pieces run past the pieces given",
                         b);
            goto done;
        }
        Py_buffer body;
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, b), &body, PyBUF_SIMPLE) < 0)
            goto done;
        Py_ssize_t before = ev.count;
        int r = split_body(body.buf, body.len, pc + 3 * at, (Py_ssize_t)cnt[b], &ev);
        PyBuffer_Release(&body);
        if (r < 0) {
            PyErr_NoMemory();
            goto done;
        }
        fast_out[b] = (char)r;
        per_out[b] = ev.count - before;
        at += (Py_ssize_t)cnt[b];
    }
    /* (y# of a NULL pointer would be None: no events is empty bytes) */
    static const char none[1] = {0};
    result = Py_BuildValue(
        "(OOy#y#y#y#y#)", fast, per,
        ev.count ? (const char *)ev.start : none, ev.count * (Py_ssize_t)sizeof(int64_t),
        ev.count ? (const char *)ev.end : none, ev.count * (Py_ssize_t)sizeof(int64_t),
        ev.count ? (const char *)ev.nbytes : none, ev.count * (Py_ssize_t)sizeof(int64_t),
        ev.count ? ev.kind : none, ev.count, ev.count ? ev.complete : none, ev.count);
done:
    PyMem_Free(ev.start);
    PyMem_Free(ev.end);
    PyMem_Free(ev.nbytes);
    PyMem_Free(ev.kind);
    PyMem_Free(ev.complete);
    Py_XDECREF(fast);
    Py_XDECREF(per);
    Py_XDECREF(seq);
    PyBuffer_Release(&pieces);
    PyBuffer_Release(&counts);
    return result;
}

static PyMethodDef methods[] = {
    {"split", split, METH_VARARGS,
     "split(bodies, pieces, counts) -> (fast, per_body, start, end, nbytes, kind, complete): the "
     "usual SSE bodies' events at stream offsets, read where their pieces lie."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sse", "Server-Sent Events bodies split in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__sse(void)
{
    return PyModule_Create(&module);
}
