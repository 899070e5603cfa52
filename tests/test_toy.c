/* test_toy.c - the 2D toy's ground truth, metrics and output files.

   Checks the tree against the check values of docs/toy2d.md, the densities
   and the exact velocity against independent computations, the exact-velocity
   sampler and the metrics against the numbers in the doc, and the bytes of
   the .npy and .png writers (the PNG is inflated again by a small decoder,
   tests/png_read.h).  IG_IMPLEMENTATION is defined by another test file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "test.h"
#include "../examples/toy2d_truth.h"
#include "../examples/plot.h"
#include "png_read.h"

/* The legacy MT19937 + polar normals (the stream the trees are built from). */
static int test_mt19937_normals(void) {
    static const double want[4] = { -0.41675785, -0.05626683, -2.1361961, 1.64027081 };
    mt19937 r;
    int i;
    mt_seed(&r, 2);
    for (i = 0; i < 4; i++) {
        double n = mt_normal(&r);
        CHECK(near(n, want[i], 1e-7, 1e-8), "normal %d = %.9f, want %.9f", i, n, want[i]);
    }
    return 0;
}

/* The check values of docs/toy2d.md. */
static int test_mixture_values(void) {
    toy_mixture *m = toy_mixture_new();
    const toy_component *c;
    double wa = 0.0, wb = 0.0;
    int k, leaves = 0;
    CHECK(m != NULL, "toy_mixture_new failed");
    CHECK(near(m->weight_sum[0], 8.325512, 0, 2e-6), "weight sum A %.7f", m->weight_sum[0]);
    CHECK(near(m->weight_sum[1], 9.127987, 0, 2e-6), "weight sum B %.7f", m->weight_sum[1]);
    c = &m->comp[TOY_CLASS_A][0];
    CHECK(near(c->mu[0], 0.021344, 0, 2e-6) && near(c->mu[1], 0.063334, 0, 2e-6),
          "A[0] mean (%.6f, %.6f)", c->mu[0], c->mu[1]);
    CHECK(near(c->cov[0], 3.4676e-4, 2e-4, 0) && near(c->cov[1], 1.0358e-4, 2e-4, 0) &&
          near(c->cov[2], 3.8515e-4, 2e-4, 0),
          "A[0] cov %.5e %.5e %.5e", c->cov[0], c->cov[1], c->cov[2]);
    c = &m->comp[TOY_CLASS_A][8];
    CHECK(near(c->mu[0], 0.250075, 0, 2e-6) && near(c->mu[1], 0.319711, 0, 2e-6),
          "A[8] mean (%.6f, %.6f)", c->mu[0], c->mu[1]);
    for (k = 0; k < TOY_NCOMP; k++) { wa += m->comp[0][k].w; wb += m->comp[1][k].w; }
    CHECK(TOY_NCOMP == 1016, "components per class %d", TOY_NCOMP);
    CHECK(near(wa, 1, 0, 1e-12) && near(wb, 1, 0, 1e-12), "weights sum to %.15f, %.15f", wa, wb);
    for (k = 0; k < TOY_NBRANCH; k++) leaves += m->branch_depth[k] == TOY_DEPTH - 1;
    CHECK(leaves == TOY_NLEAF, "%d leaf branches", leaves);
    toy_mixture_free(m);
    return 0;
}

/* log-sum-exp stays finite far away; the density integrates to 1; the noised
   marginal at time t is the sigma-noised density rescaled:
     p_t(x) = p(x / (1 - t); sigma = t / (1 - t)) / (1 - t)^2.              */
static int test_density(void) {
    toy_mixture *m = toy_mixture_new();
    double far1, far2, sum = 0.0, h = 0.02;
    long i;
    CHECK(m != NULL, "toy_mixture_new failed");
    far1 = toy_logp(m, TOY_CLASS_A, 10.0, 10.0);
    far2 = toy_logp(m, TOY_CLASS_B, -60.0, 80.0);
    CHECK(isfinite(far1) && far1 < -1e4, "log p far away = %g", far1);
    CHECK(isfinite(far2) && far2 < -1e6, "log p far away = %g", far2);
    CHECK(near(toy_logp(m, 0, 0.3, 0.25), toy_logp_sigma(m, 0, 0.3, 0.25, 0.0), 1e-12, 1e-12),
          "toy_logp and toy_logp_sigma(0) differ");
    /* midpoint rule on [-2, 2]^2, sigma = 0.1 (grid step 0.02 resolves it) */
#ifdef _OPENMP
#pragma omp parallel for reduction(+ : sum)
#endif
    for (i = 0; i < 200; i++) {
        int j;
        for (j = 0; j < 200; j++)
            sum += exp(toy_logp_sigma(m, TOY_CLASS_A, -2 + (i + 0.5) * h, -2 + (j + 0.5) * h, 0.1));
    }
    sum *= h * h;
    CHECK(near(sum, 1.0, 0, 2e-3), "integral of p(x | A; 0.1) = %.5f", sum);
    {
        double t = 0.3, x = 0.2, y = 0.1;
        double a = toy_logp_t(m, TOY_CLASS_A, x, y, t);
        double b = toy_logp_sigma(m, TOY_CLASS_A, x / (1 - t), y / (1 - t), t / (1 - t)) - 2 * log(1 - t);
        CHECK(near(a, b, 1e-10, 1e-10), "noised marginal %.12f vs rescaled %.12f", a, b);
    }
    toy_mixture_free(m);
    return 0;
}

