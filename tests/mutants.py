#!/usr/bin/env python3
"""mutants.py - does the test suite notice when the method is wrong?

Applies, one at a time, each small semantic change ("mutant") listed below to a
COPY of the sources (ig.h, or a file under examples/), rebuilds the test runner
against the copy, runs the tests, and expects them to fail.  A mutant the suite
passes "survives": then the tests cannot tell that change from the real method,
and this script fails.  It also fails if any mutant's original text does not
occur exactly once in its file (so the list cannot rot silently when a file
changes: fix the entry), or if the unmutated suite does not pass.

    make mutants                       # = python3 tests/mutants.py, 1 job
    python3 tests/mutants.py --jobs 2  # parallel: only on an otherwise idle machine
    python3 tests/mutants.py --list    # the list, and a check that every entry applies
    python3 tests/mutants.py --only cfg,ema   # the mutants whose name contains 'cfg' or 'ema'

How it is fast: every test file is compiled once (-O2, the Makefile's warnings,
arch and OpenMP flags); a mutant recompiles only the files it reaches.
- ig.h: only tests/test_ig.c holds the implementation (IG_IMPLEMENTATION), and
  every ig.h mutant sits in the implementation part (checked), so test_ig.c is
  recompiled; the runner runs the whole suite except the toy's tests (filter
  "-toy_": the toy's ground truth, figures and its 5-second end-to-end run).
- examples/ (issue 24): the examples are #included by several test files; the
  entry names the runner filters of the tests that check it, and the test files
  that include the changed file (following #include "...") and hold a selected
  test are recompiled; only the selected tests run.
Each mutant runs in its own directory (the tests write scratch files under
build/), stopping at the first failing test (--all-tests lists every test that
kills each mutant).  A mutant that makes the runner crash or run past --timeout
seconds counts as killed.

Each entry: (name, file, exact original text, replacement, what it breaks[,
runner filters]).  When a feature lands, its mutants land here with it.
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBSET = ["-toy_"]          # runner filters: everything but the toy's tests

MUTANTS = [
    # --- random numbers ----------------------------------------------------------
    ("rng_uniform_half", "ig.h",
     "return ((float)(ig_rng_u64(r) >> 40) + 0.5f) * (1.0f / 16777216.0f);",
     "return ((float)(ig_rng_u64(r) >> 41) + 0.5f) * (1.0f / 16777216.0f);",
     "ig_rng_uniform covers (0, 0.5) only"),
    ("rng_normal_spare", "ig.h",
     "r->spare = (float)(rad * sin(2.0 * IG__PI * u2));",
     "r->spare = (float)(rad * cos(2.0 * IG__PI * u2));",
     "Box-Muller's second normal repeats the first"),
    ("error_buffer_shared", "ig.h",
     "static IG__THREAD_LOCAL char ig__errbuf[1024];",
     "static char ig__errbuf[1024];",
     "one error buffer for all threads: a thread reads another's failure"),
    # --- ops: forward and backward ---------------------------------------------
    ("ln_eps", "ig.h",
     "rstd = (float)(1.0 / sqrt(var + 1e-6));",
     "rstd = (float)(1.0 / sqrt(var + 1e-2));",
     "LayerNorm eps 1e-2 instead of 1e-6 (forward)"),
    ("ln_backward_mean", "ig.h",
     "dx[d] += rstd[r] * (float)(dy[d] - mdy - xh[d] * mdyx);",
     "dx[d] += rstd[r] * (float)(dy[d] - xh[d] * mdyx);",
     "LayerNorm backward forgets the mean of dy"),
    ("gelu_k1", "ig.h",
     "#define IG__GELU_K1 0.044715f",
     "#define IG__GELU_K1 0.04f",
     "GELU's cubic coefficient (forward and backward)"),
    ("gelu_backward", "ig.h",
     "float dudx = IG__GELU_K0 * (1.0f + 3.0f * IG__GELU_K1 * v * v);",
     "float dudx = IG__GELU_K0 * (1.0f + IG__GELU_K1 * v * v);",
     "GELU backward: d/dx of x^3 taken as x^2"),
    ("silu_backward", "ig.h",
     "dx[i] += dy[i] * s * (1.0f + xd[i] * (1.0f - s));",
     "dx[i] += dy[i] * s;",
     "SiLU backward: sigmoid instead of the derivative"),
    ("modulate_one_plus", "ig.h",
     "for (d = 0; d < D; d++) yv[d] = xv[d] * (1.0f + sc[d]) + sh[d];",
     "for (d = 0; d < D; d++) yv[d] = xv[d] * sc[d] + sh[d];",
     "adaLN modulate: x * scale instead of x * (1 + scale)"),
    ("gated_add_backward", "ig.h",
     "for (d = 0; d < D; d++) dgate[b * D + d] += dy[d] * h->data[o + d];",
     "for (d = 0; d < D; d++) dgate[b * D + d] += dy[d];",
     "gated residual backward: gate gradient ignores h"),
    ("attention_backward_scale", "ig.h",
     "for (j = 0; j < T; j++) dp[j] = p[j] * (dp[j] - dot[j]) * scale;",
     "for (j = 0; j < T; j++) dp[j] = p[j] * (dp[j] - dot[j]);",
     "attention backward: the 1/sqrt(hd) of dq and dk dropped"),
    ("linear_backward_db", "ig.h",
     "for (n = n0; n < n1; n++) db[n] += y->grad[m * N + n];",
     "for (n = n0; n < n1; n++) db[n] += y->grad[n];",
     "Linear backward: the bias gradient sums the first row M times"),
    ("mse_backward_two", "ig.h",
     "float g = nd->out->grad[0] * 2.0f / (float)a->n,",
     "float g = nd->out->grad[0] * 1.0f / (float)a->n,",
     "MSE backward: d/da (a - b)^2 = (a - b) instead of 2 (a - b)"),
    # --- the model ---------------------------------------------------------------
    ("time_cos_sin_swapped", "ig.h",
     "e->data[b * 256 + i] = cosf(a);",
     "e->data[b * 256 + i] = sinf(a);",
     "time embedding: sin where cos goes (first half)"),
    ("time_ignores_t_scale", "ig.h",
     "float a = t[b] * t_scale * freq[i];",
     "float a = t[b] * freq[i];",
     "time embedding: t_scale ignored (the toy and Fashion-MNIST models train with t x 1000)"),
    ("aux_head_depth", "ig.h",
     "int at_aux = v_aux && i + 1 == cfg->aux_depth;",
     "int at_aux = v_aux && i == cfg->aux_depth;",
     "the intermediate head reads block k + 1 instead of block k"),
    ("adaln_chunk_order", "ig.h",
     "bp->proj_w, bp->proj_b);\n    h = ig_gated_add(ctx, h, ig_chunk(ctx, mod, 6, 2), u);",
     "bp->proj_w, bp->proj_b);\n    h = ig_gated_add(ctx, h, ig_chunk(ctx, mod, 6, 5), u);",
     "adaLN: the attention residual uses gate2 instead of gate1"),
    ("label_not_added", "ig.h",
     "return ig_add(ctx, c, ig_gather(ctx, m->label_table, labels, B));",
     "return ig_add(ctx, c, ig_scale(ctx, ig_gather(ctx, m->label_table, labels, B), 0.0f));",
     "the class label does not condition the model"),
    ("xavier_bound", "ig.h",
     "float a = sqrtf(6.0f / (float)(fan_in + fan_out));",
     "float a = sqrtf(3.0f / (float)(fan_in + fan_out));",
     "xavier-uniform init with half the variance"),
    ("pos_embed_axes", "ig.h",
     "e[q] = (float)sin((double)j * omega);",
     "e[q] = (float)sin((double)i * omega);",
     "position table: the column half encodes the row"),
    # --- training: the batch -----------------------------------------------------
    ("target_sign", "ig.h",
     "target[b * per + i] = e - x0i;",
     "target[b * per + i] = x0i - e;",
     "flow-matching target x0 - eps instead of eps - x0"),
    ("xt_mix_swapped", "ig.h",
     "xt[b * per + i] = (1.0f - tb) * x0i + tb * e;",
     "xt[b * per + i] = tb * x0i + (1.0f - tb) * e;",
     "x_t mixes data and noise the wrong way round"),
    ("dropout_90", "ig.h",
     "train_labels[b] = ig_rng_uniform(rng) < tc->label_dropout ? cfg->num_classes : labels[b];",
     "train_labels[b] = ig_rng_uniform(rng) < 1.0f - tc->label_dropout ? cfg->num_classes : labels[b];",
     "label dropout drops 90% of the labels instead of 10%"),
    ("dropout_to_class0", "ig.h",
     "? cfg->num_classes : labels[b];",
     "? 0 : labels[b];",
     "a dropped label becomes class 0 instead of the null label"),
    ("uniform_t_half", "ig.h",
     "tb = ig_rng_uniform(rng);",
     "tb = 0.5f * ig_rng_uniform(rng);",
     "uniform t drawn from [0, 0.5] only"),
    ("lognormal_mapping", "ig.h",
     "tb = tc->path == IG_PATH_COSINE ? (float)(2.0 / IG__PI * atan(s)) : s / (1.0f + s);",
     "tb = tc->path == IG_PATH_COSINE ? (float)(2.0 / IG__PI * atan(s)) : 1.0f / (1.0f + s);",
     "lognormal t: 1 / (1 + s) instead of s / (1 + s) on the linear path"),
    ("cosine_target", "ig.h",
     "target[b * per + i] = 0.5f * (float)IG__PI * (al * e - si * x0i);",
     "target[b * per + i] = al * e - si * x0i;",
     "cosine path: target without the pi/2 of d/dt"),
    ("train_undropped_labels", "ig.h",
     "ig__train_step_core(m, ctx, tc, x, t, train_labels, tg, stats)) {",
     "ig__train_step_core(m, ctx, tc, x, t, labels, tg, stats)) {",
     "ig_train_step trains on the labels before dropout (the null label is never learned)"),
    # --- training: loss, AdamW, clipping, EMA ------------------------------------
    ("aux_weight_ignored", "ig.h",
     "loss = ig_add(ctx, loss_final, ig_scale(ctx, loss_aux, tc->aux_weight));",
     "loss = ig_add(ctx, loss_final, ig_scale(ctx, loss_aux, 1.0f));",
     "lambda ignored: the intermediate head's loss weighs 1"),
    ("adamw_no_decay", "ig.h",
     "    w *= c->decay;\n",
     "    (void)c->decay;\n",
     "AdamW's weight decay dropped"),
    ("adamw_no_bc1", "ig.h",
     "c.step_size = tc->lr / (float)(1.0 - pow(tc->beta1, s));",
     "c.step_size = tc->lr;",
     "AdamW without the first bias correction 1 - b1^s"),
    ("adamw_no_bc2", "ig.h",
     "w -= c->step_size * mo / (sqrtf(v) / c->bc2_sqrt + c->eps);",
     "w -= c->step_size * mo / (sqrtf(v) + c->eps);",
     "AdamW without the second bias correction sqrt(1 - b2^s)"),
    ("clip_never", "ig.h",
     "if (coef < 1.0f)",
     "if (coef < 0.0f)",
     "gradient clipping never applied"),
    ("attention_one_token_copies_k", "ig.h",
     "memcpy(y->data + bh * D, qkv->data + bh * 3 * D + 2 * D, D * sizeof(float));",
     "memcpy(y->data + bh * D, qkv->data + bh * 3 * D + D, D * sizeof(float));",
     "attention over one token returns k instead of v (the toy's shortcut)"),
    ("attention_one_token_grad_to_k", "ig.h",
     "float *dv = dqkv + bh * 3 * D + 2 * D;",
     "float *dv = dqkv + bh * 3 * D + D;",
     "attention over one token sends dO to k's gradient instead of v's"),
    ("add_broadcast_offset", "ig.h",
     "for (j = 0; j < bn; j++) y->data[i * bn + j] = a->data[i * bn + j] + b->data[j];",
     "for (j = 0; j < bn; j++) y->data[i * bn + j] = a->data[i * bn + j] + b->data[(j + 1) % bn];",
     "a repeated b added one position off (the position table)"),
    ("ema_swapped", "ig.h",
     "*pe = c->d * e + (1.0f - c->d) * w;",
     "*pe = (1.0f - c->d) * e + c->d * w;",
     "EMA keeps 1 - d of the average and d of the new weights"),
    ("forward_nan_check", "ig.h",
     "for (i = 0; i < per; i++) bad |= ig__nonfinite(xb[i]);",
     "(void)bad;",
     "ig_forward (and so every sampler) runs on an x holding NaN or inf"),
    ("label_range_check", "ig.h",
     "if (labels[b] < 0 || labels[b] >= cfg->num_classes)",
     "if (labels[b] < 0 || labels[b] > cfg->num_classes)",
     "a training label equal to the null label is accepted"),
    ("adamw_bound_negative_v", "ig.h",
     "bad |= !(fabsf(mo) <= lim) | !(v >= 0.0f) |",
     "bad |= !(fabsf(mo) <= lim) |",
     "AdamW's cheap finiteness bound accepts a negative second moment (sqrt(v') NaN written to the weights)"),
    # --- sampling and guidance ---------------------------------------------------
    ("ig_formula", "ig.h",
     "vf[i] = va[i] + w * (vf[i] - va[i]);",
     "vf[i] = vf[i] + w * (vf[i] - va[i]);",
     "IG extrapolates from the final head instead of the intermediate one"),
    ("ig_interval_open", "ig.h",
     "t >= gd->ig_low && t <= gd->ig_high",
     "t >= gd->ig_low && t < gd->ig_high",
     "IG interval open at its upper edge"),
    ("ig_cond_half_only", "ig.h",
     "for (i = 0; i < v_final->n; i++)",
     "for (i = 0; i < n; i++)",
     "IG + CFG: IG on the conditional half only"),
    ("cfg_null_is_class0", "ig.h",
     "lab[b] = b < B ? G->labels[b] : m->cfg.num_classes;",
     "lab[b] = b < B ? G->labels[b] : 0;",
     "CFG's unconditional pass uses class 0 instead of the null label"),
    ("cfg_from_cond", "ig.h",
     "vout[i] = vf[n + i] + gd->cfg_scale * (vf[i] - vf[n + i]);",
     "vout[i] = vf[i] + gd->cfg_scale * (vf[i] - vf[n + i]);",
     "CFG extrapolates from the conditional velocity instead of the unconditional one"),
    ("cfg_interval_low", "ig.h",
     "t >= gd->cfg_low && t <= gd->cfg_high",
     "t > gd->cfg_low && t <= gd->cfg_high",
     "CFG interval open at its lower edge"),
    ("autoguidance_from_main", "ig.h",
     "vout[i] = vg->data[i] + gd->guide_weight * (vout[i] - vg->data[i]);",
     "vout[i] = vout[i] + gd->guide_weight * (vout[i] - vg->data[i]);",
     "autoguidance extrapolates from the main model instead of the weak guide"),
    ("heun_no_average", "ig.h",
     "if (f(user, xe, n, tn, v2)) goto fail;   /* slope at the Euler guess */\n        for (i = 0; i < n; i++) x[i] += 0.5f * dt * (v[i] + v2[i]);",
     "if (f(user, xe, n, tn, v2)) goto fail;   /* slope at the Euler guess */\n        for (i = 0; i < n; i++) x[i] += dt * v2[i];",
     "Heun takes the end slope instead of the average"),
    ("sde_score_sign", "ig.h",
     ": -((1.0f - t) * v[i] + x[i]) / t;",
     ": ((1.0f - t) * v[i] + x[i]) / t;",
     "Euler-Maruyama: the score with the wrong sign"),
    ("autoguidance_labels", "ig.h",
     "glab[b] = G->labels[b];",
     "glab[b] = 0;",
     "autoguidance: the guide model sees class 0 instead of the labels"),
    ("sde_cosine_score", "ig.h",
     "-((al * v[i] + half_pi * si * x[i]) / half_pi) / si",
     "-((al * v[i] + si * x[i]) / half_pi) / si",
     "Euler-Maruyama on the cosine path: the score without alpha' = (pi/2) sin"),
    ("sde_last_step_noise", "ig.h",
     "if (!last) x[i] += noise * ig_rng_normal(rng);",
     "x[i] += noise * ig_rng_normal(rng);",
     "Euler-Maruyama: the last step (to t = 0) adds noise instead of taking the mean"),
    ("sde_noise_scale", "ig.h",
     "noise = sqrtf(g2) * sqrtf(fabsf(dt));",
     "noise = sqrtf(fabsf(dt));",
     "Euler-Maruyama: noise without the diffusion coefficient sqrt(2t)"),
    # --- Appendix A: the fast matrix multiply --------------------------------------
    ("gemm_hsum_lanes", "ig.h",
     "for (i = 0; i < IG__VW / 8; i++) l[i] += l[i + IG__VW / 8];",
     "for (i = 0; i < IG__VW / 8; i++) l[i] += 0.0f;",
     "the small path's dot product drops lanes from its horizontal sum"),
    ("gemm_kblock_accumulate", "ig.h",
     "ig__vstore(cp, accumulate ? ig__vload(cp) + acc[i][v] : acc[i][v]);",
     "ig__vstore(cp, acc[i][v]);",
     "each K block of the packed path overwrites C instead of adding to it"),
    ("gemm_pack_transpose16", "ig.h",
     "hi[k] = k % (2 * h) < h ? k + h : 16 + k;",
     "hi[k] = k % (2 * h) < h ? k : 16 + k;",
     "packing B with trans_b (AVX-512 builds: 16x16 blocks in registers) repeats lanes instead of transposing"),
    ("gemm_pack_interleave6", "ig.h",
     "idx[l] = e % 6 % 2 * 16 + e / 6;",
     "idx[l] = e / 6;",
     "packing A (AVX-512 builds: 6x16 blocks in registers) takes odd rows of A from the even ones"),
    # --- checkpoints: the reader's checks ----------------------------------------
    ("load_shape_check", "ig.h",
     "for (d = 0; same && d < t->ndim; d++) same = (uint64_t)t->shape[d] == (uint64_t)pp->t->shape[d];",
     "for (d = 0; same && d < t->ndim; d++) same = 1;",
     "a checkpoint tensor of the wrong shape (same rank) is loaded"),
    ("load_strict_ignored", "ig.h",
     "for (i = 0; i < st.ntensors && strict; i++) {",
     "for (i = 0; i < st.ntensors && strict < 0; i++) {",
     "strict loading accepts tensors the model does not have"),
    ("load_nonfinite", "ig.h",
     "if (!isfinite(dst[j])) return ig__fail(",
     "if (0) return ig__fail(",
     "a checkpoint holding NaN or inf loads"),
    ("load_state_incomplete", "ig.h",
     "IG__TRY(found[1] != ntrain || found[2] != ntrain || found[3] != ntrain,",
     "IG__TRY(0,",
     "resuming from a checkpoint with part of the EMA / AdamW state missing"),
    ("st_offsets_outside", "ig.h",
     "if (b > e || e > data_size)",
     "if (b > e || e > data_size + 64)",
     "safetensors: data_offsets may point past the data section"),
    ("st_overlap", "ig.h",
     "if (last && by[i]->begin < last->end)",
     "if (last && by[i]->begin < last->begin)",
     "safetensors: overlapping tensors accepted"),
    ("st_size_vs_shape", "ig.h",
     "if (e - b != bytes)",
     "if (e - b < bytes)",
     "safetensors: a tensor whose data_offsets span more bytes than its shape needs is accepted"),
    ("load_weights_only_ema", "ig.h",
     "if (nsets == 1 && m->ema) memcpy(m->ema, m->weights, nw * sizeof(float));",
     "if (0) memcpy(m->ema, m->weights, nw * sizeof(float));",
     "a weights-only checkpoint loaded for fine-tuning leaves the EMA at the random initialization"),
    ("load_metadata_ignored", "ig.h",
     "if (r > 0 && v != have) return ig__fail(",
     "if (r > 9 && v != have) return ig__fail(",
     "a checkpoint whose metadata gives another aux_depth or num_heads loads"),
    ("load_t_scale_ignored", "ig.h",
     "IG__TRY(k > 0 && (float)ts != m->cfg.t_scale,",
     "IG__TRY(0 && (float)ts != m->cfg.t_scale,",
     "a checkpoint whose t_scale differs from the model's loads"),
    ("load_state_without_step", "ig.h",
     "IG__TRY(k == 0, \"%s: holds a training state",
     "IG__TRY(0, \"%s: holds a training state",
     "a training state without the step resumes at step 0 (AdamW's bias corrections restart)"),
    ("tensor_bytes_wrap", "ig.h",
     "n > SIZE_MAX / sizeof(float) / shape[i]",
     "n > SIZE_MAX / shape[i]",
     "a tensor whose byte count wraps around size_t is made with too few bytes"),
    ("tape_bytes_wrap", "ig.h",
     "tape_capacity > SIZE_MAX / sizeof(ig_node)",
     "tape_capacity > SIZE_MAX",
     "a tape whose byte count wraps around size_t is made with too few bytes"),
    # --- the LightningDiT variant (issue 11) and the classifier's loss (issue 9) -----
    ("rmsnorm_no_gain", "ig.h",
     "for (d = 0; d < D; d++) yv[d] = xv[d] * rstd * w->data[d];",
     "for (d = 0; d < D; d++) yv[d] = xv[d] * rstd;",
     "RMSNorm ignores its learned gain"),
    ("rmsnorm_dw", "ig.h",
     "for (d = 0; d < D; d++) dw[d] += dy[d] * xv[d] * rstd[r];",
     "for (d = 0; d < D; d++) dw[d] += dy[d] * xv[d];",
     "RMSNorm's gain gradient forgets the 1 / rms factor"),
    ("swiglu_halves_swapped", "ig.h",
     "for (j = 0; j < H; j++) yv[j] = u1[j] / (1.0f + ig__exp(-u1[j])) * u2[j];",
     "for (j = 0; j < H; j++) yv[j] = u2[j] / (1.0f + ig__exp(-u2[j])) * u1[j];",
     "SwiGLU gates with the second half instead of the first"),
    ("rope_rotation_sign", "ig.h",
     "yv[e + j]     = x[e + j] * C[j] - x[e + j + 1] * S[j];",
     "yv[e + j]     = x[e + j] * C[j] + x[e + j + 1] * S[j];",
     "RoPE's rotation is not a rotation (wrong sign of the sine term)"),
    ("cos_loss_sign", "ig.h",
     "acc += 1.0 - dot / sqrt(na * nb > 1e-16 ? na * nb : 1e-16);",
     "acc += 1.0 + dot / sqrt(na * nb > 1e-16 ? na * nb : 1e-16);",
     "the cosine term rewards pointing away from the target"),
    ("lightning_velocity_sign", "ig.h",
     "for (i = 0; i < (*v)->n; i++) (*v)->data[i] = -(*v)->data[i];",
     "(void)i;",
     "a LightningDiT model is sampled without flipping its velocity into the SiT convention"),
    ("lightning_train_time", "ig.h",
     "    if (m->cfg.arch == IG_ARCH_LIGHTNING && !counting) {\n        for (i = 0; i < x->shape[0]; i++) t[i] = 1.0f - t[i];",
     "    if (m->cfg.arch == IG_ARCH_LIGHTNING && !counting) {\n        for (i = 0; i < x->shape[0]; i++) t[i] = t[i];",
     "a LightningDiT model is trained with SiT's time instead of its own (t = 0 noise)"),
    ("cross_entropy_sign", "ig.h",
     "acc += mx + log(se) - (double)zb[labels[b]];",
     "acc += mx + log(se) + (double)zb[labels[b]];",
     "cross-entropy adds the true class's logit instead of subtracting it"),
]

# --- the examples (issue 24) -------------------------------------------------------
# The code that turns the release's files into numbers.  An entry may end with the
# runner filters that select the tests for it (space-separated, as build/test_ig
# takes them; the toy's are always left out): only the test files that include the
# changed file AND hold one of those tests are rebuilt, the others are linked from
# the unchanged objects.  Without filters, every test (but the toy's) runs.
EXAMPLE_MUTANTS = [
    # latents.h: the two released data sets
    ("lat_sd_scale", "examples/latents.h",
     "#define LAT_SD_SCALE 0.18215f",
     "#define LAT_SD_SCALE 0.18125f",
     "the SD-VAE latent scale 0.18125 instead of the release's 0.18215 (training and sampling)",
     "latents_repa"),
    ("repa_scale_mean_only", "examples/latents.h",
     "zb[k] = (d->buf[k] + d->buf[per + k] * ig_rng_normal(&d->rng)) * LAT_SD_SCALE;",
     "zb[k] = d->buf[k] * LAT_SD_SCALE + d->buf[per + k] * ig_rng_normal(&d->rng);",
     "REPA: the scale multiplies the posterior mean only, not the sample mean + std n",
     "latents_repa"),
    ("repa_mean_std_swapped", "examples/latents.h",
     "zb[k] = (d->buf[k] + d->buf[per + k] * ig_rng_normal(&d->rng)) * LAT_SD_SCALE;",
     "zb[k] = (d->buf[per + k] + d->buf[k] * ig_rng_normal(&d->rng)) * LAT_SD_SCALE;",
     "REPA: the .npy's second half (std) taken as the mean and the first as the std",
     "latents_repa"),
    ("repa_no_posterior_sample", "examples/latents.h",
     "zb[k] = (d->buf[k] + d->buf[per + k] * ig_rng_normal(&d->rng)) * LAT_SD_SCALE;",
     "zb[k] = (d->buf[k] + d->buf[per + k] * 0.0f) * LAT_SD_SCALE;",
     "REPA: the posterior mean without a fresh sample (no std * n)",
     "latents_repa"),
    ("repa_label_of_position", "examples/latents.h",
     "y[b] = d->labels[i];",
     "y[b] = d->labels[d->pos];",
     "a sample gets the label of its position in the epoch, not its own",
     "latents_repa"),
    ("repa_label_range", "examples/latents.h",
     "if (label >= num_classes) return lat__fail(",
     "if (label > num_classes) return lat__fail(",
     "dataset.json: a label equal to the class count (the null label) is accepted",
     "latents_repa_errors"),
    ("shards_normalize_order", "examples/latents.h",
     "zb[c * hw + k] = (d->buf[c * hw + k] - d->mean[c]) / d->std[c];",
     "zb[c * hw + k] = d->buf[c * hw + k] / d->std[c] - d->mean[c];",
     "shards: x / std - mean instead of (x - mean) / std",
     "latents_shards"),
    ("shards_flip_quarter", "examples/latents.h",
     "int flip = ig_rng_uniform(&d->rng) < 0.5f;",
     "int flip = ig_rng_uniform(&d->rng) < 0.25f;",
     "shards: latents_flip taken with probability 1/4 instead of 1/2",
     "latents_shards"),
    ("shards_flip_swapped", "examples/latents.h",
     "t = flip ? s->flip : s->lat;",
     "t = flip ? s->lat : s->flip;",
     "shards: the draw's two copies swapped (same statistics; only the replay sees it)",
     "latents_shards"),
    ("shards_f16_as_bf16", "examples/latents.h",
     "if (t->dtype == IG_F16) d->buf[k] = pt__f16(h[k]);",
     "if (t->dtype == IG_BF16) d->buf[k] = pt__f16(h[k]);",
     "shards: F16 latents widened as BF16 and BF16 as F16",
     "latents_shards_half"),
    ("shards_sample_stride_f32", "examples/latents.h",
     "(uint64_t)(i - s->first) * per * es) ||",
     "(uint64_t)(i - s->first) * per * 4) ||",
     "shards: the offset of a sample counted in F32 bytes whatever the dtype",
     "latents_shards_half"),
    ("shards_label_range", "examples/latents.h",
     "if (l64[k] < 0 || l64[k] >= num_classes) {",
     "if (l64[k] < 0 || l64[k] > num_classes) {",
     "shards: a label equal to the class count (the null label) is accepted",
     "latents_shards"),
    # pt.h: dtypes and strides of torch.save's tensors
    ("pt_f16_subnormal", "examples/pt.h",
     "f = (float)m * (1.0f / 16777216.0f);",
     "f = (float)m * (1.0f / 8388608.0f);",
     "F16 subnormals read twice too large (m 2^-23 instead of m 2^-24)",
     "pt_read_f32_dtypes"),
    ("pt_f16_exponent_bias", "examples/pt.h",
     "(e + 112) << 23",
     "(e + 111) << 23",
     "F16 normals read with the exponent bias off by one (half the value)",
     "pt_read_f32_dtypes"),
    ("pt_bf16_as_f16", "examples/pt.h",
     "if (dt == PT_F16) dst[i] = pt__f16(tmp[i]);",
     "if (dt == PT_BF16) dst[i] = pt__f16(tmp[i]);",
     "pt_read_f32: F16 tensors widened as BF16 and BF16 as F16",
     "pt_read_f32_dtypes"),
    ("pt_all_contiguous", "examples/pt.h",
     "if (t->shape[d] != 1 && t->stride[d] != expect) return 0;",
     "if (0) return 0;",
     "every tensor taken as contiguous: a transposed or sliced view is read in storage order",
     "pt_read_f32_dtypes"),
    ("pt_offset_in_bytes", "examples/pt.h",
     "if (pt__contiguous(t)) return pt__read_at(pt, s->offset + t->offset * es, dst, nbytes);",
     "if (pt__contiguous(t)) return pt__read_at(pt, s->offset + t->offset, dst, nbytes);",
     "a contiguous tensor's storage offset counted in bytes instead of elements",
     "pt_views"),
    ("pt_stride_gather", "examples/pt.h",
     "for (d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];",
     "for (d = 0; d < t->ndim; d++) off += idx[d] * t->stride[t->ndim - 1 - d];",
     "a strided tensor gathered with its strides in reverse order",
     "pt_read_f32_dtypes"),
    # imagenet.c: the paper's sampler settings and the training defaults
    ("paper_cfg_scale", "examples/imagenet.c",
     "else if (paper) { G.guidance.cfg_scale = 1.35f;",
     "else if (paper) { G.guidance.cfg_scale = 1.5f;",
     "sample --paper (SiT): CFG 1.5 instead of the release's 1.35",
     "imagenet_sample_sit"),
    ("paper_cfg_interval", "examples/imagenet.c",
     "G.guidance.cfg_low = 0.0f; G.guidance.cfg_high = 0.7f; }",
     "G.guidance.cfg_low = 0.0f; G.guidance.cfg_high = 1.0f; }",
     "sample --paper (SiT): CFG on all t instead of t <= 0.7",
     "imagenet_sample_sit"),
    ("sample_ig_weight", "examples/imagenet.c",
     "G.guidance.ig_weight = 1.4f;",
     "G.guidance.ig_weight = 1.5f;",
     "sample: IG 1.5 instead of the release's 1.4",
     "imagenet_sample_sit"),
    ("paper_steps", "examples/imagenet.c",
     "steps = paper && lightning ? IG_LIGHTNING_STEPS : 250;",
     "steps = paper && lightning ? IG_LIGHTNING_STEPS : 200;",
     "sample --paper (SiT): 200 steps instead of 250",
     "imagenet_sample_sit"),
    ("paper_lightning_solver", "examples/imagenet.c",
     "sampler = paper && lightning ? IMNET_HEUN2 : IMNET_SDE;",
     "sampler = paper && lightning ? IMNET_HEUN : IMNET_SDE;",
     "sample --paper (LightningDiT): Heun with a plain Euler last step instead of Heun on every interval",
     "imagenet_sample_lightning"),
    ("paper_lightning_shift_reversed", "examples/imagenet.c",
     "ig_grid_shifted(grid, (size_t)steps, IG_LIGHTNING_SHIFT);",
     "ig_grid_shifted(grid, (size_t)steps, 1.0f / IG_LIGHTNING_SHIFT);",
     "sample --paper (LightningDiT): the grid dense near the data instead of near the noise (time reversed)",
     "imagenet_sample_lightning"),
    ("sample_unscale_multiplies", "examples/imagenet.c",
     "if (!lightning) z[k] /= LAT_SD_SCALE;",
     "if (!lightning) z[k] *= LAT_SD_SCALE;",
     "sample (SiT): z * 0.18215 handed to the decoder instead of z / 0.18215",
     "imagenet_sample_sit"),
    ("sample_lightning_normalizes", "examples/imagenet.c",
     "z[k] = z[k] * std[c] + mean[c];",
     "z[k] = (z[k] - mean[c]) / std[c];",
     "sample --stats (LightningDiT): normalizes again instead of x = z std + mean",
     "imagenet_sample_lightning"),
    ("sample_random_null_label", "examples/imagenet.c",
     "labels[k] = (int)(ig_rng_u64(&rng) % (uint64_t)cfg.num_classes);",
     "labels[k] = (int)(ig_rng_u64(&rng) % (uint64_t)(cfg.num_classes + 1));",
     "sample --n: random labels may be the null label (unconditional images)",
     "imagenet_sample_sit"),
    ("sample_label_range", "examples/imagenet.c",
     "if (end == p || errno || v < 0 || v >= classes ||",
     "if (end == p || errno || v < 0 || v > classes ||",
     "sample --labels: the null label (= the class count) accepted",
     "imagenet_end_to_end"),
    ("sample_training_ckpt_raw", "examples/imagenet.c",
     "if (training_file) ig_model_swap_ema(&m);",
     "if (0) ig_model_swap_ema(&m);",
     "sample on a training checkpoint: the raw weights instead of the EMA",
     "imagenet_end_to_end"),
    ("png_range_0_1", "examples/imagenet.c",
     "img_write_grid_png(png, img, n, 3, (int)H, (int)W, cols, 2, -1.0f, 1.0f);",
     "img_write_grid_png(png, img, n, 3, (int)H, (int)W, cols, 2, 0.0f, 1.0f);",
     "sample --png: the decoder's [0, 1] instead of [-1, 1] mapped to 0..255",
     "imagenet_sample_sit"),
    ("train_ema_default", "examples/imagenet.c",
     "double lr = -1, ema = 0.9999, drop = 0.1, lambda = 0.5;",
     "double lr = -1, ema = 0.999, drop = 0.1, lambda = 0.5;",
     "train: EMA 0.999 instead of the release's 0.9999",
     "imagenet_train_defaults_sit"),
    ("train_dropout_default", "examples/imagenet.c",
     "double lr = -1, ema = 0.9999, drop = 0.1, lambda = 0.5;",
     "double lr = -1, ema = 0.9999, drop = 0.15, lambda = 0.5;",
     "train: label dropout 0.15 instead of the release's 0.1",
     "imagenet_train_defaults_sit"),
    ("train_lambda_default", "examples/imagenet.c",
     "double lr = -1, ema = 0.9999, drop = 0.1, lambda = 0.5;",
     "double lr = -1, ema = 0.9999, drop = 0.1, lambda = 1.0;",
     "train: lambda 1 instead of the release's 0.5",
     "imagenet_train_defaults_sit"),
    ("train_aux_depth_default", "examples/imagenet.c",
     "cfg.aux_depth = aux ? (int)aux : 8;",
     "cfg.aux_depth = aux ? (int)aux : 4;",
     "train: the head after block 4 instead of the release's 8",
     "imagenet_train_defaults_sit"),
    ("train_lightning_lr", "examples/imagenet.c",
     "if (lightning) { tc.lr = 2e-4f; tc.beta2 = 0.95f; tc.cos_weight = 1.0f; }",
     "if (lightning) { tc.lr = 1e-4f; tc.beta2 = 0.95f; tc.cos_weight = 1.0f; }",
     "train (LightningDiT): lr 1e-4 instead of the release's 2e-4",
     "imagenet_train_defaults_lightning"),
    ("train_lightning_beta2", "examples/imagenet.c",
     "if (lightning) { tc.lr = 2e-4f; tc.beta2 = 0.95f; tc.cos_weight = 1.0f; }",
     "if (lightning) { tc.lr = 2e-4f; tc.beta2 = 0.999f; tc.cos_weight = 1.0f; }",
     "train (LightningDiT): beta2 0.999 instead of the release's 0.95",
     "imagenet_train_defaults_lightning"),
    ("train_lightning_no_cos", "examples/imagenet.c",
     "if (lightning) { tc.lr = 2e-4f; tc.beta2 = 0.95f; tc.cos_weight = 1.0f; }",
     "if (lightning) { tc.lr = 2e-4f; tc.beta2 = 0.95f; tc.cos_weight = 0.0f; }",
     "train (LightningDiT): without the release's cosine term",
     "imagenet_train_defaults_lightning"),
    # image.h: the PNG mapping
    ("grid_png_truncates", "examples/image.h",
     "float u = (v - lo) / (hi - lo) * 255.0f + 0.5f;",
     "float u = (v - lo) / (hi - lo) * 255.0f;",
     "grid PNG: 255 (x + 1) / 2 truncated instead of uint8(127.5 x + 128) (0 -> 127, not 128)",
     "image_grid"),
    ("grid_png_ignores_lo", "examples/image.h",
     "float u = (v - lo) / (hi - lo) * 255.0f + 0.5f;",
     "float u = v / (hi - lo) * 255.0f + 0.5f;",
     "grid PNG: [lo, hi] mapped without subtracting lo",
     "image_grid"),
    ("grid_png_bgr", "examples/image.h",
     "img[((size_t)(C == 3 ? k : 0) * (size_t)H + (size_t)y) * (size_t)W + (size_t)xx];",
     "img[((size_t)(C == 3 ? 2 - k : 0) * (size_t)H + (size_t)y) * (size_t)W + (size_t)xx];",
     "grid PNG: channels written as B, G, R",
     "image_grid"),
    ("grid_png_nan_white", "examples/image.h",
     "p[k] = (unsigned char)(u != u ? 0.0f :",
     "p[k] = (unsigned char)(u != u ? 255.0f :",
     "grid PNG: NaN drawn white instead of black",
     "image_grid"),
    # npy.h: the .npy bytes NumPy writes and reads
    ("npy_descr_f8", "examples/npy.h",
     "static const char *const npy__descr[4] = { \"<f4\", \"<i8\", \"<i4\", \"|u1\" };",
     "static const char *const npy__descr[4] = { \"<f8\", \"<i8\", \"<i4\", \"|u1\" };",
     ".npy: float32 labelled '<f8' (written and read that way: a round trip cannot see it)",
     "npy_writer"),
    ("npy_align_16", "examples/npy.h",
     "total = (10 + len + 1 + 63) / 64 * 64;",
     "total = (10 + len + 1 + 15) / 16 * 16;",
     ".npy: the header padded to 16 bytes instead of NumPy's 64",
     "npy_writer"),
    ("npy_1d_tuple", "examples/npy.h",
     "if (ndim == 1) len -= 1;",
     "if (0) len -= 1;",
     ".npy: a 1-D shape written '(5, )' instead of Python's '(5,)'",
     "npy_writer"),
    ("npy_fortran_accepted", "examples/npy.h",
     "if (end - p >= 5 && !memcmp(p, \"False\", 5)) return p + 5;",
     "if (end - p >= 5 && !memcmp(p, \"False\", 5)) return p + 5;\n        if (end - p >= 4 && !memcmp(p, \"True\", 4)) return p + 4;",
     ".npy reader: a Fortran-order array read as C order (transposed)",
     "npy_writer"),
    ("npy_byteorder_ignored", "examples/npy.h",
     "!memcmp(p + 1, npy__descr[t], 3) && p[4] == '\\''",
     "!memcmp(p + 2, npy__descr[t] + 1, 2) && p[4] == '\\''",
     ".npy reader: a big-endian '>f4' read as little-endian",
     "npy_writer"),
    # vae.h: the decoder against PyTorch's
    ("vae_attention_scale", "examples/vae.h",
     "float scale = (float)(1.0 / sqrt((double)C));",
     "float scale = (float)(1.0 / (double)C);",
     "VAE attention: softmax(q k / C) instead of / sqrt(C)",
     "vae_parity_ldm"),
    ("vae_groupnorm_eps", "examples/vae.h",
     "#define VAE_EPS 1e-6",
     "#define VAE_EPS 1e-5",
     "VAE GroupNorm: PyTorch's default eps 1e-5 instead of the VAE's 1e-6",
     "vae_parity"),
    ("vae_groups_16", "examples/vae.h",
     "#define VAE_GROUPS 32",
     "#define VAE_GROUPS 16",
     "VAE GroupNorm: 16 groups instead of 32",
     "vae_parity_diffusers"),
    # fmnist.c: pixels in and out, the grid, the labels
    ("fmnist_pixel_scale", "examples/fmnist.c",
     "for (i = 0; i < n; i++) x[i] = (float)b[i] / 127.5f - 1.0f;",
     "for (i = 0; i < n; i++) x[i] = (float)b[i] / 255.0f;",
     "Fashion-MNIST pixels in [0, 1] instead of [-1, 1]",
     "fmnist_pixel"),
    ("fmnist_sample_range", "examples/fmnist.c",
     "float v = 0.5f * (out[i] + 1.0f);",
     "float v = out[i];",
     "samples clamped from [-1, 1] to [0, 1] without mapping (the dark half lost)",
     "fmnist_sample"),
    ("fmnist_measure_scale", "examples/fmnist.c",
     "for (i = 0; i < n * FM_PIX; i++) x[i] = 2.0f * x01[i] - 1.0f;",
     "for (i = 0; i < n * FM_PIX; i++) x[i] = x01[i];",
     "the metrics see samples in [0, 1] while the reference saw [-1, 1]",
     "fmnist_measure"),
    ("fmnist_grid_inverted", "examples/fmnist.c",
     "return (unsigned char)(255.0f * v + 0.5f); }",
     "return (unsigned char)(255.0f * (1.0f - v) + 0.5f); }",
     "the grid black on white instead of the data's white on black",
     "fmnist_grid"),
    ("fmnist_grid_layout", "examples/fmnist.c",
     "const float *img = x + (size_t)(c * 10 + r) * FM_PIX;",
     "const float *img = x + (size_t)(r * 10 + c) * FM_PIX;",
     "the grid's rows are not the classes (sample r * 10 + c in row r)",
     "fmnist_grid"),
    ("fmnist_label_range", "examples/fmnist.c",
     "if (lb.data[i] >= FM_CLASSES) {",
     "if (lb.data[i] > FM_CLASSES) {",
     "a label of 10 (the null label) accepted in the data",
     "fmnist_label"),
    ("fmnist_sample_labels", "examples/fmnist.c",
     "for (j = 0; j < n; j++) lab[j] = (int64_t)(j % FM_CLASSES);",
     "for (j = 0; j < n; j++) lab[j] = (int64_t)(j % (FM_CLASSES - 1));",
     "labels_*.npy does not say i % 10 (the labels the samples were drawn with)",
     "fmnist_end_to_end"),
]

ALL_MUTANTS = MUTANTS + EXAMPLE_MUTANTS


def entry(m):
    """(name, path, orig, repl, what, filters): filters [] when the entry has none."""
    name, path, orig, repl, what = m[:5]
    return name, path, orig, repl, what, (m[5].split() if len(m) > 5 else [])


def selected(test, filters):
    """build/test_ig's rule: a test runs if it contains one of the plain filters (or
    there are none) and none of the '-' ones."""
    plain = [f for f in filters if not f.startswith("-")]
    if any(f[1:] in test for f in filters if f.startswith("-")):
        return False
    return not plain or any(f in test for f in plain)


def test_sources():
    makefile = open(os.path.join(ROOT, "Makefile"), encoding="utf-8").read()
    m = re.search(r"^TEST_SRC\s*:=\s*(.*)$", makefile, re.M)
    return m.group(1).split() if m else []


def includes(src, seen=None):
    """The files src includes with #include "...", transitively, as paths from ROOT."""
    seen = set() if seen is None else seen
    try:
        text = open(os.path.join(ROOT, src), encoding="utf-8").read()
    except OSError:
        return seen
    for inc in re.findall(r'^\s*#\s*include\s+"([^"]+)"', text, re.M):
        p = os.path.relpath(os.path.normpath(os.path.join(os.path.dirname(os.path.join(ROOT, src)), inc)), ROOT)
        if p not in seen:
            seen.add(p)
            includes(p, seen)
    return seen


