/* test_toy_example.c - examples/toy2d.c end to end, in --quick mode.

   Runs toy2d_main() (compiled from examples/toy2d.c with TOY2D_NO_MAIN, so the
   runner stays one binary) into a temporary directory, then checks that every
   output file is there: the .npy files with a header a standard reader accepts
   and the right size, the two PNGs, and metrics.tsv with one parseable row per
   method.  IG_IMPLEMENTATION is defined by another test file. */
#define TOY2D_NO_MAIN
#include "../examples/toy2d.c"   /* first: it sets _POSIX_C_SOURCE before any system header */
#include "test.h"
#include "capture.h"
#include "files.h"
#include "threads.h"

static const char *const toyex_methods[] = {
    "truth", "none", "cfg", "ig", "ig_cfg", "autoguidance",
    "speed_none_short", "speed_none_long", "speed_ig_short", "exact_mixture",
};
#define TOYEX_NMETHODS (int)(sizeof toyex_methods / sizeof toyex_methods[0])

/* A float32 (rows, 2) .npy as numpy.load reads it: magic, version 1.0, a
   little-endian header length with 10 + HL a multiple of 64, the dict, a
   trailing newline, then rows * 2 finite floats.  Returns rows, or -1. */
static long toyex_check_npy(const char *path) {
    size_t len, hl;
    unsigned char *b = read_bytes(path, &len);
    long rows = -1, r;
    char want[96];
    if (!b) return -1;
    if (len < 10 || memcmp(b, "\x93NUMPY\x01\x00", 8)) goto done;
    hl = b[8] | (size_t)b[9] << 8;
    if ((10 + hl) % 64 || 10 + hl > len || b[9 + hl] != '\n') goto done;
    if (sscanf((const char *)b + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (%ld, 2), }", &r) != 1) goto done;
    snprintf(want, sizeof want, "{'descr': '<f4', 'fortran_order': False, 'shape': (%ld, 2), }", r);
    if (memcmp(b + 10, want, strlen(want))) goto done;
    if (len != 10 + hl + (size_t)r * 8) goto done;
    {
        size_t i;
        for (i = 0; i < (size_t)r * 2; i++) {
            float v;
            memcpy(&v, b + 10 + hl + 4 * i, 4);   /* the test machine is little-endian */
            if (!isfinite(v)) goto done;
        }
    }
    rows = r;
done:
    free(b);
    return rows;
}

static int toyex_check_png(const char *path) {
    size_t len;
    unsigned char *b = read_bytes(path, &len);
    int ok = b && len > 33 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8) && !memcmp(b + 12, "IHDR", 4);
    free(b);
    return ok;
}

