/* test_ldit.c - the LightningDiT variant (IG_ARCH_LIGHTNING) against the
   project's PyTorch reference (tools/ref_lightningdit.py wrote
   tests/fixtures/ld.safetensors): forward of both heads, every parameter
   gradient of the release's loss (with the cosine term), one AdamW step, the
   shifted-grid Heun sampler with IG and interval-limited CFG; then the file
   conventions (recognition, names, RoPE tables), the init and the scratch size.
   The fixture's times are in LightningDiT's convention (t = 0 noise). */
#include "../ig.h"
#include "../examples/pt.h"
#include "test.h"
#include "fixture.h"
#include "threads.h"
#include <stdlib.h>
#include <string.h>

#define LD_FIXTURE "tests/fixtures/ld.safetensors"

typedef fix_model ld_fixture;

static int ld_open(ld_fixture *f, size_t batch, int training) { return fix_open(f, LD_FIXTURE, batch, training); }

/* The file is recognized by its names and shapes: arch, heads off feat_rope. */
static int t_ldit_config_from_file(void) {
    ig_config cfg;
    CHECK(ig_config_from_file(&cfg, LD_FIXTURE, 0, 0) == 0, "%s", ig_last_error());
    CHECK(cfg.arch == IG_ARCH_LIGHTNING, "arch %d", cfg.arch);
    CHECK(cfg.num_heads == 3 && cfg.hidden_size == 48 && cfg.depth == 3 && cfg.aux_depth == 2 &&
          cfg.in_channels == 4 && cfg.image_height == 4 && cfg.patch_size == 1 && cfg.num_classes == 5,
          "heads %d D %d L %d k %d C %d H %d p %d classes %d", cfg.num_heads, cfg.hidden_size, cfg.depth,
          cfg.aux_depth, cfg.in_channels, cfg.image_height, cfg.patch_size, cfg.num_classes);
    CHECK(ig_config_from_file(&cfg, LD_FIXTURE, 4, 0) == -1, "4 heads against a head dim of 16 must fail");
    CHECK(strstr(ig_last_error(), "ld.safetensors") && strstr(ig_last_error(), "head dim"), "%s", ig_last_error());
    CHECK(ig_config_from_file(&cfg, "tests/fixtures/img.safetensors", 0, 0) == 0 && cfg.arch == IG_ARCH_SIT,
          "a SiT file stays SiT");
    return 0;
}

/* Forward of both heads (the bare network, t in its own convention) and every
   parameter gradient of the release's loss
     L = mse(v, u) + 0.5 mse(v_aux, u) + mean(1 - cos_ch(v, u))
   on the fixture's training batch, against PyTorch in float64. */
