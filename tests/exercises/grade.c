/* grade.c - the grader of the coursework exercises (issue 20; tools/exercise.c cuts them).
   Built against one copy of ig.h (the student's, found through -I) and run as
       grade NAME        the checks of exercise NAME, one line each, then "N passed, N failed"
   Every check compares the copy's result with a reference computed here, independently:
   plain loops in double from the formula of the task sheet, never ig.h's own code for
   the piece.  So a correct answer written another way (another loop order, another
   algebra of the same formula) passes, within a tolerance that float rounding meets.
   A failure names what was compared, the first wrong value against the expected one,
   and the formula of TASK.md to re-read.  Exit status: 0 all passed, 1 some failed. */
#define IG_IMPLEMENTATION
#include "ig.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int npass, nfail;
static char why[4096];
static const char *formula;   /* the task sheet's formula to re-read, for the hint */
static size_t first_bad;      /* cmp's first wrong index, for the inputs there */

/* appends to the failure's explanation (the inputs at the first wrong value) */
static void more(const char *fmt, double a, double b, double c) {
    size_t n = strlen(why);
    snprintf(why + n, sizeof why - n, fmt, a, b, c);
}

/* ---- comparing ---------------------------------------------------------------------- */
/* got (float) against want (double): |got - want| <= atol + rtol |want| everywhere. */
static int cmp(const char *what, const float *got, const double *want, size_t n, double atol,
               double rtol) {
    size_t i, bad = 0, first = (size_t)-1;
    for (i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        if (!(fabs(g - w) <= atol + rtol * fabs(w))) {
            if (first == (size_t)-1) first = i;
            bad++;
        }
    }
    if (!bad) return 1;
    first_bad = first;
    snprintf(why, sizeof why,
             "%s: %zu of %zu values wrong; first at [%zu]: got %.7g, expected %.7g "
             "(tolerance %.1g + %.1g |expected|)",
             what, bad, n, first, (double)got[first], want[first], atol, rtol);
    return 0;
}

static void report(const char *name, int ok) {
    const char *err = ig_last_error();
    if (ok) { npass++; printf("PASS  %s\n", name); return; }
    nfail++;
    printf("FAIL  %s\n", name);
    if (why[0]) printf("      %s\n", why);
    if (err && err[0]) printf("      ig_last_error(): %s\n", err);
    if (formula) printf("      hint: re-read TASK.md, %s\n", formula);
}

#define RUN(name, fn) do { why[0] = 0; ig__errbuf[0] = 0; report(name, fn); } while (0)

/* ---- a small model and its contexts --------------------------------------------------- */
static ig_arena scratch, leaves;
static ig_ctx ctx;
static ig_rng rng;

static void setup(void) {
    static int done = 0;
    if (done) return;
    done = 1;
    ig_arena_init(&scratch, "scratch", (size_t)64 << 20);
    ig_arena_init(&leaves, "leaves", (size_t)8 << 20);
    ig_ctx_init(&ctx, &scratch, 4096);
}

static ig_config small_cfg(void) {
    ig_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.in_channels = 2; cfg.image_height = 4; cfg.image_width = 4; cfg.patch_size = 2;
    cfg.hidden_size = 32; cfg.depth = 3; cfg.num_heads = 2; cfg.num_classes = 3;
    cfg.aux_depth = 1; cfg.t_scale = 1.0f;
    return cfg;
}

/* Initialized as released, then every weight moved a little: the heads and adaLN start at
   zero, and a zero head would make v_final = v_aux = 0 and hide every mistake. */
static int small_model(ig_model *m, int training) {
    ig_config cfg = small_cfg();
    size_t i;
    ig_rng r;
    if (ig_model_init(m, &cfg, training, 7)) return -1;
    ig_rng_seed(&r, 11);
    for (i = 0; i < m->nweights; i++) m->weights[i] += 0.05f * ig_rng_normal(&r);
    return 0;
}

static void fill(float *x, size_t n, float scale) {
    size_t i;
    for (i = 0; i < n; i++) x[i] = scale * ig_rng_normal(&rng);
}

static ig_tensor *leaf(size_t d0, size_t d1, size_t d2, int ndim) {
    ig_tensor *t = ig_tensor_new4(&leaves, d0, d1, d2, 1, ndim, 1);
    size_t i;
    if (!t) { fprintf(stderr, "grade: out of memory\n"); exit(2); }
    fill(t->data, t->n, 1.0f);
    for (i = 0; i < t->n; i++) t->grad[i] = 0.125f * (float)(i % 5) - 0.25f;   /* accumulate onto this */
    return t;
}

/* the leaf's gradient before the backward (see leaf) */
static double pre(size_t i) { return 0.125 * (double)(i % 5) - 0.25; }

/* ---- the model's two heads at (x, t, labels): the input every guidance check needs -- */
#define NB 3                 /* samples */
#define PER (2 * 4 * 4)      /* C*H*W    */
static int heads(ig_model *m, const float *x, float t, const int *labels, double *vf, double *va) {
    ig_tensor *xt, *v, *v_aux;
    float *tt;
    int *lab;
    size_t i;
    if (ig__batch(m, &ctx, NB, &xt, NULL, &tt, &lab)) return -1;
    for (i = 0; i < NB; i++) { tt[i] = t; lab[i] = labels[i]; }
    memcpy(xt->data, x, sizeof(float) * NB * PER);
    if (ig_forward(m, &ctx, xt, tt, lab, &v, &v_aux)) return -1;
    for (i = 0; i < NB * PER; i++) { vf[i] = v->data[i]; va[i] = v_aux->data[i]; }
    return 0;
}

