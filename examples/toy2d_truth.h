/* toy2d_truth.h - the exact ground truth of the 2D "two fractal trees" toy.

   The toy of the Autoguidance and IG papers: a class-conditional 2D mixture of
   Gaussians shaped like two trees (class A grows towards the upper right, class B
   towards the lower left).  Because the density is known in closed form we can
   draw exact samples, evaluate log p exactly, write down the exact flow-matching
   velocity of the noised mixture, and score any sampler with exact metrics.

   Everything here is header-only and static; include it from ONE .c file that
   also includes ig.h (mt19937.h builds the trees).

     toy_mixture_new / _free        build the two trees (the papers' numbers)
     toy_logp, toy_logp_sigma,      log p(x | class) at noise level sigma, and the
     toy_logp_t                     noised marginal at flow time t
     toy_sample                     exact samples of one class
     toy_field_init, toy_velocity   the exact velocity v(x, t) as an ig_velocity_fn
     toy_grid_edm, toy_grid_uniform the time grids; toy_heun a small Heun sampler
     toy_evaluate, toy_metrics_*    mean log p, outliers, branch TV, leaf coverage

   Conventions as in ig.h: t = 1 is noise, t = 0 is data,
   x_t = (1 - t) x0 + t eps, velocity v = eps - x0.  Points are stored
   interleaved: x[2k] is the horizontal, x[2k+1] the vertical coordinate. */
#ifndef TOY2D_TRUTH_H
#define TOY2D_TRUTH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "../ig.h"
#include "mt19937.h"

/* The samplers of ig.h take a velocity field of this type. */
#ifndef IG_VELOCITY_FN_DEFINED
#define IG_VELOCITY_FN_DEFINED
typedef int (*ig_velocity_fn)(void *user, const float *x, size_t n, float t, float *v);
#endif

/* Every function is static inline: private to the including file, and no
   "defined but not used" warnings for the ones a program does not call. */
#define TOYDEF static inline

/* OpenMP without warnings when it is off: TOY_OMP_FOR expands to nothing. */
#ifdef _OPENMP
#define TOY_OMP_FOR _Pragma("omp parallel for schedule(static)")
#else
#define TOY_OMP_FOR
#endif

#define TOY_DEPTH    7                     /* branch depths 0..6                 */
#define TOY_PER      8                     /* Gaussian components per branch     */
#define TOY_NBRANCH  127                   /* 2^7 - 1 branches per tree          */
#define TOY_NCOMP    (TOY_NBRANCH * TOY_PER) /* 1016 components per class        */
#define TOY_NLEAF    64                    /* branches at depth 6                */
#define TOY_CLASS_A  0
#define TOY_CLASS_B  1
#define TOY_LOG2PI   1.8378770664093453    /* log(2 pi)                          */

/* One Gaussian component.  cov = [[cov[0], cov[1]], [cov[1], cov[2]]]. */
typedef struct toy_component {
    double w;          /* normalized weight: phi / sum(phi)                      */
    double logw;       /* log w                                                  */
    double mu[2];      /* mean                                                   */
    double cov[3];     /* covariance (xx, xy, yy)                                */
    double inv[3];     /* its inverse, same layout (for sigma = 0)               */
    double lognorm;    /* log w - log(2 pi) - 0.5 log det(cov)                   */
} toy_component;

typedef struct toy_mixture {
    toy_component comp[2][TOY_NCOMP];       /* [class][component], depth-first   */
    double weight_sum[2];                   /* raw sums of phi (check values)    */
    int branch_depth[TOY_NBRANCH];          /* the same tree shape for A and B   */
    double branch_mass[2][TOY_NBRANCH];     /* sum of the 8 normalized weights   */
    double threshold[2];                    /* 1% quantile of log p (lazy)       */
    int threshold_ready[2];
} toy_mixture;

/* ------------------------------------------------------------------------- */
/* building the trees                                                        */
/* ------------------------------------------------------------------------- */

/* Tree parameters (docs/toy2d.md summarizes the construction). */
static const double toy_origin[2] = { 0.0030, 0.0325 };
static const double toy_scale[2]  = { 1.3136, 1.3844 };