static int t_ldit_parity_forward_grads(void) {
    ld_fixture f;
    size_t nx, nt, ny, nv, shape[4];
    float *x, *t, *v_ref, *va_ref, *xt_in, *u_in, *t_tr;
    int *y, *y_tr;
    ig_tensor *xt, *v, *va, *U, *L;
    ig_ctx *c;
    double worst = 0;
    const char *worst_name = "";
    CHECK(ld_open(&f, 4, 1) == 0, "open");
    c = &f.ctx;
    x = fix_f32(&f.st, "input.x", &nx); t = fix_f32(&f.st, "input.t", &nt); y = fix_labels(&f.st, "input.y", &ny);
    v_ref = fix_f32(&f.st, "output.v", &nv); va_ref = fix_f32(&f.st, "output.v_aux", &nv);
    CHECK(x && t && y && v_ref && va_ref, "fixture tensors");
    CHECK(ig_ctx_reset(c, 0) == 0, "reset");
    shape[0] = nt; shape[1] = 4; shape[2] = 4; shape[3] = 4;
    xt = ig_tensor_new(&f.scratch, 4, shape, 0);
    memcpy(xt->data, x, nx * sizeof(float));
    CHECK(ig_forward(&f.m, c, xt, t, y, &v, &va) == 0, "forward: %s", ig_last_error());
    CHECK(fix_rel(v->data, v_ref, nv) < 1e-4, "output.v relative error %.3g", fix_rel(v->data, v_ref, nv));
    CHECK(fix_rel(va->data, va_ref, nv) < 1e-4, "output.v_aux relative error %.3g", fix_rel(va->data, va_ref, nv));
    printf("     forward: v %.2g, v_aux %.2g relative\n", fix_rel(v->data, v_ref, nv), fix_rel(va->data, va_ref, nv));

    xt_in = fix_f32(&f.st, "train.xt", &nx); u_in = fix_f32(&f.st, "train.u", &nx);
    t_tr = fix_f32(&f.st, "train.t", &nt); y_tr = fix_labels(&f.st, "train.y", &ny);
    CHECK(xt_in && u_in && t_tr && y_tr, "training tensors");
    CHECK(ig_ctx_reset(c, 1) == 0, "reset");
    xt = ig_tensor_new(&f.scratch, 4, shape, 0);
    U = ig_tensor_new(&f.scratch, 4, shape, 0);
    memcpy(xt->data, xt_in, nx * sizeof(float));
    memcpy(U->data, u_in, nx * sizeof(float));
    memset(f.m.grads, 0, f.m.nweights * sizeof(float));
    CHECK(ig_forward(&f.m, c, xt, t_tr, y_tr, &v, &va) == 0, "forward: %s", ig_last_error());
    L = ig_add(c, ig_add(c, ig_mse(c, v, U), ig_scale(c, ig_mse(c, va, U), 0.5f)), ig_cos_loss(c, v, U));
    CHECK(ig_backward(c, L) == 0, "backward: %s", ig_last_error());
    CHECK(fix_worst(&f, "grad.", 1, &worst, &worst_name) == 0, "grad.%s", worst_name);
    CHECK(worst < 1e-3, "gradient of %s: relative error %.3g", worst_name, worst);
    printf("     loss %.7g, worst gradient err %.2g (%s)\n", L->data[0], worst, worst_name);
    free(x); free(t); free(y); free(v_ref); free(va_ref);
    free(xt_in); free(u_in); free(t_tr); free(y_tr);
    fix_close(&f);
    return 0;
}

/* One ig_train_step_on in the SiT convention (t = 1 - t_ld, v* = -u) with the
   cosine term: the loss parts, the gradient norm and the weights after AdamW
   (lr 1e-3, wd 0.01, clip 1) against torch.optim.AdamW. */
static int t_ldit_train_step(void) {
    ld_fixture f;
    size_t n, nt, ny, i, k;
    float *xt, *u, *t, *ref, *target;
    int *y;
    ig_train_config tc = ig_train_defaults();
    ig_train_stats st;
    double worst = 0;
    const char *worst_name = "";
    static const char *parts[4] = { "train.loss", "train.loss_final", "train.loss_aux", "train.loss_cos" };
    float got[4];
    CHECK(ld_open(&f, 4, 1) == 0, "open");
    xt = fix_f32(&f.st, "train.xt", &n); u = fix_f32(&f.st, "train.u", &n);
    t = fix_f32(&f.st, "train.t", &nt); y = fix_labels(&f.st, "train.y", &ny);
    CHECK(xt && u && t && y, "fixture tensors");
    target = (float *)malloc(n * sizeof(float));
    for (i = 0; i < n; i++) target[i] = -u[i];            /* v* = eps - x0 = -(x1 - x0) */
    for (i = 0; i < nt; i++) t[i] = 1.0f - t[i];          /* exact: t_ld is a multiple of 1/1024 */
    tc.lr = 1e-3f; tc.weight_decay = 0.01f; tc.cos_weight = 1.0f;
    CHECK(ig_train_step_on(&f.m, &f.ctx, &tc, xt, t, y, target, nt, &st) == 0, "step: %s", ig_last_error());
    got[0] = st.loss; got[1] = st.loss_final; got[2] = st.loss_aux; got[3] = st.loss_cos;
    for (k = 0; k < 4; k++) {
        ref = fix_f32(&f.st, parts[k], &i);
        CHECK(ref && near(got[k], ref[0], 1e-5, 0), "%s %.8g vs torch %.8g", parts[k], got[k], ref ? ref[0] : 0.0f);
        free(ref);
    }
    ref = fix_f32(&f.st, "train.grad_norm", &i);
    CHECK(ref && near(st.grad_norm, ref[0], 1e-5, 0), "grad norm %.8g vs torch %.8g", st.grad_norm, ref[0]);
    free(ref);
    CHECK(fix_worst(&f, "after.", 0, &worst, &worst_name) == 0, "after.%s", worst_name);
    CHECK(worst < 5e-5, "weights after the step: %.3g off (%s)", worst, worst_name);
    printf("     loss %.7g (cos term %.5g), grad norm %.7g, weights within %.2g\n", st.loss, st.loss_cos,
           st.grad_norm, worst);
    free(xt); free(u); free(t); free(y); free(target);
    fix_close(&f);
    return 0;
}

