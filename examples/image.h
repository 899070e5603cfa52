/* image.h - writing images and arrays from the examples, with libc only.

   Header-only and static (include it from any number of files):

     img_write_npy                  float (rows, cols) array as .npy v1.0
     img_write_png                  RGB8 image as .png (zlib, fixed Huffman)
     img_crc32, img_adler32, img_zlib   the checksums and deflate behind it
     img_image_new / _free          an RGB canvas filled white
     img_blend, img_text, img_text_width   pixels and text with a 5x7 font
     img_write_grid_png             n images (n, C, H, W) as one PNG grid

   examples/plot.h (the toy's figures) and the image examples build on it. */
#ifndef IMG_H
#define IMG_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <stdint.h>
#include "npy.h"

/* static inline: private to the including file, no unused-function warnings */
#define IMGDEF static inline

/* ------------------------------------------------------------------------- */
/* .npy                                                                      */
/* ------------------------------------------------------------------------- */

/* A float (rows, cols) array as .npy: npy.h's writer, kept under this name for the toy. */
IMGDEF int img_write_npy(const char *path, const float *data, size_t rows, size_t cols) {
    size_t shape[2];
    shape[0] = rows; shape[1] = cols;
    return npy_write(path, NPY_F32, 2, shape, data);
}

/* ------------------------------------------------------------------------- */
/* checksums: CRC-32 (PNG chunks) and Adler-32 (zlib)                        */
/* ------------------------------------------------------------------------- */

/* CRC-32, the reflected polynomial 0xEDB88320: process bytes low bit first;
   crc = (crc >> 1) ^ (crc & 1 ? 0xEDB88320 : 0) per bit, with the register
   preset to all ones and inverted at the end.  A table does 8 bits at once. */
IMGDEF uint32_t img_crc32(uint32_t crc, const unsigned char *p, size_t n) {
    static uint32_t table[256];
    static int ready = 0;
    size_t i;
    if (!ready) {
        uint32_t k, c;
        int b;
        for (k = 0; k < 256; k++) {
            c = k;
            for (b = 0; b < 8; b++) c = (c >> 1) ^ ((c & 1u) ? 0xEDB88320u : 0u);
            table[k] = c;
        }
        ready = 1;
    }
    crc = ~crc;
    for (i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
    return ~crc;
}

/* Adler-32: a = 1 + sum of bytes, b = sum of the running a's, both mod 65521;
   the checksum is b << 16 | a. */
IMGDEF uint32_t img_adler32(const unsigned char *p, size_t n) {
    uint32_t a = 1, b = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        a += p[i]; if (a >= 65521u) a -= 65521u;
        b += a;    if (b >= 65521u) b -= 65521u;
    }
    return (b << 16) | a;
}

/* ------------------------------------------------------------------------- */
/* deflate with the fixed Huffman code and a greedy LZ77 matcher             */
/* ------------------------------------------------------------------------- */

/* A growing byte buffer with a bit writer.  Deflate packs bits starting from
   the least significant bit of each byte. */
typedef struct img_buf {
    unsigned char *p;
    size_t len, cap;
    uint32_t bits;   /* pending bits, low first */
    int nbits;
    int failed;      /* out of memory */
} img_buf;

IMGDEF void img__byte(img_buf *b, unsigned char c) {
    if (b->failed) return;
    if (b->len == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 65536;
        unsigned char *q = (unsigned char *)realloc(b->p, cap);
        if (!q) { b->failed = 1; return; }
        b->p = q; b->cap = cap;
    }
    b->p[b->len++] = c;
}

IMGDEF void img__bits(img_buf *b, uint32_t value, int n) {
    b->bits |= value << b->nbits;
    b->nbits += n;
    while (b->nbits >= 8) { img__byte(b, (unsigned char)b->bits); b->bits >>= 8; b->nbits -= 8; }
}

/* Huffman codes are defined most significant bit first, so they go into the
   LSB-first stream reversed. */
