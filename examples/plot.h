/* plot.h - figures for the 2D toy: .npy files, a small PNG writer (with its
   own deflate), a built-in bitmap font, and panels "samples over the class
   regions" composed into one PNG, like the papers' toy figures.

   Header-only and static; include it from ONE .c file (after ig.h).  Needs
   only libc + libm.

     plot_write_npy                 float (rows, cols) array as .npy v1.0
     plot_write_png                 RGB8 image as .png (zlib, fixed Huffman)
     plot_image_new / _free         an RGB canvas filled white
     plot_text, plot_text_width     draw text with the 5x7 font (scaled)
     plot_view_from_mixture         a square viewport around both trees
     plot_background_render / _free the orange / grey class regions, once
     plot_panel_draw                background + samples + title at (ox, oy)
     plot_figure                    K panels in a grid, written as one PNG   */
#ifndef PLOT_H
#define PLOT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include "toy2d_truth.h"

/* static inline: private to the including file, no unused-function warnings */
#define PLOTDEF static inline

/* ------------------------------------------------------------------------- */
/* .npy                                                                      */
/* ------------------------------------------------------------------------- */

/* The .npy v1.0 format:
     "\x93NUMPY"  1 0  <u16 little-endian header length HL>  header text
     then the raw data, row-major.
   The header text is a Python dict literal, padded with spaces and ended
   with '\n' so that 10 + HL is a multiple of 64:
     {'descr': '<f4', 'fortran_order': False, 'shape': (N, 2), }
   '<f4' is little-endian float32; we write the bytes in that order
   whatever the host's byte order. */
PLOTDEF int plot_write_npy(const char *path, const float *data, size_t rows, size_t cols) {
    char dict[160];
    unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0 };
    size_t len, total, i, n = rows * cols;
    FILE *f;
    sprintf(dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lu, %lu), }",
            (unsigned long)rows, (unsigned long)cols);
    len = strlen(dict);
    total = (10 + len + 1 + 63) / 64 * 64;          /* prelude + dict + '\n', rounded up */
    while (10 + len + 1 < total) dict[len++] = ' ';
    dict[len++] = '\n';
    pre[8] = (unsigned char)(len & 0xff);
    pre[9] = (unsigned char)(len >> 8);
    f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "plot_write_npy: cannot open %s: %s\n", path, strerror(errno)); return -1; }
    fwrite(pre, 1, 10, f);
    fwrite(dict, 1, len, f);
    for (i = 0; i < n; i++) {
        uint32_t u;
        unsigned char b[4];
        memcpy(&u, &data[i], 4);
        b[0] = (unsigned char)u; b[1] = (unsigned char)(u >> 8);
        b[2] = (unsigned char)(u >> 16); b[3] = (unsigned char)(u >> 24);
        fwrite(b, 1, 4, f);
    }
    if (ferror(f) | fclose(f)) { fprintf(stderr, "plot_write_npy: error writing %s\n", path); return -1; }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* checksums: CRC-32 (PNG chunks) and Adler-32 (zlib)                        */
/* ------------------------------------------------------------------------- */

/* CRC-32, the reflected polynomial 0xEDB88320: process bytes low bit first;
   crc = (crc >> 1) ^ (crc & 1 ? 0xEDB88320 : 0) per bit, with the register
   preset to all ones and inverted at the end.  A table does 8 bits at once. */