typedef struct toy_builder {
    mt19937 rng;      /* ONE stream for both trees: A first, then B */
    toy_mixture *m;
    int cls, ncomp, nbranch;
} toy_builder;

/* branch(depth, pos, angle):
     d     = (cos angle, sin angle)
     dist  = 0.292 * 0.8^depth * (1 + 0.2 n)
     thick = 0.2 * 0.8^depth / dist
     size  = s * dist * 0.06                          (a 2-vector)
     for u in linspace(0.07, 0.93, 8):
        phi = dist * 0.5^depth
        mu  = (pos + d dist u) * s                    (elementwise)
        cov = (d d^T + thick^2 (I - d d^T)) * (size size^T)   (elementwise)
     children, sign = +1 first (whole subtree), then -1, each after drawing n:
        branch(depth + 1, pos + d dist, angle + sign 0.7^depth (1 + 0.2 n))      */
TOYDEF void toy__branch(toy_builder *b, int depth, double px, double py, double angle) {
    double dx, dy, dist, thick, sx, sy, phi;
    int j, sign;
    if (depth >= TOY_DEPTH) return;
    dx = cos(angle); dy = sin(angle);
    dist = 0.292 * pow(0.8, depth) * (1.0 + 0.2 * mt_normal(&b->rng));
    thick = 0.2 * pow(0.8, depth) / dist;
    sx = toy_scale[0] * dist * 0.06;
    sy = toy_scale[1] * dist * 0.06;
    phi = dist * pow(0.5, depth);
    if (b->cls == TOY_CLASS_A) b->m->branch_depth[b->nbranch] = depth;
    b->nbranch++;
    for (j = 0; j < TOY_PER; j++) {
        double u = 0.07 + (0.93 - 0.07) * j / (TOY_PER - 1);
        toy_component *c = &b->m->comp[b->cls][b->ncomp++];
        double t2 = thick * thick;
        c->w = phi;                                  /* normalized later */
        c->mu[0] = (px + dx * dist * u) * toy_scale[0];
        c->mu[1] = (py + dy * dist * u) * toy_scale[1];
        /* d d^T + thick^2 (I - d d^T) = thick^2 I + (1 - thick^2) d d^T */
        c->cov[0] = (t2 + (1.0 - t2) * dx * dx) * sx * sx;
        c->cov[1] = ((1.0 - t2) * dx * dy) * sx * sy;
        c->cov[2] = (t2 + (1.0 - t2) * dy * dy) * sy * sy;
    }
    for (sign = 1; sign >= -1; sign -= 2) {
        double n = mt_normal(&b->rng);            /* drawn BEFORE the call */
        toy__branch(b, depth + 1, px + dx * dist, py + dy * dist,
                    angle + sign * pow(0.7, depth) * (1.0 + 0.2 * n));
    }
}

/* Fill m with both trees.  Returns 0, or -1 if the counts come out wrong. */
TOYDEF int toy_mixture_build(toy_mixture *m) {
    toy_builder b;
    int cls, k;
    const double pi = 3.14159265358979323846;
    memset(m, 0, sizeof *m);
    mt_seed(&b.rng, 2);
    b.m = m;
    for (cls = 0; cls < 2; cls++) {
        double sum = 0.0;
        b.cls = cls; b.ncomp = 0; b.nbranch = 0;
        toy__branch(&b, 0, toy_origin[0], toy_origin[1], cls == TOY_CLASS_A ? pi / 4 : 5 * pi / 4);
        if (b.ncomp != TOY_NCOMP || b.nbranch != TOY_NBRANCH) {
            fprintf(stderr, "toy_mixture_build: %d components, expected %d\n", b.ncomp, TOY_NCOMP);
            return -1;
        }
        for (k = 0; k < TOY_NCOMP; k++) sum += m->comp[cls][k].w;
        m->weight_sum[cls] = sum;
        for (k = 0; k < TOY_NCOMP; k++) {
            toy_component *c = &m->comp[cls][k];
            double det = c->cov[0] * c->cov[2] - c->cov[1] * c->cov[1];
            c->w /= sum;
            c->logw = log(c->w);
            c->inv[0] = c->cov[2] / det;
            c->inv[1] = -c->cov[1] / det;
            c->inv[2] = c->cov[0] / det;
            c->lognorm = log(c->w) - TOY_LOG2PI - 0.5 * log(det);
            m->branch_mass[cls][k / TOY_PER] += c->w;
        }
    }
    return 0;
}

