/* inferwire.protocols._hpack: HPACK's plain header blocks decoded to text, in C.
 *
 * plain_text(block, static, dynamic, max_header_list_size) does in one call what
 * HpackDecoder._plain_text (hpackdecode.py) does in Python, for the blocks that leave the
 * dynamic table as it is and need no Huffman decoding: a block made only of
 *
 *   - indexed fields with a one-byte index (1 to 126) in the static or dynamic table;
 *   - literals without indexing or never indexed, whose name is a one-byte index (1 to 14) or a
 *     plain string, and whose value is a plain string, each shorter than 127 bytes;
 *
 * and whose decoded size (RFC 7541 entry sizes, 32 + name + value bytes each) is at most
 * max_header_list_size.  It returns the (name, value) text pairs (UTF-8, undecodable bytes
 * replaced) as a tuple; an indexed field gives the table's own pair object.  The tables are the
 * decoder's text mirrors: `static` a tuple and `dynamic` a sequence (newest first) of entries
 * ((name, value), name byte length, value byte length), static[0] unused.  For any other block
 * (a Huffman string, a longer string, a multi-byte index, a table change, an index not in the
 * table, a block cut short, one too large) it returns None and the Python code decodes the
 * block and names any error: this module judges nothing.  tests/protocols/test_hpack_c.py
 * compares it with _plain_text on fuzzed blocks.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define ENTRY_OVERHEAD 32

/* The table entry of an index (borrowed; NULL with no exception when it is not in the table,
 * NULL with one on error); *fresh receives the reference to release after use, if any. */
static PyObject *entry(PyObject *stat, PyObject *dynamic, Py_ssize_t index, PyObject **fresh)
{
    Py_ssize_t n_static = PyTuple_GET_SIZE(stat) - 1;
    *fresh = NULL;
    if (index <= 0)
        return NULL;
    if (index <= n_static)
        return PyTuple_GET_ITEM(stat, index);
    Py_ssize_t dyn = index - n_static - 1, len = PySequence_Size(dynamic);
    if (len < 0 || dyn >= len)
        return NULL;
    *fresh = PySequence_GetItem(dynamic, dyn);
    return *fresh;
}

/* Unpack an entry ((name, value), name bytes, value bytes); 0 if it is not that shape. */
static int unpack(PyObject *e, PyObject **pair, long *name_len, long *value_len)
{
    if (!PyTuple_Check(e) || PyTuple_GET_SIZE(e) != 3)
        return 0;
    *pair = PyTuple_GET_ITEM(e, 0);
    *name_len = PyLong_AsLong(PyTuple_GET_ITEM(e, 1));
    *value_len = PyLong_AsLong(PyTuple_GET_ITEM(e, 2));
    return PyTuple_Check(*pair) && PyTuple_GET_SIZE(*pair) == 2 && !PyErr_Occurred();
}

/* A plain string shorter than 127 bytes at p[*pos] (its length byte): its bytes and length,
 * *pos moved past it; NULL when it is Huffman-coded, longer, or cut by the block's end. */
static const unsigned char *plain_string(const unsigned char *p, Py_ssize_t n, Py_ssize_t *pos,
                                         Py_ssize_t *len)
{
    if (*pos >= n || p[*pos] >= 0x7F)
        return NULL;
    *len = p[*pos];
    const unsigned char *s = p + *pos + 1;
    *pos += 1 + *len;
    return *pos <= n ? s : NULL;
}

