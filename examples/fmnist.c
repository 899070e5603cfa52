/* fmnist.c - Internal Guidance on Fashion-MNIST: train, sample, evaluate.

   build/fmnist train  [--steps N] [--batch B] [--ckpt PATH] [--resume] ...
   build/fmnist bench  [model flags]      time a training step and a forward pass
   build/fmnist --help                    every subcommand and flag

   Compile with FMNIST_NO_MAIN to call fmnist_main() from another program (the
   tests do); then IG_IMPLEMENTATION must come from another file.

   The images (N, 28, 28) bytes are scaled to x0 = b / 127.5 - 1 in [-1, 1]; the
   model is a class-conditional pixel DiT (C = 1, H = W = 28) with the
   intermediate ("aux") head after block k, trained by flow matching with
   loss = mse(v_final, eps - x0) + lambda mse(v_aux, eps - x0) (lambda 0.5). */
#define _POSIX_C_SOURCE 200809L
#ifndef FMNIST_NO_MAIN
#define IG_IMPLEMENTATION
#endif
#include "../ig.h"
#include "cli.h"
#include "idx.h"
#include "image.h"
#include "npy.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <stdarg.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define FM_SIDE 28
#define FM_PIX (FM_SIDE * FM_SIDE)
#define FM_CLASSES 10

static const char *PROG = "fmnist";

/* Errors of this file go to fm__err; fm_error() gives it, or else ig.h's. */
static char fm__err[1024];
static int fm_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fm__err, sizeof fm__err, fmt, ap);
    va_end(ap);
    return -1;
}
static const char *fm_error(void) { return fm__err[0] ? fm__err : ig_last_error(); }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;   /* Linux: kilobytes */
}

static int nthreads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* ------------------------------------------------------------------------- */
/* data                                                                      */
/* ------------------------------------------------------------------------- */

/* One split: n images (n, 28, 28) bytes and n labels in 0..9. */
typedef struct { size_t n; unsigned char *img; unsigned char *lab; } fm_split;

static void fm_split_free(fm_split *s) { free(s->img); free(s->lab); memset(s, 0, sizeof *s); }

/* Reads <dir>/<name>-images-idx3-ubyte and <dir>/<name>-labels-idx1-ubyte
   (name "train" or "t10k"), checking that they agree and hold 28x28 images
   with labels 0..9. */
static int fm_load(const char *dir, const char *name, fm_split *s) {
    char ip[1024], lp[1024];
    idx_array im, lb;
    size_t i;
    memset(s, 0, sizeof *s);
    snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte", dir, name);
    snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte", dir, name);
    if (idx_read(ip, 3, &im)) { fprintf(stderr, "%s: %s\n", PROG, idx_error()); return -1; }
    if (idx_read(lp, 1, &lb)) { fprintf(stderr, "%s: %s\n", PROG, idx_error()); idx_free(&im); return -1; }
    if (im.dims[1] != FM_SIDE || im.dims[2] != FM_SIDE) {
        fprintf(stderr, "%s: %s: images are %zux%zu, expected 28x28\n", PROG, ip, im.dims[1], im.dims[2]);
        idx_free(&im); idx_free(&lb); return -1;
    }
    if (im.dims[0] != lb.dims[0]) {
        fprintf(stderr, "%s: %s has %zu images but %s has %zu labels\n", PROG, ip, im.dims[0], lp, lb.dims[0]);
        idx_free(&im); idx_free(&lb); return -1;
    }
    for (i = 0; i < lb.n; i++)
        if (lb.data[i] >= FM_CLASSES) {
            fprintf(stderr, "%s: %s: label %d of item %zu is outside 0..9\n", PROG, lp, lb.data[i], i);
            idx_free(&im); idx_free(&lb); return -1;
        }
    s->n = im.dims[0];
    s->img = im.data;
    s->lab = lb.data;
    return 0;
}

/* x0 = byte / 127.5 - 1: pixels in [-1, 1], the scale of the unit noise. */
static void fm_to_model(const unsigned char *b, float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) x[i] = (float)b[i] / 127.5f - 1.0f;
}

/* splitmix64: the batch of step s depends on (seed, s) only, so a resumed run
   draws the same images as an uninterrupted one without saving a data RNG. */