static int guided(ig_model *m, const float *x, float t, const int *labels, float w, float s,
                  float *out) {
    ig_guided G;
    memset(&G, 0, sizeof G);
    G.model = m; G.ctx = &ctx; G.labels = labels; G.batch = NB;
    G.guidance = ig_guidance_none();
    G.guidance.ig_weight = w;
    G.guidance.cfg_scale = s;
    return ig_guided_velocity(&G, x, NB * PER, t, out);
}

/* ---- ig_line ------------------------------------------------------------------------ */
static int check_ig_line(float w) {
    ig_model m;
    float x[NB * PER], out[NB * PER];
    double vf[NB * PER], va[NB * PER], want[NB * PER];
    int labels[NB] = { 0, 2, 1 }, ok;
    size_t i;
    setup();
    if (small_model(&m, 0)) return 0;
    ig_rng_seed(&rng, 5);
    fill(x, NB * PER, 1.0f);
    if (heads(&m, x, 0.6f, labels, vf, va)) { ig_model_free(&m); return 0; }
    for (i = 0; i < NB * PER; i++) want[i] = va[i] + w * (vf[i] - va[i]);
    ok = guided(&m, x, 0.6f, labels, w, 1.0f, out) == 0;
    if (!ok) snprintf(why, sizeof why, "ig_guided_velocity returned -1 with IG weight %g", (double)w);
    else {
        char what[128];
        snprintf(what, sizeof what, "the guided velocity with w = %g (v_final, v_aux from ig_forward)", (double)w);
        ok = cmp(what, out, want, NB * PER, 1e-6, 1e-5);
        if (!ok) more("\n      there v_final = %.7g, v_aux = %.7g, w = %g", vf[first_bad], va[first_bad], w);
    }
    ig_model_free(&m);
    return ok;
}

/* ---- cfg ---------------------------------------------------------------------------- */
static int check_cfg(float w, float s) {
    ig_model m;
    float x[NB * PER], out[NB * PER];
    double vf[NB * PER], va[NB * PER], uf[NB * PER], ua[NB * PER], want[NB * PER];
    int labels[NB] = { 0, 2, 1 }, nulls[NB] = { 3, 3, 3 }, ok;
    size_t i;
    setup();
    if (small_model(&m, 0)) return 0;
    ig_rng_seed(&rng, 6);
    fill(x, NB * PER, 1.0f);
    if (heads(&m, x, 0.4f, labels, vf, va) || heads(&m, x, 0.4f, nulls, uf, ua)) {
        ig_model_free(&m);
        return 0;
    }
    for (i = 0; i < NB * PER; i++) {
        double vc = va[i] + w * (vf[i] - va[i]), vu = ua[i] + w * (uf[i] - ua[i]);
        want[i] = vu + s * (vc - vu);
    }
    ok = guided(&m, x, 0.4f, labels, w, s, out) == 0;
    if (!ok) snprintf(why, sizeof why, "ig_guided_velocity returned -1 with CFG scale %g", (double)s);
    else {
        char what[160];
        snprintf(what, sizeof what, "the guided velocity with s = %g, IG w = %g (v_c: labels 0 2 1, "
                 "v_u: null label 3, from ig_forward)", (double)s, (double)w);
        ok = cmp(what, out, want, NB * PER, 1e-6, 1e-5);
        if (!ok) {
            size_t k = first_bad;
            more("\n      there v_c = %.7g (its own label), v_u = %.7g (null label), s = %g",
                 va[k] + w * (vf[k] - va[k]), ua[k] + w * (uf[k] - ua[k]), s);
        }
    }
    ig_model_free(&m);
    return ok;
}

/* ---- the samplers on a known field ---------------------------------------------------- */
#define NS 6
static float seen_t[64];
static int nfe;
/* v(x, t) = -0.8 x + 0.5 t + 0.1 i */
static int field(void *user, const float *x, size_t n, float t, float *v) {
    size_t i;
    (void)user;
    if (nfe < 64) seen_t[nfe] = t;
    nfe++;
    for (i = 0; i < n; i++) v[i] = -0.8f * x[i] + 0.5f * t + 0.1f * (float)i;
    return 0;
}
static double fieldd(double x, double t, size_t i) { return -0.8 * x + 0.5 * t + 0.1 * (double)i; }

static const float grid4[5] = { 1.0f, 0.8f, 0.45f, 0.2f, 0.0f };

static void x_start(float *x, double *xd) {
    size_t i;
    for (i = 0; i < NS; i++) xd[i] = x[i] = 1.5f - 0.4f * (float)i;
}

static int check_times(const double *want_t, int want_nfe, const char *rule) {
    int k;
    if (nfe != want_nfe) {
        snprintf(why, sizeof why, "the field was evaluated %d times on 4 steps; expected %d (%s)", nfe,
                 want_nfe, rule);
        return 0;
    }
    for (k = 0; k < nfe && k < 64; k++)
        if (fabs(seen_t[k] - want_t[k]) > 1e-6) {
            snprintf(why, sizeof why, "evaluation %d of the field was at t = %g; expected t = %g "
                     "(grid 1, 0.8, 0.45, 0.2, 0)", k + 1, (double)seen_t[k], want_t[k]);
            return 0;
        }
    return 1;
}

static int check_euler(void) {
    float x[NS];
    double xd[NS], ts[4];
    size_t s, i;
    x_start(x, xd);
    for (s = 0; s < 4; s++) {
        double t = grid4[s], dt = (double)grid4[s + 1] - t;
        ts[s] = t;
        for (i = 0; i < NS; i++) xd[i] += dt * fieldd(xd[i], t, i);
    }
    nfe = 0;
    if (ig_sample_euler(field, NULL, x, NS, grid4, 4)) {
        snprintf(why, sizeof why, "ig_sample_euler returned -1");
        return 0;
    }
    return check_times(ts, 4, "one evaluation per step, at the step's start") &&
           cmp("x after 4 Euler steps of v = -0.8 x + 0.5 t + 0.1 i from t = 1 to 0", x, xd, NS, 1e-6, 1e-5);
}

