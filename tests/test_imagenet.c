/* test_imagenet.c - examples/imagenet.c end to end on a tiny synthetic REPA
   folder made here: train a few steps with checkpoints, resume bit for bit,
   sample with the paper's settings (fewer steps), write the .npy and decode it
   with a small VAE fixture to a PNG; and the flag and data errors.

   Runs imagenet_main() (compiled from examples/imagenet.c with
   IMAGENET_NO_MAIN, so the runner stays one binary).  IG_IMPLEMENTATION is
   defined by another test file. */
#define IMAGENET_NO_MAIN
#include "../examples/imagenet.c"   /* first: it sets _POSIX_C_SOURCE */
#include "test.h"
#include "files.h"
#include "png_read.h"
#include <unistd.h>

#define IMT_N 6                      /* samples in the folder */

/* 1 if both files exist and are byte for byte equal. */
static int imt_same(const char *a, const char *b) {
    size_t la = 0, lb = 0;
    unsigned char *x = read_bytes(a, &la), *y = read_bytes(b, &lb);
    int same = x && y && la == lb && !memcmp(x, y, la);
    free(x); free(y);
    return same;
}

static int imt_run(int argc, const char **argv) {
    char *v[64];
    int i;
    for (i = 0; i < argc; i++) v[i] = (char *)argv[i];
    v[argc] = NULL;
    return imagenet_main(argc, v);
}

/* The folder: ROOT/vae-sd/dataset.json and ROOT/vae-sd/00000/img-mean-std-0000000k.npy,
   each float32 (8, 8, 8): mean (4,8,8) then std (4,8,8) >= 0.  With bad != 0
   the json lists one more file that does not exist. */
static int imt_make_folder(const char *root, int bad) {
    char path[512];
    float a[8 * 8 * 8];
    size_t shape[3] = { 8, 8, 8 }, k;
    int i;
    FILE *f;
    ig_rng r;
    snprintf(path, sizeof path, "%s/vae-sd", root);
    if (mkdir(path, 0777)) return -1;
    snprintf(path, sizeof path, "%s/vae-sd/00000", root);
    if (mkdir(path, 0777)) return -1;
    ig_rng_seed(&r, 77);
    for (i = 0; i < IMT_N; i++) {
        for (k = 0; k < 512; k++) a[k] = k < 256 ? 3.0f * ig_rng_normal(&r) : 0.1f + 0.2f * ig_rng_uniform(&r);
        snprintf(path, sizeof path, "%s/vae-sd/00000/img-mean-std-%08d.npy", root, i);
        if (npy_write(path, NPY_F32, 3, shape, a)) return -1;
    }
    snprintf(path, sizeof path, "%s/vae-sd/dataset.json", root);
    if (!(f = fopen(path, "w"))) return -1;
    fprintf(f, "{\"labels\": [");
    for (i = 0; i < IMT_N + (bad != 0); i++)
        fprintf(f, "%s[\"00000/img-mean-std-%08d.npy\", %d]", i ? ", " : "", i, i % 5);
    fprintf(f, "]}");
    fclose(f);
    return 0;
}

static void imt_remove_folder(const char *root) {
    char path[512];
    int i;
    for (i = 0; i < IMT_N; i++) {
        snprintf(path, sizeof path, "%s/vae-sd/00000/img-mean-std-%08d.npy", root, i);
        remove(path);
    }
    snprintf(path, sizeof path, "%s/vae-sd/00000", root); rmdir(path);
    snprintf(path, sizeof path, "%s/vae-sd/dataset.json", root); remove(path);
    snprintf(path, sizeof path, "%s/vae-sd", root); rmdir(path);
}

static void imt_remove_run(const char *dir) {
    static const char *const files[] = { "ckpt.safetensors", "ema.safetensors", "data.safetensors" };
    char path[512];
    size_t i;
    for (i = 0; i < 3; i++) { snprintf(path, sizeof path, "%s/%s", dir, files[i]); remove(path); }
    rmdir(dir);
}

/* the tiny model: an S/2 cut down to 2 blocks of width 32, head after block 1 */
#define IMT_MODEL "--model", "S/2", "--depth", "2", "--width", "32", "--heads", "2", "--aux-depth", "1", \
                  "--classes", "5", "--batch", "2", "--ckpt-every", "2", "--log-every", "2", "--seed", "3"

