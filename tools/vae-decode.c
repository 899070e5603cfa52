/* vae-decode - decode latents to images with a latent-diffusion VAE decoder
   (SD-VAE, VA-VAE; examples/vae.h).

   build/vae-decode --vae VAE.safetensors --latents Z.npy --out X.npy
                    [--png GRID.png] [--cols N] [--conv winograd|im2col]

   Z.npy: float32 (N, C, h, w), the latents as the decoder takes them, i.e.
          already divided by the scale factor (SD-VAE: latent / 0.18215).
   X.npy: float32 (N, 3, h f, w f) (f = 8 for SD-VAE, 16 for VA-VAE), the raw
          decoder output, unclamped (nominally [-1, 1]).
   GRID.png: the images clamp((x + 1) / 2) in a grid of --cols columns
          (default: about square).
   --conv: how 3x3 convolutions run: Winograd F(2x2,3x3) (default) or im2col.
   Prints the decoder's configuration and the time per image to stderr, with
   two rates (2 flops per multiply-add): "effective" counts the convolutions
   as direct ones (comparable across --conv), "done" what was multiplied. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#define IG_IMPLEMENTATION
#include "../ig.h"
#include "../examples/cli.h"
#include "../examples/image.h"
#include "../examples/npy.h"
#include "../examples/vae.h"
#include <time.h>

static int usage(void) {
    fprintf(stderr, "usage: vae-decode --vae VAE.safetensors --latents Z.npy --out X.npy [--png GRID.png] [--cols N] "
                    "[--conv winograd|im2col]\n");
    return 2;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *vae_path = NULL, *z_path = NULL, *out_path = NULL, *png_path = NULL;
    long long cols = 0;
    static const char *const convs[] = { "winograd", "im2col", NULL };
    int conv = 0;
    npy_array z;
    vae_decoder *d;
    float *x;
    size_t n, shape[4];
    double t0, dt, cpu;
    clock_t c0;
    int i, rc = 1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(); return 0; }
        if (!(v = cli_value("vae-decode", argc, argv, &i))) return 2;
        if (!strcmp(a, "--vae")) vae_path = v;
        else if (!strcmp(a, "--latents")) z_path = v;
        else if (!strcmp(a, "--out")) out_path = v;
        else if (!strcmp(a, "--png")) png_path = v;
        else if (!strcmp(a, "--cols")) { if (cli_int("vae-decode", a, v, 1, 4096, &cols)) return 2; }
        else if (!strcmp(a, "--conv")) { if (cli_choice("vae-decode", a, v, convs, &conv)) return 2; }
        else { fprintf(stderr, "vae-decode: unknown option %s\n", a); return usage(); }
    }
    if (!vae_path || !z_path || !out_path) return usage();

    if (npy_read(z_path, &z)) { fprintf(stderr, "vae-decode: %s\n", npy_error()); return 1; }
    if (z.dtype != NPY_F32 || z.ndim != 4 || z.shape[0] == 0 || z.shape[2] > 4096 || z.shape[3] > 4096 ||
        z.shape[1] > 4096) {
        fprintf(stderr, "vae-decode: %s: latents must be float32 (N, C, h, w) with N >= 1; got %s with %d dims\n",
                z_path, z.dtype == NPY_F32 ? "float32" : "another dtype", z.ndim);
        npy_free(&z);
        return 1;
    }
    if (!(d = vae_load(vae_path))) { fprintf(stderr, "vae-decode: %s\n", vae_error()); npy_free(&z); return 1; }
    if ((int)z.shape[1] != d->z_channels) {
        fprintf(stderr, "vae-decode: %s: latents have %d channels, but the decoder %s takes %d (%s is [%d, %d, 1, 1])\n",
                z_path, (int)z.shape[1], vae_path, d->z_channels, d->zkey, d->post_quant.cout, d->post_quant.cin);
        goto done;
    }
    d->winograd = conv == 0;
    n = z.shape[0];
    shape[0] = n; shape[1] = (size_t)d->out_channels;
    shape[2] = z.shape[2] * (size_t)d->factor; shape[3] = z.shape[3] * (size_t)d->factor;
    fprintf(stderr, "vae-decode: %s: %zu weights, z %d -> %d channels, %d levels, x%d; workspace %.1f MB\n",
            vae_path, d->nparams, d->z_channels, d->out_channels, d->nlevels, d->factor,
            vae_workspace_bytes(d, (int)z.shape[2], (int)z.shape[3]) / 1e6);
    x = (float *)malloc(n * shape[1] * shape[2] * shape[3] * sizeof(float) + 1);
    if (!x) { fprintf(stderr, "vae-decode: out of memory for the output\n"); goto done; }
    t0 = now_s();
    c0 = clock();
    if (vae_decode(d, (const float *)z.data, n, (int)z.shape[1], (int)z.shape[2], (int)z.shape[3], x)) {
        fprintf(stderr, "vae-decode: %s: %s\n", z_path, vae_error());
        free(x);
        goto done;
    }
    dt = now_s() - t0;
    cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;   /* all threads together */
    {
        double direct = vae_macs(d, (int)z.shape[2], (int)z.shape[3], 0);
        double done = vae_macs(d, (int)z.shape[2], (int)z.shape[3], 1);
        fprintf(stderr, "vae-decode: %zu images of %zu x %zu in %.2f s: %.3f s per image (%.2f CPU s); "
                "%.1f G multiply-adds per image as direct convolutions, %.1f G done (%s): "
                "%.1f GFLOP/s effective, %.1f GFLOP/s done\n", n, shape[2], shape[3], dt, dt / (double)n,
                cpu / (double)n, direct / 1e9, done / 1e9, conv == 0 ? "Winograd" : "im2col",
                2.0 * direct * (double)n / dt / 1e9, 2.0 * done * (double)n / dt / 1e9);
    }
    if (npy_write(out_path, NPY_F32, 4, shape, x)) { free(x); goto done; }
    if (png_path) {
        int c = cols ? (int)cols : (int)ceil(sqrt((double)n));
        if (d->out_channels != 3 && d->out_channels != 1) {
            fprintf(stderr, "vae-decode: %s: %d output channels, a PNG needs 1 or 3\n", vae_path, d->out_channels);
            free(x);
            goto done;
        }
        /* x in [-1, 1] -> (x + 1) / 2 in [0, 1] -> 0..255, clamped */
        if (img_write_grid_png(png_path, x, n, d->out_channels, (int)shape[2], (int)shape[3], c, 2,
                               -1.0f, 1.0f)) { free(x); goto done; }
    }
    free(x);
    rc = 0;
done:
    vae_free(d);
    npy_free(&z);
    return rc;
}