/* The exact velocity against the score of the noised density (Tweedie), a
   separate code path: with s = grad log p_t(x) by central differences,
     E[eps | x] = -t s,  E[x0 | x] = (x - t E[eps]) / (1 - t),  v = E[eps] - E[x0].
   Ends: v(x, 0) = -x and v(x, 1) = x - sum_i w_i mu_i. */
static int test_velocity(void) {
    static const float ts[5] = { 0.95f, 0.6f, 0.2f, 0.03f, 0.004f };
    static const float pts[3][2] = { { 0.3f, 0.2f }, { 0.62f, 0.55f }, { -0.4f, 0.9f } };
    toy_mixture *m = toy_mixture_new();
    toy_field *f = (toy_field *)malloc(sizeof(toy_field));
    float x[2], v[2];
    double mx = 0.0, my = 0.0;
    int i, j, k;
    CHECK(m != NULL && f != NULL, "allocation failed");
    toy_field_init(f, m, TOY_CLASS_A);
    for (i = 0; i < 5; i++)
        for (j = 0; j < 3; j++) {
            double t = ts[i], px = pts[j][0], py = pts[j][1], h = 1e-6;
            double gx = (toy_logp_t(m, 0, px + h, py, t) - toy_logp_t(m, 0, px - h, py, t)) / (2 * h);
            double gy = (toy_logp_t(m, 0, px, py + h, t) - toy_logp_t(m, 0, px, py - h, t)) / (2 * h);
            double ex = -t * gx, ey = -t * gy;
            double wx = ex - (px - t * ex) / (1 - t), wy = ey - (py - t * ey) / (1 - t);
            double scale = fabs(wx) + fabs(wy);
            x[0] = pts[j][0]; x[1] = pts[j][1];
            CHECK(toy_velocity(f, x, 2, ts[i], v) == 0, "toy_velocity failed");
            CHECK(near(v[0], wx, 0, 2e-4 * scale + 1e-5) && near(v[1], wy, 0, 2e-4 * scale + 1e-5),
                  "t=%g x=(%g,%g): v=(%g,%g), from the score (%g,%g)", t, px, py, v[0], v[1], wx, wy);
        }
    x[0] = 0.3f; x[1] = -0.7f;
    toy_velocity(f, x, 2, 0.0f, v);
    CHECK(near(v[0], -0.3, 1e-5, 1e-6) && near(v[1], 0.7, 1e-5, 1e-6), "v(x, 0) = (%g, %g)", v[0], v[1]);
    for (k = 0; k < TOY_NCOMP; k++) { mx += m->comp[0][k].w * m->comp[0][k].mu[0]; my += m->comp[0][k].w * m->comp[0][k].mu[1]; }
    toy_velocity(f, x, 2, 1.0f, v);
    CHECK(near(v[0], 0.3 - mx, 1e-5, 1e-6) && near(v[1], -0.7 - my, 1e-5, 1e-6), "v(x, 1) = (%g, %g)", v[0], v[1]);
    free(f);
    toy_mixture_free(m);
    return 0;
}

/* docs/toy2d.md: exact velocity, Heun on the 32-step EDM grid, 4,096 samples:
   1.2% outliers, 89% leaf coverage.  Seed-to-seed spread at this size is
   about +-0.3% and +-5%, so the bounds are wide. */
static int test_exact_sampler(void) {
    toy_mixture *m = toy_mixture_new();
    size_t n = 4096;
    float *xy = (float *)malloc(2 * n * sizeof(float)), grid[33];
    toy_metrics mt;
    CHECK(m != NULL && xy != NULL, "allocation failed");
    toy_grid_edm(grid, 32);
    CHECK(near(grid[0], 80.0 / 81.0, 1e-6, 0) && near(grid[31], 0.002 / 1.002, 1e-4, 0) && grid[32] == 0.0f,
          "EDM grid %g .. %g, %g", grid[0], grid[31], grid[32]);
    CHECK(toy_run_exact(m, TOY_CLASS_A, grid, 32, 1, xy, n) == 0, "sampler failed");
    CHECK(toy_evaluate(m, TOY_CLASS_A, xy, n, &mt) == 0, "evaluate failed");
    CHECK(mt.outlier_rate > 0.003 && mt.outlier_rate < 0.022, "outlier rate %.4f (doc: 0.012)", mt.outlier_rate);
    CHECK(mt.leaf_coverage > 0.75 && mt.leaf_coverage < 0.99, "leaf coverage %.3f (doc: 0.89)", mt.leaf_coverage);
    CHECK(mt.mean_logp > 1.2 && mt.mean_logp < 1.5, "mean log p %.3f", mt.mean_logp);
    free(xy);
    toy_mixture_free(m);
    return 0;
}

