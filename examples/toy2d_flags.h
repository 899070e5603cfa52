/* toy2d_flags.h - the command line of examples/toy2d.c (included once by it,
   after the options and their defaults; not a general header).

   Every numeric flag goes through cli.h with a range; --tdist is an enum;
   flags that mean nothing in a mode (--load trains nothing, --sweep has its
   own guidance settings) are errors; the model configurations are checked
   here, so a bad value fails before anything is trained or written. */
#ifndef TOY2D_FLAGS_H
#define TOY2D_FLAGS_H

static void toy_usage(FILE *f) {
    fprintf(f,
        "usage: toy2d [--out DIR] [--quick] [options]       the full comparison\n"
        "       toy2d --sweep [--k K | --sweep-k LIST] [options]   train, then sweep the guidance\n"
        "       toy2d --sweep --load FILE [--samples N] [--nsteps N]   sweep a saved model\n"
        "  --out DIR        output directory (default out/toy2d)\n"
        "  --quick          tiny models and budgets (the tests; a few seconds)\n"
        "  --sweep          sweep IG weight x interval, CFG and IG + CFG; prints a table\n"
        "  --sweep-k LIST   the same sweep for one model per head depth, e.g. 1,2,3\n"
        "  --load FILE      with --sweep: sweep a saved model (DIR/model_ema.safetensors);\n"
        "                   its configuration comes from the file\n"
        "  --only-ig        sample only truth, none and IG (for quick experiments)\n"
        "  --quiet          no progress lines and no table on the terminal\n"
        "  --fm             plain flow-matching targets (default: exact velocity)\n"
        "  model: --width D --depth L --heads H --k K --tscale S --steps N --batch B\n"
        "         --lr LR --lrref R --ema D --lambda A --clip C (0: off) --seed S\n"
        "  weak guide: --weak-width D --weak-depth L --weak-steps N\n"
        "  --base-steps N   budget of the lambda = 0 baseline (speed panel)\n"
        "  --short-steps N  the short budget of the speed panel (<= --steps, --base-steps)\n"
        "  --no-baseline    skip the baseline (no speed panel)\n"
        "  --tdist uniform|edm  --pmean M --pstd S   training t distribution\n"
        "  --tgroups G      distinct t per step for the exact targets (<= batch)\n"
        "  --samples N --nsteps N   samples per method (16..%d), Heun steps (2..%d)\n"
        "  --ig W --ig-low T --ig-high T --cfg W --cfg-low T --cfg-high T\n"
        "  --igcfg-ig W --igcfg-cfg W --igcfg-low T --igcfg-high T   IG + CFG (CFG interval)\n"
        "  --ag W           autoguidance weight (1: off)\n", TOY_MAX_SAMPLES, TOY_MAX_NSTEPS);
}

/* One numeric flag: where it goes, its range, and when it means something.
   scope 'm': the model and its training (meaningless with --load, which
   reads a trained model); 'r': the full run only (meaningless with --sweep,
   which uses its own guidance settings); 'a': always. */
typedef struct toy_flag {
    const char *name;
    char kind;                     /* 'i' int, 'z' size_t, 'u' uint64, 'f' float */
    void *field;
    double lo, hi;
    char scope;
} toy_flag;

/* --sweep-k 1,2,3: each depth an integer (the config check bounds it by --depth). */
static int toy_parse_k_list(toy_opts *o, const char *s) {
    char item[32];
    long long k;
    o->nsweep_k = 0;
    for (;;) {
        size_t len = strcspn(s, ",");
        if (o->nsweep_k == TOY_MAX_SWEEP_K || len >= sizeof item) {
            fprintf(stderr, "toy2d: --sweep-k: at most %d depths, e.g. 1,2,3\n", TOY_MAX_SWEEP_K);
            return -1;
        }
        memcpy(item, s, len);
        item[len] = '\0';
        if (cli_int("toy2d", "--sweep-k", item, 1, 63, &k)) return -1;
        o->sweep_k[o->nsweep_k++] = (int)k;
        if (!s[len]) return 0;
        s += len + 1;
    }
}

/* Fills o from the defaults and argv.  Returns 0 to run, 1 after --help,
   -1 (with a message on stderr) for anything wrong: every check that can
   fail runs here, before anything is trained or written. */
