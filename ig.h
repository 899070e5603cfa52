/* ig.h - Internal Guidance for Diffusion Transformers, in one C header.  v0.1

   What this is
   ------------
   A small, readable implementation of Internal Guidance (IG; Zhou et al., "Guiding
   a Diffusion Transformer with the Internal Dynamics of Itself", CVPR 2026):
   a Diffusion Transformer (SiT/DiT, adaLN-Zero) with one extra output head hung
   after an early block, trained with flow matching on both heads, and sampled by
   extrapolating away from the weak early head:

       v = v_inter + w * (v_final - v_inter)          (w = 1: plain model)

   Everything needed lives below: float tensors in arenas, a reverse-mode autograd
   tape, the ops with their backward passes, the model, AdamW + EMA, the samplers
   (Euler, Heun, Euler-Maruyama) with IG / CFG / autoguidance, and safetensors
   checkpoints whose names match the released PyTorch state dict.

   The one-file rule
   -----------------
   Include ig.h wherever you need it.  In EXACTLY ONE .c file, define
   IG_IMPLEMENTATION before the include:

       #define IG_IMPLEMENTATION
       #include "ig.h"

   Table of contents (the implementation reads in the order the algorithm runs)
   -----------------
     1. errors, arenas            where every byte comes from
     2. random numbers            ig_rng (fast, seeded) and ig_mt19937 (legacy MT + polar normals)
     3. tensors and the tape      ig_tensor, ig_ctx, backward()
     4. ops, forward + backward   linear, add, mul, modulate, gated residual, layernorm,
                                  silu, gelu, attention, patchify, gather, chunk, mse, sum
     5. the model                 config, parameters, forward with two heads
     6. training                  flow-matching loss, AdamW, clipping, EMA
     7. sampling                  Euler / Heun / Euler-Maruyama, IG, CFG, autoguidance
     8. checkpoints               safetensors read / write

   Compile-time options (define before including)
   --------------------
     IG_STATIC          make every function static to this file
     IG_MALLOC, IG_FREE, IG_ASSERT   your own allocator / assert (define all or none)
     IG_NO_FAST_GEMM    use the plain triple-loop matmul (slow, easy to read)
     OpenMP             compile with -fopenmp to run on all cores; without it the
                        #pragma lines are ignored and everything still works

   Conventions
   -----------
     - Row-major float32.  Shapes are written (B,T,D): batch, tokens, width.
     - Time t in [0,1]: t = 1 is pure noise, t = 0 is data.
       Linear path x_t = (1 - t) x0 + t eps, velocity target v* = eps - x0.
     - Every element count and offset is a size_t.
     - Functions that can fail return NULL or -1; ig_last_error() says why.
       The library never aborts your program on bad input.
*/
#ifndef IG_H
#define IG_H

#include <stddef.h>
#include <stdint.h>

#if defined(IG_STATIC) && defined(__GNUC__)
#define IGDEF static __attribute__((unused)) /* no warning for the parts you do not call */
#elif defined(IG_STATIC)
#define IGDEF static
#elif defined(__cplusplus)
#define IGDEF extern "C"
#else
#define IGDEF extern
#endif

/* ------------------------------------------------------------------------- */
/* 1. errors and arenas                                                      */
/* ------------------------------------------------------------------------- */

/* The message of the last failure (empty string if none). */
IGDEF const char *ig_last_error(void);

/* An arena is one big block handed out front to back and freed all at once.
   ig.h uses two: a persistent one for parameters, gradients and optimizer
   state, and a scratch one for activations and the tape, reset every step. */
typedef struct ig_arena {
    unsigned char *base;
    size_t cap;          /* bytes in the block                 */
    size_t used;         /* bytes handed out since the reset   */
    size_t peak;         /* largest 'used' ever seen           */
    const char *name;    /* for error messages: "scratch", ... */
} ig_arena;

IGDEF int   ig_arena_init(ig_arena *a, const char *name, size_t bytes);
IGDEF void  ig_arena_free(ig_arena *a);
IGDEF void *ig_arena_alloc(ig_arena *a, size_t bytes); /* 64-byte aligned; NULL when full */
IGDEF void  ig_arena_reset(ig_arena *a);

/* ------------------------------------------------------------------------- */
/* 2. random numbers                                                         */
/* ------------------------------------------------------------------------- */

/* ig_rng: splitmix64.  One 64-bit state, same numbers on every platform.
   All noise in training and sampling comes from here, drawn on one thread,
   so results do not depend on the number of threads. */
typedef struct ig_rng { uint64_t state; int has_spare; float spare; } ig_rng;

IGDEF void     ig_rng_seed(ig_rng *r, uint64_t seed);
IGDEF uint64_t ig_rng_u64(ig_rng *r);
IGDEF float    ig_rng_uniform(ig_rng *r);          /* in (0, 1) */
IGDEF float    ig_rng_normal(ig_rng *r);           /* N(0, 1)   */
IGDEF void     ig_rng_normal_fill(ig_rng *r, float *x, size_t n);

/* ig_mt19937: the legacy Mersenne Twister with Marsaglia-polar normals, bit
   compatible with the old generator of a common array library.  The 2D toy
   distribution of the papers is built from its stream (seed 2). */
typedef struct ig_mt19937 { uint32_t mt[624]; int mti; int has_gauss; double gauss; } ig_mt19937;

IGDEF void     ig_mt_seed(ig_mt19937 *r, uint32_t seed);
IGDEF uint32_t ig_mt_u32(ig_mt19937 *r);
IGDEF double   ig_mt_uniform(ig_mt19937 *r);       /* [0, 1), 53 bits */
IGDEF double   ig_mt_normal(ig_mt19937 *r);

/* ------------------------------------------------------------------------- */
/* 3. tensors and the autograd tape                                          */
/* ------------------------------------------------------------------------- */

#define IG_MAX_DIMS 4

typedef struct ig_tensor {
    float *data;                 /* n values, row-major                      */
    float *grad;                 /* dLoss/d(data), or NULL: no grad needed   */
    size_t shape[IG_MAX_DIMS];
    int ndim;
    size_t n;                    /* number of elements                       */
} ig_tensor;

struct ig_node;
typedef void (*ig_backward_fn)(struct ig_node *node);

/* One entry of the tape: the op's backward, its output, inputs, and what the
   forward saved for the backward (e.g. softmax probabilities). */
typedef struct ig_node {
    ig_backward_fn backward;
    ig_tensor *out;
    ig_tensor *in[3];
    float *saved;                /* op-specific, lives in the scratch arena  */
    size_t arg[4];               /* op-specific integers                     */
    float farg;                  /* op-specific float                        */
} ig_node;

/* The context every op runs in: where activations come from and the tape.
   With training == 0 nothing is recorded and no gradient buffer is made. */
