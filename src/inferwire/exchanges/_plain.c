/* inferwire.exchanges._plain: one plain HTTP/1 message's head, split and framed in one C call.
 *
 * message(data, pos, endpos, client) does what exchanges/plainbatch.py's _message_py does with
 * protocols/http1.py's split_head and plain_framing: find the end of the head (CRLF CRLF) in
 * data[pos:endpos], check that the head is plain (every CR and LF part of a CRLF, no NUL, every
 * field line "token:value"), parse the start line and frame the message.  It returns
 *
 *     request  (client true):  (head_end, method, target, body_bytes, x_request_id or None)
 *     response (client false): (head_end, status, body_bytes)
 *
 * head_end: the index in data one past the CRLF CRLF; strings are str (method ASCII, the rest
 * latin-1); several x-request-id fields are joined by ", " (http1.header_value).  Framing as
 * plain_framing: a request other than CONNECT, a final response (status >= 200); at most one
 * Content-Length (1..18 ASCII digits), no Transfer-Encoding, no Upgrade; a request without
 * Content-Length has no body, a 204 or 304 none either, any other response needs one.  None for
 * anything else (the Python path then reads the message and names any problem): this module has
 * no error paths of its own beyond its arguments and memory.  The response's request method
 * (HEAD, CONNECT) is the caller's to check.  tests/test_plain_c.py compares
 * it with the Python twin (plainbatch._message_py) on real, non-plain and fuzzed heads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static unsigned char is_token[256];

static void init_tokens(void)
{
    const char *extra = "!#$%&'*+-.^_`|~";
    for (int c = '0'; c <= '9'; c++)
        is_token[c] = 1;
    for (int c = 'a'; c <= 'z'; c++)
        is_token[c] = 1;
    for (int c = 'A'; c <= 'Z'; c++)
        is_token[c] = 1;
    for (const char *p = extra; *p; p++)
        is_token[(unsigned char)*p] = 1;
}

/* Python bytes regex \s: space, \t, \n, \v, \f, \r */
static int is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static const unsigned char *find_head_end(const unsigned char *p, Py_ssize_t n)
{
    const unsigned char *end = p + n;
    while (p + 4 <= end) {
        const unsigned char *cr = memchr(p, '\r', (size_t)(end - p - 3));
        if (cr == NULL)
            return NULL;
        if (cr[1] == '\n' && cr[2] == '\r' && cr[3] == '\n')
            return cr;
        p = cr + 1;
    }
    return NULL;
}

/* Whether name p[0:n] equals the lower-case word w (ASCII letters compared case-blind). */
static int name_is(const unsigned char *p, Py_ssize_t n, const char *w)
{
    Py_ssize_t k = (Py_ssize_t)strlen(w);
    if (n != k)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (c != (unsigned char)w[i])
            return 0;
    }
    return 1;
}

/* Request line "token SP non-space+ SP HTTP/1.d" (regex fullmatch); sets the method and target
 * spans; 0 if it is not one. */
static int request_line(const unsigned char *p, const unsigned char *e, const unsigned char **sp1,
                        const unsigned char **sp2)
{
    const unsigned char *q = p;
    while (q < e && is_token[*q])
        q++;
    if (q == p || q >= e || *q != ' ')
        return 0;
    *sp1 = q++;
    const unsigned char *t = q;
    while (q < e && !is_space(*q))
        q++;
    if (q == t || q >= e || *q != ' ')
        return 0;
    *sp2 = q;
    return e - q == 9 && memcmp(q, " HTTP/", 6) == 0 && q[6] == '1' && q[7] == '.'
           && is_digit(q[8]);
}

