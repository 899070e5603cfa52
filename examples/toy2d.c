/* toy2d.c - the 2D "two fractal trees" experiment of the Autoguidance and IG papers.

   Trains a class-conditional one-token DiT (C = 2, H = W = 1, p = 1) on the exact
   two-class mixture of toy2d_truth.h, with the intermediate head after block k,
   then samples class A from one shared starting noise with: the exact velocity
   (ground truth), no guidance, CFG, IG, IG + CFG and autoguidance, and scores
   every sampler with the exact metrics (mean log p, outliers, branch TV, leaves).

     make toy                           build/toy2d --out out/toy2d  (388 s here)
     build/toy2d --quick --out DIR      a tiny run for the tests      (3.5 s)
     build/toy2d --sweep --load DIR/model_ema.safetensors   IG weight x interval,
                                        CFG and IG + CFG on the saved IG model
     build/toy2d --sweep-k 1,2,3        train one model per head depth, sweep each
     build/toy2d --help                 every option

   Writes DIR/samples_<method>.npy (float32 (N,2)), DIR/toy2d.png (one panel
   per method), DIR/samples_speed_<name>.npy + DIR/speed.png (training-speed
   panel), DIR/metrics.tsv (the table printed on stdout) and
   DIR/model_ema.safetensors (the IG model's EMA weights).
   On a busy machine run with OMP_WAIT_POLICY=passive (libgomp's spinning
   threads otherwise slow the many small parallel regions down 10x).

   Training targets: by default the EXACT velocity of the noised mixture,
   E[eps - x0 | x_t, label], instead of the one-sample flow-matching target
   eps - x0.  Both have the same minimizer; the exact one has no target noise,
   so the regression converges with far fewer samples (the analogue of the
   exact score matching in the Autoguidance toy).  --fm switches to plain
   flow matching through ig_train_step.

   Compile with TOY2D_NO_MAIN to use toy2d_main() from another program (the
   tests do); then IG_IMPLEMENTATION must come from another file. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, mkdir, isatty */
#ifndef TOY2D_NO_MAIN
#define IG_IMPLEMENTATION
#endif
#include "../ig.h"
#include "toy2d_truth.h"
#include "plot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ------------------------------------------------------------------------- */
/* options                                                                   */
/* ------------------------------------------------------------------------- */

typedef struct toy_model_opts {
    int width, depth, heads, k;    /* D, L, attention heads, head after block k */
    float t_scale;                 /* t fed to the time embedding: t * t_scale   */
    int steps, batch;              /* optimizer steps x samples per step         */
    float lr, lr_ref;              /* lr = lr0 / sqrt(max(step / lr_ref, 1))     */
    float ema;                     /* EMA decay (with a 1 - (1+s)/(10+s) warm-up) */
    float lambda;                  /* aux_weight: mse(final) + lambda mse(inter) */
    float clip;                    /* gradient-norm clipping (<= 0: off)         */
    uint64_t seed;
} toy_model_opts;

typedef struct toy_opts {
    const char *out;
    int quick, sweep, fm;          /* --fm: flow-matching targets, not exact     */
    toy_model_opts main_m, weak_m; /* the IG model, the autoguidance guide       */
    int base_steps, short_steps;   /* lambda = 0 baseline budget; the short one  */
    int tdist;                     /* 0 uniform, 1 EDM log-normal sigma          */
    float p_mean, p_std;           /* ln sigma ~ N(p_mean, p_std^2), t = s/(1+s) */
    int tgroups;                   /* distinct t values per step (exact targets) */
    size_t nsamples;               /* samples per method                         */
    int nsteps;                    /* Heun steps on the EDM grid                 */
    float ig_w, ig_low, ig_high;   /* IG                                         */
    float cfg_w, cfg_low, cfg_high; /* CFG and its interval                      */
    float ig_cfg_ig, ig_cfg_cfg;   /* IG + CFG: weights                          */
    float ig_cfg_low, ig_cfg_high; /* IG + CFG: the interval of its CFG part     */
    float ag_w;                    /* autoguidance                               */
    int no_baseline;               /* skip the lambda = 0 model (speed panel)    */
    int only_ig;                   /* sample only truth, none and IG (experiments) */
    char sweep_k[64];              /* --sweep-k 1,2,3: one model per head depth   */
    const char *load;              /* --sweep --load FILE: sweep a saved model    */
    int quiet;                     /* no progress and no table on the terminal   */
} toy_opts;

static void toy_defaults(toy_opts *o) {
    memset(o, 0, sizeof *o);
    o->out = "out/toy2d";
    o->main_m.width = 64; o->main_m.depth = 4; o->main_m.heads = 4; o->main_m.k = 1;
    o->main_m.t_scale = 1000.0f;
    o->main_m.steps = 4096; o->main_m.batch = 1024;
    o->main_m.lr = 5e-3f; o->main_m.lr_ref = 512.0f;
    o->main_m.ema = 0.999f; o->main_m.lambda = 0.5f; o->main_m.clip = 1.0f;
    o->main_m.seed = 1;
    o->weak_m = o->main_m;
    o->weak_m.width = 32; o->weak_m.depth = 2; o->weak_m.steps = 512; o->weak_m.seed = 2;
    o->base_steps = 4096; o->short_steps = 512;
    o->tdist = 1; o->p_mean = -3.0f; o->p_std = 1.5f;
    o->tgroups = 32;
    o->nsamples = 16384; o->nsteps = 32;
    o->ig_w = 3.0f; o->ig_low = 0.0f; o->ig_high = 0.3f;   /* IG only at low noise: see the README */
    o->cfg_w = 2.0f; o->cfg_low = 0.0f; o->cfg_high = 1.0f;
    o->ig_cfg_ig = 3.0f; o->ig_cfg_cfg = 1.5f;
    o->ig_cfg_low = 0.0f; o->ig_cfg_high = 0.3f;   /* CFG only at low noise (see the sweep) */
    o->ag_w = 2.0f;
}

