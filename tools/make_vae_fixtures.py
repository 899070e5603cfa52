#!/usr/bin/python3
"""make_vae_fixtures.py - small latent-diffusion VAE decoders with random weights,
their reference outputs in float64, in the three key-naming schemes that
examples/vae.h reads.  Written for this project from the description of the
architecture (docs/vae.md / examples/vae.h top comment); needs torch and numpy only.

    /usr/bin/python3 tools/make_vae_fixtures.py tests/fixtures

writes, for each fixture NAME below, NAME.safetensors (the weights, plus a few
encoder / training keys the decoder must skip), NAME_z.npy (float32 latents
(N, z, h, w)) and NAME_x.npy (float32 decoder output (N, 3, H, W), computed in
float64 from the stored weights and latents).  Deterministic (fixed seeds).

The decoder, in the order it runs (GroupNorm: 32 groups, eps 1e-6):
  post_quant_conv 1x1; conv_in 3x3; mid: resnet, attention, resnet;
  up levels, lowest resolution first: resnets (each followed by an attention
  block where the level has them), then nearest x2 + 3x3 conv where present;
  GroupNorm, SiLU, conv_out 3x3.
  resnet(x) = shortcut(x) + conv2(silu(gn2(conv1(silu(gn1(x))))))
  attention(x) = x + Wo (V softmax(Q^T K / sqrt(C))^T) + bo over the h*w positions
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------
# fixtures: channels are multiples of 32 (GroupNorm(32)); weights stored in a
# half-precision dtype to keep the committed files small
# ---------------------------------------------------------------------------
FIXTURES = {
    # diffusers names of today; two levels; the top level's resnet widens
    # 32 -> 64 (a conv_shortcut; GroupNorm groups of 2 channels)
    "vae_diffusers": dict(scheme="diffusers", dtype="F16", seed=11, z=4, c0=32,
                          levels=[dict(c=32, nres=1, attn=False, up=True),
                                  dict(c=64, nres=1, attn=False, up=False)],
                          latent=(2, 3, 5)),
    # diffusers names before the attention rename; one level of two resnets,
    # z = 8, BF16 weights
    "vae_diffusers_old": dict(scheme="diffusers_old", dtype="BF16", seed=22, z=8, c0=32,
                              levels=[dict(c=32, nres=2, attn=False, up=False)],
                              latent=(2, 4, 3)),
    # latent-diffusion names (decoder.up.{i} counted from the top), VA-VAE-like:
    # attention after the resnet of the lowest level, 1x1-conv attention weights
    "vae_ldm": dict(scheme="ldm", dtype="F16", seed=33, z=4, c0=32,
                    levels=[dict(c=32, nres=1, attn=True, up=True),
                            dict(c=32, nres=1, attn=False, up=False)],
                    latent=(2, 4, 3)),
}

ROLES_RES = ("norm1", "conv1", "norm2", "conv2", "shortcut")
ROLES_ATTN = ("norm", "q", "k", "v", "out")


# ---------------------------------------------------------------------------
# key names per scheme
# ---------------------------------------------------------------------------
def key(scheme, role, nlevels):
    """role: a tuple naming one tensor; returns its key in the scheme."""
    ldm = scheme == "ldm"
    kind, wb = role[0], role[-1]
    res_sub = {"norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2",
               "shortcut": "nin_shortcut" if ldm else "conv_shortcut"}
    attn_sub = {"ldm": dict(norm="norm", q="q", k="k", v="v", out="proj_out"),
                "diffusers": dict(norm="group_norm", q="to_q", k="to_k", v="to_v", out="to_out.0"),
                "diffusers_old": dict(norm="group_norm", q="query", k="key", v="value",
                                      out="proj_attn")}[scheme]
    if kind == "post_quant":
        return f"post_quant_conv.{wb}"
    if kind == "conv_in":
        return f"decoder.conv_in.{wb}"
    if kind == "mid_res":
        j, sub = role[1], role[2]
        pre = f"decoder.mid.block_{j + 1}." if ldm else f"decoder.mid_block.resnets.{j}."
        return f"{pre}{res_sub[sub]}.{wb}"
    if kind == "mid_attn":
        pre = "decoder.mid.attn_1." if ldm else "decoder.mid_block.attentions.0."
        return f"{pre}{attn_sub[role[1]]}.{wb}"
    if kind in ("res", "attn", "up"):
        k = role[1]
        lev = f"decoder.up.{nlevels - 1 - k}." if ldm else f"decoder.up_blocks.{k}."
        if kind == "res":
            return f"{lev}{'block' if ldm else 'resnets'}.{role[2]}.{res_sub[role[3]]}.{wb}"
        if kind == "attn":
            return f"{lev}{'attn' if ldm else 'attentions'}.{role[2]}.{attn_sub[role[3]]}.{wb}"
        return f"{lev}{'upsample.conv' if ldm else 'upsamplers.0.conv'}.{wb}"
    if kind == "norm_out":
        return f"decoder.{'norm_out' if ldm else 'conv_norm_out'}.{wb}"
    if kind == "conv_out":
        return f"decoder.conv_out.{wb}"
    raise ValueError(role)


# ---------------------------------------------------------------------------
# random weights, in execution order
# ---------------------------------------------------------------------------
def make_weights(cfg, gen):
    """dict role -> float64 tensor (already rounded to the stored dtype)."""
    W = {}

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    def conv(role, cin, cout, k, gain=1.0):
        W[role + ("weight",)] = randn(cout, cin, k, k) * (gain / (cin * k * k) ** 0.5)
        W[role + ("bias",)] = 0.1 * randn(cout)

    def norm(role, c):
        W[role + ("weight",)] = 1.0 + 0.3 * randn(c)
        W[role + ("bias",)] = 0.2 * randn(c)

    def resnet(role, cin, cout):
        norm(role + ("norm1",), cin)
        conv(role + ("conv1",), cin, cout, 3)
        norm(role + ("norm2",), cout)
        conv(role + ("conv2",), cout, cout, 3, gain=0.7)
        if cin != cout:
            conv(role + ("shortcut",), cin, cout, 1)

    def attn(role, c):
        norm(role + ("norm",), c)
        for p in ("q", "k", "v", "out"):
            # q and k larger than 1/sqrt(c): a softmax that is neither uniform nor one-hot
            conv(role + (p,), c, c, 1, gain=2.0 if p in ("q", "k") else 1.0)

    z, c = cfg["z"], cfg["c0"]
    conv(("post_quant",), z, z, 1)
    conv(("conv_in",), z, c, 3)
    resnet(("mid_res", 0), c, c)
    attn(("mid_attn",), c)
    resnet(("mid_res", 1), c, c)
    for k, lv in enumerate(cfg["levels"]):
        for j in range(lv["nres"]):
            resnet(("res", k, j), c, lv["c"])
            c = lv["c"]
            if lv["attn"]:
                attn(("attn", k, j), c)
        if lv["up"]:
            conv(("up", k), c, c, 3)
    norm(("norm_out",), c)
    conv(("conv_out",), c, 3, 3)
    # round to the stored precision; the reference uses the rounded values
    for r, t in W.items():
        W[r] = to_dtype(t.float(), cfg["dtype"])[1]
    return W


def to_dtype(t32, dtype):
    """float32 tensor -> (raw little-endian bytes, float64 tensor of the stored values)."""
    a = t32.numpy().astype("<f4")
    if dtype == "F32":
        return a.tobytes(), torch.from_numpy(a.astype(np.float64))
    if dtype == "F16":
        h = a.astype("<f2")
        return h.tobytes(), torch.from_numpy(h.astype(np.float64))
    if dtype == "BF16":
        u = a.view("<u4").astype(np.uint64)
        u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")   # round to nearest even
        back = (u.astype(np.uint32) << 16).view("<f4")
        return u.tobytes(), torch.from_numpy(back.astype(np.float64))
    raise ValueError(dtype)


# ---------------------------------------------------------------------------
# the decoder, float64
# ---------------------------------------------------------------------------
def decode(cfg, W, z):
    def gn(x, role, silu):
        y = F.group_norm(x, 32, W[role + ("weight",)], W[role + ("bias",)], eps=1e-6)
        return F.silu(y) if silu else y

    def conv(x, role):
        w = W[role + ("weight",)]
        return F.conv2d(x, w, W[role + ("bias",)], padding=w.shape[-1] // 2)

    def resnet(x, role):
        h = conv(gn(x, role + ("norm1",), True), role + ("conv1",))
        h = conv(gn(h, role + ("norm2",), True), role + ("conv2",))
        s = conv(x, role + ("shortcut",)) if role + ("shortcut", "weight") in W else x
        return s + h

    def attention(x, role):
        B, C, H, Wd = x.shape
        h = gn(x, role + ("norm",), False)
        q, k, v = (conv(h, role + (p,)).reshape(B, C, H * Wd) for p in ("q", "k", "v"))
        s = torch.softmax(q.transpose(1, 2) @ k / C ** 0.5, dim=-1)    # (B, T query, T key)
        o = (v @ s.transpose(1, 2)).reshape(B, C, H, Wd)               # (B, C, T query)
        return x + conv(o, role + ("out",))

    x = conv(z, ("post_quant",))
    x = conv(x, ("conv_in",))
    x = resnet(x, ("mid_res", 0))
    x = attention(x, ("mid_attn",))
    x = resnet(x, ("mid_res", 1))
    for k, lv in enumerate(cfg["levels"]):
        for j in range(lv["nres"]):
            x = resnet(x, ("res", k, j))
            if lv["attn"]:
                x = attention(x, ("attn", k, j))
        if lv["up"]:
            x = conv(F.interpolate(x, scale_factor=2, mode="nearest"), ("up", k))
    return conv(gn(x, ("norm_out",), True), ("conv_out",))


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
def save_safetensors(path, entries):
    """entries: list of (name, dtype string, shape, raw bytes)."""
    header, off = {}, 0
    for name, dt, shape, raw in entries:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for e in entries:
            f.write(e[3])


def save_npy(path, a):
    a = np.ascontiguousarray(a.astype("<f4"))
    d = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % (tuple(a.shape),)
    d += " " * (-(10 + len(d) + 1) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d.encode() + a.tobytes())


def make(name, cfg, outdir):
    gen = torch.Generator().manual_seed(cfg["seed"])
    W = make_weights(cfg, gen)
    n = len(cfg["levels"])
    entries = []
    for role, t in W.items():
        shape = tuple(t.shape)
        if role[0] in ("mid_attn", "attn") and role[-2] in ("q", "k", "v", "out") \
                and role[-1] == "weight" and cfg["scheme"] != "ldm":
            shape = shape[:2]                        # diffusers: Linear weights (C, C)
        raw, _ = to_dtype(t.float(), cfg["dtype"])
        entries.append((key(cfg["scheme"], role, n), cfg["dtype"], shape, raw))
    # keys the decoder must skip: an encoder conv and a training key
    entries.append(("encoder.conv_in.weight", "F32", (2, 3, 1, 1), np.zeros(6, "<f4").tobytes()))
    entries.append(("quant_conv.bias", "F32", (2,), np.ones(2, "<f4").tobytes()))
    if cfg["scheme"] == "ldm":
        entries.append(("loss.logvar", "F32", (), np.zeros(1, "<f4").tobytes()))
    entries.sort(key=lambda e: e[0])
    save_safetensors(os.path.join(outdir, name + ".safetensors"), entries)

    N, (h, w) = cfg["latent"][0], cfg["latent"][1:]
    z = torch.randn(N, cfg["z"], h, w, generator=gen, dtype=torch.float64).float().double()
    x = decode(cfg, W, z)
    save_npy(os.path.join(outdir, name + "_z.npy"), z.numpy())
    save_npy(os.path.join(outdir, name + "_x.npy"), x.numpy())
    nparam = sum(t.numel() for t in W.values())
    print(f"{name}: {len(W)} tensors, {nparam} weights ({cfg['dtype']}), z {tuple(z.shape)} -> x "
          f"{tuple(x.shape)}, |x| max {x.abs().max():.3f}, std {x.std():.3f}")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, cfg in FIXTURES.items():
        make(name, cfg, sys.argv[1])


if __name__ == "__main__":
    main()
