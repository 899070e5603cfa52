/* toy2d.c - the 2D "two fractal trees" experiment of the Autoguidance and IG papers.

   Trains a class-conditional one-token DiT (C = 2, H = W = 1, p = 1) on the exact
   two-class mixture of toy2d_truth.h, with the intermediate head after block k,
   then samples class A from one shared starting noise with: the exact velocity
   (ground truth), no guidance, CFG, IG, IG + CFG and autoguidance, and scores
   every sampler with the exact metrics (mean log p, outliers, branch TV, leaves).
   toy2d_main() at the bottom reads in that order: truth, train, sample each
   method, score, plot.  With OpenMP the trainings and the samplers run as
   tasks on two threads, one thread each (toy_run_all), with the same bits.

     make toy                           build/toy2d --out out/toy2d  (about 3 min)
     build/toy2d --quick --out DIR      a tiny run for the tests      (a few s)
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

   Files: toy2d_truth.h (the ground truth, independent of the model),
   plot.h (figures), toy2d_flags.h (the command line), toy2d_extra.h (the
   training-speed panel and the --sweep experiments).

   Compile with TOY2D_NO_MAIN to use toy2d_main() from another program (the
   tests do); then IG_IMPLEMENTATION must come from another file. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, mkdir, isatty */
#ifndef TOY2D_NO_MAIN
#define IG_IMPLEMENTATION
#endif
#include "../ig.h"
#include "toy2d_truth.h"
#include "plot.h"
#include "cli.h"

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
/* options: the recipe (the defaults are the README's numbers)               */
/* ------------------------------------------------------------------------- */

#define TOY_MAX_SAMPLES (1 << 20)   /* per method: 8 MB of points, and 2x that batch in sampling */
#define TOY_MAX_NSTEPS  1024
#define TOY_MAX_SWEEP_K 16

typedef struct toy_model_opts {
    int width, depth, heads, k;    /* D, L, attention heads, head after block k */
    float t_scale;                 /* t fed to the time embedding: t * t_scale   */
    int steps, batch;              /* optimizer steps x samples per step         */
    float lr, lr_ref;              /* lr = lr0 / sqrt(max(step / lr_ref, 1))     */
    float ema;                     /* EMA decay (with a 1 - (1+s)/(10+s) warm-up) */
    float lambda;                  /* aux_weight: mse(final) + lambda mse(aux)   */
    float clip;                    /* gradient-norm clipping (<= 0: off)         */
    uint64_t seed;
} toy_model_opts;