/* The release's sampler: Heun on every interval of the shifted grid (6 steps,
   shift 0.3), IG 1.4 on both CFG halves, CFG 1.45 for t <= 0.81 only; and IG
   1.7 alone.  Through ig_guided_velocity's SiT-convention wrapper. */
static int t_ldit_sampler(void) {
    ld_fixture f;
    size_t nz, ny, ng, i;
    float *z, *grid_ld, *out_cfg, *out_ig, grid[7], *x;
    int *y, run;
    size_t cfg_evals = 0;
    CHECK(ld_open(&f, 4, 0) == 0, "open");
    z = fix_f32(&f.st, "sample.noise", &nz); y = fix_labels(&f.st, "sample.y", &ny);
    grid_ld = fix_f32(&f.st, "sample.grid", &ng);
    out_cfg = fix_f32(&f.st, "sample.out_cfg", &nz); out_ig = fix_f32(&f.st, "sample.out_ig", &nz);
    CHECK(z && y && grid_ld && out_cfg && out_ig && ng == 7, "fixture tensors");
    ig_grid_shifted(grid, 6, 0.3f);
    for (i = 0; i < 7; i++)
        CHECK(fabs(grid[i] - (1.0 - grid_ld[i])) < 1e-6, "grid[%zu] = %.8g, reference 1 - %.8g", i, grid[i], grid_ld[i]);
    for (i = 0; i < 6; i++) cfg_evals += (grid[i] <= 0.81f) + (grid[i + 1] <= 0.81f);
    x = (float *)malloc(nz * sizeof(float));
    for (run = 0; run < 2; run++) {
        ig_guided s;
        const float *want = run == 0 ? out_cfg : out_ig;
        double e;
        memset(&s, 0, sizeof s);
        s.model = &f.m; s.ctx = &f.ctx; s.labels = y; s.batch = ny;
        s.guidance = ig_guidance_lightning(run == 0);
        memcpy(x, z, nz * sizeof(float));
        CHECK(ig_sample_heun2(ig_guided_velocity, &s, x, nz, grid, 6) == 0, "sample: %s", ig_last_error());
        e = fix_rel(x, want, nz);
        CHECK(e < 1e-4, "%s: relative error %.3g after 6 Heun steps", run == 0 ? "IG + CFG" : "IG alone", e);
        CHECK(s.nfe == 12 + (run == 0 ? cfg_evals : 0), "%zu evaluations", s.nfe);   /* CFG doubles the batch */
        printf("     %s: relative error %.2g, %zu evaluations of B\n", run == 0 ? "IG 1.4 + CFG 1.45 (t <= 0.81)" : "IG 1.7",
               e, s.nfe);
    }
    free(x); free(z); free(y); free(grid_ld); free(out_cfg); free(out_ig);
    fix_close(&f);
    return 0;
}

/* ig_save writes the release's names back; the file loads strictly into a fresh
   model with the same outputs; a RoPE table that is not the grid's is refused
   with the file's name; a missing buffer is a missing tensor. */