static uint64_t fm_mix(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ------------------------------------------------------------------------- */
/* the classifier behind the metrics                                         */
/* ------------------------------------------------------------------------- */

/* A small convolutional classifier, trained with ig.h's tape:
     x (B,28,28) in [-1,1] -> 5x5 patches at stride 2, zero padding 2 (B,196,25)
     c1    = gelu(patches W1^T + b1)           (B,196,32)   a 5x5 convolution, stride 2 -> 14x14
     c2    = gelu(group2x2(c1) W2^T + b2)      (B,49,64)    a 2x2 convolution, stride 2 -> 7x7
     feat  = gelu(flatten(c2) W3^T + b3)       (B,128)
     logits = feat W4^T + b4                   (B,10)
   feat is the feature vector of every metric (Frechet distance, precision,
   recall); argmax(logits) is the class.  The patches are cut outside the tape
   (the images need no gradient), so the first convolution is one ig_linear.
   They are ordered so that the four positions of each 2x2 block of the 14x14
   map are consecutive tokens: then ig_reshape (B,196,32) -> (B,49,128) puts
   each block's four feature vectors side by side and the second convolution
   is one ig_linear too. */
#define FC_K 5
#define FC_GRID 14                      /* 28 / stride 2                       */
#define FC_TOK (FC_GRID * FC_GRID)      /* 196                                 */
#define FC_CH 32
#define FC_CH2 64
#define FC_TOK2 49                      /* 7 x 7                               */
#define FC_FEAT 128
#define FC_NP 8

typedef struct {
    ig_arena arena;
    ig_tensor *w[FC_NP];                /* W1 b1 W2 b2 W3 b3 W4 b4             */
    float *m[FC_NP], *v[FC_NP];         /* Adam moments (training only)        */
    long long step;
} fm_clf;

static const char *const fc_names[FC_NP] = { "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                             "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias" };

static int fc_init(fm_clf *f, uint64_t seed, int training) {
    static const size_t shp[FC_NP][2] = { { FC_CH, FC_K * FC_K }, { FC_CH, 0 }, { FC_CH2, 4 * FC_CH }, { FC_CH2, 0 },
                                          { FC_FEAT, FC_TOK2 * FC_CH2 }, { FC_FEAT, 0 }, { FM_CLASSES, FC_FEAT }, { FM_CLASSES, 0 } };
    ig_rng r;
    int i;
    size_t j;
    memset(f, 0, sizeof *f);
    if (ig_arena_init(&f->arena, "classifier", 4 * 4 * 420000 + 65536)) return -1;
    ig_rng_seed(&r, seed);
    for (i = 0; i < FC_NP; i++) {
        int nd = shp[i][1] ? 2 : 1;
        if (!(f->w[i] = ig_tensor_new(&f->arena, nd, shp[i], training))) return -1;
        memset(f->w[i]->data, 0, f->w[i]->n * sizeof(float));
        if (nd == 2) {   /* uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), as torch's Linear */
            float a = 1.0f / sqrtf((float)shp[i][1]);
            for (j = 0; j < f->w[i]->n; j++) f->w[i]->data[j] = a * (2.0f * ig_rng_uniform(&r) - 1.0f);
        }
        if (training) {
            f->m[i] = (float *)ig_arena_alloc(&f->arena, f->w[i]->n * sizeof(float));
            f->v[i] = (float *)ig_arena_alloc(&f->arena, f->w[i]->n * sizeof(float));
            if (!f->m[i] || !f->v[i]) return -1;
            memset(f->m[i], 0, f->w[i]->n * sizeof(float));
            memset(f->v[i], 0, f->w[i]->n * sizeof(float));
        }
    }
    return 0;
}

/* x (B,784) in [-1,1] -> *feat (B,128), *logits (B,10); the tape is recorded
   when ctx was reset for training. */
static int fc_forward(fm_clf *f, ig_ctx *c, const float *x, size_t B, ig_tensor **feat, ig_tensor **logits) {
    size_t shp[3] = { B, FC_TOK, FC_K * FC_K }, blocks[3] = { B, FC_TOK2, 4 * FC_CH }, flat[2] = { B, FC_TOK2 * FC_CH2 }, b;
    ig_tensor *p = ig_tensor_new(c->scratch, 3, shp, 0), *h;
    int gy, gx, ky, kx;
    if (!p) return fm_fail("classifier: out of scratch memory");
    for (b = 0; b < B; b++)
        for (gy = 0; gy < FC_GRID; gy++)
            for (gx = 0; gx < FC_GRID; gx++) {
                /* token of (gy, gx): block (gy/2, gx/2) of the 7x7 grid, then (gy%2, gx%2) inside it */
                size_t tok = (size_t)(((gy / 2) * 7 + gx / 2) * 4 + (gy % 2) * 2 + gx % 2);
                float *row = p->data + (b * FC_TOK + tok) * FC_K * FC_K;
                for (ky = 0; ky < FC_K; ky++)
                    for (kx = 0; kx < FC_K; kx++) {
                        int yy = 2 * gy + ky - 2, xx = 2 * gx + kx - 2;
                        row[ky * FC_K + kx] = (yy < 0 || yy >= FM_SIDE || xx < 0 || xx >= FM_SIDE)
                                              ? 0.0f : x[b * FM_PIX + (size_t)yy * FM_SIDE + (size_t)xx];
                    }
            }
    h = ig_gelu(c, ig_linear(c, p, f->w[0], f->w[1]));                      /* (B,196,32) */
    h = ig_gelu(c, ig_linear(c, ig_reshape(c, h, 3, blocks), f->w[2], f->w[3]));  /* (B,49,64) */
    *feat = ig_gelu(c, ig_linear(c, ig_reshape(c, h, 2, flat), f->w[4], f->w[5]));
    *logits = ig_linear(c, *feat, f->w[6], f->w[7]);
    return *logits ? 0 : -1;
}

static int fc_save(const fm_clf *f, const char *path) {
    ig_st_writer w;
    int i, k, rc = 0;
    char buf[32];
    ig_st_writer_init(&w);
    rc |= ig_st_add_meta(&w, "format", "fmnist-classifier");
    snprintf(buf, sizeof buf, "%lld", f->step);
    rc |= ig_st_add_meta(&w, "step", buf);
    for (i = 0; i < FC_NP; i++) {
        int64_t shape[2];
        for (k = 0; k < f->w[i]->ndim; k++) shape[k] = (int64_t)f->w[i]->shape[k];
        rc |= ig_st_add(&w, fc_names[i], IG_F32, f->w[i]->ndim, shape, f->w[i]->data);
    }
    if (!rc) rc = ig_st_writer_save(&w, path);
    ig_st_writer_free(&w);
    return rc ? -1 : 0;
}

static int fc_load(fm_clf *f, const char *path) {
    ig_st_file st;
    int i, k;
    if (fc_init(f, 1, 0)) return -1;
    if (ig_st_open(&st, path)) return -1;
    for (i = 0; i < FC_NP; i++) {
        const ig_st_tensor *t = ig_st_find(&st, fc_names[i]);
        int ok = t && t->ndim == f->w[i]->ndim;
        size_t j;
        for (k = 0; ok && k < t->ndim; k++) ok = (size_t)t->shape[k] == f->w[i]->shape[k];
        if (!ok) { ig_st_close(&st); return fm_fail("%s: missing or misshapen tensor '%s' (not an fmnist classifier?)", path, fc_names[i]); }
        if (ig_st_read_f32(&st, t, f->w[i]->data, f->w[i]->n)) { ig_st_close(&st); return -1; }
        for (j = 0; j < f->w[i]->n; j++)
            if (!isfinite(f->w[i]->data[j])) { ig_st_close(&st); return fm_fail("%s: '%s' holds a non-finite value", path, fc_names[i]); }
    }
    if (st.ntensors != FC_NP) { ig_st_close(&st); return fm_fail("%s: %d tensors, a classifier has %d", path, st.ntensors, FC_NP); }
    ig_st_close(&st);
    return 0;
}

/* Features (n,128) and predicted classes of n images x (n,784) in [-1,1]. */
static int fc_features(fm_clf *f, const float *x, size_t n, float *feat, int *pred) {
    ig_arena a;
    ig_ctx c;
    size_t chunk = 500, i0, b, k;
    if (ig_arena_init(&a, "classifier scratch", chunk * (FC_TOK * (FC_K * FC_K + 6 * FC_CH) + 3 * FC_FEAT + 64) * 4 + (1 << 20))) return -1;
    ig_ctx_init(&c, &a, 64);
    for (i0 = 0; i0 < n; i0 += chunk) {
        size_t B = n - i0 < chunk ? n - i0 : chunk;
        ig_tensor *fe, *lo;
        ig_ctx_reset(&c, 0);
        if (fc_forward(f, &c, x + i0 * FM_PIX, B, &fe, &lo)) { ig_arena_free(&a); return -1; }
        if (feat) memcpy(feat + i0 * FC_FEAT, fe->data, B * FC_FEAT * sizeof(float));
        if (pred)
            for (b = 0; b < B; b++) {
                int best = 0;
                for (k = 1; k < FM_CLASSES; k++) if (lo->data[b * FM_CLASSES + k] > lo->data[b * FM_CLASSES + (size_t)best]) best = (int)k;
                pred[i0 + b] = best;
            }
    }
    ig_arena_free(&a);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* metrics on classifier features                                            */
/* ------------------------------------------------------------------------- */

/* Jacobi eigenvalues of a symmetric d x d matrix (double, overwritten);
   eigenvectors into V (d x d, columns) if V != NULL. */
static void fm_jacobi(double *A, double *V, int d) {
    int sweep, p, q, k;
    if (V) for (p = 0; p < d; p++) for (q = 0; q < d; q++) V[p * d + q] = p == q;
    for (sweep = 0; sweep < 100; sweep++) {
        double off = 0, tot = 0;
        for (p = 0; p < d; p++) for (q = 0; q < d; q++) { double a2 = A[p * d + q] * A[p * d + q]; tot += a2; if (p != q) off += a2; }
        if (off <= 1e-22 * tot || off == 0) break;
        for (p = 0; p < d - 1; p++)
            for (q = p + 1; q < d; q++) {
                double apq = A[p * d + q], theta, t, cs, sn;
                if (fabs(apq) < 1e-300) continue;
                theta = (A[q * d + q] - A[p * d + p]) / (2 * apq);
                t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                cs = 1 / sqrt(t * t + 1); sn = t * cs;
                for (k = 0; k < d; k++) {   /* A <- A J (columns p, q) */
                    double akp = A[k * d + p], akq = A[k * d + q];
                    A[k * d + p] = cs * akp - sn * akq; A[k * d + q] = sn * akp + cs * akq;
                }
                for (k = 0; k < d; k++) {   /* A <- J^T A (rows p, q) */
                    double apk = A[p * d + k], aqk = A[q * d + k];
                    A[p * d + k] = cs * apk - sn * aqk; A[q * d + k] = sn * apk + cs * aqk;
                }
                if (V)
                    for (k = 0; k < d; k++) {
                        double vkp = V[k * d + p], vkq = V[k * d + q];
                        V[k * d + p] = cs * vkp - sn * vkq; V[k * d + q] = sn * vkp + cs * vkq;
                    }
            }
    }
}

/* Mean (d) and covariance (d,d) of n feature rows, in double. */
static void fm_moments(const float *f, size_t n, int d, double *mu, double *cov) {
    size_t i;
    int a, b;
    for (a = 0; a < d; a++) { mu[a] = 0; for (i = 0; i < n; i++) mu[a] += f[i * (size_t)d + (size_t)a]; mu[a] /= (double)n; }
    for (a = 0; a < d * d; a++) cov[a] = 0;
    for (i = 0; i < n; i++) {
        const float *r = f + i * (size_t)d;
        for (a = 0; a < d; a++) {
            double da = r[a] - mu[a];
            for (b = a; b < d; b++) cov[a * d + b] += da * (r[b] - mu[b]);
        }
    }
    for (a = 0; a < d; a++) for (b = a; b < d; b++) { cov[a * d + b] /= (double)(n - 1); cov[b * d + a] = cov[a * d + b]; }
}

/* Frechet distance between two Gaussians (Heusel et al. 2017, the FID formula):
     FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))
   with tr((S1 S2)^(1/2)) = sum_i sqrt(lambda_i(S1^(1/2) S2 S1^(1/2))), a
   symmetric PSD product, so two Jacobi eigen-decompositions do it. */
static double fm_frechet(const double *mu1, const double *s1, const double *mu2, const double *s2, int d) {
    size_t dd = (size_t)d * (size_t)d;
    double *A = (double *)malloc(dd * sizeof(double)), *V = (double *)malloc(dd * sizeof(double));
    double *R = (double *)malloc(dd * sizeof(double)), *T = (double *)malloc(dd * sizeof(double));
    double fd = 0, tr = 0;
    int i, j, k;
    if (!A || !V || !R || !T) { free(A); free(V); free(R); free(T); return NAN; }
    memcpy(A, s1, dd * sizeof(double));
    fm_jacobi(A, V, d);
    for (i = 0; i < d; i++)          /* R = V diag(sqrt(max(lambda, 0))) V^T = S1^(1/2) */
        for (j = 0; j < d; j++) {
            double acc = 0;
            for (k = 0; k < d; k++) acc += V[i * d + k] * sqrt(A[k * d + k] > 0 ? A[k * d + k] : 0) * V[j * d + k];
            R[i * d + j] = acc;
        }
    for (i = 0; i < d; i++)          /* T = R S2 */
        for (j = 0; j < d; j++) { double acc = 0; for (k = 0; k < d; k++) acc += R[i * d + k] * s2[k * d + j]; T[i * d + j] = acc; }
    for (i = 0; i < d; i++)          /* A = T R, symmetric */
        for (j = 0; j < d; j++) { double acc = 0; for (k = 0; k < d; k++) acc += T[i * d + k] * R[k * d + j]; A[i * d + j] = acc; }
    for (i = 0; i < d; i++) for (j = 0; j < i; j++) A[i * d + j] = A[j * d + i] = 0.5 * (A[i * d + j] + A[j * d + i]);
    fm_jacobi(A, NULL, d);
    for (i = 0; i < d; i++) tr += sqrt(A[i * d + i] > 0 ? A[i * d + i] : 0);
    for (i = 0; i < d; i++) fd += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]) + s1[i * d + i] + s2[i * d + i];
    fd -= 2 * tr;
    free(A); free(V); free(R); free(T);
    return fd;
}

/* Squared distances D (na,nb) between rows of a (na,d) and b (nb,d):
   |a|^2 + |b|^2 - 2 a b^T with ig_matmul. */
static void fm_sqdist(const float *a, size_t na, const float *b, size_t nb, int d, float *D) {
    float *na2 = (float *)malloc(na * sizeof(float)), *nb2 = (float *)malloc(nb * sizeof(float));
    size_t i, j;
    int k;
    for (i = 0; i < na; i++) { double s2 = 0; for (k = 0; k < d; k++) s2 += (double)a[i * (size_t)d + (size_t)k] * a[i * (size_t)d + (size_t)k]; na2[i] = (float)s2; }
    for (j = 0; j < nb; j++) { double s2 = 0; for (k = 0; k < d; k++) s2 += (double)b[j * (size_t)d + (size_t)k] * b[j * (size_t)d + (size_t)k]; nb2[j] = (float)s2; }
    ig_matmul(0, 1, na, nb, (size_t)d, a, (size_t)d, b, (size_t)d, 0.0f, D, nb);
    for (i = 0; i < na; i++)
        for (j = 0; j < nb; j++) { float v = na2[i] + nb2[j] - 2.0f * D[i * nb + j]; D[i * nb + j] = v > 0 ? v : 0; }
    free(na2); free(nb2);
}

/* The k-th smallest of n values, itself excluded (value 0 at index self). */
static float fm_kth(const float *row, size_t n, size_t self, int k) {
    float best[16];
    int m = 0, i;
    size_t j;
    for (j = 0; j < n; j++) {
        float v = row[j];
        if (j == self) continue;
        if (m < k) { best[m++] = v; }
        else if (v < best[m - 1]) best[m - 1] = v;
        else continue;
        for (i = m - 1; i > 0 && best[i] < best[i - 1]; i--) { float t = best[i]; best[i] = best[i - 1]; best[i - 1] = t; }
    }
    return best[k - 1];
}

/* Improved precision and recall (Kynkaanniemi et al. 2019): each point of a
   set gets the radius of the ball reaching its k-th nearest neighbour in its
   own set; precision = share of generated points inside some real ball,
   recall = share of real points inside some generated ball.  Both sets have
   n points. */
static int fm_prec_recall(const float *real, const float *gen, size_t n, int d, int k, double *prec, double *rec) {
    float *D = (float *)malloc(n * n * sizeof(float)), *rr = (float *)malloc(n * sizeof(float)), *rg = (float *)malloc(n * sizeof(float));
    size_t i, j, hit;
    if (!D || !rr || !rg) { free(D); free(rr); free(rg); return fm_fail("precision/recall: out of memory"); }
    fm_sqdist(real, n, real, n, d, D);
    for (i = 0; i < n; i++) rr[i] = fm_kth(D + i * n, n, i, k);
    fm_sqdist(gen, n, gen, n, d, D);
    for (i = 0; i < n; i++) rg[i] = fm_kth(D + i * n, n, i, k);
    fm_sqdist(gen, n, real, n, d, D);          /* D[g][r] */
    for (hit = 0, i = 0; i < n; i++) {
        for (j = 0; j < n; j++) if (D[i * n + j] <= rr[j]) break;
        hit += j < n;
    }
    *prec = (double)hit / (double)n;
    for (hit = 0, j = 0; j < n; j++) {
        for (i = 0; i < n; i++) if (D[i * n + j] <= rg[i]) break;
        hit += i < n;
    }
    *rec = (double)hit / (double)n;
    free(D); free(rr); free(rg);
    return 0;
}

/* The reference: features of the 10,000 test images (their mean and
   covariance for FD) and a class-balanced subset for precision/recall. */
typedef struct {
    double mu[FC_FEAT], cov[FC_FEAT * FC_FEAT];
    float *feat;            /* (n, 128) all test features  */
    int *label;
    size_t n;
    double acc;             /* the classifier's test accuracy */
} fm_ref;

static int fm_ref_init(fm_clf *f, const fm_split *te, fm_ref *r) {
    float *x = (float *)malloc(te->n * FM_PIX * sizeof(float));
    int *pred = (int *)malloc(te->n * sizeof(int));
    size_t i, ok = 0;
    memset(r, 0, sizeof *r);
    r->feat = (float *)malloc(te->n * FC_FEAT * sizeof(float));
    r->label = (int *)malloc(te->n * sizeof(int));
    if (!x || !pred || !r->feat || !r->label) return fm_fail("out of memory");
    fm_to_model(te->img, x, te->n * FM_PIX);
    if (fc_features(f, x, te->n, r->feat, pred)) return -1;
    for (i = 0; i < te->n; i++) { r->label[i] = te->lab[i]; ok += pred[i] == te->lab[i]; }
    r->n = te->n;
    r->acc = (double)ok / (double)te->n;
    fm_moments(r->feat, r->n, FC_FEAT, r->mu, r->cov);
    free(x); free(pred);
    return 0;
}

/* The first n/10 test images of each class, in the generated samples' label order. */
static float *fm_ref_balanced(const fm_ref *r, size_t n) {
    float *out = (float *)malloc(n * FC_FEAT * sizeof(float));
    size_t used[FM_CLASSES] = { 0 }, i, j;
    if (!out) return NULL;
    for (i = 0; i < n; i++) {
        int c = (int)(i % FM_CLASSES);
        for (j = used[c]; j < r->n && r->label[j] != c; j++) {}
        if (j >= r->n) { free(out); return NULL; }
        memcpy(out + i * FC_FEAT, r->feat + j * FC_FEAT, FC_FEAT * sizeof(float));
        used[c] = j + 1;
    }
    return out;
}

typedef struct { double fd, acc, prec, rec; } fm_metrics;

#define FM_PR_K 3

/* x (n,784) in [0,1] with labels y: FD against the test set, the share
   classified as their label, precision and recall (k = 3) against n
   class-balanced test images (labels must be i % 10 for that). */
static int fm_measure(fm_clf *f, const fm_ref *r, const float *x01, const int *y, size_t n, fm_metrics *m) {
    float *x = (float *)malloc(n * FM_PIX * sizeof(float)), *feat = (float *)malloc(n * FC_FEAT * sizeof(float)), *rb;
    int *pred = (int *)malloc(n * sizeof(int));
    double *mu = (double *)malloc(FC_FEAT * sizeof(double)), *cov = (double *)malloc(FC_FEAT * FC_FEAT * sizeof(double));
    size_t i, ok = 0;
    if (!x || !feat || !pred || !mu || !cov) return fm_fail("out of memory");
    for (i = 0; i < n * FM_PIX; i++) x[i] = 2.0f * x01[i] - 1.0f;
    if (fc_features(f, x, n, feat, pred)) return -1;
    for (i = 0; i < n; i++) ok += pred[i] == y[i];
    m->acc = (double)ok / (double)n;
    fm_moments(feat, n, FC_FEAT, mu, cov);
    m->fd = fm_frechet(mu, cov, r->mu, r->cov, FC_FEAT);
    rb = fm_ref_balanced(r, n);
    if (!rb) return fm_fail("not enough test images per class for %zu balanced samples", n);
    if (fm_prec_recall(rb, feat, n, FC_FEAT, FM_PR_K, &m->prec, &m->rec)) return -1;
    free(rb); free(x); free(feat); free(pred); free(mu); free(cov);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* sampling                                                                  */
/* ------------------------------------------------------------------------- */

typedef struct {
    const char *name;        /* none, cfg, ig, igcfg, auto */
    ig_guidance g;
} fm_method;

/* n samples with labels i % 10 from one seeded noise (the same for every
   method), in chunks; out (n,784) in [0,1] (clamped from the model's [-1,1]). */
static int fm_sample(ig_model *m, ig_model *guide, const ig_guidance *g, size_t n, int nsteps, int sde,
                     uint64_t seed, float *out) {
    size_t chunk = 250, i0, i;
    ig_arena a, ga;
    ig_ctx c, gc;
    float *grid = (float *)malloc(((size_t)nsteps + 1) * sizeof(float));
    ig_rng noise, sde_rng;
    int *labels = (int *)malloc(chunk * sizeof(int)), rc = 0;
    if (!grid || !labels) return fm_fail("out of memory");
    if (ig_arena_init(&a, "sampling scratch", ig_model_scratch_bytes(&m->cfg, 2 * chunk, 0))) return -1;
    ig_ctx_init(&c, &a, 0);
    memset(&ga, 0, sizeof ga);
    if (guide) {
        if (ig_arena_init(&ga, "guide scratch", ig_model_scratch_bytes(&guide->cfg, chunk, 0))) return -1;
        ig_ctx_init(&gc, &ga, 0);
    }
    ig_grid_uniform(grid, (size_t)nsteps);
    ig_rng_seed(&noise, seed);
    ig_rng_seed(&sde_rng, seed + 1);
    for (i0 = 0; i0 < n && !rc; i0 += chunk) {
        size_t B = n - i0 < chunk ? n - i0 : chunk;
        ig_guided S;
        float *x = out + i0 * FM_PIX;
        memset(&S, 0, sizeof S);
        for (i = 0; i < B; i++) labels[i] = (int)((i0 + i) % FM_CLASSES);
        ig_rng_normal_fill(&noise, x, B * FM_PIX);
        S.model = m; S.ctx = &c; S.guide_ctx = guide ? &gc : NULL; S.labels = labels; S.batch = B;
        S.guidance = *g;
        S.guidance.guide = guide;
        rc = sde ? ig_sample_sde(ig_guided_velocity, &S, x, B * FM_PIX, (size_t)nsteps, IG_PATH_LINEAR, &sde_rng)
                 : ig_sample_heun(ig_guided_velocity, &S, x, B * FM_PIX, grid, (size_t)nsteps);
    }
    for (i = 0; i < n * FM_PIX; i++) {
        float v = 0.5f * (out[i] + 1.0f);
        out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    free(grid); free(labels);
    ig_arena_free(&a);
    if (guide) ig_arena_free(&ga);
    return rc;
}

static const char *const fm_class_names[FM_CLASSES] = {
    "T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot" };

/* A 10 x 10 grid, one row per class (the first 10 samples of each), class
   names on the left, 2x scale; x (n,784) in [0,1] with labels i % 10. */
/* A sample's value in [0, 1] as a grey byte, as the data: white on black. */
static unsigned char fm_gray(float v) { return (unsigned char)(255.0f * v + 0.5f); }

static int fm_grid_png(const char *path, const float *x, size_t n, const char *title) {
    const int S = 2, cell = FM_SIDE * S + 4, left = 60, top = title ? 16 : 4;
    img_image im;
    const unsigned char black[3] = { 0, 0, 0 };
    int r, c, yy, xx, k, rc;
    if (n < 100) return fm_fail("%s: the grid needs 100 samples, got %zu", path, n);
    if (img_image_new(&im, left + 10 * cell + 4, top + 10 * cell + 4)) return fm_fail("%s: out of memory", path);
    if (title) img_text(&im, left, 4, title, 1, black);
    for (r = 0; r < 10; r++) {
        img_text(&im, 4, top + r * cell + cell / 2 - 4, fm_class_names[r], 1, black);
        for (c = 0; c < 10; c++) {
            const float *img = x + (size_t)(c * 10 + r) * FM_PIX;   /* sample index c*10 + r has label r */
            for (yy = 0; yy < FM_SIDE * S; yy++)
                for (xx = 0; xx < FM_SIDE * S; xx++) {
                    float v = img[(yy / S) * FM_SIDE + xx / S];
                    unsigned char g = fm_gray(v);
                    unsigned char *p = im.rgb + ((size_t)(top + r * cell + yy) * (size_t)im.w + (size_t)(left + c * cell + xx)) * 3;
                    for (k = 0; k < 3; k++) p[k] = g;
                }
        }
    }
    rc = img_write_png(path, im.rgb, im.w, im.h);
    img_image_free(&im);
    return rc;
}

/* One noise, four methods: for each class (a row), the first 3 samples of that
   class from each method's (n, 784) array, the methods side by side in blocks
   of 3 columns, each block under its name.  Every method starts from the same
   noise (fm_sample), so a column of one block and the same column of another
   differ only by the guidance. */
static int fm_compare_png(const char *path, const float *const x[4], const char *const names[4], size_t n) {
    const int S = 2, cell = FM_SIDE * S + 2, per = 3, gap = 12, left = 60, top = 16;
    const int block = per * cell + gap;
    img_image im;
    const unsigned char black[3] = { 0, 0, 0 };
    int r, c, mth, yy, xx, k, rc;
    if (n < (size_t)per * 10) return fm_fail("%s: the figure needs %d samples, got %zu", path, per * 10, n);
    if (img_image_new(&im, left + 4 * block, top + 10 * cell + 4)) return fm_fail("%s: out of memory", path);
    for (mth = 0; mth < 4; mth++) img_text(&im, left + mth * block, 4, names[mth], 1, black);
    for (r = 0; r < 10; r++) {
        img_text(&im, 4, top + r * cell + cell / 2 - 4, fm_class_names[r], 1, black);
        for (mth = 0; mth < 4; mth++)
            for (c = 0; c < per; c++) {
                const float *img = x[mth] + (size_t)(c * 10 + r) * FM_PIX;   /* index c*10 + r has label r */
                for (yy = 0; yy < FM_SIDE * S; yy++)
                    for (xx = 0; xx < FM_SIDE * S; xx++) {
                        float v = img[(yy / S) * FM_SIDE + xx / S];
                        unsigned char g = fm_gray(v);
                        unsigned char *p = im.rgb + ((size_t)(top + r * cell + yy) * (size_t)im.w +
                                                     (size_t)(left + mth * block + c * cell + xx)) * 3;
                        for (k = 0; k < 3; k++) p[k] = g;
                    }
            }
    }
    rc = img_write_png(path, im.rgb, im.w, im.h);
    img_image_free(&im);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* options                                                                   */
/* ------------------------------------------------------------------------- */

typedef struct {
    /* model */
    int patch, width, depth, heads, aux_depth;
    /* training */
    long long steps, batch, every, log_every, seed, warmup, keep_every;
    double lr, lambda, ema, label_dropout, wd;
    int resume, joint;
    const char *data, *ckpt, *out, *tsv;
    /* classifier */
    long long epochs;
    const char *clf;
    /* sampling and evaluation */
    const char *model, *dir, *methods, *guide, *ig_weights, *intervals, *cfg_scales;
    long long n, nsteps, seeds;
    int sde;
    double ig_weight, ig_low, ig_high, cfg_scale, cfg_low, cfg_high, guide_weight;
} fm_opts;

static void fm_defaults(fm_opts *o) {
    memset(o, 0, sizeof *o);
    o->patch = 4; o->width = 192; o->depth = 6; o->heads = 4; o->aux_depth = 2;
    o->steps = 8000; o->batch = 64; o->every = 500; o->log_every = 50; o->seed = 1;
    o->warmup = 200; o->keep_every = 0;
    o->lr = 1e-3; o->lambda = 0.5; o->ema = 0.999; o->label_dropout = 0.1; o->wd = 0.0;
    o->data = "data/fashion-mnist";
    o->ckpt = "out/fmnist/train.safetensors";
    o->out = "data/fmnist_ig.safetensors";
    o->epochs = 6; o->clf = "data/fmnist_classifier.safetensors";
    o->model = "data/fmnist_ig.safetensors"; o->dir = "out/fmnist"; o->methods = "none,cfg,ig,igcfg";
    o->guide = NULL; o->n = 1000; o->nsteps = 10; o->sde = 0; o->seeds = 1;
    /* the shipped model's sampling settings, chosen by fmnist sweep (docs/fmnist.md) */
    o->ig_weight = 1.5; o->ig_low = 0.0; o->ig_high = 1.0;
    o->cfg_scale = 1.25; o->cfg_low = 0.0; o->cfg_high = 1.0; o->guide_weight = 2.0;
    o->ig_weights = "1,1.5,2,2.5,3"; o->intervals = "0-1,0.3-1,0-0.7"; o->cfg_scales = "1.5,2,3";
}

static void usage(void) {
    printf("usage: fmnist train|sample|eval|sweep|classify|export|bench [flags]\n"
           "  train     train the DiT with the aux head (checkpoints, --resume)\n"
           "  export    --ckpt PATH --out PATH: the EMA weights of a checkpoint as F16\n"
           "  sample    --model PATH --dir DIR: samples_<m>.npy, labels_<m>.npy, grid_<m>.png per method\n"
           "  classify  train the feature classifier (--epochs N, --clf PATH), print its test accuracy\n"
           "  eval      --clf PATH --dir DIR: FD, class accuracy, precision, recall of each method's samples\n"
           "  sweep     --model PATH: sample and score IG weights x intervals and CFG scales in memory\n"
           "  bench     time a training step and a forward pass of a configuration\n"
           "model:  --patch P (4) --width D (192) --depth L (6) --heads H (4) --aux-depth K (2)\n"
           "train:  --steps N (8000) --batch B (64) --lr X (1e-3) --warmup N (200) --lambda X (0.5)\n"
           "        --ema X (0.999) --label-dropout X (0.1) --wd X (0) --seed N (1)\n"
           "        --data DIR (data/fashion-mnist) --ckpt PATH (checkpoint with training state)\n"
           "        --every N (500: checkpoint interval) --keep-every N (0: also keep PATH.stepN copies)\n"
           "        --log-every N (50) --resume (continue from --ckpt) --out PATH (EMA weights, F16)\n"
           "sample: --model PATH (data/fmnist_ig.safetensors) --dir DIR (out/fmnist) --n N (1000)\n"
           "        --steps N (10 Heun steps; SDE: N steps) --sde --methods none,cfg,ig,igcfg[,auto] --seed N\n"
           "        --ig-weight W (1.5) --ig-low T --ig-high T (0, 1) --cfg-scale S (1.25) --cfg-low T --cfg-high T\n"
           "        --guide PATH --guide-weight W (2): autoguidance with a weaker model (method auto)\n"
           "eval:   --clf PATH (data/fmnist_classifier.safetensors) --dir DIR --methods LIST --data DIR\n"
           "sweep:  --ig-weights LIST (1,1.5,2,2.5,3) --intervals LIST (0-1,0.3-1,0-0.7) --cfg-scales LIST (1.5,2,3)\n"
           "        --joint (also IG x CFG together) --seeds N (1: noise seeds --seed..+N-1, mean +- sd) --tsv PATH\n");
}

/* Parses the flags after the subcommand; 0, 1 (help) or -1. */
static int fm_parse(int argc, char **argv, fm_opts *o) {
    int i;
    for (i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        long long n;
        double x;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(); return 1; }
        if (!strcmp(a, "--resume")) { o->resume = 1; continue; }
        if (!strcmp(a, "--sde")) { o->sde = 1; continue; }
        if (!strcmp(a, "--joint")) { o->joint = 1; continue; }
        if (!(v = cli_value(PROG, argc, argv, &i))) return -1;
        if (!strcmp(a, "--patch")) { if (cli_int(PROG, a, v, 1, 28, &n)) return -1; o->patch = (int)n; }
        else if (!strcmp(a, "--width")) { if (cli_int(PROG, a, v, 8, 2048, &n)) return -1; o->width = (int)n; }
        else if (!strcmp(a, "--depth")) { if (cli_int(PROG, a, v, 2, 64, &n)) return -1; o->depth = (int)n; }
        else if (!strcmp(a, "--heads")) { if (cli_int(PROG, a, v, 1, 64, &n)) return -1; o->heads = (int)n; }
        else if (!strcmp(a, "--aux-depth")) { if (cli_int(PROG, a, v, 1, 63, &n)) return -1; o->aux_depth = (int)n; }
        else if (!strcmp(a, "--steps")) { if (cli_int(PROG, a, v, 0, 100000000, &o->steps)) return -1; o->nsteps = o->steps; }
        else if (!strcmp(a, "--batch")) { if (cli_int(PROG, a, v, 1, 65536, &o->batch)) return -1; }
        else if (!strcmp(a, "--every")) { if (cli_int(PROG, a, v, 1, 100000000, &o->every)) return -1; }
        else if (!strcmp(a, "--keep-every")) { if (cli_int(PROG, a, v, 0, 100000000, &o->keep_every)) return -1; }
        else if (!strcmp(a, "--log-every")) { if (cli_int(PROG, a, v, 1, 100000000, &o->log_every)) return -1; }
        else if (!strcmp(a, "--seed")) { if (cli_int(PROG, a, v, 0, 1000000000, &o->seed)) return -1; }
        else if (!strcmp(a, "--warmup")) { if (cli_int(PROG, a, v, 0, 100000000, &o->warmup)) return -1; }
        else if (!strcmp(a, "--lr")) { if (cli_num(PROG, a, v, 0, 1, &x)) return -1; o->lr = x; }
        else if (!strcmp(a, "--lambda")) { if (cli_num(PROG, a, v, 0, 100, &x)) return -1; o->lambda = x; }
        else if (!strcmp(a, "--ema")) { if (cli_num(PROG, a, v, 0, 1, &x)) return -1; o->ema = x; }
        else if (!strcmp(a, "--label-dropout")) { if (cli_num(PROG, a, v, 0, 1, &x)) return -1; o->label_dropout = x; }
        else if (!strcmp(a, "--wd")) { if (cli_num(PROG, a, v, 0, 10, &x)) return -1; o->wd = x; }
        else if (!strcmp(a, "--epochs")) { if (cli_int(PROG, a, v, 1, 1000, &o->epochs)) return -1; }
        else if (!strcmp(a, "--n")) { if (cli_int(PROG, a, v, 100, 1000000, &o->n)) return -1; }
        else if (!strcmp(a, "--ig-weight")) { if (cli_num(PROG, a, v, -100, 100, &o->ig_weight)) return -1; }
        else if (!strcmp(a, "--ig-low")) { if (cli_num(PROG, a, v, 0, 1, &o->ig_low)) return -1; }
        else if (!strcmp(a, "--ig-high")) { if (cli_num(PROG, a, v, 0, 1, &o->ig_high)) return -1; }
        else if (!strcmp(a, "--cfg-scale")) { if (cli_num(PROG, a, v, -100, 100, &o->cfg_scale)) return -1; }
        else if (!strcmp(a, "--cfg-low")) { if (cli_num(PROG, a, v, 0, 1, &o->cfg_low)) return -1; }
        else if (!strcmp(a, "--cfg-high")) { if (cli_num(PROG, a, v, 0, 1, &o->cfg_high)) return -1; }
        else if (!strcmp(a, "--guide-weight")) { if (cli_num(PROG, a, v, -100, 100, &o->guide_weight)) return -1; }
        else if (!strcmp(a, "--clf")) o->clf = v;
        else if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--dir")) o->dir = v;
        else if (!strcmp(a, "--methods")) o->methods = v;
        else if (!strcmp(a, "--guide")) o->guide = v;
        else if (!strcmp(a, "--ig-weights")) o->ig_weights = v;
        else if (!strcmp(a, "--intervals")) o->intervals = v;
        else if (!strcmp(a, "--cfg-scales")) o->cfg_scales = v;
        else if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--ckpt")) o->ckpt = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--tsv")) o->tsv = v;
        else if (!strcmp(a, "--seeds")) { if (cli_int(PROG, a, v, 1, 64, &o->seeds)) return -1; }
        else { fprintf(stderr, "%s: unknown flag '%s' (see --help)\n", PROG, a); return -1; }
    }
    return 0;
}

static int fm_config(const fm_opts *o, ig_config *cfg) {
    memset(cfg, 0, sizeof *cfg);   /* every field, arch = IG_ARCH_SIT included */
    cfg->arch = IG_ARCH_SIT;
    cfg->in_channels = 1; cfg->image_height = FM_SIDE; cfg->image_width = FM_SIDE;
    cfg->patch_size = o->patch; cfg->hidden_size = o->width; cfg->depth = o->depth;
    cfg->num_heads = o->heads; cfg->num_classes = FM_CLASSES; cfg->aux_depth = o->aux_depth;
    cfg->t_scale = 1000.0f;
    if (ig_config_check(cfg)) { fprintf(stderr, "%s: %s\n", PROG, fm_error()); return -1; }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* checkpoints                                                               */
/* ------------------------------------------------------------------------- */

/* The shipped file: the EMA weights as F16 (half the size; sampling reads them
   back as float), the configuration in the metadata as ig_save writes it. */
static int fm_save_f16(const ig_model *m, const float *weights, const char *path) {
    ig_st_writer w;
    uint16_t *h = (uint16_t *)malloc(m->nweights * sizeof(uint16_t));
    char buf[64];
    int i, k, rc = 0;
    size_t j;
    if (!h) { fprintf(stderr, "%s: out of memory\n", PROG); return -1; }
    for (j = 0; j < m->nweights; j++) {
        /* float -> IEEE half, round to nearest even (weights are far from overflow) */
        uint32_t f, sign, mant;
        int e;
        memcpy(&f, &weights[j], 4);
        sign = (f >> 16) & 0x8000u;
        e = (int)((f >> 23) & 0xff) - 127 + 15;
        mant = f & 0x7fffffu;
        if (e >= 31) h[j] = (uint16_t)(sign | 0x7c00u);
        else if (e <= 0) {
            if (e < -10) h[j] = (uint16_t)sign;
            else {
                uint32_t mm = mant | 0x800000u, shift = (uint32_t)(14 - e), half = 1u << (shift - 1);
                uint32_t r = mm >> shift, rem = mm & ((1u << shift) - 1);
                if (rem > half || (rem == half && (r & 1))) r++;
                h[j] = (uint16_t)(sign | r);
            }
        } else {
            uint32_t r = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1fffu;
            if (rem > 0x1000u || (rem == 0x1000u && (r & 1))) r++;
            h[j] = (uint16_t)(sign | r);   /* a carry into the exponent is still right */
        }
    }
    ig_st_writer_init(&w);
    rc |= ig_st_add_meta(&w, "format", "ig.h-sit");
#define FM_META(key, val) do { snprintf(buf, sizeof buf, "%d", (int)(val)); rc |= ig_st_add_meta(&w, key, buf); } while (0)
    FM_META("in_channels", m->cfg.in_channels); FM_META("image_height", m->cfg.image_height);
    FM_META("image_width", m->cfg.image_width); FM_META("patch_size", m->cfg.patch_size);
    FM_META("hidden_size", m->cfg.hidden_size); FM_META("depth", m->cfg.depth);
    FM_META("num_heads", m->cfg.num_heads); FM_META("num_classes", m->cfg.num_classes);
    FM_META("aux_depth", m->cfg.aux_depth);
#undef FM_META
    snprintf(buf, sizeof buf, "%.9g", (double)m->cfg.t_scale);
    rc |= ig_st_add_meta(&w, "t_scale", buf);
    snprintf(buf, sizeof buf, "%lld", (long long)m->step);
    rc |= ig_st_add_meta(&w, "trained_steps", buf);
    for (i = 0; i < m->nparams; i++) {
        const ig_param *pp = &m->params[i];
        int64_t shape[8];
        for (k = 0; k < pp->t->ndim; k++) shape[k] = (int64_t)pp->t->shape[k];
        rc |= ig_st_add(&w, pp->name, IG_F16, pp->t->ndim, shape, h + pp->offset);
    }
    if (!rc) rc = ig_st_writer_save(&w, path);
    if (rc) fprintf(stderr, "%s: %s\n", PROG, fm_error());
    ig_st_writer_free(&w);
    free(h);
    return rc ? -1 : 0;
}

/* ------------------------------------------------------------------------- */
/* train                                                                     */
/* ------------------------------------------------------------------------- */

/* lr: linear warm-up over 'warmup' steps, then constant (the EMA does the
   averaging).  EMA decay: min(ema, (1 + s) / (10 + s)), so the early EMA is
   not stuck at the random initialization.  Both depend on the step only,
   which keeps --resume bit for bit. */
static void fm_schedule(const fm_opts *o, int64_t step, ig_train_config *tc) {
    double s = (double)step + 1.0, d = (1.0 + (double)step) / (10.0 + (double)step);
    tc->lr = (float)(o->warmup > 0 && s < (double)o->warmup ? o->lr * s / (double)o->warmup : o->lr);
    tc->ema_decay = (float)(d < o->ema ? d : o->ema);
}

static int cmd_train(const fm_opts *o) {
    ig_config cfg;
    ig_model m;
    ig_arena scratch;
    ig_ctx ctx;
    ig_train_config tc = ig_train_defaults();
    ig_train_stats st;
    fm_split tr;
    float *x0;
    int *y;
    size_t B = (size_t)o->batch, b;
    double t0, tlog, lsum_f = 0, lsum_a = 0;
    long long nlog = 0, start;
    if (fm_config(o, &cfg)) return 1;
    if (fm_load(o->data, "train", &tr)) return 1;
    if (ig_model_init(&m, &cfg, 1, (uint64_t)o->seed) ||
        ig_arena_init(&scratch, "scratch", ig_model_scratch_bytes(&cfg, B, 1)) ||
        ig_ctx_init(&ctx, &scratch, ig_model_tape_nodes(&cfg))) {
        fprintf(stderr, "%s: %s\n", PROG, fm_error());
        return 1;
    }
    if (o->resume) {
        if (ig_load(&m, o->ckpt, 1)) { fprintf(stderr, "%s: --resume: %s\n", PROG, fm_error()); return 1; }
        printf("resumed %s at step %lld\n", o->ckpt, (long long)m.step);
    }
    tc.aux_weight = (float)o->lambda;
    tc.label_dropout = (float)o->label_dropout;
    tc.weight_decay = (float)o->wd;
    tc.beta2 = 0.99f;
    tc.t_sampling = IG_T_LOGNORMAL;
    x0 = (float *)malloc(B * FM_PIX * sizeof(float));
    y = (int *)malloc(B * sizeof(int));
    if (!x0 || !y) { fprintf(stderr, "%s: out of memory\n", PROG); return 1; }
    printf("fmnist train: D %d, L %d, p %d, heads %d, aux head after block %d, %zu parameters; "
           "batch %zu, %lld steps, lr %g, lambda %g, %d threads\n",
           cfg.hidden_size, cfg.depth, cfg.patch_size, cfg.num_heads, cfg.aux_depth, m.nweights,
           B, o->steps, o->lr, o->lambda, nthreads());
    fflush(stdout);
    start = (long long)m.step;
    t0 = tlog = now();
    while ((long long)m.step < o->steps) {
        uint64_t h = fm_mix((uint64_t)o->seed * 0x100000001ull + (uint64_t)m.step);
        for (b = 0; b < B; b++) {
            size_t idx;
            h = fm_mix(h);
            idx = (size_t)(h % tr.n);
            fm_to_model(tr.img + idx * FM_PIX, x0 + b * FM_PIX, FM_PIX);
            y[b] = tr.lab[idx];
        }
        fm_schedule(o, m.step, &tc);
        if (ig_train_step(&m, &ctx, &tc, x0, y, B, &st)) { fprintf(stderr, "%s: %s\n", PROG, fm_error()); return 1; }
        lsum_f += st.loss_final; lsum_a += st.loss_aux; nlog++;
        if ((long long)m.step % o->log_every == 0 || (long long)m.step == o->steps) {
            double t = now(), rate = (double)((long long)m.step - start) * (double)B / (t - t0);
            double left = (double)(o->steps - (long long)m.step) * (double)B / rate;
            printf("step %6lld  loss final %.4f  aux %.4f  %7.1f samples/s  %4.0f min left\n",
                   (long long)m.step, lsum_f / (double)nlog, lsum_a / (double)nlog, rate, left / 60.0);
            fflush(stdout);
            lsum_f = lsum_a = 0; nlog = 0; tlog = t;
        }
        if ((long long)m.step % o->every == 0 || (long long)m.step == o->steps) {
            if (ig_save(&m, o->ckpt, 1)) { fprintf(stderr, "%s: %s\n", PROG, fm_error()); return 1; }
        }
        if (o->keep_every > 0 && (long long)m.step % o->keep_every == 0) {
            char path[1100];
            snprintf(path, sizeof path, "%s.step%lld", o->ckpt, (long long)m.step);
            if (ig_save(&m, path, 1)) { fprintf(stderr, "%s: %s\n", PROG, fm_error()); return 1; }
        }
    }
    (void)tlog;
    if (o->out && *o->out) {
        if (fm_save_f16(&m, m.ema, o->out)) return 1;
        printf("wrote %s (EMA weights, F16, step %lld); peak memory %.0f MB\n", o->out, (long long)m.step, peak_rss_mb());
    }
    free(x0); free(y); fm_split_free(&tr);
    ig_arena_free(&scratch);
    ig_model_free(&m);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* bench: what one training step and one forward cost at this configuration  */
/* ------------------------------------------------------------------------- */

static int cmd_bench(const fm_opts *o) {
    ig_config cfg;
    ig_model m;
    ig_arena scratch;
    ig_ctx ctx;
    ig_train_config tc = ig_train_defaults();
    size_t B = (size_t)o->batch, FB = 250, i;
    float *x0, *tt;
    int *y, rep;
    double t0, train_s, fwd_s;
    ig_rng r;
    if (fm_config(o, &cfg)) return 1;
    if (ig_model_init(&m, &cfg, 1, 1) ||
        ig_arena_init(&scratch, "scratch", ig_model_scratch_bytes(&cfg, B, 1) + ig_model_scratch_bytes(&cfg, FB, 0)) ||
        ig_ctx_init(&ctx, &scratch, ig_model_tape_nodes(&cfg))) {
        fprintf(stderr, "%s: %s\n", PROG, fm_error());
        return 1;
    }
    x0 = (float *)malloc((B > FB ? B : FB) * FM_PIX * sizeof(float));
    tt = (float *)malloc(FB * sizeof(float));
    y = (int *)malloc((B > FB ? B : FB) * sizeof(int));
    ig_rng_seed(&r, 3);
    for (i = 0; i < (B > FB ? B : FB) * FM_PIX; i++) x0[i] = ig_rng_uniform(&r) * 2 - 1;
    for (i = 0; i < (B > FB ? B : FB); i++) y[i] = (int)(i % 10);
    for (i = 0; i < FB; i++) tt[i] = 0.5f;
    tc.t_sampling = IG_T_LOGNORMAL;
    for (rep = 0; rep < 2; rep++) ig_train_step(&m, &ctx, &tc, x0, y, B, NULL);
    t0 = now();
    for (rep = 0; rep < (int)o->steps; rep++)
        if (ig_train_step(&m, &ctx, &tc, x0, y, B, NULL)) { fprintf(stderr, "%s: %s\n", PROG, fm_error()); return 1; }
    train_s = (now() - t0) / (double)o->steps;
    t0 = now();
    for (rep = 0; rep < 3; rep++) {
        ig_tensor *x, *v, *va;
        size_t shape[4] = { FB, 1, FM_SIDE, FM_SIDE };
        ig_ctx_reset(&ctx, 0);
        x = ig_tensor_new(ctx.scratch, 4, shape, 0);
        memcpy(x->data, x0, FB * FM_PIX * sizeof(float));
        if (ig_forward(&m, &ctx, x, tt, y, &v, &va)) { fprintf(stderr, "%s: %s\n", PROG, fm_error()); return 1; }
    }
    fwd_s = (now() - t0) / 3.0;
    printf("bench: D %d L %d p %d k %d params %zu threads %d | train batch %zu: %.1f ms/step, %.0f samples/s | "
           "forward (both heads) batch %zu: %.0f samples/s | peak %.0f MB\n",
           o->width, o->depth, o->patch, o->aux_depth, m.nweights, nthreads(), B, 1e3 * train_s,
           (double)B / train_s, FB, (double)FB / fwd_s, peak_rss_mb());
    free(x0); free(tt); free(y);
    ig_arena_free(&scratch);
    ig_model_free(&m);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* classify: train the feature classifier                                    */
/* ------------------------------------------------------------------------- */

static int cmd_classify(const fm_opts *o) {
    fm_split tr, te;
    fm_clf f;
    ig_arena a;
    ig_ctx c;
    fm_ref ref;
    size_t B, nb, e, i, *perm;
    float *x;
    int *y, k;
    ig_rng r;
    double t0 = now();
    if (fm_load(o->data, "train", &tr) || fm_load(o->data, "t10k", &te)) return 1;
    B = tr.n < 128 ? tr.n : 128;
    if (fc_init(&f, (uint64_t)o->seed, 1) ||
        ig_arena_init(&a, "classifier scratch", B * (FC_TOK * (FC_K * FC_K + 16 * FC_CH) + 6 * FC_FEAT + 64) * 4 + (4 << 20))) {
        fprintf(stderr, "%s: %s\n", PROG, fm_error());
        return 1;
    }
    ig_ctx_init(&c, &a, 64);
    perm = (size_t *)malloc(tr.n * sizeof(size_t));
    x = (float *)malloc(B * FM_PIX * sizeof(float));
    y = (int *)malloc(B * sizeof(int));
    if (!perm || !x || !y) { fprintf(stderr, "%s: out of memory\n", PROG); return 1; }
    ig_rng_seed(&r, (uint64_t)o->seed + 100);
    nb = tr.n / B;
    for (e = 0; e < (size_t)o->epochs; e++) {
        double lsum = 0;
        for (i = 0; i < tr.n; i++) perm[i] = i;
        for (i = tr.n - 1; i > 0; i--) {   /* Fisher-Yates */
            size_t j = (size_t)(ig_rng_u64(&r) % (i + 1)), t = perm[i];
            perm[i] = perm[j]; perm[j] = t;
        }
        for (i = 0; i < nb; i++) {
            ig_tensor *fe, *lo, *loss;
            size_t b;
            /* lr: 1e-3, cosine-decayed to 0 over the whole run */
            double prog = ((double)e * (double)nb + (double)i) / ((double)o->epochs * (double)nb);
            float lr = (float)(1e-3 * 0.5 * (1.0 + cos(3.14159265358979323846 * prog)));
            for (b = 0; b < B; b++) {
                fm_to_model(tr.img + perm[i * B + b] * FM_PIX, x + b * FM_PIX, FM_PIX);
                y[b] = tr.lab[perm[i * B + b]];
            }
            ig_ctx_reset(&c, 1);
            for (k = 0; k < FC_NP; k++) memset(f.w[k]->grad, 0, f.w[k]->n * sizeof(float));
            if (fc_forward(&f, &c, x, B, &fe, &lo) || !(loss = ig_cross_entropy(&c, lo, y)) || ig_backward(&c, loss)) {
                fprintf(stderr, "%s: %s\n", PROG, fm_error());
                return 1;
            }
            lsum += loss->data[0];
            f.step++;
            for (k = 0; k < FC_NP; k++) {   /* Adam (betas 0.9, 0.999), weight decay 1e-4 on matrices */
                float bc1 = (float)(1.0 - pow(0.9, (double)f.step)), bc2 = (float)sqrt(1.0 - pow(0.999, (double)f.step));
                float wd = f.w[k]->ndim == 2 ? 1e-4f : 0.0f, *w = f.w[k]->data, *g = f.w[k]->grad;
                size_t j;
                for (j = 0; j < f.w[k]->n; j++) {
                    w[j] *= 1.0f - lr * wd;
                    f.m[k][j] = 0.9f * f.m[k][j] + 0.1f * g[j];
                    f.v[k][j] = 0.999f * f.v[k][j] + 0.001f * g[j] * g[j];
                    w[j] -= lr / bc1 * f.m[k][j] / (sqrtf(f.v[k][j]) / bc2 + 1e-8f);
                }
            }
        }
        if (fm_ref_init(&f, &te, &ref)) { fprintf(stderr, "%s: %s\n", PROG, fm_error()); return 1; }
        printf("classifier epoch %zu: train loss %.4f, test accuracy %.2f%% (%.0f s)\n", e + 1, lsum / (double)nb,
               100.0 * ref.acc, now() - t0);
        fflush(stdout);
        free(ref.feat); free(ref.label);
    }
    if (fc_save(&f, o->clf)) { fprintf(stderr, "%s: %s\n", PROG, fm_error()); return 1; }
    printf("wrote %s\n", o->clf);
    free(perm); free(x); free(y);
    ig_arena_free(&a); ig_arena_free(&f.arena);
    fm_split_free(&tr); fm_split_free(&te);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* sample, eval, sweep, export                                               */
/* ------------------------------------------------------------------------- */

static int fm_load_model(const char *path, ig_model *m) {
    ig_config cfg;
    if (ig_config_from_file(&cfg, path, 0, 0) || ig_model_init(m, &cfg, 0, 0) || ig_load(m, path, 1)) {
        fprintf(stderr, "%s: %s\n", PROG, fm_error());
        return -1;
    }
    return 0;
}

/* The guidance of a method name with the settings of the flags. */
static int fm_method_guidance(const fm_opts *o, const char *name, ig_guidance *g) {
    *g = ig_guidance_none();
    if (!strcmp(name, "none")) return 0;
    if (!strcmp(name, "cfg") || !strcmp(name, "igcfg")) {
        g->cfg_scale = (float)o->cfg_scale; g->cfg_low = (float)o->cfg_low; g->cfg_high = (float)o->cfg_high;
    }
    if (!strcmp(name, "ig") || !strcmp(name, "igcfg")) {
        g->ig_weight = (float)o->ig_weight; g->ig_low = (float)o->ig_low; g->ig_high = (float)o->ig_high;
    }
    if (!strcmp(name, "auto")) {
        if (!o->guide) { fprintf(stderr, "%s: method 'auto' needs --guide PATH (a weaker model)\n", PROG); return -1; }
        g->guide_weight = (float)o->guide_weight;
        return 0;
    }
    if (strcmp(name, "cfg") && strcmp(name, "ig") && strcmp(name, "igcfg")) {
        fprintf(stderr, "%s: unknown method '%s' (none, cfg, ig, igcfg, auto)\n", PROG, name);
        return -1;
    }
    return 0;
}

/* Splits a comma list into at most max tokens (in buf); returns the count or -1. */
static int fm_split_list(const char *list, char *buf, size_t cap, char **tok, int max) {
    int n = 0;
    char *p;
    if (strlen(list) >= cap) { fprintf(stderr, "%s: list '%s' is too long\n", PROG, list); return -1; }
    strcpy(buf, list);
    for (p = strtok(buf, ","); p; p = strtok(NULL, ",")) {
        if (n == max) { fprintf(stderr, "%s: list '%s' has more than %d items\n", PROG, list, max); return -1; }
        tok[n++] = p;
    }
    if (!n) { fprintf(stderr, "%s: empty list\n", PROG); return -1; }
    return n;
}

static int cmd_sample(const fm_opts *o) {
    static const char *const cmp_names[4] = { "none", "cfg", "ig", "igcfg" };
    float *cmp[4] = { NULL, NULL, NULL, NULL };
    ig_model m, guide;
    char buf[256], *tok[8], path[1200], title[256];
    int nm, i, use_guide = 0;
    size_t n = (size_t)o->n, j;
    float *x = (float *)malloc(n * FM_PIX * sizeof(float));
    int64_t *lab = (int64_t *)malloc(n * sizeof(int64_t));
    double total = 0;
    if (!x || !lab) { fprintf(stderr, "%s: out of memory\n", PROG); return 1; }
    if ((nm = fm_split_list(o->methods, buf, sizeof buf, tok, 8)) < 0) return 2;
    for (i = 0; i < nm; i++) {
        ig_guidance g;
        if (fm_method_guidance(o, tok[i], &g)) return 2;
        if (!strcmp(tok[i], "auto")) use_guide = 1;
    }
    if (fm_load_model(o->model, &m)) return 1;
    if (use_guide && fm_load_model(o->guide, &guide)) return 1;
    for (j = 0; j < n; j++) lab[j] = (int64_t)(j % FM_CLASSES);
    printf("fmnist sample: %s (D %d, L %d, p %d, aux head after block %d), %zu samples per method, %s %lld steps, %d threads\n",
           o->model, m.cfg.hidden_size, m.cfg.depth, m.cfg.patch_size, m.cfg.aux_depth, n, o->sde ? "SDE" : "Heun",
           o->nsteps, nthreads());
    for (i = 0; i < nm; i++) {
        ig_guidance g;
        size_t shape[3] = { n, FM_SIDE, FM_SIDE };
        double t0 = now(), dt;
        fm_method_guidance(o, tok[i], &g);
        if (fm_sample(&m, !strcmp(tok[i], "auto") ? &guide : NULL, &g, n, (int)o->nsteps, o->sde, (uint64_t)o->seed, x)) {
            fprintf(stderr, "%s: %s\n", PROG, fm_error());
            return 1;
        }
        dt = now() - t0;
        total += dt;
        snprintf(path, sizeof path, "%s/samples_%s.npy", o->dir, tok[i]);
        if (npy_write(path, NPY_F32, 3, shape, x)) return 1;
        snprintf(path, sizeof path, "%s/labels_%s.npy", o->dir, tok[i]);
        if (npy_write(path, NPY_I64, 1, shape, lab)) return 1;
        snprintf(path, sizeof path, "%s/grid_%s.png", o->dir, tok[i]);
        snprintf(title, sizeof title, "%s  (IG w %.2g on [%.2g, %.2g], CFG %.2g on [%.2g, %.2g])", tok[i],
                 (double)g.ig_weight, (double)g.ig_low, (double)g.ig_high, (double)g.cfg_scale, (double)g.cfg_low, (double)g.cfg_high);
        if (fm_grid_png(path, x, n, title)) { fprintf(stderr, "%s: %s\n", PROG, fm_error()); return 1; }
        {   /* keep the first 30 samples of none, cfg, ig, igcfg for the side-by-side figure */
            int q;
            for (q = 0; q < 4; q++)
                if (!strcmp(tok[i], cmp_names[q]) && n >= 30 && (cmp[q] = (float *)malloc(30 * FM_PIX * sizeof(float))))
                    memcpy(cmp[q], x, 30 * FM_PIX * sizeof(float));
        }
        printf("%-6s %6.1f s  %6.1f samples/s  -> %s/{samples,labels}_%s.npy, grid_%s.png\n", tok[i], dt, (double)n / dt,
               o->dir, tok[i], tok[i]);
        fflush(stdout);
    }
    if (cmp[0] && cmp[1] && cmp[2] && cmp[3]) {
        static const char *const labels[4] = { "no guidance", "CFG", "IG", "IG + CFG" };
        snprintf(path, sizeof path, "%s/compare.png", o->dir);
        if (fm_compare_png(path, (const float *const *)cmp, labels, 30)) { fprintf(stderr, "%s: %s\n", PROG, fm_error()); return 1; }
        printf("one noise, four methods -> %s\n", path);
    }
    for (i = 0; i < 4; i++) free(cmp[i]);
    printf("total %.1f s; peak memory %.0f MB\n", total, peak_rss_mb());
    free(x); free(lab);
    ig_model_free(&m);
    if (use_guide) ig_model_free(&guide);
    return 0;
}

static int fm_eval_setup(const fm_opts *o, fm_clf *f, fm_ref *ref, fm_split *tr) {
    fm_split te;
    if (fc_load(f, o->clf)) { fprintf(stderr, "%s: %s\n", PROG, fm_error()); return -1; }
    if (fm_load(o->data, "t10k", &te)) return -1;
    if (tr && fm_load(o->data, "train", tr)) { fm_split_free(&te); return -1; }
    if (fm_ref_init(f, &te, ref)) { fprintf(stderr, "%s: %s\n", PROG, fm_error()); fm_split_free(&te); return -1; }
    fm_split_free(&te);
    return 0;
}

static void fm_print_row(FILE *tsv, const char *name, const char *setting, const fm_metrics *m) {
    printf("| %-22s | %7.2f | %6.1f%% | %5.3f | %5.3f | %s |\n", name, m->fd, 100 * m->acc, m->prec, m->rec, setting);
    if (tsv) fprintf(tsv, "%s\t%.4f\t%.4f\t%.4f\t%.4f\t%s\n", name, m->fd, m->acc, m->prec, m->rec, setting);
    fflush(stdout);
}

/* N training images, the first N/10 of each class, as a reference row: the
   FD, precision and recall real images of the same count get. */
static int fm_real_row(fm_clf *f, const fm_ref *ref, const fm_split *tr, size_t n, fm_metrics *m) {
    float *x = (float *)malloc(n * FM_PIX * sizeof(float));
    int *y = (int *)malloc(n * sizeof(int));
    size_t used[FM_CLASSES] = { 0 }, i, j, k;
    if (!x || !y) return fm_fail("out of memory");
    for (i = 0; i < n; i++) {
        int c = (int)(i % FM_CLASSES);
        for (j = used[c]; j < tr->n && tr->lab[j] != c; j++) {}
        if (j >= tr->n) return fm_fail("not enough training images of class %d", c);
        for (k = 0; k < FM_PIX; k++) x[i * FM_PIX + k] = (float)tr->img[j * FM_PIX + k] / 255.0f;
        y[i] = c;
        used[c] = j + 1;
    }
    if (fm_measure(f, ref, x, y, n, m)) return -1;
    free(x); free(y);
    return 0;
}

/* Reads <dir>/samples_<name>.npy and labels_<name>.npy, checks them and
   measures them; 0 or -1 (message printed).  *n gets the sample count. */
static int fm_eval_one(const fm_opts *o, const char *name, fm_clf *f, const fm_ref *ref, fm_metrics *mt, size_t *n) {
    npy_array xs, ys;
    int *y = NULL, rc = -1;
    size_t j;
    char path[1200];
    memset(&xs, 0, sizeof xs); memset(&ys, 0, sizeof ys);
    snprintf(path, sizeof path, "%s/samples_%s.npy", o->dir, name);
    if (npy_read(path, &xs)) { fprintf(stderr, "%s: %s (run 'make fmnist' first)\n", PROG, npy_error()); return -1; }
    if (xs.dtype != NPY_F32 || xs.ndim != 3 || xs.shape[1] != FM_SIDE || xs.shape[2] != FM_SIDE || xs.shape[0] < 100) {
        fprintf(stderr, "%s: %s: expected float32 (N,28,28) with N >= 100\n", PROG, path); goto done;
    }
    *n = xs.shape[0];
    for (j = 0; j < xs.n; j++) {
        float v = ((float *)xs.data)[j];
        if (!(v >= 0.0f && v <= 1.0f)) { fprintf(stderr, "%s: %s: value %g at element %zu is outside [0, 1]\n", PROG, path, (double)v, j); goto done; }
    }
    snprintf(path, sizeof path, "%s/labels_%s.npy", o->dir, name);
    if (npy_read(path, &ys)) { fprintf(stderr, "%s: %s\n", PROG, npy_error()); goto done; }
    if (ys.dtype != NPY_I64 || ys.ndim != 1 || ys.shape[0] != *n) { fprintf(stderr, "%s: %s: expected int64 (%zu,)\n", PROG, path, *n); goto done; }
    if (!(y = (int *)malloc(*n * sizeof(int)))) { fprintf(stderr, "%s: out of memory\n", PROG); goto done; }
    for (j = 0; j < *n; j++) {
        int64_t l = ((int64_t *)ys.data)[j];
        if (l != (int64_t)(j % FM_CLASSES)) { fprintf(stderr, "%s: %s: label %lld at %zu; balanced labels i %% 10 expected\n", PROG, path, (long long)l, j); goto done; }
        y[j] = (int)l;
    }
    if (fm_measure(f, ref, (float *)xs.data, y, *n, mt)) { fprintf(stderr, "%s: %s\n", PROG, fm_error()); goto done; }
    rc = 0;
done:
    free(y); npy_free(&xs); npy_free(&ys);
    return rc;
}

static int cmd_eval(const fm_opts *o) {
    fm_clf f;
    fm_ref ref;
    fm_split tr;
    fm_metrics mt;
    char buf[256], *tok[8], path[1200], count[32];
    int nm, i, rc = 1;
    size_t n = 0;
    FILE *tsv = NULL;
    if ((nm = fm_split_list(o->methods, buf, sizeof buf, tok, 8)) < 0) return 2;
    memset(&f, 0, sizeof f); memset(&ref, 0, sizeof ref); memset(&tr, 0, sizeof tr);
    if (fm_eval_setup(o, &f, &ref, &tr)) goto done;
    snprintf(path, sizeof path, "%s/metrics.tsv", o->dir);
    tsv = fopen(path, "w");
    if (!tsv) { fprintf(stderr, "%s: %s: cannot write\n", PROG, path); goto done; }
    fprintf(tsv, "method\tfd\tclass_accuracy\tprecision\trecall\tsamples\n");
    printf("classifier %s: test accuracy %.2f%%; features %d-d; precision/recall with k = %d\n\n", o->clf, 100 * ref.acc, FC_FEAT, FM_PR_K);
    printf("| method                 |      FD | class acc | prec  | recall | samples |\n|---|---:|---:|---:|---:|---|\n");
    for (i = 0; i < nm; i++) {
        if (fm_eval_one(o, tok[i], &f, &ref, &mt, &n)) goto done;
        snprintf(count, sizeof count, "%zu", n);
        fm_print_row(tsv, tok[i], count, &mt);
    }
    if (fm_real_row(&f, &ref, &tr, n, &mt)) { fprintf(stderr, "%s: %s\n", PROG, fm_error()); goto done; }
    fm_print_row(tsv, "training images", count, &mt);
    printf("\nwrote %s/metrics.tsv\n", o->dir);
    rc = 0;
done:
    if (tsv) fclose(tsv);
    free(ref.feat); free(ref.label);
    fm_split_free(&tr);
    ig_arena_free(&f.arena);
    return rc;
}

static int fm_parse_interval(const char *s, double *lo, double *hi) {
    char a[64];
    const char *dash = strchr(s, '-');
    if (!dash || (size_t)(dash - s) >= sizeof a) { fprintf(stderr, "%s: interval '%s' is not LOW-HIGH\n", PROG, s); return -1; }
    memcpy(a, s, (size_t)(dash - s)); a[dash - s] = 0;
    if (cli_num(PROG, "--intervals", a, 0, 1, lo) || cli_num(PROG, "--intervals", dash + 1, 0, 1, hi)) return -1;
    if (*lo > *hi) { fprintf(stderr, "%s: interval '%s' is empty\n", PROG, s); return -1; }
    return 0;
}

/* One row of a sweep: the guidance of "IG w on [lo, hi]", "CFG s on [lo, hi]"
   or both at once (w = 1 or s = 1 switches that part off), sampled from
   'seeds' noise seeds (seed, seed + 1, ...) and scored; prints the mean and
   the sample standard deviation over the seeds, and one TSV line per seed. */
static int fm_sweep_row(const fm_opts *o, ig_model *m, fm_clf *f, const fm_ref *ref, float *x, int *y,
                        double w, double s, double lo, double hi, FILE *tsv) {
    ig_guidance g = ig_guidance_none();
    fm_metrics mt[64], mean = { 0, 0, 0, 0 }, sd = { 0, 0, 0, 0 };
    size_t n = (size_t)o->n;
    int k, ns = (int)o->seeds;
    const char *name = w != 1.0 && s != 1.0 ? "igcfg" : w != 1.0 ? "ig" : s != 1.0 ? "cfg" : "none";
    char set[160];
    double t0 = now();
    if (w != 1.0) { g.ig_weight = (float)w; g.ig_low = (float)lo; g.ig_high = (float)hi; }
    if (s != 1.0) { g.cfg_scale = (float)s; g.cfg_low = (float)lo; g.cfg_high = (float)hi; }
    for (k = 0; k < ns; k++) {
        if (fm_sample(m, NULL, &g, n, (int)o->nsteps, o->sde, (uint64_t)(o->seed + k), x) ||
            fm_measure(f, ref, x, y, n, &mt[k])) {
            fprintf(stderr, "%s: %s\n", PROG, fm_error()); return -1;
        }
        if (tsv) fprintf(tsv, "%s\t%g\t%g\t%g\t%g\t%lld\t%zu\t%.4f\t%.4f\t%.4f\t%.4f\n", name, w, s, lo, hi,
                         o->seed + k, n, mt[k].fd, mt[k].acc, mt[k].prec, mt[k].rec);
        mean.fd += mt[k].fd / ns; mean.acc += mt[k].acc / ns; mean.prec += mt[k].prec / ns; mean.rec += mt[k].rec / ns;
    }
    for (k = 0; k < ns && ns > 1; k++) {
        sd.fd += (mt[k].fd - mean.fd) * (mt[k].fd - mean.fd) / (ns - 1);
        sd.acc += (mt[k].acc - mean.acc) * (mt[k].acc - mean.acc) / (ns - 1);
        sd.prec += (mt[k].prec - mean.prec) * (mt[k].prec - mean.prec) / (ns - 1);
        sd.rec += (mt[k].rec - mean.rec) * (mt[k].rec - mean.rec) / (ns - 1);
    }
    if (w != 1.0 && s != 1.0) snprintf(set, sizeof set, "IG w %g + CFG %g on [%g, %g]", w, s, lo, hi);
    else if (w != 1.0) snprintf(set, sizeof set, "IG w %g on [%g, %g]", w, lo, hi);
    else if (s != 1.0) snprintf(set, sizeof set, "CFG %g on [%g, %g]", s, lo, hi);
    else snprintf(set, sizeof set, "no guidance");
    printf("| %-32s | %6.2f +- %5.2f | %5.1f%% +- %4.1f | %5.3f +- %5.3f | %5.3f +- %5.3f | %.0f s |\n", set,
           mean.fd, sqrt(sd.fd), 100 * mean.acc, 100 * sqrt(sd.acc), mean.prec, sqrt(sd.prec), mean.rec, sqrt(sd.rec),
           now() - t0);
    fflush(stdout);
    if (tsv) fflush(tsv);
    return 0;
}

/* The rows: IG alone (w x interval; w = 1 is no guidance, once), CFG alone
   (s x interval) and, with --joint, IG and CFG together (w x s x interval,
   the interval applying to both). */
static int cmd_sweep(const fm_opts *o) {
    ig_model m;
    fm_clf f;
    fm_ref ref;
    char b1[256], b2[256], b3[256], *w[16], *iv[16], *cs[16], path[1200];
    int nw, ni, nc, i, j, k, rc = 1;
    size_t n = (size_t)o->n, q;
    double *wv = NULL, *sv = NULL, lo[16], hi[16];
    float *x = (float *)malloc(n * FM_PIX * sizeof(float));
    int *y = (int *)malloc(n * sizeof(int));
    FILE *tsv = NULL;
    if (!x || !y) { fprintf(stderr, "%s: out of memory\n", PROG); return 1; }
    if ((nw = fm_split_list(o->ig_weights, b1, sizeof b1, w, 16)) < 0 || (ni = fm_split_list(o->intervals, b2, sizeof b2, iv, 16)) < 0 ||
        (nc = fm_split_list(o->cfg_scales, b3, sizeof b3, cs, 16)) < 0) return 2;
    if (o->seeds < 1 || o->seeds > 64) { fprintf(stderr, "%s: --seeds must be 1..64\n", PROG); return 2; }
    wv = (double *)malloc((size_t)(nw + 1) * sizeof(double));
    sv = (double *)malloc((size_t)(nc + 1) * sizeof(double));
    if (!wv || !sv) { fprintf(stderr, "%s: out of memory\n", PROG); return 1; }
    for (i = 0; i < nw; i++) if (cli_num(PROG, "--ig-weights", w[i], -100, 100, &wv[i])) return 2;
    for (i = 0; i < nc; i++) if (cli_num(PROG, "--cfg-scales", cs[i], -100, 100, &sv[i])) return 2;
    for (k = 0; k < ni; k++) if (fm_parse_interval(iv[k], &lo[k], &hi[k])) return 2;
    if (fm_load_model(o->model, &m) || fm_eval_setup(o, &f, &ref, NULL)) return 1;
    if (o->tsv) {
        snprintf(path, sizeof path, "%s", o->tsv);
        if (!(tsv = fopen(path, "w"))) { fprintf(stderr, "%s: %s: cannot write\n", PROG, path); return 1; }
        fprintf(tsv, "method\tig_weight\tcfg_scale\tlow\thigh\tseed\tsamples\tfd\tclass_accuracy\tprecision\trecall\n");
    }
    for (q = 0; q < n; q++) y[q] = (int)(q % FM_CLASSES);
    printf("sweep on %s, %zu samples each, %s %lld steps, noise seeds %lld..%lld (mean +- sd over %lld)\n\n", o->model, n,
           o->sde ? "SDE" : "Heun", o->nsteps, o->seed, o->seed + o->seeds - 1, o->seeds);
    printf("| setting                          |  FD             | class acc       | precision       | recall          | time |\n"
           "|---|---:|---:|---:|---:|---:|\n");
    for (i = 0; i < nw; i++)
        for (k = 0; k < ni; k++) {
            if (wv[i] == 1.0 && k > 0) continue;     /* w = 1 is the plain model whatever the interval */
            if (fm_sweep_row(o, &m, &f, &ref, x, y, wv[i], 1.0, lo[k], hi[k], tsv)) goto done;
        }
    for (j = 0; j < nc; j++)
        for (k = 0; k < ni; k++)
            if (sv[j] != 1.0 && fm_sweep_row(o, &m, &f, &ref, x, y, 1.0, sv[j], lo[k], hi[k], tsv)) goto done;
    if (o->joint)
        for (i = 0; i < nw; i++)
            for (j = 0; j < nc; j++)
                for (k = 0; k < ni; k++)
                    if (wv[i] != 1.0 && sv[j] != 1.0 && fm_sweep_row(o, &m, &f, &ref, x, y, wv[i], sv[j], lo[k], hi[k], tsv))
                        goto done;
    if (tsv) printf("\nwrote %s\n", o->tsv);
    rc = 0;
done:
    if (tsv) fclose(tsv);
    free(x); free(y); free(wv); free(sv);
    free(ref.feat); free(ref.label);
    ig_arena_free(&f.arena);
    ig_model_free(&m);
    return rc;
}

static int cmd_export(const fm_opts *o) {
    ig_config cfg;
    ig_model m;
    if (ig_config_from_file(&cfg, o->ckpt, 0, 0) || ig_model_init(&m, &cfg, 1, 0) || ig_load(&m, o->ckpt, 1)) {
        fprintf(stderr, "%s: %s\n", PROG, fm_error());
        return 1;
    }
    if (fm_save_f16(&m, m.ema, o->out)) return 1;
    printf("wrote %s (EMA weights of %s, step %lld, F16)\n", o->out, o->ckpt, (long long)m.step);
    ig_model_free(&m);
    return 0;
}

int fmnist_main(int argc, char **argv) {
    fm_opts o;
    int rc;
    fm_defaults(&o);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) { usage(); return argc < 2 ? 2 : 0; }
    rc = fm_parse(argc, argv, &o);
    if (rc) return rc > 0 ? 0 : 2;
    if (!strcmp(argv[1], "train")) return cmd_train(&o);
    if (!strcmp(argv[1], "bench")) { if (o.steps > 100) o.steps = 5; return cmd_bench(&o); }
    if (!strcmp(argv[1], "classify")) return cmd_classify(&o);
    if (!strcmp(argv[1], "sample")) return cmd_sample(&o);
    if (!strcmp(argv[1], "eval")) return cmd_eval(&o);
    if (!strcmp(argv[1], "sweep")) return cmd_sweep(&o);
    if (!strcmp(argv[1], "export")) return cmd_export(&o);
    fprintf(stderr, "%s: unknown subcommand '%s' (train, sample, eval, sweep, classify, export, bench)\n", PROG, argv[1]);
    return 2;
}

#ifndef FMNIST_NO_MAIN
int main(int argc, char **argv) { return fmnist_main(argc, argv); }
#endif
