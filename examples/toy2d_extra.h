/* toy2d_extra.h - the two side experiments of examples/toy2d.c (included
   once by it, after the experiment's helpers; not a general header).

     toy_speed_jobs    the training-speed figure's samplers: the lambda = 0
                       baseline after a short and a long budget, the IG model
                       after the short one (the IG paper's second toy figure)
     toy_sweep         --sweep: IG weight x interval, CFG and IG + CFG on one
                       model per head depth (--sweep-k), or on a saved model
                       (--load); prints its table on stdout */
#ifndef TOY2D_EXTRA_H
#define TOY2D_EXTRA_H

/* The speed panel's three samplers, appended to the jobs (samples into
   x[0..2]): the baseline after the short and the long budget, the IG model
   after the short one.  Every model here has the IG model's configuration,
   so the IG model's sampling scratch fits. */
static void toy_speed_jobs(toy_run *r, toy_job *jobs, int *nj, float *const *x) {
    const toy_opts *o = &r->o;
    struct { const char *name; ig_model *m; int steps, ig; } p[3] = {
        { "none_short", NULL, 0, 0 },
        { "none_long", NULL, 0, 0 },
        { "ig_short", NULL, 0, 1 },
    };
    char title[64], name[32];
    int i;
    p[0].m = &r->base_short; p[1].m = &r->base; p[2].m = &r->ig_short;
    p[0].steps = o->short_steps; p[1].steps = o->base_steps; p[2].steps = o->short_steps;
    for (i = 0; i < 3; i++) {
        ig_guidance g = ig_guidance_none();
        if (p[i].ig) { g.ig_weight = o->ig_w; g.ig_low = o->ig_low; g.ig_high = o->ig_high; }
        snprintf(name, sizeof name, "speed_%s", p[i].name);
        snprintf(title, sizeof title, "%s, %d steps", p[i].ig ? "IG" : "no guidance", p[i].steps);
        toy_job_add(jobs, nj, TOY_JOB_MODEL, name, p[i].name, title, p[i].m, g, x[i]);
    }
}

/* The sweep of one model m (EMA weights) from the shared noise: IG weight x
   interval, then CFG alone and IG + CFG. */
static int toy_sweep_model(ig_model *m, toy_sctx *sc, const toy_opts *o, toy_mixture *mix,
                           const float *noise, float *x, size_t n, const float *grid) {
    static const float ws[] = { 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f };
    static const float iv[][2] = { { 0.0f, 1.0f }, { 0.0f, 0.3f }, { 0.0f, 0.1f }, { 0.3f, 1.0f }, { 0.1f, 1.0f } };
    static const float cs[][4] = {   /* (IG weight, CFG weight, CFG interval); IG on [0, 1] */
        { 1, 1.5f, 0, 1 }, { 1, 2, 0, 1 }, { 1, 3, 0, 1 }, { 1, 2, 0, 0.3f },
        { 3, 1.25f, 0, 1 }, { 3, 1.5f, 0, 1 }, { 3, 1.5f, 0, 0.3f }, { 3, 2, 0, 0.3f },
        { 2, 1.5f, 0, 0.3f }, { 4, 1.5f, 0, 0.3f },
    };
    char method[32];
    size_t wi, ii;
    toy_row row;
    snprintf(method, sizeof method, "ig_k%d", m->cfg.aux_depth);
    for (ii = 0; ii < sizeof iv / sizeof iv[0]; ii++)
        for (wi = 0; wi < sizeof ws / sizeof ws[0]; wi++) {
            ig_guidance g = ig_guidance_none();
            if (ws[wi] == 1.0f && ii > 0) continue;     /* w = 1 is no guidance on any interval */
            g.ig_weight = ws[wi]; g.ig_low = iv[ii][0]; g.ig_high = iv[ii][1];
            if (toy_sample_model(m, sc, NULL, g, noise, x, n, grid, o->nsteps)) return -1;
            toy_row_set(&row, method, &g, mix, x, n);
            toy_print_row(stdout, &row);
            fflush(stdout);
        }
    for (wi = 0; wi < sizeof cs / sizeof cs[0]; wi++) {
        ig_guidance g = ig_guidance_none();
        g.ig_weight = cs[wi][0];
        g.cfg_scale = cs[wi][1]; g.cfg_low = cs[wi][2]; g.cfg_high = cs[wi][3];
        if (toy_sample_model(m, sc, NULL, g, noise, x, n, grid, o->nsteps)) return -1;
        toy_row_set(&row, cs[wi][0] != 1.0f ? "ig_cfg" : "cfg", &g, mix, x, n);
        toy_print_row(stdout, &row);
        fflush(stdout);
    }
    return 0;
}

/* --sweep: one model per head depth of --sweep-k (or the one of --k),
   trained here, or the saved model of --load (configuration from its file). */
static int toy_sweep(const toy_opts *o) {
    toy_mixture *mix = toy_mixture_new();
    size_t n = o->nsamples;
    float grid[TOY_MAX_NSTEPS + 1];
    float *noise = (float *)malloc(2 * n * sizeof(float)), *x = (float *)malloc(2 * n * sizeof(float));
    int ki, nk = o->nsweep_k ? o->nsweep_k : 1, rc = -1;
    ig_model m;
    toy_sctx sc;
    ig_rng rng;
    memset(&m, 0, sizeof m);
    memset(&sc, 0, sizeof sc);
    if (!mix || !noise || !x) { fprintf(stderr, "toy2d: out of memory for %zu samples\n", n); goto done; }
    toy_grid_edm(grid, o->nsteps);
    ig_rng_seed(&rng, 4242);                         /* the noise of the main run */
    toy_noise(&rng, noise, 2 * n, grid[0]);
    for (ki = 0; ki < nk; ki++) {
        toy_model_opts mo = o->main_m;
        ig_config cfg;
        char name[32];
        if (o->nsweep_k) mo.k = o->sweep_k[ki];
        cfg = toy_config(&mo);
        snprintf(name, sizeof name, "IG k=%d", mo.k);
        if (o->load) {
            if (ig_config_from_file(&cfg, o->load, 0, 0) || ig_model_init(&m, &cfg, 0, 0) || ig_load(&m, o->load, 1)) {
                fprintf(stderr, "toy2d: %s\n", ig_last_error());
                goto done;
            }
        } else {
            if (ig_model_init(&m, &cfg, 1, mo.seed)) { fprintf(stderr, "toy2d: %s\n", ig_last_error()); goto done; }
            if (toy_train(&m, &mo, o, mix, name, 0, NULL)) goto done;
            ig_model_swap_ema(&m);
        }
        if (toy_sctx_init(&sc, &cfg, n)) goto done;
        if (ki == 0) toy_print_header(stdout);
        if (toy_sweep_model(&m, &sc, o, mix, noise, x, n, grid)) goto done;
        ig_arena_free(&sc.arena);
        ig_model_free(&m);
    }
    rc = 0;
done:
    ig_arena_free(&sc.arena);
    ig_model_free(&m);
    free(noise); free(x);
    toy_mixture_free(mix);
    return rc;
}

#endif /* TOY2D_EXTRA_H */
