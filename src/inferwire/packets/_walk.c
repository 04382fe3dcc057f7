/* inferwire.packets._walk: the per-record loops of the pcap and pcapng readers, in C.
 *
 * Reading a capture is vectorised (numpy) except for one step that cannot be: following the
 * chain of variable-length records to find where each one starts.  In Python that loop was most
 * of the reading time (about 1.5 us per record); here it is a few nanoseconds per record.
 *
 * Both functions only *find* record offsets; they stop at the first record that is not the
 * plain, well-formed case and leave it to the Python loop (pcap.py, pcapng.py), which applies
 * every rule and reports every problem with the file offset.  So this module has no error paths
 * of its own beyond its arguments, and the Python fallback (used when the extension is not
 * built) gives identical results.
 *
 * Returns are (offsets, next_offset): offsets is a bytes object of native int64 values, read
 * with array('q').frombytes or numpy.frombuffer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define EPB 6u

static uint32_t read_u32(const unsigned char *p, int big_endian)
{
    uint32_t v;
    memcpy(&v, p, 4);
    if (big_endian)
        v = __builtin_bswap32(v);
    return v;
}

typedef struct {
    int64_t *items;
    Py_ssize_t n, cap;
} offsets_t;

static int push(offsets_t *o, int64_t value)
{
    if (o->n == o->cap) {
        Py_ssize_t cap = o->cap ? o->cap * 2 : 4096;
        int64_t *grown = PyMem_RawRealloc(o->items, (size_t)cap * sizeof(int64_t));
        if (grown == NULL)
            return -1;
        o->items = grown;
        o->cap = cap;
    }
    o->items[o->n++] = value;
    return 0;
}

static PyObject *result(offsets_t *o, Py_ssize_t off, int failed)
{
    PyObject *out = NULL;
    if (failed)
        PyErr_NoMemory();
    else {
        PyObject *bytes = PyBytes_FromStringAndSize((const char *)o->items,
                                                    o->n * (Py_ssize_t)sizeof(int64_t));
        if (bytes != NULL) {
            out = Py_BuildValue("(Nn)", bytes, off);
        }
    }
    PyMem_RawFree(o->items);
    return out;
}

PyDoc_STRVAR(pcapng_epb_run_doc,
"pcapng_epb_run(buf, off, limit, max_count, max_record, big_endian) -> (offsets, next_off)\n\n"
"Offsets of the consecutive well-formed Enhanced Packet Blocks from byte ``off`` on: type 6,\n"
"32 <= total length <= max_record, a multiple of 4, inside the buffer.  Stops before the first\n"
"other block, once ``off`` > ``limit``, or after ``max_count`` blocks.");

static PyObject *pcapng_epb_run(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t off, limit, max_count, max_record;
    int big_endian, failed = 0;
    offsets_t o = {NULL, 0, 0};
    if (!PyArg_ParseTuple(args, "y*nnnnp", &view, &off, &limit, &max_count, &max_record,
                          &big_endian))
        return NULL;
    const unsigned char *buf = view.buf;
    Py_ssize_t end = view.len;
    if (off < 0)
        off = end;    /* nothing to walk; the caller's loop reports the offset */
    Py_BEGIN_ALLOW_THREADS
    while (o.n < max_count && off <= limit && end - off >= 8) {
        uint32_t btype = read_u32(buf + off, big_endian);
        uint32_t blen = read_u32(buf + off + 4, big_endian);
        if (btype != EPB || blen < 32 || (Py_ssize_t)blen > max_record || (blen & 3)
            || (Py_ssize_t)blen > end - off)
            break;
        if (push(&o, (int64_t)off) < 0) {
            failed = 1;
            break;
        }
        off += blen;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return result(&o, off, failed);
}