typedef struct ig_ctx {
    ig_arena *scratch;
    ig_node *tape;
    size_t ntape, cap_tape;
    int training;
    int failed;                  /* an op failed: later ops return NULL      */
} ig_ctx;

/* tape_capacity nodes are taken from the scratch arena on every reset. */
IGDEF int  ig_ctx_init(ig_ctx *ctx, ig_arena *scratch, size_t tape_capacity);
IGDEF int  ig_ctx_reset(ig_ctx *ctx, int training);   /* resets the arena too */

/* A tensor in an arena (data zeroed if zero != 0).  with_grad adds a zeroed
   gradient buffer. shape: ndim sizes. */
IGDEF ig_tensor *ig_tensor_new(ig_arena *a, int ndim, const size_t *shape, int with_grad);
IGDEF ig_tensor *ig_tensor_new4(ig_arena *a, size_t d0, size_t d1, size_t d2, size_t d3, int ndim, int with_grad);
/* A tensor header that points at memory you own (no copy). */
IGDEF ig_tensor *ig_tensor_wrap(ig_arena *a, float *data, float *grad, int ndim, const size_t *shape);

/* Runs the tape backwards from a scalar loss (its grad is seeded with 1). */
IGDEF int ig_backward(ig_ctx *ctx, ig_tensor *loss);

/* ------------------------------------------------------------------------- */
/* 4. ops.  Each returns a new tensor from the scratch arena, or NULL.       */
/*    A NULL input gives a NULL output, so a chain of ops fails once.        */
/* ------------------------------------------------------------------------- */

/* y (...,N) = x (...,K) W^T + b.  W is (N,K) like torch.nn.Linear; b may be NULL. */
IGDEF ig_tensor *ig_linear(ig_ctx *c, ig_tensor *x, ig_tensor *w, ig_tensor *b);
/* y = a + b; b's shape equals a's, or is a's trailing dims (broadcast). */
IGDEF ig_tensor *ig_add(ig_ctx *c, ig_tensor *a, ig_tensor *b);
/* y = a * b elementwise, same broadcast rule as ig_add. */
IGDEF ig_tensor *ig_mul(ig_ctx *c, ig_tensor *a, ig_tensor *b);
/* y = s * a for a constant s. */
IGDEF ig_tensor *ig_scale(ig_ctx *c, ig_tensor *a, float s);
/* adaLN modulate: y (B,T,D) = x * (1 + scale) + shift, shift/scale (B,D). */
IGDEF ig_tensor *ig_modulate(ig_ctx *c, ig_tensor *x, ig_tensor *shift, ig_tensor *scale);
/* gated residual: y (B,T,D) = x + gate * h, gate (B,D). */
IGDEF ig_tensor *ig_gated_add(ig_ctx *c, ig_tensor *x, ig_tensor *gate, ig_tensor *h);
/* LayerNorm over the last dim, no affine, eps 1e-6. */
IGDEF ig_tensor *ig_layernorm(ig_ctx *c, ig_tensor *x);
IGDEF ig_tensor *ig_silu(ig_ctx *c, ig_tensor *x);
/* GELU, tanh approximation. */
IGDEF ig_tensor *ig_gelu(ig_ctx *c, ig_tensor *x);
/* multi-head self-attention: qkv (B,T,3D) laid out [q | k | v] -> (B,T,D). */
IGDEF ig_tensor *ig_attention(ig_ctx *c, ig_tensor *qkv, size_t heads);
/* (B,C,H,W) -> (B,T,C*p*p), T = (H/p)(W/p), patch vector ordered (c, p_row, p_col). */
IGDEF ig_tensor *ig_patchify(ig_ctx *c, ig_tensor *x, size_t p);
/* (B,T,p*p*C) ordered (p_row, p_col, c) -> (B,C,H,W). */
IGDEF ig_tensor *ig_unpatchify(ig_ctx *c, ig_tensor *x, size_t p, size_t C, size_t H, size_t W);
/* y (B,D) = table[idx[b]], table (V,D). Rows out of range fail. */
IGDEF ig_tensor *ig_gather(ig_ctx *c, ig_tensor *table, const int *idx, size_t B);
/* the i-th of n equal chunks along the last dim. */
IGDEF ig_tensor *ig_chunk(ig_ctx *c, ig_tensor *x, size_t n, size_t i);
/* mean((a - b)^2) over all elements -> scalar (1). b gets no gradient. */
IGDEF ig_tensor *ig_mse(ig_ctx *c, ig_tensor *a, ig_tensor *b);
IGDEF ig_tensor *ig_sum(ig_ctx *c, ig_tensor *x);
IGDEF ig_tensor *ig_mean(ig_ctx *c, ig_tensor *x);

#endif /* IG_H */

/* ========================================================================= */
/*                            IMPLEMENTATION                                 */
/* ========================================================================= */
#ifdef IG_IMPLEMENTATION
#ifndef IG_IMPLEMENTATION_DONE
#define IG_IMPLEMENTATION_DONE

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if defined(IG_MALLOC) && defined(IG_FREE) && defined(IG_ASSERT)
/* all three given */
#elif !defined(IG_MALLOC) && !defined(IG_FREE) && !defined(IG_ASSERT)
#include <stdlib.h>
#include <assert.h>
#define IG_MALLOC(sz) malloc(sz)
#define IG_FREE(p) free(p)
#define IG_ASSERT(x) assert(x)
#else
#error "ig.h: define all of IG_MALLOC, IG_FREE and IG_ASSERT, or none of them"
#endif

/* OpenMP: IG__OMP(omp parallel for) becomes the #pragma with -fopenmp and
   nothing without it (so -Wall stays quiet about unknown pragmas). */
#ifdef _OPENMP
#include <omp.h>
#define IG__OMP(x) _Pragma(#x)
#else
#define IG__OMP(x)
#endif

#define IG__PI 3.14159265358979323846

/* ------------------------------------------------------------------------- */
/* 1. errors and arenas                                                      */
/* ------------------------------------------------------------------------- */

static char ig__errbuf[1024];

IGDEF const char *ig_last_error(void) { return ig__errbuf; }

/* Formats the message into the error buffer; returns -1 so callers can write
   'return ig__fail(...)'. */
static int ig__fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ig__errbuf, sizeof ig__errbuf, fmt, ap);
    va_end(ap);
    return -1;
}

IGDEF int ig_arena_init(ig_arena *a, const char *name, size_t bytes) {
    memset(a, 0, sizeof *a);
    a->name = name;
    a->base = (unsigned char *)IG_MALLOC(bytes + 64);
    if (!a->base) return ig__fail("ig: could not allocate %zu bytes for the '%s' arena", bytes, name);
    a->cap = bytes;
    return 0;
}

IGDEF void ig_arena_free(ig_arena *a) {
    if (a->base) IG_FREE(a->base);
    a->base = NULL; a->cap = a->used = 0;
}

