/* ig.h - Internal Guidance for Diffusion Transformers, in one C header.  v0.1

   What this is
   ------------
   A readable implementation of Internal Guidance (IG; Zhou et al., "Guiding a Diffusion Transformer
   with the Internal Dynamics of Itself", CVPR 2026): a Diffusion Transformer (SiT/DiT, adaLN-Zero)
   with one extra output head after an early block k (the "aux" head), trained with flow matching on
   both heads, and sampled by extrapolating away from the aux head's (weaker) velocity:

       v = v_aux + w * (v_final - v_aux)          (w = 1: plain model)

   The one-file rule
   -----------------
   Include ig.h wherever you need it.  In EXACTLY ONE .c file, define IG_IMPLEMENTATION first:

       #define IG_IMPLEMENTATION
       #include "ig.h"

   Table of contents (the implementation reads in the order the algorithm runs)
   -----------------
     1. errors, arenas            where every byte comes from
     2. random numbers            ig_rng (splitmix64, seeded, same on every platform)
     3. tensors and the tape      ig_tensor, ig_ctx, ig_backward (reverse-mode autograd)
     4. ops, forward + backward   matmul (plain), linear, add, mul, modulate, gated add, layernorm,
                                  silu, gelu, attention, patchify, gather, chunk, mse, sum
     5. the model                 config (SiT or LightningDiT), parameters, forward with two heads
     6. training                  flow-matching batch and loss, AdamW, clipping, EMA
     7. sampling                  Euler / Heun / Euler-Maruyama, IG, CFG, autoguidance;
                                  the exact size of the scratch arena
     Appendix A. fast kernels    the matrix multiply (packing, register tiles, threads; optional),
                                  attention per (sample, head) on transposes
     Appendix B. checkpoints      safetensors read / write, names as in the released PyTorch
                                  state dict; ig_save, ig_load, ig_config_from_file
     Appendix C. the other ops    LightningDiT's rmsnorm, swiglu, 2D rope, cosine loss;
                                  a classifier's cross-entropy and reshape

   Compile-time options (define before including)
   --------------------
     IG_STATIC          make every function static to this file
     IG_MALLOC, IG_FREE your own allocator (define both or neither)
     IG_NO_FAST_GEMM    leave out Appendix A: the plain triple-loop matmul (slow, easy to read)
     IG_MAX_THREADS     threads the matmul keeps packing buffers for (default 8)
     OpenMP             compile with -fopenmp to run on all cores; without it the IG__OMP(...)
                        pragmas vanish.  Results are bit-identical for any thread count.
                        On a busy machine run with OMP_WAIT_POLICY=passive.
     -fno-math-errno    lets AdamW's sqrtf vectorize (the Makefile adds it; the same results)

   Conventions
   -----------
     - Row-major float32.  Shapes are written (B,T,D): batch, tokens, width.
     - Time t in [0,1]: t = 1 is pure noise, t = 0 is data.
       Linear path x_t = (1 - t) x0 + t eps, velocity target v* = eps - x0.
     - Every element count and offset is a size_t.
     - Functions that can fail return NULL or -1 (ig_last_error() says why); bad input never aborts.
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

/* === 1. errors and arenas ================================================ */

IGDEF const char *ig_last_error(void);   /* this thread's last failure message ("" if none) */

/* An arena is one big block handed out front to back and freed all at once.  ig.h uses two: a
   persistent one for parameters, gradients and optimizer state, and a scratch one for activations
   and the tape, reset every step.  Counting mode answers "how large must the scratch arena be?": a
   counting arena gives memory only to headers (tensor structs, the tape) and hands every data
   buffer a pointer nothing reads, while 'used' and 'peak' move exactly as in a real run.
   ig_model_scratch_bytes (section 7.1) runs a real training step on one: each op takes its memory
   as usual and returns before computing (section 4), so the counted peak is exact, to the byte. */
typedef struct ig_arena {
    unsigned char *base; /* the block, aligned to 64 bytes     */
    void *block;         /* what IG_MALLOC returned            */
    size_t cap;          /* bytes in the block                 */
    size_t used;         /* bytes handed out since the reset   */
    size_t peak;         /* largest 'used' ever seen           */
    const char *name;    /* for error messages: "scratch", ... */
    int counting;        /* counting mode: data buffers get no memory (above) */
    size_t header_used;  /* counting: bytes of the block given to headers     */
} ig_arena;

IGDEF int   ig_arena_init(ig_arena *a, const char *name, size_t bytes);
IGDEF void  ig_arena_free(ig_arena *a);
IGDEF void *ig_arena_alloc(ig_arena *a, size_t bytes); /* 64-byte aligned; NULL when full */
IGDEF void  ig_arena_reset(ig_arena *a);

/* === 2. random numbers =================================================== */

/* ig_rng: splitmix64, one 64-bit state, the same numbers on every platform.  All noise in training
   and sampling is drawn here, on one thread: results do not depend on the thread count. */
typedef struct ig_rng { uint64_t state; int has_spare; float spare; } ig_rng;

IGDEF void     ig_rng_seed(ig_rng *r, uint64_t seed);
IGDEF uint64_t ig_rng_u64(ig_rng *r);
IGDEF float    ig_rng_uniform(ig_rng *r);          /* in (0, 1) */
IGDEF float    ig_rng_normal(ig_rng *r);           /* N(0, 1)   */
IGDEF void     ig_rng_normal_fill(ig_rng *r, float *x, size_t n);

/* === 3. tensors and the autograd tape ==================================== */

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

/* The context every op runs in: the scratch arena and the tape (a list of ig_node, private to the
   implementation, section 3).  With training == 0 nothing is recorded and no gradient buffer is
   made; activations' gradients exist only in ig_backward, recycled via a free list. */
#define IG_POOL_SLOTS 64
typedef struct ig_ctx {
    ig_arena *scratch;
    struct ig_node *tape;
    size_t ntape, cap_tape;
    int training;
    int failed;                  /* an op failed: later ops return NULL      */
    struct { float *buf; size_t n; } pool[IG_POOL_SLOTS]; /* free gradient buffers, n floats */
    int npool;
} ig_ctx;

/* tape_capacity nodes are taken from the scratch arena on every reset. */
IGDEF int  ig_ctx_init(ig_ctx *ctx, ig_arena *scratch, size_t tape_capacity);
IGDEF int  ig_ctx_reset(ig_ctx *ctx, int training);   /* resets the arena too */

/* A tensor of ndim sizes in an arena, data not initialized; with_grad adds a
   zeroed gradient buffer.  new4 takes the sizes as arguments. */
IGDEF ig_tensor *ig_tensor_new(ig_arena *a, int ndim, const size_t *shape, int with_grad);
IGDEF ig_tensor *ig_tensor_new4(ig_arena *a, size_t d0, size_t d1, size_t d2, size_t d3, int ndim,
                                int with_grad);
/* A tensor header that points at memory you own (no copy). */
IGDEF ig_tensor *ig_tensor_wrap(ig_arena *a, float *data, float *grad, int ndim,
                                const size_t *shape);

/* Runs the tape backwards from a scalar loss (its grad is seeded with 1). */
IGDEF int ig_backward(ig_ctx *ctx, ig_tensor *loss);

/* === 4. ops ============================================================== */
/* Each returns a new tensor in the scratch arena or NULL; NULL in, NULL out: a chain fails once. */

/* y (...,N) = x (...,K) W^T + b.  W is (N,K) like torch.nn.Linear; b (N) may be NULL. */
IGDEF ig_tensor *ig_linear(ig_ctx *ctx, ig_tensor *x, ig_tensor *w, ig_tensor *b);
/* y = a + b, y = a * b (elementwise); b's shape equals a's, or is a's trailing dims (broadcast). */
IGDEF ig_tensor *ig_add(ig_ctx *ctx, ig_tensor *a, ig_tensor *b);
IGDEF ig_tensor *ig_mul(ig_ctx *ctx, ig_tensor *a, ig_tensor *b);
IGDEF ig_tensor *ig_scale(ig_ctx *ctx, ig_tensor *a, float s);    /* y = s * a, s a constant */
/* adaLN modulate: y (B,T,D) = x * (1 + scale) + shift, shift/scale (B,D). */
IGDEF ig_tensor *ig_modulate(ig_ctx *ctx, ig_tensor *x, ig_tensor *shift, ig_tensor *scale);
/* gated residual: y (B,T,D) = x + gate * h, gate (B,D). */
IGDEF ig_tensor *ig_gated_add(ig_ctx *ctx, ig_tensor *x, ig_tensor *gate, ig_tensor *h);
IGDEF ig_tensor *ig_layernorm(ig_ctx *ctx,
                              ig_tensor *x); /* over the last dim of (...,D), no affine, eps 1e-6 */
IGDEF ig_tensor *ig_silu(ig_ctx *ctx, ig_tensor *x);      /* y = x sigmoid(x), any shape */
IGDEF ig_tensor *ig_gelu(ig_ctx *ctx, ig_tensor *x);      /* GELU, tanh approximation, any shape */
/* multi-head self-attention: qkv (B,T,3D) laid out [q | k | v] -> (B,T,D). */
IGDEF ig_tensor *ig_attention(ig_ctx *ctx, ig_tensor *qkv, size_t heads);
/* (B,C,H,W) -> (B,T,C*p*p), T = (H/p)(W/p), patch vector ordered (c, p_row, p_col). */
IGDEF ig_tensor *ig_patchify(ig_ctx *ctx, ig_tensor *x, size_t p);
/* (B,T,p*p*C) ordered (p_row, p_col, c) -> (B,C,H,W). */
IGDEF ig_tensor *ig_unpatchify(ig_ctx *ctx, ig_tensor *x, size_t p, size_t C, size_t H, size_t W);
/* y (B,D) = table[idx[b]], table (V,D). Rows out of range fail. */
IGDEF ig_tensor *ig_gather(ig_ctx *ctx, ig_tensor *table, const int *idx, size_t B);
/* the i-th of n equal chunks along the last dim: (...,n*K) -> (...,K). */
IGDEF ig_tensor *ig_chunk(ig_ctx *ctx, ig_tensor *x, size_t n, size_t i);
/* mean((a - b)^2) over all elements -> scalar (1); b gets a gradient too when it needs one. */
IGDEF ig_tensor *ig_mse(ig_ctx *ctx, ig_tensor *a, ig_tensor *b);
IGDEF ig_tensor *ig_sum(ig_ctx *ctx, ig_tensor *x);       /* sum of all elements -> scalar (1) */
IGDEF ig_tensor *ig_mean(ig_ctx *ctx, ig_tensor *x);      /* mean of all elements -> scalar (1) */

/* Appendix C: the LightningDiT variant's ops (IG_ARCH_LIGHTNING), then a classifier's. */
/* RMSNorm with a learned gain: y (...,D) = x * rsqrt(mean(x^2) + 1e-6) * w, w (D). */
IGDEF ig_tensor *ig_rmsnorm(ig_ctx *ctx, ig_tensor *x, ig_tensor *w);
IGDEF ig_tensor *ig_swiglu(ig_ctx *ctx,
                           ig_tensor *u);    /* u (...,2H) = [u1 | u2] -> SiLU(u1) * u2 (...,H) */
/* 2D RoPE on the q and k thirds of qkv (B,T,3D), every head alike; v is copied.
   cos, sin (T,hd) hold the rotation of each (token, head dim), hd = D / heads. */
IGDEF ig_tensor *ig_rope(ig_ctx *ctx, ig_tensor *qkv, size_t heads, ig_tensor *cos, ig_tensor *sin);
/* mean over positions (b,h,w) of 1 - cos(a[b,:,h,w], b[b,:,h,w]), a, b (B,C,H,W) -> scalar (1). */
IGDEF ig_tensor *ig_cos_loss(ig_ctx *ctx, ig_tensor *a, ig_tensor *b);
/* Cross-entropy of logits z (B,K) and labels (B) in 0..K-1 (checked), batch mean -> scalar (1). */
IGDEF ig_tensor *ig_cross_entropy(ig_ctx *ctx, ig_tensor *z, const int *labels);
/* The same values (a copy) in another shape of the same element count: (B,T,D) -> (B,T*D). */
IGDEF ig_tensor *ig_reshape(ig_ctx *ctx, ig_tensor *x, int ndim, const size_t *shape);

/* The matrix multiply every op uses, public for code outside the tape (e.g. a
   convolution as im2col + matmul): C (M,N) = beta C + op(A) (M,K) op(B) (K,N),
   row-major, BLAS semantics (section 4.0); beta = 0 never reads C.  Not reentrant:
   one caller at a time (it uses all OpenMP threads itself). */
IGDEF void ig_matmul(int trans_a, int trans_b, size_t M, size_t N, size_t K, const float *A,
                     size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);

/* === 5. the model: a SiT/DiT with a second, early output head (aux) ====== */

/* The architecture variants of the one model.
   IG_ARCH_SIT (0, the default): SiT/DiT: LayerNorm, GELU MLP, fixed sin-cos positions.
   IG_ARCH_LIGHTNING: LightningDiT, the system of the paper's best numbers (LightningDiT-XL/1 + IG):
     RMSNorm with a learned gain wherever SiT has a LayerNorm, a SwiGLU MLP, 2D RoPE on q and k, and
     pos_embed as stored (the sin-cos table at init, never trained or recomputed).  Its network runs
     in its own time, t_ldit = 1 - t (t_ldit = 0 is noise), and predicts v_ldit = -v (data minus
     noise).  ig_forward runs that bare network; ig_train_step_on and ig_guided_velocity convert, so
     everything else sees the SiT convention. */
enum { IG_ARCH_SIT = 0, IG_ARCH_LIGHTNING = 1 };

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
    int aux_depth;          /* k: the aux head reads x after block k, 1 <= k < L (counted from 1) */
    float t_scale;          /* t fed to the time embedding is t * t_scale (1 in SiT) */
    int arch;               /* IG_ARCH_SIT (0) or IG_ARCH_LIGHTNING               */
} ig_config;

/* Presets "S/2", "B/4", "L/8", "XL/2", ...: depth, width and heads of the paper's
   models, patch from the suffix, and the aux head after block 8 for every size, as
   the release trains them (and ig_config_from_file's default for a file without
   metadata); set cfg->aux_depth after the call for another block (the paper's SiT-B/2
   ablation found block 4 best).  Returns -1 on an unknown name. */
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
    /* IG_ARCH_LIGHTNING: these instead of fc1/fc2 (H = floor(8D/3)), and the RMSNorm gains */
    ig_tensor *w12_w, *w12_b;      /* mlp.w12             (2H,D) (2H) */
    ig_tensor *w3_w, *w3_b;        /* mlp.w3              (D,H)  (D)  */
    ig_tensor *norm1_w, *norm2_w;  /* norm1, norm2        (D)         */
} ig_block_params;

typedef struct ig_head_params {
    ig_tensor *ada_w, *ada_b;      /* adaLN_modulation.1  (2D,D) (2D)     */
    ig_tensor *out_w, *out_b;      /* linear              (p*p*C,D) (p*p*C) */
    ig_tensor *norm_w;             /* norm_final (D), IG_ARCH_LIGHTNING only */
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
    ig_tensor *pos_embed;                      /* (1,T,D) fixed sin-cos (LightningDiT: as loaded) */
    ig_tensor *rope_cos, *rope_sin;            /* (T,hd) feat_rope.freqs_*, LightningDiT only */
    ig_tensor *x_proj_w, *x_proj_b;            /* (D,C,p,p) (D)              */
    ig_tensor *t_fc1_w, *t_fc1_b, *t_fc2_w, *t_fc2_b; /* (D,256) (D) (D,D) (D) */
    ig_tensor *label_table;                    /* (num_classes+1, D): y_embedder */
    ig_block_params *blocks;                   /* L of them                  */
    ig_head_params final_head;                 /* on disk: final_layer       */
    ig_head_params aux_head;                   /* on disk: final_layer_xr    */
    int64_t step;                  /* optimizer steps taken                  */
    ig_rng rng;                    /* training noise, t, label dropout       */
} ig_model;

/* Bytes of the persistent arena for a configuration (training adds
   gradients, two AdamW moments and the EMA: 5x the weights). */
IGDEF size_t ig_model_bytes(const ig_config *cfg, int training);
/* Bytes of scratch arena at this batch size, tape included, exactly (that code run on a counting
   arena, section 1): the peak of one ig_train_step (training != 0; aux_weight != 0; the cosine term
   as each release trains, on for LightningDiT, off for SiT: the other choice differs by under 1
   KiB) or of one ig_guided_velocity call with IG on (training == 0; with CFG pass 2 * batch).
   Depends on the OpenMP thread count at the time of the call.  0 for an invalid config. */
IGDEF size_t ig_model_scratch_bytes(const ig_config *cfg, size_t batch, int training);
IGDEF size_t ig_model_tape_nodes(const ig_config *cfg);  /* one training step's: for ig_ctx_init */

/* Builds the model and initializes it as released: xavier-uniform Linears, zero biases, N(0, 0.02)
   label table and time MLP, adaLN and the heads zero (LightningDiT: aux head weights xavier). */
IGDEF int  ig_model_init(ig_model *m, const ig_config *cfg, int training, uint64_t seed);
IGDEF void ig_model_free(ig_model *m);
IGDEF ig_param *ig_model_find(ig_model *m, const char *name);  /* by state-dict name; NULL: none */
IGDEF void ig_model_swap_ema(ig_model *m);   /* live <-> EMA weights (again to swap back) */

/* The bare network's forward pass.  x (B,C,H,W); t (B) in [0,1] in the network's own convention
   (SiT: t = 1 is noise; LightningDiT: t = 0 is noise, v points to data); labels (B),
   num_classes = null label.  *v gets the final head's velocity (B,C,H,W), *v_aux the aux head's
   (with v_aux NULL that head is not computed).  A training ctx records the tape.  A non-finite x, a
   t outside [0, 1] (or NaN) or a label outside 0..num_classes fails (-1) before anything runs. */
IGDEF int ig_forward(ig_model *m, ig_ctx *ctx, ig_tensor *x, const float *t, const int *labels,
                     ig_tensor **v, ig_tensor **v_aux);

/* === 6. training ========================================================= */

enum { IG_PATH_LINEAR = 0, IG_PATH_COSINE = 1 };
enum { IG_T_UNIFORM = 0, IG_T_LOGNORMAL = 1 };

/* Read at every step: change lr or ema_decay between steps for a schedule. */
typedef struct ig_train_config {
    float lr, beta1, beta2, eps, weight_decay;  /* AdamW                       */
    float grad_clip;        /* clip the global gradient norm (<= 0: off)       */
    float ema_decay;        /* EMA of the weights after every step             */
    float aux_weight;       /* the paper's lambda: loss = mse(final) + aux_weight mse(aux) */
    float cos_weight;       /* + cos_weight mean(1 - cos(v, v*)) over channels at each
                               position: the LightningDiT release's extra term (1 there); 0 = off */
    float label_dropout;    /* probability a label becomes the null label      */
    int path;               /* IG_PATH_LINEAR or IG_PATH_COSINE                */
    int t_sampling;         /* IG_T_UNIFORM or IG_T_LOGNORMAL                  */
} ig_train_config;

/* The released defaults: lr 1e-4, betas (0.9, 0.999), eps 1e-8, no weight
   decay, clip 1.0, EMA 0.9999, aux_weight 0.5, no cosine term, label dropout 0.1,
   linear, uniform.  (The LightningDiT release: lr 2e-4, beta2 0.95, cos_weight 1.) */
IGDEF ig_train_config ig_train_defaults(void);

typedef struct ig_train_stats {
    float loss;             /* the total loss that was minimized               */
    float loss_final;       /* mse of the final head                           */
    float loss_aux;         /* mse of the aux head (0 if aux_weight = 0)       */
    float loss_cos;         /* mean(1 - cos) of the final head (0 if cos_weight = 0) */
    float grad_norm;        /* global gradient norm before clipping            */
} ig_train_stats;

/* The flow-matching batch of clean data x0 (B,C,H,W), labels (B) in 0..num_classes-1: t (B), labels
   after dropout (B), x_t and the target (B,C,H,W), drawn from rng in a fixed order (section 6). */
IGDEF int ig_flow_batch(ig_rng *rng, const ig_config *cfg, const ig_train_config *tc, size_t B,
                        const float *x0, const int *labels, float *xt, float *t, float *target,
                        int *train_labels);
/* One flow-matching step: ig_flow_batch with m->rng, then ig_train_step_on. */
IGDEF int ig_train_step(ig_model *m, ig_ctx *ctx, const ig_train_config *tc,
                        const float *x0, const int *labels, size_t B, ig_train_stats *stats);
/* The same step on a given batch: x_t, t, labels (after any dropout) and the velocity target
   (B,C,H,W), in the SiT convention for either architecture: zero the gradients, forward, loss,
   backward, clip, AdamW, EMA, step += 1.  Both return -1 and change nothing (weights, moments, EMA,
   step, m->rng) when the batch, the loss or the gradient is non-finite or the update would make any
   weight, moment or EMA value non-finite (e.g. a huge lr). */
IGDEF int ig_train_step_on(ig_model *m, ig_ctx *ctx, const ig_train_config *tc,
                           const float *xt, const float *t, const int *labels,
                           const float *target, size_t B, ig_train_stats *stats);

/* === 7. sampling ========================================================= */

/* A velocity field: v = f(x, t) for a whole batch of n floats.  The samplers only ever see this
   function: they work alike for the model, guided or not, and for an exact, known field. */
typedef int (*ig_velocity_fn)(void *user, const float *x, size_t n, float t, float *v);
#define IG_VELOCITY_FN_DEFINED 1

IGDEF void ig_grid_uniform(float *grid, size_t nsteps);  /* nsteps + 1 times, 1 (noise) down to 0 */
/* LightningDiT's timestep-shifted grid, in the SiT convention (t = 1 - the release's t_ldit):
   grid[i] = 1 - s u / (1 + (s - 1) u),  u = i / nsteps  (s < 1: denser near noise). */
IGDEF void ig_grid_shifted(float *grid, size_t nsteps, float shift);
/* Euler: x += (t' - t) v(x, t), one evaluation per step.  grid: nsteps + 1 times from 1 to 0. */
IGDEF int ig_sample_euler(ig_velocity_fn f, void *user, float *x, size_t n, const float *grid,
                          size_t nsteps);
/* Heun: an Euler step, then average the slopes at both ends; the step that
   lands on t = 0 stays plain Euler.  Two evaluations per step. */
IGDEF int ig_sample_heun(ig_velocity_fn f, void *user, float *x, size_t n, const float *grid,
                         size_t nsteps);
/* Heun on every interval, the last (to t = 0) included: torchdiffeq's fixed-grid
   "heun2", the LightningDiT release's solver.  2 * nsteps evaluations. */
IGDEF int ig_sample_heun2(ig_velocity_fn f, void *user, float *x, size_t n, const float *grid,
                          size_t nsteps);
/* Euler-Maruyama SDE on the grid linspace(1, 0.04, nsteps) then 0, the last step
   without noise (the released IG sampler); nsteps evaluations.  path: the one the
   model was trained on, through which the score comes from the velocity. */
IGDEF int ig_sample_sde(ig_velocity_fn f, void *user, float *x, size_t n, size_t nsteps, int path,
                        ig_rng *rng);

/* How the model's velocity is guided; each method acts only for t in its interval [low, high]. */
typedef struct ig_guidance {
    float ig_weight, ig_low, ig_high;       /* IG: v_aux + w (v_final - v_aux); w = 1 off     */
    float cfg_scale, cfg_low, cfg_high;     /* CFG: v_u + s (v_c - v_u); s = 1 off           */
    struct ig_model *guide;                 /* autoguidance: a weaker model (NULL off)       */
    float guide_weight;                     /* v_guide + w (v - v_guide)                     */
} ig_guidance;

IGDEF ig_guidance ig_guidance_none(void);   /* every method off: w = s = 1, no guide */

/* The paper's LightningDiT-XL/1 + IG sampler, the release's config (FID 1.19 with
   CFG, 1.34 without): ig_sample_heun2 on ig_grid_shifted with IG_LIGHTNING_STEPS
   intervals and shift IG_LIGHTNING_SHIFT; with CFG: IG 1.4 at every t on both halves,
   CFG 1.45 only for t <= 0.81 (the release's t_ldit >= 0.19); without: IG 1.7 at every t. */
#define IG_LIGHTNING_STEPS 124
#define IG_LIGHTNING_SHIFT 0.3f
IGDEF ig_guidance ig_guidance_lightning(int with_cfg);

/* The guided model as an ig_velocity_fn: pass ig_guided_velocity as f and a pointer to this as
   'user'.  With CFG the batch is doubled, so size ctx's scratch for 2 * batch rows. */
typedef struct ig_guided {
    ig_model *model;
    ig_ctx *ctx;            /* scratch for the forward passes (no tape)        */
    ig_ctx *guide_ctx;      /* scratch for the guide model (may equal ctx)     */
    const int *labels;      /* (B) class labels                                */
    size_t batch;           /* B                                               */
    ig_guidance guidance;
    size_t nfe;             /* network evaluations so far, in batches of B     */
} ig_guided;

IGDEF int ig_guided_velocity(void *guided, const float *x, size_t n, float t, float *v);

#endif /* IG_H */

/* ========================================================================= */
/*                            IMPLEMENTATION                                 */
/* ========================================================================= */
#ifdef IG_IMPLEMENTATION
#if !defined(IG_IMPLEMENTATION_DONE) && !defined(IG_IMPLEMENTATION_PART1)
#define IG_IMPLEMENTATION_PART1

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <stdlib.h>

#if defined(IG_MALLOC) != defined(IG_FREE)
#error "ig.h: define both IG_MALLOC and IG_FREE, or neither"
#elif !defined(IG_MALLOC)
#define IG_MALLOC(sz) malloc(sz)
#define IG_FREE(p) free(p)
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

/* === 1. errors and arenas ================================================ */

/* The message of the last failure, one per thread where the compiler has thread-local storage (C11,
   C++11, GCC and Clang in any mode): threads that fail at once (two saves, say) each read their
   own.  Plain C99 has none; there the threads share it. */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define IG__THREAD_LOCAL thread_local
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define IG__THREAD_LOCAL _Thread_local
#elif defined(__GNUC__)
#define IG__THREAD_LOCAL __thread
#else
#define IG__THREAD_LOCAL
#endif
static IG__THREAD_LOCAL char ig__errbuf[1024];

IGDEF const char *ig_last_error(void) { return ig__errbuf; }

/* Formats the message into the error buffer and returns -1 ('return ig__fail(...)'). */
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
    a->block = IG_MALLOC(bytes + 64);
    if (!a->block) return ig__fail("ig: could not allocate %zu bytes for the '%s' arena", bytes,
                                   name);
    /* start on a 64-byte boundary: the padding of every allocation then depends
       only on 'used', so a counting pass predicts the peak to the byte */
    a->base = (unsigned char *)a->block + ((64 - ((uintptr_t)a->block & 63)) & 63);
    a->cap = bytes;
    return 0;
}

IGDEF void ig_arena_free(ig_arena *a) {
    if (a->block) IG_FREE(a->block);
    a->block = NULL; a->base = NULL; a->cap = a->used = a->header_used = 0;
}

/* Every allocation is aligned to 64 bytes (a cache line, an AVX-512 vector):
   the next 'bytes' after the first 64-byte boundary at or past *used in a block of
   cap bytes, or NULL (and *used unchanged) when they do not fit. */
static unsigned char *ig__bump(unsigned char *base, size_t cap, size_t *used, size_t bytes) {
    size_t pad = (64 - (*used & 63)) & 63;
    unsigned char *p;
    if (!base || bytes > cap || *used + pad > cap - bytes) return NULL;
    p = base + *used + pad;
    *used += pad + bytes;
    return p;
}

/* Counting mode (the ig_arena declaration): 'used' moves as in a real arena, but
   only headers get memory, from the block; data buffers get a pointer nothing reads. */
