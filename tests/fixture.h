/* fixture.h - reading the PyTorch reference's fixture files (safetensors) in
   the parity tests (test_model.c, test_ldit.c), and comparing against them.
   Include after ig.h. */
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
    if (!t) { fprintf(stderr, "    %s: no tensor %s\n", st->filename, name); return NULL; }
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

/* A model loaded from a fixture file (the architecture read off the file), its
   scratch arena and tape for `batch` rows, and the file itself, open for the
   reference tensors.  fix_open returns 0, or 1 with the reason on stderr. */
typedef struct { ig_model m; ig_arena scratch; ig_ctx ctx; ig_st_file st; } fix_model;

static inline int fix_open(fix_model *f, const char *path, size_t batch, int training) {
    ig_config cfg;
    if (ig_config_from_file(&cfg, path, 0, 0)) { fprintf(stderr, "    %s\n", ig_last_error()); return 1; }
    if (ig_model_init(&f->m, &cfg, training, 0)) { fprintf(stderr, "    %s\n", ig_last_error()); return 1; }
    if (ig_load(&f->m, path, 0)) { fprintf(stderr, "    %s\n", ig_last_error()); return 1; }
    if (ig_arena_init(&f->scratch, "scratch", ig_model_scratch_bytes(&cfg, batch, 1))) return 1;
    if (ig_ctx_init(&f->ctx, &f->scratch, ig_model_tape_nodes(&cfg))) return 1;
    if (ig_st_open(&f->st, path)) { fprintf(stderr, "    %s\n", ig_last_error()); return 1; }
    return 0;
}

static inline void fix_close(fix_model *f) {
    ig_st_close(&f->st);
    ig_arena_free(&f->scratch);
    ig_model_free(&f->m);
}

/* The worst error of the trainable parameters against the file's tensors
   "<prefix><name>": with grads, fix_rel of each parameter's gradient (relative
   to the reference's scale); else max |w - ref| of its weights.  Returns 0, or
   1 when a reference tensor is missing or of another size (*worst_name then
   names that parameter). */
static inline int fix_worst(fix_model *f, const char *prefix, int grads, double *worst, const char **worst_name) {
    int p;
    *worst = 0; *worst_name = "";
    for (p = 0; p < f->m.nparams; p++) {
        const ig_param *pp = &f->m.params[p];
        char key[96];
        size_t n, k;
        float *ref;
        double e = 0;
        if (!pp->trainable) continue;
        snprintf(key, sizeof key, "%s%s", prefix, pp->name);
        ref = fix_f32(&f->st, key, &n);
        if (!ref || n != pp->t->n) { free(ref); *worst_name = pp->name; return 1; }
        if (grads) e = fix_rel(pp->t->grad, ref, n);
        else
            for (k = 0; k < n; k++)
                if (fabs((double)pp->t->data[k] - ref[k]) > e) e = fabs((double)pp->t->data[k] - ref[k]);
        if (e > *worst) { *worst = e; *worst_name = pp->name; }
        free(ref);
    }
    return 0;
}
#endif
