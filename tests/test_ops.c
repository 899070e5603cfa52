/* test_ops.c - every op's backward checked against central differences.
   For an op y = f(inputs) we take L = sum(r * y) with a fixed random r, get
   dL/dinput from the tape, and compare with (L(x + h) - L(x - h)) / 2h
   evaluated in double precision, element by element. */
#include "../ig.h"
#include "test.h"
#include "threads.h"
#include <string.h>
#include <stdlib.h>

#define GC_MAX_IN 3

typedef struct gc_case {
    int nin;
    ig_tensor *in[GC_MAX_IN];
    size_t aux[4];             /* op-specific integers                     */
    int idx[16];               /* indices for gather                       */
    ig_tensor *(*build)(ig_ctx *c, struct gc_case *g);
} gc_case;

static ig_arena gc_params, gc_scratch;
static ig_ctx gc_ctx;
static ig_rng gc_rng;

static void gc_setup(uint64_t seed) {
    static int init = 0;
    if (!init) {
        ig_arena_init(&gc_params, "params", (size_t)16 << 20);
        ig_arena_init(&gc_scratch, "scratch", (size_t)64 << 20);
        ig_ctx_init(&gc_ctx, &gc_scratch, 256);
        init = 1;
    }
    ig_arena_reset(&gc_params);
    ig_rng_seed(&gc_rng, seed);
}

static size_t rnd(size_t lo, size_t hi) { return lo + (size_t)(ig_rng_u64(&gc_rng) % (hi - lo + 1)); }

static ig_tensor *gc_input(int ndim, size_t d0, size_t d1, size_t d2, size_t d3, float scale) {
    ig_tensor *t = ig_tensor_new4(&gc_params, d0, d1, d2, d3, ndim, 1);
    size_t i;
    for (i = 0; i < t->n; i++) t->data[i] = scale * ig_rng_normal(&gc_rng);
    return t;
}

/* L = sum r*y in double, with r drawn from a fixed seed */
static double gc_loss(const ig_tensor *y) {
    ig_rng r;
    double L = 0.0;
    size_t i;
    ig_rng_seed(&r, 777);
    for (i = 0; i < y->n; i++) L += (double)ig_rng_normal(&r) * y->data[i];
    return L;
}

static int gradcheck(const char *name, gc_case *g) {
    ig_tensor *y, *R, *L;
    ig_rng r;
    int k;
    size_t i;
    /* analytic: build with the tape, then L = sum(R * y) */
    for (k = 0; k < g->nin; k++) memset(g->in[k]->grad, 0, g->in[k]->n * sizeof(float));
    ig_ctx_reset(&gc_ctx, 1);
    y = g->build(&gc_ctx, g);
    CHECK(y != NULL, "%s: forward failed: %s", name, ig_last_error());
    R = ig_tensor_new(&gc_scratch, y->ndim, y->shape, 0);
    ig_rng_seed(&r, 777);
    for (i = 0; i < R->n; i++) R->data[i] = ig_rng_normal(&r);
    L = ig_sum(&gc_ctx, ig_mul(&gc_ctx, y, R));
    CHECK(ig_backward(&gc_ctx, L) == 0, "%s: backward failed: %s", name, ig_last_error());
    /* numeric, element by element */
    for (k = 0; k < g->nin; k++) {
        ig_tensor *x = g->in[k];
        for (i = 0; i < x->n; i++) {
            float x0 = x->data[i], h = 1e-2f * (fabsf(x0) > 1.0f ? fabsf(x0) : 1.0f);
            double lp, lm, num, ana = x->grad[i];
            x->data[i] = x0 + h; ig_ctx_reset(&gc_ctx, 0); lp = gc_loss(g->build(&gc_ctx, g));
            x->data[i] = x0 - h; ig_ctx_reset(&gc_ctx, 0); lm = gc_loss(g->build(&gc_ctx, g));
            x->data[i] = x0;
            num = (lp - lm) / (2.0 * ((double)(x0 + h) - (double)x0));
            CHECK(near(ana, num, 2e-2, 2e-3), "%s: input %d element %zu: tape %.6g, central difference %.6g",
                  name, k, i, ana, num);
        }
    }
    return 0;
}

