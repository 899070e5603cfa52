/* ig-bench - time one training step and one forward pass, the same work as
   the PyTorch measuring script (../shared/bench/ref_sit.py), and print one
   JSON line with the same fields.

   build/ig-bench --config toy2d|fmnist|latent|tiny|point [--steps N]
   build/ig-bench --matmul N        GFLOP/s of an N x N x N float32 matmul
   build/ig-bench --config NAME --sampling [--steps N]
                                    time N Euler steps at batch B without
                                    guidance, with IG and with CFG
   build/ig-bench --config lightning|sit-xl2|xl [--steps N]   (xl = sit-xl2, ref_sit.py's name)
                                    forward only, the paper's XL models at
                                    batch 4 (LightningDiT-XL/1: 32x16x16, patch 1;
                                    SiT-XL/2: 4x32x32, patch 2; both 256 tokens,
                                    D 1152, 28 blocks, 16 heads, head after block 8,
                                    1000 classes): samples/s, GFLOP/s against an
                                    N = 1024 matmul measured in the same run, and
                                    peak memory
   build/ig-bench --config lightning --paper-sample [--steps K] [--out Z.npy]
                                    the paper's LightningDiT sampler on one image
                                    of a random-weight XL/1 model, from noise:
                                    Heun on all 124 intervals of the shifted grid,
                                    IG 1.4, CFG 1.45 for t <= 0.81 (2 rows there).
                                    With K < 62 only the first K and the last K
                                    intervals run (the middle skipped) and the
                                    time per image is extrapolated from the
                                    measured seconds per network row; --out writes
                                    the latents (1,32,16,16), in the model's
                                    normalized space (x * std + mean before VA-VAE),
                                    as .npy (build/vae-decode's input) or, for any
                                    other name, safetensors ('latents')
   build/ig-bench --config xl --ops   each op of a SiT block at the XL shapes, as
                                    often as one forward calls it: ms (best of 3)
                                    and the products' GFLOP/s
   build/ig-bench --config xl --paper-sample [--steps K] [--out Z.npy]
                                    the paper's SiT-XL/2 sampler (SDE, 250 steps,
                                    CFG 1.35 for t <= 0.7, IG 1.4) on one image of a
                                    random-weight model; with K < 250 steps the time
                                    per image is extrapolated from the seconds per
                                    network row (422 rows in the paper's run);
                                    --out writes z / 0.18215 (1,4,32,32), as the
                                    SD-VAE decoder takes it

   For toy2d, fmnist, latent, tiny and point the JSON line also gives the
   GFLOP/s of the training step's and the forward's matrix products and their
   share of an N = 1024 matmul's rate measured after them (train_ratio_to_matmul,
   forward_ratio_to_matmul): how close a whole step comes to the machine's rate.

   The training step: t ~ U(0,1), x_t = (1 - t) x + t eps, loss =
   mse(final, eps - x) + 0.5 mse(intermediate, eps - x), backward, clip the
   gradient norm at 1.0, AdamW (lr 1e-4).  Two warm-up steps, then the mean
   of N steps.  The forward: both heads at batch B, t = 0.5, no tape. */
#define _POSIX_C_SOURCE 200809L
#define IG_IMPLEMENTATION
#include "../ig.h"
#include "../examples/cli.h"
#include "../examples/npy.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#define IG_BENCH_USAGE "usage: ig-bench --config toy2d|fmnist|latent|tiny|point|lightning|sit-xl2|xl [--steps N] " \
    "[--sampling] | --matmul N | --config lightning|xl --paper-sample [--steps K] [--out FILE] | --config xl --ops\n"

typedef struct { const char *name; int C, H, W, p, D, L, heads, ncls, k, B, arch, forward_only; } bench_config;

