/* test_method.c - tests that fail when the METHOD is wrong, not just the network:
   every guidance formula at weights other than 1 against a direct computation
   from the network's own outputs, the EMA recurrence, each term of AdamW, and
   one full ig_train_step against PyTorch on a batch drawn from ig.h's stream.

   The network itself is checked against PyTorch in test_model.c; here it is a
   black box whose outputs (both heads, any label) are read with ig_forward and
   combined by hand in double precision.  The models have random non-zero
   weights everywhere (the released init zeroes both heads, which would make
   v_aux = v_final = 0 and every guidance formula trivially "right"). */
#include "../ig.h"
#include "test.h"
#include "small.h"
#include <stdlib.h>
#include <string.h>

/* --- a small random model ------------------------------------------------
   small.h's small_config (T = 4 tokens, head after block 1) with random weights. */

typedef struct { ig_model m; ig_arena scratch; ig_ctx ctx; } net;

/* Random weights for every trainable parameter: matrices N(0, (gain / sqrt(fan_in))^2)
   (gain 0.6 for the adaLN Linears, so 1 + scale stays mostly positive), biases
   N(0, 0.05^2), the label table N(0, 0.5^2) so that labels, and the null label,
   change the output visibly.  The EMA copy is set to the same weights. */
static void randomize(ig_model *m, uint64_t seed) {
    ig_rng r;
    int p;
    size_t k;
    ig_rng_seed(&r, seed);
    for (p = 0; p < m->nparams; p++) {
        ig_param *pp = &m->params[p];
        float sd;
        if (!pp->trainable) continue;
        if (strstr(pp->name, "embedding_table")) sd = 0.5f;
        else if (pp->t->ndim >= 2)
            sd = (strstr(pp->name, "adaLN") ? 0.6f : 1.0f) / sqrtf((float)(pp->t->n / pp->t->shape[0]));
        else sd = 0.05f;
        for (k = 0; k < pp->t->n; k++) pp->t->data[k] = sd * ig_rng_normal(&r);
    }
    if (m->ema) memcpy(m->ema, m->weights, m->nweights * sizeof(float));
}

static int net_init(net *n, const ig_config *g, size_t rows, int training, uint64_t seed) {
    if (ig_model_init(&n->m, g, training, seed)) return -1;
    randomize(&n->m, seed + 1000);
    if (ig_arena_init(&n->scratch, "scratch", ig_model_scratch_bytes(g, rows, training))) return -1;
    return ig_ctx_init(&n->ctx, &n->scratch, ig_model_tape_nodes(g));
}

static void net_free(net *n) { ig_arena_free(&n->scratch); ig_model_free(&n->m); }

/* Both heads of the network for x (B,C,H,W) at one t with labels y, read
   straight from ig_forward: v (final) and va (intermediate), B*per floats each. */
static int heads(net *n, const float *x, size_t B, float t, const int *y, double *v, double *va) {
    size_t shape[4], b, i;
    float tt[64];
    ig_tensor *xt, *vf, *vx;
    if (B > 64 || ig_ctx_reset(&n->ctx, 0)) return -1;
    shape[0] = B; shape[1] = (size_t)n->m.cfg.in_channels;
    shape[2] = (size_t)n->m.cfg.image_height; shape[3] = (size_t)n->m.cfg.image_width;
    if (!(xt = ig_tensor_new(n->ctx.scratch, 4, shape, 0))) return -1;
    memcpy(xt->data, x, xt->n * sizeof(float));
    for (b = 0; b < B; b++) tt[b] = t;
    if (ig_forward(&n->m, &n->ctx, xt, tt, y, &vf, &vx)) return -1;
    for (i = 0; i < xt->n; i++) { v[i] = vf->data[i]; if (va) va[i] = vx->data[i]; }
    return 0;
}

/* max |a - b| / max |b|, with a in floats (af) or in doubles (ad, when af is NULL) */
static double rel_diff_of(const float *af, const double *ad, const double *b, size_t n) {
    double num = 0, den = 1e-30;
    size_t i;
    for (i = 0; i < n; i++) {
        double a = af ? (double)af[i] : ad[i];
        if (fabs(a - b[i]) > num) num = fabs(a - b[i]);
        if (fabs(b[i]) > den) den = fabs(b[i]);
    }
    return num / den;
}

static double rel_diff(const float *a, const double *b, size_t n) { return rel_diff_of(a, NULL, b, n); }
static double rel_diff_dd(const double *a, const double *b, size_t n) { return rel_diff_of(NULL, a, b, n); }

/* --- guidance -------------------------------------------------------------
   Each test evaluates the guided velocity (ig_guided_velocity) at t below,
   on and above the edges of each interval and compares it with the formula
   computed here from separate forward passes.  The batch holds every class,
   so a wrong label anywhere shows.  Tolerance: 2e-5 of the velocity's scale
   (the guided call runs a batch of 2B under CFG, the direct one B: the matrix
   multiplies may sum in another order, a few 1e-7).  Every case also checks
   that the guided value differs from the unguided one by more than 100x that
   tolerance, so an interval test cannot pass because both answers coincide. */
enum { GB = 6 };                          /* batch */
#define GUIDE_TOL 2e-5
static const int g_labels[GB] = { 0, 1, 2, 2, 1, 0 };

typedef struct { net n, guide; ig_guided s; float x[GB * 32]; size_t per; } gsetup;

static int gsetup_init(gsetup *G, int with_guide) {
    ig_config g = small_config(), gg;
    ig_rng r;
    if (net_init(&G->n, &g, 2 * GB, 0, 11)) return -1;
    G->per = 2 * 4 * 4;
    if (with_guide) {   /* a weaker guide: narrower and shallower, its own random weights */
        gg = g; gg.hidden_size = 16; gg.depth = 2; gg.num_heads = 2;
        if (net_init(&G->guide, &gg, GB, 0, 12)) return -1;
    }
    memset(&G->s, 0, sizeof G->s);
    G->s.model = &G->n.m; G->s.ctx = &G->n.ctx; G->s.labels = g_labels; G->s.batch = GB;
    G->s.guidance = ig_guidance_none();
    ig_rng_seed(&r, 13);
    ig_rng_normal_fill(&r, G->x, GB * G->per);
    return 0;
}

static void gsetup_free(gsetup *G, int with_guide) {
    net_free(&G->n);
    if (with_guide) net_free(&G->guide);
}

static int inside(float t, float lo, float hi) { return t >= lo && t <= hi; }

/* t values around an interval [lo, hi]: below, the edges exactly, one float
   past each edge, the middle, above. */
static int edge_times(float lo, float hi, float *t) {
    int n = 0;
    if (lo > 0.0f) { t[n++] = 0.5f * lo; t[n++] = nextafterf(lo, -1.0f); }
    t[n++] = lo; t[n++] = nextafterf(lo, 2.0f); t[n++] = 0.5f * (lo + hi);
    t[n++] = nextafterf(hi, -1.0f); t[n++] = hi;
    if (hi < 1.0f) { t[n++] = nextafterf(hi, 2.0f); t[n++] = 0.5f * (hi + 1.0f); }
    return n;
}

/* IG: inside [low, high] v = v_aux + w (v_final - v_aux); outside v_final.
   Both from one forward pass: one network evaluation either way. */
static int t_guidance_ig(void) {
    gsetup G;
    float ts[12], out[GB * 32];
    double v[GB * 32], va[GB * 32], want[GB * 32];
    const float lo = 0.3f, hi = 0.7f, w = 2.5f;
    size_t n = GB * 32, i;
    int k, nt, n_in = 0, n_out = 0;
    CHECK(gsetup_init(&G, 0) == 0, "%s", ig_last_error());
    G.s.guidance.ig_weight = w; G.s.guidance.ig_low = lo; G.s.guidance.ig_high = hi;
    nt = edge_times(lo, hi, ts);
    for (k = 0; k < nt; k++) {
        float t = ts[k];
        size_t nfe0 = G.s.nfe;
        CHECK(heads(&G.n, G.x, GB, t, g_labels, v, va) == 0, "%s", ig_last_error());
        for (i = 0; i < n; i++) want[i] = inside(t, lo, hi) ? va[i] + w * (v[i] - va[i]) : v[i];
        CHECK(ig_guided_velocity(&G.s, G.x, n, t, out) == 0, "%s", ig_last_error());
        CHECK(rel_diff(out, want, n) < GUIDE_TOL, "IG w %g on [%g, %g] at t = %.9g (%s): off by %.3g of the scale",
              w, lo, hi, t, inside(t, lo, hi) ? "inside" : "outside", rel_diff(out, want, n));
        CHECK(G.s.nfe == nfe0 + 1, "IG at t = %.9g took %zu evaluations", t, G.s.nfe - nfe0);
        if (inside(t, lo, hi)) {
            n_in++;
            CHECK(rel_diff_dd(v, want, n) > 100 * GUIDE_TOL, "the heads agree: the test would see nothing");
        } else n_out++;
    }
    CHECK(n_in == 5 && n_out == 4, "%d times inside, %d outside", n_in, n_out);
    gsetup_free(&G, 0);
    return 0;
}