def test_names(src):
    """The names in a test file's table: { "name", function }."""
    text = open(os.path.join(ROOT, src), encoding="utf-8").read()
    return re.findall(r'\{\s*"([A-Za-z0-9_]+)"\s*,\s*[A-Za-z_]\w*\s*\}', text)


def rebuilt_for(path, filters, srcs):
    """The test files to recompile for a change to path (not ig.h): those that
    include it and hold a test the filters select."""
    return [s for s in srcs if path in includes(s) and any(selected(t, SUBSET + filters) for t in test_names(s))]


def check_entries(only=None):
    """Every original text occurs exactly once (ig.h: inside the implementation
    part); a change to an example reaches a test the entry selects."""
    problems, texts = [], {}
    names = set()
    srcs = test_sources()
    for m in ALL_MUTANTS:
        name, path, orig, repl, what, filters = entry(m)
        if name in names:
            problems.append(f"{name}: duplicate mutant name")
        names.add(name)
        if path not in texts:
            with open(os.path.join(ROOT, path), encoding="utf-8") as f:
                texts[path] = f.read()
        src = texts[path]
        count = src.count(orig)
        if orig == repl:
            problems.append(f"{name}: the replacement equals the original")
        if count != 1:
            problems.append(f"{name}: {path}: the original text occurs {count} times (must be exactly once): {orig!r}")
            continue
        impl = src.find("#ifdef IG_IMPLEMENTATION\n")
        if path == "ig.h" and (impl < 0 or src.find(orig) < impl):
            problems.append(f"{name}: the change is not in ig.h's implementation part")
        if path == "ig.h" and filters:
            problems.append(f"{name}: ig.h's mutants run the whole subset (no filters)")
        if path != "ig.h" and not rebuilt_for(path, filters, srcs):
            problems.append(f"{name}: no test file includes {path} and holds a test selected by {filters}")
    chosen = [m for m in ALL_MUTANTS if only is None or any(o in m[0] for o in only.split(","))]
    return problems, texts, chosen