static int imt_body(const char *dir) {
    char root[300], a[300], b[300], pa[400], pb[400], z1[400], z2[400], png[400];
    npy_array z;
    size_t k;
    int ok;
    snprintf(root, sizeof root, "%s/data", dir);
    snprintf(a, sizeof a, "%s/runA", dir);
    snprintf(b, sizeof b, "%s/runB", dir);
    snprintf(z1, sizeof z1, "%s/z1.npy", dir);
    snprintf(z2, sizeof z2, "%s/z2.npy", dir);
    snprintf(png, sizeof png, "%s/grid.png", dir);
    CHECK(mkdir(root, 0777) == 0 && imt_make_folder(root, 0) == 0, "cannot make the folder %s", root);
    {   /* A: 5 steps straight (3 epochs of 6 samples at batch 2 cross epoch ends) */
        const char *args[] = { "imagenet", "train", "--data", root, "--out", a, "--steps", "5", IMT_MODEL };
        CHECK(imt_run((int)(sizeof args / sizeof *args), args) == 0, "train A failed");
    }
    {   /* B: 2 steps, stop, then resume to 5 */
        const char *args[] = { "imagenet", "train", "--data", root, "--out", b, "--steps", "2", IMT_MODEL };
        const char *args2[] = { "imagenet", "train", "--data", root, "--out", b, "--steps", "5", "--resume", IMT_MODEL };
        CHECK(imt_run((int)(sizeof args / sizeof *args), args) == 0, "train B failed");
        snprintf(pa, sizeof pa, "%s/ckpt.safetensors", a); snprintf(pb, sizeof pb, "%s/ckpt.safetensors", b);
        CHECK(!imt_same(pa, pb), "after 2 and 5 steps the checkpoints should differ");
        CHECK(imt_run((int)(sizeof args2 / sizeof *args2), args2) == 0, "resume B failed");
    }
    CHECK(imt_same(pa, pb), "resumed run: %s differs from %s (weights, AdamW, EMA, step or RNG)", pb, pa);
    snprintf(pa, sizeof pa, "%s/ema.safetensors", a); snprintf(pb, sizeof pb, "%s/ema.safetensors", b);
    CHECK(imt_same(pa, pb), "resumed run: the EMA files differ");
    snprintf(pa, sizeof pa, "%s/data.safetensors", a); snprintf(pb, sizeof pb, "%s/data.safetensors", b);
    CHECK(imt_same(pa, pb), "resumed run: the data positions differ");
    {   /* resume with another batch size: refused */
        const char *args[] = { "imagenet", "train", "--data", root, "--out", b, "--steps", "6", "--resume", IMT_MODEL,
                               "--batch", "3" };
        CHECK(imt_run((int)(sizeof args / sizeof *args), args) != 0, "resume with another batch was accepted");
    }
    /* sample: the paper's SiT settings at 4 steps, from the EMA file and from the
       training checkpoint (which samples with its EMA): the same latents */
    snprintf(pa, sizeof pa, "%s/ema.safetensors", a);
    snprintf(pb, sizeof pb, "%s/ckpt.safetensors", a);
    {
        const char *args[] = { "imagenet", "sample", "--ckpt", pa, "--out", z1, "--paper", "--steps", "4",
                               "--labels", "1,4,0", "--batch", "2", "--seed", "9",
                               "--vae", "tests/fixtures/vae_ldm.safetensors", "--png", png };
        const char *args2[] = { "imagenet", "sample", "--ckpt", pb, "--out", z2, "--paper", "--steps", "4",
                                "--labels", "1,4,0", "--batch", "2", "--seed", "9" };
        CHECK(imt_run((int)(sizeof args / sizeof *args), args) == 0, "sample failed");
        CHECK(imt_run((int)(sizeof args2 / sizeof *args2), args2) == 0, "sample from the training checkpoint failed");
    }
    CHECK(npy_read(z1, &z) == 0, "%s: %s", z1, npy_error());
    ok = z.dtype == NPY_F32 && z.ndim == 4 && z.shape[0] == 3 && z.shape[1] == 4 && z.shape[2] == 8 && z.shape[3] == 8;
    for (k = 0; ok && k < z.n; k++) ok = isfinite(((float *)z.data)[k]);
    npy_free(&z);
    CHECK(ok, "%s is not float32 (3,4,8,8) and finite", z1);
    CHECK(imt_same(z1, z2), "the EMA file and the training checkpoint sample differently");
    {   /* the PNG: a 2 x 2 grid of (8 f) x (8 f) images, f the decoder's factor, gap 2 */
        size_t len = 0;
        unsigned char *p = read_bytes(png, &len);
        vae_decoder *dec = vae_load("tests/fixtures/vae_ldm.safetensors");
        unsigned side = dec ? (unsigned)(2 + 2 * (8 * dec->factor + 2)) : 0;
        ok = p && len > 24 && !memcmp(p, "\x89PNG", 4) && side && p[16] == 0 && p[17] == 0 &&
             p[18] == (side >> 8) && p[19] == (side & 255) && p[22] == (side >> 8) && p[23] == (side & 255);
        free(p);
        vae_free(dec);
        CHECK(ok, "%s is not a %u x %u PNG", png, side, side);
    }
    /* flag errors: each one refused (non-zero), no crash */
    {
        const char *e1[] = { "imagenet", "train", "--out", a, "--model", "S/2" };                     /* no data */
        const char *e2[] = { "imagenet", "train", "--data", root, "--out", a, "--model", "Q/2" };     /* bad model */
        const char *e3[] = { "imagenet", "train", "--data", root, "--out", a, "--model", "S/2", "--batch", "0" };
        const char *e4[] = { "imagenet", "train", "--data", root, "--out", a, "--model", "S/2", "--lr", "abc" };
        const char *e5[] = { "imagenet", "sample", "--ckpt", pa, "--out", z2, "--labels", "1,5" };   /* 5 classes */
        const char *e6[] = { "imagenet", "sample", "--ckpt", pa, "--out", z2, "--sampler", "rk4" };
        const char *e7[] = { "imagenet", "sample", "--ckpt", pa, "--out", z2, "--png", png };        /* no --vae */
        const char *e8[] = { "imagenet", "sample", "--ckpt", "/nonexistent.safetensors", "--out", z2 };
        const char *e9[] = { "imagenet", "train", "--data", root, "--out", a, "--model", "S/2", "--bogus", "1" };
        const char *e10[] = { "imagenet", "frobnicate" };
        const char *e11[] = { "imagenet", "sample", "--ckpt", pa, "--out", z2, "--labels", "1,,2" };
        CHECK(imt_run(6, e1) != 0, "train without --data");
        CHECK(imt_run(8, e2) != 0, "--model Q/2");
        CHECK(imt_run(10, e3) != 0, "--batch 0");
        CHECK(imt_run(10, e4) != 0, "--lr abc");
        CHECK(imt_run(8, e5) != 0, "label 5 of 5 classes");
        CHECK(imt_run(8, e6) != 0, "--sampler rk4");
        CHECK(imt_run(8, e7) != 0, "--png without --vae");
        CHECK(imt_run(6, e8) != 0, "a missing checkpoint");
        CHECK(imt_run(10, e9) != 0, "an unknown flag");
        CHECK(imt_run(2, e10) != 0, "an unknown command");
        CHECK(imt_run(8, e11) != 0, "an empty label");
    }
    return 0;
}

static int test_imagenet_end_to_end(void) {
    char dir[] = "/tmp/test_imagenet_XXXXXX", path[400];
    int rc;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    rc = imt_body(dir);
    snprintf(path, sizeof path, "%s/data", dir); imt_remove_folder(path); rmdir(path);
    snprintf(path, sizeof path, "%s/runA", dir); imt_remove_run(path);
    snprintf(path, sizeof path, "%s/runB", dir); imt_remove_run(path);
    snprintf(path, sizeof path, "%s/z1.npy", dir); remove(path);
    snprintf(path, sizeof path, "%s/z2.npy", dir); remove(path);
    snprintf(path, sizeof path, "%s/grid.png", dir); remove(path);
    CHECK(rmdir(dir) == 0 || rc, "%s holds unexpected files", dir);
    return rc;
}

