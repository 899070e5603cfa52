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
                               shift 0.3), IG 1.4, CFG 1.45 for t <= 0.81 (FID 1.19);
                               with --cfg 1 the release's no-CFG setting: IG 1.7
                               (FID 1.34), the same grid and solver
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

   build/imagenet sample --ckpt W.safetensors --dir DIR --n N [--shard I/K] [options]
       Sharded sampling for an FID over many machines: the N images are cut into
       batches of --batch (images [bB, (b+1)B)), and shard I of K takes the batches
       [floor(I nb / K), floor((I+1) nb / K)) of the nb.  Batch b draws its noise
       from its own stream, seeded by (--seed, b), and image j's label is
       j % num_classes with --labels balanced (N / num_classes of each class; N
       must divide) or a hash of (--seed, j) % num_classes with --labels random
       (the default), so image j depends on (seed, j, batch) alone: any K, and
       any machines of one kind, give the same images (tested: 3 processes and 1
       give the same bytes).  Each shard writes DIR/shard-<start>-<end>.safetensors
       ('latents' (n, C, H, W) as Z.npy above, 'labels' (n,) int64, and every
       setting in the metadata) atomically, and a shard already on disk with the
       same settings is skipped, so a killed job resumes.  The cluster's own
       scheduler runs the shards: see examples/imagenet_slurm.sh and docs/imagenet.md.
   build/imagenet merge --dir DIR --out samples.npz [--vae VAE.safetensors] [--batch B]
       Checks that DIR's shards agree on every setting and cover 0..N-1 exactly
       once, decodes them with the VAE (for 4- or 32-channel latents; a 3-channel
       model's samples are the images), and writes the ADM evaluator's input:
       samples.npz with 'arr_0' uint8 (N, H, W, 3), the pixel the release's
       clamp(127.5 x + 128, 0, 255) cast to uint8 (x in [-1, 1], truncation).
       Written atomically (examples/zipw.h; ZIP64 past 4 GiB); a bad shard set
       (a gap, an overlap, a missing shard, differing settings) is refused with
       exit status 2 and nothing is written.

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
#include "zipw.h"
#include <dirent.h>
#include <errno.h>
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
            "                      [--cfg-high T] [--heads H] [--aux-depth K] [--stats FILE] [--vae VAE --png GRID.png]\n"
            "       imagenet sample --ckpt W.safetensors --dir DIR --n N [--shard I/K] [--labels balanced|random] ...\n"
            "       imagenet merge --dir DIR --out samples.npz [--vae VAE.safetensors] [--batch B]\n");
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

/* ------------------------------------------------------------------------- */
/* sharded sampling and the merge into the FID evaluator's .npz              */
/* ------------------------------------------------------------------------- */

/* splitmix64's finalizer: the seeds of batch b's stream and of image j's label. */
static uint64_t imnet_mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* "I/K" with 0 <= I < K. */
static int imnet_parse_shard(const char *s, long long *i, long long *k) {
    char a[32];
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof a) {
        fprintf(stderr, "imagenet sample: --shard '%s' is not I/K (e.g. 0/8)\n", s);
        return -1;
    }
    memcpy(a, s, (size_t)(slash - s)); a[slash - s] = 0;
    if (cli_int("imagenet", "--shard", a, 0, 1 << 24, i) || cli_int("imagenet", "--shard", slash + 1, 1, 1 << 24, k))
        return -1;
    if (*i >= *k) {
        fprintf(stderr, "imagenet sample: --shard %s: the shard index must be below the shard count (0..%lld)\n", s, *k - 1);
        return -1;
    }
    return 0;
}

typedef struct {
    ig_guided *G;
    const ig_config *cfg;
    const char *ckpt, *dir, *stats;
    const float *mean, *std;
    size_t n, batch, steps;
    uint64_t seed;
    int balanced, sampler, paper;
    const float *grid;
    long long shard_i, shard_k;
    const char *const *samplers;
} imnet_shard_job;

/* Every setting that decides the images, as one string of key=value; fields;
   a shard's metadata carries it and merge compares it field by field. */