/* malloc + build; NULL on failure (the struct is ~170 KB: keep it off the stack). */
TOYDEF toy_mixture *toy_mixture_new(void) {
    toy_mixture *m = (toy_mixture *)malloc(sizeof(toy_mixture));
    if (!m) { fprintf(stderr, "toy_mixture_new: out of memory\n"); return NULL; }
    if (toy_mixture_build(m) != 0) { free(m); return NULL; }
    return m;
}

TOYDEF void toy_mixture_free(toy_mixture *m) { free(m); }

/* ------------------------------------------------------------------------- */
/* exact densities                                                           */
/* ------------------------------------------------------------------------- */

/* The general form behind every density below:
     log sum_i w_i N(x; a mu_i, a^2 Sigma_i + s2 I)
   computed with log-sum-exp: terms l_i = log w_i N(...), m = max l_i,
   log sum exp(l_i) = m + log sum exp(l_i - m).  Far from the data every
   N(...) underflows to 0 in double, but l_i stays finite. */
TOYDEF double toy_logp_general(const toy_mixture *m, int cls, double x, double y,
                               double a, double s2) {
    double lt[TOY_NCOMP], mx = -HUGE_VAL, sum = 0.0;
    int k;
    for (k = 0; k < TOY_NCOMP; k++) {
        const toy_component *c = &m->comp[cls][k];
        double c0 = a * a * c->cov[0] + s2, c1 = a * a * c->cov[1], c2 = a * a * c->cov[2] + s2;
        double det = c0 * c2 - c1 * c1;
        double dx = x - a * c->mu[0], dy = y - a * c->mu[1];
        /* q = d^T C^-1 d with C^-1 = [[c2, -c1], [-c1, c0]] / det */
        double q = (c2 * dx * dx - 2.0 * c1 * dx * dy + c0 * dy * dy) / det;
        lt[k] = c->logw - TOY_LOG2PI - 0.5 * log(det) - 0.5 * q;
        if (lt[k] > mx) mx = lt[k];
    }
    for (k = 0; k < TOY_NCOMP; k++) sum += exp(lt[k] - mx);
    return mx + log(sum);
}

/* log p(x | class; sigma) = log sum_i w_i N(x; mu_i, Sigma_i + sigma^2 I) */
TOYDEF double toy_logp_sigma(const toy_mixture *m, int cls, double x, double y, double sigma) {
    return toy_logp_general(m, cls, x, y, 1.0, sigma * sigma);
}

/* The noised marginal of x_t = (1 - t) x0 + t eps at flow time t:
     log sum_i w_i N(x; (1 - t) mu_i, (1 - t)^2 Sigma_i + t^2 I)           */
TOYDEF double toy_logp_t(const toy_mixture *m, int cls, double x, double y, double t) {
    return toy_logp_general(m, cls, x, y, 1.0 - t, t * t);
}

/* The clean density, with its terms beyond exp(-40) of the largest skipped
   (they cannot change the double result at the digits that matter).
   Optionally also returns the branch with the largest summed weighted
   density sum_{i in branch} w_i N(x; mu_i, Sigma_i) (the branch holding the
   largest single term always beats any branch whose terms are all
   exp(-40) smaller, so those are skipped too). */
TOYDEF double toy__logp_branch(const toy_mixture *m, int cls, double x, double y, int *branch) {
    double lt[TOY_NCOMP], mx = -HUGE_VAL, sum = 0.0, best = -1.0;
    int k, b;
    for (k = 0; k < TOY_NCOMP; k++) {
        const toy_component *c = &m->comp[cls][k];
        double dx = x - c->mu[0], dy = y - c->mu[1];
        double q = c->inv[0] * dx * dx + 2.0 * c->inv[1] * dx * dy + c->inv[2] * dy * dy;
        lt[k] = c->lognorm - 0.5 * q;
        if (lt[k] > mx) mx = lt[k];
    }
    if (branch) *branch = 0;
    for (b = 0; b < TOY_NBRANCH; b++) {
        double bs = 0.0;
        for (k = b * TOY_PER; k < (b + 1) * TOY_PER; k++)
            if (lt[k] > mx - 40.0) bs += exp(lt[k] - mx);
        sum += bs;
        if (branch && bs > best) { best = bs; *branch = b; }
    }
    return mx + log(sum);
}

