/* pt_zip.h - test helpers: build small torch.save-like files by hand.
   A stored zip writer (CRC-32, central directory, end record; no ZIP64) and a
   pickle builder for dicts of tensors.  Shared by tests/test_pt.c and the
   fuzz target tests/fuzz/fuzz_pt.c.  Needs examples/pt.h (pt__crc32). */
#ifndef PT_ZIP_H
#define PT_ZIP_H
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define PTZ_UNUSED __attribute__((unused))
#else
#define PTZ_UNUSED
#endif

typedef struct { const char *name; const unsigned char *data; size_t n; int method; } ptz_rec;

static void ptz__put(unsigned char **p, uint64_t v, int bytes) {
    int i;
    for (i = 0; i < bytes; i++) *(*p)++ = (unsigned char)(v >> (8 * i));
}

/* Writes the records as a zip into a malloc'ed buffer; *size gets its size.
   method is only written into the headers (the data stays as given).  With
   zip64 != 0 it writes what torch.save does for large files: local headers
   with zero sizes (flag bit 3), central entries whose sizes and offset are
   0xffffffff with the real values in a ZIP64 extra field, and a ZIP64 end
   record and locator before an end record of 0xffff / 0xffffffff fields. */
PTZ_UNUSED static unsigned char *ptz_build(const ptz_rec *r, int n, size_t *size, int zip64) {
    size_t cap = 22 + 56 + 20, i;
    unsigned char *buf, *p, *cd, *z64;
    uint64_t *off, m32 = 0xffffffffu;
    for (i = 0; i < (size_t)n; i++) cap += 30 + 46 + 28 + 2 * strlen(r[i].name) + r[i].n;
    buf = (unsigned char *)malloc(cap);
    off = (uint64_t *)malloc(((size_t)n + 1) * sizeof *off);
    if (!buf || !off) { free(buf); free(off); return NULL; }
    p = buf;
    for (i = 0; i < (size_t)n; i++) {
        size_t nl = strlen(r[i].name);
        off[i] = (uint64_t)(p - buf);
        ptz__put(&p, 0x04034b50u, 4); ptz__put(&p, 20, 2); ptz__put(&p, zip64 ? 8 : 0, 2); ptz__put(&p, (uint64_t)r[i].method, 2);
        ptz__put(&p, 0, 4); ptz__put(&p, zip64 ? 0 : pt__crc32(r[i].data, r[i].n), 4);
        ptz__put(&p, zip64 ? 0 : r[i].n, 4); ptz__put(&p, zip64 ? 0 : r[i].n, 4); ptz__put(&p, nl, 2); ptz__put(&p, 0, 2);
        memcpy(p, r[i].name, nl); p += nl;
        if (r[i].n) memcpy(p, r[i].data, r[i].n);
        p += r[i].n;
    }
    cd = p;
    for (i = 0; i < (size_t)n; i++) {
        size_t nl = strlen(r[i].name);
        ptz__put(&p, 0x02014b50u, 4); ptz__put(&p, 45, 2); ptz__put(&p, 45, 2); ptz__put(&p, zip64 ? 8 : 0, 2);
        ptz__put(&p, (uint64_t)r[i].method, 2); ptz__put(&p, 0, 4); ptz__put(&p, pt__crc32(r[i].data, r[i].n), 4);
        ptz__put(&p, zip64 ? m32 : r[i].n, 4); ptz__put(&p, zip64 ? m32 : r[i].n, 4); ptz__put(&p, nl, 2);
        ptz__put(&p, zip64 ? 28 : 0, 2); ptz__put(&p, 0, 2);
        ptz__put(&p, 0, 2); ptz__put(&p, 0, 2); ptz__put(&p, 0, 4); ptz__put(&p, zip64 ? m32 : off[i], 4);
        memcpy(p, r[i].name, nl); p += nl;
        if (zip64) {   /* id 1, 24 bytes: uncompressed size, compressed size, local header offset */
            ptz__put(&p, 1, 2); ptz__put(&p, 24, 2);
            ptz__put(&p, r[i].n, 8); ptz__put(&p, r[i].n, 8); ptz__put(&p, off[i], 8);
        }
    }
    if (zip64) {
        z64 = p;
        ptz__put(&p, 0x06064b50u, 4); ptz__put(&p, 44, 8); ptz__put(&p, 45, 2); ptz__put(&p, 45, 2);
        ptz__put(&p, 0, 4); ptz__put(&p, 0, 4); ptz__put(&p, (uint64_t)n, 8); ptz__put(&p, (uint64_t)n, 8);
        ptz__put(&p, (uint64_t)(z64 - cd), 8); ptz__put(&p, (uint64_t)(cd - buf), 8);
        ptz__put(&p, 0x07064b50u, 4); ptz__put(&p, 0, 4); ptz__put(&p, (uint64_t)(z64 - buf), 8); ptz__put(&p, 1, 4);
        ptz__put(&p, 0x06054b50u, 4); ptz__put(&p, 0, 2); ptz__put(&p, 0, 2); ptz__put(&p, 0xffff, 2); ptz__put(&p, 0xffff, 2);
        ptz__put(&p, m32, 4); ptz__put(&p, m32, 4); ptz__put(&p, 0, 2);
    } else {
        ptz__put(&p, 0x06054b50u, 4); ptz__put(&p, 0, 2); ptz__put(&p, 0, 2); ptz__put(&p, (uint64_t)n, 2); ptz__put(&p, (uint64_t)n, 2);
        ptz__put(&p, (uint64_t)(p - cd - 12), 4); ptz__put(&p, (uint64_t)(cd - buf), 4); ptz__put(&p, 0, 2);
    }
    free(off);
    *size = (size_t)(p - buf);
    return buf;
}

