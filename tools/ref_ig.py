#!/usr/bin/env python3
"""ref_ig.py: the ig.h project's PyTorch reference for SiT + Internal Guidance.

It has one model definition (SiT/DiT with adaLN-Zero and an extra intermediate
output head, see docs/method.md) and a few subcommands:

  fixture NAME OUT.safetensors [--seed S]
      Write a test fixture (weights, inputs, outputs of both heads, gradients of
      a probe loss, and a one-step AdamW training check) for config NAME
      (img, point, rect). Everything is computed in float64, stored as float32.

  check CKPT.safetensors [--heads N] [--aux-depth K] [--prefix P]
      Build the model from a checkpoint, load it with strict=True, print OK and
      a checksum of one forward pass. Exit status 1 on any failure.

  forward CKPT INPUTS OUT [--heads N] [--aux-depth K]
      Run the forward on input.x / input.t / input.y of INPUTS, write
      output.v / output.v_aux to OUT.

  pt CKPT.pt INPUTS OUT [--key ema|model]
      Load a torch.save checkpoint ({'model', 'ema', 'args'}, as tools/st2pt writes
      it) with torch.load(weights_only=True), build the model from its 'args',
      load both 'model' and 'ema' with strict=True, and run KEY's weights (ema)
      on INPUTS (t scaled by args['t_scale'], as ig.h does inside the model) to OUT.

  trainstep OUT.safetensors [--seed S]
      Write the fixture of full training steps (tests/fixtures/trainstep.safetensors):
      random weights, a batch of clean data x0 and labels y, and what PyTorch makes of
      TRAIN_STEPS calls of ig_train_step with ig.h's own random stream: the batch
      (t, label dropout, noise) is drawn by a copy of ig_rng (splitmix64, Box-Muller)
      in the documented order, then forward, loss of both heads, backward, clipping,
      AdamW with weight decay and the EMA run in float64.

  selftest
      Verify this script: safetensors round trip, position table, patch and
      unpatchify index conventions, an independent numpy forward, finite
      differences of the stored gradients, and the AdamW step by hand.

Only torch and numpy are used; safetensors files are read and written by hand.
"""
import argparse
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------
# Fixture configurations.
# C channels, H x W image, patch p, width D, depth L, attention heads,
# number of classes (the table has one extra "null" row), aux_depth k
# (the intermediate head reads x after block k, 1-based), batch B.
# ----------------------------------------------------------------------------
CONFIGS = {
    "img":   dict(C=4, H=8, W=8, p=2, D=64, L=4, heads=4, ncls=10, k=2, B=3),
    "point": dict(C=2, H=1, W=1, p=1, D=32, L=3, heads=2, ncls=2, k=1, B=5),
    "rect":  dict(C=3, H=4, W=8, p=2, D=48, L=2, heads=3, ncls=5, k=1, B=2),
}
DEFAULT_SEEDS = {"img": 101, "point": 202, "rect": 303}

# Hyper-parameters of the one-step training check stored in every fixture.
AUX_WEIGHT = 0.5          # lambda of the intermediate-head loss
TRAIN_LR = 1e-3
TRAIN_BETAS = (0.9, 0.999)
TRAIN_EPS = 1e-8
TRAIN_WD = 0.01
TRAIN_CLIP = 1.0

# Key prefixes in a safetensors file that are not model parameters.
NON_PARAM_PREFIXES = ("input.", "output.", "grad.", "ema.", "adam.", "train.",
                      "after.", "probe.", "batch.", "step1.", "step2.", "after_ema.")


# ============================================================================
# safetensors, by hand
# ============================================================================
# Layout: u64 little-endian N | N bytes of JSON header (padded with spaces so
# that N is a multiple of 8) | raw little-endian tensor data. The header maps
# name -> {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to
# the start of the data section) plus an optional "__metadata__" of str -> str.

_NP_TO_ST = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<f2"): "F16",
             np.dtype("<i8"): "I64", np.dtype("<i4"): "I32", np.dtype("u1"): "U8"}
_ST_TO_NP = {v: k for k, v in _NP_TO_ST.items()}


def save_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> numpy array or torch tensor (kept in dict order)."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name, value in tensors.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        arr = np.asarray(value)
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        if arr.dtype not in _NP_TO_ST:
            raise ValueError(f"{name}: unsupported dtype {arr.dtype}")
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": _NP_TO_ST[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * (-len(hbytes) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for raw in blobs:
            f.write(raw)


