/* inferwire._csvrows: CSV rows joined from their columns' cell texts, in C.
 *
 * join(offsets, texts, n) -> bytes
 *
 * offsets: a sequence of k buffers, each n + 1 int32 values (native order): the bounds of column
 * c's n cells in texts[c] (Arrow's string offsets, sliced to the rows); texts: k buffers of the
 * cells' characters.  Returns every row's cells separated by ',' and ended by '\n' (the cells
 * are written as given: quoting was done when they were made).  The copy runs without the GIL,
 * so several threads join blocks at once.  Offsets that go backwards or past their text are a
 * ValueError naming the column and row; nothing is read out of bounds.
 *
 * tablefiles.py keeps Arrow's binary_join_element_wise as the reading without this extension,
 * and tests/test_tablefiles.py compares the two.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *join(PyObject *self, PyObject *args)
{
    PyObject *offs_arg, *texts_arg, *offs_seq = NULL, *texts_seq = NULL, *out = NULL;
    Py_ssize_t n, k, c, i, total;
    Py_buffer *offs = NULL, *texts = NULL;
    Py_ssize_t got = 0;
    if (!PyArg_ParseTuple(args, "OOn", &offs_arg, &texts_arg, &n))
        return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "n must be >= 0");
        return NULL;
    }
    offs_seq = PySequence_Fast(offs_arg, "offsets must be a sequence");
    texts_seq = offs_seq ? PySequence_Fast(texts_arg, "texts must be a sequence") : NULL;
    if (!texts_seq)
        goto done;
    k = PySequence_Fast_GET_SIZE(offs_seq);
    if (k < 1 || PySequence_Fast_GET_SIZE(texts_seq) != k) {
        PyErr_SetString(PyExc_ValueError, "offsets and texts: one of each per column (>= 1)");
        goto done;
    }
    offs = PyMem_Calloc((size_t)k, sizeof(Py_buffer));
    texts = PyMem_Calloc((size_t)k, sizeof(Py_buffer));
    if (!offs || !texts) {
        PyErr_NoMemory();
        goto done;
    }
    for (got = 0; got < k; got++) {
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(offs_seq, got), &offs[got], PyBUF_SIMPLE) < 0)
            goto done;
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(texts_seq, got), &texts[got], PyBUF_SIMPLE) < 0) {
            PyBuffer_Release(&offs[got]);
            goto done;
        }
    }
    total = n * k;                          /* the separators */
    for (c = 0; c < k; c++) {
        const int32_t *o = (const int32_t *)offs[c].buf;
        if (offs[c].len < (n + 1) * (Py_ssize_t)sizeof(int32_t)) {
            PyErr_Format(PyExc_ValueError, "column %zd: %zd offsets, need %zd", c,
                         offs[c].len / (Py_ssize_t)sizeof(int32_t), n + 1);
            goto done;
        }
        if (o[0] < 0 || o[n] > texts[c].len) {
            PyErr_Format(PyExc_ValueError, "column %zd: offsets %d..%d outside its %zd bytes",
                         c, o[0], o[n], texts[c].len);
            goto done;
        }
        for (i = 0; i < n; i++)
            if (o[i + 1] < o[i]) {
                PyErr_Format(PyExc_ValueError, "column %zd, row %zd: offset goes backwards", c, i);
                goto done;
            }
        total += o[n] - o[0];
    }
    out = PyBytes_FromStringAndSize(NULL, total);
    if (!out)
        goto done;
    {
        char *p = PyBytes_AS_STRING(out);
        Py_BEGIN_ALLOW_THREADS
        for (i = 0; i < n; i++) {
            for (c = 0; c < k; c++) {
                const int32_t *o = (const int32_t *)offs[c].buf;
                Py_ssize_t len = o[i + 1] - o[i];
                memcpy(p, (const char *)texts[c].buf + o[i], (size_t)len);
                p += len;
                *p++ = c + 1 < k ? ',' : '\n';
            }
        }
        Py_END_ALLOW_THREADS
    }
done:
    for (c = 0; c < got; c++) {
        PyBuffer_Release(&offs[c]);
        PyBuffer_Release(&texts[c]);
    }
    PyMem_Free(offs);
    PyMem_Free(texts);
    Py_XDECREF(offs_seq);
    Py_XDECREF(texts_seq);
    if (PyErr_Occurred()) {
        Py_XDECREF(out);
        return NULL;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"join", join, METH_VARARGS,
     "join(offsets, texts, n) -> bytes: n CSV rows from k columns' cell texts (int32 offsets "
     "and characters per column), cells joined by ',' and rows ended by '\\n'."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_csvrows", "CSV rows joined from column texts in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__csvrows(void)
{
    return PyModule_Create(&module);
}
