#!/usr/bin/env python3
"""check_st2pt.py: ig.h checkpoints through build/st2pt into PyTorch and back.

    /usr/bin/python3 tools/check_st2pt.py [CKPT.safetensors ...]

For each checkpoint (by default the shipped Fashion-MNIST model and a small
trained SiT that tests/fixtures holds):
  1. build/st2pt CKPT OUT.pt
  2. torch.load(OUT.pt, weights_only=True); the reference model of
     tools/ref_ig.py takes 'model' and 'ema' with load_state_dict(strict=True)
     (tools/ref_ig.py pt)
  3. its forward (float64) on random inputs against build/ig-forward's on the
     same checkpoint (float32): max |v - v_ref| / max |v_ref| at most 1e-5, both
     heads
  4. build/pt2st OUT.pt BACK --key ema (and --key model): every tensor equal,
     bit for bit, to the checkpoint's weights
Needs python3-torch and python3-numpy (Debian); make examples first.
Exit status 1 on any failure.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from ref_ig import CONFIGS, SiTIG, load_safetensors, save_safetensors  # noqa: E402
import ref_lightningdit as ldref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# img, ld: the weights of the parity fixtures tests/fixtures/img.safetensors (SiT) and
# ld.safetensors (LightningDiT)
DEFAULT = ["data/fmnist_ig.safetensors", "img", "ld"]
TOL = 1e-5


def run(cmd):
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}")
    return r.stdout


def weights_of(path):
    """The model's weights of a safetensors checkpoint: plain names (no training
    state, inputs or outputs), as float32."""
    t, meta = load_safetensors(path)
    skip = ("ema.", "adam.", "input.", "output.", "grad.", "probe.", "train.", "after", "batch.", "step",
            "sample.") + tuple(ldref.NON_PARAM_PREFIXES)
    return {n: np.asarray(a, dtype=np.float32) for n, a in t.items() if not n.startswith(skip)}, meta


def fixture_weights(name, tmp):
    """A weights-only checkpoint from a parity fixture of tools/ref_ig.py or
    ref_lightningdit.py (the fixture also holds inputs, outputs and gradients,
    which st2pt refuses)."""
    w, meta = weights_of(os.path.join(ROOT, "tests/fixtures", name + ".safetensors"))
    if name in CONFIGS:
        cfg = CONFIGS[name]
        meta = {"num_heads": str(cfg["heads"]), "aux_depth": str(cfg["k"]),
                "image_height": str(cfg["H"]), "image_width": str(cfg["W"])}
    path = os.path.join(tmp, name + "_weights.safetensors")
    save_safetensors(path, w, {k: str(v) for k, v in meta.items()})
    return path


def torch_forward(pt, inp, out):
    """torch.load(pt, weights_only=True); the reference model of args['arch']
    takes 'model' and 'ema' with strict=True; the forward of 'ema' on inp (t
    scaled by args['t_scale'] as ig.h does inside) is written to out."""
    ckpt = torch.load(pt, map_location="cpu", weights_only=True)
    a = ckpt["args"]
    cfg = dict(C=a["in_channels"], H=a["input_size"], W=a["input_size"], p=a["patch_size"], D=a["hidden_size"],
               L=a["depth"], heads=a["num_heads"], ncls=a["num_classes"], k=a["encoder_depth"])
    model = (ldref.LightningDiTIG if a["arch"] == "lightningdit" else SiTIG)(**cfg).double()
    for key in ("model", "ema"):
        model.load_state_dict({n: v.double() for n, v in ckpt[key].items()}, strict=True)
    i = load_safetensors(inp)[0]
    with torch.no_grad():
        v, va = model(torch.from_numpy(i["input.x"]).double(),
                      torch.from_numpy(i["input.t"]).double() * float(a["t_scale"]),
                      torch.from_numpy(i["input.y"]).long())
    save_safetensors(out, {"output.v": v.numpy(), "output.v_aux": va.numpy()})
    return a


def check(ckpt, tmp):
    if ckpt in CONFIGS or ckpt in ldref.CONFIGS:
        ckpt = fixture_weights(ckpt, tmp)
    name = os.path.basename(ckpt)
    pt, inp = os.path.join(tmp, name + ".pt"), os.path.join(tmp, name + ".in.safetensors")
    out_c, out_ref = os.path.join(tmp, name + ".c.safetensors"), os.path.join(tmp, name + ".ref.safetensors")
    w, meta = weights_of(ckpt)
    if any(n.startswith("ema.") for n in load_safetensors(ckpt)[0]):
        raise RuntimeError(f"{ckpt}: has a training state; pass a weights file (ig_save_ema, fmnist export)")
    C, p = w["x_embedder.proj.weight"].shape[1], w["x_embedder.proj.weight"].shape[2]
    ncls = w["y_embedder.embedding_table.weight"].shape[0] - 1
    H = int(meta.get("image_height", 0)) or int(round(w["pos_embed"].shape[1] ** 0.5)) * p
    Wd = int(meta.get("image_width", 0)) or H
    g = np.random.default_rng(0)
    B = 4
    save_safetensors(inp, {"input.x": g.standard_normal((B, C, H, Wd)).astype(np.float32),
                           "input.t": np.array([0.0, 0.3, 0.7, 1.0], dtype=np.float32),
                           "input.y": np.array([0, 1 % ncls, ncls - 1, ncls], dtype=np.int64)})
    run(["build/st2pt", ckpt, pt])
    a = torch_forward(pt, inp, out_ref)
    print(f"  {name}: torch.load(weights_only=True), {a['arch']} {a['model']}, 'model' and 'ema' strict")
    run(["build/ig-forward", "--ckpt", ckpt, "--inputs", inp, "--out", out_c])
    c, r = load_safetensors(out_c)[0], load_safetensors(out_ref)[0]
    worst = 0.0
    for k in ("output.v", "output.v_aux"):
        err = float(np.abs(c[k].astype(np.float64) - r[k]).max() / max(np.abs(r[k]).max(), 1e-30))
        print(f"  {name}: {k}: max |C - PyTorch| / max |PyTorch| = {err:.3g}")
        worst = max(worst, err)
    if worst > TOL:
        raise RuntimeError(f"{ckpt}: the forward from the .pt differs from ig.h's by {worst:.3g} > {TOL}")
    for key in ("ema", "model"):
        back = os.path.join(tmp, f"{name}.{key}.safetensors")
        run(["build/pt2st", pt, back, "--key", key])
        b = load_safetensors(back)[0]
        if set(b) != set(w):
            raise RuntimeError(f"{ckpt}: pt2st --key {key} gives other names: {sorted(set(b) ^ set(w))[:5]}")
        bad = [n for n in w if b[n].dtype != np.float32 or b[n].shape != w[n].shape or
               b[n].tobytes() != w[n].tobytes()]
        if bad:
            raise RuntimeError(f"{ckpt}: pt2st --key {key}: {len(bad)} tensors differ, e.g. {bad[0]}")
    print(f"OK {ckpt}: weights_only load, strict 'model' and 'ema', forward within {TOL}, "
          f"pt2st gives the same {len(w)} tensors bit for bit")


def main():
    ckpts = sys.argv[1:] or DEFAULT
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for c in ckpts:
            try:
                check(c, tmp)
            except Exception as e:  # noqa: BLE001 - one line per failing checkpoint
                print(f"FAIL {c}: {e}", file=sys.stderr)
                failed += 1
    print(f"{len(ckpts) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
