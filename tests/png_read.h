/* png_read.h - a minimal PNG reader for the tests: inflate (stored and
   fixed-Huffman blocks, what examples/image.h writes) and png_read_rgb, which
   returns the RGB8 pixels of such a PNG (filter type 0 rows).  Written from
   RFC 1950/1951 and the PNG specification, not from image.h.  Include
   examples/image.h first (img_adler32 checks the zlib stream). */
#ifndef IG_TEST_PNG_READ_H
#define IG_TEST_PNG_READ_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { const unsigned char *p; size_t n, pos; int bit; } test_bits;

static inline int test_bit(test_bits *b) {
    int v;
    if (b->pos >= b->n) return -1;
    v = b->p[b->pos] >> b->bit & 1;
    if (++b->bit == 8) { b->bit = 0; b->pos++; }
    return v;
}
static inline int test_getbits(test_bits *b, int n) {     /* n bits, LSB first */
    int v = 0, i, x;
    for (i = 0; i < n; i++) { if ((x = test_bit(b)) < 0) return -1; v |= x << i; }
    return v;
}
/* fixed literal/length symbol: read the code MSB first, 7 to 9 bits */
static inline int test_fixed_sym(test_bits *b) {
    int code = 0, len, x;
    for (len = 1; len <= 9; len++) {
        if ((x = test_bit(b)) < 0) return -1;
        code = code << 1 | x;
        if (len == 7 && code <= 0x17) return 256 + code;
        if (len == 8 && code >= 0x30 && code <= 0xBF) return code - 0x30;
        if (len == 8 && code >= 0xC0 && code <= 0xC7) return 280 + code - 0xC0;
        if (len == 9 && code >= 0x190) return 144 + code - 0x190;
    }
    return -1;
}
/* Inflate a zlib stream into out (cap bytes); returns bytes written or -1. */
static inline long test_inflate(const unsigned char *z, size_t n, unsigned char *out, size_t cap) {
    static const int lbase[29] = { 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                   35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258 };
    static const int dbase[30] = { 1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257,
                                   385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289,
                                   16385, 24577 };
    test_bits b;
    size_t o = 0;
    int final;
    uint32_t ad;
    if (n < 6 || (z[0] * 256 + z[1]) % 31 != 0 || (z[0] & 15) != 8) return -1;
    b.p = z + 2; b.n = n - 6; b.pos = 0; b.bit = 0;
    do {
        int type;
        final = test_getbits(&b, 1);
        type = test_getbits(&b, 2);
        if (type == 0) {                               /* stored */
            size_t len;
            if (b.bit) { b.bit = 0; b.pos++; }
            if (b.pos + 4 > b.n) return -1;
            len = b.p[b.pos] | (size_t)b.p[b.pos + 1] << 8;
            b.pos += 4;
            if (b.pos + len > b.n || o + len > cap) return -1;
            memcpy(out + o, b.p + b.pos, len); o += len; b.pos += len;
        } else if (type == 1) {                        /* fixed Huffman */
            for (;;) {
                int s = test_fixed_sym(&b), len, dist, d, e;
                if (s < 0 || s > 285) return -1;
                if (s < 256) { if (o >= cap) return -1; out[o++] = (unsigned char)s; continue; }
                if (s == 256) break;
                s -= 257;
                e = s < 8 || s == 28 ? 0 : (s - 4) / 4;
                len = lbase[s] + test_getbits(&b, e);
                d = 0;
                for (e = 0; e < 5; e++) d = d << 1 | test_bit(&b);
                if (d < 0 || d > 29) return -1;
                dist = dbase[d] + (d < 4 ? 0 : test_getbits(&b, d / 2 - 1));
                if ((size_t)dist > o || o + (size_t)len > cap) return -1;
                while (len--) { out[o] = out[o - (size_t)dist]; o++; }
            }
        } else return -1;                              /* dynamic: not produced by plot.h */
    } while (final == 0);
    ad = (uint32_t)z[n - 4] << 24 | (uint32_t)z[n - 3] << 16 | (uint32_t)z[n - 2] << 8 | z[n - 1];
    if (ad != img_adler32(out, o)) return -1;
    return (long)o;
}

static inline uint32_t test_be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The RGB8 pixels (w * h * 3 bytes, malloc'ed) of an 8-bit RGB PNG without
   interlacing whose rows all use filter 0; NULL on anything else. */
static inline unsigned char *png_read_rgb(const char *path, int *w, int *h) {
    FILE *f = fopen(path, "rb");
    unsigned char *file = NULL, *idat = NULL, *raw = NULL, *rgb = NULL;
    size_t size, pos = 8, nidat = 0, row, y;
    long got;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) || (got = ftell(f)) < 8 || fseek(f, 0, SEEK_SET)) { fclose(f); return NULL; }
    size = (size_t)got;
    file = (unsigned char *)malloc(size);
    idat = (unsigned char *)malloc(size);
    if (!file || !idat || fread(file, 1, size, f) != size || memcmp(file, "\x89PNG\r\n\x1a\n", 8)) goto fail;
    *w = *h = 0;
    while (pos + 12 <= size) {
        uint32_t len = test_be32(file + pos);
        const unsigned char *type = file + pos + 4;
        if (pos + 12 + len > size) goto fail;
        if (!memcmp(type, "IHDR", 4)) {
            if (len != 13 || type[12] != 8 || type[13] != 2 || type[16] != 0) goto fail;
            *w = (int)test_be32(type + 4); *h = (int)test_be32(type + 8);
        }
        if (!memcmp(type, "IDAT", 4)) { memcpy(idat + nidat, type + 4, len); nidat += len; }
        pos += 12 + len;
    }
    if (*w <= 0 || *h <= 0) goto fail;
    row = (size_t)*w * 3 + 1;
    raw = (unsigned char *)malloc(row * (size_t)*h);
    rgb = (unsigned char *)malloc(row * (size_t)*h);
    if (!raw || !rgb || test_inflate(idat, nidat, raw, row * (size_t)*h) != (long)(row * (size_t)*h)) goto fail;
    for (y = 0; y < (size_t)*h; y++) {
        if (raw[y * row] != 0) goto fail;
        memcpy(rgb + y * (row - 1), raw + y * row + 1, row - 1);
    }
    fclose(f); free(file); free(idat); free(raw);
    return rgb;
fail:
    fclose(f); free(file); free(idat); free(raw); free(rgb);
    return NULL;
}
#endif
