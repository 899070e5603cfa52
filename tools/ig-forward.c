/* ig-forward - run a SiT or LightningDiT checkpoint on inputs from a file;
   optionally the parameter gradients of a probe loss.  Used to check ig.h
   against PyTorch (tools/ref_ig.py, tools/ref_lightningdit.py).

   build/ig-forward --ckpt W.safetensors --inputs I.safetensors --out O.safetensors
                    [--heads N] [--aux-depth K]

   Inputs:  input.x (N,C,H,W) F32, input.t (N) F32 in [0, 1], input.y (N) I64
            or I32 in 0..num_classes (y = num_classes is the null label).
            Every value is checked: a NaN or Inf, a t outside [0, 1] or a
            label out of range is an error naming the tensor and the element.
   Outputs: output.v and output.v_aux (N,C,H,W) F32.  If the inputs also hold
            probe.r and probe.r_aux, also grad.<name> for every trainable
            parameter: the gradient of L = sum(r * v) + 0.5 sum(r_aux * v_aux).
   Heads and k come from the flags, else the checkpoint's metadata.  W and I
   may be the same file (tensors other than parameters are then skipped).
   The kind of network is read from the file (a LightningDiT checkpoint has
   mlp.w12, norm1 and feat_rope.*; its heads come from feat_rope's head dim).
   The bare network runs as its release does: input.t is in the checkpoint's
   own time convention (LightningDiT: t = 0 is noise) and output.v, output.v_aux
   and grad.* are the raw network's, with no sign or time conversion.

   Compile with IG_FORWARD_NO_MAIN to call forward_main() from another program
   (the tests do); IG_IMPLEMENTATION must then come from another file. */
#ifndef IG_FORWARD_NO_MAIN
#define _POSIX_C_SOURCE 200809L /* before any #include: ig.h's saves fsync and check the destination */
#define IG_IMPLEMENTATION
#endif
#include "../ig.h"
#include "../examples/cli.h"
#include <stdlib.h>
#include <string.h>

#define FORWARD_MAX_SAMPLES (1 << 20)   /* N: far above any check, far below size_t overflow */

static int usage_to(FILE *f, int rc) {
    fprintf(f, "usage: ig-forward --ckpt W.safetensors --inputs I.safetensors --out O.safetensors "
               "[--heads N] [--aux-depth K]\n");
    return rc;
}
static int usage(void) { return usage_to(stderr, 2); }

/* A whole float tensor of an open file, checked against an expected count;
   every element must be finite (and in [lo, hi]: t is a time in [0, 1]). */
static float *read_floats(ig_st_file *st, const char *name, size_t expect, double lo, double hi) {
    const ig_st_tensor *t = ig_st_find(st, name);
    float *buf;
    size_t i;
    if (!t) {
        fprintf(stderr, "ig-forward: %s: missing tensor '%s'\n", st->filename, name);
        return NULL;
    }
    if (ig_st_numel(t) != expect) {
        fprintf(stderr, "ig-forward: %s: '%s' has %zu elements, expected %zu\n", st->filename, name, ig_st_numel(t), expect);
        return NULL;
    }
    buf = (float *)malloc(expect * sizeof(float) + 1);
    if (!buf || ig_st_read_f32(st, t, buf, expect)) {
        fprintf(stderr, "ig-forward: %s\n", buf ? ig_last_error() : "out of memory");
        free(buf);
        return NULL;
    }
    for (i = 0; i < expect; i++)
        if (!isfinite(buf[i]) || buf[i] < lo || buf[i] > hi) {
            fprintf(stderr, "ig-forward: %s: '%s' element %zu is %g (must be %s)\n", st->filename, name, i,
                    (double)buf[i], isfinite(hi) ? "finite, in [0, 1]" : "finite");
            free(buf);
            return NULL;
        }
    return buf;
}

/* The labels as ints: read as int64 and range-checked BEFORE the cast, so a
   2^32 cannot wrap around to a valid label. */
