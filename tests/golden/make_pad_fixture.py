#!/usr/bin/env python3
"""Writes tests/golden/pad_fixture.safetensors: two full PAD iterations computed by PyTorch,
following the authors' main_PAD.py (NicoZenith/PAD) step by step, for pad's golden test
(tests/numerics/golden_pad.rs).

What it stores (all float32):
  x.{0,1}            [B, C, 32, 32] input batches (uniform in [-1, 1])
  wake_noise.{0,1}   [B, nz]  the Wake noise (z + eps * noise)
  rem_noise.{0,1}    [B, nz]  the REM mixture noise
  mask.{0,1}         [32, 32] NREM occlusion masks (1 keep, 0 grey), fixed tile/drop per iteration
  init.<param>       initial weights: N(0, 1/fan_in) weights, PyTorch default biases. Not the authors'
                     N(0, 0.02): in these small networks that makes z so small that the KL term's
                     gradient (which scales with 1/std(z)) cancels to rounding noise in float32;
                     the golden test checks the step's arithmetic, so it starts well-conditioned.
  <cond>.losses      [2, 7]   per iteration: L_img, L_KL, L_real, L_NREM, L_fake, mean d(x), mean d(G(z_mix))
  <cond>.final.<param>        weights after the two iterations
  <cond>.grad.<phase>.<param> (pad and wo_rem) gradients of iteration 0 just before each optimizer
                     step (phase: wake, nrem, rem; E and G parameters as the phase steps them)
  metadata "unstable": {cond: {tensor: [[index, float64 value], ...]}} for the elements of final
                     weights and captured gradients ("grad.<phase>.<param>") that PyTorch itself
                     cannot pin down in float32: where its float32 and float64 runs differ by more
                     than 1e-5 of the tensor's scale. At initialisation z is tiny, so the KL term's
                     gradient is large and cancels over the batch: the Wake gradient of conv4's bias
                     is mostly rounding noise in float32, and Adam (which divides by sqrt(v)) turns
                     noise into full-size steps. The Rust test holds such elements to the float64
                     value within a few times PyTorch's own float32 error instead.
Small networks (nf=4, nz=8) keep the file small; the code path is the paper's.

Paper-era optimizer semantics: zero_grad(set_to_none=False), so parameters that got no gradient
in a phase still move by Adam momentum when their optimizer steps (PyTorch 1.x behaviour).

Run with the PyTorch venv of scripts/setup-torch.sh:
    $HOME/.cache/pad-peer-torch/bin/python tests/golden/make_pad_fixture.py
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import save_file

# PAD_FIXTURE_SIZE="B,C,NF,NZ" and PAD_FIXTURE_OUT make a larger, uncommitted fixture for a one-off
# check at the paper's size (e.g. "16,3,64,256"), replayed with PAD_GOLDEN_FIXTURE=that file.
B, C, NF, NZ = (int(v) for v in os.environ.get("PAD_FIXTURE_SIZE", "6,3,4,8").split(","))
OUT = os.environ.get("PAD_FIXTURE_OUT") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "pad_fixture.safetensors")

# name: (W, N, R, epsilon, mix (z, z_old, noise))
CONDITIONS = {
    "pad": (1.0, 1.0, 1.0, 0.0, (0.25, 0.25, 0.5)),
    "wo_rem": (1.0, 0.5, 0.0, 0.5, (0.25, 0.25, 0.5)),
    "wo_nrem": (1.0, 0.0, 1.0, 0.0, (0.25, 0.25, 0.5)),
    "wake_only": (1.0, 0.0, 0.0, 0.5, (0.25, 0.25, 0.5)),
    "wo_memory_mix": (1.0, 1.0, 1.0, 0.0, (1.0, 0.0, 0.0)),
}


class GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return g * -1


class Generator(nn.Module):  # network.py Generator
    def __init__(self):
        super().__init__()
        self.tconv1 = nn.Sequential(nn.ConvTranspose2d(NZ, NF * 4, 4, 1, 0), nn.LeakyReLU(0.2, inplace=True))
        self.tconv2 = nn.Sequential(nn.ConvTranspose2d(NF * 4, NF * 2, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True))
        self.tconv3 = nn.Sequential(nn.ConvTranspose2d(NF * 2, NF, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True))
        self.tconv4 = nn.Sequential(nn.ConvTranspose2d(NF, C, 4, 2, 1), nn.Tanh())

    def forward(self, z, reverse=True):
        x = self.tconv4(self.tconv3(self.tconv2(self.tconv1(z.view(z.size(0), NZ, 1, 1)))))
        return GradReverse.apply(x) if reverse else x


class Encoder(nn.Module):  # network.py Discriminator
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(C, NF, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True))
        self.conv2 = nn.Sequential(nn.Conv2d(NF, NF * 2, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True))
        self.conv3 = nn.Sequential(nn.Conv2d(NF * 2, NF * 4, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True))
        self.conv4 = nn.Sequential(nn.Conv2d(NF * 4, NZ, 4, 2, 0))
        self.dis = nn.Sequential(nn.Conv2d(NF * 4, 1, 4, 2, 0))

    def forward(self, x):
        h = self.conv3(self.conv2(self.conv1(x)))
        d = torch.sigmoid(self.dis(h)).view(-1)
        z = self.conv4(h).view(x.size(0), -1)
        return z, d


def weights_init(m):  # utils.py weights_init, with a fan-in scaled std (see the docstring)
    if m.__class__.__name__.find("Conv") != -1:
        fan_in = m.weight[0].numel() if isinstance(m, nn.Conv2d) else m.weight.shape[0] * 16
        m.weight.data.normal_(0.0, fan_in ** -0.5)


def kl_loss(z):  # utils.py kl_loss
    m = torch.mean(z, dim=0)
    s = torch.std(z, dim=0)
    return torch.mean((s ** 2 + m ** 2) / 2 - torch.log(s) - 1 / 2)


def tile_mask(rng, drop, tile):
    m = np.ones((32, 32), dtype=np.float32)
    for i in range(0, 32, tile):
        for j in range(0, 32, tile):
            if rng.rand() < drop:
                m[i:i + tile, j:j + tile] = 0.0
    return torch.from_numpy(m)


def grads(*nets):
    return {n: p.grad.detach().clone() for net in nets for n, p in net.named_parameters() if p.grad is not None}


def run(cond, init, data, capture=None):
    W, N, R, eps, (a, b, c) = CONDITIONS[cond]
    G, E = Generator(), Encoder()
    G.load_state_dict({k: v for k, v in init.items() if k.startswith("tconv")})
    E.load_state_dict({k: v for k, v in init.items() if not k.startswith("tconv")})
    optD = torch.optim.Adam(E.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce, mse = nn.BCELoss(), nn.MSELoss()
    losses, old = [], None
    for i in range(2):
        x = data["x.%d" % i]
        # Wake
        optD.zero_grad(set_to_none=False)
        optG.zero_grad(set_to_none=False)
        z, d = E(x)
        z_noise = z + eps * data["wake_noise.%d" % i]
        err_real = bce(d, torch.ones(B))
        if R > 0:
            err_real.backward(retain_graph=True)
        kl = kl_loss(z)
        kl.backward(retain_graph=True)
        rec = mse(G(z_noise, reverse=False), x)
        if W > 0:
            (W * rec).backward()
        if capture is not None and i == 0:
            capture["wake"] = grads(E, G)
        optD.step()
        optG.step()
        d_x = d.mean().item()
        # NREM
        optD.zero_grad(set_to_none=False)
        zd = z.detach()
        with torch.no_grad():
            dream = G(zd) * data["mask.%d" % i]
        z_rec, _ = E(dream)
        err_nrem = mse(z_rec, zd)
        if N > 0:
            (N * err_nrem).backward()
        if capture is not None and i == 0:
            capture["nrem"] = grads(E)
        optD.step()
        # REM
        optD.zero_grad(set_to_none=False)
        optG.zero_grad(set_to_none=False)
        noise = data["rem_noise.%d" % i]
        if i == 0:
            zm = (a + b) * zd + c * noise
        else:
            zm = a * zd + b * old + c * noise
        _, d_fake = E(G(zm, reverse=True))
        err_fake = bce(d_fake, torch.zeros(B))
        if R > 0:
            err_fake.backward(retain_graph=True)
            if capture is not None and i == 0:
                capture["rem"] = grads(E, G)
            optD.step()
            optG.step()
        old = zd
        losses.append([rec.item(), kl.item(), err_real.item(), err_nrem.item(), err_fake.item(), d_x, d_fake.mean().item()])
    final = {**E.state_dict(), **G.state_dict()}
    return torch.tensor(losses, dtype=torch.float32), final


def run_f64(cond, init, data, capture=None):
    torch.set_default_dtype(torch.float64)
    try:
        return run(cond, {k: v.double() for k, v in init.items()}, {k: v.double() for k, v in data.items()}, capture)
    finally:
        torch.set_default_dtype(torch.float32)


def main():
    torch.manual_seed(20221)
    G, E = Generator(), Encoder()
    G.apply(weights_init)  # same order as main_PAD.py: G first, then E
    E.apply(weights_init)
    init = {k: v.clone() for k, v in {**E.state_dict(), **G.state_dict()}.items()}
    rng = np.random.RandomState(7)
    data = {}
    for i, (drop, tile) in enumerate([(0.35, 3), (0.6, 5)]):
        data["x.%d" % i] = torch.rand(B, C, 32, 32) * 2 - 1
        data["wake_noise.%d" % i] = torch.randn(B, NZ)
        data["rem_noise.%d" % i] = torch.randn(B, NZ)
        data["mask.%d" % i] = tile_mask(rng, drop, tile)
    out = dict(data)
    out.update({"init." + k: v for k, v in init.items()})
    unstable = {}
    for cond in CONDITIONS:
        capture = {} if cond in ("pad", "wo_rem") else None
        losses, final = run(cond, init, data, capture)
        out[cond + ".losses"] = losses
        out.update({"%s.final.%s" % (cond, k): v.contiguous() for k, v in final.items()})
        for phase, g in (capture or {}).items():
            out.update({"%s.grad.%s.%s" % (cond, phase, k): v.contiguous() for k, v in g.items()})
        capture64 = {} if capture is not None else None
        _, final64 = run_f64(cond, init, data, capture64)
        pairs = [(k, v, final64[k]) for k, v in final.items()]
        for phase, g in (capture or {}).items():
            pairs += [("grad.%s.%s" % (phase, k), v, capture64[phase][k]) for k, v in g.items()]
        unstable[cond] = {}
        for k, v32, v64 in pairs:
            scale = max(v32.abs().max().item(), 1e-3)
            flat32, flat64 = v32.double().flatten(), v64.flatten()
            bad = ((flat32 - flat64).abs() > 1e-5 * scale).nonzero().flatten().tolist()
            if bad:
                unstable[cond][k] = [[i, flat64[i].item()] for i in bad]
    meta = {"batch": str(B), "channels": str(C), "nf": str(NF), "nz": str(NZ),
            "conditions": ",".join(CONDITIONS), "torch": torch.__version__,
            "unstable": json.dumps(unstable, sort_keys=True)}
    save_file({k: v.contiguous() for k, v in out.items()}, OUT, metadata=meta)
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