/* CFG: inside [low, high] the batch runs with the labels and with the null
   label num_classes: v = v_u + s (v_c - v_u); outside, v_c.  Two network
   evaluations inside, one outside. */
static int t_guidance_cfg(void) {
    gsetup G;
    float ts[12], out[GB * 32];
    double vc[GB * 32], vu[GB * 32], v0[GB * 32], want[GB * 32];
    int nulls[GB], zeros[GB], k, nt, b;
    const float lo = 0.2f, hi = 0.6f, s = 3.0f;
    size_t n = GB * 32, i;
    CHECK(gsetup_init(&G, 0) == 0, "%s", ig_last_error());
    for (b = 0; b < GB; b++) { nulls[b] = G.n.m.cfg.num_classes; zeros[b] = 0; }
    G.s.guidance.cfg_scale = s; G.s.guidance.cfg_low = lo; G.s.guidance.cfg_high = hi;
    nt = edge_times(lo, hi, ts);
    for (k = 0; k < nt; k++) {
        float t = ts[k];
        size_t nfe0 = G.s.nfe;
        int in = inside(t, lo, hi);
        CHECK(heads(&G.n, G.x, GB, t, g_labels, vc, NULL) == 0, "%s", ig_last_error());
        CHECK(heads(&G.n, G.x, GB, t, nulls, vu, NULL) == 0, "%s", ig_last_error());
        for (i = 0; i < n; i++) want[i] = in ? vu[i] + s * (vc[i] - vu[i]) : vc[i];
        CHECK(ig_guided_velocity(&G.s, G.x, n, t, out) == 0, "%s", ig_last_error());
        CHECK(rel_diff(out, want, n) < GUIDE_TOL, "CFG s %g on [%g, %g] at t = %.9g (%s): off by %.3g of the scale",
              s, lo, hi, t, in ? "inside" : "outside", rel_diff(out, want, n));
        CHECK(G.s.nfe == nfe0 + (in ? 2u : 1u), "CFG at t = %.9g took %zu evaluations", t, G.s.nfe - nfe0);
        if (in) {
            CHECK(rel_diff_dd(vc, want, n) > 100 * GUIDE_TOL, "CFG changes nothing here");
            /* the unconditional pass must be the null label, not some class:
               with class 0 in its place the answer would be this far off */
            CHECK(heads(&G.n, G.x, GB, t, zeros, v0, NULL) == 0, "%s", ig_last_error());
            for (i = 0; i < n; i++) v0[i] = v0[i] + s * (vc[i] - v0[i]);
            CHECK(rel_diff_dd(v0, want, n) > 100 * GUIDE_TOL, "class 0 and the null label give the same output");
        }
    }
    gsetup_free(&G, 0);
    return 0;
}

/* IG + CFG in the released order: IG on both halves (conditional and null
   label) first, each where t is in the IG interval, then CFG where t is in
   the CFG interval.  The intervals overlap partly, so the times cover IG
   alone, CFG alone, both and neither, and every edge. */
static int t_guidance_ig_cfg(void) {
    gsetup G;
    float ts[24], out[GB * 32];
    double vc[GB * 32], vac[GB * 32], vu[GB * 32], vau[GB * 32], want[GB * 32];
    int nulls[GB], k, nt, b, seen[4] = { 0, 0, 0, 0 };
    const float ig_lo = 0.3f, ig_hi = 0.8f, w = 2.0f, cfg_lo = 0.0f, cfg_hi = 0.5f, s = 1.5f;
    size_t n = GB * 32, i;
    CHECK(gsetup_init(&G, 0) == 0, "%s", ig_last_error());
    for (b = 0; b < GB; b++) nulls[b] = G.n.m.cfg.num_classes;
    G.s.guidance.ig_weight = w; G.s.guidance.ig_low = ig_lo; G.s.guidance.ig_high = ig_hi;
    G.s.guidance.cfg_scale = s; G.s.guidance.cfg_low = cfg_lo; G.s.guidance.cfg_high = cfg_hi;
    nt = edge_times(ig_lo, ig_hi, ts);
    nt += edge_times(cfg_lo, cfg_hi, ts + nt);
    for (k = 0; k < nt; k++) {
        float t = ts[k];
        int use_ig = inside(t, ig_lo, ig_hi), use_cfg = inside(t, cfg_lo, cfg_hi);
        CHECK(heads(&G.n, G.x, GB, t, g_labels, vc, vac) == 0, "%s", ig_last_error());
        CHECK(heads(&G.n, G.x, GB, t, nulls, vu, vau) == 0, "%s", ig_last_error());
        for (i = 0; i < n; i++) {
            double c = use_ig ? vac[i] + w * (vc[i] - vac[i]) : vc[i];
            double u = use_ig ? vau[i] + w * (vu[i] - vau[i]) : vu[i];
            want[i] = use_cfg ? u + s * (c - u) : c;
        }
        CHECK(ig_guided_velocity(&G.s, G.x, n, t, out) == 0, "%s", ig_last_error());
        CHECK(rel_diff(out, want, n) < GUIDE_TOL, "IG %g on [%g, %g] + CFG %g on [%g, %g] at t = %.9g (IG %s, CFG %s): off by %.3g",
              w, ig_lo, ig_hi, s, cfg_lo, cfg_hi, t, use_ig ? "on" : "off", use_cfg ? "on" : "off", rel_diff(out, want, n));
        seen[use_ig * 2 + use_cfg]++;
        if (use_ig && use_cfg) {   /* IG on the conditional half only would give this */
            for (i = 0; i < n; i++) vau[i] = vu[i] + s * (vac[i] + w * (vc[i] - vac[i]) - vu[i]);
            CHECK(rel_diff_dd(vau, want, n) > 100 * GUIDE_TOL, "IG on the null half changes nothing");
        }
    }
    CHECK(seen[0] && seen[1] && seen[2] && seen[3], "cases: neither %d, CFG only %d, IG only %d, both %d",
          seen[0], seen[1], seen[2], seen[3]);
    gsetup_free(&G, 0);
    return 0;
}

/* Autoguidance: v = v_weak + w (v - v_weak), v_weak from the guide model's
   final head with the same labels; v is the main model's (here also with IG,
   to check that autoguidance acts on the IG-guided velocity).  Two network
   evaluations per call; the guide runs in the main context or its own. */
static int t_guidance_autoguidance(void) {
    gsetup G;
    float out[GB * 32];
    double v[GB * 32], va[GB * 32], vg[GB * 32], want[GB * 32];
    static const float ts[4] = { 0.0f, 0.25f, 0.7f, 1.0f };
    const float w = 2.0f, igw = 1.5f;
    size_t n = GB * 32, i;
    int k, own_ctx;
    CHECK(gsetup_init(&G, 1) == 0, "%s", ig_last_error());
    G.s.guidance.guide = &G.guide.m; G.s.guidance.guide_weight = w;
    for (own_ctx = 0; own_ctx < 2; own_ctx++)
        for (k = 0; k < 8; k++) {
            float t = ts[k % 4];
            int with_ig = k >= 4;
            size_t nfe0 = G.s.nfe;
            G.s.guide_ctx = own_ctx ? &G.guide.ctx : NULL;
            G.s.guidance.ig_weight = with_ig ? igw : 1.0f;
            CHECK(heads(&G.n, G.x, GB, t, g_labels, v, va) == 0, "%s", ig_last_error());
            CHECK(heads(&G.guide, G.x, GB, t, g_labels, vg, NULL) == 0, "%s", ig_last_error());
            for (i = 0; i < n; i++) {
                double vm = with_ig ? va[i] + igw * (v[i] - va[i]) : v[i];
                want[i] = vg[i] + w * (vm - vg[i]);
                v[i] = vm;
            }
            CHECK(ig_guided_velocity(&G.s, G.x, n, t, out) == 0, "%s", ig_last_error());
            CHECK(rel_diff(out, want, n) < GUIDE_TOL, "autoguidance w %g at t = %g (IG %g, %s context): off by %.3g",
                  w, t, G.s.guidance.ig_weight, own_ctx ? "own" : "shared", rel_diff(out, want, n));
            CHECK(G.s.nfe == nfe0 + 2, "autoguidance took %zu evaluations", G.s.nfe - nfe0);
            CHECK(rel_diff_dd(v, want, n) > 100 * GUIDE_TOL, "the guide changes nothing");
        }
    gsetup_free(&G, 1);
    return 0;
}

