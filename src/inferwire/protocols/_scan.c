/* inferwire.protocols._scan: the HTTP/1 head of the usual message, split in C.
 *
 * head(data, pos, endpos) does in one call what the HTTP/1 parser's fast path
 * (http1.py: _HEAD_END.search, then _plain_lines and _field_line) does in Python: find the end of
 * the head (CRLF CRLF) in data[pos:endpos], check that the head is plain (every CR and LF part of
 * a CRLF, no NUL, every field line "token: value"), and split it.  It returns
 *
 *     (head_end, start_line, fields)
 *
 * head_end: the index one past the CRLF CRLF; start_line: the first line as bytes; fields: a tuple
 * of (name lower-cased, value without surrounding spaces and tabs) pairs of str (latin-1), in
 * order.  For anything else (no end of head before endpos, or a head that is not plain) it
 * returns None, and the Python parser's general path reads the message and names any problem
 * with its offset: this module has no error paths of its own beyond its arguments.  Results are
 * the same as the Python functions' (tests/protocols/test_scan_c.py compares them on fuzzed heads).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* RFC 9110 token characters: ! # $ % & ' * + - . ^ _ ` | ~ DIGIT ALPHA */
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

static const unsigned char *find_head_end(const unsigned char *p, Py_ssize_t n)
{
    /* The first CR LF CR LF in p[0:n]; NULL if none. */
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

/* The field line p[0:n] as a (name, value) tuple; NULL without an exception if it is not
 * "token:value"; NULL with an exception on memory errors. */
static PyObject *field(const unsigned char *p, Py_ssize_t n, int *plain)
{
    const unsigned char *colon = memchr(p, ':', (size_t)n);
    if (colon == NULL || colon == p) {
        *plain = 0;
        return NULL;
    }
    Py_ssize_t name_len = colon - p;
    char lower[256];
    char *name_buf = name_len <= (Py_ssize_t)sizeof(lower) ? lower : PyMem_Malloc((size_t)name_len);
    if (name_buf == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < name_len; i++) {
        unsigned char c = p[i];
        if (!is_token[c]) {
            if (name_buf != lower)
                PyMem_Free(name_buf);
            *plain = 0;
            return NULL;
        }
        name_buf[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    const unsigned char *v = colon + 1, *e = p + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    PyObject *name = PyUnicode_DecodeLatin1(name_buf, name_len, NULL);
    if (name_buf != lower)
        PyMem_Free(name_buf);
    if (name == NULL)
        return NULL;
    PyObject *value = PyUnicode_DecodeLatin1((const char *)v, e - v, NULL);
    if (value == NULL) {
        Py_DECREF(name);
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, name, value);
    Py_DECREF(name);
    Py_DECREF(value);
    return pair;
}

static PyObject *split_head(const unsigned char *base, Py_ssize_t pos, Py_ssize_t head_end)
{
    /* text = base[pos:head_end - 2]: the start line and the field lines, each ending in CRLF. */
    const unsigned char *p = base + pos, *end = base + head_end - 2;
    if (memchr(p, '\0', (size_t)(end - p)) != NULL)
        return Py_None;
    /* Every CR is followed by LF and every LF preceded by CR. */
    for (const unsigned char *q = p; q < end; q++) {
        if (*q == '\r') {
            if (q + 1 >= end || q[1] != '\n')
                return Py_None;
            q++;
        } else if (*q == '\n')
            return Py_None;
    }
    const unsigned char *eol = memchr(p, '\r', (size_t)(end - p));   /* exists: text ends in CRLF */
    PyObject *start = PyBytes_FromStringAndSize((const char *)p, eol - p);
    if (start == NULL)
        return NULL;
    PyObject *fields = PyList_New(0);
    if (fields == NULL) {
        Py_DECREF(start);
        return NULL;
    }
    int plain = 1;
    for (p = eol + 2; p < end; p = eol + 2) {
        eol = memchr(p, '\r', (size_t)(end - p));
        PyObject *pair = field(p, eol - p, &plain);
        if (pair == NULL) {
            Py_DECREF(start);
            Py_DECREF(fields);
            return plain ? NULL : Py_None;
        }
        int failed = PyList_Append(fields, pair);
        Py_DECREF(pair);
        if (failed) {
            Py_DECREF(start);
            Py_DECREF(fields);
            return NULL;
        }
    }
    PyObject *tuple = PyList_AsTuple(fields);
    Py_DECREF(fields);
    if (tuple == NULL) {
        Py_DECREF(start);
        return NULL;
    }
    return Py_BuildValue("(nNN)", head_end, start, tuple);
}

static PyObject *head(PyObject *self, PyObject *args)
{
    Py_buffer data;
    Py_ssize_t pos, endpos;
    if (!PyArg_ParseTuple(args, "y*nn:head", &data, &pos, &endpos))
        return NULL;
    PyObject *out = Py_None;
    if (endpos > data.len)
        endpos = data.len;
    if (pos >= 0 && pos < endpos) {
        const unsigned char *base = data.buf;
        const unsigned char *crlf2 = find_head_end(base + pos, endpos - pos);
        if (crlf2 != NULL)
            out = split_head(base, pos, (crlf2 - base) + 4);
    }
    PyBuffer_Release(&data);
    if (out == Py_None)
        Py_RETURN_NONE;
    return out;
}

static PyMethodDef methods[] = {
    {"head", head, METH_VARARGS,
     "head(data, pos, endpos) -> (head_end, start_line, fields) or None: the plain HTTP/1 head "
     "starting at pos and ending (CRLF CRLF) before endpos, split."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan", "The HTTP/1 parser's fast path for plain heads, in C.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__scan(void)
{
    init_tokens();
    return PyModule_Create(&module);
}