static int check_heun(int euler_last) {
    float x[NS];
    double xd[NS], ts[8], v1[NS], xe[NS];
    size_t s, i;
    int k = 0, r;
    x_start(x, xd);
    for (s = 0; s < 4; s++) {
        double t = grid4[s], tn = grid4[s + 1], dt = tn - t;
        ts[k++] = t;
        for (i = 0; i < NS; i++) { v1[i] = fieldd(xd[i], t, i); xe[i] = xd[i] + dt * v1[i]; }
        if (euler_last && tn == 0.0) { for (i = 0; i < NS; i++) xd[i] = xe[i]; continue; }
        ts[k++] = tn;
        for (i = 0; i < NS; i++) xd[i] += 0.5 * dt * (v1[i] + fieldd(xe[i], tn, i));
    }
    nfe = 0;
    r = euler_last ? ig_sample_heun(field, NULL, x, NS, grid4, 4) : ig_sample_heun2(field, NULL, x, NS, grid4, 4);
    if (r) { snprintf(why, sizeof why, "the sampler returned -1"); return 0; }
    return check_times(ts, k, euler_last ? "two per step, the last step (to t = 0) one: plain Euler"
                                         : "two per step, the last step included") &&
           cmp(euler_last ? "x after ig_sample_heun (4 steps, Euler into t = 0)"
                          : "x after ig_sample_heun2 (4 Heun steps)", x, xd, NS, 1e-6, 1e-5);
}

/* ---- flow_batch ------------------------------------------------------------------------ */
static int check_flow(int path, int lognormal) {
    ig_config cfg = small_cfg();
    ig_train_config tc = ig_train_defaults();
    ig_rng r, mine;
    float x0[NB * PER], xt[NB * PER], tg[NB * PER], t[NB];
    double wx[NB * PER], wt[NB * PER];
    int labels[NB] = { 0, 1, 2 }, tl[NB];
    size_t b, i;
    const double hp = 0.5 * 3.14159265358979323846;
    tc.path = path; tc.t_sampling = lognormal ? IG_T_LOGNORMAL : IG_T_UNIFORM; tc.label_dropout = 0.3f;
    ig_rng_seed(&rng, 8);
    fill(x0, NB * PER, 1.0f);
    ig_rng_seed(&r, 99);
    mine = r;
    if (ig_flow_batch(&r, &cfg, &tc, NB, x0, labels, xt, t, tg, tl)) {
        snprintf(why, sizeof why, "ig_flow_batch returned -1");
        return 0;
    }
    for (b = 0; b < NB; b++) {   /* the draws in order: t, dropout, then the noise */
        double tb;
        if (lognormal) {
            double s = exp((double)ig_rng_normal(&mine));
            tb = path == IG_PATH_COSINE ? atan(s) / hp : s / (1.0 + s);
        } else tb = ig_rng_uniform(&mine);
        ig_rng_uniform(&mine);
        if (fabs(tb - t[b]) > 1e-6) {
            snprintf(why, sizeof why, "t of sample %zu is %g, expected %g (the draw order: t, the "
                     "dropout uniform, then C*H*W normals)", b, (double)t[b], tb);
            return 0;
        }
        tb = t[b];
        for (i = 0; i < PER; i++) {
            double e = ig_rng_normal(&mine), x = x0[b * PER + i];
            if (path == IG_PATH_COSINE) {
                wx[b * PER + i] = cos(hp * tb) * x + sin(hp * tb) * e;
                wt[b * PER + i] = -hp * sin(hp * tb) * x + hp * cos(hp * tb) * e;
            } else {
                wx[b * PER + i] = (1.0 - tb) * x + tb * e;
                wt[b * PER + i] = -x + e;
            }
        }
    }
    if (memcmp(&r, &mine, sizeof r)) {
        snprintf(why, sizeof why, "the random generator is not where it should be after the batch: "
                 "draw exactly one normal eps per element, in order, and nothing else");
        return 0;
    }
    if (!cmp(path == IG_PATH_COSINE ? "x_t on the cosine path" : "x_t on the linear path", xt, wx,
             NB * PER, 1e-6, 1e-5) ||
        !cmp(path == IG_PATH_COSINE ? "the target v* on the cosine path" : "the target v* on the linear path",
             tg, wt, NB * PER, 1e-6, 1e-5)) {
        size_t k = first_bad;
        /* eps of element k, replayed once more */
        ig_rng_seed(&mine, 99);
        for (b = 0; b <= k / PER; b++) {
            if (lognormal) ig_rng_normal(&mine); else ig_rng_uniform(&mine);
            ig_rng_uniform(&mine);
            for (i = 0; i < PER; i++) {
                float e = ig_rng_normal(&mine);
                if (b * PER + i == k) more("\n      there t = %.7g, x0 = %.7g, eps = %.7g", t[b], x0[k], e);
            }
        }
        return 0;
    }
    return 1;
}

