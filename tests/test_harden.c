/* test_harden.c - what must not break on bad numbers: the vectorizable exp and
   tanh at NaN and infinities, a training step whose AdamW update would
   overflow (nothing may change), the input checks of ig_forward, and tensor
   sizes and tape capacities whose bytes overflow a size_t.
   This file has its own private copy of the implementation (IG_STATIC), so it
   can call the internal ig__exp and ig__tanh directly; for the same reason it
   also holds the checks that attention's fast paths give the bits of the
   plain order (ig__gemm, ig__gemm_narrow) and match ig__attention_ref. */
#define IG_STATIC
#define IG_IMPLEMENTATION
#include "../ig.h"
#include "test.h"
#include "threads.h"
#include "small.h"
#include <stdlib.h>
#include <string.h>

static int is_nan(float x) { return x != x; }

/* exp and tanh at NaN, +-inf and large +-x (each value was a sanitizer abort
   or a finite number for an infinite input before), and still accurate in range. */
static int t_exp_tanh_nonfinite(void) {
    static const float xs[] = { -80.0f, -20.0f, -1.0f, 0.0f, 0.5f, 1.0f, 20.0f, 80.0f, 88.0f };
    volatile float nan = NAN, inf = INFINITY;   /* volatile: computed at run time, in the sanitizer build too */
    size_t i;
    CHECK(is_nan(ig__exp(nan)), "exp(NaN) = %g", (double)ig__exp(nan));
    CHECK(is_nan(ig__exp(-nan)), "exp(-NaN) = %g", (double)ig__exp(-nan));
    CHECK(ig__exp(inf) == INFINITY, "exp(+inf) = %g", (double)ig__exp(inf));
    CHECK(ig__exp(-inf) == 0.0f, "exp(-inf) = %g", (double)ig__exp(-inf));
    CHECK(ig__exp(100.0f) == INFINITY, "exp(100) = %g", (double)ig__exp(100.0f));
    CHECK(ig__exp(1e30f) == INFINITY, "exp(1e30) = %g", (double)ig__exp(1e30f));
    CHECK(ig__exp(-100.0f) == 0.0f, "exp(-100) = %g", (double)ig__exp(-100.0f));
    CHECK(ig__exp(-1e30f) == 0.0f, "exp(-1e30) = %g", (double)ig__exp(-1e30f));
    for (i = 0; i < sizeof xs / sizeof xs[0]; i++)
        CHECK(near(ig__exp(xs[i]), exp((double)xs[i]), 3e-7, 0), "exp(%g) = %.9g, libm %.9g",
              (double)xs[i], (double)ig__exp(xs[i]), exp((double)xs[i]));
    CHECK(is_nan(ig__tanh(nan)), "tanh(NaN) = %g", (double)ig__tanh(nan));
    /* tanh(+-u) for u >= 9 is tanh(+-9): +-1 to within one float step (6e-8) */
    CHECK(near(ig__tanh(inf), 1.0, 0, 6e-8) && ig__tanh(-inf) == -1.0f, "tanh(+-inf) = %.9g %.9g",
          (double)ig__tanh(inf), (double)ig__tanh(-inf));
    CHECK(near(ig__tanh(100.0f), 1.0, 0, 6e-8) && ig__tanh(-100.0f) == -1.0f, "tanh(+-100) = %.9g %.9g",
          (double)ig__tanh(100.0f), (double)ig__tanh(-100.0f));
    CHECK(near(ig__tanh(0.5f), tanh(0.5), 1e-6, 0), "tanh(0.5) = %.9g", (double)ig__tanh(0.5f));
    {   /* the vectorized loops of SiLU and GELU over the same values */
        static const float in[8] = { NAN, INFINITY, -INFINITY, 100.0f, -100.0f, 1e30f, -1e30f, 1.0f };
        ig_arena a;
        ig_ctx ctx;
        ig_tensor *x, *s, *g;
        size_t shape[1] = { 8 };
        CHECK(ig_arena_init(&a, "scratch", 1 << 16) == 0 && ig_ctx_init(&ctx, &a, 16) == 0, "%s", ig_last_error());
        ig_ctx_reset(&ctx, 0);
        x = ig_tensor_new(&a, 1, shape, 0);
        memcpy(x->data, in, sizeof in);
        s = ig_silu(&ctx, x);
        g = ig_gelu(&ctx, x);
        CHECK(s && g, "%s", ig_last_error());
        CHECK(is_nan(s->data[0]) && is_nan(g->data[0]), "silu, gelu (NaN) = %g %g", (double)s->data[0], (double)g->data[0]);
        CHECK(s->data[1] == INFINITY && g->data[1] == INFINITY, "silu, gelu (+inf) = %g %g", (double)s->data[1], (double)g->data[1]);
        CHECK(s->data[3] == 100.0f && g->data[3] == 100.0f, "silu, gelu (100) = %g %g", (double)s->data[3], (double)g->data[3]);
        CHECK(s->data[4] == 0.0f && g->data[4] == 0.0f, "silu, gelu (-100) = %g %g", (double)s->data[4], (double)g->data[4]);
        CHECK(s->data[5] == 1e30f && g->data[5] == 1e30f, "silu, gelu (1e30) = %g %g", (double)s->data[5], (double)g->data[5]);
        CHECK(near(s->data[7], 1.0 / (1.0 + exp(-1.0)), 1e-6, 0), "silu(1) = %.9g", (double)s->data[7]);
        ig_arena_free(&a);
    }
    return 0;
}

