/* fixture.h - reading the PyTorch reference's fixture files (safetensors) in
   the parity tests, and comparing against them.  Include after ig.h. */
#ifndef IG_TEST_FIXTURE_H
#define IG_TEST_FIXTURE_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* A float tensor of a safetensors file, in a malloc'd buffer (or NULL). */
static inline float *fix_f32(ig_st_file *st, const char *name, size_t *n) {
    const ig_st_tensor *t = ig_st_find(st, name);
    float *buf;
    *n = 0;
    if (!t) { fprintf(stderr, "    %s: no tensor %s\n", st->path, name); return NULL; }
    *n = ig_st_numel(t);
    buf = (float *)malloc(*n * sizeof(float) + 1);
    if (ig_st_read_f32(st, t, buf, *n)) { fprintf(stderr, "    %s\n", ig_last_error()); free(buf); return NULL; }
    return buf;
}

/* An integer tensor (labels) as ints, in a malloc'd buffer (or NULL). */
static inline int *fix_labels(ig_st_file *st, const char *name, size_t *n) {
    const ig_st_tensor *t = ig_st_find(st, name);
    int64_t *tmp;
    int *out;
    size_t i;
    *n = 0;
    if (!t) return NULL;
    *n = ig_st_numel(t);
    tmp = (int64_t *)malloc(*n * sizeof(int64_t) + 1);
    out = (int *)malloc(*n * sizeof(int) + 1);
    if (ig_st_read_i64(st, t, tmp, *n)) { free(tmp); free(out); return NULL; }
    for (i = 0; i < *n; i++) out[i] = (int)tmp[i];
    free(tmp);
    return out;
}

/* max |a - b| / max |b|: the error relative to the tensor's scale */
static inline double fix_rel(const float *a, const float *b, size_t n) {
    double num = 0, den = 1e-30;
    size_t i;
    for (i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > num) num = d;
        if (fabs(b[i]) > den) den = fabs(b[i]);
    }
    return num / den;
}
#endif