/* ---- loss ---------------------------------------------------------------------------- */
static int check_loss(float lambda) {
    ig_model m;
    ig_train_config tc = ig_train_defaults();
    ig_train_stats st;
    float x[NB * PER], tg[NB * PER], t[NB] = { 0.2f, 0.5f, 0.9f };
    double vf[NB * PER], va[NB * PER], lf = 0, la = 0, sf = 0, sa = 0, got_sf = 0, got_sa = 0;
    int labels[NB] = { 0, 2, 3 }, ok = 1;
    size_t i, nf = NB * PER;
    setup();
    if (small_model(&m, 1)) return 0;
    ig_rng_seed(&rng, 9);
    fill(x, nf, 1.0f);
    fill(tg, nf, 1.0f);
    /* the heads at each sample's own t */
    {
        ig_tensor *xt, *v, *v_aux;
        float *tt;
        int *lab;
        if (ig__batch(&m, &ctx, NB, &xt, NULL, &tt, &lab)) return 0;
        memcpy(tt, t, sizeof t); memcpy(lab, labels, sizeof labels);
        memcpy(xt->data, x, sizeof x);
        if (ig_forward(&m, &ctx, xt, tt, lab, &v, &v_aux)) return 0;
        for (i = 0; i < nf; i++) { vf[i] = v->data[i]; va[i] = v_aux->data[i]; }
    }
    for (i = 0; i < nf; i++) {
        lf += (vf[i] - tg[i]) * (vf[i] - tg[i]); la += (va[i] - tg[i]) * (va[i] - tg[i]);
        sf += vf[i] - tg[i]; sa += va[i] - tg[i];
    }
    lf /= (double)nf; la /= (double)nf;
    tc.aux_weight = lambda; tc.grad_clip = 0.0f; tc.lr = 1e-6f;
    memset(&st, 0, sizeof st);
    if (ig_train_step_on(&m, &ctx, &tc, x, t, labels, tg, NB, &st)) {
        snprintf(why, sizeof why, "ig_train_step_on returned -1");
        ig_model_free(&m);
        return 0;
    }
    {
        float got[3];
        double want[3];
        got[0] = st.loss_final; got[1] = st.loss_aux; got[2] = st.loss;
        want[0] = lf; want[1] = la; want[2] = lf + lambda * la;
        ok = cmp("(stats.loss_final, stats.loss_aux, stats.loss) against mse(v_final, v*), "
                 "mse(v_aux, v*), their sum with lambda", got, want, 3, 1e-6, 1e-4);
    }
    /* d loss / d (output bias) summed over the bias = (2/n) sum (v - v*): each head's
       bias reaches every output once, so its gradient shows that head's weight in the loss */
    for (i = 0; i < m.final_head.out_b->n; i++) {
        got_sf += m.final_head.out_b->grad[i];
        got_sa += m.aux_head.out_b->grad[i];
    }
    if (ok) {
        float got[2];
        double want[2];
        got[0] = (float)got_sf; got[1] = (float)got_sa;
        want[0] = 2.0 * sf / (double)nf; want[1] = lambda * 2.0 * sa / (double)nf;
        ok = cmp("the gradient reaching each head (sum of d loss / d out_b: final head, aux head)",
                 got, want, 2, 1e-6, 1e-3);
    }
    ig_model_free(&m);
    return ok;
}

/* ---- backward checks on leaves ------------------------------------------------------- */
static ig_tensor *target_like(const ig_tensor *y) {
    ig_tensor *t = ig_tensor_new(ctx.scratch, y->ndim, y->shape, 0);
    fill(t->data, t->n, 1.0f);
    return t;
}

/* dL/dy of L = mse(y, tg) */
static void mse_grad(const ig_tensor *y, const ig_tensor *tg, double *dy) {
    size_t i;
    for (i = 0; i < y->n; i++) dy[i] = 2.0 * ((double)y->data[i] - tg->data[i]) / (double)y->n;
}

static int backward(ig_tensor *loss, const char *op) {
    if (!loss || ig_backward(&ctx, loss)) {
        snprintf(why, sizeof why, "the forward or ig_backward failed (%s)", op);
        return -1;
    }
    return 0;
}

/* y = linear(x, W, b) + linear(x, W2): dx gets both terms */
#define LM 6
#define LK 5
#define LN 4
static int linear_case(int part) {
    ig_tensor *x, *w, *b, *w2, *y, *tg;
    double dy[LM * LN], want[LM * LK];
    size_t m, n, k;
    setup();
    ig_arena_reset(&leaves);
    ig_ctx_reset(&ctx, 1);
    ig_rng_seed(&rng, 21);
    x = leaf(2, 3, LK, 3); w = leaf(LN, LK, 1, 2); b = leaf(LN, 1, 1, 1); w2 = leaf(LN, LK, 1, 2);
    y = ig_add(&ctx, ig_linear(&ctx, x, w, b), ig_linear(&ctx, x, w2, NULL));
    if (!y) { snprintf(why, sizeof why, "the forward failed"); return 0; }
    tg = target_like(y);
    if (backward(ig_mse(&ctx, y, tg), "y = linear(x, W, b) + linear(x, W2, NULL)")) return 0;
    mse_grad(y, tg, dy);
    if (part == 0) {
        for (m = 0; m < LM; m++)
            for (k = 0; k < LK; k++) {
                double s = pre(m * LK + k);
                for (n = 0; n < LN; n++) s += dy[m * LN + n] * ((double)w->data[n * LK + k] + w2->data[n * LK + k]);
                want[m * LK + k] = s;
            }
        return cmp("dx (2,3,5) for y = x W^T + b + x W2^T (x feeds two Linears: += both)", x->grad,
                   want, LM * LK, 1e-6, 1e-4);
    }
    if (part == 1) {
        for (n = 0; n < LN; n++)
            for (k = 0; k < LK; k++) {
                double s = pre(n * LK + k);
                for (m = 0; m < LM; m++) s += dy[m * LN + n] * x->data[m * LK + k];
                want[n * LK + k] = s;
            }
        return cmp("dW (4,5), accumulated onto its earlier gradient", w->grad, want, LN * LK, 1e-6, 1e-4) &&
               cmp("dW2 (4,5) of the Linear without bias", w2->grad, want, LN * LK, 1e-6, 1e-4);
    }
    for (n = 0; n < LN; n++) {
        double s = pre(n);
        for (m = 0; m < LM; m++) s += dy[m * LN + n];
        want[n] = s;
    }
    return cmp("db (4): the sum of dy over all 6 rows, accumulated", b->grad, want, LN, 1e-6, 1e-4);
}