/* log p(x | class), the clean density (sigma = 0). */
TOYDEF double toy_logp(const toy_mixture *m, int cls, double x, double y) {
    return toy__logp_branch(m, cls, x, y, NULL);
}

/* ------------------------------------------------------------------------- */
/* exact sampling                                                            */
/* ------------------------------------------------------------------------- */

/* n exact samples of one class into xy (2n floats):
   pick component i with probability w_i (inverse CDF by bisection), then
   x = mu_i + L z with z ~ N(0, I) and L L^T = Sigma_i (Cholesky):
     L = [[l00, 0], [l10, l11]],  l00 = sqrt(S00), l10 = S01 / l00,
     l11 = sqrt(S11 - l10^2).                                               */
TOYDEF int toy_sample(const toy_mixture *m, int cls, ig_rng *rng, float *xy, size_t n) {
    double cdf[TOY_NCOMP], acc = 0.0;
    size_t s;
    int k;
    for (k = 0; k < TOY_NCOMP; k++) { acc += m->comp[cls][k].w; cdf[k] = acc; }
    for (s = 0; s < n; s++) {
        double u = (double)ig_rng_uniform(rng) * acc;
        int lo = 0, hi = TOY_NCOMP - 1;
        const toy_component *c;
        double l00, l10, l11, z0, z1;
        while (lo < hi) {                 /* first k with cdf[k] > u */
            int mid = (lo + hi) / 2;
            if (cdf[mid] > u) hi = mid; else lo = mid + 1;
        }
        c = &m->comp[cls][lo];
        l00 = sqrt(c->cov[0]);
        l10 = c->cov[1] / l00;
        l11 = sqrt(c->cov[2] - l10 * l10);
        z0 = ig_rng_normal(rng);
        z1 = ig_rng_normal(rng);
        xy[2 * s]     = (float)(c->mu[0] + l00 * z0);
        xy[2 * s + 1] = (float)(c->mu[1] + l10 * z0 + l11 * z1);
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* the exact flow-matching velocity                                          */
/* ------------------------------------------------------------------------- */

/* Derivation.  Component i: x0 ~ N(mu, S), eps ~ N(0, I) independent,
   x_t = (1 - t) x0 + t eps ~ N(m, C) with m = (1 - t) mu, C = (1 - t)^2 S + t^2 I.
   Jointly Gaussian, so the posterior means are linear in x:
     E[x0  | x_t = x] = mu + Cov(x0, x_t) C^-1 (x - m) = mu + (1 - t) S C^-1 (x - m)
     E[eps | x_t = x] =      Cov(eps, x_t) C^-1 (x - m) =      t     C^-1 (x - m)
   so the component's velocity E[eps - x0 | x] is
     v_i(x) = A_i (x - m_i) - mu_i,   A_i = (t I - (1 - t) S_i) C_i^-1.
   The mixture's velocity mixes them with the responsibilities
     r_i(x) = w_i N(x; m_i, C_i) / sum_j w_j N(x; m_j, C_j),
     v(x, t) = sum_i r_i(x) v_i(x).
   Ends: t = 1 gives C = I, A = I, v = x - mu_i (mixed); t = 0 gives C = S,
   A = -I, v = -x.  S is positive definite, so C is invertible for every t in
   [0, 1] and no special case is needed; we only clamp t into [0, 1].

   The per-component numbers depend on t only, so they are computed once per
   call (once per sampler stage) in double and stored as float in
   structure-of-arrays form; the per-point loop is float (the quadratic forms
   of the components that matter are small numbers, so float is plenty) with
   the responsibilities accumulated in double. */
typedef struct toy_field {
    const toy_mixture *mix;
    int cls;
    float t;                  /* the t the arrays below were made for */
    int ready;
    float mx[TOY_NCOMP], my[TOY_NCOMP];              /* m = (1 - t) mu          */
    float ia[TOY_NCOMP], ib[TOY_NCOMP], ic[TOY_NCOMP]; /* C^-1 = [[ia, ib], [ib, ic]] */
    float ln[TOY_NCOMP];                             /* log w - log 2pi - log det C / 2 */
    float a00[TOY_NCOMP], a01[TOY_NCOMP], a10[TOY_NCOMP], a11[TOY_NCOMP]; /* A */
    float ux[TOY_NCOMP], uy[TOY_NCOMP];              /* mu                      */
} toy_field;

/* Point a field at one class of a mixture (the field is ~60 KB: heap or static). */
TOYDEF void toy_field_init(toy_field *f, const toy_mixture *mix, int cls) {
    f->mix = mix; f->cls = cls; f->ready = 0; f->t = -1.0f;
}

TOYDEF void toy__field_prepare(toy_field *f, float tf) {
    double t = tf < 0.0f ? 0.0 : tf > 1.0f ? 1.0 : (double)tf;
    double a = 1.0 - t;
    int k;
    for (k = 0; k < TOY_NCOMP; k++) {
        const toy_component *c = &f->mix->comp[f->cls][k];
        double c0 = a * a * c->cov[0] + t * t, c1 = a * a * c->cov[1], c2 = a * a * c->cov[2] + t * t;
        double det = c0 * c2 - c1 * c1;
        double i0 = c2 / det, i1 = -c1 / det, i2 = c0 / det;     /* C^-1 */
        /* B = t I - (1 - t) S ;  A = B C^-1 */
        double b0 = t - a * c->cov[0], b1 = -a * c->cov[1], b2 = t - a * c->cov[2];
        f->mx[k] = (float)(a * c->mu[0]);
        f->my[k] = (float)(a * c->mu[1]);
        f->ia[k] = (float)i0; f->ib[k] = (float)i1; f->ic[k] = (float)i2;
        f->ln[k] = (float)(log(c->w) - TOY_LOG2PI - 0.5 * log(det));
        f->a00[k] = (float)(b0 * i0 + b1 * i1);
        f->a01[k] = (float)(b0 * i1 + b1 * i2);
        f->a10[k] = (float)(b1 * i0 + b2 * i1);
        f->a11[k] = (float)(b1 * i1 + b2 * i2);
        f->ux[k] = (float)c->mu[0];
        f->uy[k] = (float)c->mu[1];
    }
    f->t = tf;
    f->ready = 1;
}

/* exp(x) in float for -80 < x <= 0, written so compilers can vectorize it:
   exp(x) = 2^y with y = x log2(e) = k + f, k = round(y), |f| <= 1/2;
   2^f = e^z with z = f ln 2 in [-0.35, 0.35], a degree-6 Taylor polynomial
   (error below z^7/7! ~ 1.2e-7 relative), and 2^k goes into the exponent bits.
   Rounding uses the "add 1.5 * 2^23" trick (exact in IEEE float arithmetic). */
TOYDEF float toy__exp(float x) {
    float y, k, z, p;
    int32_t bits;
    y = x * 1.44269504f;
    k = (y + 12582912.0f) - 12582912.0f;
    z = (y - k) * 0.693147181f;
    p = 1.0f + z * (1.0f + z * (0.5f + z * (1.0f / 6 + z * (1.0f / 24 + z * (1.0f / 120 + z * (1.0f / 720))))));
    bits = ((int32_t)k + 127) << 23;
    memcpy(&y, &bits, sizeof y);
    return p * y;
}

/* v(x, t) for one point.  The loops run over all 1016 components in blocks
   of 8 lanes (1016 = 127 * 8), which lets the compiler use SIMD registers
   without reordering any float sum on its own. */
TOYDEF void toy__velocity_point(const toy_field *f, float x, float y, float *vx, float *vy) {
    float lt[TOY_NCOMP], lane_max[8], lane_r[8], lane_x[8], lane_y[8], mxl;
    double sr = 0.0, sx = 0.0, sy = 0.0;
    int k, j;
    /* pass 1: l_i = log of w_i N(x; m_i, C_i), and the largest */
    for (k = 0; k < TOY_NCOMP; k++) {
        float dx = x - f->mx[k], dy = y - f->my[k];
        float q = f->ia[k] * dx * dx + 2.0f * f->ib[k] * dx * dy + f->ic[k] * dy * dy;
        lt[k] = f->ln[k] - 0.5f * q;
    }
    for (j = 0; j < 8; j++) lane_max[j] = lt[j];
    for (k = 8; k < TOY_NCOMP; k += 8)
        for (j = 0; j < 8; j++) lane_max[j] = lt[k + j] > lane_max[j] ? lt[k + j] : lane_max[j];
    mxl = lane_max[0];
    for (j = 1; j < 8; j++) mxl = lane_max[j] > mxl ? lane_max[j] : mxl;
    /* pass 2: r_i = exp(l_i - max) (terms below exp(-30) dropped), and
       sum_i r_i,  sum_i r_i v_i  with  v_i = A_i (x - m_i) - mu_i */
    for (j = 0; j < 8; j++) lane_r[j] = lane_x[j] = lane_y[j] = 0.0f;
    for (k = 0; k < TOY_NCOMP; k += 8)
        for (j = 0; j < 8; j++) {
            int i = k + j;
            /* keep = 1 if l_i - max > -30, else 0 (a mask, not a branch) */
            float d = lt[i] - mxl, keep = (float)(d > -30.0f);
            float r = keep * toy__exp(d * keep);
            float dx = x - f->mx[i], dy = y - f->my[i];
            lane_r[j] += r;
            lane_x[j] += r * (f->a00[i] * dx + f->a01[i] * dy - f->ux[i]);
            lane_y[j] += r * (f->a10[i] * dx + f->a11[i] * dy - f->uy[i]);
        }
    for (j = 0; j < 8; j++) { sr += lane_r[j]; sx += lane_x[j]; sy += lane_y[j]; }
    *vx = (float)(sx / sr);
    *vy = (float)(sy / sr);
}

/* The ig_velocity_fn: user is a toy_field*, x and v hold n/2 points. */
TOYDEF int toy_velocity(void *user, const float *x, size_t n, float t, float *v) {
    toy_field *f = (toy_field *)user;
    long i, np = (long)(n / 2);
    if (!f || !f->mix || (n & 1)) return -1;
    if (!f->ready || f->t != t) toy__field_prepare(f, t);
    TOY_OMP_FOR
    for (i = 0; i < np; i++)
        toy__velocity_point(f, x[2 * i], x[2 * i + 1], &v[2 * i], &v[2 * i + 1]);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* time grids and a small Heun sampler                                       */
/* ------------------------------------------------------------------------- */

/* EDM grid (Karras et al. 2022, rho = 7), nsteps + 1 times in t:
     sigma_i = (80^(1/7) + i/(N-1) (0.002^(1/7) - 80^(1/7)))^7,  i = 0..N-1
     t_i = sigma_i / (1 + sigma_i),   t_N = 0.
   (sigma is the noise-to-signal ratio t / (1 - t) of the linear path.)
   Note t_0 = 80/81: the sampler starts from noise of std t_0 (see toy_run). */
TOYDEF void toy_grid_edm(float *t, int nsteps) {
    double a = pow(80.0, 1.0 / 7.0), b = pow(0.002, 1.0 / 7.0);
    int i;
    for (i = 0; i < nsteps; i++) {
        double s = pow(a + (nsteps > 1 ? (double)i / (nsteps - 1) : 0.0) * (b - a), 7.0);
        t[i] = (float)(s / (1.0 + s));
    }
    t[nsteps] = 0.0f;
}

/* Uniform grid: t_i = 1 - i / N, i = 0..N. */
TOYDEF void toy_grid_uniform(float *t, int nsteps) {
    int i;
    for (i = 0; i <= nsteps; i++) t[i] = (float)(1.0 - (double)i / nsteps);
    t[nsteps] = 0.0f;
}

/* Heun's method over a grid t[0] > t[1] > ... > t[nsteps], x (n floats)
   holding x_{t[0]} on entry and the result on exit.  Each step h = t' - t:
     d1 = v(x, t);  x_e = x + h d1                      (Euler predictor)
     d2 = v(x_e, t'); x  = x + h (d1 + d2) / 2          (trapezoid corrector)
   except a step that ends at t' = 0, which keeps the Euler predictor. */
TOYDEF int toy_heun(ig_velocity_fn fn, void *user, float *x, size_t n,
                    const float *t, int nsteps) {
    float *d1 = (float *)malloc(n * sizeof(float));
    float *d2 = (float *)malloc(n * sizeof(float));
    float *xe = (float *)malloc(n * sizeof(float));
    int i, rc = 0;
    size_t j;
    if (!d1 || !d2 || !xe) { fprintf(stderr, "toy_heun: out of memory\n"); rc = -1; goto done; }
    for (i = 0; i < nsteps; i++) {
        float h = t[i + 1] - t[i];
        if (fn(user, x, n, t[i], d1) != 0) { rc = -1; goto done; }
        for (j = 0; j < n; j++) xe[j] = x[j] + h * d1[j];
        if (t[i + 1] <= 0.0f) { memcpy(x, xe, n * sizeof(float)); continue; }
        if (fn(user, xe, n, t[i + 1], d2) != 0) { rc = -1; goto done; }
        for (j = 0; j < n; j++) x[j] += 0.5f * h * (d1[j] + d2[j]);
    }
done:
    free(d1); free(d2); free(xe);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* metrics                                                                   */
/* ------------------------------------------------------------------------- */

TOYDEF int toy__cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* q-quantile of v[0..n-1] (sorted in place), linear between order statistics. */
TOYDEF double toy__quantile(double *v, size_t n, double q) {
    double pos = q * (double)(n - 1), fr;
    size_t i;
    qsort(v, n, sizeof(double), toy__cmp_double);
    i = (size_t)pos;
    fr = pos - (double)i;
    return i + 1 < n ? v[i] + fr * (v[i + 1] - v[i]) : v[n - 1];
}

#define TOY_THRESHOLD_SAMPLES 65536
#define TOY_THRESHOLD_SEED    20240601u

/* The outlier threshold of a class: the 1% quantile of log p(x | class) over
   65,536 exact samples drawn with a fixed seed.  Computed on first use and
   kept in the mixture (so: not thread-safe on the first call).  The same level
   also outlines the region holding 99% of the class's mass in the figures. */
TOYDEF double toy_outlier_threshold(toy_mixture *m, int cls) {
    if (!m->threshold_ready[cls]) {
        size_t n = TOY_THRESHOLD_SAMPLES;
        float *xy = (float *)malloc(2 * n * sizeof(float));
        double *lp = (double *)malloc(n * sizeof(double));
        ig_rng rng;
        long i;
        if (!xy || !lp) { free(xy); free(lp); fprintf(stderr, "toy_outlier_threshold: out of memory\n"); return -HUGE_VAL; }
        ig_rng_seed(&rng, TOY_THRESHOLD_SEED + (unsigned)cls);
        toy_sample(m, cls, &rng, xy, n);
        TOY_OMP_FOR
        for (i = 0; i < (long)n; i++) lp[i] = toy_logp(m, cls, xy[2 * i], xy[2 * i + 1]);
        m->threshold[cls] = toy__quantile(lp, n, 0.01);
        m->threshold_ready[cls] = 1;
        free(xy); free(lp);
    }
    return m->threshold[cls];
}

typedef struct toy_metrics {
    size_t n;              /* samples scored                                      */
    double mean_logp;      /* mean log p(x | A) (higher: closer to the cores)       */
    double outlier_rate;   /* fraction with log p below the 1% ground-truth quantile */
    double branch_tv;      /* TV distance, branch occupancy vs true branch masses   */
    double leaf_coverage;  /* fraction of the 64 leaves with >= half their mass     */
} toy_metrics;

/* Score samples xy (n points, interleaved) of class cls (normally A):
     mean log p   = (1/n) sum_s log p(x_s | cls)
     outlier rate = #{s : log p(x_s) < threshold} / n
     occupancy_b  = #{non-outliers assigned to branch b} / #non-outliers, where a
                    sample goes to argmax_b sum_{i in b} w_i N(x; mu_i, Sigma_i)
     branch TV    = 1/2 sum_b |occupancy_b - mass_b|,  mass_b = sum_{i in b} w_i
     coverage     = #{leaves b (depth 6) : occupancy_b >= mass_b / 2} / 64       */
TOYDEF int toy_evaluate(toy_mixture *m, int cls, const float *xy, size_t n, toy_metrics *out) {
    double thr = toy_outlier_threshold(m, cls);
    double *lp = (double *)malloc(n * sizeof(double));
    int *br = (int *)malloc(n * sizeof(int));
    double count[TOY_NBRANCH], sum = 0.0, tv = 0.0;
    size_t s, nout = 0, nin;
    long i;
    int b, leaves = 0;
    if (!lp || !br) { free(lp); free(br); fprintf(stderr, "toy_evaluate: out of memory\n"); return -1; }
    TOY_OMP_FOR
    for (i = 0; i < (long)n; i++) lp[i] = toy__logp_branch(m, cls, xy[2 * i], xy[2 * i + 1], &br[i]);
    memset(count, 0, sizeof count);
    for (s = 0; s < n; s++) {
        sum += lp[s];
        if (lp[s] < thr) nout++;
        else count[br[s]] += 1.0;
    }
    nin = n - nout;
    for (b = 0; b < TOY_NBRANCH; b++) {
        double occ = nin ? count[b] / (double)nin : 0.0;
        tv += 0.5 * fabs(occ - m->branch_mass[cls][b]);
        if (m->branch_depth[b] == TOY_DEPTH - 1 && occ >= 0.5 * m->branch_mass[cls][b]) leaves++;
    }
    out->n = n;
    out->mean_logp = n ? sum / (double)n : 0.0;
    out->outlier_rate = n ? (double)nout / (double)n : 0.0;
    out->branch_tv = tv;
    out->leaf_coverage = (double)leaves / TOY_NLEAF;
    free(lp); free(br);
    return 0;
}

TOYDEF void toy_metrics_print_header(FILE *f) {
    fprintf(f, "method\tn\tmean_logp\toutlier_rate\tbranch_tv\tleaf_coverage\n");
}

TOYDEF void toy_metrics_print_row(FILE *f, const char *label, const toy_metrics *mt) {
    fprintf(f, "%s\t%lu\t%.4f\t%.4f\t%.4f\t%.4f\n", label, (unsigned long)mt->n,
            mt->mean_logp, mt->outlier_rate, mt->branch_tv, mt->leaf_coverage);
}

/* ------------------------------------------------------------------------- */
/* convenience: sample a class with the exact velocity                       */
/* ------------------------------------------------------------------------- */

/* Noise for a grid starting at t0: x = t0 * eps.  On the linear path x_t0 =
   (1 - t0) x0 + t0 eps, so for t0 close to 1 the data part is negligible
   (t0 = 80/81 on the EDM grid: the EDM convention x = sigma_max eps, rescaled). */
TOYDEF void toy_noise(ig_rng *rng, float *x, size_t n, float t0) {
    size_t j;
    for (j = 0; j < n; j++) x[j] = t0 * ig_rng_normal(rng);
}

/* n points of class cls with the exact velocity on a grid; 0 or -1. */
TOYDEF int toy_run_exact(const toy_mixture *m, int cls, const float *grid, int nsteps,
                         uint64_t seed, float *xy, size_t n) {
    toy_field *f = (toy_field *)malloc(sizeof(toy_field));
    ig_rng rng;
    int rc;
    if (!f) { fprintf(stderr, "toy_run_exact: out of memory\n"); return -1; }
    toy_field_init(f, m, cls);
    ig_rng_seed(&rng, seed);
    toy_noise(&rng, xy, 2 * n, grid[0]);
    rc = toy_heun(toy_velocity, f, xy, 2 * n, grid, nsteps);
    free(f);
    return rc;
}

#endif /* TOY2D_TRUTH_H */
