/* test_vae.c - the VAE decoder (examples/vae.h) against PyTorch, and its errors.
   Fixtures from tools/make_vae_fixtures.py: tests/fixtures/vae_<scheme>.safetensors
   (random weights in one key-naming scheme, plus encoder / training keys to
   skip), _z.npy (latents) and _x.npy (the float64 PyTorch output as float32).
   Parity: max |x - ref| / max |ref| <= 1e-5 for the three fixtures with the
   default bands (measured: 0.5e-6 to 1.6e-6; GroupNorm's eps 1e-5 instead of
   the VAE's 1e-6 gives 2.5e-5 to 3.4e-5), 1e-4 for the other paths.  The bad-input tests rewrite the
   diffusers fixture with one key dropped, added or reshaped; their scratch
   files are build/test_vae_<pid>_*.safetensors (or under $TMPDIR) and are
   removed by every test, pass or fail. */
#define _POSIX_C_SOURCE 200809L /* getpid, access */
#include "../ig.h"
#include "../examples/npy.h"
#include "../examples/vae.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIX "tests/fixtures/"

/* max |x - ref| / max |ref| of decoding the fixture `name`; -1 on failure.
   col / score: band limits in floats (0: the defaults); im2col: 3x3 convs by
   im2col instead of Winograd. */
static double parity_with(const char *name, size_t col, size_t score, int im2col) {
    char path[256];
    npy_array z, ref;
    vae_decoder *d;
    float *x;
    double err = 0, mx = 0;
    size_t i;
    snprintf(path, sizeof path, FIX "%s_z.npy", name);
    if (npy_read(path, &z)) { fprintf(stderr, "    %s\n", npy_error()); return -1; }
    snprintf(path, sizeof path, FIX "%s_x.npy", name);
    if (npy_read(path, &ref)) { fprintf(stderr, "    %s\n", npy_error()); npy_free(&z); return -1; }
    snprintf(path, sizeof path, FIX "%s.safetensors", name);
    if (!(d = vae_load(path))) { fprintf(stderr, "    %s\n", vae_error()); npy_free(&z); npy_free(&ref); return -1; }
    if (col) d->col_floats = col;
    if (score) d->score_floats = score;
    if (im2col) d->winograd = 0;
    x = (float *)calloc(ref.n + 1, sizeof(float));
    if (!x || z.ndim != 4 || ref.ndim != 4 || ref.shape[0] != z.shape[0] || (int)ref.shape[1] != d->out_channels ||
        ref.shape[2] != z.shape[2] * (size_t)d->factor || ref.shape[3] != z.shape[3] * (size_t)d->factor ||
        vae_decode(d, (const float *)z.data, z.shape[0], (int)z.shape[1], (int)z.shape[2], (int)z.shape[3], x)) {
        fprintf(stderr, "    %s: shapes disagree or decode failed: %s\n", name, vae_error());
        err = -1;
    } else {
        const float *r = (const float *)ref.data;
        for (i = 0; i < ref.n; i++) {
            double e = fabs((double)x[i] - r[i]);
            if (!(e <= err)) err = e;                 /* NaN propagates */
            if (fabs(r[i]) > mx) mx = fabs(r[i]);
        }
        err /= mx;
    }
    free(x);
    vae_free(d);
    npy_free(&z);
    npy_free(&ref);
    return err;
}

static double parity(const char *name, size_t col, size_t score) { return parity_with(name, col, score, 0); }

static int test_vae_parity_diffusers(void) {
    double e = parity("vae_diffusers", 0, 0);
    CHECK(e >= 0 && e <= 1e-5, "relative max error %.3g", e);
    return 0;
}

static int test_vae_parity_diffusers_old(void) {
    double e = parity("vae_diffusers_old", 0, 0);
    CHECK(e >= 0 && e <= 1e-5, "relative max error %.3g", e);
    return 0;
}

static int test_vae_parity_ldm(void) {
    double e = parity("vae_ldm", 0, 0);
    CHECK(e >= 0 && e <= 1e-5, "relative max error %.3g", e);
    return 0;
}

/* the smallest bands: Winograd one row of tiles at a time, attention one
   query at a time (a 256x256 decode runs many bands with the default limits) */