static int t_ldit_checkpoint_names(void) {
    ld_fixture f;
    ig_model m2;
    ig_st_file st;
    ig_st_writer w;
    const char *path = "build/test_ld_roundtrip.safetensors", *bad = "build/test_ld_badrope.safetensors";
    static const char *names[] = { "pos_embed", "feat_rope.freqs_cos", "feat_rope.freqs_sin", "blocks.0.norm1.weight",
        "blocks.2.norm2.weight", "blocks.1.mlp.w12.weight", "blocks.1.mlp.w3.bias", "final_layer.norm_final.weight",
        "final_layer_xr.norm_final.weight", "final_layer_xr.linear.weight" };
    size_t i, n;
    int k;
    float *copy = NULL;
    CHECK(ld_open(&f, 2, 0) == 0, "open");
    CHECK(ig_save(&f.m, path, 0) == 0, "save: %s", ig_last_error());
    CHECK(ig_st_open(&st, path) == 0, "%s", ig_last_error());
    for (i = 0; i < sizeof names / sizeof names[0]; i++) CHECK(ig_st_find(&st, names[i]), "no %s in the saved file", names[i]);
    CHECK(!ig_st_find(&st, "blocks.0.mlp.fc1.weight"), "a SiT name in a LightningDiT file");
    CHECK(st.ntensors == f.m.nparams, "%d tensors for %d parameters", st.ntensors, f.m.nparams);
    CHECK(ig_st_find(&st, "blocks.1.mlp.w12.weight")->shape[0] == 256 && ig_st_find(&st, "feat_rope.freqs_cos")->shape[1] == 16,
          "shapes: w12 (2H,D) with H = 8D/3 = 128, freqs (T, hd 16)");
    ig_st_close(&st);
    {   /* strict reload: identical weights */
        ig_config cfg;
        CHECK(ig_config_from_file(&cfg, path, 0, 0) == 0, "%s", ig_last_error());
        CHECK(ig_model_init(&m2, &cfg, 0, 1) == 0 && ig_load(&m2, path, 1) == 0, "strict load: %s", ig_last_error());
        CHECK(!memcmp(m2.weights, f.m.weights, f.m.nweights * sizeof(float)), "weights differ after the round trip");
    }
    /* a rotated table that is not this grid's: refused, the model unchanged */
    ig_st_writer_init(&w);
    for (k = 0; k < f.m.nparams; k++) {
        int64_t shp[IG_MAX_DIMS];
        int d;
        const float *src = f.m.params[k].t->data;
        n = f.m.params[k].t->n;
        for (d = 0; d < f.m.params[k].t->ndim; d++) shp[d] = (int64_t)f.m.params[k].t->shape[d];
        if (!strcmp(f.m.params[k].name, "feat_rope.freqs_sin")) {
            copy = (float *)malloc(n * sizeof(float));   /* kept until the save: the writer stores the pointer */
            memcpy(copy, src, n * sizeof(float));
            copy[n - 1] = -copy[n - 1];
            src = copy;
        }
        CHECK(ig_st_add(&w, f.m.params[k].name, IG_F32, f.m.params[k].t->ndim, shp, src) == 0, "%s", ig_last_error());
    }
    CHECK(ig_st_writer_save(&w, bad) == 0, "%s", ig_last_error());
    free(copy);
    ig_st_writer_free(&w);
    {
        float before = m2.weights[0];
        CHECK(ig_load(&m2, bad, 1) == -1, "a wrong RoPE table must be refused");
        CHECK(strstr(ig_last_error(), "test_ld_badrope") && strstr(ig_last_error(), "feat_rope"), "%s", ig_last_error());
        CHECK(m2.weights[0] == before, "model changed by a failed load");
    }
    ig_model_free(&m2);
    remove(path); remove(bad);
    fix_close(&f);
    return 0;
}

static ig_config ld_small(void) {
    ig_config g;
    memset(&g, 0, sizeof g);
    g.in_channels = 4; g.image_height = 4; g.image_width = 4; g.patch_size = 1;
    g.hidden_size = 48; g.depth = 3; g.num_heads = 3; g.num_classes = 5; g.aux_depth = 2; g.t_scale = 1.0f;
    g.arch = IG_ARCH_LIGHTNING;
    return g;
}

/* The release's init: gains 1, every block's adaLN and final_layer zero,
   final_layer_xr with xavier weights (so its output is not zero at step 0),
   pos_embed the sin-cos table, RoPE tables as ig's formula; and a head dim
   that is not a multiple of 4 is refused. */