static void imnet_settings(const imnet_shard_job *j, char *out, size_t cap) {
    const char *base = strrchr(j->ckpt, '/'), *sbase = j->stats ? strrchr(j->stats, '/') : NULL;
    struct stat sb;
    long long bytes = stat(j->ckpt, &sb) ? -1 : (long long)sb.st_size;
    snprintf(out, cap,
             "ckpt=%s;ckpt_bytes=%lld;n=%zu;batch=%zu;seed=%llu;labels=%s;sampler=%s;steps=%zu;paper=%d;"
             "ig=%.9g;ig_low=%.9g;ig_high=%.9g;cfg=%.9g;cfg_low=%.9g;cfg_high=%.9g;stats=%s",
             base ? base + 1 : j->ckpt, bytes, j->n, j->batch, (unsigned long long)j->seed,
             j->balanced ? "balanced" : "random", j->samplers[j->sampler], j->steps, j->paper,
             (double)j->G->guidance.ig_weight, (double)j->G->guidance.ig_low, (double)j->G->guidance.ig_high,
             (double)j->G->guidance.cfg_scale, (double)j->G->guidance.cfg_low, (double)j->G->guidance.cfg_high,
             j->stats ? (sbase ? sbase + 1 : j->stats) : "-");
}

/* Shard shard_i of shard_k: its batches, sampled and written to one file. */
static int imnet_sample_shard(const imnet_shard_job *j) {
    const ig_config *cfg = j->cfg;
    size_t per = (size_t)cfg->in_channels * (size_t)cfg->image_height * (size_t)cfg->image_width;
    size_t nb = (j->n + j->batch - 1) / j->batch, b_lo, b_hi, lo, hi, b, k;
    char settings[1024], path[4200], num[32];
    float *z = NULL;
    int64_t *lab = NULL;
    int rc = 1;
    double t0;
    ig_st_file st;
    b_lo = (size_t)((unsigned long long)j->shard_i * nb / (unsigned long long)j->shard_k);
    b_hi = (size_t)((unsigned long long)(j->shard_i + 1) * nb / (unsigned long long)j->shard_k);
    lo = b_lo * j->batch; hi = b_hi * j->batch < j->n ? b_hi * j->batch : j->n;
    if (lo >= hi) {
        fprintf(stderr, "imagenet: shard %lld/%lld has no images (%zu batches of %zu for %lld shards)\n", j->shard_i,
                j->shard_k, nb, j->batch, j->shard_k);
        return 0;
    }
    imnet_settings(j, settings, sizeof settings);
    if (strlen(j->dir) > 4000) { fprintf(stderr, "imagenet: --dir %s: path too long\n", j->dir); return 2; }
    if (mkdir(j->dir, 0777) && errno != EEXIST) {
        fprintf(stderr, "imagenet: --dir %s: cannot create: %s\n", j->dir, strerror(errno));
        return 1;
    }
    snprintf(path, sizeof path, "%s/shard-%08zu-%08zu.safetensors", j->dir, lo, hi);
    if (!ig_st_open(&st, path)) {          /* already on disk: done if it is this job's */
        const char *have = ig_st_meta(&st, "settings");
        int same = have && !strcmp(have, settings);
        if (!same)          /* the message before the close: have points into st */
            fprintf(stderr, "imagenet: %s exists with other settings (%s); move it away or use another --dir\n", path,
                    have ? have : "none");
        ig_st_close(&st);
        if (same) { fprintf(stderr, "imagenet: %s is already done (images %zu..%zu)\n", path, lo, hi - 1); return 0; }
        return 2;
    }
    if (!(z = (float *)malloc((hi - lo) * per * sizeof(float))) || !(lab = (int64_t *)malloc((hi - lo) * sizeof(int64_t)))) {
        fprintf(stderr, "imagenet: out of memory for %zu latents\n", hi - lo);
        goto done;
    }
    fprintf(stderr, "imagenet: shard %lld/%lld: images %zu..%zu of %zu (batches %zu..%zu of %zu) -> %s\n", j->shard_i,
            j->shard_k, lo, hi - 1, j->n, b_lo, b_hi - 1, nb, path);
    t0 = imnet_now();
    for (b = b_lo; b < b_hi; b++) {
        size_t i0 = b * j->batch, B = j->n - i0 < j->batch ? j->n - i0 : j->batch, nn = B * per;
        float *x = z + (i0 - lo) * per;
        int labels[4096], r;
        ig_rng rng;
        if (B > sizeof labels / sizeof labels[0]) { fprintf(stderr, "imagenet: --batch above 4096\n"); goto done; }
        for (k = 0; k < B; k++) {
            uint64_t jj = i0 + k;
            labels[k] = (int)(j->balanced ? jj % (uint64_t)cfg->num_classes
                                          : imnet_mix(imnet_mix(j->seed) ^ jj) % (uint64_t)cfg->num_classes);
            lab[i0 - lo + k] = labels[k];
        }
        ig_rng_seed(&rng, imnet_mix(j->seed * 0x100000001b3ull + b));
        ig_rng_normal_fill(&rng, x, nn);                 /* x at t = 1: noise */
        j->G->labels = labels; j->G->batch = B;
        if (j->sampler == IMNET_SDE) r = ig_sample_sde(ig_guided_velocity, j->G, x, nn, j->steps, IG_PATH_LINEAR, &rng);
        else if (j->sampler == IMNET_EULER) r = ig_sample_euler(ig_guided_velocity, j->G, x, nn, j->grid, j->steps);
        else if (j->sampler == IMNET_HEUN) r = ig_sample_heun(ig_guided_velocity, j->G, x, nn, j->grid, j->steps);
        else r = ig_sample_heun2(ig_guided_velocity, j->G, x, nn, j->grid, j->steps);
        if (r) { fprintf(stderr, "imagenet: %s\n", ig_last_error()); goto done; }
        for (k = 0; k < nn; k++) {               /* to the decoder's input, as Z.npy */
            if (!isfinite(x[k])) { fprintf(stderr, "imagenet: the sample is not finite (image %zu)\n", i0 + k / per); goto done; }
            if (cfg->arch != IG_ARCH_LIGHTNING) x[k] /= LAT_SD_SCALE;
            else if (j->mean) {
                size_t c = (k % per) / ((size_t)cfg->image_height * (size_t)cfg->image_width);
                x[k] = x[k] * j->std[c] + j->mean[c];
            }
        }
        fprintf(stderr, "imagenet: shard %lld/%lld: %zu / %zu images, %.1f s per image\n", j->shard_i, j->shard_k,
                i0 + B - lo, hi - lo, (imnet_now() - t0) / (double)(i0 + B - lo));
    }
    {
        ig_st_writer w;
        int64_t zs[4], ls[1];
        int bad = 0;
        zs[0] = (int64_t)(hi - lo); zs[1] = cfg->in_channels; zs[2] = cfg->image_height; zs[3] = cfg->image_width;
        ls[0] = (int64_t)(hi - lo);
        ig_st_writer_init(&w);
        bad |= ig_st_add(&w, "latents", IG_F32, 4, zs, z) | ig_st_add(&w, "labels", IG_I64, 1, ls, lab);
        bad |= ig_st_add_meta(&w, "settings", settings);
        snprintf(num, sizeof num, "%zu", lo); bad |= ig_st_add_meta(&w, "start", num);
        snprintf(num, sizeof num, "%zu", hi); bad |= ig_st_add_meta(&w, "end", num);
        if (!bad) bad = ig_st_writer_save(&w, path);
        ig_st_writer_free(&w);
        if (bad) { fprintf(stderr, "imagenet: %s\n", ig_last_error()); goto done; }
    }
    fprintf(stderr, "imagenet: wrote %s\n", path);
    rc = 0;
done:
    free(z); free(lab);
    return rc;
}