def load_safetensors(path):
    """Return (dict name -> numpy array, metadata dict). BF16 is widened to F32."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short to be a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} exceeds file size {len(data)}")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[8 + n:]
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        dt = info["dtype"]
        if end > len(body) or begin > end:
            raise ValueError(f"{path}: {name}: data_offsets {begin},{end} out of range")
        if dt == "BF16":
            u16 = np.frombuffer(body[begin:end], dtype="<u2")
            arr = (u16.astype(np.uint32) << 16).view(np.float32)
        elif dt in _ST_TO_NP:
            arr = np.frombuffer(body[begin:end], dtype=_ST_TO_NP[dt])
        else:
            raise ValueError(f"{path}: {name}: unsupported dtype {dt}")
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"{path}: {name}: {arr.size} elements for shape {shape}")
        out[name] = arr.reshape(shape).copy()
    return out, metadata


# ============================================================================
# The model
# ============================================================================

def pos_table_2d(D, rows, cols):
    """Fixed 2D sin-cos position table, shape (rows*cols, D), float64.

    Token index = row * cols + col. Channels [0, D/2) encode the column index,
    channels [D/2, D) the row index. For one axis of dim d = D/2:
    omega_j = 1 / 10000^(j / (d/2)) for j < d/2 and emb = [sin(pos*omega), cos(pos*omega)].
    """
    assert D % 4 == 0, "hidden size must be a multiple of 4 for the 2D sin-cos table"
    d = D // 2
    omega = 1.0 / 10000.0 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
    row = np.repeat(np.arange(rows, dtype=np.float64), cols)   # row of token i
    col = np.tile(np.arange(cols, dtype=np.float64), rows)     # column of token i

    def axis(pos):
        a = pos[:, None] * omega[None, :]
        return np.concatenate([np.sin(a), np.cos(a)], axis=1)

    return np.concatenate([axis(col), axis(row)], axis=1)


def modulate(x, shift, scale):
    # x: (B, T, D); shift, scale: (B, D) broadcast over tokens
    return x * (1 + scale[:, None, :]) + shift[:, None, :]


class PatchEmbed(nn.Module):
    """Stride-p, kernel-p convolution C -> D; flattened to (B, T, D), row-major tokens."""

    def __init__(self, C, p, D):
        super().__init__()
        self.proj = nn.Conv2d(C, D, kernel_size=p, stride=p, bias=True)

    def forward(self, x):
        y = self.proj(x)                       # (B, D, H/p, W/p)
        return y.flatten(2).transpose(1, 2)    # (B, T, D), token = row*(W/p)+col


class TimestepEmbedder(nn.Module):
    """Raw t in [0,1] -> 256-dim [cos | sin] features -> Linear, SiLU, Linear."""

    NFREQ = 256

    def __init__(self, D):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(self.NFREQ, D), nn.SiLU(), nn.Linear(D, D))

    @staticmethod
    def features(t):
        half = TimestepEmbedder.NFREQ // 2
        i = torch.arange(half, dtype=t.dtype, device=t.device)
        freqs = torch.exp(-math.log(10000.0) * i / half)
        angle = t[:, None] * freqs[None, :]
        return torch.cat([torch.cos(angle), torch.sin(angle)], dim=1)   # cos first

    def forward(self, t):
        return self.mlp(self.features(t))


class LabelEmbedder(nn.Module):
    """Table with num_classes + 1 rows; the last row is the null label."""

    def __init__(self, num_classes, D):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + 1, D)

    def forward(self, y):
        return self.embedding_table(y)


class Attention(nn.Module):
    def __init__(self, D, heads):
        super().__init__()
        assert D % heads == 0, f"hidden size {D} not divisible by {heads} heads"
        self.heads = heads
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)

    def forward(self, x):
        B, T, D = x.shape
        hd = D // self.heads
        q, k, v = self.qkv(x).split(D, dim=-1)            # [q | k | v]

        def split_heads(z):                               # (B, T, D) -> (B, h, T, hd)
            return z.reshape(B, T, self.heads, hd).transpose(1, 2)

        q, k, v = split_heads(q), split_heads(k), split_heads(v)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(hd), dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, D)    # heads concatenated back
        return self.proj(o)


class Mlp(nn.Module):
    def __init__(self, D):
        super().__init__()
        self.fc1 = nn.Linear(D, 4 * D)
        self.fc2 = nn.Linear(4 * D, D)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, D, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(D, heads)
        self.norm2 = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(D)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))

    def forward(self, x, c):
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN_modulation(c).chunk(6, dim=-1)
        x = x + gate1[:, None, :] * self.attn(modulate(self.norm1(x), shift1, scale1))
        x = x + gate2[:, None, :] * self.mlp(modulate(self.norm2(x), shift2, scale2))
        return x


class FinalLayer(nn.Module):
    """Output head: adaLN (shift, scale), LayerNorm, Linear D -> p*p*C."""

    def __init__(self, D, p, C):
        super().__init__()
        self.norm_final = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(D, 2 * D))
        self.linear = nn.Linear(D, p * p * C)

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class IGNet(nn.Module):
    """What SiTIG and ref_lightningdit.py's LightningDiTIG share: the embedders and
    the stored position table (stem), blocks with an intermediate head
    (final_layer_xr) after block aux_depth (1-based), unpatchify.  A subclass
    calls stem() first, then adds its blocks and heads: the order in which the
    parameters are made is the order of the seeded random draws."""

    def stem(self, C, H, W, p, D, L, heads, ncls, k):
        self.C, self.H, self.W, self.p, self.D, self.L = C, H, W, p, D, L
        self.heads, self.num_classes, self.aux_depth = heads, ncls, k
        self.rows, self.cols = H // p, W // p
        self.x_embedder = PatchEmbed(C, p, D)
        self.t_embedder = TimestepEmbedder(D)
        self.y_embedder = LabelEmbedder(ncls, D)
        # Fixed table, stored and not trained: computed in float64, cast to
        # float32 (what is stored and what the C code uses); stays exact when the
        # model is later .double()'d.  A checkpoint's value is loaded as is.
        table = torch.from_numpy(pos_table_2d(D, self.rows, self.cols)).float()[None]
        self.pos_embed = nn.Parameter(table, requires_grad=False)

    def run_block(self, block, h, c):
        return block(h, c)

    def unpatchify(self, z):
        """(B, T, p*p*C) with patch vectors ordered (p_row, p_col, channel) -> (B, C, H, W)."""
        B, p, C = z.shape[0], self.p, self.C
        z = z.reshape(B, self.rows, self.cols, p, p, C)       # b, r, q, i, j, c
        z = z.permute(0, 5, 1, 3, 2, 4)                       # b, c, r, i, q, j
        return z.reshape(B, C, self.rows * p, self.cols * p)

    def forward(self, x, t, y):
        """Returns (v_final, v_aux), both (B, C, H, W)."""
        h = self.x_embedder(x) + self.pos_embed
        c = self.t_embedder(t) + self.y_embedder(y)
        v_aux = None
        for i, block in enumerate(self.blocks):
            h = self.run_block(block, h, c)
            if i + 1 == self.aux_depth:      # intermediate head reads x after block k
                v_aux = self.unpatchify(self.final_layer_xr(h, c))
        return self.unpatchify(self.final_layer(h, c)), v_aux

    def trainable(self):
        return [(n, q) for n, q in self.named_parameters() if q.requires_grad]


class SiTIG(IGNet):
    """SiT with an intermediate head (final_layer_xr) after block aux_depth (1-based)."""

    def __init__(self, C, H, W, p, D, L, heads, ncls, k, **_unused):
        super().__init__()
        assert H % p == 0 and W % p == 0, "image size must be a multiple of the patch size"
        assert 1 <= k <= L, f"aux_depth {k} must be in [1, {L}]"
        self.stem(C, H, W, p, D, L, heads, ncls, k)
        self.blocks = nn.ModuleList([Block(D, heads) for _ in range(L)])
        self.final_layer = FinalLayer(D, p, C)
        self.final_layer_xr = FinalLayer(D, p, C)


# ============================================================================
# Fixtures
# ============================================================================

def f32_exact(t):
    """Round a float64 tensor to float32 and back: the value the fixture stores."""
    return t.float().double()


def random_weights(model, gen):
    """Seeded random, non-zero weights for every trainable parameter (float32-exact).

    Matrices ~ N(0, (gain/sqrt(fan_in))^2) so that every Linear keeps its input
    scale roughly; the adaLN Linears use a smaller gain so that (1+scale) stays
    positive on average while shift/gate are O(0.3); biases ~ N(0, 0.05^2);
    the label table ~ N(0, 0.5^2) so labels visibly change c.
    """
    with torch.no_grad():
        for name, prm in model.trainable():
            if name.endswith("embedding_table.weight"):
                std = 0.5
            elif prm.dim() >= 2:
                fan_in = int(np.prod(prm.shape[1:]))
                gain = 0.6 if "adaLN_modulation" in name else 1.0
                std = gain / math.sqrt(fan_in)
            else:
                std = 0.05
            prm.copy_(f32_exact(torch.randn(prm.shape, generator=gen, dtype=torch.float64) * std))


def flow_targets(x0, eps, t):
    """Linear path: x_t = (1-t) x0 + t eps, target v* = eps - x0."""
    tt = t.view(-1, 1, 1, 1)
    return (1 - tt) * x0 + tt * eps, eps - x0


def ig_loss(model, x0, eps, t, y):
    xt, target = flow_targets(x0, eps, t)
    v, v_aux = model(xt, t, y)
    return ((v - target) ** 2).mean() + AUX_WEIGHT * ((v_aux - target) ** 2).mean()


def build_fixture(name, seed=None):
    """Compute every fixture tensor in float64. Returns (model, tensors, metadata)."""
    cfg = CONFIGS[name]
    seed = DEFAULT_SEEDS[name] if seed is None else seed
    gen = torch.Generator().manual_seed(seed)
    model = SiTIG(**cfg).double()
    random_weights(model, gen)
    B, C, H, W, ncls = cfg["B"], cfg["C"], cfg["H"], cfg["W"], cfg["ncls"]

    def labels():
        y = torch.randint(0, ncls, (B,), generator=gen, dtype=torch.int64)
        y[B // 2] = ncls                      # at least one null label
        return y

    rnd = lambda *s: f32_exact(torch.randn(*s, generator=gen, dtype=torch.float64))
    uni = lambda *s: f32_exact(torch.rand(*s, generator=gen, dtype=torch.float64))
    x, t, y = rnd(B, C, H, W), uni(B), labels()
    r, r_aux = rnd(B, C, H, W), rnd(B, C, H, W)
    x0, eps, t_tr, y_tr = rnd(B, C, H, W), rnd(B, C, H, W), uni(B), labels()

    ts = {}
    for n, v in model.state_dict().items():          # weights, pos_embed included
        ts[n] = v.clone()

    # Forward + gradients of the probe loss.
    model.zero_grad(set_to_none=True)
    v, v_aux = model(x, t, y)
    probe = (r * v).sum() + AUX_WEIGHT * (r_aux * v_aux).sum()
    probe.backward()
    ts.update({"input.x": x, "input.t": t, "input.y": y,
               "output.v": v.detach(), "output.v_aux": v_aux.detach(),
               "probe.r": r, "probe.r_aux": r_aux})
    for n, q in model.trainable():
        ts["grad." + n] = q.grad.detach().clone()

    # One training step: IG loss, clip to norm 1, AdamW.
    model.zero_grad(set_to_none=True)
    params = [q for _, q in model.trainable()]
    loss = ig_loss(model, x0, eps, t_tr, y_tr)
    loss.backward()
    gnorm = torch.nn.utils.clip_grad_norm_(params, TRAIN_CLIP)
    opt = torch.optim.AdamW(params, lr=TRAIN_LR, betas=TRAIN_BETAS, eps=TRAIN_EPS,
                            weight_decay=TRAIN_WD)
    opt.step()
    ts.update({"train.x0": x0, "train.eps": eps, "train.t": t_tr, "train.y": y_tr,
               "train.loss": loss.detach().reshape(1),
               "train.grad_norm": gnorm.detach().reshape(1)})
    for n, q in model.trainable():
        ts["after." + n] = q.detach().clone()
    # Put the fixture weights back so that the returned model matches the file.
    with torch.no_grad():
        for n, q in model.named_parameters():
            q.copy_(ts[n])

    meta = {"in_channels": C, "image_height": H, "image_width": W,
            "patch_size": cfg["p"], "hidden_size": cfg["D"], "depth": cfg["L"],
            "num_heads": cfg["heads"], "num_classes": ncls, "aux_depth": cfg["k"],
            "format": "ig.h-sit"}
    return model, ts, meta


def to_storage(ts):
    """float64 -> float32, integers -> int64 numpy arrays."""
    out = {}
    for n, v in ts.items():
        v = v.detach().cpu()
        out[n] = v.to(torch.int64).numpy() if not v.is_floating_point() else v.float().numpy()
    return out


def block_influence(model, x, t, y):
    """Relative change of (v, v_aux) when the residual update of one block is removed."""
    with torch.no_grad():
        v0, a0 = model(x, t, y)
        res = []
        for i, blk in enumerate(model.blocks):
            orig = blk.forward
            blk.forward = lambda h, c: h
            v1, a1 = model(x, t, y)
            blk.forward = orig
            res.append((i + 1, float((v1 - v0).norm() / v0.norm()),
                        float((a1 - a0).norm() / a0.norm())))
    return res


def cmd_fixture(args):
    model, ts, meta = build_fixture(args.name, args.seed)
    arrays = to_storage(ts)
    save_safetensors(args.out, arrays, meta)
    nbytes = sum(a.nbytes for a in arrays.values())
    print(f"wrote {args.out}: {len(arrays)} tensors, {nbytes} data bytes")
    x, t, y = ts["input.x"], ts["input.t"], ts["input.y"]
    v = ts["output.v"]
    print(f"  |v| rms {float(v.pow(2).mean().sqrt()):.3f}  |v_aux| rms "
          f"{float(ts['output.v_aux'].pow(2).mean().sqrt()):.3f}  train.loss "
          f"{float(ts['train.loss']):.4f}  grad_norm {float(ts['train.grad_norm']):.4f}")
    for i, dv, da in block_influence(model, x, t, y):
        aux = f"{da:.3f}" if i <= model.aux_depth else "  -  "
        print(f"  removing block {i}: rel. change v {dv:.3f}, v_aux {aux}")


# ============================================================================
# Full training steps with ig.h's random stream (trainstep)
# ============================================================================

class IgRng:
    """A copy of ig.h's ig_rng: splitmix64, float32 uniforms from 24 bits, and
    Box-Muller normals in double (the second of each pair kept for the next call),
    rounded to float32.  Same numbers as the C code, bit for bit, given the same
    libm (math.log/sin/cos are the C library's)."""
    MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.state, self.has_spare, self.spare = seed & self.MASK, False, np.float32(0)

    def u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def uniform(self):
        # ((float)(u >> 40) + 0.5f) * 2^-24, in float32 arithmetic (the + 0.5 rounds)
        return (np.float32(self.u64() >> 40) + np.float32(0.5)) * np.float32(1.0 / 16777216.0)

    def normal(self):
        if self.has_spare:
            self.has_spare = False
            return self.spare
        u1 = ((self.u64() >> 11) + 0.5) * (1.0 / 9007199254740992.0)
        u2 = (self.u64() >> 11) * (1.0 / 9007199254740992.0)
        rad = math.sqrt(-2.0 * math.log(u1))
        self.spare = np.float32(rad * math.sin(2.0 * math.pi * u2))
        self.has_spare = True
        return np.float32(rad * math.cos(2.0 * math.pi * u2))


def flow_batch_draws(rng, B, per, ncls, y, label_dropout):
    """The documented draw order of ig_flow_batch (uniform t, linear path): per
    sample b, t[b] = one uniform; one uniform u for label dropout (labels[b] = ncls,
    the null label, if u < label_dropout, else y[b]); then per normals for eps."""
    t = np.zeros(B, np.float32)
    labels = np.zeros(B, np.int64)
    eps = np.zeros((B, per), np.float32)
    for b in range(B):
        t[b] = rng.uniform()
        labels[b] = ncls if rng.uniform() < np.float32(label_dropout) else int(y[b])
        for i in range(per):
            eps[b, i] = rng.normal()
    return t, labels, eps


TRAIN_CONFIG = dict(C=2, H=4, W=4, p=2, D=32, L=3, heads=2, ncls=3, k=1, B=4)
TRAIN_STEPS = 2
# lr 1e-2 and weight decay 0.05: the decay moves a weight w by 5e-4 w per step,
# far above the float32-vs-float64 error of the weights (~1e-7); the EMA decay
# 0.9 makes the EMA differ from the weights by about a tenth of each update.
# Adam's eps is 1e-4, not 1e-8: with 1e-8 Adam divides a coordinate's gradient
# by its own magnitude, so a gradient of 1e-7 (about float32's round-off of the
# sums that make it) turns its round-off into a step of order lr, in float32
# PyTorch as in C; with 1e-4 such coordinates move by lr g / 1e-4 and the typical
# clipped gradient (~4e-3) still sees the full Adam normalization.
TRAIN_HP = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-4, weight_decay=0.05, grad_clip=1.0,
                ema_decay=0.9, aux_weight=0.5, label_dropout=0.25)