IGDEF void *ig_arena_alloc(ig_arena *a, size_t bytes) {
    /* align the returned pointer to 64 bytes (one cache line, one AVX-512 vector) */
    uintptr_t start = (uintptr_t)a->base + a->used;
    size_t pad = (size_t)((64 - (start & 63)) & 63);
    if (!a->base || bytes > a->cap || a->used + pad > a->cap - bytes) {
        ig__fail("ig: the '%s' arena is out of memory: this allocation needs %zu bytes, "
                 "%zu of %zu are used (%zu free). Make the arena larger (ig_model_scratch_bytes() "
                 "tells the size a batch needs) or use a smaller batch.",
                 a->name ? a->name : "?", bytes, a->used, a->cap, a->cap - a->used);
        return NULL;
    }
    a->used += pad + bytes;
    if (a->used > a->peak) a->peak = a->used;
    return (void *)(start + pad);
}

IGDEF void ig_arena_reset(ig_arena *a) { a->used = 0; }

/* ------------------------------------------------------------------------- */
/* 2. random numbers                                                         */
/* ------------------------------------------------------------------------- */

IGDEF void ig_rng_seed(ig_rng *r, uint64_t seed) { r->state = seed; r->has_spare = 0; r->spare = 0; }

/* splitmix64: add a constant, then scramble the bits. */
IGDEF uint64_t ig_rng_u64(ig_rng *r) {
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* 24 random bits, shifted half a step off zero: never exactly 0 or 1. */
IGDEF float ig_rng_uniform(ig_rng *r) {
    return ((float)(ig_rng_u64(r) >> 40) + 0.5f) * (1.0f / 16777216.0f);
}

/* Box-Muller: two uniforms give two independent normals; keep the second. */
IGDEF float ig_rng_normal(ig_rng *r) {
    double u1, u2, rad;
    if (r->has_spare) { r->has_spare = 0; return r->spare; }
    u1 = ((double)(ig_rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    u2 = (double)(ig_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    rad = sqrt(-2.0 * log(u1));
    r->spare = (float)(rad * sin(2.0 * IG__PI * u2));
    r->has_spare = 1;
    return (float)(rad * cos(2.0 * IG__PI * u2));
}

IGDEF void ig_rng_normal_fill(ig_rng *r, float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) x[i] = ig_rng_normal(r);
}

/* MT19937 with the standard init_genrand seeding. */
IGDEF void ig_mt_seed(ig_mt19937 *r, uint32_t seed) {
    int i;
    r->mt[0] = seed;
    for (i = 1; i < 624; i++)
        r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->mti = 624;
    r->has_gauss = 0;
    r->gauss = 0.0;
}

IGDEF uint32_t ig_mt_u32(ig_mt19937 *r) {
    uint32_t y;
    if (r->mti >= 624) { /* regenerate the whole block of 624 words */
        int k;
        for (k = 0; k < 624; k++) {
            y = (r->mt[k] & 0x80000000u) | (r->mt[(k + 1) % 624] & 0x7fffffffu);
            r->mt[k] = r->mt[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        r->mti = 0;
    }
    y = r->mt[r->mti++];
    y ^= y >> 11;                /* tempering */
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* 53-bit double from two words: 27 high bits of a, 26 of b. */
IGDEF double ig_mt_uniform(ig_mt19937 *r) {
    uint32_t a = ig_mt_u32(r) >> 5, b = ig_mt_u32(r) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

/* Marsaglia polar method: a point in the unit disc gives two normals;
   return f*x2 now and f*x1 on the next call. */
IGDEF double ig_mt_normal(ig_mt19937 *r) {
    double x1, x2, r2, f;
    if (r->has_gauss) { r->has_gauss = 0; return r->gauss; }
    do {
        x1 = 2.0 * ig_mt_uniform(r) - 1.0;
        x2 = 2.0 * ig_mt_uniform(r) - 1.0;
        r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    f = sqrt(-2.0 * log(r2) / r2);
    r->gauss = f * x1;
    r->has_gauss = 1;
    return f * x2;
}


/* ------------------------------------------------------------------------- */
/* 3. tensors and the autograd tape                                          */
/* ------------------------------------------------------------------------- */
/* How the tape works.  During a training forward, every op appends one node
   to ctx->tape: its backward function, its output and its inputs.  The tape is
   therefore already in execution order (a Wengert list), and ig_backward just
   walks it from the end to the start: no graph search, no recursion.  Every
   backward ADDS into its inputs' .grad (+=), so a tensor used twice gets the
   sum of both contributions. */

static size_t ig__numel(int ndim, const size_t *shape) {
    size_t n = 1;
    int i;
    for (i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

IGDEF ig_tensor *ig_tensor_wrap(ig_arena *a, float *data, float *grad, int ndim, const size_t *shape) {
    ig_tensor *t;
    int i;
    if (ndim < 1 || ndim > IG_MAX_DIMS) { ig__fail("ig: a tensor has 1 to %d dims, not %d", IG_MAX_DIMS, ndim); return NULL; }
    t = (ig_tensor *)ig_arena_alloc(a, sizeof(ig_tensor));
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    for (i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->n = ig__numel(ndim, shape);
    t->data = data;
    t->grad = grad;
    return t;
}

IGDEF ig_tensor *ig_tensor_new(ig_arena *a, int ndim, const size_t *shape, int with_grad) {
    ig_tensor *t = ig_tensor_wrap(a, NULL, NULL, ndim, shape);
    if (!t) return NULL;
    t->data = (float *)ig_arena_alloc(a, t->n * sizeof(float));
    if (!t->data) return NULL;
    if (with_grad) {
        t->grad = (float *)ig_arena_alloc(a, t->n * sizeof(float));
        if (!t->grad) return NULL;
        memset(t->grad, 0, t->n * sizeof(float));
    }
    return t;
}

IGDEF ig_tensor *ig_tensor_new4(ig_arena *a, size_t d0, size_t d1, size_t d2, size_t d3, int ndim, int with_grad) {
    size_t shape[4];
    shape[0] = d0; shape[1] = d1; shape[2] = d2; shape[3] = d3;
    return ig_tensor_new(a, ndim, shape, with_grad);
}

IGDEF int ig_ctx_init(ig_ctx *ctx, ig_arena *scratch, size_t tape_capacity) {
    memset(ctx, 0, sizeof *ctx);
    ctx->scratch = scratch;
    ctx->cap_tape = tape_capacity;
    return ig_ctx_reset(ctx, 0);
}

IGDEF int ig_ctx_reset(ig_ctx *ctx, int training) {
    ig_arena_reset(ctx->scratch);
    ctx->ntape = 0;
    ctx->failed = 0;
    ctx->training = training;
    ctx->tape = NULL;
    if (training) {
        ctx->tape = (ig_node *)ig_arena_alloc(ctx->scratch, ctx->cap_tape * sizeof(ig_node));
        if (!ctx->tape) return -1;
    }
    return 0;
}

/* The output of an op: NULL if an input is NULL (an earlier op failed) or the
   arena is full.  It gets a gradient buffer only when we are recording and some
   input carries a gradient. */
static ig_tensor *ig__out(ig_ctx *c, ig_tensor *a, ig_tensor *b, ig_tensor *d, int ndim, const size_t *shape) {
    int with_grad;
    ig_tensor *y;
    if (c->failed || !a) { c->failed = 1; return NULL; }
    with_grad = c->training && ((a && a->grad) || (b && b->grad) || (d && d->grad));
    y = ig_tensor_new(c->scratch, ndim, shape, with_grad);
    if (!y) c->failed = 1;
    return y;
}

/* Appends a node to the tape; NULL (and ctx->failed) when the tape is full. */
static ig_node *ig__record(ig_ctx *c, ig_backward_fn fn, ig_tensor *y, ig_tensor *a, ig_tensor *b, ig_tensor *d) {
    ig_node *nd;
    if (c->ntape >= c->cap_tape) {
        ig__fail("ig: the tape is full (%zu nodes); pass a larger tape_capacity to ig_ctx_init", c->cap_tape);
        c->failed = 1;
        return NULL;
    }
    nd = &c->tape[c->ntape++];
    memset(nd, 0, sizeof *nd);
    nd->backward = fn;
    nd->out = y;
    nd->in[0] = a; nd->in[1] = b; nd->in[2] = d;
    return nd;
}

static float *ig__scratch_floats(ig_ctx *c, size_t n) {
    float *p = (float *)ig_arena_alloc(c->scratch, n * sizeof(float));
    if (!p) c->failed = 1;
    return p;
}

IGDEF int ig_backward(ig_ctx *c, ig_tensor *loss) {
    size_t i;
    if (!loss || c->failed) return -1; /* the failing op has set the message */
    if (!c->training) return ig__fail("ig_backward: the context was not reset for training (ig_ctx_reset(ctx, 1))");
    if (loss->n != 1) return ig__fail("ig_backward: the loss must be a scalar, it has %zu elements", loss->n);
    if (!loss->grad) return ig__fail("ig_backward: the loss does not depend on any tensor with a gradient");
    loss->grad[0] += 1.0f;
    for (i = c->ntape; i-- > 0;) c->tape[i].backward(&c->tape[i]);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* 4. ops: each forward, then right below it, its backward                   */
/* ------------------------------------------------------------------------- */

/* --- 4.0 the matrix multiply every op leans on ---------------------------
   C (M,N) = beta*C + op(A) op(B), row-major, op(A) is (M,K) and op(B) is (K,N).
   trans_a: A is stored (K,M); trans_b: B is stored (N,K).  beta is 0 or 1. */
static void ig__gemm_ref(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                         const float *A, size_t lda, const float *B, size_t ldb,
                         float beta, float *C, size_t ldc) {
    size_t i, j, k;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            float acc = 0.0f;
            for (k = 0; k < K; k++) {
                float a = trans_a ? A[k * lda + i] : A[i * lda + k];
                float b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
                acc += a * b;
            }
            C[i * ldc + j] = (beta != 0.0f ? C[i * ldc + j] : 0.0f) + acc;
        }
}

static void ig__gemm(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                     const float *A, size_t lda, const float *B, size_t ldb,
                     float beta, float *C, size_t ldc) {
    ig__gemm_ref(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* --- 4.1 linear --------------------------------------------------------- */
/* y (M,N) = x (M,K) W^T + b, where M is every leading dim of x flattened. */
static void ig__linear_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    size_t N = w->shape[0], K = w->shape[1], M = x->n / K, m, n;
    /* dx (M,K) += dy (M,N) W (N,K) */
    if (x->grad) ig__gemm(0, 0, M, K, N, y->grad, N, w->data, K, 1.0f, x->grad, K);
    /* dW (N,K) += dy^T (N,M) x (M,K) */
    if (w->grad) ig__gemm(1, 0, N, K, M, y->grad, N, x->data, K, 1.0f, w->grad, K);
    /* db (N) += sum over rows of dy */
    if (b && b->grad)
        for (m = 0; m < M; m++)
            for (n = 0; n < N; n++) b->grad[n] += y->grad[m * N + n];
}

IGDEF ig_tensor *ig_linear(ig_ctx *c, ig_tensor *x, ig_tensor *w, ig_tensor *b) {
    size_t shape[IG_MAX_DIMS], N, K, M, m, n;
    ig_tensor *y;
    if (!x || !w || c->failed) { c->failed = 1; return NULL; }
    N = w->shape[0]; K = w->shape[1];
    if (w->ndim != 2 || x->shape[x->ndim - 1] != K || (b && b->n != N)) {
        ig__fail("ig_linear: x's last dim (%zu) must equal W's second dim (W is %zu x %zu), bias %zu",
                 x->shape[x->ndim - 1], N, K, b ? b->n : N);
        c->failed = 1;
        return NULL;
    }
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = N;
    if (!(y = ig__out(c, x, w, b, x->ndim, shape))) return NULL;
    M = x->n / K;
    ig__gemm(0, 1, M, N, K, x->data, K, w->data, K, 0.0f, y->data, N);
    if (b)
        for (m = 0; m < M; m++)
            for (n = 0; n < N; n++) y->data[m * N + n] += b->data[n];
    if (y->grad && !ig__record(c, ig__linear_backward, y, x, w, b)) return NULL;
    return y;
}

/* --- 4.2 add, mul, scale (b may broadcast over a's leading dims) ---------- */
static int ig__check_broadcast(ig_ctx *c, const char *op, ig_tensor *a, ig_tensor *b) {
    int i, off;
    if (!a || !b || c->failed) { c->failed = 1; return -1; }
    off = a->ndim - b->ndim;
    for (i = 0; i < b->ndim && off >= 0; i++)
        if (a->shape[off + i] != b->shape[i]) off = -1;
    if (off < 0) {
        c->failed = 1;
        return ig__fail("%s: b's shape must be a's trailing dims (a has %d dims and %zu elements, b %d and %zu)",
                        op, a->ndim, a->n, b->ndim, b->n);
    }
    return 0;
}

static void ig__add_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *a = nd->in[0], *b = nd->in[1];
    size_t i;
    if (a->grad)
        for (i = 0; i < y->n; i++) a->grad[i] += y->grad[i];
    if (b->grad)
        for (i = 0; i < y->n; i++) b->grad[i % b->n] += y->grad[i];
}

IGDEF ig_tensor *ig_add(ig_ctx *c, ig_tensor *a, ig_tensor *b) {
    ig_tensor *y;
    size_t i;
    if (ig__check_broadcast(c, "ig_add", a, b)) return NULL;
    if (!(y = ig__out(c, a, b, NULL, a->ndim, a->shape))) return NULL;
    for (i = 0; i < y->n; i++) y->data[i] = a->data[i] + b->data[i % b->n];
    if (y->grad && !ig__record(c, ig__add_backward, y, a, b, NULL)) return NULL;
    return y;
}

static void ig__mul_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *a = nd->in[0], *b = nd->in[1];
    size_t i;
    if (a->grad)
        for (i = 0; i < y->n; i++) a->grad[i] += y->grad[i] * b->data[i % b->n];
    if (b->grad)
        for (i = 0; i < y->n; i++) b->grad[i % b->n] += y->grad[i] * a->data[i];
}

IGDEF ig_tensor *ig_mul(ig_ctx *c, ig_tensor *a, ig_tensor *b) {
    ig_tensor *y;
    size_t i;
    if (ig__check_broadcast(c, "ig_mul", a, b)) return NULL;
    if (!(y = ig__out(c, a, b, NULL, a->ndim, a->shape))) return NULL;
    for (i = 0; i < y->n; i++) y->data[i] = a->data[i] * b->data[i % b->n];
    if (y->grad && !ig__record(c, ig__mul_backward, y, a, b, NULL)) return NULL;
    return y;
}

static void ig__scale_backward(ig_node *nd) {
    size_t i;
    if (nd->in[0]->grad)
        for (i = 0; i < nd->out->n; i++) nd->in[0]->grad[i] += nd->farg * nd->out->grad[i];
}

IGDEF ig_tensor *ig_scale(ig_ctx *c, ig_tensor *a, float s) {
    ig_tensor *y;
    ig_node *nd;
    size_t i;
    if (!(y = ig__out(c, a, NULL, NULL, a ? a->ndim : 1, a ? a->shape : NULL))) return NULL;
    for (i = 0; i < y->n; i++) y->data[i] = s * a->data[i];
    if (y->grad) {
        if (!(nd = ig__record(c, ig__scale_backward, y, a, NULL, NULL))) return NULL;
        nd->farg = s;
    }
    return y;
}

/* --- 4.3 adaLN: modulate and the gated residual --------------------------
   The conditioning c (B,D) enters every block through per-sample vectors:
     modulate:   y = x * (1 + scale) + shift       (shift, scale: (B,D))
     gated add:  y = x + gate * h                  (gate: (B,D))
   x, h, y are (B,T,D); the (B,D) vectors broadcast over the T tokens. */
static int ig__check_bd(ig_ctx *c, const char *op, ig_tensor *x, ig_tensor *v) {
    if (!x || !v || c->failed) { c->failed = 1; return -1; }
    if (x->ndim != 3 || v->n != x->shape[0] * x->shape[2]) {
        c->failed = 1;
        return ig__fail("%s: x must be (B,T,D) and the vector (B,D); got x with %d dims, vector with %zu elements",
                        op, x->ndim, v->n);
    }
    return 0;
}

static void ig__modulate_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *x = nd->in[0], *shift = nd->in[1], *scale = nd->in[2];
    size_t B = x->shape[0], T = x->shape[1], D = x->shape[2], b, t, d;
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++) {
            const float *dy = y->grad + (b * T + t) * D, *xv = x->data + (b * T + t) * D;
            float *dx = x->grad ? x->grad + (b * T + t) * D : NULL;
            for (d = 0; d < D; d++) {
                if (dx) dx[d] += dy[d] * (1.0f + scale->data[b * D + d]);
                if (shift->grad) shift->grad[b * D + d] += dy[d];
                if (scale->grad) scale->grad[b * D + d] += dy[d] * xv[d];
            }
        }
}

IGDEF ig_tensor *ig_modulate(ig_ctx *c, ig_tensor *x, ig_tensor *shift, ig_tensor *scale) {
    ig_tensor *y;
    size_t B, T, D, b, t, d;
    if (ig__check_bd(c, "ig_modulate", x, shift) || ig__check_bd(c, "ig_modulate", x, scale)) return NULL;
    if (!(y = ig__out(c, x, shift, scale, 3, x->shape))) return NULL;
    B = x->shape[0]; T = x->shape[1]; D = x->shape[2];
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++) {
            const float *xv = x->data + (b * T + t) * D;
            float *yv = y->data + (b * T + t) * D;
            for (d = 0; d < D; d++) yv[d] = xv[d] * (1.0f + scale->data[b * D + d]) + shift->data[b * D + d];
        }
    if (y->grad && !ig__record(c, ig__modulate_backward, y, x, shift, scale)) return NULL;
    return y;
}

static void ig__gated_add_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *x = nd->in[0], *gate = nd->in[1], *h = nd->in[2];
    size_t B = x->shape[0], T = x->shape[1], D = x->shape[2], b, t, d;
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++) {
            size_t o = (b * T + t) * D;
            for (d = 0; d < D; d++) {
                float dy = y->grad[o + d];
                if (x->grad) x->grad[o + d] += dy;
                if (h->grad) h->grad[o + d] += dy * gate->data[b * D + d];
                if (gate->grad) gate->grad[b * D + d] += dy * h->data[o + d];
            }
        }
}

IGDEF ig_tensor *ig_gated_add(ig_ctx *c, ig_tensor *x, ig_tensor *gate, ig_tensor *h) {
    ig_tensor *y;
    size_t B, T, D, b, t, d;
    if (ig__check_bd(c, "ig_gated_add", x, gate)) return NULL;
    if (!h || h->n != x->n) { c->failed = 1; ig__fail("ig_gated_add: h must have x's shape"); return NULL; }
    if (!(y = ig__out(c, x, gate, h, 3, x->shape))) return NULL;
    B = x->shape[0]; T = x->shape[1]; D = x->shape[2];
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++) {
            size_t o = (b * T + t) * D;
            for (d = 0; d < D; d++) y->data[o + d] = x->data[o + d] + gate->data[b * D + d] * h->data[o + d];
        }
    if (y->grad && !ig__record(c, ig__gated_add_backward, y, x, gate, h)) return NULL;
    return y;
}

/* --- 4.4 LayerNorm without affine ----------------------------------------
   Per row of D values: mu = mean(x), var = mean((x - mu)^2),
   y = (x - mu) * rstd with rstd = 1 / sqrt(var + 1e-6).
   Backward, with xhat = y:  dx = rstd * (dy - mean(dy) - xhat * mean(dy * xhat)). */
static void ig__layernorm_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *x = nd->in[0];
    size_t D = x->shape[x->ndim - 1], rows = x->n / D, r, d;
    const float *rstd = nd->saved;
    if (!x->grad) return;
    for (r = 0; r < rows; r++) {
        const float *dy = y->grad + r * D, *xh = y->data + r * D;
        float *dx = x->grad + r * D;
        double mdy = 0, mdyx = 0;
        for (d = 0; d < D; d++) { mdy += dy[d]; mdyx += dy[d] * xh[d]; }
        mdy /= (double)D; mdyx /= (double)D;
        for (d = 0; d < D; d++) dx[d] += rstd[r] * (float)(dy[d] - mdy - xh[d] * mdyx);
    }
}

IGDEF ig_tensor *ig_layernorm(ig_ctx *c, ig_tensor *x) {
    ig_tensor *y;
    size_t D, rows, r, d;
    float *rstd_saved = NULL;
    if (!(y = ig__out(c, x, NULL, NULL, x ? x->ndim : 1, x ? x->shape : NULL))) return NULL;
    D = x->shape[x->ndim - 1]; rows = x->n / D;
    if (y->grad) {
        ig_node *nd = ig__record(c, ig__layernorm_backward, y, x, NULL, NULL);
        if (!nd || !(rstd_saved = nd->saved = ig__scratch_floats(c, rows))) return NULL;
    }
    for (r = 0; r < rows; r++) {
        const float *xv = x->data + r * D;
        float *yv = y->data + r * D;
        double mu = 0, var = 0;
        float rstd;
        for (d = 0; d < D; d++) mu += xv[d];
        mu /= (double)D;
        for (d = 0; d < D; d++) var += (xv[d] - mu) * (xv[d] - mu);
        var /= (double)D;
        rstd = (float)(1.0 / sqrt(var + 1e-6));
        for (d = 0; d < D; d++) yv[d] = (float)(xv[d] - mu) * rstd;
        if (rstd_saved) rstd_saved[r] = rstd;
    }
    return y;
}

/* --- 4.5 activations -----------------------------------------------------
   SiLU:  y = x * sigmoid(x),   dy/dx = s * (1 + x * (1 - s)),  s = sigmoid(x)
   GELU (tanh approximation):  y = 0.5 x (1 + tanh(u)),  u = k0 (x + 0.044715 x^3),
     k0 = sqrt(2/pi);  dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) k0 (1 + 3*0.044715 x^2) */
static void ig__silu_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *x = nd->in[0];
    size_t i;
    if (!x->grad) return;
    for (i = 0; i < x->n; i++) {
        float s = 1.0f / (1.0f + expf(-x->data[i]));
        x->grad[i] += y->grad[i] * s * (1.0f + x->data[i] * (1.0f - s));
    }
}

IGDEF ig_tensor *ig_silu(ig_ctx *c, ig_tensor *x) {
    ig_tensor *y;
    size_t i;
    if (!(y = ig__out(c, x, NULL, NULL, x ? x->ndim : 1, x ? x->shape : NULL))) return NULL;
    for (i = 0; i < x->n; i++) y->data[i] = x->data[i] / (1.0f + expf(-x->data[i]));
    if (y->grad && !ig__record(c, ig__silu_backward, y, x, NULL, NULL)) return NULL;
    return y;
}

#define IG__GELU_K0 0.7978845608028654f /* sqrt(2/pi) */
#define IG__GELU_K1 0.044715f

static void ig__gelu_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *x = nd->in[0];
    size_t i;
    if (!x->grad) return;
    for (i = 0; i < x->n; i++) {
        float v = x->data[i];
        float th = tanhf(IG__GELU_K0 * (v + IG__GELU_K1 * v * v * v));
        float dudx = IG__GELU_K0 * (1.0f + 3.0f * IG__GELU_K1 * v * v);
        x->grad[i] += y->grad[i] * (0.5f * (1.0f + th) + 0.5f * v * (1.0f - th * th) * dudx);
    }
}

IGDEF ig_tensor *ig_gelu(ig_ctx *c, ig_tensor *x) {
    ig_tensor *y;
    size_t i;
    if (!(y = ig__out(c, x, NULL, NULL, x ? x->ndim : 1, x ? x->shape : NULL))) return NULL;
    for (i = 0; i < x->n; i++) {
        float v = x->data[i];
        y->data[i] = 0.5f * v * (1.0f + tanhf(IG__GELU_K0 * (v + IG__GELU_K1 * v * v * v)));
    }
    if (y->grad && !ig__record(c, ig__gelu_backward, y, x, NULL, NULL)) return NULL;
    return y;
}

/* --- 4.6 multi-head self-attention ---------------------------------------
   qkv (B,T,3D) holds [q | k | v]; head h uses channels h*hd .. h*hd+hd-1 of
   each, hd = D / heads.  Per batch element and head:
     S = q k^T / sqrt(hd)   (T,T)
     P = softmax(S) row by row
     out = P v              (T,hd), written into channels h*hd.. of out (B,T,D)
   Backward (dO = d out):
     dv = P^T dO,  dP = dO v^T,  dS = P * (dP - rowsum(dP * P)),
     dq = dS k / sqrt(hd),  dk = dS^T q / sqrt(hd).
   Choice: when training, P (B,heads,T,T) is kept for the backward (as PyTorch's
   plain attention does); without a tape only one (T,T) buffer per thread exists. */
static void ig__softmax_rows(float *S, size_t rows, size_t cols) {
    size_t r, j;
    for (r = 0; r < rows; r++) {
        float *s = S + r * cols, mx = s[0], sum = 0.0f, inv;
        for (j = 1; j < cols; j++) mx = s[j] > mx ? s[j] : mx;
        for (j = 0; j < cols; j++) { s[j] = expf(s[j] - mx); sum += s[j]; }
        inv = 1.0f / sum;
        for (j = 0; j < cols; j++) s[j] *= inv;
    }
}

static void ig__attention_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *qkv = nd->in[0];
    size_t heads = nd->arg[0], B = qkv->shape[0], T = qkv->shape[1], D3 = qkv->shape[2], D = D3 / 3;
    size_t hd = D / heads, bh;
    float scale = 1.0f / sqrtf((float)hd);
    float *dP_all = nd->saved + B * heads * T * T; /* one (T,T) buffer per thread */
    if (!qkv->grad) return;
    IG__OMP(omp parallel for schedule(static))
    for (bh = 0; bh < B * heads; bh++) {
        size_t b = bh / heads, h = bh % heads, r, j;
        int tid = 0;
        const float *q = qkv->data + b * T * D3 + h * hd, *k = q + D, *v = q + 2 * D;
        float *dq = qkv->grad + b * T * D3 + h * hd, *dk = dq + D, *dv = dq + 2 * D;
        const float *P = nd->saved + bh * T * T, *dO = y->grad + b * T * D + h * hd;
        float *dP;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        dP = dP_all + (size_t)tid * T * T;
        ig__gemm(1, 0, T, hd, T, P, T, dO, D, 1.0f, dv, D3);    /* dv (T,hd) += P^T dO   */
        ig__gemm(0, 1, T, T, hd, dO, D, v, D3, 0.0f, dP, T);    /* dP (T,T)   = dO v^T   */
        for (r = 0; r < T; r++) {                               /* dS = P * (dP - rowsum(dP*P)) */
            float dot = 0.0f, *dp = dP + r * T;
            const float *p = P + r * T;
            for (j = 0; j < T; j++) dot += dp[j] * p[j];
            for (j = 0; j < T; j++) dp[j] = p[j] * (dp[j] - dot) * scale;
        }
        ig__gemm(0, 0, T, hd, T, dP, T, k, D3, 1.0f, dq, D3);   /* dq += dS k   (scaled) */
        ig__gemm(1, 0, T, hd, T, dP, T, q, D3, 1.0f, dk, D3);   /* dk += dS^T q (scaled) */
    }
}