/* z = LN(x) + x, rows of D = 7 */
static int check_layernorm(size_t rows, size_t D) {
    ig_tensor *x, *y, *z, *tg;
    double dz[64 * 64], want[64 * 64];
    size_t r, d;
    setup();
    ig_arena_reset(&leaves);
    ig_ctx_reset(&ctx, 1);
    ig_rng_seed(&rng, 22);
    x = leaf(rows, D, 1, 2);
    for (d = 0; d < x->n; d++) x->data[d] = 3.0f * x->data[d] + 0.5f;
    y = ig_layernorm(&ctx, x);
    z = ig_add(&ctx, y, x);
    if (!z) { snprintf(why, sizeof why, "the forward failed"); return 0; }
    tg = target_like(z);
    if (backward(ig_mse(&ctx, z, tg), "z = layernorm(x) + x")) return 0;
    mse_grad(z, tg, dz);
    for (r = 0; r < rows; r++) {
        const float *xr = x->data + r * D;
        double mu = 0, var = 0, rstd, mdy = 0, mdyx = 0, xh[64];
        for (d = 0; d < D; d++) mu += xr[d];
        mu /= (double)D;
        for (d = 0; d < D; d++) var += (xr[d] - mu) * (xr[d] - mu);
        rstd = 1.0 / sqrt(var / (double)D + 1e-6);
        for (d = 0; d < D; d++) { xh[d] = (xr[d] - mu) * rstd; mdy += dz[r * D + d]; mdyx += dz[r * D + d] * xh[d]; }
        mdy /= (double)D; mdyx /= (double)D;
        for (d = 0; d < D; d++)
            want[r * D + d] = pre(r * D + d) + dz[r * D + d] +
                              rstd * (dz[r * D + d] - mdy - xh[d] * mdyx);
    }
    {
        char what[160];
        snprintf(what, sizeof what, "dx (%zu,%zu) for z = layernorm(x) + x (the add's dz comes first: "
                 "add to dx, do not overwrite it)", rows, D);
        return cmp(what, x->grad, want, rows * D, 1e-5, 1e-4);
    }
}

/* attention: qkv (B,T,3D), heads; loss = mse(y, tg) */
#define AB 2
#define AT 5
#define AD 8
#define AH 2
static int check_attention(int part) {
    ig_tensor *qkv, *y, *tg;
    double dO[AB * AT * AD], want[AB * AT * 3 * AD];
    float got[AB * AT * 3 * AD];
    size_t b, h, i, j, d, hd = AD / AH, D3 = 3 * AD;
    double scale = 1.0 / sqrt((double)hd);
    static const char *names[3] = { "dq", "dk", "dv" };
    char what[200];
    setup();
    ig_arena_reset(&leaves);
    ig_ctx_reset(&ctx, 1);
    ig_rng_seed(&rng, 23);
    qkv = leaf(AB, AT, D3, 3);
    y = ig_attention(&ctx, qkv, AH);
    if (!y) { snprintf(why, sizeof why, "the forward failed"); return 0; }
    tg = target_like(y);
    if (backward(ig_mse(&ctx, y, tg), "y = attention(qkv, 2 heads)")) return 0;
    mse_grad(y, tg, dO);
    for (i = 0; i < AB * AT * D3; i++) want[i] = pre(i);
    for (b = 0; b < AB; b++)
        for (h = 0; h < AH; h++)
            for (i = 0; i < AT; i++) {
                const float *Q = qkv->data + (b * AT + i) * D3 + h * hd;
                double S[AT], P[AT], dP[AT], mx = -1e300, sum = 0, dot = 0;
                for (j = 0; j < AT; j++) {
                    const float *K = qkv->data + (b * AT + j) * D3 + AD + h * hd;
                    for (S[j] = 0, d = 0; d < hd; d++) S[j] += (double)Q[d] * K[d];
                    S[j] *= scale;
                    if (S[j] > mx) mx = S[j];
                }
                for (j = 0; j < AT; j++) sum += (P[j] = exp(S[j] - mx));
                for (j = 0; j < AT; j++) P[j] /= sum;
                for (j = 0; j < AT; j++) {
                    const float *V = qkv->data + (b * AT + j) * D3 + 2 * AD + h * hd;
                    for (dP[j] = 0, d = 0; d < hd; d++) dP[j] += dO[(b * AT + i) * AD + h * hd + d] * V[d];
                    dot += P[j] * dP[j];
                }
                for (j = 0; j < AT; j++) {
                    double dS = P[j] * (dP[j] - dot);   /* d loss / d S_ij, S scaled */
                    size_t oq = (b * AT + i) * D3 + h * hd, ok = (b * AT + j) * D3 + AD + h * hd;
                    for (d = 0; d < hd; d++) {
                        want[oq + d] += dS * scale * qkv->data[ok + d];
                        want[ok + d] += dS * scale * Q[d];
                        want[ok + AD + d] += P[j] * dO[(b * AT + i) * AD + h * hd + d];
                    }
                }
            }
    /* the part asked for: q, k or v columns of every row */
    for (i = 0, j = 0; i < AB * AT; i++)
        for (d = 0; d < AD; d++, j++) {
            got[j] = qkv->grad[i * D3 + part * AD + d];
            want[j] = want[i * D3 + part * AD + d];
        }
    snprintf(what, sizeof what, "%s (B 2, T 5, D 8, 2 heads; row-major (B*T, D)) from "
             "softmax(q k^T / sqrt(hd)) v", names[part]);
    return cmp(what, got, want, AB * AT * AD, 1e-6, 1e-4);
}