static void *ig__arena_take(ig_arena *a, size_t bytes, int is_data) {
    unsigned char *p;
    if (a->counting) {
        a->used += ((64 - (a->used & 63)) & 63) + bytes;
        if (a->used > a->peak) a->peak = a->used;
        if (is_data) return a->base;
        if (!(p = ig__bump(a->base, a->cap, &a->header_used, bytes)))
            ig__fail("ig: the counting arena's header block (%zu bytes) is too small", a->cap);
        return p;
    }
    if (!(p = ig__bump(a->base, a->cap, &a->used, bytes))) {
        ig__fail("ig: the '%s' arena is out of memory: this allocation needs %zu bytes, "
                 "%zu of %zu are used (%zu free). Make the arena larger (ig_model_scratch_bytes() "
                 "tells the size a batch needs) or use a smaller batch.",
                 a->name ? a->name : "?", bytes, a->used, a->cap, a->cap - a->used);
        return NULL;
    }
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

IGDEF void *ig_arena_alloc(ig_arena *a, size_t bytes) { return ig__arena_take(a, bytes, 0); }

/* n floats of data: activations, gradients, what a backward keeps.  An n whose
   bytes overflow a size_t asks for SIZE_MAX bytes, more than any arena has. */
static float *ig__arena_floats(ig_arena *a, size_t n) {
    return (float *)ig__arena_take(a, n > SIZE_MAX / sizeof(float) ? SIZE_MAX : n * sizeof(float),
                                   1);
}

IGDEF void ig_arena_reset(ig_arena *a) { a->used = 0; a->header_used = 0; }

/* === 2. random numbers =================================================== */

IGDEF void ig_rng_seed(ig_rng *r,
                       uint64_t seed) { r->state = seed; r->has_spare = 0; r->spare = 0; }

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

/* === 3. tensors and the autograd tape ==================================== */
/* How the tape works.  During a training forward, every op appends one node to ctx->tape: its
   backward function, its output and its inputs.  The tape is therefore already in execution order
   (a Wengert list), and ig_backward just walks it from the end to the start: no graph search, no
   recursion.  Every backward ADDS into its inputs' .grad (+=): a tensor used twice gets both. */
typedef struct ig_node ig_node;
typedef void (*ig_backward_fn)(ig_node *nd);
struct ig_node {                 /* one entry of the tape                    */
    ig_backward_fn backward;
    ig_ctx *ctx;
    ig_tensor *out;
    ig_tensor *in[3];
    float *saved;                /* what the forward kept, e.g. softmax probabilities */
    size_t arg[4];               /* op-specific integers                     */
    float farg;                  /* op-specific float                        */
};

IGDEF ig_tensor *ig_tensor_wrap(ig_arena *a, float *data, float *grad, int ndim,
                                const size_t *shape) {
    ig_tensor *t;
    size_t n = 1;
    int i;
    if (ndim < 1 ||
        ndim > IG_MAX_DIMS) { ig__fail("ig: a tensor has 1 to %d dims, not %d", IG_MAX_DIMS,
                                       ndim); return NULL; }
    for (i = 0; i < ndim; i++) {   /* the bytes of n floats must fit a size_t */
        if (shape[i] && n > SIZE_MAX / sizeof(float) / shape[i]) {
            ig__fail("ig: a tensor of %d dims is too large: its bytes overflow size_t at dim %d "
                     "(%zu)", ndim, i, shape[i]);
            return NULL;
        }
        n *= shape[i];
    }
    t = (ig_tensor *)ig_arena_alloc(a, sizeof(ig_tensor));
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->ndim = ndim; t->n = n;
    for (i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->data = data; t->grad = grad; t->requires_grad = grad != NULL;
    return t;
}

IGDEF ig_tensor *ig_tensor_new(ig_arena *a, int ndim, const size_t *shape, int with_grad) {
    ig_tensor *t = ig_tensor_wrap(a, NULL, NULL, ndim, shape);
    if (!t) return NULL;
    t->data = ig__arena_floats(a, t->n);
    if (!t->data) return NULL;
    if (with_grad) {
        t->grad = ig__arena_floats(a, t->n);
        if (!t->grad) return NULL;
        if (!a->counting) memset(t->grad, 0, t->n * sizeof(float));
        t->requires_grad = 1;
    }
    return t;
}

IGDEF ig_tensor *ig_tensor_new4(ig_arena *a, size_t d0, size_t d1, size_t d2, size_t d3, int ndim,
                                int with_grad) {
    size_t shape[4] = { d0, d1, d2, d3 };
    return ig_tensor_new(a, ndim, shape, with_grad);
}

IGDEF int ig_ctx_init(ig_ctx *ctx, ig_arena *scratch, size_t tape_capacity) {
    memset(ctx, 0, sizeof *ctx);
    if (tape_capacity > SIZE_MAX / sizeof(ig_node))   /* its bytes would wrap around */
        return ig__fail("ig_ctx_init: tape_capacity %zu is too large", tape_capacity);
    ctx->scratch = scratch; ctx->cap_tape = tape_capacity;
    return ig_ctx_reset(ctx, 0);
}

IGDEF int ig_ctx_reset(ig_ctx *ctx, int training) {
    ig_arena_reset(ctx->scratch);
    ctx->ntape = 0; ctx->npool = 0; ctx->failed = 0;
    ctx->training = training; ctx->tape = NULL;
    if (!training) return 0;
    ctx->tape = (ig_node *)ig_arena_alloc(ctx->scratch, ctx->cap_tape * sizeof(ig_node));
    return ctx->tape ? 0 : -1;
}

/* The output of an op: NULL if an input is NULL (an earlier op failed) or the
   arena is full.  It requires a gradient only when we are recording and some
   input requires one; its buffer is made later, in the backward pass. */
static ig_tensor *ig__out(ig_ctx *ctx, ig_tensor *a, ig_tensor *b, ig_tensor *d, int ndim,
                          const size_t *shape) {
    ig_tensor *y;
    if (ctx->failed || !a) { ctx->failed = 1; return NULL; }
    y = ig_tensor_new(ctx->scratch, ndim, shape, 0);
    if (!y) { ctx->failed = 1; return NULL; }
    y->requires_grad = ctx->training && (a->requires_grad || (b && b->requires_grad) ||
                                         (d && d->requires_grad));
    return y;
}

/* Appends a node to the tape; NULL (and ctx->failed) when the tape is full. */
static ig_node *ig__record(ig_ctx *ctx, ig_backward_fn fn, ig_tensor *y, ig_tensor *a, ig_tensor *b,
                           ig_tensor *d) {
    ig_node *nd;
    if (ctx->ntape >= ctx->cap_tape) {
        ig__fail("ig: the tape is full (%zu nodes); pass a larger tape_capacity to ig_ctx_init",
                 ctx->cap_tape);
        ctx->failed = 1;
        return NULL;
    }
    nd = &ctx->tape[ctx->ntape++];
    memset(nd, 0, sizeof *nd);
    nd->ctx = ctx; nd->backward = fn;
    nd->out = y; nd->in[0] = a; nd->in[1] = b; nd->in[2] = d;
    return nd;
}

/* n floats of scratch for an op (what its backward keeps, work buffers). */
static float *ig__scratch_floats(ig_ctx *ctx, size_t n) {
    float *p = ig__arena_floats(ctx->scratch, n);
    if (!p) ctx->failed = 1;
    return p;
}

/* The gradient buffer of t for a backward: NULL if t needs none; made
   (zeroed) on first use, from the pool if a free buffer of that size is there. */
static float *ig__grad(ig_ctx *ctx, ig_tensor *t) {
    int k;
    if (!t->requires_grad) return NULL;
    if (t->grad) return t->grad;
    for (k = 0; k < ctx->npool && !t->grad; k++)
        if (ctx->pool[k].n == t->n) {
            t->grad = ctx->pool[k].buf;
            ctx->pool[k] = ctx->pool[--ctx->npool];   /* the last free buffer fills the gap */
        }
    if (!t->grad) t->grad = ig__arena_floats(ctx->scratch, t->n);
    if (!t->grad) { ctx->failed = 1; return NULL; }
    t->grad_pooled = 1;
    if (!ctx->scratch->counting) memset(t->grad, 0, t->n * sizeof(float));
    return t->grad;
}

/* Every consumer of t has run its backward: its gradient buffer is free. */
static void ig__grad_release(ig_ctx *ctx, ig_tensor *t) {
    if (!t->grad_pooled || !t->grad) return;
    if (ctx->npool < IG_POOL_SLOTS) {
        ctx->pool[ctx->npool].buf = t->grad;
        ctx->pool[ctx->npool++].n = t->n;
    }
    t->grad = NULL; t->grad_pooled = 0;
}

/* While counting (ig_model_scratch_bytes) each node only takes the gradient
   buffers of its inputs, in the order its backward would: a backward gets
   memory only through ig__grad of its inputs in[0], in[1], in[2]. */
IGDEF int ig_backward(ig_ctx *ctx, ig_tensor *loss) {
    size_t i;
    int k, counting = ctx->scratch->counting;
    float *g;
    if (!loss || ctx->failed) return -1; /* the failing op has set the message */
    if (!ctx->training) return ig__fail("ig_backward: the context was not reset for training "
                                        "(ig_ctx_reset(ctx, 1))");
    if (loss->n != 1) return ig__fail("ig_backward: the loss must be a scalar, it has %zu elements",
                                      loss->n);
    if (!loss->requires_grad) return ig__fail("ig_backward: the loss does not depend on any "
                                              "tensor with a gradient");
    if (!(g = ig__grad(ctx, loss))) return -1;
    if (!counting) g[0] += 1.0f;
    for (i = ctx->ntape; i-- > 0;) {
        ig_node *nd = &ctx->tape[i];
        if (!nd->out->grad) continue;      /* nothing flowed back into this op */
        if (counting) {
            for (k = 0; k < 3; k++)
                if (nd->in[k]) ig__grad(ctx, nd->in[k]);
        } else {
            nd->backward(nd);
        }
        if (ctx->failed) return -1;          /* out of scratch for a gradient */
        ig__grad_release(ctx, nd->out);
    }
    return 0;
}

/* === 4. ops: each forward, then right below it, its backward ============= */
/* Every op: check the shapes; make the output and record the node (ig__op); take what the backward
   needs; compute.  On a counting arena (section 1) it stops before the compute, so its memory is
   counted by the code that takes it: an op without saved state begins
       if (!(y = ig__op(...)) || ig__counting(ctx)) return y;
   (NULL on an error, the bare output on a counting pass).  A backward reads
   dy and ADDS into its inputs' gradients (+=). */

/* silences -Wunused-function for a translation unit that does not call everything */
#if defined(__GNUC__)
#define IG__MAYBE_UNUSED __attribute__((unused))
#else
#define IG__MAYBE_UNUSED
#endif

static int ig__counting(const ig_ctx *ctx) { return ctx->scratch->counting; }

/* An op's shape error: the message, and ctx->failed so later ops return NULL. */
static ig_tensor *ig__op_fail(ig_ctx *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ig__errbuf, sizeof ig__errbuf, fmt, ap);
    va_end(ap);
    ctx->failed = 1;
    return NULL;
}

/* The backward of every op (Appendix C's too), each defined right below its
   forward (which records it on the tape, so C needs it declared first). */
static void ig__linear_backward(ig_node *), ig__add_backward(ig_node *),
    ig__mul_backward(ig_node *), ig__scale_backward(ig_node *), ig__modulate_backward(ig_node *),
    ig__gated_add_backward(ig_node *), ig__layernorm_backward(ig_node *),
    ig__silu_backward(ig_node *), ig__gelu_backward(ig_node *), ig__attention_backward(ig_node *),
    ig__patchify_backward(ig_node *), ig__unpatchify_backward(ig_node *),
    ig__gather_backward(ig_node *), ig__chunk_backward(ig_node *), ig__mse_backward(ig_node *),
    ig__sum_backward(ig_node *), ig__rmsnorm_backward(ig_node *), ig__swiglu_backward(ig_node *),
    ig__rope_backward(ig_node *), ig__cos_loss_backward(ig_node *),
    ig__cross_entropy_backward(ig_node *), ig__reshape_backward(ig_node *);

/* An op's output y (NULL shape: a's shape), and its node on the tape when y
   needs a gradient (*nd, else NULL).  NULL when it failed (ctx->failed). */
static ig_tensor *ig__op(ig_ctx *ctx, ig_backward_fn fn, ig_tensor *a, ig_tensor *b, ig_tensor *d,
                         int ndim, const size_t *shape, ig_node **nd) {
    ig_tensor *y;
    ig_node *node = NULL;
    if (!shape && a) { ndim = a->ndim; shape = a->shape; }
    if (!(y = ig__out(ctx, a, b, d, ndim, shape))) return NULL;
    if (y->requires_grad && !(node = ig__record(ctx, fn, y, a, b, d))) return NULL;
    if (nd) *nd = node;
    return y;
}

/* --- 4.0 matrix multiply --------------------------------------------------
   The one piece of linear algebra, row-major with BLAS semantics:
       C (M,N) = beta C + op(A) (M,K) op(B) (K,N)
       op(A)[i][k] = A[i*lda + k], or A[k*lda + i] with trans_a (B likewise)
   beta == 0 overwrites C without reading it (it may hold NaN).  Below is the definition, plain; the
   ops call ig__gemm, which is this loop when IG_NO_FAST_GEMM is defined and the packed, vectorized,
   threaded version of Appendix A otherwise (same results up to float rounding order). */
IG__MAYBE_UNUSED
static void ig__gemm_ref(int trans_a, int trans_b, size_t M, size_t N, size_t K, const float *A,
                         size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    size_t i, j, k;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            float s = 0.0f;
            for (k = 0; k < K; k++)
                s += (trans_a ? A[k * lda + i] : A[i * lda + k]) *
                     (trans_b ? B[j * ldb + k] : B[k * ldb + j]);
            C[i * ldc + j] = (beta == 0.0f) ? s : beta * C[i * ldc + j] + s;
        }
}

static void ig__gemm(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                     const float *A, size_t lda, const float *B, size_t ldb,
                     float beta, float *C, size_t ldc);   /* Appendix A */

IGDEF void ig_matmul(int trans_a, int trans_b, size_t M, size_t N, size_t K, const float *A,
                     size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    ig__gemm(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* --- 4.1 linear -----------------------------------------------------------
   y (M,N) = x (M,K) W^T + b      x (...,K) with every leading dim flattened
   into M rows, W (N,K) as torch.nn.Linear stores it, b (N) or NULL.
   Backward:  dx = dy W,  dW += dy^T x,  db += column sums of dy.            */
IGDEF ig_tensor *ig_linear(ig_ctx *ctx, ig_tensor *x, ig_tensor *w, ig_tensor *b) {
    size_t shape[IG_MAX_DIMS], N, K, M, m, n;
    ig_tensor *y;
    if (!x || !w || ctx->failed) { ctx->failed = 1; return NULL; }
    N = w->shape[0]; K = w->shape[1];
    if (w->ndim != 2 || x->shape[x->ndim - 1] != K || (b && b->n != N))
        return ig__op_fail(ctx, "ig_linear: x's last dim (%zu) must equal W's second dim (W is "
                                "%zu x %zu), bias %zu", x->shape[x->ndim - 1], N, K, b ? b->n : N);
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = N;
    if (!(y = ig__op(ctx, ig__linear_backward, x, w, b, x->ndim, shape, NULL)) ||
        ig__counting(ctx)) return y;
    M = x->n / K;
    ig__gemm(0, 1, M, N, K, x->data, K, w->data, K, 0.0f, y->data, N);
    if (b) {   /* O(MN) next to the product's O(MNK), but y no longer in cache: threads over rows */
        IG__OMP(omp parallel for schedule(static) private(n) if (M * N > 32768))
        for (m = 0; m < M; m++)
            for (n = 0; n < N; n++) y->data[m * N + n] += b->data[n];
    }
    return y;
}

#define IG__DB_COLS 64   /* db: columns per thread's task */
static void ig__linear_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    size_t N = w->shape[0], K = w->shape[1], M = x->n / K, m, n, n0;
    float *dx = ig__grad(nd->ctx, x), *dw = ig__grad(nd->ctx, w),
        *db = b ? ig__grad(nd->ctx, b) : NULL;
    /* dx (M,K) += dy (M,N) W (N,K) */
    if (dx) ig__gemm(0, 0, M, K, N, y->grad, N, w->data, K, 1.0f, dx, K);
    /* dW (N,K) += dy^T (N,M) x (M,K) */
    if (dw) ig__gemm(1, 0, N, K, M, y->grad, N, x->data, K, 1.0f, dw, K);
    /* db (N) += sum over rows of dy, the rows in order: threads split the
       columns, in blocks of IG__DB_COLS walked row by row (contiguous) */
    if (db) {
        IG__OMP(omp parallel for schedule(static) private(m, n) if (M * N > 32768))
        for (n0 = 0; n0 < N; n0 += IG__DB_COLS) {
            size_t n1 = n0 + IG__DB_COLS < N ? n0 + IG__DB_COLS : N;
            for (m = 0; m < M; m++)
                for (n = n0; n < n1; n++) db[n] += y->grad[m * N + n];
        }
    }
}

/* --- 4.2 add, mul, scale --------------------------------------------------
   y = a + b,  y = a * b (elementwise),  y = s a.   a is any shape; b has a's shape or a's trailing
   dims and is repeated over a's leading ones, so b's element of y[i] is b[i % b->n] (e.g. a (T,D)
   table added to x (B,T,D)).  Backward: da += dy (add) or dy * b (mul) or s dy (scale); a repeated
   b sums the contributions of all its repeats. */
static int ig__check_broadcast(ig_ctx *ctx, const char *op, ig_tensor *a, ig_tensor *b) {
    int i, off;
    if (!a || !b || ctx->failed) { ctx->failed = 1; return -1; }
    off = a->ndim - b->ndim;
    for (i = 0; i < b->ndim && off >= 0; i++)
        if (a->shape[off + i] != b->shape[i]) off = -1;
    if (off >= 0) return 0;
    ctx->failed = 1;
    return ig__fail("%s: b's shape must be a's trailing dims (a has %d dims and %zu elements, b "
                    "%d and %zu)", op, a->ndim, a->n, b->ndim, b->n);
}

IGDEF ig_tensor *ig_add(ig_ctx *ctx, ig_tensor *a, ig_tensor *b) {
    ig_tensor *y;
    size_t i, j, bn;
    if (ig__check_broadcast(ctx, "ig_add", a, b)) return NULL;
    if (!(y = ig__op(ctx, ig__add_backward, a, b, NULL, 0, NULL, NULL)) ||
        ig__counting(ctx)) return y;
    bn = b->n;   /* y[i bn + j] = a[i bn + j] + b[j]: threads over b's repeats */
    IG__OMP(omp parallel for schedule(static) private(j) if (y->n > 32768 && y->n > bn))
    for (i = 0; i < y->n / bn; i++)
        for (j = 0; j < bn; j++) y->data[i * bn + j] = a->data[i * bn + j] + b->data[j];
    return y;
}

static void ig__add_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *a = nd->in[0], *b = nd->in[1];
    float *da = ig__grad(nd->ctx, a), *db = ig__grad(nd->ctx, b);
    size_t i, j;
    if (da) for (i = 0; i < y->n; i++) da[i] += y->grad[i];
    if (db) for (i = 0; i < y->n; i += b->n) for (j = 0; j < b->n; j++) db[j] += y->grad[i + j];
}

IGDEF ig_tensor *ig_mul(ig_ctx *ctx, ig_tensor *a, ig_tensor *b) {
    ig_tensor *y;
    size_t i;
    if (ig__check_broadcast(ctx, "ig_mul", a, b)) return NULL;
    if (!(y = ig__op(ctx, ig__mul_backward, a, b, NULL, 0, NULL, NULL)) ||
        ig__counting(ctx)) return y;
    for (i = 0; i < y->n; i++) y->data[i] = a->data[i] * b->data[i % b->n];
    return y;
}

static void ig__mul_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *a = nd->in[0], *b = nd->in[1];
    float *da = ig__grad(nd->ctx, a), *db = ig__grad(nd->ctx, b);
    size_t i;
    if (da) for (i = 0; i < y->n; i++) da[i] += y->grad[i] * b->data[i % b->n];
    if (db) for (i = 0; i < y->n; i++) db[i % b->n] += y->grad[i] * a->data[i];
}

IGDEF ig_tensor *ig_scale(ig_ctx *ctx, ig_tensor *a, float s) {
    ig_tensor *y;
    ig_node *nd;
    size_t i;
    if (!(y = ig__op(ctx, ig__scale_backward, a, NULL, NULL, 0, NULL, &nd))) return NULL;
    if (nd) nd->farg = s;
    if (ig__counting(ctx)) return y;
    for (i = 0; i < y->n; i++) y->data[i] = s * a->data[i];
    return y;
}

static void ig__scale_backward(ig_node *nd) {
    float *da = ig__grad(nd->ctx, nd->in[0]);
    size_t i;
    if (da) for (i = 0; i < nd->out->n; i++) da[i] += nd->farg * nd->out->grad[i];
}

/* --- 4.3 adaLN: modulate and the gated residual ---------------------------
   The conditioning c (B,D) steers every block through per-sample vectors
   that a Linear made from SiLU(c):
     modulate:   y = x * (1 + scale) + shift        shift, scale (B,D)
     gated add:  y = x + gate * h                   gate (B,D)
   x, h, y are (B,T,D); a (B,D) vector is the same for all T tokens of its
   sample, so its gradient sums over the tokens:
     modulate:   dx = dy (1 + scale),  dshift = sum_T dy,  dscale = sum_T dy x
     gated add:  dx = dy,  dh = dy gate,  dgate = sum_T dy h
   adaLN-Zero starts every gate at 0, so each block starts as the identity. */
static int ig__check_bd(ig_ctx *ctx, const char *op, ig_tensor *x, ig_tensor *v) {
    if (!x || !v || ctx->failed) { ctx->failed = 1; return -1; }
    if (x->ndim == 3 && v->n == x->shape[0] * x->shape[2]) return 0;
    ctx->failed = 1;
    return ig__fail("%s: x must be (B,T,D) and the vector (B,D); got x with %d dims, vector with "
                    "%zu elements", op, x->ndim, v->n);
}

IGDEF ig_tensor *ig_modulate(ig_ctx *ctx, ig_tensor *x, ig_tensor *shift, ig_tensor *scale) {
    ig_tensor *y;
    size_t B, T, D, b, t, d;
    if (ig__check_bd(ctx, "ig_modulate", x, shift) ||
        ig__check_bd(ctx, "ig_modulate", x, scale)) return NULL;
    if (!(y = ig__op(ctx, ig__modulate_backward, x, shift, scale, 0, NULL, NULL)) ||
        ig__counting(ctx)) return y;
    B = x->shape[0]; T = x->shape[1]; D = x->shape[2];
    IG__OMP(omp parallel for schedule(static) private(t, d) if (x->n > 32768))
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++) {
            const float *xv = x->data + (b * T + t) * D, *sc = scale->data + b * D,
                *sh = shift->data + b * D;
            float *yv = y->data + (b * T + t) * D;
            for (d = 0; d < D; d++) yv[d] = xv[d] * (1.0f + sc[d]) + sh[d];
        }
    return y;
}

static void ig__modulate_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *x = nd->in[0], *shift = nd->in[1], *scale = nd->in[2];
    size_t B = x->shape[0], T = x->shape[1], D = x->shape[2], b, t, d;
    float *dx = ig__grad(nd->ctx, x), *dshift = ig__grad(nd->ctx, shift),
        *dscale = ig__grad(nd->ctx, scale);
    IG__OMP(omp parallel for schedule(static) private(t, d) if (x->n > 32768))
    for (b = 0; b < B; b++)   /* one thread per sample: its (B,D) rows are its own */
        for (t = 0; t < T; t++) {
            const float *dy = y->grad + (b * T + t) * D, *xv = x->data + (b * T + t) * D,
                *sc = scale->data + b * D;
            if (dx) for (d = 0; d < D; d++) dx[(b * T + t) * D + d] += dy[d] * (1.0f + sc[d]);
            if (dshift) for (d = 0; d < D; d++) dshift[b * D + d] += dy[d];
            if (dscale) for (d = 0; d < D; d++) dscale[b * D + d] += dy[d] * xv[d];
        }
}

IGDEF ig_tensor *ig_gated_add(ig_ctx *ctx, ig_tensor *x, ig_tensor *gate, ig_tensor *h) {
    ig_tensor *y;
    size_t B, T, D, b, t, d;
    if (ig__check_bd(ctx, "ig_gated_add", x, gate)) return NULL;
    if (!h || h->n != x->n) return ig__op_fail(ctx, "ig_gated_add: h must have x's shape");
    if (!(y = ig__op(ctx, ig__gated_add_backward, x, gate, h, 0, NULL, NULL)) ||
        ig__counting(ctx)) return y;
    B = x->shape[0]; T = x->shape[1]; D = x->shape[2];
    IG__OMP(omp parallel for schedule(static) private(t, d) if (x->n > 32768))
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++) {
            size_t o = (b * T + t) * D;
            const float *gt = gate->data + b * D;
            for (d = 0; d < D; d++) y->data[o + d] = x->data[o + d] + gt[d] * h->data[o + d];
        }
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
            const float *dy = y->grad + o, *gt = gate->data + b * D;
            if (dx) for (d = 0; d < D; d++) dx[o + d] += dy[d];
            if (dh) for (d = 0; d < D; d++) dh[o + d] += dy[d] * gt[d];
            if (dgate) for (d = 0; d < D; d++) dgate[b * D + d] += dy[d] * h->data[o + d];
        }
}

/* --- 4.4 LayerNorm without affine (eps 1e-6) ------------------------------
   x, y (...,D), normalized row by row (rows = every leading dim):
     mu = mean(x),  var = mean((x - mu)^2),  rstd = 1 / sqrt(var + 1e-6)
     y = (x - mu) rstd                     (mean and variance in double)
   Backward, with xhat = y:  dx = rstd (dy - mean(dy) - xhat mean(dy xhat)).  The forward keeps rstd
   (one float per row) for it.  The sums over a row are chains in d order, each add waiting for the
   one before; IG__LN_ROWS rows at a time run that many chains side by side, each in its own row's
   order (the same values as one row at a time). */
#define IG__LN_ROWS 8
static void ig__layernorm_group(const float *x, float *y, float *rstd_saved, size_t nr, size_t D) {
    double mus[IG__LN_ROWS], vars[IG__LN_ROWS];
    size_t r, d;
    for (r = 0; r < nr; r++) mus[r] = vars[r] = 0;
    for (d = 0; d < D; d++)
        for (r = 0; r < nr; r++) mus[r] += x[r * D + d];
    for (r = 0; r < nr; r++) mus[r] /= (double)D;
    for (d = 0; d < D; d++)
        for (r = 0; r < nr; r++) vars[r] += (x[r * D + d] - mus[r]) * (x[r * D + d] - mus[r]);
    for (r = 0; r < nr; r++) {
        const float *xv = x + r * D;
        float *yv = y + r * D, rstd;
        double mu = mus[r], var = vars[r] / (double)D;
        rstd = (float)(1.0 / sqrt(var + 1e-6));
        for (d = 0; d < D; d++) yv[d] = (float)(xv[d] - mu) * rstd;
        if (rstd_saved) rstd_saved[r] = rstd;
    }
}

IGDEF ig_tensor *ig_layernorm(ig_ctx *ctx, ig_tensor *x) {
    ig_tensor *y;
    size_t D, rows, r;
    float *rstd_saved = NULL;
    ig_node *nd;
    if (!(y = ig__op(ctx, ig__layernorm_backward, x, NULL, NULL, 0, NULL, &nd))) return NULL;
    D = x->shape[x->ndim - 1]; rows = x->n / D;
    if (nd && !(rstd_saved = nd->saved = ig__scratch_floats(ctx, rows))) return NULL;
    if (ig__counting(ctx)) return y;
    IG__OMP(omp parallel for schedule(static) if (x->n > 32768))
    for (r = 0; r < rows; r += IG__LN_ROWS) {
        float *rs = rstd_saved ? rstd_saved + r : NULL;
        if (r + IG__LN_ROWS <= rows)   /* nr constant: the sums stay in registers */
            ig__layernorm_group(x->data + r * D, y->data + r * D, rs, IG__LN_ROWS, D);
        else
            ig__layernorm_group(x->data + r * D, y->data + r * D, rs, rows - r, D);
    }
    return y;
}

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

/* --- 4.5 activations: SiLU and GELU ---------------------------------------
   exp and tanh are written out (ig__exp, ig__tanh) so the compiler can vectorize the loops that
   call them; libm's expf/tanhf are one call per element.  exp(x) = 2^k exp(r), k = round(x / ln 2),
   |r| <= ln(2)/2, with exp(r) by its Taylor series to r^7 (relative error below 1e-7 on that
   range); tanh(u) = 1 - 2 / (1 + exp(2u)).  Outside [-87.33, 88] the formula cannot build 2^k, so x
   is clamped first and the ends are fixed up with selects (no branches, still vectorizes):
     x < -87.33 (below log of the smallest normal float)  ->  0
     88 <= x <= 88.72                                      ->  exp(88)
     x > 88.72  (above log FLT_MAX), +inf                  ->  +inf
     NaN                                                   ->  NaN
   The clamp also maps NaN to 0 before k becomes an int: a NaN or infinite k
   cast to int is undefined behaviour, and so is shifting a negative value. */
static inline float ig__exp(float x) {   /* inline: small enough for the vectorizer */
    float xc, k, r, p, scale, y;
    uint32_t bits;
    xc = x < -87.33f ? -87.33f : (x > 88.0f ? 88.0f : x);
    xc = xc == xc ? xc : 0.0f;                               /* NaN -> 0 */
    k = (xc * 1.44269504f + 12582912.0f) - 12582912.0f;     /* round(x / ln 2): + 1.5 * 2^23 */
    r = (xc - k * 0.693359375f) + k * 2.12194440e-4f;       /* x - k ln 2, ln 2 in two parts */
    p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
        r * (1.0f / 720 + r * (1.0f / 5040)))))));
    bits = (uint32_t)((int32_t)k + 127) << 23;              /* 2^k's bits; k + 127 in 1..254 */
    memcpy(&scale, &bits, sizeof scale);
    y = p * scale;
    y = x < -87.33f ? 0.0f : y;
    y = x > 88.72f ? HUGE_VALF : y;
    return x == x ? y : x;
}

/* tanh(NaN) = NaN; tanh(+-inf) and |u| > 9 are +-1 to float precision. */
static inline float ig__tanh(float u) {
    u = u < -9.0f ? -9.0f : (u > 9.0f ? 9.0f : u);
    return 1.0f - 2.0f / (1.0f + ig__exp(2.0f * u));
}

/* SiLU, elementwise on any shape (the conditioning c (B,D) before every adaLN):
     y = x s,  s = sigmoid(x) = 1 / (1 + exp(-x));   dy/dx = s (1 + x (1 - s)) */
IGDEF ig_tensor *ig_silu(ig_ctx *ctx, ig_tensor *x) {
    ig_tensor *y;
    const float *xd;
    float *yd;
    size_t i, n;
    if (!(y = ig__op(ctx, ig__silu_backward, x, NULL, NULL, 0, NULL, NULL)) ||
        ig__counting(ctx)) return y;
    xd = x->data; yd = y->data; n = x->n;
    IG__OMP(omp parallel for schedule(static) if (n > 32768))
    for (i = 0; i < n; i++) yd[i] = xd[i] / (1.0f + ig__exp(-xd[i]));
    return y;
}

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

/* GELU, tanh approximation, elementwise (the MLP's hidden layer, (B,T,4D)):
     y = 0.5 x (1 + tanh u),  u = k0 (x + k1 x^3),  k0 = sqrt(2/pi), k1 = 0.044715
     dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) k0 (1 + 3 k1 x^2)        */
#define IG__GELU_K0 0.7978845608028654f /* sqrt(2/pi) */
#define IG__GELU_K1 0.044715f

IGDEF ig_tensor *ig_gelu(ig_ctx *ctx, ig_tensor *x) {
    ig_tensor *y;
    const float *xd;
    float *yd;
    size_t i, n;
    if (!(y = ig__op(ctx, ig__gelu_backward, x, NULL, NULL, 0, NULL, NULL)) ||
        ig__counting(ctx)) return y;
    xd = x->data; yd = y->data; n = x->n;
    IG__OMP(omp parallel for schedule(static) if (n > 32768))
    for (i = 0; i < n; i++) {
        float v = xd[i];
        yd[i] = 0.5f * v * (1.0f + ig__tanh(IG__GELU_K0 * (v + IG__GELU_K1 * v * v * v)));
    }
    return y;
}

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

/* --- 4.6 multi-head self-attention ----------------------------------------
   qkv (B,T,3D) holds [q | k | v]; head h uses channels h*hd .. h*hd+hd-1 of
   each, hd = D / heads.  Per sample b and head h:
     S = q k^T / sqrt(hd)          (T,T)   the scaled dot products
     P = softmax(S) row by row     (T,T)   each token's weights over all tokens
     out = P v                     (T,hd)  written into channels h*hd.. of y (B,T,D)
   Backward (dO = the rows of dy that belong to the head):
     dv = P^T dO,  dP = dO v^T,  dS = P * (dP - rowsum(dP * P)),
     dq = dS k / sqrt(hd),  dk = dS^T q / sqrt(hd).
   ig__attention_ref is these lines as plain loops, one query (a row of S) at a time: the reference,
   for reading and for the tests; nothing else calls it.  ig_attention computes the same, up to the
   order of float rounding, fast: one task per (b,h) runs the kernels of Appendix A.2, which hold
   the transposes (S^T = k q^T, so that the softmax runs down columns, 16 queries side by side in a
   vector) and go through the matmul.  With one token (T = 1, the 2D toy) each softmax is over one
   key, P = 1 exactly: out = v, dv = dO and dS = 0, so dq = dk = 0; ig_attention only copies. */

/* y (B,T,D) from qkv (B,T,3D); with dy != NULL also dqkv (B,T,3D) += the
   backward.  p and dp: T floats each of work (a row of P, a row of dP). */
