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
     IG_MAX_THREADS     threads the matmul keeps packing buffers for (default 8)
     OpenMP             compile with -fopenmp to run on all cores; without it the
                        IG__OMP(...) pragmas vanish and everything still works.
                        Results are bit-identical for any thread count.  On a
                        busy machine run with OMP_WAIT_POLICY=passive.

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
#include <stdio.h>   /* FILE, in ig_st_file */

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
    float *grad;                 /* dLoss/d(data); NULL until needed         */
    int requires_grad;           /* the backward pass must compute .grad     */
    int grad_pooled;             /* .grad is a temporary from the ctx's pool */
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
    struct ig_ctx *ctx;
    ig_tensor *out;
    ig_tensor *in[3];
    float *saved;                /* op-specific, lives in the scratch arena  */
    size_t arg[4];               /* op-specific integers                     */
    float farg;                  /* op-specific float                        */
} ig_node;

/* The context every op runs in: where activations come from and the tape.
   With training == 0 nothing is recorded and no gradient buffer is made.
   Gradients of activations live only during the backward pass: each is made
   when the first consumer's backward needs it and handed back to a small
   pool (free list) as soon as its producer's backward is done. */
#define IG_POOL_SLOTS 64
typedef struct ig_ctx {
    ig_arena *scratch;
    ig_node *tape;
    size_t ntape, cap_tape;
    int training;
    int failed;                  /* an op failed: later ops return NULL      */
    float *pool[IG_POOL_SLOTS];  /* free gradient buffers ...                */
    size_t pool_n[IG_POOL_SLOTS];/* ... and their sizes in floats            */
    int npool;
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
/* Cross-entropy of logits z (B,K) against integer labels y (B) in 0..K-1,
   averaged over the batch (a classifier's loss). */
IGDEF ig_tensor *ig_cross_entropy(ig_ctx *c, ig_tensor *z, const int *y);
/* The same values in another shape with the same element count (a copy). */
IGDEF ig_tensor *ig_reshape(ig_ctx *c, ig_tensor *x, int ndim, const size_t *shape);

/* The matrix multiply every op uses, public for code outside the tape (e.g. a
   convolution as im2col + matmul).  Row-major, BLAS semantics:
       C (M,N) = beta * C + op(A) (M,K) * op(B) (K,N)
   op(A) = A (lda per row) or, with trans_a, A^T; op(B) likewise.  beta = 0
   never reads C.  Not reentrant: call it from one thread at a time (it uses
   all OpenMP threads itself). */
IGDEF void ig_matmul(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                     const float *A, size_t lda, const float *B, size_t ldb,
                     float beta, float *C, size_t ldc);


/* ------------------------------------------------------------------------- */
/* 5. the model: a SiT/DiT with a second, intermediate output head           */
/* ------------------------------------------------------------------------- */

/* The blueprint.  Sizes are small numbers, so plain ints. */
typedef struct ig_config {
    int in_channels;        /* C                                              */
    int image_height;       /* H  (divisible by patch_size)                   */
    int image_width;        /* W  (divisible by patch_size)                   */
    int patch_size;         /* p                                              */
    int hidden_size;        /* D  (divisible by 4 and by num_heads)           */
    int depth;              /* L  transformer blocks                          */
    int num_heads;
    int num_classes;        /* the label table has one more row: the null label */
    int aux_depth;          /* k: the intermediate head reads x after block k, 1 <= k < L */
    float t_scale;          /* t fed to the time embedding is t * t_scale (1 in SiT) */
} ig_config;

/* Presets "S/2", "B/4", "L/8", "XL/2", ...: depth, width and heads of the paper's
   models, patch from the suffix, head after block 4 (S, B) or 8 (L, XL).
   Returns -1 on an unknown name. */
IGDEF int ig_config_preset(ig_config *cfg, const char *name, int in_channels,
                           int image_height, int image_width, int num_classes);
IGDEF int ig_config_check(const ig_config *cfg);  /* 0, or -1 with the reason */

/* One named parameter, named and shaped as in the released PyTorch state dict. */
typedef struct ig_param {
    char name[64];
    ig_tensor *t;           /* data in model->weights, grad in model->grads   */
    size_t offset;          /* into the flat arrays                           */
    int trainable;          /* pos_embed is stored but fixed                  */
} ig_param;

typedef struct ig_block_params {
    ig_tensor *ada_w, *ada_b;      /* adaLN_modulation.1  (6D,D) (6D) */
    ig_tensor *qkv_w, *qkv_b;      /* attn.qkv            (3D,D) (3D) */
    ig_tensor *proj_w, *proj_b;    /* attn.proj           (D,D)  (D)  */
    ig_tensor *fc1_w, *fc1_b;      /* mlp.fc1             (4D,D) (4D) */
    ig_tensor *fc2_w, *fc2_b;      /* mlp.fc2             (D,4D) (D)  */
} ig_block_params;

typedef struct ig_head_params {
    ig_tensor *ada_w, *ada_b;      /* adaLN_modulation.1  (2D,D) (2D)     */
    ig_tensor *out_w, *out_b;      /* linear              (p*p*C,D) (p*p*C) */
} ig_head_params;

typedef struct ig_model {
    ig_config cfg;
    ig_arena arena;                /* the persistent arena: everything below */
    size_t nweights;               /* floats in each flat array             */
    float *weights;                /* every parameter, back to back         */
    float *grads;                  /* same layout; NULL if not training     */
    float *adam_m, *adam_v;        /* AdamW moments; NULL if not training   */
    float *ema;                    /* EMA of the weights; NULL if not training */
    ig_param *params;              /* the table: name -> tensor             */
    int nparams;
    /* the same tensors by role */
    ig_tensor *pos_embed;                      /* (1,T,D) fixed sin-cos      */
    ig_tensor *x_proj_w, *x_proj_b;            /* (D,C,p,p) (D)              */
    ig_tensor *t_fc1_w, *t_fc1_b, *t_fc2_w, *t_fc2_b; /* (D,256) (D) (D,D) (D) */
    ig_tensor *y_table;                        /* (num_classes+1, D)         */
    ig_block_params *blocks;                   /* L of them                  */
    ig_head_params final_head;                 /* final_layer                */
    ig_head_params aux_head;                   /* final_layer_xr             */
    int64_t step;                  /* optimizer steps taken                  */
    ig_rng rng;                    /* training noise, t, label dropout       */
} ig_model;

/* Bytes of the persistent arena for a configuration (training adds
   gradients, two AdamW moments and the EMA: 5x the weights). */
IGDEF size_t ig_model_bytes(const ig_config *cfg, int training);
/* Bytes of scratch arena one forward (and backward, if training) at this
   batch size needs, tape included.  An upper bound: size the arena with it. */
IGDEF size_t ig_model_scratch_bytes(const ig_config *cfg, size_t batch, int training);
/* Tape nodes one training forward records (pass to ig_ctx_init). */
IGDEF size_t ig_model_tape_nodes(const ig_config *cfg);

/* Builds the model and initializes it as released: xavier-uniform Linears,
   zero biases, N(0, 0.02) label table and time MLP, adaLN and both heads zero. */
IGDEF int  ig_model_init(ig_model *m, const ig_config *cfg, int training, uint64_t seed);
IGDEF void ig_model_free(ig_model *m);
IGDEF ig_param *ig_model_find(ig_model *m, const char *name);
/* Swap the live weights with the EMA weights (call again to swap back). */
IGDEF void ig_model_swap_ema(ig_model *m);

/* The forward pass.  x (B,C,H,W), t (B) in [0,1], y (B) labels (num_classes =
   null label).  *v gets the final head's velocity (B,C,H,W).  If v_aux is not
   NULL, *v_aux gets the intermediate head's; if it is NULL that head is not
   computed at all.  With a training context the tape is recorded. */
IGDEF int ig_forward(ig_model *m, ig_ctx *c, ig_tensor *x, const float *t, const int *y,
                     ig_tensor **v, ig_tensor **v_aux);

/* ------------------------------------------------------------------------- */
/* 6. training                                                               */
/* ------------------------------------------------------------------------- */

enum { IG_PATH_LINEAR = 0, IG_PATH_COSINE = 1 };
enum { IG_T_UNIFORM = 0, IG_T_LOGNORMAL = 1 };

/* Read at every step: change lr or ema_decay between steps for a schedule. */
typedef struct ig_train_config {
    float lr, beta1, beta2, eps, weight_decay;  /* AdamW                       */
    float grad_clip;        /* clip the global gradient norm (<= 0: off)       */
    float ema_decay;        /* EMA of the weights after every step             */
    float aux_weight;       /* lambda: loss = mse(final) + lambda mse(inter); 0 = baseline */
    float label_dropout;    /* probability a label becomes the null label      */
    int path;               /* IG_PATH_LINEAR or IG_PATH_COSINE                */
    int t_sampling;         /* IG_T_UNIFORM or IG_T_LOGNORMAL                  */
} ig_train_config;

/* The released defaults: lr 1e-4, betas (0.9, 0.999), eps 1e-8, no weight
   decay, clip 1.0, EMA 0.9999, lambda 0.5, label dropout 0.1, linear, uniform. */
IGDEF ig_train_config ig_train_defaults(void);

typedef struct ig_train_stats {
    float loss;             /* the total loss that was minimized               */
    float loss_final;       /* mse of the final head                           */
    float loss_aux;         /* mse of the intermediate head (0 if lambda = 0)  */
    float grad_norm;        /* global gradient norm before clipping            */
} ig_train_stats;

/* One flow-matching step on a batch of clean data x0 (B,C,H,W) with labels y:
   draws t, noise and label dropout from m->rng, then ig_train_step_on. */
IGDEF int ig_train_step(ig_model *m, ig_ctx *c, const ig_train_config *tc,
                        const float *x0, const int *y, size_t B, ig_train_stats *stats);
/* The same step with everything given: inputs x_t, times t, labels y (after
   any dropout) and the velocity target (B,C,H,W).  Zeroes the gradients,
   forward, loss, backward, clipping, AdamW, EMA, step += 1. */
IGDEF int ig_train_step_on(ig_model *m, ig_ctx *c, const ig_train_config *tc,
                           const float *xt, const float *t, const int *y,
                           const float *target, size_t B, ig_train_stats *stats);

/* ------------------------------------------------------------------------- */
/* 7. sampling                                                               */
/* ------------------------------------------------------------------------- */

/* A velocity field: v = f(x, t) for a whole batch of n floats.  The samplers
   below only ever see this function, so they work the same for the model with
   or without guidance and for an exact, known field. */
typedef int (*ig_velocity_fn)(void *user, const float *x, size_t n, float t, float *v);
#define IG_VELOCITY_FN_DEFINED 1

/* grid: nsteps + 1 times from 1 (noise) down to 0 (data). */
IGDEF void ig_grid_uniform(float *grid, size_t nsteps);
/* Euler: x += (t' - t) v(x, t). */
IGDEF int ig_sample_euler(ig_velocity_fn f, void *user, float *x, size_t n, const float *grid, size_t nsteps);
/* Heun: an Euler step, then average the slopes at both ends; the step that
   lands on t = 0 stays plain Euler.  Two evaluations per step. */
IGDEF int ig_sample_heun(ig_velocity_fn f, void *user, float *x, size_t n, const float *grid, size_t nsteps);
/* Euler-Maruyama SDE on the grid linspace(1, 0.04, nsteps) then 0, last step
   without noise (the released IG sampler).  nsteps evaluations. */
IGDEF int ig_sample_sde(ig_velocity_fn f, void *user, float *x, size_t n, size_t nsteps, ig_rng *rng);

/* How the model's velocity is guided.  Each method acts only for t inside its
   interval [low, high]. */
typedef struct ig_guidance {
    float ig_weight, ig_low, ig_high;       /* IG: v_inter + w (v_final - v_inter); w = 1 off */
    float cfg_scale, cfg_low, cfg_high;     /* CFG: v_u + s (v_c - v_u); s = 1 off           */
    struct ig_model *guide;                 /* autoguidance: a weaker model (NULL off)       */
    float guide_weight;                     /* v_weak + w (v - v_weak)                       */
} ig_guidance;

IGDEF ig_guidance ig_guidance_none(void);

/* The guided model as an ig_velocity_fn: pass a pointer to this as 'user'.
   With CFG the batch is doubled, so size ctx's scratch for 2 * batch rows. */
typedef struct ig_sampler {
    ig_model *model;
    ig_ctx *ctx;            /* scratch for the forward passes (no tape)        */
    ig_ctx *guide_ctx;      /* scratch for the guide model (may equal ctx)     */
    const int *labels;      /* (B) class labels                                */
    size_t batch;           /* B                                               */
    ig_guidance g;
    size_t nfe;             /* network evaluations so far, in batches of B     */
} ig_sampler;

IGDEF int ig_model_velocity(void *sampler, const float *x, size_t n, float t, float *v);

/* ------------------------------------------------------------------------- */
/* 8. checkpoints (safetensors)                                              */
/* ------------------------------------------------------------------------- */
/* ---------------------------------------------------------------- API --- */

/* Element types. IG_DTYPE_OTHER = any other dtype the format defines
   (F64, U8, I8, I16, U16, U32, U64, BOOL, F8_E4M3, F8_E5M2, F8_E8M0, C64):
   such tensors are indexed and can be read raw, but are not converted. */
typedef enum { IG_F32, IG_F16, IG_BF16, IG_I64, IG_I32, IG_DTYPE_OTHER } ig_dtype;

#define IG_ST_MAX_DIMS 8
#define IG_ST_MAX_HEADER (100u * 1024u * 1024u) /* reject larger JSON headers */

/* One tensor of an opened file. begin/end are byte offsets relative to the
   start of the data section (st->data_start). */
typedef struct {
    char *name;          /* UTF-8, NUL-terminated (names with \u0000 are rejected) */
    ig_dtype dtype;
    char dtype_name[12]; /* dtype string as in the file, e.g. "F32", "U8" */
    int dtype_size;      /* bytes per element */
    int ndim;            /* 0..8; 0 = scalar (1 element) */
    int64_t shape[IG_ST_MAX_DIMS];
    size_t begin, end;
} ig_st_tensor;

/* An opened safetensors file. The FILE stays open; tensor data is read on
   demand. Tensors are in header order. */
typedef struct {
    char path[512];
    FILE *f;
    size_t data_start, data_size; /* absolute offset of data section, its size */
    ig_st_tensor *tensors;
    int ntensors;
    char **meta_keys, **meta_vals; /* "__metadata__" pairs, header order */
    int nmeta;
} ig_st_file;

/* Open and fully validate the header of a safetensors file. Always
   initializes *st; on failure it is left closed (ig_st_close is harmless).
   Returns 0, or -1 with ig_last_error() naming the file and the problem. */
IGDEF int ig_st_open(ig_st_file *st, const char *path);

/* Close the file and free everything. Safe on a zeroed or failed struct. */
IGDEF void ig_st_close(ig_st_file *st);

/* Tensor by exact name, or NULL if absent. */
IGDEF const ig_st_tensor *ig_st_find(const ig_st_file *st, const char *name);

/* Metadata value for key, or NULL if absent. */
IGDEF const char *ig_st_meta(const ig_st_file *st, const char *key);

/* Number of elements (product of shape; 1 for a scalar). */
IGDEF size_t ig_st_numel(const ig_st_tensor *t);

/* Read a F32/F16/BF16 tensor, converting to float. n must equal the element
   count. Returns 0 or -1 (wrong dtype, wrong n, I/O error). */
IGDEF int ig_st_read_f32(ig_st_file *st, const ig_st_tensor *t, float *dst, size_t n);

/* Read an I64 or I32 tensor into int64_t. n must equal the element count. */
IGDEF int ig_st_read_i64(ig_st_file *st, const ig_st_tensor *t, int64_t *dst, size_t n);

/* Read the raw little-endian bytes of any tensor (any dtype).
   nbytes must equal t->end - t->begin. */
IGDEF int ig_st_read_raw(ig_st_file *st, const ig_st_tensor *t, void *dst, size_t nbytes);

/* F16 / BF16 bit patterns -> float (exact; F16 subnormals, inf, NaN kept). */
IGDEF float ig_f16_to_f32(uint16_t h);
IGDEF float ig_bf16_to_f32(uint16_t h);

/* --- writer ---
   ig_st_writer w; ig_st_writer_init(&w);
   ig_st_add(&w, "w", IG_F32, 2, shape, data);   data must stay valid until save
   ig_st_add_meta(&w, "format", "pt");
   ig_st_writer_save(&w, "out.safetensors");      atomic: <path>.tmp + rename
   ig_st_writer_free(&w);
   A failed ig_st_add / ig_st_add_meta makes the writer sticky-failed: a later
   save refuses to write a file with silently missing entries. */
typedef struct {
    char *name;
    ig_dtype dtype;
    int ndim;
    int64_t shape[IG_ST_MAX_DIMS];
    const void *data;
    size_t nbytes;
} ig_st_wentry;

typedef struct ig_st_writer {
    ig_st_wentry *entries;
    int n, cap;
    char **meta_keys, **meta_vals;
    int nmeta, meta_cap;
    int failed;
} ig_st_writer;

/* Initialize an empty writer. */
IGDEF void ig_st_writer_init(ig_st_writer *w);

/* Add a tensor. dtype: IG_F32 (float*), IG_I64 (int64_t*), IG_I32 (int32_t*),
   IG_F16 / IG_BF16 (uint16_t* bit patterns); host byte order, row-major.
   The name is copied, the data pointer is only stored (not copied).
   Errors: bad dtype/ndim/shape, NULL data for a non-empty tensor, duplicate
   name, invalid UTF-8 name, name "__metadata__", size overflow. 0 or -1. */
IGDEF int ig_st_add(ig_st_writer *w, const char *name, ig_dtype dtype, int ndim,
                    const int64_t *shape, const void *data);

/* Add a "__metadata__" string pair (both copied, must be valid UTF-8).
   Duplicate keys are an error. 0 or -1. */
IGDEF int ig_st_add_meta(ig_st_writer *w, const char *key, const char *val);

/* Write the file atomically: write "<path>.tmp", flush, fsync (POSIX),
   close, rename over path. On any error the tmp file is removed and an
   existing file at path is left untouched. Tensors are stored in insertion
   order, contiguous with no gaps (as the reference implementation requires);
   the header is space-padded so the data section starts 8-byte aligned.
   The writer stays valid (may be saved again or freed). 0 or -1. */
IGDEF int ig_st_writer_save(ig_st_writer *w, const char *path);

/* Free everything owned by the writer (not the tensor data). */
IGDEF void ig_st_writer_free(ig_st_writer *w);

/* A checkpoint is a safetensors file whose tensor names are the released
   PyTorch state dict's, so torch's load_state_dict(strict=True) takes it (after
   dropping the prefixed training state, see ig_save).  The configuration
   rides in "__metadata__" as decimal strings: in_channels, image_height,
   image_width, patch_size, hidden_size, depth, num_heads, num_classes,
   aux_depth, t_scale, plus step and rng for resuming. */

/* Writes the weights under the plain names.  With training_state != 0 it also
   writes "ema.<name>", "adam.m.<name>", "adam.v.<name>", the step and the RNG,
   so ig_load resumes the run bit for bit.  The file is replaced atomically. */
IGDEF int ig_save(const ig_model *m, const char *path, int training_state);
/* Writes only the EMA weights under the plain names (what sampling uses). */
IGDEF int ig_save_ema(const ig_model *m, const char *path);
/* Loads every parameter, checking names, dtypes and shapes; F32, F16 and BF16
   are read.  With strict != 0 a tensor the model does not know is an error;
   without it such tensors are skipped.  Training state is loaded when present
   and the model trains. */
IGDEF int ig_load(ig_model *m, const char *path, int strict);
/* The configuration of a checkpoint: sizes from the tensor shapes, heads and
   aux_depth from the arguments (> 0), else the metadata, else the preset of
   that width.  */
IGDEF int ig_config_from_file(ig_config *cfg, const char *path, int heads, int aux_depth);

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
#include <stdlib.h>

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
    t->requires_grad = grad != NULL;
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
        t->requires_grad = 1;
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
    ctx->npool = 0;
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
   arena is full.  It requires a gradient only when we are recording and some
   input requires one; its buffer is made later, in the backward pass. */
static ig_tensor *ig__out(ig_ctx *c, ig_tensor *a, ig_tensor *b, ig_tensor *d, int ndim, const size_t *shape) {
    ig_tensor *y;
    if (c->failed || !a) { c->failed = 1; return NULL; }
    y = ig_tensor_new(c->scratch, ndim, shape, 0);
    if (!y) { c->failed = 1; return NULL; }
    y->requires_grad = c->training && (a->requires_grad || (b && b->requires_grad) || (d && d->requires_grad));
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
    nd->ctx = c;
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

/* The gradient buffer of t for a backward: NULL if t needs none; made
   (zeroed) on first use, from the pool if a free buffer of that size is there. */
static float *ig__grad(ig_ctx *c, ig_tensor *t) {
    int k;
    if (!t->requires_grad) return NULL;
    if (t->grad) return t->grad;
    for (k = 0; k < c->npool; k++)
        if (c->pool_n[k] == t->n) {
            t->grad = c->pool[k];
            c->pool[k] = c->pool[c->npool - 1];
            c->pool_n[k] = c->pool_n[c->npool - 1];
            c->npool--;
            break;
        }
    if (!t->grad) t->grad = (float *)ig_arena_alloc(c->scratch, t->n * sizeof(float));
    if (!t->grad) { c->failed = 1; return NULL; }
    t->grad_pooled = 1;
    memset(t->grad, 0, t->n * sizeof(float));
    return t->grad;
}

/* Every consumer of t has run its backward: its gradient buffer is free. */
static void ig__grad_release(ig_ctx *c, ig_tensor *t) {
    if (!t->grad_pooled || !t->grad) return;
    if (c->npool < IG_POOL_SLOTS) {
        c->pool[c->npool] = t->grad;
        c->pool_n[c->npool] = t->n;
        c->npool++;
    }
    t->grad = NULL;
    t->grad_pooled = 0;
}

IGDEF int ig_backward(ig_ctx *c, ig_tensor *loss) {
    size_t i;
    float *g;
    if (!loss || c->failed) return -1; /* the failing op has set the message */
    if (!c->training) return ig__fail("ig_backward: the context was not reset for training (ig_ctx_reset(ctx, 1))");
    if (loss->n != 1) return ig__fail("ig_backward: the loss must be a scalar, it has %zu elements", loss->n);
    if (!loss->requires_grad) return ig__fail("ig_backward: the loss does not depend on any tensor with a gradient");
    if (!(g = ig__grad(c, loss))) return -1;
    g[0] += 1.0f;
    for (i = c->ntape; i-- > 0;) {
        ig_node *nd = &c->tape[i];
        if (!nd->out->grad) continue;      /* nothing flowed back into this op */
        nd->backward(nd);
        if (c->failed) return -1;          /* out of scratch for a gradient */
        ig__grad_release(c, nd->out);
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* 4. ops: each forward, then right below it, its backward                   */
/* ------------------------------------------------------------------------- */

/* ======================================================================
 * ig__gemm: single-precision matrix multiply (row-major, BLAS semantics)
 *
 *     C[M,N] = beta * C + op(A) * op(B)
 *
 *     op(A) is (M,K):  A[i*lda + k]   (trans_a == 0)   or  A[k*lda + i]
 *     op(B) is (K,N):  B[k*ldb + j]   (trans_b == 0)   or  B[j*ldb + k]
 *
 * beta == 0 overwrites C (its old contents, even NaN, are never read);
 * beta == 1 accumulates; any other beta scales C first.
 *
 * How the fast path works (the "GotoBLAS / BLIS" scheme)
 * ------------------------------------------------------
 * A naive triple loop is limited by memory traffic: every multiply-add
 * loads two floats.  A fast GEMM re-uses each loaded value many times
 * from registers and from the caches.  The work is cut in three levels:
 *
 *   for jc in [0,N) step NC          5th loop: columns of C and B
 *     for pc in [0,K) step KC        4th loop: the shared dimension
 *       pack B[pc:pc+KC, jc:jc+NC] -> Bp   (KC x NC)
 *       for ic in [0,M) step MC      3rd loop: rows of C
 *         pack A[ic:ic+MC, pc:pc+KC] -> Ap (MC x KC)
 *         for jr in [0,NC) step NR   2nd loop: one KC x NR sliver of Bp
 *           for ir in [0,MC) step MR 1st loop: one MR x KC sliver of Ap
 *             micro-kernel: C[ir:ir+MR, jr:jr+NR] (+)= Ap_sliver * Bp_sliver
 *
 * The micro-kernel keeps an MR x NR tile of C in vector registers for
 * the whole KC loop.  With AVX-512 the tile is 6 x 64 floats = 24 zmm
 * registers (+ 4 for a row of B).  Per step k it loads NR/16 = 4 vectors
 * of B, broadcasts MR = 6 values of A and does 24 fused multiply-adds:
 * 24 FMAs for 10 loads, so the FMA unit, not the loads, is the
 * bottleneck -- that is the goal.  (AVX2: 6 x 16 tile in 12 ymm; SSE /
 * other GNU targets: 6 x 8 in 12 xmm; plain C: 4 x 4 scalars.)
 *
 * Packing copies the operands into the exact order the micro-kernel
 * reads them (Ap: for each k the MR values of a column of the sliver;
 * Bp: for each k the NR values of a row of the sliver), so the kernel
 * reads both buffers strictly sequentially.  The transposes (trans_a,
 * trans_b) are absorbed by the packing routines: the kernel never sees
 * them.  Edges (M or N not a multiple of MR, NR) are zero-padded in the
 * packed buffers; the kernel then writes a full tile into a small
 * temporary and only the valid part is copied to C.
 *
 * Block sizes (AMD Zen 4: 32 KB L1d, 1 MB L2 per core, 32 MB L3 shared),
 * chosen by measurement around these estimates:
 *   KC = 384 : an Ap sliver (6 x 384 x 4 B = 9 KB) sits in L1 during a
 *              micro-kernel call; a Bp sliver (384 x 64 x 4 B = 96 KB) is
 *              re-read from L2 by the MC/MR = 20 calls of the ir loop.
 *              K = 384 (the model width) is then a single block.
 *   MC = 120 : Ap = 120 x 384 x 4 B = 180 KB, in L2 next to the Bp sliver.
 *   NC = 1536: Bp = 384 x 1536 x 4 B = 2.3 MB per thread, in L3.
 *   A big KC amortizes the load/store of the C tile (once per KC steps).
 *
 * Threads and determinism: C is cut into one slab per thread (slabs of
 * rows if M >= N, else of columns); each thread runs the loops above on
 * its slab with its own Ap and Bp, so there is no barrier inside (one
 * fork/join per call), which also keeps 2 threads fast when the machine
 * is busy.  K is NEVER split across threads and KC depends only on K, so
 * every element of C is computed with the same operations in the same
 * order whatever the number of threads: results are bit-identical with
 * 1 or 2 threads.
 *
 * Small problems (few flops, or a tiny M or N) skip packing and OpenMP
 * and use plain loops (ig__gemm_small): packing would cost more than it
 * saves.
 *
 * Buffers are static (one Ap and one Bp per thread, up to
 * IG_MAX_THREADS; about 2.5 MB each, only the pages used are ever
 * touched), so ig__gemm is NOT reentrant: do not call it from several
 * threads at once, e.g. inside an OpenMP loop over heads (its own OpenMP
 * threads are fine).  More than IG_MAX_THREADS threads: the extra ones
 * are simply not used.
 *
 * Note: libgomp's idle threads spin between parallel regions.  On a
 * machine busy with other processes that spinning can stall small calls
 * badly (measured: 256^3 fell from ~100 to ~4 GFLOP/s under load 5 on 2
 * cores); OMP_WAIT_POLICY=passive avoids it.
 * ====================================================================== */

/* silences -Wunused-function for a TU that does not call everything */
#if defined(__GNUC__)
#define IG__MAYBE_UNUSED __attribute__((unused))
#else
#define IG__MAYBE_UNUSED
#endif

#ifndef IG_MAX_THREADS
#define IG_MAX_THREADS 8
#endif

/* ---------------------------------------------------------------------
 * Reference: the definition, written as plainly as possible.
 * Used as the test oracle and when IG_NO_FAST_GEMM is defined.
 * --------------------------------------------------------------------- */
IG__MAYBE_UNUSED
static void ig__gemm_ref(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                         const float *A, size_t lda, const float *B, size_t ldb,
                         float beta, float *C, size_t ldc)
{
    size_t i, j, k;
    for (i = 0; i < M; i++) {
        for (j = 0; j < N; j++) {
            float s = 0.0f;
            for (k = 0; k < K; k++) {
                float a = trans_a ? A[k * lda + i] : A[i * lda + k];
                float b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
                s += a * b;
            }
            /* beta == 0 must not read C (it may hold NaN) */
            C[i * ldc + j] = (beta == 0.0f) ? s : beta * C[i * ldc + j] + s;
        }
    }
}

/* ---------------------------------------------------------------------
 * Vector type and micro-tile shape for the target.
 *   ig__vf        : a vector of IG__VW floats (GCC/clang vector extension)
 *   IG__MR x IG__NR : the register tile of C, IG__NR = IG__NV * IG__VW
 *   IG__FMA(a,b,c): a*b + c, fused where the CPU has FMA.  We use the
 *     intrinsic because with -std=c99 gcc does not contract a*b+c into
 *     an FMA (ISO mode implies -ffp-contract=off).
 *   IG__SPLAT(x)  : a vector with all lanes = x (compiles to a broadcast,
 *     usually folded into the FMA's memory operand).
 * Without GNU C we fall back to plain floats (IG__VW = 1): the same
 * kernel source then is an ordinary scalar register-tiled loop.
 * --------------------------------------------------------------------- */
#if defined(__GNUC__) && defined(__AVX512F__)
#include <immintrin.h>
#define IG__VW 16
#ifndef IG__MR
#define IG__MR 6 /* 6*4 accumulators + 4 B vectors = 28 of 32 zmm */
#define IG__NV 4
#endif
__extension__ typedef float ig__vf __attribute__((vector_size(64)));
#define IG__FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define IG__SPLAT(x) _mm512_set1_ps(x)
/* sum of the 16 lanes as a fixed tree: add the two 256-bit halves, then
 * the 128-bit halves, then within the quarter.  The halves are taken
 * with memcpy, which compiles to register extracts.  (Not
 * _mm512_reduce_add_ps: gcc 12's header warns about it in C++.) */
__extension__ typedef float ig__vf8 __attribute__((vector_size(32)));
IG__MAYBE_UNUSED static float ig__hsum16(ig__vf v)
{
    ig__vf8 h[2];
    __m128 q[2], s;
    memcpy(h, &v, sizeof h);
    h[0] += h[1];
    memcpy(q, &h[0], sizeof q);
    s = _mm_add_ps(q[0], q[1]);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));     /* lanes 0+2, 1+3 */
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1)); /* (0+2) + (1+3) */
    return _mm_cvtss_f32(s);
}
#define IG__HSUM(x) ig__hsum16(x)
#elif defined(__GNUC__) && defined(__AVX__)
#include <immintrin.h>
#define IG__VW 8
#define IG__NV 2
#define IG__MR 6 /* 6*2 accumulators + 2 B + 1 broadcast = 15 of 16 ymm */
__extension__ typedef float ig__vf __attribute__((vector_size(32)));
#if defined(__FMA__)
#define IG__FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#else
#define IG__FMA(a, b, c) ((a) * (b) + (c))
#endif
#define IG__SPLAT(x) _mm256_set1_ps(x)
#elif defined(__GNUC__)
/* SSE (x86-64 baseline), NEON, ...: 4 wide, generic GNU vectors */
#define IG__VW 4
#define IG__NV 2
#define IG__MR 6
__extension__ typedef float ig__vf __attribute__((vector_size(16)));
#define IG__FMA(a, b, c) ((a) * (b) + (c))
#define IG__SPLAT(x) (ig__vf_zero() + (x)) /* vector + scalar broadcasts */
IG__MAYBE_UNUSED static ig__vf ig__vf_zero(void) { ig__vf z = {0}; return z; }
#else
/* plain C: "vectors" of one float */
#define IG__VW 1
#define IG__NV 4
#define IG__MR 4
typedef float ig__vf;
#define IG__FMA(a, b, c) ((a) * (b) + (c))
#define IG__SPLAT(x) (x)
#endif