/* --- the optimizer: AdamW, clipping and the EMA, against a recurrence in double ---
   Six steps of ig_train_step_on on a random model with a fresh batch each step.
   Before each step the raw gradient is computed here by the same forward and
   backward (bit-identical to the step's own), then the reference
       g <- g * min(1, clip / (|g| + 1e-6))
       w <- w (1 - lr wd);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
       w <- w - lr / (1 - b1^s) * m / (sqrt(v) / sqrt(1 - b2^s) + eps)
       ema <- d ema + (1 - d) w          (d read at every step; no warm-up in ig.h)
   runs in double.  Sizes (lr 1e-2, wd 0.1, clip 0.5 against gradient norms of
   about 1-3 that change from step to step): the weight decay moves a weight of
   0.3 by 3e-4 per step, dropping a bias correction changes the first updates by
   a factor 3 to 10 (of lr = 1e-2), and without clipping the updates of steps 2-6
   change by the ratio of the norms; the float error of six steps is a few 1e-7.
   The test also runs the reference with each term removed and checks that each
   of those ends at least 50x the tolerance away from ig.h. */
enum { OB = 5, OSTEPS = 6, OVAR = 5 };
#define OPT_TOL 2e-6

static const float opt_decays[OSTEPS] = { 0.9f, 0.5f, 0.99f, 0.0f, 0.9f, 0.75f };

typedef struct {
    double max_err_w, max_err_ema, max_err_norm;
    double variant_err[OVAR];   /* 0 = full reference; 1 no wd, 2 no bc1, 3 no bc2, 4 no clip */
    float norms[OSTEPS];
} opt_result;

static int run_optimizer(opt_result *res) {
    ig_config g = small_config();
    net n;
    ig_train_config tc = ig_train_defaults();
    ig_train_stats st;
    ig_rng r;
    size_t per = 32, N, i;
    float x0[OB * 32], xt[OB * 32], tg[OB * 32], t[OB];
    int y[OB], step, var, b;
    double *w[OVAR], *mm[OVAR], *vv[OVAR], *ema, *graw;
    memset(res, 0, sizeof *res);
    if (net_init(&n, &g, OB, 1, 21)) return -1;
    N = n.m.nweights;
    for (var = 0; var < OVAR; var++) {
        w[var] = (double *)malloc(N * sizeof(double));
        mm[var] = (double *)calloc(N, sizeof(double));
        vv[var] = (double *)calloc(N, sizeof(double));
        for (i = 0; i < N; i++) w[var][i] = n.m.weights[i];
    }
    ema = (double *)malloc(N * sizeof(double));
    graw = (double *)malloc(N * sizeof(double));
    for (i = 0; i < N; i++) ema[i] = n.m.ema[i];
    tc.lr = 1e-2f; tc.weight_decay = 0.1f; tc.grad_clip = 0.5f;
    tc.beta1 = 0.9f; tc.beta2 = 0.999f; tc.eps = 1e-8f; tc.aux_weight = 0.5f;
    ig_rng_seed(&r, 22);
    for (step = 1; step <= OSTEPS; step++) {
        ig_tensor *xin, *tgt, *v, *va, *loss;
        size_t shape[4];
        double sq = 0, norm;
        /* a fresh batch on the linear path */
        for (b = 0; b < OB; b++) {
            y[b] = b % (g.num_classes + 1);
            t[b] = ig_rng_uniform(&r);
        }
        for (i = 0; i < OB * per; i++) {
            float e = ig_rng_normal(&r);
            x0[i] = (float)((i * 7 + (size_t)y[i / per]) % 5) * 0.5f - 1.0f;
            xt[i] = (1.0f - t[i / per]) * x0[i] + t[i / per] * e;
            tg[i] = e - x0[i];
        }
        /* the raw gradient, by the same forward and backward the step runs */
        if (ig_ctx_reset(&n.ctx, 1)) return -1;
        shape[0] = OB; shape[1] = 2; shape[2] = 4; shape[3] = 4;
        xin = ig_tensor_new(n.ctx.scratch, 4, shape, 0); tgt = ig_tensor_new(n.ctx.scratch, 4, shape, 0);
        memcpy(xin->data, xt, sizeof xt); memcpy(tgt->data, tg, sizeof tg);
        memset(n.m.grads, 0, N * sizeof(float));
        if (ig_forward(&n.m, &n.ctx, xin, t, y, &v, &va)) return -1;
        loss = ig_add(&n.ctx, ig_mse(&n.ctx, v, tgt), ig_scale(&n.ctx, ig_mse(&n.ctx, va, tgt), 0.5f));
        if (ig_backward(&n.ctx, loss)) return -1;
        for (i = 0; i < N; i++) { graw[i] = n.m.grads[i]; sq += graw[i] * graw[i]; }
        norm = sqrt(sq);
        /* the library's step */
        tc.ema_decay = opt_decays[step - 1];
        if (ig_train_step_on(&n.m, &n.ctx, &tc, xt, t, y, tg, OB, &st)) return -1;
        res->norms[step - 1] = st.grad_norm;
        if (fabs(st.grad_norm - norm) / norm > res->max_err_norm) res->max_err_norm = fabs(st.grad_norm - norm) / norm;
        /* the references */
        for (var = 0; var < OVAR; var++) {
            double coef = (var != 4 && norm > 0) ? tc.grad_clip / (norm + 1e-6) : 1.0;
            double bc1 = var == 2 ? 1.0 : 1.0 - pow(tc.beta1, step);
            double bc2 = var == 3 ? 1.0 : 1.0 - pow(tc.beta2, step);
            double decay = var == 1 ? 1.0 : 1.0 - (double)tc.lr * tc.weight_decay;
            int p;
            if (coef > 1.0) coef = 1.0;
            for (p = 0; p < n.m.nparams; p++) {
                const ig_param *pp = &n.m.params[p];
                if (!pp->trainable) continue;
                for (i = pp->offset; i < pp->offset + pp->t->n; i++) {
                    double gi = graw[i] * coef;
                    w[var][i] *= decay;
                    mm[var][i] = tc.beta1 * mm[var][i] + (1.0 - tc.beta1) * gi;
                    vv[var][i] = tc.beta2 * vv[var][i] + (1.0 - tc.beta2) * gi * gi;
                    w[var][i] -= tc.lr / bc1 * mm[var][i] / (sqrt(vv[var][i]) / sqrt(bc2) + tc.eps);
                }
            }
        }
        /* the EMA, fed with the library's own new weights (isolates it from AdamW) */
        for (i = 0; i < N; i++) ema[i] = (double)tc.ema_decay * ema[i] + (1.0 - (double)tc.ema_decay) * n.m.weights[i];
        for (i = 0; i < N; i++) {
            double e = fabs(n.m.ema[i] - ema[i]) / (1e-3 + fabs(ema[i]));
            if (e > res->max_err_ema) res->max_err_ema = e;
        }
    }
    for (var = 0; var < OVAR; var++) {
        for (i = 0; i < N; i++) {
            double e = fabs(n.m.weights[i] - w[var][i]);
            if (e > res->variant_err[var]) res->variant_err[var] = e;
        }
        free(w[var]); free(mm[var]); free(vv[var]);
    }
    res->max_err_w = res->variant_err[0];
    free(ema); free(graw);
    net_free(&n);
    return 0;
}

static int t_adamw_terms(void) {
    opt_result R;
    static const char *names[OVAR] = { "", "weight decay", "bias correction 1 - b1^s",
                                       "bias correction sqrt(1 - b2^s)", "gradient clipping" };
    int var;
    CHECK(run_optimizer(&R) == 0, "%s", ig_last_error());
    CHECK(R.max_err_norm < 1e-6, "grad norm before clipping off by %.3g (relative)", R.max_err_norm);
    CHECK(R.norms[0] > 0.5f && R.norms[1] > 0.5f, "the gradient norms (%g, %g) do not reach the clip 0.5",
          R.norms[0], R.norms[1]);
    CHECK(R.max_err_w < OPT_TOL, "weights after %d AdamW steps: %.3g from the reference (tolerance %g)",
          OSTEPS, R.max_err_w, OPT_TOL);
    for (var = 1; var < OVAR; var++)
        CHECK(R.variant_err[var] > 50 * OPT_TOL, "without %s the weights end only %.3g away: the test cannot see it",
              names[var], R.variant_err[var]);
    printf("     weights within %.2g of the reference; without wd %.2g, without bc1 %.2g, without bc2 %.2g, "
           "without clipping %.2g\n", R.max_err_w, R.variant_err[1], R.variant_err[2], R.variant_err[3], R.variant_err[4]);
    return 0;
}

