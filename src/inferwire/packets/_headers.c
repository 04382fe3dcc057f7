/* inferwire.packets._headers: the IPv4, IPv6 and TCP header decode of one chunk of records, in C.
 *
 * decode.py reads the headers vectorised: a numpy gather per header field over the chunk's
 * records, each gather a cache miss per record, a dozen temporary arrays per chunk.  This is the
 * same decode in one pass: each record's headers are read once, while their cache lines are in
 * hand, and the TCP rows' columns written straight into the arrays the caller made.
 *
 * The rules are decode.py's, one for one (its docstrings are the reference; the differential
 * tests in tests/packets/test_headers_c.py hold the two to the same classes and columns on every
 * sample capture and on random bytes): a record is cut (its link header, its IP header, the IPv6
 * extension headers or its TCP header end past the bytes captured), malformed (an IP version or
 * length field that cannot be, a TCP data offset under 20 bytes or past the IP packet's end), an
 * IP fragment, a TCP row, or not TCP.  Nothing here raises on the packet bytes: every read is
 * checked against the record's captured end, which the record walk checked against the file.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { TCP = 0, NON_TCP = 1, FRAGMENT = 2, HEADER_CUT = 3, MALFORMED = 4 };
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86DD
#define IPPROTO_TCP 6
#define MAX_EXTENSIONS 16
#define V4_MAPPED 0x0000FFFF00000000ULL

/* Inputs (per record, int64 unless said): data_off, caplen, origlen, net, etype, link_cut (1 byte).
 * Outputs (per TCP row, at most one per record): see OUT_* below. */
enum { IN_DATA_OFF, IN_CAPLEN, IN_ORIGLEN, IN_NET, IN_ETYPE, IN_LINK_CUT, N_IN };
enum { OUT_CLS, OUT_VERSION, OUT_SRC_HI, OUT_SRC_LO, OUT_DST_HI, OUT_DST_LO, OUT_SPORT,
       OUT_DPORT, OUT_SEQ, OUT_ACK, OUT_FLAGS, OUT_WINDOW, OUT_IP_ID, OUT_PAYLOAD_LEN,
       OUT_CAPTURED_LEN, OUT_PAYLOAD_OFF, OUT_TCP_OFF, OUT_TSVAL, OUT_TSECR, N_OUT };
/* item size of each output: cls int8, version uint8, addresses uint64, ports/flags/window/ip_id/
 * lengths int32, seq/ack/offsets/timestamps int64 */
static const Py_ssize_t OUT_SIZE[N_OUT] = {1, 1, 8, 8, 8, 8, 4, 4, 8, 8, 4, 4, 4, 4, 4, 8, 8, 8,
                                           8};
#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_TIMESTAMP 8

static inline uint32_t be16(const uint8_t *p) { return ((uint32_t)p[0] << 8) | p[1]; }
static inline uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t be64(const uint8_t *p) { return ((uint64_t)be32(p) << 32) | be32(p + 4); }

/* What the IP layer found for one record: its class so far and, for a TCP candidate, where the
 * TCP header starts and the IP packet ends (file offsets), its IP id and addresses. */
typedef struct {
    int cls;
    int version;
    int64_t tcp_off, ip_end, ip_id;
    uint64_t addr[4];
} ip_t;

/* decode.py's _classify: cut, then malformed, fragment, TCP, else not TCP. */
static inline int classify(int cut, int bad, int fragment, int is_tcp)
{
    return cut ? HEADER_CUT : bad ? MALFORMED : fragment ? FRAGMENT : is_tcp ? TCP : NON_TCP;
}