/* modulate and gated_add on x (B=2,T=3,D=4), vectors (B,D) */
#define MB 2
#define MT 3
#define MD 4
static int check_bd(int gated, int part) {
    ig_tensor *x, *u, *v, *y, *tg;
    double dy[MB * MT * MD], want[MB * MT * MD];
    size_t b, t, d, i;
    setup();
    ig_arena_reset(&leaves);
    ig_ctx_reset(&ctx, 1);
    ig_rng_seed(&rng, 24);
    x = leaf(MB, MT, MD, 3); u = leaf(MB, MD, 1, 2);
    v = gated ? leaf(MB, MT, MD, 3) : leaf(MB, MD, 1, 2);
    /* modulate: u = shift, v = scale; gated: u = gate, v = h */
    y = gated ? ig_gated_add(&ctx, x, u, v) : ig_modulate(&ctx, x, u, v);
    if (!y) { snprintf(why, sizeof why, "%s returned NULL", gated ? "ig_gated_add" : "ig_modulate"); return 0; }
    if (part == 0) {
        for (b = 0; b < MB; b++)
            for (t = 0; t < MT; t++)
                for (d = 0; d < MD; d++) {
                    i = (b * MT + t) * MD + d;
                    want[i] = gated ? (double)x->data[i] + (double)u->data[b * MD + d] * v->data[i]
                                    : (double)x->data[i] * (1.0 + v->data[b * MD + d]) + u->data[b * MD + d];
                }
        return cmp(gated ? "y = x + gate h, (2,3,4), gate (2,4) per sample"
                         : "y = x (1 + scale) + shift, (2,3,4), shift and scale (2,4) per sample",
                   y->data, want, y->n, 1e-6, 1e-5);
    }
    tg = target_like(y);
    if (backward(ig_mse(&ctx, y, tg), gated ? "ig_gated_add" : "ig_modulate")) return 0;
    mse_grad(y, tg, dy);
    if (part == 1) {   /* dx */
        for (b = 0; b < MB; b++)
            for (t = 0; t < MT; t++)
                for (d = 0; d < MD; d++) {
                    i = (b * MT + t) * MD + d;
                    want[i] = pre(i) + dy[i] * (gated ? 1.0 : 1.0 + v->data[b * MD + d]);
                }
        return cmp("dx (2,3,4), accumulated", x->grad, want, x->n, 1e-6, 1e-4);
    }
    if (part == 2) {   /* the (B,D) vector: dshift or dgate */
        for (i = 0; i < MB * MD; i++) want[i] = pre(i);
        for (b = 0; b < MB; b++)
            for (t = 0; t < MT; t++)
                for (d = 0; d < MD; d++) {
                    i = (b * MT + t) * MD + d;
                    want[b * MD + d] += dy[i] * (gated ? v->data[i] : 1.0);
                }
        return cmp(gated ? "dgate (2,4): the sum over the 3 tokens of dy h, accumulated"
                         : "dshift (2,4): the sum over the 3 tokens of dy, accumulated",
                   u->grad, want, MB * MD, 1e-6, 1e-4);
    }
    if (gated) {   /* dh */
        for (b = 0; b < MB; b++)
            for (t = 0; t < MT; t++)
                for (d = 0; d < MD; d++) {
                    i = (b * MT + t) * MD + d;
                    want[i] = pre(i) + dy[i] * u->data[b * MD + d];
                }
        return cmp("dh (2,3,4) = dy gate, accumulated", v->grad, want, v->n, 1e-6, 1e-4);
    }
    for (i = 0; i < MB * MD; i++) want[i] = pre(i);
    for (b = 0; b < MB; b++)
        for (t = 0; t < MT; t++)
            for (d = 0; d < MD; d++) {
                i = (b * MT + t) * MD + d;
                want[b * MD + d] += dy[i] * x->data[i];
            }
    return cmp("dscale (2,4): the sum over the 3 tokens of dy x, accumulated", v->grad, want, MB * MD, 1e-6, 1e-4);
}

/* ---- adamw -------------------------------------------------------------------------- */
#define AN 6
static int check_adamw(float lr, float wd, float eps, float b2, float d) {
    ig_train_config tc = ig_train_defaults();
    float w[AN], mo[AN], v[AN], e[AN], got[4 * AN];
    double W[AN], M[AN], V[AN], E[AN], want[4 * AN];
    int s;
    size_t i;
    char what[256];
    tc.lr = lr; tc.weight_decay = wd; tc.eps = eps; tc.beta1 = 0.9f; tc.beta2 = b2; tc.ema_decay = d;
    ig_rng_seed(&rng, 25);
    for (i = 0; i < AN; i++) {
        W[i] = w[i] = ig_rng_normal(&rng); M[i] = mo[i] = 0; V[i] = v[i] = 0; E[i] = e[i] = w[i];
    }
    for (s = 1; s <= 5; s++) {
        ig__adamw_coef c = ig__adamw_coefs(&tc, s);
        double bc1 = 1.0 - pow(0.9, s), bc2 = 1.0 - pow((double)b2, s);
        for (i = 0; i < AN; i++) {
            float g = 0.3f * (float)i - 0.7f + 0.2f * (float)s;
            ig__adamw_elem(&c, g, &w[i], &mo[i], &v[i], &e[i]);
            W[i] *= 1.0 - (double)lr * wd;
            M[i] = 0.9 * M[i] + 0.1 * g;
            V[i] = b2 * V[i] + (1.0 - b2) * (double)g * g;
            W[i] -= lr * (M[i] / bc1) / (sqrt(V[i] / bc2) + eps);
            E[i] = d * E[i] + (1.0 - d) * W[i];
            got[i] = w[i]; got[AN + i] = mo[i]; got[2 * AN + i] = v[i]; got[3 * AN + i] = e[i];
            want[i] = W[i]; want[AN + i] = M[i]; want[2 * AN + i] = V[i]; want[3 * AN + i] = E[i];
        }
        snprintf(what, sizeof what, "after step %d (lr %g, wd %g, eps %g, beta2 %g, ema %g): "
                 "[0..5] weights, [6..11] m, [12..17] v, [18..23] EMA", s, (double)lr, (double)wd,
                 (double)eps, (double)b2, (double)d);
        if (!cmp(what, got, want, 4 * AN, 1e-7, 2e-5)) return 0;
    }
    return 1;
}