/* --- the ops under test -------------------------------------------------- */
static ig_tensor *b_linear(ig_ctx *c, gc_case *g) { return ig_linear(c, g->in[0], g->in[1], g->nin > 2 ? g->in[2] : NULL); }
static ig_tensor *b_add(ig_ctx *c, gc_case *g) { return ig_add(c, g->in[0], g->in[1]); }
static ig_tensor *b_mul(ig_ctx *c, gc_case *g) { return ig_mul(c, g->in[0], g->in[1]); }
static ig_tensor *b_scale(ig_ctx *c, gc_case *g) { return ig_scale(c, g->in[0], -1.7f); }
static ig_tensor *b_modulate(ig_ctx *c, gc_case *g) { return ig_modulate(c, g->in[0], g->in[1], g->in[2]); }
static ig_tensor *b_gated(ig_ctx *c, gc_case *g) { return ig_gated_add(c, g->in[0], g->in[1], g->in[2]); }
static ig_tensor *b_layernorm(ig_ctx *c, gc_case *g) { return ig_layernorm(c, g->in[0]); }
static ig_tensor *b_silu(ig_ctx *c, gc_case *g) { return ig_silu(c, g->in[0]); }
static ig_tensor *b_gelu(ig_ctx *c, gc_case *g) { return ig_gelu(c, g->in[0]); }
static ig_tensor *b_attention(ig_ctx *c, gc_case *g) { return ig_attention(c, g->in[0], g->aux[0]); }
static ig_tensor *b_patchify(ig_ctx *c, gc_case *g) { return ig_patchify(c, g->in[0], g->aux[0]); }
static ig_tensor *b_unpatchify(ig_ctx *c, gc_case *g) { return ig_unpatchify(c, g->in[0], g->aux[0], g->aux[1], g->aux[2], g->aux[3]); }
static ig_tensor *b_gather(ig_ctx *c, gc_case *g) { return ig_gather(c, g->in[0], g->idx, g->aux[0]); }
static ig_tensor *b_chunk(ig_ctx *c, gc_case *g) { return ig_chunk(c, g->in[0], g->aux[0], g->aux[1]); }
static ig_tensor *b_mse(ig_ctx *c, gc_case *g) { return ig_mse(c, g->in[0], g->in[1]); }
static ig_tensor *b_sum(ig_ctx *c, gc_case *g) { return ig_sum(c, g->in[0]); }
static ig_tensor *b_mean(ig_ctx *c, gc_case *g) { return ig_mean(c, g->in[0]); }
static ig_tensor *b_xent(ig_ctx *c, gc_case *g) { return ig_cross_entropy(c, g->in[0], g->idx); }
/* reshape (B,T,D) -> (B,T*D), then a linear layer, so each element's gradient differs */
static ig_tensor *b_reshape(ig_ctx *c, gc_case *g) {
    size_t shape[2];
    shape[0] = g->in[0]->shape[0]; shape[1] = g->in[0]->n / shape[0];
    return ig_linear(c, ig_reshape(c, g->in[0], 2, shape), g->in[1], NULL);
}
static ig_tensor *b_rmsnorm(ig_ctx *c, gc_case *g) { return ig_rmsnorm(c, g->in[0], g->in[1]); }
static ig_tensor *b_swiglu(ig_ctx *c, gc_case *g) { return ig_swiglu(c, g->in[0]); }
/* in[1], in[2]: the cos / sin tables (no gradient; nin = 1 checks qkv only) */
static ig_tensor *b_rope(ig_ctx *c, gc_case *g) { return ig_rope(c, g->in[0], g->aux[0], g->in[1], g->in[2]); }
static ig_tensor *b_cos_loss(ig_ctx *c, gc_case *g) { return ig_cos_loss(c, g->in[0], g->in[1]); }
/* one tensor used three times: y = x*x + silu(x) */
static ig_tensor *b_reuse(ig_ctx *c, gc_case *g) {
    return ig_add(c, ig_mul(c, g->in[0], g->in[0]), ig_silu(c, g->in[0]));
}
/* chunks of one tensor feeding modulate: gradients from several chunks meet */
static ig_tensor *b_chunks_modulate(ig_ctx *c, gc_case *g) {
    ig_tensor *m = ig_silu(c, g->in[1]);
    return ig_gated_add(c, g->in[0], ig_chunk(c, m, 3, 2),
                        ig_modulate(c, ig_layernorm(c, g->in[0]), ig_chunk(c, m, 3, 0), ig_chunk(c, m, 3, 1)));
}