#define IG__NR (IG__NV * IG__VW)

/* Cache blocking (see the comment at the top). MC is a multiple of MR. */
#ifndef IG__KC
#define IG__KC 384
#endif
#ifndef IG__MC
#define IG__MC (20 * IG__MR)
#endif
#ifndef IG__NC
#define IG__NC 1536
#endif

/* Below this many multiply-adds (M*N*K) use the unpacked small path. */
#ifndef IG__SMALL_MNK
#define IG__SMALL_MNK (48 * 48 * 48)
#endif
/* Below this many multiply-adds run on a single thread. */
#ifndef IG__PARALLEL_MNK
#define IG__PARALLEL_MNK (128 * 128 * 64)
#endif

#if defined(__GNUC__)
#define IG__ALIGNED64 __attribute__((aligned(64)))
#else
#define IG__ALIGNED64
#endif

#if !defined(IG_NO_FAST_GEMM)
/* Packed buffers, one Ap and one Bp per thread (untouched pages of
 * static arrays cost no memory). */
static float ig__gemm_bp[IG_MAX_THREADS][IG__KC * IG__NC] IG__ALIGNED64;
static float ig__gemm_ap[IG_MAX_THREADS][IG__MC * IG__KC] IG__ALIGNED64;

static size_t ig__min(size_t a, size_t b) { return a < b ? a : b; }