/* the coefficients: the finiteness guards of section 6 read them by these meanings */
static int check_adamw_coefs(void) {
    ig_train_config tc = ig_train_defaults();
    float got[5];
    double want[5];
    ig__adamw_coef c;
    tc.lr = 0.1f; tc.weight_decay = 0.5f; tc.beta1 = 0.9f; tc.beta2 = 0.99f; tc.eps = 1e-3f; tc.ema_decay = 0.8f;
    c = ig__adamw_coefs(&tc, 3);
    got[0] = c.step_size; got[1] = c.bc2_sqrt; got[2] = c.decay; got[3] = c.eps; got[4] = c.d;
    want[0] = 0.1 / (1.0 - pow(0.9, 3)); want[1] = sqrt(1.0 - pow(0.99, 3)); want[2] = 1.0 - 0.1 * 0.5;
    want[3] = 1e-3; want[4] = 0.8;
    return cmp("ig__adamw_coefs at step 3: (step_size, bc2_sqrt, decay, eps, d) as the struct's "
               "comment names them", got, want, 5, 1e-9, 1e-5);
}

/* ---- sde_score ------------------------------------------------------------------------ */
static int check_sde(int path) {
    ig_rng r, mine;
    float x[NS];
    double xd[NS];
    size_t s, i, N = 5;
    const double hp = 0.5 * 3.14159265358979323846;
    x_start(x, xd);
    ig_rng_seed(&r, 31);
    mine = r;
    nfe = 0;
    if (ig_sample_sde(field, NULL, x, NS, N, path, &r)) {
        snprintf(why, sizeof why, "ig_sample_sde returned -1");
        return 0;
    }
    for (s = 0; s < N; s++) {
        int last = s + 1 == N;
        double t = 1.0f - 0.96f * (float)s / (float)(N - 1);
        double tn = last ? 0.0 : 1.0f - 0.96f * (float)(s + 1) / (float)(N - 1);
        double dt = tn - t, g2 = 2 * t, al, si, dal, dsi;
        t = (float)t;
        if (path == IG_PATH_COSINE) { al = cos(hp * t); si = sin(hp * t); dal = -hp * si; dsi = hp * al; }
        else { al = 1 - t; si = t; dal = -1; dsi = 1; }
        for (i = 0; i < NS; i++) {
            double v = fieldd(xd[i], (float)t, i);
            double eps_hat = (al * v - dal * xd[i]) / (al * dsi - dal * si), score = -eps_hat / si;
            xd[i] += (v - 0.5 * g2 * score) * dt;
            if (!last) xd[i] += sqrt(g2 * fabs(dt)) * ig_rng_normal(&mine);
        }
    }
    return cmp(path == IG_PATH_COSINE ? "x after 5 SDE steps on the cosine path (score from v)"
                                      : "x after 5 SDE steps on the linear path (score from v)",
               x, xd, NS, 1e-5, 1e-4);
}

/* ---- time_embed --------------------------------------------------------------------- */
static int check_time(float t_scale) {
    float t[4] = { 0.0f, 0.25f, 0.25f, 0.9f };
    double want[4 * 256];
    ig_tensor *e;
    size_t b, i;
    char what[160];
    setup();
    ig_ctx_reset(&ctx, 0);
    e = ig__time_features(&ctx, t, 4, t_scale);
    if (!e) { snprintf(why, sizeof why, "ig__time_features returned NULL"); return 0; }
    if (e->ndim != 2 || e->shape[0] != 4 || e->shape[1] != 256) {
        snprintf(why, sizeof why, "the embedding has %d dims (%zu, %zu); expected (4, 256)", e->ndim,
                 e->shape[0], e->ndim > 1 ? e->shape[1] : 0);
        return 0;
    }
    for (b = 0; b < 4; b++)
        for (i = 0; i < 128; i++) {
            double f = exp(-log(10000.0) * (double)i / 128.0), a = (double)t[b] * t_scale * f;
            want[b * 256 + i] = cos(a);
            want[b * 256 + 128 + i] = sin(a);
        }
    snprintf(what, sizeof what, "the embedding (4,256) of t = 0, 0.25, 0.25, 0.9 at t_scale %g: "
             "[b*256 + i] cos, [b*256 + 128 + i] sin", (double)t_scale);
    return cmp(what, e->data, want, 4 * 256, t_scale > 1 ? 5e-4 : 2e-6, 0);
}