static int t_linear(void) {
    gc_case g; int rep;
    for (rep = 0; rep < 3; rep++) {
        size_t B, T, K, N;
        gc_setup(10 + (uint64_t)rep);
        B = rnd(1, 3); T = rnd(1, 4); K = rnd(1, 7); N = rnd(1, 6);
        memset(&g, 0, sizeof g);
        g.nin = 3; g.build = b_linear;
        g.in[0] = gc_input(3, B, T, K, 1, 1.0f);
        g.in[1] = gc_input(2, N, K, 1, 1, 0.5f);
        g.in[2] = gc_input(1, N, 1, 1, 1, 0.5f);
        if (rep == 2) g.nin = 2; /* no bias */
        if (gradcheck("linear", &g)) return 1;
    }
    return 0;
}

static int t_add_mul(void) {
    gc_case g;
    int which;
    for (which = 0; which < 4; which++) {
        size_t B, T, D;
        gc_setup(20 + (uint64_t)which);
        B = rnd(1, 3); T = rnd(1, 4); D = rnd(1, 5);
        memset(&g, 0, sizeof g);
        g.nin = 2; g.build = (which & 1) ? b_mul : b_add;
        g.in[0] = gc_input(3, B, T, D, 1, 1.0f);
        g.in[1] = which < 2 ? gc_input(2, T, D, 1, 1, 1.0f)   /* broadcast over B */
                            : gc_input(3, B, T, D, 1, 1.0f);
        if (gradcheck((which & 1) ? "mul" : "add", &g)) return 1;
    }
    gc_setup(25);
    memset(&g, 0, sizeof g);
    g.nin = 1; g.build = b_scale; g.in[0] = gc_input(2, 3, 4, 1, 1, 1.0f);
    return gradcheck("scale", &g);
}

static int t_modulate_gated(void) {
    gc_case g;
    size_t B, T, D;
    gc_setup(30);
    B = rnd(1, 3); T = rnd(1, 4); D = rnd(1, 5);
    memset(&g, 0, sizeof g);
    g.nin = 3; g.build = b_modulate;
    g.in[0] = gc_input(3, B, T, D, 1, 1.0f);
    g.in[1] = gc_input(2, B, D, 1, 1, 1.0f);
    g.in[2] = gc_input(2, B, D, 1, 1, 1.0f);
    if (gradcheck("modulate", &g)) return 1;
    g.build = b_gated;
    g.in[2] = gc_input(3, B, T, D, 1, 1.0f);
    return gradcheck("gated_add", &g);
}

static int t_layernorm_act(void) {
    gc_case g;
    gc_setup(40);
    memset(&g, 0, sizeof g);
    g.nin = 1; g.build = b_layernorm;
    g.in[0] = gc_input(3, 2, 3, rnd(2, 9), 1, 2.0f);
    if (gradcheck("layernorm", &g)) return 1;
    g.build = b_silu;
    g.in[0] = gc_input(2, 3, 5, 1, 1, 2.0f);
    if (gradcheck("silu", &g)) return 1;
    g.build = b_gelu;
    return gradcheck("gelu", &g);
}

/* The LightningDiT ops: RMSNorm (x and its gain), SwiGLU, RoPE on qkv (with
   arbitrary tables: the op is linear in qkv for any), the cosine loss (both inputs). */