/* One literal field at p[*pos] appended to out as a text pair: 1, 0 (not plain), -1 error. */
static int literal(const unsigned char *p, Py_ssize_t n, Py_ssize_t *pos, PyObject *stat,
                   PyObject *out, long long *inflated)
{
    unsigned char b = p[*pos];
    PyObject *name;
    Py_ssize_t name_len, value_len;
    *pos += 1;
    if (b & 0x0F) {
        if ((b & 0x0F) == 0x0F)
            return 0;                                   /* a multi-byte index */
        PyObject *pair;
        long nlen, vlen;
        if (!unpack(PyTuple_GET_ITEM(stat, b & 0x0F), &pair, &nlen, &vlen))
            return PyErr_Occurred() ? -1 : 0;
        name = PyTuple_GET_ITEM(pair, 0);
        Py_INCREF(name);
        name_len = nlen;
    } else {
        const unsigned char *s = plain_string(p, n, pos, &name_len);
        if (s == NULL)
            return 0;
        name = PyUnicode_DecodeUTF8((const char *)s, name_len, "replace");
        if (name == NULL)
            return -1;
    }
    const unsigned char *v = plain_string(p, n, pos, &value_len);
    if (v == NULL) {
        Py_DECREF(name);
        return 0;
    }
    PyObject *value = PyUnicode_DecodeUTF8((const char *)v, value_len, "replace");
    if (value == NULL) {
        Py_DECREF(name);
        return -1;
    }
    PyObject *pair = PyTuple_Pack(2, name, value);
    Py_DECREF(name);
    Py_DECREF(value);
    if (pair == NULL)
        return -1;
    int rc = PyList_Append(out, pair);
    Py_DECREF(pair);
    *inflated += ENTRY_OVERHEAD + name_len + value_len;
    return rc < 0 ? -1 : 1;
}

/* One indexed field at p[*pos] appended to out: 1, 0 (not plain), -1 error. */
static int indexed(const unsigned char *p, Py_ssize_t *pos, PyObject *stat, PyObject *dynamic,
                   PyObject *out, long long *inflated)
{
    unsigned char b = p[*pos];
    if (b == 0xFF)
        return 0;                                       /* a multi-byte index */
    PyObject *fresh, *pair;
    long nlen, vlen;
    PyObject *e = entry(stat, dynamic, b & 0x7F, &fresh);
    if (e == NULL)
        return PyErr_Occurred() ? -1 : 0;
    int ok = unpack(e, &pair, &nlen, &vlen);
    int rc = ok ? PyList_Append(out, pair) : (PyErr_Occurred() ? -1 : 0);
    Py_XDECREF(fresh);
    if (rc < 0)
        return -1;
    if (!ok)
        return 0;
    *inflated += ENTRY_OVERHEAD + nlen + vlen;
    *pos += 1;
    return 1;
}

static PyObject *plain_text(PyObject *self, PyObject *args)
{
    Py_buffer view;
    PyObject *stat, *dynamic;
    long long limit;
    if (!PyArg_ParseTuple(args, "y*O!OL:plain_text", &view, &PyTuple_Type, &stat, &dynamic,
                          &limit))
        return NULL;
    if (PyTuple_GET_SIZE(stat) < 16) {      /* literal() reads static indexes 1 to 14 unchecked */
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "plain_text: the static table has fewer than 16 entries");
        return NULL;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    const unsigned char *p = view.buf;
    Py_ssize_t n = view.len, pos = 0;
    long long inflated = 0;
    int rc = 1;
    while (pos < n && rc == 1) {
        unsigned char b = p[pos];
        if (b & 0x80)
            rc = indexed(p, &pos, stat, dynamic, out, &inflated);
        else if (b & 0xE0)
            rc = 0;                                     /* a table change: not plain */
        else
            rc = literal(p, n, &pos, stat, out, &inflated);
    }
    PyBuffer_Release(&view);
    if (rc < 0) {
        Py_DECREF(out);
        return NULL;
    }
    if (rc == 0 || inflated > limit) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    PyObject *tuple = PyList_AsTuple(out);
    Py_DECREF(out);
    return tuple;
}

static PyMethodDef methods[] = {
    {"plain_text", plain_text, METH_VARARGS,
     "plain_text(block, static, dynamic, max_header_list_size) -> tuple of (name, value) text "
     "pairs, or None: a header block that leaves the table as it is and needs no Huffman "
     "decoding, decoded."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_hpack", "HPACK's plain header blocks decoded in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__hpack(void)
{
    return PyModule_Create(&module);
}