/* The EMA after six steps with a different decay at each (0.9, 0.5, 0.99, 0,
   0.9, 0.75): relative error (floor 1e-3) below 3e-6 (measured 4e-7).  Swapping d and 1 - d,
   or reading a stale decay, is off by the weights' change per step (~1e-2). */
static int t_ema_recurrence(void) {
    opt_result R;
    CHECK(run_optimizer(&R) == 0, "%s", ig_last_error());
    CHECK(R.max_err_ema < 3e-6, "EMA off by %.3g (relative) from ema <- d ema + (1 - d) w", R.max_err_ema);
    printf("     EMA within %.2g (relative) of the recurrence\n", R.max_err_ema);
    return 0;
}


/* --- one full ig_train_step against PyTorch ---------------------------------
   tests/fixtures/trainstep.safetensors (tools/ref_ig.py trainstep) holds random
   weights, clean data x0 and labels y, and PyTorch's results (float64) for two
   calls of ig_train_step with the model's stream seeded with rng_seed: the drawn
   t, labels after dropout and noise of each step, its losses and gradient norm,
   and the weights and the EMA after both steps.  The Python side draws the batch
   with a copy of ig_rng in the documented order (t, dropout, noise), so this is
   the whole step: batch, forward, both heads' loss (lambda 0.5), backward,
   clipping, AdamW with weight decay 0.05 at lr 1e-2, EMA 0.9. */
#define FIXTURE_TRAIN "tests/fixtures/trainstep.safetensors"

static float *fx_f32(ig_st_file *st, const char *name, size_t want) {
    const ig_st_tensor *t = ig_st_find(st, name);
    float *buf;
    if (!t || ig_st_numel(t) != want) { fprintf(stderr, "    %s: tensor %s missing or not %zu values\n", st->filename, name, want); return NULL; }
    buf = (float *)malloc(want * sizeof(float) + 1);
    if (ig_st_read_f32(st, t, buf, want)) { fprintf(stderr, "    %s\n", ig_last_error()); free(buf); return NULL; }
    return buf;
}

static int fx_labels(ig_st_file *st, const char *name, int *out, size_t want) {
    const ig_st_tensor *t = ig_st_find(st, name);
    int64_t tmp[64];
    size_t i;
    if (!t || ig_st_numel(t) != want || want > 64 || ig_st_read_i64(st, t, tmp, want)) return -1;
    for (i = 0; i < want; i++) out[i] = (int)tmp[i];
    return 0;
}

static double fx_meta(ig_st_file *st, const char *key) {
    const char *v = ig_st_meta(st, key);
    return v ? atof(v) : NAN;
}

static int t_train_step_vs_torch(void) {
    ig_config cfg;
    net n;
    ig_st_file st;
    ig_train_config tc = ig_train_defaults();
    ig_train_stats stats;
    ig_rng replay;
    size_t B, per, i;
    float *x0, *ref;
    int y[64], labels[64], lab_ref[64], step, steps, p;
    double worst_w = 0, worst_e = 0;
    const char *worst_w_name = "", *worst_e_name = "";
    char key[128];
    CHECK(ig_config_from_file(&cfg, FIXTURE_TRAIN, 0, 0) == 0, "%s", ig_last_error());
    CHECK(ig_st_open(&st, FIXTURE_TRAIN) == 0, "%s", ig_last_error());
    B = ig_st_numel(ig_st_find(&st, "batch.y"));
    per = (size_t)cfg.in_channels * (size_t)cfg.image_height * (size_t)cfg.image_width;
    CHECK(B > 0 && B <= 64, "batch %zu", B);
    CHECK(ig_model_init(&n.m, &cfg, 1, 0) == 0, "%s", ig_last_error());
    CHECK(ig_load(&n.m, FIXTURE_TRAIN, 0) == 0, "%s", ig_last_error());
    CHECK(ig_arena_init(&n.scratch, "scratch", ig_model_scratch_bytes(&cfg, B, 1)) == 0, "%s", ig_last_error());
    CHECK(ig_ctx_init(&n.ctx, &n.scratch, ig_model_tape_nodes(&cfg)) == 0, "%s", ig_last_error());
    CHECK(memcmp(n.m.ema, n.m.weights, n.m.nweights * sizeof(float)) == 0,
          "a weights-only ig_load must start the EMA at the loaded weights");
    tc.lr = (float)fx_meta(&st, "lr"); tc.beta1 = (float)fx_meta(&st, "beta1"); tc.beta2 = (float)fx_meta(&st, "beta2");
    tc.eps = (float)fx_meta(&st, "eps"); tc.weight_decay = (float)fx_meta(&st, "weight_decay");
    tc.grad_clip = (float)fx_meta(&st, "grad_clip"); tc.ema_decay = (float)fx_meta(&st, "ema_decay");
    tc.aux_weight = (float)fx_meta(&st, "aux_weight"); tc.label_dropout = (float)fx_meta(&st, "label_dropout");
    tc.path = IG_PATH_LINEAR; tc.t_sampling = IG_T_UNIFORM;
    steps = (int)fx_meta(&st, "steps");
    CHECK(tc.weight_decay > 0 && tc.aux_weight == 0.5f && steps >= 1 && steps <= 2, "fixture hyper-parameters");
    x0 = fx_f32(&st, "batch.x0", B * per);
    CHECK(x0 && fx_labels(&st, "batch.y", y, B) == 0, "batch");
    ig_rng_seed(&n.m.rng, (uint64_t)fx_meta(&st, "rng_seed"));
    ig_rng_seed(&replay, (uint64_t)fx_meta(&st, "rng_seed"));
    for (step = 1; step <= steps; step++) {
        float *tref, *eref, loss_ref[4];
        size_t b;
        static const char *const what[4] = { "loss", "loss_final", "loss_aux", "grad_norm" };
        int k;
        /* the fixture's batch is the documented draw order of this stream */
        snprintf(key, sizeof key, "step%d.t", step); tref = fx_f32(&st, key, B);
        snprintf(key, sizeof key, "step%d.eps", step); eref = fx_f32(&st, key, B * per);
        snprintf(key, sizeof key, "step%d.labels", step);
        CHECK(tref && eref && fx_labels(&st, key, lab_ref, B) == 0, "step %d batch", step);
        for (b = 0; b < B; b++) {
            float t = ig_rng_uniform(&replay);
            labels[b] = ig_rng_uniform(&replay) < tc.label_dropout ? cfg.num_classes : y[b];
            CHECK(t == tref[b] && labels[b] == lab_ref[b], "step %d sample %zu: replay t %.9g label %d, fixture %.9g %d",
                  step, b, t, labels[b], tref[b], lab_ref[b]);
            for (i = 0; i < per; i++) {
                float e = ig_rng_normal(&replay);
                CHECK(fabsf(e - eref[b * per + i]) <= 1e-6f * (1 + fabsf(e)), "step %d: noise %zu: replay %.9g, fixture %.9g",
                      step, b * per + i, e, eref[b * per + i]);
            }
        }
        free(tref); free(eref);
        CHECK(ig_train_step(&n.m, &n.ctx, &tc, x0, y, B, &stats) == 0, "step %d: %s", step, ig_last_error());
        for (k = 0; k < 4; k++) {
            float got = k == 0 ? stats.loss : k == 1 ? stats.loss_final : k == 2 ? stats.loss_aux : stats.grad_norm;
            snprintf(key, sizeof key, "step%d.%s", step, what[k]);
            ref = fx_f32(&st, key, 1);
            CHECK(ref, "%s", key);
            loss_ref[k] = ref[0];
            free(ref);
            CHECK(near(got, loss_ref[k], 1e-5, 0), "step %d: %s %.8g, PyTorch %.8g", step, what[k], got, loss_ref[k]);
        }
        printf("     step %d: loss %.7g (PyTorch %.7g), grad norm %.7g (PyTorch %.7g)\n",
               step, stats.loss, loss_ref[0], stats.grad_norm, loss_ref[3]);
    }
    CHECK(n.m.step == steps, "step counter %lld", (long long)n.m.step);
    /* Weights and EMA after the steps.  Absolute tolerance 5e-6: float32 against
       float64 differ by ~1e-7 here, while the weight decay alone moves a weight
       w by lr wd w = 5e-4 w per step and the EMA (0.9) trails the weights by
       ~1e-3.  (Adam's eps is 1e-4 in the fixture, see ref_ig.py: with 1e-8 the
       round-off of near-zero gradients, e.g. the key bias whose true gradient is
       0, becomes steps of order lr in either precision.) */
    for (p = 0; p < n.m.nparams; p++) {
        const ig_param *pp = &n.m.params[p];
        float *ref_e;
        if (!pp->trainable) continue;
        snprintf(key, sizeof key, "after.%s", pp->name); ref = fx_f32(&st, key, pp->t->n);
        snprintf(key, sizeof key, "after_ema.%s", pp->name); ref_e = fx_f32(&st, key, pp->t->n);
        CHECK(ref && ref_e, "%s", pp->name);
        for (i = 0; i < pp->t->n; i++) {
            double ew = fabs((double)pp->t->data[i] - ref[i]), ee = fabs((double)n.m.ema[pp->offset + i] - ref_e[i]);
            if (ew > worst_w) { worst_w = ew; worst_w_name = pp->name; }
            if (ee > worst_e) { worst_e = ee; worst_e_name = pp->name; }
        }
        free(ref); free(ref_e);
    }
    CHECK(worst_w < 5e-6, "weights after %d steps: %.3g off PyTorch (%s)", steps, worst_w, worst_w_name);
    CHECK(worst_e < 5e-6, "EMA after %d steps: %.3g off PyTorch (%s)", steps, worst_e, worst_e_name);
    printf("     after %d steps: weights within %.2g (%s), EMA within %.2g (%s)\n", steps, worst_w, worst_w_name,
           worst_e, worst_e_name);
    free(x0);
    ig_st_close(&st);
    net_free(&n);
    return 0;
}