/* ---- the table ---------------------------------------------------------------------- */
static void grade(const char *name) {
    if (!strcmp(name, "ig_line")) {
        formula = "\"The formula\": v = v_aux + w (v_final - v_aux), elementwise over the batch";
        RUN("ig_line w = 1.5 (extrapolate past the final head)", check_ig_line(1.5f));
        RUN("ig_line w = 3", check_ig_line(3.0f));
        RUN("ig_line w = 0 (the aux head alone)", check_ig_line(0.0f));
    } else if (!strcmp(name, "cfg")) {
        formula = "\"The formula\": rows B..2B-1 get the null label (num_classes); v = v_u + s (v_c - v_u)";
        RUN("cfg s = 2", check_cfg(1.0f, 2.0f));
        RUN("cfg s = 0.5", check_cfg(1.0f, 0.5f));
        RUN("cfg s = 2 with IG w = 1.5 on both halves", check_cfg(1.5f, 2.0f));
    } else if (!strcmp(name, "euler")) {
        formula = "\"The formula\": for each step, dt = grid[s+1] - grid[s], x += dt v(x, grid[s])";
        RUN("euler: 4 steps on a non-uniform grid", check_euler());
    } else if (!strcmp(name, "heun")) {
        formula = "\"The formula\": x_e = x + dt v(x, t); x += dt/2 (v(x, t) + v(x_e, t')); "
                  "euler_last: the step into t' = 0 is plain Euler";
        RUN("heun: ig_sample_heun (Euler into t = 0)", check_heun(1));
        RUN("heun: ig_sample_heun2 (Heun on every step)", check_heun(0));
    } else if (!strcmp(name, "flow_batch")) {
        formula = "\"The formula\": linear x_t = (1-t) x0 + t eps, v* = eps - x0; cosine x_t = "
                  "cos(pi t/2) x0 + sin(pi t/2) eps, v* = d x_t / dt";
        RUN("flow_batch linear path, uniform t", check_flow(IG_PATH_LINEAR, 0));
        RUN("flow_batch cosine path, uniform t", check_flow(IG_PATH_COSINE, 0));
        RUN("flow_batch cosine path, lognormal t", check_flow(IG_PATH_COSINE, 1));
    } else if (!strcmp(name, "loss")) {
        formula = "\"The formula\": loss = mse(v_final, v*) + lambda mse(v_aux, v*), lambda = tc->aux_weight";
        RUN("loss lambda = 0.5", check_loss(0.5f));
        RUN("loss lambda = 0.3", check_loss(0.3f));
    } else if (!strcmp(name, "linear_backward")) {
        formula = "\"The formula\": dx += dy W, dW += dy^T x, db += the column sums of dy";
        RUN("linear_backward dx", linear_case(0));
        RUN("linear_backward dW", linear_case(1));
        RUN("linear_backward db", linear_case(2));
    } else if (!strcmp(name, "layernorm_backward")) {
        formula = "\"The formula\": dx += rstd (dy - mean(dy) - xhat mean(dy xhat)), per row";
        RUN("layernorm_backward 6 rows of 7", check_layernorm(6, 7));
        RUN("layernorm_backward 9 rows of 32", check_layernorm(9, 32));
    } else if (!strcmp(name, "softmax_backward")) {
        formula = "\"The formula\": dS_ij = P_ij (dP_ij - sum_k dP_ik P_ik), times the scale 1/sqrt(hd)";
        RUN("softmax_backward dq", check_attention(0));
        RUN("softmax_backward dk", check_attention(1));
        RUN("softmax_backward dv (not your piece: it should already pass)", check_attention(2));
    } else if (!strcmp(name, "modulate")) {
        formula = "\"The formula\": y = x (1 + scale) + shift; dx = dy (1 + scale), dshift = sum_T dy, "
                  "dscale = sum_T dy x";
        RUN("modulate forward", check_bd(0, 0));
        RUN("modulate dx", check_bd(0, 1));
        RUN("modulate dshift", check_bd(0, 2));
        RUN("modulate dscale", check_bd(0, 3));
    } else if (!strcmp(name, "gated_residual")) {
        formula = "\"The formula\": y = x + gate h; dx = dy, dh = dy gate, dgate = sum_T dy h";
        RUN("gated_residual forward", check_bd(1, 0));
        RUN("gated_residual dx", check_bd(1, 1));
        RUN("gated_residual dgate", check_bd(1, 2));
        RUN("gated_residual dh", check_bd(1, 3));
    } else if (!strcmp(name, "adamw")) {
        formula = "\"The formula\": the AdamW update with both bias corrections, the decay before "
                  "it, then ema = d ema + (1 - d) w with the NEW w";
        RUN("adamw coefficients", check_adamw_coefs());
        RUN("adamw 5 steps, weight decay 0.5, ema 0.8", check_adamw(0.1f, 0.5f, 1e-8f, 0.999f, 0.8f));
        RUN("adamw 5 steps, eps 1e-3, beta2 0.95", check_adamw(0.01f, 0.0f, 1e-3f, 0.95f, 0.5f));
    } else if (!strcmp(name, "sde_score")) {
        formula = "\"The formula\": eps_hat = (alpha v - alpha' x) / (alpha sigma' - alpha' sigma), "
                  "score = -eps_hat / sigma, on each path";
        RUN("sde_score linear path", check_sde(IG_PATH_LINEAR));
        RUN("sde_score cosine path", check_sde(IG_PATH_COSINE));
    } else if (!strcmp(name, "time_embed")) {
        formula = "\"The formula\": f_i = exp(-ln(10000) i / 128), a = t t_scale f_i, "
                  "emb = [cos(a_0..a_127), sin(a_0..a_127)]";
        RUN("time_embed t_scale 1", check_time(1.0f));
        RUN("time_embed t_scale 1000", check_time(1000.0f));
    } else {
        fprintf(stderr, "grade: no exercise '%s' (make exercises lists them)\n", name);
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: grade NAME\n"); return 2; }
    grade(argv[1]);
    printf("%d passed, %d failed\n", npass, nfail);
    return nfail ? 1 : 0;
}
