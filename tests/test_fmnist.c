/* test_fmnist.c - the IDX reader and examples/fmnist.c end to end.

   The IDX tests write a tiny file, read it back, then read truncated, padded
   and corrupted copies, each of which must fail with a message that names
   the file and the problem.  The end-to-end test writes a tiny synthetic
   Fashion-MNIST (100 + 100 images whose class is a bright bar at a class-
   dependent row) and runs fmnist_main() (examples/fmnist.c compiled with
   FMNIST_NO_MAIN): train a tiny model, check that --resume is bit for bit,
   export, train the classifier, sample every method, evaluate.
   IG_IMPLEMENTATION is defined by another test file. */
#define FMNIST_NO_MAIN
#include "../examples/fmnist.c"   /* first: it sets _POSIX_C_SOURCE before any system header */
#include "test.h"
#include "png_read.h"
#include <unistd.h>

int fmnist_main(int argc, char **argv);

static long fmt_file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    long n;
    if (!f) return -1;
    if (fseek(f, 0, SEEK_END)) { fclose(f); return -1; }
    n = ftell(f);
    fclose(f);
    return n;
}

/* Copies the first n bytes of src to dst, then appends 'extra' zero bytes;
   if flip >= 0 the byte at that offset is replaced by 'val'. */
static int fmt_copy(const char *src, const char *dst, long n, long extra, long flip, unsigned char val) {
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    long i;
    int c;
    if (!a || !b) { if (a) fclose(a); if (b) fclose(b); return -1; }
    for (i = 0; i < n && (c = fgetc(a)) != EOF; i++) fputc(i == flip ? val : (unsigned char)c, b);
    for (i = 0; i < extra; i++) fputc(0, b);
    fclose(a);
    return fclose(b);
}

static int t_idx_reader(void) {
    char dir[] = "/tmp/test_idx_XXXXXX", good[128], bad[128];
    unsigned char data[3 * 4 * 5];
    size_t dims[3] = { 3, 4, 5 }, i;
    idx_array a;
    long size;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    snprintf(good, sizeof good, "%s/good-idx3-ubyte", dir);
    snprintf(bad, sizeof bad, "%s/bad-idx3-ubyte", dir);
    for (i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 7);
    CHECK(idx_write(good, 3, dims, data) == 0, "write: %s", idx_error());
    size = fmt_file_size(good);
    CHECK(size == 16 + 60, "the file has %ld bytes, expected 76", size);
    /* the header bytes: 00 00 08 03, then 3, 4, 5 big-endian */
    {
        FILE *f = fopen(good, "rb");
        unsigned char h[16];
        CHECK(f && fread(h, 1, 16, f) == 16, "cannot read back");
        fclose(f);
        CHECK(h[0] == 0 && h[1] == 0 && h[2] == 8 && h[3] == 3 && h[7] == 3 && h[11] == 4 && h[15] == 5,
              "header bytes %02x %02x %02x %02x", h[0], h[1], h[2], h[3]);
    }
    CHECK(idx_read(good, 3, &a) == 0, "read: %s", idx_error());
    CHECK(a.ndim == 3 && a.dims[0] == 3 && a.dims[1] == 4 && a.dims[2] == 5 && a.n == 60, "dims %zu %zu %zu", a.dims[0], a.dims[1], a.dims[2]);
    CHECK(memcmp(a.data, data, 60) == 0, "data differs");
    idx_free(&a);
    /* wrong number of dimensions asked */
    CHECK(idx_read(good, 1, &a) != 0 && strstr(idx_error(), "3 dimensions, expected 1"), "ndim: %s", idx_error());
    /* truncated in the data, in the header, and padded */
    CHECK(fmt_copy(good, bad, size - 1, 0, -1, 0) == 0, "copy");
    CHECK(idx_read(bad, 3, &a) != 0 && strstr(idx_error(), "truncated") && strstr(idx_error(), bad), "truncated: %s", idx_error());
    CHECK(a.data == NULL, "a failed read left data behind");
    CHECK(fmt_copy(good, bad, 10, 0, -1, 0) == 0, "copy");
    CHECK(idx_read(bad, 3, &a) != 0 && strstr(idx_error(), "truncated in the header"), "short header: %s", idx_error());
    CHECK(fmt_copy(good, bad, 2, 0, -1, 0) == 0, "copy");
    CHECK(idx_read(bad, 3, &a) != 0 && strstr(idx_error(), "magic"), "2 bytes: %s", idx_error());
    CHECK(fmt_copy(good, bad, size, 3, -1, 0) == 0, "copy");
    CHECK(idx_read(bad, 3, &a) != 0 && strstr(idx_error(), "too long"), "padded: %s", idx_error());
    /* corrupted: magic, element type, a dimension that no longer matches the size, a zero dimension */
    CHECK(fmt_copy(good, bad, size, 0, 0, 0x1f) == 0, "copy");
    CHECK(idx_read(bad, 3, &a) != 0 && strstr(idx_error(), "not an IDX file"), "magic: %s", idx_error());
    CHECK(fmt_copy(good, bad, size, 0, 2, 0x0d) == 0, "copy");
    CHECK(idx_read(bad, 3, &a) != 0 && strstr(idx_error(), "element type 0x0d"), "type: %s", idx_error());
    CHECK(fmt_copy(good, bad, size, 0, 7, 9) == 0, "copy");
    CHECK(idx_read(bad, 3, &a) != 0 && strstr(idx_error(), "truncated"), "dimension 9: %s", idx_error());
    CHECK(fmt_copy(good, bad, size, 0, 11, 0) == 0, "copy");
    CHECK(idx_read(bad, 3, &a) != 0 && strstr(idx_error(), "dimension 1 is 0"), "zero dim: %s", idx_error());
    CHECK(fmt_copy(good, bad, size, 0, 4, 0xff) == 0, "copy");
    CHECK(idx_read(bad, 3, &a) != 0 && strstr(idx_error(), "bytes, but"), "huge dim: %s", idx_error());
    /* missing: the message says how to get the data */
    remove(bad);
    CHECK(idx_read(bad, 3, &a) != 0 && strstr(idx_error(), "dataset-fashion-mnist") && strstr(idx_error(), "make fmnist-data"),
          "missing: %s", idx_error());
    remove(good);
    rmdir(dir);
    return 0;
}