static void toy_quick(toy_opts *o) {
    o->quick = 1;
    o->main_m.width = 32; o->main_m.depth = 2; o->main_m.steps = 150; o->main_m.batch = 256;
    o->weak_m.width = 16; o->weak_m.depth = 2; o->weak_m.steps = 50; o->weak_m.batch = 256;
    o->base_steps = 150; o->short_steps = 50;
    o->nsamples = 1024; o->nsteps = 16;
}

static void toy_usage(FILE *f) {
    fprintf(f,
        "usage: toy2d [--out DIR] [--quick] [--sweep] [options]\n"
        "  --out DIR        output directory (default out/toy2d)\n"
        "  --quick          tiny models and budgets (the tests; < 30 s)\n"
        "  --sweep          sweep IG weight x interval (and CFG weight) instead\n"
        "  --sweep-k LIST   the same sweep for one model per head depth, e.g. 1,2,3\n"
        "  --only-ig        sample only truth, none and IG (for quick experiments)\n"
        "  --quiet          no progress lines and no table on the terminal\n"
        "  --fm             plain flow-matching targets (default: exact velocity)\n"
        "  model: --width D --depth L --heads H --k K --tscale S --steps N --batch B\n"
        "         --lr LR --lrref R --ema D --lambda A --clip C --seed S\n"
        "  weak guide: --weak-width D --weak-depth L --weak-steps N\n"
        "  --base-steps N   budget of the lambda = 0 baseline (speed panel)\n"
        "  --short-steps N  the short budget of the speed panel\n"
        "  --no-baseline    skip the baseline (no speed panel)\n"
        "  --tdist uniform|edm  --pmean M --pstd S   training t distribution\n"
        "  --tgroups G      distinct t per step for the exact targets\n"
        "  --samples N --nsteps N   samples per method, Heun steps (EDM grid)\n"
        "  --ig W --ig-low T --ig-high T --cfg W --cfg-low T --cfg-high T\n"
        "  --igcfg-ig W --igcfg-cfg W --igcfg-low T --igcfg-high T   IG + CFG (CFG interval)\n"
        "  --ag W           autoguidance weight\n"
        "  --load FILE      with --sweep: sweep a saved model (DIR/model_ema.safetensors)\n");
}

static int toy_parse(toy_opts *o, int argc, char **argv) {
    int i;
    toy_defaults(o);
    for (i = 1; i < argc; i++)         /* --quick first: later options override it */
        if (!strcmp(argv[i], "--quick")) toy_quick(o);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define TOY_F(name, field) else if (!strcmp(a, name) && v) { field = (float)atof(v); i++; }
#define TOY_I(name, field) else if (!strcmp(a, name) && v) { field = atoi(v); i++; }
        if (!strcmp(a, "--quick")) continue;
        else if (!strcmp(a, "--sweep")) o->sweep = 1;
        else if (!strcmp(a, "--fm")) o->fm = 1;
        else if (!strcmp(a, "--no-baseline")) o->no_baseline = 1;
        else if (!strcmp(a, "--only-ig")) { o->only_ig = 1; o->no_baseline = 1; o->ag_w = 1.0f; }
        else if (!strcmp(a, "--quiet")) o->quiet = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { toy_usage(stdout); return 1; }
        else if (!strcmp(a, "--out") && v) { o->out = v; i++; }
        else if (!strcmp(a, "--load") && v) { o->load = v; i++; }
        else if (!strcmp(a, "--sweep-k") && v) { o->sweep = 1; snprintf(o->sweep_k, sizeof o->sweep_k, "%s", v); i++; }
        else if (!strcmp(a, "--tdist") && v) { o->tdist = !strcmp(v, "edm"); i++; }
        else if (!strcmp(a, "--samples") && v) { o->nsamples = (size_t)atol(v); i++; }
        else if (!strcmp(a, "--seed") && v) { o->main_m.seed = (uint64_t)atol(v); i++; }
        TOY_I("--width", o->main_m.width) TOY_I("--depth", o->main_m.depth)
        TOY_I("--heads", o->main_m.heads) TOY_I("--k", o->main_m.k)
        TOY_F("--tscale", o->main_m.t_scale) TOY_I("--steps", o->main_m.steps)
        TOY_I("--batch", o->main_m.batch) TOY_F("--lr", o->main_m.lr)
        TOY_F("--lrref", o->main_m.lr_ref) TOY_F("--ema", o->main_m.ema)
        TOY_F("--lambda", o->main_m.lambda) TOY_F("--clip", o->main_m.clip)
        TOY_I("--weak-width", o->weak_m.width) TOY_I("--weak-depth", o->weak_m.depth)
        TOY_I("--weak-steps", o->weak_m.steps)
        TOY_I("--base-steps", o->base_steps) TOY_I("--short-steps", o->short_steps)
        TOY_F("--pmean", o->p_mean) TOY_F("--pstd", o->p_std) TOY_I("--tgroups", o->tgroups)
        TOY_I("--nsteps", o->nsteps)
        TOY_F("--ig", o->ig_w) TOY_F("--ig-low", o->ig_low) TOY_F("--ig-high", o->ig_high)
        TOY_F("--cfg", o->cfg_w) TOY_F("--cfg-low", o->cfg_low) TOY_F("--cfg-high", o->cfg_high) TOY_F("--igcfg-ig", o->ig_cfg_ig) TOY_F("--igcfg-cfg", o->ig_cfg_cfg)
        TOY_F("--igcfg-low", o->ig_cfg_low) TOY_F("--igcfg-high", o->ig_cfg_high)
        TOY_F("--ag", o->ag_w)
        else { fprintf(stderr, "toy2d: unknown option or missing value: %s\n", a); toy_usage(stderr); return -1; }
#undef TOY_F
#undef TOY_I
    }
    /* the weak guide and the baseline share everything but size and budget */
    {
        toy_model_opts w = o->main_m;
        w.width = o->weak_m.width; w.depth = o->weak_m.depth; w.steps = o->weak_m.steps;
        w.heads = o->weak_m.width % o->main_m.heads ? 1 : o->main_m.heads;
        w.batch = o->weak_m.batch ? o->weak_m.batch : o->main_m.batch;
        w.k = 1; w.seed = o->main_m.seed + 101;
        o->weak_m = w;
    }
    if (o->short_steps > o->main_m.steps) o->short_steps = o->main_m.steps;
    if (o->nsamples < 16 || o->nsteps < 2 || o->main_m.batch < 2 || o->tgroups < 1) {
        fprintf(stderr, "toy2d: bad sizes\n");
        return -1;
    }
    return 0;
}