/* Exact samples score as the ground truth should: 1% outliers, mean log p
   about 1.35, TV about 0.03 with 16k samples, nearly all leaves covered. */
static int test_ground_truth_metrics(void) {
    toy_mixture *m = toy_mixture_new();
    size_t n = 16384;
    float *xy = (float *)malloc(2 * n * sizeof(float));
    toy_metrics mt;
    ig_rng r;
    double thr;
    CHECK(m != NULL && xy != NULL, "allocation failed");
    thr = toy_outlier_threshold(m, TOY_CLASS_A);
    CHECK(thr > -1.95 && thr < -1.75, "outlier threshold %.4f (doc: about -1.83)", thr);
    ig_rng_seed(&r, 12345);
    toy_sample(m, TOY_CLASS_A, &r, xy, n);
    CHECK(toy_evaluate(m, TOY_CLASS_A, xy, n, &mt) == 0, "evaluate failed");
    CHECK(mt.outlier_rate > 0.006 && mt.outlier_rate < 0.014, "outlier rate %.4f", mt.outlier_rate);
    CHECK(near(mt.mean_logp, 1.35, 0, 0.05), "mean log p %.4f", mt.mean_logp);
    CHECK(mt.branch_tv < 0.045, "branch TV %.4f", mt.branch_tv);
    CHECK(mt.leaf_coverage >= 0.95, "leaf coverage %.3f", mt.leaf_coverage);
    free(xy);
    toy_mixture_free(m);
    return 0;
}

/* .npy: magic, version, little-endian header length, header text, padding to
   a multiple of 64 ending in '\n', then rows * cols little-endian floats. */
static int test_npy(void) {
    const char *path = "test_toy_tmp.npy";
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
    float data[6] = { 1.0f, -2.0f, 0.5f, 3.25f, 0.0f, 1e-3f };
    unsigned char buf[256];
    size_t got, hl, i;
    FILE *f;
    CHECK(img_write_npy(path, data, 3, 2) == 0, "write failed");
    f = fopen(path, "rb");
    CHECK(f != NULL, "cannot reopen %s", path);
    got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    remove(path);
    CHECK(memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0, "magic / version");
    hl = buf[8] | (size_t)buf[9] << 8;
    CHECK((10 + hl) % 64 == 0, "header length %lu", (unsigned long)hl);
    CHECK(memcmp(buf + 10, dict, strlen(dict)) == 0, "dict text '%.60s'", (const char *)buf + 10);
    for (i = 10 + strlen(dict); i < 9 + hl; i++) CHECK(buf[i] == ' ', "padding byte %lu", (unsigned long)i);
    CHECK(buf[9 + hl] == '\n', "header must end in a newline");
    CHECK(got == 10 + hl + 6 * 4, "file size %lu", (unsigned long)got);
    /* 3.25f = 0x40500000, stored little-endian */
    CHECK(buf[10 + hl + 12] == 0x00 && buf[10 + hl + 14] == 0x50 && buf[10 + hl + 15] == 0x40, "float bytes");
    CHECK(img_write_npy("/nonexistent-dir/x.npy", data, 3, 2) == -1, "writing to a bad path must fail");
    return 0;
}

/* PNG: signature, chunk order, CRCs, IHDR fields, and the IDAT inflating
   back to the exact rows.  The checksums themselves against their standard
   check values first. */
