/* idx.h - a strict reader for the IDX files of (Fashion-)MNIST (not part of ig.h).

   An IDX file is a big-endian header followed by raw elements:
       bytes 0-1   zero
       byte  2     element type: 0x08 = unsigned byte (the only type read here)
       byte  3     number of dimensions n (1..4 here)
       4 n bytes   each dimension, a big-endian uint32
       the data    prod(dims) bytes, row-major
   Images are (N, 28, 28) (magic 0x00000803), labels are (N) (magic 0x00000801).

       idx_array a;
       if (idx_read("train-images-idx3-ubyte", 3, &a)) { fprintf(stderr, "%s\n", idx_error()); ... }
       ... a.dims[0], a.data[...] ...
       idx_free(&a);

   The reader checks the magic bytes, the number of dimensions, each dimension
   (non-zero, product without overflow) and that the file size is exactly the
   header plus the data: a truncated or padded file is an error that names the
   file.  A missing file's message says how to get the data.  The functions
   are static, so the header can be included in any number of files. */
#ifndef IG_IDX_H
#define IG_IDX_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define IDX__UNUSED __attribute__((unused))
#else
#define IDX__UNUSED
#endif

#define IDX_MAX_DIMS 4

typedef struct {
    int ndim;
    size_t dims[IDX_MAX_DIMS];
    size_t n;               /* prod(dims) elements */
    unsigned char *data;    /* n bytes, malloc'd   */
} idx_array;

static char idx__err[1024];

IDX__UNUSED static const char *idx_error(void) { return idx__err; }

static int idx__fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(idx__err, sizeof idx__err, fmt, ap);
    va_end(ap);
    return -1;
}

IDX__UNUSED static void idx_free(idx_array *a) {
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* Read an unsigned-byte IDX file with exactly 'ndim' dimensions into *a.
   0, or -1 with idx_error() naming the file and the problem (a is left empty). */
IDX__UNUSED static int idx_read(const char *path, int ndim, idx_array *a) {
    unsigned char head[4 + 4 * IDX_MAX_DIMS];
    FILE *f;
    long size;
    size_t n = 1, header;
    int k;
    memset(a, 0, sizeof *a);
    if (ndim < 1 || ndim > IDX_MAX_DIMS) return idx__fail("%s: asked for %d dimensions (1..%d)", path, ndim, IDX_MAX_DIMS);
    f = fopen(path, "rb");
    if (!f)
        return idx__fail("%s: %s (install the data with 'apt-get install dataset-fashion-mnist', then run 'make fmnist-data')",
                         path, strerror(errno));
    header = 4 + 4 * (size_t)ndim;
    if (fread(head, 1, 4, f) != 4) { fclose(f); return idx__fail("%s: shorter than the 4-byte IDX magic number", path); }
    if (head[0] != 0 || head[1] != 0)
        { fclose(f); return idx__fail("%s: not an IDX file (magic number starts %02x %02x, expected 00 00; a gzip file starts 1f 8b: run 'make fmnist-data')", path, head[0], head[1]); }
    if (head[2] != 0x08) { fclose(f); return idx__fail("%s: IDX element type 0x%02x, only unsigned bytes (0x08) are read", path, head[2]); }
    if (head[3] != ndim) { fclose(f); return idx__fail("%s: has %d dimensions, expected %d", path, head[3], ndim); }
    if (fread(head + 4, 1, 4 * (size_t)ndim, f) != 4 * (size_t)ndim)
        { fclose(f); return idx__fail("%s: truncated in the header (%d dimensions need %zu bytes)", path, ndim, header); }
    for (k = 0; k < ndim; k++) {
        const unsigned char *d = head + 4 + 4 * k;
        uint32_t v = ((uint32_t)d[0] << 24) | ((uint32_t)d[1] << 16) | ((uint32_t)d[2] << 8) | (uint32_t)d[3];
        if (v == 0) { fclose(f); return idx__fail("%s: dimension %d is 0", path, k); }
        if (n > ((size_t)1 << 40) / v) { fclose(f); return idx__fail("%s: dimensions too large", path); }
        a->dims[k] = v;
        n *= v;
    }
    if (fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0)
        { fclose(f); return idx__fail("%s: cannot get the file size", path); }
    if ((size_t)size != header + n) {
        fclose(f);
        return idx__fail("%s: %ld bytes, but the header (%zu bytes) and %zu elements make %zu: the file is %s",
                         path, size, header, n, header + n, (size_t)size < header + n ? "truncated" : "too long");
    }
    a->data = (unsigned char *)malloc(n);
    if (!a->data) { fclose(f); return idx__fail("%s: out of memory for %zu bytes", path, n); }
    if (fseek(f, (long)header, SEEK_SET) || fread(a->data, 1, n, f) != n) {
        fclose(f);
        idx_free(a);
        return idx__fail("%s: read error", path);
    }
    fclose(f);
    a->ndim = ndim;
    a->n = n;
    return 0;
}

/* Write an unsigned-byte IDX file (for tests and tiny synthetic data sets). */
IDX__UNUSED static int idx_write(const char *path, int ndim, const size_t *dims, const unsigned char *data) {
    FILE *f = fopen(path, "wb");
    unsigned char head[4 + 4 * IDX_MAX_DIMS];
    size_t n = 1;
    int k;
    if (!f) return idx__fail("%s: %s", path, strerror(errno));
    if (ndim < 1 || ndim > IDX_MAX_DIMS) { fclose(f); return idx__fail("%s: %d dimensions", path, ndim); }
    head[0] = head[1] = 0; head[2] = 0x08; head[3] = (unsigned char)ndim;
    for (k = 0; k < ndim; k++) {
        uint32_t v = (uint32_t)dims[k];
        head[4 + 4 * k] = (unsigned char)(v >> 24); head[5 + 4 * k] = (unsigned char)(v >> 16);
        head[6 + 4 * k] = (unsigned char)(v >> 8);  head[7 + 4 * k] = (unsigned char)v;
        n *= dims[k];
    }
    if (fwrite(head, 1, 4 + 4 * (size_t)ndim, f) != 4 + 4 * (size_t)ndim || fwrite(data, 1, n, f) != n) {
        fclose(f);
        return idx__fail("%s: write error", path);
    }
    return fclose(f) ? idx__fail("%s: write error", path) : 0;
}

#endif /* IG_IDX_H */