static double toy_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------------- */
/* exact training targets                                                    */
/* ------------------------------------------------------------------------- */

/* E[eps - x0 | x_t = x, label] for a set of Gaussian components, the same
   algebra as toy_velocity in toy2d_truth.h (see the derivation there):
     v(x, t) = sum_i r_i(x) (A_i (x - m_i) - mu_i),  m_i = (1 - t) mu_i,
     C_i = (1 - t)^2 S_i + t^2 I,  A_i = (t I - (1 - t) S_i) C_i^-1,
     r_i ∝ w_i N(x; m_i, C_i).
   It is redone here because the training batch needs one t per group of
   samples and, for the null label, the union of both classes with prior
   weights 1/2 (label dropout trains the unconditional velocity, which mixes
   the two classes' velocities by their posterior probability at x_t). */
#define TOYEX_MAXC (2 * TOY_NCOMP)

typedef struct toyex_field {
    int n;                                            /* components (multiple of 8) */
    float mx[TOYEX_MAXC], my[TOYEX_MAXC];             /* (1 - t) mu                 */
    float ia[TOYEX_MAXC], ib[TOYEX_MAXC], ic[TOYEX_MAXC]; /* C^-1                  */
    float ln[TOYEX_MAXC];                             /* log w - log 2pi - log|C|/2 */
    float a00[TOYEX_MAXC], a01[TOYEX_MAXC], a10[TOYEX_MAXC], a11[TOYEX_MAXC];
    float ux[TOYEX_MAXC], uy[TOYEX_MAXC];             /* mu                         */
} toyex_field;

/* label 0 (A), 1 (B) or 2 (null: both classes, each with prior 1/2). */
static void toyex_prepare(toyex_field *f, const toy_mixture *mix, int label, double t) {
    int cls, k, n = 0;
    double a = 1.0 - t;
    for (cls = 0; cls < 2; cls++) {
        double prior = label == 2 ? log(0.5) : 0.0;
        if (label != 2 && cls != label) continue;
        for (k = 0; k < TOY_NCOMP; k++, n++) {
            const toy_component *c = &mix->comp[cls][k];
            double c0 = a * a * c->cov[0] + t * t, c1 = a * a * c->cov[1], c2 = a * a * c->cov[2] + t * t;
            double det = c0 * c2 - c1 * c1, i0 = c2 / det, i1 = -c1 / det, i2 = c0 / det;
            double b0 = t - a * c->cov[0], b1 = -a * c->cov[1], b2 = t - a * c->cov[2];
            f->mx[n] = (float)(a * c->mu[0]); f->my[n] = (float)(a * c->mu[1]);
            f->ia[n] = (float)i0; f->ib[n] = (float)i1; f->ic[n] = (float)i2;
            f->ln[n] = (float)(c->logw + prior - TOY_LOG2PI - 0.5 * log(det));
            f->a00[n] = (float)(b0 * i0 + b1 * i1); f->a01[n] = (float)(b0 * i1 + b1 * i2);
            f->a10[n] = (float)(b1 * i0 + b2 * i1); f->a11[n] = (float)(b1 * i1 + b2 * i2);
            f->ux[n] = (float)c->mu[0]; f->uy[n] = (float)c->mu[1];
        }
    }
    f->n = n;
}

static void toyex_velocity(const toyex_field *f, float x, float y, float *vx, float *vy) {
    float lt[TOYEX_MAXC], mx = -HUGE_VALF;
    double sr = 0.0, sx = 0.0, sy = 0.0;
    int k;
    for (k = 0; k < f->n; k++) {
        float dx = x - f->mx[k], dy = y - f->my[k];
        lt[k] = f->ln[k] - 0.5f * (f->ia[k] * dx * dx + 2.0f * f->ib[k] * dx * dy + f->ic[k] * dy * dy);
        mx = lt[k] > mx ? lt[k] : mx;
    }
    for (k = 0; k < f->n; k++) {
        float d = lt[k] - mx, dx, dy, r;
        if (d < -30.0f) continue;
        r = expf(d);
        dx = x - f->mx[k]; dy = y - f->my[k];
        sr += r;
        sx += r * (f->a00[k] * dx + f->a01[k] * dy - f->ux[k]);
        sy += r * (f->a10[k] * dx + f->a11[k] * dy - f->uy[k]);
    }
    *vx = (float)(sx / sr);
    *vy = (float)(sy / sr);
}

/* The training-time distribution of t: uniform, or the EDM log-normal noise
   level ln sigma ~ N(p_mean, p_std^2) mapped to t = sigma / (1 + sigma), which
   puts most of the effort at low noise where the thin leaves are resolved. */
static float toy_draw_t(const toy_opts *o, ig_rng *r) {
    float t;
    if (o->tdist == 0) return ig_rng_uniform(r);
    t = 1.0f / (1.0f + expf(-(o->p_mean + o->p_std * ig_rng_normal(r))));
    return t < 1e-6f ? 1e-6f : t > 1.0f - 1e-6f ? 1.0f - 1e-6f : t;
}

/* One training batch: half class A, half class B, labels dropped to the null
   label with probability 0.1, x_t = (1 - t) x0 + t eps with t shared by
   groups of samples (sample b is in group b % G), target E[eps - x0 | x_t, y]. */
typedef struct toy_batcher {
    const toy_mixture *mix;
    const toy_opts *o;
    ig_rng rng;
    size_t B;
    int G;
    toyex_field *fields;          /* G x 3 */
    float *x0, *xt, *t, *target;
    int *y;
} toy_batcher;

