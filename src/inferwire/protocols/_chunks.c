/* inferwire.protocols._chunks: the whole chunks of an HTTP/1.1 chunked body, walked in C.
 *
 * walk(data, pos, endpos, max_line, decode) reads, from data[pos], every chunk that lies whole
 * in data[pos:endpos] (its size line, its data and the CRLF or LF after the data) and is plain:
 * the size line (shorter than max_line bytes with its LF) is 1 to 15 hex digits, then optionally
 * spaces/tabs and a ";extension" part, then LF or CRLF; the size is not 0.  It stops at the first chunk that is not whole, not plain, or the
 * last chunk (size 0), and returns
 *
 *     (spans, stop, data_bytes, decoded)
 *
 * spans: bytes holding int64 triples (native order) per chunk read: the index in data of its size
 * line's first byte, of its data's first byte, one past its data's last byte; stop: the index
 * where it stopped (the next chunk's size line); data_bytes: the sum of the chunks' data sizes;
 * decoded: the chunks' data joined (bytes) when decode is true, else None.
 *
 * It judges nothing: whatever it does not read (a partial chunk, the last chunk and its
 * trailers, a malformed size line or a chunk not followed by CRLF) the Python code reads from
 * stop (protocols/http1.py names any error, protocols/chunked.py splits what is left), so its
 * results are the Python walk's (tests/protocols/test_chunks_c.py compares them on fuzzed bodies).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "chunkwalk.h"

static PyObject *walk(PyObject *self, PyObject *args)
{
    Py_buffer data;
    Py_ssize_t pos, endpos, max_line;
    int decode;
    if (!PyArg_ParseTuple(args, "y*nnnp:walk", &data, &pos, &endpos, &max_line, &decode))
        return NULL;
    if (endpos > data.len) endpos = data.len;
    if (pos < 0) pos = 0;
    const unsigned char *p = data.buf;
    Py_ssize_t cap = 64, count = 0, total = 0;
    int64_t *spans = PyMem_Malloc(cap * 3 * sizeof(int64_t));
    if (spans == NULL) {
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    int64_t span[4];
    while (pos < endpos && one_chunk(p, pos, endpos, max_line, span)) {
        if (count == cap) {
            int64_t *more = PyMem_Realloc(spans, cap * 2 * 3 * sizeof(int64_t));
            if (more == NULL) {
                PyMem_Free(spans);
                PyBuffer_Release(&data);
                return PyErr_NoMemory();
            }
            spans = more;
            cap *= 2;
        }
        memcpy(spans + 3 * count, span, 3 * sizeof(int64_t));
        total += span[2] - span[1];
        count++;
        pos = span[3];
    }
    PyObject *decoded = Py_None;
    Py_INCREF(Py_None);
    if (decode) {
        Py_DECREF(Py_None);
        decoded = PyBytes_FromStringAndSize(NULL, total);
        if (decoded != NULL) {
            char *out = PyBytes_AS_STRING(decoded);
            for (Py_ssize_t k = 0; k < count; k++) {
                Py_ssize_t len = spans[3 * k + 2] - spans[3 * k + 1];
                memcpy(out, p + spans[3 * k + 1], len);
                out += len;
            }
        }
    }
    PyObject *packed = decoded == NULL ? NULL :
        PyBytes_FromStringAndSize((const char *)spans, count * 3 * sizeof(int64_t));
    PyMem_Free(spans);
    PyBuffer_Release(&data);
    if (packed == NULL) {
        Py_XDECREF(decoded);
        return NULL;
    }
    return Py_BuildValue("(NnnN)", packed, pos, total, decoded);
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS,
     "walk(data, pos, endpos, max_line, decode) -> (spans, stop, data_bytes, decoded): the whole plain "
     "chunks of a chunked body from pos, before its last chunk."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_chunks", "HTTP/1.1 chunked bodies walked in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__chunks(void)
{
    return PyModule_Create(&module);
}