/* --- the model as built: initialization and the fixed position table ---------- */

/* The released init (method.md): xavier-uniform U(-a, a), a = sqrt(6 / (fan_in +
   fan_out)) for every Linear (the patch conv over its flattened kernel) and zero
   biases; label table and both time-MLP weights N(0, 0.02^2); every adaLN Linear
   and both heads' output Linear zero.  Bounds at 5 standard deviations of the
   estimates for n entries: a xavier matrix has max |w| <= a and, for n >= 256,
   above 0.95 a (fails with probability 0.95^256 = 2e-6), and a variance within
   5 sqrt(0.8 / n) of a^2 / 3 (relative); an N(0, 0.02^2) one an sd within
   5 / sqrt(2 n) of 0.02 (relative).  A wrong xavier bound, e.g. sqrt(3 / ...),
   or a wrong sd moves these far outside. */
static int t_model_init_as_released(void) {
    ig_config g = small_config();
    ig_model m;
    int p, checked = 0;
    CHECK(ig_model_init(&m, &g, 0, 5) == 0, "%s", ig_last_error());
    for (p = 0; p < m.nparams; p++) {
        const ig_param *pp = &m.params[p];
        const char *nm = pp->name;
        size_t n = pp->t->n, k;
        double mx = 0, s2 = 0;
        if (!pp->trainable) continue;
        for (k = 0; k < n; k++) { double w = pp->t->data[k]; s2 += w * w; if (fabs(w) > mx) mx = fabs(w); }
        if (strstr(nm, "adaLN") || strstr(nm, "final_layer") || pp->t->ndim == 1) {
            CHECK(mx == 0, "%s should start at zero (max |w| %g)", nm, mx);
        } else if (strstr(nm, "embedding_table") || strstr(nm, "t_embedder")) {
            double sd = sqrt(s2 / (double)n);
            CHECK(fabs(sd - 0.02) < 5 / sqrt(2.0 * (double)n) * 0.02, "%s: sd %.4g, want 0.02", nm, sd);
        } else {
            size_t fan_out = pp->t->shape[0], fan_in = n / fan_out;
            double a = sqrt(6.0 / (double)(fan_in + fan_out)), var = s2 / (double)n;
            CHECK(mx <= a * (1 + 1e-6) && mx > 0.95 * a, "%s: max |w| %.4g, xavier bound %.4g", nm, mx, a);
            CHECK(fabs(var - a * a / 3) < 5 * sqrt(0.8 / (double)n) * a * a / 3, "%s: variance %.4g, xavier %.4g",
                  nm, var, a * a / 3);
        }
        checked++;
    }
    CHECK(checked == m.nparams - 1, "%d of %d parameters checked", checked, m.nparams - 1);
    ig_model_free(&m);
    return 0;
}

/* The fixed 2D sin-cos position table that ig_model_init computes, against
   PyTorch's (stored in the rect fixture: a 2 x 4 grid of patches, D 48, so the
   row and column halves differ).  The parity tests load it from the file and
   never see the computed one. */
static int t_model_pos_embed(void) {
    ig_config cfg;
    ig_model m;
    ig_st_file st;
    float *ref;
    size_t i;
    double worst = 0;
    CHECK(ig_config_from_file(&cfg, "tests/fixtures/rect.safetensors", 0, 0) == 0, "%s", ig_last_error());
    CHECK(cfg.image_height / cfg.patch_size != cfg.image_width / cfg.patch_size, "the grid should not be square");
    CHECK(ig_model_init(&m, &cfg, 0, 1) == 0, "%s", ig_last_error());
    CHECK(ig_st_open(&st, "tests/fixtures/rect.safetensors") == 0, "%s", ig_last_error());
    ref = fx_f32(&st, "pos_embed", m.pos_embed->n);
    CHECK(ref, "pos_embed");
    for (i = 0; i < m.pos_embed->n; i++)
        if (fabs((double)m.pos_embed->data[i] - ref[i]) > worst) worst = fabs((double)m.pos_embed->data[i] - ref[i]);
    CHECK(worst < 1e-6, "pos_embed off PyTorch's by %.3g", worst);
    free(ref);
    ig_st_close(&st);
    ig_model_free(&m);
    return 0;
}

/* --- the ODE samplers' order of accuracy ---------------------------------------
   For data x0 ~ N(0, s^2) on the linear path the marginal at t is
   N(0, sigma(t)^2), sigma(t)^2 = (1 - t)^2 s^2 + t^2, the exact velocity is
   v = (t - (1 - t) s^2) x / sigma(t)^2, and the ODE maps x(1) to x(0) = s x(1)
   exactly (sigma(1) = 1).  Euler is first order: halving the step halves the
   error; Heun is second order: it quarters it (its last step, onto t = 0, is
   Euler, which costs one local O(h^2) error and keeps the order).  Measured
   with s = 0.5 on 8 and 16 uniform steps; the ratio must be 2 +- 0.4 (Euler)
   and 4 +- 0.8 (Heun), and Heun's error on 16 steps below a fifth of Euler's. */
static int gauss_field(void *user, const float *x, size_t n, float t, float *v) {
    double s2 = 0.25, den = (1 - t) * (1 - t) * s2 + (double)t * t;
    size_t i;
    (void)user;
    for (i = 0; i < n; i++) v[i] = (float)((t - (1 - t) * s2) / den * x[i]);
    return 0;
}

static double ode_error(int heun, size_t nsteps) {
    float grid[65], x[3] = { 1.0f, -2.0f, 0.5f };
    double e = 0;
    int i;
    ig_grid_uniform(grid, nsteps);
    if ((heun ? ig_sample_heun : ig_sample_euler)(gauss_field, NULL, x, 3, grid, nsteps)) return -1;
    for (i = 0; i < 3; i++) {
        static const float x1[3] = { 1.0f, -2.0f, 0.5f };
        double d = fabs(x[i] - 0.5 * x1[i]) / fabs(x1[i]);
        if (d > e) e = d;
    }
    return e;
}

/* --- the SDE's last step is the mean ------------------------------------------
   Euler-Maruyama ends with a step from t = 0.04 to 0 that adds no noise (the
   release's sampler, and the score is singular at 0).  A field that records its
   last call gives x and v at t = 0.04; the result must be that step's mean
       x + (v - (g2/2) score) dt,   g2 = 2t,  dt = -t
   with the score written out for each path (section 7), and the RNG must have
   drawn exactly the noise of the steps before: (nsteps - 1) n normals. */
enum { SDE_N = 64 };
typedef struct { int calls; float t, x[SDE_N], v[SDE_N]; } sde_record;

static int sde_recording_field(void *user, const float *x, size_t n, float t, float *v) {
    sde_record *r = (sde_record *)user;
    size_t i;
    for (i = 0; i < n; i++) v[i] = 0.7f * x[i] - 0.3f + 0.01f * (float)i;
    memcpy(r->x, x, n * sizeof(float));
    memcpy(r->v, v, n * sizeof(float));
    r->t = t;
    r->calls++;
    return 0;
}

