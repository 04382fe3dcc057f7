/* inferwire.protocols.http2._frames: the usual HTTP/2 frames of one direction, walked in C.
 *
 * walk(data, pos, offset, max_frame_size, grpc, events, parser, kinds) does in one call what
 * H2Parser's fast path (frames.py: _frames_py) does frame by frame in Python: from data[pos]
 * (data[0] is at stream offset `offset`) it reads every frame that lies whole in data and is one
 * of
 *
 *   - DATA, not padded, on a stream other than 0, whose gRPC framing (if the stream is a gRPC
 *     one: grpc[stream id] is a GrpcMessageSplitter, or True for one not made yet) is simple:
 *     the splitter holds no partial message and the payload is zero or more whole messages
 *     with flags 0 or 1;
 *   - HEADERS with END_HEADERS, not padded, no priority fields, on a stream other than 0: a
 *     header block the parser's HPACK decoder remembers for its table's generation, or a plain
 *     one (kinds' plain_text gives its headers; then remembered as HpackDecoder.decode_text
 *     does), makes its record here; any other goes to parser._whole_headers(block, start, end,
 *     flags, stream_id, events), the Python method that decodes it and appends its record;
 *   - WINDOW_UPDATE with a 4-byte payload;
 *   - a frame of an unknown type (> CONTINUATION);
 *
 * appends the records the Python code would append to `events` (kinds = (Data, WindowUpdate,
 * UnknownFrame, GrpcMessage, Headers, plain_text or None, the static table's text, the memo's
 * size limit, the ("content-type", "application/grpc") pair, grpc.WHOLE_MESSAGE: the markers a
 * DATA record holds for a payload of one whole message)), keeps `grpc` as Python would (a
 * splitter's counters grow by the messages read; a stream becomes gRPC (True) when its headers
 * hold the usual content-type, parser._note_content_type judges any other; a stream's entry is
 * removed when its direction ends, parser._end_grpc does it for a splitter), and returns the
 * index of the first frame it did not read.  It judges nothing: any
 * other frame (incomplete, too long, padded, a control frame, CONTINUATION, DATA on stream 0, a
 * gRPC message crossing the frame's end, a bad flag) is left at that index for the Python code,
 * which reads it and names any error.  An exception raised by on_headers propagates, the
 * records before it appended.  tests/protocols/http2/test_frames_c.py compares both walks. *
 * data_rows(records, Data, WHOLE_MESSAGE) -> (rows, messages) reads a direction's records
 * (those walk and the Python code made) for their DATA frames, as protocols/http2/datarows.py's
 * Python reading does: rows holds int64 sextuples (native order) per record whose first item is
 * Data: its index in records, stream id, start, end, payload length and END_STREAM (0 or 1);
 * messages holds int64 quintuples per gRPC message of those records, in order: the number of its
 * DATA row, its compressed flag (0 or 1), length, start and end (a WHOLE_MESSAGE marker's one
 * message: the payload, end - payload length to end).  A record that is not a tuple of 7 with
 * int fields and a tuple (or None) of 4-tuples of messages, or a marker, is a TypeError naming
 * its index.
 *
 * window_rows(records, WindowUpdate, Settings) -> rows reads a direction's records for what
 * grants flow-control window, as datarows.py's window_rows_py does: int64 quintuples (native
 * order) in record order, (index, 0, stream id, end, increment) per WINDOW_UPDATE record
 * (WindowUpdate, stream id, start, end, increment) and (index, 1, 0, end, value) per SETTINGS
 * record (Settings, start, end, ack, params) that is not an ACK and sets
 * SETTINGS_INITIAL_WINDOW_SIZE (params[4] = value).  Any other shape of those records is a
 * TypeError naming its index.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { DATA = 0, HEADERS = 1, WINDOW_UPDATE = 8, CONTINUATION = 9 };
enum { END_STREAM = 0x1, END_HEADERS = 0x4, PADDED = 0x8, PRIORITY = 0x20 };
#define HEADER_LEN 9
#define PREFIX_LEN 5
#define MAX_MESSAGES 64        /* more gRPC messages in one frame: left to Python */