static int *read_labels(ig_st_file *st, const ig_st_tensor *ty, size_t N, int num_classes) {
    int64_t *y64 = (int64_t *)malloc(N * sizeof(int64_t) + 1);
    int *y = (int *)malloc(N * sizeof(int) + 1);
    size_t k;
    if (!y64 || !y) { fprintf(stderr, "ig-forward: out of memory\n"); goto fail; }
    if (ig_st_numel(ty) != N) {
        fprintf(stderr, "ig-forward: %s: 'input.y' has %zu elements, expected N = %zu\n", st->filename, ig_st_numel(ty), N);
        goto fail;
    }
    if (ig_st_read_i64(st, ty, y64, N)) { fprintf(stderr, "ig-forward: %s\n", ig_last_error()); goto fail; }
    for (k = 0; k < N; k++) {
        if (y64[k] < 0 || y64[k] > num_classes) {
            fprintf(stderr, "ig-forward: %s: 'input.y' element %zu is %lld, outside 0..%d (%d is the null label)\n",
                    st->filename, k, (long long)y64[k], num_classes, num_classes);
            goto fail;
        }
        y[k] = (int)y64[k];
    }
    free(y64);
    return y;
fail:
    free(y64); free(y);
    return NULL;
}

int forward_main(int argc, char **argv);