static int t_ldit_init(void) {
    ig_config g = ld_small();
    ig_model m;
    size_t i;
    int p;
    CHECK(ig_model_init(&m, &g, 0, 3) == 0, "%s", ig_last_error());
    for (p = 0; p < m.nparams; p++) {
        const ig_param *pp = &m.params[p];
        double mx = 0;
        int want_zero = strstr(pp->name, "adaLN_modulation.1.weight") && strncmp(pp->name, "final_layer_xr", 14);
        want_zero |= !strcmp(pp->name, "final_layer.linear.weight") || strstr(pp->name, ".bias") != NULL;
        for (i = 0; i < pp->t->n; i++) mx = fabs(pp->t->data[i]) > mx ? fabs(pp->t->data[i]) : mx;
        CHECK(want_zero ? mx == 0 : mx > 0, "%s: max |w| = %g", pp->name, mx);
        if (strstr(pp->name, "norm"))
            for (i = 0; i < pp->t->n; i++) CHECK(pp->t->data[i] == 1.0f, "%s[%zu] = %g, want 1", pp->name, i, pp->t->data[i]);
    }
    /* RoPE of token n = 16 a + b would be hard to see here: token 5 = (1, 1), dim 0
       turns by row 1 * theta_0 = 1 rad; dim hd/2 + 2 by column 1 * theta_1 */
    CHECK(fabs(m.rope_cos->data[5 * 16 + 0] - cos(1.0)) < 1e-7, "cos[5,0] = %.8g", m.rope_cos->data[80]);
    CHECK(fabs(m.rope_sin->data[5 * 16 + 8 + 2] - sin(pow(10000.0, -2.0 / 8.0))) < 1e-7, "sin[5,10] = %.8g",
          m.rope_sin->data[5 * 16 + 10]);
    CHECK(fabs(m.rope_sin->data[5 * 16 + 8 + 3] - m.rope_sin->data[5 * 16 + 8 + 2]) == 0, "pairs share an angle");
    ig_model_free(&m);
    g.num_heads = 2;       /* head dim 24: fine */
    CHECK(ig_config_check(&g) == 0, "%s", ig_last_error());
    g.hidden_size = 40; g.num_heads = 4;   /* head dim 10 */
    CHECK(ig_config_check(&g) == -1 && strstr(ig_last_error(), "divisible by 4"), "%s", ig_last_error());
    return 0;
}

/* ig_model_scratch_bytes is exact for a LightningDiT training step with the
   cosine term (its release's loss); the persistent arena fits. */
static int t_ldit_scratch_bytes(void) {
    ig_config g = ld_small();
    ig_model m;
    ig_arena scratch;
    ig_ctx ctx;
    ig_train_config tc = ig_train_defaults();
    ig_train_stats st;
    size_t B = 6, i, need = ig_model_scratch_bytes(&g, B, 1), per = 4 * 4 * 4;
    float *x0 = (float *)malloc(B * per * sizeof(float));
    int y[6] = { 0, 1, 2, 3, 4, 0 };
    ig_rng r;
    CHECK(ig_model_init(&m, &g, 1, 5) == 0, "%s", ig_last_error());
    CHECK(m.arena.used <= ig_model_bytes(&g, 1) && m.arena.used > ig_model_bytes(&g, 1) * 9 / 10,
          "model arena %zu of %zu", m.arena.used, ig_model_bytes(&g, 1));
    CHECK(ig_arena_init(&scratch, "scratch", need) == 0 && ig_ctx_init(&ctx, &scratch, ig_model_tape_nodes(&g)) == 0, "init");
    ig_rng_seed(&r, 9);
    for (i = 0; i < B * per; i++) x0[i] = ig_rng_normal(&r);
    tc.cos_weight = 1.0f;
    CHECK(ig_train_step(&m, &ctx, &tc, x0, y, B, &st) == 0, "step: %s", ig_last_error());
    CHECK(scratch.peak == need, "peak %zu, estimate %zu", scratch.peak, need);
    printf("     training step: scratch peak %zu bytes, estimate %zu\n", scratch.peak, need);
    ig_arena_free(&scratch);
    ig_model_free(&m);
    free(x0);
    return 0;
}

/* Without a tape the forward rewinds the arena after every block: the
   inference estimate (one block's activations) is exact for both variants,
   with CFG's doubled batch through the guided velocity. */