static PyObject *s_current, *s_prefix, *s_failed, *s_messages, *s_message_bytes, *s_decoder,
    *s_blocks, *s_generation, *s_table_size, *s_max_table, *s_dynamic_text, *s_max_list,
    *s_whole_headers, *s_note, *s_end_grpc;
enum { K_DATA, K_WINDOW_UPDATE, K_UNKNOWN, K_MESSAGE, K_HEADERS, K_PLAIN, K_STATIC, K_MEMO_LIMIT,
       K_GRPC_PAIR, K_WHOLE, N_KINDS };

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* 1 if obj.<name> is None, 0 if not, -1 on error. */
static int attr_is_none(PyObject *obj, PyObject *name)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    Py_DECREF(v);
    return v == Py_None;
}

/* 1 if the splitter holds no partial message and has not failed; 0 if it does; -1 on error. */
static int splitter_idle(PyObject *splitter)
{
    int idle = attr_is_none(splitter, s_current);
    if (idle == 1)
        idle = attr_is_none(splitter, s_failed);
    if (idle != 1)
        return idle;
    PyObject *prefix = PyObject_GetAttr(splitter, s_prefix);
    if (prefix == NULL)
        return -1;
    Py_ssize_t n = PyObject_Size(prefix);
    Py_DECREF(prefix);
    return n < 0 ? -1 : n == 0;
}

/* splitter.<name> += add */
static int add_to(PyObject *splitter, PyObject *name, long long add)
{
    PyObject *old = PyObject_GetAttr(splitter, name);
    if (old == NULL)
        return -1;
    PyObject *inc = PyLong_FromLongLong(add);
    if (inc == NULL) {
        Py_DECREF(old);
        return -1;
    }
    PyObject *sum = PyNumber_Add(old, inc);
    Py_DECREF(old);
    Py_DECREF(inc);
    if (sum == NULL)
        return -1;
    int rc = PyObject_SetAttr(splitter, name, sum);
    Py_DECREF(sum);
    return rc;
}

/* A tuple (of `type`, a tuple subclass, or a plain one when NULL) of the n new references in
 * items, which it takes (also when it fails: then NULL, with the error of the item that could
 * not be made). */