static int t_lightning_ops(void) {
    gc_case g;
    size_t D, heads, hd, T, i;
    gc_setup(45);
    memset(&g, 0, sizeof g);
    D = rnd(2, 9);
    g.nin = 2; g.build = b_rmsnorm;
    g.in[0] = gc_input(3, 2, 3, D, 1, 2.0f);
    g.in[1] = gc_input(1, D, 1, 1, 1, 1.0f);
    if (gradcheck("rmsnorm", &g)) return 1;
    g.nin = 1; g.build = b_swiglu;
    g.in[0] = gc_input(3, 2, 3, 2 * rnd(1, 5), 1, 2.0f);
    if (gradcheck("swiglu", &g)) return 1;
    heads = rnd(1, 3); hd = 2 * rnd(1, 3); T = rnd(1, 5);
    g.build = b_rope; g.aux[0] = heads;
    g.in[0] = gc_input(3, 2, T, 3 * heads * hd, 1, 1.0f);
    g.in[1] = ig_tensor_new4(&gc_params, T, hd, 1, 1, 2, 0);
    g.in[2] = ig_tensor_new4(&gc_params, T, hd, 1, 1, 2, 0);
    for (i = 0; i < T * hd; i++) { g.in[1]->data[i] = ig_rng_normal(&gc_rng); g.in[2]->data[i] = ig_rng_normal(&gc_rng); }
    if (gradcheck("rope", &g)) return 1;
    g.nin = 2; g.build = b_cos_loss;
    g.in[0] = gc_input(4, 2, rnd(2, 5), 2, 3, 1.0f);
    g.in[1] = gc_input(4, g.in[0]->shape[0], g.in[0]->shape[1], 2, 3, 1.0f);
    return gradcheck("cos_loss", &g);
}

/* RoPE is the rotation of the formula: with the tables of one angle per pair,
   q.k after RoPE depends on the positions only through their difference. */
static int t_rope_rotation(void) {
    ig_tensor *qkv, *cs, *sn, *y;
    size_t T = 6, hd = 4, D = 4, i, d;
    gc_setup(46);
    ig_ctx_reset(&gc_ctx, 0);
    qkv = ig_tensor_new4(&gc_params, 1, T, 3 * D, 1, 3, 0);
    cs = ig_tensor_new4(&gc_params, T, hd, 1, 1, 2, 0);
    sn = ig_tensor_new4(&gc_params, T, hd, 1, 1, 2, 0);
    for (i = 0; i < T; i++)          /* the same q and k at every token */
        for (d = 0; d < 3 * D; d++) qkv->data[i * 3 * D + d] = (float)(d % D) * 0.3f - 0.5f + (d >= 2 * D ? (float)i : 0.0f);
    for (i = 0; i < T; i++)
        for (d = 0; d < hd; d++) {
            double ang = (double)i * (d < 2 ? 1.0 : 0.1);
            cs->data[i * hd + d] = (float)cos(ang);
            sn->data[i * hd + d] = (float)sin(ang);
        }
    y = ig_rope(&gc_ctx, qkv, 1, cs, sn);
    CHECK(y != NULL, "%s", ig_last_error());
    {
        double dots[2] = { 0, 0 }, n0 = 0, n1 = 0;
        for (d = 0; d < D; d++) {
            dots[0] += (double)y->data[3 * 3 * D + d] * y->data[1 * 3 * D + D + d];   /* q_3 . k_1 */
            dots[1] += (double)y->data[5 * 3 * D + d] * y->data[3 * 3 * D + D + d];   /* q_5 . k_3 */
            n0 += (double)qkv->data[4 * 3 * D + d] * qkv->data[4 * 3 * D + d];
            n1 += (double)y->data[4 * 3 * D + d] * y->data[4 * 3 * D + d];
        }
        CHECK(fabs(dots[0] - dots[1]) < 1e-5, "q3.k1 = %.7g, q5.k3 = %.7g", dots[0], dots[1]);
        CHECK(fabs(n0 - n1) < 1e-5, "norm changed: %.7g -> %.7g", n0, n1);
        for (i = 0; i < T; i++)
            for (d = 2 * D; d < 3 * D; d++)
                CHECK(y->data[i * 3 * D + d] == qkv->data[i * 3 * D + d], "v changed at token %zu dim %zu", i, d);
    }
    return 0;
}