static int test_vae_parity_bands(void) {
    double e1 = parity("vae_diffusers", 1, 1), e2 = parity("vae_ldm", 1, 1);
    CHECK(e1 >= 0 && e1 <= 1e-4, "diffusers: relative max error %.3g", e1);
    CHECK(e2 >= 0 && e2 <= 1e-4, "ldm: relative max error %.3g", e2);
    return 0;
}

/* 3x3 convolutions by im2col (the other path), with default and smallest bands */
static int test_vae_parity_im2col(void) {
    static const char *const names[3] = { "vae_diffusers", "vae_diffusers_old", "vae_ldm" };
    int i;
    for (i = 0; i < 3; i++) {
        double e1 = parity_with(names[i], 0, 0, 1), e2 = parity_with(names[i], 1, 1, 1);
        CHECK(e1 >= 0 && e1 <= 1e-4, "%s: relative max error %.3g", names[i], e1);
        CHECK(e2 >= 0 && e2 <= 1e-4, "%s, smallest bands: relative max error %.3g", names[i], e2);
    }
    return 0;
}

/* A latent wider than the fixtures' (70 columns -> 140 after the upsampling:
   more than one 64-tile chunk per row, odd tile counts): Winograd against
   im2col, which the test above holds to PyTorch. */
static int test_vae_winograd_wide(void) {
    vae_decoder *d = vae_load(FIX "vae_diffusers.safetensors");
    const int h = 3, w = 70;
    float *z, *xw, *xi;
    size_t nz, nx, i;
    double err = 0, mx = 0;
    CHECK(d != NULL, "%s", vae_error());
    nz = (size_t)d->z_channels * h * w;
    nx = (size_t)d->out_channels * h * d->factor * w * d->factor;
    z = (float *)malloc(nz * sizeof(float));
    xw = (float *)malloc(nx * sizeof(float));
    xi = (float *)malloc(nx * sizeof(float));
    CHECK(z && xw && xi, "out of memory");
    for (i = 0; i < nz; i++) z[i] = (float)sin(0.37 * (double)i) + 0.3f * (float)cos(0.011 * (double)(i * i % 9973));
    d->winograd = 1;
    CHECK(vae_decode(d, z, 1, d->z_channels, h, w, xw) == 0, "%s", vae_error());
    d->winograd = 0;
    CHECK(vae_decode(d, z, 1, d->z_channels, h, w, xi) == 0, "%s", vae_error());
    for (i = 0; i < nx; i++) {
        double e = fabs((double)xw[i] - xi[i]);
        if (!(e <= err)) err = e;
        if (fabs(xi[i]) > mx) mx = fabs(xi[i]);
    }
    free(z); free(xw); free(xi);
    vae_free(d);
    CHECK(mx > 0.1 && err / mx <= 1e-5, "relative max difference %.3g (max %.3g)", err / mx, mx);
    return 0;
}

/* ------------------------------------------------------------ bad input --- */

static char vt_path[512];

static const char *scratch(void) {
    const char *td = getenv("TMPDIR");
    const char *dir = access("build", W_OK) == 0 ? "build" : (td && *td ? td : "/tmp");
    snprintf(vt_path, sizeof vt_path, "%s/test_vae_%ld_bad.safetensors", dir, (long)getpid());
    return vt_path;
}

/* Copies the diffusers fixture to scratch() with the keys starting with
   `drop` left out (or NULL), key `add` added (F32, shape add_shape), and key `reshape` given
   shape new_shape (zeros of that size).  0 or -1. */
