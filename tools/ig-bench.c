/* ig-bench - time one training step and one forward pass, the same work as
   the PyTorch measuring script (../shared/bench/ref_sit.py), and print one
   JSON line with the same fields.

   build/ig-bench --config toy2d|fmnist|latent|tiny|point [--steps N]
   build/ig-bench --matmul N        GFLOP/s of an N x N x N float32 matmul
   build/ig-bench --config NAME --sampling [--steps N]
                                    time N Euler steps at batch B without
                                    guidance, with IG and with CFG

   The training step: t ~ U(0,1), x_t = (1 - t) x + t eps, loss =
   mse(final, eps - x) + 0.5 mse(intermediate, eps - x), backward, clip the
   gradient norm at 1.0, AdamW (lr 1e-4).  Two warm-up steps, then the mean
   of N steps.  The forward: both heads at batch B, t = 0.5, no tape. */
#define _POSIX_C_SOURCE 200809L
#define IG_IMPLEMENTATION
#include "../ig.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

typedef struct { const char *name; int C, H, W, p, D, L, heads, ncls, k, B; } bench_config;

static const bench_config configs[] = {
    { "toy2d",  2, 1, 1, 1, 64, 6, 4, 2, 2, 256 },
    { "fmnist", 1, 28, 28, 2, 256, 8, 4, 10, 3, 32 },
    { "latent", 4, 32, 32, 2, 384, 12, 6, 1000, 4, 16 },
    { "tiny",   4, 8, 8, 2, 64, 4, 4, 10, 2, 3 },
    { "point",  2, 1, 1, 1, 32, 3, 2, 2, 1, 5 },
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;   /* Linux reports kilobytes */
}

static int bench_matmul(size_t n) {
    float *a = (float *)malloc(n * n * sizeof(float)), *b = (float *)malloc(n * n * sizeof(float));
    float *c = (float *)malloc(n * n * sizeof(float));
    ig_rng r;
    double t0, best = 1e30;
    int rep;
    if (!a || !b || !c) { fprintf(stderr, "ig-bench: out of memory\n"); return 1; }
    ig_rng_seed(&r, 1);
    ig_rng_normal_fill(&r, a, n * n);
    ig_rng_normal_fill(&r, b, n * n);
    for (rep = 0; rep < 7; rep++) {   /* best of 7, after the first (warm-up) */
        t0 = now();
        ig__gemm(0, 0, n, n, n, a, n, b, n, 0.0f, c, n);
        if (rep > 0 && now() - t0 < best) best = now() - t0;
    }
    printf("{\"matmul\": %zu, \"threads\": %d, \"seconds\": %.6f, \"gflops\": %.2f}\n",
           n, threads(), best, 2.0 * (double)n * n * n / best * 1e-9);
    free(a); free(b); free(c);
    return 0;
}

/* Sampling cost: the same Euler steps with no guidance, IG (one forward,
   both heads) and CFG (the batch doubled).  Best of 7 runs each, interleaved
   so that a slow moment of a noisy machine hits every method alike. */
static int bench_sampling(const ig_config *cfg, size_t B, int steps) {
    ig_model m;
    ig_arena scratch;
    ig_ctx ctx;
    ig_guided s;
    size_t n = B * (size_t)cfg->in_channels * (size_t)cfg->image_height * (size_t)cfg->image_width, k;
    float *x = (float *)malloc(n * sizeof(float)), *grid = (float *)malloc(((size_t)steps + 1) * sizeof(float));
    int *y = (int *)malloc(B * sizeof(int)), rep, meth, i;
    double best[3] = { 1e30, 1e30, 1e30 };
    const char *names[3] = { "none", "ig", "cfg" };
    ig_rng r;
    if (!x || !grid || !y || ig_model_init(&m, cfg, 0, 0) ||
        ig_arena_init(&scratch, "scratch", ig_model_scratch_bytes(cfg, 2 * B, 0)) ||
        ig_ctx_init(&ctx, &scratch, 0)) {
        fprintf(stderr, "ig-bench: %s\n", ig_last_error());
        return 1;
    }
    ig_rng_seed(&r, 3);
    for (i = 0; i < m.nparams; i++)   /* non-zero heads and adaLN, so every path computes */
        if (m.params[i].trainable)
            for (k = 0; k < m.params[i].t->n; k++) m.params[i].t->data[k] = 0.02f * ig_rng_normal(&r);
    for (k = 0; k < B; k++) y[k] = (int)(k % (size_t)cfg->num_classes);
    ig_grid_uniform(grid, (size_t)steps);
    for (rep = 0; rep < 7; rep++)
        for (meth = 0; meth < 3; meth++) {
            double t0;
            memset(&s, 0, sizeof s);
            s.model = &m; s.ctx = &ctx; s.labels = y; s.batch = B;
            s.guidance = ig_guidance_none();
            if (meth == 1) s.guidance.ig_weight = 2.0f;
            if (meth == 2) s.guidance.cfg_scale = 2.0f;
            ig_rng_seed(&r, 4);
            ig_rng_normal_fill(&r, x, n);
            t0 = now();
            if (ig_sample_euler(ig_guided_velocity, &s, x, n, grid, (size_t)steps)) {
                fprintf(stderr, "ig-bench: %s\n", ig_last_error());
                return 1;
            }
            if (now() - t0 < best[meth]) best[meth] = now() - t0;
        }
    for (meth = 0; meth < 3; meth++)
        printf("{\"config_sampling\": \"%s\", \"batch\": %zu, \"steps\": %d, \"threads\": %d, \"method\": \"%s\", "
               "\"seconds\": %.6f, \"ratio_to_none\": %.4f}\n", cfg->image_height > 1 ? "image" : "point", B, steps,
               threads(), names[meth], best[meth], best[meth] / best[0]);
    free(x); free(grid); free(y);
    ig_arena_free(&scratch);
    ig_model_free(&m);
    return 0;
}

