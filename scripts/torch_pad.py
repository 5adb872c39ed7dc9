#!/usr/bin/env python3
"""PAD's training step in PyTorch: the baseline `pad bench` measures pad against.

The networks are those of scripts/replay/replay_pad.py (the authors' network.py, with their
parameter names); one iteration follows the authors' main_PAD.py: Wake (reconstruction through z,
the batch KL term, the real/fake head told "external"), NREM (G(z) occluded by one random tile mask,
E recovers z), REM (0.25 z + 0.25 z_old + 0.5 noise, or 0.5 z + 0.5 noise on an epoch's first batch,
dreamt through G and a gradient reversal, the head told "internal"), with zero_grad(set_to_none=False)
so that every optimizer step moves every parameter that ever had a gradient. Wake's backward is one
pass through the summed loss, as pad's is (the authors' three passes give the same gradient up to
summation order and cost more).

Subcommands (each prints JSON lines on stdout; `pad bench` reads them):
  bench  --threads N --iters N [--warmup N] [--batch N] [--seed N]
         One full iteration (Wake + NREM + REM) on random CIFAR-size images, after --warmup ones.
         Last line: {"ms_per_iter": .., "phase_ms": {"wake": .., "nrem": .., "rem": ..}, ...}
  gemm   [--n N] [--threads-list N [N ...]] [--reps N]
         torch.mm on an n x n x n single-precision product (MKL's sgemm in the official wheel), the
         yardstick pad's own GEMM ceiling is checked against. One line per thread count:
         {"op": "torch.mm (BLAS)", "threads": .., "n": .., "gflops_median": .., "gflops_best": ..}
  inception --threads N --batch N --iters N
         pytorch-fid's InceptionV3 forward to pool3 (299x299 input, no resize) on random images,
         --iters passes after one warm-up, with random weights installed through pytorch-fid's own
         loader (speed does not depend on them), the network `pad bench --inception` times. Needs
         torchvision and pytorch-fid as well (scripts/setup-torch.sh --fid). Last line:
         {"img_per_s": .., "ms_per_forward": .., ...}
  train  --data ARTIFACT [--epochs N] [--threads N] [--seed N] [--out FILE.safetensors]
         Real training on a pad dataset artifact (`pad fetch`), the same decoded images `pad train
         --data` reads, to compare an epoch's wall time. --out writes E and G under the authors'
         names, which `pad probe --ckpt` reads.

Needs torch, numpy and safetensors (scripts/setup-torch.sh makes such a Python).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "replay"))
import replay_pad  # noqa: E402  (the networks, the KL term, the input conversion, artifact reading)

NF, NZ = 64, 256


# ----------------------------------------------------------------------------- arithmetic
def layer_macs(channels, batch):
    """Forward multiply-adds per layer at `batch` (k4 convolutions and transposed convolutions)."""
    conv = {  # name: (in, out, output side)
        "conv1": (channels, NF, 16), "conv2": (NF, 2 * NF, 8), "conv3": (2 * NF, 4 * NF, 4),
        "conv4": (4 * NF, NZ, 1), "dis": (4 * NF, 1, 1),
    }
    tconv = {  # name: (in, out, input side)
        "tconv1": (NZ, 4 * NF, 1), "tconv2": (4 * NF, 2 * NF, 4), "tconv3": (2 * NF, NF, 8),
        "tconv4": (NF, channels, 16),
    }
    macs = {k: batch * s * s * i * o * 16 for k, (i, o, s) in conv.items()}
    macs.update({k: batch * s * s * i * o * 16 for k, (i, o, s) in tconv.items()})
    return macs


def iteration_flop(channels, batch):
    """FLOP of one iteration, counted as pad counts them (src/bench/mod.rs, iteration_macs): a
    backward pass costs two forwards, one where no input gradient is needed."""
    m = layer_macs(channels, batch)
    e_fwd = m["conv1"] + m["conv2"] + m["conv3"] + m["conv4"] + m["dis"]
    g_fwd = m["tconv1"] + m["tconv2"] + m["tconv3"] + m["tconv4"]
    trunk_bwd = 2 * (m["conv3"] + m["conv2"]) + m["conv1"]
    wake = e_fwd + g_fwd + 2 * g_fwd + 2 * (m["dis"] + m["conv4"]) + trunk_bwd
    nrem = e_fwd + g_fwd + 2 * m["conv4"] + trunk_bwd
    rem = e_fwd + g_fwd + 2 * (m["dis"] + m["conv3"] + m["conv2"] + m["conv1"]) + m["tconv1"] \
        + 2 * (m["tconv2"] + m["tconv3"] + m["tconv4"])
    return 2.0 * (wake + nrem + rem)


# ----------------------------------------------------------------------------- the step
def set_threads(torch, n):
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # allowed once per process
        pass


def networks(torch, nn, channels, seed):
    """E and G with the authors' initialisation: every convolution weight ~ N(0, 0.02), biases as
    PyTorch initialises them."""
    torch.manual_seed(seed)
    enc, gen = replay_pad.build(torch, nn, channels, NF, NZ)
    for net in (gen, enc):
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.data.normal_(0.0, 0.02)
    return enc, gen


def occlusion_mask(torch, side, rng):
    """NREM's occlusion: drop rate ~ U(0, 1) and tile size in 1..8, one draw per tile in row-major
    order, a tile set to 0 when its draw is below the rate; one mask for the whole batch."""
    drop, tile = rng.random(), int(rng.integers(1, 9))
    mask = np.ones((side, side), dtype=np.float32)
    for i in range(0, side, tile):
        for j in range(0, side, tile):
            if rng.random() < drop:
                mask[i:i + tile, j:j + tile] = 0.0
    return torch.from_numpy(mask)


class Pad:
    """The three phases of one mini-batch, with the paper's pad condition (W = N = R = 1, no Wake
    noise) and the optimizers of the authors' code (Adam, lr 2e-4, betas 0.5 / 0.999)."""

    def __init__(self, torch, nn, channels, seed):
        self.torch = torch
        self.enc, self.gen = networks(torch, nn, channels, seed)
        self.opt_e = torch.optim.Adam(self.enc.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.bce, self.mse = nn.BCELoss(), nn.MSELoss()
        self.rng = np.random.default_rng(seed)
        self.z_old = None
        self.phase_s = {"wake": 0.0, "nrem": 0.0, "rem": 0.0}

    def step(self, x, first_of_epoch):
        torch, enc, gen = self.torch, self.enc, self.gen
        b = x.shape[0]
        t0 = time.perf_counter()
        # Wake
        self.opt_e.zero_grad(set_to_none=False)
        self.opt_g.zero_grad(set_to_none=False)
        z, d = enc(x)
        loss = replay_pad.kl_loss(torch, z) + self.bce(d, torch.ones(b)) + self.mse(gen(z, reverse=False), x)
        loss.backward()
        self.opt_e.step()
        self.opt_g.step()
        z = z.detach()
        t1 = time.perf_counter()
        # NREM
        self.opt_e.zero_grad(set_to_none=False)
        with torch.no_grad():
            dream = gen(z) * occlusion_mask(torch, x.shape[-1], self.rng)
        z_rec, _ = enc(dream)
        self.mse(z_rec, z).backward()
        self.opt_e.step()
        t2 = time.perf_counter()
        # REM
        self.opt_e.zero_grad(set_to_none=False)
        self.opt_g.zero_grad(set_to_none=False)
        noise = torch.randn(b, NZ)
        if first_of_epoch or self.z_old is None:
            z_mix = 0.5 * z + 0.5 * noise
        else:
            z_mix = 0.25 * z + 0.25 * self.z_old + 0.5 * noise
        _, d_fake = enc(gen(z_mix, reverse=True))
        self.bce(d_fake, torch.zeros(b)).backward()
        self.opt_e.step()
        self.opt_g.step()
        self.z_old = z
        t3 = time.perf_counter()
        for k, dt in (("wake", t1 - t0), ("nrem", t2 - t1), ("rem", t3 - t2)):
            self.phase_s[k] += dt
        return float(loss.item())


# ----------------------------------------------------------------------------- subcommands
def cmd_bench(a):
    import torch
    import torch.nn as nn
    set_threads(torch, a.threads)
    pad = Pad(torch, nn, 3, a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    xs = [torch.rand(a.batch, 3, 32, 32, generator=gen) * 2 - 1 for _ in range(4)]
    for i in range(a.warmup):
        pad.step(xs[i % 4], i == 0)
    pad.phase_s = {k: 0.0 for k in pad.phase_s}
    t = time.perf_counter()
    for i in range(a.iters):
        pad.step(xs[i % 4], False)
    s = (time.perf_counter() - t) / a.iters
    print(json.dumps({
        "threads": a.threads, "batch": a.batch, "iters": a.iters, "torch": torch.__version__,
        "ms_per_iter": 1e3 * s, "images_per_s": a.batch / s, "gflops": iteration_flop(3, a.batch) / s / 1e9,
        "phase_ms": {k: 1e3 * v / a.iters for k, v in pad.phase_s.items()},
    }), flush=True)


def cmd_gemm(a):
    import torch
    n, flop = a.n, 2.0 * a.n ** 3
    for threads in a.threads_list:
        set_threads(torch, threads)
        x, y, out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
        for _ in range(3):
            torch.mm(x, y, out=out)
        times = []
        for _ in range(a.reps):
            t = time.perf_counter()
            torch.mm(x, y, out=out)
            times.append(time.perf_counter() - t)
        times.sort()
        median, best = times[len(times) // 2], times[0]
        print(json.dumps({"op": "torch.mm (BLAS)", "threads": threads, "n": n, "median_s": median, "best_s": best,
                          "gflops_median": flop / median / 1e9, "gflops_best": flop / best / 1e9}), flush=True)


def cmd_inception(a):
    import torch
    import torchvision
    import pytorch_fid.inception as pfi
    set_threads(torch, a.threads)
    torch.manual_seed(a.seed)
    base = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
    pfi.load_state_dict_from_url = lambda *args, **kwargs: base.state_dict()
    net = pfi.InceptionV3([3], resize_input=False, normalize_input=False).eval()
    x = torch.rand(a.batch, 3, 299, 299) * 2 - 1
    with torch.inference_mode():
        net(x)
        t = time.perf_counter()
        for _ in range(a.iters):
            net(x)
        s = (time.perf_counter() - t) / a.iters
    print(json.dumps({"threads": a.threads, "batch": a.batch, "iters": a.iters, "torch": torch.__version__,
                      "ms_per_forward": 1e3 * s, "img_per_s": a.batch / s}), flush=True)


def cmd_train(a):
    import torch
    import torch.nn as nn
    set_threads(torch, a.threads)
    arrays, meta = replay_pad.read_safetensors(a.data)
    if meta.get("format") != "pad-dataset-v1":
        sys.exit("%s: not a pad dataset artifact (format %r)" % (a.data, meta.get("format")))
    images = arrays["train.images"]
    channels = images.shape[1]
    pad = Pad(torch, nn, channels, a.seed)
    order = torch.Generator().manual_seed(a.seed)
    per_epoch = images.shape[0] // a.batch  # the last partial batch is dropped
    start = time.perf_counter()
    for epoch in range(1, a.epochs + 1):
        t = time.perf_counter()
        perm = torch.randperm(images.shape[0], generator=order).numpy()
        for i in range(per_epoch):
            x = replay_pad.to_input(torch, images[perm[i * a.batch:(i + 1) * a.batch]])
            loss = pad.step(x, i == 0)
            if a.log_every and (i + 1) % a.log_every == 0:
                print("[epoch %d %d/%d] wake loss %.4f, %.1f ms/iteration" % (
                    epoch, i + 1, per_epoch, loss, 1e3 * (time.perf_counter() - t) / (i + 1)), file=sys.stderr,
                    flush=True)
        print(json.dumps({"epoch": epoch, "iterations": per_epoch, "seconds": time.perf_counter() - t}), flush=True)
    if a.out:
        from safetensors.torch import save_file
        state = {**pad.enc.state_dict(), **pad.gen.state_dict()}
        save_file({k: v.detach().contiguous() for k, v in state.items()}, a.out)
    print(json.dumps({"data": a.data, "epochs": a.epochs, "threads": a.threads, "seed": a.seed,
                      "train_seconds": time.perf_counter() - start, "torch": torch.__version__,
                      "out": a.out or None}), flush=True)


def positive(text):
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError("%s: must be at least 1" % text)
    return n


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    b = sub.add_parser("bench", help="ms per iteration and per phase on random images")
    b.add_argument("--threads", type=positive, default=2)
    b.add_argument("--iters", type=positive, default=10)
    b.add_argument("--warmup", type=int, default=2)
    b.add_argument("--batch", type=positive, default=64)
    b.add_argument("--seed", type=int, default=0)
    g = sub.add_parser("gemm", help="GFLOP/s of torch.mm on an n x n x n product")
    g.add_argument("--n", type=positive, default=2048)
    g.add_argument("--threads-list", type=positive, nargs="+", default=[1, 2])
    g.add_argument("--reps", type=positive, default=5)
    i = sub.add_parser("inception", help="images/s of pytorch-fid's Inception-v3 forward (pool3, 299x299)")
    i.add_argument("--threads", type=positive, default=2)
    i.add_argument("--batch", type=positive, default=2)
    i.add_argument("--iters", type=positive, default=10)
    i.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("train", help="train on a pad dataset artifact, timing each epoch")
    t.add_argument("--data", required=True, help="a dataset artifact written by `pad fetch`")
    t.add_argument("--epochs", type=positive, default=1)
    t.add_argument("--threads", type=positive, default=2)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--batch", type=positive, default=64)
    t.add_argument("--out", default="", help="write E and G here (safetensors, the authors' names)")
    t.add_argument("--log-every", type=int, default=100)
    a = p.parse_args()
    {"bench": cmd_bench, "gemm": cmd_gemm, "inception": cmd_inception, "train": cmd_train}[a.mode](a)


if __name__ == "__main__":
    main()