static PyObject *steal_tuple(PyTypeObject *type, Py_ssize_t n, PyObject **items)
{
    PyObject *t = NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        if (items[i] == NULL)
            goto fail;
    t = type ? type->tp_alloc(type, n) : PyTuple_New(n);
    if (t == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(t, i, items[i]);
    return t;
fail:
    for (Py_ssize_t i = 0; i < n; i++)
        Py_XDECREF(items[i]);
    return NULL;
}

/* The gRPC messages of the payload p[0:len] at stream offset `at`, as a tuple of GrpcMessage,
 * or, when the payload is one whole message, the WHOLE_MESSAGE marker of its flag (kinds'
 * K_WHOLE pair), as grpc.py's feed_frame gives them (counted in the splitter's counters, unless
 * it is NULL: not made yet); Py_None (a borrowed marker) when they are not all whole with flags
 * 0 or 1. */
static PyObject *messages(PyObject *splitter, PyObject *kinds, const unsigned char *p,
                          Py_ssize_t len, long long at)
{
    PyObject *message_type = PyTuple_GET_ITEM(kinds, K_MESSAGE);
    Py_ssize_t starts[MAX_MESSAGES], lengths[MAX_MESSAGES], k = 0, i = 0;
    long long total = 0;
    while (i < len) {
        if (len - i < PREFIX_LEN || p[i] > 1 || k == MAX_MESSAGES)
            return Py_None;
        uint64_t m = (uint64_t)be32(p + i + 1);   /* no sign flip where Py_ssize_t is 32-bit */
        if (m > (uint64_t)(len - i - PREFIX_LEN))
            return Py_None;
        Py_ssize_t mlen = (Py_ssize_t)m;
        starts[k] = i;
        lengths[k++] = mlen;
        total += mlen;
        i += PREFIX_LEN + mlen;
    }
    if (k && splitter != NULL && (add_to(splitter, s_messages, k) < 0 ||
              add_to(splitter, s_message_bytes, total) < 0))
        return NULL;
    if (k == 1)             /* the payload is one whole message: WHOLE_MESSAGE[flag] */
        return Py_NewRef(PyTuple_GET_ITEM(PyTuple_GET_ITEM(kinds, K_WHOLE), p[0]));
    PyObject *out = PyTuple_New(k);
    if (out == NULL)
        return NULL;
    PyTypeObject *type = (PyTypeObject *)message_type;
    for (Py_ssize_t m = 0; m < k; m++) {
        long long start = at + starts[m];
        /* GrpcMessage(flag, length, start, end) made as tuple.__new__ would make it (a
         * NamedTuple without its generated __new__), without the argument tuples */
        PyObject *items[4] = {Py_NewRef(p[starts[m]] ? Py_True : Py_False),
                              PyLong_FromSsize_t(lengths[m]), PyLong_FromLongLong(start),
                              PyLong_FromLongLong(start + PREFIX_LEN + lengths[m])};
        PyObject *msg = steal_tuple(type, 4, items);
        if (msg == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, m, msg);
    }
    return out;
}

/* One DATA frame: 1 read (record appended), 0 left to Python, -1 error. */
static int data_frame(const unsigned char *payload, Py_ssize_t length, long long start,
                      int flags, uint32_t sid, PyObject *grpc, PyObject *events, PyObject *kinds)
{
    PyObject *key = PyLong_FromUnsignedLong(sid);
    if (key == NULL)
        return -1;
    PyObject *splitter = PyDict_GetItemWithError(grpc, key);     /* borrowed */
    if (splitter == NULL && PyErr_Occurred()) {
        Py_DECREF(key);
        return -1;
    }
    PyObject *msgs;
    if (splitter == Py_True) {               /* a gRPC stream without a splitter yet: idle */
        msgs = length ? messages(NULL, kinds, payload, length,
                                 start + HEADER_LEN) : PyTuple_New(0);
        if (msgs == Py_None) {
            Py_DECREF(key);
            return 0;
        }
    } else if (splitter != NULL && splitter != Py_None) {
        Py_INCREF(splitter);
        int idle = splitter_idle(splitter);
        if (idle <= 0) {
            Py_DECREF(splitter);
            Py_DECREF(key);
            return idle;
        }
        msgs = length ? messages(splitter, kinds, payload, length,
                                 start + HEADER_LEN) : PyTuple_New(0);
        Py_DECREF(splitter);
        if (msgs == Py_None) {
            Py_DECREF(key);
            return 0;
        }
    } else {
        msgs = PyTuple_New(0);
    }
    if (msgs == NULL) {
        Py_DECREF(key);
        return -1;
    }
    long long end = start + HEADER_LEN + length;
    PyObject *items[7] = {Py_NewRef(PyTuple_GET_ITEM(kinds, K_DATA)), Py_NewRef(key),
                          PyLong_FromLongLong(start), PyLong_FromLongLong(end),
                          PyLong_FromSsize_t(length),
                          Py_NewRef((flags & END_STREAM) ? Py_True : Py_False), msgs};
    PyObject *rec = steal_tuple(NULL, 7, items);
    int rc = rec == NULL ? -1 : PyList_Append(events, rec);
    Py_XDECREF(rec);
    if (rc == 0 && (flags & END_STREAM) && splitter != NULL) {
        /* the stream's direction ended: its splitter (idle: no message cut) is dropped */
        rc = PyDict_DelItem(grpc, key);
    }
    Py_DECREF(key);
    return rc < 0 ? -1 : 1;
}

/* The headers of `block` as HpackDecoder.decode_text gives them when the decoder remembers
 * the block for its table's generation, or the block is plain (then remembered, as
 * decode_text does); NULL without an exception for any other block, NULL with one on error. */
static PyObject *known_headers(PyObject *decoder, PyObject *block, PyObject *kinds)
{
    PyObject *blocks = PyObject_GetAttr(decoder, s_blocks);
    PyObject *generation = blocks ? PyObject_GetAttr(decoder, s_generation) : NULL;
    PyObject *headers = NULL;
    if (generation == NULL)
        goto done;
    if (!PyDict_Check(blocks))
        goto done;                                       /* not a memo this code knows */
    PyObject *memo = PyDict_GetItemWithError(blocks, block);          /* borrowed */
    if (memo != NULL && PyTuple_Check(memo) && PyTuple_GET_SIZE(memo) == 2) {
        int same = PyObject_RichCompareBool(PyTuple_GET_ITEM(memo, 0), generation, Py_EQ);
        if (same > 0) {
            headers = PyTuple_GET_ITEM(memo, 1);
            Py_INCREF(headers);
        }
        if (same != 0)
            goto done;
    }
    if (PyErr_Occurred() || PyTuple_GET_ITEM(kinds, K_PLAIN) == Py_None)
        goto done;
    PyObject *size = PyObject_GetAttr(decoder, s_table_size);
    PyObject *allowed = size ? PyObject_GetAttr(decoder, s_max_table) : NULL;
    int fits = allowed ? PyObject_RichCompareBool(size, allowed, Py_LE) : -1;
    Py_XDECREF(size);
    Py_XDECREF(allowed);
    if (fits != 1)
        goto done;
    PyObject *dynamic = PyObject_GetAttr(decoder, s_dynamic_text);
    PyObject *limit = dynamic ? PyObject_GetAttr(decoder, s_max_list) : NULL;
    PyObject *got = limit ? PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(kinds, K_PLAIN), block,
                                                         PyTuple_GET_ITEM(kinds, K_STATIC),
                                                         dynamic, limit, NULL) : NULL;
    Py_XDECREF(dynamic);
    Py_XDECREF(limit);
    if (got == NULL || got == Py_None) {
        Py_XDECREF(got);
        goto done;
    }
    /* remembered as decode_text does (the table did not change), after forgetting all at
     * the memo's limit */
    Py_ssize_t memo_limit = PyLong_AsSsize_t(PyTuple_GET_ITEM(kinds, K_MEMO_LIMIT));
    if (PyErr_Occurred()) {
        Py_DECREF(got);
        goto done;
    }
    if (PyDict_GET_SIZE(blocks) >= memo_limit)
        PyDict_Clear(blocks);
    PyObject *entry = PyTuple_Pack(2, generation, got);
    if (entry == NULL || PyDict_SetItem(blocks, block, entry) < 0) {
        Py_XDECREF(entry);
        Py_DECREF(got);
        goto done;
    }
    Py_DECREF(entry);
    headers = got;
done:
    Py_XDECREF(blocks);
    Py_XDECREF(generation);
    return headers;
}