static int rewrite(const char *drop, const char *add, int add_ndim, const int64_t *add_shape,
                   const char *reshape, int new_ndim, const int64_t *new_shape) {
    ig_st_file st;
    ig_st_writer w;
    void **bufs;
    int i, rc = -1, nb = 0;
    if (ig_st_open(&st, FIX "vae_diffusers.safetensors")) { fprintf(stderr, "    %s\n", ig_last_error()); return -1; }
    bufs = (void **)calloc((size_t)st.ntensors + 2, sizeof(void *));
    ig_st_writer_init(&w);
    if (!bufs) goto done;
    for (i = 0; i < st.ntensors; i++) {
        const ig_st_tensor *t = &st.tensors[i];
        if (drop && !strncmp(t->name, drop, strlen(drop))) continue;
        if (reshape && !strcmp(t->name, reshape)) {
            size_t n = 1;
            int k;
            for (k = 0; k < new_ndim; k++) n *= (size_t)new_shape[k];
            if (!(bufs[nb] = calloc(n + 1, sizeof(float)))) goto done;
            if (ig_st_add(&w, t->name, IG_F32, new_ndim, new_shape, bufs[nb++])) goto done;
            continue;
        }
        if (!(bufs[nb] = malloc(t->end - t->begin + 1))) goto done;
        if (ig_st_read_raw(&st, t, bufs[nb], t->end - t->begin)) goto done;
        if (ig_st_add(&w, t->name, t->dtype, t->ndim, t->shape, bufs[nb++])) goto done;
    }
    if (add) {
        size_t n = 1;
        int k;
        for (k = 0; k < add_ndim; k++) n *= (size_t)add_shape[k];
        if (!(bufs[nb] = calloc(n + 1, sizeof(float)))) goto done;
        if (ig_st_add(&w, add, IG_F32, add_ndim, add_shape, bufs[nb++])) goto done;
    }
    rc = ig_st_writer_save(&w, scratch());
done:
    if (rc) fprintf(stderr, "    rewrite failed: %s\n", ig_last_error());
    ig_st_writer_free(&w);
    for (i = 0; i < nb; i++) free(bufs[i]);
    free(bufs);
    ig_st_close(&st);
    return rc;
}

/* vae_load(scratch()) must fail with a message holding each of the needles */
static int load_fails_with(const char *n1, const char *n2) {
    vae_decoder *d = vae_load(scratch());
    const char *msg = vae_error();
    int ok = !d && strstr(msg, scratch()) && (!n1 || strstr(msg, n1)) && (!n2 || strstr(msg, n2));
    if (!ok) fprintf(stderr, "    load %s, message: %s\n", d ? "succeeded" : "failed", msg);
    vae_free(d);
    remove(scratch());
    return ok;
}

static int test_vae_missing_key(void) {
    const char *k1 = "decoder.up_blocks.1.resnets.0.conv2.weight";
    const char *k2 = "decoder.mid_block.attentions.0.to_v.bias";
    const char *k3 = "post_quant_conv.weight";
    CHECK(rewrite(k1, NULL, 0, NULL, NULL, 0, NULL) == 0, "rewrite");
    CHECK(load_fails_with("missing key", k1), "missing %s", k1);
    CHECK(rewrite(k2, NULL, 0, NULL, NULL, 0, NULL) == 0, "rewrite");
    CHECK(load_fails_with("missing key", k2), "missing %s", k2);
    CHECK(rewrite(k3, NULL, 0, NULL, NULL, 0, NULL) == 0, "rewrite");
    CHECK(load_fails_with("missing key", k3), "missing %s", k3);
    /* the 1x1 shortcut of a resnet that changes channels (32 -> 64) */
    CHECK(rewrite("decoder.up_blocks.1.resnets.0.conv_shortcut.", NULL, 0, NULL, NULL, 0, NULL) == 0, "rewrite");
    CHECK(load_fails_with("missing key", "decoder.up_blocks.1.resnets.0.conv_shortcut.weight"), "missing shortcut");
    /* a whole resnet gone (a level with fewer resnets than the others): its
       first key is named */
    CHECK(rewrite("decoder.up_blocks.0.resnets.0.", NULL, 0, NULL, NULL, 0, NULL) == 0, "rewrite");
    CHECK(load_fails_with("missing key", "decoder.up_blocks.0.resnets.0.norm1.weight"), "missing resnet");
    return 0;
}

