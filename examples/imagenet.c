/* imagenet.c - train and sample SiT + IG (and LightningDiT + IG) on the released
   ImageNet latents, with ig.h alone.

   build/imagenet train --data ROOT --model XL/2 --out DIR [options]
       ROOT is a REPA folder (ROOT/vae-sd/dataset.json and the .npy files of
       the VAE posterior, 4x32x32 SD-VAE latents; examples/latents.h), or with
       --shards DIR --stats latents_stats.pt the LightningDiT shards (32x16x16
       VA-VAE latents): then the model is the LightningDiT variant.
       --model S/2 .. XL/8 (SiT presets; LightningDiT: usually XL/1)
       --batch 256 --lr 1e-4 --ema 0.9999 --label-dropout 0.1 --lambda 0.5
       --aux-depth K (default 8 as released for every size: the head after block 8;
       S and B have 12 blocks, so K must stay below the depth)
       --depth L --width D --heads H   override the preset (small experiments)
       --steps N (total optimizer steps), --ckpt-every N (default 1000),
       --log-every N (default 10), --seed S, --classes 1000, --resume
       Every --ckpt-every steps and at the end, DIR gets (each written atomically):
         ckpt.safetensors  weights, AdamW moments, EMA, step and RNG (ig_save)
         data.safetensors  the data position (epoch, position, noise RNG) at that step
         ema.safetensors   the EMA weights under the plain names (what sample takes)
       --resume continues from DIR bit for bit: the same flags give the same
       weights as a run that never stopped (tested).
       The SiT release's defaults (Zhou et al. 2026, released training script):
       AdamW lr 1e-4, no weight decay, batch 256, EMA 0.9999, label dropout 0.1,
       lambda 0.5, t ~ U(0,1), linear path.  LightningDiT: lr 2e-4, beta2 0.95,
       the cosine term (ig.h's AdamW; the release's Muon parameter groups are not
       reproduced).

   build/imagenet sample --ckpt W.safetensors --out Z.npy [options]
       --paper            the paper's settings for the checkpoint's kind:
                          SiT: Euler-Maruyama SDE, 250 steps, CFG 1.35 for t <= 0.7,
                               IG 1.4 on all t (t = 1 is noise);
                          LightningDiT: Heun on the shifted grid (124 intervals,
                               shift 0.3), IG 1.4, CFG 1.45 for t <= 0.81
       --sampler sde|euler|heun|heun2 --steps N --ig W --cfg S --cfg-high T
                          (without --paper: SDE, 250 steps, IG 1.4, no CFG;
                          flags given after --paper override it)
       --labels 1,2,3     or --n N (random labels from --seed); --batch B (default 4)
       --seed S           noise and random labels
       --heads H --aux-depth K   for a checkpoint without metadata (the released
                          files converted by build/pt2st have none; defaults: the
                          preset's heads, head after block 8)
       --stats latents_stats.pt  LightningDiT: x = z * std + mean before decoding
       --vae VAE.safetensors --png GRID.png   decode (examples/vae.h) and write a grid
       Z.npy is float32 (N, C, H, W) as the decoder takes it: SiT z / 0.18215,
       LightningDiT z * std + mean (needs --stats; without it the model's own z).

   Compile with IMAGENET_NO_MAIN to call imagenet_main() from another program
   (the tests do); then IG_IMPLEMENTATION must come from another file. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, mkdir */
#ifndef IMAGENET_NO_MAIN
#define IG_IMPLEMENTATION
#endif
#include "../ig.h"
#include "cli.h"
#include "image.h"
#include "latents.h"
#include "vae.h"
#include <sys/stat.h>
#include <time.h>

static double imnet_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int imnet_usage_to(FILE *f, int rc) {
    fprintf(f,
            "usage: imagenet train (--data ROOT | --shards DIR --stats FILE) --model S/2|..|XL/8 --out DIR\n"
            "                      [--batch N] [--steps N] [--lr X] [--ema X] [--label-dropout X] [--lambda X]\n"
            "                      [--aux-depth K] [--depth L] [--width D] [--heads H] [--ckpt-every N] [--log-every N] [--seed S] [--classes N] [--resume]\n"
            "       imagenet sample --ckpt W.safetensors --out Z.npy [--paper] [--labels a,b,..|--n N] [--batch B]\n"
            "                      [--seed S] [--sampler sde|euler|heun|heun2] [--steps N] [--ig W] [--cfg S]\n"
            "                      [--cfg-high T] [--heads H] [--aux-depth K] [--stats FILE] [--vae VAE --png GRID.png]\n");
    return rc;
}
static int imnet_usage(void) { return imnet_usage_to(stderr, 2); }