/* parser.<method>(*args) called for its effect: 0, or -1 on error. */
static int call_method(PyObject *parser, PyObject *method, PyObject *args)
{
    if (args == NULL)
        return -1;
    PyObject *fn = PyObject_GetAttr(parser, method);
    PyObject *r = fn ? PyObject_Call(fn, args, NULL) : NULL;
    Py_XDECREF(fn);
    Py_DECREF(args);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* The stream of a HEADERS record just made: gRPC when its headers say so (the usual pair here,
 * any other form by parser._note_content_type); its direction ended on END_STREAM. */
static int after_headers(PyObject *parser, PyObject *grpc, PyObject *key, PyObject *headers,
                         PyObject *kinds, int end_stream, long long end, PyObject *events,
                         PyObject *rec)
{
    int has = PyDict_Contains(grpc, key);
    if (has < 0)
        return -1;
    if (!has) {
        int found = PySequence_Contains(headers, PyTuple_GET_ITEM(kinds, K_GRPC_PAIR));
        if (found < 0)
            return -1;
        if (found ? PyDict_SetItem(grpc, key, Py_True) < 0
                  : call_method(parser, s_note, PyTuple_Pack(2, key, headers)) < 0)
            return -1;
    }
    if (PyList_Append(events, rec) < 0)
        return -1;
    if (!end_stream)
        return 0;
    PyObject *splitter = PyDict_GetItemWithError(grpc, key);           /* borrowed */
    if (splitter == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (splitter == Py_True || splitter == Py_None)                    /* nothing cut */
        return PyDict_DelItem(grpc, key);
    return call_method(parser, s_end_grpc, Py_BuildValue("(OLO)", key, end, events));
}

/* One HEADERS frame (END_HEADERS, no padding or priority): 0, or -1 on error. */
static int headers_frame(const unsigned char *payload, Py_ssize_t length, long long start,
                         long long end, int flags, uint32_t sid, PyObject *parser,
                         PyObject *grpc, PyObject *events, PyObject *kinds)
{
    PyObject *block = PyBytes_FromStringAndSize((const char *)payload, length);
    if (block == NULL)
        return -1;
    PyObject *decoder = PyObject_GetAttr(parser, s_decoder);
    PyObject *headers = decoder ? known_headers(decoder, block, kinds) : NULL;
    Py_XDECREF(decoder);
    if (headers == NULL) {
        int rc = PyErr_Occurred() ? -1 : call_method(parser, s_whole_headers, Py_BuildValue(
            "(OLLiIO)", block, start, end, flags, sid, events));
        Py_DECREF(block);
        return rc;
    }
    Py_DECREF(block);
    PyObject *key = PyLong_FromUnsignedLong(sid);
    int end_stream = flags & END_STREAM;
    PyObject *rec = key ? Py_BuildValue("(OOLLOO)", PyTuple_GET_ITEM(kinds, K_HEADERS), key,
                                        start, end, headers,
                                        end_stream ? Py_True : Py_False) : NULL;
    int rc = rec ? after_headers(parser, grpc, key, headers, kinds, end_stream, end, events,
                                 rec) : -1;
    Py_XDECREF(rec);
    Py_XDECREF(key);
    Py_DECREF(headers);
    return rc;
}

static int append_record(PyObject *events, PyObject *rec)
{
    if (rec == NULL)
        return -1;
    int rc = PyList_Append(events, rec);
    Py_DECREF(rec);
    return rc;
}

static PyObject *walk(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t pos, max_size;
    long long offset;
    PyObject *grpc, *events, *parser, *kinds;
    if (!PyArg_ParseTuple(args, "y*nLnO!O!OO!:walk", &view, &pos, &offset, &max_size,
                          &PyDict_Type, &grpc, &PyList_Type, &events, &parser,
                          &PyTuple_Type, &kinds))
        return NULL;
    if (PyTuple_GET_SIZE(kinds) != N_KINDS || !PyTuple_Check(PyTuple_GET_ITEM(kinds, K_WHOLE))
            || PyTuple_GET_SIZE(PyTuple_GET_ITEM(kinds, K_WHOLE)) != 2) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "kinds must be (Data, WindowUpdate, UnknownFrame, "
                        "GrpcMessage, Headers, plain_text, STATIC_TEXT, MEMO_LIMIT, pair, "
                        "WHOLE_MESSAGE)");
        return NULL;
    }
    const unsigned char *p = view.buf;
    Py_ssize_t n = view.len;
    int failed = 0;
    if (pos < 0)
        pos = n;
    while (n - pos >= HEADER_LEN) {
        const unsigned char *h = p + pos;
        Py_ssize_t length = ((Py_ssize_t)h[0] << 16) | (h[1] << 8) | h[2];
        int ftype = h[3], flags = h[4];
        uint32_t sid = be32(h + 5) & 0x7FFFFFFF;
        Py_ssize_t end = pos + HEADER_LEN + length;
        long long start = offset + pos;
        if (end > n || length > max_size)
            break;
        if (ftype == DATA) {
            if ((flags & PADDED) || sid == 0)
                break;
            int rc = data_frame(h + HEADER_LEN, length, start, flags, sid, grpc, events, kinds);
            if (rc < 0) {
                failed = 1;
                break;
            }
            if (rc == 0)
                break;
        } else if (ftype == HEADERS) {
            if ((flags & (END_HEADERS | PADDED | PRIORITY)) != END_HEADERS || sid == 0)
                break;
            if (headers_frame(h + HEADER_LEN, length, start, offset + end, flags, sid, parser,
                              grpc, events, kinds) < 0) {
                failed = 1;
                break;
            }
        } else if (ftype == WINDOW_UPDATE) {
            if (length != 4)
                break;
            PyObject *items[5] = {Py_NewRef(PyTuple_GET_ITEM(kinds, K_WINDOW_UPDATE)),
                                  PyLong_FromUnsignedLong(sid), PyLong_FromLongLong(start),
                                  PyLong_FromLongLong(offset + end),
                                  PyLong_FromUnsignedLong(be32(h + HEADER_LEN) & 0x7FFFFFFF)};
            if (append_record(events, steal_tuple(NULL, 5, items)) < 0) {
                failed = 1;
                break;
            }
        } else if (ftype > CONTINUATION) {
            if (append_record(events, Py_BuildValue("(OiIiLL)", PyTuple_GET_ITEM(kinds, K_UNKNOWN),
                                                    ftype, sid, flags, start,
                                                    offset + end)) < 0) {
                failed = 1;
                break;
            }
        } else {
            break;
        }
        pos = end;
    }
    PyBuffer_Release(&view);
    if (failed)
        return NULL;
    return PyLong_FromSsize_t(pos);
}