static int t_inference_scratch_bytes(void) {
    int arch;
    for (arch = 0; arch < 2; arch++) {
        ig_config g = ld_small();
        ig_model m;
        ig_arena scratch;
        ig_ctx ctx;
        ig_guided s;
        size_t B = 3, n = B * 64, i, need;
        float *x = (float *)malloc(n * sizeof(float)), *v = (float *)malloc(n * sizeof(float));
        int y[3] = { 0, 1, 2 };
        ig_rng r;
        g.arch = arch;
        g.depth = 12;
        need = ig_model_scratch_bytes(&g, 2 * B, 0);
        g.depth = 6;       /* one block's activations at a time: the same size for any depth */
        CHECK(ig_model_scratch_bytes(&g, 2 * B, 0) == need, "arch %d: %zu bytes at depth 6, %zu at depth 12", arch,
              ig_model_scratch_bytes(&g, 2 * B, 0), need);
        CHECK(ig_model_init(&m, &g, 0, 5) == 0, "%s", ig_last_error());
        CHECK(ig_arena_init(&scratch, "scratch", need) == 0 && ig_ctx_init(&ctx, &scratch, 0) == 0, "init");
        ig_rng_seed(&r, 2);
        for (i = 0; i < n; i++) x[i] = ig_rng_normal(&r);
        memset(&s, 0, sizeof s);
        s.model = &m; s.ctx = &ctx; s.labels = y; s.batch = B;
        s.guidance = ig_guidance_none();
        s.guidance.ig_weight = 1.5f; s.guidance.cfg_scale = 2.0f;
        CHECK(ig_guided_velocity(&s, x, n, 0.5f, v) == 0, "%s", ig_last_error());
        CHECK(scratch.peak == need, "arch %d: peak %zu, estimate %zu", arch, scratch.peak, need);
        printf("     %s forward (IG + CFG, 2 x %zu rows, 6 blocks): scratch peak %zu bytes, estimate %zu\n",
               arch ? "LightningDiT" : "SiT", B, scratch.peak, need);
        ig_arena_free(&scratch);
        ig_model_free(&m);
        free(x); free(v);
    }
    return 0;
}

/* The SiT-convention wrapper: ig_guided_velocity of an unguided LightningDiT
   model at t is minus its bare network at 1 - t (both heads, via IG w = 0). */
static int t_ldit_velocity_wrapper(void) {
    ld_fixture f;
    float *x, *v, *vb;
    int y[2] = { 1, 5 };
    size_t n = 2 * 64, i, shape[4] = { 2, 4, 4, 4 };
    float tt[2] = { 0.3f, 0.3f };
    int w;
    ig_tensor *xt, *vn, *va;
    ig_rng r;
    CHECK(ld_open(&f, 4, 0) == 0, "open");
    x = (float *)malloc(n * sizeof(float)); v = (float *)malloc(n * sizeof(float)); vb = (float *)malloc(n * sizeof(float));
    ig_rng_seed(&r, 1);
    for (i = 0; i < n; i++) x[i] = ig_rng_normal(&r);
    CHECK(ig_ctx_reset(&f.ctx, 0) == 0, "reset");
    xt = ig_tensor_new(&f.scratch, 4, shape, 0);
    memcpy(xt->data, x, n * sizeof(float));
    CHECK(ig_forward(&f.m, &f.ctx, xt, tt, y, &vn, &va) == 0, "%s", ig_last_error());
    memcpy(v, vn->data, n * sizeof(float));
    memcpy(vb, va->data, n * sizeof(float));
    for (w = 0; w < 2; w++) {   /* w = 1: final head; w = 0: the intermediate head alone */
        ig_guided s;
        float out[128];
        memset(&s, 0, sizeof s);
        s.model = &f.m; s.ctx = &f.ctx; s.labels = y; s.batch = 2;
        s.guidance = ig_guidance_none();
        s.guidance.ig_weight = (float)w;
        CHECK(ig_guided_velocity(&s, x, n, 0.7f, out) == 0, "%s", ig_last_error());
        for (i = 0; i < n; i++)
            CHECK(out[i] == -(w ? v[i] : vb[i]), "w %d element %zu: %g, want -%g", w, i, out[i], w ? v[i] : vb[i]);
    }
    free(x); free(v); free(vb);
    fix_close(&f);
    return 0;
}


/* LightningDiT training with the cosine term and the paper's sampler are
   bit-identical with 1 and 2 threads (sizes above the ops' OpenMP thresholds),
   and training on one fixed batch drives the loss down.  (The first steps are
   slow: the final head starts at zero, where the cosine's gradient is u / eps,
   1e8 times the target, as in torch; clipping to norm 1 tames it.) */