static int t_attention(void) {
    gc_case g;
    int rep;
    for (rep = 0; rep < 2; rep++) {
        size_t heads, hd, B, T;
        gc_setup(50 + (uint64_t)rep);
        heads = rnd(1, 3); hd = rnd(1, 4); B = rnd(1, 2); T = rnd(1, 6);
        memset(&g, 0, sizeof g);
        g.nin = 1; g.build = b_attention; g.aux[0] = heads;
        g.in[0] = gc_input(3, B, T, 3 * heads * hd, 1, 1.0f);
        if (gradcheck("attention", &g)) return 1;
    }
    return 0;
}

static int t_patch(void) {
    gc_case g;
    size_t p = 2, C = 3, H = 4, W = 6;
    gc_setup(60);
    memset(&g, 0, sizeof g);
    g.nin = 1; g.build = b_patchify; g.aux[0] = p;
    g.in[0] = gc_input(4, 2, C, H, W, 1.0f);
    if (gradcheck("patchify", &g)) return 1;
    g.build = b_unpatchify; g.aux[1] = C; g.aux[2] = H; g.aux[3] = W;
    g.in[0] = gc_input(3, 2, (H / p) * (W / p), p * p * C, 1, 1.0f);
    return gradcheck("unpatchify", &g);
}

/* patchify and unpatchify orders, checked by value on a tiny image */
static int t_patch_layout(void) {
    ig_tensor *x, *tok, *back;
    size_t i;
    gc_setup(61);
    x = gc_input(4, 1, 2, 2, 4, 1.0f);          /* (1, C=2, H=2, W=4), p = 2: T = 2 */
    for (i = 0; i < x->n; i++) x->data[i] = (float)i;
    ig_ctx_reset(&gc_ctx, 0);
    tok = ig_patchify(&gc_ctx, x, 2);
    /* token 1 is columns 2..3; its vector is ordered (c, p_row, p_col) */
    CHECK(tok->shape[1] == 2 && tok->shape[2] == 8, "shape");
    CHECK(tok->data[8 + 0] == 2 && tok->data[8 + 1] == 3 && tok->data[8 + 2] == 6 && tok->data[8 + 4] == 10,
          "patchify order: %g %g %g %g", tok->data[8], tok->data[9], tok->data[10], tok->data[12]);
    /* unpatchify reads (p_row, p_col, c): element 1 of a token is channel 1 */
    back = ig_unpatchify(&gc_ctx, tok, 2, 2, 2, 4);
    CHECK(back->data[0] == tok->data[0] && back->data[8] == tok->data[1], "unpatchify order");
    return 0;
}

static int t_gather_chunk(void) {
    gc_case g;
    gc_setup(70);
    memset(&g, 0, sizeof g);
    g.nin = 1; g.build = b_gather; g.aux[0] = 5;
    g.in[0] = gc_input(2, 4, 3, 1, 1, 1.0f);
    g.idx[0] = 2; g.idx[1] = 0; g.idx[2] = 2; g.idx[3] = 3; g.idx[4] = 2; /* row 2 three times */
    if (gradcheck("gather", &g)) return 1;
    g.build = b_chunk; g.aux[0] = 3; g.aux[1] = 1;
    g.in[0] = gc_input(3, 2, 2, 6, 1, 1.0f);
    return gradcheck("chunk", &g);
}

static int t_reductions(void) {
    gc_case g;
    gc_setup(80);
    memset(&g, 0, sizeof g);
    g.nin = 2; g.build = b_mse;
    g.in[0] = gc_input(2, 3, 4, 1, 1, 1.0f);
    g.in[1] = gc_input(2, 3, 4, 1, 1, 1.0f);
    if (gradcheck("mse", &g)) return 1;
    g.nin = 1; g.build = b_sum;
    if (gradcheck("sum", &g)) return 1;
    g.build = b_mean;
    return gradcheck("mean", &g);
}

