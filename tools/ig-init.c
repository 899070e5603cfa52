/* ig-init - write a freshly initialized SiT + IG checkpoint (weights only).

   build/ig-init --out W.safetensors [--channels C] [--size S] [--patch P]
                 [--width D] [--depth L] [--heads H] [--classes N] [--aux-depth K]
                 [--t-scale X] [--seed S] [--noise X]

   The model is initialized as released (ig_model_init: the output heads and
   adaLN start at zero, so its velocity is 0 everywhere); --noise X adds N(0, X^2)
   to every trained weight, so a small test model gives varied outputs
   everywhere.  Defaults: C 4, S 4 (a 4x4 latent), P 2, D 32, L 3, H 2, N 10,
   K 1, t_scale 1, seed 0, noise 0.  For trying the sampling, sharding and
   conversion tools without a trained model (the tests and docs/imagenet.md do). */
#define _POSIX_C_SOURCE 200809L /* before any #include: ig.h's saves fsync and check the destination */
#define IG_IMPLEMENTATION
#include "../ig.h"
#include "../examples/cli.h"

int main(int argc, char **argv) {
    const char *out = NULL;
    long long C = 4, S = 4, P = 2, D = 32, L = 3, H = 2, N = 10, K = 1, seed = 0;
    double noise = 0, t_scale = 1;
    ig_config cfg;
    ig_model m;
    ig_rng r;
    int i;
    size_t j;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: ig-init --out W.safetensors [--channels C] [--size S] [--patch P] [--width D] [--depth L]\n"
                   "               [--heads H] [--classes N] [--aux-depth K] [--t-scale X] [--seed S] [--noise X]\n");
            return 0;
        }
        if (!(v = cli_value("ig-init", argc, argv, &i))) return 2;
        if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--channels")) { if (cli_int("ig-init", a, v, 1, 4096, &C)) return 2; }
        else if (!strcmp(a, "--size")) { if (cli_int("ig-init", a, v, 1, 4096, &S)) return 2; }
        else if (!strcmp(a, "--patch")) { if (cli_int("ig-init", a, v, 1, 64, &P)) return 2; }
        else if (!strcmp(a, "--width")) { if (cli_int("ig-init", a, v, 4, 65536, &D)) return 2; }
        else if (!strcmp(a, "--depth")) { if (cli_int("ig-init", a, v, 2, 1000, &L)) return 2; }
        else if (!strcmp(a, "--heads")) { if (cli_int("ig-init", a, v, 1, 4096, &H)) return 2; }
        else if (!strcmp(a, "--classes")) { if (cli_int("ig-init", a, v, 1, 1 << 20, &N)) return 2; }
        else if (!strcmp(a, "--aux-depth")) { if (cli_int("ig-init", a, v, 1, 999, &K)) return 2; }
        else if (!strcmp(a, "--seed")) { if (cli_int("ig-init", a, v, 0, (long long)1 << 62, &seed)) return 2; }
        else if (!strcmp(a, "--noise")) { if (cli_num("ig-init", a, v, 0.0, 10.0, &noise)) return 2; }
        else if (!strcmp(a, "--t-scale")) { if (cli_num("ig-init", a, v, 1e-6, 1e6, &t_scale)) return 2; }
        else { fprintf(stderr, "ig-init: unknown option %s\n", a); return 2; }
    }
    if (!out) { fprintf(stderr, "ig-init: needs --out W.safetensors (see --help)\n"); return 2; }
    memset(&cfg, 0, sizeof cfg);
    cfg.in_channels = (int)C; cfg.image_height = cfg.image_width = (int)S; cfg.patch_size = (int)P;
    cfg.hidden_size = (int)D; cfg.depth = (int)L; cfg.num_heads = (int)H; cfg.num_classes = (int)N;
    cfg.aux_depth = (int)K; cfg.t_scale = (float)t_scale; cfg.arch = IG_ARCH_SIT;
    if (ig_config_check(&cfg) || ig_model_init(&m, &cfg, 0, (uint64_t)seed)) {
        fprintf(stderr, "ig-init: %s\n", ig_last_error());
        return 2;
    }
    ig_rng_seed(&r, (uint64_t)seed + 1);
    for (i = 0; noise > 0 && i < m.nparams; i++)
        for (j = 0; m.params[i].trainable && j < m.params[i].t->n; j++)
            m.params[i].t->data[j] += (float)noise * ig_rng_normal(&r);
    if (ig_save(&m, out, 0)) { fprintf(stderr, "ig-init: %s\n", ig_last_error()); ig_model_free(&m); return 1; }
    printf("wrote %s: C %d, %dx%d, patch %d, D %d, L %d, %d heads, %d classes, aux head after block %d, %zu weights\n",
           out, cfg.in_channels, cfg.image_height, cfg.image_width, cfg.patch_size, cfg.hidden_size, cfg.depth,
           cfg.num_heads, cfg.num_classes, cfg.aux_depth, m.nweights);
    ig_model_free(&m);
    return 0;
}
