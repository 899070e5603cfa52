/* make_seeds.c - writes the committed seed corpora of the fuzz targets:
       cc -std=c99 -o build/make_seeds tests/fuzz/make_seeds.c -lm && ./build/make_seeds
   corpus_ckpt/: byte 0 = options (see fuzz_ckpt.c), then a tiny model's checkpoint
   (C 1, 2x2, patch 1, D 4, 2 blocks, 1 head, 2 classes, head after block 1): with
   training state, weights only, and without metadata (sizes from the shapes).
   corpus_st/: byte 0 = 0x00 (whole file), a small file of every writable dtype. */
#define _POSIX_C_SOURCE 200809L
#define IG_IMPLEMENTATION
#include "../../ig.h"
#include <stdio.h>
#include <stdlib.h>

/* Writes byte0 + the contents of src to dst. */
static int prefix_copy(const char *src, const char *dst, int byte0) {
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    int c;
    if (!in || !out) { fprintf(stderr, "make_seeds: cannot copy %s to %s\n", src, dst); exit(1); }
    fputc(byte0, out);
    while ((c = fgetc(in)) != EOF) fputc(c, out);
    fclose(in);
    return fclose(out);
}

int main(void) {
    ig_config cfg = { 1, 2, 2, 1, 4, 2, 1, 2, 1, 1.0f, IG_ARCH_SIT };
    const char *tmp = "build/seed.tmp.safetensors";
    ig_model m;
    ig_st_writer w;
    float f32[3] = { 1.0f, -2.0f, 0.5f };
    uint16_t h[2] = { 0x3c00, 0x3f80 };
    int64_t i64[2] = { -1, 1 }, s1[1] = { 1 }, s2[1] = { 2 }, s3[1] = { 3 };
    int32_t i32[1] = { 7 };
    uint8_t u8[2] = { 0, 255 };
    int i, p, k;
    int64_t shape[4];
    if (ig_model_init(&m, &cfg, 1, 3)) { fprintf(stderr, "%s\n", ig_last_error()); return 1; }
    for (i = 0; (size_t)i < m.nweights; i++) {           /* nonzero state, so that the round trip means something */
        m.weights[i] = 0.01f * (float)(i % 13); m.ema[i] = 0.5f * m.weights[i];
        m.adam_m[i] = 1e-3f; m.adam_v[i] = 1e-6f;
    }
    m.step = 5;
    if (ig_save(&m, tmp, 1)) { fprintf(stderr, "%s\n", ig_last_error()); return 1; }
    prefix_copy(tmp, "tests/fuzz/corpus_ckpt/train", 0x03);
    if (ig_save(&m, tmp, 0)) { fprintf(stderr, "%s\n", ig_last_error()); return 1; }
    prefix_copy(tmp, "tests/fuzz/corpus_ckpt/weights", 0x00);
    ig_st_writer_init(&w);                                 /* no metadata: heads and aux_depth from byte 0 */
    for (p = 0; p < m.nparams; p++) {
        for (k = 0; k < m.params[p].t->ndim; k++) shape[k] = (int64_t)m.params[p].t->shape[k];
        ig_st_add(&w, m.params[p].name, IG_F32, m.params[p].t->ndim, shape, m.weights + m.params[p].offset);
    }
    if (ig_st_writer_save(&w, tmp)) { fprintf(stderr, "%s\n", ig_last_error()); return 1; }
    ig_st_writer_free(&w);
    prefix_copy(tmp, "tests/fuzz/corpus_ckpt/nometa", 0x15);   /* heads 1, aux_depth 1, strict */
    ig_model_free(&m);
    ig_st_writer_init(&w);
    ig_st_add(&w, "f32", IG_F32, 1, s3, f32); ig_st_add(&w, "f16", IG_F16, 1, s1, h);
    ig_st_add(&w, "bf16", IG_BF16, 1, s1, h + 1); ig_st_add(&w, "i64", IG_I64, 1, s2, i64);
    ig_st_add(&w, "i32", IG_I32, 0, NULL, i32); ig_st_add(&w, "u8", IG_U8, 1, s2, u8);
    ig_st_add_meta(&w, "format", "pt");
    if (ig_st_writer_save(&w, tmp)) { fprintf(stderr, "%s\n", ig_last_error()); return 1; }
    ig_st_writer_free(&w);
    prefix_copy(tmp, "tests/fuzz/corpus_st/dtypes", 0x00);
    remove(tmp);
    return 0;
}