def run(cmd, cwd, timeout=None):
    return subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout, text=True, errors="replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("--cflags", default=None, help="default: -std=c99 -Wall -Wextra -pedantic -O2 "
                    "-march=native -fopenmp, each only if the compiler takes it")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--only", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--all-tests", action="store_true",
                    help="run the whole subset for every mutant and list every test that fails "
                         "(default: stop at the first failure)")
    args = ap.parse_args()

    problems, texts, chosen = check_entries(args.only)
    if args.list:
        for i, m in enumerate(ALL_MUTANTS, 1):
            name, path, orig, repl, what, filters = entry(m)
            where = "" if path == "ig.h" else f"[{path}: {' '.join(filters) or 'all tests'}] "
            print(f"{i:3d} {name:26s} {where}{what}")
    if problems:
        print("mutants: the list does not match the sources:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 2
    if args.list:
        per_file = {}
        for m in ALL_MUTANTS:
            per_file[m[1]] = per_file.get(m[1], 0) + 1
        print(f"{len(ALL_MUTANTS)} mutants ({', '.join(f'{p} {n}' for p, n in per_file.items())}), "
              "every original text found exactly once")
        return 0
    if not chosen:
        print("mutants: no mutant matches --only", file=sys.stderr)
        return 2

    cc = shlex.split(args.cc)
    if args.cflags is None:
        flags = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-O2"]
        for extra in ("-march=native", "-fopenmp"):
            probe = subprocess.run(cc + [extra, "-x", "c", "-", "-o", os.devnull], input="int main(void){return 0;}",
                                   text=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if probe.returncode == 0:
                flags.append(extra)
    else:
        flags = shlex.split(args.cflags)
    t_start = time.time()
    tmp = tempfile.mkdtemp(prefix="ig_mutants_")
    try:
        # the unchanging objects: every test file, compiled once from the tree
        objdir = os.path.join(tmp, "common")
        os.makedirs(objdir)
        srcs = test_sources()
        if "tests/test_ig.c" not in srcs:
            print("mutants: tests/test_ig.c is not in the Makefile's TEST_SRC", file=sys.stderr)
            return 2
        # test files that hold their own (static) copy of the implementation are
        # rebuilt with every mutant of ig.h, like test_ig.c
        own_impl = [s for s in srcs if s != "tests/test_ig.c" and
                    "#define IG_IMPLEMENTATION" in open(os.path.join(ROOT, s), encoding="utf-8").read()]
        common = {}
        for s in srcs:
            o = os.path.join(objdir, os.path.basename(s)[:-2] + ".o")
            r = run(cc + flags + ["-c", os.path.join(ROOT, s), "-o", o], ROOT)
            if r.returncode:
                print(r.stdout, file=sys.stderr)
                return 2
            common[s] = o

        def build_and_run(tag, path, src_text, filters):
            """Writes the tree with path's text replaced, recompiles what the change
            reaches, links the runner and runs the selected tests."""
            d = os.path.join(tmp, tag)
            os.makedirs(os.path.join(d, "build"))
            for sub in ("tests", "examples", "tools"):
                os.makedirs(os.path.join(d, sub))
                for f in os.listdir(os.path.join(ROOT, sub)):
                    if f.endswith((".c", ".h")):
                        shutil.copy(os.path.join(ROOT, sub, f), os.path.join(d, sub, f))
            shutil.copy(os.path.join(ROOT, "ig.h"), os.path.join(d, "ig.h"))
            with open(os.path.join(d, path), "w", encoding="utf-8") as f:
                f.write(src_text)
            os.symlink(os.path.join(ROOT, "tests", "fixtures"), os.path.join(d, "tests", "fixtures"))
            if path == "ig.h":
                rebuild = ["tests/test_ig.c"] + own_impl
            else:
                rebuild = rebuilt_for(path, filters, srcs)
            objs = []
            for s in srcs:
                if s in rebuild:
                    o = os.path.join(d, os.path.basename(s)[:-2] + ".o")
                    r = run(cc + flags + ["-c", os.path.join(d, s), "-o", o], d)
                    if r.returncode:
                        return "error", f"{s} does not compile:\n" + r.stdout[-2000:], 0.0
                    objs.append(o)
                else:
                    objs.append(common[s])
            exe = os.path.join(d, "test_ig")
            r = run(cc + flags + ["-o", exe] + objs + ["-lm"], d)
            if r.returncode:
                return "error", "does not link:\n" + r.stdout[-2000:], 0.0
            env = dict(os.environ, OMP_WAIT_POLICY="passive")
            if args.jobs > 1:
                env["OMP_NUM_THREADS"] = "1"
            t0 = time.time()
            try:
                r = subprocess.run([exe] + SUBSET + filters + ([] if args.all_tests or tag == "original" else ["--stop"]),
                                   cwd=d, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=args.timeout, text=True, errors="replace")
            except subprocess.TimeoutExpired:
                return "killed", f"timeout after {args.timeout:.0f} s", time.time() - t0
            dt = time.time() - t0
            fails = re.findall(r"^FAIL (\S+)", r.stdout, re.M)
            if r.returncode == 0:
                return "survived", r.stdout.strip().splitlines()[-1], dt
            if not fails:
                return "killed", f"runner crashed (exit status {r.returncode})", dt
            return "killed", "by " + ", ".join(fails), dt

        status, detail, dt = build_and_run("original", "ig.h", texts["ig.h"], [])
        if status != "survived":
            print(f"mutants: the unmutated suite does not pass ({detail}); nothing to measure", file=sys.stderr)
            return 2
        print(f"unmutated suite passes ({detail}, {dt:.1f} s); {len(chosen)} mutants, {args.jobs} job(s)")
        sys.stdout.flush()

        def one(idx_m):
            idx, m = idx_m
            name, path, orig, repl, what, filters = entry(m)
            src = texts[path].replace(orig, repl, 1)
            return (idx, name, what) + build_and_run(f"m{idx:03d}", path, src, filters)

        results = []
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for idx, name, what, status, detail, dt in pool.map(one, enumerate(chosen, 1)):
                results.append((status, name))
                print(f"{status:8s} {idx:3d} {name:26s} {what}\n             {detail} ({dt:.1f} s)")
                sys.stdout.flush()
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    killed = sum(1 for s, _ in results if s == "killed")
    bad = [n for s, n in results if s != "killed"]
    print(f"{len(results)} mutants: {killed} killed, {len(bad)} not killed"
          + (f" ({', '.join(bad)})" if bad else "") + f"; {time.time() - t_start:.0f} s")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