def build_trainstep(seed=None):
    cfg, hp = TRAIN_CONFIG, TRAIN_HP
    B, C, H, W, ncls = cfg["B"], cfg["C"], cfg["H"], cfg["W"], cfg["ncls"]
    per = C * H * W
    gen = torch.Generator().manual_seed(404 if seed is None else seed)
    model = SiTIG(**cfg).double()
    random_weights(model, gen)
    x0 = f32_exact(torch.randn(B, C, H, W, generator=gen, dtype=torch.float64))
    y = torch.tensor([0, 1, 2, 1], dtype=torch.int64)
    # the stream's seed: the first one whose draws drop some labels but not all
    rng_seed = 1
    while True:
        r = IgRng(rng_seed)
        drops = [flow_batch_draws(r, B, per, ncls, y, hp["label_dropout"])[1] for _ in range(TRAIN_STEPS)]
        ndrop = sum(int((d == ncls).sum()) for d in drops)
        if 0 < ndrop < B * TRAIN_STEPS - 2:
            break
        rng_seed += 1
    ts = {}
    for n, v in model.state_dict().items():
        ts[n] = v.detach().clone()
    ts["batch.x0"], ts["batch.y"] = x0, y
    params = [q for _, q in model.trainable()]
    opt = torch.optim.AdamW(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"],
                            weight_decay=hp["weight_decay"])
    ema = {n: q.detach().clone() for n, q in model.trainable()}
    rng = IgRng(rng_seed)
    for s in range(1, TRAIN_STEPS + 1):
        t32, labels, eps32 = flow_batch_draws(rng, B, per, ncls, y, hp["label_dropout"])
        t = torch.from_numpy(t32.astype(np.float64))
        eps = torch.from_numpy(eps32.astype(np.float64)).reshape(B, C, H, W)
        lab = torch.from_numpy(labels)
        tt = t.view(-1, 1, 1, 1)
        xt, target = (1 - tt) * x0 + tt * eps, eps - x0          # linear path, v* = eps - x0
        opt.zero_grad(set_to_none=True)
        v, v_aux = model(xt, t, lab)
        loss_final = ((v - target) ** 2).mean()
        loss_aux = ((v_aux - target) ** 2).mean()
        loss = loss_final + hp["aux_weight"] * loss_aux
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(params, hp["grad_clip"])
        opt.step()
        d = hp["ema_decay"]
        with torch.no_grad():
            for n, q in model.trainable():
                ema[n] = d * ema[n] + (1 - d) * q.detach()
        ts.update({f"step{s}.t": t, f"step{s}.labels": lab, f"step{s}.eps": eps,
                   f"step{s}.loss": loss.detach().reshape(1),
                   f"step{s}.loss_final": loss_final.detach().reshape(1),
                   f"step{s}.loss_aux": loss_aux.detach().reshape(1),
                   f"step{s}.grad_norm": gnorm.detach().reshape(1)})
    for n, q in model.trainable():
        ts["after." + n] = q.detach().clone()
        ts["after_ema." + n] = ema[n]
    meta = {"in_channels": C, "image_height": H, "image_width": W, "patch_size": cfg["p"],
            "hidden_size": cfg["D"], "depth": cfg["L"], "num_heads": cfg["heads"],
            "num_classes": ncls, "aux_depth": cfg["k"], "format": "ig.h-sit",
            "rng_seed": rng_seed, "steps": TRAIN_STEPS}
    meta.update({k: repr(v) for k, v in hp.items()})
    return ts, meta


