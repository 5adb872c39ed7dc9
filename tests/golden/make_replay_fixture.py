#!/usr/bin/env python3
"""Writes tests/golden/replay_fixture.safetensors: a test-sized run of `pad replay` (3 epochs of 4
iterations, so epoch boundaries and the first REM batch of an epoch are in it) replayed in PyTorch
by scripts/replay/replay_pad.py, for pad's replay test (tests/numerics/golden_replay.rs).

How: pad records the run (`pad replay --init ...`: every random draw, from the initial weights
below) on the first 24 images of the shipped Fashion-MNIST slice (data/demo); PyTorch replays the
record in float32 (1 thread) and float64; this file keeps what the Rust test needs to record the
run again and compare, without PyTorch:
  images                 U8 [24, 1, 32, 32]   the training images (the artifact's first 24)
  init.<param>           initial weights: N(0, 1/fan_in) weights and PyTorch's default biases (as
                         tests/golden/make_pad_fixture.py, and for the same reason: the authors'
                         N(0, 0.02) makes z of these small networks so small that the KL gradient is
                         rounding noise, which Adam turns into full-size steps within a few iterations)
  <cond>.losses          [12, 7] PyTorch float32, per iteration: L_img, L_KL, L_real, L_NREM, L_fake,
                         mean d(x), mean d(G(z_mix))
  <cond>.losses64        the same from the float64 replay
  <cond>.iter<K>.<param> PyTorch float32 parameters after iteration K (K = 4: end of epoch 1, 12: end)
  metadata: the run (seed, batch, epochs, nf, nz, snapshot_at, dataset identity), draws_sha256
    {cond: sha256 of pad's draws.safetensors} (the test checks it records the same draws), and
    unstable {cond: {"iter<K>.<param>": [[index, float64 value], ...]}}: the elements where PyTorch's
    float32 and float64 replays differ by more than 1e-5 of the tensor's scale, which the test holds
    to the float64 value within 4x PyTorch's own float32 error (as tests/numerics/golden_pad.rs does).

Run from the repository root with the PyTorch venv of scripts/setup-torch.sh, after
`cargo build --release`:
    $HOME/.cache/pad-peer-torch/bin/python tests/golden/make_replay_fixture.py
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
from safetensors.numpy import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "replay"))
import replay_pad  # noqa: E402

CONDITIONS = ["pad", "wo_rem", "wo_nrem"]
SEED, LIMIT, BATCH, EPOCHS, NF, NZ = 5, 24, 6, 3, 4, 8
SNAPSHOTS = [4, 12]


def demo_artifact(pad, tmp):
    """The Fashion-MNIST slice of data/demo decoded by pad (with a copy of its lock, left untouched)."""
    lock = os.path.join(tmp, "datasets.lock")
    shutil.copy(os.path.join(ROOT, "data", "demo", "datasets.lock"), lock)
    out = os.path.join(tmp, "demo.safetensors")
    subprocess.run([pad, "fetch", "fashion-mnist", "--mirror", os.path.join(ROOT, "data", "demo"),
                    "--data-dir", tmp, "--lock", lock, "--allow-unpublished", "--out", out],
                   check=True, stdout=subprocess.DEVNULL)
    return out


def init_weights(channels):
    """N(0, 1/fan_in) weights, PyTorch default biases, by the checkpoint's names."""
    torch.manual_seed(20227)
    E, G = replay_pad.build(torch, nn, channels, NF, NZ)
    for m in list(G.modules()) + list(E.modules()):  # G first, as main_PAD.py
        if isinstance(m, nn.Conv2d):
            m.weight.data.normal_(0.0, m.weight[0].numel() ** -0.5)
        elif isinstance(m, nn.ConvTranspose2d):
            m.weight.data.normal_(0.0, (m.weight.shape[0] * 16) ** -0.5)
    return {k: v.detach().numpy().copy() for k, v in {**E.state_dict(), **G.state_dict()}.items()}


