/* vae-random - a VAE decoder of real shapes with random weights, and random
   latents, for measuring build/vae-decode's speed without downloading weights.

   build/vae-random --shapes sd|vavae --out W.safetensors [--latents Z.npy] [--n N] [--seed S]

   sd:    SD-VAE (kl-f8): z 4, channels 512, 512, 256, 128 from the lowest level,
          3 resnets per level, 32x32 latents -> 256x256; old diffusers key names
          (query / key / value / proj_attn), as the ft-EMA checkpoint.
   vavae: VA-VAE (f16d32): z 32, channels 512, 256, 256, 128, 128, 3 resnets per
          level with an attention block after each in the lowest level, 16x16
          latents -> 256x256; latent-diffusion key names.
   (Shapes from ../shared/docs/imagenet.md.)  Weights uniform with the variance
   1 / fan_in, so activations keep their scale; latents N(0, 1), (N, z, h, w). */
#define _POSIX_C_SOURCE 200809L /* before any #include: ig.h's saves fsync and check the destination */
#define IG_IMPLEMENTATION
#include "../ig.h"
#include "../examples/cli.h"
#include "../examples/npy.h"

#define VAE_RANDOM_USAGE "usage: vae-random --shapes sd|vavae --out W.safetensors [--latents Z.npy] [--n N] [--seed S]\n"

typedef struct {
    ig_st_writer w;
    float *bufs[1024];
    int nbufs;
    uint64_t rng;
    int ldm, nlevels;
} gen;

static float uni(gen *g) {   /* uniform in [-1, 1): xorshift64* */
    g->rng ^= g->rng >> 12; g->rng ^= g->rng << 25; g->rng ^= g->rng >> 27;
    return (float)((g->rng * 2685821657736338717ULL) >> 40) / (float)(1 << 23) - 1.0f;
}

/* adds name with the given shape: fill 0 = uniform(+-a), 1 = 1 + 0.1 uniform */
static int add(gen *g, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3, float a, int fill) {
    int64_t shape[4];
    size_t n = 1, i;
    int k;
    float *p;
    shape[0] = d0; shape[1] = d1; shape[2] = d2; shape[3] = d3;
    for (k = 0; k < ndim; k++) n *= (size_t)shape[k];
    if (g->nbufs >= 1024 || !(p = (float *)malloc(n * sizeof(float)))) { fprintf(stderr, "vae-random: out of memory\n"); return -1; }
    g->bufs[g->nbufs++] = p;
    for (i = 0; i < n; i++) p[i] = fill ? 1.0f + 0.1f * uni(g) : a * uni(g);
    if (ig_st_add(&g->w, name, IG_F32, ndim, shape, p)) { fprintf(stderr, "vae-random: %s\n", ig_last_error()); return -1; }
    return 0;
}

static int conv(gen *g, const char *pre, int cin, int cout, int k) {
    char key[320];
    float a = (float)sqrt(3.0 / (cin * k * k));   /* uniform(+-a) has variance a^2 / 3 */
    snprintf(key, sizeof key, "%sweight", pre);
    if (add(g, key, 4, cout, cin, k, k, a, 0)) return -1;
    snprintf(key, sizeof key, "%sbias", pre);
    return add(g, key, 1, cout, 0, 0, 0, 0.05f, 0);
}

static int norm(gen *g, const char *pre, int c) {
    char key[320];
    snprintf(key, sizeof key, "%sweight", pre);
    if (add(g, key, 1, c, 0, 0, 0, 0, 1)) return -1;
    snprintf(key, sizeof key, "%sbias", pre);
    return add(g, key, 1, c, 0, 0, 0, 0.05f, 0);
}

static int resnet(gen *g, const char *pre, int cin, int cout) {
    char key[256];
    snprintf(key, sizeof key, "%snorm1.", pre);
    if (norm(g, key, cin)) return -1;
    snprintf(key, sizeof key, "%sconv1.", pre);
    if (conv(g, key, cin, cout, 3)) return -1;
    snprintf(key, sizeof key, "%snorm2.", pre);
    if (norm(g, key, cout)) return -1;
    snprintf(key, sizeof key, "%sconv2.", pre);
    if (conv(g, key, cout, cout, 3)) return -1;
    if (cin == cout) return 0;
    snprintf(key, sizeof key, "%s%s", pre, g->ldm ? "nin_shortcut." : "conv_shortcut.");
    return conv(g, key, cin, cout, 1);
}