def cmd_trainstep(args):
    ts, meta = build_trainstep(args.seed)
    arrays = to_storage(ts)
    save_safetensors(args.out, arrays, meta)
    print(f"wrote {args.out}: {len(arrays)} tensors, {sum(a.nbytes for a in arrays.values())} data bytes, "
          f"rng seed {meta['rng_seed']}")
    for s in range(1, TRAIN_STEPS + 1):
        print(f"  step {s}: t {np.round(arrays[f'step{s}.t'], 4).tolist()} labels {arrays[f'step{s}.labels'].tolist()} "
              f"loss {float(arrays[f'step{s}.loss'][0]):.6f} grad norm {float(arrays[f'step{s}.grad_norm'][0]):.6f}")


# ============================================================================
# Loading checkpoints (check / forward)
# ============================================================================

def config_from_checkpoint(tensors, meta, heads=None, aux_depth=None, prefix=""):
    """Read the architecture off shapes; heads/aux_depth/H/W from flags or metadata."""
    def need(key):
        if prefix + key not in tensors:
            raise ValueError(f"missing tensor '{prefix + key}'")
        return tensors[prefix + key].shape

    D, C, p, p2 = need("x_embedder.proj.weight")
    if p != p2:
        raise ValueError(f"non-square patch kernel {p}x{p2}")
    ncls = need("y_embedder.embedding_table.weight")[0] - 1
    L = 0
    while prefix + f"blocks.{L}.attn.qkv.weight" in tensors:
        L += 1
    if L == 0:
        raise ValueError("no blocks.{i}.* tensors found")

    def meta_int(key):
        return int(meta[key]) if key in meta else None

    heads = heads if heads is not None else meta_int("num_heads")
    if heads is None:
        raise ValueError("number of heads not in metadata 'num_heads'; pass --heads N")
    k = aux_depth if aux_depth is not None else meta_int("aux_depth")
    if k is None:
        raise ValueError("aux depth not in metadata 'aux_depth'; pass --aux-depth K")
    H, W = meta_int("image_height"), meta_int("image_width")
    if H is None or W is None:
        # fall back on the position table, assuming a square grid
        T = need("pos_embed")[1]
        side = int(round(math.sqrt(T)))
        if side * side != T:
            raise ValueError("image_height/image_width missing from metadata and pos_embed is not square")
        H = W = side * p
    for key, val in (("in_channels", C), ("patch_size", p), ("hidden_size", D),
                     ("depth", L), ("num_classes", ncls)):
        if key in meta and int(meta[key]) != val:
            raise ValueError(f"metadata {key}={meta[key]} disagrees with tensor shapes ({val})")
    return dict(C=int(C), H=H, W=W, p=int(p), D=int(D), L=L, heads=heads, ncls=int(ncls), k=k)


