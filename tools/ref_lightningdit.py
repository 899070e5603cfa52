#!/usr/bin/env python3
"""ref_lightningdit.py: the ig.h project's PyTorch reference for LightningDiT + IG.

Written from docs/lightningdit.md (the facts of the released LightningDiT-XL/1 + IG):
RMSNorm with a learned gain, SwiGLU (gated half first), 2D RoPE on q and k, a stored
position table, an intermediate head (final_layer_xr) after block k, the release's
time convention (t = 0 is NOISE, t = 1 is data: the opposite of SiT), its loss with
the cosine term, and its sampler (timestep-shifted grid, Heun on every interval,
IG on both CFG halves, CFG only where t >= threshold).  Parameter names and shapes
are the release's, so load_state_dict(strict=True) of a release state dict works.

Subcommands:

  fixture OUT.safetensors [--seed S]
      The parity fixture for ig.h (config "ld" below): weights, a forward of both
      heads, every parameter gradient of the full training loss, one AdamW step
      with the cosine term, and the shifted-grid Heun sampler with IG and
      interval-limited CFG (and IG alone), from fixed noise.  float64 inside,
      float32 stored.  Every time in the file is in LightningDiT's convention.

  pt OUT.pt OUT_IO.safetensors
      A LightningDiT training checkpoint as the release saves it
      (torch.save({"model", "ema", "opt", "config"})) for a tiny config, and the
      inputs + expected outputs of its EMA weights (for the .pt converter's test).

  check CKPT.safetensors [--aux-depth K] [--prefix P]
      Build the model from a checkpoint, load_state_dict(strict=True), print OK and
      a checksum; compare with output.v / output.v_aux if the file has them.

  forward CKPT INPUTS OUT [--aux-depth K]
      output.v / output.v_aux of the bare network (its own time convention).

  selftest
      Check this script: the RoPE table entry by entry against the formula, RoPE
      as a rotation, finite differences of the stored gradients, the AdamW step by
      hand, the sampler's grid and threshold margins, strict reload.

Only torch and numpy.  From ref_ig.py (next to this file) it takes what the two
references share: the hand-written safetensors reader/writer, the patch, time and
label embedders, the model's stem, forward and unpatchify (IGNet), the AdamW
constants of the one-step check, checkpoint loading and the check/forward commands.
"""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_ig import (save_safetensors, load_safetensors, f32_exact, to_storage,   # noqa: E402
                    modulate, PatchEmbed, TimestepEmbedder, LabelEmbedder, IGNet,
                    TRAIN_LR, TRAIN_BETAS, TRAIN_EPS, TRAIN_WD, TRAIN_CLIP,
                    checkpoint_state, load_or_fail, probe_forward, compare_stored_outputs,
                    forward_to_file, add_checkpoint_commands, Report)

# ----------------------------------------------------------------------------
# Configurations.  C channels, H x W latent, patch p, width D, depth L, heads,
# classes (the table has one more row: the null label), aux_depth k (1-based),
# batch B.  head_dim = D / heads must be a multiple of 4 (2D RoPE: half of the
# head's dims per axis, rotated in pairs).  SwiGLU hidden = int(2/3 * 4D).
# ----------------------------------------------------------------------------
CONFIGS = {
    "ld":      dict(C=4, H=4, W=4, p=1, D=48, L=3, heads=3, ncls=5, k=2, B=3),
    "ld_tiny": dict(C=4, H=4, W=4, p=1, D=16, L=2, heads=2, ncls=3, k=1, B=2),
}
DEFAULT_SEED = {"ld": 404, "ld_tiny": 505}

AUX_WEIGHT = 0.5          # lambda of the intermediate-head loss (the release's 0.5)
# the one-step training check's AdamW (TRAIN_LR, TRAIN_BETAS, TRAIN_EPS, TRAIN_WD,
# TRAIN_CLIP) is ref_ig.py's
COS_EPS = 1e-8            # torch.nn.functional.cosine_similarity's eps

# The sampler fixture (the paper's settings on a short grid).
SAMPLE_N = 2
SAMPLE_STEPS = 6          # 7 grid points, 6 Heun intervals, 12 evaluations
SAMPLE_SHIFT = 0.3        # t' = s t / (1 + (s - 1) t)
SAMPLE_IG = 1.4           # with CFG
SAMPLE_CFG = 1.45
SAMPLE_CFG_START = 0.19   # CFG where t_ldit >= 0.19 (t_sit <= 0.81)
SAMPLE_IG_ALONE = 1.7     # without CFG