static int t_reuse(void) {
    gc_case g;
    gc_setup(90);
    memset(&g, 0, sizeof g);
    g.nin = 1; g.build = b_reuse;
    g.in[0] = gc_input(2, 3, 4, 1, 1, 1.0f);
    if (gradcheck("reuse", &g)) return 1;
    g.nin = 2; g.build = b_chunks_modulate;
    g.in[0] = gc_input(3, 2, 3, 4, 1, 1.0f);
    g.in[1] = gc_input(2, 2, 12, 1, 1, 1.0f);
    return gradcheck("chunks_into_modulate", &g);
}

/* Running out of arena memory fails with the message, not a crash. */
static int t_arena_exhaustion(void) {
    ig_arena small;
    ig_ctx c;
    ig_tensor *x, *y;
    size_t shape[2] = { 64, 64 };
    CHECK(ig_arena_init(&small, "scratch", 40000) == 0, "init");
    CHECK(ig_ctx_init(&c, &small, 16) == 0, "ctx");
    x = ig_tensor_new(&small, 2, shape, 0);           /* 16 KB: fits */
    CHECK(x != NULL, "first tensor should fit");
    memset(x->data, 0, x->n * sizeof(float));
    y = ig_gelu(&c, ig_silu(&c, x));                   /* the second op does not fit */
    CHECK(y == NULL, "expected NULL when the arena is full");
    CHECK(strstr(ig_last_error(), "'scratch' arena is out of memory") != NULL, "message: %s", ig_last_error());
    CHECK(strstr(ig_last_error(), "needs") && strstr(ig_last_error(), "free"), "message: %s", ig_last_error());
    ig_arena_free(&small);
    return 0;
}

/* Bad shapes come back as NULL with a message. */
static int t_bad_shapes(void) {
    ig_tensor *x, *w;
    int idx = 7;
    gc_setup(100);
    x = gc_input(2, 2, 3, 1, 1, 1.0f);
    w = gc_input(2, 4, 5, 1, 1, 1.0f);
    ig_ctx_reset(&gc_ctx, 0);
    CHECK(ig_linear(&gc_ctx, x, w, NULL) == NULL, "mismatched linear accepted");
    CHECK(strstr(ig_last_error(), "ig_linear") != NULL, "message: %s", ig_last_error());
    CHECK(ig_silu(&gc_ctx, x) == NULL, "a failed context must stay failed until reset");
    ig_ctx_reset(&gc_ctx, 0);
    CHECK(ig_gather(&gc_ctx, w, &idx, 1) == NULL, "row 7 of a 4-row table accepted");
    CHECK(strstr(ig_last_error(), "outside") != NULL, "message: %s", ig_last_error());
    return 0;
}

/* Cross-entropy: gradient check, then the value against the formula
   log(sum exp z) - z_y written out in double, and label range errors. */
static int t_cross_entropy_reshape(void) {
    gc_case g;
    ig_tensor *y;
    double want = 0;
    size_t b, k;
    int bad = 4;
    gc_setup(90);
    memset(&g, 0, sizeof g);
    g.nin = 1; g.build = b_xent;
    g.in[0] = gc_input(2, 5, 4, 1, 1, 2.0f);
    g.idx[0] = 3; g.idx[1] = 0; g.idx[2] = 3; g.idx[3] = 1; g.idx[4] = 2;
    if (gradcheck("cross_entropy", &g)) return 1;
    ig_ctx_reset(&gc_ctx, 0);
    y = ig_cross_entropy(&gc_ctx, g.in[0], g.idx);
    CHECK(y != NULL && y->n == 1, "cross-entropy failed: %s", ig_last_error());
    for (b = 0; b < 5; b++) {
        double se = 0;
        for (k = 0; k < 4; k++) se += exp((double)g.in[0]->data[b * 4 + k]);
        want += (log(se) - g.in[0]->data[b * 4 + (size_t)g.idx[b]]) / 5.0;
    }
    CHECK(near(y->data[0], want, 1e-5, 1e-5), "cross-entropy %.7g, formula %.7g", (double)y->data[0], want);
    g.in[0]->data[0] = 1000.0f;    /* log-sum-exp keeps a large logit finite */
    ig_ctx_reset(&gc_ctx, 0);
    y = ig_cross_entropy(&gc_ctx, g.in[0], g.idx);
    CHECK(y != NULL && isfinite(y->data[0]), "a logit of 1000 overflows");
    ig_ctx_reset(&gc_ctx, 0);
    CHECK(ig_cross_entropy(&gc_ctx, g.in[0], &bad) == NULL, "label 4 of 4 classes accepted");
    CHECK(strstr(ig_last_error(), "outside") != NULL, "message: %s", ig_last_error());
    /* reshape */
    g.nin = 2; g.build = b_reshape;
    g.in[0] = gc_input(3, 2, 3, 4, 1, 1.0f);
    g.in[1] = gc_input(2, 5, 12, 1, 1, 1.0f);
    if (gradcheck("reshape", &g)) return 1;
    {
        size_t shp[2] = { 5, 5 };
        ig_ctx_reset(&gc_ctx, 0);
        CHECK(ig_reshape(&gc_ctx, g.in[0], 2, shp) == NULL, "24 elements reshaped to 25");
        CHECK(strstr(ig_last_error(), "ig_reshape") != NULL, "message: %s", ig_last_error());
    }
    return 0;
}