static int toy_batcher_init(toy_batcher *bt, const toy_mixture *mix, const toy_opts *o, size_t B, uint64_t seed) {
    memset(bt, 0, sizeof *bt);
    bt->mix = mix; bt->o = o; bt->B = B;
    bt->G = o->tgroups < (int)B ? o->tgroups : (int)B;
    ig_rng_seed(&bt->rng, seed);
    bt->fields = o->fm ? NULL : (toyex_field *)malloc((size_t)bt->G * 3 * sizeof(toyex_field));
    bt->x0 = (float *)malloc(2 * B * sizeof(float));
    bt->xt = (float *)malloc(2 * B * sizeof(float));
    bt->target = (float *)malloc(2 * B * sizeof(float));
    bt->t = (float *)malloc(B * sizeof(float));
    bt->y = (int *)malloc(B * sizeof(int));
    if ((!o->fm && !bt->fields) || !bt->x0 || !bt->xt || !bt->target || !bt->t || !bt->y) return -1;
    return 0;
}

static void toy_batcher_free(toy_batcher *bt) {
    free(bt->fields); free(bt->x0); free(bt->xt); free(bt->target); free(bt->t); free(bt->y);
}

/* Fills x0 and labels (always); with exact targets also x_t, t and target. */
static void toy_batcher_next(toy_batcher *bt) {
    size_t B = bt->B, half = B / 2, b;
    int g;
    long i;
    toy_sample(bt->mix, TOY_CLASS_A, &bt->rng, bt->x0, half);
    toy_sample(bt->mix, TOY_CLASS_B, &bt->rng, bt->x0 + 2 * half, B - half);
    for (b = 0; b < B; b++) bt->y[b] = b < half ? TOY_CLASS_A : TOY_CLASS_B;
    if (bt->o->fm) return;                      /* ig_train_step does the rest */
    for (g = 0; g < bt->G; g++) {
        float tg = toy_draw_t(bt->o, &bt->rng);
        for (b = (size_t)g; b < B; b += (size_t)bt->G) bt->t[b] = tg;
    }
    for (b = 0; b < B; b++) {
        float t = bt->t[b];
        bt->xt[2 * b] = (1.0f - t) * bt->x0[2 * b] + t * ig_rng_normal(&bt->rng);
        bt->xt[2 * b + 1] = (1.0f - t) * bt->x0[2 * b + 1] + t * ig_rng_normal(&bt->rng);
        if (ig_rng_uniform(&bt->rng) < 0.1f) bt->y[b] = 2;     /* label dropout */
    }
    TOY_OMP_FOR
    for (i = 0; i < 3 * bt->G; i++)
        toyex_prepare(&bt->fields[i], bt->mix, (int)(i % 3), (double)bt->t[i / 3]);
    TOY_OMP_FOR
    for (i = 0; i < (long)B; i++) {
        const toyex_field *f = &bt->fields[(i % bt->G) * 3 + bt->y[i]];
        toyex_velocity(f, bt->xt[2 * i], bt->xt[2 * i + 1], &bt->target[2 * i], &bt->target[2 * i + 1]);
    }
}

/* ------------------------------------------------------------------------- */
/* training                                                                  */
/* ------------------------------------------------------------------------- */

static ig_config toy_config(const toy_model_opts *mo) {
    ig_config c;
    memset(&c, 0, sizeof c);
    c.in_channels = 2; c.image_height = 1; c.image_width = 1; c.patch_size = 1;
    c.hidden_size = mo->width; c.depth = mo->depth; c.num_heads = mo->heads;
    c.num_classes = 2; c.aux_depth = mo->k; c.t_scale = mo->t_scale;
    return c;
}

/* An inference copy of a model's EMA weights (for snapshots and sampling). */
static int toy_snapshot(ig_model *dst, ig_model *src) {
    if (ig_model_init(dst, &src->cfg, 0, 0)) return -1;
    memcpy(dst->weights, src->ema ? src->ema : src->weights, src->nweights * sizeof(float));
    return 0;
}

/* Trains m (already initialized for training) for mo->steps steps; at step
   snap_at (if > 0) copies the EMA weights into *snap.  name labels the
   progress lines on stderr. */