IG__MAYBE_UNUSED
static void ig__attention_ref(const float *qkv, const float *dy, size_t B, size_t T, size_t D,
                              size_t heads, float *y, float *dqkv, float *p, float *dp) {
    size_t hd = D / heads, D3 = 3 * D, b, h, i, j, d;
    float scale = 1.0f / sqrtf((float)hd);
    for (b = 0; b < B; b++)
        for (h = 0; h < heads; h++)
            for (i = 0; i < T; i++) {
                /* row r: of q, k, v at s0 + r 3D (+ D, + 2D); of y, dy at (b T + r) D + h hd */
                const float *s0 = qkv + b * T * D3 + h * hd, *q = s0 + i * D3;
                const float *dO = dy ? dy + (b * T + i) * D + h * hd : NULL;
                float *out = y + (b * T + i) * D + h * hd, mx, sum = 0.0f, dot = 0.0f;
                for (j = 0; j < T; j++) {                          /* S_ij = q_i k_j / sqrt(hd) */
                    for (p[j] = 0.0f, d = 0; d < hd; d++) p[j] += q[d] * s0[j * D3 + D + d];
                    p[j] *= scale;
                }
                for (mx = p[0], j = 1; j < T; j++) mx = p[j] > mx ? p[j] : mx;
                for (j = 0; j < T; j++) { p[j] = expf(p[j] - mx); sum += p[j]; }
                for (j = 0; j < T; j++) p[j] /= sum;                /* P_i = softmax(S_i) */
                for (d = 0; d < hd; d++)                            /* out_i = sum_j P_ij v_j */
                    for (out[d] = 0.0f, j = 0; j < T; j++) out[d] += p[j] * s0[j * D3 + 2 * D + d];
                if (!dy) continue;
                for (j = 0; j < T; j++) {                          /* dP_ij = dO_i v_j */
                    for (dp[j] = 0.0f, d = 0; d < hd; d++) dp[j] += dO[d] * s0[j * D3 + 2 * D + d];
                    dot += dp[j] * p[j];
                }
                for (j = 0; j < T; j++) {      /* dS_ij = P_ij (dP_ij - dot); dq_i, dk_j, dv_j */
                    float ds = p[j] * (dp[j] - dot) * scale, *dq = dqkv + (q - qkv);
                    float *dk = dqkv + (s0 - qkv) + j * D3 + D, *dv = dk + D;
                    for (d = 0; d < hd; d++) {
                        dq[d] += ds * s0[j * D3 + D + d];
                        dk[d] += ds * q[d];
                        dv[d] += p[j] * dO[d];
                    }
                }
            }
}

/* ig_attention's memory: when training, every P^T (B,heads,T,T) is kept for the backward (as
   PyTorch's plain attention keeps P); after them come one (T,T) work buffer per thread (P^T itself
   without a tape, dP^T in the backward), then one (max(hd,2),T) buffer per thread for the
   transposed products and the softmax's per-query max and sum.  The row stride of the (T,T) and
   (hd,T) matrices is T, or T + 16 when T is a multiple of 64: rows a multiple of 256 bytes apart
   share few L1 sets (T = 256: 64 rows of a matrix that a packing reads 16 floats of each at a time,
   in 4 sets of 8 ways); 16 floats more spread them over all sets. */
#ifdef _OPENMP
#define IG__NTHREADS() ((size_t)omp_get_max_threads())
#define IG__THREAD() ((size_t)omp_get_thread_num())
#else
#define IG__NTHREADS() ((size_t)1)
#define IG__THREAD() ((size_t)0)
#endif
static size_t ig__attention_ld(size_t T) { return T % 64 == 0 ? T + 16 : T; }
/* the floats of a thread's second buffer: (hd,T) products, or the softmax's max and sum (2T) */
static size_t ig__attention_trn(size_t hd, size_t ld) { return (hd > 2 ? hd : 2) * ld; }
/* Appendix A.2: one head's forward and backward */
static void ig__attention_head(const float *q, size_t T, size_t D, size_t hd, float *PT, size_t ld,
                               float *tr, float *out);
static void ig__attention_head_backward(const float *q, const float *PT, const float *dO, size_t T,
                                        size_t D, size_t hd, size_t ld, float *dPT, float *tr,
                                        float *dq);

IGDEF ig_tensor *ig_attention(ig_ctx *ctx, ig_tensor *qkv, size_t heads) {
    ig_tensor *y;
    ig_node *nd;
    size_t shape[3], B, T, D, hd, bh, ld, nbuf, ntr;
    float *buf;
    if (!qkv || ctx->failed) { ctx->failed = 1; return NULL; }
    if (qkv->ndim != 3 || qkv->shape[2] % 3 || heads == 0 || (qkv->shape[2] / 3) % heads)
        return ig__op_fail(ctx, "ig_attention: qkv must be (B,T,3D) with D divisible by heads=%zu",
                           heads);
    B = qkv->shape[0]; T = qkv->shape[1]; D = qkv->shape[2] / 3; hd = D / heads;
    ld = ig__attention_ld(T); ntr = ig__attention_trn(hd, ld);
    shape[0] = B; shape[1] = T; shape[2] = D;
    if (!(y = ig__op(ctx, ig__attention_backward, qkv, NULL, NULL, 3, shape, &nd))) return NULL;
    if (T == 1) {   /* one token (the toy): softmax over one key is P = 1, so out = v */
        if (nd) nd->arg[0] = heads;
        if (ig__counting(ctx)) return y;
        IG__OMP(omp parallel for schedule(static) if (B * D > 32768))
        for (bh = 0; bh < B; bh++)
            memcpy(y->data + bh * D, qkv->data + bh * 3 * D + 2 * D, D * sizeof(float));
        return y;
    }
    nbuf = ((nd ? B * heads : 0) + IG__NTHREADS()) * T * ld;   /* kept P^T, then (T,T) per thread */
    if (!(buf = ig__scratch_floats(ctx, nbuf + IG__NTHREADS() * ntr))) return NULL;
    if (nd) { nd->saved = buf; nd->arg[0] = heads; }
    if (ig__counting(ctx)) return y;
    IG__OMP(omp parallel for schedule(static))
    for (bh = 0; bh < B * heads; bh++)        /* P^T kept, or in this thread's buffer */
        ig__attention_head(qkv->data + bh / heads * T * 3 * D + bh % heads * hd, T, D, hd,
                           buf + (nd ? bh : IG__THREAD()) * T * ld, ld,
                           buf + nbuf + IG__THREAD() * ntr,
                           y->data + bh / heads * T * D + bh % heads * hd);
    return y;
}

static void ig__attention_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *qkv = nd->in[0];
    size_t heads = nd->arg[0], B = qkv->shape[0], T = qkv->shape[1], D = qkv->shape[2] / 3;
    size_t hd = D / heads, bh, ld = ig__attention_ld(T), ntr = ig__attention_trn(hd, ld);
    float *dP_all = nd->saved + B * heads * T * ld;   /* one (T,T) buffer per thread */
    float *tr_all = dP_all + IG__NTHREADS() * T * ld; /* one (hd,T) per thread */
    float *dqkv = ig__grad(nd->ctx, qkv);
    if (!dqkv) return;
    if (T == 1) {   /* P = 1: dv = dO, and dS = P (dP - rowsum(dP P)) = 0 leaves dq, dk at 0 */
        IG__OMP(omp parallel for schedule(static) if (B * D > 32768))
        for (bh = 0; bh < B; bh++) {
            float *dv = dqkv + bh * 3 * D + 2 * D;
            const float *dO = y->grad + bh * D;
            size_t d;
            for (d = 0; d < D; d++) dv[d] += dO[d];
        }
        return;
    }
    IG__OMP(omp parallel for schedule(static))
    for (bh = 0; bh < B * heads; bh++) {
        size_t o = bh / heads * T * 3 * D + bh % heads * hd;   /* the head's q in qkv, dq in dqkv */
        ig__attention_head_backward(qkv->data + o, nd->saved + bh * T * ld,
                                    y->grad + bh / heads * T * D + bh % heads * hd, T, D, hd, ld,
                                    dP_all + IG__THREAD() * T * ld, tr_all + IG__THREAD() * ntr,
                                    dqkv + o);
    }
}

/* --- 4.7 patchify / unpatchify --------------------------------------------
   An image (C,H,W) becomes T = (H/p)(W/p) tokens, row by row of patches.
   patchify:   x (B,C,H,W) -> (B,T,C*p*p), a patch's values ordered (c, p_row, p_col): the layout
               of the patch-embedding convolution's weight (D,C,p,p), so that conv = a Linear.
   unpatchify: (B,T,p*p*C) ordered (p_row, p_col, c), the heads' layout in the released model
               -> (B,C,H,W).
   Both only move values, so each backward moves the gradient back. */
static void ig__patch_copy(ig_tensor *img, ig_tensor *tok, size_t p, int to_tokens, int use_grad,
                           int channel_last) {
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

IGDEF ig_tensor *ig_patchify(ig_ctx *ctx, ig_tensor *x, size_t p) {
    ig_tensor *y;
    ig_node *nd;
    size_t shape[3];
    if (!x || ctx->failed) { ctx->failed = 1; return NULL; }
    if (x->ndim != 4 || p == 0 || x->shape[2] % p || x->shape[3] % p)
        return ig__op_fail(ctx, "ig_patchify: x must be (B,C,H,W) with H and W divisible by p=%zu",
                           p);
    shape[0] = x->shape[0]; shape[1] = (x->shape[2] / p) * (x->shape[3] / p);
    shape[2] = x->shape[1] * p * p;
    if (!(y = ig__op(ctx, ig__patchify_backward, x, NULL, NULL, 3, shape, &nd))) return NULL;
    if (nd) nd->arg[0] = p;
    if (ig__counting(ctx)) return y;
    ig__patch_copy(x, y, p, 1, 0, 0);
    return y;
}

static void ig__patchify_backward(ig_node *nd) {   /* dx += dy, permuted back */
    if (ig__grad(nd->ctx, nd->in[0])) ig__patch_copy(nd->in[0], nd->out, nd->arg[0], 1, 1, 0);
}

IGDEF ig_tensor *ig_unpatchify(ig_ctx *ctx, ig_tensor *x, size_t p, size_t C, size_t H, size_t W) {
    ig_tensor *y;
    ig_node *nd;
    size_t shape[4];
    if (!x || ctx->failed) { ctx->failed = 1; return NULL; }
    if (x->ndim != 3 || p == 0 || H % p || W % p || x->shape[1] != (H / p) * (W / p) ||
        x->shape[2] != p * p * C)
        return ig__op_fail(ctx, "ig_unpatchify: x must be (B,(H/p)(W/p),p*p*C) for C=%zu H=%zu "
                                "W=%zu p=%zu", C, H, W, p);
    shape[0] = x->shape[0]; shape[1] = C; shape[2] = H; shape[3] = W;
    if (!(y = ig__op(ctx, ig__unpatchify_backward, x, NULL, NULL, 4, shape, &nd))) return NULL;
    if (nd) nd->arg[0] = p;
    if (ig__counting(ctx)) return y;
    ig__patch_copy(y, x, p, 0, 0, 1);
    return y;
}

static void ig__unpatchify_backward(ig_node *nd) { /* dtokens += dy, permuted back */
    if (ig__grad(nd->ctx, nd->in[0])) ig__patch_copy(nd->out, nd->in[0], nd->arg[0], 0, 1, 1);
}

/* --- 4.8 gather (embedding lookup) and chunk -------------------------------
   gather: y (B,D) = table[idx[b]], table (V,D); an index outside 0..V-1 fails.
           Backward: dtable[idx[b]] += dy[b] (a row picked twice gets both).
   chunk:  the i-th of n equal slices of x's last dim: x (...,n*K) -> (...,K),
           e.g. shift1 = chunk(adaLN output (B,6D), 6, 0).
           Backward: dy goes back into the slice it came from.              */
IGDEF ig_tensor *ig_gather(ig_ctx *ctx, ig_tensor *table, const int *idx, size_t B) {
    ig_tensor *y;
    ig_node *nd;
    size_t shape[2], b, V, D;
    int *copy = NULL;
    if (!table || ctx->failed) { ctx->failed = 1; return NULL; }
    V = table->shape[0]; D = table->shape[1];
    for (b = 0; b < B && !ig__counting(ctx); b++)
        if (idx[b] < 0 || (size_t)idx[b] >= V)
            return ig__op_fail(ctx,
                               "ig_gather: index %d (entry %zu) is outside the table's %zu rows",
                                   idx[b], b, V);
    shape[0] = B; shape[1] = D;
    if (!(y = ig__op(ctx, ig__gather_backward, table, NULL, NULL, 2, shape, &nd))) return NULL;
    if (nd) {   /* the backward needs the indices: keep a copy */
        if (!(copy = (int *)ig_arena_alloc(ctx->scratch,
                                           B * sizeof(int)))) { ctx->failed = 1; return NULL; }
        nd->saved = (float *)(void *)copy;
    }
    if (ig__counting(ctx)) return y;
    if (copy) memcpy(copy, idx, B * sizeof(int));
    for (b = 0; b < B; b++) memcpy(y->data + b * D, table->data + (size_t)idx[b] * D,
                                   D * sizeof(float));
    return y;
}

static void ig__gather_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *table = nd->in[0];
    size_t D = table->shape[1], B = y->shape[0], b, d;
    const int *idx = (const int *)nd->saved;
    float *dt = ig__grad(nd->ctx, table);
    if (!dt) return;
    for (b = 0; b < B; b++)
        for (d = 0; d < D; d++) dt[(size_t)idx[b] * D + d] += y->grad[b * D + d];
}

