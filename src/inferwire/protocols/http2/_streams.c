/* inferwire.protocols.http2._streams: the usual HTTP/2 streams of one connection assembled in C.
 *
 * assemble(client_records, server_records, kinds) does what streams.py's assemble_rows does
 * with _walk_client, _walk_server and _stream_row, for the connections where nothing is odd:
 * it folds both directions' HEADERS and DATA records into one accumulator per stream and
 * returns (rows, client_others, server_others): each stream's row (the tuple of its H2Stream
 * fields, streams by id) and each direction's records that are neither HEADERS, DATA nor
 * WINDOW_UPDATE (the connection's own: the preface, SETTINGS, GOAWAY, PING, a gRPC framing
 * error, a truncation ...), in order, for the Python walk to fold into the H2Conversation.
 *
 * It returns None, having judged nothing, wherever the Python code would warn or a record
 * touches streams in a way it does not follow: a RST_STREAM or PUSH_PROMISE record, a stream
 * with an even id, HEADERS or DATA after its direction's END_STREAM, client DATA before its
 * HEADERS, server DATA before the final response HEADERS, a :status or grpc-status that is not
 * a number of its digits, a record or header block not shaped as the parser makes them.  The
 * caller then walks the records in Python (same rows, same warnings).
 *
 * kinds = (Headers, Data, WindowUpdate, RstStream, PushPromise, unquote, WHOLE_MESSAGE): the
 * record classes (the first item of each record), the function that percent-decodes a
 * grpc-message and grpc.py's two markers of a payload that is one whole message.
 * Records: (Headers, stream id, start, end, headers, end_stream), (Data, stream id, start, end,
 * data_len, end_stream, gRPC messages: a tuple of (compressed, length, start, end), or one of
 * the markers).
 * tests/protocols/http2/test_streams_c.py compares both assemblies.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { K_HEADERS, K_DATA, K_WINDOW_UPDATE, K_RST, K_PUSH, K_UNQUOTE, K_WHOLE, N_KINDS };
enum { N_FIELDS = 30 };
#define STATUS_DIGITS 3
#define GRPC_STATUS_DIGITS 10

/* One stream while the records are walked.  Object pointers are borrowed from the records
 * (alive for the whole call); NULL stands for None, or for () where a header block is. */
typedef struct {
    int64_t sid;
    PyObject *sid_obj, *request_headers, *response_headers, *trailers, *request_trailers;
    PyObject *informational;            /* a new list, or NULL: none */
    PyObject *req_start, *req_headers_end, *req_end, *resp_start, *resp_headers_end, *resp_end;
    int64_t req_bytes, resp_bytes, req_messages, resp_messages, req_message_bytes,
        resp_message_bytes;
    int has_final;
} acc_t;

typedef struct {
    acc_t *accs;
    Py_ssize_t n, cap;
    int32_t *slots;                     /* open addressing: index into accs + 1, 0 = empty */
    Py_ssize_t nslots;                  /* a power of two */
} table_t;

#define BAIL 1                          /* a record the Python walk must see: return None */

static void table_free(table_t *t)
{
    for (Py_ssize_t i = 0; i < t->n; i++)
        Py_XDECREF(t->accs[i].informational);
    PyMem_Free(t->accs);
    PyMem_Free(t->slots);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    return x;
}

static int table_grow(table_t *t)
{
    Py_ssize_t nslots = t->nslots ? t->nslots * 2 : 64;
    int32_t *slots = PyMem_Calloc((size_t)nslots, sizeof(int32_t));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < t->n; i++) {
        size_t h = (size_t)mix((uint64_t)t->accs[i].sid) & (size_t)(nslots - 1);
        while (slots[h])
            h = (h + 1) & (size_t)(nslots - 1);
        slots[h] = (int32_t)(i + 1);
    }
    PyMem_Free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return 0;
}

/* The accumulator of stream `sid`, made when new (sid_obj: its id as the records hold it);
 * NULL with an exception set, or NULL and *bail set for an even (pushed) stream id. */