IMGDEF void img__code(img_buf *b, uint32_t code, int n) {
    uint32_t r = 0;
    int i;
    for (i = 0; i < n; i++) r |= ((code >> i) & 1u) << (n - 1 - i);
    img__bits(b, r, n);
}

/* The fixed literal/length code (RFC 1951, 3.2.6):
     0..143  : 8 bits, 00110000 + s        144..255: 9 bits, 110010000 + (s - 144)
     256..279: 7 bits, 0000000 + (s - 256) 280..287: 8 bits, 11000000 + (s - 280) */
IMGDEF void img__litlen(img_buf *b, int s) {
    if (s < 144)      img__code(b, 0x30u + (uint32_t)s, 8);
    else if (s < 256) img__code(b, 0x190u + (uint32_t)(s - 144), 9);
    else if (s < 280) img__code(b, (uint32_t)(s - 256), 7);
    else              img__code(b, 0xC0u + (uint32_t)(s - 280), 8);
}

/* A match (length 3..258, distance 1..32768): a length symbol 257..285 with
   extra bits, then a 5-bit distance symbol 0..29 with extra bits. */
IMGDEF void img__match(img_buf *b, int len, int dist) {
    static const int lbase[29] = { 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                   35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258 };
    static const int lextra[29] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
                                    3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0 };
    static const int dbase[30] = { 1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
                                   257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
                                   8193, 12289, 16385, 24577 };
    int i = 28, j = 29;
    while (lbase[i] > len) i--;
    while (dbase[j] > dist) j--;
    img__litlen(b, 257 + i);
    if (lextra[i]) img__bits(b, (uint32_t)(len - lbase[i]), lextra[i]);
    img__code(b, (uint32_t)j, 5);
    if (j >= 4) img__bits(b, (uint32_t)(dist - dbase[j]), j / 2 - 1);
}

#define IMG_WINDOW   32768
#define IMG_HASH     65536
#define IMG_CHAIN    48      /* candidates tried per position */

/* zlib stream of data: 2-byte header, ONE final fixed-Huffman deflate block,
   Adler-32 (big-endian).  LZ77: the last position of every 3-byte string is
   kept in a hash table (head) with links to older ones (prev); at each
   position the longest match among the first IMG_CHAIN candidates wins
   (greedy), otherwise the byte goes out as a literal. */
IMGDEF int img_zlib(const unsigned char *data, size_t n, img_buf *out) {
    int *head = (int *)malloc(IMG_HASH * sizeof(int));
    int *prev = (int *)malloc(IMG_WINDOW * sizeof(int));
    size_t i = 0;
    uint32_t ad;
    if (!head || !prev) { free(head); free(prev); return -1; }
    for (i = 0; i < IMG_HASH; i++) head[i] = -1;
    img__byte(out, 0x78); img__byte(out, 0x01);  /* deflate, 32K window; (0x7801 % 31 == 0) */
    img__bits(out, 1, 1);                          /* BFINAL = 1 */
    img__bits(out, 1, 2);                          /* BTYPE = 01: fixed Huffman */
    i = 0;
    while (i < n) {
        int best = 0, bestd = 0;
        if (i + 3 <= n) {
            unsigned h = ((unsigned)data[i] * 506832829u ^ (unsigned)data[i + 1] * 2654435761u
                          ^ (unsigned)data[i + 2] * 40503u) >> 16 & (IMG_HASH - 1);
            int cand = head[h], tries = IMG_CHAIN;
            size_t maxlen = n - i < 258 ? n - i : 258;
            while (cand >= 0 && i - (size_t)cand <= IMG_WINDOW && tries-- > 0) {
                size_t l = 0;
                while (l < maxlen && data[(size_t)cand + l] == data[i + l]) l++;
                if ((int)l > best) { best = (int)l; bestd = (int)(i - (size_t)cand); if (l == maxlen) break; }
                cand = prev[cand & (IMG_WINDOW - 1)];
            }
            /* insert position i (and below, every position a match skips) */
            prev[i & (IMG_WINDOW - 1)] = head[h];
            head[h] = (int)i;
        }
        if (best >= 3) {
            size_t k;
            img__match(out, best, bestd);
            for (k = i + 1; k < i + (size_t)best && k + 3 <= n; k++) {
                unsigned h = ((unsigned)data[k] * 506832829u ^ (unsigned)data[k + 1] * 2654435761u
                              ^ (unsigned)data[k + 2] * 40503u) >> 16 & (IMG_HASH - 1);
                prev[k & (IMG_WINDOW - 1)] = head[h];
                head[h] = (int)k;
            }
            i += (size_t)best;
        } else {
            img__litlen(out, data[i]);
            i++;
        }
    }
    img__litlen(out, 256);                         /* end of block */
    if (out->nbits) img__bits(out, 0, 8 - out->nbits);
    ad = img_adler32(data, n);
    img__byte(out, (unsigned char)(ad >> 24)); img__byte(out, (unsigned char)(ad >> 16));
    img__byte(out, (unsigned char)(ad >> 8));  img__byte(out, (unsigned char)ad);
    free(head); free(prev);
    return out->failed ? -1 : 0;
}