/* A pickle under construction. */
typedef struct { unsigned char b[8192]; size_t n; } ptb;

PTZ_UNUSED static void ptb_raw(ptb *p, const void *s, size_t n) { if (p->n + n <= sizeof p->b) { memcpy(p->b + p->n, s, n); p->n += n; } }
PTZ_UNUSED static void ptb_op(ptb *p, int op) { unsigned char c = (unsigned char)op; ptb_raw(p, &c, 1); }
PTZ_UNUSED static void ptb_str(ptb *p, const char *s) {
    unsigned char h[5]; size_t n = strlen(s);
    h[0] = 'X'; h[1] = (unsigned char)n; h[2] = (unsigned char)(n >> 8); h[3] = h[4] = 0;
    ptb_raw(p, h, 5); ptb_raw(p, s, n);
}
PTZ_UNUSED static void ptb_int(ptb *p, long v) {
    unsigned char h[5]; h[0] = 'J';
    h[1] = (unsigned char)v; h[2] = (unsigned char)(v >> 8); h[3] = (unsigned char)(v >> 16); h[4] = (unsigned char)(v >> 24);
    ptb_raw(p, h, 5);
}
PTZ_UNUSED static void ptb_global(ptb *p, const char *mod, const char *name) {
    ptb_op(p, 'c'); ptb_raw(p, mod, strlen(mod)); ptb_op(p, '\n'); ptb_raw(p, name, strlen(name)); ptb_op(p, '\n');
}
/* _rebuild_tensor_v2(('storage', torch.<stype>, key, 'cpu', numel), offset, shape, stride, False, {}) */
PTZ_UNUSED static void ptb_tensor(ptb *p, const char *stype, const char *key, long numel, long offset, int ndim,
                       const long *shape, const long *stride) {
    int d;
    ptb_global(p, "torch._utils", "_rebuild_tensor_v2");
    ptb_op(p, '(');
    ptb_op(p, '('); ptb_str(p, "storage"); ptb_global(p, "torch", stype); ptb_str(p, key); ptb_str(p, "cpu");
    ptb_int(p, numel); ptb_op(p, 't'); ptb_op(p, 'Q');
    ptb_int(p, offset);
    ptb_op(p, '('); for (d = 0; d < ndim; d++) ptb_int(p, shape[d]); ptb_op(p, 't');
    ptb_op(p, '('); for (d = 0; d < ndim; d++) ptb_int(p, stride[d]); ptb_op(p, 't');
    ptb_op(p, 0x89); ptb_op(p, '}');
    ptb_op(p, 't'); ptb_op(p, 'R');
}
#endif
