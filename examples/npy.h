/* npy.h - NumPy .npy arrays (format v1.0 / v2.0), read and write, libc only.

   The format: the magic "\x93NUMPY", a major and a minor version byte, the
   length HL of a text header (2 bytes little-endian in v1, 4 bytes in v2),
   the header, then the raw array bytes, row-major.  The header is a Python
   dict literal padded with spaces and ended by '\n' so that the data starts
   at a multiple of 64 bytes:
       {'descr': '<f4', 'fortran_order': False, 'shape': (8, 32, 32), }
   This file reads and writes little-endian float32 ('<f4'), int64 ('<i8'),
   int32 ('<i4') and uint8 ('|u1'), C order only, up to NPY_MAX_DIMS dims.

     npy_write(path, dtype, ndim, shape, data)   0, or -1 with a message on stderr
     npy_read(path, &arr)                        0, or -1 with npy_error() saying why
     npy_free(&arr)

   The reader checks everything it is given: the magic, the version, that
   the header is a dict with exactly these three keys, that the shape's
   product times the item size neither overflows nor disagrees with the file
   size.  Errors name the file.  Header-only; static functions. */
#ifndef NPY_H
#define NPY_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define NPYDEF static __attribute__((unused))
#else
#define NPYDEF static
#endif

#define NPY_MAX_DIMS 8

typedef enum { NPY_F32, NPY_I64, NPY_I32, NPY_U8 } npy_dtype;

typedef struct npy_array {
    npy_dtype dtype;
    int ndim;
    size_t shape[NPY_MAX_DIMS];
    size_t n;            /* elements: the product of shape (1 for ndim 0) */
    void *data;          /* n items of the dtype, host order; malloc'ed   */
} npy_array;

static char npy__err[1024];
NPYDEF const char *npy_error(void) { return npy__err; }

static const char *const npy__descr[4] = { "<f4", "<i8", "<i4", "|u1" };
static const size_t npy__size[4] = { 4, 8, 4, 1 };

NPYDEF int npy__little_endian(void) { const uint16_t one = 1; return *(const unsigned char *)&one == 1; }

/* Writes ndim dims of shape and n = prod(shape) items of dtype from data. */
/* The .npy header of an array (version 1.0: magic, version, header length, the
   dict padded with spaces to a multiple of 64 bytes with '\n'), into out
   (NPY_HEADER_MAX bytes); its length, or 0 for an unsupported array. */
#define NPY_HEADER_MAX (128 + 24 * NPY_MAX_DIMS)
NPYDEF size_t npy_header(npy_dtype dtype, int ndim, const size_t *shape, char *out) {
    char *dict = out + 10;
    size_t len, total, n = 1;
    int d;
    if (ndim < 0 || ndim > NPY_MAX_DIMS || (int)dtype < 0 || (int)dtype > 3 || !npy__little_endian()) return 0;
    len = (size_t)sprintf(dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", npy__descr[dtype]);
    for (d = 0; d < ndim; d++) {
        len += (size_t)sprintf(dict + len, "%lu%s", (unsigned long)shape[d], (ndim == 1 || d + 1 < ndim) ? ", " : "");
        if (shape[d] && n > SIZE_MAX / shape[d]) return 0;
        n *= shape[d];
    }
    if (ndim == 1) len -= 1;                      /* "(5,)" */
    len += (size_t)sprintf(dict + len, "), }");
    total = (10 + len + 1 + 63) / 64 * 64;       /* prelude + dict + '\n', rounded up */
    while (10 + len + 1 < total) dict[len++] = ' ';
    dict[len++] = '\n';
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (char)(len & 0xff);
    out[9] = (char)(len >> 8);
    return 10 + len;
}

NPYDEF int npy_write(const char *path, npy_dtype dtype, int ndim, const size_t *shape, const void *data) {
    char head[NPY_HEADER_MAX];
    size_t hn = npy_header(dtype, ndim, shape, head), n = 1, i;
    FILE *f;
    int d;
    if (!hn) {
        fprintf(stderr, "npy_write: %s: unsupported array (ndim %d, dtype %d), too large, or big-endian host\n", path,
                ndim, (int)dtype);
        return -1;
    }
    for (d = 0; d < ndim; d++) n *= shape[d];
    f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "npy_write: cannot open %s: %s\n", path, strerror(errno)); return -1; }
    i = fwrite(head, 1, hn, f);
    if (n && fwrite(data, npy__size[dtype], n, f) != n) i = 0;
    if (ferror(f) | fclose(f) || i != hn) {
        fprintf(stderr, "npy_write: error writing %s\n", path);
        return -1;
    }
    return 0;
}

NPYDEF void npy_free(npy_array *a) { free(a->data); a->data = NULL; a->n = 0; }

static int npy__fail(const char *path, const char *what) {
    snprintf(npy__err, sizeof npy__err, "%.600s: %s", path, what);
    return -1;
}

/* Skips spaces; returns the next character position. */
static const char *npy__ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    return p;
}

