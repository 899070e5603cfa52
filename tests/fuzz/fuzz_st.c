/* fuzz_st.c - libFuzzer target for the safetensors reader and writer (ig.h Appendix B).
   Build and run with `make fuzz` (clang -fsanitize=fuzzer,address,undefined);
   seeds in tests/fuzz/corpus_st/.

   Input byte 0 selects the mode:
     odd   the rest is the JSON header; the harness adds the 8-byte length and
           a zero data section of 64 << ((byte0 >> 1) & 15) bytes (64 B .. 2 MiB),
           so a real header (seed: tests/fixtures/point.safetensors's, byte 0 =
           0x1d, 1 MiB) opens and the fuzzer explores from a valid file;
     even  the rest is the whole file.
   Properties, any violation aborts:
     - a failed open names the file in ig_last_error();
     - an opened file: every tensor reads (F32/F16/BF16 as float, I64/I32/U8
       as int64, all raw), is found by name, every metadata key is found;
     - writing its convertible tensors and all metadata back with the writer and
       opening the result gives the same names, dtypes, shapes, bytes, metadata. */
#define _POSIX_C_SOURCE 200809L /* getpid, ftruncate, fileno */
#define IG_IMPLEMENTATION
#include "../../ig.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include "scratch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    scratch_init("fuzz_st", ".safetensors", ".rt");
    return 0;
}

static int is_little_endian(void) { uint16_t x = 1; unsigned char c; memcpy(&c, &x, 1); return c == 1; }

/* Raw bytes of every tensor (NULL for an empty one). */
static unsigned char **read_all(ig_st_file *st)
{
    unsigned char **raw = (unsigned char **)calloc((size_t)st->ntensors + 1, sizeof *raw);
    int i;
    if (!raw) abort();
    for (i = 0; i < st->ntensors; i++) {
        const ig_st_tensor *t = &st->tensors[i];
        size_t n = ig_st_numel(t), nb = t->end - t->begin;
        void *buf = malloc(n * 8 + 1); /* n <= data size <= 2 MiB or the input size */
        int rc;
        if (!buf) abort();
        if (t->dtype == IG_F32 || t->dtype == IG_F16 || t->dtype == IG_BF16)
            rc = ig_st_read_f32(st, t, (float *)buf, n);
        else if (t->dtype == IG_I64 || t->dtype == IG_I32 || t->dtype == IG_U8)
            rc = ig_st_read_i64(st, t, (int64_t *)buf, n);
        else
            rc = 0;
        if (rc != 0) abort(); /* a validated tensor must be readable */
        if (nb) {
            raw[i] = (unsigned char *)realloc(buf, nb);
            if (!raw[i] || ig_st_read_raw(st, t, raw[i], nb) != 0) abort();
        } else free(buf);
        if (ig_st_find(st, t->name) != t) abort();
    }
    for (i = 0; i < st->nmeta; i++)
        if (ig_st_meta(st, st->meta_keys[i]) != st->meta_vals[i]) abort();
    return raw;
}

static void free_all(unsigned char **raw, int n)
{
    int i;
    for (i = 0; i < n; i++) free(raw[i]);
    free(raw);
}

/* Write the convertible tensors and all metadata back, reopen, compare. */
static void roundtrip(ig_st_file *st, unsigned char **raw)
{
    ig_st_writer w;
    ig_st_file b;
    unsigned char **raw2;
    int i, j, k;
    ig_st_writer_init(&w);
    for (i = 0; i < st->ntensors; i++) {
        const ig_st_tensor *t = &st->tensors[i];
        if (t->dtype == IG_DTYPE_OTHER) continue;
        if (ig_st_add(&w, t->name, t->dtype, t->ndim, t->shape, raw[i]) != 0) abort();
    }
    for (i = 0; i < st->nmeta; i++)
        if (ig_st_add_meta(&w, st->meta_keys[i], st->meta_vals[i]) != 0) abort();
    if (ig_st_writer_save(&w, path2) != 0) abort();
    ig_st_writer_free(&w);
    if (ig_st_open(&b, path2) != 0) abort();
    raw2 = read_all(&b);
    if (b.nmeta != st->nmeta) abort();
    for (i = 0; i < st->nmeta; i++)
        if (strcmp(b.meta_keys[i], st->meta_keys[i]) != 0 || strcmp(b.meta_vals[i], st->meta_vals[i]) != 0) abort();
    for (i = 0, j = 0; i < st->ntensors; i++) {
        const ig_st_tensor *t = &st->tensors[i], *u;
        if (t->dtype == IG_DTYPE_OTHER) continue;
        if (j >= b.ntensors) abort();
        u = &b.tensors[j];
        if (strcmp(t->name, u->name) != 0 || t->dtype != u->dtype || t->ndim != u->ndim ||
            t->end - t->begin != u->end - u->begin) abort();
        for (k = 0; k < t->ndim; k++) if (t->shape[k] != u->shape[k]) abort();
        if (t->end > t->begin && memcmp(raw[i], raw2[j], t->end - t->begin) != 0) abort();
        j++;
    }
    if (j != b.ntensors) abort();
    free_all(raw2, b.ntensors);
    ig_st_close(&b);
    remove(path2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ig_st_file st;
    unsigned char **raw;
    FILE *f;
    int i;
    if (size < 1) return 0;
    remove(path); /* a fresh file: rewriting in place is slow on ext4 (auto_da_alloc) */
    f = fopen(path, "wb");
    if (!f) abort();
    if (data[0] & 1) {
        unsigned char len[8];
        uint64_t n = (uint64_t)(size - 1);
        long dsize = 64L << ((data[0] >> 1) & 15);
        for (i = 0; i < 8; i++) len[i] = (unsigned char)(n >> (8 * i));
        if (fwrite(len, 1, 8, f) != 8 || fwrite(data + 1, 1, size - 1, f) != size - 1) abort();
        if (fflush(f) != 0 || ftruncate(fileno(f), (off_t)(8 + (size - 1) + (size_t)dsize)) != 0) abort();
    } else if (size > 1 && fwrite(data + 1, 1, size - 1, f) != size - 1) {
        abort();
    }
    if (fclose(f) != 0) abort();
    if (ig_st_open(&st, path) != 0) {
        if (!strstr(ig_last_error(), path)) abort(); /* every error must name the file */
        return 0;
    }
    raw = read_all(&st);
    if (is_little_endian()) roundtrip(&st, raw); /* raw bytes are little-endian */
    free_all(raw, st.ntensors);
    ig_st_close(&st);
    return 0;
}