/* ------------------------------------------------------------------------- */
/* PNG                                                                       */
/* ------------------------------------------------------------------------- */

IMGDEF void img__u32be(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);  p[3] = (unsigned char)v;
}

/* One chunk: length (big-endian), 4-letter type, data, CRC-32 of type + data. */
IMGDEF void img__chunk(FILE *f, const char *type, const unsigned char *data, size_t n) {
    unsigned char hdr[8], crc[4];
    uint32_t c;
    img__u32be(hdr, (uint32_t)n);
    memcpy(hdr + 4, type, 4);
    c = img_crc32(0, hdr + 4, 4);
    c = img_crc32(c, data, n);
    img__u32be(crc, c);
    fwrite(hdr, 1, 8, f);
    if (n) fwrite(data, 1, n, f);
    fwrite(crc, 1, 4, f);
}

/* A PNG of an RGB8 image (w * h * 3 bytes, rows top to bottom):
     signature 89 50 4E 47 0D 0A 1A 0A
     IHDR  width, height, bit depth 8, color type 2 (RGB), compression 0,
           filter method 0, interlace 0
     IDAT  zlib stream of the rows, each prefixed with filter type 0 (none)
     IEND                                                                  */
IMGDEF int img_write_png(const char *path, const unsigned char *rgb, int w, int h) {
    static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A };
    unsigned char ihdr[13];
    size_t row = (size_t)w * 3 + 1, y;
    unsigned char *raw = (unsigned char *)malloc(row * (size_t)h);
    img_buf z;
    FILE *f;
    int rc = 0;
    memset(&z, 0, sizeof z);
    if (!raw) { fprintf(stderr, "img_write_png: out of memory for %s\n", path); return -1; }
    for (y = 0; y < (size_t)h; y++) {
        raw[y * row] = 0;
        memcpy(raw + y * row + 1, rgb + y * (size_t)w * 3, (size_t)w * 3);
    }
    if (img_zlib(raw, row * (size_t)h, &z) != 0) {
        fprintf(stderr, "img_write_png: out of memory compressing %s\n", path);
        free(raw); free(z.p); return -1;
    }
    f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "img_write_png: cannot open %s: %s\n", path, strerror(errno));
        free(raw); free(z.p); return -1;
    }
    img__u32be(ihdr, (uint32_t)w);
    img__u32be(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
    fwrite(sig, 1, 8, f);
    img__chunk(f, "IHDR", ihdr, 13);
    img__chunk(f, "IDAT", z.p, z.len);
    img__chunk(f, "IEND", NULL, 0);
    if (ferror(f) | fclose(f)) { fprintf(stderr, "img_write_png: error writing %s\n", path); rc = -1; }
    free(raw); free(z.p);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* a 5x7 bitmap font                                                         */
/* ------------------------------------------------------------------------- */

/* ASCII 32..126.  Each glyph is 9 rows of 5 bits, bit 4 = leftmost column:
   rows 0..6 hold capitals and digits, lowercase letters start at row 2, and
   rows 7..8 hold the descenders (g, j, p, q, y, comma).  Drawn by hand. */
#define IMG_GLYPH_W 5
#define IMG_GLYPH_H 9
static const unsigned char img_font[95][IMG_GLYPH_H] = {
    /* ' ' */ {0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00},
    /* '!' */ {0x04,0x04,0x04,0x04,0x04,0x00,0x04,0x00,0x00},
    /* '"' */ {0x0A,0x0A,0x00,0x00,0x00,0x00,0x00,0x00,0x00},
    /* '#' */ {0x0A,0x0A,0x1F,0x0A,0x1F,0x0A,0x0A,0x00,0x00},
    /* '$' */ {0x04,0x0F,0x14,0x0E,0x05,0x1E,0x04,0x00,0x00},
    /* '%' */ {0x18,0x19,0x02,0x04,0x08,0x13,0x03,0x00,0x00},
    /* '&' */ {0x0C,0x12,0x14,0x08,0x15,0x12,0x0D,0x00,0x00},
    /* ''' */ {0x04,0x04,0x00,0x00,0x00,0x00,0x00,0x00,0x00},
    /* '(' */ {0x02,0x04,0x08,0x08,0x08,0x04,0x02,0x00,0x00},
    /* ')' */ {0x08,0x04,0x02,0x02,0x02,0x04,0x08,0x00,0x00},
    /* '*' */ {0x00,0x04,0x15,0x0E,0x15,0x04,0x00,0x00,0x00},
    /* '+' */ {0x00,0x04,0x04,0x1F,0x04,0x04,0x00,0x00,0x00},
    /* ',' */ {0x00,0x00,0x00,0x00,0x00,0x0C,0x0C,0x04,0x08},
    /* '-' */ {0x00,0x00,0x00,0x1F,0x00,0x00,0x00,0x00,0x00},
    /* '.' */ {0x00,0x00,0x00,0x00,0x00,0x0C,0x0C,0x00,0x00},
    /* '/' */ {0x00,0x01,0x02,0x04,0x08,0x10,0x00,0x00,0x00},
    /* '0' */ {0x0E,0x11,0x13,0x15,0x19,0x11,0x0E,0x00,0x00},
    /* '1' */ {0x04,0x0C,0x04,0x04,0x04,0x04,0x0E,0x00,0x00},
    /* '2' */ {0x0E,0x11,0x01,0x02,0x04,0x08,0x1F,0x00,0x00},
    /* '3' */ {0x1F,0x02,0x04,0x02,0x01,0x11,0x0E,0x00,0x00},
    /* '4' */ {0x02,0x06,0x0A,0x12,0x1F,0x02,0x02,0x00,0x00},
    /* '5' */ {0x1F,0x10,0x1E,0x01,0x01,0x11,0x0E,0x00,0x00},
    /* '6' */ {0x06,0x08,0x10,0x1E,0x11,0x11,0x0E,0x00,0x00},
    /* '7' */ {0x1F,0x01,0x02,0x04,0x08,0x08,0x08,0x00,0x00},
    /* '8' */ {0x0E,0x11,0x11,0x0E,0x11,0x11,0x0E,0x00,0x00},
    /* '9' */ {0x0E,0x11,0x11,0x0F,0x01,0x02,0x0C,0x00,0x00},
    /* ':' */ {0x00,0x0C,0x0C,0x00,0x0C,0x0C,0x00,0x00,0x00},
    /* ';' */ {0x00,0x0C,0x0C,0x00,0x0C,0x0C,0x04,0x08,0x00},
    /* '<' */ {0x02,0x04,0x08,0x10,0x08,0x04,0x02,0x00,0x00},
    /* '=' */ {0x00,0x00,0x1F,0x00,0x1F,0x00,0x00,0x00,0x00},
    /* '>' */ {0x08,0x04,0x02,0x01,0x02,0x04,0x08,0x00,0x00},
    /* '?' */ {0x0E,0x11,0x01,0x02,0x04,0x00,0x04,0x00,0x00},
    /* '@' */ {0x0E,0x11,0x01,0x0D,0x15,0x15,0x0E,0x00,0x00},
    /* 'A' */ {0x0E,0x11,0x11,0x1F,0x11,0x11,0x11,0x00,0x00},
    /* 'B' */ {0x1E,0x11,0x11,0x1E,0x11,0x11,0x1E,0x00,0x00},
    /* 'C' */ {0x0E,0x11,0x10,0x10,0x10,0x11,0x0E,0x00,0x00},
    /* 'D' */ {0x1C,0x12,0x11,0x11,0x11,0x12,0x1C,0x00,0x00},
    /* 'E' */ {0x1F,0x10,0x10,0x1E,0x10,0x10,0x1F,0x00,0x00},
    /* 'F' */ {0x1F,0x10,0x10,0x1E,0x10,0x10,0x10,0x00,0x00},
    /* 'G' */ {0x0E,0x11,0x10,0x17,0x11,0x11,0x0F,0x00,0x00},
    /* 'H' */ {0x11,0x11,0x11,0x1F,0x11,0x11,0x11,0x00,0x00},
    /* 'I' */ {0x0E,0x04,0x04,0x04,0x04,0x04,0x0E,0x00,0x00},
    /* 'J' */ {0x07,0x02,0x02,0x02,0x02,0x12,0x0C,0x00,0x00},
    /* 'K' */ {0x11,0x12,0x14,0x18,0x14,0x12,0x11,0x00,0x00},
    /* 'L' */ {0x10,0x10,0x10,0x10,0x10,0x10,0x1F,0x00,0x00},
    /* 'M' */ {0x11,0x1B,0x15,0x15,0x11,0x11,0x11,0x00,0x00},
    /* 'N' */ {0x11,0x11,0x19,0x15,0x13,0x11,0x11,0x00,0x00},
    /* 'O' */ {0x0E,0x11,0x11,0x11,0x11,0x11,0x0E,0x00,0x00},
    /* 'P' */ {0x1E,0x11,0x11,0x1E,0x10,0x10,0x10,0x00,0x00},
    /* 'Q' */ {0x0E,0x11,0x11,0x11,0x15,0x12,0x0D,0x00,0x00},
    /* 'R' */ {0x1E,0x11,0x11,0x1E,0x14,0x12,0x11,0x00,0x00},
    /* 'S' */ {0x0F,0x10,0x10,0x0E,0x01,0x01,0x1E,0x00,0x00},
    /* 'T' */ {0x1F,0x04,0x04,0x04,0x04,0x04,0x04,0x00,0x00},
    /* 'U' */ {0x11,0x11,0x11,0x11,0x11,0x11,0x0E,0x00,0x00},
    /* 'V' */ {0x11,0x11,0x11,0x11,0x11,0x0A,0x04,0x00,0x00},
    /* 'W' */ {0x11,0x11,0x11,0x15,0x15,0x15,0x0A,0x00,0x00},
    /* 'X' */ {0x11,0x11,0x0A,0x04,0x0A,0x11,0x11,0x00,0x00},
    /* 'Y' */ {0x11,0x11,0x0A,0x04,0x04,0x04,0x04,0x00,0x00},
    /* 'Z' */ {0x1F,0x01,0x02,0x04,0x08,0x10,0x1F,0x00,0x00},
    /* '[' */ {0x0E,0x08,0x08,0x08,0x08,0x08,0x0E,0x00,0x00},
    /* 'backslash' */ {0x00,0x10,0x08,0x04,0x02,0x01,0x00,0x00,0x00},
    /* ']' */ {0x0E,0x02,0x02,0x02,0x02,0x02,0x0E,0x00,0x00},
    /* '^' */ {0x04,0x0A,0x11,0x00,0x00,0x00,0x00,0x00,0x00},
    /* '_' */ {0x00,0x00,0x00,0x00,0x00,0x00,0x1F,0x00,0x00},
    /* '`' */ {0x08,0x04,0x00,0x00,0x00,0x00,0x00,0x00,0x00},
    /* 'a' */ {0x00,0x00,0x0E,0x01,0x0F,0x11,0x0F,0x00,0x00},
    /* 'b' */ {0x10,0x10,0x16,0x19,0x11,0x11,0x1E,0x00,0x00},
    /* 'c' */ {0x00,0x00,0x0E,0x10,0x10,0x11,0x0E,0x00,0x00},
    /* 'd' */ {0x01,0x01,0x0D,0x13,0x11,0x11,0x0F,0x00,0x00},
    /* 'e' */ {0x00,0x00,0x0E,0x11,0x1F,0x10,0x0E,0x00,0x00},
    /* 'f' */ {0x06,0x09,0x08,0x1C,0x08,0x08,0x08,0x00,0x00},
    /* 'g' */ {0x00,0x00,0x0F,0x11,0x11,0x11,0x0F,0x01,0x0E},
    /* 'h' */ {0x10,0x10,0x16,0x19,0x11,0x11,0x11,0x00,0x00},
    /* 'i' */ {0x04,0x00,0x0C,0x04,0x04,0x04,0x0E,0x00,0x00},
    /* 'j' */ {0x02,0x00,0x06,0x02,0x02,0x02,0x02,0x12,0x0C},
    /* 'k' */ {0x10,0x10,0x12,0x14,0x18,0x14,0x12,0x00,0x00},
    /* 'l' */ {0x0C,0x04,0x04,0x04,0x04,0x04,0x0E,0x00,0x00},
    /* 'm' */ {0x00,0x00,0x1A,0x15,0x15,0x11,0x11,0x00,0x00},
    /* 'n' */ {0x00,0x00,0x16,0x19,0x11,0x11,0x11,0x00,0x00},
    /* 'o' */ {0x00,0x00,0x0E,0x11,0x11,0x11,0x0E,0x00,0x00},
    /* 'p' */ {0x00,0x00,0x1E,0x11,0x11,0x11,0x1E,0x10,0x10},
    /* 'q' */ {0x00,0x00,0x0F,0x11,0x11,0x11,0x0F,0x01,0x01},
    /* 'r' */ {0x00,0x00,0x16,0x19,0x10,0x10,0x10,0x00,0x00},
    /* 's' */ {0x00,0x00,0x0F,0x10,0x0E,0x01,0x1E,0x00,0x00},
    /* 't' */ {0x08,0x08,0x1C,0x08,0x08,0x09,0x06,0x00,0x00},
    /* 'u' */ {0x00,0x00,0x11,0x11,0x11,0x13,0x0D,0x00,0x00},
    /* 'v' */ {0x00,0x00,0x11,0x11,0x11,0x0A,0x04,0x00,0x00},
    /* 'w' */ {0x00,0x00,0x11,0x11,0x15,0x15,0x0A,0x00,0x00},
    /* 'x' */ {0x00,0x00,0x11,0x0A,0x04,0x0A,0x11,0x00,0x00},
    /* 'y' */ {0x00,0x00,0x11,0x11,0x11,0x11,0x0F,0x01,0x0E},
    /* 'z' */ {0x00,0x00,0x1F,0x02,0x04,0x08,0x1F,0x00,0x00},
    /* '{' */ {0x02,0x04,0x04,0x08,0x04,0x04,0x02,0x00,0x00},
    /* '|' */ {0x04,0x04,0x04,0x04,0x04,0x04,0x04,0x00,0x00},
    /* '}' */ {0x08,0x04,0x04,0x02,0x04,0x04,0x08,0x00,0x00},
    /* '~' */ {0x00,0x00,0x08,0x15,0x02,0x00,0x00,0x00,0x00},
};

typedef struct img_image { int w, h; unsigned char *rgb; } img_image;

/* A w x h canvas, white.  0 or -1. */
IMGDEF int img_image_new(img_image *im, int w, int h) {
    im->w = w; im->h = h;
    im->rgb = (unsigned char *)malloc((size_t)w * (size_t)h * 3);
    if (!im->rgb) { fprintf(stderr, "img_image_new: out of memory (%d x %d)\n", w, h); return -1; }
    memset(im->rgb, 255, (size_t)w * (size_t)h * 3);
    return 0;
}

IMGDEF void img_image_free(img_image *im) { free(im->rgb); im->rgb = NULL; }

/* Blend color c into pixel (x, y) with opacity a in [0, 1]; clipped. */
IMGDEF void img_blend(img_image *im, int x, int y, const unsigned char c[3], float a) {
    unsigned char *p;
    int k;
    if (x < 0 || y < 0 || x >= im->w || y >= im->h) return;
    p = im->rgb + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
    for (k = 0; k < 3; k++) p[k] = (unsigned char)(p[k] + a * ((float)c[k] - (float)p[k]) + 0.5f);
}

/* Each glyph takes 6 columns (one of spacing) times the scale. */
IMGDEF int img_text_width(const char *s, int scale) {
    return (int)strlen(s) * (IMG_GLYPH_W + 1) * scale - scale;
}

/* Text with its top-left corner at (x, y), every font pixel a scale x scale
   square; characters outside 32..126 are drawn as '?'. */
IMGDEF void img_text(img_image *im, int x, int y, const char *s, int scale, const unsigned char c[3]) {
    for (; *s; s++, x += (IMG_GLYPH_W + 1) * scale) {
        int ch = (unsigned char)*s, r, col, i, j;
        if (ch < 32 || ch > 126) ch = '?';
        for (r = 0; r < IMG_GLYPH_H; r++)
            for (col = 0; col < IMG_GLYPH_W; col++)
                if (img_font[ch - 32][r] >> (IMG_GLYPH_W - 1 - col) & 1)
                    for (i = 0; i < scale; i++)
                        for (j = 0; j < scale; j++)
                            img_blend(im, x + col * scale + j, y + r * scale + i, c, 1.0f);
    }
}


/* ------------------------------------------------------------------------- */
/* a grid of images                                                          */
/* ------------------------------------------------------------------------- */

/* n images x (n, C, H, W), C = 1 (grey) or 3 (RGB), values mapped linearly
   from [lo, hi] to 0..255 and clamped, laid out in rows of ncols with a gap
   of `gap` white pixels, and written as one PNG.  0 or -1. */
IMGDEF int img_write_grid_png(const char *path, const float *x, size_t n, int C, int H, int W,
                              int ncols, int gap, float lo, float hi) {
    size_t i;
    int nrows, rc, y, xx, k;
    img_image im;
    if (n == 0 || (C != 1 && C != 3) || H <= 0 || W <= 0 || ncols <= 0 || gap < 0 || !(hi > lo)) {
        fprintf(stderr, "img_write_grid_png: %s: bad arguments\n", path);
        return -1;
    }
    if ((size_t)ncols > n) ncols = (int)n;
    nrows = (int)((n + (size_t)ncols - 1) / (size_t)ncols);
    if (img_image_new(&im, gap + ncols * (W + gap), gap + nrows * (H + gap))) return -1;
    for (i = 0; i < n; i++) {
        int ox = gap + (int)(i % (size_t)ncols) * (W + gap), oy = gap + (int)(i / (size_t)ncols) * (H + gap);
        const float *img = x + i * (size_t)C * (size_t)H * (size_t)W;
        for (y = 0; y < H; y++)
            for (xx = 0; xx < W; xx++) {
                unsigned char *p = im.rgb + ((size_t)(oy + y) * (size_t)im.w + (size_t)(ox + xx)) * 3;
                for (k = 0; k < 3; k++) {
                    float v = img[((size_t)(C == 3 ? k : 0) * (size_t)H + (size_t)y) * (size_t)W + (size_t)xx];
                    float u = (v - lo) / (hi - lo) * 255.0f + 0.5f;
                    p[k] = (unsigned char)(u != u ? 0.0f : u < 0.0f ? 0.0f : u > 255.0f ? 255.0f : u);
                }
            }
    }
    rc = img_write_png(path, im.rgb, im.w, im.h);
    img_image_free(&im);
    return rc;
}

#endif /* IMG_H */