static int t_sde_last_step_mean(void) {
    enum { STEPS = 6 };
    float x[SDE_N];
    sde_record rec;
    ig_rng rng, replay;
    int path;
    size_t i;
    for (path = IG_PATH_LINEAR; path <= IG_PATH_COSINE; path++) {
        double t, dt, hp = 0.5 * 3.14159265358979323846;
        memset(&rec, 0, sizeof rec);
        ig_rng_seed(&rng, 90 + (uint64_t)path);
        ig_rng_normal_fill(&rng, x, SDE_N);
        replay = rng;
        CHECK(ig_sample_sde(sde_recording_field, &rec, x, SDE_N, STEPS, path, &rng) == 0, "%s", ig_last_error());
        CHECK(rec.calls == STEPS && fabs(rec.t - 0.04) < 1e-6, "%d calls, the last at t = %g (want %d, 0.04)",
              rec.calls, (double)rec.t, STEPS);
        t = rec.t; dt = -t;
        for (i = 0; i < SDE_N; i++) {
            double xv = rec.x[i], v = rec.v[i], score, mean;
            if (path == IG_PATH_COSINE)
                score = -((cos(hp * t) * v + hp * sin(hp * t) * xv) / hp) / sin(hp * t);
            else
                score = -((1.0 - t) * v + xv) / t;
            mean = xv + (v - 0.5 * 2.0 * t * score) * dt;
            CHECK(fabs(x[i] - mean) <= 1e-5 * (1.0 + fabs(mean)), "%s path, element %zu: %.7g after the last "
                  "step, its mean is %.7g (noise added?)", path ? "cosine" : "linear", i, (double)x[i], mean);
        }
        for (i = 0; i < (size_t)(STEPS - 1) * SDE_N; i++) (void)ig_rng_normal(&replay);
        CHECK(replay.state == rng.state && replay.has_spare == rng.has_spare,
              "%s path: the RNG drew other than (nsteps - 1) n = %d normals", path ? "cosine" : "linear",
              (STEPS - 1) * SDE_N);
    }
    return 0;
}

static int t_sampler_order(void) {
    double e8 = ode_error(0, 8), e16 = ode_error(0, 16), h8 = ode_error(1, 8), h16 = ode_error(1, 16);
    CHECK(e8 > 0 && e16 > 0 && h8 > 0 && h16 > 0, "errors %g %g %g %g", e8, e16, h8, h16);
    CHECK(fabs(e8 / e16 - 2) < 0.4, "Euler: error ratio 8 -> 16 steps %.3f, first order gives 2", e8 / e16);
    CHECK(fabs(h8 / h16 - 4) < 0.8, "Heun: error ratio 8 -> 16 steps %.3f, second order gives 4", h8 / h16);
    CHECK(h16 < 0.2 * e16, "Heun on 16 steps: error %.3g, Euler %.3g", h16, e16);
    printf("     Euler error %.3g -> %.3g (ratio %.2f); Heun %.3g -> %.3g (ratio %.2f)\n", e8, e16, e8 / e16, h8, h16, h8 / h16);
    return 0;
}

/* --- the flow-matching batch (ig_flow_batch) --------------------------------
   Per sample b, in this order: t[b] from one draw (uniform: ig_rng_uniform;
   lognormal: s = exp(n), n = ig_rng_normal, t = s / (1 + s) on the linear path,
   (2/pi) atan(s) on the cosine path); one ig_rng_uniform u for label dropout
   (labels[b] = num_classes if u < label_dropout, else y[b]); then C*H*W
   ig_rng_normal draws for eps, and
     linear:  x_t = (1 - t) x0 + t eps,            v* = eps - x0
     cosine:  x_t = cos(pi t/2) x0 + sin(pi t/2) eps,
              v* = (pi/2) (cos(pi t/2) eps - sin(pi t/2) x0).
   The test replays the stream with its own ig_rng and computes x_t and v* in
   double from the replayed draws. */
static double flow_t_ref(int path, int sampling, float draw) {
    double s;
    if (sampling == IG_T_UNIFORM) return draw;
    s = exp((double)draw);
    return path == IG_PATH_COSINE ? 2.0 / 3.14159265358979323846 * atan(s) : s / (1.0 + s);
}

static int t_flow_batch_replay(void) {
    ig_config g = small_config();
    ig_train_config tc = ig_train_defaults();
    enum { FB = 12, PER = 32 };
    float x0[FB * PER], xt[FB * PER], tg[FB * PER], t[FB];
    int y[FB], labels[FB], path, sampling, b, ndrop = 0;
    ig_rng r, replay;
    size_t i;
    ig_rng_seed(&r, 31);
    for (i = 0; i < FB * PER; i++) x0[i] = ig_rng_normal(&r) * 2.0f + 0.5f;
    for (b = 0; b < FB; b++) y[b] = b % g.num_classes;
    tc.label_dropout = 0.3f;
    for (path = 0; path < 2; path++)
        for (sampling = 0; sampling < 2; sampling++) {
            double worst_x = 0, worst_v = 0;
            tc.path = path ? IG_PATH_COSINE : IG_PATH_LINEAR;
            tc.t_sampling = sampling ? IG_T_LOGNORMAL : IG_T_UNIFORM;
            ig_rng_seed(&r, 40 + (uint64_t)(2 * path + sampling));
            replay = r;
            CHECK(ig_flow_batch(&r, &g, &tc, FB, x0, y, xt, t, tg, labels) == 0, "%s", ig_last_error());
            for (b = 0; b < FB; b++) {
                float draw = sampling ? ig_rng_normal(&replay) : ig_rng_uniform(&replay);
                double tr = flow_t_ref(tc.path, tc.t_sampling, draw), tb = t[b];
                int lab = ig_rng_uniform(&replay) < tc.label_dropout ? g.num_classes : y[b];
                CHECK(fabs(tb - tr) <= 2e-7 * tr + 1e-30, "path %d, t sampling %d, sample %d: t %.9g, replay %.9g",
                      path, sampling, b, tb, tr);
                CHECK(labels[b] == lab, "path %d, t sampling %d, sample %d: label %d, replay %d", path, sampling, b, labels[b], lab);
                ndrop += lab == g.num_classes;
                for (i = 0; i < PER; i++) {
                    size_t k = (size_t)b * PER + i;
                    double e = ig_rng_normal(&replay), x = x0[k], a, sg, wx, wv;
                    if (tc.path == IG_PATH_COSINE) {
                        a = cos(0.5 * 3.14159265358979323846 * tb); sg = sin(0.5 * 3.14159265358979323846 * tb);
                        wx = a * x + sg * e; wv = 0.5 * 3.14159265358979323846 * (a * e - sg * x);
                    } else {
                        wx = (1.0 - tb) * x + tb * e; wv = e - x;
                    }
                    /* float rounding of a few operations on values of size |x0| + |eps| */
                    if (fabs(xt[k] - wx) / (fabs(x) + fabs(e)) > worst_x) worst_x = fabs(xt[k] - wx) / (fabs(x) + fabs(e));
                    if (fabs(tg[k] - wv) / (fabs(x) + fabs(e)) > worst_v) worst_v = fabs(tg[k] - wv) / (fabs(x) + fabs(e));
                }
            }
            CHECK(worst_x < 1e-6 && worst_v < 1e-6, "path %d, t sampling %d: x_t off by %.3g, target by %.3g (of |x0| + |eps|)",
                  path, sampling, worst_x, worst_v);
            CHECK(r.state == replay.state && r.has_spare == replay.has_spare,
                  "path %d, t sampling %d: the stream is not where the documented draws leave it", path, sampling);
        }
    CHECK(ndrop > 0 && ndrop < 4 * FB, "%d labels dropped of %d", ndrop, 4 * FB);
    /* labels outside 0..num_classes-1 (the null label included) are errors */
    y[3] = g.num_classes;
    CHECK(ig_flow_batch(&r, &g, &tc, FB, x0, y, xt, t, tg, labels) != 0, "the null label accepted as a training label");
    CHECK(strstr(ig_last_error(), "label") != NULL, "message: %s", ig_last_error());
    y[3] = -1;
    CHECK(ig_flow_batch(&r, &g, &tc, FB, x0, y, xt, t, tg, labels) != 0, "label -1 accepted");
    return 0;
}

/* ig_train_step is ig_flow_batch on the model's stream, then ig_train_step_on:
   bit-identical weights, EMA and stream. */