def checkpoint_state(tensors, prefix, fixed, non_param):
    """The model's tensors of a checkpoint as float64 torch tensors, by name: with
    a prefix (e.g. 'ema.') the tensors under it, and the fixed (untrained) ones,
    often stored once without it; with none, every tensor but those whose names
    start with one of non_param (inputs, outputs, training state)."""
    if prefix:
        sd = {n[len(prefix):]: a for n, a in tensors.items() if n.startswith(prefix)}
        for name in fixed:
            if name not in sd and name in tensors:
                sd[name] = tensors[name]
    else:
        sd = {n: a for n, a in tensors.items() if not n.startswith(non_param)}
    return {n: torch.from_numpy(np.asarray(a, dtype=np.float64)) for n, a in sd.items()}


def load_or_fail(load, ckpt, *args):
    """load(ckpt, *args), or the message 'FAIL: CKPT: why' and exit status 1."""
    try:
        return load(ckpt, *args)
    except Exception as e:   # noqa: BLE001 - report any failure as a clean message
        print(f"FAIL: {ckpt}: {e}", file=sys.stderr)
        sys.exit(1)


def probe_forward(model, cfg):
    """The model on deterministic probe inputs, independent of the checkpoint's
    contents: 2 rows, t 0.25 and 0.75, a real and the null label."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, cfg["C"], cfg["H"], cfg["W"], generator=g, dtype=torch.float64)
    t = torch.tensor([0.25, 0.75], dtype=torch.float64)
    y = torch.tensor([0, cfg["ncls"]], dtype=torch.int64)     # a real and the null label
    with torch.no_grad():
        return model(x, t, y)


def compare_stored_outputs(model, tensors):
    """If the file carries its own inputs and outputs (a fixture, or a C dump), compare."""
    if all(k in tensors for k in ("input.x", "input.t", "input.y", "output.v", "output.v_aux")):
        with torch.no_grad():
            v2, a2 = model(torch.from_numpy(tensors["input.x"]).double(),
                           torch.from_numpy(tensors["input.t"]).double(),
                           torch.from_numpy(tensors["input.y"]).long())
        dv = float((v2 - torch.from_numpy(tensors["output.v"]).double()).abs().max())
        da = float((a2 - torch.from_numpy(tensors["output.v_aux"]).double()).abs().max())
        print(f"stored outputs: max|dv|={dv:.3g} max|dv_aux|={da:.3g}")


def forward_to_file(args, load):
    """The forward command: model = load(); its outputs on INPUTS' input.x,
    input.t, input.y written to OUT as output.v and output.v_aux."""
    try:
        model = load()
        inp, _ = load_safetensors(args.inputs)
        x = torch.from_numpy(inp["input.x"]).double()
        t = torch.from_numpy(inp["input.t"]).double().reshape(-1)
        y = torch.from_numpy(inp["input.y"]).long().reshape(-1)
    except Exception as e:   # noqa: BLE001
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
    with torch.no_grad():
        v, v_aux = model(x, t, y)
    save_safetensors(args.out, {"output.v": v.float().numpy(), "output.v_aux": v_aux.float().numpy()})
    print(f"wrote {args.out}: output.v {tuple(v.shape)}, sum(v)={float(v.sum()):.9g}")


def add_checkpoint_commands(sub, cmd_check, cmd_forward, heads):
    """The check and forward subcommands (with --heads N when heads)."""
    for cmd, fn in (("check", cmd_check), ("forward", cmd_forward)):
        p = sub.add_parser(cmd)
        p.add_argument("ckpt")
        if cmd == "forward":
            p.add_argument("inputs")
            p.add_argument("out")
        if heads:
            p.add_argument("--heads", type=int, default=None)
        p.add_argument("--aux-depth", type=int, default=None)
        p.add_argument("--prefix", default="", help="load weights from PREFIX<name>, e.g. 'ema.'")
        p.set_defaults(fn=fn)


def load_model(path, heads=None, aux_depth=None, prefix=""):
    """Build SiTIG from a safetensors checkpoint and load it with strict=True (float64)."""
    tensors, meta = load_safetensors(path)
    cfg = config_from_checkpoint(tensors, meta, heads, aux_depth, prefix)
    model = SiTIG(**cfg).double()
    ours = model.pos_embed.detach().clone()
    model.load_state_dict(checkpoint_state(tensors, prefix, ("pos_embed",), NON_PARAM_PREFIXES),
                          strict=True)      # raises on missing/unexpected/mis-shaped keys
    bad = [n for n, q in model.named_parameters() if not torch.isfinite(q).all()]
    if bad:
        raise ValueError(f"non-finite values in: {', '.join(bad)}")
    pos_err = float((model.pos_embed - ours).abs().max())
    return model, cfg, tensors, meta, pos_err


def cmd_check(args):
    model, cfg, tensors, meta, pos_err = load_or_fail(load_model, args.ckpt, args.heads, args.aux_depth,
                                                      args.prefix)
    if pos_err > 1e-6:
        print(f"FAIL: pos_embed differs from the 2D sin-cos table by {pos_err:.3g}", file=sys.stderr)
        sys.exit(1)
    v, v_aux = probe_forward(model, cfg)
    if not (torch.isfinite(v).all() and torch.isfinite(v_aux).all()):
        print("FAIL: forward produced non-finite values", file=sys.stderr)
        sys.exit(1)
    nparam = sum(q.numel() for _, q in model.trainable())
    print(f"OK {args.ckpt}: C={cfg['C']} H={cfg['H']} W={cfg['W']} p={cfg['p']} D={cfg['D']} "
          f"L={cfg['L']} heads={cfg['heads']} classes={cfg['ncls']} aux_depth={cfg['k']} "
          f"params={nparam}")
    print(f"checksum sum(v)={float(v.sum()):.9g} sum|v|={float(v.abs().sum()):.9g} "
          f"sum(v_aux)={float(v_aux.sum()):.9g} sum|v_aux|={float(v_aux.abs().sum()):.9g}")
    compare_stored_outputs(model, tensors)


def cmd_forward(args):
    forward_to_file(args, lambda: load_model(args.ckpt, args.heads, args.aux_depth, args.prefix)[0])


def load_pt(path, key):
    """SiTIG from a .pt checkpoint read by the weights-only unpickler; both weight
    sets must load strictly; returns the model (KEY's weights) and the args."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or not all(k in ckpt for k in ("model", "ema", "args")):
        raise ValueError("not a checkpoint with 'model', 'ema' and 'args'")
    a = ckpt["args"]
    cfg = dict(C=a["in_channels"], H=a["input_size"], W=a["input_size"], p=a["patch_size"],
               D=a["hidden_size"], L=a["depth"], heads=a["num_heads"], ncls=a["num_classes"],
               k=a["encoder_depth"])
    model = SiTIG(**cfg).double()
    for name in ("model", "ema"):
        model.load_state_dict({n: v.double() for n, v in ckpt[name].items()}, strict=True)
    model.load_state_dict({n: v.double() for n, v in ckpt[key].items()}, strict=True)
    return model, a


def cmd_pt(args):
    model, a = load_or_fail(load_pt, args.ckpt, args.key)
    t_scale = float(a.get("t_scale", 1.0))
    print(f"loaded {args.ckpt} with weights_only=True: args {a}; '{args.key}' and 'model' strict")

    class Scaled(nn.Module):            # ig.h feeds t * t_scale to the time embedding
        def forward(self, x, t, y):
            return model(x, t * t_scale, y)
    forward_to_file(args, lambda: Scaled())


# ============================================================================
# Self test
# ============================================================================

def numpy_forward(sd, cfg, x, t, y):
    """Independent float64 numpy forward, written with explicit index formulas."""
    C, H, W, p, D, L = cfg["C"], cfg["H"], cfg["W"], cfg["p"], cfg["D"], cfg["L"]
    nh, k = cfg["heads"], cfg["k"]
    rows, cols = H // p, W // p
    T, B = rows * cols, x.shape[0]
    g = lambda n: sd[n].astype(np.float64)
    lin = lambda z, n: z @ g(n + ".weight").T + g(n + ".bias")
    silu = lambda z: z / (1 + np.exp(-z))
    gelu = lambda z: 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3)))

    def ln(z):
        mu = z.mean(-1, keepdims=True)
        var = ((z - mu) ** 2).mean(-1, keepdims=True)
        return (z - mu) / np.sqrt(var + 1e-6)

    # patch embedding: token r*cols+q; conv weight (D, C, i, j)
    wp, bp = g("x_embedder.proj.weight"), g("x_embedder.proj.bias")
    h = np.zeros((B, T, D))
    for r in range(rows):
        for q in range(cols):
            patch = x[:, :, r * p:(r + 1) * p, q * p:(q + 1) * p]        # (B, C, p, p)
            h[:, r * cols + q] = np.einsum("bcij,dcij->bd", patch, wp) + bp
    h = h + g("pos_embed")[0]
    fr = np.exp(-math.log(10000) * np.arange(128) / 128)
    ang = t[:, None] * fr[None]
    c = lin(silu(lin(np.concatenate([np.cos(ang), np.sin(ang)], 1), "t_embedder.mlp.0")),
            "t_embedder.mlp.2") + g("y_embedder.embedding_table.weight")[y]

    def head(hh, pre):
        mod = lin(silu(c), pre + ".adaLN_modulation.1")
        shift, scale = mod[:, :D], mod[:, D:]
        o = lin(ln(hh) * (1 + scale[:, None]) + shift[:, None], pre + ".linear")  # (B,T,ppC)
        img = np.zeros((B, C, H, W))
        for r in range(rows):
            for q in range(cols):
                for i in range(p):
                    for j in range(p):
                        for ch in range(C):
                            img[:, ch, r * p + i, q * p + j] = o[:, r * cols + q, (i * p + j) * C + ch]
        return img

    hd = D // nh
    aux = None
    for l in range(L):
        pre = f"blocks.{l}"
        m = lin(silu(c), pre + ".adaLN_modulation.1")
        s1, sc1, g1, s2, sc2, g2 = [m[:, n * D:(n + 1) * D] for n in range(6)]
        a = ln(h) * (1 + sc1[:, None]) + s1[:, None]
        qkv = lin(a, pre + ".attn.qkv")
        out = np.zeros((B, T, D))
        for e in range(nh):
            sl = slice(e * hd, (e + 1) * hd)
            q_, k_, v_ = qkv[..., sl], qkv[..., D:][..., sl], qkv[..., 2 * D:][..., sl]
            s = q_ @ k_.transpose(0, 2, 1) / math.sqrt(hd)
            s = np.exp(s - s.max(-1, keepdims=True))
            out[..., sl] = (s / s.sum(-1, keepdims=True)) @ v_
        h = h + g1[:, None] * lin(out, pre + ".attn.proj")
        a = ln(h) * (1 + sc2[:, None]) + s2[:, None]
        h = h + g2[:, None] * lin(gelu(lin(a, pre + ".mlp.fc1")), pre + ".mlp.fc2")
        if l + 1 == k:
            aux = head(h, "final_layer_xr")
    return head(h, "final_layer"), aux