/* unaligned vector load/store (memcpy compiles to one vmovups) */
static ig__vf ig__vload(const float *p)
{
    ig__vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static void ig__vstore(float *p, ig__vf v) { memcpy(p, &v, sizeof v); }

/* ---------------------------------------------------------------------
 * Micro-kernel: c[MR,NR] (row stride ldc) = or += a * b
 *   a: packed MR x kc sliver, a[p*MR + i] = op(A)(i, p)
 *   b: packed kc x NR sliver, b[p*NR + j] = op(B)(p, j)
 * The MR*NV accumulators are a local array indexed only with constants
 * after unrolling, so the compiler keeps them all in registers.
 * --------------------------------------------------------------------- */
static void ig__kernel(size_t kc, const float *a, const float *b,
                       float *c, size_t ldc, int accumulate)
{
    ig__vf acc[IG__MR][IG__NV];
    size_t p;
    int i, v;
    for (i = 0; i < IG__MR; i++)
        for (v = 0; v < IG__NV; v++)
            acc[i][v] = IG__SPLAT(0.0f);
    for (p = 0; p < kc; p++) {
        ig__vf bv[IG__NV];
        for (v = 0; v < IG__NV; v++)
            bv[v] = ig__vload(b + v * IG__VW);
        for (i = 0; i < IG__MR; i++) {
            ig__vf ai = IG__SPLAT(a[i]);
            for (v = 0; v < IG__NV; v++)
                acc[i][v] = IG__FMA(ai, bv[v], acc[i][v]);
        }
        a += IG__MR;
        b += IG__NR;
    }
    for (i = 0; i < IG__MR; i++) {
        for (v = 0; v < IG__NV; v++) {
            float *cp = c + (size_t)i * ldc + v * IG__VW;
            if (accumulate)
                ig__vstore(cp, ig__vload(cp) + acc[i][v]);
            else
                ig__vstore(cp, acc[i][v]);
        }
    }
}

/* Pack rows [i0, i0+mc) x cols [p0, p0+kc) of op(A) into MR-row slivers:
 * dst[s*MR*kc + p*MR + i] = op(A)(i0 + s*MR + i, p0 + p), zero past M. */
static void ig__pack_a(int trans_a, const float *A, size_t lda, size_t i0,
                       size_t mc, size_t p0, size_t kc, float *dst)
{
    size_t s, p, q, qe;
    int i, m;
    if (trans_a) {
        /* A stored (K,M): row p of the storage holds op(A)(i0.., p)
         * contiguously; read it once and deal it out to the slivers. */
        for (p = 0; p < kc; p++) {
            const float *src = A + (p0 + p) * lda + i0;
            for (s = 0; s < mc; s += IG__MR) {
                float *d = dst + s * kc + p * IG__MR;
                m = (mc - s < IG__MR) ? (int)(mc - s) : IG__MR;
                for (i = 0; i < m; i++) d[i] = src[s + i];
                for (; i < IG__MR; i++) d[i] = 0.0f;
            }
        }
        return;
    }
    /* A stored (M,K): this is a transpose.  It is done in chunks of 16
     * values of p: each row's chunk (about one 64-byte cache line) is read
     * once and used whole.  (Walking the MR rows side by side one p at a
     * time thrashes L1 when lda*4 is a multiple of 4 KB.) */
    for (s = 0; s < mc; s += IG__MR, dst += kc * IG__MR) {
        const float *src = A + (i0 + s) * lda + p0;
        m = (mc - s < IG__MR) ? (int)(mc - s) : IG__MR;
        for (q = 0; q < kc; q += 16) {
            qe = ig__min(q + 16, kc);
            for (i = 0; i < m; i++)
                for (p = q; p < qe; p++)
                    dst[p * IG__MR + i] = src[(size_t)i * lda + p];
            for (; i < IG__MR; i++)
                for (p = q; p < qe; p++) dst[p * IG__MR + i] = 0.0f;
        }
    }
}

/* Pack rows [p0, p0+kc) x cols [j0, j0+nc) of op(B) into NR-column slivers:
 * dst[t*NR*kc + p*NR + j] = op(B)(p0 + p, j0 + t*NR + j), zero past N.
 */
static void ig__pack_b(int trans_b, const float *B, size_t ldb, size_t p0,
                       size_t kc, size_t j0, size_t nc, float *dst)
{
    size_t t, p;
    int j;
    for (t = 0; t * IG__NR < nc; t++) {
        size_t js = t * IG__NR;
        int n = (nc - js < IG__NR) ? (int)(nc - js) : IG__NR;
        float *d = dst + t * IG__NR * kc;
        if (!trans_b) {
            /* B stored (K,N): the NR values for one p are contiguous */
            const float *src = B + p0 * ldb + j0 + js;
            for (p = 0; p < kc; p++, src += ldb, d += IG__NR) {
                if (n == IG__NR) {
                    memcpy(d, src, IG__NR * sizeof(float));
                } else {
                    for (j = 0; j < n; j++) d[j] = src[j];
                    for (; j < IG__NR; j++) d[j] = 0.0f;
                }
            }
        } else {
            /* B stored (N,K): a transpose, in chunks of 16 p as in
             * ig__pack_a */
            const float *src = B + (j0 + js) * ldb + p0;
            size_t q, qe;
            for (q = 0; q < kc; q += 16) {
                qe = ig__min(q + 16, kc);
                for (j = 0; j < n; j++)
                    for (p = q; p < qe; p++)
                        d[p * IG__NR + j] = src[(size_t)j * ldb + p];
                for (; j < IG__NR; j++)
                    for (p = q; p < qe; p++) d[p * IG__NR + j] = 0.0f;
            }
        }
    }
}

/* Macro-kernel: C[0:mc, 0:nc] (+)= Ap * Bp, one MR x NR tile at a time */
static void ig__macro(size_t mc, size_t nc, size_t kc, const float *ap,
                      const float *bp, float *C, size_t ldc, int accumulate)
{
    size_t t, s;
    for (t = 0; t * IG__NR < nc; t++) {
        size_t j = t * IG__NR;
        const float *b = bp + t * IG__NR * kc;
        for (s = 0; s < mc; s += IG__MR) {
            const float *a = ap + s * kc;
            float *c = C + s * ldc + j;
            if (mc - s >= IG__MR && nc - j >= IG__NR) {
                ig__kernel(kc, a, b, c, ldc, accumulate);
            } else {
                /* edge tile: compute the full tile into tmp, copy the
                 * valid part. Same arithmetic as a full tile. */
                float tmp[IG__MR * IG__NR];
                size_t m = mc - s < IG__MR ? mc - s : IG__MR;
                size_t n = nc - j < IG__NR ? nc - j : IG__NR;
                size_t ii, jj;
                ig__kernel(kc, a, b, tmp, IG__NR, 0);
                for (ii = 0; ii < m; ii++)
                    for (jj = 0; jj < n; jj++)
                        c[ii * ldc + jj] = accumulate
                            ? c[ii * ldc + jj] + tmp[ii * IG__NR + jj]
                            : tmp[ii * IG__NR + jj];
            }
        }
    }
}

/* ---------------------------------------------------------------------
 * Small path: no packing, no threads.  Loop orders chosen so the inner
 * loop walks contiguous memory.  beta has been applied by the caller.
 * --------------------------------------------------------------------- */

/* dot(a[0:K], b[0:K]) with 4 independent vector accumulators (one chain
 * would wait on the FMA latency), combined in a fixed order. */
static float ig__dot(const float *a, const float *b, size_t K)
{
    ig__vf s0 = IG__SPLAT(0.0f), s1 = s0, s2 = s0, s3 = s0;
    float s;
    size_t k = 0;
#if !defined(IG__HSUM)
    float lanes[IG__VW];
    int l;
#endif
    for (; k + 4 * IG__VW <= K; k += 4 * IG__VW) {
        s0 = IG__FMA(ig__vload(a + k), ig__vload(b + k), s0);
        s1 = IG__FMA(ig__vload(a + k + IG__VW), ig__vload(b + k + IG__VW), s1);
        s2 = IG__FMA(ig__vload(a + k + 2 * IG__VW),
                     ig__vload(b + k + 2 * IG__VW), s2);
        s3 = IG__FMA(ig__vload(a + k + 3 * IG__VW),
                     ig__vload(b + k + 3 * IG__VW), s3);
    }
    s0 = (s0 + s1) + (s2 + s3);
#if defined(IG__HSUM)
    s = IG__HSUM(s0);
#else
    memcpy(lanes, &s0, sizeof lanes); /* horizontal sum, lane by lane */
    s = 0.0f;
    for (l = 0; l < IG__VW; l++) s += lanes[l];
#endif
    for (; k < K; k++) s += a[k] * b[k];
    return s;
}

static void ig__gemm_small(int trans_a, int trans_b, size_t M, size_t N,
                           size_t K, const float *A, size_t lda,
                           const float *B, size_t ldb, float *C, size_t ldc)
{
    size_t i, j, k;
    for (i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (!trans_b) {
            /* c[0:N] += op(A)(i,k) * B[k, 0:N]  (axpy over rows of B) */
            for (k = 0; k < K; k++) {
                float a = trans_a ? A[k * lda + i] : A[i * lda + k];
                const float *b = B + k * ldb;
                for (j = 0; j < N; j++) c[j] += a * b[j];
            }
        } else if (!trans_a) {
            /* c[j] += dot(A row i, B row j): both contiguous in k */
            for (j = 0; j < N; j++) c[j] += ig__dot(A + i * lda, B + j * ldb, K);
        } else {
            /* op(A) column-strided and B transposed: rare, keep it plain */
            for (j = 0; j < N; j++) {
                float s = 0.0f;
                for (k = 0; k < K; k++) s += A[k * lda + i] * B[j * ldb + k];
                c[j] += s;
            }
        }
    }
}

/* The single-thread blocked algorithm (the 5 loops of the top comment) on
 * C[M,N] (+)= op(A) op(B), with KC = kcb and this thread's buffers. */
static void ig__gemm_blocked(int trans_a, int trans_b, size_t M, size_t N,
                             size_t K, const float *A, size_t lda,
                             const float *B, size_t ldb, float beta, float *C,
                             size_t ldc, size_t kcb, float *ap, float *bp)
{
    /* MC: equal row blocks of at most IG__MC rows, a multiple of MR */
    size_t nmb = (M + IG__MC - 1) / IG__MC;
    size_t mcb = ((M + nmb - 1) / nmb + IG__MR - 1) / IG__MR * IG__MR;
    size_t jc, pc, ic;
    for (jc = 0; jc < N; jc += IG__NC) {
        size_t nc = ig__min(IG__NC, N - jc);
        for (pc = 0; pc < K; pc += kcb) {
            size_t kc = ig__min(kcb, K - pc);
            /* first K block overwrites C when beta == 0 */
            int accumulate = (pc > 0) || (beta != 0.0f);
            ig__pack_b(trans_b, B, ldb, pc, kc, jc, nc, bp);
            for (ic = 0; ic < M; ic += mcb) {
                size_t mc = ig__min(mcb, M - ic);
                ig__pack_a(trans_a, A, lda, ic, mc, pc, kc, ap);
                ig__macro(mc, nc, kc, ap, bp, C + ic * ldc + jc, ldc,
                          accumulate);
            }
        }
    }
}

/* Multi-threading: C is cut into nt slabs (rows if M >= N, else columns),
 * and each thread runs the single-thread algorithm on its slab with its
 * own packing buffers.  No barrier inside: one fork/join per call.
 * The price is that each thread packs the operand it shares with the
 * others (all of B for row slabs), which is cheap next to the compute
 * (packing is O(K*N), the slab's compute O(M/nt*N*K)). */
static void ig__gemm_packed(int trans_a, int trans_b, size_t M, size_t N,
                            size_t K, const float *A, size_t lda,
                            const float *B, size_t ldb, float beta, float *C,
                            size_t ldc)
{
    /* KC: K cut into equal blocks of at most IG__KC.  It depends on K only:
     * this keeps the summation order independent of the thread count. */
    size_t nkb = (K + IG__KC - 1) / IG__KC;
    size_t kcb = (K + nkb - 1) / nkb;
    int split_rows = (M >= N);
    size_t units = split_rows ? (M + IG__MR - 1) / IG__MR
                              : (N + IG__NR - 1) / IG__NR;
    long nt = 1, t;
#if defined(_OPENMP)
    if (omp_in_parallel()) {
        /* called from inside a parallel loop (attention runs one per head):
         * this thread alone, with the buffers of its own thread number */
        int me = omp_get_thread_num();
        if (me < IG_MAX_THREADS)
            ig__gemm_blocked(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc, kcb,
                             ig__gemm_ap[me], ig__gemm_bp[me]);
        else
            ig__gemm_ref(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if ((double)M * N * K >= (double)IG__PARALLEL_MNK) {
        nt = omp_get_max_threads();
        if (nt > IG_MAX_THREADS) nt = IG_MAX_THREADS;
        if (nt > (long)units) nt = (long)units;
        if (nt < 1) nt = 1;
    }
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#endif
    for (t = 0; t < nt; t++) {
        /* slab t: units [units*t/nt, units*(t+1)/nt); the buffers are
         * indexed by the slab, so no two running slabs share them */
        float *ap = ig__gemm_ap[t], *bp = ig__gemm_bp[t];
        if (split_rows) {
            size_t lo = units * t / nt * IG__MR;
            size_t hi = ig__min(M, units * (t + 1) / nt * IG__MR);
            if (lo < hi)
                ig__gemm_blocked(trans_a, trans_b, hi - lo, N, K,
                                 trans_a ? A + lo : A + lo * lda, lda, B, ldb,
                                 beta, C + lo * ldc, ldc, kcb, ap, bp);
        } else {
            size_t lo = units * t / nt * IG__NR;
            size_t hi = ig__min(N, units * (t + 1) / nt * IG__NR);
            if (lo < hi)
                ig__gemm_blocked(trans_a, trans_b, M, hi - lo, K, A, lda,
                                 trans_b ? B + lo * ldb : B + lo, ldb, beta,
                                 C + lo, ldc, kcb, ap, bp);
        }
    }
}

#endif /* !IG_NO_FAST_GEMM */

IG__MAYBE_UNUSED
static void ig__gemm(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                     const float *A, size_t lda, const float *B, size_t ldb,
                     float beta, float *C, size_t ldc)
{
#if defined(IG_NO_FAST_GEMM)
    ig__gemm_ref(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
#else
    size_t i, j;
    if (M == 0 || N == 0) return;
    if (K == 0 || (double)M * N * K < (double)IG__SMALL_MNK ||
        M < IG__MR / 2 || N < IG__NR / 4) {
        /* small path: apply beta first, then accumulate */
        if (beta != 1.0f)
            for (i = 0; i < M; i++)
                for (j = 0; j < N; j++)
                    C[i * ldc + j] = (beta == 0.0f) ? 0.0f : beta * C[i * ldc + j];
        ig__gemm_small(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc);
        return;
    }
    if (beta != 0.0f && beta != 1.0f) {
        for (i = 0; i < M; i++)
            for (j = 0; j < N; j++) C[i * ldc + j] *= beta;
        beta = 1.0f;
    }
    ig__gemm_packed(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
#endif
}

IGDEF void ig_matmul(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                     const float *A, size_t lda, const float *B, size_t ldb,
                     float beta, float *C, size_t ldc) {
    ig__gemm(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* --- 4.1 linear --------------------------------------------------------- */
/* y (M,N) = x (M,K) W^T + b, where M is every leading dim of x flattened. */
static void ig__linear_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    size_t N = w->shape[0], K = w->shape[1], M = x->n / K, m, n;
    float *dx = ig__grad(nd->ctx, x), *dw = ig__grad(nd->ctx, w), *db = b ? ig__grad(nd->ctx, b) : NULL;
    /* dx (M,K) += dy (M,N) W (N,K) */
    if (dx) ig__gemm(0, 0, M, K, N, y->grad, N, w->data, K, 1.0f, dx, K);
    /* dW (N,K) += dy^T (N,M) x (M,K) */
    if (dw) ig__gemm(1, 0, N, K, M, y->grad, N, x->data, K, 1.0f, dw, K);
    /* db (N) += sum over rows of dy; each thread owns a band of columns and
       adds the rows in order, so the sums do not depend on the thread count */
    if (db) {
        size_t band = 64, nb = (N + band - 1) / band, jb;
        const float *dy = y->grad;
        IG__OMP(omp parallel for schedule(static) private(m, n) if (M * N > 65536))
        for (jb = 0; jb < nb; jb++) {
            size_t n0 = jb * band, n1 = n0 + band < N ? n0 + band : N;
            for (m = 0; m < M; m++)
                for (n = n0; n < n1; n++) db[n] += dy[m * N + n];
        }
    }
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
    if (b) {
        IG__OMP(omp parallel for schedule(static) private(n) if (y->n > 32768))
        for (m = 0; m < M; m++)
            for (n = 0; n < N; n++) y->data[m * N + n] += b->data[n];
    }
    if (y->requires_grad && !ig__record(c, ig__linear_backward, y, x, w, b)) return NULL;
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
    float *da = ig__grad(nd->ctx, a), *db = ig__grad(nd->ctx, b);
    size_t i;
    if (da)
        for (i = 0; i < y->n; i++) da[i] += y->grad[i];
    if (db)
        for (i = 0; i < y->n; i++) db[i % b->n] += y->grad[i];
}

IGDEF ig_tensor *ig_add(ig_ctx *c, ig_tensor *a, ig_tensor *b) {
    ig_tensor *y;
    size_t i;
    if (ig__check_broadcast(c, "ig_add", a, b)) return NULL;
    if (!(y = ig__out(c, a, b, NULL, a->ndim, a->shape))) return NULL;
    IG__OMP(omp parallel for schedule(static) if (y->n > 32768))
    for (i = 0; i < y->n; i++) y->data[i] = a->data[i] + b->data[i % b->n];
    if (y->requires_grad && !ig__record(c, ig__add_backward, y, a, b, NULL)) return NULL;
    return y;
}

static void ig__mul_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *a = nd->in[0], *b = nd->in[1];
    float *da = ig__grad(nd->ctx, a), *db = ig__grad(nd->ctx, b);
    size_t i;
    if (da)
        for (i = 0; i < y->n; i++) da[i] += y->grad[i] * b->data[i % b->n];
    if (db)
        for (i = 0; i < y->n; i++) db[i % b->n] += y->grad[i] * a->data[i];
}

IGDEF ig_tensor *ig_mul(ig_ctx *c, ig_tensor *a, ig_tensor *b) {
    ig_tensor *y;
    size_t i;
    if (ig__check_broadcast(c, "ig_mul", a, b)) return NULL;
    if (!(y = ig__out(c, a, b, NULL, a->ndim, a->shape))) return NULL;
    for (i = 0; i < y->n; i++) y->data[i] = a->data[i] * b->data[i % b->n];
    if (y->requires_grad && !ig__record(c, ig__mul_backward, y, a, b, NULL)) return NULL;
    return y;
}

static void ig__scale_backward(ig_node *nd) {
    float *da = ig__grad(nd->ctx, nd->in[0]);
    size_t i;
    if (da)
        for (i = 0; i < nd->out->n; i++) da[i] += nd->farg * nd->out->grad[i];
}

IGDEF ig_tensor *ig_scale(ig_ctx *c, ig_tensor *a, float s) {
    ig_tensor *y;
    ig_node *nd;
    size_t i;
    if (!(y = ig__out(c, a, NULL, NULL, a ? a->ndim : 1, a ? a->shape : NULL))) return NULL;
    for (i = 0; i < y->n; i++) y->data[i] = s * a->data[i];
    if (y->requires_grad) {
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
    float *dx = ig__grad(nd->ctx, x), *dshift = ig__grad(nd->ctx, shift), *dscale = ig__grad(nd->ctx, scale);
    IG__OMP(omp parallel for schedule(static) private(t, d) if (x->n > 32768))
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++) {
            const float *dy = y->grad + (b * T + t) * D, *xv = x->data + (b * T + t) * D, *sc = scale->data + b * D;
            if (dx)
                for (d = 0; d < D; d++) dx[(b * T + t) * D + d] += dy[d] * (1.0f + sc[d]);
            if (dshift)
                for (d = 0; d < D; d++) dshift[b * D + d] += dy[d];
            if (dscale)
                for (d = 0; d < D; d++) dscale[b * D + d] += dy[d] * xv[d];
        }
}

IGDEF ig_tensor *ig_modulate(ig_ctx *c, ig_tensor *x, ig_tensor *shift, ig_tensor *scale) {
    ig_tensor *y;
    size_t B, T, D, b, t, d;
    if (ig__check_bd(c, "ig_modulate", x, shift) || ig__check_bd(c, "ig_modulate", x, scale)) return NULL;
    if (!(y = ig__out(c, x, shift, scale, 3, x->shape))) return NULL;
    B = x->shape[0]; T = x->shape[1]; D = x->shape[2];
    IG__OMP(omp parallel for schedule(static) private(t, d) if (x->n > 32768))
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++) {
            const float *xv = x->data + (b * T + t) * D, *sc = scale->data + b * D, *sh = shift->data + b * D;
            float *yv = y->data + (b * T + t) * D;
            for (d = 0; d < D; d++) yv[d] = xv[d] * (1.0f + sc[d]) + sh[d];
        }
    if (y->requires_grad && !ig__record(c, ig__modulate_backward, y, x, shift, scale)) return NULL;
    return y;
}

static void ig__gated_add_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *x = nd->in[0], *gate = nd->in[1], *h = nd->in[2];
    size_t B = x->shape[0], T = x->shape[1], D = x->shape[2], b, t, d;
    float *dx = ig__grad(nd->ctx, x), *dgate = ig__grad(nd->ctx, gate), *dh = ig__grad(nd->ctx, h);
    IG__OMP(omp parallel for schedule(static) private(t, d) if (x->n > 32768))
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++) {
            size_t o = (b * T + t) * D;
            const float *dy = y->grad + o, *g = gate->data + b * D;
            if (dx)
                for (d = 0; d < D; d++) dx[o + d] += dy[d];
            if (dh)
                for (d = 0; d < D; d++) dh[o + d] += dy[d] * g[d];
            if (dgate)
                for (d = 0; d < D; d++) dgate[b * D + d] += dy[d] * h->data[o + d];
        }
}

IGDEF ig_tensor *ig_gated_add(ig_ctx *c, ig_tensor *x, ig_tensor *gate, ig_tensor *h) {
    ig_tensor *y;
    size_t B, T, D, b, t, d;
    if (ig__check_bd(c, "ig_gated_add", x, gate)) return NULL;
    if (!h || h->n != x->n) { c->failed = 1; ig__fail("ig_gated_add: h must have x's shape"); return NULL; }
    if (!(y = ig__out(c, x, gate, h, 3, x->shape))) return NULL;
    B = x->shape[0]; T = x->shape[1]; D = x->shape[2];
    IG__OMP(omp parallel for schedule(static) private(t, d) if (x->n > 32768))
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++) {
            size_t o = (b * T + t) * D;
            const float *g = gate->data + b * D;
            for (d = 0; d < D; d++) y->data[o + d] = x->data[o + d] + g[d] * h->data[o + d];
        }
    if (y->requires_grad && !ig__record(c, ig__gated_add_backward, y, x, gate, h)) return NULL;
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
    float *dxall = ig__grad(nd->ctx, x);
    if (!dxall) return;
    IG__OMP(omp parallel for schedule(static) private(d) if (x->n > 32768))
    for (r = 0; r < rows; r++) {
        const float *dy = y->grad + r * D, *xh = y->data + r * D;
        float *dx = dxall + r * D;
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
    if (y->requires_grad) {
        ig_node *nd = ig__record(c, ig__layernorm_backward, y, x, NULL, NULL);
        if (!nd || !(rstd_saved = nd->saved = ig__scratch_floats(c, rows))) return NULL;
    }
    IG__OMP(omp parallel for schedule(static) private(d) if (x->n > 32768))
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
   exp and tanh are written out (ig__exp, ig__tanh) so the compiler can
   vectorize the loops that call them; libm's expf/tanhf are one call per
   element.  exp(x) = 2^k exp(r), k = round(x / ln 2), |r| <= ln(2)/2, with
   exp(r) by its Taylor series to r^7 (relative error below 1e-7 on that range);
   tanh(u) = 1 - 2 / (1 + exp(2u)). */
static float ig__exp(float x) {
    float k, r, p, scale;
    int32_t bits;
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    k = (x * 1.44269504f + 12582912.0f) - 12582912.0f;     /* round(x / ln 2): adding 1.5 * 2^23 rounds */
    r = (x - k * 0.693359375f) + k * 2.12194440e-4f;       /* x - k ln 2, ln 2 in two parts */
    p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
    bits = ((int32_t)k + 127) << 23;                        /* 2^k as float bits */
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static float ig__tanh(float u) {
    u = u < -9.0f ? -9.0f : (u > 9.0f ? 9.0f : u);
    return 1.0f - 2.0f / (1.0f + ig__exp(2.0f * u));
}

/* SiLU:  y = x * sigmoid(x),   dy/dx = s * (1 + x * (1 - s)),  s = sigmoid(x)
   GELU (tanh approximation):  y = 0.5 x (1 + tanh(u)),  u = k0 (x + 0.044715 x^3),
     k0 = sqrt(2/pi);  dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) k0 (1 + 3*0.044715 x^2) */
static void ig__silu_backward(ig_node *nd) {
    const float *xd = nd->in[0]->data, *dy = nd->out->grad;
    float *dx = ig__grad(nd->ctx, nd->in[0]);
    size_t i, n = nd->in[0]->n;
    if (!dx) return;
    IG__OMP(omp parallel for schedule(static) if (n > 32768))
    for (i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + ig__exp(-xd[i]));
        dx[i] += dy[i] * s * (1.0f + xd[i] * (1.0f - s));
    }
}

IGDEF ig_tensor *ig_silu(ig_ctx *c, ig_tensor *x) {
    ig_tensor *y;
    const float *xd;
    float *yd;
    size_t i, n;
    if (!(y = ig__out(c, x, NULL, NULL, x ? x->ndim : 1, x ? x->shape : NULL))) return NULL;
    xd = x->data; yd = y->data; n = x->n;
    IG__OMP(omp parallel for schedule(static) if (n > 32768))
    for (i = 0; i < n; i++) yd[i] = xd[i] / (1.0f + ig__exp(-xd[i]));
    if (y->requires_grad && !ig__record(c, ig__silu_backward, y, x, NULL, NULL)) return NULL;
    return y;
}

#define IG__GELU_K0 0.7978845608028654f /* sqrt(2/pi) */
#define IG__GELU_K1 0.044715f

static void ig__gelu_backward(ig_node *nd) {
    const float *xd = nd->in[0]->data, *dy = nd->out->grad;
    float *dx = ig__grad(nd->ctx, nd->in[0]);
    size_t i, n = nd->in[0]->n;
    if (!dx) return;
    IG__OMP(omp parallel for schedule(static) if (n > 32768))
    for (i = 0; i < n; i++) {
        float v = xd[i];
        float th = ig__tanh(IG__GELU_K0 * (v + IG__GELU_K1 * v * v * v));
        float dudx = IG__GELU_K0 * (1.0f + 3.0f * IG__GELU_K1 * v * v);
        dx[i] += dy[i] * (0.5f * (1.0f + th) + 0.5f * v * (1.0f - th * th) * dudx);
    }
}

IGDEF ig_tensor *ig_gelu(ig_ctx *c, ig_tensor *x) {
    ig_tensor *y;
    const float *xd;
    float *yd;
    size_t i, n;
    if (!(y = ig__out(c, x, NULL, NULL, x ? x->ndim : 1, x ? x->shape : NULL))) return NULL;
    xd = x->data; yd = y->data; n = x->n;
    IG__OMP(omp parallel for schedule(static) if (n > 32768))
    for (i = 0; i < n; i++) {
        float v = xd[i];
        yd[i] = 0.5f * v * (1.0f + ig__tanh(IG__GELU_K0 * (v + IG__GELU_K1 * v * v * v)));
    }
    if (y->requires_grad && !ig__record(c, ig__gelu_backward, y, x, NULL, NULL)) return NULL;
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
        for (j = 0; j < cols; j++) s[j] = ig__exp(s[j] - mx);   /* vectorizes */
        for (j = 0; j < cols; j++) sum += s[j];
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
    float *dqkv = ig__grad(nd->ctx, qkv);
    if (!dqkv) return;
    IG__OMP(omp parallel for schedule(static))
    for (bh = 0; bh < B * heads; bh++) {
        size_t b = bh / heads, h = bh % heads, r, j;
        int tid = 0;
        const float *q = qkv->data + b * T * D3 + h * hd, *k = q + D, *v = q + 2 * D;
        float *dq = dqkv + b * T * D3 + h * hd, *dk = dq + D, *dv = dq + 2 * D;
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
    if (y->requires_grad) { /* keep every P, plus a dP work buffer per thread for the backward */
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
    if (!im || !tk) return;
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
    if (ig__grad(nd->ctx, nd->in[0])) ig__patch_copy(nd->in[0], nd->out, nd->arg[0], 1, 1, 0);
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
    if (y->requires_grad) {
        ig_node *nd = ig__record(c, ig__patchify_backward, y, x, NULL, NULL);
        if (!nd) return NULL;
        nd->arg[0] = p;
    }
    return y;
}

static void ig__unpatchify_backward(ig_node *nd) { /* dtokens += permuted dy */
    if (ig__grad(nd->ctx, nd->in[0])) ig__patch_copy(nd->out, nd->in[0], nd->arg[0], 0, 1, 1);
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
    if (y->requires_grad) {
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
    float *dt = ig__grad(nd->ctx, table);
    if (!dt) return;
    for (b = 0; b < B; b++)
        for (d = 0; d < D; d++) dt[(size_t)idx[b] * D + d] += y->grad[b * D + d];
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
    if (y->requires_grad) {
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
    float *dx = ig__grad(nd->ctx, x);
    if (!dx) return;
    for (r = 0; r < rows; r++)
        for (k = 0; k < K; k++) dx[r * K * n + i * K + k] += y->grad[r * K + k];
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
    if (y->requires_grad) {
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
    float g = nd->out->grad[0] * 2.0f / (float)a->n, *da = ig__grad(nd->ctx, a), *db = ig__grad(nd->ctx, b);
    size_t i;
    for (i = 0; i < a->n; i++) {
        float diff = a->data[i] - b->data[i];
        if (da) da[i] += g * diff;
        if (db) db[i] -= g * diff;
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
    if (y->requires_grad && !ig__record(c, ig__mse_backward, y, a, b, NULL)) return NULL;
    return y;
}

static void ig__sum_backward(ig_node *nd) {
    ig_tensor *x = nd->in[0];
    float g = nd->out->grad[0] * nd->farg, *dx = ig__grad(nd->ctx, x);
    size_t i;
    if (dx)
        for (i = 0; i < x->n; i++) dx[i] += g;
}

static ig_tensor *ig__sum_scaled(ig_ctx *c, ig_tensor *x, int mean) {
    ig_tensor *y;
    size_t one = 1, i;
    double acc = 0.0;
    if (!(y = ig__out(c, x, NULL, NULL, 1, &one))) return NULL;
    for (i = 0; i < x->n; i++) acc += x->data[i];
    y->data[0] = (float)(mean ? acc / (double)x->n : acc);
    if (y->requires_grad) {
        ig_node *nd = ig__record(c, ig__sum_backward, y, x, NULL, NULL);
        if (!nd) return NULL;
        nd->farg = mean ? 1.0f / (float)x->n : 1.0f;
    }
    return y;
}

IGDEF ig_tensor *ig_sum(ig_ctx *c, ig_tensor *x) { return ig__sum_scaled(c, x, 0); }
IGDEF ig_tensor *ig_mean(ig_ctx *c, ig_tensor *x) { return ig__sum_scaled(c, x, 1); }

/* --- 4.10 cross-entropy and reshape (for classifiers) ---------------------
   Cross-entropy, z (B,K) logits, y (B) labels:
     loss = (1/B) sum_b [ log sum_k exp(z_bk) - z_b,y_b ]
   in double with the row maximum subtracted (log-sum-exp); its gradient is
     d loss / d z_bk = (softmax(z_b)_k - [k == y_b]) / B,
   so the forward saves the softmax (B,K) and the labels (as floats, exact
   below 2^24) for the backward.
   Reshape: y = x with another shape of the same element count; dx += dy. */
static void ig__cross_entropy_backward(ig_node *nd);
static void ig__reshape_backward(ig_node *nd);

IGDEF ig_tensor *ig_cross_entropy(ig_ctx *c, ig_tensor *z, const int *y) {
    ig_tensor *out;
    size_t one = 1, B, K, b, k;
    double acc = 0.0;
    float *p = NULL;
    if (!z || c->failed) { c->failed = 1; return NULL; }
    if (z->ndim != 2 || z->shape[1] == 0) {
        c->failed = 1;
        ig__fail("ig_cross_entropy: the logits must be (B,K) with K > 0, they have %d dims", z->ndim);
        return NULL;
    }
    B = z->shape[0]; K = z->shape[1];
    for (b = 0; b < B; b++)
        if (y[b] < 0 || (size_t)y[b] >= K) {
            c->failed = 1;
            ig__fail("ig_cross_entropy: label %d of row %zu is outside 0..%zu", y[b], b, K - 1);
            return NULL;
        }
    if (!(out = ig__out(c, z, NULL, NULL, 1, &one))) return NULL;
    if (out->requires_grad && !(p = ig__scratch_floats(c, z->n + B))) return NULL;
    for (b = 0; b < B; b++) {
        const float *zb = z->data + b * K;
        double mx = zb[0], se = 0.0;
        for (k = 1; k < K; k++) if (zb[k] > mx) mx = zb[k];
        for (k = 0; k < K; k++) se += exp((double)zb[k] - mx);
        acc += mx + log(se) - (double)zb[y[b]];
        if (p) {
            for (k = 0; k < K; k++) p[b * K + k] = (float)(exp((double)zb[k] - mx) / se);
            p[z->n + b] = (float)y[b];
        }
    }
    out->data[0] = (float)(acc / (double)B);
    if (out->requires_grad) {
        ig_node *nd = ig__record(c, ig__cross_entropy_backward, out, z, NULL, NULL);
        if (!nd) return NULL;
        nd->saved = p;
    }
    return out;
}

static void ig__cross_entropy_backward(ig_node *nd) {
    ig_tensor *z = nd->in[0];
    size_t B = z->shape[0], K = z->shape[1], b, k;
    const float *prob = nd->saved, *y = nd->saved + z->n;
    float g = nd->out->grad[0] / (float)B, *dz = ig__grad(nd->ctx, z);
    if (!dz) return;
    for (b = 0; b < B; b++)
        for (k = 0; k < K; k++)
            dz[b * K + k] += g * (prob[b * K + k] - ((float)k == y[b] ? 1.0f : 0.0f));
}

IGDEF ig_tensor *ig_reshape(ig_ctx *c, ig_tensor *x, int ndim, const size_t *shape) {
    ig_tensor *y;
    size_t n = 1;
    int i;
    if (!x || c->failed) { c->failed = 1; return NULL; }
    for (i = 0; i < ndim && i < IG_MAX_DIMS; i++) n *= shape[i];
    if (ndim < 1 || ndim > IG_MAX_DIMS || n != x->n) {
        c->failed = 1;
        ig__fail("ig_reshape: %zu elements cannot take a shape of %d dims and %zu elements", x->n, ndim, n);
        return NULL;
    }
    if (!(y = ig__out(c, x, NULL, NULL, ndim, shape))) return NULL;
    memcpy(y->data, x->data, x->n * sizeof(float));
    if (y->requires_grad && !ig__record(c, ig__reshape_backward, y, x, NULL, NULL)) return NULL;
    return y;
}

static void ig__reshape_backward(ig_node *nd) {
    ig_tensor *x = nd->in[0], *y = nd->out;
    float *dx = ig__grad(nd->ctx, x);
    size_t i;
    if (dx)
        for (i = 0; i < x->n; i++) dx[i] += y->grad[i];
}


/* ------------------------------------------------------------------------- */
/* 5. the model                                                              */
/* ------------------------------------------------------------------------- */

IGDEF int ig_config_check(const ig_config *g) {
    if (g->in_channels < 1 || g->image_height < 1 || g->image_width < 1 || g->patch_size < 1)
        return ig__fail("ig_config: channels, image size and patch must be positive");
    if (g->image_height % g->patch_size || g->image_width % g->patch_size)
        return ig__fail("ig_config: image %dx%d is not divisible by the patch size %d",
                        g->image_height, g->image_width, g->patch_size);
    if (g->hidden_size < 4 || g->hidden_size % 4)
        return ig__fail("ig_config: hidden_size %d must be a positive multiple of 4 (the 2D sin-cos table)", g->hidden_size);
    if (g->num_heads < 1 || g->hidden_size % g->num_heads)
        return ig__fail("ig_config: hidden_size %d is not divisible by num_heads %d", g->hidden_size, g->num_heads);
    if (g->depth < 2 || g->aux_depth < 1 || g->aux_depth >= g->depth)
        return ig__fail("ig_config: need 1 <= aux_depth < depth (got aux_depth %d, depth %d)", g->aux_depth, g->depth);
    if (g->num_classes < 1) return ig__fail("ig_config: num_classes must be at least 1");
    if (!(g->t_scale > 0.0f)) return ig__fail("ig_config: t_scale must be positive");
    return 0;
}

IGDEF int ig_config_preset(ig_config *cfg, const char *name, int in_channels,
                           int image_height, int image_width, int num_classes) {
    static const struct { const char *size; int depth, width, heads, k; } presets[] = {
        { "S", 12, 384, 6, 4 }, { "B", 12, 768, 12, 4 }, { "L", 24, 1024, 16, 8 }, { "XL", 28, 1152, 16, 8 },
    };
    size_t i, len;
    const char *slash = strchr(name, '/');
    if (!slash) return ig__fail("ig_config_preset: '%s' is not of the form S/2, B/4, L/8, XL/2", name);
    len = (size_t)(slash - name);
    for (i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strlen(presets[i].size) == len && !strncmp(presets[i].size, name, len)) {
            memset(cfg, 0, sizeof *cfg);
            cfg->in_channels = in_channels;
            cfg->image_height = image_height;
            cfg->image_width = image_width;
            cfg->patch_size = atoi(slash + 1);
            cfg->hidden_size = presets[i].width;
            cfg->depth = presets[i].depth;
            cfg->num_heads = presets[i].heads;
            cfg->num_classes = num_classes;
            cfg->aux_depth = presets[i].k;
            cfg->t_scale = 1.0f;
            return ig_config_check(cfg);
        }
    return ig__fail("ig_config_preset: unknown model size in '%s' (S, B, L or XL)", name);
}

/* The parameter table, in one place.  ig__walk_params visits every parameter
   with its name and shape; it is used once to count and once to create. */
typedef void (*ig__param_visit)(void *user, const char *name, int ndim, size_t d0, size_t d1, size_t d2, size_t d3,
                                ig_tensor **slot, int trainable);

static void ig__walk_params(ig_model *m, ig__param_visit visit, void *user) {
    const ig_config *g = &m->cfg;
    size_t C = (size_t)g->in_channels, p = (size_t)g->patch_size, D = (size_t)g->hidden_size;
    size_t T = (size_t)(g->image_height / g->patch_size) * (size_t)(g->image_width / g->patch_size);
    size_t out = p * p * C;
    char name[64];
    int i, h;
    visit(user, "pos_embed", 3, 1, T, D, 1, &m->pos_embed, 0);
    visit(user, "x_embedder.proj.weight", 4, D, C, p, p, &m->x_proj_w, 1);
    visit(user, "x_embedder.proj.bias", 1, D, 1, 1, 1, &m->x_proj_b, 1);
    visit(user, "t_embedder.mlp.0.weight", 2, D, 256, 1, 1, &m->t_fc1_w, 1);
    visit(user, "t_embedder.mlp.0.bias", 1, D, 1, 1, 1, &m->t_fc1_b, 1);
    visit(user, "t_embedder.mlp.2.weight", 2, D, D, 1, 1, &m->t_fc2_w, 1);
    visit(user, "t_embedder.mlp.2.bias", 1, D, 1, 1, 1, &m->t_fc2_b, 1);
    visit(user, "y_embedder.embedding_table.weight", 2, (size_t)g->num_classes + 1, D, 1, 1, &m->y_table, 1);
    for (i = 0; i < g->depth; i++) {
        ig_block_params *b = m->blocks ? &m->blocks[i] : NULL;
#define IG__BLOCK(field, suffix, nd, a0, a1) \
        snprintf(name, sizeof name, "blocks.%d.%s", i, suffix); \
        visit(user, name, nd, a0, a1, 1, 1, b ? &b->field : NULL, 1);
        IG__BLOCK(ada_w, "adaLN_modulation.1.weight", 2, 6 * D, D)
        IG__BLOCK(ada_b, "adaLN_modulation.1.bias", 1, 6 * D, 1)
        IG__BLOCK(qkv_w, "attn.qkv.weight", 2, 3 * D, D)
        IG__BLOCK(qkv_b, "attn.qkv.bias", 1, 3 * D, 1)
        IG__BLOCK(proj_w, "attn.proj.weight", 2, D, D)
        IG__BLOCK(proj_b, "attn.proj.bias", 1, D, 1)
        IG__BLOCK(fc1_w, "mlp.fc1.weight", 2, 4 * D, D)
        IG__BLOCK(fc1_b, "mlp.fc1.bias", 1, 4 * D, 1)
        IG__BLOCK(fc2_w, "mlp.fc2.weight", 2, D, 4 * D)
        IG__BLOCK(fc2_b, "mlp.fc2.bias", 1, D, 1)
#undef IG__BLOCK
    }
    for (h = 0; h < 2; h++) {
        ig_head_params *hp = h == 0 ? &m->final_head : &m->aux_head;
        const char *pre = h == 0 ? "final_layer" : "final_layer_xr";
        snprintf(name, sizeof name, "%s.adaLN_modulation.1.weight", pre);
        visit(user, name, 2, 2 * D, D, 1, 1, &hp->ada_w, 1);
        snprintf(name, sizeof name, "%s.adaLN_modulation.1.bias", pre);
        visit(user, name, 1, 2 * D, 1, 1, 1, &hp->ada_b, 1);
        snprintf(name, sizeof name, "%s.linear.weight", pre);
        visit(user, name, 2, out, D, 1, 1, &hp->out_w, 1);
        snprintf(name, sizeof name, "%s.linear.bias", pre);
        visit(user, name, 1, out, 1, 1, 1, &hp->out_b, 1);
    }
}

typedef struct { size_t nweights; int nparams; } ig__count;

static void ig__count_visit(void *user, const char *name, int ndim, size_t d0, size_t d1, size_t d2, size_t d3,
                            ig_tensor **slot, int trainable) {
    ig__count *cnt = (ig__count *)user;
    (void)name; (void)ndim; (void)slot; (void)trainable;
    cnt->nweights += d0 * d1 * d2 * d3;
    cnt->nparams++;
}

static void ig__create_visit(void *user, const char *name, int ndim, size_t d0, size_t d1, size_t d2, size_t d3,
                             ig_tensor **slot, int trainable) {
    ig_model *m = (ig_model *)user;
    ig_param *pp = &m->params[m->nparams];
    size_t shape[4], offset = m->nparams ? m->params[m->nparams - 1].offset + m->params[m->nparams - 1].t->n : 0;
    shape[0] = d0; shape[1] = d1; shape[2] = d2; shape[3] = d3;
    snprintf(pp->name, sizeof pp->name, "%s", name);
    pp->offset = offset;
    pp->trainable = trainable;
    pp->t = ig_tensor_wrap(&m->arena, m->weights + offset, m->grads && trainable ? m->grads + offset : NULL, ndim, shape);
    if (slot) *slot = pp->t;
    m->nparams++;
}

static ig__count ig__count_params(const ig_config *cfg) {
    ig_model tmp;
    ig__count cnt;
    memset(&tmp, 0, sizeof tmp);
    tmp.cfg = *cfg;
    cnt.nweights = 0; cnt.nparams = 0;
    ig__walk_params(&tmp, ig__count_visit, &cnt);
    return cnt;
}

IGDEF size_t ig_model_bytes(const ig_config *cfg, int training) {
    ig__count cnt = ig__count_params(cfg);
    size_t arrays = training ? 5 : 1;
    return arrays * (cnt.nweights * sizeof(float) + 64)
         + (size_t)cnt.nparams * (sizeof(ig_param) + sizeof(ig_tensor) + 128)
         + (size_t)cfg->depth * sizeof(ig_block_params) + 4096;
}

/* Fixed 2D sin-cos position table (T,D): for the token in patch row i, column j,
   channels [0, D/2) encode j and [D/2, D) encode i.  For one axis with d = D/2
   channels and position x:  omega_q = 1 / 10000^(q / (d/2)),  q < d/2,
   emb = [sin(x omega_0..), cos(x omega_0..)]. */
static void ig__pos_embed(float *pe, size_t rows, size_t cols, size_t D) {
    size_t i, j, q, d = D / 2, quarter = D / 4;
    for (i = 0; i < rows; i++)
        for (j = 0; j < cols; j++) {
            float *e = pe + (i * cols + j) * D;
            for (q = 0; q < quarter; q++) {
                double omega = 1.0 / pow(10000.0, (double)q / (double)quarter);
                e[q] = (float)sin((double)j * omega);
                e[quarter + q] = (float)cos((double)j * omega);
                e[d + q] = (float)sin((double)i * omega);
                e[d + quarter + q] = (float)cos((double)i * omega);
            }
        }
}

/* xavier-uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) */
static void ig__xavier(ig_tensor *w, ig_rng *r) {
    size_t fan_out = w->shape[0], fan_in = w->n / w->shape[0], i;
    float a = sqrtf(6.0f / (float)(fan_in + fan_out));
    for (i = 0; i < w->n; i++) w->data[i] = a * (2.0f * ig_rng_uniform(r) - 1.0f);
}

IGDEF int ig_model_init(ig_model *m, const ig_config *cfg, int training, uint64_t seed) {
    ig__count cnt;
    int i;
    size_t k, nbytes;
    memset(m, 0, sizeof *m);
    if (ig_config_check(cfg)) return -1;
    m->cfg = *cfg;
    cnt = ig__count_params(cfg);
    if (ig_arena_init(&m->arena, "model", ig_model_bytes(cfg, training))) return -1;
    m->nweights = cnt.nweights;
    nbytes = cnt.nweights * sizeof(float);
    m->weights = (float *)ig_arena_alloc(&m->arena, nbytes);
    if (training) {
        m->grads = (float *)ig_arena_alloc(&m->arena, nbytes);
        m->adam_m = (float *)ig_arena_alloc(&m->arena, nbytes);
        m->adam_v = (float *)ig_arena_alloc(&m->arena, nbytes);
        m->ema = (float *)ig_arena_alloc(&m->arena, nbytes);
    }
    m->params = (ig_param *)ig_arena_alloc(&m->arena, (size_t)cnt.nparams * sizeof(ig_param));
    m->blocks = (ig_block_params *)ig_arena_alloc(&m->arena, (size_t)cfg->depth * sizeof(ig_block_params));
    if (!m->weights || !m->params || !m->blocks || (training && !m->ema)) { ig_model_free(m); return -1; }
    memset(m->weights, 0, nbytes);
    if (training) {
        memset(m->grads, 0, nbytes); memset(m->adam_m, 0, nbytes); memset(m->adam_v, 0, nbytes);
    }
    ig__walk_params(m, ig__create_visit, m);
    for (i = 0; i < m->nparams; i++)
        if (!m->params[i].t) { ig_model_free(m); return -1; }
    /* the released initialization */
    ig_rng_seed(&m->rng, seed);
    ig__pos_embed(m->pos_embed->data, (size_t)(cfg->image_height / cfg->patch_size),
                  (size_t)(cfg->image_width / cfg->patch_size), (size_t)cfg->hidden_size);
    for (i = 0; i < cfg->depth; i++) {   /* attention and MLP: xavier; adaLN stays zero */
        ig__xavier(m->blocks[i].qkv_w, &m->rng);
        ig__xavier(m->blocks[i].proj_w, &m->rng);
        ig__xavier(m->blocks[i].fc1_w, &m->rng);
        ig__xavier(m->blocks[i].fc2_w, &m->rng);
    }
    ig__xavier(m->x_proj_w, &m->rng);    /* the patch conv as a Linear over its kernel */
    for (k = 0; k < m->y_table->n; k++) m->y_table->data[k] = 0.02f * ig_rng_normal(&m->rng);
    for (k = 0; k < m->t_fc1_w->n; k++) m->t_fc1_w->data[k] = 0.02f * ig_rng_normal(&m->rng);
    for (k = 0; k < m->t_fc2_w->n; k++) m->t_fc2_w->data[k] = 0.02f * ig_rng_normal(&m->rng);
    /* both heads: adaLN and output Linear zero (already) */
    if (training) memcpy(m->ema, m->weights, nbytes);
    m->step = 0;
    return 0;
}

IGDEF void ig_model_free(ig_model *m) {
    ig_arena_free(&m->arena);
    memset(m, 0, sizeof *m);
}

IGDEF ig_param *ig_model_find(ig_model *m, const char *name) {
    int i;
    for (i = 0; i < m->nparams; i++)
        if (!strcmp(m->params[i].name, name)) return &m->params[i];
    return NULL;
}

IGDEF void ig_model_swap_ema(ig_model *m) {
    float *tmp = m->weights;
    int i;
    if (!m->ema) return;
    m->weights = m->ema;
    m->ema = tmp;
    for (i = 0; i < m->nparams; i++) m->params[i].t->data = m->weights + m->params[i].offset;
}

/* Sizes of the scratch arena.  A forward of this model makes, per block:
     (B,6D) adaLN + 6 chunks, 2 x [LN, modulate] (B,T,D), qkv (B,T,3D),
     attention out (B,T,D), proj, 2 gated adds, fc1 and GELU (B,T,4D), fc2.
   Training adds what the tape keeps (P (B,heads,T,T) per block, 1/std of
   every LayerNorm row) and the few activation gradients alive at once in the
   backward pass.  A test checks that the bound holds and is not loose.      */
IGDEF size_t ig_model_tape_nodes(const ig_config *cfg) {
    return (size_t)cfg->depth * 20 + 2 * 12 + 32;
}

IGDEF size_t ig_model_scratch_bytes(const ig_config *g, size_t B, int training) {
    size_t C = (size_t)g->in_channels, p = (size_t)g->patch_size, D = (size_t)g->hidden_size;
    size_t T = (size_t)(g->image_height / g->patch_size) * (size_t)(g->image_width / g->patch_size);
    size_t heads = (size_t)g->num_heads, img = B * C * (size_t)g->image_height * (size_t)g->image_width;
    size_t threads = 1, per_block, head, stem, floats, tensors, bytes;
#ifdef _OPENMP
    threads = (size_t)omp_get_max_threads();
#endif
    per_block = 12 * B * D                      /* adaLN (B,6D) and its 6 chunks     */
              + 14 * B * T * D                  /* LN, modulate x2, qkv 3D, attn, proj, 2 gated, fc2 */
              + 8 * B * T * D;                  /* fc1 and GELU (B,T,4D)              */
    head = 4 * B * D + 2 * B * T * D + B * T * p * p * C + img;
    stem = img /* input */ + B * T * C * p * p + 2 * B * T * D + B * 256 + 5 * B * D;
    floats = (size_t)g->depth * per_block + 2 * head + stem + 4 * img /* targets, noise */;
    /* training: the tape keeps P (B,heads,T,T) per block and layernorm's 1/std;
       gradients of activations are live only a few at a time (the pool) */
    if (training) floats += (size_t)g->depth * (B * heads * T * T + 2 * B * T) + 24 * B * T * D + 8 * img + 16 * B * D;
    floats += threads * T * T * 2;              /* attention work buffers             */
    tensors = (size_t)g->depth * 24 + 64;
    bytes = floats * sizeof(float) + tensors * (sizeof(ig_tensor) + 2 * 64 + 64)
          + (training ? ig_model_tape_nodes(g) * sizeof(ig_node) : 0) + ((size_t)g->depth * 4 + 16) * 64 + 4096;
    return bytes;
}

/* The timestep embedding: t (B) -> (B,256), half = 128 frequencies
   f_i = exp(-ln(10000) i / 128), emb = [cos(t f_0..f_127), sin(t f_0..f_127)]. */
static ig_tensor *ig__time_features(ig_ctx *c, const float *t, size_t B, float t_scale) {
    size_t shape[2], b, i;
    ig_tensor *e;
    float freq[128];
    shape[0] = B; shape[1] = 256;
    if (c->failed || !(e = ig_tensor_new(c->scratch, 2, shape, 0))) { c->failed = 1; return NULL; }
    for (i = 0; i < 128; i++) freq[i] = expf(-logf(10000.0f) * (float)i / 128.0f);
    for (b = 0; b < B; b++) {
        if (b > 0 && t[b] == t[b - 1]) {   /* samplers pass one t for the whole batch */
            memcpy(e->data + b * 256, e->data + (b - 1) * 256, 256 * sizeof(float));
            continue;
        }
        for (i = 0; i < 128; i++) {
            float a = t[b] * t_scale * freq[i];
            e->data[b * 256 + i] = cosf(a);
            e->data[b * 256 + 128 + i] = sinf(a);
        }
    }
    return e;
}

/* A head ("final layer"):  (shift, scale) = Linear(SiLU(c));
   out = Linear(LN(x) * (1 + scale) + shift)  (B,T,p*p*C), unpatchified to (B,C,H,W). */
static ig_tensor *ig__head(ig_ctx *c, const ig_model *m, const ig_head_params *hp, ig_tensor *x, ig_tensor *silu_c) {
    const ig_config *g = &m->cfg;
    ig_tensor *mod = ig_linear(c, silu_c, hp->ada_w, hp->ada_b);             /* (B,2D) */
    ig_tensor *h = ig_modulate(c, ig_layernorm(c, x), ig_chunk(c, mod, 2, 0), ig_chunk(c, mod, 2, 1));
    ig_tensor *out = ig_linear(c, h, hp->out_w, hp->out_b);                 /* (B,T,p*p*C) */
    return ig_unpatchify(c, out, (size_t)g->patch_size, (size_t)g->in_channels,
                         (size_t)g->image_height, (size_t)g->image_width);
}

/* One adaLN-Zero block:
     (shift1, scale1, gate1, shift2, scale2, gate2) = Linear(SiLU(c))
     x = x + gate1 * Attn(LN(x) * (1 + scale1) + shift1)
     x = x + gate2 * MLP (LN(x) * (1 + scale2) + shift2)                       */
static ig_tensor *ig__block(ig_ctx *c, const ig_model *m, const ig_block_params *bp, ig_tensor *x, ig_tensor *silu_c) {
    ig_tensor *mod = ig_linear(c, silu_c, bp->ada_w, bp->ada_b);            /* (B,6D) */
    ig_tensor *h, *qkv;
    h = ig_modulate(c, ig_layernorm(c, x), ig_chunk(c, mod, 6, 0), ig_chunk(c, mod, 6, 1));
    qkv = ig_linear(c, h, bp->qkv_w, bp->qkv_b);                            /* (B,T,3D) */
    h = ig_linear(c, ig_attention(c, qkv, (size_t)m->cfg.num_heads), bp->proj_w, bp->proj_b);
    x = ig_gated_add(c, x, ig_chunk(c, mod, 6, 2), h);
    h = ig_modulate(c, ig_layernorm(c, x), ig_chunk(c, mod, 6, 3), ig_chunk(c, mod, 6, 4));
    h = ig_linear(c, ig_gelu(c, ig_linear(c, h, bp->fc1_w, bp->fc1_b)), bp->fc2_w, bp->fc2_b);
    return ig_gated_add(c, x, ig_chunk(c, mod, 6, 5), h);
}

IGDEF int ig_forward(ig_model *m, ig_ctx *c, ig_tensor *x, const float *t, const int *y,
                     ig_tensor **v, ig_tensor **v_aux) {
    const ig_config *g = &m->cfg;
    size_t B, b, flat_w[2], D = (size_t)g->hidden_size, T;
    ig_tensor *h, *cond, *silu_c, *wflat;
    int i;
    *v = NULL;
    if (v_aux) *v_aux = NULL;
    if (!x || c->failed) return -1;
    if (x->ndim != 4 || x->shape[1] != (size_t)g->in_channels || x->shape[2] != (size_t)g->image_height ||
        x->shape[3] != (size_t)g->image_width)
        return ig__fail("ig_forward: x must be (B,%d,%d,%d)", g->in_channels, g->image_height, g->image_width);
    B = x->shape[0];
    T = m->pos_embed->shape[1];
    for (b = 0; b < B; b++) {
        if (y[b] < 0 || y[b] > g->num_classes)
            return ig__fail("ig_forward: label %d of sample %zu is outside 0..%d (%d is the null label)",
                            y[b], b, g->num_classes, g->num_classes);
        if (!(t[b] >= 0.0f && t[b] <= 1.0f))
            return ig__fail("ig_forward: t = %g of sample %zu is outside [0, 1]", (double)t[b], b);
    }
    /* patch embedding: the (D,C,p,p) conv weight seen as a (D, C*p*p) Linear */
    flat_w[0] = D; flat_w[1] = m->x_proj_w->n / D;
    wflat = ig_tensor_wrap(c->scratch, m->x_proj_w->data, m->x_proj_w->grad, 2, flat_w);
    if (!wflat) return -1;
    h = ig_linear(c, ig_patchify(c, x, (size_t)g->patch_size), wflat, m->x_proj_b);   /* (B,T,D) */
    {   /* the fixed position table (1,T,D) is added to every sample, as (T,D) */
        size_t pe_shape[2];
        ig_tensor *pe;
        pe_shape[0] = T; pe_shape[1] = D;
        pe = ig_tensor_wrap(c->scratch, m->pos_embed->data, NULL, 2, pe_shape);
        h = ig_add(c, h, pe);
    }
    /* conditioning: c = MLP(timestep features) + label embedding, (B,D) */
    cond = ig_linear(c, ig__time_features(c, t, B, g->t_scale), m->t_fc1_w, m->t_fc1_b);
    cond = ig_linear(c, ig_silu(c, cond), m->t_fc2_w, m->t_fc2_b);
    cond = ig_add(c, cond, ig_gather(c, m->y_table, y, B));
    silu_c = ig_silu(c, cond);   /* every adaLN Linear reads SiLU(c): compute it once */
    for (i = 0; i < g->depth; i++) {
        h = ig__block(c, m, &m->blocks[i], h, silu_c);
        if (v_aux && i + 1 == g->aux_depth) *v_aux = ig__head(c, m, &m->aux_head, h, silu_c);
    }
    *v = ig__head(c, m, &m->final_head, h, silu_c);
    if (!*v || (v_aux && !*v_aux)) return -1;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* 6. training                                                               */
/* ------------------------------------------------------------------------- */

IGDEF ig_train_config ig_train_defaults(void) {
    ig_train_config tc;
    tc.lr = 1e-4f; tc.beta1 = 0.9f; tc.beta2 = 0.999f; tc.eps = 1e-8f; tc.weight_decay = 0.0f;
    tc.grad_clip = 1.0f; tc.ema_decay = 0.9999f; tc.aux_weight = 0.5f; tc.label_dropout = 0.1f;
    tc.path = IG_PATH_LINEAR; tc.t_sampling = IG_T_UNIFORM;
    return tc;
}

/* AdamW, as torch.optim.AdamW does it (step s counts from 1):
     w <- w (1 - lr wd)
     m <- b1 m + (1 - b1) g          v <- b2 v + (1 - b2) g^2
     w <- w - (lr / (1 - b1^s)) m / (sqrt(v) / sqrt(1 - b2^s) + eps)
   then the EMA of the weights:  ema <- d ema + (1 - d) w. */
static void ig__adamw_ema(ig_model *m, const ig_train_config *tc) {
    double s = (double)m->step;
    float bc1 = (float)(1.0 - pow(tc->beta1, s)), bc2_sqrt = (float)sqrt(1.0 - pow(tc->beta2, s));
    float step_size = tc->lr / bc1, decay = 1.0f - tc->lr * tc->weight_decay, d = tc->ema_decay;
    int pi;
    for (pi = 0; pi < m->nparams; pi++) {
        const ig_param *pp = &m->params[pi];
        size_t i, o = pp->offset, n = pp->t->n;
        if (!pp->trainable) continue;
        IG__OMP(omp parallel for schedule(static) if (n > 65536))
        for (i = o; i < o + n; i++) {
            float g = m->grads[i];
            m->weights[i] *= decay;
            m->adam_m[i] = tc->beta1 * m->adam_m[i] + (1.0f - tc->beta1) * g;
            m->adam_v[i] = tc->beta2 * m->adam_v[i] + (1.0f - tc->beta2) * g * g;
            m->weights[i] -= step_size * m->adam_m[i] / (sqrtf(m->adam_v[i]) / bc2_sqrt + tc->eps);
            m->ema[i] = d * m->ema[i] + (1.0f - d) * m->weights[i];
        }
    }
}

/* Global-norm clipping: if |g| > max, scale every gradient by max / (|g| + 1e-6). */
static float ig__clip_grads(ig_model *m, float max_norm) {
    double sq = 0.0;
    float norm, coef;
    size_t i;
    for (i = 0; i < m->nweights; i++) sq += (double)m->grads[i] * m->grads[i];
    norm = (float)sqrt(sq);
    if (max_norm > 0.0f) {
        coef = max_norm / (norm + 1e-6f);
        if (coef < 1.0f)
            for (i = 0; i < m->nweights; i++) m->grads[i] *= coef;
    }
    return norm;
}

/* The step itself, on a context already reset for training that holds the
   batch: x_t (B,C,H,W), t (B), labels (B), target v* (B,C,H,W). */
static int ig__train_step_core(ig_model *m, ig_ctx *c, const ig_train_config *tc, ig_tensor *x,
                               const float *t, const int *y, ig_tensor *tg, ig_train_stats *stats) {
    ig_tensor *v, *v_aux = NULL, *loss_final, *loss_aux = NULL, *loss;
    size_t i;
    float norm;
    for (i = 0; i < x->n; i++)
        if (!isfinite(x->data[i]) || !isfinite(tg->data[i]))
            return ig__fail("ig_train_step: the batch holds a non-finite value (element %zu); weights left unchanged", i);
    memset(m->grads, 0, m->nweights * sizeof(float));
    /* loss = mse(v_final, v*) + lambda * mse(v_inter, v*);  lambda = 0: plain baseline */
    if (ig_forward(m, c, x, t, y, &v, tc->aux_weight != 0.0f ? &v_aux : NULL)) return -1;
    loss_final = ig_mse(c, v, tg);
    loss = loss_final;
    if (v_aux) {
        loss_aux = ig_mse(c, v_aux, tg);
        loss = ig_add(c, loss_final, ig_scale(c, loss_aux, tc->aux_weight));
    }
    if (ig_backward(c, loss)) return -1;
    if (!isfinite(loss->data[0]))
        return ig__fail("ig_train_step: the loss is %g at step %lld; weights left unchanged",
                        (double)loss->data[0], (long long)m->step);
    norm = ig__clip_grads(m, tc->grad_clip);
    if (!isfinite(norm))
        return ig__fail("ig_train_step: the gradient norm is not finite at step %lld; weights left unchanged",
                        (long long)m->step);
    m->step++;
    ig__adamw_ema(m, tc);
    if (stats) {
        stats->loss = loss->data[0];
        stats->loss_final = loss_final->data[0];
        stats->loss_aux = loss_aux ? loss_aux->data[0] : 0.0f;
        stats->grad_norm = norm;
    }
    return 0;
}

/* Resets c for training and takes a batch of B images and B labels from it. */
static int ig__train_batch(ig_model *m, ig_ctx *c, size_t B, ig_tensor **x, ig_tensor **tg, float **t, int **y) {
    size_t shape[4];
    if (!m->grads) return ig__fail("ig_train_step: the model was made with training = 0");
    if (ig_ctx_reset(c, 1)) return -1;
    shape[0] = B; shape[1] = (size_t)m->cfg.in_channels;
    shape[2] = (size_t)m->cfg.image_height; shape[3] = (size_t)m->cfg.image_width;
    *x = ig_tensor_new(c->scratch, 4, shape, 0);
    *tg = ig_tensor_new(c->scratch, 4, shape, 0);
    *t = (float *)ig_arena_alloc(c->scratch, B * sizeof(float));
    *y = (int *)ig_arena_alloc(c->scratch, B * sizeof(int));
    return (*x && *tg && *t && *y) ? 0 : -1;
}

IGDEF int ig_train_step_on(ig_model *m, ig_ctx *c, const ig_train_config *tc,
                           const float *xt, const float *t, const int *y,
                           const float *target, size_t B, ig_train_stats *stats) {
    ig_tensor *x, *tg;
    float *tb;
    int *yb;
    if (ig__train_batch(m, c, B, &x, &tg, &tb, &yb)) return -1;
    memcpy(x->data, xt, x->n * sizeof(float));
    memcpy(tg->data, target, tg->n * sizeof(float));
    memcpy(tb, t, B * sizeof(float));
    memcpy(yb, y, B * sizeof(int));
    return ig__train_step_core(m, c, tc, x, tb, yb, tg, stats);
}

/* The flow-matching batch.  Linear path: x_t = (1 - t) x0 + t eps, v* = eps - x0.
   Cosine path: x_t = cos(pi t/2) x0 + sin(pi t/2) eps,
                v* = (pi/2) (cos(pi t/2) eps - sin(pi t/2) x0).
   t ~ U(0,1), or lognormal: s = exp(n), n ~ N(0,1), t = s/(1+s) (linear)
   or (2/pi) atan(s) (cosine).  Each label becomes the null label with
   probability label_dropout. */
IGDEF int ig_train_step(ig_model *m, ig_ctx *c, const ig_train_config *tc,
                        const float *x0, const int *y, size_t B, ig_train_stats *stats) {
    const ig_config *g = &m->cfg;
    size_t per = (size_t)g->in_channels * (size_t)g->image_height * (size_t)g->image_width, b, i;
    ig_tensor *x, *tg;
    float *t;
    int *labels;
    if (ig__train_batch(m, c, B, &x, &tg, &t, &labels)) return -1;
    for (b = 0; b < B; b++) {
        float tb;
        if (y[b] < 0 || y[b] >= g->num_classes)
            return ig__fail("ig_train_step: label %d of sample %zu is outside 0..%d", y[b], b, g->num_classes - 1);
        if (tc->t_sampling == IG_T_LOGNORMAL) {
            float s = expf(ig_rng_normal(&m->rng));
            tb = tc->path == IG_PATH_COSINE ? (float)(2.0 / IG__PI * atan(s)) : s / (1.0f + s);
        } else {
            tb = ig_rng_uniform(&m->rng);
        }
        t[b] = tb;
        labels[b] = ig_rng_uniform(&m->rng) < tc->label_dropout ? g->num_classes : y[b];
        for (i = 0; i < per; i++) {
            float e = ig_rng_normal(&m->rng), x0i = x0[b * per + i];
            if (tc->path == IG_PATH_COSINE) {
                float al = cosf(0.5f * (float)IG__PI * tb), si = sinf(0.5f * (float)IG__PI * tb);
                x->data[b * per + i] = al * x0i + si * e;
                tg->data[b * per + i] = 0.5f * (float)IG__PI * (al * e - si * x0i);
            } else {
                x->data[b * per + i] = (1.0f - tb) * x0i + tb * e;
                tg->data[b * per + i] = e - x0i;
            }
        }
    }
    return ig__train_step_core(m, c, tc, x, t, labels, tg, stats);
}

/* ------------------------------------------------------------------------- */
/* 7. sampling                                                               */
/* ------------------------------------------------------------------------- */

IGDEF void ig_grid_uniform(float *grid, size_t nsteps) {
    size_t i;
    for (i = 0; i <= nsteps; i++) grid[i] = 1.0f - (float)i / (float)nsteps;
}

/* The samplers need two buffers of n floats; they come from the heap once
   per call (not per step). */
static float *ig__buffers(size_t n, size_t count) {
    float *p = (float *)IG_MALLOC(n * count * sizeof(float));
    if (!p) ig__fail("ig: sampler: could not allocate %zu floats", n * count);
    return p;
}

IGDEF int ig_sample_euler(ig_velocity_fn f, void *user, float *x, size_t n, const float *grid, size_t nsteps) {
    float *v = ig__buffers(n, 1);
    size_t s, i;
    if (!v) return -1;
    for (s = 0; s < nsteps; s++) {
        float dt = grid[s + 1] - grid[s];
        if (f(user, x, n, grid[s], v)) { IG_FREE(v); return -1; }
        for (i = 0; i < n; i++) x[i] += dt * v[i];
    }
    IG_FREE(v);
    return 0;
}

IGDEF int ig_sample_heun(ig_velocity_fn f, void *user, float *x, size_t n, const float *grid, size_t nsteps) {
    float *buf = ig__buffers(n, 3), *v = buf, *v2 = buf + n, *xe = buf + 2 * n;
    size_t s, i;
    if (!buf) return -1;
    for (s = 0; s < nsteps; s++) {
        float t = grid[s], tn = grid[s + 1], dt = tn - t;
        if (f(user, x, n, t, v)) goto fail;
        if (tn == 0.0f) {                        /* last step: plain Euler */
            for (i = 0; i < n; i++) x[i] += dt * v[i];
            continue;
        }
        for (i = 0; i < n; i++) xe[i] = x[i] + dt * v[i];
        if (f(user, xe, n, tn, v2)) goto fail;   /* slope at the Euler guess */
        for (i = 0; i < n; i++) x[i] += 0.5f * dt * (v[i] + v2[i]);
    }
    IG_FREE(buf);
    return 0;
fail:
    IG_FREE(buf);
    return -1;
}

/* Euler-Maruyama for the linear path.  From the velocity v at (x, t):
     score s = -((1 - t) v + x) / t
     drift d = v - (1/2) g2 s,  g2 = 2t   (diffusion coefficient squared)
     x <- x + d dt + sqrt(2t) sqrt(|dt|) n,   n ~ N(0, I)
   on t_i = linspace(1, 0.04, N) and a last noise-free step to 0. */
IGDEF int ig_sample_sde(ig_velocity_fn f, void *user, float *x, size_t n, size_t nsteps, ig_rng *rng) {
    float *v;
    size_t s, i;
    if (nsteps < 2) return ig__fail("ig_sample_sde: needs at least 2 steps");
    if (!(v = ig__buffers(n, 1))) return -1;
    for (s = 0; s < nsteps; s++) {
        int last = s + 1 == nsteps;
        float t = 1.0f - 0.96f * (float)s / (float)(nsteps - 1);
        float tn = last ? 0.0f : 1.0f - 0.96f * (float)(s + 1) / (float)(nsteps - 1);
        float dt = tn - t, g2 = 2.0f * t, noise = sqrtf(g2) * sqrtf(fabsf(dt));
        if (f(user, x, n, t, v)) { IG_FREE(v); return -1; }
        for (i = 0; i < n; i++) {
            float score = -((1.0f - t) * v[i] + x[i]) / t;
            x[i] += (v[i] - 0.5f * g2 * score) * dt;
            if (!last) x[i] += noise * ig_rng_normal(rng);
        }
    }
    IG_FREE(v);
    return 0;
}

IGDEF ig_guidance ig_guidance_none(void) {
    ig_guidance g;
    g.ig_weight = 1.0f; g.ig_low = 0.0f; g.ig_high = 1.0f;
    g.cfg_scale = 1.0f; g.cfg_low = 0.0f; g.cfg_high = 1.0f;
    g.guide = NULL; g.guide_weight = 1.0f;
    return g;
}

/* One guided velocity for the batch x (B,C,H,W):
     IG   (t in [ig_low, ig_high], w != 1):  v = v_inter + w (v_final - v_inter)
     CFG  (t in [cfg_low, cfg_high], s != 1): run [labels; null] in one batch
          of 2B, apply IG to both halves, then v = v_u + s (v_c - v_u)
     autoguidance (guide != NULL): v = v_weak + w (v - v_weak), v_weak from
          the guide model's final head: a second network evaluation.        */
IGDEF int ig_model_velocity(void *user, const float *xin, size_t n, float t, float *vout) {
    ig_sampler *S = (ig_sampler *)user;
    ig_model *m = S->model;
    ig_ctx *c = S->ctx;
    const ig_guidance *g = &S->g;
    size_t B = S->batch, per = n / B, rows, b, i;
    int use_ig = g->ig_weight != 1.0f && t >= g->ig_low && t <= g->ig_high;
    int use_cfg = g->cfg_scale != 1.0f && t >= g->cfg_low && t <= g->cfg_high;
    ig_tensor *x, *v, *va = NULL;
    size_t shape[4];
    float *tt;
    int *yy;
    if (n != B * (size_t)m->cfg.in_channels * (size_t)m->cfg.image_height * (size_t)m->cfg.image_width)
        return ig__fail("ig_model_velocity: %zu floats do not make a batch of %zu samples", n, B);
    rows = use_cfg ? 2 * B : B;
    if (ig_ctx_reset(c, 0)) return -1;
    shape[0] = rows; shape[1] = (size_t)m->cfg.in_channels;
    shape[2] = (size_t)m->cfg.image_height; shape[3] = (size_t)m->cfg.image_width;
    x = ig_tensor_new(c->scratch, 4, shape, 0);
    tt = (float *)ig_arena_alloc(c->scratch, rows * sizeof(float));
    yy = (int *)ig_arena_alloc(c->scratch, rows * sizeof(int));
    if (!x || !tt || !yy) return -1;
    for (b = 0; b < rows; b++) {
        tt[b] = t;
        yy[b] = b < B ? S->labels[b] : m->cfg.num_classes;   /* second half: null label */
        memcpy(x->data + b * per, xin + (b % B) * per, per * sizeof(float));
    }
    if (ig_forward(m, c, x, tt, yy, &v, use_ig ? &va : NULL)) return -1;
    S->nfe += rows / B;
    if (use_ig)
        for (i = 0; i < v->n; i++) v->data[i] = va->data[i] + g->ig_weight * (v->data[i] - va->data[i]);
    if (use_cfg)
        for (i = 0; i < n; i++) vout[i] = v->data[n + i] + g->cfg_scale * (v->data[i] - v->data[n + i]);
    else
        memcpy(vout, v->data, n * sizeof(float));
    if (g->guide) {
        ig_ctx *gc = S->guide_ctx ? S->guide_ctx : c;
        ig_tensor *xg, *vg;
        if (ig_ctx_reset(gc, 0)) return -1;
        shape[0] = B;
        xg = ig_tensor_new(gc->scratch, 4, shape, 0);
        tt = (float *)ig_arena_alloc(gc->scratch, B * sizeof(float));
        if (!xg || !tt) return -1;
        memcpy(xg->data, xin, n * sizeof(float));
        for (b = 0; b < B; b++) tt[b] = t;
        if (ig_forward(g->guide, gc, xg, tt, S->labels, &vg, NULL)) return -1;
        S->nfe += 1;
        for (i = 0; i < n; i++) vout[i] = vg->data[i] + g->guide_weight * (vout[i] - vg->data[i]);
    }
    return 0;
}


/* ------------------------------------------------------------------------- */
/* 8. checkpoints                                                            */
/* ------------------------------------------------------------------------- */

#include <errno.h>
#include <limits.h>
#if defined(__APPLE__) || (defined(__unix__) && (defined(_POSIX_C_SOURCE) || \
    defined(_XOPEN_SOURCE) || defined(_GNU_SOURCE) || defined(_DEFAULT_SOURCE) || \
    defined(_BSD_SOURCE) || !defined(__STRICT_ANSI__)))
#define IG__ST_POSIX 1
#include <unistd.h>
#include <sys/types.h>
#else
#define IG__ST_POSIX 0
#endif

/* ------------------------------------------------------ implementation --- */

static char *ig__st_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = (char *)IG_MALLOC(n);
    if (p) memcpy(p, s, n);
    return p;
}

static int ig__st_little_endian(void)
{
    uint16_t x = 1;
    unsigned char c;
    memcpy(&c, &x, 1);
    return c == 1;
}

static void ig__st_bswap(void *p, size_t nbytes, int esize)
{
    unsigned char *b = (unsigned char *)p;
    size_t i;
    int k;
    if (esize <= 1) return;
    for (i = 0; i + (size_t)esize <= nbytes; i += (size_t)esize)
        for (k = 0; k < esize / 2; k++) {
            unsigned char t = b[i + (size_t)k];
            b[i + (size_t)k] = b[i + (size_t)esize - 1 - (size_t)k];
            b[i + (size_t)esize - 1 - (size_t)k] = t;
        }
}

/* 64-bit seek/tell. Return 0 / -1. */
static int ig__st_seek(FILE *f, uint64_t off)
{
#if defined(_WIN32)
    if (off > (uint64_t)INT64_MAX) return -1;
    return _fseeki64(f, (__int64)off, SEEK_SET) == 0 ? 0 : -1;
#elif LONG_MAX > 2147483647L
    if (off > (uint64_t)LONG_MAX) return -1;
    return fseek(f, (long)off, SEEK_SET) == 0 ? 0 : -1;
#elif IG__ST_POSIX && defined(_FILE_OFFSET_BITS) && _FILE_OFFSET_BITS == 64
    if (off > (uint64_t)INT64_MAX) return -1;
    return fseeko(f, (off_t)off, SEEK_SET) == 0 ? 0 : -1;
#else
    if (off > (uint64_t)LONG_MAX) return -1;
    return fseek(f, (long)off, SEEK_SET) == 0 ? 0 : -1;
#endif
}

static int ig__st_file_size(FILE *f, uint64_t *size)
{
#if defined(_WIN32)
    __int64 r;
    if (_fseeki64(f, 0, SEEK_END) != 0) return -1;
    r = _ftelli64(f);
#elif LONG_MAX > 2147483647L
    long r;
    if (fseek(f, 0, SEEK_END) != 0) return -1;
    r = ftell(f);
#elif IG__ST_POSIX && defined(_FILE_OFFSET_BITS) && _FILE_OFFSET_BITS == 64
    off_t r;
    if (fseeko(f, 0, SEEK_END) != 0) return -1;
    r = ftello(f);
#else
    long r;
    if (fseek(f, 0, SEEK_END) != 0) return -1;
    r = ftell(f);
#endif
    if (r < 0) return -1;
    *size = (uint64_t)r;
    return 0;
}

/* Read exactly n bytes (in chunks, so huge reads work everywhere). */
static int ig__st_fread_all(FILE *f, void *dst, size_t n)
{
    unsigned char *p = (unsigned char *)dst;
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 26) ? ((size_t)1 << 26) : n;
        if (fread(p, 1, chunk, f) != chunk) return -1;
        p += chunk;
        n -= chunk;
    }
    return 0;
}

static int ig__st_fwrite_all(FILE *f, const void *src, size_t n)
{
    const unsigned char *p = (const unsigned char *)src;
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 26) ? ((size_t)1 << 26) : n;
        if (fwrite(p, 1, chunk, f) != chunk) return -1;
        p += chunk;
        n -= chunk;
    }
    return 0;
}

IGDEF float ig_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (uint32_t)(h >> 10) & 0x1fu;
    uint32_t mant = (uint32_t)h & 0x3ffu;
    uint32_t bits;
    float f;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign; /* +-0 */
        } else { /* subnormal: value = mant * 2^-24; normalize */
            uint32_t e = 113; /* 127 - 15 + 1 */
            while (!(mant & 0x400u)) { mant <<= 1; e--; }
            mant &= 0x3ffu;
            bits = sign | (e << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf / NaN (payload kept) */
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    memcpy(&f, &bits, 4);
    return f;
}

IGDEF float ig_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

typedef struct { const char *name; ig_dtype dtype; int size; } ig__st_dtinfo;
static const ig__st_dtinfo ig__st_dtypes[] = {
    {"F32", IG_F32, 4}, {"F16", IG_F16, 2}, {"BF16", IG_BF16, 2},
    {"I64", IG_I64, 8}, {"I32", IG_I32, 4},
    {"F64", IG_DTYPE_OTHER, 8}, {"I16", IG_DTYPE_OTHER, 2}, {"I8", IG_DTYPE_OTHER, 1},
    {"U8", IG_DTYPE_OTHER, 1}, {"U16", IG_DTYPE_OTHER, 2}, {"U32", IG_DTYPE_OTHER, 4},
    {"U64", IG_DTYPE_OTHER, 8}, {"BOOL", IG_DTYPE_OTHER, 1},
    {"F8_E4M3", IG_DTYPE_OTHER, 1}, {"F8_E5M2", IG_DTYPE_OTHER, 1},
    {"F8_E8M0", IG_DTYPE_OTHER, 1}, {"C64", IG_DTYPE_OTHER, 8}
};

static const char *ig__st_dtype_str(ig_dtype d)
{
    switch (d) {
    case IG_F32: return "F32";
    case IG_F16: return "F16";
    case IG_BF16: return "BF16";
    case IG_I64: return "I64";
    case IG_I32: return "I32";
    default: return NULL;
    }
}

static int ig__st_dtype_size(ig_dtype d)
{
    switch (d) {
    case IG_F32: case IG_I32: return 4;
    case IG_F16: case IG_BF16: return 2;
    case IG_I64: return 8;
    default: return 0;
    }
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid
   (overlong forms, surrogates and code points > U+10FFFF are invalid). */
static size_t ig__st_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        if (n >= 2 && (s[1] & 0xc0) == 0x80) return 2;
        return 0;
    }
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80) return 0;
        if (c == 0xe0 && s[1] < 0xa0) return 0; /* overlong */
        if (c == 0xed && s[1] > 0x9f) return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
            (s[3] & 0xc0) != 0x80) return 0;
        if (c == 0xf0 && s[1] < 0x90) return 0; /* overlong */
        if (c == 0xf4 && s[1] > 0x8f) return 0; /* > U+10FFFF */
        return 4;
    }
    return 0;
}