/* ---------------------------------------------------------------- data_rows */

typedef struct {
    int64_t *v;
    Py_ssize_t n, cap;
} Rows;

static int rows_push(Rows *r, const int64_t *x, int width)
{
    if (r->n + width > r->cap) {
        Py_ssize_t cap = r->cap ? r->cap : 1024;
        while (cap < r->n + width) cap *= 2;
        int64_t *v = PyMem_Realloc(r->v, (size_t)cap * sizeof(int64_t));
        if (v == NULL) { PyErr_NoMemory(); return -1; }
        r->v = v;
        r->cap = cap;
    }
    memcpy(r->v + r->n, x, (size_t)width * sizeof(int64_t));
    r->n += width;
    return 0;
}

/* item k of tuple t as an int64 (-1 and an exception set on failure) */
static int item_int(PyObject *t, Py_ssize_t k, int64_t *out)
{
    PyObject *o = PyTuple_GET_ITEM(t, k);
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred()) return -1;
    *out = (int64_t)v;
    return 0;
}

/* a TypeError naming record i and what `reader` (data_rows, window_rows) wanted it to be; an
 * error that is neither a TypeError nor an OverflowError (no memory) is left as it is */
static int bad_record(Py_ssize_t i, const char *reader, const char *wanted)
{
    if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_TypeError)
            && !PyErr_ExceptionMatches(PyExc_OverflowError))
        return -1;
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "%s: record %zd is not a %s record", reader, i, wanted);
    return -1;
}