static int ld_run_threads(int threads, float *losses, float *w, float *samples, size_t *nw) {
    ig_config g = ld_small();
    ig_model m;
    ig_arena scratch;
    ig_ctx ctx;
    ig_train_config tc = ig_train_defaults();
    ig_train_stats st;
    ig_guided G;
    enum { B = 10, PER = 4 * 8 * 8 };
    static float x0[B * PER];
    float grid[5];
    int y[B], i, step;
    ig_rng r;
    thr_set(threads);
    g.image_height = g.image_width = 8; g.hidden_size = 64; g.num_heads = 4; g.aux_depth = 1;
    if (ig_model_init(&m, &g, 1, 11) || ig_arena_init(&scratch, "scratch", ig_model_scratch_bytes(&g, B, 1)) ||
        ig_ctx_init(&ctx, &scratch, ig_model_tape_nodes(&g)))
        return -1;
    ig_rng_seed(&r, 12);
    for (i = 0; i < B * PER; i++) x0[i] = ig_rng_normal(&r);
    for (i = 0; i < B; i++) y[i] = i % 5;
    tc.lr = 1e-2f; tc.cos_weight = 1.0f; tc.label_dropout = 0.0f;
    {   /* one fixed batch (t, noise, labels drawn once): ig_train_step_on */
        static float xt[B * PER], tg[B * PER];
        float t[B];
        int lab[B];
        if (ig_flow_batch(&r, &g, &tc, B, x0, y, xt, t, tg, lab)) return -1;
        for (step = 0; step < 40; step++) {
            if (ig_train_step_on(&m, &ctx, &tc, xt, t, lab, tg, B, &st)) return -1;
            if (step == 0) losses[0] = st.loss;
            if (step == 1) losses[1] = st.loss;
        }
    }
    losses[2] = st.loss;
    memcpy(w, m.weights, m.nweights * sizeof(float));
    *nw = m.nweights;
    memset(&G, 0, sizeof G);
    G.model = &m; G.ctx = &ctx; G.labels = y; G.batch = 2;
    G.guidance = ig_guidance_lightning(1);
    ig_grid_shifted(grid, 4, IG_LIGHTNING_SHIFT);
    ig_rng_seed(&r, 13);
    for (i = 0; i < 2 * PER; i++) samples[i] = ig_rng_normal(&r);
    if (ig_sample_heun2(ig_guided_velocity, &G, samples, 2 * PER, grid, 4)) return -1;
    ig_arena_free(&scratch);
    ig_model_free(&m);
    return 0;
}

static int t_ldit_threads_and_training(void) {
    static float w1[1 << 19], w2[1 << 19], s1[2 * 256], s2[2 * 256];
    float l1[3], l2[3];
    size_t n1 = 0, n2 = 0;
    CHECK(thr_run_1_and_2(ld_run_threads, l1, w1, s1, &n1, l2, w2, s2, &n2) == 0, "%s", ig_last_error());
    CHECK(n1 == n2 && n1 <= sizeof w1 / sizeof w1[0], "weights %zu", n1);
    CHECK(memcmp(l1, l2, sizeof l1) == 0, "losses differ: %.9g %.9g %.9g vs %.9g %.9g %.9g", l1[0], l1[1], l1[2], l2[0], l2[1], l2[2]);
    CHECK(memcmp(w1, w2, n1 * sizeof(float)) == 0, "weights differ after 40 steps");
    CHECK(memcmp(s1, s2, sizeof s1) == 0, "paper-sampler samples differ");
    CHECK(l1[2] < 0.5f * l1[0], "loss on one fixed batch: %.4g at step 1, %.4g at step 40", l1[0], l1[2]);
    printf("     one fixed batch: loss %.4f -> %.4f in 40 steps (with the cosine term); 1 and 2 threads identical\n",
           l1[0], l1[2]);
    return 0;
}


/* A LightningDiT training checkpoint saved by torch.save as the release saves
   it ({"model", "ema", "opt", "config"}: tests/fixtures/ld_tiny.pt, written by
   tools/ref_lightningdit.py pt) converts with the .pt reader (its "ema"),
   is recognized, loads strictly, and its bare forward matches the reference
   (tests/fixtures/ld_tiny_io.safetensors, from the EMA weights). */