IGDEF ig_tensor *ig_chunk(ig_ctx *ctx, ig_tensor *x, size_t n, size_t i) {
    ig_tensor *y;
    ig_node *nd;
    size_t shape[IG_MAX_DIMS], K, rows, r;
    if (!x || ctx->failed) { ctx->failed = 1; return NULL; }
    if (n == 0 || i >= n || x->shape[x->ndim - 1] % n)
        return ig__op_fail(ctx, "ig_chunk: the last dim %zu does not split into %zu chunks (asked "
                                "for chunk %zu)", x->shape[x->ndim - 1], n, i);
    memcpy(shape, x->shape, sizeof shape);
    K = shape[x->ndim - 1] / n; shape[x->ndim - 1] = K;
    if (!(y = ig__op(ctx, ig__chunk_backward, x, NULL, NULL, x->ndim, shape, &nd))) return NULL;
    if (nd) { nd->arg[0] = n; nd->arg[1] = i; }
    if (ig__counting(ctx)) return y;
    rows = y->n / K;
    for (r = 0; r < rows; r++) memcpy(y->data + r * K, x->data + r * K * n + i * K,
                                      K * sizeof(float));
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

/* --- 4.9 reductions: mean squared error, sum, mean -------------------------
   mse:  y (1) = (1/n) sum_i (a_i - b_i)^2,  a and b with n elements each;
         da = 2 (a - b) / n dy,  db = -that (the target b usually needs none).
   sum:  y (1) = sum_i x_i;  mean: y = sum / n;  dx = dy (or dy / n) everywhere.
   The sums run in double, in a fixed order, so they do not depend on threads. */
IGDEF ig_tensor *ig_mse(ig_ctx *ctx, ig_tensor *a, ig_tensor *b) {
    ig_tensor *y;
    size_t one = 1, i;
    double acc = 0.0;
    if (!a || !b || ctx->failed) { ctx->failed = 1; return NULL; }
    if (a->n != b->n)
        return ig__op_fail(ctx, "ig_mse: the prediction has %zu elements, the target %zu", a->n,
                           b->n);
    if (!(y = ig__op(ctx, ig__mse_backward, a, b, NULL, 1, &one, NULL)) ||
        ig__counting(ctx)) return y;
    for (i = 0; i < a->n; i++) acc += (double)(a->data[i] - b->data[i]) * (a->data[i] - b->data[i]);
    y->data[0] = (float)(acc / (double)a->n);
    return y;
}

static void ig__mse_backward(ig_node *nd) {
    ig_tensor *a = nd->in[0], *b = nd->in[1];
    float g = nd->out->grad[0] * 2.0f / (float)a->n, *da = ig__grad(nd->ctx, a),
        *db = ig__grad(nd->ctx, b);
    size_t i;
    for (i = 0; i < a->n; i++) {
        float diff = a->data[i] - b->data[i];
        if (da) da[i] += g * diff;
        if (db) db[i] -= g * diff;
    }
}

static ig_tensor *ig__sum_scaled(ig_ctx *ctx, ig_tensor *x, int mean) {
    ig_tensor *y;
    ig_node *nd;
    size_t one = 1, i;
    double acc = 0.0;
    if (!(y = ig__op(ctx, ig__sum_backward, x, NULL, NULL, 1, &one, &nd))) return NULL;
    if (nd) nd->farg = mean ? 1.0f / (float)x->n : 1.0f;
    if (ig__counting(ctx)) return y;
    for (i = 0; i < x->n; i++) acc += x->data[i];
    y->data[0] = (float)(mean ? acc / (double)x->n : acc);
    return y;
}

IGDEF ig_tensor *ig_sum(ig_ctx *ctx, ig_tensor *x) { return ig__sum_scaled(ctx, x, 0); }
IGDEF ig_tensor *ig_mean(ig_ctx *ctx, ig_tensor *x) { return ig__sum_scaled(ctx, x, 1); }

static void ig__sum_backward(ig_node *nd) {
    ig_tensor *x = nd->in[0];
    float g = nd->out->grad[0] * nd->farg, *dx = ig__grad(nd->ctx, x);
    size_t i;
    if (dx) for (i = 0; i < x->n; i++) dx[i] += g;
}

/* The LightningDiT variant's ops (RMSNorm, SwiGLU, 2D RoPE, cosine loss) and a
   classifier's (cross-entropy, reshape) are in Appendix C, at the end. */

/* === 5. the model ======================================================== */

IGDEF int ig_config_check(const ig_config *cfg) {
    if (cfg->in_channels < 1 || cfg->image_height < 1 || cfg->image_width < 1 ||
        cfg->patch_size < 1)
        return ig__fail("ig_config: channels, image size and patch must be positive");
    if (cfg->image_height % cfg->patch_size || cfg->image_width % cfg->patch_size)
        return ig__fail("ig_config: image %dx%d is not divisible by the patch size %d",
                        cfg->image_height, cfg->image_width, cfg->patch_size);
    if (cfg->hidden_size < 4 || cfg->hidden_size % 4)
        return ig__fail("ig_config: hidden_size %d must be a positive multiple of 4 (the 2D "
                        "sin-cos table)", cfg->hidden_size);
    if (cfg->num_heads < 1 || cfg->hidden_size % cfg->num_heads)
        return ig__fail("ig_config: hidden_size %d is not divisible by num_heads %d",
                        cfg->hidden_size, cfg->num_heads);
    if (cfg->depth < 2 || cfg->aux_depth < 1 || cfg->aux_depth >= cfg->depth)
        return ig__fail("ig_config: need 1 <= aux_depth < depth (got aux_depth %d, depth %d)",
                        cfg->aux_depth, cfg->depth);
    if (cfg->num_classes < 1) return ig__fail("ig_config: num_classes must be at least 1");
    /* Limits, so that no count overflows an int (T <= 2^20 tokens, 4D <= 2^16, D*D <= 2^28)
       and the parameter bytes (an upper bound: 18 D^2 per block, 20 bytes a parameter when
       training) fit size_t; sizes times the batch are size_t. */
    if (cfg->in_channels > 4096 || cfg->patch_size > 64 || cfg->image_height > 65536 ||
        cfg->image_width > 65536 ||
        cfg->hidden_size > 16384 || cfg->depth > 1024 || cfg->num_classes > (1 << 24))
        return ig__fail("ig_config: a size beyond the limits (channels 4096, patch 64, image side "
                        "65536, hidden_size 16384, depth 1024, classes 2^24)");
    if ((double)(cfg->image_height / cfg->patch_size) *
        (double)(cfg->image_width / cfg->patch_size) > (double)(1 << 20))
        return ig__fail("ig_config: %d x %d tokens, more than 2^20",
                        cfg->image_height / cfg->patch_size, cfg->image_width / cfg->patch_size);
    {
        double D = cfg->hidden_size, P = ((double)cfg->depth + 3) * 18 * D * D +
                   D * ((double)cfg->num_classes + 300 + (double)(1 << 20) +
                        3.0 * cfg->in_channels * cfg->patch_size * cfg->patch_size);
        if (20 * P > (double)SIZE_MAX / 2) return ig__fail("ig_config: the model is too large for "
                                                           "this platform's size_t");
    }
    if (!(cfg->t_scale > 0.0f && cfg->t_scale <= 1e6f))   /* also refuses NaN and inf */
        return ig__fail("ig_config: t_scale %g is not in (0, 1e6]", (double)cfg->t_scale);
    if (cfg->arch != IG_ARCH_SIT && cfg->arch != IG_ARCH_LIGHTNING)
        return ig__fail("ig_config: unknown arch %d (IG_ARCH_SIT 0, IG_ARCH_LIGHTNING 1)",
                        cfg->arch);
    if (cfg->arch == IG_ARCH_LIGHTNING && (cfg->hidden_size / cfg->num_heads) % 4)
        return ig__fail("ig_config: LightningDiT's 2D RoPE needs a head dim (hidden_size / "
                        "num_heads = %d) divisible by 4", cfg->hidden_size / cfg->num_heads);
    return 0;
}

/* LightningDiT's SwiGLU width H: the release's int(2/3 * int(4.0 D)), which is
   8D/3 rounded down (the same for every D up to 8192, checked by the reference). */
static size_t ig__swiglu_hidden(size_t D) { return 8 * D / 3; }

IGDEF int ig_config_preset(ig_config *cfg, const char *name, int in_channels,
                           int image_height, int image_width, int num_classes) {
    static const struct { const char *size; int depth, width, heads, k; } presets[] = {
        { "S", 12, 384, 6, 8 }, { "B", 12, 768, 12, 8 },
        { "L", 24, 1024, 16, 8 }, { "XL", 28, 1152, 16, 8 },
    };
    size_t i, len;
    const char *slash = name ? strchr(name, '/') : NULL;
    char *end = NULL;
    long patch = slash && slash[1] >= '1' && slash[1] <= '9' ? strtol(slash + 1, &end, 10) : 0;
    if (!patch || *end || patch > 64)
        return ig__fail("ig_config_preset: '%s' is not of the form S/2, B/4, L/8, XL/2 (patch 1 "
                        "to 64)", name ? name : "(null)");
    len = (size_t)(slash - name);
    for (i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strlen(presets[i].size) == len && !strncmp(presets[i].size, name, len)) {
            memset(cfg, 0, sizeof *cfg);
            cfg->in_channels = in_channels; cfg->image_height = image_height;
            cfg->image_width = image_width; cfg->patch_size = (int)patch;
            cfg->hidden_size = presets[i].width; cfg->depth = presets[i].depth;
            cfg->num_heads = presets[i].heads; cfg->num_classes = num_classes;
            cfg->aux_depth = presets[i].k; cfg->t_scale = 1.0f;
            return ig_config_check(cfg);
        }
    return ig__fail("ig_config_preset: unknown model size in '%s' (S, B, L or XL)", name);
}

/* The parameter table, in one place.  ig__walk_params visits every parameter
   with its name, shape and slot, in the checkpoint's order. */
typedef void (*ig__param_visit)(void *user, const char *name, int ndim, size_t d0, size_t d1,
                                size_t d2, size_t d3, ig_tensor **slot, int trainable);

static void ig__walk_params(ig_model *m, ig__param_visit visit, void *user) {
    const ig_config *cfg = &m->cfg;
    size_t C = (size_t)cfg->in_channels, p = (size_t)cfg->patch_size, D = (size_t)cfg->hidden_size;
    size_t T = (size_t)(cfg->image_height / cfg->patch_size) *
               (size_t)(cfg->image_width / cfg->patch_size);
    size_t out = p * p * C;
    char pre[32], name[64];
    int i, h, lightning = cfg->arch == IG_ARCH_LIGHTNING;
    size_t hid = ig__swiglu_hidden(D), hd = D / (size_t)cfg->num_heads;
    visit(user, "pos_embed", 3, 1, T, D, 1, &m->pos_embed, 0);
    visit(user, "x_embedder.proj.weight", 4, D, C, p, p, &m->x_proj_w, 1);
    visit(user, "x_embedder.proj.bias", 1, D, 1, 1, 1, &m->x_proj_b, 1);
    visit(user, "t_embedder.mlp.0.weight", 2, D, 256, 1, 1, &m->t_fc1_w, 1);
    visit(user, "t_embedder.mlp.0.bias", 1, D, 1, 1, 1, &m->t_fc1_b, 1);
    visit(user, "t_embedder.mlp.2.weight", 2, D, D, 1, 1, &m->t_fc2_w, 1);
    visit(user, "t_embedder.mlp.2.bias", 1, D, 1, 1, 1, &m->t_fc2_b, 1);
    visit(user, "y_embedder.embedding_table.weight", 2, (size_t)cfg->num_classes + 1, D, 1, 1,
          &m->label_table, 1);
    if (lightning) {   /* stored buffers, never trained */
        visit(user, "feat_rope.freqs_cos", 2, T, hd, 1, 1, &m->rope_cos, 0);
        visit(user, "feat_rope.freqs_sin", 2, T, hd, 1, 1, &m->rope_sin, 0);
    }
    /* the parameter <pre>.<suffix> of shape (a0, a1) in the slot o->field */
#define IG__P(field, suffix, nd, a0, a1) \
        snprintf(name, sizeof name, "%s.%s", pre, suffix); \
        visit(user, name, nd, a0, a1, 1, 1, o ? &o->field : NULL, 1);
    /* a Linear <pre>.<suffix>: weight (n_out, n_in) in o->f_w, then bias (n_out) in o->f_b */
#define IG__LINEAR(f, suffix, n_out, n_in) \
        IG__P(f##_w, suffix ".weight", 2, n_out, n_in) IG__P(f##_b, suffix ".bias", 1, n_out, 1)
    for (i = 0; i < cfg->depth; i++) {
        ig_block_params *o = m->blocks ? &m->blocks[i] : NULL;
        snprintf(pre, sizeof pre, "blocks.%d", i);
        IG__LINEAR(ada, "adaLN_modulation.1", 6 * D, D)
        IG__LINEAR(qkv, "attn.qkv", 3 * D, D)
        IG__LINEAR(proj, "attn.proj", D, D)
        if (lightning) {
            IG__P(norm1_w, "norm1.weight", 1, D, 1)
            IG__P(norm2_w, "norm2.weight", 1, D, 1)
            IG__LINEAR(w12, "mlp.w12", 2 * hid, D)
            IG__LINEAR(w3, "mlp.w3", D, hid)
        } else {
            IG__LINEAR(fc1, "mlp.fc1", 4 * D, D)
            IG__LINEAR(fc2, "mlp.fc2", D, 4 * D)
        }
    }
    for (h = 0; h < 2; h++) {   /* final_layer, then final_layer_xr: the aux head */
        ig_head_params *o = h == 0 ? &m->final_head : &m->aux_head;
        snprintf(pre, sizeof pre, "%s", h == 0 ? "final_layer" : "final_layer_xr");
        IG__LINEAR(ada, "adaLN_modulation.1", 2 * D, D)
        IG__LINEAR(out, "linear", out, D)
        if (lightning) {
            IG__P(norm_w, "norm_final.weight", 1, D, 1)
        }
    }
#undef IG__P
#undef IG__LINEAR
}

/* Counts each parameter into m->nparams and m->nweights (before: its index and offset) and, once
   the table m->params exists, makes its tensor over the flat arrays. */
static void ig__add_param(void *user, const char *name, int ndim, size_t d0, size_t d1, size_t d2,
                          size_t d3, ig_tensor **slot, int trainable) {
    ig_model *m = (ig_model *)user;
    size_t shape[4], o = m->nweights;
    shape[0] = d0; shape[1] = d1; shape[2] = d2; shape[3] = d3;
    if (m->params) {
        ig_param *pp = &m->params[m->nparams];
        snprintf(pp->name, sizeof pp->name, "%s", name);
        pp->offset = o; pp->trainable = trainable;
        pp->t = ig_tensor_wrap(&m->arena, m->weights + o, m->grads &&
                               trainable ? m->grads + o : NULL, ndim, shape);
        if (slot) *slot = pp->t;
    }
    m->nparams++;
    m->nweights += d0 * d1 * d2 * d3;
}

IGDEF size_t ig_model_bytes(const ig_config *cfg, int training) {
    ig_model cnt;   /* no table: the walk only counts */
    size_t arrays = training ? 5 : 1;
    memset(&cnt, 0, sizeof cnt);
    cnt.cfg = *cfg;
    ig__walk_params(&cnt, ig__add_param, &cnt);
    return arrays * (cnt.nweights * sizeof(float) + 64)
         + (size_t)cnt.nparams * (sizeof(ig_param) + sizeof(ig_tensor) + 128)
         + (size_t)cfg->depth * sizeof(ig_block_params) + 4096;
}

/* Fixed 2D sin-cos position table (T,D): for the token in patch row i, column j, channels [0, D/2)
   encode j and [D/2, D) encode i.  For one axis with d = D/2 channels and position x:
     omega_q = 1 / 10000^(q / (d/2)),  q < d/2,   emb = [sin(x omega_0..), cos(x omega_0..)] */
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

static void ig__rope_table(float *cs, float *sn, size_t rows, size_t cols,
                           size_t hd); /* App. C.0 */

/* xavier-uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) */
static void ig__xavier(ig_tensor *w, ig_rng *r) {
    size_t fan_out = w->shape[0], fan_in = w->n / w->shape[0], i;
    float a = sqrtf(6.0f / (float)(fan_in + fan_out));
    for (i = 0; i < w->n; i++) w->data[i] = a * (2.0f * ig_rng_uniform(r) - 1.0f);
}

IGDEF int ig_model_init(ig_model *m, const ig_config *cfg, int training, uint64_t seed) {
    float **arrays[5];
    int i, nparams;
    size_t k, nbytes;
    size_t rows = (size_t)(cfg->image_height / cfg->patch_size),
        cols = (size_t)(cfg->image_width / cfg->patch_size);
    memset(m, 0, sizeof *m);
    if (ig_config_check(cfg)) return -1;
    m->cfg = *cfg;
    ig__walk_params(m, ig__add_param, m);   /* no table yet: only counts */
    nparams = m->nparams; nbytes = m->nweights * sizeof(float);
    m->nparams = 0; m->nweights = 0;
    if (ig_arena_init(&m->arena, "model", ig_model_bytes(cfg, training))) return -1;
    /* all zero: biases, adaLN and the heads start at zero, so do the moments */
    arrays[0] = &m->weights; arrays[1] = &m->grads; arrays[2] = &m->adam_m; arrays[3] = &m->adam_v;
    arrays[4] = &m->ema;
    for (i = 0; i < (training ? 5 : 1); i++) {
        if (!(*arrays[i] = (float *)ig_arena_alloc(&m->arena,
                                                   nbytes))) { ig_model_free(m); return -1; }
        memset(*arrays[i], 0, nbytes);
    }
    m->params = (ig_param *)ig_arena_alloc(&m->arena, (size_t)nparams * sizeof(ig_param));
    m->blocks = (ig_block_params *)ig_arena_alloc(&m->arena,
                                                  (size_t)cfg->depth * sizeof(ig_block_params));
    if (!m->params || !m->blocks) { ig_model_free(m); return -1; }
    ig__walk_params(m, ig__add_param, m);   /* the table, and the counts again */
    for (i = 0; i < m->nparams; i++)
        if (!m->params[i].t) { ig_model_free(m); return -1; }
    /* the released initialization */
    ig_rng_seed(&m->rng, seed);
    ig__pos_embed(m->pos_embed->data, rows, cols, (size_t)cfg->hidden_size);
    if (cfg->arch == IG_ARCH_LIGHTNING)
        ig__rope_table(m->rope_cos->data, m->rope_sin->data, rows, cols,
                       (size_t)(cfg->hidden_size / cfg->num_heads));
    for (i = 0; i < cfg->depth; i++) {   /* attention and MLP: xavier; adaLN stays zero */
        ig_block_params *b = &m->blocks[i];
        ig__xavier(b->qkv_w, &m->rng);
        ig__xavier(b->proj_w, &m->rng);
        if (cfg->arch == IG_ARCH_LIGHTNING) {    /* RMSNorm gains start at 1 */
            ig__xavier(b->w12_w, &m->rng);
            ig__xavier(b->w3_w, &m->rng);
            for (k = 0; k < b->norm1_w->n; k++) b->norm1_w->data[k] = b->norm2_w->data[k] = 1.0f;
        } else {
            ig__xavier(b->fc1_w, &m->rng);
            ig__xavier(b->fc2_w, &m->rng);
        }
    }
    ig__xavier(m->x_proj_w, &m->rng);    /* the patch conv as a Linear over its kernel */
    for (k = 0; k < m->label_table->n; k++)
        m->label_table->data[k] = 0.02f * ig_rng_normal(&m->rng);
    for (k = 0; k < m->t_fc1_w->n; k++) m->t_fc1_w->data[k] = 0.02f * ig_rng_normal(&m->rng);
    for (k = 0; k < m->t_fc2_w->n; k++) m->t_fc2_w->data[k] = 0.02f * ig_rng_normal(&m->rng);
    /* SiT: both heads' adaLN and output Linear zero (already).  LightningDiT:
       only the final head is zero; the aux head gets xavier weights (zero biases) */
    if (cfg->arch == IG_ARCH_LIGHTNING) {
        ig__xavier(m->aux_head.ada_w, &m->rng);
        ig__xavier(m->aux_head.out_w, &m->rng);
        for (k = 0; k < (size_t)cfg->hidden_size; k++)
            m->final_head.norm_w->data[k] = m->aux_head.norm_w->data[k] = 1.0f;
    }
    if (training) memcpy(m->ema, m->weights, nbytes);
    return 0;
}

IGDEF void ig_model_free(ig_model *m) { ig_arena_free(&m->arena); memset(m, 0, sizeof *m); }

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
    m->weights = m->ema; m->ema = tmp;
    for (i = 0; i < m->nparams; i++) m->params[i].t->data = m->weights + m->params[i].offset;
}

/* Tape nodes one training step records, at most:
     per block 20: adaLN Linear, 6 chunks, 2 x [norm, modulate], qkv, attention,
       proj, 3 for the MLP, 2 gated adds (19), and LightningDiT's RoPE (20)
     per head 7 (Linear, 2 chunks, norm, modulate, Linear, unpatchify): 12 kept
     the stem 9 (patchify, Linear, add pos, the time MLP's 3, gather, add, SiLU)
     and the loss at most 7 (2 mse, 2 scale, 2 add, the cosine term): 32 kept.
   (The scratch arena's size, ig_model_scratch_bytes, is in section 7.1.) */
IGDEF size_t ig_model_tape_nodes(const ig_config *cfg) {
    return (size_t)cfg->depth * 20 + 2 * 12 + 32;
}

/* The timestep embedding: t (B) -> (B,256), half = 128 frequencies
   f_i = exp(-ln(10000) i / 128), emb = [cos(t f_0..f_127), sin(t f_0..f_127)]. */
static ig_tensor *ig__time_features(ig_ctx *ctx, const float *t, size_t B, float t_scale) {
    size_t shape[2], b, i;
    ig_tensor *e;
    float freq[128];
    shape[0] = B; shape[1] = 256;
    if (ctx->failed ||
        !(e = ig_tensor_new(ctx->scratch, 2, shape, 0))) { ctx->failed = 1; return NULL; }
    if (ig__counting(ctx)) return e;
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

/* A block's or head's norm: LayerNorm without affine (SiT), RMSNorm and gain (LightningDiT). */
static ig_tensor *ig__norm(ig_ctx *ctx, const ig_model *m, ig_tensor *x, ig_tensor *gain) {
    return m->cfg.arch == IG_ARCH_LIGHTNING ? ig_rmsnorm(ctx, x, gain) : ig_layernorm(ctx, x);
}

/* A head ("final layer"), h (B,T,D) -> velocity (B,C,H,W):
     (shift, scale) = Linear(SiLU(c))                   (B,2D), zero at init
     out = Linear(LN(h) * (1 + scale) + shift)          (B,T,p*p*C), zero at init
   then unpatchified.  The final head and the aux head are two copies of this. */
static ig_tensor *ig__head(ig_ctx *ctx, const ig_model *m, const ig_head_params *hp, ig_tensor *h,
                           ig_tensor *silu_c) {
    const ig_config *cfg = &m->cfg;
    ig_tensor *mod = ig_linear(ctx, silu_c, hp->ada_w, hp->ada_b);             /* (B,2D) */
    ig_tensor *normed = ig__norm(ctx, m, h, hp->norm_w);
    ig_tensor *u = ig_modulate(ctx, normed, ig_chunk(ctx, mod, 2, 0), ig_chunk(ctx, mod, 2, 1));
    ig_tensor *out = ig_linear(ctx, u, hp->out_w, hp->out_b);                 /* (B,T,p*p*C) */
    return ig_unpatchify(ctx, out, (size_t)cfg->patch_size, (size_t)cfg->in_channels,
                         (size_t)cfg->image_height, (size_t)cfg->image_width);
}

/* One adaLN-Zero block on the residual stream h (B,T,D), silu_c = SiLU(c) (B,D);
   u is the branch added back into it:
     (shift1, scale1, gate1, shift2, scale2, gate2) = Linear(SiLU(c))     (B,6D)
     h = h + gate1 * Attn(LN(h) * (1 + scale1) + shift1)
     h = h + gate2 * MLP (LN(h) * (1 + scale2) + shift2)     MLP: D -> 4D -> D
   The Linear is zero at init, so every gate is 0 and every block, hence the network, starts as the
   identity (adaLN-Zero, DiT).  LightningDiT's block is the same frame with RMSNorm (gains norm1,
   norm2), RoPE on q and k, and a SwiGLU MLP w3(SwiGLU(w12(.))): D -> 2H -> H -> D. */
static ig_tensor *ig__block(ig_ctx *ctx, const ig_model *m, const ig_block_params *bp, ig_tensor *h,
                            ig_tensor *silu_c) {
    size_t heads = (size_t)m->cfg.num_heads;
    int lightning = m->cfg.arch == IG_ARCH_LIGHTNING;
    ig_tensor *mod = ig_linear(ctx, silu_c, bp->ada_w, bp->ada_b);            /* (B,6D) */
    ig_tensor *u, *qkv;
    u = ig_modulate(ctx, ig__norm(ctx, m, h, bp->norm1_w), ig_chunk(ctx, mod, 6, 0),
                    ig_chunk(ctx, mod, 6, 1));
    qkv = ig_linear(ctx, u, bp->qkv_w, bp->qkv_b);                            /* (B,T,3D) */
    if (lightning) qkv = ig_rope(ctx, qkv, heads, m->rope_cos, m->rope_sin);
    u = ig_linear(ctx, ig_attention(ctx, qkv, heads), bp->proj_w, bp->proj_b);
    h = ig_gated_add(ctx, h, ig_chunk(ctx, mod, 6, 2), u);
    u = ig_modulate(ctx, ig__norm(ctx, m, h, bp->norm2_w), ig_chunk(ctx, mod, 6, 3),
                    ig_chunk(ctx, mod, 6, 4));
    if (lightning)
        u = ig_linear(ctx, ig_swiglu(ctx, ig_linear(ctx, u, bp->w12_w, bp->w12_b)), bp->w3_w,
                      bp->w3_b);
    else
        u = ig_linear(ctx, ig_gelu(ctx, ig_linear(ctx, u, bp->fc1_w, bp->fc1_b)), bp->fc2_w,
                      bp->fc2_b);
    return ig_gated_add(ctx, h, ig_chunk(ctx, mod, 6, 5), u);
}

/* 1 if x is NaN or +-inf (FLT_MAX written out); a compare, so the loops around it vectorize */
static inline int ig__nonfinite(float x) { return !(fabsf(x) <= 3.40282347e38f); }

/* ig_forward's inputs, all checked before anything runs, so a failed call changes
   nothing: x (B,C,H,W) of the model's shape, labels in 0..num_classes, t in [0, 1]
   (NaN fails the compare), every x finite (one OR per sample's C*H*W floats,
   vectorized).  A counting pass (section 1) has no values to check. */
static int ig__check_inputs(const ig_model *m, const ig_ctx *ctx, const ig_tensor *x,
                            const float *t, const int *labels) {
    const ig_config *cfg = &m->cfg;
    size_t B, b, i, per;
    if (x->ndim != 4 || x->shape[1] != (size_t)cfg->in_channels ||
        x->shape[2] != (size_t)cfg->image_height || x->shape[3] != (size_t)cfg->image_width)
        return ig__fail("ig_forward: x must be (B,%d,%d,%d)", cfg->in_channels, cfg->image_height,
                        cfg->image_width);
    if (!t || !labels) return ig__fail("ig_forward: t and labels must not be NULL");
    B = x->shape[0];
    per = B ? x->n / B : 0;
    for (b = 0; b < B && !ig__counting(ctx); b++) {
        const float *xb = x->data + b * per;
        int bad = 0;
        if (labels[b] < 0 || labels[b] > cfg->num_classes)
            return ig__fail("ig_forward: label %d of sample %zu is outside 0..%d (%d is the null "
                            "label)", labels[b], b, cfg->num_classes, cfg->num_classes);
        if (!(t[b] >= 0.0f && t[b] <= 1.0f))
            return ig__fail("ig_forward: t = %g of sample %zu is outside [0, 1]", (double)t[b], b);
        for (i = 0; i < per; i++) bad |= ig__nonfinite(xb[i]);
        for (i = 0; bad && i < per; i++)
            if (ig__nonfinite(xb[i]))
                return ig__fail("ig_forward: x holds a non-finite value (%g) in sample %zu, "
                                "element %zu", (double)xb[i], b, i);
    }
    return 0;
}

/* The tokens: h (B,T,D) = PatchEmbed(x) + pos, the (D,C,p,p) conv weight seen as a (D, C*p*p)
   Linear over each patch, and the fixed position table (1,T,D) added to every sample as (T,D). */
static ig_tensor *ig__embed(ig_ctx *ctx, const ig_model *m, ig_tensor *x) {
    size_t D = (size_t)m->cfg.hidden_size, shape[2];
    ig_tensor *w, *h, *pos;
    shape[0] = D; shape[1] = m->x_proj_w->n / D;
    if (!(w = ig_tensor_wrap(ctx->scratch, m->x_proj_w->data, m->x_proj_w->grad, 2,
                             shape))) return NULL;
    h = ig_linear(ctx, ig_patchify(ctx, x, (size_t)m->cfg.patch_size), w,
                  m->x_proj_b);   /* (B,T,D) */
    shape[0] = m->pos_embed->shape[1]; shape[1] = D;
    pos = ig_tensor_wrap(ctx->scratch, m->pos_embed->data, NULL, 2, shape);
    return ig_add(ctx, h, pos);
}

/* The conditioning c (B,D) = MLP(time features of t) + table[label]. */
static ig_tensor *ig__condition(ig_ctx *ctx, const ig_model *m, const float *t, const int *labels,
                                size_t B) {
    ig_tensor *c = ig_linear(ctx, ig__time_features(ctx, t, B, m->cfg.t_scale), m->t_fc1_w,
                             m->t_fc1_b);
    c = ig_linear(ctx, ig_silu(ctx, c), m->t_fc2_w, m->t_fc2_b);
    return ig_add(ctx, c, ig_gather(ctx, m->label_table, labels, B));
}

/* t's values into keep (its buffer made before the blocks); NULL when t is NULL. */
static ig_tensor *ig__keep(const ig_ctx *ctx, const ig_tensor *t, ig_tensor *keep) {
    if (t && !ig__counting(ctx)) memcpy(keep->data, t->data, t->n * sizeof(float));
    return t ? keep : NULL;
}

/* The forward pass of a batch, x (B,C,H,W) -> both heads' velocities:
     check the inputs                   (a failed call changes nothing)
     h = PatchEmbed(x) + pos            tokens (B,T,D)
     c = MLP(freqs(t)) + table[label]   (B,D): the conditioning
     h = block_i(h, c), i = 1..L;  after block k: v_aux = aux_head(h, c)
     v = final_head(h, c)               (B,C,H,W)
   The aux head reads the residual stream after block k while the backbone carries on unchanged:
   both heads come out of the same pass.  Without a tape nothing of a block is needed after it: h
   and v_aux are copied into buffers made before the blocks, and the arena rewinds to that mark
   after every block: a forward holds one block's activations (XL, batch 4: 0.13 GB, not 3.5). */
IGDEF int ig_forward(ig_model *m, ig_ctx *ctx, ig_tensor *x, const float *t, const int *labels,
                     ig_tensor **v, ig_tensor **v_aux) {
    const ig_config *cfg = &m->cfg;
    ig_tensor *h, *silu_c, *keep = NULL, *keep_aux = NULL;
    size_t mark = 0;
    int i;
    *v = NULL;
    if (v_aux) *v_aux = NULL;
    if (!x || ctx->failed || ig__check_inputs(m, ctx, x, t, labels)) return -1;
    h = ig__embed(ctx, m, x);
    silu_c = ig_silu(ctx, ig__condition(ctx, m, t, labels, x->shape[0]));  /* each adaLN's input */
    if (!ctx->training) {
        if (!h || !(keep = ig_tensor_new(ctx->scratch, 3, h->shape, 0)) ||
            (v_aux && !(keep_aux = ig_tensor_new(ctx->scratch, 4, x->shape, 0))))
            return -1;
        mark = ctx->scratch->used;
    }
    for (i = 0; i < cfg->depth; i++) {
        int at_aux = v_aux && i + 1 == cfg->aux_depth;
        h = ig__block(ctx, m, &m->blocks[i], h, silu_c);
        if (at_aux) *v_aux = ig__head(ctx, m, &m->aux_head, h, silu_c);
        if (!keep) continue;                      /* training: the tape keeps every activation */
        h = ig__keep(ctx, h, keep);
        if (at_aux) *v_aux = ig__keep(ctx, *v_aux, keep_aux);
        if (!h || (at_aux && !*v_aux)) return -1;
        ctx->scratch->used = mark;                /* the block's activations are free again */
    }
    *v = ig__head(ctx, m, &m->final_head, h, silu_c);
    if (!*v || (v_aux && !*v_aux)) return -1;
    return 0;
}

/* === 6. training ========================================================= */

/* One training step, top-down: ig_train_step below is the whole step, and its parts follow in the
   order it calls them:
     the batch      ig__batch takes its buffers, ig_flow_batch draws t, the label dropout and the
                    noise: x_t and the target v*
     the update     ig__train_step_core: forward, the loss of both heads, ig_backward, then
                    clipping (ig__clip_grads) and AdamW with the EMA (ig__adamw_ema)
   A step that would leave a non-finite value anywhere changes nothing (guards: end of section). */
static int ig__batch(const ig_model *m, ig_ctx *ctx, size_t rows, ig_tensor **x, ig_tensor **tg,
                     float **t, int **labels);
static int ig__train_step_core(ig_model *m, ig_ctx *ctx, const ig_train_config *tc, ig_tensor *x,
                               float *t, const int *labels, ig_tensor *tg, ig_train_stats *stats);
static float ig__clip_grads(ig_model *m, float max_norm);
static int ig__adamw_ema(ig_model *m, const ig_train_config *tc);

IGDEF int ig_train_step(ig_model *m, ig_ctx *ctx, const ig_train_config *tc,
                        const float *x0, const int *labels, size_t B, ig_train_stats *stats) {
    ig_tensor *x, *tg;
    float *t;
    int *train_labels;
    ig_rng saved = m->rng;   /* a failed step leaves the RNG as it was too */
    if (ig__batch(m, ctx, B, &x, &tg, &t, &train_labels)) return -1;
    if (ig_flow_batch(&m->rng, &m->cfg, tc, B, x0, labels, x->data, t, tg->data, train_labels) ||
        ig__train_step_core(m, ctx, tc, x, t, train_labels, tg, stats)) {
        m->rng = saved;
        return -1;
    }
    return 0;
}

IGDEF int ig_train_step_on(ig_model *m, ig_ctx *ctx, const ig_train_config *tc,
                           const float *xt, const float *t, const int *labels,
                           const float *target, size_t B, ig_train_stats *stats) {
    ig_tensor *x, *tg;
    float *tb;
    int *lb;
    if (ig__batch(m, ctx, B, &x, &tg, &tb, &lb)) return -1;
    memcpy(x->data, xt, x->n * sizeof(float));
    memcpy(tg->data, target, tg->n * sizeof(float));
    memcpy(tb, t, B * sizeof(float));
    memcpy(lb, labels, B * sizeof(int));
    return ig__train_step_core(m, ctx, tc, x, tb, lb, tg, stats);
}

/* Resets ctx and takes the inputs of one forward of `rows` samples from its
   scratch: x (rows,C,H,W), t (rows), labels (rows); with tg != NULL also the
   target (rows,C,H,W), and then ctx records a tape (training). */
static int ig__batch(const ig_model *m, ig_ctx *ctx, size_t rows, ig_tensor **x, ig_tensor **tg,
                     float **t, int **labels) {
    size_t shape[4];
    *x = NULL; *t = NULL; *labels = NULL;
    if (tg) *tg = NULL;
    if (tg && !m->grads) return ig__fail("ig_train_step: the model was made with training = 0");
    if (ig_ctx_reset(ctx, tg != NULL)) return -1;
    shape[0] = rows; shape[1] = (size_t)m->cfg.in_channels;
    shape[2] = (size_t)m->cfg.image_height; shape[3] = (size_t)m->cfg.image_width;
    *x = ig_tensor_new(ctx->scratch, 4, shape, 0);
    if (tg && !(*tg = ig_tensor_new(ctx->scratch, 4, shape, 0))) return -1;
    *t = ig__arena_floats(ctx->scratch, rows);
    *labels = (int *)ig_arena_alloc(ctx->scratch, rows * sizeof(int));
    return (*x && *t && *labels) ? 0 : -1;
}

/* The flow-matching batch.  A path mixes data x0 and noise eps:
       x_t = alpha(t) x0 + sigma(t) eps,      target v* = d x_t / dt = alpha' x0 + sigma' eps
     linear (SiT's default):  alpha = 1 - t, sigma = t:            v* = eps - x0
     cosine:  alpha = cos(pi t / 2), sigma = sin(pi t / 2):
                                         v* = (pi/2) (cos(pi t/2) eps - sin(pi t/2) x0)
   t ~ U(0,1), or lognormal: s = exp(n), n ~ N(0,1), and t = s / (1 + s) on the linear path
   (t / (1 - t) = s, the noise-to-signal ratio, is lognormal) or t = (2/pi) atan(s) on the cosine
   path (tan(pi t / 2) = sigma / alpha = s).  Each label becomes the null label (num_classes) with
   probability label_dropout, so the same network also learns the unconditional model that CFG
   needs.  The draws, per sample in order: t, the dropout uniform, then C*H*W normals for eps. */
IGDEF int ig_flow_batch(ig_rng *rng, const ig_config *cfg, const ig_train_config *tc, size_t B,
                        const float *x0, const int *labels, float *xt, float *t, float *target,
                        int *train_labels) {
    size_t per = (size_t)cfg->in_channels * (size_t)cfg->image_height * (size_t)cfg->image_width, b,
        i;
    for (b = 0; b < B; b++)   /* check first, so a bad label consumes no random numbers */
        if (labels[b] < 0 || labels[b] >= cfg->num_classes)
            return ig__fail("ig_flow_batch: label %d of sample %zu is outside 0..%d", labels[b], b,
                            cfg->num_classes - 1);
    for (b = 0; b < B; b++) {
        float tb;
        if (tc->t_sampling == IG_T_LOGNORMAL) {
            float s = expf(ig_rng_normal(rng));
            tb = tc->path == IG_PATH_COSINE ? (float)(2.0 / IG__PI * atan(s)) : s / (1.0f + s);
        } else {
            tb = ig_rng_uniform(rng);
        }
        t[b] = tb;
        train_labels[b] = ig_rng_uniform(rng) < tc->label_dropout ? cfg->num_classes : labels[b];
        for (i = 0; i < per; i++) {
            float e = ig_rng_normal(rng), x0i = x0[b * per + i];
            if (tc->path == IG_PATH_COSINE) {
                float al = cosf(0.5f * (float)IG__PI * tb), si = sinf(0.5f * (float)IG__PI * tb);
                xt[b * per + i] = al * x0i + si * e;
                target[b * per + i] = 0.5f * (float)IG__PI * (al * e - si * x0i);
            } else {
                xt[b * per + i] = (1.0f - tb) * x0i + tb * e;
                target[b * per + i] = e - x0i;
            }
        }
    }
    return 0;
}

/* The step itself, on a context already reset for training that holds the
   batch: x_t (B,C,H,W), t (B), labels (B), target v* (B,C,H,W), in the SiT
   convention.  The IG training loss (Zhou et al. 2026; aux_weight is their lambda, 0.5):
       loss = mse(v_final, v*) + aux_weight mse(v_aux, v*)
              [+ cos_weight mean(1 - cos(v_final, v*))]
   Both heads regress the same target; the aux head's gradient flows into blocks 1..k too (no
   stop-gradient), so the early blocks serve both heads.  The cosine term (LightningDiT's release)
   compares the channel vectors at each position.  A LightningDiT network is trained in its own
   convention: t becomes t_ldit = 1 - t and the target u = -v* (data minus noise), both in place in
   the batch; the losses are equal: (v_ldit - u)^2 = (-v_ldit - v*)^2, cos(-a, -b) = cos(a, b). */
static int ig__train_step_core(ig_model *m, ig_ctx *ctx, const ig_train_config *tc, ig_tensor *x,
                               float *t, const int *labels, ig_tensor *tg, ig_train_stats *stats) {
    ig_tensor *v, *v_aux = NULL, *loss_final, *loss_aux = NULL, *loss_cos = NULL, *loss;
    size_t i;
    float norm;
    int counting = ig__counting(ctx);
    for (i = 0; i < x->n && !counting; i++)
        if (!isfinite(x->data[i]) || !isfinite(tg->data[i]))
            return ig__fail("ig_train_step: the batch holds a non-finite value (element %zu); "
                            "weights left unchanged", i);
    if (m->cfg.arch == IG_ARCH_LIGHTNING && !counting) {
        for (i = 0; i < x->shape[0]; i++) t[i] = 1.0f - t[i];
        for (i = 0; i < tg->n; i++) tg->data[i] = -tg->data[i];
    }
    if (!counting) memset(m->grads, 0, m->nweights * sizeof(float));
    /* aux_weight 0 is the plain baseline: the aux head is not even computed */
    if (ig_forward(m, ctx, x, t, labels, &v, tc->aux_weight != 0.0f ? &v_aux : NULL)) return -1;
    loss_final = ig_mse(ctx, v, tg);
    loss = loss_final;
    if (v_aux) {
        loss_aux = ig_mse(ctx, v_aux, tg);
        loss = ig_add(ctx, loss_final, ig_scale(ctx, loss_aux, tc->aux_weight));
    }
    if (tc->cos_weight != 0.0f) {
        loss_cos = ig_cos_loss(ctx, v, tg);
        loss = ig_add(ctx, loss, ig_scale(ctx, loss_cos, tc->cos_weight));
    }
    if (ig_backward(ctx, loss)) return -1;
    if (counting) return 0;   /* ig_model_scratch_bytes: the scratch is all counted */
    if (!isfinite(loss->data[0]))   /* steps count from 1: this is step m->step + 1 */
        return ig__fail("ig_train_step: the loss is %g at step %lld; nothing was changed",
                        (double)loss->data[0], (long long)m->step + 1);
    norm = ig__clip_grads(m, tc->grad_clip);
    if (!isfinite(norm))
        return ig__fail("ig_train_step: the gradient norm is not finite at step %lld; nothing was "
                        "changed", (long long)m->step + 1);
    if (ig__adamw_ema(m, tc)) return -1;   /* step += 1, or nothing changed */
    if (stats) {
        stats->loss = loss->data[0]; stats->loss_final = loss_final->data[0];
        stats->loss_aux = loss_aux ? loss_aux->data[0] : 0.0f;
        stats->loss_cos = loss_cos ? loss_cos->data[0] : 0.0f; stats->grad_norm = norm;
    }
    return 0;
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

IGDEF ig_train_config ig_train_defaults(void) {
    ig_train_config tc;
    tc.lr = 1e-4f; tc.beta1 = 0.9f; tc.beta2 = 0.999f; tc.eps = 1e-8f; tc.weight_decay = 0.0f;
    tc.grad_clip = 1.0f; tc.ema_decay = 0.9999f; tc.aux_weight = 0.5f; tc.cos_weight = 0.0f;
    tc.label_dropout = 0.1f;
    tc.path = IG_PATH_LINEAR; tc.t_sampling = IG_T_UNIFORM;
    return tc;
}

/* AdamW, as torch.optim.AdamW does it (step s counts from 1):
     w <- w (1 - lr wd)
     m <- b1 m + (1 - b1) g          v <- b2 v + (1 - b2) g^2
     w <- w - (lr / (1 - b1^s)) m / (sqrt(v) / sqrt(1 - b2^s) + eps)
   then the EMA of the weights:  ema <- d ema + (1 - d) w, an average over about the last
   1 / (1 - d) steps, smoother than the last step: samplers use it.  (Stored only if all finite.) */
typedef struct { float b1, b2, eps, step_size, bc2_sqrt, decay, d; } ig__adamw_coef;
static int ig__adamw_check(const ig_model *m, const ig__adamw_coef *c, const ig_train_config *tc);

static ig__adamw_coef ig__adamw_coefs(const ig_train_config *tc, int64_t step) {
    ig__adamw_coef c;
    double s = (double)step;
    c.b1 = tc->beta1; c.b2 = tc->beta2; c.eps = tc->eps; c.d = tc->ema_decay;
    c.step_size = tc->lr / (float)(1.0 - pow(tc->beta1, s));
    c.bc2_sqrt = (float)sqrt(1.0 - pow(tc->beta2, s));
    c.decay = 1.0f - tc->lr * tc->weight_decay;
    return c;
}

/* One element's step: g its gradient; w, mo, v, e its weight, moments and EMA, updated in place. */
static inline void ig__adamw_elem(const ig__adamw_coef *c, float g, float *pw, float *pm,
                                  float *pv, float *pe) {
    float w = *pw, mo = *pm, v = *pv, e = *pe;
    w *= c->decay;
    mo = c->b1 * mo + (1.0f - c->b1) * g;
    v = c->b2 * v + (1.0f - c->b2) * g * g;
    w -= c->step_size * mo / (sqrtf(v) / c->bc2_sqrt + c->eps);
    *pw = w; *pm = mo; *pv = v; *pe = c->d * e + (1.0f - c->d) * w;
}

/* Takes step m->step + 1: 0, or -1 with the model untouched. */
static int ig__adamw_ema(ig_model *m, const ig_train_config *tc) {
    ig__adamw_coef c = ig__adamw_coefs(tc, m->step + 1);
    int pi;
    if (ig__adamw_check(m, &c, tc)) return -1;
    m->step++;
    for (pi = 0; pi < m->nparams; pi++) {
        const ig_param *pp = &m->params[pi];
        size_t i, o = pp->offset, n = pp->t->n;
        float *w = m->weights, *mo = m->adam_m, *v = m->adam_v, *e = m->ema, *g = m->grads;
        if (!pp->trainable) continue;
        IG__OMP(omp parallel for simd schedule(static) if (n > 65536))   /* 16 elements at a time */
        for (i = o; i < o + n; i++) ig__adamw_elem(&c, g[i], &w[i], &mo[i], &v[i], &e[i]);
    }
    return 0;
}

/* The finiteness guards of the AdamW step.  A step must not leave a weight, moment or EMA value
   non-finite (a huge lr overflows them; the model could never be saved or loaded again).  The exact
   check runs the update without storing it, a scalar loop as slow as the update (sqrtf may set
   errno), so a vectorized bound goes first: with eps > 0 and v' >= 0 (a negative beta2 can make v'
   negative, and sqrt(v') NaN) the denominator is >= eps, so
       |w'| <= |w decay| + |step_size| |m'| / eps      |ema'| <= |d ema| + |1 - d| |w'|
   and if these bounds, |m'| and v' stay below 1e37 (FLT_MAX / 34: room for rounding) nothing can
   overflow; only when they do not (a huge lr, eps 0) does the exact check run. */
/* 1 if the bounds above prove that no new value can be non-finite.  Only eps and bc2_sqrt need a
   look of their own: any other inf or NaN coefficient makes a bound inf or NaN, which fails it. */
static int ig__adamw_surely_finite(const ig_model *m, const ig__adamw_coef *c) {
    const float lim = 1e37f;
    float inv_eps = 1.0f / c->eps, ss = fabsf(c->step_size), d = fabsf(c->d),
        d1 = fabsf(1.0f - c->d);
    int pi, bad = !(c->eps > 0.0f && c->bc2_sqrt > 0.0f);
    for (pi = 0; pi < m->nparams && !bad; pi++) {
        const ig_param *pp = &m->params[pi];
        size_t i, o = pp->offset, n = pp->t->n;
        if (!pp->trainable) continue;
        IG__OMP(omp parallel for schedule(static) reduction(|:bad) if (n > 65536))
        for (i = o; i < o + n; i++) {
            float g = m->grads[i];
            float mo = c->b1 * m->adam_m[i] + (1.0f - c->b1) * g;
            float v = c->b2 * m->adam_v[i] + (1.0f - c->b2) * g * g;
            float wb = fabsf(m->weights[i] * c->decay) + ss * fabsf(mo) * inv_eps;
            float eb = d * fabsf(m->ema[i]) + d1 * wb;
            bad |= !(fabsf(mo) <= lim) | !(v >= 0.0f) | !(v <= lim) | !(wb <= lim) | !(eb <= lim);
        }
    }
    return !bad;
}

/* 0 if every new value of the step is finite; else -1, naming the first value
   that is not (the scalar scan that finds it runs only on this failure). */
static int ig__adamw_check(const ig_model *m, const ig__adamw_coef *c, const ig_train_config *tc) {
    static const char *what[4] = { "weight", "AdamW first moment", "AdamW second moment",
                                  "EMA value" };
    int pi, q, bad = 0;
    if (ig__adamw_surely_finite(m, c)) return 0;
    for (pi = 0; pi < m->nparams; pi++) {
        const ig_param *pp = &m->params[pi];
        size_t i, o = pp->offset, n = pp->t->n;
        if (!pp->trainable) continue;
        IG__OMP(omp parallel for schedule(static) reduction(|:bad) if (n > 65536))
        for (i = o; i < o + n; i++) {
            float nv[4] = { m->weights[i], m->adam_m[i], m->adam_v[i], m->ema[i] };
            ig__adamw_elem(c, m->grads[i], &nv[0], &nv[1], &nv[2], &nv[3]);
            bad |= ig__nonfinite(nv[0]) | ig__nonfinite(nv[1]) | ig__nonfinite(nv[2]) |
                   ig__nonfinite(nv[3]);
        }
        for (i = o; bad && i < o + n; i++) {
            float nv[4] = { m->weights[i], m->adam_m[i], m->adam_v[i], m->ema[i] };
            ig__adamw_elem(c, m->grads[i], &nv[0], &nv[1], &nv[2], &nv[3]);
            for (q = 0; q < 4; q++)
                if (ig__nonfinite(nv[q]))
                    return ig__fail("ig_train_step: step %lld would make the %s of '%s' (element "
                                    "%zu) %g (lr %g, weight decay %g: too large?); nothing was "
                                    "changed: weights, moments, EMA and step count are as before "
                                    "the step", (long long)m->step + 1, what[q], pp->name, i - o,
                                    (double)nv[q], (double)tc->lr, (double)tc->weight_decay);
        }
    }
    return 0;
}

/* === 7. sampling ========================================================= */
/* Sampling integrates dx/dt = v(x, t) from t = 1 (noise) to t = 0 (data); the
   model with its guidance becomes such a field v in ig_guided_velocity. */

IGDEF void ig_grid_uniform(float *grid, size_t nsteps) {
    size_t i;
    for (i = 0; i <= nsteps; i++) grid[i] = 1.0f - (float)i / (float)nsteps;
}

/* The samplers' few buffers of n floats come from the heap once per call (not per step). */
static float *ig__buffers(size_t n, size_t count) {
    float *p = (float *)IG_MALLOC(n * count * sizeof(float));
    if (!p) ig__fail("ig: sampler: could not allocate %zu floats", n * count);
    return p;
}

/* Euler: x <- x + (t' - t) v(x, t).  One evaluation per step. */
IGDEF int ig_sample_euler(ig_velocity_fn f, void *user, float *x, size_t n, const float *grid,
                          size_t nsteps) {
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

/* Heun (second order, the trapezoid rule):
     x_e = x + dt v(x, t);   x <- x + dt (v(x, t) + v(x_e, t')) / 2
   euler_last: the step that lands on t = 0 stays Euler (ig_sample_heun, as in EDM). */
static int ig__heun(ig_velocity_fn f, void *user, float *x, size_t n, const float *grid,
                    size_t nsteps, int euler_last) {
    float *buf = ig__buffers(n, 3), *v = buf, *v2 = buf + n, *xe = buf + 2 * n;
    size_t s, i;
    if (!buf) return -1;
    for (s = 0; s < nsteps; s++) {
        float t = grid[s], tn = grid[s + 1], dt = tn - t;
        if (f(user, x, n, t, v)) goto fail;
        if (euler_last && tn == 0.0f) {
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

IGDEF int ig_sample_heun(ig_velocity_fn f, void *user, float *x, size_t n, const float *grid,
                         size_t nsteps) { return ig__heun(f, user, x, n, grid, nsteps, 1); }

IGDEF int ig_sample_heun2(ig_velocity_fn f, void *user, float *x, size_t n, const float *grid,
                          size_t nsteps) { return ig__heun(f, user, x, n, grid, nsteps, 0); }

/* Euler-Maruyama, the released IG sampler.  The reverse SDE with diffusion g2
   has the same marginals as the ODE for any g2 >= 0 once its drift is
       d = v - (g2 / 2) score,      score = grad log p_t(x)
   The score follows from the velocity.  On a path x_t = alpha x0 + sigma eps
   the model's v = alpha' x0_hat + sigma' eps_hat and x = alpha x0_hat + sigma eps_hat
   solve for the expected noise, and score = -eps_hat / sigma:
       eps_hat = (alpha v - alpha' x) / (alpha sigma' - alpha' sigma)
     linear (alpha = 1 - t, sigma = t):   eps_hat = (1 - t) v + x
     cosine (alpha = cos(pi t/2), sigma = sin(pi t/2)):
                                          eps_hat = (cos(pi t/2) v + (pi/2) sin(pi t/2) x) / (pi/2)
   With g2 = 2t (the released choice), on t_i = linspace(1, 0.04, N), a step is
       x <- x + d dt + sqrt(g2 |dt|) n,   n ~ N(0, I),   dt = t' - t < 0
   and a last noise-free step goes to 0 (the score is singular there). */
IGDEF int ig_sample_sde(ig_velocity_fn f, void *user, float *x, size_t n, size_t nsteps, int path,
                        ig_rng *rng) {
    float *v;
    size_t s, i;
    if (nsteps < 2) return ig__fail("ig_sample_sde: needs at least 2 steps");
    if (path != IG_PATH_LINEAR && path != IG_PATH_COSINE)
        return ig__fail("ig_sample_sde: unknown path %d (IG_PATH_LINEAR or IG_PATH_COSINE)", path);
    if (!(v = ig__buffers(n, 1))) return -1;
    for (s = 0; s < nsteps; s++) {
        int last = s + 1 == nsteps;
        float t = 1.0f - 0.96f * (float)s / (float)(nsteps - 1);
        float tn = last ? 0.0f : 1.0f - 0.96f * (float)(s + 1) / (float)(nsteps - 1);
        float dt = tn - t, g2 = 2.0f * t, noise = sqrtf(g2) * sqrtf(fabsf(dt));
        float half_pi = 0.5f * (float)IG__PI, al = cosf(half_pi * t), si = sinf(half_pi * t);
        if (f(user, x, n, t, v)) { IG_FREE(v); return -1; }
        for (i = 0; i < n; i++) {
            float score = path == IG_PATH_COSINE
                          ? -((al * v[i] + half_pi * si * x[i]) / half_pi) / si
                          : -((1.0f - t) * v[i] + x[i]) / t;
            x[i] += (v[i] - 0.5f * g2 * score) * dt;
            if (!last) x[i] += noise * ig_rng_normal(rng);
        }
    }
    IG_FREE(v);
    return 0;
}

IGDEF ig_guidance ig_guidance_none(void) {
    ig_guidance gd;
    gd.ig_weight = 1.0f; gd.ig_low = 0.0f; gd.ig_high = 1.0f;
    gd.cfg_scale = 1.0f; gd.cfg_low = 0.0f; gd.cfg_high = 1.0f;
    gd.guide = NULL; gd.guide_weight = 1.0f;
    return gd;
}

/* The forward as the samplers see it: ig_forward, or for a LightningDiT model its
   thin wrapper into the SiT convention (Appendix C.0). */
static int ig__forward_sit(ig_model *m, ig_ctx *ctx, ig_tensor *x, float *t, const int *labels,
                           ig_tensor **v, ig_tensor **v_aux);

/* The guided velocity of a batch x (B,C,H,W) at t; each method acts only for t in its interval:
     IG  (Zhou et al. 2026), w = ig_weight != 1, both heads of ONE forward:
             v = v_aux + w (v_final - v_aux)
     CFG (s = cfg_scale != 1): one forward of 2B rows, [labels; null label],
             IG applied to both halves, then v = v_u + s (v_c - v_u)
     autoguidance (guide != NULL): v_guide from the guide model's final head,
             a second network evaluation:  v = v_guide + w_g (v - v_guide)
   A LightningDiT model is seen through ig__forward_sit (SiT convention). */
IGDEF int ig_guided_velocity(void *user, const float *xin, size_t n, float t, float *vout) {
    ig_guided *G = (ig_guided *)user;
    ig_model *m = G->model;
    ig_ctx *ctx = G->ctx;
    const ig_guidance *gd = &G->guidance;
    size_t B = G->batch, per = n / B, rows, b, i;
    int use_ig = gd->ig_weight != 1.0f && t >= gd->ig_low && t <= gd->ig_high;
    int use_cfg = gd->cfg_scale != 1.0f && t >= gd->cfg_low && t <= gd->cfg_high;
    ig_tensor *x, *v_final, *v_aux = NULL;
    float *tt, w = gd->ig_weight, *vf, *va;
    int *lab;
    if (n != B * (size_t)m->cfg.in_channels * (size_t)m->cfg.image_height *
             (size_t)m->cfg.image_width)
        return ig__fail("ig_guided_velocity: %zu floats do not make a batch of %zu samples", n, B);
    rows = use_cfg ? 2 * B : B;
    if (ig__batch(m, ctx, rows, &x, NULL, &tt, &lab)) return -1;
    for (b = 0; b < rows; b++) {
        tt[b] = t;
        lab[b] = b < B ? G->labels[b] : m->cfg.num_classes;   /* second half: null label */
        memcpy(x->data + b * per, xin + (b % B) * per, per * sizeof(float));
    }
    if (ig__forward_sit(m, ctx, x, tt, lab, &v_final, use_ig ? &v_aux : NULL)) return -1;
    G->nfe += rows / B;
    vf = v_final->data;
    if (use_ig) {
        va = v_aux->data;
        for (i = 0; i < v_final->n; i++)
            vf[i] = va[i] + w * (vf[i] - va[i]);              /* v = v_aux + w (v_final - v_aux) */
    }
    if (use_cfg)
        for (i = 0; i < n; i++) vout[i] = vf[n + i] + gd->cfg_scale * (vf[i] - vf[n + i]);
    else
        memcpy(vout, vf, n * sizeof(float));
    if (gd->guide) {
        ig_ctx *gctx = G->guide_ctx ? G->guide_ctx : ctx;
        ig_tensor *xg, *vg;
        int *glab;
        if (ig__batch(gd->guide, gctx, B, &xg, NULL, &tt, &glab)) return -1;
        memcpy(xg->data, xin, n * sizeof(float));
        for (b = 0; b < B; b++) { tt[b] = t; glab[b] = G->labels[b]; }
        if (ig__forward_sit(gd->guide, gctx, xg, tt, glab, &vg, NULL)) return -1;
        G->nfe += 1;
        for (i = 0; i < n; i++) vout[i] = vg->data[i] + gd->guide_weight * (vout[i] - vg->data[i]);
    }
    return 0;
}

/* --- 7.1 the size of the scratch arena -----------------------------------
   Exact by construction: the training step (or one guided forward with IG on)
   runs on a counting arena (section 1), so the counted peak is the real one.
   The model has headers only; its weights and gradients are a dummy float. */
static float ig__dummy_float;

static void ig__counting_visit(void *user, const char *name, int ndim, size_t d0, size_t d1,
                               size_t d2, size_t d3, ig_tensor **slot, int trainable) {
    ig_model *m = (ig_model *)user;
    size_t shape[4];
    shape[0] = d0; shape[1] = d1; shape[2] = d2; shape[3] = d3; (void)name;
    if (slot) *slot = ig_tensor_wrap(&m->arena, &ig__dummy_float,
                                     trainable ? &ig__dummy_float : NULL, ndim, shape);
}

IGDEF size_t ig_model_scratch_bytes(const ig_config *cfg, size_t batch, int training) {
    ig_model m;
    ig_arena count;
    ig_ctx ctx;
    ig_train_config tc = ig_train_defaults();   /* aux_weight != 0: both heads */
    ig_tensor *x, *tg, *v, *va;
    float *t;
    int *labels, ok = 0;
    size_t tape = ig_model_tape_nodes(cfg), peak = 0;
    memset(&m, 0, sizeof m); memset(&count, 0, sizeof count);
    if (ig_config_check(cfg)) return 0;
    m.cfg = *cfg;
    tc.cos_weight = cfg->arch == IG_ARCH_LIGHTNING ? 1.0f : 0.0f;   /* each release's loss */
    /* headers only: the model's tensors, and the tape and op outputs of the run */
    if (ig_arena_init(&m.arena, "counting model",
                      (size_t)(cfg->depth + 2) * 16 * 256 + 4096)) return 0;
    if (ig_arena_init(&count, "counting", tape * (sizeof(ig_node) + 4 * 256) + 65536)) goto done;
    count.counting = 1;
    m.blocks = (ig_block_params *)ig_arena_alloc(&m.arena,
                                                 (size_t)cfg->depth * sizeof(ig_block_params));
    if (!m.blocks) goto done;
    ig__walk_params(&m, ig__counting_visit, &m);
    m.grads = &ig__dummy_float;
    if (ig_ctx_init(&ctx, &count, tape)) goto done;
    if (training)
        ok = !ig__batch(&m, &ctx, batch, &x, &tg, &t, &labels) &&
             !ig__train_step_core(&m, &ctx, &tc, x, t, labels, tg, NULL);
    else
        ok = !ig__batch(&m, &ctx, batch, &x, NULL, &t, &labels) &&
             !ig_forward(&m, &ctx, x, t, labels, &v, &va);
    peak = count.peak;
done:
    ig_arena_free(&count);
    ig_arena_free(&m.arena);
    return ok ? peak : 0;
}

/* === Appendix A. a fast matrix multiply ================================== */
/* ig__gemm computes what ig__gemm_ref of section 4 computes, C (M,N) =
   beta C + op(A) op(B), fast, by the GotoBLAS / BLIS scheme (docs/gemm.md
   tells it in detail, with the measurements behind the block sizes):

     for jc in [0,N) step NC          columns of C and B
       for pc in [0,K) step KC        the shared dimension
         pack B[pc:pc+KC, jc:jc+NC] -> Bp   (KC x NC, stays in L3)
         for ic in [0,M) step MC      rows of C
           pack A[ic:ic+MC, pc:pc+KC] -> Ap (MC x KC, stays in L2)
           for each MR x NR tile of C[ic.., jc..]:
             micro-kernel: tile (+)= Ap sliver (MR x KC, in L1) * Bp sliver (KC x NR)

   The micro-kernel keeps the tile of C in registers for the whole KC loop: per step k, NR/VW vector
   loads of B and MR broadcasts of A feed MR*NR/VW FMAs (AVX-512: 4 and 6 feed 24), so the FMA unit,
   not memory, is the limit.  Packing puts the operands in the kernel's order, absorbs the
   transposes (with AVX-512 through registers, 16 k at a time) and zero-pads the edge tiles.  Small
   problems skip packing and threads (ig__gemm_small).  IG_NO_FAST_GEMM leaves all of this out. */
#if !defined(IG_NO_FAST_GEMM)
#ifndef IG_MAX_THREADS
#define IG_MAX_THREADS 8
#endif
/* One kernel for every target: ig__vf is a GNU C vector of IG__VW floats (16 with AVX-512, 8 with
   AVX2 and FMA, 4 otherwise: SSE2, NEON, ...), or without GNU C a plain float.  The register tile
   is IG__MR = 6 rows by IG__NV vectors: 6 x 4 zmm (+ 4 of B: 28 of 32 registers), else 6 x 2 (+ 2
   of B + 1 of A: 15 of 16).  IG__FMA(a,b,c) = a*b + c, fused where there is an intrinsic (with
   -std=c99 gcc never contracts a*b + c itself), and IG__SPLAT(x) = x in every lane (ditto). */
#if defined(__GNUC__) && defined(__AVX512F__)
#include <immintrin.h>
#define IG__VW 16
#define IG__FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define IG__SPLAT(x) _mm512_set1_ps(x)
#elif defined(__GNUC__) && defined(__AVX__) && defined(__FMA__)
#include <immintrin.h>
#define IG__VW 8
#define IG__FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define IG__SPLAT(x) _mm256_set1_ps(x)
#elif defined(__GNUC__)
#define IG__VW 4
#else
#define IG__VW 1
#endif
#ifndef IG__FMA
#define IG__FMA(a, b, c) ((a) * (b) + (c))
#define IG__SPLAT(x) ig__splat(x)
#endif
#if defined(__GNUC__)
#define IG__ALIGNED64 __attribute__((aligned(64)))
__extension__ typedef float ig__vf __attribute__((vector_size(4 * IG__VW)));
#else
#define IG__ALIGNED64
typedef float ig__vf;
#endif
#define IG__MR 6
#define IG__NV (IG__VW == 16 ? 4 : 2)
#define IG__NR (IG__NV * IG__VW)
/* Cache blocks (MC is a multiple of MR); below SMALL_MNK multiply-adds
   (M*N*K) the unpacked small route, below PARALLEL_MNK one thread. */
#define IG__KC 384
#define IG__MC (20 * IG__MR)
#define IG__NC 1536
#define IG__SMALL_MNK (48 * 48 * 48)
#define IG__PARALLEL_MNK (128 * 128 * 64)

/* Packed buffers, one Ap and one Bp per thread, about 2.5 MB a pair (untouched pages of static
 * arrays cost no memory).  Being static, they make ig__gemm not reentrant. */
static float ig__gemm_bp[IG_MAX_THREADS][IG__KC * IG__NC] IG__ALIGNED64;
static float ig__gemm_ap[IG_MAX_THREADS][IG__MC * IG__KC] IG__ALIGNED64;

static size_t ig__min(size_t a, size_t b) { return a < b ? a : b; }
/* unaligned vector load/store (memcpy compiles to one vmovups) */
static ig__vf ig__vload(const float *p) { ig__vf v; memcpy(&v, p, sizeof v); return v; }
static void ig__vstore(float *p, ig__vf v) { memcpy(p, &v, sizeof v); }

/* all lanes x, where there is no intrinsic for it */
IG__MAYBE_UNUSED static ig__vf ig__splat(float x) {
    float l[IG__VW];
    int i;
    for (i = 0; i < IG__VW; i++) l[i] = x;
    return ig__vload(l);
}

/* the sum of the lanes as a fixed tree of halves: lane i += lane i + VW/2,
 * then i + VW/4, ...; for 16 lanes ((l0+l8) + (l4+l12)) + ((l2+l10) + ...) */
static float ig__hsum(ig__vf v) {
    float l[IG__VW];
    int i;
    ig__vstore(l, v);
    for (i = 0; i < IG__VW / 2; i++) l[i] += l[i + IG__VW / 2];
    for (i = 0; i < IG__VW / 4; i++) l[i] += l[i + IG__VW / 4];
    for (i = 0; i < IG__VW / 8; i++) l[i] += l[i + IG__VW / 8];
    for (i = 0; i < IG__VW / 16; i++) l[i] += l[i + IG__VW / 16];
    return l[0];
}

/* Micro-kernel: c[MR,NR] (row stride ldc) = or += a * b, with a[p*MR + i] =
 * op(A)(i, p) and b[p*NR + j] = op(B)(p, j) packed.  The accumulators are
 * indexed only by constants after unrolling, so they all stay in registers. */
static void ig__kernel(size_t kc, const float *a, const float *b, float *c, size_t ldc, int accumulate) {
    ig__vf acc[IG__MR][IG__NV];
    size_t p;
    int i, v;
    for (i = 0; i < IG__MR; i++)
        for (v = 0; v < IG__NV; v++) acc[i][v] = IG__SPLAT(0.0f);
    for (p = 0; p < kc; p++) {
        for (i = 0; i < IG__MR; i++) {
            ig__vf ai = IG__SPLAT(a[i]);
            for (v = 0; v < IG__NV; v++) /* the compiler loads b's NV vectors once */
                acc[i][v] = IG__FMA(ai, ig__vload(b + v * IG__VW), acc[i][v]);
        }
        a += IG__MR;
        b += IG__NR;
    }
    for (i = 0; i < IG__MR; i++)
        for (v = 0; v < IG__NV; v++) {
            float *cp = c + (size_t)i * ldc + v * IG__VW;
            ig__vstore(cp, accumulate ? ig__vload(cp) + acc[i][v] : acc[i][v]);
        }
}

#if defined(__GNUC__) && defined(__AVX512F__)
/* Packing "by columns" (below) is a transpose: element by element it is slower than the
 * multiply-adds it feeds would like (about 1 float per ns for Bp).  With AVX-512 the full slivers
 * go 16 p at a time through registers instead, 3 to 4 times faster: Bp slivers (w = NR = 64) in
 * blocks of 16 x 16, Ap slivers (w = MR = 6) in blocks of 6 x 16.
 * _mm512_permutex2var_ps(a, idx, b) takes its lane k from a[idx[k]] for idx[k] < 16, from
 * b[idx[k] - 16] otherwise.  The index vectors are constants once their loops are unrolled. */
#define IG__PACK512 1

/* One round h of a 16 x 16 transpose, on rows r[0..15]: for each pair of rows (i, i+h) with
 * i & h == 0, in every group of 2h lanes the upper h lanes of row i trade places with the lower h
 * lanes of row i+h (a 2 x 2 transpose of h x h blocks).  Rounds h = 8, 4, 2, 1 transpose it all. */
static inline void ig__transpose_round(__m512 *r, int h) {
    int lo[16], hi[16], k, m;
    __m512i ilo, ihi;
    for (k = 0; k < 16; k++) {
        lo[k] = k % (2 * h) < h ? k : 16 + k - h;
        hi[k] = k % (2 * h) < h ? k + h : 16 + k;
    }
    ilo = _mm512_loadu_si512(lo); ihi = _mm512_loadu_si512(hi);
    for (m = 0; m < 8; m++) {
        int i = m / h * 2 * h + m % h;
        __m512 a = r[i], b = r[i + h];
        r[i] = _mm512_permutex2var_ps(a, ilo, b);
        r[i + h] = _mm512_permutex2var_ps(a, ihi, b);
    }
}

/* d[p*ldd + j] = s[j*lds + p] for j, p < 16 */
static void ig__transpose16(const float *s, size_t lds, float *d, size_t ldd) {
    __m512 r[16];
    int i;
    for (i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(s + i * lds);
    ig__transpose_round(r, 8);
    ig__transpose_round(r, 4);
    ig__transpose_round(r, 2);
    ig__transpose_round(r, 1);
    for (i = 0; i < 16; i++) _mm512_storeu_ps(d + i * ldd, r[i]);
}

/* Vector o (lanes 16o..16o+15) of the interleave d[p*6 + j] = r[j][p]:
 * lane l holds element e = 16o + l, p = e / 6, j = e % 6.  One index
 * vector picks p from the pair (r[0], r[1]), (r[2], r[3]) or (r[4], r[5])
 * (j % 2 says which of the two); masks take each lane from its pair j / 2. */
static inline void ig__interleave6_out(const __m512 *r, int o, float *d) {
    int idx[16], l;
    unsigned pair1 = 0, pair2 = 0;
    __m512i ix;
    __m512 v;
    for (l = 0; l < 16; l++) {
        int e = 16 * o + l;
        idx[l] = e % 6 % 2 * 16 + e / 6;
        if (e % 6 / 2 == 1) pair1 |= 1u << l;
        if (e % 6 / 2 == 2) pair2 |= 1u << l;
    }
    ix = _mm512_loadu_si512(idx);
    v = _mm512_permutex2var_ps(r[0], ix, r[1]);
    v = _mm512_mask_blend_ps((__mmask16)pair1, v, _mm512_permutex2var_ps(r[2], ix, r[3]));
    v = _mm512_mask_blend_ps((__mmask16)pair2, v, _mm512_permutex2var_ps(r[4], ix, r[5]));
    _mm512_storeu_ps(d + 16 * o, v);
}

/* d[p*6 + j] = s[j*lds + p] for j < 6, p < 16 (96 floats) */
static void ig__interleave6(const float *s, size_t lds, float *d) {
    __m512 r[6];
    int j;
    for (j = 0; j < 6; j++) r[j] = _mm512_loadu_ps(s + j * lds);
    ig__interleave6_out(r, 0, d); /* written out: gcc unrolls no loop over o here */
    ig__interleave6_out(r, 1, d);
    ig__interleave6_out(r, 2, d);
    ig__interleave6_out(r, 3, d);
    ig__interleave6_out(r, 4, d);
    ig__interleave6_out(r, 5, d);
}
#else
#define IG__PACK512 0
#endif

/* Packing, one routine for both operands.  A panel P (kc,n) of a matrix X goes into slivers of w
 * columns, dst[s*kc + p*w + j] = P(p, s + j) for s a multiple of w, zero past n.  Bp packs
 * P(p, j) = op(B)(p0 + p, j0 + j) with w = NR; Ap packs the transpose
 * P(p, i) = op(A)(i0 + i, p0 + p) with w = MR.  X holds P by rows (B, or A with trans_a):
 * P(p, j) = X[(p0+p)*ldx + j0+j]; or by columns (A, or B with trans_b):
 * P(p, j) = X[(j0+j)*ldx + p0+p].  Inline: each call site gets a copy with w constant
 * (docs/gemm.md), which also picks the AVX-512 block code of Bp or Ap at compile time. */
static inline void ig__pack(int by_rows, const float *X, size_t ldx, size_t p0, size_t kc, size_t j0, size_t n, size_t w, float *dst) {
    size_t s, p, q, qe, j;
    if (by_rows) {
        /* read row p of the panel once, deal it out to the slivers */
        for (p = 0; p < kc; p++) {
            const float *src = X + (p0 + p) * ldx + j0;
            for (s = 0; s < n; s += w) {
                float *d = dst + s * kc + p * w;
                size_t m = ig__min(w, n - s);
                for (j = 0; j < m; j++) d[j] = src[s + j];
                for (; j < w; j++) d[j] = 0.0f;
            }
        }
        return;
    }
    /* a transpose */
    for (s = 0; s < n; s += w, dst += kc * w) {
        const float *src = X + (j0 + s) * ldx + p0;
        size_t m = ig__min(w, n - s); /* columns of P in this sliver, zeros after */
        q = 0;                        /* p < q are done */
#if IG__PACK512
        if (m == w && w % 16 == 0) { /* Bp: a full sliver of NR columns */
            for (j = 0; j < w; j += 16)
                for (q = 0; q + 16 <= kc; q += 16) ig__transpose16(src + j * ldx + q, ldx, dst + q * w + j, w);
        } else if (m == w && w == 6) { /* Ap: a full sliver of MR rows of A */
            for (q = 0; q + 16 <= kc; q += 16) ig__interleave6(src + q, ldx, dst + q * w);
        }
#endif
        /* element by element, in chunks of 16 p (one cache line of each column; one p at a time
         * thrashes L1 when ldx*4 is a multiple of 4 KB) */
        for (; q < kc; q += 16) {
            qe = ig__min(q + 16, kc);
            for (j = 0; j < w; j++)
                for (p = q; p < qe; p++) dst[p * w + j] = j < m ? src[j * ldx + p] : 0.0f;
        }
    }
}

/* Macro-kernel: C[0:mc, 0:nc] (+)= Ap * Bp, one MR x NR tile at a time */
static void ig__macro(size_t mc, size_t nc, size_t kc, const float *ap, const float *bp, float *C, size_t ldc, int accumulate) {
    size_t s, j, ii, jj;
    for (j = 0; j < nc; j += IG__NR)
        for (s = 0; s < mc; s += IG__MR) {
            float *c = C + s * ldc + j;
            float tmp[IG__MR * IG__NR];
            size_t m = ig__min(IG__MR, mc - s), n = ig__min(IG__NR, nc - j);
            if (m == IG__MR && n == IG__NR) {
                ig__kernel(kc, ap + s * kc, bp + j * kc, c, ldc, accumulate);
                continue;
            }
            /* edge tile: the full tile into tmp, copy the valid part */
            ig__kernel(kc, ap + s * kc, bp + j * kc, tmp, IG__NR, 0);
            for (ii = 0; ii < m; ii++)
                for (jj = 0; jj < n; jj++)
                    c[ii * ldc + jj] = accumulate ? c[ii * ldc + jj] + tmp[ii * IG__NR + jj] : tmp[ii * IG__NR + jj];
        }
}

/* Small route: no packing, no threads; inner loops walk contiguous memory.  dot(a[0:K], b[0:K])
 * with 4 independent vector accumulators (one chain would wait on the FMA latency), fixed order. */
static float ig__dot(const float *a, const float *b, size_t K) {
    ig__vf acc[4];
    float s;
    size_t k = 0;
    int u;
    for (u = 0; u < 4; u++) acc[u] = IG__SPLAT(0.0f);
    for (; k + 4 * IG__VW <= K; k += 4 * IG__VW)
        for (u = 0; u < 4; u++)
            acc[u] = IG__FMA(ig__vload(a + k + u * IG__VW), ig__vload(b + k + u * IG__VW), acc[u]);
    s = ig__hsum((acc[0] + acc[1]) + (acc[2] + acc[3]));
    for (; k < K; k++) s += a[k] * b[k];
    return s;
}

static void ig__gemm_small(int trans_a, int trans_b, size_t M, size_t N, size_t K, const float *A, size_t lda,
                           const float *B, size_t ldb, float *C, size_t ldc) {
    size_t i, j, k;
    if (trans_a && trans_b) { /* both strided in k: rare, the plain loop */
        ig__gemm_ref(1, 1, M, N, K, A, lda, B, ldb, 1.0f, C, ldc);
        return;
    }
    for (i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (trans_b) {
            /* c[j] += dot(A row i, B row j): both contiguous in k */
            for (j = 0; j < N; j++) c[j] += ig__dot(A + i * lda, B + j * ldb, K);
            continue;
        }
        /* c[0:N] += op(A)(i,k) * B[k, 0:N]  (axpy over rows of B) */
        for (k = 0; k < K; k++) {
            float a = trans_a ? A[k * lda + i] : A[i * lda + k];
            const float *b = B + k * ldb;
            for (j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}

/* Tiny M, large W: C (M,N) += A (M,K) B^T with B (N,K) by rows, M <= TINY_M and N*K >= TINY_NK
 * floats (4 MB).  This is the adaLN Linear of every block, x (batch,D) W^T with W (6D,D): in
 * SiT-XL/2 at batch 4, M = 4, N = 6912, K = 1152, W 32 MB.  The packed route would copy all of W
 * into its packed buffers on every call, to fill 4 of the 6 rows of each register tile; here each
 * row of W is read once, from memory, for the M dot products with it (A's M rows stay in L1),
 * threads split N.  Each element is ig__dot's sum, as on the small route, for any thread count. */
#define IG__TINY_M 8
#define IG__TINY_NK ((size_t)1 << 20)
static void ig__gemm_tiny(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
                          float *C, size_t ldc) {
    size_t i, j;
    IG__OMP(omp parallel for schedule(static) private(i))
    for (j = 0; j < N; j++)
        for (i = 0; i < M; i++) C[i * ldc + j] += ig__dot(A + i * lda, B + j * ldb, K);
}

/* The single-thread blocked algorithm (the 5 loops of the top comment) on
 * C[M,N] (+)= op(A) op(B), with KC = kcb and this thread's buffers. */
static void ig__gemm_blocked(int trans_a, int trans_b, size_t M, size_t N, size_t K, const float *A, size_t lda,
                             const float *B, size_t ldb, float beta, float *C, size_t ldc, size_t kcb, float *ap, float *bp) {
    size_t jc, pc, ic;
    for (jc = 0; jc < N; jc += IG__NC) {
        size_t nc = ig__min(IG__NC, N - jc);
        for (pc = 0; pc < K; pc += kcb) {
            size_t kc = ig__min(kcb, K - pc);
            /* first K block overwrites C when beta == 0 */
            int accumulate = (pc > 0) || (beta != 0.0f);
            ig__pack(!trans_b, B, ldb, pc, kc, jc, nc, IG__NR, bp);
            for (ic = 0; ic < M; ic += IG__MC) {
                size_t mc = ig__min(IG__MC, M - ic);
                ig__pack(trans_a, A, lda, pc, kc, ic, mc, IG__MR, ap);
                ig__macro(mc, nc, kc, ap, bp, C + ic * ldc + jc, ldc, accumulate);
            }
        }
    }
}

/* Threads: C is cut into one slab per thread (rows if M >= N, else columns), each with its own
 * packing buffers, one fork/join per call; each packs the shared operand itself, cheap next to the
 * compute (O(K*N) against O(M/nt*N*K)).  K is never split and KC depends on K only, so every
 * element of C is summed in the same order for any thread count: same bits on 1 or 2 threads. */
static void ig__gemm_packed(int trans_a, int trans_b, size_t M, size_t N, size_t K, const float *A, size_t lda,
                            const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    size_t nkb = (K + IG__KC - 1) / IG__KC, kcb = (K + nkb - 1) / nkb; /* equal blocks <= KC */
    int split_rows = (M >= N);
    size_t w = split_rows ? IG__MR : IG__NR, units = ((split_rows ? M : N) + w - 1) / w;
    long nt = 1, t;
#if defined(_OPENMP)
    if (omp_in_parallel()) {
        /* called from inside a parallel loop (attention runs one per head), or from a program's own
         * parallel region (the toy trains two models at once): this thread alone, with the buffers
         * of its index among all threads, its number in each enclosing team combined */
        int me = 0, l;
        for (l = 1; l <= omp_get_level(); l++)
            me = me * omp_get_team_size(l) + omp_get_ancestor_thread_num(l);
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
    }
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#endif
    for (t = 0; t < nt; t++) {
        /* slab t: units [units*t/nt, units*(t+1)/nt) of w rows or columns,
         * with the buffers of slab t (no two running slabs share them) */
        size_t lo = units * t / nt * w, hi = ig__min(split_rows ? M : N, units * (t + 1) / nt * w);
        if (lo >= hi)
            continue;
        if (split_rows)
            ig__gemm_blocked(trans_a, trans_b, hi - lo, N, K, trans_a ? A + lo : A + lo * lda, lda, B, ldb,
                             beta, C + lo * ldc, ldc, kcb, ig__gemm_ap[t], ig__gemm_bp[t]);
        else
            ig__gemm_blocked(trans_a, trans_b, M, hi - lo, K, A, lda, trans_b ? B + lo * ldb : B + lo, ldb,
                             beta, C + lo, ldc, kcb, ig__gemm_ap[t], ig__gemm_bp[t]);
    }
}

/* Which route a product takes: tiny M (ig__gemm_tiny), small (ig__gemm_small) or packed. */
enum { IG__ROUTE_PACKED, IG__ROUTE_SMALL, IG__ROUTE_TINY };
static int ig__gemm_route(int trans_a, int trans_b, size_t M, size_t N, size_t K) {
    if (!trans_a && trans_b && M <= IG__TINY_M && (double)N * K >= (double)IG__TINY_NK) return IG__ROUTE_TINY;
    if (K == 0 || (double)M * N * K < (double)IG__SMALL_MNK || M < IG__MR / 2 || N < IG__NR / 4) return IG__ROUTE_SMALL;
    return IG__ROUTE_PACKED;
}

/* 1 when C^T (N,M) = op(B)^T op(A)^T, computed by
 * ig__gemm(!trans_b, !trans_a, N, M, K, B, ..., A, ...), holds C's elements bit for bit: when both
 * take the packed route, where each element is one chain of FMAs over k in order (in K blocks that
 * depend on K alone, with any beta*C added the same way) and a*b = b*a.  The small and tiny routes'
 * dot products and axpys round differently from each other and from the packed kernel. */
static int ig__gemm_transposes_exactly(int trans_a, int trans_b, size_t M, size_t N, size_t K) {
    return ig__gemm_route(trans_a, trans_b, M, N, K) == IG__ROUTE_PACKED &&
           ig__gemm_route(!trans_b, !trans_a, N, M, K) == IG__ROUTE_PACKED;
}

/* the packed route computes C (M,N) in MR x NR tiles, the edge tiles whole */
static size_t ig__gemm_tiles(size_t M, size_t N) {
    return (M + IG__MR - 1) / IG__MR * IG__MR * ((N + IG__NR - 1) / IG__NR * IG__NR);
}

static void ig__gemm(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                     const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    int route = ig__gemm_route(trans_a, trans_b, M, N, K);
    size_t i, j;
    if (M == 0 || N == 0) return;
    /* the small and tiny routes only accumulate into C, the packed one can
     * also overwrite it (beta == 0: C is never read); otherwise scale C first */
    if (beta != 1.0f && (route != IG__ROUTE_PACKED || beta != 0.0f)) {
        for (i = 0; i < M; i++)
            for (j = 0; j < N; j++)
                C[i * ldc + j] = (beta == 0.0f) ? 0.0f : beta * C[i * ldc + j];
        beta = 1.0f;
    }
    if (route == IG__ROUTE_TINY)
        ig__gemm_tiny(M, N, K, A, lda, B, ldb, C, ldc);
    else if (route == IG__ROUTE_SMALL)
        ig__gemm_small(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc);
    else
        ig__gemm_packed(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

#else /* IG_NO_FAST_GEMM: the plain loop of section 4 */
static void ig__gemm(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                     const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    ig__gemm_ref(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* the plain loop sums the same products in the same k order either way */
static int ig__gemm_transposes_exactly(int trans_a, int trans_b, size_t M, size_t N, size_t K) {
    (void)trans_a; (void)trans_b; (void)M; (void)N; (void)K;
    return 1;
}
static size_t ig__gemm_tiles(size_t M, size_t N) { return M * N; }   /* no tiles: never worth a transpose */
#endif /* IG_NO_FAST_GEMM */

/* Attention's narrow products (section 4.6): C (T,hd), row stride ldc, = beta C + op(A) op(B) with
   K shared: with ig__gemm_transposes_exactly, as C^T (hd,T) = op(B)^T op(A)^T into buf (hd rows of
   stride ldbuf >= T) and copied back, every element the same bits; directly on ig__gemm's small
   route, and where the transpose would fill no fewer register tiles (hd a multiple of the tile
   width NR: hd = 64 is one full tile with AVX-512's NR = 64, four with AVX2's 16). */
static void ig__gemm_narrow(int trans_a, int trans_b, size_t T, size_t hd, size_t K, const float *A, size_t lda,
                            const float *B, size_t ldb, float beta, float *C, size_t ldc, float *buf, size_t ldbuf) {
    size_t i, j;
    if (!ig__gemm_transposes_exactly(trans_a, trans_b, T, hd, K) || ig__gemm_tiles(hd, T) >= ig__gemm_tiles(T, hd)) {
        ig__gemm(trans_a, trans_b, T, hd, K, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (beta != 0.0f)   /* beta == 0: C is not read (it may hold NaN) */
        for (i = 0; i < T; i++)
            for (j = 0; j < hd; j++) buf[j * ldbuf + i] = C[i * ldc + j];
    ig__gemm(!trans_b, !trans_a, hd, T, K, B, ldb, A, lda, beta, buf, ldbuf);
    for (i = 0; i < T; i++)
        for (j = 0; j < hd; j++) C[i * ldc + j] = buf[j * ldbuf + i];
}

/* --- A.2 attention's kernels (section 4.6) ---------------------------------
   One (sample, head) of ig_attention, computing what ig__attention_ref does on transposes, keys by
   queries: S^T = k q^T has the bits of S (each element the same products in the same order), and
   the softmax of a query runs down a column, so the max, the sum and the rowsum of the backward,
   chains in key order, run for 16 queries side by side in one vector (the same values as one at a
   time).  The four products with hd columns (out, dv, dq, dk: (T,hd), K = T) go through
   ig__gemm_narrow: as the transpose (hd,T) when that fills fewer register tiles (XL/2: hd = 72). */

/* P^T = softmax(scale S) of each query, in place: ST (keys,queries) = S^T holds the unscaled dot
   products, one query per column; scale S is formed in the max pass and again, the same float
   product, in the exp pass.  Each column's max and sum run down the column in key order; the loops
   over a row of queries vectorize.  mx and sum: T floats each of work space. */
static void ig__softmax_cols(float *ST, size_t T, size_t ld, float scale, float *mx, float *sum) {
    size_t i, j;
    for (j = 0; j < T; j++) { mx[j] = ST[j] * scale; sum[j] = 0.0f; }
    for (i = 1; i < T; i++)
        for (j = 0; j < T; j++) {
            float v = ST[i * ld + j] * scale;
            mx[j] = v > mx[j] ? v : mx[j];                          /* exp(s - max) cannot overflow */
        }
    for (i = 0; i < T; i++)
        for (j = 0; j < T; j++) {
            float e = ig__exp(ST[i * ld + j] * scale - mx[j]);
            ST[i * ld + j] = e;
            sum[j] += e;
        }
    for (j = 0; j < T; j++) sum[j] = 1.0f / sum[j];
    for (i = 0; i < T; i++)
        for (j = 0; j < T; j++) ST[i * ld + j] *= sum[j];
}

/* One head's out (T,hd), row stride D, from its q, k = q + D and v = q + 2D (rows 3D apart): PT
   (T,T), row stride ld, gets P^T; tr is the thread's (max(hd,2),T) work buffer. */
static void ig__attention_head(const float *q, size_t T, size_t D, size_t hd, float *PT, size_t ld,
                               float *tr, float *out) {
    const float *k = q + D, *v = q + 2 * D;
    ig__gemm(0, 1, T, T, hd, k, 3 * D, q, 3 * D, 0.0f, PT, ld);  /* S^T = k q^T, scaled in the softmax */
    ig__softmax_cols(PT, T, ld, 1.0f / sqrtf((float)hd), tr, tr + T);
    ig__gemm_narrow(1, 0, T, hd, T, PT, ld, v, 3 * D, 0.0f, out, D, tr, ld);  /* out = (P^T)^T v */
}

/* Its backward: dq, dk = dq + D, dv = dq + 2D (rows 3D apart) += the gradients from dO (T,hd), row
   stride D, and the kept PT; dPT is the thread's (T,T) work buffer, tr its (max(hd,2),T) one. */
static void ig__attention_head_backward(const float *q, const float *PT, const float *dO, size_t T,
                                        size_t D, size_t hd, size_t ld, float *dPT, float *tr, float *dq) {
    const float *k = q + D, *v = q + 2 * D;
    float *dk = dq + D, *dv = dq + 2 * D, *dot = tr, scale = 1.0f / sqrtf((float)hd);
    size_t D3 = 3 * D, r, j;
    ig__gemm_narrow(0, 0, T, hd, T, PT, ld, dO, D, 1.0f, dv, D3, tr, ld);   /* dv (T,hd) += P^T dO */
    ig__gemm(0, 1, T, T, hd, v, D3, dO, D, 0.0f, dPT, ld);   /* dP^T (T,T) = v dO^T */
    /* dS = P * (dP - rowsum(dP*P)), a query's row a column here */
    for (j = 0; j < T; j++) dot[j] = 0.0f;
    for (r = 0; r < T; r++)
        for (j = 0; j < T; j++) dot[j] += dPT[r * ld + j] * PT[r * ld + j];
    for (r = 0; r < T; r++) {
        float *dp = dPT + r * ld;
        const float *p = PT + r * ld;
        for (j = 0; j < T; j++) dp[j] = p[j] * (dp[j] - dot[j]) * scale;
    }
    ig__gemm_narrow(1, 0, T, hd, T, dPT, ld, k, D3, 1.0f, dq, D3, tr, ld);  /* dq += dS k   (scaled) */
    ig__gemm_narrow(0, 0, T, hd, T, dPT, ld, q, D3, 1.0f, dk, D3, tr, ld);  /* dk += dS^T q (scaled) */
}

#endif /* IG_IMPLEMENTATION_PART1 */
#endif /* IG_IMPLEMENTATION */

/* === Appendix B. checkpoints (safetensors) =============================== */
/* Appendix B's declarations sit here, after the method, like its code: the header
   part of ig.h ends with them (still outside IG_IMPLEMENTATION). */
#ifndef IG_H_CHECKPOINTS
#define IG_H_CHECKPOINTS
/* A safetensors file: 8 bytes N (little-endian), N bytes of JSON {"__metadata__": {"k": "v"},
   "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}, the data.
   The reader trusts nothing: strict JSON (UTF-8 checked); each tensor's bytes exactly shape x
   dtype size, inside the data, overlapping no other; names unique.  Read as float: F32, F16,
   BF16; as int64: I64, I32, U8; the other dtypes raw.  Little-endian hosts only (others get
   an error); files over 2 GiB need a 64-bit long. */
typedef enum { IG_F32, IG_F16, IG_BF16, IG_I64, IG_I32, IG_U8, IG_DTYPE_OTHER } ig_dtype;

#define IG_ST_MAX_DIMS 8
#define IG_ST_MAX_HEADER (100u << 20)   /* a longer JSON header is refused */

typedef struct {                 /* one tensor of an opened file                            */
    char *name;                  /* UTF-8                                                   */
    ig_dtype dtype; char dtype_name[8]; int dtype_size;  /* "F32", "U16", ...; bytes each  */
    int ndim; int64_t shape[IG_ST_MAX_DIMS];             /* ndim 0..8; 0 is a scalar        */
    size_t begin, end;           /* its bytes in the data section                           */
} ig_st_tensor;

typedef struct {                 /* an opened file; tensor data is read on demand            */
    char filename[512]; FILE *f;
    size_t data_start, data_size;                /* where the data section starts, its bytes */
    ig_st_tensor *tensors; int ntensors;         /* in header order                          */
    char **meta_keys, **meta_vals; int nmeta;    /* the "__metadata__" strings, in order     */
} ig_st_file;

IGDEF int  ig_st_open(ig_st_file *st, const char *filename); /* 0, or -1 (st left closed) */
IGDEF void ig_st_close(ig_st_file *st);                    /* harmless after a failed open */
IGDEF const ig_st_tensor *ig_st_find(const ig_st_file *st, const char *name); /* NULL: absent */
IGDEF const char *ig_st_meta(const ig_st_file *st, const char *key);         /* NULL: absent */
IGDEF size_t ig_st_numel(const ig_st_tensor *t);           /* product of the shape */
/* n is the element count: F32/F16/BF16 as float, I64/I32/U8 as int64, any dtype as its
   raw little-endian bytes (nbytes = end - begin).  0 or -1. */
IGDEF int ig_st_read_f32(ig_st_file *st, const ig_st_tensor *t, float *dst, size_t n);
IGDEF int ig_st_read_i64(ig_st_file *st, const ig_st_tensor *t, int64_t *dst, size_t n);
IGDEF int ig_st_read_raw(ig_st_file *st, const ig_st_tensor *t, void *dst, size_t nbytes);

/* The writer:  ig_st_writer w;  ig_st_writer_init(&w);
       ig_st_add(&w, "x", IG_F32, 2, shape, data);   F32; F16/BF16 uint16_t bits; I64, I32, U8
       ig_st_add_meta(&w, "format", "pt");           data is read at the save, not copied
       ig_st_writer_save(&w, "out.safetensors");  ig_st_writer_free(&w);
   After a failed add the writer refuses to save.  A save writes "<filename>.<random>.tmp"
   (created exclusively), fsyncs it, renames it over the file and fsyncs the directory; the
   file must be regular or absent (a link, directory, device or fifo is refused); on
   failure it is untouched and the temporary file removed.  Killed outright, a save
   leaves the old or the new file plus its own .tmp file.  Needs POSIX 2001 (gnu99, or
   _POSIX_C_SOURCE 200112L before the first #include); else plain fopen + rename. */
typedef struct {
    char *name; ig_dtype dtype; int ndim; int64_t shape[IG_ST_MAX_DIMS]; const void *data; size_t nbytes;
} ig_st_wentry;
typedef struct ig_st_writer {
    ig_st_wentry *entries; int n;
    char **meta_keys, **meta_vals; int nmeta;
    int failed;                  /* an add failed: the save refuses */
} ig_st_writer;

IGDEF void ig_st_writer_init(ig_st_writer *w);
IGDEF int  ig_st_add(ig_st_writer *w, const char *name, ig_dtype dtype, int ndim,
                     const int64_t *shape, const void *data);              /* 0 or -1 */
IGDEF int  ig_st_add_meta(ig_st_writer *w, const char *key, const char *val); /* copied */
IGDEF int  ig_st_writer_save(ig_st_writer *w, const char *filename);       /* 0 or -1 */
IGDEF void ig_st_writer_free(ig_st_writer *w);                             /* not the data */

/* A checkpoint: the released PyTorch state dict's names (torch's load_state_dict(strict=True)
   takes it, training state dropped), the configuration in "__metadata__" as decimal strings.
   ig_save: the weights; with training_state also "ema.<name>", "adam.m.<name>",
   "adam.v.<name>", the step and the RNG, so that ig_load resumes bit for bit.  A non-finite
   value is refused, naming the tensor.  ig_save_ema: the EMA under the plain names. */
IGDEF int ig_save(const ig_model *m, const char *filename, int training_state);
IGDEF int ig_save_ema(const ig_model *m, const char *filename);
/* Loads every parameter, checking names, dtypes (F32, F16, BF16), shapes and finiteness;
   the training state too when the file has it and m trains (without it, a training m's
   EMA becomes a copy of the loaded weights).  A training state needs the step in the
   metadata (else refused); without the RNG state there, m keeps its own RNG (the run goes
   on, but not bit for bit).  aux_depth, num_heads and t_scale in the metadata must be the
   model's (a file without them is not checked).  strict: a tensor the model does not know
   is an error (else skipped).  On failure m is unchanged. */
IGDEF int ig_load(ig_model *m, const char *filename, int strict);
/* The configuration of a checkpoint, every number range-checked before use: sizes from the shapes;
   image size, t_scale, heads and aux_depth from the metadata (heads > 0 or aux_depth > 0 override
   it).  Without metadata: a square image (the token grid's side times p), t_scale 1 (the release's
   raw t), the heads of the paper's preset of that width, and aux_depth 8 (the release's code hangs
   the head after block 8 for every size; the presets' 4 for S and B is for models trained here);
   where one of these cannot apply, an error says what to pass. */
IGDEF int ig_config_from_file(ig_config *cfg, const char *filename, int heads, int aux_depth);
#endif /* IG_H_CHECKPOINTS */

#ifdef IG_IMPLEMENTATION
#ifndef IG_IMPLEMENTATION_DONE
#define IG_IMPLEMENTATION_DONE

#include <errno.h>
#include <limits.h>
#include <time.h>
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif
#if defined(_POSIX_VERSION) && _POSIX_VERSION >= 200112L
#define IG__POSIX 1              /* exclusive create, fsync, lstat: see ig_st_writer_save */
#include <fcntl.h>
#include <sys/stat.h>
#else
#define IG__POSIX 0
#endif

/* In a function with a 'done:' label: on cond, set the error and go there. */
#define IG__TRY(cond, ...) do { if (cond) { ig__fail(__VA_ARGS__); goto done; } } while (0)

/* The dtypes a file may hold: the first IG_DTYPE_OTHER are ig_dtype's, the others are read raw. */
static const char *const ig__st_dtypes[] = { "F32", "F16", "BF16", "I64", "I32", "U8",
    "F64", "I8", "I16", "U16", "U32", "U64", "BOOL", "F8_E4M3", "F8_E5M2", "F8_E8M0", "C64" };
static const char ig__st_sizes[] = { 4, 2, 2, 8, 4, 1, 8, 1, 2, 2, 4, 8, 1, 1, 1, 1, 8 };   /* bytes each */

static int ig__st_little_endian(void) { uint16_t x = 1; unsigned char c; memcpy(&c, &x, 1); return c == 1; }
static char *ig__st_strdup(const char *s) { char *p = (char *)IG_MALLOC(strlen(s) + 1); return p ? strcpy(p, s) : NULL; }

/* Room for element n of a growing array (no realloc): capacity 16, 32, 64, ..., full when n is
   16 or a larger power of 2.  The (maybe new) array, or NULL with the old one still valid. */
static void *ig__st_grow(void *a, int n, size_t elem) {
    void *p;
    if (n && (n < 16 || (n & (n - 1)))) return a;
    if ((p = IG_MALLOC((size_t)(n ? 2 * n : 16) * elem)) != NULL) { if (n) memcpy(p, a, (size_t)n * elem); IG_FREE(a); }
    return p;
}

/* Appends (key, val) to the metadata arrays of *n pairs.  -1: no memory (key, val not taken). */
static int ig__st_pair(char ***keys, char ***vals, int *n, char *key, char *val) {
    char **k = (char **)ig__st_grow(*keys, *n, sizeof *k), **v;
    if (k) *keys = k;
    if (!k || !(v = (char **)ig__st_grow(*vals, *n, sizeof *v))) return -1;
    *vals = v;
    k[*n] = key;
    v[(*n)++] = val;
    return 0;
}

/* *bytes = size x the product of the shape (0 if a dimension is 0); -1 if over max. */
static int ig__st_bytes(const int64_t *shape, int ndim, uint64_t size, uint64_t max, uint64_t *bytes) {
    int d;
    for (d = 0; d < ndim; d++) if (!shape[d]) size = 0;
    for (d = 0; d < ndim && size; size *= (uint64_t)shape[d++]) if (size > max / (uint64_t)shape[d]) return -1;
    *bytes = size;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (n bytes left); 0: overlong, surrogate, > U+10FFFF, bad. */
static size_t ig__st_utf8(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t k = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0, i;
    for (i = 1; i < k && i < n; i++) if ((s[i] & 0xc0) != 0x80) return 0;
    if (!k || n < k || (c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] > 0x8f)) return 0;
    return k;
}
static int ig__st_utf8_ok(const char *s) {
    size_t n = strlen(s), i, k;
    for (i = 0; i < n; i += k) if (!(k = ig__st_utf8((const unsigned char *)s + i, n - i))) return 0;
    return 1;
}

/* --- a strict JSON reader for the header; J->p walks [base, end).  Only what the format allows:
   objects, strings, integers in [0, 2^63), a null "__metadata__"; all else (unknown fields too) fails. */
typedef struct { const char *base, *p, *end, *filename; } ig__json;

static int ig__jerr(ig__json *J, const char *what) {
    return ig__fail("%s: invalid JSON header at byte %lu: %s", J->filename, (unsigned long)(8 + (size_t)(J->p - J->base)), what);
}
/* Skips whitespace; the next character, or 0 at the end. */
static int ig__jpeek(ig__json *J) {
    while (J->p < J->end && (*J->p == ' ' || *J->p == '\t' || *J->p == '\n' || *J->p == '\r')) J->p++;
    return J->p < J->end ? (unsigned char)*J->p : 0;
}
static int ig__jexpect(ig__json *J, int c, const char *what) {
    if (ig__jpeek(J) != c) return ig__jerr(J, what);
    J->p++;
    return 0;
}

static int ig__jhex4(const char *s, unsigned *out) {
    char h[5] = { 0, 0, 0, 0, 0 };
    memcpy(h, s, 4);
    *out = (unsigned)strtoul(h, NULL, 16);
    return strspn(h, "0123456789abcdefABCDEF") == 4 ? 0 : -1;
}

/* A string, decoded into *out (IG_MALLOC'd): escapes to UTF-8 (\u surrogate pairs joined), raw bytes
   must be UTF-8; control characters and \u0000 are refused (names are C strings). */
static int ig__jstring(ig__json *J, char **out) {
    static const char esc[] = "\"\\/bfnrt", dec[] = "\"\\/\b\f\n\r\t";
    const char *q, *r, *why = NULL, *e; char *w;
    *out = NULL;
    if (ig__jpeek(J) != '"') return ig__jerr(J, "expected a string");
    for (q = r = ++J->p; q < J->end && *q != '"'; q++) if (*q == '\\' && q + 1 < J->end) q++;
    if (q >= J->end) return ig__jerr(J, "unterminated string");
    if (!(w = *out = (char *)IG_MALLOC((size_t)(q - r) + 1))) return ig__fail("%s: out of memory", J->filename); /* never longer */
    while (r < q && !why) {
        unsigned cp = (unsigned char)*r, lo;
        size_t k;
        if (cp == '\\') {
            if (r[1] && (e = strchr(esc, r[1])) != NULL) { cp = (unsigned char)dec[e - esc]; r += 2; }
            else if (r[1] != 'u' || q - r < 6 || ig__jhex4(r + 2, &cp)) why = "invalid escape";
            else if (r += 6, cp >= 0xd800 && cp <= 0xdbff && q - r >= 6 && r[0] == '\\' && r[1] == 'u' &&
                     !ig__jhex4(r + 2, &lo) && lo >= 0xdc00 && lo <= 0xdfff) { cp = 0x10000u + ((cp - 0xd800u) << 10) + (lo - 0xdc00u); r += 6; }
            if (!why && (!cp || (cp >= 0xd800 && cp <= 0xdfff))) why = cp ? "unpaired surrogate" : "\\u0000 in a string";
            if (why) break;
            if (cp < 0x80) *w++ = (char)cp;                /* the code point as 1 to 4 UTF-8 bytes */
            else if (cp < 0x800) { *w++ = (char)(0xc0 | cp >> 6); *w++ = (char)(0x80 | (cp & 63)); }
            else if (cp < 0x10000) { *w++ = (char)(0xe0 | cp >> 12); *w++ = (char)(0x80 | (cp >> 6 & 63)); *w++ = (char)(0x80 | (cp & 63)); }
            else { *w++ = (char)(0xf0 | cp >> 18); *w++ = (char)(0x80 | (cp >> 12 & 63));
                   *w++ = (char)(0x80 | (cp >> 6 & 63)); *w++ = (char)(0x80 | (cp & 63)); }
        } else if (cp < 0x20) why = "control character in a string";
        else if (!(k = ig__st_utf8((const unsigned char *)r, (size_t)(q - r)))) why = "invalid UTF-8";
        else { memcpy(w, r, k); w += k; r += k; }
    }
    if (why) { IG_FREE(*out); *out = NULL; J->p = r; return ig__jerr(J, why); }
    *w = 0;
    J->p = q + 1;
    return 0;
}

/* An object's members, one a call from *state = 0: 1 with *key and J after the ':', 0 at the '}', -1. */
static int ig__jmember(ig__json *J, int *state, char **key) {
    *key = NULL;
    if (!*state && ig__jexpect(J, '{', "expected an object")) return -1;
    if (ig__jpeek(J) == '}') { J->p++; return 0; }
    if (*state && ig__jexpect(J, ',', "expected ',' or '}'")) return -1;
    *state = 1;
    if (ig__jstring(J, key)) return -1;
    if (ig__jexpect(J, ':', "expected ':'")) { IG_FREE(*key); *key = NULL; return -1; }
    return 1;
}

/* "[a, b, ...]": at most max integers in [0, 2^63), no sign, fraction or exponent. */
static int ig__jints(ig__json *J, const char *tname, const char *field, int64_t *v, int max, int *n) {
    *n = 0;
    if (ig__jexpect(J, '[', "expected an array")) return -1;
    if (ig__jpeek(J) == ']') { J->p++; return 0; }
    for (;;) {
        uint64_t u = 0;
        if (ig__jpeek(J) < '0' || *J->p > '9' || (*J->p == '0' && J->p + 1 < J->end && J->p[1] >= '0' && J->p[1] <= '9'))
            return ig__fail("%s: tensor '%s': \"%s\" holds a value that is not an integer in [0, 2^63)", J->filename, tname, field);
        for (; J->p < J->end && *J->p >= '0' && *J->p <= '9'; J->p++) {
            if (u > ((uint64_t)INT64_MAX - (uint64_t)(*J->p - '0')) / 10)
                return ig__fail("%s: tensor '%s': \"%s\" holds a value of 2^63 or more", J->filename, tname, field);
            u = 10 * u + (uint64_t)(*J->p - '0');
        }
        if (*n == max) return ig__fail("%s: tensor '%s': \"%s\" has more than %d values", J->filename, tname, field, max);
        v[(*n)++] = (int64_t)u;
        if (ig__jpeek(J) != ',') return ig__jexpect(J, ']', "expected ',' or ']'");
        J->p++;
    }
}

/* One tensor: {"dtype": ..., "shape": [...], "data_offsets": [begin, end]}, nothing else; its bytes
   exactly shape x dtype size, inside the data section of data_size bytes. */
static int ig__st_entry(ig__json *J, ig_st_tensor *t, uint64_t data_size) {
    static const char *field[3] = { "dtype", "shape", "data_offsets" };
    int64_t off[2] = { 0, 0 }; uint64_t b, e, bytes = 0; int state = 0, seen = 0, r, n = 2, f, d = 0; char *key;
    while ((r = ig__jmember(J, &state, &key)) == 1) {
        for (f = 0; f < 3 && strcmp(key, field[f]); f++) {}
        if (f == 3 || (seen >> f & 1)) ig__fail("%s: tensor '%s': %s \"%.40s\"", J->filename, t->name, f == 3 ? "unknown field" : "duplicate", key);
        IG_FREE(key);
        if (f == 3 || (seen >> f & 1)) return -1;
        seen |= 1 << f;
        if (f == 0) {                                     /* d: its index in ig__st_dtypes */
            if (ig__jpeek(J) != '"') return ig__fail("%s: tensor '%s': \"dtype\" is not a string", J->filename, t->name);
            if (ig__jstring(J, &key)) return -1;
            for (d = 0; d < (int)sizeof ig__st_sizes && strcmp(key, ig__st_dtypes[d]); d++) {}
            if (d == (int)sizeof ig__st_sizes) ig__fail("%s: tensor '%s': unknown dtype \"%.20s\"", J->filename, t->name, key);
            IG_FREE(key);
            if (d == (int)sizeof ig__st_sizes) return -1;
        } else if (f == 1 ? ig__jints(J, t->name, "shape", t->shape, IG_ST_MAX_DIMS, &t->ndim) : ig__jints(J, t->name, "data_offsets", off, 2, &n))
            return -1;
        if (n != 2) return ig__fail("%s: tensor '%s': \"data_offsets\" must hold 2 values", J->filename, t->name);
    }
    for (f = 0; f < 3 && r == 0; f++) if (!(seen >> f & 1)) return ig__fail("%s: tensor '%s': missing \"%s\"", J->filename, t->name, field[f]);
    if (r) return -1;
    t->dtype = d < IG_DTYPE_OTHER ? (ig_dtype)d : IG_DTYPE_OTHER;
    t->dtype_size = ig__st_sizes[d];
    strcpy(t->dtype_name, ig__st_dtypes[d]);
    b = (uint64_t)off[0]; e = (uint64_t)off[1];
    if (ig__st_bytes(t->shape, t->ndim, (uint64_t)t->dtype_size, UINT64_MAX, &bytes))
        return ig__fail("%s: tensor '%s': its shape overflows 64 bits", J->filename, t->name);
    if (b > e || e > data_size)
        return ig__fail("%s: tensor '%s': data_offsets [%llu, %llu] are reversed or outside the data section (%llu bytes)",
                        J->filename, t->name, (unsigned long long)b, (unsigned long long)e, (unsigned long long)data_size);
    if (e - b != bytes)
        return ig__fail("%s: tensor '%s': shape and dtype %s need %llu bytes, data_offsets [%llu, %llu] hold %llu", J->filename, t->name,
                        t->dtype_name, (unsigned long long)bytes, (unsigned long long)b, (unsigned long long)e, (unsigned long long)(e - b));
    t->begin = (size_t)b; t->end = (size_t)e;
    return 0;
}

/* "__metadata__": an object of strings, or null. */
static int ig__st_metadata(ig_st_file *st, ig__json *J) {
    int state = 0, r; char *key, *val;
    if (ig__jpeek(J) == 'n' && J->end - J->p >= 4 && !memcmp(J->p, "null", 4)) { J->p += 4; return 0; }
    while ((r = ig__jmember(J, &state, &key)) == 1) {
        val = NULL;
        if (ig_st_meta(st, key)) ig__fail("%s: duplicate \"__metadata__\" key '%s'", st->filename, key);
        else if (ig__jpeek(J) != '"') ig__fail("%s: \"__metadata__\" value of '%s' is not a string", st->filename, key);
        else if (!ig__jstring(J, &val) && !ig__st_pair(&st->meta_keys, &st->meta_vals, &st->nmeta, key, val)) continue;
        else if (val) ig__fail("%s: out of memory", st->filename);
        IG_FREE(key); IG_FREE(val);
        return -1;
    }
    return r;
}

/* The header: one object of tensors and at most one "__metadata__"; st owns what is read. */
static int ig__st_header(ig_st_file *st, ig__json *J) {
    int state = 0, have_meta = 0, r; char *key; ig_st_tensor *t;
    while ((r = ig__jmember(J, &state, &key)) == 1) {
        if (!strcmp(key, "__metadata__")) {
            IG_FREE(key);
            if (have_meta++) return ig__fail("%s: duplicate \"__metadata__\"", st->filename);
            if (ig__st_metadata(st, J)) return -1;
            continue;
        }
        if (!(t = (ig_st_tensor *)ig__st_grow(st->tensors, st->ntensors, sizeof *t))) { IG_FREE(key); return ig__fail("%s: out of memory", st->filename); }
        st->tensors = t;
        t += st->ntensors++;
        memset(t, 0, sizeof *t);
        t->name = key;
        if (ig__st_entry(J, t, st->data_size)) return -1;
    }
    ig__jpeek(J);
    if (r == 0 && J->p != J->end) return ig__jerr(J, "data after the JSON object");
    return r;
}

static int ig__st_by_name(const void *a, const void *b) { return strcmp((*(ig_st_tensor *const *)a)->name, (*(ig_st_tensor *const *)b)->name); }
static int ig__st_by_begin(const void *a, const void *b) {
    size_t x = (*(ig_st_tensor *const *)a)->begin, y = (*(ig_st_tensor *const *)b)->begin;
    return x < y ? -1 : x > y;
}

/* Names unique, no two tensors' bytes overlapping: sorted by name, then by begin. */
static int ig__st_check(ig_st_file *st) {
    ig_st_tensor **by, *last = NULL; int i, n = st->ntensors, rc = 0;
    if (n < 2) return 0;
    if (!(by = (ig_st_tensor **)IG_MALLOC(sizeof *by * (size_t)n))) return ig__fail("%s: out of memory", st->filename);
    for (i = 0; i < n; i++) by[i] = &st->tensors[i];
    qsort(by, (size_t)n, sizeof *by, ig__st_by_name);
    for (i = 1; i < n && !rc; i++)
        if (!strcmp(by[i - 1]->name, by[i]->name)) rc = ig__fail("%s: duplicate tensor name '%s'", st->filename, by[i]->name);
    qsort(by, (size_t)n, sizeof *by, ig__st_by_begin);
    for (i = 0; i < n && !rc; i++) {        /* in order of begin: against the furthest end so far */
        if (by[i]->end == by[i]->begin) continue;
        if (last && by[i]->begin < last->end) rc = ig__fail("%s: tensors '%s' and '%s' overlap in the data section", st->filename, last->name, by[i]->name);
        if (!last || by[i]->end > last->end) last = by[i];
    }
    IG_FREE(by);
    return rc;
}

/* Files beyond 2 GiB need a 64-bit long (every 64-bit Unix; not Windows). */
static int ig__st_seek(FILE *f, uint64_t off, int whence) { return off <= (uint64_t)LONG_MAX && !fseek(f, (long)off, whence) ? 0 : -1; }

IGDEF int ig_st_open(ig_st_file *st, const char *filename) {
    unsigned char len[8]; uint64_t fsize, hlen = 0; char *hdr = NULL; int i, rc = -1; ig__json J;
    memset(st, 0, sizeof *st);
    if (!filename) return ig__fail("ig_st_open: NULL filename");
    if (strlen(filename) >= sizeof st->filename) return ig__fail("%.300s...: filename too long", filename);
    strcpy(st->filename, filename);
    if (!ig__st_little_endian()) return ig__fail("%s: safetensors files are read on little-endian hosts only", filename);
    if (!(st->f = fopen(filename, "rb"))) return ig__fail("%s: cannot open: %s", filename, strerror(errno));
    fsize = ig__st_seek(st->f, 0, SEEK_END) ? 0 : (uint64_t)ftell(st->f);   /* an error (-1) becomes huge: refused */
    IG__TRY(fsize < 8 || fsize > (uint64_t)INT64_MAX || ig__st_seek(st->f, 0, SEEK_SET) || fread(len, 1, 8, st->f) != 8,
            "%s: not a safetensors file (shorter than 8 bytes, or unreadable)", filename);
    for (i = 7; i >= 0; i--) hlen = hlen << 8 | len[i];
    IG__TRY(hlen > IG_ST_MAX_HEADER || hlen > fsize - 8 || fsize - 8 - hlen > (uint64_t)SIZE_MAX, "%s: header length %llu is "
            "beyond the file (%llu bytes) or the limit (%u); truncated, or not safetensors?", filename, (unsigned long long)hlen,
            (unsigned long long)fsize, (unsigned)IG_ST_MAX_HEADER);
    st->data_start = (size_t)(8 + hlen); st->data_size = (size_t)(fsize - 8 - hlen);
    IG__TRY(!(hdr = (char *)IG_MALLOC((size_t)hlen + 1)) || fread(hdr, 1, (size_t)hlen, st->f) != (size_t)hlen,
            "%s: cannot read the %llu-byte header", filename, (unsigned long long)hlen);
    J.base = J.p = hdr; J.end = hdr + hlen; J.filename = st->filename;
    rc = ig__st_header(st, &J) || ig__st_check(st) ? -1 : 0;
done:
    IG_FREE(hdr);
    if (rc) ig_st_close(st);
    return rc;
}

IGDEF void ig_st_close(ig_st_file *st) {
    int i;
    if (!st) return;
    for (i = 0; i < st->ntensors; i++) IG_FREE(st->tensors[i].name);
    for (i = 0; i < st->nmeta; i++) { IG_FREE(st->meta_keys[i]); IG_FREE(st->meta_vals[i]); }
    if (st->f) fclose(st->f);
    IG_FREE(st->tensors); IG_FREE(st->meta_keys); IG_FREE(st->meta_vals);
    memset(st, 0, sizeof *st);
}

IGDEF const ig_st_tensor *ig_st_find(const ig_st_file *st, const char *name) {
    int i;
    for (i = 0; st && name && i < st->ntensors; i++) if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}
IGDEF const char *ig_st_meta(const ig_st_file *st, const char *key) {
    int i;
    for (i = 0; st && key && i < st->nmeta; i++) if (!strcmp(st->meta_keys[i], key)) return st->meta_vals[i];
    return NULL;
}

IGDEF size_t ig_st_numel(const ig_st_tensor *t) {
    uint64_t n = 0;
    ig__st_bytes(t->shape, t->ndim, 1, SIZE_MAX, &n);   /* no overflow: the bytes are in the file */
    return (size_t)n;
}

/* Checks a read (t one of st's, n its size) and seeks to t's data. */
static int ig__st_at(ig_st_file *st, const ig_st_tensor *t, size_t n, size_t want, const char *fn) {
    if (!st || !st->f || !t || t->end < t->begin || t->end > st->data_size) return ig__fail("%s: file not open, or not its tensor", fn);
    if (n != want) return ig__fail("%s: tensor '%s': %s asked for %zu, it has %zu", st->filename, t->name, fn, n, want);
    if (ig__st_seek(st->f, (uint64_t)st->data_start + t->begin, SEEK_SET)) return ig__fail("%s: tensor '%s': seek failed", st->filename, t->name);
    return 0;
}

IGDEF int ig_st_read_raw(ig_st_file *st, const ig_st_tensor *t, void *dst, size_t nbytes) {
    if (ig__st_at(st, t, nbytes, t ? t->end - t->begin : 0, "ig_st_read_raw")) return -1;
    if (nbytes && fread(dst, 1, nbytes, st->f) != nbytes) return ig__fail("%s: tensor '%s': read error (file truncated or changed?)", st->filename, t->name);
    return 0;
}

/* F16: sign, 5 exponent bits (bias 15), 10 mantissa bits; every value is exact in float. */
static float ig__st_f16(uint32_t h) {
    uint32_t e = h >> 10 & 31, m = h & 1023, u = (h & 0x8000u) << 16 | 0x7f800000u | m << 13;
    float f;
    if (e == 31) { memcpy(&f, &u, 4); return f; }                            /* inf, NaN (payload kept) */
    f = e ? ldexpf((float)(m | 1024), (int)e - 25) : ldexpf((float)m, -24);  /* normal, subnormal */
    return h & 0x8000u ? -f : f;
}

/* n elements of t as float (F32, F16, BF16) or int64 (I64, I32, U8): the file's bytes into the
   front of dst, then widened in place from the back (no element is wider in the file than in dst,
   so element i's bytes are read before anything is written over them). */
static int ig__st_convert(ig_st_file *st, const ig_st_tensor *t, void *dst, size_t n, int to_float, const char *fn) {
    const unsigned char *raw = (const unsigned char *)dst; size_t i;
    if (ig__st_at(st, t, n, t ? ig_st_numel(t) : 0, fn)) return -1;
    if (to_float ? t->dtype != IG_F32 && t->dtype != IG_F16 && t->dtype != IG_BF16 : t->dtype != IG_I64 && t->dtype != IG_I32 && t->dtype != IG_U8)
        return ig__fail("%s: tensor '%s' has dtype %s, not %s", st->filename, t->name, t->dtype_name, to_float ? "F32, F16 or BF16" : "I64, I32 or U8");
    if (ig_st_read_raw(st, t, dst, n * (size_t)t->dtype_size)) return -1;
    for (i = n; t->dtype != IG_F32 && t->dtype != IG_I64 && i-- > 0;) {
        const unsigned char *b = raw + i * (size_t)t->dtype_size;
        uint32_t h = t->dtype == IG_U8 ? 0 : (uint32_t)b[0] | (uint32_t)b[1] << 8, u = h << 16;
        int32_t v;
        if (to_float && t->dtype == IG_F16) ((float *)dst)[i] = ig__st_f16(h);
        else if (to_float) memcpy((float *)dst + i, &u, 4);          /* BF16 is the top half of an F32 */
        else if (t->dtype == IG_I32) { memcpy(&v, b, 4); ((int64_t *)dst)[i] = v; }
        else ((int64_t *)dst)[i] = b[0];                             /* U8 */
    }
    return 0;
}

IGDEF int ig_st_read_f32(ig_st_file *st, const ig_st_tensor *t, float *dst, size_t n) { return ig__st_convert(st, t, dst, n, 1, "ig_st_read_f32"); }
IGDEF int ig_st_read_i64(ig_st_file *st, const ig_st_tensor *t, int64_t *dst, size_t n) { return ig__st_convert(st, t, dst, n, 0, "ig_st_read_i64"); }

/* --- the writer ------------------------------------------------------------ */
IGDEF void ig_st_writer_init(ig_st_writer *w) { memset(w, 0, sizeof *w); }
IGDEF void ig_st_writer_free(ig_st_writer *w) {
    int i;
    if (!w) return;
    for (i = 0; i < w->n; i++) IG_FREE(w->entries[i].name);
    for (i = 0; i < w->nmeta; i++) { IG_FREE(w->meta_keys[i]); IG_FREE(w->meta_vals[i]); }
    IG_FREE(w->entries); IG_FREE(w->meta_keys); IG_FREE(w->meta_vals);
    memset(w, 0, sizeof *w);
}

static int ig__st_add(ig_st_writer *w, const char *name, ig_dtype dtype, int ndim, const int64_t *shape, const void *data) {
    ig_st_wentry *e; uint64_t bytes = 0; int i;
    if (!name) return ig__fail("ig_st_add: NULL name");
    if ((int)dtype < 0 || dtype >= IG_DTYPE_OTHER) return ig__fail("ig_st_add: tensor '%s': dtype %d cannot be written", name, (int)dtype);
    if (ndim < 0 || ndim > IG_ST_MAX_DIMS || (ndim && !shape)) return ig__fail("ig_st_add: tensor '%s': invalid ndim %d", name, ndim);
    if (!ig__st_utf8_ok(name) || !strcmp(name, "__metadata__")) return ig__fail("ig_st_add: tensor name '%s' is not UTF-8, or reserved", name);
    for (i = 0; i < ndim; i++) if (shape[i] < 0) return ig__fail("ig_st_add: tensor '%s': negative dimension %lld", name, (long long)shape[i]);
    if (ig__st_bytes(shape, ndim, (uint64_t)ig__st_sizes[dtype], SIZE_MAX, &bytes)) return ig__fail("ig_st_add: tensor '%s': size overflows", name);
    if (bytes && !data) return ig__fail("ig_st_add: tensor '%s': NULL data", name);
    for (i = 0; i < w->n; i++) if (!strcmp(w->entries[i].name, name)) return ig__fail("ig_st_add: duplicate tensor name '%s'", name);
    if (!(e = (ig_st_wentry *)ig__st_grow(w->entries, w->n, sizeof *e))) return ig__fail("ig_st_add: out of memory");
    w->entries = e;
    if (!(e[w->n].name = ig__st_strdup(name))) return ig__fail("ig_st_add: out of memory");
    e += w->n++;
    e->dtype = dtype; e->ndim = ndim; e->data = data; e->nbytes = (size_t)bytes;
    for (i = 0; i < ndim; i++) e->shape[i] = shape[i];
    return 0;
}

static int ig__st_add_meta(ig_st_writer *w, const char *key, const char *val) {
    char *k, *v; int i;
    if (!key || !val) return ig__fail("ig_st_add_meta: NULL key or value");
    if (!ig__st_utf8_ok(key) || !ig__st_utf8_ok(val)) return ig__fail("ig_st_add_meta: key '%s': key or value is not UTF-8", key);
    for (i = 0; i < w->nmeta; i++) if (!strcmp(w->meta_keys[i], key)) return ig__fail("ig_st_add_meta: duplicate key '%s'", key);
    k = ig__st_strdup(key); v = ig__st_strdup(val);
    if (k && v && !ig__st_pair(&w->meta_keys, &w->meta_vals, &w->nmeta, k, v)) return 0;
    IG_FREE(k); IG_FREE(v);
    return ig__fail("ig_st_add_meta: out of memory");
}

IGDEF int ig_st_add(ig_st_writer *w, const char *name, ig_dtype dtype, int ndim, const int64_t *shape, const void *data) {
    int rc = w ? ig__st_add(w, name, dtype, ndim, shape, data) : ig__fail("ig_st_add: NULL writer");
    if (rc && w) w->failed = 1;
    return rc;
}
IGDEF int ig_st_add_meta(ig_st_writer *w, const char *key, const char *val) {
    int rc = w ? ig__st_add_meta(w, key, val) : ig__fail("ig_st_add_meta: NULL writer");
    if (rc && w) w->failed = 1;
    return rc;
}

/* s as a JSON string: '"' and '\' escaped, control characters as \u00XX. */
static void ig__st_jput(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20) { fprintf(f, "\\u%04x", (unsigned)*s); continue; }
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* filename must be a regular file or absent: never replace a link, device, fifo or directory. */
static int ig__st_dest_ok(const char *filename) {
#if IG__POSIX
    struct stat s;
    if (lstat(filename, &s) != 0) return errno == ENOENT ? 0 : ig__fail("%s: not saved: cannot check it: %s", filename, strerror(errno));
    if (!S_ISREG(s.st_mode))
        return ig__fail("%s: not saved: it is a %s, not a regular file, and is left alone", filename, S_ISLNK(s.st_mode) ? "symbolic link" :
                        S_ISDIR(s.st_mode) ? "directory" : S_ISFIFO(s.st_mode) ? "fifo" : S_ISCHR(s.st_mode) || S_ISBLK(s.st_mode) ? "device" : "special file");
#endif
    return filename ? 0 : -1;
}

/* A new file "<filename>.<12 hex digits>.tmp" that no other save shares, created exclusively (O_EXCL: no
   existing file, no link).  Its name is drawn from the time, the pid and the address of a local (each
   thread has its own stack), again if taken: no shared counter, so threads may save at once. */
static FILE *ig__st_create_tmp(const char *filename, char *tmp, size_t cap) {
    ig_rng r; FILE *f = NULL; int tries, fd = -1;
    ig_rng_seed(&r, (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&r);
#if IG__POSIX
    r.state ^= (uint64_t)getpid() << 20;
#endif
    for (tries = 0; tries < 8; tries++) {
        snprintf(tmp, cap, "%s.%012llx.tmp", filename, (unsigned long long)(ig_rng_u64(&r) >> 16));
#if IG__POSIX
        if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666)) < 0 && errno == EEXIST) continue;   /* taken: draw again */
        if (fd >= 0 && !(f = fdopen(fd, "wb"))) { close(fd); remove(tmp); }
#else
        f = fopen(tmp, "wb");              /* plain C has no exclusive create: the 48 random bits must do */
#endif
        break;
    }
    (void)fd;
    return f;
}

IGDEF int ig_st_writer_save(ig_st_writer *w, const char *filename) {
    unsigned char len[8]; uint64_t off = 0; long hlen; FILE *f = NULL; int i, d, rc = -1; char tmp[4096 + 32];
    if (!w || !filename) return ig__fail("ig_st_writer_save: NULL writer or filename");
    if (strlen(filename) > 4096) return ig__fail("%.300s...: not saved: filename too long", filename);
    if (w->failed) return ig__fail("%s: not saved: an earlier ig_st_add or ig_st_add_meta failed", filename);
    if (!ig__st_little_endian()) return ig__fail("%s: safetensors files are written on little-endian hosts only", filename);
    if (ig__st_dest_ok(filename)) return -1;
    if (!(f = ig__st_create_tmp(filename, tmp, sizeof tmp)))
        return ig__fail("%s: not saved: cannot create a temporary file next to it: %s", filename, strerror(errno));
    /* 8 bytes for the header's length (written once known), the JSON, the tensors back to back */
    fputs("        {", f);
    for (i = 0; i < w->nmeta; i++) {
        fputs(i ? "," : "\"__metadata__\":{", f);
        ig__st_jput(f, w->meta_keys[i]);
        fputc(':', f);
        ig__st_jput(f, w->meta_vals[i]);
    }
    if (w->nmeta) fputc('}', f);
    for (i = 0; i < w->n; i++) {
        const ig_st_wentry *e = &w->entries[i];
        if (i || w->nmeta) fputc(',', f);
        ig__st_jput(f, e->name);
        fprintf(f, ":{\"dtype\":\"%s\",\"shape\":[", ig__st_dtypes[e->dtype]);
        for (d = 0; d < e->ndim; d++) fprintf(f, d ? ",%lld" : "%lld", (long long)e->shape[d]);
        fprintf(f, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + e->nbytes));
        IG__TRY((off += e->nbytes) < e->nbytes, "%s: not saved: the tensors add up to more than 2^64 bytes", filename);
    }
    fputc('}', f);
    for (hlen = ftell(f) - 8; hlen > 0 && hlen % 8; hlen++) fputc(' ', f);   /* the data starts 8-byte aligned */
    IG__TRY(hlen <= 0 || hlen > (long)IG_ST_MAX_HEADER, "%s: not saved: the header is over the limit, or unwritable", filename);
    for (i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)hlen >> 8 * i);
    IG__TRY(fseek(f, 0, SEEK_SET) || fwrite(len, 1, 8, f) != 8 || fseek(f, 8 + hlen, SEEK_SET), "%s: not saved: write error (disk full?)", filename);
    for (i = 0; i < w->n; i++)
        IG__TRY(w->entries[i].nbytes && fwrite(w->entries[i].data, 1, w->entries[i].nbytes, f) != w->entries[i].nbytes,
                "%s: not saved: write error at tensor '%s' (disk full?)", filename, w->entries[i].name);
    IG__TRY(fflush(f) || ferror(f), "%s: not saved: write error (disk full?)", filename);
#if IG__POSIX
    IG__TRY(fsync(fileno(f)), "%s: not saved: cannot flush it to disk: %s", filename, strerror(errno));
#endif
    d = fclose(f); f = NULL;
    IG__TRY(d, "%s: not saved: write error on close (disk full?)", filename);
    if (ig__st_dest_ok(filename)) goto done;                  /* again: it may have changed meanwhile */
#if defined(_WIN32)
    remove(filename);                                         /* Windows' rename does not replace a file */
#endif
    IG__TRY(rename(tmp, filename), "%s: not saved: cannot rename %s over it: %s", filename, tmp, strerror(errno));
    rc = 0;
#if IG__POSIX
    {   /* the rename survives a crash once the directory is on disk too (best effort: some file
           systems cannot fsync a directory, and the new file is in place already) */
        char *slash = strrchr(strcpy(tmp, filename), '/');
        if (slash) slash[slash == tmp] = 0;               /* "/x" lives in "/" */
        else strcpy(tmp, ".");
        if ((d = open(tmp, O_RDONLY)) >= 0) { (void)fsync(d); close(d); }
    }
#endif
done:
    if (f) fclose(f);
    if (rc) remove(tmp);
    return rc;
}

/* --- checkpoints of a model ------------------------------------------------ */
static const char *ig__st_prefix[4] = { "", "ema.", "adam.m.", "adam.v." };   /* weights, EMA, AdamW moments */

/* Set k of m's arrays (base) as F32 "<prefix><name>"; non-finite values refused (ig_load would). */
static int ig__st_add_params(ig_st_writer *w, const ig_model *m, const float *base, int k, const char *filename) {
    char name[96]; int64_t shape[IG_ST_MAX_DIMS]; size_t j; int i, d;
    for (i = 0; i < m->nparams; i++) {
        const ig_param *pp = &m->params[i];
        if (k && !pp->trainable) continue;               /* pos_embed has no EMA or moments */
        for (d = 0; d < pp->t->ndim; d++) shape[d] = (int64_t)pp->t->shape[d];
        snprintf(name, sizeof name, "%s%s", ig__st_prefix[k], pp->name);
        for (j = 0; j < pp->t->n; j++)
            if (!isfinite(base[pp->offset + j]))
                return ig__fail("%s: not saved: tensor '%s' holds a non-finite value (element %zu); did training diverge?", filename, name, j);
        if (ig_st_add(w, name, IG_F32, pp->t->ndim, shape, base + pp->offset)) return -1;
    }
    return 0;
}

/* The weights (with training_state the EMA, moments, step and RNG), the config as metadata. */
static int ig__st_save(const ig_model *m, const char *filename, const float *weights, int training_state) {
    static const char *key[9] = { "in_channels", "image_height", "image_width", "patch_size", "hidden_size", "depth", "num_heads", "num_classes", "aux_depth" };
    const ig_config *cfg = &m->cfg;
    const int val[9] = { cfg->in_channels, cfg->image_height, cfg->image_width, cfg->patch_size, cfg->hidden_size, cfg->depth, cfg->num_heads, cfg->num_classes, cfg->aux_depth };
    ig_st_writer w; char buf[64]; uint32_t spare; int i, rc;
    if (!filename) return ig__fail("ig_save: NULL filename");
    if (training_state && !m->ema) return ig__fail("%s: not saved: the model holds no training state (made with training = 0)", filename);
    ig_st_writer_init(&w);
    rc = ig_st_add_meta(&w, "format", cfg->arch == IG_ARCH_LIGHTNING ? "ig.h-lightningdit" : "ig.h-sit");
    if (cfg->arch == IG_ARCH_LIGHTNING) rc |= ig_st_add_meta(&w, "arch", "lightningdit");
    for (i = 0; i < 9; i++) { snprintf(buf, sizeof buf, "%d", val[i]); rc |= ig_st_add_meta(&w, key[i], buf); }
    snprintf(buf, sizeof buf, "%.9g", (double)cfg->t_scale);
    rc = rc || ig_st_add_meta(&w, "t_scale", buf) || ig__st_add_params(&w, m, weights, 0, filename);
    if (!rc && training_state) {
        memcpy(&spare, &m->rng.spare, 4);
        rc = ig__st_add_params(&w, m, m->ema, 1, filename) || ig__st_add_params(&w, m, m->adam_m, 2, filename) || ig__st_add_params(&w, m, m->adam_v, 3, filename);
        snprintf(buf, sizeof buf, "%lld", (long long)m->step);
        rc = rc || ig_st_add_meta(&w, "step", buf);
        snprintf(buf, sizeof buf, "%llu %d %lu", (unsigned long long)m->rng.state, m->rng.has_spare, (unsigned long)spare);
        rc = rc || ig_st_add_meta(&w, "rng", buf);
    }
    rc = rc ? -1 : ig_st_writer_save(&w, filename);
    ig_st_writer_free(&w);
    return rc;
}

IGDEF int ig_save(const ig_model *m, const char *filename, int training_state) { return ig__st_save(m, filename, m->weights, training_state); }
IGDEF int ig_save_ema(const ig_model *m, const char *filename) {
    return m->ema ? ig__st_save(m, filename, m->ema, 0) : ig__fail("%s: not saved: the model holds no EMA (made with training = 0)", filename ? filename : "ig_save_ema");
}

/* One tensor into dst, after checking its shape against the parameter's; finite only. */
static int ig__st_load_tensor(ig_st_file *st, const ig_st_tensor *t, const ig_param *pp, float *dst) {
    char want[96] = "", got[96] = ""; size_t j; int d, same = t->ndim == pp->t->ndim;
    for (d = 0; same && d < t->ndim; d++) same = (uint64_t)t->shape[d] == (uint64_t)pp->t->shape[d];
    if (!same) {
        for (d = 0; d < pp->t->ndim; d++) snprintf(want + strlen(want), 22, d ? ", %zu" : "%zu", pp->t->shape[d]);
        for (d = 0; d < t->ndim; d++) snprintf(got + strlen(got), 22, d ? ", %lld" : "%lld", (long long)t->shape[d]);
        return ig__fail("%s: tensor '%s' has shape [%s], the model expects [%s]", st->filename, t->name, got, want);
    }
    if (ig_st_read_f32(st, t, dst, pp->t->n)) return -1;
    for (j = 0; j < pp->t->n; j++) if (!isfinite(dst[j])) return ig__fail("%s: tensor '%s' holds a non-finite value at element %zu", st->filename, t->name, j);
    return 0;
}

/* The integer value of metadata key, in [lo, hi]: 1 (in *v), 0 if absent, -1 if malformed. */
static int ig__st_meta_int(const ig_st_file *st, const char *key, long long lo, long long hi, long long *v) {
    const char *s = ig_st_meta(st, key);
    char *end = NULL;
    if (!s) return 0;
    errno = 0;
    if ((*s >= '0' && *s <= '9') || *s == '-') *v = strtoll(s, &end, 10);
    if (!end || end == s || *end || errno || *v < lo || *v > hi)
        return ig__fail("%s: metadata '%s' is \"%.40s\", not an integer in [%lld, %lld]", st->filename, key, s, lo, hi);
    return 1;
}

/* Shapes cannot tell where the aux head hangs or how many heads split the width: a file
   whose metadata gives key must agree with the model's value. */
static int ig__st_meta_agrees(const ig_st_file *st, const char *key, int have) {
    long long v = 0;
    int r = ig__st_meta_int(st, key, 1, 1 << 24, &v);
    if (r > 0 && v != have) return ig__fail("%s: metadata says %s %lld, the model's is %d", st->filename, key, v, have);
    return r < 0 ? -1 : 0;
}

/* The metadata's t_scale, in (0, 1e6]: 1 (in *v), 0 if absent, -1 if malformed. */
static int ig__st_meta_t_scale(const ig_st_file *st, double *v) {
    const char *s = ig_st_meta(st, "t_scale");
    char *end;
    if (!s) return 0;
    *v = strtod(s, &end);   /* checked as a double: casting 1e39 to float is undefined */
    if (end == s || *end || !(*v > 0.0 && *v <= 1e6))
        return ig__fail("%s: metadata 't_scale' is \"%.40s\", not a number in (0, 1e6]", st->filename, s);
    return 1;
}

/* LightningDiT: the stored feat_rope tables (in w, as read from the file) must be the 2D RoPE
   of this grid and head dim (ig__rope_table; the release computes them in float32, ~1e-6
   away).  They are then used as stored. */
static int ig__check_rope(const ig_model *m, const float *w, const char *filename) {
    const ig_config *cfg = &m->cfg;
    int rows = cfg->image_height / cfg->patch_size, cols = cfg->image_width / cfg->patch_size, hd = cfg->hidden_size / cfg->num_heads;
    const float *cs, *sn; float *ref; size_t n, i; double worst = 0.0;
    if (cfg->arch != IG_ARCH_LIGHTNING) return 0;
    n = m->rope_cos->n;
    cs = w + (m->rope_cos->data - m->weights); sn = w + (m->rope_sin->data - m->weights);
    if (!(ref = (float *)IG_MALLOC(2 * n * sizeof(float)))) return ig__fail("%s: out of memory", filename);
    ig__rope_table(ref, ref + n, (size_t)rows, (size_t)cols, (size_t)hd);
    for (i = 0; i < n; i++) worst = fmax(worst, fmax(fabs((double)cs[i] - ref[i]), fabs((double)sn[i] - ref[n + i])));
    IG_FREE(ref);
    if (worst > 1e-4)
        return ig__fail("%s: feat_rope.freqs_cos/freqs_sin differ by %g from the 2D RoPE of a %dx%d grid with head dim %d", filename, worst, rows, cols, hd);
    return 0;
}

IGDEF int ig_load(ig_model *m, const char *filename, int strict) {
    float *dst[4] = { m->weights, m->ema, m->adam_m, m->adam_v }, *buf = NULL;
    int i, k, nsets = m->ema ? 4 : 1, found[4] = { 0, 0, 0, 0 }, ntrain = 0, rc = -1;
    unsigned long long rs[3] = { 0, 0, 0 }; long long step = 0; size_t nw = m->nweights; double ts = 1.0;
    const char *rng = NULL, *s; char name[96], *end = NULL; ig_st_file st;
    if (ig_st_open(&st, filename)) return -1;
    for (i = 0; i < st.ntensors && strict; i++) {  /* strict: each tensor is a parameter or its training state */
        const ig_param *pp;
        for (k = 3; k > 0 && strncmp(st.tensors[i].name, ig__st_prefix[k], strlen(ig__st_prefix[k])); k--) {}
        IG__TRY(!(pp = ig_model_find(m, st.tensors[i].name + strlen(ig__st_prefix[k]))) || (k && !pp->trainable),
                "%s: unexpected tensor '%s' (not a parameter of this model)", filename, st.tensors[i].name);
    }
    IG__TRY(!(buf = (float *)IG_MALLOC(nw * sizeof(float) * (size_t)nsets)), "%s: out of memory", filename);
    for (k = 0; k < nsets; k++) {                  /* into buf first: a bad file leaves the model as it was */
        memcpy(buf + (size_t)k * nw, dst[k], nw * sizeof(float));
        for (i = 0; i < m->nparams; i++) {
            const ig_param *pp = &m->params[i];
            const ig_st_tensor *t;
            if (k && !pp->trainable) continue;
            ntrain += k == 1;
            snprintf(name, sizeof name, "%s%s", ig__st_prefix[k], pp->name);
            IG__TRY(!(t = ig_st_find(&st, name)) && !k, "%s: missing tensor '%s'", filename, name);
            if (!t) continue;
            found[k]++;
            if (ig__st_load_tensor(&st, t, pp, buf + (size_t)k * nw + pp->offset)) goto done;
        }
    }
    if (nsets == 4 && found[1] + found[2] + found[3]) {   /* resuming needs all of the training state */
        IG__TRY(found[1] != ntrain || found[2] != ntrain || found[3] != ntrain,
                "%s: training state is incomplete: %d, %d and %d of %d EMA, first and second moment tensors",
                filename, found[1], found[2], found[3], ntrain);
        k = ig__st_meta_int(&st, "step", 0, LLONG_MAX, &step);
        IG__TRY(k == 0, "%s: holds a training state (EMA and AdamW moments) but no 'step' in the "
                "metadata, which AdamW's bias corrections need (save with ig_save(m, filename, 1), or "
                "load it into a model made with training = 0)", filename);
        if (k < 0) goto done;
        rng = ig_st_meta(&st, "rng");                 /* "state has_spare spare_bits"; absent: m's own */
        for (k = 0, s = rng; rng && k < 3; k++, s = end) {
            while (*s == ' ') s++;
            if (*s < '0' || *s > '9') break;
            errno = 0; rs[k] = strtoull(s, &end, 10);
            if (errno) break;
        }
        IG__TRY(rng && (k < 3 || *end || rs[1] > 1 || rs[2] > 0xffffffffull), "%s: metadata 'rng' is \"%.60s\", not 'state has_spare bits'", filename, rng);
    } else nsets = 1;                               /* no training state in the file: only the weights change */
    if (ig__st_meta_agrees(&st, "aux_depth", m->cfg.aux_depth) || ig__st_meta_agrees(&st, "num_heads", m->cfg.num_heads)) goto done;
    if ((k = ig__st_meta_t_scale(&st, &ts)) < 0) goto done;
    IG__TRY(k > 0 && (float)ts != m->cfg.t_scale, "%s: metadata says t_scale %g, the model's is %g (the "
            "time embedding reads t * t_scale)", filename, ts, (double)m->cfg.t_scale);
    if (ig__check_rope(m, buf, filename)) goto done;
    for (k = 0; k < nsets; k++) memcpy(dst[k], buf + (size_t)k * nw, nw * sizeof(float));
    if (nsets == 1 && m->ema) memcpy(m->ema, m->weights, nw * sizeof(float));   /* fine-tuning: the EMA starts at the weights */
    if (nsets == 4) {
        uint32_t bits = (uint32_t)rs[2];
        m->step = (int64_t)step;
        if (rng) { m->rng.state = (uint64_t)rs[0]; m->rng.has_spare = (int)rs[1]; memcpy(&m->rng.spare, &bits, 4); }
    }
    rc = 0;
done:
    IG_FREE(buf);
    ig_st_close(&st);
    return rc;
}

/* A LightningDiT checkpoint is known by its names (blocks.0.mlp.w12.weight,
   blocks.0.norm1.weight, feat_rope.freqs_cos); its head count is read off the
   RoPE table (T, head_dim).  Sets arch and num_heads (a given heads must agree). */
static int ig__config_lightning(const ig_st_file *st, ig_config *cfg, int heads, const char *filename) {
    const ig_st_tensor *fc = ig_st_find(st, "feat_rope.freqs_cos");
    int D = cfg->hidden_size, hd;
    if (!ig_st_find(st, "blocks.0.norm1.weight") || !fc || fc->ndim != 2 || !ig_st_find(st, "feat_rope.freqs_sin"))
        return ig__fail("%s: has mlp.w12 (LightningDiT) but not blocks.0.norm1.weight and feat_rope.freqs_cos/sin (T, head_dim)", filename);
    if (fc->shape[1] < 4 || fc->shape[1] > D || D % (int)fc->shape[1])
        return ig__fail("%s: feat_rope.freqs_cos has head dim %lld, which does not divide the width %d", filename, (long long)fc->shape[1], D);
    hd = (int)fc->shape[1];
    if (heads > 0 && heads != D / hd)
        return ig__fail("%s: %d heads asked for, but feat_rope's head dim %d means %d heads", filename, heads, hd, D / hd);
    cfg->arch = IG_ARCH_LIGHTNING; cfg->num_heads = D / hd;
    return 0;
}

IGDEF int ig_config_from_file(ig_config *cfg, const char *filename, int heads, int aux_depth) {
    static const int width_heads[4][2] = { { 384, 6 }, { 768, 12 }, { 1024, 16 }, { 1152, 16 } };  /* the paper's S, B, L, XL */
    const ig_st_tensor *xw, *pe, *yt; const char *bad = NULL; double ts; ig_st_file st;
    long long v[4] = { 0, 0, 0, 0 }, T; char name[64], why[sizeof ig__errbuf]; int i, d, side, got[4], rc = -1;
    memset(cfg, 0, sizeof *cfg);
    if (ig_st_open(&st, filename)) return -1;
    xw = ig_st_find(&st, "x_embedder.proj.weight");
    pe = ig_st_find(&st, "pos_embed");
    yt = ig_st_find(&st, "y_embedder.embedding_table.weight");
    IG__TRY(!xw || xw->ndim != 4 || !pe || pe->ndim != 3 || !yt || yt->ndim != 2, "%s: not a SiT checkpoint (needs "
            "x_embedder.proj.weight (D,C,p,p), pos_embed (1,T,D), y_embedder.embedding_table.weight (classes+1,D))", filename);
    /* every size from the file is checked before it takes part in arithmetic */
    for (d = 0; d < 4; d++) if (xw->shape[d] < 1 || xw->shape[d] > (1 << 24)) bad = "x_embedder.proj.weight";
    if (pe->shape[1] < 1 || pe->shape[1] > (1 << 24)) bad = "pos_embed";
    if (yt->shape[0] < 2 || yt->shape[0] > (1 << 24)) bad = "y_embedder.embedding_table.weight";
    IG__TRY(bad, "%s: tensor '%s' has a size of 0 or beyond 2^24", filename, bad);
    IG__TRY(xw->shape[2] != xw->shape[3] || pe->shape[0] != 1 || pe->shape[2] != xw->shape[0] || yt->shape[1] != xw->shape[0],
            "%s: x_embedder.proj.weight (D,C,p,p), pos_embed (1,T,D), y_embedder.embedding_table.weight (classes+1,D) disagree", filename);
    cfg->hidden_size = (int)xw->shape[0]; cfg->in_channels = (int)xw->shape[1]; cfg->patch_size = (int)xw->shape[2];
    cfg->num_classes = (int)yt->shape[0] - 1;
    T = pe->shape[1];
    for (; cfg->depth < st.ntensors; cfg->depth++) {
        snprintf(name, sizeof name, "blocks.%d.attn.qkv.weight", cfg->depth);
        if (!ig_st_find(&st, name)) break;
    }
    if (ig_st_find(&st, "blocks.0.mlp.w12.weight")) {   /* LightningDiT: its heads are in feat_rope's shape */
        if (ig__config_lightning(&st, cfg, heads, filename)) goto done;
        heads = cfg->num_heads;
    }
    got[0] = ig__st_meta_int(&st, "image_height", 1, 1 << 24, &v[0]);
    got[1] = ig__st_meta_int(&st, "image_width", 1, 1 << 24, &v[1]);
    got[2] = heads > 0 ? 1 : ig__st_meta_int(&st, "num_heads", 1, 1 << 24, &v[2]);   /* given: over the metadata */
    got[3] = aux_depth > 0 ? 1 : ig__st_meta_int(&st, "aux_depth", 1, 1 << 24, &v[3]);
    if (heads > 0) v[2] = heads;
    if (aux_depth > 0) v[3] = aux_depth;
    if (got[0] < 0 || got[1] < 0 || got[2] < 0 || got[3] < 0) goto done;
    if (!got[0] || !got[1]) {                      /* no image size given: a square grid of T tokens */
        side = (int)(sqrt((double)T) + 0.5);
        IG__TRY((long long)side * side != T || (long long)side * cfg->patch_size > (1 << 24),
                "%s: %lld tokens are not a square grid; the metadata must give image_height and image_width", filename, T);
        v[0] = v[1] = (long long)side * cfg->patch_size;
    }
    for (i = 0; !got[2] && i < 4; i++) if (width_heads[i][0] == cfg->hidden_size) v[2] = width_heads[i][1];
    if (!got[3] && cfg->depth > 8) v[3] = 8;     /* the official release hangs the head after block 8 for every size */
    IG__TRY(!v[2], "%s: no num_heads in the metadata, and width %d is none of the paper's (384, 768, 1024, 1152): "
            "pass the head count (heads argument, --heads)", filename, cfg->hidden_size);
    IG__TRY(!v[3], "%s: no aux_depth in the metadata, and the release's head after block 8 needs more than %d blocks: "
            "pass the head depth (aux_depth argument, --aux-depth)", filename, cfg->depth);
    cfg->image_height = (int)v[0]; cfg->image_width = (int)v[1]; cfg->num_heads = (int)v[2]; cfg->aux_depth = (int)v[3];
    cfg->t_scale = 1.0f;
    if ((i = ig__st_meta_t_scale(&st, &ts)) < 0) goto done;
    if (i > 0) cfg->t_scale = (float)ts;
    if (ig_config_check(cfg)) {                   /* before anything divides by a value from the file */
        memcpy(why, ig__errbuf, sizeof why);
        ig__fail("%s: %s", filename, why);
    } else if (T != (long long)(cfg->image_height / cfg->patch_size) * (cfg->image_width / cfg->patch_size))
        ig__fail("%s: pos_embed has %lld tokens, the image is %dx%d with patch %d", filename, T, cfg->image_height, cfg->image_width, cfg->patch_size);
    else rc = 0;
done:
    ig_st_close(&st);
    if (rc) memset(cfg, 0, sizeof *cfg);
    return rc;
}

/* === Appendix C. the other ops: LightningDiT's and a classifier's ======== */
/* Ops beyond the SiT + IG of sections 1-7 (the cosine loss is an option of any training,
   tc.cos_weight), written as in section 4: each forward, then its backward (declared there). */

/* --- C.0 the LightningDiT variant: RoPE tables, time convention, sampler ----
   What IG_ARCH_LIGHTNING adds to sections 5 and 7, apart from its ops (C.1). */

/* LightningDiT's 2D RoPE tables cos, sin (T,hd) for a rows x cols grid of tokens n = a cols + b
   (a row, b column).  Dims [0, hd/2) turn with the row a, [hd/2, hd) with the column b; inside each
   half, pair j (dims 2j, 2j+1) turns by theta_j = 10000^(-2j / (hd/2)), j < hd/4 (XL, hd 72:
   theta_m = 10000^(-m/18)).  A checkpoint stores these tables; ig_load checks them against this. */
static void ig__rope_table(float *cs, float *sn, size_t rows, size_t cols, size_t hd) {
    size_t n, d, half = hd / 2;
    for (n = 0; n < rows * cols; n++)
        for (d = 0; d < hd; d++) {
            double pos = d < half ? (double)(n / cols) : (double)(n % cols);
            double theta = pow(10000.0, -(double)(2 * ((d % half) / 2)) / (double)half);
            cs[n * hd + d] = (float)cos(pos * theta);
            sn[n * hd + d] = (float)sin(pos * theta);
        }
}

/* The forward as the samplers see it, t and velocities in the SiT convention.
   For a LightningDiT model this is the thin wrapper
       v(x, t) = -v_ldit(x, 1 - t),   v_aux(x, t) = -v_aux_ldit(x, 1 - t)
   (its network takes t_ldit = 1 - t and points from noise to data).  IG and CFG are linear in the
   velocities, so they apply unchanged afterwards.  t (B) is the caller's scratch and is
   overwritten; the outputs are negated in place (inference only, no tape). */
static int ig__forward_sit(ig_model *m, ig_ctx *ctx, ig_tensor *x, float *t, const int *labels,
                           ig_tensor **v, ig_tensor **v_aux) {
    size_t i;
    if (m->cfg.arch != IG_ARCH_LIGHTNING) return ig_forward(m, ctx, x, t, labels, v, v_aux);
    for (i = 0; i < x->shape[0]; i++) t[i] = 1.0f - t[i];
    if (ig_forward(m, ctx, x, t, labels, v, v_aux)) return -1;
    for (i = 0; i < (*v)->n; i++) (*v)->data[i] = -(*v)->data[i];
    if (v_aux) for (i = 0; i < (*v_aux)->n; i++) (*v_aux)->data[i] = -(*v_aux)->data[i];
    return 0;
}

/* the release's t_ldit = s u / (1 + (s - 1) u), u = i / nsteps, as t = 1 - t_ldit */
IGDEF void ig_grid_shifted(float *grid, size_t nsteps, float shift) {
    size_t i;
    for (i = 0; i <= nsteps; i++) {
        double u = (double)i / (double)nsteps;
        grid[i] = (float)(1.0 - (double)shift * u / (1.0 + ((double)shift - 1.0) * u));
    }
}

IGDEF ig_guidance ig_guidance_lightning(int with_cfg) {
    ig_guidance gd = ig_guidance_none();
    gd.ig_weight = with_cfg ? 1.4f : 1.7f;
    if (with_cfg) { gd.cfg_scale = 1.45f; gd.cfg_low = 0.0f; gd.cfg_high = 0.81f; }
    return gd;
}

/* --- C.1 the LightningDiT ops: RMSNorm, SwiGLU, 2D RoPE, cosine loss (IG_ARCH_LIGHTNING) ------ */

/* RMSNorm with a learned gain, per row of D values (x, y (...,D), w (D)):
     rstd = 1 / sqrt(mean(x^2) + 1e-6),  xhat = x rstd,  y = xhat w
   (mean in double).  Backward, with g = dy w:
     dx = rstd (g - xhat mean(g xhat)),   dw += sum over rows of dy xhat
   The forward keeps rstd (one float per row) for it.                        */
IGDEF ig_tensor *ig_rmsnorm(ig_ctx *ctx, ig_tensor *x, ig_tensor *w) {
    ig_tensor *y;
    ig_node *nd;
    size_t D, rows, r, d;
    float *rstd_saved = NULL;
    if (!x || !w || ctx->failed) { ctx->failed = 1; return NULL; }
    D = x->shape[x->ndim - 1];
    if (w->n != D) return ig__op_fail(ctx, "ig_rmsnorm: the gain has %zu elements, x's last dim is %zu", w->n, D);
    if (!(y = ig__op(ctx, ig__rmsnorm_backward, x, w, NULL, 0, NULL, &nd))) return NULL;
    rows = x->n / D;
    if (nd && !(rstd_saved = nd->saved = ig__scratch_floats(ctx, rows))) return NULL;
    if (ig__counting(ctx)) return y;
    IG__OMP(omp parallel for schedule(static) private(d) if (x->n > 32768))
    for (r = 0; r < rows; r++) {
        const float *xv = x->data + r * D;
        float *yv = y->data + r * D, rstd;
        double ms = 0;
        for (d = 0; d < D; d++) ms += (double)xv[d] * xv[d];
        rstd = (float)(1.0 / sqrt(ms / (double)D + 1e-6));
        for (d = 0; d < D; d++) yv[d] = xv[d] * rstd * w->data[d];
        if (rstd_saved) rstd_saved[r] = rstd;
    }
    return y;
}

static void ig__rmsnorm_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *x = nd->in[0], *w = nd->in[1];
    size_t D = x->shape[x->ndim - 1], rows = x->n / D, r, d;
    const float *rstd = nd->saved;
    float *dxall = ig__grad(nd->ctx, x), *dw = ig__grad(nd->ctx, w);
    if (dxall) {
        IG__OMP(omp parallel for schedule(static) private(d) if (x->n > 32768))
        for (r = 0; r < rows; r++) {
            const float *dy = y->grad + r * D, *xv = x->data + r * D;
            float *dx = dxall + r * D;
            double m = 0;
            for (d = 0; d < D; d++) m += (double)dy[d] * w->data[d] * xv[d] * rstd[r];
            m /= (double)D;
            for (d = 0; d < D; d++)
                dx[d] += rstd[r] * (dy[d] * w->data[d] - xv[d] * rstd[r] * (float)m);
        }
    }
    if (dw)     /* one pass over the rows in order: the same sums for any thread count */
        for (r = 0; r < rows; r++) {
            const float *dy = y->grad + r * D, *xv = x->data + r * D;
            for (d = 0; d < D; d++) dw[d] += dy[d] * xv[d] * rstd[r];
        }
}

/* SwiGLU's gate, u (...,2H) = [u1 | u2] -> y (...,H), u1 the first H (the gated half):
     y = SiLU(u1) u2;   du1 = dy u2 s (1 + u1 (1 - s)),  du2 = dy SiLU(u1),  s = sigmoid(u1).
   The MLP is w3(SwiGLU(w12(x))): D -> 2H -> H -> D. */
IGDEF ig_tensor *ig_swiglu(ig_ctx *ctx, ig_tensor *u) {
    ig_tensor *y;
    size_t shape[IG_MAX_DIMS], H, rows, r, j;
    if (!u || ctx->failed) { ctx->failed = 1; return NULL; }
    if (u->shape[u->ndim - 1] % 2)
        return ig__op_fail(ctx, "ig_swiglu: the last dim (%zu) must be even: [gated half | linear half]",
                           u->shape[u->ndim - 1]);
    memcpy(shape, u->shape, sizeof shape);
    H = shape[u->ndim - 1] /= 2;
    if (!(y = ig__op(ctx, ig__swiglu_backward, u, NULL, NULL, u->ndim, shape, NULL)) || ig__counting(ctx)) return y;
    rows = y->n / H;
    IG__OMP(omp parallel for schedule(static) private(j) if (u->n > 32768))
    for (r = 0; r < rows; r++) {
        const float *u1 = u->data + r * 2 * H, *u2 = u1 + H;
        float *yv = y->data + r * H;
        for (j = 0; j < H; j++) yv[j] = u1[j] / (1.0f + ig__exp(-u1[j])) * u2[j];
    }
    return y;
}

static void ig__swiglu_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *u = nd->in[0];
    size_t H = y->shape[y->ndim - 1], rows = y->n / H, r, j;
    float *du = ig__grad(nd->ctx, u);
    if (!du) return;
    IG__OMP(omp parallel for schedule(static) private(j) if (u->n > 32768))
    for (r = 0; r < rows; r++) {
        const float *u1 = u->data + r * 2 * H, *u2 = u1 + H, *dy = y->grad + r * H;
        float *d1 = du + r * 2 * H, *d2 = d1 + H;
        for (j = 0; j < H; j++) {
            float s = 1.0f / (1.0f + ig__exp(-u1[j]));
            d1[j] += dy[j] * u2[j] * s * (1.0f + u1[j] * (1.0f - s));
            d2[j] += dy[j] * u1[j] * s;
        }
    }
}

/* 2D rotary position embedding on q and k.  qkv, y (B,T,3D) = [q | k | v];
   every head's hd = D / heads dims turn alike.  With the stored tables
   C = cos, S = sin (T,hd), for token n and each pair (2j, 2j+1) of a head:
     y[2j]   = x[2j]   C[n,2j]   - x[2j+1] S[n,2j]
     y[2j+1] = x[2j+1] C[n,2j+1] + x[2j]   S[n,2j+1]
   (the release's x cos + rotate_half(x) sin; which angle each (n, d) has is
   in ig__rope_table, C.0).  v passes unchanged.  q_n . k_m then depends
   on the positions only through n - m.  Backward, the transposed rotation:
     dx[2j] = dy[2j] C[2j] + dy[2j+1] S[2j+1],  dx[2j+1] = dy[2j+1] C[2j+1] - dy[2j] S[2j]. */
IGDEF ig_tensor *ig_rope(ig_ctx *ctx, ig_tensor *qkv, size_t heads, ig_tensor *cos, ig_tensor *sin) {
    ig_tensor *y;
    ig_node *nd;
    size_t B, T, D3, D, hd, bt, e, j;
    if (!qkv || !cos || !sin || ctx->failed) { ctx->failed = 1; return NULL; }
    if (qkv->ndim != 3 || qkv->shape[2] % 3 || heads == 0 || (qkv->shape[2] / 3) % heads ||
        (qkv->shape[2] / 3 / heads) % 2 || cos->n != qkv->shape[1] * (qkv->shape[2] / 3 / heads) || sin->n != cos->n)
        return ig__op_fail(ctx, "ig_rope: qkv must be (B,T,3D) with D divisible by heads=%zu into an even head dim, "
                           "and cos/sin (T,hd) (got %zu and %zu elements)", heads, cos->n, sin->n);
    B = qkv->shape[0]; T = qkv->shape[1]; D3 = qkv->shape[2]; D = D3 / 3; hd = D / heads;
    /* the tables are buffers: y needs a gradient only through qkv; the node keeps them */
    if (!(y = ig__out(ctx, qkv, NULL, NULL, 3, qkv->shape))) return NULL;
    if (y->requires_grad) {
        if (!(nd = ig__record(ctx, ig__rope_backward, y, qkv, cos, sin))) return NULL;
        nd->arg[0] = hd;
    }
    if (ig__counting(ctx)) return y;
    IG__OMP(omp parallel for schedule(static) private(e, j) if (qkv->n > 32768))
    for (bt = 0; bt < B * T; bt++) {
        const float *C = cos->data + (bt % T) * hd, *S = sin->data + (bt % T) * hd, *x = qkv->data + bt * D3;
        float *yv = y->data + bt * D3;
        for (e = 0; e < 2 * D; e += hd)          /* every head of q, then of k */
            for (j = 0; j < hd; j += 2) {
                yv[e + j]     = x[e + j] * C[j] - x[e + j + 1] * S[j];
                yv[e + j + 1] = x[e + j + 1] * C[j + 1] + x[e + j] * S[j + 1];
            }
        memcpy(yv + 2 * D, x + 2 * D, D * sizeof(float));
    }
    return y;
}

static void ig__rope_backward(ig_node *nd) {
    ig_tensor *y = nd->out, *x = nd->in[0], *cs = nd->in[1], *sn = nd->in[2];
    size_t B = x->shape[0], T = x->shape[1], D3 = x->shape[2], D = D3 / 3, hd = nd->arg[0], bt, e, j;
    float *dx = ig__grad(nd->ctx, x);
    if (!dx) return;
    IG__OMP(omp parallel for schedule(static) private(e, j) if (x->n > 32768))
    for (bt = 0; bt < B * T; bt++) {
        const float *C = cs->data + (bt % T) * hd, *S = sn->data + (bt % T) * hd, *dy = y->grad + bt * D3;
        float *g = dx + bt * D3;
        for (e = 0; e < 2 * D; e += hd)
            for (j = 0; j < hd; j += 2) {
                g[e + j]     += dy[e + j] * C[j] + dy[e + j + 1] * S[j + 1];
                g[e + j + 1] += dy[e + j + 1] * C[j + 1] - dy[e + j] * S[j];
            }
        for (e = 2 * D; e < D3; e++) g[e] += dy[e];
    }
}

/* The cosine term of the LightningDiT loss.  a, b (B,C,...) -> scalar (1): at each of the N = B P
   positions (P = the product of the dims after C) the channel vectors a_p, b_p (C) give
     cos_p = <a_p, b_p> / sqrt(max(|a_p|^2 |b_p|^2, eps^2)),  eps = 1e-8
   (torch's cosine_similarity), and y = mean_p (1 - cos_p).  Backward, away from the eps clamp:
   dcos_p / da_p = b_p / den - cos_p a_p / |a_p|^2 (for b: a, b swapped), times -dy / N. */
static void ig__cos_terms(const ig_tensor *a, const ig_tensor *b, size_t bi, size_t p,
                          double *dot, double *na, double *nb) {
    size_t C = a->shape[1], P = a->n / (a->shape[0] * C), ch;
    const float *av = a->data + bi * C * P + p, *bv = b->data + bi * C * P + p;
    *dot = *na = *nb = 0.0;
    for (ch = 0; ch < C; ch++) {
        *dot += (double)av[ch * P] * bv[ch * P];
        *na += (double)av[ch * P] * av[ch * P];
        *nb += (double)bv[ch * P] * bv[ch * P];
    }
}

IGDEF ig_tensor *ig_cos_loss(ig_ctx *ctx, ig_tensor *a, ig_tensor *b) {
    ig_tensor *y;
    size_t one = 1, Bn, P, bi, p;
    double acc = 0.0;
    if (!a || !b || ctx->failed) { ctx->failed = 1; return NULL; }
    if (a->ndim < 2 || a->ndim != b->ndim || a->n != b->n || a->shape[0] != b->shape[0] || a->shape[1] != b->shape[1])
        return ig__op_fail(ctx, "ig_cos_loss: a and b must have one shape (B,C,...); got %zu and %zu elements", a->n, b->n);
    if (!(y = ig__op(ctx, ig__cos_loss_backward, a, b, NULL, 1, &one, NULL)) || ig__counting(ctx)) return y;
    Bn = a->shape[0]; P = a->n / (Bn * a->shape[1]);
    for (bi = 0; bi < Bn; bi++)
        for (p = 0; p < P; p++) {
            double dot, na, nb;
            ig__cos_terms(a, b, bi, p, &dot, &na, &nb);
            acc += 1.0 - dot / sqrt(na * nb > 1e-16 ? na * nb : 1e-16);
        }
    y->data[0] = (float)(acc / (double)(Bn * P));
    return y;
}

static void ig__cos_loss_backward(ig_node *nd) {
    ig_tensor *a = nd->in[0], *b = nd->in[1];
    size_t Bn = a->shape[0], C = a->shape[1], P = a->n / (Bn * C), bi, p, ch;
    float *da = ig__grad(nd->ctx, a), *db = ig__grad(nd->ctx, b);
    double g = -(double)nd->out->grad[0] / (double)(Bn * P);
    for (bi = 0; bi < Bn; bi++)
        for (p = 0; p < P; p++) {
            double dot, na, nb, den, cs;
            int clamped;
            ig__cos_terms(a, b, bi, p, &dot, &na, &nb);
            clamped = na * nb <= 1e-16;
            den = clamped ? 1e-8 : sqrt(na * nb);
            cs = dot / den;
            for (ch = 0; ch < C; ch++) {
                size_t i = bi * C * P + ch * P + p;
                if (da) da[i] += (float)(g * (b->data[i] / den - (clamped ? 0.0 : cs * a->data[i] / na)));
                if (db) db[i] += (float)(g * (a->data[i] / den - (clamped ? 0.0 : cs * b->data[i] / nb)));
            }
        }
}

/* --- C.2 cross-entropy and reshape (for classifiers) -----------------------
   cross-entropy: z (B,K) logits, labels l (B) in 0..K-1, in double with the row maximum
         subtracted (log-sum-exp):  loss (1) = (1/B) sum_b [ log sum_k exp(z_bk) - z_b,l_b ],
         dz_bk = (softmax(z_b)_k - [k == l_b]) / B dloss.  The forward saves the softmax (B,K)
         and then the labels as floats (exact below 2^24).
   reshape: y = x in another shape with the same element count; dx += dy.  */
IGDEF ig_tensor *ig_cross_entropy(ig_ctx *ctx, ig_tensor *z, const int *labels) {
    ig_tensor *y;
    ig_node *nd;
    size_t one = 1, B, K, b, k;
    double acc = 0.0;
    float *p = NULL;
    if (!z || ctx->failed) { ctx->failed = 1; return NULL; }
    if (z->ndim != 2 || z->shape[1] == 0)
        return ig__op_fail(ctx, "ig_cross_entropy: the logits must be (B,K) with K > 0, they have %d dims", z->ndim);
    B = z->shape[0]; K = z->shape[1];
    for (b = 0; b < B && !ig__counting(ctx); b++)
        if (labels[b] < 0 || (size_t)labels[b] >= K)
            return ig__op_fail(ctx, "ig_cross_entropy: label %d of row %zu is outside 0..%zu", labels[b], b, K - 1);
    if (!(y = ig__op(ctx, ig__cross_entropy_backward, z, NULL, NULL, 1, &one, &nd))) return NULL;
    if (nd && !(p = nd->saved = ig__scratch_floats(ctx, z->n + B))) return NULL;
    if (ig__counting(ctx)) return y;
    for (b = 0; b < B; b++) {
        const float *zb = z->data + b * K;
        double mx = zb[0], se = 0.0;
        for (k = 1; k < K; k++) if (zb[k] > mx) mx = zb[k];
        for (k = 0; k < K; k++) se += exp((double)zb[k] - mx);
        acc += mx + log(se) - (double)zb[labels[b]];
        if (p) {
            for (k = 0; k < K; k++) p[b * K + k] = (float)(exp((double)zb[k] - mx) / se);
            p[z->n + b] = (float)labels[b];
        }
    }
    y->data[0] = (float)(acc / (double)B);
    return y;
}

static void ig__cross_entropy_backward(ig_node *nd) {
    ig_tensor *z = nd->in[0];
    size_t B = z->shape[0], K = z->shape[1], b, k;
    const float *prob = nd->saved, *label = nd->saved + z->n;
    float g = nd->out->grad[0] / (float)B, *dz = ig__grad(nd->ctx, z);
    if (!dz) return;
    for (b = 0; b < B; b++)
        for (k = 0; k < K; k++)
            dz[b * K + k] += g * (prob[b * K + k] - ((float)k == label[b] ? 1.0f : 0.0f));
}

IGDEF ig_tensor *ig_reshape(ig_ctx *ctx, ig_tensor *x, int ndim, const size_t *shape) {
    ig_tensor *y;
    size_t n = 1;
    int i;
    if (!x || ctx->failed) { ctx->failed = 1; return NULL; }
    for (i = 0; i < ndim && i < IG_MAX_DIMS; i++) n *= shape[i];
    if (ndim < 1 || ndim > IG_MAX_DIMS || n != x->n)
        return ig__op_fail(ctx, "ig_reshape: %zu elements cannot take a shape of %d dims and %zu elements", x->n, ndim, n);
    if (!(y = ig__op(ctx, ig__reshape_backward, x, NULL, NULL, ndim, shape, NULL)) || ig__counting(ctx)) return y;
    memcpy(y->data, x->data, x->n * sizeof(float));
    return y;
}

static void ig__reshape_backward(ig_node *nd) {
    ig_tensor *x = nd->in[0], *y = nd->out;
    float *dx = ig__grad(nd->ctx, x);
    size_t i;
    if (dx) for (i = 0; i < x->n; i++) dx[i] += y->grad[i];
}

#endif /* IG_IMPLEMENTATION_DONE */
#endif /* IG_IMPLEMENTATION */