IGDEF ig_tensor *ig_attention(ig_ctx *c, ig_tensor *qkv, size_t heads) {
    ig_tensor *y;
    size_t shape[3], B, T, D, hd, bh, nthreads = 1;
    float scale, *P_all, *work;
    if (!qkv || c->failed) { c->failed = 1; return NULL; }
    if (qkv->ndim != 3 || qkv->shape[2] % 3 || heads == 0 || (qkv->shape[2] / 3) % heads) {
        c->failed = 1;
        ig__fail("ig_attention: qkv must be (B,T,3D) with D divisible by heads=%zu", heads);
        return NULL;
    }
    B = qkv->shape[0]; T = qkv->shape[1]; D = qkv->shape[2] / 3; hd = D / heads;
    shape[0] = B; shape[1] = T; shape[2] = D;
    if (!(y = ig__out(c, qkv, NULL, NULL, 3, shape))) return NULL;
    scale = 1.0f / sqrtf((float)hd);
#ifdef _OPENMP
    nthreads = (size_t)omp_get_max_threads();
#endif
    if (y->grad) { /* keep every P, plus a dP work buffer per thread for the backward */
        ig_node *nd = ig__record(c, ig__attention_backward, y, qkv, NULL, NULL);
        if (!nd || !(P_all = nd->saved = ig__scratch_floats(c, (B * heads + nthreads) * T * T))) return NULL;
        nd->arg[0] = heads;
        work = NULL;
    } else {
        P_all = NULL;
        if (!(work = ig__scratch_floats(c, nthreads * T * T))) return NULL;
    }
    IG__OMP(omp parallel for schedule(static))
    for (bh = 0; bh < B * heads; bh++) {
        size_t b = bh / heads, h = bh % heads, i;
        int tid = 0;
        const float *q = qkv->data + b * T * 3 * D + h * hd, *k = q + D, *v = q + 2 * D;
        float *P;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        P = P_all ? P_all + bh * T * T : work + (size_t)tid * T * T;
        ig__gemm(0, 1, T, T, hd, q, 3 * D, k, 3 * D, 0.0f, P, T);  /* S = q k^T */
        for (i = 0; i < T * T; i++) P[i] *= scale;
        ig__softmax_rows(P, T, T);
        ig__gemm(0, 0, T, hd, T, P, T, v, 3 * D, 0.0f, y->data + b * T * D + h * hd, D); /* out = P v */
    }
    return y;
}