static int t_ldit_pt_converts(void) {
    const char *out = "build/test_ld_tiny_from_pt.safetensors";
    ig_config cfg;
    ig_model m;
    ig_arena scratch;
    ig_ctx ctx;
    ig_st_file io;
    size_t nx, nt, ny, nv, shape[4];
    float *x, *t, *v_ref, *va_ref;
    int *y;
    ig_tensor *xt, *v, *va;
    CHECK(pt_convert("tests/fixtures/ld_tiny.pt", NULL, out, NULL) == 0, "%s", pt_error());
    CHECK(ig_config_from_file(&cfg, out, 0, 1) == 0, "%s", ig_last_error());   /* the release's file has no k */
    CHECK(cfg.arch == IG_ARCH_LIGHTNING && cfg.num_heads == 2 && cfg.hidden_size == 16 && cfg.depth == 2 &&
          cfg.image_height == 4 && cfg.in_channels == 4, "arch %d heads %d D %d L %d H %d C %d", cfg.arch,
          cfg.num_heads, cfg.hidden_size, cfg.depth, cfg.image_height, cfg.in_channels);
    CHECK(ig_model_init(&m, &cfg, 0, 0) == 0 && ig_load(&m, out, 1) == 0, "strict load: %s", ig_last_error());
    CHECK(ig_st_open(&io, "tests/fixtures/ld_tiny_io.safetensors") == 0, "%s", ig_last_error());
    x = fix_f32(&io, "input.x", &nx); t = fix_f32(&io, "input.t", &nt); y = fix_labels(&io, "input.y", &ny);
    v_ref = fix_f32(&io, "output.v", &nv); va_ref = fix_f32(&io, "output.v_aux", &nv);
    CHECK(x && t && y && v_ref && va_ref, "fixture tensors");
    CHECK(ig_arena_init(&scratch, "scratch", ig_model_scratch_bytes(&cfg, nt, 0)) == 0 && ig_ctx_init(&ctx, &scratch, 0) == 0, "init");
    CHECK(ig_ctx_reset(&ctx, 0) == 0, "reset");
    shape[0] = nt; shape[1] = 4; shape[2] = 4; shape[3] = 4;
    xt = ig_tensor_new(&scratch, 4, shape, 0);
    memcpy(xt->data, x, nx * sizeof(float));
    CHECK(ig_forward(&m, &ctx, xt, t, y, &v, &va) == 0, "%s", ig_last_error());
    CHECK(fix_rel(v->data, v_ref, nv) < 1e-4 && fix_rel(va->data, va_ref, nv) < 1e-4, "v %.3g, v_aux %.3g relative",
          fix_rel(v->data, v_ref, nv), fix_rel(va->data, va_ref, nv));
    printf("     from .pt: v %.2g, v_aux %.2g relative\n", fix_rel(v->data, v_ref, nv), fix_rel(va->data, va_ref, nv));
    free(x); free(t); free(y); free(v_ref); free(va_ref);
    ig_st_close(&io);
    ig_arena_free(&scratch);
    ig_model_free(&m);
    remove(out);
    return 0;
}

const test_case ldit_tests[] = {
    { "ldit_config_from_file", t_ldit_config_from_file },
    { "ldit_parity_forward_and_grads", t_ldit_parity_forward_grads },
    { "ldit_parity_train_step_cos", t_ldit_train_step },
    { "ldit_parity_sampler_heun2_ig_cfg", t_ldit_sampler },
    { "ldit_velocity_sit_convention", t_ldit_velocity_wrapper },
    { "ldit_checkpoint_names_rope_check", t_ldit_checkpoint_names },
    { "ldit_release_pt_converts_and_matches", t_ldit_pt_converts },
    { "ldit_init_as_released", t_ldit_init },
    { "ldit_scratch_bytes_exact", t_ldit_scratch_bytes },
    { "inference_scratch_bytes_exact_per_block", t_inference_scratch_bytes },
    { "ldit_threads_bit_identical_loss_falls", t_ldit_threads_and_training },
};
const int ldit_ntests = sizeof ldit_tests / sizeof ldit_tests[0];