static acc_t *stream_acc(table_t *t, int64_t sid, PyObject *sid_obj, int *bail)
{
    if (t->nslots) {
        size_t h = (size_t)mix((uint64_t)sid) & (size_t)(t->nslots - 1);
        while (t->slots[h]) {
            acc_t *a = &t->accs[t->slots[h] - 1];
            if (a->sid == sid)
                return a;
            h = (h + 1) & (size_t)(t->nslots - 1);
        }
    }
    if (sid % 2 == 0) {                 /* server push: the Python walk's */
        *bail = 1;
        return NULL;
    }
    if (t->n >= INT32_MAX - 1) {
        *bail = 1;
        return NULL;
    }
    if (t->n == t->cap) {
        Py_ssize_t cap = t->cap ? t->cap * 2 : 64;
        acc_t *accs = PyMem_Realloc(t->accs, (size_t)cap * sizeof(acc_t));
        if (accs == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        t->accs = accs;
        t->cap = cap;
    }
    if (2 * (t->n + 1) > t->nslots && table_grow(t) < 0)
        return NULL;
    acc_t *a = &t->accs[t->n];
    memset(a, 0, sizeof(acc_t));
    a->sid = sid;
    a->sid_obj = sid_obj;
    size_t h = (size_t)mix((uint64_t)sid) & (size_t)(t->nslots - 1);
    while (t->slots[h])
        h = (h + 1) & (size_t)(t->nslots - 1);
    t->slots[h] = (int32_t)(++t->n);
    return a;
}

/* The int64 value of an int object: 0; BAIL when it is not one (or does not fit); -1 with an
 * exception set. */
static int as_int64(PyObject *o, int64_t *out)
{
    if (!PyLong_Check(o))
        return BAIL;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow)
        return BAIL;
    *out = v;
    return 0;
}

/* The count and summed lengths of a DATA record's gRPC messages (item 6: a tuple of tuples
 * whose second item is the length, or a WHOLE_MESSAGE marker, `whole`: one message of the
 * payload's data_len bytes, its 5-byte prefix excluded). */
static int add_messages(PyObject *ms, int64_t data_len, PyObject *whole, int64_t *count,
                        int64_t *bytes)
{
    if (ms == PyTuple_GET_ITEM(whole, 0) || ms == PyTuple_GET_ITEM(whole, 1)) {
        *bytes += data_len - 5;
        *count += 1;
        return 0;
    }
    if (ms == Py_None)
        return 0;
    if (!PyTuple_Check(ms))
        return BAIL;
    Py_ssize_t n = PyTuple_GET_SIZE(ms);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *m = PyTuple_GET_ITEM(ms, i);
        int64_t length;
        int r;
        if (!PyTuple_Check(m) || PyTuple_GET_SIZE(m) < 2)
            return BAIL;
        if ((r = as_int64(PyTuple_GET_ITEM(m, 1), &length)) != 0)
            return r;
        *bytes += length;
    }
    *count += n;
    return 0;
}

/* Whether a header block is a tuple of (str, value) pairs, as the HPACK decoder makes them. */
static int well_formed(PyObject *headers)
{
    if (!PyTuple_Check(headers))
        return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(headers); i++) {
        PyObject *pair = PyTuple_GET_ITEM(headers, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2
                || !PyUnicode_Check(PyTuple_GET_ITEM(pair, 0)))
            return 0;
    }
    return 1;
}

/* The value of the first header named `name` (borrowed), or NULL. */
static PyObject *first_value(PyObject *headers, const char *name)
{
    if (headers == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(headers); i++) {
        PyObject *pair = PyTuple_GET_ITEM(headers, i);
        if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(pair, 0), name) == 0)
            return PyTuple_GET_ITEM(pair, 1);
    }
    return NULL;
}

/* numbers.ascii_int: the value of `text` if, spaces and tabs stripped from both ends, it is 1 to
 * `digits` ASCII digits; -1 if not (text must be a str; a non-str is -2). */