static int bad_data(Py_ssize_t i)
{
    return bad_record(i, "data_rows", "DATA");
}

static PyObject *data_rows(PyObject *self, PyObject *args)
{
    PyObject *records, *data_type, *whole;
    if (!PyArg_ParseTuple(args, "O!OO!:data_rows", &PyList_Type, &records, &data_type,
                          &PyTuple_Type, &whole))
        return NULL;
    if (PyTuple_GET_SIZE(whole) != 2) {
        PyErr_SetString(PyExc_ValueError, "data_rows: WHOLE_MESSAGE must be a pair");
        return NULL;
    }
    Rows rows = {NULL, 0, 0}, msgs = {NULL, 0, 0};
    PyObject *out = NULL;
    Py_ssize_t count = PyList_GET_SIZE(records), row = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *rec = PyList_GET_ITEM(records, i);
        if (!PyTuple_Check(rec) || PyTuple_GET_SIZE(rec) < 1
                || PyTuple_GET_ITEM(rec, 0) != data_type)
            continue;
        int64_t x[6];
        if (PyTuple_GET_SIZE(rec) != 7) { bad_data(i); goto done; }
        x[0] = i;
        for (int k = 1; k <= 4; k++)
            if (item_int(rec, k, &x[k]) < 0) { bad_data(i); goto done; }
        int ended = PyObject_IsTrue(PyTuple_GET_ITEM(rec, 5));
        if (ended < 0) { bad_data(i); goto done; }
        x[5] = ended;
        if (rows_push(&rows, x, 6) < 0) goto done;
        PyObject *ms = PyTuple_GET_ITEM(rec, 6);
        int marker = ms == PyTuple_GET_ITEM(whole, 0) ? 0 : ms == PyTuple_GET_ITEM(whole, 1) ? 1
                     : -1;
        if (marker >= 0) {              /* the payload is one whole message */
            int64_t y[5] = {row, marker, x[4] - PREFIX_LEN, x[3] - x[4], x[3]};
            if (rows_push(&msgs, y, 5) < 0) goto done;
        } else if (ms != Py_None) {
            if (!PyTuple_Check(ms)) { bad_data(i); goto done; }
            for (Py_ssize_t m = 0; m < PyTuple_GET_SIZE(ms); m++) {
                PyObject *g = PyTuple_GET_ITEM(ms, m);
                int64_t y[5];
                if (!PyTuple_Check(g) || PyTuple_GET_SIZE(g) != 4) { bad_data(i); goto done; }
                y[0] = row;
                int flag = PyObject_IsTrue(PyTuple_GET_ITEM(g, 0));
                if (flag < 0) { bad_data(i); goto done; }
                y[1] = flag;
                for (int k = 1; k <= 3; k++)
                    if (item_int(g, k, &y[k + 1]) < 0) { bad_data(i); goto done; }
                if (rows_push(&msgs, y, 5) < 0) goto done;
            }
        }
        row++;
    }
    /* (y# makes None of a NULL pointer: an empty column is "") */
    out = Py_BuildValue("(y#y#)", rows.v ? (const char *)rows.v : "",
                        rows.n * (Py_ssize_t)sizeof(int64_t),
                        msgs.v ? (const char *)msgs.v : "", msgs.n * (Py_ssize_t)sizeof(int64_t));