static int t_train_step_is_flow_batch(void) {
    ig_config g = small_config();
    net a, b;
    ig_train_config tc = ig_train_defaults();
    ig_train_stats sa, sb;
    enum { FB = 4, PER = 32 };
    float x0[FB * PER], xt[FB * PER], tg[FB * PER], t[FB];
    int y[FB] = { 0, 1, 2, 0 }, labels[FB], step;
    size_t i;
    CHECK(net_init(&a, &g, FB, 1, 51) == 0 && net_init(&b, &g, FB, 1, 51) == 0, "%s", ig_last_error());
    for (i = 0; i < FB * PER; i++) x0[i] = 0.1f * (float)(i % 13) - 0.6f;
    tc.lr = 1e-3f; tc.label_dropout = 0.5f; tc.t_sampling = IG_T_LOGNORMAL; tc.path = IG_PATH_COSINE;
    for (step = 0; step < 3; step++) {
        CHECK(ig_train_step(&a.m, &a.ctx, &tc, x0, y, FB, &sa) == 0, "%s", ig_last_error());
        CHECK(ig_flow_batch(&b.m.rng, &g, &tc, FB, x0, y, xt, t, tg, labels) == 0, "%s", ig_last_error());
        CHECK(ig_train_step_on(&b.m, &b.ctx, &tc, xt, t, labels, tg, FB, &sb) == 0, "%s", ig_last_error());
        CHECK(memcmp(&sa.loss, &sb.loss, sizeof sa.loss) == 0, "step %d: loss %.9g vs %.9g", step, sa.loss, sb.loss);
    }
    CHECK(memcmp(a.m.weights, b.m.weights, a.m.nweights * sizeof(float)) == 0, "weights differ");
    CHECK(memcmp(a.m.ema, b.m.ema, a.m.nweights * sizeof(float)) == 0, "EMA differs");
    CHECK(a.m.rng.state == b.m.rng.state, "the streams differ");
    net_free(&a); net_free(&b);
    return 0;
}

/* The t distribution: a Kolmogorov-Smirnov test on N = 20000 draws (fixed
   seeds).  D = sup |F_N(t) - F(t)|; at level 0.001 the critical value is
   sqrt(ln(2 / 0.001) / 2) / sqrt(N) = 1.9495 / 141.42 = 0.01379.  Power: by
   the DKW inequality |F_N - G| stays below 0.01379 with probability 0.999
   whatever the true CDF G, so any G that differs from F by more than
   2 x 0.01379 = 0.028 somewhere is rejected with probability above 0.999:
   e.g. uniform on [0, 0.97] or [0.03, 1] (D = 0.03), uniform on [0, 0.5]
   (D = 0.5), or the cosine path's lognormal mapping on the linear path
   (sup |F - G| = 0.053 near t = 0.25).  The test checks the last two on the
   same draws.  Note: t = 1 / (1 + s) has exactly the distribution of
   s / (1 + s) (n and -n are alike), so only the replay test above sees that
   mistake.  CDFs:  uniform F(t) = t;  lognormal, linear F(t) = Phi(ln(t / (1 - t)));
   lognormal, cosine F(t) = Phi(ln tan(pi t / 2)). */
enum { KS_N = 20000 };
#define KS_CRIT 0.01379