NON_PARAM_PREFIXES = ("input.", "output.", "grad.", "ema.", "adam.", "train.",
                      "after.", "probe.", "sample.")


def swiglu_hidden(D):
    """The release's SwiGLU width: int(2/3 * int(4.0 D)); equals 8D // 3 for every
    D up to 8192 (checked in selftest)."""
    return int(2 / 3 * int(D * 4.0))


def rope_table(rows, cols, head_dim):
    """2D RoPE angles (rows*cols, head_dim), float64.

    Token n = a*cols + b (a row, b column).  Dims [0, hd/2) rotate with the row,
    [hd/2, hd) with the column; inside each half, pair j (dims 2j, 2j+1) uses
    theta_j = 10000^(-2j/(hd/2)), j < hd/4.  For XL (hd 72): theta_m = 10000^(-m/18).
    """
    assert head_dim % 4 == 0, "head_dim must be a multiple of 4 for 2D RoPE"
    half = head_dim // 2
    theta = 10000.0 ** (-np.arange(0, half, 2, dtype=np.float64) / half)   # hd/4 values
    theta2 = np.repeat(theta, 2)                                            # pairs share
    a = np.repeat(np.arange(rows, dtype=np.float64), cols)
    b = np.tile(np.arange(cols, dtype=np.float64), rows)
    return np.concatenate([a[:, None] * theta2[None], b[:, None] * theta2[None]], axis=1)


def rope_apply(z, cos, sin):
    """z (..., T, hd): out[2j] = z[2j] cos - z[2j+1] sin, out[2j+1] = z[2j+1] cos + z[2j] sin."""
    zp = z.reshape(*z.shape[:-1], -1, 2)
    rot = torch.stack([-zp[..., 1], zp[..., 0]], dim=-1).reshape(z.shape)
    return z * cos + rot * sin


class RMSNorm(nn.Module):
    """u * rsqrt(mean(u^2) + 1e-6) * weight over the last dim."""

    def __init__(self, D, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(D))

    def forward(self, u):
        return u * torch.rsqrt(u.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


# The patch, time (raw t in [0, 1], here LightningDiT's own convention) and label
# embedders and modulate are ref_ig.py's: the release's are the same.


class FeatRope(nn.Module):
    """Holds the stored cos/sin tables (T, head_dim) as buffers, as the release does."""

    def __init__(self, rows, cols, head_dim):
        super().__init__()
        ang = torch.from_numpy(rope_table(rows, cols, head_dim))
        # stored float32 (the release's buffers are float32)
        self.register_buffer("freqs_cos", torch.cos(ang).float())
        self.register_buffer("freqs_sin", torch.sin(ang).float())

    def forward(self, z):
        return rope_apply(z, self.freqs_cos.to(z.dtype), self.freqs_sin.to(z.dtype))


class Attention(nn.Module):
    def __init__(self, D, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)

    def forward(self, x, rope):
        B, T, D = x.shape
        hd = D // self.heads
        # qkv feature index = s*D + head*hd + d for s in (q, k, v)
        qkv = self.qkv(x).reshape(B, T, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                    # (B, heads, T, hd)
        q, k = rope(q), rope(k)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(hd), dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(B, T, D))


class SwiGLU(nn.Module):
    def __init__(self, D, hidden):
        super().__init__()
        self.w12 = nn.Linear(D, 2 * hidden)
        self.w3 = nn.Linear(hidden, D)

    def forward(self, u):
        x1, x2 = self.w12(u).chunk(2, dim=-1)               # x1: the gated (first) half
        return self.w3(F.silu(x1) * x2)


class Block(nn.Module):
    def __init__(self, D, heads):
        super().__init__()
        self.norm1 = RMSNorm(D)
        self.attn = Attention(D, heads)
        self.norm2 = RMSNorm(D)
        self.mlp = SwiGLU(D, swiglu_hidden(D))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))

    def forward(self, x, c, rope):
        s1, sc1, g1, s2, sc2, g2 = self.adaLN_modulation(c).chunk(6, dim=-1)
        x = x + g1[:, None] * self.attn(modulate(self.norm1(x), s1, sc1), rope)
        x = x + g2[:, None] * self.mlp(modulate(self.norm2(x), s2, sc2))
        return x