static const bench_config configs[] = {
    { "toy2d",  2, 1, 1, 1, 64, 6, 4, 2, 2, 256, IG_ARCH_SIT, 0 },
    { "fmnist", 1, 28, 28, 2, 256, 8, 4, 10, 3, 32, IG_ARCH_SIT, 0 },
    { "latent", 4, 32, 32, 2, 384, 12, 6, 1000, 4, 16, IG_ARCH_SIT, 0 },
    { "tiny",   4, 8, 8, 2, 64, 4, 4, 10, 2, 3, IG_ARCH_SIT, 0 },
    { "point",  2, 1, 1, 1, 32, 3, 2, 2, 1, 5, IG_ARCH_SIT, 0 },
    { "lightning", 32, 16, 16, 1, 1152, 28, 16, 1000, 8, 4, IG_ARCH_LIGHTNING, 1 },
    { "sit-xl2", 4, 32, 32, 2, 1152, 28, 16, 1000, 8, 4, IG_ARCH_SIT, 1 },
    { "xl", 4, 32, 32, 2, 1152, 28, 16, 1000, 8, 4, IG_ARCH_SIT, 1 },   /* sit-xl2 under ref_sit.py's name */
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

/* Process CPU seconds (all threads).  On a shared machine a thread that waits for a
   core does not count, so CPU-second rates are the load-robust measure of how well
   each core is used; wall seconds also see waiting for other processes. */
static double cpu_now(void) { return (double)clock() / CLOCKS_PER_SEC; }

/* Best of 7 (after a warm-up) N x N x N matmuls, in seconds; *cpu_best gets the
   best in process CPU seconds. */
static double matmul_seconds(size_t n, double *cpu_best) {
    float *a = (float *)malloc(n * n * sizeof(float)), *b = (float *)malloc(n * n * sizeof(float));
    float *c = (float *)malloc(n * n * sizeof(float));
    ig_rng r;
    double t0, c0, best = 1e30;
    int rep;
    if (!a || !b || !c) { free(a); free(b); free(c); return -1.0; }
    ig_rng_seed(&r, 1);
    ig_rng_normal_fill(&r, a, n * n);
    ig_rng_normal_fill(&r, b, n * n);
    for (rep = 0; rep < 8; rep++) {
        t0 = now(); c0 = cpu_now();
        ig_matmul(0, 0, n, n, n, a, n, b, n, 0.0f, c, n);
        if (rep > 0 && now() - t0 < best) best = now() - t0;
        if (rep > 0 && cpu_now() - c0 < *cpu_best) *cpu_best = cpu_now() - c0;
    }
    free(a); free(b); free(c);
    return best;
}

/* Floating-point operations of one forward of both heads at batch B, counted
   as 2 per multiply-add of every matrix product (the Linears, q k^T and P v);
   norms, activations, softmax, RoPE and adds are left out (under 1%). */
static double forward_flops(const ig_config *g, size_t B) {
    double D = g->hidden_size, T = (double)(g->image_height / g->patch_size) * (g->image_width / g->patch_size);
    double P = (double)g->patch_size * g->patch_size * g->in_channels;
    double mlp = g->arch == IG_ARCH_LIGHTNING ? 3.0 * D * (double)(8 * g->hidden_size / 3) : 8.0 * D * D;
    double per_token_block = 3 * D * D + D * D + mlp + 2 * T * D;        /* qkv, proj, MLP, attention */
    double per_sample = g->depth * (T * per_token_block + 6 * D * D)      /* + adaLN per sample */
                      + T * P * D + 256 * D + D * D                       /* patch embed, time MLP */
                      + 2 * (2 * D * D + T * D * P);                      /* two heads */
    return 2.0 * per_sample * (double)B;
}

/* The same count for one training step: the forward, then the backward's two
   products per forward product (dx and dW of a Linear; dv, dP, dq and dk of
   attention), less the dx that no input needs (the image's patch embedding and
   the time features' first Linear).  AdamW, clipping and the EMA are no products:
   their time is part of what the share of the matmul rate measures. */
static double train_flops(const ig_config *g, size_t B) {
    double D = g->hidden_size, T = (double)(g->image_height / g->patch_size) * (g->image_width / g->patch_size);
    double P = (double)g->patch_size * g->patch_size * g->in_channels;
    return 3.0 * forward_flops(g, B) - 2.0 * (double)B * (T * P * D + 256 * D);
}

/* Forward only (the XL models): a warm-up, then N forwards of both heads at
   batch B without a tape (random weights), each followed by an N = 1024 matmul;
   the best time of each.  Interleaved and best-of, so that the busy moments of
   a shared machine hit both alike and the ratio of the two rates stays fair.
   ratio_to_matmul_cpu_seconds is the same ratio in process CPU seconds: time a
   thread spends waiting for a core (other processes) does not count, so on a
   loaded machine it is the steadier measure of the code's own efficiency. */
static int bench_forward_only(const bench_config *bc, const ig_config *cfg, int steps) {
    ig_model m;
    ig_arena scratch;
    ig_ctx ctx;
    size_t B = (size_t)bc->B, per = (size_t)bc->C * (size_t)bc->H * (size_t)bc->W, k, shape[4], nparam = 0;
    size_t need = ig_model_scratch_bytes(cfg, B, 0);
    float *x = (float *)malloc(B * per * sizeof(float)), t[64];
    int y[64], i;
    double t0, c0, fwd_sum = 0, fwd_s = 1e30, mm_s = 1e30, fwd_cpu = 1e30, mm_cpu = 1e30, flops = forward_flops(cfg, B), mm_flops = 2.0 * 1024.0 * 1024.0 * 1024.0;
    ig_rng r;
    ig_tensor *xt, *v, *va;
    if (!x || B > 64 || ig_model_init(&m, cfg, 0, 0) || ig_arena_init(&scratch, "scratch", need) ||
        ig_ctx_init(&ctx, &scratch, 0)) {
        fprintf(stderr, "ig-bench: %s\n", ig_last_error());
        return 1;
    }
    ig_rng_seed(&r, 3);
    for (i = 0; i < m.nparams; i++) {
        if (m.params[i].trainable) {
            nparam += m.params[i].t->n;
            for (k = 0; k < m.params[i].t->n; k++) m.params[i].t->data[k] = 0.02f * ig_rng_normal(&r);
        }
    }
    ig_rng_normal_fill(&r, x, B * per);
    for (k = 0; k < B; k++) { y[k] = (int)(k * 7 % 1000); t[k] = 0.5f; }
    shape[0] = B; shape[1] = (size_t)bc->C; shape[2] = (size_t)bc->H; shape[3] = (size_t)bc->W;
    for (i = 0; i < 1 + steps; i++) {
        double mm;
        t0 = now(); c0 = cpu_now();
        ig_ctx_reset(&ctx, 0);
        xt = ig_tensor_new(&scratch, 4, shape, 0);
        memcpy(xt->data, x, B * per * sizeof(float));
        if (ig_forward(&m, &ctx, xt, t, y, &v, &va)) { fprintf(stderr, "ig-bench: %s\n", ig_last_error()); return 1; }
        if (i >= 1) fwd_sum += now() - t0;
        if (i >= 1 && now() - t0 < fwd_s) fwd_s = now() - t0;
        if (i >= 1 && cpu_now() - c0 < fwd_cpu) fwd_cpu = cpu_now() - c0;
        if (i >= 1 && (mm = matmul_seconds(1024, &mm_cpu)) > 0 && mm < mm_s) mm_s = mm;
    }
    printf("{\"config\": \"%s\", \"params\": %zu, \"batch\": %zu, \"threads\": %d, \"forward_s\": %.4f, \"forward_mean_s\": %.4f, "
           "\"forward_samples_per_s\": %.3f, \"forward_gflop\": %.1f, \"forward_gflops\": %.1f, "
           "\"matmul1024_gflops\": %.1f, \"ratio_to_matmul\": %.3f, \"ratio_to_matmul_cpu_seconds\": %.3f, \"scratch_peak_mb\": %.1f, "
           "\"scratch_estimate_mb\": %.1f, \"peak_rss_mb\": %.1f}\n",
           bc->name, nparam, B, threads(), fwd_s, fwd_sum / steps, (double)B / fwd_s, flops * 1e-9, flops / fwd_s * 1e-9,
           mm_flops / mm_s * 1e-9, (flops / fwd_s) / (mm_flops / mm_s), (flops / fwd_cpu) / (mm_flops / mm_cpu),
           (double)scratch.peak / 1048576.0, (double)need / 1048576.0, peak_rss_mb());
    free(x);
    ig_arena_free(&scratch);
    ig_model_free(&m);
    return 0;
}

/* The sampled latents x (1,C,H,W) times scale, to out: .npy (float32, what
   build/vae-decode takes) or, for any other name, safetensors ('latents'). */
static int write_latents(const char *out, const ig_config *cfg, const float *x, float scale, const char *sampler) {
    size_t n = (size_t)cfg->in_channels * (size_t)cfg->image_height * (size_t)cfg->image_width, i;
    size_t len = strlen(out), dims[4];
    int64_t shape[4];
    float *z = (float *)malloc(n * sizeof(float));
    int rc = 0;
    if (!z) { fprintf(stderr, "ig-bench: out of memory\n"); return -1; }
    for (i = 0; i < n; i++) z[i] = x[i] * scale;
    dims[0] = 1; dims[1] = (size_t)cfg->in_channels; dims[2] = (size_t)cfg->image_height; dims[3] = (size_t)cfg->image_width;
    for (i = 0; i < 4; i++) shape[i] = (int64_t)dims[i];
    if (len > 4 && !strcmp(out + len - 4, ".npy")) {
        rc = npy_write(out, NPY_F32, 4, dims, z);
    } else {
        ig_st_writer w;
        ig_st_writer_init(&w);
        if (ig_st_add(&w, "latents", IG_F32, 4, shape, z) || ig_st_add_meta(&w, "sampler", sampler) ||
            ig_st_writer_save(&w, out)) { fprintf(stderr, "ig-bench: %s\n", ig_last_error()); rc = -1; }
        ig_st_writer_free(&w);
    }
    free(z);
    return rc;
}

/* What both paper samplers share: a random-weight model (none zero; the
   release zeroes the output heads), its scratch and context, one image of
   noise x (n floats), the guided field G for label 207, and the RNG that
   made them (the SDE draws its noise from it next). */
typedef struct paper_run {
    ig_model m;
    ig_arena scratch;
    ig_ctx ctx;
    ig_guided G;
    ig_rng r;
    float *x;
    size_t n;
    int y[1];
} paper_run;

static int paper_open(paper_run *P, const ig_config *cfg) {
    size_t i;
    int p;
    memset(P, 0, sizeof *P);
    P->n = (size_t)cfg->in_channels * (size_t)cfg->image_height * (size_t)cfg->image_width;
    P->x = (float *)malloc(P->n * sizeof(float));
    if (!P->x || ig_model_init(&P->m, cfg, 0, 0) ||
        ig_arena_init(&P->scratch, "scratch", ig_model_scratch_bytes(cfg, 2, 0)) || ig_ctx_init(&P->ctx, &P->scratch, 0)) {
        fprintf(stderr, "ig-bench: %s\n", P->x ? ig_last_error() : "out of memory");
        return -1;
    }
    ig_rng_seed(&P->r, 3);
    for (p = 0; p < P->m.nparams; p++)
        if (P->m.params[p].trainable)
            for (i = 0; i < P->m.params[p].t->n; i++) P->m.params[p].t->data[i] = 0.02f * ig_rng_normal(&P->r);
    ig_rng_seed(&P->r, 4);
    ig_rng_normal_fill(&P->r, P->x, P->n);
    P->y[0] = 207;
    P->G.model = &P->m; P->G.ctx = &P->ctx; P->G.labels = P->y; P->G.batch = 1;
    return 0;
}

/* The root mean square of the sample, or -1 if any value is not finite. */
static double paper_rms(const paper_run *P) {
    double ms = 0;
    size_t i;
    for (i = 0; i < P->n; i++) {
        if (!isfinite(P->x[i])) { fprintf(stderr, "ig-bench: the sample is not finite at %zu\n", i); return -1; }
        ms += (double)P->x[i] * P->x[i];
    }
    return sqrt(ms / (double)P->n);
}

static void paper_close(paper_run *P) {
    free(P->x);
    ig_arena_free(&P->scratch);
    ig_model_free(&P->m);
}

/* The paper's LightningDiT sampler (ig_guidance_lightning(1), ig_sample_heun2
   on ig_grid_shifted(124, 0.3)) for one image from noise; see the top. */
static int bench_paper_sample(const ig_config *cfg, int k, const char *out) {
    paper_run P;
    size_t total = IG_LIGHTNING_STEPS, rows_full = 0, rows_run = 0, s;
    float grid[IG_LIGHTNING_STEPS + 1];
    int full = 2 * (size_t)k >= total, rc = 1;
    double t0, secs, rms;
    if (paper_open(&P, cfg)) goto done;
    ig_grid_shifted(grid, total, IG_LIGHTNING_SHIFT);
    P.G.guidance = ig_guidance_lightning(1);
    for (s = 0; s < total; s++) {      /* network rows of the whole run: CFG doubles the batch */
        size_t rr = (grid[s] <= P.G.guidance.cfg_high ? 2 : 1) + (grid[s + 1] <= P.G.guidance.cfg_high ? 2 : 1);
        rows_full += rr;
        if (full || s < (size_t)k || s >= total - (size_t)k) rows_run += rr;
    }
    t0 = now();
    if (full ? ig_sample_heun2(ig_guided_velocity, &P.G, P.x, P.n, grid, total)
             : ig_sample_heun2(ig_guided_velocity, &P.G, P.x, P.n, grid, (size_t)k) ||
               ig_sample_heun2(ig_guided_velocity, &P.G, P.x, P.n, grid + total - (size_t)k, (size_t)k)) {
        fprintf(stderr, "ig-bench: %s\n", ig_last_error());
        goto done;
    }
    secs = now() - t0;
    if ((rms = paper_rms(&P)) < 0) goto done;
    if (out && write_latents(out, cfg, P.x, 1.0f, "lightningdit-paper")) goto done;
    printf("{\"config\": \"lightning\", \"paper_sample\": true, \"threads\": %d, \"intervals_run\": %zu, "
           "\"intervals_full\": %zu, \"evaluations\": %zu, \"network_rows_run\": %zu, \"network_rows_full\": %zu, "
           "\"seconds\": %.2f, \"seconds_per_row\": %.3f, \"seconds_per_image\": %.1f, \"extrapolated\": %s, "
           "\"rms_latent\": %.4f, \"peak_rss_mb\": %.1f}\n",
           threads(), full ? total : 2 * (size_t)k, total, P.G.nfe, rows_run, rows_full, secs, secs / (double)rows_run,
           secs / (double)rows_run * (double)rows_full, full ? "false" : "true", rms, peak_rss_mb());
    rc = 0;
done:
    paper_close(&P);
    return rc;
}

/* The paper's SiT-XL/2 sampler (Euler-Maruyama SDE, CFG 1.35 for t <= 0.7, IG 1.4
   on all t) on one image of a random-weight model, from noise, with K steps of
   ig_sample_sde (K = 250 is the paper's run).  The time per image of the paper's
   250 steps is extrapolated from the measured seconds per network row: that run
   evaluates t_i = 1 - 0.96 i / 249, i = 0..249, 2 rows (CFG) where t_i <= 0.7. */
static size_t sde_rows(size_t k) {
    size_t s, rows = 0;
    for (s = 0; s < k; s++) rows += 1.0f - 0.96f * (float)s / (float)(k - 1) <= 0.7f ? 2 : 1;
    return rows;
}

static int bench_paper_sample_sit(const ig_config *cfg, int k, const char *out) {
    paper_run P;
    size_t rows_run = sde_rows((size_t)k), rows_full = sde_rows(250);
    double t0, secs, rms;
    int rc = 1;
    if (paper_open(&P, cfg)) goto done;
    P.G.guidance = ig_guidance_none();
    P.G.guidance.ig_weight = 1.4f; P.G.guidance.cfg_scale = 1.35f; P.G.guidance.cfg_high = 0.7f;
    t0 = now();
    if (ig_sample_sde(ig_guided_velocity, &P.G, P.x, P.n, (size_t)k, IG_PATH_LINEAR, &P.r)) {
        fprintf(stderr, "ig-bench: %s\n", ig_last_error());
        goto done;
    }
    secs = now() - t0;
    if ((rms = paper_rms(&P)) < 0) goto done;
    /* the SD-VAE decoder takes z / 0.18215 */
    if (out && write_latents(out, cfg, P.x, 1.0f / 0.18215f, "sit-paper")) goto done;
    printf("{\"config\": \"xl\", \"paper_sample\": true, \"threads\": %d, \"steps_run\": %d, \"steps_full\": 250, "
           "\"network_rows_run\": %zu, \"network_rows_full\": %zu, \"seconds\": %.2f, \"seconds_per_row\": %.3f, "
           "\"seconds_per_image\": %.1f, \"extrapolated\": %s, \"rms_latent\": %.4f, \"peak_rss_mb\": %.1f}\n",
           threads(), k, rows_run, rows_full, secs, secs / (double)rows_run, secs / (double)rows_run * (double)rows_full,
           k == 250 ? "false" : "true", rms, peak_rss_mb());
    rc = 0;
done:
    paper_close(&P);
    return rc;
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
        ig_matmul(0, 0, n, n, n, a, n, b, n, 0.0f, c, n);
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
static int bench_sampling(const char *name, const ig_config *cfg, size_t B, int steps) {
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
        printf("{\"config\": \"%s\", \"batch\": %zu, \"steps\": %d, \"threads\": %d, \"method\": \"%s\", "
               "\"seconds\": %.6f, \"ratio_to_none\": %.4f}\n", name, B, steps,
               threads(), names[meth], best[meth], best[meth] / best[0]);
    free(x); free(grid); free(y);
    ig_arena_free(&scratch);
    ig_model_free(&m);
    return 0;
}

/* A (d0,d1,d2) tensor of nd dims with N(0, 0.05^2) values, or NULL. */
static ig_tensor *ops_tensor(ig_arena *a, ig_rng *r, size_t d0, size_t d1, size_t d2, int nd) {
    size_t shape[3], i;
    ig_tensor *t;
    shape[0] = d0; shape[1] = d1; shape[2] = d2;
    if (!(t = ig_tensor_new(a, nd, shape, 0))) return NULL;
    ig_rng_normal_fill(r, t->data, t->n);
    for (i = 0; i < t->n; i++) t->data[i] *= 0.05f;
    return t;
}

/* --ops: where a SiT forward's time goes.  Each op of one block, at the config's
   shapes (batch B, T tokens, width D), with random inputs, called L times (one
   forward's worth of that op); best of 3 such rounds, in ms.  The Linear products
   and attention (its two products) also get their GFLOP/s (2 per multiply-add).  The list is one block's ops in
   order; the patch embedding, time MLP and heads (once per forward) are left out. */
static int bench_ops(const ig_config *cfg, size_t B) {
    size_t D = (size_t)cfg->hidden_size, L = (size_t)cfg->depth, heads = (size_t)cfg->num_heads;
    size_t T = (size_t)(cfg->image_height / cfg->patch_size) * (size_t)(cfg->image_width / cfg->patch_size);
    enum { LIN_QKV, LIN_PROJ, LIN_FC1, LIN_FC2, LIN_ADA, LAYERNORM, MODULATE, ATTENTION, GELU, GATED_ADD, SILU, NOPS };
    static const char *const name[NOPS] = { "linear qkv", "linear proj", "linear fc1", "linear fc2", "linear adaLN",
                                            "layernorm", "modulate", "attention", "gelu", "gated_add", "silu c" };
    static const int per_block[NOPS] = { 1, 1, 1, 1, 1, 2, 2, 1, 1, 2, 1 };   /* calls in one block */
    static const int nin[NOPS] = { 3, 3, 3, 3, 3, 1, 3, 1, 1, 3, 1 };         /* tensor arguments */
    ig_arena params, scratch;
    ig_ctx ctx;
    ig_rng r;
    ig_tensor *in[NOPS][3], *x, *c;
    double total = 0, flops[NOPS] = { 0 };
    size_t i;
    int op, round;
    if (cfg->arch != IG_ARCH_SIT) { fprintf(stderr, "ig-bench: --ops times the SiT block (--config xl)\n"); return 2; }
    if (ig_arena_init(&params, "ops inputs", (20 * D * D + 12 * B * T * D + 64 * D) * sizeof(float) + (1 << 20)) ||
        ig_arena_init(&scratch, "scratch", (8 * B * T * D + 16 * T * T) * sizeof(float) + (1 << 20)) ||
        ig_ctx_init(&ctx, &scratch, 0)) {
        fprintf(stderr, "ig-bench: %s\n", ig_last_error());
        return 1;
    }
    ig_rng_seed(&r, 0);
#define OPS_T(d0, d1, d2, nd) ops_tensor(&params, &r, (d0), (d1), (d2), (nd))
    x = OPS_T(B, T, D, 3);
    c = OPS_T(B, D, 1, 2);
    memset(in, 0, sizeof in);
    in[LIN_QKV][0] = x;  in[LIN_QKV][1] = OPS_T(3 * D, D, 1, 2);  in[LIN_QKV][2] = OPS_T(3 * D, 1, 1, 1);
    in[LIN_PROJ][0] = x; in[LIN_PROJ][1] = OPS_T(D, D, 1, 2);     in[LIN_PROJ][2] = OPS_T(D, 1, 1, 1);
    in[LIN_FC1][0] = x;  in[LIN_FC1][1] = OPS_T(4 * D, D, 1, 2);  in[LIN_FC1][2] = OPS_T(4 * D, 1, 1, 1);
    in[LIN_FC2][0] = OPS_T(B, T, 4 * D, 3); in[LIN_FC2][1] = OPS_T(D, 4 * D, 1, 2); in[LIN_FC2][2] = OPS_T(D, 1, 1, 1);
    in[LIN_ADA][0] = c;  in[LIN_ADA][1] = OPS_T(6 * D, D, 1, 2);  in[LIN_ADA][2] = OPS_T(6 * D, 1, 1, 1);
    in[LAYERNORM][0] = x;
    in[MODULATE][0] = x; in[MODULATE][1] = OPS_T(B, D, 1, 2);    in[MODULATE][2] = OPS_T(B, D, 1, 2);
    in[ATTENTION][0] = OPS_T(B, T, 3 * D, 3);
    in[GELU][0] = in[LIN_FC2][0];
    in[GATED_ADD][0] = x; in[GATED_ADD][1] = in[MODULATE][1];    in[GATED_ADD][2] = x;
    in[SILU][0] = c;
#undef OPS_T
    for (op = 0; op < NOPS; op++) {
        if (!in[op][0] || (nin[op] == 3 && (!in[op][1] || !in[op][2]))) {
            fprintf(stderr, "ig-bench: %s\n", ig_last_error());
            return 1;
        }
        if (op <= LIN_ADA) flops[op] = 2.0 * (double)(in[op][0]->n / in[op][1]->shape[1]) * (double)in[op][1]->n;
    }
    flops[ATTENTION] = 4.0 * (double)B * (double)T * (double)T * (double)D;   /* q k^T and P v, every head */
    for (i = 0; i < in[ATTENTION][0]->n; i++) in[ATTENTION][0]->data[i] *= 20.0f;   /* logits of some spread */
    printf("%-14s %10s %10s   (%zu calls per op = one forward's worth: batch %zu, %zu tokens, width %zu, %zu blocks; best of 3)\n",
           "op", "ms", "GFLOP/s", L, B, T, D, L);
    for (op = 0; op < NOPS; op++) {
        double best = 1e30;
        size_t calls = L * (size_t)per_block[op];
        for (round = 0; round < 4; round++) {   /* round 0 warms up */
            double t0 = now();
            for (i = 0; i < calls; i++) {
                ig_tensor *y = NULL;
                ig_ctx_reset(&ctx, 0);
                switch (op) {
                case LAYERNORM: y = ig_layernorm(&ctx, in[op][0]); break;
                case MODULATE:  y = ig_modulate(&ctx, in[op][0], in[op][1], in[op][2]); break;
                case ATTENTION: y = ig_attention(&ctx, in[op][0], heads); break;
                case GELU:      y = ig_gelu(&ctx, in[op][0]); break;
                case GATED_ADD: y = ig_gated_add(&ctx, in[op][0], in[op][1], in[op][2]); break;
                case SILU:      y = ig_silu(&ctx, in[op][0]); break;
                default:        y = ig_linear(&ctx, in[op][0], in[op][1], in[op][2]); break;
                }
                if (!y) { fprintf(stderr, "ig-bench: %s: %s\n", name[op], ig_last_error()); return 1; }
            }
            t0 = now() - t0;
            if (round && t0 < best) best = t0;
        }
        total += best;
        if (flops[op] > 0) printf("%-14s %10.1f %10.1f\n", name[op], 1e3 * best, flops[op] * (double)calls / best * 1e-9);
        else printf("%-14s %10.1f %10s\n", name[op], 1e3 * best, "-");
    }
    printf("%-14s %10.1f\n", "sum", 1e3 * total);
    ig_arena_free(&scratch);
    ig_arena_free(&params);
    return 0;
}

int main(int argc, char **argv) {
    const bench_config *bc = NULL;
    int steps = 5, i, sampling = 0, paper = 0, steps_given = 0, ops = 0;
    const char *out = NULL;
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

    {   /* flags: --config NAME [--steps N] [--sampling] | --matmul N
                  | --config lightning|xl --paper-sample [--steps K] [--out Z.npy] */
        static const char *const names[] = { "toy2d", "fmnist", "latent", "tiny", "point", "lightning", "sit-xl2", "xl", NULL };
        long long n, matmul = 0;
        int c;
        for (i = 1; i < argc; i++) {
            const char *a = argv[i], *v;
            if (!strcmp(a, "--sampling")) { sampling = 1; continue; }
            if (!strcmp(a, "--paper-sample")) { paper = 1; continue; }
            if (!strcmp(a, "--ops")) { ops = 1; continue; }
            if (!strcmp(a, "--help") || !strcmp(a, "-h")) { printf("%s", IG_BENCH_USAGE); return 0; }
            if (strcmp(a, "--config") && strcmp(a, "--steps") && strcmp(a, "--matmul") && strcmp(a, "--out")) {
                fprintf(stderr, "ig-bench: unknown option '%s'\n%s", a, IG_BENCH_USAGE);
                return 2;
            }
            if (!(v = cli_value("ig-bench", argc, argv, &i))) return 2;
            if (!strcmp(a, "--config")) {
                if (cli_choice("ig-bench", a, v, names, &c)) return 2;
                bc = &configs[c];
            } else if (!strcmp(a, "--steps")) {
                if (cli_int("ig-bench", a, v, 1, 1000000, &n)) return 2;
                steps = (int)n;
                steps_given = 1;
            } else if (!strcmp(a, "--out")) {
                out = v;
            } else if (cli_int("ig-bench", a, v, 1, 8192, &matmul)) {   /* 3 x 256 MB at most */
                return 2;
            }
        }
        if (matmul && (bc || sampling)) {
            fprintf(stderr, "ig-bench: --matmul N times a matrix multiply alone; it takes no --config or --sampling\n");
            return 2;
        }
        if (matmul) return bench_matmul((size_t)matmul);
        if (!bc) {
            fprintf(stderr, "ig-bench: needs --config toy2d|fmnist|latent|tiny|point|lightning|sit-xl2|xl (or --matmul N)\n");
            return 2;
        }
    }

    memset(&cfg, 0, sizeof cfg);
    cfg.in_channels = bc->C; cfg.image_height = bc->H; cfg.image_width = bc->W; cfg.patch_size = bc->p;
    cfg.hidden_size = bc->D; cfg.depth = bc->L; cfg.num_heads = bc->heads; cfg.num_classes = bc->ncls;
    cfg.aux_depth = bc->k; cfg.t_scale = 1.0f; cfg.arch = bc->arch;
    B = (size_t)bc->B;
    if (paper) {
        if (bc->arch != IG_ARCH_LIGHTNING) {
            if (!bc->forward_only) { fprintf(stderr, "ig-bench: --paper-sample needs --config lightning or xl\n"); return 2; }
            if (steps_given && steps < 2) { fprintf(stderr, "ig-bench: --paper-sample needs --steps >= 2 for SiT\n"); return 2; }
            return bench_paper_sample_sit(&cfg, steps_given ? (steps > 250 ? 250 : steps) : 250, out);
        }
        return bench_paper_sample(&cfg, steps_given ? steps : IG_LIGHTNING_STEPS, out);
    }
    if (out) { fprintf(stderr, "ig-bench: --out goes with --paper-sample\n"); return 2; }
    if (ops) return bench_ops(&cfg, B);
    if (bc->forward_only && !sampling) return bench_forward_only(bc, &cfg, steps);
    per = (size_t)bc->C * (size_t)bc->H * (size_t)bc->W;
    if (sampling) return bench_sampling(bc->name, &cfg, B, steps);
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
    if (!x || !t || !y) { fprintf(stderr, "ig-bench: out of memory\n"); return 1; }
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
    {   /* the share of the matmul rate that a whole step reaches: GFLOP/s of the step's
           products (train_flops) over those of an N = 1024 matmul, best of 7, timed after */
        double mm_cpu, mm_s = matmul_seconds(1024, &mm_cpu), mm_rate = 2.0 * 1024.0 * 1024.0 * 1024.0 / mm_s;
        double tr_rate = train_flops(&cfg, B) / train_s, fw_rate = forward_flops(&cfg, B) / fwd_s;
        printf("{\"config\": \"%s\", \"params\": %zu, \"batch\": %zu, \"threads\": %d, \"train_step_s\": %.6f, "
               "\"train_samples_per_s\": %.2f, \"forward_s\": %.6f, \"forward_samples_per_s\": %.2f, "
               "\"train_gflop\": %.3f, \"train_gflops\": %.1f, \"forward_gflops\": %.1f, \"matmul1024_gflops\": %.1f, "
               "\"train_ratio_to_matmul\": %.3f, \"forward_ratio_to_matmul\": %.3f, \"peak_rss_mb\": %.1f}\n",
               bc->name, ntrain, B, threads(), train_s, (double)B / train_s, fwd_s, (double)B / fwd_s,
               train_flops(&cfg, B) * 1e-9, tr_rate * 1e-9, fw_rate * 1e-9, mm_rate * 1e-9,
               mm_s > 0 ? tr_rate / mm_rate : 0.0, mm_s > 0 ? fw_rate / mm_rate : 0.0, peak_rss_mb());
    }
    free(x); free(t); free(y);
    ig_arena_free(&scratch);
    ig_model_free(&m);
    return 0;
}
