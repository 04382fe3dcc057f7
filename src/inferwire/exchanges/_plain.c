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

static PyObject *message(PyObject *self, PyObject *args)
{
    Py_buffer data;
    Py_ssize_t pos, endpos;
    int client;
    if (!PyArg_ParseTuple(args, "y*nnp:message", &data, &pos, &endpos, &client))
        return NULL;
    PyObject *out = NULL, *request_id = NULL;
    const unsigned char *base = data.buf;
    if (endpos > data.len)
        endpos = data.len;
    if (pos < 0 || pos >= endpos)
        goto none;
    const unsigned char *crlf2 = find_head_end(base + pos, endpos - pos);
    if (crlf2 == NULL)
        goto none;
    Py_ssize_t head_end = (crlf2 - base) + 4;
    const unsigned char *p = base + pos, *end = crlf2 + 2;   /* lines, each ending in CRLF */
    if (memchr(p, '\0', (size_t)(end - p)) != NULL)
        goto none;
    for (const unsigned char *q = p; q < end; q++) {
        if (*q == '\r') {
            if (q + 1 >= end || q[1] != '\n')
                goto none;
            q++;
        } else if (*q == '\n')
            goto none;
    }
    const unsigned char *eol = memchr(p, '\r', (size_t)(end - p));
    const unsigned char *sp1 = NULL, *sp2 = NULL;
    int status = 0;
    if (client) {
        if (!request_line(p, eol, &sp1, &sp2) || (sp1 - p == 7 && memcmp(p, "CONNECT", 7) == 0))
            goto none;
    } else {
        status = status_line(p, eol);
        if (status < 200)
            goto none;
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
            if (request_id == NULL) {
                request_id = value;
            } else {
                PyObject *joined = PyUnicode_FromFormat("%U, %U", request_id, value);
                Py_DECREF(value);
                Py_DECREF(request_id);
                request_id = joined;
                if (joined == NULL)
                    goto fail;
            }
        }
    }
    if (client) {
        PyObject *method = PyUnicode_DecodeASCII((const char *)p, sp1 - p, NULL);
        PyObject *target = method == NULL ? NULL
            : PyUnicode_DecodeLatin1((const char *)sp1 + 1, sp2 - sp1 - 1, NULL);
        if (target != NULL)
            out = Py_BuildValue("(nNNLO)", head_end, method, target, seen ? length : 0LL,
                                request_id == NULL ? Py_None : request_id);
        else
            Py_XDECREF(method);
    } else {
        if (status == 204 || status == 304)
            length = 0;
        else if (!seen)
            goto none;
        out = Py_BuildValue("(niL)", head_end, status, length);
    }
    Py_XDECREF(request_id);
    PyBuffer_Release(&data);
    return out;
none:
    Py_XDECREF(request_id);
    PyBuffer_Release(&data);
    Py_RETURN_NONE;
fail:
    PyBuffer_Release(&data);
    return NULL;
}

static PyMethodDef methods[] = {
    {"message", message, METH_VARARGS,
     "message(data, pos, endpos, client) -> (head_end, method, target, body_bytes, request_id) "
     "or (head_end, status, body_bytes), or None: the plain HTTP/1 message head at pos, split "
     "and framed."},
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