static int test_png(void) {
    const char *path = "test_toy_tmp.png";
    static const unsigned char black[3] = { 0, 0, 0 };
    img_image im;
    unsigned char *file = NULL, *idat = NULL, *raw = NULL;
    size_t size, pos = 8, nidat = 0, y;
    int w = 67, h = 41, x, saw_end = 0;
    long got;
    FILE *f;
    CHECK(img_crc32(0, (const unsigned char *)"123456789", 9) == 0xCBF43926u, "CRC-32 check value");
    CHECK(img_adler32((const unsigned char *)"Wikipedia", 9) == 0x11E60398u, "Adler-32 check value");
    CHECK(img_image_new(&im, w, h) == 0, "image");
    for (y = 0; y < (size_t)h; y++)                    /* a gradient, flat areas, text */
        for (x = 0; x < w; x++)
            if (x < 30) { im.rgb[(y * w + x) * 3] = (unsigned char)(x * 8); im.rgb[(y * w + x) * 3 + 1] = (unsigned char)(y * 6); }
    img_text(&im, 2, 2, "IG 1.5%", 2, black);
    CHECK(img_write_png(path, im.rgb, w, h) == 0, "write failed");
    f = fopen(path, "rb");
    CHECK(f != NULL, "cannot reopen %s", path);
    fseek(f, 0, SEEK_END); size = (size_t)ftell(f); fseek(f, 0, SEEK_SET);
    file = (unsigned char *)malloc(size);
    idat = (unsigned char *)malloc(size);
    raw = (unsigned char *)malloc((size_t)(3 * w + 1) * h + 16);
    CHECK(file && idat && raw, "allocation");
    CHECK(fread(file, 1, size, f) == size, "read");
    fclose(f);
    remove(path);
    CHECK(memcmp(file, "\x89PNG\r\n\x1a\n", 8) == 0, "signature");
    while (pos + 12 <= size) {
        uint32_t len = test_be32(file + pos);
        const unsigned char *type = file + pos + 4;
        CHECK(pos + 12 + len <= size, "chunk overruns the file");
        CHECK(img_crc32(0, type, 4 + len) == test_be32(file + pos + 8 + len), "CRC of chunk %.4s", (const char *)type);
        if (pos == 8) {
            CHECK(memcmp(type, "IHDR", 4) == 0 && len == 13, "first chunk must be IHDR");
            CHECK(test_be32(type + 4) == (uint32_t)w && test_be32(type + 8) == (uint32_t)h, "IHDR size");
            CHECK(type[12] == 8 && type[13] == 2 && type[14] == 0 && type[15] == 0 && type[16] == 0, "IHDR fields");
        }
        if (memcmp(type, "IDAT", 4) == 0) { memcpy(idat + nidat, type + 4, len); nidat += len; }
        if (memcmp(type, "IEND", 4) == 0) { saw_end = 1; CHECK(pos + 12 == size, "data after IEND"); }
        pos += 12 + len;
    }
    CHECK(saw_end, "no IEND");
    got = test_inflate(idat, nidat, raw, (size_t)(3 * w + 1) * h + 16);
    CHECK(got == (long)(3 * w + 1) * h, "inflated %ld bytes, want %d", got, (3 * w + 1) * h);
    for (y = 0; y < (size_t)h; y++) {
        CHECK(raw[y * (3 * w + 1)] == 0, "filter byte of row %lu", (unsigned long)y);
        CHECK(memcmp(raw + y * (3 * w + 1) + 1, im.rgb + y * w * 3, (size_t)w * 3) == 0, "row %lu differs", (unsigned long)y);
    }
    free(file); free(idat); free(raw);
    img_image_free(&im);
    return 0;
}

/* A long, repetitive input exercises matches of every length and far
   distances: the zlib stream must inflate back exactly and be small. */
static int test_deflate_roundtrip(void) {
    size_t n = 200000, i;
    unsigned char *data = (unsigned char *)malloc(n), *back = (unsigned char *)malloc(n);
    img_buf z;
    long got;
    ig_rng r;
    CHECK(data && back, "allocation");
    ig_rng_seed(&r, 9);
    for (i = 0; i < n; i++)
        data[i] = i % 40000 < 20000 ? (unsigned char)(i / 300 % 7) : (unsigned char)(ig_rng_u64(&r) % 4);
    memset(&z, 0, sizeof z);
    CHECK(img_zlib(data, n, &z) == 0, "img_zlib failed");
    got = test_inflate(z.p, z.len, back, n);
    CHECK(got == (long)n && memcmp(data, back, n) == 0, "round trip failed (%ld bytes)", got);
    CHECK(z.len < n / 3, "compressed to %lu bytes", (unsigned long)z.len);
    free(z.p); free(data); free(back);
    return 0;
}

/* declared extern first so the table has external linkage in C++ too */
extern const test_case toy_tests[];
extern const int toy_ntests;
const test_case toy_tests[] = {
    { "toy_mt19937_normals", test_mt19937_normals },
    { "toy_mixture_check_values", test_mixture_values },
    { "toy_density", test_density },
    { "toy_velocity_vs_score", test_velocity },
    { "toy_exact_sampler_edm32", test_exact_sampler },
    { "toy_ground_truth_metrics", test_ground_truth_metrics },
    { "toy_npy_header", test_npy },
    { "toy_png_chunks_crc_inflate", test_png },
    { "toy_deflate_roundtrip", test_deflate_roundtrip },
};
const int toy_ntests = sizeof toy_tests / sizeof toy_tests[0];