static int64_t ascii_int(PyObject *text, int digits)
{
    if (!PyUnicode_Check(text))
        return -2;
    if (!PyUnicode_IS_ASCII(text))
        return -1;
    const char *s = (const char *)PyUnicode_DATA(text);
    Py_ssize_t a = 0, b = PyUnicode_GET_LENGTH(text);
    while (a < b && (s[a] == ' ' || s[a] == '\t'))
        a++;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
        b--;
    if (b == a || b - a > digits)
        return -1;
    int64_t v = 0;
    for (Py_ssize_t i = a; i < b; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* One direction's records folded into the streams (client: the request side); records of the
 * connection's own go to `others`.  0, BAIL, or -1 with an exception set. */
static int walk(table_t *t, PyObject *records, int client, PyObject *others, PyObject **kinds)
{
    if (!PyList_Check(records))
        return BAIL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(records); i++) {
        PyObject *rec = PyList_GET_ITEM(records, i);
        if (!PyTuple_Check(rec) || PyTuple_GET_SIZE(rec) < 1)
            return BAIL;
        PyObject *kind = PyTuple_GET_ITEM(rec, 0);
        int headers = kind == kinds[K_HEADERS];
        if (kind == kinds[K_WINDOW_UPDATE])
            continue;
        if (kind == kinds[K_RST] || kind == kinds[K_PUSH])
            return BAIL;
        if (!headers && kind != kinds[K_DATA]) {
            if (PyList_Append(others, rec) < 0)
                return -1;
            continue;
        }
        if (PyTuple_GET_SIZE(rec) != (headers ? 6 : 7))
            return BAIL;
        int64_t sid;
        int r = as_int64(PyTuple_GET_ITEM(rec, 1), &sid);
        if (r != 0)
            return r;
        int bail = 0;
        acc_t *a = stream_acc(t, sid, PyTuple_GET_ITEM(rec, 1), &bail);
        if (a == NULL)
            return bail ? BAIL : -1;
        PyObject *start = PyTuple_GET_ITEM(rec, 2), *end = PyTuple_GET_ITEM(rec, 3);
        int ended = PyObject_IsTrue(PyTuple_GET_ITEM(rec, 5));
        if (ended < 0)
            return -1;
        if (headers) {
            PyObject *block = PyTuple_GET_ITEM(rec, 4);
            if (!well_formed(block))
                return BAIL;
            if (client) {
                if (a->req_end != NULL)
                    return BAIL;        /* "client HEADERS after END_STREAM" */
                if (a->req_start == NULL) {
                    a->req_start = start;
                    a->req_headers_end = end;
                    a->request_headers = block;
                } else {
                    a->request_trailers = block;
                }
                if (ended)
                    a->req_end = end;
            } else {
                if (a->resp_end != NULL)
                    return BAIL;        /* "server HEADERS after END_STREAM" */
                if (a->resp_start == NULL)
                    a->resp_start = start;
                if (a->has_final) {
                    a->trailers = block;
                } else {
                    PyObject *status = first_value(block, ":status");
                    int64_t code = status == NULL ? -1 : ascii_int(status, STATUS_DIGITS);
                    if (code == -2)
                        return BAIL;
                    if (code >= 100 && code < 200) {
                        if (a->informational == NULL
                                && (a->informational = PyList_New(0)) == NULL)
                            return -1;
                        if (PyList_Append(a->informational, block) < 0)
                            return -1;
                    } else {
                        a->has_final = 1;
                        a->response_headers = block;
                        a->resp_headers_end = end;
                    }
                }
                if (ended)
                    a->resp_end = end;
            }
        } else {
            int64_t data_len;
            if ((r = as_int64(PyTuple_GET_ITEM(rec, 4), &data_len)) != 0)
                return r;
            PyObject *ms = PyTuple_GET_ITEM(rec, 6);
            if (client) {
                if (a->req_end != NULL || a->req_start == NULL)
                    return BAIL;        /* after END_STREAM, or before HEADERS */
                if (ended)
                    a->req_end = end;
                a->req_bytes += data_len;
                if ((r = add_messages(ms, data_len, kinds[K_WHOLE], &a->req_messages,
                                      &a->req_message_bytes)) != 0)
                    return r;
            } else {
                if (a->resp_end != NULL || !a->has_final)
                    return BAIL;        /* after END_STREAM, or before the response HEADERS */
                if (a->resp_start == NULL)
                    a->resp_start = start;
                if (ended)
                    a->resp_end = end;
                a->resp_bytes += data_len;
                if ((r = add_messages(ms, data_len, kinds[K_WHOLE], &a->resp_messages,
                                      &a->resp_message_bytes)) != 0)
                    return r;
            }
        }
    }
    return 0;
}

static int by_sid(const void *x, const void *y)
{
    int64_t a = ((const acc_t *)x)->sid, b = ((const acc_t *)y)->sid;
    return (a > b) - (a < b);
}

static PyObject *or_none(PyObject *o)
{
    PyObject *v = o == NULL ? Py_None : o;
    Py_INCREF(v);
    return v;
}

static PyObject *or_empty(PyObject *o, PyObject *empty)
{
    PyObject *v = o == NULL ? empty : o;
    Py_INCREF(v);
    return v;
}

/* `a or b` of two header values (a: the request's), NULL standing for None. */
static PyObject *either(PyObject *a, PyObject *b)
{
    if (a != NULL) {
        int t = PyObject_IsTrue(a);
        if (t < 0)
            return NULL;
        if (t)
            return or_none(a);
    }
    return or_none(b);
}

/* The stream's H2Stream fields (streams.py: _stream_row), a new tuple; Py_None (new reference)
 * where the Python code would warn; NULL with an exception set. */
static PyObject *stream_row(acc_t *a, PyObject *empty, PyObject *unquote)
{
    PyObject *req = a->request_headers, *resp = a->response_headers;
    PyObject *status = first_value(resp, ":status");
    int64_t code = -1;
    if (status != NULL && (code = ascii_int(status, STATUS_DIGITS)) < 0)
        Py_RETURN_NONE;                 /* ":status ... is not a 3-digit status code" */
    PyObject *source = a->trailers != NULL && PyTuple_GET_SIZE(a->trailers) ? a->trailers : resp;
    PyObject *raw = first_value(source, "grpc-status"), *message = first_value(source,
                                                                              "grpc-message");
    int64_t grpc_status = -1;
    if (raw != NULL && (grpc_status = ascii_int(raw, GRPC_STATUS_DIGITS)) < 0)
        Py_RETURN_NONE;                 /* "grpc-status ... is not a number" */
    PyObject *row = PyTuple_New(N_FIELDS);
    if (row == NULL)
        return NULL;
    PyObject *v[N_FIELDS];
    memset(v, 0, sizeof v);
    v[0] = or_none(a->sid_obj);
    v[1] = Py_NewRef(Py_False);
    v[2] = or_empty(req, empty);
    v[3] = or_empty(resp, empty);
    v[4] = a->informational ? PyList_AsTuple(a->informational) : Py_NewRef(empty);
    v[5] = or_empty(a->trailers, empty);
    v[6] = or_empty(a->request_trailers, empty);
    v[7] = or_none(first_value(req, ":method"));
    v[8] = or_none(first_value(req, ":path"));
    v[9] = or_none(first_value(req, ":authority"));
    v[10] = status == NULL ? Py_NewRef(Py_None) : PyLong_FromLongLong(code);
    v[11] = either(first_value(req, "content-type"), first_value(resp, "content-type"));
    v[12] = either(first_value(req, "x-request-id"), first_value(resp, "x-request-id"));
    v[13] = raw == NULL ? Py_NewRef(Py_None) : PyLong_FromLongLong(grpc_status);
    if (message != NULL && PyUnicode_Check(message)
            && PyUnicode_FindChar(message, '%', 0, PyUnicode_GET_LENGTH(message), 1) >= 0)
        v[14] = PyObject_CallOneArg(unquote, message);
    else
        v[14] = or_none(message);
    v[15] = or_none(a->req_start);
    v[16] = or_none(a->req_headers_end);
    v[17] = or_none(a->req_end);
    v[18] = or_none(a->resp_start);
    v[19] = or_none(a->resp_headers_end);
    v[20] = or_none(a->resp_end);
    v[21] = PyLong_FromLongLong(a->req_bytes);
    v[22] = PyLong_FromLongLong(a->resp_bytes);
    v[23] = PyLong_FromLongLong(a->req_messages);
    v[24] = PyLong_FromLongLong(a->resp_messages);
    v[25] = PyLong_FromLongLong(a->req_message_bytes);
    v[26] = PyLong_FromLongLong(a->resp_message_bytes);
    v[27] = Py_NewRef(Py_None);         /* reset_by, reset_code: a RST_STREAM is the Python's */
    v[28] = Py_NewRef(Py_None);
    v[29] = Py_NewRef(a->req_end != NULL && a->resp_end != NULL ? Py_True : Py_False);
    for (int k = 0; k < N_FIELDS; k++) {
        if (v[k] == NULL) {             /* (the others: set, and freed with the row) */
            for (int j = k + 1; j < N_FIELDS; j++)
                if (v[j] != NULL)
                    PyTuple_SET_ITEM(row, j, v[j]);
            Py_DECREF(row);
            return NULL;
        }
        PyTuple_SET_ITEM(row, k, v[k]);
    }
    return row;
}

static PyObject *assemble(PyObject *self, PyObject *args)
{
    PyObject *client_records, *server_records, *kinds_tuple;
    if (!PyArg_ParseTuple(args, "OOO!", &client_records, &server_records, &PyTuple_Type,
                          &kinds_tuple))
        return NULL;
    if (PyTuple_GET_SIZE(kinds_tuple) != N_KINDS
            || !PyTuple_Check(PyTuple_GET_ITEM(kinds_tuple, K_WHOLE))
            || PyTuple_GET_SIZE(PyTuple_GET_ITEM(kinds_tuple, K_WHOLE)) != 2) {
        PyErr_SetString(PyExc_TypeError, "assemble: kinds must be a tuple of 7, its last a "
                        "pair");
        return NULL;
    }
    PyObject *kinds[N_KINDS];
    for (int k = 0; k < N_KINDS; k++)
        kinds[k] = PyTuple_GET_ITEM(kinds_tuple, k);
    table_t t = {0};
    PyObject *out = NULL, *rows = NULL, *empty = PyTuple_New(0);
    PyObject *client_others = PyList_New(0), *server_others = PyList_New(0);
    if (empty == NULL || client_others == NULL || server_others == NULL)
        goto done;
    int r = walk(&t, client_records, 1, client_others, kinds);
    if (r == 0)
        r = walk(&t, server_records, 0, server_others, kinds);
    if (r < 0)
        goto done;
    if (r == BAIL) {
        out = Py_NewRef(Py_None);
        goto done;
    }
    if (t.n > 1)
        qsort(t.accs, (size_t)t.n, sizeof(acc_t), by_sid);
    if ((rows = PyList_New(t.n)) == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < t.n; i++) {
        PyObject *row = stream_row(&t.accs[i], empty, kinds[K_UNQUOTE]);
        if (row == NULL)
            goto done;
        if (row == Py_None) {
            Py_DECREF(row);
            out = Py_NewRef(Py_None);
            goto done;
        }
        PyList_SET_ITEM(rows, i, row);
    }
    out = PyTuple_Pack(3, rows, client_others, server_others);
done:
    table_free(&t);
    Py_XDECREF(rows);
    Py_XDECREF(empty);
    Py_XDECREF(client_others);
    Py_XDECREF(server_others);
    return out;
}

static PyMethodDef methods[] = {
    {"assemble", assemble, METH_VARARGS,
     "assemble(client_records, server_records, kinds) -> (rows, client_others, server_others) "
     "or None: the streams of a connection where nothing is odd (see the module's comment)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_streams", "HTTP/2 stream assembly of the usual connections, in C.",
    -1, methods,
};

PyMODINIT_FUNC PyInit__streams(void)
{
    return PyModule_Create(&module);
}