static int t_rng(void) {
    ig_rng a, b;
    double s = 0, s2 = 0;
    int i;
    ig_rng_seed(&a, 5); ig_rng_seed(&b, 5);
    for (i = 0; i < 100000; i++) {
        float u = ig_rng_normal(&a);
        CHECK(u == ig_rng_normal(&b), "same seed, different numbers");
        s += u; s2 += (double)u * u;
    }
    CHECK(fabs(s / 1e5) < 0.02 && fabs(s2 / 1e5 - 1.0) < 0.02, "normal moments %g %g", s / 1e5, s2 / 1e5);
    for (i = 0; i < 100000; i++) { float u = ig_rng_uniform(&a); CHECK(u > 0.0f && u < 1.0f, "uniform %g", u); }
    return 0;
}

/* ig_matmul (the fast GEMM of Appendix A, or the plain loop with
   IG_NO_FAST_GEMM) against a double-precision loop: all four transpose cases,
   sizes that are not multiples of the register tile, K above the K block
   (384), padded leading dimensions, beta 0 (C full of NaN: must not be read),
   1 and 0.5, small problems (no packing; vector dot products with a scalar
   tail), problems big enough for the packed and the threaded path, and tiny
   M with a large B (N*K >= 2^20: the threaded dot products of the adaLN
   Linear when trans_b, other paths otherwise). */