/* 100 images (n,28,28): class c is a bright bar on rows 2c+2..2c+4 plus noise. */
static int fmt_write_split(const char *dir, const char *name, size_t n, uint64_t seed) {
    unsigned char *img = (unsigned char *)malloc(n * FM_PIX), *lab = (unsigned char *)malloc(n);
    size_t dims[3] = { n, FM_SIDE, FM_SIDE }, i, k;
    char path[256];
    ig_rng r;
    int rc;
    ig_rng_seed(&r, seed);
    for (i = 0; i < n; i++) {
        lab[i] = (unsigned char)((i * 3) % FM_CLASSES);
        for (k = 0; k < FM_PIX; k++) {
            size_t row = k / FM_SIDE;
            int bar = row >= 2 * (size_t)lab[i] + 2 && row <= 2 * (size_t)lab[i] + 4;
            img[i * FM_PIX + k] = (unsigned char)(bar ? 200 + (int)(40 * ig_rng_uniform(&r)) : (int)(30 * ig_rng_uniform(&r)));
        }
    }
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, name);
    rc = idx_write(path, 3, dims, img);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, name);
    rc |= idx_write(path, 1, dims, lab);
    free(img); free(lab);
    return rc;
}

static int fmt_run(const char *const *args) {
    char *argv[64];
    int argc = 0;
    while (args[argc]) { argv[argc] = (char *)(size_t)args[argc]; argc++; }
    argv[argc] = NULL;
    return fmnist_main(argc, argv);
}