static int toy_train(ig_model *m, const toy_model_opts *mo, const toy_opts *o, const toy_mixture *mix,
                     const char *name, int snap_at, ig_model *snap) {
    ig_arena arena;
    ig_ctx ctx;
    toy_batcher bt;
    ig_train_config tc = ig_train_defaults();
    ig_train_stats st;
    size_t B = (size_t)mo->batch;
    double t0 = toy_now(), last = t0, lf = 0, la = 0;
    int s, nacc = 0, tty = isatty(2), rc = -1;
    ig_config cfg = m->cfg;
    memset(&st, 0, sizeof st);
    if (ig_arena_init(&arena, "train scratch", ig_model_scratch_bytes(&cfg, B, 1))) return -1;
    if (ig_ctx_init(&ctx, &arena, ig_model_tape_nodes(&cfg))) { ig_arena_free(&arena); return -1; }
    if (toy_batcher_init(&bt, mix, o, B, mo->seed * 7919 + 17)) { fprintf(stderr, "toy2d: out of memory\n"); goto done; }
    tc.beta2 = 0.99f;
    tc.grad_clip = mo->clip; tc.aux_weight = mo->lambda; tc.label_dropout = 0.1f;
    for (s = 0; s < mo->steps; s++) {
        double ratio = (double)s / mo->lr_ref, now;
        tc.lr = (float)(mo->lr / sqrt(ratio > 1.0 ? ratio : 1.0));
        /* EMA warm-up: early on the average forgets the random init faster */
        tc.ema_decay = (float)((1.0 + s) / (10.0 + s) < mo->ema ? (1.0 + s) / (10.0 + s) : mo->ema);
        toy_batcher_next(&bt);
        if (o->fm ? ig_train_step(m, &ctx, &tc, bt.x0, bt.y, B, &st)
                  : ig_train_step_on(m, &ctx, &tc, bt.xt, bt.t, bt.y, bt.target, B, &st)) {
            fprintf(stderr, "toy2d: training %s failed at step %d: %s\n", name, s, ig_last_error());
            goto done;
        }
        lf += st.loss_final; la += st.loss_aux; nacc++;
        if (snap && s + 1 == snap_at && toy_snapshot(snap, m)) goto done;
        now = toy_now();
        if (!o->quiet && (now - last > (tty ? 0.5 : 5.0) || s + 1 == mo->steps)) {
            double el = now - t0, rate = (double)(s + 1) * (double)B / el;
            fprintf(stderr, "%s%-10s step %5d/%d  loss final %.4f  inter %.4f  %7.0f samples/s  %4.0f s left%s",
                    tty ? "\r" : "", name, s + 1, mo->steps, lf / nacc, la / nacc, rate,
                    (double)(mo->steps - s - 1) * (double)B / rate, tty ? "  " : "\n");
            last = now; lf = la = 0; nacc = 0;
        }
    }
    if (o->quiet) { rc = 0; goto done; }
    if (tty) fprintf(stderr, "\n");
    fprintf(stderr, "%-10s trained: D %d, L %d, k %d, %d steps x %d in %.1f s\n", name, mo->width, mo->depth,
            mo->k, mo->steps, mo->batch, toy_now() - t0);
    rc = 0;
done:
    toy_batcher_free(&bt);
    ig_arena_free(&arena);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* sampling and scoring                                                      */
/* ------------------------------------------------------------------------- */

/* A sampling context big enough for n points, doubled for CFG. */
typedef struct toy_sctx { ig_arena arena; ig_ctx ctx; } toy_sctx;

static int toy_sctx_init(toy_sctx *s, const ig_config *cfg, size_t n) {
    if (ig_arena_init(&s->arena, "sampling scratch", ig_model_scratch_bytes(cfg, 2 * n, 0))) return -1;
    return ig_ctx_init(&s->ctx, &s->arena, ig_model_tape_nodes(cfg));
}

/* Class-A samples from one starting noise x (2n floats, overwritten). */
static int toy_sample_model(ig_model *m, toy_sctx *sc, ig_model *guide, toy_sctx *gsc, ig_guidance g,
                            const float *noise, float *x, size_t n, const float *grid, int nsteps) {
    ig_guided S;
    int *labels = (int *)calloc(n, sizeof(int)), rc;          /* all class A (0) */
    if (!labels) return -1;
    memset(&S, 0, sizeof S);
    S.model = m; S.ctx = &sc->ctx; S.guide_ctx = gsc ? &gsc->ctx : NULL;
    S.labels = labels; S.batch = n;
    g.guide = guide;
    S.guidance = g;
    memcpy(x, noise, 2 * n * sizeof(float));
    rc = ig_sample_heun(ig_guided_velocity, &S, x, 2 * n, grid, (size_t)nsteps);
    if (rc) fprintf(stderr, "toy2d: sampling failed: %s\n", ig_last_error());
    free(labels);
    return rc;
}

/* One row of the table. */
typedef struct toy_row {
    char method[32];
    toy_metrics mt;
    char weight[32], interval[48];
} toy_row;

static void toy_print_header(FILE *f) {
    fprintf(f, "method\tn\tmean_logp\toutlier_rate\tbranch_tv\tleaf_coverage\tweight\tinterval\n");
}

static void toy_print_row(FILE *f, const toy_row *r) {
    fprintf(f, "%s\t%lu\t%.3f\t%.4f\t%.4f\t%.4f\t%s\t%s\n", r->method, (unsigned long)r->mt.n,
            r->mt.mean_logp, r->mt.outlier_rate, r->mt.branch_tv, r->mt.leaf_coverage, r->weight, r->interval);
}

static int toy_mkdir(const char *path) {
    char buf[1024];
    size_t i, n = strlen(path);
    if (n + 1 > sizeof buf) return -1;
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++)
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) && errno != EEXIST) { fprintf(stderr, "toy2d: cannot create %s\n", buf); return -1; }
            buf[i] = c;
        }
    return 0;
}

static int toy_write_npy(const char *dir, const char *prefix, const char *name, const float *xy, size_t n) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s%s.npy", dir, prefix, name);
    return img_write_npy(path, xy, n, 2);
}

/* K panels in a grid of ncols columns over one pre-rendered background (the
   layout of plot_figure in plot.h, which renders the background on every call;
   rendering it once saves seconds for two figures). */