static void ipv4(const uint8_t *u8, int64_t at, int64_t end, int64_t wire_end, ip_t *ip)
{
    if (end - at < 20 || at < 0) {         /* cut: the fields below are never looked at */
        ip->cls = HEADER_CUT;
        return;
    }
    const uint8_t *h = u8 + at;
    int64_t ihl = (int64_t)(h[0] & 0x0F) * 4;
    int64_t total_len = be16(h + 2);
    int64_t ip_len = total_len == 0 ? wire_end - at : total_len;   /* offload: the wire's */
    int cut = end - at < ihl;
    int bad = (h[0] >> 4) != 4 || ihl < 20 || ip_len < ihl;
    int fragment = (be16(h + 6) & 0x3FFF) != 0;
    ip->cls = classify(cut, bad, fragment, h[9] == IPPROTO_TCP);
    ip->version = 4;
    ip->tcp_off = at + ihl;
    ip->ip_end = at + ip_len;
    ip->ip_id = be16(h + 4);
    ip->addr[0] = 0;
    ip->addr[1] = (uint64_t)be32(h + 12) | V4_MAPPED;
    ip->addr[2] = 0;
    ip->addr[3] = (uint64_t)be32(h + 16) | V4_MAPPED;
}

static int is_extension(int nh) { return nh == 0 || nh == 43 || nh == 60 || nh == 44 || nh == 51; }

static void ipv6(const uint8_t *u8, int64_t at, int64_t end, int64_t wire_end, ip_t *ip)
{
    if (end - at < 40 || at < 0) {
        ip->cls = HEADER_CUT;
        return;
    }
    const uint8_t *h = u8 + at;
    int64_t payload_len = be16(h + 4);
    int nh = h[6];
    int64_t off = at + 40;
    int cut = 0, bad = (h[0] >> 4) != 6, fragment = 0;
    if (!bad && is_extension(nh)) {        /* decode.py's _ipv6_extensions */
        int k;
        for (k = 0; k < MAX_EXTENSIONS && is_extension(nh); k++) {
            if (off + 8 > end) {
                cut = 1;
                break;
            }
            const uint8_t *e = u8 + off;
            if (nh == 44) {
                if (be16(e + 2) & 0xFFF9) {  /* offset or more-fragments: a real fragment */
                    fragment = 1;
                    break;
                }
                nh = e[0];
                off += 8;
            } else if (nh == 51) {          /* AH counts its length in 4-byte units, minus 2 */
                nh = e[0];
                off += ((int64_t)e[1] + 2) * 4;
            } else {
                nh = e[0];
                off += ((int64_t)e[1] + 1) * 8;
            }
        }
        if (k == MAX_EXTENSIONS)           /* as many as it may have, whatever comes next */
            bad = 1;
    }
    /* Payload length 0: a jumbogram or segmentation offload (BIG TCP); use the wire length. */
    int64_t ip_end = payload_len == 0 ? wire_end : at + 40 + payload_len;
    bad |= ip_end < off;
    ip->cls = classify(cut, bad, fragment, nh == IPPROTO_TCP);
    ip->version = 6;
    ip->tcp_off = off;
    ip->ip_end = ip_end;
    ip->ip_id = -1;
    for (int i = 0; i < 4; i++)
        ip->addr[i] = be64(h + 8 + 8 * i);
}

/* The TCP timestamps option (RFC 7323) among the ``size`` option bytes at ``o``: TSval and
 * TSecr, or -1 for both when there is none.  tcp/options.py's timestamps(), one for one: the
 * usual layout (NOP NOP TS, length 10) first, else the options walked until EOL, one whose
 * length does not fit, or a timestamps option of length 10. */
static inline void tcp_timestamps(const uint8_t *o, int64_t size, int64_t *val, int64_t *ecr)
{
    *val = *ecr = -1;
    if (size >= 12 && o[0] == TCPOPT_NOP && o[1] == TCPOPT_NOP && o[2] == TCPOPT_TIMESTAMP
            && o[3] == 10) {
        *val = be32(o + 4);
        *ecr = be32(o + 8);
        return;
    }
    if (size < 10)
        return;
    int64_t pos = 0;
    while (pos < size) {
        int kind = o[pos];
        if (kind == TCPOPT_EOL)
            return;
        if (kind == TCPOPT_NOP) {
            pos++;
            continue;
        }
        if (pos + 1 >= size || o[pos + 1] < 2 || pos + o[pos + 1] > size)
            return;
        if (kind == TCPOPT_TIMESTAMP && o[pos + 1] == 10) {
            *val = be32(o + pos + 2);
            *ecr = be32(o + pos + 6);
            return;
        }
        pos += o[pos + 1];
    }
}

