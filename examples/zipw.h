/* zipw.h - write a zip archive of stored (uncompressed) records, atomically.
   libc only (plus fsync where POSIX declares it); not part of ig.h.  Used by
   tools/st2pt.c (a torch.save .pt file is such a zip) and examples/imagenet.c
   (numpy's .npz is one too).

       zipw z;
       zipw_open(&z, "out.npz");                 writes out.npz.<pid>.tmp
       zipw_add(&z, "arr_0.npy", head, hn, data, dn);   one record: head then data, or
       zipw_begin(&z, name, size); zipw_data(&z, p, n) ...; zipw_end(&z);   in pieces
       zipw_close(&z);                           central directory, fsync, rename
       (zipw_abort(&z) on any failure: the temporary file goes, out.npz is untouched)

   Every record's data starts at a multiple of 64 bytes (the local header's extra
   field pads it, as torch.save does), so a reader can map it in place.  ZIP64
   records are written when a record or an offset passes 4 GiB (an .npz of
   50,000 RGB images of 256 x 256 is 9.8 GB), or always with z.zip64_always = 1.  Every function returns 0 or -1 with
   zipw_error() naming the file and the problem.  Little-endian hosts only, as
   the formats it serves. */
#ifndef ZIPW_H
#define ZIPW_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif
#include "image.h"

#if defined(__GNUC__)
#define ZIPWDEF static __attribute__((unused))
#else
#define ZIPWDEF static
#endif

#define ZIPW_ALIGN 64
#define ZIPW_U32MAX 0xffffffffull
#ifndef ZIPW_BIG            /* sizes and offsets from here on take ZIP64 fields; a test */
#define ZIPW_BIG ZIPW_U32MAX /* build lowers it to check the ZIP64 records on small files */
#endif

typedef struct { char name[96]; uint64_t offset, size; uint32_t crc; } zipw_entry;

typedef struct {
    FILE *f;
    char path[4096], tmp[4200];
    uint64_t pos;              /* bytes written so far */
    uint64_t written;          /* of the open record */
    zipw_entry *e;
    int n, cap, zip64_always, err;
} zipw;

static char zipw__err[1024];
ZIPWDEF const char *zipw_error(void) { return zipw__err; }
static int zipw__fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(zipw__err, sizeof zipw__err, fmt, ap);
    va_end(ap);
    return -1;
}

/* CRC-32 of the zip format: image.h's (PNG uses the same one). */
ZIPWDEF uint32_t zipw_crc(uint32_t crc, const void *data, size_t n) {
    return n ? img_crc32(crc, (const unsigned char *)data, n) : crc;
}

static void zipw__le(unsigned char **p, uint64_t v, int nbytes) {
    int i;
    for (i = 0; i < nbytes; i++) *(*p)++ = (unsigned char)(v >> (8 * i));
}
static void zipw__write(zipw *z, const void *p, size_t n) {
    if (z->err || !n) return;
    if (fwrite(p, 1, n, z->f) != n) { z->err = errno ? errno : EIO; return; }
    z->pos += n;
}

ZIPWDEF int zipw_open(zipw *z, const char *path) {
    memset(z, 0, sizeof *z);
    if (strlen(path) >= sizeof z->path) return zipw__fail("%s: path too long", path);
    snprintf(z->path, sizeof z->path, "%s", path);
#if defined(__unix__) || defined(__APPLE__)
    snprintf(z->tmp, sizeof z->tmp, "%s.%ld.tmp", path, (long)getpid());
#else
    snprintf(z->tmp, sizeof z->tmp, "%s.tmp", path);
#endif
    if (!(z->f = fopen(z->tmp, "wb"))) return zipw__fail("%s: cannot create: %s", z->tmp, strerror(errno));
    return 0;
}

ZIPWDEF void zipw_abort(zipw *z) {
    if (z->f) { fclose(z->f); z->f = NULL; remove(z->tmp); }
    free(z->e); z->e = NULL;
}

/* One stored record of 'size' bytes, written in pieces: zipw_begin, then
   zipw_data until size bytes went out, then zipw_end, which seeks back to put
   the CRC into the local header.  A record of 4 GiB or more gets ZIP64 sizes. */