int forward_main(int argc, char **argv) {
    const char *ckpt = NULL, *inputs = NULL, *out = NULL;
    int heads = 0, aux_depth = 0, i, rc = 1, with_grads;
    ig_config cfg;
    ig_model m;
    ig_arena scratch;
    ig_ctx ctx;
    ig_st_file in;
    ig_st_writer w;
    const ig_st_tensor *tx, *ty;
    size_t N, per, k, shape[4];
    float *x = NULL, *t = NULL, *r = NULL, *ra = NULL;
    int64_t oshape[4];
    int *y = NULL;
    ig_tensor *xt, *v, *va;
    char (*names)[96] = NULL;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val;
        long long n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage_to(stdout, 0);
        if (strcmp(a, "--ckpt") && strcmp(a, "--inputs") && strcmp(a, "--out") && strcmp(a, "--heads") &&
            strcmp(a, "--aux-depth")) {
            fprintf(stderr, "ig-forward: unknown option '%s'\n", a);
            return usage();
        }
        if (!(val = cli_value("ig-forward", argc, argv, &i))) return 2;
        if (!strcmp(a, "--ckpt")) ckpt = val;
        else if (!strcmp(a, "--inputs")) inputs = val;
        else if (!strcmp(a, "--out")) out = val;
        else {   /* --heads, --aux-depth: 1..4096 (the checkpoint's config check does the rest) */
            if (cli_int("ig-forward", a, val, 1, 4096, &n)) return 2;
            if (!strcmp(a, "--heads")) heads = (int)n; else aux_depth = (int)n;
        }
    }
    if (!ckpt || !inputs || !out) return usage();
    if (ig_config_from_file(&cfg, ckpt, heads, aux_depth)) { fprintf(stderr, "ig-forward: %s\n", ig_last_error()); return 1; }
    if (ig_st_open(&in, inputs)) { fprintf(stderr, "ig-forward: %s\n", ig_last_error()); return 1; }
    tx = ig_st_find(&in, "input.x");
    ty = ig_st_find(&in, "input.y");
    if (!tx || tx->ndim != 4 || tx->shape[1] != cfg.in_channels || tx->shape[2] != cfg.image_height ||
        tx->shape[3] != cfg.image_width || !ty) {
        fprintf(stderr, "ig-forward: %s: needs input.x of shape (N,%d,%d,%d), input.t (N) and input.y (N)\n",
                inputs, cfg.in_channels, cfg.image_height, cfg.image_width);
        ig_st_close(&in);
        return 1;
    }
    if (tx->shape[0] < 1 || tx->shape[0] > FORWARD_MAX_SAMPLES) {
        fprintf(stderr, "ig-forward: %s: input.x holds %lld samples; need 1..%d\n", inputs,
                (long long)tx->shape[0], FORWARD_MAX_SAMPLES);
        ig_st_close(&in);
        return 1;
    }
    N = (size_t)tx->shape[0];
    per = (size_t)cfg.in_channels * (size_t)cfg.image_height * (size_t)cfg.image_width;
    with_grads = ig_st_find(&in, "probe.r") && ig_st_find(&in, "probe.r_aux");
    memset(&m, 0, sizeof m);
    memset(&scratch, 0, sizeof scratch);
    /* inputs first: a bad value is reported before any large allocation */
    x = read_floats(&in, "input.x", N * per, -HUGE_VAL, HUGE_VAL);
    t = x ? read_floats(&in, "input.t", N, 0.0, 1.0) : NULL;
    y = t ? read_labels(&in, ty, N, cfg.num_classes) : NULL;
    if (!y) goto done;
    if (with_grads) {
        r = read_floats(&in, "probe.r", N * per, -HUGE_VAL, HUGE_VAL);
        ra = r ? read_floats(&in, "probe.r_aux", N * per, -HUGE_VAL, HUGE_VAL) : NULL;
        if (!ra) goto done;
    }
    if (ig_model_init(&m, &cfg, with_grads, 0) || ig_load(&m, ckpt, 0) ||
        /* the step's exact size, plus this tool's own tensors of the output's size:
           x, R, R_aux, the two products and their gradients, with headers and padding */
        ig_arena_init(&scratch, "scratch", ig_model_scratch_bytes(&cfg, N, with_grads) + 8 * (N * per * sizeof(float) + 256)) ||
        ig_ctx_init(&ctx, &scratch, ig_model_tape_nodes(&cfg) + 8)) {
        fprintf(stderr, "ig-forward: %s\n", ig_last_error());
        goto done;
    }
    if (ig_ctx_reset(&ctx, with_grads)) { fprintf(stderr, "ig-forward: %s\n", ig_last_error()); goto done; }
    shape[0] = N; shape[1] = (size_t)cfg.in_channels; shape[2] = (size_t)cfg.image_height; shape[3] = (size_t)cfg.image_width;
    xt = ig_tensor_new(&scratch, 4, shape, 0);
    if (!xt) { fprintf(stderr, "ig-forward: %s\n", ig_last_error()); goto done; }
    memcpy(xt->data, x, N * per * sizeof(float));
    if (ig_forward(&m, &ctx, xt, t, y, &v, &va)) { fprintf(stderr, "ig-forward: %s\n", ig_last_error()); goto done; }
    if (with_grads) {   /* L = sum(r * v) + 0.5 sum(r_aux * v_aux) */
        ig_tensor *R = ig_tensor_new(&scratch, 4, shape, 0), *Ra = ig_tensor_new(&scratch, 4, shape, 0), *L;
        if (!R || !Ra) { fprintf(stderr, "ig-forward: %s\n", ig_last_error()); goto done; }
        memcpy(R->data, r, N * per * sizeof(float));
        memcpy(Ra->data, ra, N * per * sizeof(float));
        L = ig_add(&ctx, ig_sum(&ctx, ig_mul(&ctx, v, R)), ig_scale(&ctx, ig_sum(&ctx, ig_mul(&ctx, va, Ra)), 0.5f));
        if (ig_backward(&ctx, L)) { fprintf(stderr, "ig-forward: %s\n", ig_last_error()); goto done; }
    }
    ig_st_writer_init(&w);
    for (k = 0; k < 4; k++) oshape[k] = (int64_t)shape[k];
    ig_st_add(&w, "output.v", IG_F32, 4, oshape, v->data);
    ig_st_add(&w, "output.v_aux", IG_F32, 4, oshape, va->data);
    if (with_grads) {
        names = (char (*)[96])malloc((size_t)m.nparams * sizeof *names);
        if (!names) goto done;
        for (i = 0; i < m.nparams; i++) {
            int64_t ps[IG_MAX_DIMS];
            int d;
            if (!m.params[i].trainable) continue;
            for (d = 0; d < m.params[i].t->ndim; d++) ps[d] = (int64_t)m.params[i].t->shape[d];
            snprintf(names[i], sizeof names[i], "grad.%s", m.params[i].name);
            ig_st_add(&w, names[i], IG_F32, m.params[i].t->ndim, ps, m.params[i].t->grad);
        }
    }
    if (ig_st_writer_save(&w, out)) fprintf(stderr, "ig-forward: %s\n", ig_last_error());
    else {
        printf("ig-forward: %zu samples through %d blocks (%s, D %d, heads %d, head after block %d) -> %s%s\n", N,
               cfg.depth, cfg.arch == IG_ARCH_LIGHTNING ? "LightningDiT" : "SiT", cfg.hidden_size, cfg.num_heads,
               cfg.aux_depth, out, with_grads ? " (with gradients)" : "");
        rc = 0;
    }
    ig_st_writer_free(&w);
done:
    free(x); free(t); free(r); free(ra); free(y); free(names);
    ig_st_close(&in);
    ig_arena_free(&scratch);
    ig_model_free(&m);
    return rc;
}

#ifndef IG_FORWARD_NO_MAIN
int main(int argc, char **argv) { return forward_main(argc, argv); }
#endif