/* --- 4.7 patchify / unpatchify -------------------------------------------
   An image (C,H,W) becomes T = (H/p)(W/p) tokens, row by row of patches.
   patchify orders a patch's values (c, p_row, p_col), the layout of the
   patch-embedding convolution's weight (D,C,p,p); the heads' outputs are
   ordered (p_row, p_col, c) when unpatchified, as in the released model. */
static void ig__patch_copy(ig_tensor *img, ig_tensor *tok, size_t p, int to_tokens, int use_grad, int channel_last) {
    size_t B = img->shape[0], C = img->shape[1], H = img->shape[2], W = img->shape[3];
    size_t Wp = W / p, T = (H / p) * Wp, P = C * p * p, b, c, i, j;
    float *im = use_grad ? img->grad : img->data, *tk = use_grad ? tok->grad : tok->data;
    for (b = 0; b < B; b++)
        for (c = 0; c < C; c++)
            for (i = 0; i < H; i++)
                for (j = 0; j < W; j++) {
                    size_t t = (i / p) * Wp + j / p, pr = i % p, pc = j % p;
                    size_t e = channel_last ? (pr * p + pc) * C + c : (c * p + pr) * p + pc;
                    size_t ti = (b * T + t) * P + e, ii = ((b * C + c) * H + i) * W + j;
                    if (!use_grad) { if (to_tokens) tk[ti] = im[ii]; else im[ii] = tk[ti]; }
                    else { if (to_tokens) im[ii] += tk[ti]; else tk[ti] += im[ii]; }
                }
}