/* Status line "HTTP/1.d SP ddd" then the end or SP and anything; the status, or -1. */
static int status_line(const unsigned char *p, const unsigned char *e)
{
    if (e - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || !is_digit(p[7]) || p[8] != ' '
        || !is_digit(p[9]) || !is_digit(p[10]) || !is_digit(p[11]))
        return -1;
    if (e - p > 12 && p[12] != ' ')
        return -1;
    return (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
}

/* One message head parsed: what message() returns, before it becomes Python objects. */
typedef struct {
    Py_ssize_t head_end;                /* index one past the CRLF CRLF */
    const unsigned char *method, *sp1, *sp2;  /* request: method at method, ends at sp1; the
                                                 target between sp1 + 1 and sp2 */
    int status;                         /* response */
    long long length;                   /* body bytes */
    PyObject *request_id;               /* request: new reference or NULL */
} head_t;

/* Parse the plain message head at base[pos:endpos] (see the top of this file): 1 and *h filled,
 * 0 when it is not one (nothing to release), -1 with an exception set. */
static int parse_head(const unsigned char *base, Py_ssize_t len, Py_ssize_t pos,
                      Py_ssize_t endpos, int client, head_t *h)
{
    h->request_id = NULL;
    if (endpos > len)
        endpos = len;
    if (pos < 0 || pos >= endpos)
        return 0;
    const unsigned char *crlf2 = find_head_end(base + pos, endpos - pos);
    if (crlf2 == NULL)
        return 0;
    h->head_end = (crlf2 - base) + 4;
    const unsigned char *p = base + pos, *end = crlf2 + 2;   /* lines, each ending in CRLF */
    if (memchr(p, '\0', (size_t)(end - p)) != NULL)
        return 0;
    for (const unsigned char *q = p; q < end; q++) {
        if (*q == '\r') {
            if (q + 1 >= end || q[1] != '\n')
                return 0;
            q++;
        } else if (*q == '\n')
            return 0;
    }
    const unsigned char *eol = memchr(p, '\r', (size_t)(end - p));
    h->method = p;
    h->sp1 = h->sp2 = NULL;
    h->status = 0;
    if (client) {
        if (!request_line(p, eol, &h->sp1, &h->sp2)
            || (h->sp1 - p == 7 && memcmp(p, "CONNECT", 7) == 0))
            return 0;
    } else {
        h->status = status_line(p, eol);
        if (h->status < 200)
            return 0;
    }
    long long length = 0;
    int seen = 0;
    for (const unsigned char *q = eol + 2; q < end; q = eol + 2) {
        eol = memchr(q, '\r', (size_t)(end - q));
        const unsigned char *colon = memchr(q, ':', (size_t)(eol - q));
        if (colon == NULL || colon == q)
            goto none;
        for (const unsigned char *c = q; c < colon; c++)
            if (!is_token[*c])
                goto none;
        const unsigned char *v = colon + 1, *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        Py_ssize_t n = colon - q;
        if (name_is(q, n, "content-length")) {
            if (seen || ve - v < 1 || ve - v > 18)
                goto none;
            length = 0;
            for (const unsigned char *d = v; d < ve; d++) {
                if (!is_digit(*d))
                    goto none;
                length = length * 10 + (*d - '0');
            }
            seen = 1;
        } else if (name_is(q, n, "transfer-encoding") || name_is(q, n, "upgrade")) {
            goto none;
        } else if (client && name_is(q, n, "x-request-id")) {
            PyObject *value = PyUnicode_DecodeLatin1((const char *)v, ve - v, NULL);
            if (value == NULL)
                goto fail;
            if (h->request_id == NULL) {
                h->request_id = value;
            } else {
                PyObject *joined = PyUnicode_FromFormat("%U, %U", h->request_id, value);
                Py_DECREF(value);
                Py_DECREF(h->request_id);
                h->request_id = joined;
                if (joined == NULL)
                    goto fail;
            }
        }
    }
    if (!client) {
        if (h->status == 204 || h->status == 304)
            length = 0;
        else if (!seen)
            goto none;
    }
    h->length = seen || !client ? length : 0;
    return 1;
none:
    Py_CLEAR(h->request_id);
    return 0;
fail:
    Py_CLEAR(h->request_id);
    return -1;
}

static PyObject *message(PyObject *self, PyObject *args)
{
    Py_buffer data;
    Py_ssize_t pos, endpos;
    int client;
    if (!PyArg_ParseTuple(args, "y*nnp:message", &data, &pos, &endpos, &client))
        return NULL;
    head_t h;
    PyObject *out = NULL;
    int got = parse_head(data.buf, data.len, pos, endpos, client, &h);
    if (got > 0) {
        if (client) {
            PyObject *method = PyUnicode_DecodeASCII((const char *)h.method, h.sp1 - h.method,
                                                     NULL);
            PyObject *target = method == NULL ? NULL
                : PyUnicode_DecodeLatin1((const char *)h.sp1 + 1, h.sp2 - h.sp1 - 1, NULL);
            if (target != NULL)
                out = Py_BuildValue("(nNNLO)", h.head_end, method, target, h.length,
                                    h.request_id == NULL ? Py_None : h.request_id);
            else
                Py_XDECREF(method);
            Py_XDECREF(h.request_id);
        } else {
            out = Py_BuildValue("(niL)", h.head_end, h.status, h.length);
        }
    } else if (got == 0) {
        out = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&data);
    return out;
}

/* Whether base[p:e] holds "text/event-stream", ASCII letters compared case-blind. */
static int has_event_stream(const unsigned char *p, const unsigned char *e)
{
    static const char word[] = "text/event-stream";
    const Py_ssize_t n = (Py_ssize_t)sizeof(word) - 1;
    for (; e - p >= n; p++) {
        Py_ssize_t i = 0;
        for (; i < n; i++) {
            unsigned char c = p[i];
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c + 32);
            if (c != (unsigned char)word[i])
                break;
        }
        if (i == n)
            return 1;
    }
    return 0;
}

