/* quickstart.c - train a tiny Diffusion Transformer with an intermediate head,
   then sample it with Internal Guidance.  Read it top to bottom.

   The data: 2D points (a 1x1 "image" with 2 channels), two classes.
   Class 0 lies on a circle of radius 1, class 1 on a small circle around (0, 0)
   of radius 0.3.  After training we sample class 0 and measure how far the
   samples land from the circle, without and with IG.                         */
#define _POSIX_C_SOURCE 200809L /* before any #include: lets ig_save fsync and check the destination */
#define IG_IMPLEMENTATION
#include "../ig.h"

#define BATCH 256
#define STEPS 1500
#define SAMPLES 2048

static void draw_data(ig_rng *r, float *x, int *y, int n) {
    int i;
    for (i = 0; i < n; i++) {
        float a = 6.2831853f * ig_rng_uniform(r), radius;
        y[i] = i % 2;
        radius = y[i] == 0 ? 1.0f : 0.3f;
        x[2 * i] = radius * cosf(a) + 0.02f * ig_rng_normal(r);
        x[2 * i + 1] = radius * sinf(a) + 0.02f * ig_rng_normal(r);
    }
}

/* mean distance of the samples from the unit circle (0 is perfect) */
static float circle_error(const float *x, int n) {
    double e = 0;
    int i;
    for (i = 0; i < n; i++) e += fabs(sqrt(x[2 * i] * x[2 * i] + x[2 * i + 1] * x[2 * i + 1]) - 1.0);
    return (float)(e / n);
}

int main(void) {
    /* 1. the model: width 64, 4 blocks, the intermediate head after block 1 */
    ig_config cfg = { 2, 1, 1, 1, 64, 4, 4, 2, 1, 1000.0f, IG_ARCH_SIT };
    ig_model model;
    ig_arena scratch;
    ig_ctx ctx;
    ig_train_config tc = ig_train_defaults();
    ig_train_stats stats;
    ig_rng data_rng;
    static float x[2 * SAMPLES], x0[2 * BATCH];
    static int labels[SAMPLES], y[BATCH];
    float grid[33];
    float w;
    int step, i;

    if (ig_model_init(&model, &cfg, 1, 42) ||
        ig_arena_init(&scratch, "scratch", ig_model_scratch_bytes(&cfg, SAMPLES, 0) +
                                           ig_model_scratch_bytes(&cfg, BATCH, 1)) ||
        ig_ctx_init(&ctx, &scratch, ig_model_tape_nodes(&cfg))) {
        fprintf(stderr, "quickstart: %s\n", ig_last_error());
        return 1;
    }
    printf("model: %zu parameters\n", model.nweights);

    /* 2. training: loss = mse(final head) + 0.5 mse(intermediate head) */
    tc.lr = 1e-3f;
    tc.ema_decay = 0.995f;
    ig_rng_seed(&data_rng, 1);
    for (step = 1; step <= STEPS; step++) {
        draw_data(&data_rng, x0, y, BATCH);
        if (ig_train_step(&model, &ctx, &tc, x0, y, BATCH, &stats)) {
            fprintf(stderr, "quickstart: %s\n", ig_last_error());
            return 1;
        }
        if (step % 300 == 0)
            printf("step %4d  loss %.4f  (final head %.4f, intermediate head %.4f)\n",
                   step, stats.loss, stats.loss_final, stats.loss_aux);
    }
    if (ig_save(&model, "quickstart.safetensors", 1) == 0) printf("saved quickstart.safetensors\n");

    /* 3. sampling class 0 from the EMA weights with Heun, 32 steps,
          once for each IG weight w (w = 1 is the plain model) */
    ig_model_swap_ema(&model);
    ig_grid_uniform(grid, 32);
    for (w = 1.0f; w <= 3.0f; w += 1.0f) {
        ig_guided s;
        ig_rng noise;
        memset(&s, 0, sizeof s);
        for (i = 0; i < SAMPLES; i++) labels[i] = 0;
        s.model = &model; s.ctx = &ctx; s.labels = labels; s.batch = SAMPLES;
        s.guidance = ig_guidance_none();
        s.guidance.ig_weight = w;     /* v = v_aux + w (v_final - v_aux) */
        ig_rng_seed(&noise, 7);
        ig_rng_normal_fill(&noise, x, 2 * SAMPLES);
        if (ig_sample_heun(ig_guided_velocity, &s, x, 2 * SAMPLES, grid, 32)) {
            fprintf(stderr, "quickstart: %s\n", ig_last_error());
            return 1;
        }
        printf("IG w = %.0f: mean distance from the circle %.4f (%zu network evaluations)\n",
               w, circle_error(x, SAMPLES), s.nfe);
    }
    ig_arena_free(&scratch);
    ig_model_free(&model);
    return 0;
}