static int test_toy_example_quick(void) {
    char dir[] = "/tmp/test_toy2d_XXXXXX", path[256], line[512];
    char *argv[5];
    int i, found[TOYEX_NMETHODS], rc;
    FILE *f;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    argv[0] = (char *)"toy2d"; argv[1] = (char *)"--quick"; argv[2] = (char *)"--out"; argv[3] = dir;
    argv[4] = (char *)"--quiet";
    rc = toy2d_main(5, argv);
    CHECK(rc == 0, "toy2d_main --quick returned %d", rc);

    for (i = 0; i < TOYEX_NMETHODS; i++) {
        long rows;
        if (!strcmp(toyex_methods[i], "exact_mixture")) continue;   /* a table row only */
        snprintf(path, sizeof path, "%s/samples_%s.npy", dir, toyex_methods[i]);
        rows = toyex_check_npy(path);
        CHECK(rows == 1024, "%s: %ld rows (want 1024, a valid float32 (N,2) .npy)", path, rows);
        remove(path);
    }
    snprintf(path, sizeof path, "%s/toy2d.png", dir);
    CHECK(toyex_check_png(path), "%s is not a PNG", path);
    remove(path);
    snprintf(path, sizeof path, "%s/speed.png", dir);
    CHECK(toyex_check_png(path), "%s is not a PNG", path);
    remove(path);
    snprintf(path, sizeof path, "%s/model_ema.safetensors", dir);   /* the IG model, for --sweep --load */
    {
        ig_model mm;
        ig_config cfg;
        toy_opts qo;
        CHECK(toy_parse(&qo, 2, argv) == 0, "parse --quick");
        cfg = toy_config(&qo.main_m);
        CHECK(ig_model_init(&mm, &cfg, 0, 1) == 0, "%s", ig_last_error());
        rc = ig_load(&mm, path, 1);
        ig_model_free(&mm);
        CHECK(rc == 0, "cannot load %s: %s", path, ig_last_error());
    }
    {   /* --sweep --load: the saved model swept, its configuration read from the file */
        static char out[16384];
        char *sargv[9];
        const char *p;
        int nrow = 0;
        sargv[0] = (char *)"toy2d"; sargv[1] = (char *)"--sweep"; sargv[2] = (char *)"--load"; sargv[3] = path;
        sargv[4] = (char *)"--samples"; sargv[5] = (char *)"16"; sargv[6] = (char *)"--nsteps"; sargv[7] = (char *)"2";
        sargv[8] = NULL;
        rc = capture_output(1, toy2d_main, 8, sargv, out, sizeof out);
        CHECK(rc == 0, "toy2d --sweep --load %s returned %d", path, rc);
        for (p = out; (p = strstr(p, "\nig_k1\t16\t")) != NULL; p++) nrow++;
        CHECK(nrow == 26, "the sweep printed %d IG rows (want 26):\n%s", nrow, out);
    }
    remove(path);

    /* metrics.tsv: the header, then one row per method with numbers in range */
    snprintf(path, sizeof path, "%s/metrics.tsv", dir);
    f = fopen(path, "r");
    CHECK(f != NULL, "no %s", path);
    memset(found, 0, sizeof found);
    CHECK(fgets(line, sizeof line, f) != NULL, "empty metrics.tsv");
    CHECK(!strcmp(line, "method\tn\tmean_logp\toutlier_rate\tbranch_tv\tleaf_coverage\tweight\tinterval\n"),
          "header '%s'", line);
    while (fgets(line, sizeof line, f)) {
        char name[64];
        unsigned long n;
        double lp, out, tv, cov;
        int fields = sscanf(line, "%63[^\t]\t%lu\t%lf\t%lf\t%lf\t%lf\t", name, &n, &lp, &out, &tv, &cov);
        if (fields != 6) { fclose(f); CHECK(0, "unparseable row '%s'", line); }
        if (!(n == 1024 && isfinite(lp) && out >= 0 && out <= 1 && tv >= 0 && tv <= 1 && cov >= 0 && cov <= 1)) {
            fclose(f);
            CHECK(0, "row out of range '%s'", line);
        }
        for (i = 0; i < TOYEX_NMETHODS; i++)
            if (!strcmp(name, toyex_methods[i])) found[i]++;
        /* the exact sampler and exact samples must score like the ground truth */
        if ((!strcmp(name, "truth") || !strcmp(name, "exact_mixture")) && !(out < 0.05 && lp > 1.0)) {
            fclose(f);
            CHECK(0, "%s scores like no ground truth: '%s'", name, line);
        }
    }
    fclose(f);
    remove(path);
    for (i = 0; i < TOYEX_NMETHODS; i++) CHECK(found[i] == 1, "metrics.tsv has %d rows for %s", found[i], toyex_methods[i]);
    CHECK(rmdir(dir) == 0, "%s holds unexpected files", dir);
    return 0;
}

/* Runs toy2d --quick [--out DIR] ARGS...; expects exit status 2, a message
   on stderr that contains want, and nothing trained or written: DIR (a path
   that does not exist yet) must still not exist.  --quick bounds the damage
   if a check is missing.  The sweep takes no --out: with_out = 0. */