class FinalLayer(nn.Module):
    def __init__(self, D, p, C):
        super().__init__()
        self.norm_final = RMSNorm(D)
        self.linear = nn.Linear(D, p * p * C)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(D, 2 * D))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class LightningDiTIG(IGNet):
    """LightningDiT with the intermediate head final_layer_xr after block k (1-based).
    forward(x, t, y) with t in LightningDiT's convention (t = 0 noise) -> (v, v_aux)
    (IGNet's, each block with the RoPE tables)."""

    def __init__(self, C, H, W, p, D, L, heads, ncls, k, **_unused):
        super().__init__()
        assert H % p == 0 and W % p == 0 and D % heads == 0 and 1 <= k <= L
        self.stem(C, H, W, p, D, L, heads, ncls, k)   # pos_embed: stored, not trained, as released
        self.feat_rope = FeatRope(self.rows, self.cols, D // heads)
        self.blocks = nn.ModuleList([Block(D, heads) for _ in range(L)])
        self.final_layer_xr = FinalLayer(D, p, C)
        self.final_layer = FinalLayer(D, p, C)

    def release_init(self, gen):
        """The release's init: xavier-uniform Linears (the patch conv as a Linear),
        zero biases, N(0, 0.02) label table and time MLP weights, RMSNorm gains 1,
        every block's adaLN zeroed, final_layer's adaLN and linear zeroed;
        final_layer_xr keeps xavier weights and zero biases."""
        def xavier(w):
            fan_out, fan_in = w.shape[0], int(np.prod(w.shape[1:]))
            a = math.sqrt(6.0 / (fan_in + fan_out))
            w.copy_((torch.rand(w.shape, generator=gen, dtype=torch.float64) * 2 - 1) * a)
        with torch.no_grad():
            for n, q in self.named_parameters():
                if not q.requires_grad:
                    continue
                if n.endswith("norm1.weight") or n.endswith("norm2.weight") or n.endswith("norm_final.weight"):
                    q.fill_(1.0)
                elif n.endswith(".bias"):
                    q.zero_()
                elif n == "y_embedder.embedding_table.weight" or n.startswith("t_embedder.mlp"):
                    q.copy_(torch.randn(q.shape, generator=gen, dtype=torch.float64) * 0.02)
                else:
                    xavier(q)
            for blk in self.blocks:
                blk.adaLN_modulation[1].weight.zero_()
            self.final_layer.adaLN_modulation[1].weight.zero_()
            self.final_layer.linear.weight.zero_()

    def run_block(self, block, h, c):
        return block(h, c, self.feat_rope)


# ============================================================================
# Loss and sampler (LightningDiT's convention: t = 0 noise, t = 1 data)
# ============================================================================

def cos_sim_channels(a, b):
    """Cosine similarity over dim 1 (channels) at each position, as torch's
    cosine_similarity: sum(a b) / sqrt(max(|a|^2 |b|^2, eps^2))."""
    dot = (a * b).sum(1)
    return dot / torch.sqrt(torch.clamp_min((a * a).sum(1) * (b * b).sum(1), COS_EPS ** 2))


def ld_loss(model, xt, t, y, u):
    """mean (v - u)^2 + 0.5 mean (v_aux - u)^2 + mean (1 - cos_ch(v, u)).
    xt = t x1 + (1 - t) x0 (x0 noise, x1 data), u = x1 - x0.  Returns the total
    and its three parts."""
    v, v_aux = model(xt, t, y)
    mse = ((v - u) ** 2).mean()
    mse_aux = ((v_aux - u) ** 2).mean()
    cos = (1 - cos_sim_channels(v, u)).mean()
    return mse + AUX_WEIGHT * mse_aux + cos, mse, mse_aux, cos


def shifted_grid(nsteps, shift):
    """shift(linspace(0, 1, nsteps+1)), t' = s t / (1 + (s - 1) t): from noise (0) to data (1)."""
    t = np.linspace(0.0, 1.0, nsteps + 1)
    return shift * t / (1 + (shift - 1) * t)


def guided_velocity(model, x, t, y, ig, cfg, cfg_start):
    """The release's guided velocity at one time t (a float).  cfg > 1: batch [x, x]
    with labels [y, null]; IG on both halves, v + (ig - 1)(v - v_aux); CFG
    u + cfg (c - u) on all channels where t >= cfg_start, else the conditional half."""
    n = x.shape[0]
    if cfg > 1:
        xx = torch.cat([x, x])
        yy = torch.cat([y, torch.full_like(y, model.num_classes)])
    else:
        xx, yy = x, y
    v, va = model(xx, torch.full((xx.shape[0],), t, dtype=x.dtype), yy)
    v = v + (ig - 1) * (v - va)
    if cfg <= 1:
        return v
    c, u = v[:n], v[n:]
    return u + cfg * (c - u) if t >= cfg_start else c


def heun_sample(model, z, y, grid, ig, cfg, cfg_start):
    """Heun on every interval, the last included (torchdiffeq's fixed-grid heun2):
    k1 = f(t0, x), k2 = f(t1, x + dt k1), x += dt (k1 + k2) / 2."""
    x = z.clone()
    for i in range(len(grid) - 1):
        t0, t1 = float(grid[i]), float(grid[i + 1])
        dt = t1 - t0
        k1 = guided_velocity(model, x, t0, y, ig, cfg, cfg_start)
        k2 = guided_velocity(model, x + dt * k1, t1, y, ig, cfg, cfg_start)
        x = x + dt * (k1 + k2) / 2
    return x


# ============================================================================
# Fixtures
# ============================================================================

def random_weights(model, gen):
    """Seeded, non-zero, float32-exact weights for every trainable parameter (the
    zero-initialized layers too, so every gradient is informative).  RMSNorm gains
    1 + N(0, 0.1^2); the stored pos_embed = sin-cos table + N(0, 0.1^2), so an
    implementation that recomputes the table instead of loading it fails."""
    with torch.no_grad():
        for name, q in model.named_parameters():
            r = torch.randn(q.shape, generator=gen, dtype=torch.float64)
            if name == "pos_embed":
                q.copy_(f32_exact(q.double() + 0.1 * r))
            elif name.endswith("norm1.weight") or name.endswith("norm2.weight") or name.endswith("norm_final.weight"):
                q.copy_(f32_exact(1 + 0.1 * r))
            elif name.endswith("embedding_table.weight"):
                q.copy_(f32_exact(0.5 * r))
            elif q.dim() >= 2:
                gain = 0.6 if "adaLN_modulation" in name else 1.0
                q.copy_(f32_exact(r * gain / math.sqrt(int(np.prod(q.shape[1:])))))
            else:
                q.copy_(f32_exact(0.05 * r))


def config_meta(cfg):
    return {"in_channels": cfg["C"], "image_height": cfg["H"], "image_width": cfg["W"],
            "patch_size": cfg["p"], "hidden_size": cfg["D"], "depth": cfg["L"],
            "num_heads": cfg["heads"], "num_classes": cfg["ncls"], "aux_depth": cfg["k"],
            "arch": "lightningdit", "format": "ig.h-lightningdit"}


def build_fixture(name="ld", seed=None):
    cfg = CONFIGS[name]
    gen = torch.Generator().manual_seed(DEFAULT_SEED[name] if seed is None else seed)
    model = LightningDiTIG(**cfg).double()
    random_weights(model, gen)
    B, C, H, W, ncls = cfg["B"], cfg["C"], cfg["H"], cfg["W"], cfg["ncls"]
    rnd = lambda *s: f32_exact(torch.randn(*s, generator=gen, dtype=torch.float64))

    def labels(n):
        y = torch.randint(0, ncls, (n,), generator=gen, dtype=torch.int64)
        y[n // 2] = ncls                              # at least one null label
        return y

    def times(n):
        # multiples of 1/1024 in (0, 1): t and 1 - t are both exact in float32,
        # so the C side's t_sit = 1 - t_ldit loses nothing
        return torch.randint(1, 1024, (n,), generator=gen).double() / 1024

    ts = {n: v.detach().clone() for n, v in model.state_dict().items()}

    # forward of both heads
    x, t, y = rnd(B, C, H, W), times(B), labels(B)
    with torch.no_grad():
        v, v_aux = model(x, t, y)
    ts.update({"input.x": x, "input.t": t, "input.y": y, "output.v": v, "output.v_aux": v_aux})

    # the training batch: x0 noise, x1 data, xt = t x1 + (1 - t) x0, u = x1 - x0;
    # xt and u rounded to float32 before use, so the stored values are exact inputs
    x1, x0, t_tr, y_tr = rnd(B, C, H, W), rnd(B, C, H, W), times(B), labels(B)
    tt = t_tr.view(-1, 1, 1, 1)
    xt = f32_exact(tt * x1 + (1 - tt) * x0)
    u = f32_exact(x1 - x0)
    model.zero_grad(set_to_none=True)
    loss, mse, mse_aux, cos = ld_loss(model, xt, t_tr, y_tr, u)
    loss.backward()
    for n, q in model.trainable():
        ts["grad." + n] = q.grad.detach().clone()
    params = [q for _, q in model.trainable()]
    gnorm = torch.nn.utils.clip_grad_norm_(params, TRAIN_CLIP)
    opt = torch.optim.AdamW(params, lr=TRAIN_LR, betas=TRAIN_BETAS, eps=TRAIN_EPS,
                            weight_decay=TRAIN_WD)
    opt.step()
    ts.update({"train.x1": x1, "train.x0": x0, "train.t": t_tr, "train.y": y_tr,
               "train.xt": xt, "train.u": u,
               "train.loss": loss.detach().reshape(1), "train.loss_final": mse.detach().reshape(1),
               "train.loss_aux": mse_aux.detach().reshape(1), "train.loss_cos": cos.detach().reshape(1),
               "train.grad_norm": gnorm.detach().reshape(1)})
    for n, q in model.trainable():
        ts["after." + n] = q.detach().clone()
    with torch.no_grad():                              # back to the fixture weights
        for n, q in model.named_parameters():
            q.copy_(ts[n])

    # the sampler: fixed noise, the shifted grid, Heun, IG + interval CFG; and IG alone
    z, ys = rnd(SAMPLE_N, C, H, W), torch.tensor([1, ncls - 1], dtype=torch.int64)
    grid = shifted_grid(SAMPLE_STEPS, SAMPLE_SHIFT)
    with torch.no_grad():
        out_cfg = heun_sample(model, z, ys, grid, SAMPLE_IG, SAMPLE_CFG, SAMPLE_CFG_START)
        out_ig = heun_sample(model, z, ys, grid, SAMPLE_IG_ALONE, 1.0, SAMPLE_CFG_START)
    ts.update({"sample.noise": z, "sample.y": ys, "sample.grid": torch.from_numpy(grid),
               "sample.out_cfg": out_cfg, "sample.out_ig": out_ig})
    meta = config_meta(cfg)
    meta.update({"sample_steps": SAMPLE_STEPS, "sample_shift": SAMPLE_SHIFT,
                 "sample_ig": SAMPLE_IG, "sample_cfg": SAMPLE_CFG,
                 "sample_cfg_start": SAMPLE_CFG_START, "sample_ig_alone": SAMPLE_IG_ALONE})
    return model, ts, meta


def cmd_fixture(args):
    model, ts, meta = build_fixture("ld", args.seed)
    arrays = to_storage(ts)
    save_safetensors(args.out, arrays, meta)
    print(f"wrote {args.out}: {len(arrays)} tensors, {sum(a.nbytes for a in arrays.values())} data bytes")
    rms = lambda k: float(ts[k].pow(2).mean().sqrt())
    print(f"  |v| rms {rms('output.v'):.3f}  |v_aux| rms {rms('output.v_aux'):.3f}  "
          f"loss {float(ts['train.loss']):.4f} (mse {float(ts['train.loss_final']):.4f}, aux "
          f"{float(ts['train.loss_aux']):.4f}, cos {float(ts['train.loss_cos']):.4f})  "
          f"grad_norm {float(ts['train.grad_norm']):.4f}")
    print(f"  grid {np.array2string(ts['sample.grid'].numpy(), precision=4)}  "
          f"|out_cfg| rms {rms('sample.out_cfg'):.3f}  |out_ig| rms {rms('sample.out_ig'):.3f}")


def cmd_pt(args):
    """A training checkpoint as the release writes it, for a tiny config."""
    cfg = CONFIGS["ld_tiny"]
    gen = torch.Generator().manual_seed(DEFAULT_SEED["ld_tiny"])
    model = LightningDiTIG(**cfg)                      # float32, as trained
    model.double()
    random_weights(model, gen)
    ema = {n: v.detach().clone() for n, v in model.state_dict().items()}
    with torch.no_grad():                              # "model" differs from "ema"
        for n, q in model.named_parameters():
            if q.requires_grad:
                q.add_(f32_exact(0.01 * torch.randn(q.shape, generator=gen, dtype=torch.float64)))
    sd_model = {n: v.float() for n, v in model.state_dict().items()}
    sd_ema = {n: v.float() for n, v in ema.items()}
    from collections import OrderedDict
    opt = torch.optim.AdamW([q for _, q in model.trainable()], lr=2e-4, betas=(0.9, 0.95))
    config = {"model": {"model_type": "LightningDiT-tiny/1", "encoder_depth": cfg["k"],
                        "use_qknorm": False, "use_swiglu": True, "use_rope": True,
                        "use_rmsnorm": True, "wo_shift": False, "in_chans": cfg["C"]},
              "optimizer": {"lr": 0.0002, "beta2": 0.95, "max_grad_norm": 1.0},
              "sample": {"num_sampling_steps": 125, "cfg_scale": 1.45, "ig_scale": 1.4,
                         "cfg_interval_start": 0.19, "timestep_shift": 0.3}}
    torch.save({"model": OrderedDict(sd_model), "ema": OrderedDict(sd_ema),
                "opt": opt.state_dict(), "config": config}, args.out)
    # expected outputs of the EMA weights (what a converter must pick)
    m2 = LightningDiTIG(**cfg).double()
    m2.load_state_dict({n: v.double() for n, v in sd_ema.items()}, strict=True)
    B, C, H, W = cfg["B"], cfg["C"], cfg["H"], cfg["W"]
    x = f32_exact(torch.randn(B, C, H, W, generator=gen, dtype=torch.float64))
    t = torch.tensor([0.25, 0.75], dtype=torch.float64)
    y = torch.tensor([0, cfg["ncls"]], dtype=torch.int64)
    with torch.no_grad():
        v, va = m2(x, t, y)
    io = {"input.x": x, "input.t": t, "input.y": y, "output.v": v, "output.v_aux": va}
    save_safetensors(args.out_io, to_storage(io), config_meta(cfg))
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes) and {args.out_io}")


# ============================================================================
# Loading checkpoints
# ============================================================================

def config_from_checkpoint(tensors, meta, aux_depth=None, prefix=""):
    """Architecture from the shapes: D, C, p from x_embedder; L from the blocks;
    head_dim from feat_rope.freqs_cos (T, head_dim), so heads = D / head_dim; the
    grid from pos_embed (square unless metadata says otherwise).  k from the flag,
    then metadata 'aux_depth'; the release's default is 8."""
    def need(key):
        if prefix + key in tensors:
            return tensors[prefix + key].shape
        if key in tensors and key.startswith(("pos_embed", "feat_rope.")):   # fixed: no ema. copy
            return tensors[key].shape
        raise ValueError(f"missing tensor '{prefix + key}'")
    D, C, p, _ = need("x_embedder.proj.weight")
    ncls = need("y_embedder.embedding_table.weight")[0] - 1
    L = 0
    while prefix + f"blocks.{L}.mlp.w12.weight" in tensors:
        L += 1
    if L == 0:
        raise ValueError("no blocks.{i}.mlp.w12.weight: not a LightningDiT checkpoint")
    T, hd = need("feat_rope.freqs_cos")
    if D % hd:
        raise ValueError(f"feat_rope head_dim {hd} does not divide hidden size {D}")
    heads = D // hd
    if "image_height" in meta and "image_width" in meta:
        H, W = int(meta["image_height"]), int(meta["image_width"])
    else:
        side = int(round(math.sqrt(T)))
        if side * side != T:
            raise ValueError(f"{T} tokens is not a square grid and the metadata has no image size")
        H = W = side * p
    k = aux_depth if aux_depth is not None else int(meta.get("aux_depth", 8))
    if not 1 <= k < L:
        raise ValueError(f"the aux head after block {k} needs 1 <= k < depth {L}: pass --aux-depth K "
                         "(the checkpoint's metadata has no aux_depth; the release's default is 8)")
    return dict(C=int(C), H=H, W=W, p=int(p), D=int(D), L=L, heads=heads, ncls=int(ncls), k=k)


def load_model(path, aux_depth=None, prefix=""):
    tensors, meta = load_safetensors(path)
    cfg = config_from_checkpoint(tensors, meta, aux_depth, prefix)
    model = LightningDiTIG(**cfg).double()
    ours = {n: b.clone() for n, b in model.feat_rope.named_buffers()}
    model.load_state_dict(checkpoint_state(tensors, prefix, ("pos_embed", "feat_rope.freqs_cos", "feat_rope.freqs_sin"),
                                           NON_PARAM_PREFIXES), strict=True)
    # load_state_dict copied into the float64 buffers; compare with the recomputed table
    rope_err = max(float((getattr(model.feat_rope, n).double() - b.double()).abs().max())
                   for n, b in ours.items())
    return model, cfg, tensors, meta, rope_err


def cmd_check(args):
    model, cfg, tensors, _, rope_err = load_or_fail(load_model, args.ckpt, args.aux_depth, args.prefix)
    if rope_err > 1e-5:
        print(f"FAIL: feat_rope tables differ from the recomputed ones by {rope_err:.3g}", file=sys.stderr)
        sys.exit(1)
    v, va = probe_forward(model, cfg)
    n = sum(q.numel() for _, q in model.trainable())
    print(f"OK {args.ckpt}: LightningDiT C={cfg['C']} H={cfg['H']} W={cfg['W']} p={cfg['p']} "
          f"D={cfg['D']} L={cfg['L']} heads={cfg['heads']} classes={cfg['ncls']} "
          f"aux_depth={cfg['k']} params={n} (rope tables match to {rope_err:.2g})")
    print(f"checksum sum(v)={float(v.sum()):.9g} sum(v_aux)={float(va.sum()):.9g}")
    compare_stored_outputs(model, tensors)


def cmd_forward(args):
    forward_to_file(args, lambda: load_model(args.ckpt, args.aux_depth, args.prefix)[0])


# ============================================================================
# Self test
# ============================================================================

def selftest(_args):
    import tempfile
    report = Report()

    # 1. SwiGLU width formula
    bad = [D for D in range(1, 8193) if swiglu_hidden(D) != 8 * D // 3]
    report("int(2/3 * 4D) == 8D // 3 for D <= 8192 (count of mismatches)", float(len(bad)), 0)

    # 2. RoPE table entry by entry (lightningdit.md: theta_m = 10000^(-m/18) for hd 72)
    tab = rope_table(16, 16, 72)
    err = 0.0
    for n in range(256):
        a, b = divmod(n, 16)
        for d in range(72):
            ang = (a if d < 36 else b) * 10000.0 ** (-((d % 36) // 2) / 18)
            err = max(err, abs(tab[n, d] - ang))
    report("RoPE angles vs the XL formula (16x16, hd 72)", err, 1e-12)

    # 3. RoPE is a rotation: norms kept, q.k depends on the position difference only
    g = torch.Generator().manual_seed(1)
    hd = 12
    ang = torch.from_numpy(rope_table(1, 8, hd))
    cos, sin = torch.cos(ang), torch.sin(ang)
    q = torch.randn(hd, generator=g, dtype=torch.float64).expand(8, hd)
    k = torch.randn(hd, generator=g, dtype=torch.float64).expand(8, hd)
    rq, rk = rope_apply(q, cos, sin), rope_apply(k, cos, sin)
    report("RoPE keeps norms", float((rq.norm(dim=-1) - q.norm(dim=-1)).abs().max()), 1e-12)
    d1 = float((rq[3] * rk[1]).sum())
    d2 = float((rq[6] * rk[4]).sum())
    report("RoPE: q_3.k_1 == q_6.k_4 (relative position)", abs(d1 - d2), 1e-12)

    model, ts, meta = build_fixture("ld")
    st = to_storage(ts)

    # 4. finite differences of the stored gradients of the full loss
    xt, t, y, u = ts["train.xt"], ts["train.t"], ts["train.y"], ts["train.u"]
    worst, where = 0.0, None
    gg = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for pn, q in model.trainable():
            flat, gref = q.view(-1), ts["grad." + pn].view(-1)
            for idx in torch.randint(0, flat.numel(), (4,), generator=gg).tolist():
                old = float(flat[idx])
                flat[idx] = old + 1e-5
                lp = float(ld_loss(model, xt, t, y, u)[0])
                flat[idx] = old - 1e-5
                lm = float(ld_loss(model, xt, t, y, u)[0])
                flat[idx] = old
                fd = (lp - lm) / 2e-5
                rel = abs(fd - float(gref[idx])) / (1e-4 + abs(fd) + abs(float(gref[idx])))
                if rel > worst:
                    worst, where = rel, (pn, idx, fd, float(gref[idx]))
    report("stored grads of the full loss vs central differences (rel)", worst, 1e-6)
    print("     worst at %s[%d]: fd %.12g autograd %.12g" % where)
    zero = [pn for pn, _ in model.trainable() if float(ts["grad." + pn].abs().max()) == 0.0]
    report(f"params with an all-zero gradient ({', '.join(zero) or 'none'})", float(len(zero)), 0)

    # 5. the AdamW step by hand
    gn = math.sqrt(sum(float((ts["grad." + pn] ** 2).sum()) for pn, _ in model.trainable()))
    report("grad_norm by hand", abs(gn - float(ts["train.grad_norm"])), 1e-10)
    coef = min(1.0, TRAIN_CLIP / (gn + 1e-6))
    err = 0.0
    for pn, q in model.trainable():
        g1 = ts["grad." + pn] * coef
        w = q.detach() * (1 - TRAIN_LR * TRAIN_WD) - TRAIN_LR * g1 / (g1.abs() + TRAIN_EPS)
        err = max(err, float((w - ts["after." + pn]).abs().max()))
    report("AdamW first step by hand vs torch", err, 1e-12)
    report("pos_embed not trained (no after.pos_embed)", float("after.pos_embed" in ts), 0)

    # 6. the sampler: grid ends, monotone, no grid time within 1e-3 of the CFG threshold
    grid = ts["sample.grid"].numpy()
    report("grid starts at 0 (noise), ends at 1", abs(grid[0]) + abs(grid[-1] - 1), 1e-15)
    report("grid increasing", float(not np.all(np.diff(grid) > 0)), 0)
    margin = float(np.min(np.abs(grid - SAMPLE_CFG_START)))
    report("closest grid time to the CFG threshold (1/x; want > 1e-3)", 1 / margin, 1e3)
    on = int(np.sum(grid >= SAMPLE_CFG_START))
    report(f"CFG on at {on} of {len(grid)} grid times (want some on, some off)",
           float(on in (0, len(grid))), 0)
    diff = float((ts["sample.out_cfg"] - ts["sample.out_ig"]).abs().max())
    report("CFG changes the samples (1/x)", 1 / max(diff, 1e-30), 100)

    # 7. strict reload of the stored file reproduces the outputs; ema. prefix works
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ld.safetensors")
        save_safetensors(path, st, meta)
        m2, cfg2, _, _, rope_err = load_model(path)
    with torch.no_grad():
        v2, a2 = m2(ts["input.x"], ts["input.t"], ts["input.y"])
    report("reload (strict) reproduces output.v and output.v_aux",
           max(float((v2 - ts["output.v"]).abs().max()), float((a2 - ts["output.v_aux"]).abs().max())), 1e-12)
    report("stored rope tables vs recomputed", rope_err, 0)
    report("heads read off feat_rope", float(cfg2["heads"] != CONFIGS["ld"]["heads"]), 0)

    # 8. the release init zeroes final_layer only (plus every block's adaLN)
    m3 = LightningDiTIG(**CONFIGS["ld"]).double()
    m3.release_init(torch.Generator().manual_seed(0))
    zeros = sorted(n for n, q in m3.trainable() if q.dim() >= 2 and float(q.abs().max()) == 0)
    want = sorted([f"blocks.{i}.adaLN_modulation.1.weight" for i in range(CONFIGS["ld"]["L"])] +
                  ["final_layer.adaLN_modulation.1.weight", "final_layer.linear.weight"])
    report("release init: zeroed matrices are every block's adaLN and final_layer's",
           float(zeros != want), 0)

    report.finish()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fixture")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(fn=cmd_fixture)
    p = sub.add_parser("pt")
    p.add_argument("out")
    p.add_argument("out_io")
    p.set_defaults(fn=cmd_pt)
    add_checkpoint_commands(sub, cmd_check, cmd_forward, heads=False)
    p = sub.add_parser("selftest")
    p.set_defaults(fn=selftest)
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.fn(args)


if __name__ == "__main__":
    main()