/* The training state of m (weights, AdamW moments, EMA: 4 x nweights floats),
   malloc'ed, and whether m still holds exactly that state. */
static float *state_copy(const ig_model *m) {
    size_t n = m->nweights;
    float *s = (float *)malloc(4 * n * sizeof(float));
    if (!s) return NULL;
    memcpy(s, m->weights, n * sizeof(float)); memcpy(s + n, m->adam_m, n * sizeof(float));
    memcpy(s + 2 * n, m->adam_v, n * sizeof(float)); memcpy(s + 3 * n, m->ema, n * sizeof(float));
    return s;
}

static int state_same(const ig_model *m, const float *s) {
    size_t n = m->nweights;
    return memcmp(s, m->weights, n * sizeof(float)) == 0 && memcmp(s + n, m->adam_m, n * sizeof(float)) == 0 &&
           memcmp(s + 2 * n, m->adam_v, n * sizeof(float)) == 0 && memcmp(s + 3 * n, m->ema, n * sizeof(float)) == 0;
}

/* A huge learning rate makes the AdamW update overflow.  The step returns -1,
   names the step (counted from 1), and weights, moments, EMA, step count and
   RNG are bit-identical to before; training then goes on as if it never ran. */
static int t_adamw_overflow_untouched(void) {
    ig_config cfg = small_config();
    ig_model m, ref;
    ig_arena scratch;
    ig_ctx ctx;
    ig_train_config tc = ig_train_defaults();
    enum { B = 4, PER = 32 };
    float x0[B * PER], *saved;
    int y[B] = { 0, 1, 2, 0 }, k, rc;
    size_t i, n;
    ig_rng rng_before;
    int64_t step_before;
    CHECK(ig_model_init(&m, &cfg, 1, 7) == 0 && ig_model_init(&ref, &cfg, 1, 7) == 0, "%s", ig_last_error());
    CHECK(ig_arena_init(&scratch, "scratch", ig_model_scratch_bytes(&cfg, B, 1)) == 0 &&
          ig_ctx_init(&ctx, &scratch, ig_model_tape_nodes(&cfg)) == 0, "%s", ig_last_error());
    for (i = 0; i < B * PER; i++) x0[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
    tc.lr = 1e-3f;
    for (k = 0; k < 2; k++) {   /* two ordinary steps on both models: moments and EMA are not trivial */
        CHECK(ig_train_step(&m, &ctx, &tc, x0, y, B, NULL) == 0, "%s", ig_last_error());
        CHECK(ig_train_step(&ref, &ctx, &tc, x0, y, B, NULL) == 0, "%s", ig_last_error());
    }
    n = m.nweights;
    saved = state_copy(&m);
    CHECK(saved != NULL, "out of memory");
    rng_before = m.rng;
    step_before = m.step;
    tc.lr = 1e38f;   /* lr / (1 - b1^3) overflows: every updated weight would be +-inf or NaN */
    rc = ig_train_step(&m, &ctx, &tc, x0, y, B, NULL);
    CHECK(rc == -1, "the overflowing step returned %d", rc);
    printf("     %s\n", ig_last_error());
    CHECK(strstr(ig_last_error(), "step 3 ") != NULL, "the message does not name step 3: %s", ig_last_error());
    CHECK(strstr(ig_last_error(), "nothing was changed") != NULL, "message: %s", ig_last_error());
    CHECK(memcmp(saved, m.weights, n * sizeof(float)) == 0, "the weights changed");
    CHECK(memcmp(saved + n, m.adam_m, n * sizeof(float)) == 0, "the first moments changed");
    CHECK(memcmp(saved + 2 * n, m.adam_v, n * sizeof(float)) == 0, "the second moments changed");
    CHECK(memcmp(saved + 3 * n, m.ema, n * sizeof(float)) == 0, "the EMA changed");
    CHECK(m.step == step_before, "step %lld, was %lld", (long long)m.step, (long long)step_before);
    CHECK(memcmp(&rng_before, &m.rng, sizeof rng_before) == 0, "the RNG moved");
    /* the same through ig_train_step_on, with a weight decay that overflows alone */
    {
        float xt[B * PER], tg[B * PER], t[B] = { 0.1f, 0.4f, 0.6f, 0.9f };
        for (i = 0; i < B * PER; i++) { xt[i] = x0[i]; tg[i] = -x0[i]; }
        tc.lr = 10.0f; tc.weight_decay = 1e38f;   /* 1 - lr wd = -inf; the Adam step itself stays finite */
        CHECK(ig_train_step_on(&m, &ctx, &tc, xt, t, y, tg, B, NULL) == -1, "lr 10, weight decay 1e38 accepted");
        printf("     %s\n", ig_last_error());
        CHECK(strstr(ig_last_error(), "step 3 ") != NULL, "message: %s", ig_last_error());
        CHECK(memcmp(saved, m.weights, n * sizeof(float)) == 0 && memcmp(saved + 3 * n, m.ema, n * sizeof(float)) == 0 &&
              memcmp(saved + n, m.adam_m, n * sizeof(float)) == 0 && memcmp(saved + 2 * n, m.adam_v, n * sizeof(float)) == 0 &&
              m.step == step_before, "the model changed");
        tc.weight_decay = 0.0f;
    }
    /* the next ordinary step is exactly the reference's third step */
    tc.lr = 1e-3f;
    CHECK(ig_train_step(&m, &ctx, &tc, x0, y, B, NULL) == 0, "%s", ig_last_error());
    CHECK(ig_train_step(&ref, &ctx, &tc, x0, y, B, NULL) == 0, "%s", ig_last_error());
    CHECK(m.step == 3 && memcmp(m.weights, ref.weights, n * sizeof(float)) == 0 &&
          memcmp(m.ema, ref.ema, n * sizeof(float)) == 0, "training after the refused step differs");
    /* lr 1e34 is beyond what the cheap bound can prove finite, but the weights
       stay finite (about 1e34): the exact check must let the step through */
    {
        ig__adamw_coef c;
        tc.lr = 1e34f;
        c = ig__adamw_coefs(&tc, m.step + 1);
        CHECK(!ig__adamw_surely_finite(&m, &c), "the bound proved lr 1e34 finite: this case tests nothing");
        CHECK(ig_train_step(&m, &ctx, &tc, x0, y, B, NULL) == 0, "lr 1e34 refused: %s", ig_last_error());
        CHECK(m.step == 4 && memcmp(m.weights, ref.weights, n * sizeof(float)) != 0, "the lr 1e34 step did not happen");
    }
    free(saved);
    ig_arena_free(&scratch);
    ig_model_free(&m);
    ig_model_free(&ref);
    return 0;
}

/* The two cases below: a tiny training model (seed) after one ordinary step
   on x0[i] = ((i * mul) % mod) / mod - 0.5 with labels 0 1 2 0 and no label
   dropout, so the null-label row of the label table (its first element: j)
   gets no gradient; then the caller poisons that element and takes a second
   step, which must fail naming step 2 and y_embedder and change nothing. */
enum { HD_B = 4, HD_PER = 32 };
typedef struct {
    ig_config cfg;
    ig_model m;
    ig_arena scratch;
    ig_ctx ctx;
    ig_train_config tc;
    float x0[HD_B * HD_PER];
    int y[HD_B];
    size_t j;
} hd_stepped;

static int hd_one_step(hd_stepped *c, uint64_t seed, size_t mul, size_t mod) {
    static const int y[HD_B] = { 0, 1, 2, 0 };
    size_t i;
    c->cfg = small_config();
    c->tc = ig_train_defaults();
    memcpy(c->y, y, sizeof y);
    CHECK(ig_model_init(&c->m, &c->cfg, 1, seed) == 0, "%s", ig_last_error());
    CHECK(ig_arena_init(&c->scratch, "scratch", ig_model_scratch_bytes(&c->cfg, HD_B, 1)) == 0 &&
          ig_ctx_init(&c->ctx, &c->scratch, ig_model_tape_nodes(&c->cfg)) == 0, "%s", ig_last_error());
    for (i = 0; i < HD_B * HD_PER; i++) c->x0[i] = (float)((i * mul) % mod) / (float)mod - 0.5f;
    c->tc.label_dropout = 0.0f;   /* the null-label row gets no gradient */
    CHECK(ig_train_step(&c->m, &c->ctx, &c->tc, c->x0, c->y, HD_B, NULL) == 0, "%s", ig_last_error());
    c->j = (size_t)(c->m.label_table->data - c->m.weights) + (size_t)c->cfg.num_classes * (size_t)c->cfg.hidden_size;
    return 0;
}

/* After the refused second step: its message, and the state (saved just
   before it) unchanged; frees everything. */
static int hd_refused(hd_stepped *c, float *saved) {
    printf("     %s\n", ig_last_error());
    CHECK(strstr(ig_last_error(), "step 2 ") && strstr(ig_last_error(), "y_embedder"), "message: %s", ig_last_error());
    CHECK(state_same(&c->m, saved) && c->m.step == 1, "the model changed");
    free(saved);
    ig_arena_free(&c->scratch);
    ig_model_free(&c->m);
    return 0;
}

/* Ordinary coefficients (lr 1e33 passes the bound's screen of lr, eps, decay)
   but one weight already at -FLT_MAX, in the unused null-label row (no
   gradient, so the loss stays finite) with a moment that pushes it further:
   the step would make it -inf.  The per-element bound and then the exact check
   must find it; nothing changes. */
static int t_adamw_overflow_one_weight(void) {
    hd_stepped c;
    float *saved;
    int rc;
    CHECK(hd_one_step(&c, 11, 13, 7) == 0, "the first step");
    c.m.weights[c.j] = -3.40282347e38f; c.m.ema[c.j] = -3.40282347e38f; c.m.adam_m[c.j] = 1.0f; c.m.adam_v[c.j] = 1.0f;
    saved = state_copy(&c.m);
    CHECK(saved != NULL, "out of memory");
    c.tc.lr = 1e33f;
    rc = ig_train_step(&c.m, &c.ctx, &c.tc, c.x0, c.y, HD_B, NULL);
    CHECK(rc == -1, "the step that overflows one weight returned %d", rc);
    return hd_refused(&c, saved);
}

/* A negative beta2 (torch refuses it; ig.h takes any number) can make the
   second moment v negative, and sqrt(v) NaN: here v = -0.5 * 1 + 1.5 * 0 at an
   element without gradient.  Every other value stays small, so a bound that
   looks only at |m|, v <= limit and the weights would let the NaN through. */
static int t_adamw_negative_second_moment(void) {
    hd_stepped c;
    float *saved;
    int rc;
    CHECK(hd_one_step(&c, 5, 29, 13) == 0, "the first step");
    c.m.adam_v[c.j] = 1.0f;
    saved = state_copy(&c.m);
    CHECK(saved != NULL, "out of memory");
    c.tc.beta2 = -0.5f;
    rc = ig_train_step(&c.m, &c.ctx, &c.tc, c.x0, c.y, HD_B, NULL);
    CHECK(rc == -1, "the step with a negative second moment returned %d (weight now %g)", rc, (double)c.m.weights[c.j]);
    return hd_refused(&c, saved);
}

/* ig_forward refuses NaN/Inf in x, NaN or out-of-range t, and labels outside
   0..num_classes, before running anything; the null label is fine.  A sampler
   that reaches ig_forward with a NaN fails the same way. */
static int t_forward_bad_inputs(void) {
    ig_config cfg = small_config();
    ig_model m;
    ig_arena scratch;
    ig_ctx ctx;
    enum { B = 3, PER = 32 };
    size_t shape[4] = { B, 2, 4, 4 }, i;
    float t[B] = { 0.2f, 0.5f, 0.8f };
    int y[B] = { 0, 1, 2 }, k;
    ig_tensor *x, *v, *va;
    CHECK(ig_model_init(&m, &cfg, 0, 3) == 0, "%s", ig_last_error());
    CHECK(ig_arena_init(&scratch, "scratch", ig_model_scratch_bytes(&cfg, 2 * B, 0)) == 0 &&
          ig_ctx_init(&ctx, &scratch, ig_model_tape_nodes(&cfg)) == 0, "%s", ig_last_error());
    for (k = 0; k < 7; k++) {
        static const char *want[7] = { NULL, "non-finite", "non-finite", "outside [0, 1]", "outside [0, 1]",
                                       "label 4 ", "label -1 " };
        float tt[B];
        int yy[B], rc;
        size_t used;
        memcpy(tt, t, sizeof tt); memcpy(yy, y, sizeof yy);
        ig_ctx_reset(&ctx, 0);
        x = ig_tensor_new(&scratch, 4, shape, 0);
        for (i = 0; i < B * PER; i++) x->data[i] = (float)i / (B * PER) - 0.5f;
        switch (k) {
        case 0: yy[2] = cfg.num_classes; break;             /* the null label: fine */
        case 1: x->data[PER + 5] = NAN; break;
        case 2: x->data[2 * PER + 31] = -INFINITY; break;
        case 3: tt[1] = NAN; break;
        case 4: tt[0] = 1.5f; break;
        case 5: yy[1] = cfg.num_classes + 1; break;
        case 6: yy[0] = -1; break;
        }
        v = va = (ig_tensor *)&m;   /* not NULL: a failed call must set them to NULL */
        used = scratch.used;
        rc = ig_forward(&m, &ctx, x, tt, yy, &v, &va);
        if (!want[k]) { CHECK(rc == 0 && v && va, "case %d: %s", k, ig_last_error()); continue; }
        CHECK(rc == -1, "case %d (%s) was accepted", k, want[k]);
        CHECK(strstr(ig_last_error(), want[k]) != NULL, "case %d: message %s", k, ig_last_error());
        CHECK(v == NULL && va == NULL, "case %d: outputs not cleared", k);
        CHECK(scratch.used == used && !ctx.failed, "case %d: the failed call took scratch or failed the context", k);
    }
    {   /* a sampler: Euler from a start that holds a NaN */
        ig_guided g;
        float xs[B * PER], grid[5];
        memset(&g, 0, sizeof g);
        g.model = &m; g.ctx = &ctx; g.labels = y; g.batch = B; g.guidance = ig_guidance_none();
        for (i = 0; i < B * PER; i++) xs[i] = 0.1f;
        xs[40] = NAN;
        ig_grid_uniform(grid, 4);
        CHECK(ig_sample_euler(ig_guided_velocity, &g, xs, B * PER, grid, 4) == -1, "a NaN start was sampled");
        CHECK(strstr(ig_last_error(), "non-finite") != NULL, "message: %s", ig_last_error());
    }
    ig_arena_free(&scratch);
    ig_model_free(&m);
    return 0;
}

/* A tensor whose bytes overflow a size_t is refused (it was made with a wrapped-around
   size: 2^62 floats took 0 bytes), and so are such a scratch buffer and such a tape;
   nothing is taken. */
static int t_tensor_size_overflow(void) {
    ig_arena a;
    size_t s1[2] = { SIZE_MAX / 4 + 1, 1 };        /* 4 * n wraps to 0 */
    size_t s2[3] = { 2, SIZE_MAX / 4 / 3 + 1, 3 }; /* the product of the dims overflows */
    float buf[4];
    CHECK(ig_arena_init(&a, "scratch", 1 << 16) == 0, "%s", ig_last_error());
    CHECK(ig_tensor_new(&a, 2, s1, 0) == NULL && strstr(ig_last_error(), "too large"), "2^62 floats: %s", ig_last_error());
    CHECK(ig_tensor_new(&a, 3, s2, 1) == NULL && strstr(ig_last_error(), "too large"), "overflowing product: %s", ig_last_error());
    CHECK(ig_tensor_wrap(&a, buf, NULL, 2, s1) == NULL, "a wrapped tensor of 2^62 floats was accepted");
    CHECK(ig__arena_floats(&a, SIZE_MAX / 4 + 2) == NULL, "SIZE_MAX / 4 + 2 floats got a wrapped-around size");
    CHECK(a.used == 0, "the refused tensors took %zu bytes", a.used);
    s1[0] = 4;
    CHECK(ig_tensor_new(&a, 2, s1, 1) != NULL, "a small tensor after them: %s", ig_last_error());
    {   /* a tape whose bytes wrap around would be a small block that ops write past */
        ig_ctx ctx;
        CHECK(ig_ctx_init(&ctx, &a, SIZE_MAX / sizeof(ig_node) + 2) == -1 && strstr(ig_last_error(), "too large"),
              "a tape of SIZE_MAX / %zu + 2 nodes: %s", sizeof(ig_node), ig_last_error());
        CHECK(ig_ctx_init(&ctx, &a, 16) == 0 && ig_ctx_reset(&ctx, 1) == 0, "a tape of 16 nodes: %s", ig_last_error());
    }
    ig_arena_free(&a);
    return 0;
}

/* Presets: the paper's sizes with the patch after the slash; a malformed name
   ("S/2x" was read as S/2, "S/" as patch 0) is refused with its name. */
static int t_config_preset_names(void) {
    static const char *const bad[] = { "S/2x", "S/", "S/0", "S/-2", "S/ 2", "Q/2", "S2", "XL/65", "XL/99999999999999999999" };
    ig_config cfg;
    size_t i;
    CHECK(ig_config_preset(&cfg, "XL/2", 4, 32, 32, 1000) == 0, "XL/2: %s", ig_last_error());
    CHECK(cfg.depth == 28 && cfg.hidden_size == 1152 && cfg.num_heads == 16 && cfg.patch_size == 2 && cfg.aux_depth == 8,
          "XL/2 is depth %d width %d heads %d patch %d k %d", cfg.depth, cfg.hidden_size, cfg.num_heads, cfg.patch_size, cfg.aux_depth);
    CHECK(ig_config_preset(&cfg, "B/4", 4, 32, 32, 1000) == 0 && cfg.patch_size == 4 && cfg.hidden_size == 768 && cfg.aux_depth == 8,
          "B/4: %s", ig_last_error());
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(ig_config_preset(&cfg, bad[i], 4, 32, 32, 1000) == -1 && strstr(ig_last_error(), "ig_config_preset"),
              "'%s' accepted (patch %d) or unclear: %s", bad[i], cfg.patch_size, ig_last_error());
    CHECK(ig_config_preset(&cfg, NULL, 4, 32, 32, 1000) == -1, "a NULL name was accepted");
    return 0;
}

/* --- the time embedding at t_scale 1000 -----------------------------------
   The toy and Fashion-MNIST models feed t * 1000 to the embedding, while every
   parity fixture has t_scale 1.  Here the features of a few t at t_scale 1 and
   1000 against the formula written out in double:
     f_i = 10000^(-i/128),  e = [cos(t s f_0..f_127), sin(t s f_0..f_127)]
   The tolerance follows the float argument t s f_i (a few ulp of up to 1000). */
static int t_time_features_t_scale(void) {
    static const float ts[3] = { 0.0f, 0.0137f, 0.73f };
    static const float scales[2] = { 1.0f, 1000.0f };
    ig_arena a;
    ig_ctx ctx;
    ig_tensor *e;
    size_t b, i;
    int si;
    CHECK(ig_arena_init(&a, "time features", 1 << 16) == 0 && ig_ctx_init(&ctx, &a, 4) == 0, "%s",
          ig_last_error());
    for (si = 0; si < 2; si++) {
        CHECK(ig_ctx_reset(&ctx, 0) == 0, "%s", ig_last_error());
        CHECK((e = ig__time_features(&ctx, ts, 3, scales[si])) != NULL, "%s", ig_last_error());
        for (b = 0; b < 3; b++)
            for (i = 0; i < 128; i++) {
                double arg = (double)ts[b] * scales[si] * exp(-log(10000.0) * (double)i / 128.0);
                double tol = 1e-6 + 5e-7 * arg;
                CHECK(fabs(e->data[b * 256 + i] - cos(arg)) <= tol && fabs(e->data[b * 256 + 128 + i] - sin(arg)) <= tol,
                      "t_scale %g, t %g, frequency %zu: (%.7g, %.7g), the formula (%.7g, %.7g)", (double)scales[si],
                      (double)ts[b], i, (double)e->data[b * 256 + i], (double)e->data[b * 256 + 128 + i], cos(arg),
                      sin(arg));
            }
    }
    ig_arena_free(&a);
    return 0;
}

/* --- attention against its plain reference -----------------------------------
   ig_attention (the kernels of Appendix A.2: transposes, the column softmax,
   the narrow products) and ig__attention_ref (section 4.6, the formulas as
   plain loops) compute the same forward and backward, up to float rounding:
   the largest difference relative to the largest value, per output. */
static double max_abs(const float *x, size_t n) {
    double m = 0.0;
    size_t i;
    for (i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

static int t_attention_vs_reference(void) {
    static const size_t shapes[][4] = {   /* B, T, heads, hd */
        { 2, 128, 2, 20 },   /* padded row stride, transposed products */
        { 1, 100, 3, 24 },
        { 2, 9, 2, 4 },      /* the small route */
        { 1, 1, 1, 3 },      /* one token: P = 1, the shortcut */
        { 5, 1, 2, 4 },
    };
    ig_arena a;
    ig_ctx ctx;
    ig_rng r;
    size_t si, i;
    CHECK(ig_arena_init(&a, "attention", (size_t)64 << 20) == 0, "%s", ig_last_error());
    for (si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        size_t B = shapes[si][0], T = shapes[si][1], heads = shapes[si][2], hd = shapes[si][3], D = heads * hd;
        size_t n = B * T * 3 * D;
        float *yref = (float *)malloc(B * T * D * sizeof(float)), *dref = (float *)calloc(n, sizeof(float));
        float *p = (float *)malloc(T * sizeof(float)), *dp = (float *)malloc(T * sizeof(float));
        double ey = 0.0, ed = 0.0, my, md;
        ig_tensor *qkv, *R, *y;
        CHECK(yref && dref && p && dp, "out of memory");
        ig_arena_reset(&a);
        CHECK(ig_ctx_init(&ctx, &a, 16) == 0 && ig_ctx_reset(&ctx, 1) == 0, "%s", ig_last_error());
        qkv = ig_tensor_new4(&a, B, T, 3 * D, 1, 3, 1);
        R = ig_tensor_new4(&a, B, T, D, 1, 3, 0);
        CHECK(qkv && R, "%s", ig_last_error());
        ig_rng_seed(&r, 60 + si);
        for (i = 0; i < qkv->n; i++) qkv->data[i] = 1.5f * ig_rng_normal(&r);
        for (i = 0; i < R->n; i++) R->data[i] = ig_rng_normal(&r);
        y = ig_attention(&ctx, qkv, heads);
        CHECK(y && ig_backward(&ctx, ig_sum(&ctx, ig_mul(&ctx, y, R))) == 0, "%s", ig_last_error());
        ig__attention_ref(qkv->data, R->data, B, T, D, heads, yref, dref, p, dp);
        for (i = 0; i < y->n; i++) ey = fmax(ey, fabs((double)y->data[i] - yref[i]));
        for (i = 0; i < n; i++) ed = fmax(ed, fabs((double)qkv->grad[i] - dref[i]));
        my = max_abs(yref, y->n); md = max_abs(dref, n);
        /* one token: ig_attention's shortcut (out = v, dv = dO) has the reference's bits */
        CHECK(T > 1 || (ey == 0.0 && ed == 0.0), "T = 1: the shortcut is off by %.3g (output), %.3g (dqkv)",
              ey, ed);
        CHECK(ey <= 1e-5 * my && ed <= 1e-5 * md, "B %zu T %zu heads %zu hd %zu: output off by %.3g of %.3g, "
              "dqkv by %.3g of %.3g", B, T, heads, hd, ey, my, ed, md);
        printf("     B %zu T %3zu heads %zu hd %2zu: output %.2g, dqkv %.2g (relative to the largest value)\n",
               B, T, heads, hd, ey / my, ed / md);
        free(yref); free(dref); free(p); free(dp);
    }
    ig_arena_free(&a);
    return 0;
}

/* --- attention's transposed products ---------------------------------------
   ig_attention computes its (T,hd) products as (hd,T) transposes
   (ig__gemm_narrow) and runs 8 softmax rows side by side.  Neither may change
   a bit: the reference here is the plain order, as section 4.6 had it, each
   product by ig__gemm untransposed:
     S = q k^T; S *= 1/sqrt(hd); softmax one row at a time; out = P v
     dv += P^T dO; dP = dO v^T; dS = P (dP - rowsum(dP P)) / sqrt(hd);
     dq += dS k; dk += dS^T q                                                */

static void attention_plain(const float *qkv, const float *dy, size_t B, size_t T, size_t heads, size_t hd,
                            float *y, float *dqkv, float *S, float *dP) {
    size_t D = heads * hd, D3 = 3 * D, b, h, r, j;
    float scale = 1.0f / sqrtf((float)hd);
    memset(dqkv, 0, B * T * D3 * sizeof(float));
    for (b = 0; b < B; b++)
        for (h = 0; h < heads; h++) {
            const float *q = qkv + b * T * D3 + h * hd, *k = q + D, *v = q + 2 * D, *dO = dy + b * T * D + h * hd;
            float *dq = dqkv + b * T * D3 + h * hd, *dk = dq + D, *dv = dq + 2 * D;
            ig__gemm(0, 1, T, T, hd, q, D3, k, D3, 0.0f, S, T);
            for (r = 0; r < T * T; r++) S[r] *= scale;
            for (r = 0; r < T; r++) {
                float *s = S + r * T, mx = s[0], sum = 0.0f, inv;
                for (j = 1; j < T; j++) mx = s[j] > mx ? s[j] : mx;
                for (j = 0; j < T; j++) s[j] = ig__exp(s[j] - mx);
                for (j = 0; j < T; j++) sum += s[j];
                inv = 1.0f / sum;
                for (j = 0; j < T; j++) s[j] *= inv;
            }
            ig__gemm(0, 0, T, hd, T, S, T, v, D3, 0.0f, y + b * T * D + h * hd, D);
            ig__gemm(1, 0, T, hd, T, S, T, dO, D, 1.0f, dv, D3);
            ig__gemm(0, 1, T, T, hd, dO, D, v, D3, 0.0f, dP, T);
            for (r = 0; r < T; r++) {
                float dot = 0.0f, *dp = dP + r * T;
                const float *p = S + r * T;
                for (j = 0; j < T; j++) dot += dp[j] * p[j];
                for (j = 0; j < T; j++) dp[j] = p[j] * (dp[j] - dot) * scale;
            }
            ig__gemm(0, 0, T, hd, T, dP, T, k, D3, 1.0f, dq, D3);
            ig__gemm(1, 0, T, hd, T, dP, T, q, D3, 1.0f, dk, D3);
        }
}

static int t_attention_transposed_exact(void) {
    static const size_t shapes[][4] = {   /* B, T, heads, hd */
        { 2, 128, 2, 20 },   /* T a multiple of 64: padded row stride */
        { 1, 100, 3, 24 },
        { 1, 8, 2, 4 },      /* the small route: computed untransposed */
    };
    ig_arena a;
    ig_ctx ctx;
    ig_rng r;
    size_t si, i;
    int threads, saved = thr_get();
    CHECK(ig_arena_init(&a, "attention", (size_t)64 << 20) == 0, "%s", ig_last_error());
    CHECK(ig_ctx_init(&ctx, &a, 16) == 0, "%s", ig_last_error());
    CHECK(ig__gemm_transposes_exactly(0, 0, 128, 20, 128) && ig__gemm_transposes_exactly(1, 0, 100, 24, 100),
          "the shapes do not reach the transposed products");
    for (si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (threads = 1; threads <= 2; threads++) {
            size_t B = shapes[si][0], T = shapes[si][1], heads = shapes[si][2], hd = shapes[si][3], D = heads * hd;
            size_t n = B * T * 3 * D;
            float *yref = (float *)malloc(B * T * D * sizeof(float)), *dref = (float *)malloc(n * sizeof(float));
            float *S = (float *)malloc(T * T * sizeof(float)), *dP = (float *)malloc(T * T * sizeof(float));
            ig_tensor *qkv, *R, *y;
            CHECK(yref && dref && S && dP, "out of memory");
            thr_set(threads);
            ig_arena_reset(&a);
            CHECK(ig_ctx_init(&ctx, &a, 16) == 0 && ig_ctx_reset(&ctx, 1) == 0, "%s", ig_last_error());
            qkv = ig_tensor_new4(&a, B, T, 3 * D, 1, 3, 1);
            R = ig_tensor_new4(&a, B, T, D, 1, 3, 0);
            CHECK(qkv && R, "%s", ig_last_error());
            ig_rng_seed(&r, 40 + si);
            for (i = 0; i < qkv->n; i++) qkv->data[i] = 2.0f * ig_rng_normal(&r);
            for (i = 0; i < R->n; i++) R->data[i] = ig_rng_normal(&r);
            memset(qkv->grad, 0, n * sizeof(float));
            y = ig_attention(&ctx, qkv, heads);
            CHECK(y && ig_backward(&ctx, ig_sum(&ctx, ig_mul(&ctx, y, R))) == 0, "%s", ig_last_error());
            attention_plain(qkv->data, R->data, B, T, heads, hd, yref, dref, S, dP);
            CHECK(memcmp(y->data, yref, y->n * sizeof(float)) == 0, "B %zu T %zu heads %zu hd %zu, %d threads: the output differs",
                  B, T, heads, hd, threads);
            CHECK(memcmp(qkv->grad, dref, n * sizeof(float)) == 0, "B %zu T %zu heads %zu hd %zu, %d threads: dqkv differs",
                  B, T, heads, hd, threads);
            free(yref); free(dref); free(S); free(dP);
        }
    thr_set(saved);
    ig_arena_free(&a);
    return 0;
}

/* ig__gemm_narrow against ig__gemm on the same product, every transpose case,
   beta 0 (C full of NaN), 1 and 0.5: with K = 800 above the K block (384),
   where the K blocks of C^T must add onto beta C in the same order, and on
   the small route, where it must not transpose (the plain loop's beta C + sum
   and the axpy's running sum from C round differently). */
static int t_gemm_narrow_exact(void) {
    enum { TMAX = 150, HDMAX = 40, KMAX = 800, LDC = HDMAX + 3, LDBUF = TMAX + 5 };
    static const size_t shapes[2][3] = { { TMAX, HDMAX, KMAX }, { 20, 8, 30 } };   /* T, hd, K */
    static const float betas[3] = { 0.0f, 1.0f, 0.5f };
    static float A[KMAX * TMAX], Bm[KMAX * HDMAX], C0[TMAX * LDC], C1[TMAX * LDC], C2[TMAX * LDC], buf[HDMAX * LDBUF];
    ig_rng r;
    size_t i, si;
    int ta, tb, bi;
    CHECK(ig__gemm_transposes_exactly(0, 0, TMAX, HDMAX, KMAX), "the shape does not reach the transposed product");
#ifndef IG_NO_FAST_GEMM   /* the plain loop transposes exactly at every shape */
    CHECK(!ig__gemm_transposes_exactly(0, 0, 20, 8, 30), "the small shape reaches the transposed product");
#endif
    ig_rng_seed(&r, 5);
    for (i = 0; i < sizeof A / sizeof A[0]; i++) A[i] = ig_rng_normal(&r);
    for (i = 0; i < sizeof Bm / sizeof Bm[0]; i++) Bm[i] = ig_rng_normal(&r);
    for (si = 0; si < 2; si++)
        for (ta = 0; ta < 2; ta++)
            for (tb = 0; tb < 2; tb++)
                for (bi = 0; bi < 3; bi++) {
                    size_t T = shapes[si][0], hd = shapes[si][1], K = shapes[si][2];
                    size_t lda = ta ? T : K, ldb = tb ? K : hd;
                    for (i = 0; i < TMAX * LDC; i++) C0[i] = betas[bi] == 0.0f ? NAN : ig_rng_normal(&r);
                    memcpy(C1, C0, sizeof C0); memcpy(C2, C0, sizeof C0);
                    ig__gemm(ta, tb, T, hd, K, A, lda, Bm, ldb, betas[bi], C1, LDC);
                    ig__gemm_narrow(ta, tb, T, hd, K, A, lda, Bm, ldb, betas[bi], C2, LDC, buf, LDBUF);
                    CHECK(memcmp(C1, C2, sizeof C1) == 0, "T %zu hd %zu K %zu trans_a %d trans_b %d beta %g: the product differs",
                          T, hd, K, ta, tb, (double)betas[bi]);
                }
    return 0;
}

/* Two threads fail at once, with different messages, and each then reads
   ig_last_error(): with one buffer for all threads both would read the same,
   later message.  The barrier makes both failures happen before either read. */
static int t_error_per_thread(void) {
#ifdef _OPENMP
    int wrong = 0, nthreads = 0;
#pragma omp parallel num_threads(2) reduction(+ : wrong)
    {
        ig_config cfg;
        const char *name = omp_get_thread_num() ? "Q/2" : "S/99";
        int me_failed = ig_config_preset(&cfg, name, 3, 32, 32, 10) != 0;
#pragma omp barrier
        wrong += !me_failed || strstr(ig_last_error(), name) == NULL;
#pragma omp single
        nthreads = omp_get_num_threads();
    }
    if (nthreads < 2) return 0;   /* the runtime gave one thread: nothing to race */
    CHECK(wrong == 0, "%d of 2 threads read another thread's error message", wrong);
#endif
    return 0;
}

const test_case harden_tests[] = {
    { "harden_exp_tanh_nan_inf", t_exp_tanh_nonfinite },
    { "harden_adamw_overflow_leaves_model", t_adamw_overflow_untouched },
    { "harden_adamw_overflow_one_weight", t_adamw_overflow_one_weight },
    { "harden_adamw_negative_second_moment", t_adamw_negative_second_moment },
    { "harden_forward_rejects_bad_inputs", t_forward_bad_inputs },
    { "harden_tensor_size_overflow", t_tensor_size_overflow },
    { "harden_config_preset_names", t_config_preset_names },
    { "harden_error_message_per_thread", t_error_per_thread },
    { "time_features_t_scale_1000", t_time_features_t_scale },
    { "attention_matches_plain_reference", t_attention_vs_reference },
    { "attention_transposed_products_exact", t_attention_transposed_exact },
    { "gemm_narrow_exact", t_gemm_narrow_exact },
};
const int harden_ntests = sizeof harden_tests / sizeof harden_tests[0];