done:
    PyMem_Free(rows.v);
    PyMem_Free(msgs.v);
    return out;
}

/* ---------------------------------------------------------------- window_rows */

#define SETTINGS_INITIAL_WINDOW_SIZE 4

static int bad_window(Py_ssize_t i)
{
    return bad_record(i, "window_rows", "WINDOW_UPDATE or SETTINGS");
}

static PyObject *window_rows(PyObject *self, PyObject *args)
{
    PyObject *records, *update_type, *settings_type, *key, *out = NULL;
    if (!PyArg_ParseTuple(args, "O!OO:window_rows", &PyList_Type, &records, &update_type,
                          &settings_type))
        return NULL;
    key = PyLong_FromLong(SETTINGS_INITIAL_WINDOW_SIZE);
    if (key == NULL)
        return NULL;
    Rows rows = {NULL, 0, 0};
    Py_ssize_t count = PyList_GET_SIZE(records);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *rec = PyList_GET_ITEM(records, i);
        if (!PyTuple_Check(rec) || PyTuple_GET_SIZE(rec) < 1)
            continue;
        PyObject *kind = PyTuple_GET_ITEM(rec, 0);
        int64_t x[5] = {i, 0, 0, 0, 0};
        if (kind == update_type) {
            if (PyTuple_GET_SIZE(rec) != 5 || item_int(rec, 1, &x[2]) < 0
                    || item_int(rec, 3, &x[3]) < 0 || item_int(rec, 4, &x[4]) < 0) {
                bad_window(i);
                goto done;
            }
        } else if (kind == settings_type) {
            if (PyTuple_GET_SIZE(rec) != 5 || !PyDict_Check(PyTuple_GET_ITEM(rec, 4))) {
                bad_window(i);
                goto done;
            }
            int ack = PyObject_IsTrue(PyTuple_GET_ITEM(rec, 3));
            if (ack < 0) { bad_window(i); goto done; }
            PyObject *value = PyDict_GetItemWithError(PyTuple_GET_ITEM(rec, 4), key);
            if (value == NULL && PyErr_Occurred()) goto done;
            if (ack || value == NULL)
                continue;
            long long v = PyLong_AsLongLong(value);
            if (v == -1 && PyErr_Occurred()) { bad_window(i); goto done; }
            x[1] = 1;
            x[4] = (int64_t)v;
            if (item_int(rec, 2, &x[3]) < 0) { bad_window(i); goto done; }
        } else {
            continue;
        }
        if (rows_push(&rows, x, 5) < 0) goto done;
    }
    out = PyBytes_FromStringAndSize(rows.v ? (const char *)rows.v : "",
                                    rows.n * (Py_ssize_t)sizeof(int64_t));