int main(int argc, char **argv) {
    const bench_config *bc = NULL;
    const char *name = NULL;
    int steps = 5, i, sampling = 0;
    size_t B, per, k, ntrain = 0;
    ig_config cfg;
    ig_model m;
    ig_arena scratch;
    ig_ctx ctx;
    ig_train_config tc = ig_train_defaults();
    float *x, *t;
    int *y;
    double t0 = 0, train_s, fwd_s;
    ig_rng r;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--matmul") && i + 1 < argc) return bench_matmul((size_t)atol(argv[++i]));
        else if (!strcmp(argv[i], "--config") && i + 1 < argc) name = argv[++i];
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--sampling")) sampling = 1;
        else { fprintf(stderr, "usage: ig-bench --config toy2d|fmnist|latent [--steps N] | --matmul N\n"); return 2; }
    }
    for (k = 0; name && k < sizeof configs / sizeof configs[0]; k++)
        if (!strcmp(configs[k].name, name)) bc = &configs[k];
    if (!bc || steps < 1) { fprintf(stderr, "ig-bench: unknown config '%s' (toy2d, fmnist, latent, tiny, point)\n", name ? name : ""); return 2; }

    memset(&cfg, 0, sizeof cfg);
    cfg.in_channels = bc->C; cfg.image_height = bc->H; cfg.image_width = bc->W; cfg.patch_size = bc->p;
    cfg.hidden_size = bc->D; cfg.depth = bc->L; cfg.num_heads = bc->heads; cfg.num_classes = bc->ncls;
    cfg.aux_depth = bc->k; cfg.t_scale = 1.0f;
    B = (size_t)bc->B;
    per = (size_t)bc->C * (size_t)bc->H * (size_t)bc->W;
    if (sampling) return bench_sampling(&cfg, B, steps);
    if (ig_model_init(&m, &cfg, 1, 0) ||
        ig_arena_init(&scratch, "scratch", ig_model_scratch_bytes(&cfg, B, 1)) ||
        ig_ctx_init(&ctx, &scratch, ig_model_tape_nodes(&cfg))) {
        fprintf(stderr, "ig-bench: %s\n", ig_last_error());
        return 1;
    }
    for (i = 0; i < m.nparams; i++) if (m.params[i].trainable) ntrain += m.params[i].t->n;
    x = (float *)malloc(B * per * sizeof(float));
    t = (float *)malloc(B * sizeof(float));
    y = (int *)malloc(B * sizeof(int));
    ig_rng_seed(&r, 0);
    ig_rng_normal_fill(&r, x, B * per);
    for (k = 0; k < B; k++) { y[k] = (int)(ig_rng_u64(&r) % (uint64_t)bc->ncls); t[k] = 0.5f; }
    tc.label_dropout = 0.0f;   /* as the reference: no dropout */

    for (i = 0; i < 2 + steps; i++) {
        if (i == 2) t0 = now();
        if (ig_train_step(&m, &ctx, &tc, x, y, B, NULL)) { fprintf(stderr, "ig-bench: %s\n", ig_last_error()); return 1; }
    }
    train_s = (now() - t0) / steps;

    {   /* forward of both heads, no tape */
        size_t shape[4];
        ig_tensor *xt, *v, *va;
        shape[0] = B; shape[1] = (size_t)bc->C; shape[2] = (size_t)bc->H; shape[3] = (size_t)bc->W;
        t0 = now();
        for (i = 0; i < steps; i++) {
            ig_ctx_reset(&ctx, 0);
            xt = ig_tensor_new(&scratch, 4, shape, 0);
            memcpy(xt->data, x, B * per * sizeof(float));
            if (ig_forward(&m, &ctx, xt, t, y, &v, &va)) { fprintf(stderr, "ig-bench: %s\n", ig_last_error()); return 1; }
        }
        fwd_s = (now() - t0) / steps;
    }
    printf("{\"config\": \"%s\", \"params\": %zu, \"batch\": %zu, \"threads\": %d, \"train_step_s\": %.6f, "
           "\"train_samples_per_s\": %.2f, \"forward_s\": %.6f, \"forward_samples_per_s\": %.2f, \"peak_rss_mb\": %.1f}\n",
           bc->name, ntrain, B, threads(), train_s, (double)B / train_s, fwd_s, (double)B / fwd_s, peak_rss_mb());
    free(x); free(t); free(y);
    ig_arena_free(&scratch);
    ig_model_free(&m);
    return 0;
}