static int toy_parse(toy_opts *o, int argc, char **argv) {
    static const char *const tdists[] = { "uniform", "edm", NULL };
    toy_model_opts *mm = &o->main_m;
    const char *model_flag = NULL, *run_flag = NULL;   /* the first one given of each scope */
    int i, ag_given = 0, short_given = 0;
    toy_defaults(o);
    for (i = 1; i < argc; i++)         /* --quick first: later options override it */
        if (!strcmp(argv[i], "--quick")) toy_quick(o);
    for (i = 1; i < argc; i++) {
        toy_flag flags[] = {
            { "--width", 'i', &mm->width, 4, 4096, 'm' },        { "--depth", 'i', &mm->depth, 2, 64, 'm' },
            { "--heads", 'i', &mm->heads, 1, 4096, 'm' },        { "--k", 'i', &mm->k, 1, 63, 'm' },
            { "--tscale", 'f', &mm->t_scale, 1e-6, 1e6, 'm' },   { "--steps", 'i', &mm->steps, 1, 1e7, 'm' },
            { "--batch", 'i', &mm->batch, 2, 65536, 'm' },       { "--lr", 'f', &mm->lr, 0, 10, 'm' },
            { "--lrref", 'f', &mm->lr_ref, 1e-3, 1e9, 'm' },     { "--ema", 'f', &mm->ema, 0, 1, 'm' },
            { "--lambda", 'f', &mm->lambda, 0, 100, 'm' },       { "--clip", 'f', &mm->clip, 0, 1e6, 'm' },
            { "--seed", 'u', &mm->seed, 0, 9007199254740992.0, 'm' },
            { "--pmean", 'f', &o->p_mean, -10, 10, 'm' },        { "--pstd", 'f', &o->p_std, 0, 10, 'm' },
            { "--tgroups", 'i', &o->tgroups, 1, 1024, 'm' },
            { "--weak-width", 'i', &o->weak_m.width, 4, 4096, 'r' },
            { "--weak-depth", 'i', &o->weak_m.depth, 2, 64, 'r' },
            { "--weak-steps", 'i', &o->weak_m.steps, 1, 1e7, 'r' },
            { "--base-steps", 'i', &o->base_steps, 1, 1e7, 'r' }, { "--short-steps", 'i', &o->short_steps, 1, 1e7, 'r' },
            { "--samples", 'z', &o->nsamples, 16, TOY_MAX_SAMPLES, 'a' },
            { "--nsteps", 'i', &o->nsteps, 2, TOY_MAX_NSTEPS, 'a' },
            { "--ig", 'f', &o->ig_w, 0, 100, 'r' },              { "--ig-low", 'f', &o->ig_low, 0, 1, 'r' },
            { "--ig-high", 'f', &o->ig_high, 0, 1, 'r' },        { "--cfg", 'f', &o->cfg_w, 0, 100, 'r' },
            { "--cfg-low", 'f', &o->cfg_low, 0, 1, 'r' },        { "--cfg-high", 'f', &o->cfg_high, 0, 1, 'r' },
            { "--igcfg-ig", 'f', &o->ig_cfg_ig, 0, 100, 'r' },   { "--igcfg-cfg", 'f', &o->ig_cfg_cfg, 0, 100, 'r' },
            { "--igcfg-low", 'f', &o->ig_cfg_low, 0, 1, 'r' },   { "--igcfg-high", 'f', &o->ig_cfg_high, 0, 1, 'r' },
            { "--ag", 'f', &o->ag_w, 0, 100, 'r' },
        };
        const char *a = argv[i], *v;
        const toy_flag *f = NULL;
        size_t j;
        long long n;
        double d;
        int c;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { toy_usage(stdout); return 1; }
        if (!strcmp(a, "--quick")) continue;
        if (!strcmp(a, "--sweep")) { o->sweep = 1; continue; }
        if (!strcmp(a, "--fm")) { o->fm = 1; if (!model_flag) model_flag = a; continue; }
        if (!strcmp(a, "--no-baseline")) { o->no_baseline = 1; if (!run_flag) run_flag = a; continue; }
        if (!strcmp(a, "--only-ig")) { o->only_ig = 1; if (!run_flag) run_flag = a; continue; }
        if (!strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        for (j = 0; j < sizeof flags / sizeof flags[0]; j++)
            if (!strcmp(a, flags[j].name)) f = &flags[j];
        if (!f && strcmp(a, "--out") && strcmp(a, "--load") && strcmp(a, "--sweep-k") && strcmp(a, "--tdist")) {
            fprintf(stderr, "toy2d: unknown option '%s' (--help lists them)\n", a);
            return -1;
        }
        if (!(v = cli_value("toy2d", argc, argv, &i))) return -1;
        if (!strcmp(a, "--out")) {
            if (!*v || strlen(v) > 1000) { fprintf(stderr, "toy2d: --out needs a directory name of 1..1000 characters\n"); return -1; }
            o->out = v;
            if (!run_flag) run_flag = a;
        } else if (!strcmp(a, "--load")) {
            o->load = v;
        } else if (!strcmp(a, "--sweep-k")) {
            if (toy_parse_k_list(o, v)) return -1;
            o->sweep = 1;
            if (!model_flag) model_flag = a;
        } else if (!strcmp(a, "--tdist")) {
            if (cli_choice("toy2d", a, v, tdists, &c)) return -1;
            o->tdist = c;
            if (!model_flag) model_flag = a;
        } else {
            if (f->kind == 'f') {
                if (cli_num("toy2d", a, v, f->lo, f->hi, &d)) return -1;
                *(float *)f->field = (float)d;
            } else {
                if (cli_int("toy2d", a, v, (long long)f->lo, (long long)f->hi, &n)) return -1;
                if (f->kind == 'i') *(int *)f->field = (int)n;
                else if (f->kind == 'z') *(size_t *)f->field = (size_t)n;
                else *(uint64_t *)f->field = (uint64_t)n;
            }
            if (f->scope == 'm' && !model_flag) model_flag = a;
            if (f->scope == 'r' && !run_flag) run_flag = a;
            ag_given |= !strcmp(a, "--ag");
            short_given |= !strcmp(a, "--short-steps");
        }
    }

    /* flags that need (or exclude) another flag */
    if (o->load && !o->sweep) {
        fprintf(stderr, "toy2d: --load FILE needs --sweep (it sweeps a saved model; the full run trains its own)\n");
        return -1;
    }
    if (o->load && model_flag) {
        fprintf(stderr, "toy2d: %s has no effect with --load (the model and its configuration come from %s)\n",
                model_flag, o->load);
        return -1;
    }
    if (o->sweep && run_flag) {
        fprintf(stderr, "toy2d: %s has no effect with --sweep (the sweep has its own guidance settings and "
                        "prints its table on stdout)\n", run_flag);
        return -1;
    }
    if (!(o->ig_low < o->ig_high) || !(o->cfg_low < o->cfg_high) || !(o->ig_cfg_low < o->ig_cfg_high)) {
        fprintf(stderr, "toy2d: every interval needs low < high (IG [%g, %g], CFG [%g, %g], IG + CFG's CFG [%g, %g])\n",
                o->ig_low, o->ig_high, o->cfg_low, o->cfg_high, o->ig_cfg_low, o->ig_cfg_high);
        return -1;
    }
    if (o->only_ig) { o->no_baseline = 1; if (!ag_given) o->ag_w = 1.0f; }

    /* the weak guide and the baseline share everything but size and budget */
    {
        toy_model_opts w = o->main_m;
        w.width = o->weak_m.width; w.depth = o->weak_m.depth; w.steps = o->weak_m.steps;
        w.heads = o->weak_m.width % o->main_m.heads ? 1 : o->main_m.heads;
        w.batch = o->weak_m.batch ? o->weak_m.batch : o->main_m.batch;
        w.k = 1; w.seed = o->main_m.seed + 101;
        o->weak_m = w;
        o->base_m = o->main_m;                 /* same init and data as the IG model */
        o->base_m.lambda = 0.0f; o->base_m.steps = o->base_steps;
    }
    if (o->tgroups > o->main_m.batch || o->tgroups > o->weak_m.batch) {
        fprintf(stderr, "toy2d: --tgroups %d is more than the batch (%d): each t group needs a sample\n",
                o->tgroups, o->tgroups > o->main_m.batch ? o->main_m.batch : o->weak_m.batch);
        return -1;
    }
    {   /* the speed panel snapshots both models after short_steps */
        int longest = o->no_baseline || o->base_steps > o->main_m.steps ? o->main_m.steps : o->base_steps;
        if (o->short_steps > longest) {
            if (short_given) {
                fprintf(stderr, "toy2d: --short-steps %d is longer than the training (%d steps)\n", o->short_steps, longest);
                return -1;
            }
            o->short_steps = longest;
        }
    }
    /* the model configurations, checked now rather than after training */
    if (!o->load) {
        int k, nk = o->nsweep_k ? o->nsweep_k : 1;
        for (k = 0; k < nk; k++) {
            toy_model_opts mo = o->main_m;
            ig_config cfg;
            if (o->nsweep_k) mo.k = o->sweep_k[k];
            cfg = toy_config(&mo);
            if (ig_config_check(&cfg)) { fprintf(stderr, "toy2d: the IG model: %s\n", ig_last_error()); return -1; }
        }
        if (!o->sweep && o->ag_w != 1.0f) {
            ig_config cfg = toy_config(&o->weak_m);
            if (ig_config_check(&cfg)) { fprintf(stderr, "toy2d: the weak guide: %s\n", ig_last_error()); return -1; }
        }
    }
    return 0;
}

#endif /* TOY2D_FLAGS_H */
