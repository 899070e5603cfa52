/* zipw.h - write a zip archive of stored (uncompressed) records, atomically.
   libc only (plus fsync where POSIX declares it); not part of ig.h.  Used by
   tools/st2pt.c (a torch.save .pt file is such a zip) and examples/imagenet.c
   (numpy's .npz is one too).

       zipw z;
       zipw_open(&z, "out.npz");                 writes out.npz.<pid>.tmp
       zipw_add(&z, "arr_0.npy", head, hn, data, dn);   one record: head then data
       zipw_close(&z);                           central directory, fsync, rename
       (zipw_abort(&z) on any failure: the temporary file goes, out.npz is untouched)

   Every record's data starts at a multiple of 64 bytes (the local header's extra
   field pads it, as torch.save does), so a reader can map it in place.  ZIP64
   records are written when an offset passes 4 GiB (one record stays under 4 GiB)
   or always with z.zip64_always = 1.  Every function returns 0 or -1 with
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

#if defined(__GNUC__)
#define ZIPWDEF static __attribute__((unused))
#else
#define ZIPWDEF static
#endif

#define ZIPW_ALIGN 64
#define ZIPW_U32MAX 0xffffffffull

typedef struct { char name[96]; uint64_t offset, size; uint32_t crc; } zipw_entry;

typedef struct {
    FILE *f;
    char path[4096], tmp[4200];
    uint64_t pos;              /* bytes written so far */
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

/* CRC-32 (the zip polynomial 0xedb88320, reflected), bit by bit per table entry. */
ZIPWDEF uint32_t zipw_crc(uint32_t crc, const void *data, size_t n) {
    static uint32_t table[256];
    static int ready = 0;
    const unsigned char *p = (const unsigned char *)data;
    if (!ready) {
        uint32_t i, c;
        int k;
        for (i = 0; i < 256; i++) {
            for (c = i, k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    crc = ~crc;
    while (n--) crc = table[(crc ^ *p++) & 0xffu] ^ (crc >> 8);
    return ~crc;
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

/* One stored record named name: hn bytes of head, then dn bytes of data (either
   may be empty), with the CRC of both. */
ZIPWDEF int zipw_add(zipw *z, const char *name, const void *head, size_t hn, const void *data, size_t dn) {
    unsigned char h[30 + 96 + 4 + ZIPW_ALIGN], *p = h;
    size_t nl = strlen(name), pad;
    uint64_t size = (uint64_t)hn + (uint64_t)dn;
    zipw_entry *e;
    if (size >= ZIPW_U32MAX) return zipw__fail("%s: record %s is %llu bytes; one record must stay under 4 GiB",
                                               z->path, name, (unsigned long long)size);
    if (nl >= sizeof z->e[0].name) return zipw__fail("%s: record name %s is too long", z->path, name);
    if (z->n == z->cap) {
        int cap = z->cap ? 2 * z->cap : 64;
        zipw_entry *q = (zipw_entry *)realloc(z->e, (size_t)cap * sizeof *q);
        if (!q) return zipw__fail("%s: out of memory", z->path);
        z->e = q; z->cap = cap;
    }
    e = &z->e[z->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->offset = z->pos; e->size = size;
    e->crc = zipw_crc(zipw_crc(0, head, hn), data, dn);
    pad = (size_t)((ZIPW_ALIGN - (z->pos + 30 + nl + 4) % ZIPW_ALIGN) % ZIPW_ALIGN);
    zipw__le(&p, 0x04034b50u, 4); zipw__le(&p, 20, 2); zipw__le(&p, 0, 2); zipw__le(&p, 0, 2); /* version, flags, stored */
    zipw__le(&p, 0, 2); zipw__le(&p, 0x21, 2);                                             /* 00:00, 1980-01-01 */
    zipw__le(&p, e->crc, 4); zipw__le(&p, size, 4); zipw__le(&p, size, 4);
    zipw__le(&p, nl, 2); zipw__le(&p, 4 + pad, 2);
    memcpy(p, name, nl); p += nl;
    zipw__le(&p, 0x5346, 2); zipw__le(&p, pad, 2);                 /* a private extra field: the padding */
    memset(p, 0, pad); p += pad;
    zipw__write(z, h, (size_t)(p - h));
    zipw__write(z, head, hn);
    zipw__write(z, data, dn);
    return z->err ? zipw__fail("%s: write failed: %s", z->tmp, strerror(z->err)) : 0;
}

/* The central directory and the end records (ZIP64 when needed or asked), then
   flush, fsync, and rename over the destination. */
ZIPWDEF int zipw_close(zipw *z) {
    unsigned char h[46 + 96 + 12 + 56 + 20 + 22], *p;
    uint64_t cd_start = z->pos, cd_size;
    int i, z64 = z->zip64_always || z->n >= 0xffff;
    for (i = 0; i < z->n; i++) {
        const zipw_entry *e = &z->e[i];
        size_t nl = strlen(e->name);
        int big = z->zip64_always || e->offset >= ZIPW_U32MAX;
        p = h;
        zipw__le(&p, 0x02014b50u, 4); zipw__le(&p, big ? 45 : 20, 2); zipw__le(&p, big ? 45 : 20, 2);
        zipw__le(&p, 0, 2); zipw__le(&p, 0, 2); zipw__le(&p, 0, 2); zipw__le(&p, 0x21, 2);
        zipw__le(&p, e->crc, 4); zipw__le(&p, e->size, 4); zipw__le(&p, e->size, 4);
        zipw__le(&p, nl, 2); zipw__le(&p, big ? 12 : 0, 2); zipw__le(&p, 0, 2);    /* name, extra, comment */
        zipw__le(&p, 0, 2); zipw__le(&p, 0, 2); zipw__le(&p, 0, 4);                 /* disk, attributes */
        zipw__le(&p, big ? ZIPW_U32MAX : e->offset, 4);
        memcpy(p, e->name, nl); p += nl;
        if (big) { zipw__le(&p, 0x0001, 2); zipw__le(&p, 8, 2); zipw__le(&p, e->offset, 8); } /* ZIP64 offset */
        zipw__write(z, h, (size_t)(p - h));
    }
    cd_size = z->pos - cd_start;
    if (cd_start >= ZIPW_U32MAX || cd_size >= ZIPW_U32MAX) z64 = 1;
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
