#!/usr/bin/env python3
"""make_pt_fixtures.py: the .pt test fixtures of examples/pt.h and tools/pt2st.c.

    /usr/bin/python3 tools/make_pt_fixtures.py [OUTDIR]      (default tests/fixtures)

Writes, all small and deterministic (torch 1.13, Debian's python3-torch):
  pt_ckpt.pt        a SiT + IG training checkpoint as the release's train script
                    saves it: {'model', 'ema', 'opt' (AdamW state after 2 real
                    steps), 'args' (argparse.Namespace), 'epoch', 'steps'} of a
                    tiny model (4x8x8 input, patch 2, width 32, depth 3, 2 heads,
                    10 classes, the intermediate head after block 2); ema differs
                    from model.
  pt_f16.pt         a bare F16 state dict (the ema weights in half precision).
  pt_stats.pt       a LightningDiT-style latents_stats.pt: {'mean', 'std'}, (1,32,1,1).
  pt_strided.pt     non-contiguous tensors: a transposed view, a strided slice
                    with a storage offset, a transposed BF16 tensor, nested dicts,
                    and an int and a string that a converter must skip.
  pt_shared.pt      two tensors viewing one storage at different offsets.
  pt_ref.safetensors  what the C side must reproduce:
      input.x (3,4,8,8), input.t (3), input.y (3) I64 (one null label),
      output.v / output.v_aux      the ema weights' two heads (float64 forward),
      output16.v / output16.v_aux  the same with the F16 weights,
      expect.<file>.<name>         every tensor of pt_stats/pt_strided/pt_shared
                                   as contiguous F32 (BF16 and F16 are exact in F32).
"""
import argparse
import copy
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_ig  # noqa: E402  (the project's PyTorch model)

CFG = dict(C=4, H=8, W=8, p=2, D=32, L=3, heads=2, ncls=10, k=2)


def forward64(model, x, t, y):
    m = copy.deepcopy(model).double()
    with torch.no_grad():
        v, va = m(x.double(), t.double(), y)
    return v.float(), va.float()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", nargs="?", default="tests/fixtures")
    args = ap.parse_args()
    out = args.outdir
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)

    # --- the training checkpoint: 2 real AdamW steps, an EMA that lags --------
    model = ref_ig.SiTIG(**CFG)
    ref_ig.random_weights(model, gen)
    ema = copy.deepcopy(model)
    opt = torch.optim.AdamW([q for _, q in model.trainable()], lr=1e-2, weight_decay=0)
    for _ in range(2):
        x0 = torch.randn(4, CFG["C"], CFG["H"], CFG["W"], generator=gen)
        eps = torch.randn(x0.shape, generator=gen)
        t = torch.rand(4, generator=gen)
        y = torch.randint(0, CFG["ncls"] + 1, (4,), generator=gen)
        opt.zero_grad()
        ref_ig.ig_loss(model, x0, eps, t, y).backward()
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(0.5).add_(pm, alpha=0.5)
    ns = argparse.Namespace(model="SiT-XS/2", image_size=16, num_classes=CFG["ncls"], lr=1e-3,
                            epochs=1, global_batch_size=4, data_dir="/data/imagenet", encoder_depth=2)
    ckpt = {"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
            "args": ns, "epoch": 0, "steps": 2}
    torch.save(ckpt, os.path.join(out, "pt_ckpt.pt"))

    # --- the same ema weights in F16, bare ------------------------------------
    sd16 = {k: v.half() for k, v in ema.state_dict().items()}
    torch.save(sd16, os.path.join(out, "pt_f16.pt"))
    ema16 = copy.deepcopy(ema)
    ema16.load_state_dict({k: v.float() for k, v in sd16.items()})

    # --- reference outputs -----------------------------------------------------
    B = 3
    x = torch.randn(B, CFG["C"], CFG["H"], CFG["W"], generator=gen)
    t = torch.tensor([0.1, 0.5, 0.9])
    y = torch.tensor([3, CFG["ncls"], 7], dtype=torch.int64)
    v, va = forward64(ema, x, t, y)
    v16, va16 = forward64(ema16, x, t, y)
    ref = {"input.x": x, "input.t": t, "input.y": y.numpy(), "output.v": v, "output.v_aux": va,
           "output16.v": v16, "output16.v_aux": va16}

    # --- latents_stats.pt -------------------------------------------------------
    stats = {"mean": torch.randn(1, 32, 1, 1, generator=gen) * 0.5,
             "std": torch.rand(1, 32, 1, 1, generator=gen) + 0.5}
    torch.save(stats, os.path.join(out, "pt_stats.pt"))

    # --- strided views -----------------------------------------------------------
    base = torch.randn(4, 6, generator=gen)
    base2 = torch.randn(5, 7, generator=gen)
    hb = torch.randn(3, 5, generator=gen).to(torch.bfloat16)
    strided = {"w_t": base.t(),                      # (6,4), strides (1,6)
               "slice": base2[1:, ::2],              # (4,4), offset 7, strides (7,2)
               "h_t": hb.t(),                        # BF16, (5,3), strides (1,5)
               "nested": {"x": torch.arange(6, dtype=torch.float32).reshape(2, 3),
                          "deeper": {"z": torch.full((2,), 0.25)}},
               "count": 7, "note": "not a tensor"}
    assert not strided["w_t"].is_contiguous() and not strided["slice"].is_contiguous()
    torch.save(strided, os.path.join(out, "pt_strided.pt"))

    # --- one storage, two tensors at different offsets -------------------------
    flat = torch.randn(20, generator=gen)
    shared = {"a": flat[2:8], "b": flat[10:20].view(2, 5)}
    assert shared["a"].storage_offset() == 2 and shared["b"].storage_offset() == 10
    torch.save(shared, os.path.join(out, "pt_shared.pt"))

    def flatten(prefix, d):
        for k, val in d.items():
            if isinstance(val, dict):
                yield from flatten(prefix + k + ".", val)
            elif isinstance(val, torch.Tensor):
                yield prefix + k, val
    for fname, d in (("pt_stats", stats), ("pt_strided", strided), ("pt_shared", shared)):
        for k, val in flatten("", d):
            ref[f"expect.{fname}.{k}"] = val.float().contiguous()
    ref_ig.save_safetensors(os.path.join(out, "pt_ref.safetensors"),
                            {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in ref.items()},
                            {"num_heads": CFG["heads"], "aux_depth": CFG["k"]})
    for f in sorted(os.listdir(out)):
        if f.startswith("pt_"):
            print(f"{os.path.join(out, f)}: {os.path.getsize(os.path.join(out, f))} bytes")
    print(f"|v| rms {float(v.pow(2).mean().sqrt()):.4f}, |v16 - v| max {float((v16 - v).abs().max()):.3g}, "
          f"|ema - model| max {max(float((a - b).abs().max()) for a, b in zip(ema.parameters(), model.parameters())):.3g}")


if __name__ == "__main__":
    main()