static int fmt_same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int ca, cb, same = fa && fb;
    while (same) {
        ca = fgetc(fa); cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static int t_fmnist_end_to_end(void) {
    char dir[] = "/tmp/test_fmnist_XXXXXX", ck[128], ck2[128], model[128], clf[128], path[256], line[512];
    static const char *const methods[] = { "none", "cfg", "ig", "igcfg" };
    const char *tiny[] = { "--width", "16", "--depth", "2", "--heads", "2", "--aux-depth", "1", "--patch", "7", "--batch", "8" };
    const char *argv[64];
    int i, k, n, rows;
    FILE *f;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    CHECK(fmt_write_split(dir, "train", 100, 1) == 0 && fmt_write_split(dir, "t10k", 100, 2) == 0, "writing the data: %s", idx_error());
    snprintf(ck, sizeof ck, "%s/ck.safetensors", dir);
    snprintf(ck2, sizeof ck2, "%s/ck2.safetensors", dir);
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    snprintf(clf, sizeof clf, "%s/clf.safetensors", dir);
    /* train 4 steps in one go; then 2 steps, and 2 more with --resume: same file */
    n = 0; argv[n++] = "fmnist"; argv[n++] = "train";
    for (k = 0; k < 12; k++) argv[n++] = tiny[k];
    argv[n++] = "--data"; argv[n++] = dir; argv[n++] = "--every"; argv[n++] = "2"; argv[n++] = "--log-every"; argv[n++] = "2";
    argv[n++] = "--out"; argv[n++] = "";
    argv[n++] = "--ckpt"; argv[n++] = ck; argv[n++] = "--steps"; argv[n++] = "4"; argv[n] = NULL;
    CHECK(fmt_run(argv) == 0, "train 4 steps failed");
    argv[n - 3] = ck2; argv[n - 1] = "2";
    CHECK(fmt_run(argv) == 0, "train 2 steps failed");
    argv[n - 1] = "4"; argv[n++] = "--resume"; argv[n] = NULL;
    CHECK(fmt_run(argv) == 0, "resume failed");
    CHECK(fmt_same_file(ck, ck2), "4 steps and 2 + 2 resumed steps give different checkpoints");
    {
        const char *ex[] = { "fmnist", "export", "--ckpt", ck, "--out", model, NULL };
        CHECK(fmt_run(ex) == 0, "export failed");
    }
    {
        const char *cl[] = { "fmnist", "classify", "--data", dir, "--epochs", "1", "--clf", clf, NULL };
        CHECK(fmt_run(cl) == 0, "classify failed");
    }
    {
        const char *sa[] = { "fmnist", "sample", "--model", model, "--dir", dir, "--n", "100", "--steps", "2", NULL };
        CHECK(fmt_run(sa) == 0, "sample failed");
    }
    for (i = 0; i < 4; i++) {
        npy_array a;
        snprintf(path, sizeof path, "%s/samples_%s.npy", dir, methods[i]);
        CHECK(npy_read(path, &a) == 0, "%s", npy_error());
        CHECK(a.dtype == NPY_F32 && a.ndim == 3 && a.shape[0] == 100 && a.shape[1] == 28 && a.shape[2] == 28, "%s: shape", path);
        for (k = 0; k < (int)a.n; k++) CHECK(((float *)a.data)[k] >= 0.0f && ((float *)a.data)[k] <= 1.0f, "%s: value outside [0,1]", path);
        npy_free(&a);
        snprintf(path, sizeof path, "%s/labels_%s.npy", dir, methods[i]);
        CHECK(npy_read(path, &a) == 0, "%s", npy_error());
        CHECK(a.dtype == NPY_I64 && a.ndim == 1 && a.shape[0] == 100 && ((int64_t *)a.data)[13] == 3, "%s: labels", path);
        npy_free(&a);
        snprintf(path, sizeof path, "%s/grid_%s.png", dir, methods[i]);
        CHECK(fmt_file_size(path) > 1000, "%s missing or empty", path);
    }
    snprintf(path, sizeof path, "%s/compare.png", dir);       /* one noise, four methods */
    CHECK(fmt_file_size(path) > 1000, "%s missing or empty", path);
    {
        const char *ev[] = { "fmnist", "eval", "--data", dir, "--clf", clf, "--dir", dir, NULL };
        CHECK(fmt_run(ev) == 0, "eval failed");
    }
    snprintf(path, sizeof path, "%s/metrics.tsv", dir);
    f = fopen(path, "r");
    CHECK(f != NULL, "%s missing", path);
    rows = 0;
    while (fgets(line, sizeof line, f)) {
        char name[64];
        double fd, acc, prec, rec;
        if (rows++ == 0) continue;
        CHECK(sscanf(line, "%63[^\t]\t%lf\t%lf\t%lf\t%lf", name, &fd, &acc, &prec, &rec) == 5, "bad row: %s", line);
        CHECK(!strcmp(name, rows - 2 < 4 ? methods[rows - 2] : "training images"), "row %d is '%s'", rows - 1, name);
        CHECK(isfinite(fd) && fd >= -1e-6 && acc >= 0 && acc <= 1 && prec >= 0 && prec <= 1 && rec >= 0 && rec <= 1, "bad numbers: %s", line);
    }
    fclose(f);
    CHECK(rows == 1 + 4 + 1, "metrics.tsv has %d lines, expected a header, 4 methods and the real-image row", rows);
    /* sweep: IG 2, CFG 1.5 and both, two noise seeds each, plus no guidance; the
       no-guidance and IG+CFG rows of seed 1 must score what sample + eval scored
       (eval's IG+CFG was IG 3 + CFG 1.5, so sweep IG 3 + CFG 1.5 here) */
    {
        char tsvp[256];
        double fd_none = -1, fd_igcfg = -1;
        const char *sw[] = { "fmnist", "sweep", "--data", dir, "--clf", clf, "--model", model, "--n", "100", "--steps", "2",
                             "--ig-weights", "1,3", "--cfg-scales", "1.5", "--intervals", "0-1", "--joint", "--seeds", "2",
                             "--tsv", tsvp, NULL };
        snprintf(tsvp, sizeof tsvp, "%s/sweep.tsv", dir);
        f = fopen(path, "r");
        CHECK(f != NULL, "%s missing", path);
        while (fgets(line, sizeof line, f)) {
            char name[64];
            double fd;
            if (sscanf(line, "%63[^\t]\t%lf", name, &fd) != 2) continue;
            if (!strcmp(name, "none")) fd_none = fd;
            if (!strcmp(name, "igcfg")) fd_igcfg = fd;
        }
        fclose(f);
        CHECK(fmt_run(sw) == 0, "sweep failed");
        f = fopen(tsvp, "r");
        CHECK(f != NULL, "%s missing", tsvp);
        rows = 0;
        while (fgets(line, sizeof line, f)) {
            char name[64];
            double w, s, lo, hi, fd;
            long long seed;
            size_t ns;
            if (rows++ == 0) continue;
            CHECK(sscanf(line, "%63[^\t]\t%lf\t%lf\t%lf\t%lf\t%lld\t%zu\t%lf", name, &w, &s, &lo, &hi, &seed, &ns, &fd) == 8,
                  "bad sweep row: %s", line);
            CHECK(ns == 100 && (seed == 1 || seed == 2) && lo == 0 && hi == 1, "bad sweep row: %s", line);
            if (seed == 1 && !strcmp(name, "none")) CHECK(fabs(fd - fd_none) < 1e-3, "sweep none seed 1: FD %g, eval %g", fd, fd_none);
            if (seed == 1 && !strcmp(name, "igcfg")) CHECK(fabs(fd - fd_igcfg) < 1e-3, "sweep igcfg seed 1: FD %g, eval %g", fd, fd_igcfg);
        }
        fclose(f);
        CHECK(rows == 1 + 4 * 2, "sweep.tsv has %d lines, expected a header and 4 settings x 2 seeds", rows);
        CHECK(fd_none >= 0 && fd_igcfg >= 0, "metrics.tsv lacks none or igcfg");
    }
    /* a bad sample file is refused with its name */
    {
        const char *ev[] = { "fmnist", "eval", "--data", dir, "--clf", clf, "--dir", dir, "--methods", "auto", NULL };
        CHECK(fmt_run(ev) != 0, "eval of a missing method succeeded");
    }
    {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0, "cleanup");
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* The example's conventions, against expectations written out (issue 24).   */
/* ------------------------------------------------------------------------- */

/* Pixels in: a byte b becomes b / 127.5 - 1, so 0 -> -1, 255 -> 1 and the
   rest in between (the [-1, 1] of the unit noise; docs/fmnist.md). */
static int t_fmnist_pixel_scale(void) {
    const unsigned char b[5] = { 0, 255, 51, 204, 128 };
    const float want[5] = { -1.0f, 1.0f, -0.6f, 0.6f, 0.00392156863f };
    float x[5];
    int i;
    fm_to_model(b, x, 5);
    for (i = 0; i < 5; i++) CHECK(fabsf(x[i] - want[i]) <= 1e-6f, "byte %d -> %.9g, expected %.9g", b[i], (double)x[i], (double)want[i]);
    return 0;
}

/* Samples out: with the released init both heads' output layers are zero, so
   the velocity is 0 and every sampler returns its starting noise; fm_sample
   must give 0.5 (noise + 1) clamped to [0, 1] (the inverse of the pixel
   scale: a byte b comes back as b / 255), the noise drawn from an ig_rng
   seeded with the seed. */
static int t_fmnist_sample_range(void) {
    fm_opts o;
    ig_config cfg;
    ig_model m;
    ig_guidance g = ig_guidance_none();
    float out[3 * FM_PIX], noise[3 * FM_PIX];
    ig_rng r;
    size_t i;
    int rc, below = 0, above = 0;
    fm_defaults(&o);
    o.patch = 7; o.width = 16; o.depth = 2; o.heads = 2; o.aux_depth = 1;
    CHECK(fm_config(&o, &cfg) == 0 && ig_model_init(&m, &cfg, 0, 4) == 0, "%s", ig_last_error());
    g.ig_weight = 3.0f;
    rc = fm_sample(&m, NULL, &g, 3, 2, 0, 5, out);
    ig_model_free(&m);
    CHECK(rc == 0, "%s", fm_error());
    ig_rng_seed(&r, 5);
    ig_rng_normal_fill(&r, noise, 3 * FM_PIX);
    for (i = 0; i < 3 * FM_PIX; i++) {
        float v = 0.5f * (noise[i] + 1.0f), want = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        below += noise[i] < -1.0f; above += noise[i] > 1.0f;
        CHECK(fabsf(out[i] - want) <= 1e-6f, "element %zu: %g, expected clamp(0.5 (%g + 1)) = %g", i, (double)out[i],
              (double)noise[i], (double)want);
    }
    CHECK(below > 0 && above > 0, "the noise never left [-1, 1]: the clamping is untested");
    return 0;
}

/* The metrics see the same pixels as the reference: 100 test images given
   to fm_measure as b / 255 in [0, 1] have exactly the features fm_ref_init
   computed from the bytes, so the Frechet distance is 0, precision and recall
   1 and the class accuracy the reference's (a random classifier will do). */
static int t_fmnist_measure_scale(void) {
    fm_split te;
    fm_clf f;
    fm_ref ref;
    fm_metrics mt = { 0, 0, 0, 0 };
    float *x01 = (float *)malloc(100 * FM_PIX * sizeof(float));
    int y[100], i, rc;
    ig_rng r;
    size_t k;
    te.n = 100;
    te.img = (unsigned char *)malloc(100 * FM_PIX);
    te.lab = (unsigned char *)malloc(100);
    CHECK(x01 && te.img && te.lab, "out of memory");
    ig_rng_seed(&r, 8);
    for (k = 0; k < 100 * FM_PIX; k++) te.img[k] = (unsigned char)(ig_rng_u64(&r) & 255);
    for (i = 0; i < 100; i++) { te.lab[i] = (unsigned char)(i % 10); y[i] = i % 10; }
    for (k = 0; k < 100 * FM_PIX; k++) x01[k] = (float)te.img[k] / 255.0f;
    CHECK(fc_init(&f, 1, 0) == 0, "classifier");
    rc = fm_ref_init(&f, &te, &ref) || fm_measure(&f, &ref, x01, y, 100, &mt);
    free(x01); free(ref.feat); free(ref.label); fm_split_free(&te); ig_arena_free(&f.arena);
    CHECK(rc == 0, "%s", fm_error());
    CHECK(fabs(mt.fd) < 1e-3 && mt.prec == 1.0 && mt.rec == 1.0 && mt.acc == ref.acc,
          "the test images as b / 255: FD %g, precision %g, recall %g, accuracy %g (reference %g)", mt.fd, mt.prec, mt.rec,
          mt.acc, ref.acc);
    return 0;
}

/* The grid: class r in row r (sample c * 10 + r, whose label is r, in column
   c), each value v drawn as the byte uint8(255 v + 0.5) (the data's white on
   black), 2x; read back with tests/png_read.h. */
static int t_fmnist_grid_png(void) {
    char path[] = "/tmp/test_fmnist_grid_XXXXXX";
    float *x = (float *)malloc(100 * FM_PIX * sizeof(float));
    unsigned char *rgb;
    int w = 0, h = 0, r, c, fd, bad = 0;
    size_t k;
    CHECK(x != NULL, "out of memory");
    for (k = 0; k < 100 * FM_PIX; k++) x[k] = (float)(k / FM_PIX) / 99.0f;     /* sample i is i / 99 everywhere */
    fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    r = fm_grid_png(path, x, 100, NULL);
    free(x);
    rgb = r == 0 ? png_read_rgb(path, &w, &h) : NULL;
    remove(path);
    CHECK(rgb, "cannot write or read back the grid");
    /* layout: left 60, top 4 without a title, cells of 28 * 2 + 4 */
    CHECK(w == 60 + 10 * 60 + 4 && h == 4 + 10 * 60 + 4, "the grid is %d x %d", w, h);
    for (r = 0; r < 10; r++)
        for (c = 0; c < 10; c++) {
            int want = (int)(255.0 * (double)(c * 10 + r) / 99.0 + 0.5), px = ((4 + r * 60 + 7) * w + 60 + c * 60 + 9) * 3;
            if (abs(rgb[px] - want) > 1 || rgb[px] != rgb[px + 1] || rgb[px] != rgb[px + 2]) {
                if (!bad++) fprintf(stderr, "    row %d column %d: %d, expected %d (sample %d)\n", r, c, rgb[px], want, c * 10 + r);
            }
        }
    free(rgb);
    CHECK(bad == 0, "%d cells do not show sample c * 10 + r as uint8(255 v + 0.5)", bad);
    return 0;
}

/* Labels outside 0..9 are refused when the data is read. */
static int t_fmnist_label_range(void) {
    char dir[] = "/tmp/test_fmnist_lab_XXXXXX", path[256], cmd[300];
    unsigned char lab[100];
    size_t dims[1] = { 100 };
    fm_split s;
    int i, rc;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    rc = fmt_write_split(dir, "t10k", 100, 3);
    for (i = 0; i < 100; i++) lab[i] = (unsigned char)(i % 10);
    lab[57] = 10;
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", dir);
    rc = rc || idx_write(path, 1, dims, lab);
    if (!rc) { rc = fm_load(dir, "t10k", &s) == 0 ? 2 : 0; if (rc) fm_split_free(&s); }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
    CHECK(rc != 1, "cannot write the data");
    CHECK(rc == 0, "a label of 10 was accepted");
    return 0;
}

const test_case fmnist_tests[] = {
    { "idx_reader_checks", t_idx_reader },
    { "fmnist_end_to_end", t_fmnist_end_to_end },
    { "fmnist_pixel_scale", t_fmnist_pixel_scale },
    { "fmnist_sample_range", t_fmnist_sample_range },
    { "fmnist_measure_scale", t_fmnist_measure_scale },
    { "fmnist_grid_png", t_fmnist_grid_png },
    { "fmnist_label_range", t_fmnist_label_range },
};
const int fmnist_ntests = sizeof fmnist_tests / sizeof fmnist_tests[0];