/* The int64 buffer of obj (contiguous, format 'q' or 'l' of 8 bytes) held in *b, or NULL with
 * an exception. */
static const long long *int64s(PyObject *obj, Py_buffer *b, const char *what)
{
    if (PyObject_GetBuffer(obj, b, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    const char *f = b->format ? b->format : "B";
    if (*f == '<' || *f == '=' || *f == '@')
        f++;
    if (b->itemsize != 8 || !(strcmp(f, "q") == 0 || strcmp(f, "l") == 0)) {
        PyErr_Format(PyExc_ValueError, "exchanges: %s must be an int64 column", what);
        return NULL;
    }
    return (const long long *)b->buf;
}

#define N_OUT 7

static PyObject *exchanges(PyObject *self, PyObject *args)
{
    Py_buffer bufs[6];
    static const char *names[6] = {"data", "srcs", "ends", "bounds", "contiguous", "ks"};
    PyObject *objs[6];
    Py_ssize_t max_head;
    for (int i = 0; i < 6; i++)
        bufs[i].obj = NULL;
    if (!PyArg_ParseTuple(args, "y*OOOOOn:exchanges", &bufs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &max_head))
        return NULL;
    const long long *v[6];
    for (int i = 1; i < 6; i++)
        if ((v[i] = int64s(objs[i], &bufs[i], names[i])) == NULL)
            goto release;
    const unsigned char *base = bufs[0].buf;
    Py_ssize_t len = bufs[0].len;
    Py_ssize_t n_pieces = bufs[1].len / 8, n_bounds = bufs[3].len / 8,
               n_dirs = bufs[4].len / 8, n = bufs[5].len / 8;
    if (bufs[2].len / 8 != n_pieces) {
        PyErr_SetString(PyExc_ValueError, "exchanges: srcs and ends differ in length");
        goto release;
    }
    PyObject *out[N_OUT] = {NULL};
    for (int i = 0; i < N_OUT; i++)
        if ((out[i] = PyList_New(0)) == NULL)
            goto fail;
    for (Py_ssize_t r = 0; r < n; r++) {
        long long k = v[5][r];
        if (k < 0 || 2 * k + 2 >= n_bounds || 2 * k + 1 >= n_dirs) {
            PyErr_Format(PyExc_ValueError, "exchanges: connection %lld out of range", k);
            goto fail;
        }
        long long a = v[3][2 * k], b = v[3][2 * k + 1], e = v[3][2 * k + 2];
        if (a < 0 || !(a < b && b < e) || e > n_pieces) {
            PyErr_Format(PyExc_ValueError, "exchanges: connection %lld's pieces out of range",
                         k);
            goto fail;
        }
        long long up_at = v[1][a], down_at = v[1][b];
        head_t rq, rs;
        int got = parse_head(base, len, up_at, up_at + (v[2][a] < max_head ? v[2][a] : max_head),
                             1, &rq);
        if (got < 0)
            goto fail;
        if (got == 0)
            continue;
        if (rq.head_end - up_at + rq.length != v[4][2 * k]
            || (rq.sp1 - rq.method == 4 && memcmp(rq.method, "HEAD", 4) == 0)) {
            Py_XDECREF(rq.request_id);
            continue;
        }
        got = parse_head(base, len, down_at,
                         down_at + (v[2][b] < max_head ? v[2][b] : max_head), 0, &rs);
        if (got <= 0 || rs.head_end - down_at + rs.length != v[4][2 * k + 1] || rs.status >= 400
            || has_event_stream(base + down_at, base + rs.head_end)) {
            Py_XDECREF(rq.request_id);
            if (got < 0)
                goto fail;
            continue;
        }
        PyObject *item[N_OUT];
        item[0] = PyLong_FromSsize_t(r);
        item[1] = PyUnicode_DecodeASCII((const char *)rq.method, rq.sp1 - rq.method, NULL);
        item[2] = PyUnicode_DecodeLatin1((const char *)rq.sp1 + 1, rq.sp2 - rq.sp1 - 1, NULL);
        item[3] = rq.request_id == NULL ? Py_NewRef(Py_None) : rq.request_id;
        item[4] = PyLong_FromLongLong(rq.length);
        item[5] = PyLong_FromLong(rs.status);
        item[6] = PyLong_FromLongLong(rs.length);
        int bad = 0;
        for (int i = 0; i < N_OUT; i++) {
            if (item[i] == NULL || PyList_Append(out[i], item[i]) < 0)
                bad = 1;
            Py_XDECREF(item[i]);
        }
        if (bad)
            goto fail;
    }
    for (int i = 1; i < 6; i++)
        PyBuffer_Release(&bufs[i]);
    PyBuffer_Release(&bufs[0]);
    PyObject *tuple = PyTuple_New(N_OUT);
    if (tuple == NULL) {
        for (int i = 0; i < N_OUT; i++)
            Py_DECREF(out[i]);
        return NULL;
    }
    for (int i = 0; i < N_OUT; i++)
        PyTuple_SET_ITEM(tuple, i, out[i]);
    return tuple;
fail:
    for (int i = 0; i < N_OUT; i++)
        Py_XDECREF(out[i]);
release:
    for (int i = 0; i < 6; i++)
        if (bufs[i].obj != NULL)
            PyBuffer_Release(&bufs[i]);
    return NULL;
}

static PyMethodDef methods[] = {
    {"message", message, METH_VARARGS,
     "message(data, pos, endpos, client) -> (head_end, method, target, body_bytes, request_id) "
     "or (head_end, status, body_bytes), or None: the plain HTTP/1 message head at pos, split "
     "and framed."},
    {"exchanges", exchanges, METH_VARARGS,
     "exchanges(data, srcs, ends, bounds, contiguous, ks, max_head) -> (rows, methods, "
     "targets, request_ids, request_bytes, statuses, response_bytes): the one-request "
     "connections among ks whose two heads are plain and frame each direction whole."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_plain", "One plain HTTP/1 head split and framed, in C.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__plain(void)
{
    init_tokens();
    return PyModule_Create(&module);
}