static void ig__patchify_backward(ig_node *nd) {   /* dx += permuted dy */
    if (nd->in[0]->grad) ig__patch_copy(nd->in[0], nd->out, nd->arg[0], 1, 1, 0);
}

IGDEF ig_tensor *ig_patchify(ig_ctx *c, ig_tensor *x, size_t p) {
    ig_tensor *y;
    size_t shape[3];
    if (!x || c->failed) { c->failed = 1; return NULL; }
    if (x->ndim != 4 || p == 0 || x->shape[2] % p || x->shape[3] % p) {
        c->failed = 1;
        ig__fail("ig_patchify: x must be (B,C,H,W) with H and W divisible by p=%zu", p);
        return NULL;
    }
    shape[0] = x->shape[0]; shape[1] = (x->shape[2] / p) * (x->shape[3] / p); shape[2] = x->shape[1] * p * p;
    if (!(y = ig__out(c, x, NULL, NULL, 3, shape))) return NULL;
    ig__patch_copy(x, y, p, 1, 0, 0);
    if (y->grad) {
        ig_node *nd = ig__record(c, ig__patchify_backward, y, x, NULL, NULL);
        if (!nd) return NULL;
        nd->arg[0] = p;
    }
    return y;
}

static void ig__unpatchify_backward(ig_node *nd) { /* dtokens += permuted dy */
    if (nd->in[0]->grad) ig__patch_copy(nd->out, nd->in[0], nd->arg[0], 0, 1, 1);
}