/* A dataset.json that lists a missing file: train stops with an error. */
static int test_imagenet_missing_file(void) {
    char dir[] = "/tmp/test_imagenet_XXXXXX", root[300], out[300];
    int rc;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    snprintf(root, sizeof root, "%s/data", dir);
    snprintf(out, sizeof out, "%s/run", dir);
    rc = mkdir(root, 0777) || imt_make_folder(root, 1);
    if (!rc) {
        const char *args[] = { "imagenet", "train", "--data", root, "--out", out, "--steps", "4", IMT_MODEL };
        /* 7 listed, 6 present: the 7th is read within the first 4 steps of batch 2 */
        rc = imt_run((int)(sizeof args / sizeof *args), args) == 0;
    }
    imt_remove_folder(root); rmdir(root);
    imt_remove_run(out);
    rmdir(dir);
    CHECK(!rc, "training on a folder with a missing file did not fail");
    return 0;
}

/* The LightningDiT path of the example: shards + latents_stats in, a tiny
   LightningDiT trained 3 steps (the kind is set by --shards), then sampled with
   the paper's LightningDiT settings.  Checks: the checkpoint is a LightningDiT
   one (its names), --stats un-normalizes exactly (x = z std + mean against the
   same run without --stats), --vae decodes to a PNG, and --vae without --stats
   or --stats on a SiT checkpoint is refused. */
static int imt_make_shards(const char *dir, const char *stats) {
    enum { N = 6, C = 4, H = 8, W = 8 };
    static float lat[N * C * H * W], flip[N * C * H * W];
    int64_t labels[N], shape[4] = { N, C, H, W }, lshape[1] = { N }, sshape[4] = { 1, C, 1, 1 };
    float mean[C] = { 0.5f, -1.0f, 0.0f, 2.0f }, sd[C] = { 2.0f, 0.5f, 1.0f, 3.0f };
    char path[512];
    ig_st_writer w;
    ig_rng r;
    size_t k;
    int rc;
    ig_rng_seed(&r, 5);
    for (k = 0; k < (size_t)N * C * H * W; k++) { lat[k] = ig_rng_normal(&r); flip[k] = ig_rng_normal(&r); }
    for (k = 0; k < N; k++) labels[k] = (int64_t)(k % 5);
    snprintf(path, sizeof path, "%s/latents_rank00_shard000.safetensors", dir);
    ig_st_writer_init(&w);
    rc = ig_st_add(&w, "latents", IG_F32, 4, shape, lat) || ig_st_add(&w, "latents_flip", IG_F32, 4, shape, flip) ||
         ig_st_add(&w, "labels", IG_I64, 1, lshape, labels) || ig_st_writer_save(&w, path);
    ig_st_writer_free(&w);
    if (rc) return -1;
    ig_st_writer_init(&w);
    rc = ig_st_add(&w, "mean", IG_F32, 4, sshape, mean) || ig_st_add(&w, "std", IG_F32, 4, sshape, sd) ||
         ig_st_writer_save(&w, stats);
    ig_st_writer_free(&w);
    return rc ? -1 : 0;
}

#define IMT_LD_MODEL "--model", "S/1", "--depth", "2", "--width", "32", "--heads", "2", "--aux-depth", "1", \
                     "--classes", "5", "--batch", "2", "--ckpt-every", "3", "--log-every", "3", "--seed", "3"