static int t_matmul_vs_plain(void) {
    static const size_t sizes[][3] = {   /* M, N, K */
        { 1, 1, 1 }, { 7, 5, 3 }, { 67, 131, 397 }, { 130, 70, 800 }, { 5, 300, 100 },
        { 200, 17, 450 }, { 3, 65, 1000 }, { 97, 257, 64 }, { 150, 190, 777 },
        { 2, 33, 300 }, { 20, 40, 130 },   /* the unpacked small route with K > 64 */
        { 1, 1030, 1024 }, { 5, 1100, 1000 }, { 8, 1025, 1031 },   /* tiny M */
    };
    static const float betas[3] = { 0.0f, 1.0f, 0.5f };
    size_t si, bi, i, j, k;
    int ta, tb;
    ig_rng r;
    ig_rng_seed(&r, 99);
    for (si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (ta = 0; ta < 2; ta++)
            for (tb = 0; tb < 2; tb++)
                for (bi = 0; bi < 3; bi++) {
                    size_t M = sizes[si][0], N = sizes[si][1], K = sizes[si][2];
                    size_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
                    size_t rows_a = ta ? K : M, rows_b = tb ? N : K;
                    float *A = (float *)malloc(rows_a * lda * sizeof(float)), *B = (float *)malloc(rows_b * ldb * sizeof(float));
                    float *C = (float *)malloc(M * ldc * sizeof(float)), *C0 = (float *)malloc(M * ldc * sizeof(float));
                    double worst = 0;
                    for (i = 0; i < rows_a * lda; i++) A[i] = ig_rng_normal(&r);
                    for (i = 0; i < rows_b * ldb; i++) B[i] = ig_rng_normal(&r);
                    for (i = 0; i < M * ldc; i++) C0[i] = betas[bi] == 0.0f ? NAN : ig_rng_normal(&r);
                    memcpy(C, C0, M * ldc * sizeof(float));
                    ig_matmul(ta, tb, M, N, K, A, lda, B, ldb, betas[bi], C, ldc);
                    for (i = 0; i < M; i++)
                        for (j = 0; j < ldc; j++) {
                            double s = 0, e;
                            if (j >= N) {   /* the padding of C is left alone */
                                CHECK(memcmp(&C[i * ldc + j], &C0[i * ldc + j], sizeof(float)) == 0, "C's padding written");
                                continue;
                            }
                            for (k = 0; k < K; k++)
                                s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
                            if (betas[bi] != 0.0f) s += (double)betas[bi] * C0[i * ldc + j];
                            e = fabs(C[i * ldc + j] - s) / sqrt((double)K + 1);
                            if (!(e <= worst)) worst = e;   /* NaN propagates into worst */
                        }
                    CHECK(worst < 2e-5, "M %zu N %zu K %zu trans_a %d trans_b %d beta %g: error %.3g",
                          M, N, K, ta, tb, betas[bi], worst);
                    free(A); free(B); free(C); free(C0);
                }
    return 0;
}

/* The tiny-M product (x (M,K) W^T, M <= 8, W (N,K) of >= 2^20 floats) gives
   the same bits with 1 and 2 threads, and each row of it the bits of that row
   alone (M = 1): the threads split N, each element is one dot product. */
static int t_matmul_tiny_m(void) {
    enum { N = 1100, K = 1000, MMAX = 8 };
    static float A[MMAX * K], W[N * K], C1[MMAX * N], C2[MMAX * N], row[N];
    ig_rng r;
    size_t i, M, m;
    int saved = thr_get();
    ig_rng_seed(&r, 12);
    for (i = 0; i < MMAX * K; i++) A[i] = ig_rng_normal(&r);
    for (i = 0; i < (size_t)N * K; i++) W[i] = ig_rng_normal(&r);
    for (M = 1; M <= MMAX; M++) {
        thr_set(1);
        ig_matmul(0, 1, M, N, K, A, K, W, K, 0.0f, C1, N);
        thr_set(2);
        ig_matmul(0, 1, M, N, K, A, K, W, K, 0.0f, C2, N);
        CHECK(memcmp(C1, C2, M * N * sizeof(float)) == 0, "M %zu: 1 and 2 threads differ", M);
        for (m = 0; m < M; m++) {
            ig_matmul(0, 1, 1, N, K, A + m * K, K, W, K, 0.0f, row, N);
            CHECK(memcmp(row, C2 + m * N, N * sizeof(float)) == 0, "M %zu: row %zu differs from the row alone", M, m);
        }
    }
    thr_set(saved);
    return 0;
}

const test_case ops_tests[] = {
    { "rng_reproducible", t_rng },
    { "matmul_fast_vs_plain", t_matmul_vs_plain },
    { "matmul_tiny_m_threads_rows", t_matmul_tiny_m },
    { "grad_linear", t_linear },
    { "grad_add_mul_scale", t_add_mul },
    { "grad_modulate_gated_add", t_modulate_gated },
    { "grad_layernorm_silu_gelu", t_layernorm_act },
    { "grad_attention", t_attention },
    { "grad_rmsnorm_swiglu_rope_cosloss", t_lightning_ops },
    { "rope_is_a_relative_rotation", t_rope_rotation },
    { "grad_patchify_unpatchify", t_patch },
    { "patch_layout", t_patch_layout },
    { "grad_gather_chunk", t_gather_chunk },
    { "grad_mse_sum_mean", t_reductions },
    { "grad_cross_entropy_reshape", t_cross_entropy_reshape },
    { "grad_reuse_accumulates", t_reuse },
    { "arena_exhaustion_message", t_arena_exhaustion },
    { "bad_shapes_fail_cleanly", t_bad_shapes },
};
const int ops_ntests = sizeof ops_tests / sizeof ops_tests[0];