static int toy_figure(const char *path, const plot_background *bg, int k, int ncols,
                      const char *const *titles, const float *const *samples, const size_t *counts) {
    img_image im;
    int nrows, p, rc, size = bg->size;
    if (ncols > k) ncols = k;
    nrows = (k + ncols - 1) / ncols;
    if (img_image_new(&im, PLOT_GAP + ncols * (size + PLOT_GAP), nrows * (PLOT_TITLE_H + size + PLOT_GAP) + PLOT_GAP / 2))
        return -1;
    for (p = 0; p < k; p++)
        plot_panel_draw(&im, PLOT_GAP + (p % ncols) * (size + PLOT_GAP),
                        PLOT_GAP / 2 + (p / ncols) * (PLOT_TITLE_H + size + PLOT_GAP), bg, titles[p],
                        samples[p], counts[p], 1);
    rc = img_write_png(path, im.rgb, im.w, im.h);
    img_image_free(&im);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* the experiment                                                            */
/* ------------------------------------------------------------------------- */

static const char *toy_fmt(char *buf, size_t cap, const char *fmt, double a, double b) {
    snprintf(buf, cap, fmt, a, b);
    return buf;
}

/* The sweep: IG weight x interval, for the trained model (and k if asked). */
static int toy_sweep(ig_model *m, toy_sctx *sc, const toy_opts *o, toy_mixture *mix,
                     const float *noise, float *x, size_t n, const float *grid) {
    static const float ws[] = { 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f };
    static const float iv[][2] = { { 0.0f, 1.0f }, { 0.0f, 0.3f }, { 0.0f, 0.1f }, { 0.3f, 1.0f }, { 0.1f, 1.0f } };
    size_t wi, ii;
    toy_row r;
    for (ii = 0; ii < sizeof iv / sizeof iv[0]; ii++)
        for (wi = 0; wi < sizeof ws / sizeof ws[0]; wi++) {
            ig_guidance g = ig_guidance_none();
            if (ws[wi] == 1.0f && ii > 0) continue;
            g.ig_weight = ws[wi]; g.ig_low = iv[ii][0]; g.ig_high = iv[ii][1];
            if (toy_sample_model(m, sc, NULL, NULL, g, noise, x, n, grid, o->nsteps)) return -1;
            memset(&r, 0, sizeof r);
            snprintf(r.method, sizeof r.method, "ig_k%d", m->cfg.aux_depth);
            toy_evaluate(mix, TOY_CLASS_A, x, n, &r.mt);
            toy_fmt(r.weight, sizeof r.weight, "%.2f", ws[wi], 0);
            toy_fmt(r.interval, sizeof r.interval, "[%.2f,%.2f]", iv[ii][0], iv[ii][1]);
            toy_print_row(stdout, &r);
            fflush(stdout);
        }
    {   /* CFG alone and IG + CFG: (ig weight, cfg weight, cfg interval) */
        static const float cs[][4] = {
            { 1, 1.5f, 0, 1 }, { 1, 2, 0, 1 }, { 1, 3, 0, 1 }, { 1, 2, 0, 0.3f },
            { 3, 1.25f, 0, 1 }, { 3, 1.5f, 0, 1 }, { 3, 1.5f, 0, 0.3f }, { 3, 2, 0, 0.3f },
            { 2, 1.5f, 0, 0.3f }, { 4, 1.5f, 0, 0.3f },
        };
        for (wi = 0; wi < sizeof cs / sizeof cs[0]; wi++) {
            ig_guidance g = ig_guidance_none();
            g.ig_weight = cs[wi][0];
            g.cfg_scale = cs[wi][1]; g.cfg_low = cs[wi][2]; g.cfg_high = cs[wi][3];
            if (toy_sample_model(m, sc, NULL, NULL, g, noise, x, n, grid, o->nsteps)) return -1;
            memset(&r, 0, sizeof r);
            snprintf(r.method, sizeof r.method, cs[wi][0] != 1.0f ? "ig_cfg" : "cfg");
            toy_evaluate(mix, TOY_CLASS_A, x, n, &r.mt);
            snprintf(r.weight, sizeof r.weight, "ig %.2f cfg %.2f", cs[wi][0], cs[wi][1]);
            snprintf(r.interval, sizeof r.interval, "cfg [%.2f,%.2f]", cs[wi][2], cs[wi][3]);
            toy_print_row(stdout, &r);
            fflush(stdout);
        }
    }
    return 0;
}

int toy2d_main(int argc, char **argv);

int toy2d_main(int argc, char **argv) {
    toy_opts o;
    toy_mixture *mix = NULL;
    ig_model m, weak, base, m_short, base_short;
    ig_model *guide = NULL;
    toy_sctx sc, wsc;
    plot_background bg;
    float grid[1025], *noise = NULL, *xs[8], *speed[3];
    const char *names[8], *titles[8], *speed_titles[3];
    char title_buf[8][64], speed_buf[3][64], path[1200];
    toy_row rows[10];
    int nrows = 0, i, rc = 1, have_base = 0, have_weak = 0;
    size_t n, counts[8];
    double t_start = toy_now();
    FILE *tsv;
    ig_rng nr;

    i = toy_parse(&o, argc, argv);
    if (i) return i > 0 ? 0 : 2;
    n = o.nsamples;
    memset(&m, 0, sizeof m); memset(&weak, 0, sizeof weak); memset(&base, 0, sizeof base);
    memset(&m_short, 0, sizeof m_short); memset(&base_short, 0, sizeof base_short);
    memset(&sc, 0, sizeof sc); memset(&wsc, 0, sizeof wsc);
    memset(xs, 0, sizeof xs); memset(speed, 0, sizeof speed); memset(&bg, 0, sizeof bg);
    if (o.nsteps > 1024) o.nsteps = 1024;
    if (toy_mkdir(o.out)) return 1;
    if (!(mix = toy_mixture_new())) { fprintf(stderr, "toy2d: cannot build the mixture\n"); return 1; }
    toy_grid_edm(grid, o.nsteps);

    if (o.sweep) {   /* one model per head depth in the list (or just --k), each swept */
        const char *p = o.sweep_k[0] ? o.sweep_k : NULL;
        noise = (float *)malloc(2 * n * sizeof(float));
        xs[0] = (float *)malloc(2 * n * sizeof(float));
        if (!noise || !xs[0]) goto done;
        ig_rng_seed(&nr, 4242);
        toy_noise(&nr, noise, 2 * n, grid[0]);
        toy_print_header(stdout);
        do {
            toy_model_opts mo = o.main_m;
            ig_config cfg;
            char name[32];
            if (p) { mo.k = atoi(p); p = strchr(p, ','); if (p) p++; }
            cfg = toy_config(&mo);
            snprintf(name, sizeof name, "IG k=%d", mo.k);
            if (o.load) {   /* a saved model: same sizes as the flags say */
                if (ig_model_init(&m, &cfg, 0, mo.seed) || ig_load(&m, o.load, 1)) {
                    fprintf(stderr, "toy2d: %s\n", ig_last_error()); goto done;
                }
            } else {
                if (ig_model_init(&m, &cfg, 1, mo.seed)) { fprintf(stderr, "toy2d: %s\n", ig_last_error()); goto done; }
                if (toy_train(&m, &mo, &o, mix, name, 0, NULL)) goto done;
                ig_model_swap_ema(&m);
            }
            if (toy_sctx_init(&sc, &cfg, n)) { fprintf(stderr, "toy2d: %s\n", ig_last_error()); goto done; }
            if (toy_sweep(&m, &sc, &o, mix, noise, xs[0], n, grid)) goto done;
            ig_arena_free(&sc.arena);
            ig_model_free(&m);
        } while (p);
        rc = 0;
        goto done;
    }

    /* the models */
    {
        ig_config cfg = toy_config(&o.main_m);
        if (ig_model_init(&m, &cfg, 1, o.main_m.seed)) { fprintf(stderr, "toy2d: %s\n", ig_last_error()); goto done; }
        if (toy_train(&m, &o.main_m, &o, mix, "IG model", o.short_steps, &m_short)) goto done;
        snprintf(path, sizeof path, "%s/model_ema.safetensors", o.out);
        if (ig_save_ema(&m, path)) { fprintf(stderr, "toy2d: %s\n", ig_last_error()); goto done; }
        ig_model_swap_ema(&m);
        if (toy_sctx_init(&sc, &cfg, n)) { fprintf(stderr, "toy2d: %s\n", ig_last_error()); goto done; }
    }
    if (o.ag_w != 1.0f) {
        ig_config wcfg = toy_config(&o.weak_m);
        if (ig_model_init(&weak, &wcfg, 1, o.weak_m.seed)) { fprintf(stderr, "toy2d: %s\n", ig_last_error()); goto done; }
        have_weak = 1;
        if (toy_train(&weak, &o.weak_m, &o, mix, "weak guide", 0, NULL)) goto done;
        ig_model_swap_ema(&weak);
        if (toy_sctx_init(&wsc, &wcfg, n)) goto done;
        guide = &weak;
    }
    if (!o.no_baseline) {
        toy_model_opts bo = o.main_m;
        ig_config bcfg;
        bo.lambda = 0.0f; bo.steps = o.base_steps; bo.seed = o.main_m.seed;   /* same init as the IG model */
        bcfg = toy_config(&bo);
        if (ig_model_init(&base, &bcfg, 1, bo.seed)) goto done;
        have_base = 1;
        if (toy_train(&base, &bo, &o, mix, "baseline", o.short_steps, &base_short)) goto done;
        ig_model_swap_ema(&base);
    }

    /* one starting noise for every method */
    noise = (float *)malloc(2 * n * sizeof(float));
    for (i = 0; i < 8; i++) xs[i] = (float *)malloc(2 * n * sizeof(float));
    for (i = 0; i < 3; i++) speed[i] = (float *)malloc(2 * n * sizeof(float));
    for (i = 0; i < 8; i++) if (!xs[i]) goto done;
    for (i = 0; i < 3; i++) if (!speed[i]) goto done;
    if (!noise) goto done;
    ig_rng_seed(&nr, 4242);
    toy_noise(&nr, noise, 2 * n, grid[0]);

    {
        int nm = 0;
        ig_guidance g;
        double ts = toy_now();
        toy_field *f = (toy_field *)malloc(sizeof(toy_field));
        if (!f) goto done;
        /* ground truth: the exact velocity from the same noise on the same grid */
        toy_field_init(f, mix, TOY_CLASS_A);
        memcpy(xs[nm], noise, 2 * n * sizeof(float));
        if (toy_heun(toy_velocity, f, xs[nm], 2 * n, grid, o.nsteps)) { free(f); goto done; }
        free(f);
        names[nm] = "truth"; titles[nm] = "ground truth"; nm++;

        g = ig_guidance_none();
        if (toy_sample_model(&m, &sc, NULL, NULL, g, noise, xs[nm], n, grid, o.nsteps)) goto done;
        names[nm] = "none"; titles[nm] = "no guidance"; nm++;

        g = ig_guidance_none(); g.cfg_scale = o.cfg_w; g.cfg_low = o.cfg_low; g.cfg_high = o.cfg_high;
        if (!o.only_ig && toy_sample_model(&m, &sc, NULL, NULL, g, noise, xs[nm], n, grid, o.nsteps)) goto done;
        if (!o.only_ig) { names[nm] = "cfg"; snprintf(title_buf[nm], 64, "CFG w=%.3g", o.cfg_w); titles[nm] = title_buf[nm]; nm++; }

        g = ig_guidance_none(); g.ig_weight = o.ig_w; g.ig_low = o.ig_low; g.ig_high = o.ig_high;
        if (toy_sample_model(&m, &sc, NULL, NULL, g, noise, xs[nm], n, grid, o.nsteps)) goto done;
        names[nm] = "ig";
        if (o.ig_low > 0.0f)                      /* say where IG acts when it is not everywhere */
            snprintf(title_buf[nm], 64, "IG w=%.3g (%.2g<t<%.2g)", o.ig_w, o.ig_low, o.ig_high);
        else if (o.ig_high < 1.0f)
            snprintf(title_buf[nm], 64, "IG w=%.3g (t<%.2g)", o.ig_w, o.ig_high);
        else
            snprintf(title_buf[nm], 64, "IG w=%.3g", o.ig_w);
        titles[nm] = title_buf[nm]; nm++;

        g.cfg_scale = o.ig_cfg_cfg; g.ig_weight = o.ig_cfg_ig; g.cfg_low = o.ig_cfg_low; g.cfg_high = o.ig_cfg_high;
        if (!o.only_ig) {
            if (toy_sample_model(&m, &sc, NULL, NULL, g, noise, xs[nm], n, grid, o.nsteps)) goto done;
            names[nm] = "ig_cfg"; snprintf(title_buf[nm], 64, "IG %.3g + CFG %.3g (t<%.2g)", o.ig_cfg_ig, o.ig_cfg_cfg, o.ig_cfg_high);
            titles[nm] = title_buf[nm]; nm++;
        }

        if (guide) {
            g = ig_guidance_none(); g.guide_weight = o.ag_w;
            if (toy_sample_model(&m, &sc, guide, &wsc, g, noise, xs[nm], n, grid, o.nsteps)) goto done;
            names[nm] = "autoguidance"; snprintf(title_buf[nm], 64, "autoguidance w=%.3g", o.ag_w);
            titles[nm] = title_buf[nm]; nm++;
        }
        for (i = 0; i < nm; i++) {
            toy_row *r = &rows[nrows++];
            memset(r, 0, sizeof *r);
            snprintf(r->method, sizeof r->method, "%s", names[i]);
            toy_evaluate(mix, TOY_CLASS_A, xs[i], n, &r->mt);
            snprintf(r->weight, sizeof r->weight, "-");
            snprintf(r->interval, sizeof r->interval, "-");
            if (!strcmp(names[i], "cfg")) {
                snprintf(r->weight, sizeof r->weight, "cfg %.2f", o.cfg_w);
                snprintf(r->interval, sizeof r->interval, "cfg [%.2f,%.2f]", o.cfg_low, o.cfg_high);
            }
            if (!strcmp(names[i], "ig"))
                snprintf(r->interval, sizeof r->interval, "[%.2f,%.2f]", o.ig_low, o.ig_high);
            if (!strcmp(names[i], "ig_cfg"))
                snprintf(r->interval, sizeof r->interval, "ig [%.2f,%.2f] cfg [%.2f,%.2f]", o.ig_low, o.ig_high,
                         o.ig_cfg_low, o.ig_cfg_high);
            if (!strcmp(names[i], "ig")) snprintf(r->weight, sizeof r->weight, "ig %.2f", o.ig_w);
            if (!strcmp(names[i], "ig_cfg"))
                snprintf(r->weight, sizeof r->weight, "ig %.2f cfg %.2f", o.ig_cfg_ig, o.ig_cfg_cfg);
            if (!strcmp(names[i], "autoguidance")) snprintf(r->weight, sizeof r->weight, "ag %.2f", o.ag_w);
            if (toy_write_npy(o.out, "samples_", names[i], xs[i], n)) goto done;
            counts[i] = n;
        }
        if (plot_background_render(&bg, mix, plot_view_from_mixture(mix, 0.08), o.quick ? 128 : 360, 2)) goto done;
        snprintf(path, sizeof path, "%s/toy2d.png", o.out);
        if (toy_figure(path, &bg, nm, nm > 4 ? 3 : nm, titles, (const float *const *)xs, counts)) goto done;

        /* the training-speed panel */
        if (have_base) {
            const char *sn[3] = { "none_short", "none_long", "ig_short" };
            ig_model *sm[3];
            toy_sctx ssc;
            sm[0] = &base_short; sm[1] = &base; sm[2] = &m_short;
            if (toy_sctx_init(&ssc, &m.cfg, n)) goto done;
            for (i = 0; i < 3; i++) {
                toy_row *r = &rows[nrows++];
                int steps = i == 1 ? o.base_steps : o.short_steps;
                g = ig_guidance_none();
                if (i == 2) { g.ig_weight = o.ig_w; g.ig_low = o.ig_low; g.ig_high = o.ig_high; }
                if (toy_sample_model(sm[i], &ssc, NULL, NULL, g, noise, speed[i], n, grid, o.nsteps)) {
                    ig_arena_free(&ssc.arena); goto done;
                }
                memset(r, 0, sizeof *r);
                snprintf(r->method, sizeof r->method, "speed_%s", sn[i]);
                toy_evaluate(mix, TOY_CLASS_A, speed[i], n, &r->mt);
                snprintf(r->weight, sizeof r->weight, i == 2 ? "ig %.2f" : "-", o.ig_w);
                snprintf(r->interval, sizeof r->interval, i == 2 ? "[%.2f,%.2f]" : "-", o.ig_low, o.ig_high);
                snprintf(speed_buf[i], 64, i == 2 ? "IG, %d steps" : "no guidance, %d steps", steps);
                speed_titles[i] = speed_buf[i];
                counts[i] = n;
                if (toy_write_npy(o.out, "samples_speed_", sn[i], speed[i], n)) { ig_arena_free(&ssc.arena); goto done; }
            }
            ig_arena_free(&ssc.arena);
            snprintf(path, sizeof path, "%s/speed.png", o.out);
            if (toy_figure(path, &bg, 3, 3, speed_titles, (const float *const *)speed, counts)) goto done;
        }
        {   /* exact mixture samples as a reference row (not from the shared noise) */
            toy_row *r = &rows[nrows++];
            ig_rng er;
            ig_rng_seed(&er, 777);
            toy_sample(mix, TOY_CLASS_A, &er, xs[7], n);
            memset(r, 0, sizeof *r);
            snprintf(r->method, sizeof r->method, "exact_mixture");
            toy_evaluate(mix, TOY_CLASS_A, xs[7], n, &r->mt);
            snprintf(r->weight, sizeof r->weight, "-");
            snprintf(r->interval, sizeof r->interval, "-");
        }
        if (!o.quiet) fprintf(stderr, "sampling + scoring: %.1f s\n", toy_now() - ts);
    }

    snprintf(path, sizeof path, "%s/metrics.tsv", o.out);
    if (!(tsv = fopen(path, "w"))) { fprintf(stderr, "toy2d: cannot write %s\n", path); goto done; }
    toy_print_header(tsv);
    if (!o.quiet) toy_print_header(stdout);
    for (i = 0; i < nrows; i++) { toy_print_row(tsv, &rows[i]); if (!o.quiet) toy_print_row(stdout, &rows[i]); }
    if (fclose(tsv)) goto done;
    if (!o.quiet) fprintf(stderr, "total %.1f s; wrote %s/{samples_*.npy,toy2d.png,%smetrics.tsv}\n",
            toy_now() - t_start, o.out, have_base ? "speed.png," : "");
    rc = 0;
done:
    for (i = 0; i < 8; i++) free(xs[i]);
    for (i = 0; i < 3; i++) free(speed[i]);
    free(noise);
    plot_background_free(&bg);
    ig_arena_free(&sc.arena); ig_arena_free(&wsc.arena);
    ig_model_free(&m); ig_model_free(&m_short);
    if (have_weak) ig_model_free(&weak);
    if (have_base) { ig_model_free(&base); ig_model_free(&base_short); }
    toy_mixture_free(mix);
    return rc;
}

#ifndef TOY2D_NO_MAIN
int main(int argc, char **argv) { return toy2d_main(argc, argv); }
#endif