typedef struct {
    Py_buffer view[N_IN + N_OUT + 1];
    int held;
} views_t;

static void release(views_t *v)
{
    for (int i = 0; i < v->held; i++)
        PyBuffer_Release(&v->view[i]);
    v->held = 0;
}

static void *column(views_t *v, PyObject *obj, int writable, Py_ssize_t itemsize, Py_ssize_t n,
                    const char *what)
{
    Py_buffer *b = &v->view[v->held];
    if (PyObject_GetBuffer(obj, b, writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS
                                            : PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    v->held++;
    if (b->len != itemsize * n) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, expected %zd", what, b->len, itemsize * n);
        return NULL;
    }
    return b->buf;
}

PyDoc_STRVAR(tcp_headers_doc,
"tcp_headers(buf, inputs, outputs) -> number of TCP rows\n\n"
"``inputs``: the chunk's (data_off, caplen, origlen, net, etype) as int64 arrays and link_cut as\n"
"a one-byte bool array, one entry per record; ``outputs``: (cls int8 per record, then per TCP\n"
"row: version uint8, src_hi, src_lo, dst_hi, dst_lo uint64, sport, dport int32, seq, ack int64,\n"
"flags, window, ip_id, payload_len, captured_len int32, payload_off, tcp_off, tsval, tsecr\n"
"int64: -1 without the timestamps option), each\n"
"as long as the chunk.  Fills cls for every record and the first (returned) rows of the others.");

static PyObject *tcp_headers(PyObject *self, PyObject *args)
{
    PyObject *bufobj, *ins, *outs;
    if (!PyArg_ParseTuple(args, "OO!O!", &bufobj, &PyTuple_Type, &ins, &PyTuple_Type, &outs))
        return NULL;
    if (PyTuple_GET_SIZE(ins) != N_IN || PyTuple_GET_SIZE(outs) != N_OUT) {
        PyErr_SetString(PyExc_ValueError, "tcp_headers: 6 inputs and 19 outputs");
        return NULL;
    }
    views_t v = {.held = 0};
    PyObject *result = NULL;
    if (PyObject_GetBuffer(bufobj, &v.view[0], PyBUF_SIMPLE) < 0)
        return NULL;
    v.held = 1;
    const uint8_t *u8 = v.view[0].buf;
    const Py_ssize_t size = v.view[0].len;
    Py_buffer probe;
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(ins, 0), &probe, PyBUF_SIMPLE) < 0)
        goto done;
    const Py_ssize_t n = probe.len / 8;
    PyBuffer_Release(&probe);
    const int64_t *in[N_IN - 1];
    for (int k = 0; k < N_IN - 1; k++)
        if ((in[k] = column(&v, PyTuple_GET_ITEM(ins, k), 0, 8, n, "input")) == NULL) goto done;
    const uint8_t *link_cut = column(&v, PyTuple_GET_ITEM(ins, IN_LINK_CUT), 0, 1, n, "link_cut");
    if (link_cut == NULL) goto done;
    void *out[N_OUT];
    for (int k = 0; k < N_OUT; k++)
        if ((out[k] = column(&v, PyTuple_GET_ITEM(outs, k), 1, OUT_SIZE[k], n, "output")) == NULL)
            goto done;
    int8_t *cls = out[OUT_CLS];
    Py_ssize_t rows = 0, outside = -1;
    /* Only the buffers held above are touched from here on: other threads may run. */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t data_off = in[IN_DATA_OFF][i];
        int64_t end = data_off + in[IN_CAPLEN][i];           /* first byte not in the file */
        int64_t wire_end = data_off + in[IN_ORIGLEN][i];     /* first byte not on the wire */
        int64_t at = in[IN_NET][i];
        if (link_cut[i]) {
            cls[i] = HEADER_CUT;
            continue;
        }
        if (end > size || data_off < 0) {                    /* not a record the walk made */
            outside = i;
            break;
        }
        ip_t ip = {.cls = NON_TCP};
        if (in[IN_ETYPE][i] == ETHERTYPE_IPV4)
            ipv4(u8, at, end, wire_end, &ip);
        else if (in[IN_ETYPE][i] == ETHERTYPE_IPV6)
            ipv6(u8, at, end, wire_end, &ip);
        if (ip.cls != TCP) {
            cls[i] = (int8_t)ip.cls;
            continue;
        }
        int64_t t = ip.tcp_off;               /* decode.py's _tcp */
        if (end - t < 20 || t < 0) {
            cls[i] = HEADER_CUT;
            continue;
        }
        const uint8_t *h = u8 + t;
        int64_t doff = (int64_t)(h[12] >> 4) * 4;
        if (end - t < doff) {
            cls[i] = HEADER_CUT;
            continue;
        }
        if (doff < 20 || ip.ip_end < t + doff) {
            cls[i] = MALFORMED;
            continue;
        }
        cls[i] = TCP;
        int64_t payload_off = t + doff;
        int64_t payload_len = ip.ip_end - payload_off;
        int64_t captured = end - payload_off;
        captured = captured < 0 ? 0 : captured > payload_len ? payload_len : captured;
        ((uint8_t *)out[OUT_VERSION])[rows] = (uint8_t)ip.version;
        ((uint64_t *)out[OUT_SRC_HI])[rows] = ip.addr[0];
        ((uint64_t *)out[OUT_SRC_LO])[rows] = ip.addr[1];
        ((uint64_t *)out[OUT_DST_HI])[rows] = ip.addr[2];
        ((uint64_t *)out[OUT_DST_LO])[rows] = ip.addr[3];
        ((int32_t *)out[OUT_SPORT])[rows] = (int32_t)be16(h);
        ((int32_t *)out[OUT_DPORT])[rows] = (int32_t)be16(h + 2);
        ((int64_t *)out[OUT_SEQ])[rows] = be32(h + 4);
        ((int64_t *)out[OUT_ACK])[rows] = be32(h + 8);
        ((int32_t *)out[OUT_FLAGS])[rows] = ((h[12] & 1) << 8) | h[13];
        ((int32_t *)out[OUT_WINDOW])[rows] = (int32_t)be16(h + 14);
        ((int32_t *)out[OUT_IP_ID])[rows] = (int32_t)ip.ip_id;
        ((int32_t *)out[OUT_PAYLOAD_LEN])[rows] = (int32_t)payload_len;
        ((int32_t *)out[OUT_CAPTURED_LEN])[rows] = (int32_t)captured;
        ((int64_t *)out[OUT_PAYLOAD_OFF])[rows] = payload_off;
        ((int64_t *)out[OUT_TCP_OFF])[rows] = t;
        tcp_timestamps(h + 20, doff - 20, (int64_t *)out[OUT_TSVAL] + rows,
                       (int64_t *)out[OUT_TSECR] + rows);
        rows++;
    }
    Py_END_ALLOW_THREADS
    if (outside >= 0) {
        const int64_t d = in[IN_DATA_OFF][outside];
        PyErr_Format(PyExc_ValueError, "record %zd: bytes [%lld, %lld) outside the buffer",
                     outside, (long long)d, (long long)(d + in[IN_CAPLEN][outside]));
        goto done;
    }
    result = PyLong_FromSsize_t(rows);
done:
    release(&v);
    return result;
}

static PyMethodDef methods[] = {
    {"tcp_headers", tcp_headers, METH_VARARGS, tcp_headers_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "inferwire.packets._headers",
    "IPv4, IPv6 and TCP headers of a chunk of records decoded in one pass (see _headers.c).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__headers(void)
{
    return PyModule_Create(&module);
}