PLOTDEF uint32_t plot_crc32(uint32_t crc, const unsigned char *p, size_t n) {
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
PLOTDEF uint32_t plot_adler32(const unsigned char *p, size_t n) {
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
typedef struct plot_buf {
    unsigned char *p;
    size_t len, cap;
    uint32_t bits;   /* pending bits, low first */
    int nbits;
    int failed;      /* out of memory */
} plot_buf;

PLOTDEF void plot__byte(plot_buf *b, unsigned char c) {
    if (b->failed) return;
    if (b->len == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 65536;
        unsigned char *q = (unsigned char *)realloc(b->p, cap);
        if (!q) { b->failed = 1; return; }
        b->p = q; b->cap = cap;
    }
    b->p[b->len++] = c;
}

PLOTDEF void plot__bits(plot_buf *b, uint32_t value, int n) {
    b->bits |= value << b->nbits;
    b->nbits += n;
    while (b->nbits >= 8) { plot__byte(b, (unsigned char)b->bits); b->bits >>= 8; b->nbits -= 8; }
}

/* Huffman codes are defined most significant bit first, so they go into the
   LSB-first stream reversed. */
PLOTDEF void plot__code(plot_buf *b, uint32_t code, int n) {
    uint32_t r = 0;
    int i;
    for (i = 0; i < n; i++) r |= ((code >> i) & 1u) << (n - 1 - i);
    plot__bits(b, r, n);
}

/* The fixed literal/length code (RFC 1951, 3.2.6):
     0..143  : 8 bits, 00110000 + s        144..255: 9 bits, 110010000 + (s - 144)
     256..279: 7 bits, 0000000 + (s - 256) 280..287: 8 bits, 11000000 + (s - 280) */
PLOTDEF void plot__litlen(plot_buf *b, int s) {
    if (s < 144)      plot__code(b, 0x30u + (uint32_t)s, 8);
    else if (s < 256) plot__code(b, 0x190u + (uint32_t)(s - 144), 9);
    else if (s < 280) plot__code(b, (uint32_t)(s - 256), 7);
    else              plot__code(b, 0xC0u + (uint32_t)(s - 280), 8);
}

/* A match (length 3..258, distance 1..32768): a length symbol 257..285 with
   extra bits, then a 5-bit distance symbol 0..29 with extra bits. */
PLOTDEF void plot__match(plot_buf *b, int len, int dist) {
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
    plot__litlen(b, 257 + i);
    if (lextra[i]) plot__bits(b, (uint32_t)(len - lbase[i]), lextra[i]);
    plot__code(b, (uint32_t)j, 5);
    if (j >= 4) plot__bits(b, (uint32_t)(dist - dbase[j]), j / 2 - 1);
}

#define PLOT_WINDOW   32768
#define PLOT_HASH     65536
#define PLOT_CHAIN    48      /* candidates tried per position */

/* zlib stream of data: 2-byte header, ONE final fixed-Huffman deflate block,
   Adler-32 (big-endian).  LZ77: the last position of every 3-byte string is
   kept in a hash table (head) with links to older ones (prev); at each
   position the longest match among the first PLOT_CHAIN candidates wins
   (greedy), otherwise the byte goes out as a literal. */
PLOTDEF int plot_zlib(const unsigned char *data, size_t n, plot_buf *out) {
    int *head = (int *)malloc(PLOT_HASH * sizeof(int));
    int *prev = (int *)malloc(PLOT_WINDOW * sizeof(int));
    size_t i = 0;
    uint32_t ad;
    if (!head || !prev) { free(head); free(prev); return -1; }
    for (i = 0; i < PLOT_HASH; i++) head[i] = -1;
    plot__byte(out, 0x78); plot__byte(out, 0x01);  /* deflate, 32K window; (0x7801 % 31 == 0) */
    plot__bits(out, 1, 1);                          /* BFINAL = 1 */
    plot__bits(out, 1, 2);                          /* BTYPE = 01: fixed Huffman */
    i = 0;
    while (i < n) {
        int best = 0, bestd = 0;
        if (i + 3 <= n) {
            unsigned h = ((unsigned)data[i] * 506832829u ^ (unsigned)data[i + 1] * 2654435761u
                          ^ (unsigned)data[i + 2] * 40503u) >> 16 & (PLOT_HASH - 1);
            int cand = head[h], tries = PLOT_CHAIN;
            size_t maxlen = n - i < 258 ? n - i : 258;
            while (cand >= 0 && i - (size_t)cand <= PLOT_WINDOW && tries-- > 0) {
                size_t l = 0;
                while (l < maxlen && data[(size_t)cand + l] == data[i + l]) l++;
                if ((int)l > best) { best = (int)l; bestd = (int)(i - (size_t)cand); if (l == maxlen) break; }
                cand = prev[cand & (PLOT_WINDOW - 1)];
            }
            /* insert position i (and below, every position a match skips) */
            prev[i & (PLOT_WINDOW - 1)] = head[h];
            head[h] = (int)i;
        }
        if (best >= 3) {
            size_t k;
            plot__match(out, best, bestd);
            for (k = i + 1; k < i + (size_t)best && k + 3 <= n; k++) {
                unsigned h = ((unsigned)data[k] * 506832829u ^ (unsigned)data[k + 1] * 2654435761u
                              ^ (unsigned)data[k + 2] * 40503u) >> 16 & (PLOT_HASH - 1);
                prev[k & (PLOT_WINDOW - 1)] = head[h];
                head[h] = (int)k;
            }
            i += (size_t)best;
        } else {
            plot__litlen(out, data[i]);
            i++;
        }
    }
    plot__litlen(out, 256);                         /* end of block */
    if (out->nbits) plot__bits(out, 0, 8 - out->nbits);
    ad = plot_adler32(data, n);
    plot__byte(out, (unsigned char)(ad >> 24)); plot__byte(out, (unsigned char)(ad >> 16));
    plot__byte(out, (unsigned char)(ad >> 8));  plot__byte(out, (unsigned char)ad);
    free(head); free(prev);
    return out->failed ? -1 : 0;
}

/* ------------------------------------------------------------------------- */
/* PNG                                                                       */
/* ------------------------------------------------------------------------- */

PLOTDEF void plot__u32be(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);  p[3] = (unsigned char)v;
}

/* One chunk: length (big-endian), 4-letter type, data, CRC-32 of type + data. */
PLOTDEF void plot__chunk(FILE *f, const char *type, const unsigned char *data, size_t n) {
    unsigned char hdr[8], crc[4];
    uint32_t c;
    plot__u32be(hdr, (uint32_t)n);
    memcpy(hdr + 4, type, 4);
    c = plot_crc32(0, hdr + 4, 4);
    c = plot_crc32(c, data, n);
    plot__u32be(crc, c);
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
PLOTDEF int plot_write_png(const char *path, const unsigned char *rgb, int w, int h) {
    static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A };
    unsigned char ihdr[13];
    size_t row = (size_t)w * 3 + 1, y;
    unsigned char *raw = (unsigned char *)malloc(row * (size_t)h);
    plot_buf z;
    FILE *f;
    int rc = 0;
    memset(&z, 0, sizeof z);
    if (!raw) { fprintf(stderr, "plot_write_png: out of memory for %s\n", path); return -1; }
    for (y = 0; y < (size_t)h; y++) {
        raw[y * row] = 0;
        memcpy(raw + y * row + 1, rgb + y * (size_t)w * 3, (size_t)w * 3);
    }
    if (plot_zlib(raw, row * (size_t)h, &z) != 0) {
        fprintf(stderr, "plot_write_png: out of memory compressing %s\n", path);
        free(raw); free(z.p); return -1;
    }
    f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "plot_write_png: cannot open %s: %s\n", path, strerror(errno));
        free(raw); free(z.p); return -1;
    }
    plot__u32be(ihdr, (uint32_t)w);
    plot__u32be(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
    fwrite(sig, 1, 8, f);
    plot__chunk(f, "IHDR", ihdr, 13);
    plot__chunk(f, "IDAT", z.p, z.len);
    plot__chunk(f, "IEND", NULL, 0);
    if (ferror(f) | fclose(f)) { fprintf(stderr, "plot_write_png: error writing %s\n", path); rc = -1; }
    free(raw); free(z.p);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* a 5x7 bitmap font                                                         */
/* ------------------------------------------------------------------------- */

/* ASCII 32..126.  Each glyph is 9 rows of 5 bits, bit 4 = leftmost column:
   rows 0..6 hold capitals and digits, lowercase letters start at row 2, and
   rows 7..8 hold the descenders (g, j, p, q, y, comma).  Drawn by hand. */
#define PLOT_GLYPH_W 5
#define PLOT_GLYPH_H 9
static const unsigned char plot_font[95][PLOT_GLYPH_H] = {
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

typedef struct plot_image { int w, h; unsigned char *rgb; } plot_image;

/* A w x h canvas, white.  0 or -1. */
PLOTDEF int plot_image_new(plot_image *im, int w, int h) {
    im->w = w; im->h = h;
    im->rgb = (unsigned char *)malloc((size_t)w * (size_t)h * 3);
    if (!im->rgb) { fprintf(stderr, "plot_image_new: out of memory (%d x %d)\n", w, h); return -1; }
    memset(im->rgb, 255, (size_t)w * (size_t)h * 3);
    return 0;
}

PLOTDEF void plot_image_free(plot_image *im) { free(im->rgb); im->rgb = NULL; }

/* Blend color c into pixel (x, y) with opacity a in [0, 1]; clipped. */
PLOTDEF void plot_blend(plot_image *im, int x, int y, const unsigned char c[3], float a) {
    unsigned char *p;
    int k;
    if (x < 0 || y < 0 || x >= im->w || y >= im->h) return;
    p = im->rgb + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
    for (k = 0; k < 3; k++) p[k] = (unsigned char)(p[k] + a * ((float)c[k] - (float)p[k]) + 0.5f);
}

/* Each glyph takes 6 columns (one of spacing) times the scale. */
PLOTDEF int plot_text_width(const char *s, int scale) {
    return (int)strlen(s) * (PLOT_GLYPH_W + 1) * scale - scale;
}

/* Text with its top-left corner at (x, y), every font pixel a scale x scale
   square; characters outside 32..126 are drawn as '?'. */
PLOTDEF void plot_text(plot_image *im, int x, int y, const char *s, int scale, const unsigned char c[3]) {
    for (; *s; s++, x += (PLOT_GLYPH_W + 1) * scale) {
        int ch = (unsigned char)*s, r, col, i, j;
        if (ch < 32 || ch > 126) ch = '?';
        for (r = 0; r < PLOT_GLYPH_H; r++)
            for (col = 0; col < PLOT_GLYPH_W; col++)
                if (plot_font[ch - 32][r] >> (PLOT_GLYPH_W - 1 - col) & 1)
                    for (i = 0; i < scale; i++)
                        for (j = 0; j < scale; j++)
                            plot_blend(im, x + col * scale + j, y + r * scale + i, c, 1.0f);
    }
}

/* ------------------------------------------------------------------------- */
/* panels                                                                    */
/* ------------------------------------------------------------------------- */

/* Data coordinates shown in a panel: x in [x0, x1] left to right, y in
   [y0, y1] bottom to top. */
typedef struct plot_view { double x0, x1, y0, y1; } plot_view;

/* A square view around the component means of both classes, with a margin
   (in data units) on every side: about [-1.4, 1.4] x [-1.4, 1.5]. */
PLOTDEF plot_view plot_view_from_mixture(const toy_mixture *m, double margin) {
    double lo[2] = { HUGE_VAL, HUGE_VAL }, hi[2] = { -HUGE_VAL, -HUGE_VAL }, c[2], half;
    plot_view v;
    int cls, k, d;
    for (cls = 0; cls < 2; cls++)
        for (k = 0; k < TOY_NCOMP; k++)
            for (d = 0; d < 2; d++) {
                double u = m->comp[cls][k].mu[d];
                lo[d] = u < lo[d] ? u : lo[d];
                hi[d] = u > hi[d] ? u : hi[d];
            }
    for (d = 0; d < 2; d++) c[d] = 0.5 * (lo[d] + hi[d]);
    half = 0.5 * (hi[0] - lo[0] > hi[1] - lo[1] ? hi[0] - lo[0] : hi[1] - lo[1]) + margin;
    v.x0 = c[0] - half; v.x1 = c[0] + half;
    v.y0 = c[1] - half; v.y1 = c[1] + half;
    return v;
}

/* Figure colors. */
static const unsigned char plot_white[3]  = { 255, 255, 255 };
static const unsigned char plot_orange[3] = { 250, 176, 95 };   /* class A region */
static const unsigned char plot_grey[3]   = { 218, 218, 218 };  /* class B region */
static const unsigned char plot_black[3]  = { 0, 0, 0 };
static const unsigned char plot_frame[3]  = { 150, 150, 150 };

/* The class regions of one panel, rendered once and reused by every panel
   of a figure (this is the slow part: log p at every subpixel). */
typedef struct plot_background {
    int size;            /* the panel is size x size pixels          */
    plot_view view;
    unsigned char *rgb;  /* size * size * 3                           */
} plot_background;

/* Region of a class = { x : log p(x | class) >= level }, the level being the
   1% quantile of log p under the class itself (toy_outlier_threshold), so
   the region holds ~99% of the class's mass.  Class A (orange) is drawn over
   class B (grey).  Each pixel averages ss x ss subpixels (anti-aliasing). */
PLOTDEF int plot_background_render(plot_background *bg, toy_mixture *m, plot_view v, int size, int ss) {
    double la = toy_outlier_threshold(m, TOY_CLASS_A), lb = toy_outlier_threshold(m, TOY_CLASS_B);
    long row;
    bg->size = size; bg->view = v;
    bg->rgb = (unsigned char *)malloc((size_t)size * (size_t)size * 3);
    if (!bg->rgb) { fprintf(stderr, "plot_background_render: out of memory\n"); return -1; }
    if (ss < 1) ss = 1;
    TOY_OMP_FOR
    for (row = 0; row < size; row++) {
        int col, i, j, k;
        for (col = 0; col < size; col++) {
            double acc[3] = { 0, 0, 0 };
            for (i = 0; i < ss; i++)
                for (j = 0; j < ss; j++) {
                    /* subpixel center; pixel row 0 is the top (y1) */
                    double x = v.x0 + (v.x1 - v.x0) * (col + (j + 0.5) / ss) / size;
                    double y = v.y1 - (v.y1 - v.y0) * (row + (i + 0.5) / ss) / size;
                    const unsigned char *c = plot_white;
                    if (toy_logp(m, TOY_CLASS_A, x, y) >= la) c = plot_orange;
                    else if (toy_logp(m, TOY_CLASS_B, x, y) >= lb) c = plot_grey;
                    for (k = 0; k < 3; k++) acc[k] += c[k];
                }
            for (k = 0; k < 3; k++)
                bg->rgb[((size_t)row * (size_t)size + (size_t)col) * 3 + (size_t)k] =
                    (unsigned char)(acc[k] / (ss * ss) + 0.5);
        }
    }
    return 0;
}

PLOTDEF void plot_background_free(plot_background *bg) { free(bg->rgb); bg->rgb = NULL; }

#define PLOT_TITLE_SCALE 2
#define PLOT_TITLE_H     (PLOT_GLYPH_H * PLOT_TITLE_SCALE + 10)  /* band above a panel */

/* One panel with its top-left corner at (ox, oy) of the image: the title
   centered in a band of PLOT_TITLE_H pixels, below it the background, the
   samples xy (n points, interleaved) as black dots of dot x dot pixels, and a
   thin frame.  Samples outside the view are not drawn. */
PLOTDEF void plot_panel_draw(plot_image *im, int ox, int oy, const plot_background *bg,
                             const char *title, const float *xy, size_t n, int dot) {
    const plot_view *v = &bg->view;
    int s = bg->size, y0 = oy + PLOT_TITLE_H, r, i, j;
    size_t k;
    for (r = 0; r < s; r++)
        if (y0 + r >= 0 && y0 + r < im->h && ox >= 0 && ox + s <= im->w)
            memcpy(im->rgb + ((size_t)(y0 + r) * (size_t)im->w + (size_t)ox) * 3,
                   bg->rgb + (size_t)r * (size_t)s * 3, (size_t)s * 3);
    if (title)
        plot_text(im, ox + (s - plot_text_width(title, PLOT_TITLE_SCALE)) / 2, oy + 4,
                  title, PLOT_TITLE_SCALE, plot_black);
    if (dot < 1) dot = 1;
    for (k = 0; k < n; k++) {
        /* pixel of the dot's top-left corner, centered on the sample */
        double px = (xy[2 * k] - v->x0) / (v->x1 - v->x0) * s - 0.5 * dot;
        double py = (v->y1 - xy[2 * k + 1]) / (v->y1 - v->y0) * s - 0.5 * dot;
        int ix, iy;
        if (!(px > -dot && px < s && py > -dot && py < s)) continue;   /* also drops NaN */
        ix = (int)floor(px + 0.5); iy = (int)floor(py + 0.5);
        for (i = 0; i < dot; i++)
            for (j = 0; j < dot; j++)
                if (ix + j >= 0 && ix + j < s && iy + i >= 0 && iy + i < s)
                    plot_blend(im, ox + ix + j, y0 + iy + i, plot_black, 0.85f);
    }
    for (i = 0; i < s; i++) {                   /* frame */
        plot_blend(im, ox + i, y0, plot_frame, 1.0f);
        plot_blend(im, ox + i, y0 + s - 1, plot_frame, 1.0f);
        plot_blend(im, ox, y0 + i, plot_frame, 1.0f);
        plot_blend(im, ox + s - 1, y0 + i, plot_frame, 1.0f);
    }
}

#define PLOT_GAP 12   /* pixels between and around panels */

/* K panels in a grid of ncols columns, written as one PNG: panel p shows
   samples[p] (counts[p] points) under titles[p].  The view is chosen from
   the mixture; the regions are rendered once (2 x 2 subpixels).  0 or -1. */
PLOTDEF int plot_figure(const char *path, toy_mixture *m, int k, int ncols, int size,
                        const char *const *titles, const float *const *samples,
                        const size_t *counts, int dot) {
    plot_background bg;
    plot_image im;
    int nrows, p, rc;
    if (k < 1 || ncols < 1 || size < 16) { fprintf(stderr, "plot_figure: bad layout for %s\n", path); return -1; }
    if (ncols > k) ncols = k;
    nrows = (k + ncols - 1) / ncols;
    if (plot_background_render(&bg, m, plot_view_from_mixture(m, 0.08), size, 2) != 0) return -1;
    if (plot_image_new(&im, PLOT_GAP + ncols * (size + PLOT_GAP),
                       nrows * (PLOT_TITLE_H + size + PLOT_GAP) + PLOT_GAP / 2) != 0) {
        plot_background_free(&bg); return -1;
    }
    for (p = 0; p < k; p++) {
        int ox = PLOT_GAP + (p % ncols) * (size + PLOT_GAP);
        int oy = PLOT_GAP / 2 + (p / ncols) * (PLOT_TITLE_H + size + PLOT_GAP);
        plot_panel_draw(&im, ox, oy, &bg, titles ? titles[p] : NULL,
                        samples ? samples[p] : NULL, samples ? counts[p] : 0, dot);
    }
    rc = plot_write_png(path, im.rgb, im.w, im.h);
    plot_image_free(&im);
    plot_background_free(&bg);
    return rc;
}

#endif /* PLOT_H */