/* ------------------------------------------------------------------ train */

/* The data position saved next to ckpt.safetensors: I64 [step, epoch, pos,
   rng.state, rng.has_spare, batch] and F32 [rng.spare].  The step ties it to
   the checkpoint it belongs to. */
static int imnet_save_data(const char *path, const lat_dataset *d, int64_t step, size_t batch) {
    ig_st_writer w;
    int64_t v[6], one = 6, f1 = 1;
    float spare = d->rng.spare;
    int rc;
    v[0] = step; v[1] = (int64_t)d->epoch; v[2] = (int64_t)d->pos;
    memcpy(&v[3], &d->rng.state, sizeof v[3]);     /* the uint64 state, bit for bit */
    v[4] = d->rng.has_spare; v[5] = (int64_t)batch;
    ig_st_writer_init(&w);
    rc = ig_st_add(&w, "data.state", IG_I64, 1, &one, v) || ig_st_add(&w, "data.rng_spare", IG_F32, 1, &f1, &spare) ||
         ig_st_writer_save(&w, path);
    ig_st_writer_free(&w);
    if (rc) fprintf(stderr, "imagenet: %s\n", ig_last_error());
    return rc ? -1 : 0;
}

static int imnet_load_data(const char *path, lat_dataset *d, int64_t step, size_t batch) {
    ig_st_file st;
    const ig_st_tensor *a, *b;
    int64_t v[6];
    float spare;
    if (ig_st_open(&st, path)) { fprintf(stderr, "imagenet: %s\n", ig_last_error()); return -1; }
    a = ig_st_find(&st, "data.state"); b = ig_st_find(&st, "data.rng_spare");
    if (!a || !b || ig_st_numel(a) != 6 || ig_st_numel(b) != 1 || a->dtype != IG_I64 || b->dtype != IG_F32 ||
        ig_st_read_i64(&st, a, v, 6) || ig_st_read_f32(&st, b, &spare, 1)) {
        fprintf(stderr, "imagenet: %s: not a data position file (needs data.state I64[6], data.rng_spare F32[1])\n", path);
        ig_st_close(&st);
        return -1;
    }
    ig_st_close(&st);
    if (v[0] != step) {
        fprintf(stderr, "imagenet: %s is at step %lld but the checkpoint at step %lld: they do not belong together\n",
                path, (long long)v[0], (long long)step);
        return -1;
    }
    if (v[5] != (int64_t)batch) {
        fprintf(stderr, "imagenet: %s was written with --batch %lld; resume with the same batch (got %zu)\n", path,
                (long long)v[5], batch);
        return -1;
    }
    if (v[1] < 0 || v[2] < 0 || lat_seek(d, (uint64_t)v[1], (size_t)v[2])) {
        fprintf(stderr, "imagenet: %s: bad data position (%s)\n", path, lat_error());
        return -1;
    }
    memcpy(&d->rng.state, &v[3], sizeof v[3]);
    d->rng.has_spare = (int)v[4];
    d->rng.spare = spare;
    return 0;
}

static int imnet_checkpoint(const ig_model *m, const lat_dataset *d, const char *dir, size_t batch) {
    char path[1100];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    if (ig_save(m, path, 1)) { fprintf(stderr, "imagenet: %s\n", ig_last_error()); return -1; }
    snprintf(path, sizeof path, "%s/ema.safetensors", dir);
    if (ig_save_ema(m, path)) { fprintf(stderr, "imagenet: %s\n", ig_last_error()); return -1; }
    snprintf(path, sizeof path, "%s/data.safetensors", dir);
    return imnet_save_data(path, d, m->step, batch);
}