def replay(record, data, out, dtype):
    args = argparse.Namespace(record=record, data=data, out=out, threads=1, dtype=dtype, snapshot_at=None,
                              flush_denormal=False, summed_wake_backward=False, log_every=0)
    replay_pad.cmd_run(args)
    torch.set_default_dtype(torch.float32)


def main():
    pad = os.path.join(ROOT, "target", "release", "pad")
    out_path = os.path.join(ROOT, "tests", "golden", "replay_fixture.safetensors")
    tmp = tempfile.mkdtemp(prefix="pad-replay-fixture-")
    data = demo_artifact(pad, tmp)
    arrays = load_file(data)
    init = init_weights(arrays["train.images"].shape[1])
    init_path = os.path.join(tmp, "init.safetensors")
    save_file(init, init_path)
    sha = replay_pad.sha256_file(data)
    out = {"images": arrays["train.images"][:LIMIT].copy()}
    out.update({"init." + k: v for k, v in init.items()})
    shas, unstable = {}, {}
    for cond in CONDITIONS:
        rec = os.path.join(tmp, cond)
        subprocess.run([pad, "replay", "--data", data, "--condition", cond, "--seed", str(SEED), "--limit", str(LIMIT),
                        "--batch", str(BATCH), "--epochs", str(EPOCHS), "--nf", str(NF), "--nz", str(NZ),
                        "--init", init_path, "--snapshot-at", ",".join(map(str, SNAPSHOTS)), "--out", rec,
                        "--quiet", "--threads", "1"], check=True, stdout=subprocess.DEVNULL)
        shas[cond] = replay_pad.sha256_file(os.path.join(rec, "draws.safetensors"))
        replay(rec, data, os.path.join(rec, "f32"), "float32")
        replay(rec, data, os.path.join(rec, "f64"), "float64")
        out[cond + ".losses"] = replay_pad.read_losses(os.path.join(rec, "f32", "losses.csv")).astype(np.float32)
        out[cond + ".losses64"] = replay_pad.read_losses(os.path.join(rec, "f64", "losses.csv"))
        unstable[cond] = {}
        for k in SNAPSHOTS:
            s32 = load_file(os.path.join(rec, "f32", replay_pad.snapshot_name(k)))
            s64 = load_file(os.path.join(rec, "f64", replay_pad.snapshot_name(k)))
            for name, v32 in s32.items():
                out["%s.iter%d.%s" % (cond, k, name)] = v32
                scale = max(float(np.abs(v32).max()), 1e-3)
                f32, f64 = v32.astype(np.float64).ravel(), s64[name].ravel()
                bad = np.nonzero(np.abs(f32 - f64) > 1e-5 * scale)[0]
                if len(bad):
                    unstable[cond]["iter%d.%s" % (k, name)] = [[int(i), float(f64[i])] for i in bad]
        n_bad = sum(len(v) for v in unstable[cond].values())
        print("%s: %d elements PyTorch float32 cannot pin down (of %d per snapshot)"
              % (cond, n_bad, sum(v.size for v in init.values())))
    meta = {"seed": str(SEED), "batch": str(BATCH), "epochs": str(EPOCHS), "nf": str(NF), "nz": str(NZ),
            "limit": str(LIMIT), "snapshot_at": json.dumps(SNAPSHOTS), "conditions": ",".join(CONDITIONS),
            "dataset": "%s[..%d]" % (sha, LIMIT), "draws_sha256": json.dumps(shas, sort_keys=True),
            "unstable": json.dumps(unstable, sort_keys=True), "torch": torch.__version__}
    save_file({k: np.ascontiguousarray(v) for k, v in out.items()}, out_path, metadata=meta)
    shutil.rmtree(tmp)
    print("wrote", out_path, os.path.getsize(out_path), "bytes")


if __name__ == "__main__":
    main()