/* ldm: 1x1 conv weights (c, c, 1, 1); old diffusers: (c, c) */
static int attn(gen *g, const char *pre, int c) {
    static const char *const ldm[5] = { "norm.", "q.", "k.", "v.", "proj_out." };
    static const char *const old[5] = { "group_norm.", "query.", "key.", "value.", "proj_attn." };
    const char *const *nm = g->ldm ? ldm : old;
    char key[256];
    int i;
    float a = (float)sqrt(3.0 / c);
    snprintf(key, sizeof key, "%s%s", pre, nm[0]);
    if (norm(g, key, c)) return -1;
    for (i = 1; i < 5; i++) {
        snprintf(key, sizeof key, "%s%sweight", pre, nm[i]);
        if (add(g, key, g->ldm ? 4 : 2, c, c, 1, 1, a, 0)) return -1;
        snprintf(key, sizeof key, "%s%sbias", pre, nm[i]);
        if (add(g, key, 1, c, 0, 0, 0, 0.05f, 0)) return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    static const char *const shapes[] = { "sd", "vavae", NULL };
    static const int sd_ch[4] = { 512, 512, 256, 128 }, va_ch[5] = { 512, 256, 256, 128, 128 };
    const char *out = NULL, *zpath = NULL;
    long long n = 4, seed = 1;
    int which = -1, i, k, j, z, h, c, nres = 3, rc = 1;
    const int *ch;
    gen g;
    char pre[128], key[192];
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { printf("%s", VAE_RANDOM_USAGE); return 0; }
        if (strcmp(a, "--shapes") && strcmp(a, "--out") && strcmp(a, "--latents") && strcmp(a, "--n") && strcmp(a, "--seed")) {
            fprintf(stderr, "vae-random: unknown option %s\n%s", a, VAE_RANDOM_USAGE);
            return 2;
        }
        if (!(v = cli_value("vae-random", argc, argv, &i))) return 2;
        if (!strcmp(a, "--shapes")) { if (cli_choice("vae-random", a, v, shapes, &which)) return 2; }
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--latents")) zpath = v;
        else if (!strcmp(a, "--n")) { if (cli_int("vae-random", a, v, 1, 4096, &n)) return 2; }
        else if (cli_int("vae-random", a, v, 0, 1LL << 62, &seed)) return 2;   /* --seed */
    }
    if (which < 0 || !out) {
        fprintf(stderr, "%s", VAE_RANDOM_USAGE);
        return 2;
    }
    memset(&g, 0, sizeof g);
    ig_st_writer_init(&g.w);
    g.rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)seed;
    g.ldm = which == 1;
    g.nlevels = which == 0 ? 4 : 5;
    ch = which == 0 ? sd_ch : va_ch;
    z = which == 0 ? 4 : 32;
    h = which == 0 ? 32 : 16;
    c = ch[0];
    if (conv(&g, "post_quant_conv.", z, z, 1) || conv(&g, "decoder.conv_in.", z, c, 3)) goto done;
    if (resnet(&g, g.ldm ? "decoder.mid.block_1." : "decoder.mid_block.resnets.0.", c, c) ||
        attn(&g, g.ldm ? "decoder.mid.attn_1." : "decoder.mid_block.attentions.0.", c) ||
        resnet(&g, g.ldm ? "decoder.mid.block_2." : "decoder.mid_block.resnets.1.", c, c)) goto done;
    for (k = 0; k < g.nlevels; k++) {   /* k: execution order, lowest resolution first */
        if (g.ldm) snprintf(pre, sizeof pre, "decoder.up.%d.", g.nlevels - 1 - k);
        else snprintf(pre, sizeof pre, "decoder.up_blocks.%d.", k);
        for (j = 0; j < nres; j++) {
            snprintf(key, sizeof key, g.ldm ? "%sblock.%d." : "%sresnets.%d.", pre, j);
            if (resnet(&g, key, c, ch[k])) goto done;
            c = ch[k];
            if (g.ldm && k == 0) {   /* VA-VAE: attention at the lowest resolution */
                snprintf(key, sizeof key, "%sattn.%d.", pre, j);
                if (attn(&g, key, c)) goto done;
            }
        }
        if (k + 1 < g.nlevels) {
            snprintf(key, sizeof key, g.ldm ? "%supsample.conv." : "%supsamplers.0.conv.", pre);
            if (conv(&g, key, c, c, 3)) goto done;
        }
    }
    if (norm(&g, g.ldm ? "decoder.norm_out." : "decoder.conv_norm_out.", c) || conv(&g, "decoder.conv_out.", c, 3, 3))
        goto done;
    if (ig_st_writer_save(&g.w, out)) { fprintf(stderr, "vae-random: %s\n", ig_last_error()); goto done; }
    if (zpath) {
        size_t shape[4], m, e;
        float *zz;
        shape[0] = (size_t)n; shape[1] = (size_t)z; shape[2] = shape[3] = (size_t)h;
        m = shape[0] * shape[1] * shape[2] * shape[3];
        if (!(zz = (float *)malloc(m * sizeof(float)))) goto done;
        for (e = 0; e < m; e += 2) {   /* Box-Muller */
            double u1 = (uni(&g) + 1.0) / 2.0 + 1e-12, u2 = (uni(&g) + 1.0) / 2.0, r = sqrt(-2.0 * log(u1));
            zz[e] = (float)(r * cos(2 * 3.14159265358979 * u2));
            if (e + 1 < m) zz[e + 1] = (float)(r * sin(2 * 3.14159265358979 * u2));
        }
        i = npy_write(zpath, NPY_F32, 4, shape, zz);
        free(zz);
        if (i) goto done;
    }
    rc = 0;
done:
    ig_st_writer_free(&g.w);
    for (i = 0; i < g.nbufs; i++) free(g.bufs[i]);
    return rc;
}
