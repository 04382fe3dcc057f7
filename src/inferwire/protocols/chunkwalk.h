/* inferwire.protocols: one whole plain chunk of an HTTP/1.1 chunked body, read in C.
 *
 * Shared by _chunks.c (the parser's skip and the per-message split's chunk walk) and _sse.c
 * (the SSE split of chunked bodies): one reading of a chunk, so both walk the same chunks.
 * A plain chunk: the size line (shorter than max_line bytes with its LF) is 1 to 15 hex
 * digits, then optionally spaces/tabs and a ";extension" part, then LF or CRLF; the size is
 * not 0; the data and the CRLF or LF after it lie whole before n.
 */
#ifndef INFERWIRE_CHUNKWALK_H
#define INFERWIRE_CHUNKWALK_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One whole plain chunk at p[i] (before n): 1 and its spans, else 0. */
static int one_chunk(const unsigned char *p, Py_ssize_t i, Py_ssize_t n, Py_ssize_t max_line,
                     int64_t *span)
{
    Py_ssize_t j = i;
    int64_t size = 0;
    int digits = 0, v;
    while (j < n && (v = hexval(p[j])) >= 0) {
        if (++digits > 15) return 0;
        size = size * 16 + v;
        j++;
    }
    if (!digits || size == 0) return 0;
    while (j < n && (p[j] == ' ' || p[j] == '\t')) j++;
    if (j < n && p[j] == ';') {
        Py_ssize_t room = i + max_line - j;
        const unsigned char *lf = room > 0 ? memchr(p + j, '\n', room < n - j ? room : n - j)
                                           : NULL;
        if (lf == NULL) return 0;
        j = lf - p;
        while (j > i && p[j - 1] == '\r') j--;       /* the line's own end, as Python's rstrip */
    }
    while (j < n && p[j] == '\r') j++;
    if (j >= n || p[j] != '\n' || j - i >= max_line) return 0;
    Py_ssize_t data_start = j + 1;
    if (size > n - data_start) return 0;
    Py_ssize_t data_end = data_start + (Py_ssize_t)size;
    Py_ssize_t after;
    if (data_end < n && p[data_end] == '\n')
        after = data_end + 1;
    else if (data_end + 1 < n && p[data_end] == '\r' && p[data_end + 1] == '\n')
        after = data_end + 2;
    else
        return 0;
    span[0] = i;
    span[1] = data_start;
    span[2] = data_end;
    span[3] = after;
    return 1;
}

#endif