typedef struct toy_opts {
    const char *out;
    int quick, sweep, fm;          /* --fm: flow-matching targets, not exact     */
    toy_model_opts main_m, weak_m; /* the IG model, the autoguidance guide       */
    toy_model_opts base_m;         /* the lambda = 0 baseline (from main_m)       */
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
    int sweep_k[TOY_MAX_SWEEP_K];  /* --sweep-k 1,2,3: one model per head depth   */
    int nsweep_k;                  /* 0: sweep the one model of --k               */
    const char *load;              /* --sweep --load FILE: sweep a saved model    */
    int quiet;                     /* no progress and no table on the terminal   */
    int side_by_side;              /* set at run time: trainings run at once, so
                                      progress comes as whole lines, not \r      */
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

static ig_config toy_config(const toy_model_opts *mo) {
    ig_config c;
    memset(&c, 0, sizeof c);
    c.in_channels = 2; c.image_height = 1; c.image_width = 1; c.patch_size = 1;
    c.hidden_size = mo->width; c.depth = mo->depth; c.num_heads = mo->heads;
    c.num_classes = 2; c.aux_depth = mo->k; c.t_scale = mo->t_scale;
    return c;
}

#include "toy2d_flags.h"   /* toy_usage, toy_parse: the command line, every check */

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

/* The three fields of one t: f[0] class A, f[1] class B, f[2] the null
   label (both classes, each with prior 1/2).  A component's terms are the
   same in its class's field and in the null one, but for the prior in ln. */
static void toyex_prepare(toyex_field *f, const toy_mixture *mix, double t) {
    int cls, k, n = 0;
    double a = 1.0 - t;
    for (cls = 0; cls < 2; cls++)
        for (k = 0; k < TOY_NCOMP; k++, n++) {
            const toy_component *c = &mix->comp[cls][k];
            double c0 = a * a * c->cov[0] + t * t, c1 = a * a * c->cov[1], c2 = a * a * c->cov[2] + t * t;
            double det = c0 * c2 - c1 * c1, i0 = c2 / det, i1 = -c1 / det, i2 = c0 / det;
            double b0 = t - a * c->cov[0], b1 = -a * c->cov[1], b2 = t - a * c->cov[2], ld = 0.5 * log(det);
            toyex_field *fc = &f[cls], *fn = &f[2];
            fc->mx[k] = (float)(a * c->mu[0]); fc->my[k] = (float)(a * c->mu[1]);
            fc->ia[k] = (float)i0; fc->ib[k] = (float)i1; fc->ic[k] = (float)i2;
            fc->ln[k] = (float)(c->logw + 0.0 - TOY_LOG2PI - ld);
            fc->a00[k] = (float)(b0 * i0 + b1 * i1); fc->a01[k] = (float)(b0 * i1 + b1 * i2);
            fc->a10[k] = (float)(b1 * i0 + b2 * i1); fc->a11[k] = (float)(b1 * i1 + b2 * i2);
            fc->ux[k] = (float)c->mu[0]; fc->uy[k] = (float)c->mu[1];
            fn->mx[n] = fc->mx[k]; fn->my[n] = fc->my[k];
            fn->ia[n] = fc->ia[k]; fn->ib[n] = fc->ib[k]; fn->ic[n] = fc->ic[k];
            fn->ln[n] = (float)(c->logw + log(0.5) - TOY_LOG2PI - ld);
            fn->a00[n] = fc->a00[k]; fn->a01[n] = fc->a01[k]; fn->a10[n] = fc->a10[k]; fn->a11[n] = fc->a11[k];
            fn->ux[n] = fc->ux[k]; fn->uy[n] = fc->uy[k];
        }
    f[0].n = f[1].n = TOY_NCOMP;
    f[2].n = 2 * TOY_NCOMP;
}

/* The velocity at (x, y): every component's log term lt and their max, then
   the sum over the terms within exp(-30) of the max.  The loops are written
   to vectorize: lt on its own; the max in 16 running lanes (the max of the
   same values in another order: the same float); d = lt - max; then the
   test d < -30 sixteen terms at a time, and only a group holding a term
   that counts is summed, one term at a time in order. */
static void toyex_velocity(const toyex_field *f, float x, float y, float *vx, float *vy) {
    float lt[TOYEX_MAXC], lane[16], mx = -HUGE_VALF;
    double sr = 0.0, sx = 0.0, sy = 0.0;
    int k, i, n16 = (f->n + 15) / 16 * 16;
    for (k = 0; k < f->n; k++) {
        float dx = x - f->mx[k], dy = y - f->my[k];
        lt[k] = f->ln[k] - 0.5f * (f->ia[k] * dx * dx + 2.0f * f->ib[k] * dx * dy + f->ic[k] * dy * dy);
    }
    for (k = f->n; k < n16; k++) lt[k] = -HUGE_VALF;
    for (i = 0; i < 16; i++) lane[i] = -HUGE_VALF;
    for (k = 0; k < n16; k += 16)
        for (i = 0; i < 16; i++) lane[i] = lt[k + i] > lane[i] ? lt[k + i] : lane[i];
    for (i = 0; i < 16; i++) mx = lane[i] > mx ? lane[i] : mx;
    for (k = 0; k < n16; k++) lt[k] -= mx;        /* d = lt - mx, for every term at once */
    for (k = 0; k < n16; k += 16) {
        int any = 0;
        for (i = 0; i < 16; i++) any |= !(lt[k + i] < -30.0f);
        if (!any) continue;                        /* no term of these 16 counts */
        for (i = k; i < k + 16 && i < f->n; i++) {
            float d = lt[i], dx, dy, r;
            if (d < -30.0f) continue;
            r = expf(d);
            dx = x - f->mx[i]; dy = y - f->my[i];
            sr += r;
            sx += r * (f->a00[i] * dx + f->a01[i] * dy - f->ux[i]);
            sy += r * (f->a10[i] * dx + f->a11[i] * dy - f->uy[i]);
        }
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
    for (i = 0; i < bt->G; i++) toyex_prepare(&bt->fields[3 * i], bt->mix, (double)bt->t[i]);
    TOY_OMP_FOR
    for (i = 0; i < (long)B; i++) {
        const toyex_field *f = &bt->fields[(i % bt->G) * 3 + bt->y[i]];
        toyex_velocity(f, bt->xt[2 * i], bt->xt[2 * i + 1], &bt->target[2 * i], &bt->target[2 * i + 1]);
    }
}

/* ------------------------------------------------------------------------- */
/* training                                                                  */
/* ------------------------------------------------------------------------- */

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
    int s, nacc = 0, tty = isatty(2) && !o->side_by_side, rc = -1;
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
            fprintf(stderr, "%s%-10s step %5d/%d  loss final %.4f  aux %.4f  %7.0f samples/s  %4.0f s left%s",
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

/* A sampling context big enough for a chunk of n points (toy_sample_model:
   at most 2 TOY_CHUNK - 1), doubled for CFG. */
typedef struct toy_sctx { ig_arena arena; ig_ctx ctx; } toy_sctx;

#define TOY_CHUNK 2048
static int toy_sctx_init(toy_sctx *s, const ig_config *cfg, size_t n) {
    if (n > 2 * TOY_CHUNK) n = 2 * TOY_CHUNK;
    if (ig_arena_init(&s->arena, "sampling scratch", ig_model_scratch_bytes(cfg, 2 * n, 0)) ||
        ig_ctx_init(&s->ctx, &s->arena, ig_model_tape_nodes(cfg))) {
        fprintf(stderr, "toy2d: %s\n", ig_last_error());
        return -1;
    }
    return 0;
}

/* Class-A samples x (n points, (n, 2)) from the starting noise, Heun on the
   grid, with the model's velocity under guidance g (g.guide: autoguidance's
   weak model, sampled in gsc).  Each sample's path depends on itself alone,
   so the points go through in chunks of TOY_CHUNK (the last one takes the
   rest, up to 2 TOY_CHUNK - 1): a chunk's activations stay in the core's
   cache, and the results are the same bits as one batch of n.  Every op of
   the network is row by row, and the matmul sums over K in the same order
   for any number of rows, as long as each product takes the route it takes
   for the whole batch (ig.h Appendix A): with chunks of 2,048 all of the
   toy's products do (with 1,024 the weak guide's would not; the test
   toy_example_chunks_same_bits checks both models, and autoguidance). */

static int toy_sample_model(ig_model *m, toy_sctx *sc, toy_sctx *gsc, ig_guidance g,
                            const float *noise, float *x, size_t n, const float *grid, int nsteps) {
    ig_guided S;
    int *labels = (int *)calloc(2 * TOY_CHUNK, sizeof(int)), rc = 0;   /* all class A (0) */
    size_t c;
    if (!labels) { fprintf(stderr, "toy2d: out of memory\n"); return -1; }
    memcpy(x, noise, 2 * n * sizeof(float));
    for (c = 0; c < n && !rc; c += S.batch) {
        memset(&S, 0, sizeof S);
        S.model = m; S.ctx = &sc->ctx; S.guide_ctx = gsc ? &gsc->ctx : NULL;
        S.labels = labels; S.batch = n - c < 2 * TOY_CHUNK ? n - c : TOY_CHUNK;
        S.guidance = g;
        rc = ig_sample_heun(ig_guided_velocity, &S, x + 2 * c, 2 * S.batch, grid, (size_t)nsteps);
    }
    if (rc) fprintf(stderr, "toy2d: sampling failed: %s\n", ig_last_error());
    free(labels);
    return rc;
}

/* One row of the table: the exact metrics of one sampler's class-A samples,
   and its guidance settings in words. */
typedef struct toy_row {
    char method[32];
    toy_metrics mt;
    char weight[32], interval[48];
} toy_row;

/* The weight and interval columns from the guidance: "ig 3.00 cfg 1.50",
   "ig [0.00,0.30] cfg [0.00,0.30]"; "-" when nothing is on. */
static void toy_row_set(toy_row *r, const char *method, const ig_guidance *g, toy_mixture *mix,
                        const float *x, size_t n) {
    size_t w = 0, iv = 0;
    memset(r, 0, sizeof *r);
    snprintf(r->method, sizeof r->method, "%s", method);
    toy_evaluate(mix, TOY_CLASS_A, x, n, &r->mt);
    if (g->ig_weight != 1.0f) {
        w += (size_t)snprintf(r->weight + w, sizeof r->weight - w, "ig %.2f", g->ig_weight);
        iv += (size_t)snprintf(r->interval + iv, sizeof r->interval - iv, "ig [%.2f,%.2f]", g->ig_low, g->ig_high);
    }
    if (g->cfg_scale != 1.0f) {
        w += (size_t)snprintf(r->weight + w, sizeof r->weight - w, "%scfg %.2f", w ? " " : "", g->cfg_scale);
        iv += (size_t)snprintf(r->interval + iv, sizeof r->interval - iv, "%scfg [%.2f,%.2f]", iv ? " " : "",
                               g->cfg_low, g->cfg_high);
    }
    if (g->guide) w += (size_t)snprintf(r->weight + w, sizeof r->weight - w, "%sag %.2f", w ? " " : "", g->guide_weight);
    if (!w) snprintf(r->weight, sizeof r->weight, "-");
    if (!iv) snprintf(r->interval, sizeof r->interval, "-");
}

static void toy_print_header(FILE *f) {
    fprintf(f, "method\tn\tmean_logp\toutlier_rate\tbranch_tv\tleaf_coverage\tweight\tinterval\n");
}

static void toy_print_row(FILE *f, const toy_row *r) {
    fprintf(f, "%s\t%lu\t%.3f\t%.4f\t%.4f\t%.4f\t%s\t%s\n", r->method, (unsigned long)r->mt.n,
            r->mt.mean_logp, r->mt.outlier_rate, r->mt.branch_tv, r->mt.leaf_coverage, r->weight, r->interval);
}

/* ------------------------------------------------------------------------- */
/* output files                                                              */
/* ------------------------------------------------------------------------- */

static int toy_mkdir(const char *path) {
    char buf[1024];
    size_t i, n = strlen(path);
    if (n + 1 > sizeof buf) return -1;
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++)
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) && errno != EEXIST) {
                fprintf(stderr, "toy2d: cannot create %s: %s\n", buf, strerror(errno));
                return -1;
            }
            buf[i] = c;
        }
    if (access(path, W_OK | X_OK)) { fprintf(stderr, "toy2d: cannot write to %s: %s\n", path, strerror(errno)); return -1; }
    return 0;
}