PyDoc_STRVAR(pcap_run_doc,
"pcap_run(buf, off, limit, max_count, rec_len, max_record, big_endian) -> (offsets, next_off)\n\n"
"Offsets of the consecutive whole pcap records from byte ``off`` on (record header of\n"
"``rec_len`` bytes, caplen at +8, caplen <= max_record, the record inside the buffer).  Stops\n"
"before the first other record, once ``off`` > ``limit``, or after ``max_count`` records.");

static PyObject *pcap_run(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t off, limit, max_count, rec_len, max_record;
    int big_endian, failed = 0;
    offsets_t o = {NULL, 0, 0};
    if (!PyArg_ParseTuple(args, "y*nnnnnp", &view, &off, &limit, &max_count, &rec_len,
                          &max_record, &big_endian))
        return NULL;
    if (rec_len < 12) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "rec_len must be at least 12");
        return NULL;
    }
    const unsigned char *buf = view.buf;
    Py_ssize_t end = view.len;
    if (off < 0)
        off = end;
    Py_BEGIN_ALLOW_THREADS
    while (o.n < max_count && off <= limit && end - off >= rec_len) {
        uint32_t caplen = read_u32(buf + off + 8, big_endian);
        if ((Py_ssize_t)caplen > max_record || (Py_ssize_t)caplen > end - off - rec_len)
            break;
        if (push(&o, (int64_t)off) < 0) {
            failed = 1;
            break;
        }
        off += rec_len + caplen;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return result(&o, off, failed);
}

PyDoc_STRVAR(epb_headers_doc,
"epb_headers(buf, offsets, big_endian) -> bytes\n\n"
"The header fields of the Enhanced Packet Blocks at ``offsets`` (a contiguous int64 array, each\n"
"block's 28 header bytes inside the buffer) as five int64 columns one after the other: block\n"
"length, interface id, time stamp (high << 32 | low, as uint64 bits), captured and original\n"
"length.  ValueError if an offset leaves the buffer.");

static PyObject *epb_headers(PyObject *self, PyObject *args)
{
    Py_buffer view, offs;
    int big_endian;
    if (!PyArg_ParseTuple(args, "y*y*p", &view, &offs, &big_endian))
        return NULL;
    const Py_ssize_t n = offs.len / (Py_ssize_t)sizeof(int64_t);
    PyObject *out = PyBytes_FromStringAndSize(NULL, 5 * n * (Py_ssize_t)sizeof(int64_t));
    if (out == NULL)
        goto done;
    const unsigned char *buf = view.buf;
    const int64_t *at = offs.buf;
    int64_t *col = (int64_t *)PyBytes_AS_STRING(out);
    Py_ssize_t bad = -1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t off = at[i];
        if (off < 0 || off > view.len - 28) {
            bad = i;
            break;
        }
        const unsigned char *p = buf + off;
        col[i] = read_u32(p + 4, big_endian);
        col[n + i] = read_u32(p + 8, big_endian);
        col[2 * n + i] = (int64_t)(((uint64_t)read_u32(p + 12, big_endian) << 32)
                                   | read_u32(p + 16, big_endian));
        col[3 * n + i] = read_u32(p + 20, big_endian);
        col[4 * n + i] = read_u32(p + 24, big_endian);
    }
    Py_END_ALLOW_THREADS
    if (bad >= 0) {
        PyErr_Format(PyExc_ValueError, "block %zd at offset %lld: header outside the buffer",
                     bad, (long long)at[bad]);
        Py_CLEAR(out);
    }
done:
    PyBuffer_Release(&view);
    PyBuffer_Release(&offs);
    return out;
}

static PyMethodDef methods[] = {
    {"pcapng_epb_run", pcapng_epb_run, METH_VARARGS, pcapng_epb_run_doc},
    {"epb_headers", epb_headers, METH_VARARGS, epb_headers_doc},
    {"pcap_run", pcap_run, METH_VARARGS, pcap_run_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "inferwire.packets._walk",
    "Record-offset walks of the pcap and pcapng readers (see _walk.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__walk(void)
{
    return PyModule_Create(&module);
}