static int imnet_train(int argc, char **argv) {
    const char *data = NULL, *shards = NULL, *stats = NULL, *model = NULL, *out = NULL;
    long long batch = 256, steps = 1000, ckpt_every = 1000, log_every = 10, seed = 0, classes = 1000, aux = 0;
    long long depth = 0, width = 0, heads = 0;
    double lr = -1, ema = 0.9999, drop = 0.1, lambda = 0.5;
    int resume = 0, i, rc = 1, lightning;
    lat_dataset d;
    ig_config cfg;
    ig_train_config tc;
    ig_model m;
    ig_arena scratch;
    ig_ctx ctx;
    float *z = NULL;
    int *y = NULL;
    size_t per;
    double t0, tlast;
    int64_t slast;
    char path[1100];
    memset(&d, 0, sizeof d); memset(&m, 0, sizeof m); memset(&scratch, 0, sizeof scratch);
    for (i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--resume")) { resume = 1; continue; }
        if (!(v = cli_value("imagenet", argc, argv, &i))) return 2;
        if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--shards")) shards = v;
        else if (!strcmp(a, "--stats")) stats = v;
        else if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--batch")) { if (cli_int("imagenet", a, v, 1, 1 << 20, &batch)) return 2; }
        else if (!strcmp(a, "--steps")) { if (cli_int("imagenet", a, v, 1, (long long)1 << 40, &steps)) return 2; }
        else if (!strcmp(a, "--ckpt-every")) { if (cli_int("imagenet", a, v, 1, (long long)1 << 40, &ckpt_every)) return 2; }
        else if (!strcmp(a, "--log-every")) { if (cli_int("imagenet", a, v, 1, (long long)1 << 40, &log_every)) return 2; }
        else if (!strcmp(a, "--seed")) { if (cli_int("imagenet", a, v, 0, (long long)1 << 62, &seed)) return 2; }
        else if (!strcmp(a, "--classes")) { if (cli_int("imagenet", a, v, 1, 1 << 20, &classes)) return 2; }
        else if (!strcmp(a, "--aux-depth")) { if (cli_int("imagenet", a, v, 1, 1000, &aux)) return 2; }
        else if (!strcmp(a, "--depth")) { if (cli_int("imagenet", a, v, 2, 1000, &depth)) return 2; }
        else if (!strcmp(a, "--width")) { if (cli_int("imagenet", a, v, 4, 65536, &width)) return 2; }
        else if (!strcmp(a, "--heads")) { if (cli_int("imagenet", a, v, 1, 4096, &heads)) return 2; }
        else if (!strcmp(a, "--lr")) { if (cli_num("imagenet", a, v, 0.0, 1.0, &lr)) return 2; }
        else if (!strcmp(a, "--ema")) { if (cli_num("imagenet", a, v, 0.0, 1.0, &ema)) return 2; }
        else if (!strcmp(a, "--label-dropout")) { if (cli_num("imagenet", a, v, 0.0, 1.0, &drop)) return 2; }
        else if (!strcmp(a, "--lambda")) { if (cli_num("imagenet", a, v, 0.0, 100.0, &lambda)) return 2; }
        else { fprintf(stderr, "imagenet train: unknown option %s\n", a); return imnet_usage(); }
    }
    if (!model || !out || (!data == !shards)) {
        fprintf(stderr, "imagenet train: needs --model, --out and one of --data ROOT or --shards DIR\n");
        return imnet_usage();
    }
    if (shards && !stats) { fprintf(stderr, "imagenet train: --shards needs --stats latents_stats.pt\n"); return 2; }
    lightning = shards != NULL;
    if (data ? lat_open_repa(&d, data, (int)classes, (uint64_t)seed)
             : lat_open_shards(&d, shards, stats, (int)classes, (uint64_t)seed)) {
        fprintf(stderr, "imagenet: %s\n", lat_error());
        return 1;
    }
    if (ig_config_preset(&cfg, model, d.C, d.H, d.W, (int)classes)) { fprintf(stderr, "imagenet: %s\n", ig_last_error()); goto done; }
    /* the release hangs the head after block 8 for every size (S and B have 12 blocks) */
    cfg.aux_depth = aux ? (int)aux : 8;
    if (depth) cfg.depth = (int)depth;
    if (width) cfg.hidden_size = (int)width;
    if (heads) cfg.num_heads = (int)heads;
    if (lightning) cfg.arch = IG_ARCH_LIGHTNING;
    if (ig_config_check(&cfg)) { fprintf(stderr, "imagenet: --model %s: %s\n", model, ig_last_error()); goto done; }
    tc = ig_train_defaults();
    if (lightning) { tc.lr = 2e-4f; tc.beta2 = 0.95f; tc.cos_weight = 1.0f; }
    if (lr >= 0) tc.lr = (float)lr;
    tc.ema_decay = (float)ema; tc.label_dropout = (float)drop; tc.aux_weight = (float)lambda;
    per = (size_t)d.C * (size_t)d.H * (size_t)d.W;
    z = (float *)malloc((size_t)batch * per * sizeof(float));
    y = (int *)malloc((size_t)batch * sizeof(int));
    if (!z || !y) { fprintf(stderr, "imagenet: out of memory for a batch of %lld\n", batch); goto done; }
    if (ig_model_init(&m, &cfg, 1, (uint64_t)seed) ||
        ig_arena_init(&scratch, "scratch", ig_model_scratch_bytes(&cfg, (size_t)batch, 1)) ||
        ig_ctx_init(&ctx, &scratch, ig_model_tape_nodes(&cfg))) {
        fprintf(stderr, "imagenet: %s\n", ig_last_error());
        goto done;
    }
    if (mkdir(out, 0777) && errno != EEXIST) { fprintf(stderr, "imagenet: cannot create %s: %s\n", out, strerror(errno)); goto done; }
    if (resume) {
        snprintf(path, sizeof path, "%s/ckpt.safetensors", out);
        if (ig_load(&m, path, 1)) { fprintf(stderr, "imagenet: --resume: %s\n", ig_last_error()); goto done; }
        snprintf(path, sizeof path, "%s/data.safetensors", out);
        if (imnet_load_data(path, &d, m.step, (size_t)batch)) goto done;
        fprintf(stderr, "imagenet: resumed from %s at step %lld\n", out, (long long)m.step);
    }
    fprintf(stderr, "imagenet: %s %s, %d x %d x %d latents, %zu samples, %d classes, head after block %d, "
            "batch %lld, lr %g, EMA %g, label dropout %g, lambda %g%s\n",
            lightning ? "LightningDiT" : "SiT", model, d.C, d.H, d.W, d.n, (int)classes, cfg.aux_depth, batch,
            tc.lr, tc.ema_decay, tc.label_dropout, tc.aux_weight, lightning ? ", cosine term" : "");
    t0 = tlast = imnet_now();
    slast = m.step;
    while (m.step < steps) {
        ig_train_stats s;
        if (lat_next(&d, (size_t)batch, z, y)) { fprintf(stderr, "imagenet: %s\n", lat_error()); goto done; }
        if (ig_train_step(&m, &ctx, &tc, z, y, (size_t)batch, &s)) { fprintf(stderr, "imagenet: %s\n", ig_last_error()); goto done; }
        if (m.step % log_every == 0 || m.step == steps) {
            double now = imnet_now();
            printf("step %lld  epoch %llu  loss %.4f  final %.4f  aux %.4f  grad %.3f  %.2f samples/s  %.0f s\n",
                   (long long)m.step, (unsigned long long)d.epoch, s.loss, s.loss_final, s.loss_aux, s.grad_norm,
                   (double)(m.step - slast) * (double)batch / (now - tlast), now - t0);
            fflush(stdout);
            tlast = now; slast = m.step;
        }
        if ((m.step % ckpt_every == 0 || m.step == steps) && imnet_checkpoint(&m, &d, out, (size_t)batch)) goto done;
    }
    rc = 0;
done:
    free(z); free(y);
    ig_arena_free(&scratch);
    if (m.weights) ig_model_free(&m);
    lat_close(&d);
    return rc;
}