ZIPWDEF int zipw_begin(zipw *z, const char *name, uint64_t size) {
    unsigned char h[30 + 96 + 20 + 4 + ZIPW_ALIGN], *p = h;
    size_t nl = strlen(name), pad, ext;
    int big = size >= ZIPW_BIG;
    zipw_entry *e;
    if (nl >= sizeof z->e[0].name) return zipw__fail("%s: record name %s is too long", z->path, name);
    if (z->n == z->cap) {
        int cap = z->cap ? 2 * z->cap : 64;
        zipw_entry *q = (zipw_entry *)realloc(z->e, (size_t)cap * sizeof *q);
        if (!q) return zipw__fail("%s: out of memory", z->path);
        z->e = q; z->cap = cap;
    }
    e = &z->e[z->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->offset = z->pos; e->size = size; e->crc = 0;
    z->written = 0;
    ext = (big ? 20 : 0) + 4;
    pad = (size_t)((ZIPW_ALIGN - (z->pos + 30 + nl + ext) % ZIPW_ALIGN) % ZIPW_ALIGN);
    zipw__le(&p, 0x04034b50u, 4); zipw__le(&p, big ? 45 : 20, 2); zipw__le(&p, 0, 2); zipw__le(&p, 0, 2);
    zipw__le(&p, 0, 2); zipw__le(&p, 0x21, 2);                       /* version, flags, stored, 1980-01-01 */
    zipw__le(&p, 0, 4);                                                /* the CRC: zipw_end writes it */
    zipw__le(&p, big ? ZIPW_U32MAX : size, 4); zipw__le(&p, big ? ZIPW_U32MAX : size, 4);
    zipw__le(&p, nl, 2); zipw__le(&p, ext + pad, 2);
    memcpy(p, name, nl); p += nl;
    if (big) { zipw__le(&p, 0x0001, 2); zipw__le(&p, 16, 2); zipw__le(&p, size, 8); zipw__le(&p, size, 8); }
    zipw__le(&p, 0x5346, 2); zipw__le(&p, pad, 2);                 /* a private extra field: the padding */
    memset(p, 0, pad); p += pad;
    zipw__write(z, h, (size_t)(p - h));
    return z->err ? zipw__fail("%s: write failed: %s", z->tmp, strerror(z->err)) : 0;
}

ZIPWDEF int zipw_data(zipw *z, const void *data, size_t n) {
    zipw_entry *e = &z->e[z->n - 1];
    if (z->written + n > e->size) return zipw__fail("%s: record %s: more than its %llu bytes", z->path, e->name,
                                                    (unsigned long long)e->size);
    e->crc = zipw_crc(e->crc, data, n);
    z->written += n;
    zipw__write(z, data, n);
    return z->err ? zipw__fail("%s: write failed: %s", z->tmp, strerror(z->err)) : 0;
}

ZIPWDEF int zipw_end(zipw *z) {
    zipw_entry *e = &z->e[z->n - 1];
    unsigned char c[4], *p = c;
    int bad;
    if (z->written != e->size) return zipw__fail("%s: record %s: %llu of its %llu bytes written", z->path, e->name,
                                                 (unsigned long long)z->written, (unsigned long long)e->size);
    zipw__le(&p, e->crc, 4);
#if defined(_POSIX_C_SOURCE) && _POSIX_C_SOURCE >= 200112L
    bad = fseeko(z->f, (off_t)(e->offset + 14), SEEK_SET) || fwrite(c, 1, 4, z->f) != 4 ||
          fseeko(z->f, (off_t)z->pos, SEEK_SET);
#else
    bad = fseek(z->f, (long)(e->offset + 14), SEEK_SET) || fwrite(c, 1, 4, z->f) != 4 ||
          fseek(z->f, (long)z->pos, SEEK_SET);
#endif
    return bad ? zipw__fail("%s: cannot write the CRC of %s: %s", z->tmp, e->name, strerror(errno)) : 0;
}

/* One stored record in one call: hn bytes of head, then dn bytes of data. */
ZIPWDEF int zipw_add(zipw *z, const char *name, const void *head, size_t hn, const void *data, size_t dn) {
    if (zipw_begin(z, name, (uint64_t)hn + (uint64_t)dn)) return -1;
    if ((hn && zipw_data(z, head, hn)) || (dn && zipw_data(z, data, dn))) return -1;
    return zipw_end(z);
}

/* The central directory and the end records (ZIP64 when needed or asked), then
   flush, fsync, and rename over the destination. */
ZIPWDEF int zipw_close(zipw *z) {
    unsigned char h[46 + 96 + 28 + 56 + 20 + 22], *p;
    uint64_t cd_start = z->pos, cd_size;
    int i, z64 = z->zip64_always || z->n >= 0xffff;
    for (i = 0; i < z->n; i++) {
        const zipw_entry *e = &z->e[i];
        size_t nl = strlen(e->name);
        int bigoff = z->zip64_always || e->offset >= ZIPW_BIG, bigsize = e->size >= ZIPW_BIG;
        int big = bigoff || bigsize, ext = (bigsize ? 16 : 0) + (bigoff ? 8 : 0);
        p = h;
        zipw__le(&p, 0x02014b50u, 4); zipw__le(&p, big ? 45 : 20, 2); zipw__le(&p, big ? 45 : 20, 2);
        zipw__le(&p, 0, 2); zipw__le(&p, 0, 2); zipw__le(&p, 0, 2); zipw__le(&p, 0x21, 2);
        zipw__le(&p, e->crc, 4);
        zipw__le(&p, bigsize ? ZIPW_U32MAX : e->size, 4); zipw__le(&p, bigsize ? ZIPW_U32MAX : e->size, 4);
        zipw__le(&p, nl, 2); zipw__le(&p, big ? 4 + ext : 0, 2); zipw__le(&p, 0, 2); /* name, extra, comment */
        zipw__le(&p, 0, 2); zipw__le(&p, 0, 2); zipw__le(&p, 0, 4);                 /* disk, attributes */
        zipw__le(&p, bigoff ? ZIPW_U32MAX : e->offset, 4);
        memcpy(p, e->name, nl); p += nl;
        if (big) {          /* ZIP64: the sizes and the offset whose 32-bit fields say 0xffffffff */
            zipw__le(&p, 0x0001, 2); zipw__le(&p, (uint64_t)ext, 2);
            if (bigsize) { zipw__le(&p, e->size, 8); zipw__le(&p, e->size, 8); }
            if (bigoff) zipw__le(&p, e->offset, 8);
        }
        zipw__write(z, h, (size_t)(p - h));
    }
    cd_size = z->pos - cd_start;
    if (cd_start >= ZIPW_BIG || cd_size >= ZIPW_BIG) z64 = 1;
    p = h;
    if (z64) {
        uint64_t rec = z->pos;
        zipw__le(&p, 0x06064b50u, 4); zipw__le(&p, 44, 8); zipw__le(&p, 45, 2); zipw__le(&p, 45, 2);
        zipw__le(&p, 0, 4); zipw__le(&p, 0, 4); zipw__le(&p, (uint64_t)z->n, 8); zipw__le(&p, (uint64_t)z->n, 8);
        zipw__le(&p, cd_size, 8); zipw__le(&p, cd_start, 8);
        zipw__le(&p, 0x07064b50u, 4); zipw__le(&p, 0, 4); zipw__le(&p, rec, 8); zipw__le(&p, 1, 4);
    }
    zipw__le(&p, 0x06054b50u, 4); zipw__le(&p, 0, 2); zipw__le(&p, 0, 2);
    zipw__le(&p, z64 ? 0xffff : (uint64_t)z->n, 2); zipw__le(&p, z64 ? 0xffff : (uint64_t)z->n, 2);
    zipw__le(&p, z64 ? ZIPW_U32MAX : cd_size, 4); zipw__le(&p, z64 ? ZIPW_U32MAX : cd_start, 4); zipw__le(&p, 0, 2);
    zipw__write(z, h, (size_t)(p - h));
    if (z->err) { zipw__fail("%s: write failed: %s", z->tmp, strerror(z->err)); zipw_abort(z); return -1; }
    if (fflush(z->f)) { zipw__fail("%s: flush failed: %s", z->tmp, strerror(errno)); zipw_abort(z); return -1; }
#if defined(_POSIX_C_SOURCE) && _POSIX_C_SOURCE >= 200112L
    if (fsync(fileno(z->f))) { zipw__fail("%s: fsync failed: %s", z->tmp, strerror(errno)); zipw_abort(z); return -1; }
#endif
    if (fclose(z->f)) { z->f = NULL; remove(z->tmp); free(z->e); z->e = NULL;
                        return zipw__fail("%s: close failed: %s", z->tmp, strerror(errno)); }
    z->f = NULL;
    free(z->e); z->e = NULL;
    if (rename(z->tmp, z->path)) {
        zipw__fail("%s: cannot rename %s over it: %s", z->path, z->tmp, strerror(errno));
        remove(z->tmp);
        return -1;
    }
    return 0;
}

#endif