static int imt_ldit_body(const char *dir) {
    char sh[300], stats[300], run[300], ema[400], z0[400], z1[400], png[400], sit[400];
    npy_array a, b;
    ig_config cfg;
    size_t k, per;
    float worst = 0;
    snprintf(sh, sizeof sh, "%s/shards", dir);
    snprintf(stats, sizeof stats, "%s/stats.safetensors", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(ema, sizeof ema, "%s/run/ema.safetensors", dir);
    snprintf(z0, sizeof z0, "%s/z0.npy", dir);
    snprintf(z1, sizeof z1, "%s/z1.npy", dir);
    snprintf(png, sizeof png, "%s/grid.png", dir);
    CHECK(mkdir(sh, 0777) == 0 && imt_make_shards(sh, stats) == 0, "cannot write the shards in %s", sh);
    {
        const char *args[] = { "imagenet", "train", "--shards", sh, "--stats", stats, "--out", run, "--steps", "3", IMT_LD_MODEL };
        CHECK(imt_run((int)(sizeof args / sizeof *args), args) == 0, "LightningDiT training on shards failed");
    }
    CHECK(ig_config_from_file(&cfg, ema, 2, 1) == 0, "%s: %s", ema, ig_last_error());
    CHECK(cfg.arch == IG_ARCH_LIGHTNING && cfg.in_channels == 4 && cfg.patch_size == 1 && cfg.image_height == 8,
          "%s is not read back as a LightningDiT 4x8x8 patch-1 model (arch %d)", ema, (int)cfg.arch);
    {
        const char *plain[] = { "imagenet", "sample", "--ckpt", ema, "--out", z0, "--paper", "--steps", "3",
                                "--labels", "1,4,0", "--batch", "2", "--seed", "9", "--heads", "2", "--aux-depth", "1" };
        const char *normed[] = { "imagenet", "sample", "--ckpt", ema, "--out", z1, "--paper", "--steps", "3",
                                 "--labels", "1,4,0", "--batch", "2", "--seed", "9", "--heads", "2", "--aux-depth", "1",
                                 "--stats", stats, "--vae", "tests/fixtures/vae_ldm.safetensors", "--png", png };
        const char *nostats[] = { "imagenet", "sample", "--ckpt", ema, "--out", z1, "--paper", "--steps", "3",
                                  "--labels", "1", "--heads", "2", "--aux-depth", "1",
                                  "--vae", "tests/fixtures/vae_ldm.safetensors", "--png", png };
        CHECK(imt_run((int)(sizeof plain / sizeof *plain), plain) == 0, "sampling the LightningDiT checkpoint failed");
        CHECK(imt_run((int)(sizeof normed / sizeof *normed), normed) == 0, "sampling with --stats and --vae failed");
        CHECK(imt_run((int)(sizeof nostats / sizeof *nostats), nostats) != 0, "decoding LightningDiT latents without --stats was accepted");
    }
    CHECK(npy_read(z0, &a) == 0, "%s: %s", z0, npy_error());
    if (npy_read(z1, &b)) { npy_free(&a); CHECK(0, "%s: %s", z1, npy_error()); }
    per = 4 * 8 * 8;
    if (!(a.n == 3 * per && b.n == a.n && a.dtype == NPY_F32 && b.dtype == NPY_F32)) {
        npy_free(&a); npy_free(&b);
        CHECK(0, "the sampled latents are not float32 (3,4,8,8)");
    }
    {   /* z1 = z0 * std[c] + mean[c], channel c = (k / 64) % 4 */
        const float mean[4] = { 0.5f, -1.0f, 0.0f, 2.0f }, sd[4] = { 2.0f, 0.5f, 1.0f, 3.0f };
        for (k = 0; k < a.n; k++) {
            size_t c = (k / 64) % 4;
            float za = ((float *)a.data)[k], zb = ((float *)b.data)[k], e = fabsf(zb - (za * sd[c] + mean[c]));
            if (!isfinite(za) || !isfinite(zb)) e = INFINITY;
            if (e > worst) worst = e;
        }
    }
    npy_free(&a); npy_free(&b);
    CHECK(worst < 1e-5f, "--stats: the latents differ from z * std + mean by %g", worst);
    {   /* the PNG exists and is a PNG */
        size_t len = 0;
        unsigned char *p = read_bytes(png, &len);
        int ok = p && len > 24 && !memcmp(p, "\x89PNG", 4);
        free(p);
        CHECK(ok, "%s is not a PNG", png);
    }
    snprintf(sit, sizeof sit, "%s/shards/latents_rank00_shard000.safetensors", dir);   /* not a model at all */
    {
        const char *bad[] = { "imagenet", "sample", "--ckpt", sit, "--out", z1, "--paper" };
        CHECK(imt_run((int)(sizeof bad / sizeof *bad), bad) != 0, "a shard file was sampled as a checkpoint");
    }
    return 0;
}

static int test_imagenet_lightning(void) {
    char dir[] = "/tmp/test_imagenet_ld_XXXXXX", path[400];
    static const char *const files[] = { "shards/latents_rank00_shard000.safetensors", "stats.safetensors", "z0.npy",
                                         "z1.npy", "grid.png" };
    size_t i;
    int rc;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    rc = imt_ldit_body(dir);
    for (i = 0; i < sizeof files / sizeof *files; i++) { snprintf(path, sizeof path, "%s/%s", dir, files[i]); remove(path); }
    snprintf(path, sizeof path, "%s/shards", dir); rmdir(path);
    snprintf(path, sizeof path, "%s/run", dir); imt_remove_run(path);
    CHECK(rmdir(dir) == 0 || rc, "%s holds unexpected files", dir);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* The release's constants, each against an expectation written out here     */
/* (issue 24): the paper's sampler settings, the training defaults, the       */
/* scale of the latents, the PNG mapping, the .npy bytes.                     */
/* ------------------------------------------------------------------------- */

/* the SD-VAE latent scale of the release (train.py: z = (mean + std n) * 0.18215,
   sample: vae.decode(z / 0.18215)); written out, not latents.h's LAT_SD_SCALE */
#define IMT_SD_SCALE 0.18215f

/* A tiny model (4 x side x side latents, 5 classes, 2 blocks of width 32, head
   after block 1) with every weight perturbed: the released init zeroes both heads'
   output layers, and with a zero velocity every guidance would give the same
   samples.  Saved weights-only (ig_save), as ema.safetensors is. */
static int imt_random_model(const char *path, int lightning, int side) {
    ig_config cfg;
    ig_model m;
    ig_rng r;
    int i, rc;
    size_t k;
    if (ig_config_preset(&cfg, lightning ? "S/1" : "S/2", 4, side, side, 5)) return -1;
    cfg.depth = 2; cfg.hidden_size = 32; cfg.num_heads = 2; cfg.aux_depth = 1;
    if (lightning) cfg.arch = IG_ARCH_LIGHTNING;
    if (ig_config_check(&cfg) || ig_model_init(&m, &cfg, 0, 21)) return -1;
    ig_rng_seed(&r, 22);
    for (i = 0; i < m.nparams; i++) {
        const ig_param *pp = &m.params[i];
        if (!strncmp(pp->name, "feat_rope", 9)) continue;      /* fixed tables, checked on load */
        /* the time embedding more: a velocity that changes with t tells the solvers apart */
        for (k = 0; k < pp->t->n; k++)
            m.weights[pp->offset + k] += (strncmp(pp->name, "t_embedder", 10) ? 0.05f : 0.5f) * ig_rng_normal(&r);
    }
    rc = ig_save(&m, path, 0);
    ig_model_free(&m);
    return rc;
}

/* The samples of the model in `path` drawn directly with ig.h: noise and the
   sampler's draws from rng (as given), batches of B; sampler 0:
   Euler-Maruyama (ig_sample_sde), 1: Heun on every interval (ig_sample_heun2)
   on grid.  out: n * per floats, the final latents. */
static int imt_direct(const char *path, const int *labels, size_t n, size_t B, ig_rng rng, const ig_guidance *g,
                      int sampler, const float *grid, size_t steps, float *out) {
    ig_config cfg;
    ig_model m;
    ig_arena a;
    ig_ctx c;
    ig_guided G;
    size_t b0, per;
    int rc = -1;
    memset(&a, 0, sizeof a);
    if (ig_config_from_file(&cfg, path, 2, 1) || ig_model_init(&m, &cfg, 0, 0)) { fprintf(stderr, "    %s\n", ig_last_error()); return -1; }
    per = (size_t)cfg.in_channels * (size_t)cfg.image_height * (size_t)cfg.image_width;
    if (ig_load(&m, path, 1) || ig_arena_init(&a, "scratch", ig_model_scratch_bytes(&cfg, 2 * B, 0)) ||
        ig_ctx_init(&c, &a, 0)) goto done;
    for (b0 = 0; b0 < n; b0 += B) {
        size_t nb = n - b0 < B ? n - b0 : B;
        float *x = out + b0 * per;
        memset(&G, 0, sizeof G);
        G.model = &m; G.ctx = &c; G.labels = labels + b0; G.batch = nb; G.guidance = *g;
        ig_rng_normal_fill(&rng, x, nb * per);
        if (sampler == 0 ? ig_sample_sde(ig_guided_velocity, &G, x, nb * per, steps, IG_PATH_LINEAR, &rng)
                         : ig_sample_heun2(ig_guided_velocity, &G, x, nb * per, grid, steps)) goto done;
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "    %s\n", ig_last_error());
    ig_arena_free(&a);
    ig_model_free(&m);
    return rc;
}

/* max |a - b| over n floats (inf if either is not finite) */
static double imt_maxdiff(const float *a, const float *b, size_t n) {
    double worst = 0;
    size_t k;
    for (k = 0; k < n; k++) {
        double e = fabs((double)a[k] - (double)b[k]);
        if (!(e <= worst)) worst = isfinite(e) ? e : INFINITY;
    }
    return worst;
}

/* max |z - want| of the .npy at path (n floats), inf if it holds another count */
static double imt_npy_diff(const char *path, const float *want, size_t n) {
    npy_array z;
    double e;
    if (npy_read(path, &z)) { fprintf(stderr, "    %s\n", npy_error()); return INFINITY; }
    e = z.n == n && z.dtype == NPY_F32 ? imt_maxdiff((const float *)z.data, want, z.n) : INFINITY;
    npy_free(&z);
    return e;
}

/* `sample --paper` on a SiT checkpoint with the default step count, against
   the release's SiT sampler written out with ig.h's pieces: Euler-Maruyama,
   250 steps, IG 1.4 on all t, CFG 1.35 for t <= 0.7 (t = 1 noise), then
   z / 0.18215 for the decoder (/work/shared/docs/imagenet.md, "SiT + IG
   sampling"; docs/method.md).  The PNG: the decoder's x mapped to
   uint8(clamp(127.5 x + 128, 0, 255)) (the release's sample script).  Without
   --paper: IG 1.4, no CFG; --n: labels drawn first from the seeded stream,
   each in 0..4 (never the null label 5). */
static int imt_sit_paper_body(const char *dir) {
    char ck[300], z1[300], png[300];
    static const int labels[3] = { 1, 4, 0 };
    static float want[3 * 256];
    ig_guidance g = ig_guidance_none();
    int lab[3], w = 0, h = 0;
    size_t k;
    double e;
    ig_rng r;
    snprintf(ck, sizeof ck, "%s/model.safetensors", dir);
    snprintf(z1, sizeof z1, "%s/z.npy", dir);
    snprintf(png, sizeof png, "%s/grid.png", dir);
    CHECK(imt_random_model(ck, 0, 8) == 0, "cannot write %s: %s", ck, ig_last_error());
    {
        const char *args[] = { "imagenet", "sample", "--ckpt", ck, "--out", z1, "--paper", "--labels", "1,4,0",
                               "--batch", "2", "--seed", "9", "--heads", "2", "--aux-depth", "1",
                               "--vae", "tests/fixtures/vae_ldm.safetensors", "--png", png };
        CHECK(imt_run((int)(sizeof args / sizeof *args), args) == 0, "sample --paper failed");
    }
    g.ig_weight = 1.4f; g.ig_low = 0.0f; g.ig_high = 1.0f;
    g.cfg_scale = 1.35f; g.cfg_low = 0.0f; g.cfg_high = 0.7f;
    ig_rng_seed(&r, 9);
    CHECK(imt_direct(ck, labels, 3, 2, r, &g, 0, NULL, 250, want) == 0, "direct sampling failed");
    for (k = 0; k < 3 * 256; k++) want[k] /= IMT_SD_SCALE;
    e = imt_npy_diff(z1, want, 3 * 256);
    CHECK(e <= 1e-5, "sample --paper: the latents differ from the release's SiT sampler by %g", e);
    {   /* the PNG: decode the written latents, map each value as the release does */
        vae_decoder *dec = vae_load("tests/fixtures/vae_ldm.safetensors");
        unsigned char *rgb = png_read_rgb(png, &w, &h);
        float *x = NULL;
        npy_array z;
        size_t H = 0, W, i, bad = 0;
        int c, yy, xx, ok;
        ok = dec && rgb && npy_read(z1, &z) == 0;
        if (ok) {
            H = 8 * (size_t)dec->factor;
            x = (float *)malloc(3 * 3 * H * H * sizeof(float));
            ok = x && z.n == 3 * 256 && vae_decode(dec, (const float *)z.data, 3, 4, 8, 8, x) == 0;
            npy_free(&z);
        }
        W = H;
        /* 3 images in a grid of ceil(sqrt(3)) = 2 columns with a gap of 2 */
        ok = ok && w == (int)(2 + 2 * (W + 2)) && h == (int)(2 + 2 * (H + 2));
        for (i = 0; ok && i < 3; i++)
            for (c = 0; c < 3; c++)
                for (yy = 0; yy < (int)H; yy++)
                    for (xx = 0; xx < (int)W; xx++) {
                        double v = 127.5 * x[((i * 3 + (size_t)c) * H + (size_t)yy) * W + (size_t)xx] + 128.0;
                        int want8 = v < 0 ? 0 : v > 255 ? 255 : (int)v;
                        size_t px = (size_t)(2 + (int)(i / 2) * (int)(H + 2) + yy) * (size_t)w + (size_t)(2 + (int)(i % 2) * (int)(W + 2) + xx);
                        bad += abs((int)rgb[px * 3 + (size_t)c] - want8) > 1;
                    }
        free(x); free(rgb); vae_free(dec);
        CHECK(ok, "cannot decode %s or read %s (%d x %d)", z1, png, w, h);
        CHECK(bad == 0, "%lu pixel values differ from uint8(clamp(127.5 x + 128)) by more than 1", (unsigned long)bad);
    }
    {   /* without --paper, random labels */
        const char *args[] = { "imagenet", "sample", "--ckpt", ck, "--out", z1, "--n", "3", "--steps", "3",
                               "--batch", "2", "--seed", "9", "--heads", "2", "--aux-depth", "1" };
        CHECK(imt_run((int)(sizeof args / sizeof *args), args) == 0, "sample --n failed");
    }
    ig_rng_seed(&r, 9);
    for (k = 0; k < 3; k++) lab[k] = (int)(ig_rng_u64(&r) % 5);
    g = ig_guidance_none();
    g.ig_weight = 1.4f; g.ig_low = 0.0f; g.ig_high = 1.0f;
    CHECK(imt_direct(ck, lab, 3, 2, r, &g, 0, NULL, 3, want) == 0, "direct sampling failed");
    for (k = 0; k < 3 * 256; k++) want[k] /= IMT_SD_SCALE;
    e = imt_npy_diff(z1, want, 3 * 256);
    CHECK(e <= 1e-5, "sample --n 3: the latents differ by %g from labels u64 %% 5, then IG 1.4 without CFG", e);
    return 0;
}

/* `sample --paper --stats` on a LightningDiT checkpoint with the default step
   count, against the release's LightningDiT sampler written out: the grid
   t_ldit = s u / (1 + (s - 1) u), s = 0.3, u = i / 124 (t_ldit = 0 noise, so
   t = 1 - t_ldit here), Heun on all 124 intervals, IG 1.4 at every t, CFG 1.45
   where t_ldit >= 0.19 (t <= 0.81), then x = z * std + mean
   (/work/shared/docs/lightningdit.md, "Sampling"). */
static int imt_ld_paper_body(const char *dir) {
    char ck[300], z1[300], stats[300];
    static const int labels[2] = { 1, 4 };
    static const float mean[4] = { 0.5f, -1.0f, 0.0f, 2.0f }, sd[4] = { 2.0f, 0.5f, 1.0f, 3.0f };
    static float want[2 * 64], grid[125];
    int64_t sshape[4] = { 1, 4, 1, 1 };
    ig_guidance g = ig_guidance_none();
    ig_st_writer wr;
    size_t k;
    double e;
    ig_rng r;
    int rc;
    snprintf(ck, sizeof ck, "%s/model.safetensors", dir);
    snprintf(z1, sizeof z1, "%s/z.npy", dir);
    snprintf(stats, sizeof stats, "%s/stats.safetensors", dir);
    CHECK(imt_random_model(ck, 1, 4) == 0, "cannot write %s: %s", ck, ig_last_error());
    ig_st_writer_init(&wr);
    rc = ig_st_add(&wr, "mean", IG_F32, 4, sshape, mean) || ig_st_add(&wr, "std", IG_F32, 4, sshape, sd) ||
         ig_st_writer_save(&wr, stats);
    ig_st_writer_free(&wr);
    CHECK(rc == 0, "%s", ig_last_error());
    {
        const char *args[] = { "imagenet", "sample", "--ckpt", ck, "--out", z1, "--paper", "--labels", "1,4",
                               "--batch", "2", "--seed", "9", "--heads", "2", "--aux-depth", "1", "--stats", stats };
        CHECK(imt_run((int)(sizeof args / sizeof *args), args) == 0, "sample --paper failed");
    }
    for (k = 0; k <= 124; k++) {   /* s = 0.3 as a float (ig.h's IG_LIGHTNING_SHIFT), the formula in double */
        double u = (double)k / 124.0, s = (double)0.3f;
        grid[k] = (float)(1.0 - s * u / (1.0 + (s - 1.0) * u));
    }
    g.ig_weight = 1.4f; g.ig_low = 0.0f; g.ig_high = 1.0f;
    g.cfg_scale = 1.45f; g.cfg_low = 0.0f; g.cfg_high = 0.81f;
    ig_rng_seed(&r, 9);
    CHECK(imt_direct(ck, labels, 2, 2, r, &g, 1, grid, 124, want) == 0, "direct sampling failed");
    for (k = 0; k < 2 * 64; k++) want[k] = want[k] * sd[(k / 16) % 4] + mean[(k / 16) % 4];
    e = imt_npy_diff(z1, want, 2 * 64);
    CHECK(e <= 1e-5, "sample --paper: the latents differ from the release's LightningDiT sampler by %g", e);
    /* --paper --cfg 1: the release's no-CFG setting, IG 1.7 on the same grid (FID 1.34) */
    {
        const char *args[] = { "imagenet", "sample", "--ckpt", ck, "--out", z1, "--paper", "--cfg", "1", "--labels", "1,4",
                               "--batch", "2", "--seed", "9", "--heads", "2", "--aux-depth", "1", "--stats", stats };
        CHECK(imt_run((int)(sizeof args / sizeof *args), args) == 0, "sample --paper --cfg 1 failed");
    }
    g = ig_guidance_none();
    g.ig_weight = 1.7f; g.ig_low = 0.0f; g.ig_high = 1.0f;
    ig_rng_seed(&r, 9);
    CHECK(imt_direct(ck, labels, 2, 2, r, &g, 1, grid, 124, want) == 0, "direct sampling failed");
    for (k = 0; k < 2 * 64; k++) want[k] = want[k] * sd[(k / 16) % 4] + mean[(k / 16) % 4];
    e = imt_npy_diff(z1, want, 2 * 64);
    CHECK(e <= 1e-5, "sample --paper --cfg 1: the latents differ from the release's no-CFG sampler (IG 1.7) by %g", e);
    return 0;
}

/* `train` with its defaults against ig_train_step with the release's values
   written out: SiT (/work/shared/docs/method.md, "Training"): AdamW lr 1e-4,
   betas (0.9, 0.999), eps 1e-8, no weight decay, clip 1, EMA 0.9999, label
   dropout 0.1, lambda 0.5, t ~ U(0, 1) on the linear path, the head after
   block 8 for every size; LightningDiT (lightningdit.md and its config): lr 2e-4,
   beta2 0.95, the cosine term with weight 1.  The same data stream
   (lat_open_repa / lat_open_shards with the seed) and the same init seed;
   SiT 3 steps of batch 64 (192 label-dropout draws) with 9 blocks (the
   default head position), LightningDiT 2 steps of batch 4 with 2 blocks and
   --aux-depth 1; the checkpoints must be byte-identical. */
static int imt_train_one(const char *dir, int lightning) {
    char root[300], stats[300], run[300], mine[300], ck[400];
    lat_dataset d;
    ig_config cfg;
    ig_train_config tc;
    ig_model m;
    ig_arena a;
    ig_ctx c;
    static float z[64 * 256];
    int y[64], step, same, nsteps = lightning ? 2 : 3;
    size_t B = lightning ? 4 : 64;
    snprintf(root, sizeof root, "%s/data", dir);
    snprintf(stats, sizeof stats, "%s/stats.safetensors", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(mine, sizeof mine, "%s/mine.safetensors", dir);
    snprintf(ck, sizeof ck, "%s/run/ckpt.safetensors", dir);
    CHECK(mkdir(root, 0777) == 0 && (lightning ? imt_make_shards(root, stats) : imt_make_folder(root, 0)) == 0,
          "cannot write the data in %s", root);
    if (lightning) {
        const char *args[] = { "imagenet", "train", "--shards", root, "--stats", stats, "--out", run, "--model", "S/1",
                               "--depth", "2", "--aux-depth", "1", "--width", "32", "--heads", "2", "--classes", "5",
                               "--batch", "4", "--steps", "2", "--seed", "3", "--log-every", "2" };
        CHECK(imt_run((int)(sizeof args / sizeof *args), args) == 0, "train failed");
    } else {
        const char *args[] = { "imagenet", "train", "--data", root, "--out", run, "--model", "S/2",
                               "--depth", "9", "--width", "32", "--heads", "2", "--classes", "5", "--batch", "64",
                               "--steps", "3", "--seed", "3", "--log-every", "3" };
        CHECK(imt_run((int)(sizeof args / sizeof *args), args) == 0, "train failed");
    }
    CHECK((lightning ? lat_open_shards(&d, root, stats, 5, 3) : lat_open_repa(&d, root, 5, 3)) == 0, "%s", lat_error());
    CHECK(ig_config_preset(&cfg, lightning ? "S/1" : "S/2", d.C, d.H, d.W, 5) == 0, "%s", ig_last_error());
    cfg.depth = lightning ? 2 : 9; cfg.hidden_size = 32; cfg.num_heads = 2;
    cfg.aux_depth = lightning ? 1 : 8;                   /* the release: after block 8 (SiT run) */
    if (lightning) cfg.arch = IG_ARCH_LIGHTNING;
    memset(&tc, 0, sizeof tc);
    tc.lr = lightning ? 2e-4f : 1e-4f; tc.beta1 = 0.9f; tc.beta2 = lightning ? 0.95f : 0.999f; tc.eps = 1e-8f;
    tc.weight_decay = 0.0f; tc.grad_clip = 1.0f; tc.ema_decay = 0.9999f; tc.aux_weight = 0.5f;
    tc.cos_weight = lightning ? 1.0f : 0.0f; tc.label_dropout = 0.1f;
    tc.path = IG_PATH_LINEAR; tc.t_sampling = IG_T_UNIFORM;
    memset(&a, 0, sizeof a);
    if (ig_model_init(&m, &cfg, 1, 3) || ig_arena_init(&a, "scratch", ig_model_scratch_bytes(&cfg, B, 1)) ||
        ig_ctx_init(&c, &a, ig_model_tape_nodes(&cfg))) {
        lat_close(&d);
        CHECK(0, "%s", ig_last_error());
    }
    for (step = 0; step < nsteps; step++)
        if (lat_next(&d, B, z, y) || ig_train_step(&m, &c, &tc, z, y, B, NULL)) break;
    same = step == nsteps && ig_save(&m, mine, 1) == 0 && imt_same(ck, mine);
    lat_close(&d);
    ig_arena_free(&a);
    ig_model_free(&m);
    CHECK(same, "%s: train's defaults differ from the release's values written out (%s)", ck,
          lightning ? "LightningDiT: lr 2e-4, beta2 0.95, cosine term 1" : "SiT: lr 1e-4, EMA 0.9999, dropout 0.1, lambda 0.5, head after block 8");
    return 0;
}

/* img_write_grid_png on values whose bytes are known: uint8(clamp(127.5 x +
   128, 0, 255)) for [lo, hi] = [-1, 1] (the release's mapping), channels in
   R, G, B order, white gaps, NaN to 0; read back by tests/png_read.h. */
static int imt_grid_body(const char *dir) {
    /* x:  -1, -0.5, 0, 0.25, 0.5, 1, 3, -3, NaN  ->  0, 64, 128, 159, 191, 255, 255, 0, 0 */
    const float vals[9] = { -1.0f, -0.5f, 0.0f, 0.25f, 0.5f, 1.0f, 3.0f, -3.0f, NAN };
    static const unsigned char bytes[9] = { 0, 64, 128, 159, 191, 255, 255, 0, 0 };
    char png[300];
    float x[2 * 3 * 9];
    unsigned char *rgb;
    int w = 0, h = 0, i, c, ok;
    snprintf(png, sizeof png, "%s/grid.png", dir);
    /* two 3 x 3 images (n, 3, 3, 3) in one row, gap 1: image 1 is image 0 with
       the channels rotated, so R, G and B each see every value */
    for (i = 0; i < 9; i++)
        for (c = 0; c < 3; c++) {
            x[c * 9 + i] = vals[(i + 3 * c) % 9];
            x[27 + c * 9 + i] = vals[(i + 3 * ((c + 1) % 3)) % 9];
        }
    CHECK(img_write_grid_png(png, x, 2, 3, 3, 3, 2, 1, -1.0f, 1.0f) == 0, "write failed");
    rgb = png_read_rgb(png, &w, &h);
    CHECK(rgb && w == 1 + 2 * (3 + 1) && h == 1 + 3 + 1, "cannot read %s back (%d x %d)", png, w, h);
    ok = 1;
    for (i = 0; i < 9 && ok; i++)
        for (c = 0; c < 3 && ok; c++) {
            int yy = 1 + i / 3, xx = 1 + i % 3, xx1 = xx + 4;
            int want0 = bytes[(i + 3 * c) % 9], want1 = bytes[(i + 3 * ((c + 1) % 3)) % 9];
            if (rgb[(yy * w + xx) * 3 + c] != want0 || rgb[(yy * w + xx1) * 3 + c] != want1) {
                fprintf(stderr, "    pixel %d channel %d: %d and %d, expected %d and %d\n", i, c,
                        rgb[(yy * w + xx) * 3 + c], rgb[(yy * w + xx1) * 3 + c], want0, want1);
                ok = 0;
            }
        }
    ok = ok && rgb[0] == 255 && rgb[(4 * w + 4) * 3 + 1] == 255;   /* corner and the gap between: white */
    free(rgb);
    remove(png);
    CHECK(ok, "the grid's pixels are not the release's mapping");
    return 0;
}

/* npy_write's bytes against what NumPy's np.save writes (format 1.0:
   numpy/lib/format.py, the header dict repr "{'descr': ..., 'fortran_order':
   False, 'shape': (...), }", spaces and '\n' up to a multiple of 64 bytes,
   the length little-endian), written out; and the reader refusing what it
   cannot read as it is: Fortran order, big-endian, float64. */
static int imt_npy_body(const char *dir) {
    static const char h23[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    static const char h5[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }";
    static const char hu8[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1, 3), }";
    static const char *const refused[3] = {
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
        "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }" };
    const float f[6] = { 1.0f, -2.0f, 0.5f, 3.25f, 0.0f, -0.0f };
    const int64_t l[5] = { 0, 1, -1, 4, 1000000000000LL };
    const unsigned char u[3] = { 0, 128, 255 };
    size_t s23[2] = { 2, 3 }, s5[1] = { 5 }, su[3] = { 1, 1, 3 };
    char path[300];
    unsigned char *b;
    size_t n, k;
    npy_array arr;
    int i;
    snprintf(path, sizeof path, "%s/a.npy", dir);
#define NPY_EXACT(hdr, dtype, ndim, shape, data, dbytes) do { \
        CHECK(npy_write(path, dtype, ndim, shape, data) == 0, "write"); \
        b = read_bytes(path, &n); \
        CHECK(b, "read back"); \
        for (k = sizeof(hdr) - 1; k < 127 && b[k] == ' '; k++) {} \
        i = n == 128 + (dbytes) && !memcmp(b, hdr, sizeof(hdr) - 1) && k == 127 && b[127] == '\n' && \
            !memcmp(b + 128, data, dbytes); \
        free(b); \
        CHECK(i, "%s: not NumPy's bytes for %s", path, hdr + 10); \
    } while (0)
    NPY_EXACT(h23, NPY_F32, 2, s23, f, 24);
    NPY_EXACT(h5, NPY_I64, 1, s5, l, 40);
    NPY_EXACT(hu8, NPY_U8, 3, su, u, 3);
#undef NPY_EXACT
    for (i = 0; i < 3; i++) {   /* hand-made files NumPy would write: refused, naming the file */
        unsigned char file[128 + 24];
        size_t len = strlen(refused[i]);
        FILE *fp;
        memset(file, 0, sizeof file);
        memcpy(file, "\x93NUMPY\x01\x00\x76\x00", 10);
        memcpy(file + 10, refused[i], len);
        memset(file + 10 + len, ' ', 117 - len);
        file[127] = '\n';
        fp = fopen(path, "wb");
        CHECK(fp && fwrite(file, 1, sizeof file, fp) == sizeof file && fclose(fp) == 0, "write");
        CHECK(npy_read(path, &arr) != 0 && strstr(npy_error(), path), "read %s: %s", refused[i], npy_error());
    }
    remove(path);
    return 0;
}

/* each body in its own temporary folder, removed afterwards */
static int imt_in_tmpdir(int (*body)(const char *), const char *what) {
    char dir[] = "/tmp/test_imagenet_c_XXXXXX", cmd[300];
    int rc;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    rc = body(dir);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0 || rc, "cannot remove %s", dir);
    if (rc) fprintf(stderr, "    (%s)\n", what);
    return rc;
}
static int imt_train_sit(const char *dir) { return imt_train_one(dir, 0); }
static int imt_train_ld(const char *dir) { return imt_train_one(dir, 1); }
static int test_imagenet_sample_sit_paper(void) { return imt_in_tmpdir(imt_sit_paper_body, "SiT --paper"); }
static int test_imagenet_sample_lightning_paper(void) { return imt_in_tmpdir(imt_ld_paper_body, "LightningDiT --paper"); }
static int test_imagenet_train_defaults_sit(void) { return imt_in_tmpdir(imt_train_sit, "SiT train defaults"); }
static int test_imagenet_train_defaults_lightning(void) { return imt_in_tmpdir(imt_train_ld, "LightningDiT train defaults"); }
static int test_image_grid_png_mapping(void) { return imt_in_tmpdir(imt_grid_body, "grid PNG"); }
static int test_npy_writer_numpy_bytes(void) { return imt_in_tmpdir(imt_npy_body, "npy bytes"); }

const test_case imagenet_tests[] = {
    { "imagenet_end_to_end", test_imagenet_end_to_end },
    { "imagenet_missing_file", test_imagenet_missing_file },
    { "imagenet_lightning", test_imagenet_lightning },
    { "imagenet_sample_sit_paper", test_imagenet_sample_sit_paper },
    { "imagenet_sample_lightning_paper", test_imagenet_sample_lightning_paper },
    { "imagenet_train_defaults_sit", test_imagenet_train_defaults_sit },
    { "imagenet_train_defaults_lightning", test_imagenet_train_defaults_lightning },
    { "image_grid_png_mapping", test_image_grid_png_mapping },
    { "npy_writer_numpy_bytes", test_npy_writer_numpy_bytes },
};
const int imagenet_ntests = (int)(sizeof imagenet_tests / sizeof imagenet_tests[0]);