static double phi(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

static double cdf(int kind, double t) {   /* 0 uniform, 1 lognormal linear, 2 lognormal cosine, 3 uniform [0, 0.5] */
    if (t <= 0) return 0;
    if (t >= 1) return 1;
    switch (kind) {
    case 0: return t;
    case 1: return phi(log(t / (1 - t)));
    case 2: return phi(log(tan(0.5 * 3.14159265358979323846 * t)));
    default: return t >= 0.5 ? 1.0 : 2 * t;
    }
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double ks_stat(const float *t, int kind) {
    double d = 0;
    size_t i;
    for (i = 0; i < KS_N; i++) {
        double F = cdf(kind, t[i]), lo = F - (double)i / KS_N, hi = (double)(i + 1) / KS_N - F;
        if (lo > d) d = lo;
        if (hi > d) d = hi;
    }
    return d;
}

static int draw_t(int path, int sampling, float dropout, float *t, int *labels, uint64_t seed) {
    ig_config g = small_config();
    ig_train_config tc = ig_train_defaults();
    static float x0[KS_N], xt[KS_N], tg[KS_N];
    static int y[KS_N];
    ig_rng r;
    size_t i;
    g.in_channels = 1; g.image_height = 1; g.image_width = 1; g.patch_size = 1;   /* one number per sample */
    for (i = 0; i < KS_N; i++) { x0[i] = 0.0f; y[i] = (int)(i % 3); }
    tc.path = path; tc.t_sampling = sampling; tc.label_dropout = dropout;
    ig_rng_seed(&r, seed);
    return ig_flow_batch(&r, &g, &tc, KS_N, x0, y, xt, t, tg, labels);
}

static int t_flow_t_distribution(void) {
    static float t[KS_N];
    static int labels[KS_N];
    static const struct { int path, sampling, kind, wrong; const char *name; } cases[3] = {
        { IG_PATH_LINEAR, IG_T_UNIFORM, 0, 3, "uniform" },
        { IG_PATH_LINEAR, IG_T_LOGNORMAL, 1, 2, "lognormal, linear path" },
        { IG_PATH_COSINE, IG_T_LOGNORMAL, 2, 1, "lognormal, cosine path" },
    };
    int k;
    for (k = 0; k < 3; k++) {
        double d, dw;
        CHECK(draw_t(cases[k].path, cases[k].sampling, 0.1f, t, labels, 60 + (uint64_t)k) == 0, "%s", ig_last_error());
        qsort(t, KS_N, sizeof t[0], cmp_float);
        CHECK(t[0] > 0.0f && t[KS_N - 1] < 1.0f, "%s: t outside (0, 1): %g .. %g", cases[k].name, t[0], t[KS_N - 1]);
        d = ks_stat(t, cases[k].kind);
        dw = ks_stat(t, cases[k].wrong);
        CHECK(d < KS_CRIT, "%s: Kolmogorov-Smirnov D = %.4f >= %.4f (level 0.001, N = %d)", cases[k].name, d, KS_CRIT, KS_N);
        CHECK(dw > KS_CRIT, "%s: the wrong distribution is not rejected (D = %.4f)", cases[k].name, dw);
        printf("     %s: KS D = %.4f (critical %.4f); against the wrong CDF D = %.3f\n", cases[k].name, d, KS_CRIT, dw);
    }
    return 0;
}

/* Label dropout at p = 0.1 on N = 20000 labels: the number dropped is
   binomial, mean 2000, sd sqrt(N p (1 - p)) = 42.4; accepted: within 5 sd
   (1788 .. 2212; a correct sampler falls outside with probability 6e-7).
   0.9 instead of 0.1 drops 18000.  Dropped labels are num_classes (the null
   label) and the others keep their class; p = 0 drops none, p = 1 all. */
static int t_flow_label_dropout(void) {
    static float t[KS_N];
    static int labels[KS_N];
    ig_config g = small_config();
    int i, dropped = 0;
    CHECK(draw_t(IG_PATH_LINEAR, IG_T_UNIFORM, 0.1f, t, labels, 70) == 0, "%s", ig_last_error());
    for (i = 0; i < KS_N; i++) {
        CHECK(labels[i] == g.num_classes || labels[i] == i % 3, "label %d of sample %d (class %d)", labels[i], i, i % 3);
        dropped += labels[i] == g.num_classes;
    }
    CHECK(dropped >= 1788 && dropped <= 2212, "%d of %d labels dropped at p = 0.1 (binomial: 2000 +- 212)", dropped, KS_N);
    printf("     p = 0.1: %d of %d labels became the null label %d\n", dropped, KS_N, g.num_classes);
    CHECK(draw_t(IG_PATH_LINEAR, IG_T_UNIFORM, 0.0f, t, labels, 71) == 0, "%s", ig_last_error());
    for (i = 0; i < KS_N; i++) CHECK(labels[i] == i % 3, "p = 0 dropped label %d", i);
    CHECK(draw_t(IG_PATH_LINEAR, IG_T_UNIFORM, 1.0f, t, labels, 72) == 0, "%s", ig_last_error());
    for (i = 0; i < KS_N; i++) CHECK(labels[i] == g.num_classes, "p = 1 kept label %d", i);
    return 0;
}

/* --- the checkpoint reader's checks on the training state ------------------------
   A checkpoint that holds a NaN (here in one weight), or whose training state is
   partial (every EMA and first-moment tensor but no second moments), is refused
   with a message naming the file, and the model keeps its weights, EMA, moments
   and step. */
static int write_ckpt(const ig_model *m, const char *path, const float *weights, int nan_at, int with_v,
                      const char *step) {
    ig_st_writer w;
    static const char *const pre[4] = { "", "ema.", "adam.m.", "adam.v." };
    const float *src[4];
    float *wcopy = (float *)malloc(m->nweights * sizeof(float));
    int p, k, d, rc;
    char name[128];
    if (!wcopy) return -1;
    memcpy(wcopy, weights, m->nweights * sizeof(float));
    if (nan_at >= 0) wcopy[nan_at] = NAN;
    src[0] = wcopy; src[1] = m->ema; src[2] = m->adam_m; src[3] = m->adam_v;
    ig_st_writer_init(&w);
    for (k = 0; k < (with_v ? 4 : 3); k++)
        for (p = 0; p < m->nparams; p++) {
            const ig_param *pp = &m->params[p];
            int64_t shape[4];
            if (k && !pp->trainable) continue;
            for (d = 0; d < pp->t->ndim; d++) shape[d] = (int64_t)pp->t->shape[d];
            snprintf(name, sizeof name, "%s%s", pre[k], pp->name);
            ig_st_add(&w, name, IG_F32, pp->t->ndim, shape, src[k] + pp->offset);
        }
    if (step) ig_st_add_meta(&w, "step", step);
    rc = ig_st_writer_save(&w, path);
    ig_st_writer_free(&w);
    free(wcopy);
    return rc;
}

static int t_checkpoint_state_checks(void) {
    ig_config g = small_config();
    net n;
    const char *path = "build/test_method_ckpt.safetensors";
    float *before;
    size_t N, i;
    CHECK(net_init(&n, &g, 1, 1, 81) == 0, "%s", ig_last_error());
    N = n.m.nweights;
    for (i = 0; i < N; i++) { n.m.adam_m[i] = 0.01f * (float)(i % 7); n.m.adam_v[i] = 0.001f * (float)(i % 5); }
    n.m.step = 3;
    before = (float *)malloc(4 * N * sizeof(float));
    memcpy(before, n.m.weights, N * sizeof(float)); memcpy(before + N, n.m.ema, N * sizeof(float));
    memcpy(before + 2 * N, n.m.adam_m, N * sizeof(float)); memcpy(before + 3 * N, n.m.adam_v, N * sizeof(float));
    /* a NaN in the weights */
    CHECK(write_ckpt(&n.m, path, n.m.weights, (int)(N / 2), 1, "7") == 0, "%s", ig_last_error());
    CHECK(ig_load(&n.m, path, 1) != 0, "a checkpoint with a NaN weight loaded");
    CHECK(strstr(ig_last_error(), path) && strstr(ig_last_error(), "non-finite"), "message: %s", ig_last_error());
    /* EMA and first moments, no second moments */
    CHECK(write_ckpt(&n.m, path, n.m.weights, -1, 0, "7") == 0, "%s", ig_last_error());
    CHECK(ig_load(&n.m, path, 1) != 0, "a checkpoint without adam.v.* resumed");
    CHECK(strstr(ig_last_error(), path) && strstr(ig_last_error(), "incomplete"), "message: %s", ig_last_error());
    CHECK(memcmp(before, n.m.weights, N * sizeof(float)) == 0 && memcmp(before + N, n.m.ema, N * sizeof(float)) == 0 &&
          memcmp(before + 2 * N, n.m.adam_m, N * sizeof(float)) == 0 && memcmp(before + 3 * N, n.m.adam_v, N * sizeof(float)) == 0 &&
          n.m.step == 3, "a refused checkpoint changed the model");
    /* and the complete one loads (the test is not refusing everything) */
    CHECK(write_ckpt(&n.m, path, n.m.weights, -1, 1, "7") == 0, "%s", ig_last_error());
    CHECK(ig_load(&n.m, path, 1) == 0, "the complete checkpoint: %s", ig_last_error());
    CHECK(n.m.step == 7, "step %lld after loading, the file says 7", (long long)n.m.step);
    free(before);
    remove(path);
    net_free(&n);
    return 0;
}

/* --- what ig_load does with the metadata --------------------------------------
   A training state without 'step' is refused (AdamW's bias corrections need it)
   and the model keeps everything; with the step but without 'rng' it loads and
   the model keeps its own RNG.  A file whose t_scale is not the model's is
   refused; the model it came from loads it. */
static int t_checkpoint_load_metadata(void) {
    ig_config g = small_config(), g1000 = small_config(), back;
    net n, n1000;
    const char *path = "build/test_method_meta.safetensors";
    float *before;
    ig_rng rng_before;
    size_t N;
    CHECK(net_init(&n, &g, 1, 1, 83) == 0, "%s", ig_last_error());
    N = n.m.nweights;
    n.m.step = 3;
    CHECK((before = (float *)malloc(N * sizeof(float))) != NULL, "out of memory");
    memcpy(before, n.m.weights, N * sizeof(float));
    /* the training state without the step */
    CHECK(write_ckpt(&n.m, path, n.m.weights, -1, 1, NULL) == 0, "%s", ig_last_error());
    CHECK(ig_load(&n.m, path, 1) != 0, "a training state without 'step' resumed");
    CHECK(strstr(ig_last_error(), path) && strstr(ig_last_error(), "'step'"), "message: %s", ig_last_error());
    CHECK(memcmp(before, n.m.weights, N * sizeof(float)) == 0 && n.m.step == 3, "a refused file changed the model");
    /* with the step, without the RNG state: loads; the RNG stays the model's */
    ig_rng_seed(&n.m.rng, 12345);
    (void)ig_rng_normal(&n.m.rng);
    rng_before = n.m.rng;
    CHECK(write_ckpt(&n.m, path, n.m.weights, -1, 1, "7") == 0, "%s", ig_last_error());
    CHECK(ig_load(&n.m, path, 1) == 0, "%s", ig_last_error());
    CHECK(n.m.step == 7 && n.m.rng.state == rng_before.state && n.m.rng.has_spare == rng_before.has_spare &&
          n.m.rng.spare == rng_before.spare, "step %lld (want 7), or the RNG changed without an 'rng' in the file",
          (long long)n.m.step);
    /* t_scale 1000 in the file, 1 in the model */
    g1000.t_scale = 1000.0f;
    CHECK(net_init(&n1000, &g1000, 1, 0, 84) == 0, "%s", ig_last_error());
    CHECK(ig_save(&n1000.m, path, 0) == 0, "%s", ig_last_error());
    memcpy(before, n.m.weights, N * sizeof(float));
    CHECK(ig_load(&n.m, path, 1) != 0, "a file with t_scale 1000 loaded into a model with t_scale 1");
    CHECK(strstr(ig_last_error(), path) && strstr(ig_last_error(), "t_scale"), "message: %s", ig_last_error());
    CHECK(memcmp(before, n.m.weights, N * sizeof(float)) == 0, "a refused file changed the model");
    CHECK(ig_load(&n1000.m, path, 1) == 0, "its own model: %s", ig_last_error());
    CHECK(ig_config_from_file(&back, path, 0, 0) == 0 && back.t_scale == 1000.0f, "t_scale %g read back: %s",
          (double)back.t_scale, ig_last_error());
    free(before);
    remove(path);
    net_free(&n1000);
    net_free(&n);
    return 0;
}

const test_case method_tests[] = {
    { "guidance_ig_formula_and_interval", t_guidance_ig },
    { "guidance_cfg_formula_null_label", t_guidance_cfg },
    { "guidance_ig_cfg_released_order", t_guidance_ig_cfg },
    { "guidance_autoguidance_formula", t_guidance_autoguidance },
    { "train_adamw_each_term_visible", t_adamw_terms },
    { "train_ema_recurrence", t_ema_recurrence },
    { "train_step_vs_pytorch", t_train_step_vs_torch },
    { "flow_batch_replay_both_paths", t_flow_batch_replay },
    { "flow_batch_is_what_train_step_uses", t_train_step_is_flow_batch },
    { "flow_t_distribution_ks", t_flow_t_distribution },
    { "flow_label_dropout_rate", t_flow_label_dropout },
    { "sample_euler_heun_order", t_sampler_order },
    { "sample_sde_last_step_is_the_mean", t_sde_last_step_mean },
    { "model_init_as_released", t_model_init_as_released },
    { "model_pos_embed_vs_pytorch", t_model_pos_embed },
    { "checkpoint_refuses_nan_and_partial_state", t_checkpoint_state_checks },
    { "checkpoint_load_step_rng_t_scale", t_checkpoint_load_metadata },
};
const int method_ntests = sizeof method_tests / sizeof method_tests[0];