/* ----------------------------------------------------------------- sample */

/* "1,2,3" -> labels; -1 on anything else. */
static int imnet_parse_labels(const char *s, int classes, int **out, size_t *n) {
    size_t cap = 1, k = 0;
    const char *p;
    for (p = s; *p; p++) cap += *p == ',';
    if (!(*out = (int *)malloc(cap * sizeof(int)))) return -1;
    for (p = s;;) {
        char *end;
        long v;
        errno = 0;
        v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v >= classes || (*end != ',' && *end)) {
            fprintf(stderr, "imagenet sample: --labels '%s': each label must be an integer in 0..%d, comma-separated\n",
                    s, classes - 1);
            free(*out); *out = NULL;
            return -1;
        }
        (*out)[k++] = (int)v;
        if (!*end) break;
        p = end + 1;
    }
    *n = k;
    return 0;
}

/* Channel statistics of LightningDiT's latents (latents_stats.pt or its
   safetensors conversion): mean (C), std (C), malloc'ed. */
static int imnet_stats(const char *path, int C, float **mean, float **std) {
    *mean = (float *)malloc((size_t)C * sizeof(float));
    *std = (float *)malloc((size_t)C * sizeof(float));
    if (!*mean || !*std || lat_read_stats(path, C, *mean, *std)) {
        fprintf(stderr, "imagenet: %s\n", *mean && *std ? lat_error() : "out of memory");
        free(*mean); free(*std); *mean = *std = NULL;
        return -1;
    }
    return 0;
}