IGDEF ig_tensor *ig_unpatchify(ig_ctx *c, ig_tensor *x, size_t p, size_t C, size_t H, size_t W) {
    ig_tensor *y;
    size_t shape[4];
    if (!x || c->failed) { c->failed = 1; return NULL; }
    if (x->ndim != 3 || p == 0 || H % p || W % p || x->shape[1] != (H / p) * (W / p) || x->shape[2] != p * p * C) {
        c->failed = 1;
        ig__fail("ig_unpatchify: x must be (B,(H/p)(W/p),p*p*C) for C=%zu H=%zu W=%zu p=%zu", C, H, W, p);
        return NULL;
    }
    shape[0] = x->shape[0]; shape[1] = C; shape[2] = H; shape[3] = W;
    if (!(y = ig__out(c, x, NULL, NULL, 4, shape))) return NULL;
    ig__patch_copy(y, x, p, 0, 0, 1);
    if (y->grad) {
        ig_node *nd = ig__record(c, ig__unpatchify_backward, y, x, NULL, NULL);
        if (!nd) return NULL;
        nd->arg[0] = p;
    }
    return y;
}

/* --- 4.8 gather (embedding lookup) and chunk ----------------------------- */
static void ig__gather_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *table = nd->in[0];
    size_t D = table->shape[1], B = y->shape[0], b, d;
    const int *idx = (const int *)nd->saved;
    if (!table->grad) return;
    for (b = 0; b < B; b++)
        for (d = 0; d < D; d++) table->grad[(size_t)idx[b] * D + d] += y->grad[b * D + d];
}