typedef struct { char *path; size_t start, end; } imnet_shard;

/* A count in a shard's metadata (start, end, or the n inside its settings):
   decimal digits only, up to the end of the string (or, in_settings, a ';'),
   and no overflow.  0 or -1. */
static int imnet_count(const char *s, int in_settings, size_t *v) {
    size_t x = 0;
    if (!(*s >= '0' && *s <= '9')) return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (x > ((size_t)-1 - 9) / 10) return -1;
        x = x * 10 + (size_t)(*s - '0');
    }
    if (*s != '\0' && !(in_settings && *s == ';')) return -1;
    *v = x;
    return 0;
}

static int imnet_shard_cmp(const void *a, const void *b) {
    const imnet_shard *x = (const imnet_shard *)a, *y = (const imnet_shard *)b;
    return x->start < y->start ? -1 : x->start > y->start ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* The first field (key=value) in which two settings strings differ. */
static void imnet_first_difference(const char *a, const char *b, char *out, size_t cap) {
    while (*a && *b) {
        size_t la = strcspn(a, ";"), lb = strcspn(b, ";");
        if (la != lb || memcmp(a, b, la)) { snprintf(out, cap, "%.*s against %.*s", (int)la, a, (int)lb, b); return; }
        a += la + (a[la] == ';'); b += lb + (b[lb] == ';');
    }
    snprintf(out, cap, "%s against %s", *a ? a : "(nothing)", *b ? b : "(nothing)");
}

static int imnet_merge(int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *vae_path = NULL;
    long long batch = 4;
    imnet_shard *sh = NULL;
    size_t nsh = 0, cap = 0, total = 0, i, next;
    char *settings = NULL, diff[600], head[NPY_HEADER_MAX];
    int rc = 2, a, C = 0, h = 0, w = 0, zip_open = 0;
    vae_decoder *dec = NULL;
    float *zbuf = NULL, *img = NULL;
    unsigned char *u8 = NULL;
    zipw zw;
    DIR *d;
    struct dirent *de;
    for (a = 2; a < argc; a++) {
        const char *f = argv[a], *v;
        if (!(v = cli_value("imagenet", argc, argv, &a))) return 2;
        if (!strcmp(f, "--dir")) dir = v;
        else if (!strcmp(f, "--out")) out = v;
        else if (!strcmp(f, "--vae")) vae_path = v;
        else if (!strcmp(f, "--batch")) { if (cli_int("imagenet", f, v, 1, 4096, &batch)) return 2; }
        else { fprintf(stderr, "imagenet merge: unknown option %s\n", f); return imnet_usage(); }
    }
    if (!dir || !out) { fprintf(stderr, "imagenet merge: needs --dir and --out\n"); return 2; }
    if (!(d = opendir(dir))) { fprintf(stderr, "imagenet merge: --dir %s: %s\n", dir, strerror(errno)); return 2; }
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (strncmp(de->d_name, "shard-", 6) || len < 12 || strcmp(de->d_name + len - 12, ".safetensors")) continue;
        if (nsh == cap) {
            imnet_shard *q = (imnet_shard *)realloc(sh, (cap = cap ? 2 * cap : 64) * sizeof *q);
            if (!q) { closedir(d); fprintf(stderr, "imagenet merge: out of memory\n"); goto done; }
            sh = q;
        }
        sh[nsh].path = (char *)malloc(strlen(dir) + len + 2);
        if (!sh[nsh].path) { closedir(d); goto done; }
        sprintf(sh[nsh].path, "%s/%s", dir, de->d_name);
        nsh++;
    }
    closedir(d);
    if (!nsh) { fprintf(stderr, "imagenet merge: %s holds no shard-*.safetensors\n", dir); goto done; }
    for (i = 0; i < nsh; i++) {        /* every shard's range and settings */
        ig_st_file st;
        const char *set, *s0, *s1;
        const ig_st_tensor *zt;
        size_t n = 0;
        if (ig_st_open(&st, sh[i].path)) { fprintf(stderr, "imagenet merge: %s\n", ig_last_error()); goto done; }
        set = ig_st_meta(&st, "settings"); s0 = ig_st_meta(&st, "start"); s1 = ig_st_meta(&st, "end");
        zt = ig_st_find(&st, "latents");
        if (!set || !s0 || !s1 || !zt || zt->ndim != 4 || !strstr(set, ";n=")) {
            fprintf(stderr, "imagenet merge: %s is not a shard of 'imagenet sample --dir' (no settings, range or latents)\n",
                    sh[i].path);
            ig_st_close(&st); goto done;
        }
        if (imnet_count(s0, 0, &sh[i].start) || imnet_count(s1, 0, &sh[i].end) ||
            imnet_count(strstr(set, ";n=") + 3, 1, &n)) {
            fprintf(stderr, "imagenet merge: %s: its metadata's start '%s', end '%s' or n are not counts: a damaged shard?\n",
                    sh[i].path, s0, s1);
            ig_st_close(&st); goto done;
        }
        if (sh[i].end <= sh[i].start || sh[i].end > n || (size_t)zt->shape[0] != sh[i].end - sh[i].start) {
            fprintf(stderr, "imagenet merge: %s: range %zu..%zu does not fit its %lld latents of %zu images\n", sh[i].path,
                    sh[i].start, sh[i].end, (long long)zt->shape[0], n);
            ig_st_close(&st); goto done;
        }
        if (!settings) {
            settings = (char *)malloc(strlen(set) + 1);
            if (!settings) { ig_st_close(&st); goto done; }
            strcpy(settings, set);
            total = (size_t)n; C = (int)zt->shape[1]; h = (int)zt->shape[2]; w = (int)zt->shape[3];
        } else if (strcmp(settings, set)) {
            imnet_first_difference(settings, set, diff, sizeof diff);
            fprintf(stderr, "imagenet merge: %s was sampled with other settings than %s: %s\n", sh[i].path, sh[0].path, diff);
            ig_st_close(&st); goto done;
        }
        ig_st_close(&st);
    }
    qsort(sh, nsh, sizeof *sh, imnet_shard_cmp);
    for (next = 0, i = 0; i < nsh; i++) {          /* 0..N-1, each exactly once */
        if (sh[i].start < next) {
            fprintf(stderr, "imagenet merge: %s overlaps %s (images %zu..%zu twice): shards of two different splits?\n",
                    sh[i].path, sh[i - 1].path, sh[i].start, (next < sh[i].end ? next : sh[i].end) - 1);
            goto done;
        }
        if (sh[i].start > next) {
            fprintf(stderr, "imagenet merge: images %zu..%zu are missing (no shard in %s covers them): run those shards\n",
                    next, sh[i].start - 1, dir);
            goto done;
        }
        next = sh[i].end;
    }
    if (next < total) {
        fprintf(stderr, "imagenet merge: images %zu..%zu are missing (no shard in %s covers them): run those shards\n",
                next, total - 1, dir);
        goto done;
    }
    rc = 1;
    {
        size_t H = (size_t)h, W = (size_t)w, per = (size_t)C * (size_t)h * (size_t)w, hn, img_bytes, shape[4];
        if (vae_path) {
            if (!(dec = vae_load(vae_path))) { fprintf(stderr, "imagenet merge: %s\n", vae_error()); goto done; }
            if (dec->z_channels != C || dec->out_channels != 3) {
                fprintf(stderr, "imagenet merge: %s takes %d latent channels and gives %d; the shards hold %d (needs 3 out)\n",
                        vae_path, dec->z_channels, dec->out_channels, C);
                rc = 2; goto done;
            }
            H *= (size_t)dec->factor; W *= (size_t)dec->factor;
        } else if (C != 3) {
            fprintf(stderr, "imagenet merge: the shards hold %d-channel latents: decode them with --vae VAE.safetensors\n", C);
            rc = 2; goto done;
        }
        img_bytes = H * W * 3;
        shape[0] = total; shape[1] = H; shape[2] = W; shape[3] = 3;
        hn = npy_header(NPY_U8, 4, shape, head);
        if (!(zbuf = (float *)malloc((size_t)batch * per * sizeof(float))) ||
            !(img = (float *)malloc((size_t)batch * 3 * H * W * sizeof(float))) ||
            !(u8 = (unsigned char *)malloc((size_t)batch * img_bytes)) || !hn) {
            fprintf(stderr, "imagenet merge: out of memory\n"); goto done;
        }
        if (zipw_open(&zw, out) || zipw_begin(&zw, "arr_0.npy", (uint64_t)hn + (uint64_t)total * img_bytes) ||
            zipw_data(&zw, head, hn)) {
            fprintf(stderr, "imagenet merge: %s\n", zipw_error());
            if (zw.f) zipw_abort(&zw);
            goto done;
        }
        zip_open = 1;
        for (i = 0; i < nsh; i++) {
            ig_st_file st;
            const ig_st_tensor *zt;
            size_t n_i = sh[i].end - sh[i].start, b0, B, q, y, x, c;
            float *all;
            if (ig_st_open(&st, sh[i].path)) { fprintf(stderr, "imagenet merge: %s\n", ig_last_error()); goto done; }
            zt = ig_st_find(&st, "latents");
            all = (float *)malloc(n_i * per * sizeof(float));
            if (!all || ig_st_read_f32(&st, zt, all, n_i * per)) {
                fprintf(stderr, "imagenet merge: %s\n", all ? ig_last_error() : "out of memory");
                free(all); ig_st_close(&st); goto done;
            }
            ig_st_close(&st);
            for (b0 = 0; b0 < n_i; b0 += B) {
                const float *src;
                B = n_i - b0 < (size_t)batch ? n_i - b0 : (size_t)batch;
                if (dec) {
                    memcpy(zbuf, all + b0 * per, B * per * sizeof(float));
                    if (vae_decode(dec, zbuf, B, C, h, w, img)) {
                        fprintf(stderr, "imagenet merge: %s\n", vae_error()); free(all); goto done;
                    }
                    src = img;
                } else src = all + b0 * per;
                /* (B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8: clamp(127.5 x + 128, 0, 255), truncated */
                for (q = 0; q < B; q++)
                    for (y = 0; y < H; y++)
                        for (x = 0; x < W; x++)
                            for (c = 0; c < 3; c++) {
                                float v = 127.5f * src[((q * 3 + c) * H + y) * W + x] + 128.0f;
                                v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
                                u8[((q * H + y) * W + x) * 3 + c] = (unsigned char)v;
                            }
                if (zipw_data(&zw, u8, B * img_bytes)) { fprintf(stderr, "imagenet merge: %s\n", zipw_error()); free(all); goto done; }
            }
            free(all);
            fprintf(stderr, "imagenet merge: %s: images %zu..%zu\n", sh[i].path, sh[i].start, sh[i].end - 1);
        }
        if (zipw_end(&zw) || zipw_close(&zw)) { zip_open = 0; fprintf(stderr, "imagenet merge: %s\n", zipw_error()); goto done; }
        zip_open = 0;
        printf("wrote %s: arr_0 uint8 (%zu, %zu, %zu, 3) from %zu shards\n", out, total, H, W, nsh);
    }
    rc = 0;
done:
    if (zip_open) zipw_abort(&zw);
    for (i = 0; i < nsh; i++) free(sh[i].path);
    free(sh); free(settings); free(zbuf); free(img); free(u8);
    if (dec) vae_free(dec);
    return rc;
}