class Report:
    """The self tests' lines: report(what, err, tol) passes when err <= tol;
    finish() prints the verdict (SELFTEST PASSED or FAILED) and exits with it."""

    def __init__(self):
        self.ok = True

    def __call__(self, what, err, tol):
        good = err <= tol
        self.ok &= good
        print(f"{'ok  ' if good else 'FAIL'} {what}: {err:.3g} (tol {tol:g})")

    def finish(self):
        print("SELFTEST", "PASSED" if self.ok else "FAILED")
        sys.exit(0 if self.ok else 1)


def selftest(_args):
    import os
    import tempfile
    report = Report()

    # 1. position table against the formula, entry by entry (rect: non-square grid)
    D, rows, cols = 48, 2, 4
    tab = pos_table_2d(D, rows, cols)
    err = 0.0
    for r in range(rows):
        for q in range(cols):
            for ch in range(D):
                axis_pos = q if ch < D // 2 else r
                j = ch % (D // 2)
                d = D // 2
                jj = j % (d // 2)
                om = 1.0 / 10000 ** (jj / (d / 2))
                ref = math.sin(axis_pos * om) if j < d // 2 else math.cos(axis_pos * om)
                err = max(err, abs(tab[r * cols + q, ch] - ref))
    report("pos table vs direct formula (2x4 grid, D=48)", err, 1e-15)

    # 2. safetensors round trip (all dtypes, scalar and empty-ish shapes, metadata)
    rng = np.random.default_rng(0)
    src = {"a": rng.standard_normal((3, 5)).astype(np.float32), "b": np.arange(7, dtype=np.int64),
           "c": np.array(2.5, dtype=np.float64), "d": rng.standard_normal(1).astype(np.float16),
           "e": np.arange(3, dtype=np.int32), "f": np.zeros((2, 0), np.float32)}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rt.safetensors")
        save_safetensors(path, src, {"k": "v", "n": 3})
        back, meta = load_safetensors(path)
        raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    same = all(back[k].dtype == v.dtype and back[k].shape == v.shape and np.array_equal(back[k], v)
               for k, v in src.items()) and meta == {"k": "v", "n": "3"} and n % 8 == 0
    report("safetensors round trip (exact, header padded to 8)", 0.0 if same else 1.0, 0.0)

    # 3-6 on every config
    for name in CONFIGS:
        cfg = CONFIGS[name]
        model, ts, meta = build_fixture(name)
        st = to_storage(ts)
        x, t, y = st["input.x"].astype(np.float64), st["input.t"].astype(np.float64), st["input.y"]

        # 3. independent numpy forward (patchify / unpatchify by index, qkv layout, chunks)
        v_np, a_np = numpy_forward(st, cfg, x, t, y)
        err = max(np.abs(v_np - ts["output.v"].numpy()).max(), np.abs(a_np - ts["output.v_aux"].numpy()).max())
        report(f"{name}: numpy forward vs torch forward (float64)", err, 1e-10)

        # 4. finite differences of the probe loss on sampled entries of every parameter
        xs, tt, yy = ts["input.x"], ts["input.t"], ts["input.y"]
        r, ra = ts["probe.r"], ts["probe.r_aux"]

        def probe_loss():
            v, va = model(xs, tt, yy)
            return float((r * v).sum() + AUX_WEIGHT * (ra * va).sum())

        g = torch.Generator().manual_seed(7)
        worst = 0.0
        with torch.no_grad():
            for pn, q in model.trainable():
                flat = q.view(-1)
                gref = ts["grad." + pn].view(-1)
                for idx in torch.randint(0, flat.numel(), (4,), generator=g).tolist():
                    old = float(flat[idx])
                    hstep = 1e-4
                    flat[idx] = old + hstep
                    lp = probe_loss()
                    flat[idx] = old - hstep
                    lm = probe_loss()
                    flat[idx] = old
                    fd = (lp - lm) / (2 * hstep)
                    # relative error, with a floor: some entries are exactly zero in
                    # exact arithmetic (the key bias: softmax ignores a per-row shift)
                    rel = abs(fd - float(gref[idx])) / (1e-3 + abs(fd) + abs(float(gref[idx])))
                    if rel > worst:
                        worst, where = rel, (pn, idx, fd, float(gref[idx]))
        report(f"{name}: stored grads vs central differences (rel, 4 entries/param)", worst, 1e-5)
        print("     worst at %s[%d]: fd %.12g autograd %.12g" % where)

        # 5. training step by hand: loss, global grad norm, clipping, AdamW formula
        model.zero_grad(set_to_none=True)
        loss = ig_loss(model, ts["train.x0"], ts["train.eps"], ts["train.t"], ts["train.y"])
        loss.backward()
        grads = {pn: q.grad.clone() for pn, q in model.trainable()}
        gn = math.sqrt(sum(float((gg ** 2).sum()) for gg in grads.values()))
        report(f"{name}: train loss recomputed", abs(float(loss) - float(ts["train.loss"])), 1e-12)
        report(f"{name}: grad_norm by hand", abs(gn - float(ts["train.grad_norm"])), 1e-10)
        coef = min(1.0, TRAIN_CLIP / (gn + 1e-6))
        b1, b2 = TRAIN_BETAS
        err = 0.0
        for pn, q in model.trainable():
            gg = grads[pn] * coef
            m_hat = (1 - b1) * gg / (1 - b1)
            v_hat = (1 - b2) * gg * gg / (1 - b2)
            w = q.detach() * (1 - TRAIN_LR * TRAIN_WD) - TRAIN_LR * m_hat / (v_hat.sqrt() + TRAIN_EPS)
            err = max(err, float((w - ts["after." + pn]).abs().max()))
        report(f"{name}: AdamW step by hand vs torch", err, 1e-12)

        # 6. the stored file loads back strictly and reproduces the outputs
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, name + ".safetensors")
            save_safetensors(path, st, meta)
            m2, cfg2, _, _, pos_err = load_model(path)
        with torch.no_grad():
            v2, _ = m2(xs, tt, yy)
        report(f"{name}: reload (strict) reproduces output.v", float((v2 - ts["output.v"]).abs().max()), 1e-12)
        report(f"{name}: reloaded pos_embed vs table", pos_err, 0.0)
        infl = block_influence(model, xs, tt, yy)
        report(f"{name}: weakest block influence on v (want > 0.05, shown as 1/x)",
               1.0 / min(i[1] for i in infl), 20.0)
        # grads non-zero for every trainable param
        zero = [pn for pn, _ in model.trainable() if float(ts["grad." + pn].abs().max()) == 0.0]
        report(f"{name}: params with all-zero probe grad ({', '.join(zero) or 'none'})",
               float(len(zero)), 0.0)

    report.finish()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fixture", help="write a test fixture")
    p.add_argument("name", choices=sorted(CONFIGS))
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(fn=cmd_fixture)
    add_checkpoint_commands(sub, cmd_check, cmd_forward, heads=True)
    p = sub.add_parser("pt", help="a .pt checkpoint (weights_only=True) on inputs")
    p.add_argument("ckpt")
    p.add_argument("inputs")
    p.add_argument("out")
    p.add_argument("--key", default="ema", choices=("ema", "model"))
    p.set_defaults(fn=cmd_pt)
    p = sub.add_parser("trainstep", help="write the full-training-step fixture")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(fn=cmd_trainstep)
    p = sub.add_parser("selftest")
    p.set_defaults(fn=selftest)
    args = ap.parse_args()
    torch.set_num_threads(2)
    args.fn(args)


if __name__ == "__main__":
    main()