/* Parses one "'key': value" pair of the header dict into arr / *fortran. */
static const char *npy__pair(const char *p, const char *end, npy_array *arr, int *seen) {
    static const char *const keys[3] = { "'descr'", "'fortran_order'", "'shape'" };
    int k;
    p = npy__ws(p, end);
    for (k = 0; k < 3; k++) {
        size_t kl = strlen(keys[k]);
        if ((size_t)(end - p) > kl && !memcmp(p, keys[k], kl)) { p += kl; break; }
    }
    if (k == 3 || (*seen >> k & 1)) return NULL;    /* unknown or repeated key */
    *seen |= 1 << k;
    p = npy__ws(p, end);
    if (p >= end || *p++ != ':') return NULL;
    p = npy__ws(p, end);
    if (k == 0) {                                   /* 'descr': '<f4' */
        int t;
        for (t = 0; t < 4; t++)
            if (end - p >= 5 && p[0] == '\'' && !memcmp(p + 1, npy__descr[t], 3) && p[4] == '\'') break;
        if (t == 4) return NULL;
        arr->dtype = (npy_dtype)t;
        return p + 5;
    }
    if (k == 1) {                                   /* 'fortran_order': False */
        if (end - p >= 5 && !memcmp(p, "False", 5)) return p + 5;
        return NULL;
    }
    if (p >= end || *p++ != '(') return NULL;       /* 'shape': (a, b, ...) */
    arr->ndim = 0;
    for (;;) {
        size_t v = 0;
        p = npy__ws(p, end);
        if (p < end && *p == ')') return p + 1;
        if (p >= end || *p < '0' || *p > '9' || arr->ndim == NPY_MAX_DIMS) return NULL;
        while (p < end && *p >= '0' && *p <= '9') {
            if (v > (SIZE_MAX - 9) / 10) return NULL;
            v = v * 10 + (size_t)(*p++ - '0');
        }
        arr->shape[arr->ndim++] = v;
        p = npy__ws(p, end);
        if (p < end && *p == ',') p++;
        else if (p < end && *p == ')') return p + 1;
        else return NULL;
    }
}

/* Reads a whole .npy file into arr (which it owns afterwards). */
NPYDEF int npy_read(const char *path, npy_array *arr) {
    unsigned char pre[12];
    char *hdr = NULL;
    const char *p, *end;
    size_t hl, pre_len, bytes, got, item;
    long fsize;
    int seen = 0, d;
    FILE *f;
    memset(arr, 0, sizeof *arr);
    if (!npy__little_endian()) return npy__fail(path, "big-endian hosts are not supported");
    f = fopen(path, "rb");
    if (!f) {
        snprintf(npy__err, sizeof npy__err, "%.600s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) || (fsize = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        fclose(f); return npy__fail(path, "cannot determine the file size");
    }
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) {
        fclose(f); return npy__fail(path, "not a .npy file (bad magic or too short)");
    }
    if (pre[6] == 1) { hl = (size_t)pre[8] | (size_t)pre[9] << 8; pre_len = 10; }
    else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) { fclose(f); return npy__fail(path, "truncated header length"); }
        hl = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        pre_len = 12;
    } else { fclose(f); return npy__fail(path, "unsupported .npy version"); }
    if (hl == 0 || hl > 65536 || pre_len + hl > (size_t)fsize) { fclose(f); return npy__fail(path, "header length out of range"); }
    hdr = (char *)malloc(hl);
    if (!hdr) { fclose(f); return npy__fail(path, "out of memory"); }
    if (fread(hdr, 1, hl, f) != hl) { free(hdr); fclose(f); return npy__fail(path, "truncated header"); }
    /* { pair, pair, pair [,] } then spaces and '\n' */
    p = npy__ws(hdr, hdr + hl); end = hdr + hl;
    if (p >= end || *p++ != '{') goto bad;
    for (d = 0; d < 3; d++) {
        if (!(p = npy__pair(p, end, arr, &seen))) goto bad;
        p = npy__ws(p, end);
        if (p < end && *p == ',') p++;
    }
    p = npy__ws(p, end);
    if (seen != 7 || p >= end || *p++ != '}') goto bad;
    while (p < end && (*p == ' ' || *p == '\n')) p++;
    if (p != end) goto bad;
    free(hdr); hdr = NULL;
    item = npy__size[arr->dtype];
    arr->n = 1;
    for (d = 0; d < arr->ndim; d++) {
        if (arr->shape[d] && arr->n > SIZE_MAX / item / arr->shape[d]) { fclose(f); return npy__fail(path, "shape too large"); }
        arr->n *= arr->shape[d];
    }
    bytes = arr->n * item;
    if ((size_t)fsize - pre_len - hl != bytes) {
        snprintf(npy__err, sizeof npy__err, "%.600s: the shape needs %lu data bytes, the file holds %lu",
                 path, (unsigned long)bytes, (unsigned long)((size_t)fsize - pre_len - hl));
        fclose(f); return -1;
    }
    arr->data = malloc(bytes ? bytes : 1);
    if (!arr->data) { fclose(f); return npy__fail(path, "out of memory for the data"); }
    got = bytes ? fread(arr->data, 1, bytes, f) : 0;
    fclose(f);
    if (got != bytes) { npy_free(arr); return npy__fail(path, "truncated data"); }
    return 0;
bad:
    free(hdr); fclose(f);
    memset(arr, 0, sizeof *arr);
    return npy__fail(path, "malformed header (expected {'descr': '<f4'|'<i8'|'<i4'|'|u1', 'fortran_order': False, 'shape': (...)})");
}

#endif /* NPY_H */