IGDEF ig_tensor *ig_gather(ig_ctx *c, ig_tensor *table, const int *idx, size_t B) {
    ig_tensor *y;
    size_t shape[2], b, V, D;
    if (!table || c->failed) { c->failed = 1; return NULL; }
    V = table->shape[0]; D = table->shape[1];
    for (b = 0; b < B; b++)
        if (idx[b] < 0 || (size_t)idx[b] >= V) {
            c->failed = 1;
            ig__fail("ig_gather: index %d (entry %zu) is outside the table's %zu rows", idx[b], b, V);
            return NULL;
        }
    shape[0] = B; shape[1] = D;
    if (!(y = ig__out(c, table, NULL, NULL, 2, shape))) return NULL;
    for (b = 0; b < B; b++) memcpy(y->data + b * D, table->data + (size_t)idx[b] * D, D * sizeof(float));
    if (y->grad) {
        ig_node *nd = ig__record(c, ig__gather_backward, y, table, NULL, NULL);
        int *copy;
        if (!nd || !(copy = (int *)ig_arena_alloc(c->scratch, B * sizeof(int)))) { c->failed = 1; return NULL; }
        memcpy(copy, idx, B * sizeof(int));
        nd->saved = (float *)(void *)copy;
    }
    return y;
}

static void ig__chunk_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *x = nd->in[0];
    size_t K = y->shape[y->ndim - 1], n = nd->arg[0], i = nd->arg[1], rows = y->n / K, r, k;
    if (!x->grad) return;
    for (r = 0; r < rows; r++)
        for (k = 0; k < K; k++) x->grad[r * K * n + i * K + k] += y->grad[r * K + k];
}

IGDEF ig_tensor *ig_chunk(ig_ctx *c, ig_tensor *x, size_t n, size_t i) {
    ig_tensor *y;
    size_t shape[IG_MAX_DIMS], K, rows, r;
    if (!x || c->failed) { c->failed = 1; return NULL; }
    if (n == 0 || i >= n || x->shape[x->ndim - 1] % n) {
        c->failed = 1;
        ig__fail("ig_chunk: the last dim %zu does not split into %zu chunks (asked for chunk %zu)",
                 x->shape[x->ndim - 1], n, i);
        return NULL;
    }
    memcpy(shape, x->shape, sizeof shape);
    K = shape[x->ndim - 1] / n;
    shape[x->ndim - 1] = K;
    if (!(y = ig__out(c, x, NULL, NULL, x->ndim, shape))) return NULL;
    rows = y->n / K;
    for (r = 0; r < rows; r++) memcpy(y->data + r * K, x->data + r * K * n + i * K, K * sizeof(float));
    if (y->grad) {
        ig_node *nd = ig__record(c, ig__chunk_backward, y, x, NULL, NULL);
        if (!nd) return NULL;
        nd->arg[0] = n; nd->arg[1] = i;
    }
    return y;
}

/* --- 4.9 reductions: mean squared error, sum, mean ------------------------
   mse = (1/n) sum (a - b)^2;  d mse / da = 2 (a - b) / n,  d mse / db = -that.
   Sums run in double, in a fixed order, so they do not depend on threads. */
static void ig__mse_backward(ig_node *nd) {
    ig_tensor *a = nd->in[0], *b = nd->in[1];
    float g = nd->out->grad[0] * 2.0f / (float)a->n;
    size_t i;
    for (i = 0; i < a->n; i++) {
        float diff = a->data[i] - b->data[i];
        if (a->grad) a->grad[i] += g * diff;
        if (b->grad) b->grad[i] -= g * diff;
    }
}

IGDEF ig_tensor *ig_mse(ig_ctx *c, ig_tensor *a, ig_tensor *b) {
    ig_tensor *y;
    size_t one = 1, i;
    double acc = 0.0;
    if (!a || !b || c->failed) { c->failed = 1; return NULL; }
    if (a->n != b->n) {
        c->failed = 1;
        ig__fail("ig_mse: the prediction has %zu elements, the target %zu", a->n, b->n);
        return NULL;
    }
    if (!(y = ig__out(c, a, b, NULL, 1, &one))) return NULL;
    for (i = 0; i < a->n; i++) acc += (double)(a->data[i] - b->data[i]) * (a->data[i] - b->data[i]);
    y->data[0] = (float)(acc / (double)a->n);
    if (y->grad && !ig__record(c, ig__mse_backward, y, a, b, NULL)) return NULL;
    return y;
}

static void ig__sum_backward(ig_node *nd) {
    ig_tensor *x = nd->in[0];
    float g = nd->out->grad[0] * nd->farg;
    size_t i;
    if (x->grad)
        for (i = 0; i < x->n; i++) x->grad[i] += g;
}

static ig_tensor *ig__sum_scaled(ig_ctx *c, ig_tensor *x, int mean) {
    ig_tensor *y;
    size_t one = 1, i;
    double acc = 0.0;
    if (!(y = ig__out(c, x, NULL, NULL, 1, &one))) return NULL;
    for (i = 0; i < x->n; i++) acc += x->data[i];
    y->data[0] = (float)(mean ? acc / (double)x->n : acc);
    if (y->grad) {
        ig_node *nd = ig__record(c, ig__sum_backward, y, x, NULL, NULL);
        if (!nd) return NULL;
        nd->farg = mean ? 1.0f / (float)x->n : 1.0f;
    }
    return y;
}

IGDEF ig_tensor *ig_sum(ig_ctx *c, ig_tensor *x) { return ig__sum_scaled(c, x, 0); }
IGDEF ig_tensor *ig_mean(ig_ctx *c, ig_tensor *x) { return ig__sum_scaled(c, x, 1); }

#endif /* IG_IMPLEMENTATION_DONE */
#endif /* IG_IMPLEMENTATION */