static int test_vae_unknown_key(void) {
    const int64_t s1[1] = { 32 };
    const char *k1 = "decoder.up_blocks.0.resnets.0.norm3.weight";   /* a decoder key nobody reads */
    const char *k2 = "decoder.up_blocks.0.attentions.0.to_q.weight"; /* attention without its other keys */
    const char *k3 = "model.diffusion.weight";                       /* not a VAE key at all */
    CHECK(rewrite(NULL, k1, 1, s1, NULL, 0, NULL) == 0, "rewrite");
    CHECK(load_fails_with("unknown decoder key", k1), "unknown %s", k1);
    CHECK(rewrite(NULL, k2, 1, s1, NULL, 0, NULL) == 0, "rewrite");
    CHECK(load_fails_with("missing key", "decoder.up_blocks.0.attentions.0.group_norm.weight"), "partial attention");
    CHECK(rewrite(NULL, k3, 1, s1, NULL, 0, NULL) == 0, "rewrite");
    CHECK(load_fails_with("unknown key", k3), "unknown %s", k3);
    return 0;
}

static int test_vae_wrong_shape(void) {
    const char *k1 = "decoder.up_blocks.0.resnets.0.conv2.weight";   /* (32, 32, 3, 3) */
    const char *k2 = "decoder.mid_block.attentions.0.to_k.weight";   /* (32, 32) */
    const char *k3 = "decoder.conv_norm_out.bias";                   /* (64) */
    const int64_t s1[4] = { 32, 16, 3, 3 }, s2[2] = { 32, 64 }, s3[1] = { 32 };
    CHECK(rewrite(NULL, NULL, 0, NULL, k1, 4, s1) == 0, "rewrite");
    CHECK(load_fails_with(k1, "[32, 16, 3, 3], expected [32, 32, *, *]"), "shape of %s", k1);
    CHECK(rewrite(NULL, NULL, 0, NULL, k2, 2, s2) == 0, "rewrite");
    CHECK(load_fails_with(k2, "[32, 64], expected [32, 32]"), "shape of %s", k2);
    CHECK(rewrite(NULL, NULL, 0, NULL, k3, 1, s3) == 0, "rewrite");
    CHECK(load_fails_with(k3, "[32], expected [64]"), "shape of %s", k3);
    return 0;
}

/* latents with the wrong channel count, a NaN latent, a missing file */
static int test_vae_bad_latents(void) {
    vae_decoder *d = vae_load(FIX "vae_diffusers.safetensors");
    float z[8 * 3 * 5], x[3 * 6 * 10];
    size_t i;
    int rc;
    CHECK(d != NULL, "%s", vae_error());
    for (i = 0; i < sizeof z / sizeof z[0]; i++) z[i] = 0.1f * (float)(i % 7);
    rc = vae_decode(d, z, 1, 8, 3, 5, x);
    CHECK(rc == -1 && strstr(vae_error(), "8 channels") && strstr(vae_error(), "takes 4") &&
          strstr(vae_error(), "vae_diffusers.safetensors") && strstr(vae_error(), "post_quant_conv.weight"),
          "wrong channels: rc %d, message %s", rc, vae_error());
    z[17] = (float)NAN;
    rc = vae_decode(d, z, 1, 4, 3, 5, x);
    CHECK(rc == -1 && strstr(vae_error(), "non-finite") && strstr(vae_error(), "element 17"),
          "NaN: rc %d, message %s", rc, vae_error());
    vae_free(d);
    d = vae_load(FIX "no_such_vae.safetensors");
    CHECK(!d && strstr(vae_error(), "no_such_vae.safetensors"), "missing file: %s", vae_error());
    return 0;
}

const test_case vae_tests[] = {
    { "vae_parity_diffusers", test_vae_parity_diffusers },
    { "vae_parity_diffusers_old", test_vae_parity_diffusers_old },
    { "vae_parity_ldm", test_vae_parity_ldm },
    { "vae_parity_bands", test_vae_parity_bands },
    { "vae_parity_im2col", test_vae_parity_im2col },
    { "vae_winograd_wide", test_vae_winograd_wide },
    { "vae_missing_key", test_vae_missing_key },
    { "vae_unknown_key", test_vae_unknown_key },
    { "vae_wrong_shape", test_vae_wrong_shape },
    { "vae_bad_latents", test_vae_bad_latents },
};
const int vae_ntests = (int)(sizeof vae_tests / sizeof vae_tests[0]);