static int toyex_expect_error(const char *want, int with_out, const char *const *args) {
    char dir[] = "/tmp/test_toy2d_XXXXXX", msg[2048], *argv[32];
    int argc = 0, rc;
    struct stat sb;
    CHECK(mkdtemp(dir) != NULL && rmdir(dir) == 0, "no temporary name");
    argv[argc++] = (char *)"toy2d";
    argv[argc++] = (char *)"--quick";
    if (with_out) { argv[argc++] = (char *)"--out"; argv[argc++] = dir; }
    while (*args && argc < 31) argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    rc = capture_stderr(toy2d_main, argc, argv, msg, sizeof msg);
    CHECK(rc == 2, "toy2d %s ...: exit status %d (want 2); stderr: %s", argv[argc - 1], rc, msg);
    CHECK(strstr(msg, want) != NULL, "the message does not say '%s': %s", want, msg);
    CHECK(strchr(msg, '\n') == strrchr(msg, '\n'), "want one line, got: %s", msg);
    CHECK(stat(dir, &sb) != 0, "%s was created: the run started before failing", dir);
    return 0;
}

/* Bad options fail cleanly instead of running. */
static int test_toy_example_bad_option(void) {
    static const char *const a[] = { "--no-such-option", NULL };
    return toyex_expect_error("unknown option '--no-such-option'", 1, a);
}

/* Issue 12 item 7, one test per problem. */
static int test_toy_example_heads_zero(void) {            /* divided by zero */
    static const char *const a[] = { "--heads", "0", NULL };
    return toyex_expect_error("--heads: 0 is out of range", 1, a);
}
static int test_toy_example_samples_overflow(void) {      /* 2^61 x 8 bytes wrapped around */
    static const char *const a[] = { "--samples", "2305843009213693952", NULL };
    return toyex_expect_error("--samples: 2305843009213693952 is out of range", 1, a);
}
static int test_toy_example_samples_negative(void) {      /* trained, then exit 1, silent */
    static const char *const a[] = { "--samples", "-1", NULL };
    return toyex_expect_error("--samples: -1 is out of range", 1, a);
}
static int test_toy_example_load_needs_sweep(void) {      /* silently ignored */
    static const char *const a[] = { "--load", "model_ema.safetensors", NULL };
    return toyex_expect_error("--load FILE needs --sweep", 1, a);
}
static int test_toy_example_lr_not_a_number(void) {       /* silently 0 */
    static const char *const a[] = { "--lr", "abc", NULL };
    return toyex_expect_error("--lr: 'abc' is not a number", 1, a);
}
static int test_toy_example_tdist_unknown(void) {         /* silently uniform */
    static const char *const a[] = { "--tdist", "foo", NULL };
    return toyex_expect_error("'foo' is not one of: uniform edm", 1, a);
}
static int test_toy_example_steps_zero(void) {            /* an unrelated message */
    static const char *const a[] = { "--steps", "0", NULL };
    return toyex_expect_error("--steps: 0 is out of range", 1, a);
}

/* The other checks of the parser: ranges that depend on another flag,
   flags that exclude each other, malformed lists. */