static int ig__st_utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str), i = 0;
    while (i < n) {
        size_t k = ig__st_utf8_seq(s + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* --------------------------------------------------------- JSON parser --- */

typedef struct {
    const char *base, *p, *end;
    const char *path;
} ig__st_json;

typedef struct { int is_int, neg, overflow; uint64_t u; } ig__st_num;

#define IG__ST_MAX_DEPTH 64

static int ig__st_jerr(ig__st_json *J, const char *what)
{
    return ig__fail("%s: invalid JSON header at byte %lu: %s", J->path,
                    (unsigned long)(8 + (size_t)(J->p - J->base)), what);
}

static void ig__st_ws(ig__st_json *J)
{
    while (J->p < J->end && (*J->p == ' ' || *J->p == '\t' || *J->p == '\n' || *J->p == '\r'))
        J->p++;
}

/* Skip whitespace and require character c. */
static int ig__st_expect(ig__st_json *J, char c, const char *what)
{
    ig__st_ws(J);
    if (J->p >= J->end || *J->p != c) return ig__st_jerr(J, what);
    J->p++;
    return 0;
}

static int ig__st_hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* Parse a string at J->p (must be '"'). If out != NULL, store a decoded,
   NUL-terminated UTF-8 copy (IG_MALLOC). */
static int ig__st_string(ig__st_json *J, char **out)
{
    const char *s, *q, *r;
    char *buf = NULL, *w;
    if (out) *out = NULL;
    ig__st_ws(J);
    if (J->p >= J->end || *J->p != '"') return ig__st_jerr(J, "expected a string");
    s = q = J->p + 1;
    while (q < J->end && *q != '"') {
        if (*q == '\\') { q++; if (q >= J->end) break; }
        q++;
    }
    if (q >= J->end) return ig__st_jerr(J, "unterminated string");
    if (out) {
        buf = (char *)IG_MALLOC((size_t)(q - s) + 1); /* decoded never longer */
        if (!buf) return ig__fail("%s: out of memory parsing header", J->path);
    }
    w = buf;
    r = s;
    while (r < q) {
        unsigned char c = (unsigned char)*r;
        if (c == '\\') {
            unsigned cp;
            char e = r[1]; /* r + 1 < q holds: q is an unescaped quote */
            J->p = r;
            switch (e) {
            case '"': cp = '"'; r += 2; break;
            case '\\': cp = '\\'; r += 2; break;
            case '/': cp = '/'; r += 2; break;
            case 'b': cp = '\b'; r += 2; break;
            case 'f': cp = '\f'; r += 2; break;
            case 'n': cp = '\n'; r += 2; break;
            case 'r': cp = '\r'; r += 2; break;
            case 't': cp = '\t'; r += 2; break;
            case 'u':
                if (q - r < 6 || ig__st_hex4(r + 2, &cp) != 0) {
                    IG_FREE(buf);
                    return ig__st_jerr(J, "invalid \\u escape");
                }
                r += 6;
                if (cp >= 0xdc00 && cp <= 0xdfff) {
                    IG_FREE(buf);
                    return ig__st_jerr(J, "unpaired low surrogate in \\u escape");
                }
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    unsigned lo;
                    if (q - r < 6 || r[0] != '\\' || r[1] != 'u' ||
                        ig__st_hex4(r + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff) {
                        IG_FREE(buf);
                        return ig__st_jerr(J, "unpaired high surrogate in \\u escape");
                    }
                    r += 6;
                    cp = 0x10000u + ((cp - 0xd800u) << 10) + (lo - 0xdc00u);
                }
                if (cp == 0) {
                    IG_FREE(buf);
                    return ig__st_jerr(J, "\\u0000 in string is not supported");
                }
                break;
            default:
                IG_FREE(buf);
                return ig__st_jerr(J, "invalid escape sequence in string");
            }
            if (w) {
                if (cp < 0x80) {
                    *w++ = (char)cp;
                } else if (cp < 0x800) {
                    *w++ = (char)(0xc0 | (cp >> 6));
                    *w++ = (char)(0x80 | (cp & 0x3f));
                } else if (cp < 0x10000) {
                    *w++ = (char)(0xe0 | (cp >> 12));
                    *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                    *w++ = (char)(0x80 | (cp & 0x3f));
                } else {
                    *w++ = (char)(0xf0 | (cp >> 18));
                    *w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
                    *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                    *w++ = (char)(0x80 | (cp & 0x3f));
                }
            }
        } else if (c < 0x20) {
            IG_FREE(buf);
            J->p = r;
            return ig__st_jerr(J, "control character in string");
        } else {
            size_t k = ig__st_utf8_seq((const unsigned char *)r, (size_t)(q - r));
            if (!k) {
                IG_FREE(buf);
                J->p = r;
                return ig__st_jerr(J, "invalid UTF-8 in string");
            }
            if (w) { memcpy(w, r, k); w += k; }
            r += k;
        }
    }
    if (w) *w = 0;
    J->p = q + 1;
    if (out) *out = buf;
    return 0;
}

static int ig__st_isdigit(char c) { return c >= '0' && c <= '9'; }

static int ig__st_number(ig__st_json *J, ig__st_num *num)
{
    const char *p;
    num->is_int = 1; num->neg = 0; num->overflow = 0; num->u = 0;
    ig__st_ws(J);
    p = J->p;
    if (p < J->end && *p == '-') { num->neg = 1; p++; }
    if (p >= J->end || !ig__st_isdigit(*p)) return ig__st_jerr(J, "invalid number");
    if (*p == '0') {
        p++;
        if (p < J->end && ig__st_isdigit(*p)) return ig__st_jerr(J, "number with leading zero");
    } else {
        while (p < J->end && ig__st_isdigit(*p)) {
            unsigned d = (unsigned)(*p - '0');
            if (num->u > (UINT64_MAX - d) / 10) num->overflow = 1;
            else num->u = num->u * 10 + d;
            p++;
        }
    }
    if (p < J->end && *p == '.') {
        p++;
        num->is_int = 0;
        if (p >= J->end || !ig__st_isdigit(*p)) { J->p = p; return ig__st_jerr(J, "invalid number"); }
        while (p < J->end && ig__st_isdigit(*p)) p++;
    }
    if (p < J->end && (*p == 'e' || *p == 'E')) {
        p++;
        num->is_int = 0;
        if (p < J->end && (*p == '+' || *p == '-')) p++;
        if (p >= J->end || !ig__st_isdigit(*p)) { J->p = p; return ig__st_jerr(J, "invalid number"); }
        while (p < J->end && ig__st_isdigit(*p)) p++;
    }
    J->p = p;
    return 0;
}

static int ig__st_literal(ig__st_json *J, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(J->end - J->p) < n || memcmp(J->p, lit, n) != 0)
        return ig__st_jerr(J, "invalid literal");
    J->p += n;
    return 0;
}

/* Validate and skip any JSON value. */
static int ig__st_skip(ig__st_json *J, int depth)
{
    ig__st_num num;
    ig__st_ws(J);
    if (J->p >= J->end) return ig__st_jerr(J, "unexpected end of header");
    if (depth > IG__ST_MAX_DEPTH) return ig__st_jerr(J, "nesting too deep");
    switch (*J->p) {
    case '{':
        J->p++;
        ig__st_ws(J);
        if (J->p < J->end && *J->p == '}') { J->p++; return 0; }
        for (;;) {
            if (ig__st_string(J, NULL)) return -1;
            if (ig__st_expect(J, ':', "expected ':'")) return -1;
            if (ig__st_skip(J, depth + 1)) return -1;
            ig__st_ws(J);
            if (J->p < J->end && *J->p == ',') { J->p++; continue; }
            return ig__st_expect(J, '}', "expected ',' or '}'");
        }
    case '[':
        J->p++;
        ig__st_ws(J);
        if (J->p < J->end && *J->p == ']') { J->p++; return 0; }
        for (;;) {
            if (ig__st_skip(J, depth + 1)) return -1;
            ig__st_ws(J);
            if (J->p < J->end && *J->p == ',') { J->p++; continue; }
            return ig__st_expect(J, ']', "expected ',' or ']'");
        }
    case '"': return ig__st_string(J, NULL);
    case 't': return ig__st_literal(J, "true");
    case 'f': return ig__st_literal(J, "false");
    case 'n': return ig__st_literal(J, "null");
    default:
        if (*J->p == '-' || ig__st_isdigit(*J->p)) return ig__st_number(J, &num);
        return ig__st_jerr(J, "unexpected character");
    }
}

/* Array of non-negative integers: "[a, b, ...]". Stores up to max values. */
static int ig__st_int_array(ig__st_json *J, const char *tname, const char *field,
                            uint64_t *vals, int max, int *count)
{
    int n = 0;
    ig__st_ws(J);
    if (J->p >= J->end || *J->p != '[')
        return ig__fail("%s: tensor '%s': \"%s\" must be an array of non-negative integers",
                        J->path, tname, field);
    J->p++;
    ig__st_ws(J);
    if (J->p < J->end && *J->p == ']') { J->p++; *count = 0; return 0; }
    for (;;) {
        ig__st_num num;
        ig__st_ws(J);
        if (J->p >= J->end || !(*J->p == '-' || ig__st_isdigit(*J->p)))
            return ig__fail("%s: tensor '%s': \"%s\" must be an array of non-negative integers",
                            J->path, tname, field);
        if (ig__st_number(J, &num)) return -1;
        if (!num.is_int)
            return ig__fail("%s: tensor '%s': \"%s\" contains a non-integer value",
                            J->path, tname, field);
        if (num.neg && num.u != 0)
            return ig__fail("%s: tensor '%s': \"%s\" contains a negative value",
                            J->path, tname, field);
        if (num.overflow || num.u > (uint64_t)INT64_MAX)
            return ig__fail("%s: tensor '%s': \"%s\" contains a value that is too large",
                            J->path, tname, field);
        if (n >= max) {
            if (max == IG_ST_MAX_DIMS)
                return ig__fail("%s: tensor '%s': more than %d dimensions",
                                J->path, tname, IG_ST_MAX_DIMS);
            return ig__fail("%s: tensor '%s': \"%s\" must have exactly %d values",
                            J->path, tname, field, max);
        }
        vals[n++] = num.u;
        ig__st_ws(J);
        if (J->p < J->end && *J->p == ',') { J->p++; continue; }
        if (ig__st_expect(J, ']', "expected ',' or ']'")) return -1;
        break;
    }
    *count = n;
    return 0;
}

/* Parse one tensor entry object into t (t->name already set). */
static int ig__st_tensor_entry(ig__st_json *J, ig_st_tensor *t, uint64_t *off)
{
    int have_dtype = 0, have_shape = 0, have_off = 0;
    ig__st_ws(J);
    if (J->p >= J->end || *J->p != '{')
        return ig__fail("%s: tensor '%s': entry is not a JSON object", J->path, t->name);
    J->p++;
    ig__st_ws(J);
    if (J->p < J->end && *J->p == '}') {
        J->p++;
    } else {
        for (;;) {
            char *key = NULL;
            int rc = 0;
            if (ig__st_string(J, &key)) return -1;
            if (ig__st_expect(J, ':', "expected ':'")) { IG_FREE(key); return -1; }
            if (strcmp(key, "dtype") == 0) {
                char *ds = NULL;
                size_t i;
                if (have_dtype) {
                    rc = ig__fail("%s: tensor '%s': duplicate \"dtype\"", J->path, t->name);
                } else {
                    ig__st_ws(J);
                    if (J->p >= J->end || *J->p != '"')
                        rc = ig__fail("%s: tensor '%s': \"dtype\" is not a string", J->path, t->name);
                    else if (ig__st_string(J, &ds))
                        rc = -1;
                }
                if (rc == 0) {
                    for (i = 0; i < sizeof(ig__st_dtypes) / sizeof(ig__st_dtypes[0]); i++)
                        if (strcmp(ds, ig__st_dtypes[i].name) == 0) break;
                    if (i == sizeof(ig__st_dtypes) / sizeof(ig__st_dtypes[0])) {
                        rc = ig__fail("%s: tensor '%s': unknown dtype \"%s\"", J->path, t->name, ds);
                    } else {
                        t->dtype = ig__st_dtypes[i].dtype;
                        t->dtype_size = ig__st_dtypes[i].size;
                        strcpy(t->dtype_name, ig__st_dtypes[i].name);
                        have_dtype = 1;
                    }
                }
                IG_FREE(ds);
            } else if (strcmp(key, "shape") == 0) {
                uint64_t v[IG_ST_MAX_DIMS];
                int n = 0, i;
                if (have_shape) {
                    rc = ig__fail("%s: tensor '%s': duplicate \"shape\"", J->path, t->name);
                } else if (ig__st_int_array(J, t->name, "shape", v, IG_ST_MAX_DIMS, &n)) {
                    rc = -1;
                } else {
                    t->ndim = n;
                    for (i = 0; i < n; i++) t->shape[i] = (int64_t)v[i];
                    have_shape = 1;
                }
            } else if (strcmp(key, "data_offsets") == 0) {
                int n = 0;
                if (have_off) {
                    rc = ig__fail("%s: tensor '%s': duplicate \"data_offsets\"", J->path, t->name);
                } else if (ig__st_int_array(J, t->name, "data_offsets", off, 2, &n)) {
                    rc = -1;
                } else if (n != 2) {
                    rc = ig__fail("%s: tensor '%s': \"data_offsets\" must have exactly 2 values",
                                  J->path, t->name);
                } else {
                    have_off = 1;
                }
            } else {
                rc = ig__st_skip(J, 2); /* unknown field: ignored */
            }
            IG_FREE(key);
            if (rc) return -1;
            ig__st_ws(J);
            if (J->p < J->end && *J->p == ',') { J->p++; continue; }
            if (ig__st_expect(J, '}', "expected ',' or '}'")) return -1;
            break;
        }
    }
    if (!have_dtype) return ig__fail("%s: tensor '%s': missing \"dtype\"", J->path, t->name);
    if (!have_shape) return ig__fail("%s: tensor '%s': missing \"shape\"", J->path, t->name);
    if (!have_off) return ig__fail("%s: tensor '%s': missing \"data_offsets\"", J->path, t->name);
    return 0;
}

static int ig__st_metadata(ig__st_json *J, ig_st_file *st)
{
    int cap = 0;
    ig__st_ws(J);
    if (J->p < J->end && *J->p == 'n') return ig__st_literal(J, "null"); /* = no metadata */
    if (J->p >= J->end || *J->p != '{')
        return ig__fail("%s: \"__metadata__\" is not a JSON object", J->path);
    J->p++;
    ig__st_ws(J);
    if (J->p < J->end && *J->p == '}') { J->p++; return 0; }
    for (;;) {
        char *key = NULL, *val = NULL;
        int i;
        if (ig__st_string(J, &key)) return -1;
        if (ig__st_expect(J, ':', "expected ':'")) { IG_FREE(key); return -1; }
        ig__st_ws(J);
        if (J->p >= J->end || *J->p != '"') {
            ig__fail("%s: \"__metadata__\" value for key '%s' is not a string", J->path, key);
            IG_FREE(key);
            return -1;
        }
        if (ig__st_string(J, &val)) { IG_FREE(key); return -1; }
        for (i = 0; i < st->nmeta; i++)
            if (strcmp(st->meta_keys[i], key) == 0) {
                ig__fail("%s: duplicate \"__metadata__\" key '%s'", J->path, key);
                IG_FREE(key); IG_FREE(val);
                return -1;
            }
        if (st->nmeta == cap) {
            int ncap = cap ? cap * 2 : 8;
            char **nk = (char **)IG_MALLOC(sizeof(char *) * (size_t)ncap);
            char **nv = (char **)IG_MALLOC(sizeof(char *) * (size_t)ncap);
            if (!nk || !nv) {
                IG_FREE(nk); IG_FREE(nv); IG_FREE(key); IG_FREE(val);
                return ig__fail("%s: out of memory parsing header", J->path);
            }
            if (st->nmeta) {
                memcpy(nk, st->meta_keys, sizeof(char *) * (size_t)st->nmeta);
                memcpy(nv, st->meta_vals, sizeof(char *) * (size_t)st->nmeta);
            }
            IG_FREE(st->meta_keys); IG_FREE(st->meta_vals);
            st->meta_keys = nk; st->meta_vals = nv;
            cap = ncap;
        }
        st->meta_keys[st->nmeta] = key;
        st->meta_vals[st->nmeta] = val;
        st->nmeta++;
        ig__st_ws(J);
        if (J->p < J->end && *J->p == ',') { J->p++; continue; }
        return ig__st_expect(J, '}', "expected ',' or '}'");
    }
}

typedef struct { uint64_t begin, end; int idx; } ig__st_span;

static int ig__st_cmp_span(const void *a, const void *b)
{
    const ig__st_span *x = (const ig__st_span *)a, *y = (const ig__st_span *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int ig__st_cmp_name(const void *a, const void *b)
{
    const ig_st_tensor *x = *(const ig_st_tensor *const *)a;
    const ig_st_tensor *y = *(const ig_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

/* Parse the header JSON; offs receives data_offsets per tensor (grown alongside). */
static int ig__st_parse_header(ig_st_file *st, const char *hdr, size_t n, uint64_t **offs_out)
{
    ig__st_json J;
    int cap = 0, have_meta = 0;
    uint64_t *offs = NULL;
    J.base = J.p = hdr;
    J.end = hdr + n;
    J.path = st->path;
    *offs_out = NULL;
    ig__st_ws(&J);
    if (J.p >= J.end || *J.p != '{')
        return ig__st_jerr(&J, "header is not a JSON object");
    J.p++;
    ig__st_ws(&J);
    if (J.p < J.end && *J.p == '}') {
        J.p++;
    } else {
        for (;;) {
            char *key = NULL;
            if (ig__st_string(&J, &key)) goto fail;
            if (ig__st_expect(&J, ':', "expected ':'")) { IG_FREE(key); goto fail; }
            if (strcmp(key, "__metadata__") == 0) {
                IG_FREE(key);
                if (have_meta) { ig__fail("%s: duplicate \"__metadata__\"", st->path); goto fail; }
                have_meta = 1;
                if (ig__st_metadata(&J, st)) goto fail;
            } else {
                ig_st_tensor *t;
                if (st->ntensors == cap) {
                    int ncap = cap ? cap * 2 : 16;
                    ig_st_tensor *nt = (ig_st_tensor *)IG_MALLOC(sizeof(ig_st_tensor) * (size_t)ncap);
                    uint64_t *no = (uint64_t *)IG_MALLOC(sizeof(uint64_t) * 2 * (size_t)ncap);
                    if (!nt || !no) {
                        IG_FREE(nt); IG_FREE(no); IG_FREE(key);
                        ig__fail("%s: out of memory parsing header", st->path);
                        goto fail;
                    }
                    if (st->ntensors) {
                        memcpy(nt, st->tensors, sizeof(ig_st_tensor) * (size_t)st->ntensors);
                        memcpy(no, offs, sizeof(uint64_t) * 2 * (size_t)st->ntensors);
                    }
                    IG_FREE(st->tensors); IG_FREE(offs);
                    st->tensors = nt; offs = no;
                    cap = ncap;
                }
                t = &st->tensors[st->ntensors++];
                memset(t, 0, sizeof *t);
                t->name = key; /* owned by st from here on */
                if (ig__st_tensor_entry(&J, t, offs + 2 * (st->ntensors - 1))) goto fail;
            }
            ig__st_ws(&J);
            if (J.p < J.end && *J.p == ',') { J.p++; continue; }
            if (ig__st_expect(&J, '}', "expected ',' or '}'")) goto fail;
            break;
        }
    }
    ig__st_ws(&J);
    if (J.p != J.end) { ig__st_jerr(&J, "unexpected data after the JSON object"); goto fail; }
    *offs_out = offs;
    return 0;
fail:
    IG_FREE(offs);
    return -1;
}

IGDEF void ig_st_close(ig_st_file *st)
{
    int i;
    if (!st) return;
    if (st->f) fclose(st->f);
    for (i = 0; i < st->ntensors; i++) IG_FREE(st->tensors[i].name);
    IG_FREE(st->tensors);
    for (i = 0; i < st->nmeta; i++) { IG_FREE(st->meta_keys[i]); IG_FREE(st->meta_vals[i]); }
    IG_FREE(st->meta_keys);
    IG_FREE(st->meta_vals);
    memset(st, 0, sizeof *st);
}

/* Validate offsets/sizes of all tensors, names unique, no overlaps. */
static int ig__st_validate(ig_st_file *st, const uint64_t *offs)
{
    int i, n = st->ntensors, nspan = 0, rc = 0;
    ig__st_span *spans;
    const ig_st_tensor **byname;
    for (i = 0; i < n; i++) {
        ig_st_tensor *t = &st->tensors[i];
        uint64_t b = offs[2 * i], e = offs[2 * i + 1], numel = 1, nbytes;
        int d, zero = 0;
        if (b > e)
            return ig__fail("%s: tensor '%s': data_offsets [%llu, %llu] have begin > end",
                            st->path, t->name, (unsigned long long)b, (unsigned long long)e);
        if (e > (uint64_t)st->data_size)
            return ig__fail("%s: tensor '%s': data_offsets [%llu, %llu] outside the data section (%llu bytes)",
                            st->path, t->name, (unsigned long long)b, (unsigned long long)e,
                            (unsigned long long)st->data_size);
        for (d = 0; d < t->ndim; d++) if (t->shape[d] == 0) zero = 1;
        if (zero) {
            numel = 0;
        } else {
            for (d = 0; d < t->ndim; d++) {
                uint64_t s = (uint64_t)t->shape[d];
                if (numel > UINT64_MAX / s)
                    return ig__fail("%s: tensor '%s': shape element count overflows", st->path, t->name);
                numel *= s;
            }
        }
        if (numel > UINT64_MAX / (uint64_t)t->dtype_size)
            return ig__fail("%s: tensor '%s': shape byte size overflows", st->path, t->name);
        nbytes = numel * (uint64_t)t->dtype_size;
        if (nbytes != e - b)
            return ig__fail("%s: tensor '%s': shape and dtype %s need %llu bytes but data_offsets [%llu, %llu] span %llu",
                            st->path, t->name, t->dtype_name, (unsigned long long)nbytes,
                            (unsigned long long)b, (unsigned long long)e, (unsigned long long)(e - b));
        t->begin = (size_t)b;
        t->end = (size_t)e;
    }
    if (n < 2) return 0;
    spans = (ig__st_span *)IG_MALLOC(sizeof(ig__st_span) * (size_t)n);
    byname = (const ig_st_tensor **)IG_MALLOC(sizeof(ig_st_tensor *) * (size_t)n);
    if (!spans || !byname) {
        IG_FREE(spans); IG_FREE((void *)byname);
        return ig__fail("%s: out of memory validating header", st->path);
    }
    for (i = 0; i < n; i++) {
        byname[i] = &st->tensors[i];
        if (st->tensors[i].end > st->tensors[i].begin) {
            spans[nspan].begin = st->tensors[i].begin;
            spans[nspan].end = st->tensors[i].end;
            spans[nspan].idx = i;
            nspan++;
        }
    }
    qsort((void *)byname, (size_t)n, sizeof(byname[0]), ig__st_cmp_name);
    for (i = 1; i < n && rc == 0; i++)
        if (strcmp(byname[i - 1]->name, byname[i]->name) == 0)
            rc = ig__fail("%s: duplicate tensor name '%s'", st->path, byname[i]->name);
    if (rc == 0 && nspan > 1) {
        qsort(spans, (size_t)nspan, sizeof(spans[0]), ig__st_cmp_span);
        for (i = 1; i < nspan && rc == 0; i++)
            if (spans[i].begin < spans[i - 1].end)
                rc = ig__fail("%s: tensors '%s' and '%s' overlap in the data section",
                              st->path, st->tensors[spans[i - 1].idx].name,
                              st->tensors[spans[i].idx].name);
    }
    IG_FREE(spans);
    IG_FREE((void *)byname);
    return rc;
}

IGDEF int ig_st_open(ig_st_file *st, const char *path)
{
    unsigned char lenbuf[8];
    uint64_t fsize = 0, hlen = 0, *offs = NULL;
    char *hdr = NULL;
    int i;
    if (!st) return ig__fail("ig_st_open: NULL ig_st_file");
    memset(st, 0, sizeof *st);
    if (!path) return ig__fail("ig_st_open: NULL path");
    if (strlen(path) >= sizeof st->path) return ig__fail("%s: path too long", path);
    strcpy(st->path, path);
    st->f = fopen(path, "rb");
    if (!st->f) {
        ig__fail("%s: cannot open for reading: %s", path, strerror(errno));
        goto fail;
    }
    if (ig__st_file_size(st->f, &fsize) != 0) {
        ig__fail("%s: cannot determine file size (seek failed)", path);
        goto fail;
    }
    if (fsize < 8) {
        ig__fail("%s: file is too short (%llu bytes) to be a safetensors file",
                 path, (unsigned long long)fsize);
        goto fail;
    }
    if (ig__st_seek(st->f, 0) != 0 || ig__st_fread_all(st->f, lenbuf, 8) != 0) {
        ig__fail("%s: read error on header length", path);
        goto fail;
    }
    for (i = 7; i >= 0; i--) hlen = (hlen << 8) | lenbuf[i];
    if (hlen > IG_ST_MAX_HEADER) {
        ig__fail("%s: header length %llu is absurd (limit %u bytes); not a safetensors file?",
                 path, (unsigned long long)hlen, (unsigned)IG_ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > fsize - 8) {
        ig__fail("%s: header length %llu exceeds the file size (%llu bytes); truncated file?",
                 path, (unsigned long long)hlen, (unsigned long long)fsize);
        goto fail;
    }
    if (fsize - 8 - hlen > (uint64_t)SIZE_MAX) {
        ig__fail("%s: file too large for this platform", path);
        goto fail;
    }
    st->data_start = (size_t)(8 + hlen);
    st->data_size = (size_t)(fsize - 8 - hlen);
    hdr = (char *)IG_MALLOC((size_t)hlen + 1);
    if (!hdr) {
        ig__fail("%s: out of memory reading %llu-byte header", path, (unsigned long long)hlen);
        goto fail;
    }
    if (ig__st_fread_all(st->f, hdr, (size_t)hlen) != 0) {
        ig__fail("%s: read error in header", path);
        goto fail;
    }
    hdr[hlen] = 0;
    if (ig__st_parse_header(st, hdr, (size_t)hlen, &offs) != 0) goto fail;
    if (ig__st_validate(st, offs) != 0) goto fail;
    IG_FREE(offs);
    IG_FREE(hdr);
    return 0;
fail:
    IG_FREE(offs);
    IG_FREE(hdr);
    ig_st_close(st);
    return -1;
}

IGDEF const ig_st_tensor *ig_st_find(const ig_st_file *st, const char *name)
{
    int i;
    if (!st || !name) return NULL;
    for (i = 0; i < st->ntensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

IGDEF const char *ig_st_meta(const ig_st_file *st, const char *key)
{
    int i;
    if (!st || !key) return NULL;
    for (i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_vals[i];
    return NULL;
}

IGDEF size_t ig_st_numel(const ig_st_tensor *t)
{
    size_t n = 1;
    int d;
    for (d = 0; d < t->ndim; d++) if (t->shape[d] == 0) return 0;
    for (d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d]; /* no overflow: validated on open */
    return n;
}

/* Common checks + seek to the tensor's data. */
static int ig__st_begin_read(ig_st_file *st, const ig_st_tensor *t, size_t n, const char *fn)
{
    size_t numel;
    if (!st || !st->f || !t) return ig__fail("%s: file not open or NULL tensor", fn);
    if (t->end < t->begin || t->end > st->data_size)
        return ig__fail("%s: tensor '%s': invalid tensor for this file", st->path, t->name);
    numel = ig_st_numel(t);
    if (n != numel)
        return ig__fail("%s: tensor '%s': %s called with n=%llu but tensor has %llu elements",
                        st->path, t->name, fn, (unsigned long long)n, (unsigned long long)numel);
    if (ig__st_seek(st->f, (uint64_t)st->data_start + (uint64_t)t->begin) != 0)
        return ig__fail("%s: tensor '%s': seek failed", st->path, t->name);
    return 0;
}

IGDEF int ig_st_read_raw(ig_st_file *st, const ig_st_tensor *t, void *dst, size_t nbytes)
{
    if (!st || !st->f || !t) return ig__fail("ig_st_read_raw: file not open or NULL tensor");
    if (t->end < t->begin || t->end > st->data_size)
        return ig__fail("%s: tensor '%s': invalid tensor for this file", st->path, t->name);
    if (nbytes != t->end - t->begin)
        return ig__fail("%s: tensor '%s': ig_st_read_raw called with %llu bytes but tensor has %llu",
                        st->path, t->name, (unsigned long long)nbytes,
                        (unsigned long long)(t->end - t->begin));
    if (ig__st_seek(st->f, (uint64_t)st->data_start + (uint64_t)t->begin) != 0)
        return ig__fail("%s: tensor '%s': seek failed", st->path, t->name);
    if (ig__st_fread_all(st->f, dst, nbytes) != 0)
        return ig__fail("%s: tensor '%s': read error (file truncated or changed?)", st->path, t->name);
    return 0;
}

IGDEF int ig_st_read_f32(ig_st_file *st, const ig_st_tensor *t, float *dst, size_t n)
{
    if (t && st && t->dtype != IG_F32 && t->dtype != IG_F16 && t->dtype != IG_BF16)
        return ig__fail("%s: tensor '%s': dtype %s cannot be read as float (need F32, F16 or BF16)",
                        st->path, t->name, t->dtype_name);
    if (ig__st_begin_read(st, t, n, "ig_st_read_f32") != 0) return -1;
    if (t->dtype == IG_F32) {
        if (ig__st_fread_all(st->f, dst, n * 4) != 0) goto ioerr;
        if (!ig__st_little_endian()) ig__st_bswap(dst, n * 4, 4);
    } else {
        unsigned char buf[4096];
        size_t done = 0;
        while (done < n) {
            size_t k = n - done, i;
            if (k > sizeof buf / 2) k = sizeof buf / 2;
            if (fread(buf, 2, k, st->f) != k) goto ioerr;
            for (i = 0; i < k; i++) {
                uint16_t h = (uint16_t)(buf[2 * i] | (buf[2 * i + 1] << 8));
                dst[done + i] = t->dtype == IG_F16 ? ig_f16_to_f32(h) : ig_bf16_to_f32(h);
            }
            done += k;
        }
    }
    return 0;
ioerr:
    return ig__fail("%s: tensor '%s': read error (file truncated or changed?)", st->path, t->name);
}

IGDEF int ig_st_read_i64(ig_st_file *st, const ig_st_tensor *t, int64_t *dst, size_t n)
{
    if (t && st && t->dtype != IG_I64 && t->dtype != IG_I32)
        return ig__fail("%s: tensor '%s': dtype %s cannot be read as int64 (need I64 or I32)",
                        st->path, t->name, t->dtype_name);
    if (ig__st_begin_read(st, t, n, "ig_st_read_i64") != 0) return -1;
    if (t->dtype == IG_I64) {
        if (ig__st_fread_all(st->f, dst, n * 8) != 0) goto ioerr;
        if (!ig__st_little_endian()) ig__st_bswap(dst, n * 8, 8);
    } else {
        unsigned char buf[4096];
        size_t done = 0;
        while (done < n) {
            size_t k = n - done, i;
            if (k > sizeof buf / 4) k = sizeof buf / 4;
            if (fread(buf, 4, k, st->f) != k) goto ioerr;
            for (i = 0; i < k; i++) {
                uint32_t u = (uint32_t)buf[4 * i] | ((uint32_t)buf[4 * i + 1] << 8) |
                             ((uint32_t)buf[4 * i + 2] << 16) | ((uint32_t)buf[4 * i + 3] << 24);
                int32_t v;
                memcpy(&v, &u, 4); /* two's complement reinterpretation */
                dst[done + i] = (int64_t)v;
            }
            done += k;
        }
    }
    return 0;
ioerr:
    return ig__fail("%s: tensor '%s': read error (file truncated or changed?)", st->path, t->name);
}

/* -------------------------------------------------------------- writer --- */

IGDEF void ig_st_writer_init(ig_st_writer *w)
{
    memset(w, 0, sizeof *w);
}

IGDEF void ig_st_writer_free(ig_st_writer *w)
{
    int i;
    if (!w) return;
    for (i = 0; i < w->n; i++) IG_FREE(w->entries[i].name);
    IG_FREE(w->entries);
    for (i = 0; i < w->nmeta; i++) { IG_FREE(w->meta_keys[i]); IG_FREE(w->meta_vals[i]); }
    IG_FREE(w->meta_keys);
    IG_FREE(w->meta_vals);
    memset(w, 0, sizeof *w);
}

IGDEF int ig_st_add(ig_st_writer *w, const char *name, ig_dtype dtype, int ndim,
                    const int64_t *shape, const void *data)
{
    ig_st_wentry *e;
    uint64_t numel = 1, nb;
    int d, i, zero = 0, esize = ig__st_dtype_size(dtype);
    if (!w) return ig__fail("ig_st_add: NULL writer");
    if (!name) { w->failed = 1; return ig__fail("ig_st_add: NULL tensor name"); }
    if (!esize) {
        w->failed = 1;
        return ig__fail("ig_st_add: tensor '%s': unsupported dtype %d for writing", name, (int)dtype);
    }
    if (ndim < 0 || ndim > IG_ST_MAX_DIMS || (ndim > 0 && !shape)) {
        w->failed = 1;
        return ig__fail("ig_st_add: tensor '%s': invalid ndim %d", name, ndim);
    }
    if (!ig__st_utf8_valid(name) || strcmp(name, "__metadata__") == 0) {
        w->failed = 1;
        return ig__fail("ig_st_add: tensor '%s': invalid name (not UTF-8 or reserved)", name);
    }
    for (d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            w->failed = 1;
            return ig__fail("ig_st_add: tensor '%s': negative dimension %lld", name, (long long)shape[d]);
        }
        if (shape[d] == 0) zero = 1;
    }
    if (zero) numel = 0;
    else
        for (d = 0; d < ndim; d++) {
            if (numel > UINT64_MAX / (uint64_t)shape[d]) { numel = UINT64_MAX; break; }
            numel *= (uint64_t)shape[d];
        }
    if (numel > (uint64_t)SIZE_MAX / (uint64_t)esize) {
        w->failed = 1;
        return ig__fail("ig_st_add: tensor '%s': size overflows", name);
    }
    nb = numel * (uint64_t)esize;
    if (nb > 0 && !data) {
        w->failed = 1;
        return ig__fail("ig_st_add: tensor '%s': NULL data", name);
    }
    for (i = 0; i < w->n; i++)
        if (strcmp(w->entries[i].name, name) == 0) {
            w->failed = 1;
            return ig__fail("ig_st_add: duplicate tensor name '%s'", name);
        }
    if (w->n == w->cap) {
        int ncap = w->cap ? w->cap * 2 : 16;
        ig_st_wentry *ne = (ig_st_wentry *)IG_MALLOC(sizeof(ig_st_wentry) * (size_t)ncap);
        if (!ne) { w->failed = 1; return ig__fail("ig_st_add: out of memory"); }
        if (w->n) memcpy(ne, w->entries, sizeof(ig_st_wentry) * (size_t)w->n);
        IG_FREE(w->entries);
        w->entries = ne;
        w->cap = ncap;
    }
    e = &w->entries[w->n];
    memset(e, 0, sizeof *e);
    e->name = ig__st_strdup(name);
    if (!e->name) { w->failed = 1; return ig__fail("ig_st_add: out of memory"); }
    e->dtype = dtype;
    e->ndim = ndim;
    for (d = 0; d < ndim; d++) e->shape[d] = shape[d];
    e->data = data;
    e->nbytes = (size_t)nb;
    w->n++;
    return 0;
}

IGDEF int ig_st_add_meta(ig_st_writer *w, const char *key, const char *val)
{
    int i;
    char *k, *v;
    if (!w) return ig__fail("ig_st_add_meta: NULL writer");
    if (!key || !val) { w->failed = 1; return ig__fail("ig_st_add_meta: NULL key or value"); }
    if (!ig__st_utf8_valid(key) || !ig__st_utf8_valid(val)) {
        w->failed = 1;
        return ig__fail("ig_st_add_meta: key '%s': key or value is not valid UTF-8", key);
    }
    for (i = 0; i < w->nmeta; i++)
        if (strcmp(w->meta_keys[i], key) == 0) {
            w->failed = 1;
            return ig__fail("ig_st_add_meta: duplicate metadata key '%s'", key);
        }
    if (w->nmeta == w->meta_cap) {
        int ncap = w->meta_cap ? w->meta_cap * 2 : 8;
        char **nk = (char **)IG_MALLOC(sizeof(char *) * (size_t)ncap);
        char **nv = (char **)IG_MALLOC(sizeof(char *) * (size_t)ncap);
        if (!nk || !nv) {
            IG_FREE(nk); IG_FREE(nv);
            w->failed = 1;
            return ig__fail("ig_st_add_meta: out of memory");
        }
        if (w->nmeta) {
            memcpy(nk, w->meta_keys, sizeof(char *) * (size_t)w->nmeta);
            memcpy(nv, w->meta_vals, sizeof(char *) * (size_t)w->nmeta);
        }
        IG_FREE(w->meta_keys); IG_FREE(w->meta_vals);
        w->meta_keys = nk; w->meta_vals = nv;
        w->meta_cap = ncap;
    }
    k = ig__st_strdup(key);
    v = ig__st_strdup(val);
    if (!k || !v) {
        IG_FREE(k); IG_FREE(v);
        w->failed = 1;
        return ig__fail("ig_st_add_meta: out of memory");
    }
    w->meta_keys[w->nmeta] = k;
    w->meta_vals[w->nmeta] = v;
    w->nmeta++;
    return 0;
}

/* Growable string buffer for the header. */
typedef struct { char *p; size_t n, cap; int oom; } ig__st_sb;

static void ig__st_sb_put(ig__st_sb *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        char *np;
        while (ncap < b->n + n + 1) ncap *= 2;
        np = (char *)IG_MALLOC(ncap);
        if (!np) { b->oom = 1; return; }
        if (b->n) memcpy(np, b->p, b->n);
        IG_FREE(b->p);
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void ig__st_sb_str(ig__st_sb *b, const char *s) { ig__st_sb_put(b, s, strlen(s)); }

static void ig__st_sb_u64(ig__st_sb *b, uint64_t v)
{
    char tmp[24];
    int i = 23;
    tmp[i] = 0;
    do { tmp[--i] = (char)('0' + (int)(v % 10)); v /= 10; } while (v);
    ig__st_sb_str(b, tmp + i);
}

static void ig__st_sb_json_str(ig__st_sb *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    ig__st_sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"') ig__st_sb_put(b, "\\\"", 2);
        else if (c == '\\') ig__st_sb_put(b, "\\\\", 2);
        else if (c == '\n') ig__st_sb_put(b, "\\n", 2);
        else if (c == '\r') ig__st_sb_put(b, "\\r", 2);
        else if (c == '\t') ig__st_sb_put(b, "\\t", 2);
        else if (c < 0x20) {
            char u[6];
            u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
            u[4] = hex[c >> 4]; u[5] = hex[c & 15];
            ig__st_sb_put(b, u, 6);
        } else ig__st_sb_put(b, s, 1);
    }
    ig__st_sb_put(b, "\"", 1);
}

/* Write little-endian data (byte-swapping a copy on big-endian hosts). */
static int ig__st_write_le(FILE *f, const void *data, size_t nbytes, int esize)
{
    unsigned char buf[4096];
    const unsigned char *p = (const unsigned char *)data;
    if (ig__st_little_endian()) return ig__st_fwrite_all(f, data, nbytes);
    while (nbytes > 0) {
        size_t k = nbytes > sizeof buf ? sizeof buf : nbytes;
        memcpy(buf, p, k);
        ig__st_bswap(buf, k, esize);
        if (fwrite(buf, 1, k, f) != k) return -1;
        p += k;
        nbytes -= k;
    }
    return 0;
}

IGDEF int ig_st_writer_save(ig_st_writer *w, const char *path)
{
    ig__st_sb b;
    uint64_t off = 0, hlen;
    unsigned char lenbuf[8];
    char *tmp = NULL;
    FILE *f = NULL;
    int i, d, rc = -1;
    memset(&b, 0, sizeof b);
    if (!w || !path) return ig__fail("ig_st_writer_save: NULL writer or path");
    if (w->failed)
        return ig__fail("%s: not saved: an earlier ig_st_add/ig_st_add_meta call failed", path);
    /* header JSON */
    ig__st_sb_put(&b, "{", 1);
    if (w->nmeta) {
        ig__st_sb_str(&b, "\"__metadata__\":{");
        for (i = 0; i < w->nmeta; i++) {
            if (i) ig__st_sb_put(&b, ",", 1);
            ig__st_sb_json_str(&b, w->meta_keys[i]);
            ig__st_sb_put(&b, ":", 1);
            ig__st_sb_json_str(&b, w->meta_vals[i]);
        }
        ig__st_sb_put(&b, "}", 1);
    }
    for (i = 0; i < w->n; i++) {
        const ig_st_wentry *e = &w->entries[i];
        if (i || w->nmeta) ig__st_sb_put(&b, ",", 1);
        ig__st_sb_json_str(&b, e->name);
        ig__st_sb_str(&b, ":{\"dtype\":\"");
        ig__st_sb_str(&b, ig__st_dtype_str(e->dtype));
        ig__st_sb_str(&b, "\",\"shape\":[");
        for (d = 0; d < e->ndim; d++) {
            if (d) ig__st_sb_put(&b, ",", 1);
            ig__st_sb_u64(&b, (uint64_t)e->shape[d]);
        }
        ig__st_sb_str(&b, "],\"data_offsets\":[");
        ig__st_sb_u64(&b, off);
        ig__st_sb_put(&b, ",", 1);
        if ((uint64_t)e->nbytes > UINT64_MAX - off) {
            ig__fail("%s: total data size overflows", path);
            goto done;
        }
        off += (uint64_t)e->nbytes;
        ig__st_sb_u64(&b, off);
        ig__st_sb_str(&b, "]}");
    }
    ig__st_sb_put(&b, "}", 1);
    while (!b.oom && (b.n % 8) != 0) ig__st_sb_put(&b, " ", 1); /* 8 + N aligned */
    if (b.oom) { ig__fail("%s: out of memory building header", path); goto done; }
    if (b.n > IG_ST_MAX_HEADER) {
        ig__fail("%s: header would be %llu bytes (> limit); too many tensors?", path,
                 (unsigned long long)b.n);
        goto done;
    }
    hlen = (uint64_t)b.n;
    for (i = 0; i < 8; i++) lenbuf[i] = (unsigned char)(hlen >> (8 * i));
    /* write tmp file */
    tmp = (char *)IG_MALLOC(strlen(path) + 5);
    if (!tmp) { ig__fail("%s: out of memory", path); goto done; }
    strcpy(tmp, path);
    strcat(tmp, ".tmp");
    f = fopen(tmp, "wb");
    if (!f) {
        ig__fail("%s: cannot create temporary file '%s': %s", path, tmp, strerror(errno));
        IG_FREE(tmp);
        tmp = NULL; /* nothing to remove */
        goto done;
    }
    if (fwrite(lenbuf, 1, 8, f) != 8 || ig__st_fwrite_all(f, b.p, b.n) != 0) {
        ig__fail("%s: write error in '%s' (disk full?)", path, tmp);
        goto done;
    }
    for (i = 0; i < w->n; i++) {
        const ig_st_wentry *e = &w->entries[i];
        if (e->nbytes && ig__st_write_le(f, e->data, e->nbytes, ig__st_dtype_size(e->dtype)) != 0) {
            ig__fail("%s: write error in '%s' for tensor '%s' (disk full?)", path, tmp, e->name);
            goto done;
        }
    }
    if (fflush(f) != 0) {
        ig__fail("%s: flush error in '%s': %s", path, tmp, strerror(errno));
        goto done;
    }
#if IG__ST_POSIX
    if (fsync(fileno(f)) != 0) {
        ig__fail("%s: fsync error in '%s': %s", path, tmp, strerror(errno));
        goto done;
    }
#endif
    {
        int cr = fclose(f);
        f = NULL;
        if (cr != 0) {
            ig__fail("%s: close error in '%s': %s", path, tmp, strerror(errno));
            goto done;
        }
    }
#if defined(_WIN32)
    remove(path); /* Windows rename() does not replace; brief non-atomic window */
#endif
    if (rename(tmp, path) != 0) {
        ig__fail("%s: cannot rename '%s' over it: %s", path, tmp, strerror(errno));
        goto done;
    }
    IG_FREE(tmp);
    tmp = NULL;
    rc = 0;
done:
    if (f) fclose(f);
    if (tmp) { remove(tmp); IG_FREE(tmp); }
    IG_FREE(b.p);
    return rc;
}

static int ig__add_meta_int(ig_st_writer *w, const char *key, long long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    return ig_st_add_meta(w, key, buf);
}

static int ig__add_config_meta(ig_st_writer *w, const ig_config *g) {
    char buf[32];
    int rc = 0;
    rc |= ig_st_add_meta(w, "format", "ig.h-sit");
    rc |= ig__add_meta_int(w, "in_channels", g->in_channels);
    rc |= ig__add_meta_int(w, "image_height", g->image_height);
    rc |= ig__add_meta_int(w, "image_width", g->image_width);
    rc |= ig__add_meta_int(w, "patch_size", g->patch_size);
    rc |= ig__add_meta_int(w, "hidden_size", g->hidden_size);
    rc |= ig__add_meta_int(w, "depth", g->depth);
    rc |= ig__add_meta_int(w, "num_heads", g->num_heads);
    rc |= ig__add_meta_int(w, "num_classes", g->num_classes);
    rc |= ig__add_meta_int(w, "aux_depth", g->aux_depth);
    snprintf(buf, sizeof buf, "%.9g", (double)g->t_scale);
    rc |= ig_st_add_meta(w, "t_scale", buf);
    return rc ? -1 : 0;
}

static int ig__add_params(ig_st_writer *w, const ig_model *m, const float *base, const char *prefix, int trainable_only) {
    char name[96];
    int i, k;
    for (i = 0; i < m->nparams; i++) {
        const ig_param *pp = &m->params[i];
        int64_t shape[IG_MAX_DIMS];
        if (trainable_only && !pp->trainable) continue;
        for (k = 0; k < pp->t->ndim; k++) shape[k] = (int64_t)pp->t->shape[k];
        snprintf(name, sizeof name, "%s%s", prefix, pp->name);
        if (ig_st_add(w, name, IG_F32, pp->t->ndim, shape, base + pp->offset)) return -1;
    }
    return 0;
}

static int ig__save(const ig_model *m, const char *path, const float *weights, int training_state) {
    ig_st_writer w;
    int rc = 0;
    ig_st_writer_init(&w);
    rc |= ig__add_config_meta(&w, &m->cfg);
    rc |= ig__add_params(&w, m, weights, "", 0);
    if (training_state) {
        char buf[64];
        uint32_t spare_bits;
        if (!m->ema) { ig_st_writer_free(&w); return ig__fail("ig_save: %s: the model holds no training state", path); }
        rc |= ig__add_params(&w, m, m->ema, "ema.", 1);
        rc |= ig__add_params(&w, m, m->adam_m, "adam.m.", 1);
        rc |= ig__add_params(&w, m, m->adam_v, "adam.v.", 1);
        rc |= ig__add_meta_int(&w, "step", (long long)m->step);
        memcpy(&spare_bits, &m->rng.spare, 4);
        snprintf(buf, sizeof buf, "%llu %d %lu", (unsigned long long)m->rng.state, m->rng.has_spare,
                 (unsigned long)spare_bits);
        rc |= ig_st_add_meta(&w, "rng", buf);
    }
    if (!rc) rc = ig_st_writer_save(&w, path);
    ig_st_writer_free(&w);
    return rc ? -1 : 0;
}

IGDEF int ig_save(const ig_model *m, const char *path, int training_state) {
    return ig__save(m, path, m->weights, training_state);
}

IGDEF int ig_save_ema(const ig_model *m, const char *path) {
    if (!m->ema) return ig__fail("ig_save_ema: %s: the model holds no EMA (made with training = 0)", path);
    return ig__save(m, path, m->ema, 0);
}

/* Reads one tensor into dst, checking dtype and shape against the parameter. */
static int ig__load_tensor(ig_st_file *st, const ig_st_tensor *t, const ig_param *pp, float *dst) {
    int k, same = t->ndim == pp->t->ndim;
    for (k = 0; same && k < t->ndim; k++) same = (uint64_t)t->shape[k] == (uint64_t)pp->t->shape[k];
    if (!same) {
        char want[64], got[64];
        int o = 0, q = 0;
        for (k = 0; k < pp->t->ndim; k++) o += snprintf(want + o, sizeof want - (size_t)o, k ? ", %zu" : "%zu", pp->t->shape[k]);
        for (k = 0; k < t->ndim && q < 50; k++) q += snprintf(got + q, sizeof got - (size_t)q, k ? ", %lld" : "%lld", (long long)t->shape[k]);
        if (!t->ndim) got[0] = 0;
        return ig__fail("%s: tensor '%s' has shape [%s], the model expects [%s]", st->path, t->name, got, want);
    }
    if (t->dtype != IG_F32 && t->dtype != IG_F16 && t->dtype != IG_BF16)
        return ig__fail("%s: tensor '%s' has dtype %s; weights must be F32, F16 or BF16", st->path, t->name, t->dtype_name);
    if (ig_st_read_f32(st, t, dst, pp->t->n)) return -1;
    for (k = 0; (size_t)k < pp->t->n; k++)
        if (!isfinite(dst[k])) return ig__fail("%s: tensor '%s' holds a non-finite value at element %d", st->path, t->name, k);
    return 0;
}

IGDEF int ig_load(ig_model *m, const char *path, int strict) {
    ig_st_file st;
    float *w, *ema = NULL, *am = NULL, *av = NULL;
    int i, has_state = 0, rc = -1;
    const char *step_s, *rng_s;
    size_t bytes = m->nweights * sizeof(float);
    if (ig_st_open(&st, path)) return -1;
    /* load into fresh buffers first, so a bad file leaves the model untouched */
    w = (float *)IG_MALLOC(bytes * (m->ema ? 4 : 1));   /* weights (+ EMA and moments when training) */
    if (!w) { ig_st_close(&st); return ig__fail("%s: out of memory while loading", path); }
    memcpy(w, m->weights, bytes);
    if (m->ema) { ema = w + m->nweights; am = ema + m->nweights; av = am + m->nweights;
                  memcpy(ema, m->ema, bytes); memcpy(am, m->adam_m, bytes); memcpy(av, m->adam_v, bytes); }
    for (i = 0; i < m->nparams; i++) {
        const ig_param *pp = &m->params[i];
        const ig_st_tensor *t = ig_st_find(&st, pp->name);
        if (!t) { ig__fail("%s: missing tensor '%s'", path, pp->name); goto done; }
        if (ig__load_tensor(&st, t, pp, w + pp->offset)) goto done;
    }
    for (i = 0; i < st.ntensors; i++) {       /* every other tensor must be known */
        const char *name = st.tensors[i].name, *base = name;
        float *dst = NULL;
        ig_param *pp;
        if (!strncmp(name, "ema.", 4)) { base = name + 4; dst = ema; }
        else if (!strncmp(name, "adam.m.", 7)) { base = name + 7; dst = am; }
        else if (!strncmp(name, "adam.v.", 7)) { base = name + 7; dst = av; }
        else if (ig_model_find(m, name)) continue;       /* loaded above */
        pp = ig_model_find(m, base);
        if (!pp || base == name) {
            if (strict) { ig__fail("%s: unexpected tensor '%s' (not a parameter of this model)", path, name); goto done; }
            continue;
        }
        has_state = 1;
        if (!dst) continue;                               /* inference model: skip training state */
        if (ig__load_tensor(&st, &st.tensors[i], pp, dst + pp->offset)) goto done;
    }
    if (has_state && m->ema) {
        /* all three sets must be complete to resume */
        for (i = 0; i < m->nparams; i++) {
            char name[96];
            const char *pre[3] = { "ema.", "adam.m.", "adam.v." };
            int k;
            if (!m->params[i].trainable) continue;
            for (k = 0; k < 3; k++) {
                snprintf(name, sizeof name, "%s%s", pre[k], m->params[i].name);
                if (!ig_st_find(&st, name)) { ig__fail("%s: training state is incomplete: missing '%s'", path, name); goto done; }
            }
        }
    }
    memcpy(m->weights, w, bytes);
    if (has_state && m->ema) {
        memcpy(m->ema, ema, bytes); memcpy(m->adam_m, am, bytes); memcpy(m->adam_v, av, bytes);
        step_s = ig_st_meta(&st, "step");
        rng_s = ig_st_meta(&st, "rng");
        if (step_s) m->step = (int64_t)strtoll(step_s, NULL, 10);
        if (rng_s) {
            unsigned long long state = 0;
            unsigned long bits = 0;
            int spare = 0;
            if (sscanf(rng_s, "%llu %d %lu", &state, &spare, &bits) == 3) {
                uint32_t b32 = (uint32_t)bits;
                m->rng.state = (uint64_t)state;
                m->rng.has_spare = spare;
                memcpy(&m->rng.spare, &b32, 4);
            }
        }
    }
    rc = 0;
done:
    IG_FREE(w);
    ig_st_close(&st);
    return rc;
}

static int ig__meta_int(const ig_st_file *st, const char *key, int fallback) {
    const char *v = ig_st_meta(st, key);
    return v ? atoi(v) : fallback;
}

IGDEF int ig_config_from_file(ig_config *cfg, const char *path, int heads, int aux_depth) {
    ig_st_file st;
    const ig_st_tensor *xw, *pe, *yt;
    char name[64];
    int depth = 0, T, D;
    const char *ts;
    memset(cfg, 0, sizeof *cfg);
    if (ig_st_open(&st, path)) return -1;
    xw = ig_st_find(&st, "x_embedder.proj.weight");
    pe = ig_st_find(&st, "pos_embed");
    yt = ig_st_find(&st, "y_embedder.embedding_table.weight");
    if (!xw || xw->ndim != 4 || !pe || pe->ndim != 3 || !yt || yt->ndim != 2) {
        ig_st_close(&st);
        return ig__fail("%s: not a SiT checkpoint (needs x_embedder.proj.weight (D,C,p,p), pos_embed (1,T,D), "
                        "y_embedder.embedding_table.weight)", path);
    }
    for (;;) {
        snprintf(name, sizeof name, "blocks.%d.attn.qkv.weight", depth);
        if (!ig_st_find(&st, name)) break;
        depth++;
    }
    D = (int)xw->shape[0];
    T = (int)pe->shape[1];
    cfg->hidden_size = D;
    cfg->in_channels = (int)xw->shape[1];
    cfg->patch_size = (int)xw->shape[2];
    cfg->depth = depth;
    cfg->num_classes = (int)yt->shape[0] - 1;
    cfg->image_height = ig__meta_int(&st, "image_height", 0);
    cfg->image_width = ig__meta_int(&st, "image_width", 0);
    if (!cfg->image_height || !cfg->image_width) {   /* square grid of T tokens */
        int side = (int)(sqrt((double)T) + 0.5);
        if (side * side != T) { ig_st_close(&st); return ig__fail("%s: %d tokens are not a square grid; the metadata must give image_height and image_width", path, T); }
        cfg->image_height = cfg->image_width = side * cfg->patch_size;
    }
    cfg->num_heads = heads > 0 ? heads : ig__meta_int(&st, "num_heads", 0);
    cfg->aux_depth = aux_depth > 0 ? aux_depth : ig__meta_int(&st, "aux_depth", 0);
    ts = ig_st_meta(&st, "t_scale");
    cfg->t_scale = ts ? (float)atof(ts) : 1.0f;
    if (!cfg->num_heads) cfg->num_heads = D == 384 ? 6 : D == 768 ? 12 : (D == 1024 || D == 1152) ? 16 : 0;
    if (!cfg->aux_depth) cfg->aux_depth = (D == 1024 || D == 1152) ? 8 : (D == 384 || D == 768) ? 4 : 0;
    ig_st_close(&st);
    if (!cfg->num_heads || !cfg->aux_depth)
        return ig__fail("%s: the head count and the intermediate head's depth are not in the file; give them (--heads, --aux-depth)", path);
    if ((size_t)T != (size_t)(cfg->image_height / cfg->patch_size) * (size_t)(cfg->image_width / cfg->patch_size))
        return ig__fail("%s: pos_embed has %d tokens but the image is %dx%d with patch %d", path, T,
                        cfg->image_height, cfg->image_width, cfg->patch_size);
    if (ig_config_check(cfg)) {
        char why[sizeof ig__errbuf];
        memcpy(why, ig__errbuf, sizeof why);
        return ig__fail("%s: %s", path, why);
    }
    return 0;
}

#endif /* IG_IMPLEMENTATION_DONE */
#endif /* IG_IMPLEMENTATION */