static int imnet_sample(int argc, char **argv) {
    const char *ckpt = NULL, *out = NULL, *labels_s = NULL, *vae_path = NULL, *png = NULL, *stats = NULL;
    const char *dir = NULL, *shard_s = NULL;
    long long nimg = 0, batch = 4, seed = 0, heads = 0, aux = 0, steps = -1, shard_i = 0, shard_k = 1;
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
        else if (!strcmp(a, "--dir")) dir = v;
        else if (!strcmp(a, "--shard")) shard_s = v;
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
    if (dir || shard_s) {
        if (!ckpt || !dir || !nimg) { fprintf(stderr, "imagenet sample: sharded sampling needs --ckpt, --dir and --n\n"); return 2; }
        if (out || png || vae_path) {
            fprintf(stderr, "imagenet sample: --dir writes shards; --out, --png and --vae belong to 'imagenet merge'\n");
            return 2;
        }
        if (shard_s && imnet_parse_shard(shard_s, &shard_i, &shard_k)) return 2;
        if (labels_s && strcmp(labels_s, "balanced") && strcmp(labels_s, "random")) {
            fprintf(stderr, "imagenet sample: --dir takes --labels balanced or random, not a list ('%s')\n", labels_s);
            return 2;
        }
    } else if (labels_s && (!strcmp(labels_s, "balanced") || !strcmp(labels_s, "random"))) {
        fprintf(stderr, "imagenet sample: --labels %s is for sharded sampling (--dir DIR --n N)\n", labels_s);
        return 2;
    }
    if (!ckpt || (!out && !dir)) { fprintf(stderr, "imagenet sample: needs --ckpt and --out\n"); return imnet_usage(); }
    if (png && !vae_path) { fprintf(stderr, "imagenet sample: --png needs --vae\n"); return 2; }
    if (labels_s && nimg && !dir) { fprintf(stderr, "imagenet sample: give --labels or --n, not both\n"); return 2; }
    if (ig_config_from_file(&cfg, ckpt, (int)heads, (int)aux)) { fprintf(stderr, "imagenet: %s\n", ig_last_error()); return 1; }
    lightning = cfg.arch == IG_ARCH_LIGHTNING;
    /* A training checkpoint (ckpt.safetensors) samples with its EMA weights. */
    if (ig_st_open(&st, ckpt)) { fprintf(stderr, "imagenet: %s\n", ig_last_error()); return 1; }
    training_file = ig_st_find(&st, "ema.x_embedder.proj.bias") != NULL;
    ig_st_close(&st);
    if (dir) {
        if (labels_s && !strcmp(labels_s, "balanced") && nimg % cfg.num_classes) {
            fprintf(stderr, "imagenet sample: --labels balanced: --n %lld is not a multiple of the %d classes\n", nimg,
                    cfg.num_classes);
            return 2;
        }
        n = (size_t)nimg;
        if (!(labels = (int *)malloc(1))) return 1;
    } else if (labels_s) {
        if (imnet_parse_labels(labels_s, cfg.num_classes, &labels, &n)) return 2;
    } else {
        n = nimg ? (size_t)nimg : (size_t)batch;
        if (!(labels = (int *)malloc(n * sizeof(int)))) return 1;
    }
    ig_rng_seed(&rng, (uint64_t)seed);
    if (!labels_s && !dir)
        for (k = 0; k < n; k++) labels[k] = (int)(ig_rng_u64(&rng) % (uint64_t)cfg.num_classes);
    if ((size_t)batch > n && !dir) batch = (long long)n;
    /* the settings: defaults, then --paper, then the explicit flags */
    memset(&G, 0, sizeof G);
    G.guidance = ig_guidance_none();
    G.guidance.ig_weight = 1.4f;
    /* LightningDiT's two released settings: with CFG (IG 1.4, CFG 1.45 for t <= 0.81,
       FID 1.19) and, asked for by --cfg 1, without (IG 1.7, FID 1.34) */
    if (paper && lightning) G.guidance = ig_guidance_lightning(!(cfgs >= 0 && cfgs <= 1.0));
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
    G.model = &m; G.ctx = &ctx;
    if (dir) {
        imnet_shard_job job;
        job.G = &G; job.cfg = &cfg; job.ckpt = ckpt; job.dir = dir; job.stats = stats; job.mean = mean; job.std = std;
        job.n = n; job.batch = (size_t)batch; job.seed = (uint64_t)seed; job.balanced = labels_s && !strcmp(labels_s, "balanced");
        job.sampler = sampler; job.steps = (size_t)steps; job.grid = grid; job.paper = paper;
        job.shard_i = shard_i; job.shard_k = shard_k; job.samplers = samplers;
        rc = imnet_sample_shard(&job);
        goto done;
    }
    if (!(z = (float *)malloc(n * per * sizeof(float)))) { fprintf(stderr, "imagenet: out of memory for %zu latents\n", n); goto done; }
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
    if (argc >= 2 && !strcmp(argv[1], "merge")) return imnet_merge(argc, argv);
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) return imnet_usage_to(stdout, 0);
    return imnet_usage();
}

#ifndef IMAGENET_NO_MAIN
int main(int argc, char **argv) { return imagenet_main(argc, argv); }
#endif