static int test_toy_example_flag_checks(void) {
    static const struct { const char *want; int with_out; const char *args[8]; } cases[] = {
        { "not divisible by num_heads 3", 1, { "--heads", "3" } },
        { "aux_depth < depth", 1, { "--k", "2" } },                 /* --quick has depth 2 */
        { "multiple of 4", 1, { "--width", "30" } },
        { "the weak guide", 1, { "--weak-depth", "2", "--weak-width", "6" } },
        { "low < high", 1, { "--ig-low", "0.5", "--ig-high", "0.3" } },
        { "--cfg-high: 1.5 is out of range", 1, { "--cfg-high", "1.5" } },
        { "--nsteps: 5000 is out of range", 1, { "--nsteps", "5000" } },
        { "--tgroups 300 is more than the batch", 1, { "--tgroups", "300" } },
        { "--short-steps 200 is longer", 1, { "--short-steps", "200" } },
        { "--seed: '1x' is not an integer", 1, { "--seed", "1x" } },
        { "--ema: nan is out of range", 1, { "--ema", "nan" } },
        { "--lr needs a value", 1, { "--lr" } },
        { "unknown option '--lr=1'", 1, { "--lr=1" } },
        { "--ig has no effect with --sweep", 0, { "--sweep", "--ig", "2" } },
        { "--out has no effect with --sweep", 0, { "--sweep", "--out", "x" } },
        { "--width has no effect with --load", 0, { "--sweep", "--load", "m.safetensors", "--width", "32" } },
        { "--sweep-k has no effect with --load", 0, { "--sweep", "--load", "m.safetensors", "--sweep-k", "1,2" } },
        { "--sweep-k: 'x' is not an integer", 0, { "--sweep-k", "1,x" } },
        { "--sweep-k needs an integer", 0, { "--sweep-k", "1,,2" } },
        { "aux_depth < depth (got aux_depth 3", 0, { "--sweep-k", "1,3" } },
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (toyex_expect_error(cases[i].want, cases[i].with_out, cases[i].args)) {
            fprintf(stderr, "    (case %zu)\n", i);
            return 1;
        }
    return 0;
}

/* --- the toy's speed changes keep every bit --------------------------------
   make toy trains its models in two lanes side by side and samples its ten
   samplers as jobs on two threads; with one thread it does all of it one
   after another.  Both must write the same files, byte for byte: the models,
   every sampler's samples, the table and the figures.  --samples 4100 makes
   toy_sample_model take two chunks (2048 and 2052). */
static const char *const toyex_files[] = {
    "model_ema.safetensors", "metrics.tsv", "toy2d.png", "speed.png", "samples_truth.npy",
    "samples_none.npy", "samples_cfg.npy", "samples_ig.npy", "samples_ig_cfg.npy",
    "samples_autoguidance.npy", "samples_speed_none_short.npy", "samples_speed_none_long.npy",
    "samples_speed_ig_short.npy",
};
#define TOYEX_NFILES (int)(sizeof toyex_files / sizeof toyex_files[0])

static int toyex_run_threads(int threads, char *dir) {
    char *argv[8];
    int rc;
    if (!mkdtemp(dir)) return -1;
    argv[0] = (char *)"toy2d"; argv[1] = (char *)"--quick"; argv[2] = (char *)"--out"; argv[3] = dir;
    argv[4] = (char *)"--quiet"; argv[5] = (char *)"--samples"; argv[6] = (char *)"4100"; argv[7] = NULL;
    thr_set(threads);
    rc = toy2d_main(7, argv);
    thr_set(2);
    return rc;
}

static int test_toy_example_lanes_same_files(void) {
    char d1[] = "/tmp/test_toy2d_XXXXXX", d2[] = "/tmp/test_toy2d_XXXXXX", p1[256], p2[256];
    int i, bad = -1;
    CHECK(toyex_run_threads(1, d1) == 0 && toyex_run_threads(2, d2) == 0, "toy2d --quick failed");
    for (i = 0; i < TOYEX_NFILES; i++) {
        size_t n1 = 0, n2 = 0;
        unsigned char *b1, *b2;
        snprintf(p1, sizeof p1, "%s/%s", d1, toyex_files[i]);
        snprintf(p2, sizeof p2, "%s/%s", d2, toyex_files[i]);
        b1 = read_bytes(p1, &n1); b2 = read_bytes(p2, &n2);
        if (bad < 0 && (!b1 || !b2 || n1 != n2 || memcmp(b1, b2, n1))) bad = i;
        free(b1); free(b2);
        remove(p1); remove(p2);
    }
    rmdir(d1); rmdir(d2);
    CHECK(bad < 0, "%s differs between 1 thread (one training after another) and 2 (two lanes)",
          toyex_files[bad]);
    return 0;
}

/* toy_sample_model's chunks against one batch of all n points: the same bits,
   for IG + CFG on the IG model's configuration, and for autoguidance with the
   weak guide's (D 32) */
static int toyex_chunks_same_bits(const toy_model_opts *mo, const toy_model_opts *guide) {
    ig_config cfg = toy_config(mo), gcfg = toy_config(guide ? guide : mo);
    ig_model m, gm;
    toy_sctx sc, gsc;
    ig_guided S;
    ig_guidance g = ig_guidance_none();
    ig_arena a, ga;
    ig_ctx ctx, gctx;
    ig_rng r;
    enum { N = 2 * TOY_CHUNK + 5 };
    static float noise[2 * N], x1[2 * N], x2[2 * N];
    static int labels[N];
    float grid[9];
    size_t i;
    CHECK(ig_model_init(&m, &cfg, 0, 3) == 0 && ig_model_init(&gm, &gcfg, 0, 4) == 0, "%s", ig_last_error());
    memset(&sc, 0, sizeof sc); memset(&gsc, 0, sizeof gsc);
    CHECK(toy_sctx_init(&sc, &cfg, N) == 0 && toy_sctx_init(&gsc, &gcfg, N) == 0, "%s", ig_last_error());
    ig_rng_seed(&r, 5);
    for (i = 0; i < m.nweights; i++) m.weights[i] = 0.2f * ig_rng_normal(&r);   /* not the zero heads of init */
    for (i = 0; i < gm.nweights; i++) gm.weights[i] = 0.2f * ig_rng_normal(&r);
    for (i = 0; i < 2 * N; i++) noise[i] = ig_rng_normal(&r);
    toy_grid_edm(grid, 8);
    if (guide) { g.guide = &gm; g.guide_weight = 2.0f; }
    else { g.ig_weight = 3.0f; g.ig_high = 0.5f; g.cfg_scale = 1.5f; }   /* both heads, both halves */
    CHECK(toy_sample_model(&m, &sc, &gsc, g, noise, x1, N, grid, 8) == 0, "chunked sampling failed");
    CHECK(ig_arena_init(&a, "one batch", ig_model_scratch_bytes(&cfg, 2 * N, 0)) == 0 &&
          ig_ctx_init(&ctx, &a, ig_model_tape_nodes(&cfg)) == 0 &&
          ig_arena_init(&ga, "guide", ig_model_scratch_bytes(&gcfg, N, 0)) == 0 &&
          ig_ctx_init(&gctx, &ga, ig_model_tape_nodes(&gcfg)) == 0, "%s", ig_last_error());
    memset(&S, 0, sizeof S);
    S.model = &m; S.ctx = &ctx; S.guide_ctx = &gctx; S.labels = labels; S.batch = N; S.guidance = g;
    memcpy(x2, noise, sizeof x2);
    CHECK(ig_sample_heun(ig_guided_velocity, &S, x2, 2 * N, grid, 8) == 0, "%s", ig_last_error());
    for (i = 0; i < 2 * N && x1[i] == x2[i]; i++) {}
    CHECK(i == 2 * N, "%s: chunks of %d and one batch of %d differ at float %zu: %.9g vs %.9g",
          guide ? "autoguidance" : "IG + CFG", TOY_CHUNK, N, i, (double)x1[i], (double)x2[i]);
    ig_arena_free(&a); ig_arena_free(&ga); ig_arena_free(&sc.arena); ig_arena_free(&gsc.arena);
    ig_model_free(&m); ig_model_free(&gm);
    return 0;
}

static int test_toy_example_chunks_same_bits(void) {
    toy_opts o;
    toy_defaults(&o);
    return toyex_chunks_same_bits(&o.main_m, NULL) || toyex_chunks_same_bits(&o.weak_m, NULL) ||
           toyex_chunks_same_bits(&o.main_m, &o.weak_m);
}

extern const test_case toyex_tests[];
extern const int toyex_ntests;
const test_case toyex_tests[] = {
    { "toy_example_bad_option", test_toy_example_bad_option },
    { "toy_example_heads_zero", test_toy_example_heads_zero },
    { "toy_example_samples_overflow", test_toy_example_samples_overflow },
    { "toy_example_samples_negative", test_toy_example_samples_negative },
    { "toy_example_load_needs_sweep", test_toy_example_load_needs_sweep },
    { "toy_example_lr_not_a_number", test_toy_example_lr_not_a_number },
    { "toy_example_tdist_unknown", test_toy_example_tdist_unknown },
    { "toy_example_steps_zero", test_toy_example_steps_zero },
    { "toy_example_flag_checks", test_toy_example_flag_checks },
    { "toy_example_quick_end_to_end", test_toy_example_quick },
    { "toy_example_lanes_same_files", test_toy_example_lanes_same_files },
    { "toy_example_chunks_same_bits", test_toy_example_chunks_same_bits },
};
const int toyex_ntests = sizeof toyex_tests / sizeof toyex_tests[0];