done:
    Py_DECREF(key);
    PyMem_Free(rows.v);
    return out;
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS,
     "walk(data, pos, offset, max_frame_size, grpc, events, on_headers, kinds) -> pos: the "
     "usual whole HTTP/2 frames from data[pos] read into records appended to events; returns "
     "the index of the first frame left to the Python code."},
    {"data_rows", data_rows, METH_VARARGS,
     "data_rows(records, Data) -> (rows, messages): the DATA records' fields and their gRPC "
     "messages as int64 bytes (see the module's comment)."},
    {"window_rows", window_rows, METH_VARARGS,
     "window_rows(records, WindowUpdate, Settings) -> rows: the WINDOW_UPDATE records and the "
     "SETTINGS records that set the initial window, as int64 bytes (see the module's comment)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_frames", "H2Parser's fast path over whole frames, in C.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__frames(void)
{
    s_current = PyUnicode_InternFromString("_current");
    s_prefix = PyUnicode_InternFromString("_prefix");
    s_failed = PyUnicode_InternFromString("_failed");
    s_messages = PyUnicode_InternFromString("messages");
    s_message_bytes = PyUnicode_InternFromString("message_bytes");
    s_decoder = PyUnicode_InternFromString("_decoder");
    s_blocks = PyUnicode_InternFromString("_blocks");
    s_generation = PyUnicode_InternFromString("_generation");
    s_table_size = PyUnicode_InternFromString("table_size");
    s_max_table = PyUnicode_InternFromString("max_allowed_table_size");
    s_dynamic_text = PyUnicode_InternFromString("dynamic_text");
    s_max_list = PyUnicode_InternFromString("max_header_list_size");
    s_whole_headers = PyUnicode_InternFromString("_whole_headers");
    s_note = PyUnicode_InternFromString("_note_content_type");
    s_end_grpc = PyUnicode_InternFromString("_end_grpc");
    if (!s_current || !s_prefix || !s_failed || !s_messages || !s_message_bytes || !s_decoder
            || !s_blocks || !s_generation || !s_table_size || !s_max_table || !s_dynamic_text
            || !s_max_list || !s_whole_headers || !s_note || !s_end_grpc)
        return NULL;
    return PyModule_Create(&module);
}
