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

const test_case imagenet_tests[] = {
    { "imagenet_end_to_end", test_imagenet_end_to_end },
    { "imagenet_missing_file", test_imagenet_missing_file },
    { "imagenet_lightning", test_imagenet_lightning },
};
const int imagenet_ntests = (int)(sizeof imagenet_tests / sizeof imagenet_tests[0]);