enum { IMNET_SDE, IMNET_EULER, IMNET_HEUN, IMNET_HEUN2 };

static int imnet_sample(int argc, char **argv) {
    const char *ckpt = NULL, *out = NULL, *labels_s = NULL, *vae_path = NULL, *png = NULL, *stats = NULL;
    long long nimg = 0, batch = 4, seed = 0, heads = 0, aux = 0, steps = -1;
    double igw = -1, cfgs = -1, cfg_high = -1;
    static const char *const samplers[] = { "sde", "euler", "heun", "heun2", NULL };
    int sampler = -1, paper = 0, i, rc = 1, lightning;
    ig_config cfg;
    ig_model m;
    ig_arena scratch;
    ig_ctx ctx;
    ig_guided G;
    ig_rng rng;
    int *labels = NULL, training_file = 0;
    size_t n = 0, per, b0, k;
    float *z = NULL, *grid = NULL, *mean = NULL, *std = NULL;
    double t0;
    ig_st_file st;
    memset(&m, 0, sizeof m); memset(&scratch, 0, sizeof scratch);
    for (i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--paper")) { paper = 1; continue; }
        if (!(v = cli_value("imagenet", argc, argv, &i))) return 2;
        if (!strcmp(a, "--ckpt")) ckpt = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--labels")) labels_s = v;
        else if (!strcmp(a, "--vae")) vae_path = v;
        else if (!strcmp(a, "--png")) png = v;
        else if (!strcmp(a, "--stats")) stats = v;
        else if (!strcmp(a, "--n")) { if (cli_int("imagenet", a, v, 1, 1 << 24, &nimg)) return 2; }
        else if (!strcmp(a, "--batch")) { if (cli_int("imagenet", a, v, 1, 1 << 16, &batch)) return 2; }
        else if (!strcmp(a, "--seed")) { if (cli_int("imagenet", a, v, 0, (long long)1 << 62, &seed)) return 2; }
        else if (!strcmp(a, "--heads")) { if (cli_int("imagenet", a, v, 1, 4096, &heads)) return 2; }
        else if (!strcmp(a, "--aux-depth")) { if (cli_int("imagenet", a, v, 1, 1000, &aux)) return 2; }
        else if (!strcmp(a, "--steps")) { if (cli_int("imagenet", a, v, 2, 100000, &steps)) return 2; }
        else if (!strcmp(a, "--ig")) { if (cli_num("imagenet", a, v, 0.0, 100.0, &igw)) return 2; }
        else if (!strcmp(a, "--cfg")) { if (cli_num("imagenet", a, v, 0.0, 100.0, &cfgs)) return 2; }
        else if (!strcmp(a, "--cfg-high")) { if (cli_num("imagenet", a, v, 0.0, 1.0, &cfg_high)) return 2; }
        else if (!strcmp(a, "--sampler")) { if (cli_choice("imagenet", a, v, samplers, &sampler)) return 2; }
        else { fprintf(stderr, "imagenet sample: unknown option %s\n", a); return imnet_usage(); }
    }
    if (!ckpt || !out) { fprintf(stderr, "imagenet sample: needs --ckpt and --out\n"); return imnet_usage(); }
    if (png && !vae_path) { fprintf(stderr, "imagenet sample: --png needs --vae\n"); return 2; }
    if (labels_s && nimg) { fprintf(stderr, "imagenet sample: give --labels or --n, not both\n"); return 2; }
    if (ig_config_from_file(&cfg, ckpt, (int)heads, (int)aux)) { fprintf(stderr, "imagenet: %s\n", ig_last_error()); return 1; }
    lightning = cfg.arch == IG_ARCH_LIGHTNING;
    /* A training checkpoint (ckpt.safetensors) samples with its EMA weights. */
    if (ig_st_open(&st, ckpt)) { fprintf(stderr, "imagenet: %s\n", ig_last_error()); return 1; }
    training_file = ig_st_find(&st, "ema.x_embedder.proj.bias") != NULL;
    ig_st_close(&st);
    if (labels_s) {
        if (imnet_parse_labels(labels_s, cfg.num_classes, &labels, &n)) return 2;
    } else {
        n = nimg ? (size_t)nimg : (size_t)batch;
        if (!(labels = (int *)malloc(n * sizeof(int)))) return 1;
    }
    ig_rng_seed(&rng, (uint64_t)seed);
    if (!labels_s)
        for (k = 0; k < n; k++) labels[k] = (int)(ig_rng_u64(&rng) % (uint64_t)cfg.num_classes);
    if ((size_t)batch > n) batch = (long long)n;
    /* the settings: defaults, then --paper, then the explicit flags */
    memset(&G, 0, sizeof G);
    G.guidance = ig_guidance_none();
    G.guidance.ig_weight = 1.4f;
    if (paper && lightning) G.guidance = ig_guidance_lightning(1);
    else if (paper) { G.guidance.cfg_scale = 1.35f; G.guidance.cfg_low = 0.0f; G.guidance.cfg_high = 0.7f; }
    if (sampler < 0) sampler = paper && lightning ? IMNET_HEUN2 : IMNET_SDE;
    if (steps < 0) steps = paper && lightning ? IG_LIGHTNING_STEPS : 250;
    if (igw >= 0) G.guidance.ig_weight = (float)igw;
    if (cfgs >= 0) G.guidance.cfg_scale = (float)cfgs;
    if (cfg_high >= 0) G.guidance.cfg_high = (float)cfg_high;
    if (!(grid = (float *)malloc(((size_t)steps + 1) * sizeof(float)))) goto done;
    if (lightning && sampler == IMNET_HEUN2 && paper) ig_grid_shifted(grid, (size_t)steps, IG_LIGHTNING_SHIFT);
    else ig_grid_uniform(grid, (size_t)steps);
    if (stats) {
        if (!lightning) { fprintf(stderr, "imagenet sample: --stats is for LightningDiT checkpoints; %s is SiT\n", ckpt); goto done; }
        if (imnet_stats(stats, cfg.in_channels, &mean, &std)) goto done;
    }
    if (lightning && vae_path && !stats) {
        fprintf(stderr, "imagenet sample: decoding LightningDiT latents needs --stats latents_stats.pt (x = z * std + mean)\n");
        goto done;
    }
    if (ig_model_init(&m, &cfg, training_file, 0) || ig_load(&m, ckpt, 1)) { fprintf(stderr, "imagenet: %s\n", ig_last_error()); goto done; }
    if (training_file) ig_model_swap_ema(&m);
    if (ig_arena_init(&scratch, "scratch", ig_model_scratch_bytes(&cfg, 2 * (size_t)batch, 0)) || ig_ctx_init(&ctx, &scratch, 0)) {
        fprintf(stderr, "imagenet: %s\n", ig_last_error());
        goto done;
    }
    per = (size_t)cfg.in_channels * (size_t)cfg.image_height * (size_t)cfg.image_width;
    if (!(z = (float *)malloc(n * per * sizeof(float)))) { fprintf(stderr, "imagenet: out of memory for %zu latents\n", n); goto done; }
    G.model = &m; G.ctx = &ctx;
    fprintf(stderr, "imagenet: %s %s, %zu images in batches of %lld, %s %lld steps, IG %g, CFG %g for t <= %g%s\n",
            lightning ? "LightningDiT" : "SiT", ckpt, n, batch, samplers[sampler], steps, G.guidance.ig_weight,
            G.guidance.cfg_scale, G.guidance.cfg_high, training_file ? " (EMA weights)" : "");
    t0 = imnet_now();
    for (b0 = 0; b0 < n; b0 += (size_t)batch) {
        size_t B = n - b0 < (size_t)batch ? n - b0 : (size_t)batch, nn = B * per;
        float *x = z + b0 * per;
        int r;
        ig_rng_normal_fill(&rng, x, nn);                 /* x at t = 1: noise */
        G.labels = labels + b0; G.batch = B;
        if (sampler == IMNET_SDE) r = ig_sample_sde(ig_guided_velocity, &G, x, nn, (size_t)steps, IG_PATH_LINEAR, &rng);
        else if (sampler == IMNET_EULER) r = ig_sample_euler(ig_guided_velocity, &G, x, nn, grid, (size_t)steps);
        else if (sampler == IMNET_HEUN) r = ig_sample_heun(ig_guided_velocity, &G, x, nn, grid, (size_t)steps);
        else r = ig_sample_heun2(ig_guided_velocity, &G, x, nn, grid, (size_t)steps);
        if (r) { fprintf(stderr, "imagenet: %s\n", ig_last_error()); goto done; }
        fprintf(stderr, "imagenet: %zu / %zu images, %.1f s per image\n", b0 + B, n, (imnet_now() - t0) / (double)(b0 + B));
    }
    /* to the decoder's input: SiT z / 0.18215; LightningDiT z * std + mean */
    for (k = 0; k < n * per; k++) {
        if (!isfinite(z[k])) { fprintf(stderr, "imagenet: the sample is not finite (image %zu)\n", k / per); goto done; }
        if (!lightning) z[k] /= LAT_SD_SCALE;
        else if (mean) {
            size_t c = (k % per) / ((size_t)cfg.image_height * (size_t)cfg.image_width);
            z[k] = z[k] * std[c] + mean[c];
        }
    }
    {
        size_t shape[4];
        shape[0] = n; shape[1] = (size_t)cfg.in_channels; shape[2] = (size_t)cfg.image_height; shape[3] = (size_t)cfg.image_width;
        if (npy_write(out, NPY_F32, 4, shape, z)) goto done;
    }
    if (vae_path) {
        vae_decoder *dec = vae_load(vae_path);
        float *img;
        size_t H, W;
        if (!dec) { fprintf(stderr, "imagenet: %s\n", vae_error()); goto done; }
        if (dec->z_channels != cfg.in_channels || dec->out_channels != 3) {
            fprintf(stderr, "imagenet: %s takes %d latent channels and gives %d; the model makes %d (needs 3 out)\n",
                    vae_path, dec->z_channels, dec->out_channels, cfg.in_channels);
            vae_free(dec);
            goto done;
        }
        H = (size_t)cfg.image_height * (size_t)dec->factor; W = (size_t)cfg.image_width * (size_t)dec->factor;
        if (!(img = (float *)malloc(n * 3 * H * W * sizeof(float)))) { vae_free(dec); goto done; }
        t0 = imnet_now();
        if (vae_decode(dec, z, n, cfg.in_channels, cfg.image_height, cfg.image_width, img)) {
            fprintf(stderr, "imagenet: %s\n", vae_error());
            free(img); vae_free(dec);
            goto done;
        }
        fprintf(stderr, "imagenet: decoded %zu images in %.1f s per image\n", n, (imnet_now() - t0) / (double)n);
        /* image = clamp((x + 1) / 2) to 8 bits: [-1, 1] maps to 0..255 */
        {
            int cols = (int)ceil(sqrt((double)n));
            int bad = png && img_write_grid_png(png, img, n, 3, (int)H, (int)W, cols, 2, -1.0f, 1.0f);
            free(img); vae_free(dec);
            if (bad) goto done;
        }
    }
    rc = 0;
done:
    free(labels); free(z); free(grid); free(mean); free(std);
    ig_arena_free(&scratch);
    if (m.weights) ig_model_free(&m);
    return rc;
}

int imagenet_main(int argc, char **argv);
int imagenet_main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "train")) return imnet_train(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "sample")) return imnet_sample(argc, argv);
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) return imnet_usage_to(stdout, 0);
    return imnet_usage();
}

#ifndef IMAGENET_NO_MAIN
int main(int argc, char **argv) { return imagenet_main(argc, argv); }
#endif