static int toy_write_npy(const char *dir, const char *prefix, const char *name, const float *xy, size_t n) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s%s.npy", dir, prefix, name);
    return img_write_npy(path, xy, n, 2);
}

/* K panels of n points each in a grid of ncols columns over one pre-rendered
   background (the layout of plot_figure in plot.h, which renders the
   background on every call; rendering it once saves seconds for two figures). */
static int toy_figure(const char *path, const plot_background *bg, int k, int ncols,
                      const char *const *titles, float *const *samples, size_t n) {
    img_image im;
    int nrows, p, rc, size = bg->size;
    if (ncols > k) ncols = k;
    nrows = (k + ncols - 1) / ncols;
    if (img_image_new(&im, PLOT_GAP + ncols * (size + PLOT_GAP), nrows * (PLOT_TITLE_H + size + PLOT_GAP) + PLOT_GAP / 2))
        return -1;
    for (p = 0; p < k; p++)
        plot_panel_draw(&im, PLOT_GAP + (p % ncols) * (size + PLOT_GAP),
                        PLOT_GAP / 2 + (p / ncols) * (PLOT_TITLE_H + size + PLOT_GAP), bg, titles[p],
                        samples[p], n, 1);
    rc = img_write_png(path, im.rgb, im.w, im.h);
    img_image_free(&im);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* the samplers compared                                                     */
/* ------------------------------------------------------------------------- */

/* One sampler: a row of the table, a panel of the figure, a samples file. */
typedef struct toy_method {
    const char *name;          /* samples_<name>.npy and the table's method column */
    char title[64];            /* the panel title                                  */
    int exact;                 /* 1: the exact velocity field (the ground truth)   */
    ig_guidance guidance;      /* else: the IG model under this guidance           */
} toy_method;

#define TOY_MAX_METHODS 6

static void toy_method_add(toy_method *list, int *n, const char *name, int exact, ig_guidance g,
                           const char *title) {
    list[*n].name = name;
    list[*n].exact = exact;
    list[*n].guidance = g;
    snprintf(list[*n].title, sizeof list[*n].title, "%s", title);
    (*n)++;
}

/* " (t<0.3)" or " (0.1<t<1)": where in t a guidance acts, when not everywhere. */
static const char *toy_when(char *buf, size_t cap, float low, float high) {
    if (low > 0.0f) snprintf(buf, cap, " (%.2g<t<%.2g)", low, high);
    else if (high < 1.0f) snprintf(buf, cap, " (t<%.2g)", high);
    else buf[0] = '\0';
    return buf;
}

/* The list, in the order of the table and the figure: ground truth, no
   guidance, CFG, IG, IG + CFG (its IG part on IG's interval, its CFG part on
   its own), autoguidance (if guide is not NULL).  --only-ig drops CFG and
   IG + CFG. */
static int toy_methods(const toy_opts *o, ig_model *guide, toy_method *list) {
    ig_guidance none = ig_guidance_none(), cfg = none, ig = none, ig_cfg, ag = none;
    char title[64], when[32];
    int n = 0;
    cfg.cfg_scale = o->cfg_w; cfg.cfg_low = o->cfg_low; cfg.cfg_high = o->cfg_high;
    ig.ig_weight = o->ig_w; ig.ig_low = o->ig_low; ig.ig_high = o->ig_high;
    ig_cfg = ig;
    ig_cfg.ig_weight = o->ig_cfg_ig;
    ig_cfg.cfg_scale = o->ig_cfg_cfg; ig_cfg.cfg_low = o->ig_cfg_low; ig_cfg.cfg_high = o->ig_cfg_high;
    ag.guide = guide; ag.guide_weight = o->ag_w;

    toy_method_add(list, &n, "truth", 1, none, "ground truth");
    toy_method_add(list, &n, "none", 0, none, "no guidance");
    if (!o->only_ig) {
        snprintf(title, sizeof title, "CFG w=%.3g%s", o->cfg_w, toy_when(when, sizeof when, o->cfg_low, o->cfg_high));
        toy_method_add(list, &n, "cfg", 0, cfg, title);
    }
    snprintf(title, sizeof title, "IG w=%.3g%s", o->ig_w, toy_when(when, sizeof when, o->ig_low, o->ig_high));
    toy_method_add(list, &n, "ig", 0, ig, title);
    if (!o->only_ig) {
        snprintf(title, sizeof title, "IG %.3g + CFG %.3g%s", o->ig_cfg_ig, o->ig_cfg_cfg,
                 toy_when(when, sizeof when, o->ig_cfg_low, o->ig_cfg_high));
        toy_method_add(list, &n, "ig_cfg", 0, ig_cfg, title);
    }
    if (guide) {
        snprintf(title, sizeof title, "autoguidance w=%.3g", o->ag_w);
        toy_method_add(list, &n, "autoguidance", 0, ag, title);
    }
    return n;
}

/* ------------------------------------------------------------------------- */
/* the experiment                                                            */
/* ------------------------------------------------------------------------- */

#define TOY_NBUF  (TOY_MAX_METHODS + 4)    /* samples: methods, speed panel (3), exact */
#define TOY_NROWS (TOY_MAX_METHODS + 4)

/* Everything one run holds, freed in one place. */
typedef struct toy_run {
    toy_opts o;
    size_t n;                          /* samples per method                      */
    toy_mixture *mix;                  /* the ground truth                        */
    float grid[TOY_MAX_NSTEPS + 1];    /* the EDM grid: t from 1 down to 0        */
    float *noise;                      /* (n, 2): one starting noise for all      */
    float *x[TOY_NBUF];                /* (n, 2) each: samples                    */
    ig_model ig, ig_short;             /* the IG model; its EMA after short_steps */
    ig_model weak;                     /* autoguidance's weak guide               */
    ig_model base, base_short;         /* the lambda = 0 baseline, long and short */
    toy_sctx sc[2], wsc[2];            /* sampling scratch per thread: the IG
                                          model's configuration, the weak guide's */
    plot_background bg;                /* the class regions, drawn once           */
    toy_row rows[TOY_NROWS];
    int nrows;
} toy_run;

/* The ground truth, the output directory and every buffer, so that nothing
   fails after minutes of training; then the one starting noise of every
   sampler: x_1 = t_0 eps, seed 4242. */
static int toy_run_setup(toy_run *r) {
    ig_rng rng;
    int i;
    r->n = r->o.nsamples;
    if (!(r->mix = toy_mixture_new())) { fprintf(stderr, "toy2d: cannot build the mixture\n"); return -1; }
    if (toy_mkdir(r->o.out)) return -1;
    r->noise = (float *)malloc(2 * r->n * sizeof(float));
    for (i = 0; i < TOY_NBUF; i++) r->x[i] = (float *)malloc(2 * r->n * sizeof(float));
    for (i = 0; i < TOY_NBUF; i++)
        if (!r->x[i] || !r->noise) { fprintf(stderr, "toy2d: out of memory for %zu samples\n", r->n); return -1; }
    toy_grid_edm(r->grid, r->o.nsteps);
    ig_rng_seed(&rng, 4242);
    toy_noise(&rng, r->noise, 2 * r->n, r->grid[0]);
    return 0;
}

static void toy_run_free(toy_run *r) {
    int i;
    free(r->noise);
    for (i = 0; i < TOY_NBUF; i++) free(r->x[i]);
    plot_background_free(&r->bg);
    for (i = 0; i < 2; i++) { ig_arena_free(&r->sc[i].arena); ig_arena_free(&r->wsc[i].arena); }
    ig_model_free(&r->ig); ig_model_free(&r->ig_short); ig_model_free(&r->weak);
    ig_model_free(&r->base); ig_model_free(&r->base_short);
    toy_mixture_free(r->mix);
    free(r);
}

/* OpenMP for toy2d's own two-lane regions; without it they run on one thread. */
#ifdef _OPENMP
#include <omp.h>
#define TOY_OMP(x)     _Pragma(#x)
#define TOY_THREAD()   omp_get_thread_num()
#define TOY_NTHREADS() omp_get_num_threads()
#define TOY_LANES()    (omp_get_max_threads() > 1 ? 2 : 1)
#else
#define TOY_OMP(x)
#define TOY_THREAD()   0
#define TOY_NTHREADS() 1
#define TOY_LANES()    1
#endif

/* A new model trained with the options mo; its EMA after short_steps goes
   to *snap (if not NULL). */
static int toy_train_model(toy_run *r, ig_model *m, const toy_model_opts *mo, const char *name, ig_model *snap) {
    ig_config cfg = toy_config(mo);
    if (ig_model_init(m, &cfg, 1, mo->seed)) { fprintf(stderr, "toy2d: %s: %s\n", name, ig_last_error()); return -1; }
    return toy_train(m, mo, &r->o, r->mix, name, snap ? r->o.short_steps : 0, snap);
}

/* The three trainings.  0: the IG model, saved, with its EMA after
   short_steps for the speed panel; 1: the lambda = 0 baseline (with its EMA
   after short_steps); 2: autoguidance's weak guide.  Each model is left
   holding its EMA weights, which is what gets sampled. */
static int toy_train_one(toy_run *r, int which) {
    const toy_opts *o = &r->o;
    char path[1200];
    if (which == 0) {
        if (toy_train_model(r, &r->ig, &o->main_m, "IG model", &r->ig_short)) return -1;
        snprintf(path, sizeof path, "%s/model_ema.safetensors", o->out);
        if (ig_save_ema(&r->ig, path)) { fprintf(stderr, "toy2d: %s\n", ig_last_error()); return -1; }
        ig_model_swap_ema(&r->ig);
    } else if (which == 1) {
        if (toy_train_model(r, &r->base, &o->base_m, "baseline", &r->base_short)) return -1;
        ig_model_swap_ema(&r->base);
    } else {
        if (toy_train_model(r, &r->weak, &o->weak_m, "weak guide", NULL)) return -1;
        ig_model_swap_ema(&r->weak);
    }
    return 0;
}

/* One sampler of the comparison: its samples, its row of the table, its
   panel of a figure. */
enum { TOY_JOB_MODEL, TOY_JOB_FIELD, TOY_JOB_MIXTURE };
typedef struct toy_job {
    char name[32];             /* the table's method column                           */
    const char *file;          /* samples_<file>.npy; NULL: not written               */
    char title[64];            /* its panel's title                                   */
    int kind;                  /* a model; the exact field (ground truth); exact samples */
    ig_model *m;               /* TOY_JOB_MODEL: this model under the guidance g      */
    ig_guidance g;
    float *x;                  /* (n, 2): the samples                                 */
    toy_row row;
    double seconds;
} toy_job;

static void toy_job_add(toy_job *jobs, int *n, int kind, const char *name, const char *file, const char *title,
                        ig_model *m, ig_guidance g, float *x) {
    toy_job *j = &jobs[(*n)++];
    memset(j, 0, sizeof *j);
    snprintf(j->name, sizeof j->name, "%s", name);
    snprintf(j->title, sizeof j->title, "%s", title);
    j->file = file; j->kind = kind; j->m = m; j->g = g; j->x = x;
}

/* Samples one job from the shared noise (on thread th's scratch), then
   scores them against the true density. */
static int toy_run_job(toy_run *r, toy_job *j, int th) {
    double t0 = toy_now();
    int rc;
    if (j->kind == TOY_JOB_FIELD) {
        toy_field *f = (toy_field *)malloc(sizeof(toy_field));   /* large: not on the stack */
        if (!f) { fprintf(stderr, "toy2d: out of memory\n"); return -1; }
        toy_field_init(f, r->mix, TOY_CLASS_A);
        memcpy(j->x, r->noise, 2 * r->n * sizeof(float));
        rc = toy_heun(toy_velocity, f, j->x, 2 * r->n, r->grid, r->o.nsteps);
        free(f);
    } else if (j->kind == TOY_JOB_MIXTURE) {
        ig_rng rng;                         /* their own random numbers, not the shared noise */
        ig_rng_seed(&rng, 777);
        rc = toy_sample(r->mix, TOY_CLASS_A, &rng, j->x, r->n);
    } else {
        rc = toy_sample_model(j->m, &r->sc[th], &r->wsc[th], j->g, r->noise, j->x, r->n, r->grid,
                              r->o.nsteps);
    }
    if (rc) return -1;
    toy_row_set(&j->row, j->name, &j->g, r->mix, j->x, r->n);
    j->seconds = toy_now() - t0;
    if (!r->o.quiet) fprintf(stderr, "sampled and scored %-18s %6.1f s\n", j->name, j->seconds);
    return 0;
}

/* Everything after the setup, as tasks on two threads (OpenMP tasks with
   dependencies): the trainings (IG model, baseline, weak guide), and each
   sampler as soon as the models it needs are trained, so both cores stay
   busy to the end.  Every task runs on one thread, and ig.h computes the
   same bits on any number of threads: the models, samples and scores are
   those of doing it all one after another (what happens without OpenMP, in
   the order the tasks are made).  A one-token model's ops are too small to
   share well between two threads; two tasks at once keep both cores busy. */
static int toy_run_all(toy_run *r, toy_job *jobs, int nj) {
    const toy_opts *o = &r->o;
    ig_config cfg = toy_config(&o->main_m), wcfg = toy_config(&o->weak_m);
    int lanes = TOY_LANES(), i, rc_ig = 0, rc_base = 0, rc_weak = 0, bad = 0;
    char d_ig = 0, d_base = 0, d_weak = 0;      /* the dependencies' handles */
    for (i = 0; i < lanes; i++) {
        if (toy_sctx_init(&r->sc[i], &cfg, r->n)) return -1;
        if (o->ag_w != 1.0f && toy_sctx_init(&r->wsc[i], &wcfg, r->n)) return -1;
    }
    if (toy_outlier_threshold(r->mix, TOY_CLASS_A) == -HUGE_VAL) return -1;   /* cached */
    r->o.side_by_side = lanes > 1;
    TOY_OMP(omp parallel num_threads(2) if (lanes > 1))
    TOY_OMP(omp single)
    {
        TOY_OMP(omp task depend(out: d_ig))
        rc_ig = toy_train_one(r, 0);
        if (!o->no_baseline) {
            TOY_OMP(omp task depend(out: d_base))
            rc_base = toy_train_one(r, 1);
        }
        if (o->ag_w != 1.0f) {
            TOY_OMP(omp task depend(out: d_weak))
            rc_weak = toy_train_one(r, 2);
        }
        for (i = 0; i < 2 * nj; i++) {   /* first the jobs with two passes per step (CFG, a guide) */
            toy_job *j = &jobs[i % nj];
            if ((i < nj) != (j->g.cfg_scale != 1.0f || j->g.guide != NULL)) continue;
            if (j->kind != TOY_JOB_MODEL) {
                TOY_OMP(omp task firstprivate(j))
                if (toy_run_job(r, j, TOY_THREAD())) {
                    TOY_OMP(omp atomic write)
                    bad = 1;
                }
            } else if (j->m == &r->base || j->m == &r->base_short) {
                TOY_OMP(omp task firstprivate(j) depend(in: d_base))
                if (rc_base || toy_run_job(r, j, TOY_THREAD())) {
                    TOY_OMP(omp atomic write)
                    bad = 1;
                }
            } else if (j->g.guide) {
                TOY_OMP(omp task firstprivate(j) depend(in: d_ig, d_weak))
                if (rc_ig || rc_weak || toy_run_job(r, j, TOY_THREAD())) {
                    TOY_OMP(omp atomic write)
                    bad = 1;
                }
            } else {
                TOY_OMP(omp task firstprivate(j) depend(in: d_ig))
                if (rc_ig || toy_run_job(r, j, TOY_THREAD())) {
                    TOY_OMP(omp atomic write)
                    bad = 1;
                }
            }
        }
    }
    (void)d_ig; (void)d_base; (void)d_weak;
    return rc_ig || rc_base || rc_weak || bad ? -1 : 0;
}

static int toy_write_table(toy_run *r) {
    char path[1200];
    FILE *f;
    int i;
    snprintf(path, sizeof path, "%s/metrics.tsv", r->o.out);
    if (!(f = fopen(path, "w"))) { fprintf(stderr, "toy2d: cannot write %s: %s\n", path, strerror(errno)); return -1; }
    toy_print_header(f);
    for (i = 0; i < r->nrows; i++) toy_print_row(f, &r->rows[i]);
    if (ferror(f) | fclose(f)) { fprintf(stderr, "toy2d: error writing %s\n", path); return -1; }
    if (!r->o.quiet) {
        toy_print_header(stdout);
        for (i = 0; i < r->nrows; i++) toy_print_row(stdout, &r->rows[i]);
    }
    return 0;
}

#include "toy2d_extra.h"   /* the training-speed panel and the guidance sweep */

int toy2d_main(int argc, char **argv);

int toy2d_main(int argc, char **argv) {
    toy_run *r = (toy_run *)calloc(1, sizeof(toy_run));
    toy_opts *o;
    toy_method methods[TOY_MAX_METHODS];
    toy_job jobs[TOY_NBUF];
    const char *titles[TOY_NBUF];
    char path[1200];
    double t_start = toy_now(), t_sample;
    int nm, nj = 0, i, rc;

    if (!r) { fprintf(stderr, "toy2d: out of memory\n"); return 1; }
    o = &r->o;
    rc = toy_parse(o, argc, argv);                  /* every check, before any work */
    if (rc) { free(r); return rc > 0 ? 0 : 2; }     /* --help: 0; a bad flag: 2 */
    if (o->sweep) { rc = toy_sweep(o) ? 1 : 0; free(r); return rc; }

    /* 0. the truth: the exact mixture (toy2d_truth.h), the output directory,
       every buffer and the one starting noise */
    rc = 1;
    if (toy_run_setup(r)) goto done;

    /* 1. train the IG model, the lambda = 0 baseline and autoguidance's weak
       guide; 2. sample class A with every method from the same noise, the
       speed panel's models too, and exact samples of the mixture (what a
       perfect sampler scores), and score each against the true density.
       toy_run_all runs both as tasks on two threads. */
    t_sample = toy_now();
    nm = toy_methods(o, o->ag_w != 1.0f ? &r->weak : NULL, methods);
    for (i = 0; i < nm; i++)
        toy_job_add(jobs, &nj, methods[i].exact ? TOY_JOB_FIELD : TOY_JOB_MODEL, methods[i].name,
                    methods[i].name, methods[i].title, &r->ig, methods[i].guidance, r->x[i]);
    if (!o->no_baseline) toy_speed_jobs(r, jobs, &nj, r->x + nm);
    toy_job_add(jobs, &nj, TOY_JOB_MIXTURE, "exact_mixture", NULL, "exact samples", NULL,
                ig_guidance_none(), r->x[TOY_NBUF - 1]);
    if (toy_run_all(r, jobs, nj)) goto done;
    if (!o->quiet) fprintf(stderr, "training, sampling and scoring: %.1f s\n", toy_now() - t_sample);

    /* 3. the files: each sampler's samples, the table, the figure (one panel
       per method over the class regions) and the training-speed figure */
    for (i = 0; i < nj; i++) {
        r->rows[r->nrows++] = jobs[i].row;
        titles[i] = jobs[i].title;
        if (jobs[i].file && toy_write_npy(o->out, i < nm ? "samples_" : "samples_speed_", jobs[i].file,
                                          jobs[i].x, r->n)) goto done;
    }
    if (plot_background_render(&r->bg, r->mix, plot_view_from_mixture(r->mix, 0.08), o->quick ? 128 : 360, 2)) goto done;
    snprintf(path, sizeof path, "%s/toy2d.png", o->out);
    if (toy_figure(path, &r->bg, nm, nm > 4 ? 3 : nm, titles, r->x, r->n)) goto done;
    snprintf(path, sizeof path, "%s/speed.png", o->out);
    if (!o->no_baseline && toy_figure(path, &r->bg, 3, 3, titles + nm, r->x + nm, r->n)) goto done;

    if (toy_write_table(r)) goto done;
    if (!o->quiet) fprintf(stderr, "total %.1f s; wrote %s/{samples_*.npy,toy2d.png,%smetrics.tsv}\n",
                           toy_now() - t_start, o->out, o->no_baseline ? "" : "speed.png,");
    rc = 0;
done:
    toy_run_free(r);
    return rc;
}

#ifndef TOY2D_NO_MAIN
int main(int argc, char **argv) { return toy2d_main(argc, argv); }
#endif
