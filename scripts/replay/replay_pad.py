#!/usr/bin/env python3
"""Replays a run recorded by `pad replay` in PyTorch, and compares trajectories.

`pad replay --out REC ...` trains and writes REC/draws.safetensors (every random draw: the epochs'
example orders, Wake noise when epsilon > 0, REM noise, NREM occlusion masks), REC/init.safetensors
(initial weights) and REC/pad/ (parameter snapshots iter-NNNN.safetensors and losses.csv). This
script trains PyTorch from the same weights on the same images with the same draws, following the
authors' main_PAD.py (NicoZenith/PAD) step by step as tests/golden/make_pad_fixture.py does: three
separate Wake backward passes, zero_grad(set_to_none=False) (PyTorch 1.x semantics), the first REM
batch of each epoch mixing 0.5 z + 0.5 noise. It writes the same files into OUT.

Modes:
  run      REC --data ARTIFACT --out OUT [--threads N] [--dtype float32|float64] [--snapshot-at I,...]
           [--flush-denormal] [--summed-wake-backward] [--stop-after N]
  compare  --pair NAME DIR_A DIR_B [--pair ...]: per snapshot iteration, ||a - b|| / ||b|| of every
           parameter tensor (median and max over tensors, per network E / G, and over all
           parameters as one vector) and the losses' relative differences. B is the reference.
  readout  --data ARTIFACT --ckpt FILE [...]: a stable read-out of a checkpoint's latent code:
           ridge regression (lambda 1) on standardised z to one-hot labels, closed form in float64.
  to-f32   SNAPSHOT OUT: a float64 snapshot as a float32 checkpoint `pad probe` reads.

Input conversion: images are pad's dataset artifact (u8), converted as pad and torchvision do,
(v / 255 - 0.5) / 0.5 in float32; the first mini-batch is checked bit for bit against the one pad
recorded (x.first), so the inputs of both runs are the same numbers. A float64 run converts those
float32 images (and draws) to float64.

Needs a Python with torch, numpy and safetensors (scripts/setup-torch.sh makes one).
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np

LOSS_NAMES = ["L_img", "L_KL", "L_real", "L_NREM", "L_fake", "d_real", "d_fake"]
LOSSES_HEADER = "iteration,epoch," + ",".join(LOSS_NAMES)


# ----------------------------------------------------------------------------- reading pad's files
def read_safetensors(path):
    """(numpy arrays by name, metadata) of a safetensors file."""
    from safetensors import safe_open
    from safetensors.numpy import load_file
    with safe_open(path, "np") as f:
        meta = f.metadata() or {}
    return load_file(path), meta


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_losses(path):
    rows = []
    with open(path) as f:
        header = f.readline().strip()
        if header != LOSSES_HEADER:
            sys.exit("%s: header %r, expected %r" % (path, header, LOSSES_HEADER))
        for line in f:
            if line.strip():
                rows.append([float(v) for v in line.split(",")[2:]])
    return np.array(rows, dtype=np.float64)


def snapshot_name(it):
    return "iter-%04d.safetensors" % it


def snapshot_iterations(d):
    return sorted(int(n[5:9]) for n in os.listdir(d) if n.startswith("iter-") and n.endswith(".safetensors"))


# ----------------------------------------------------------------------------- networks (authors' network.py)
def build(torch, nn, C, NF, NZ):
    class GradReverse(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.view_as(x)

        @staticmethod
        def backward(ctx, g):
            return g * -1

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.tconv1 = nn.Sequential(nn.ConvTranspose2d(NZ, NF * 4, 4, 1, 0), nn.LeakyReLU(0.2, inplace=True))
            self.tconv2 = nn.Sequential(nn.ConvTranspose2d(NF * 4, NF * 2, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True))
            self.tconv3 = nn.Sequential(nn.ConvTranspose2d(NF * 2, NF, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True))
            self.tconv4 = nn.Sequential(nn.ConvTranspose2d(NF, C, 4, 2, 1), nn.Tanh())

        def forward(self, z, reverse=True):
            x = self.tconv4(self.tconv3(self.tconv2(self.tconv1(z.view(z.size(0), NZ, 1, 1)))))
            return GradReverse.apply(x) if reverse else x

    class Encoder(nn.Module):  # the authors' Discriminator
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

    return Encoder(), Generator()


def kl_loss(torch, z):  # utils.py kl_loss
    m = torch.mean(z, dim=0)
    s = torch.std(z, dim=0)
    return torch.mean((s ** 2 + m ** 2) / 2 - torch.log(s) - 1 / 2)


def load_images(data_path, n, expected_id):
    """The first n training images of pad's dataset artifact (u8 [n, C, 32, 32]), checked against
    the dataset identity the record was made with (sha256 of the artifact, + "[..n]" if limited)."""
    arrays, meta = read_safetensors(data_path)
    if meta.get("format") != "pad-dataset-v1":
        sys.exit("%s: not a pad dataset artifact (format %r)" % (data_path, meta.get("format")))
    sha = sha256_file(data_path)
    images = arrays["train.images"]
    got = sha if n == images.shape[0] else "%s[..%d]" % (sha, n)
    if got != expected_id:
        sys.exit("%s: dataset %s, but the record was made on %s" % (data_path, got, expected_id))
    return arrays["train.images"][:n]


def to_input(torch, u8):
    """pad's and torchvision's conversion: ToTensor (v / 255) then Normalize(0.5, 0.5), float32."""
    x = torch.from_numpy(np.ascontiguousarray(u8)).to(torch.float32) / 255.0
    return (x - 0.5) / 0.5


# ----------------------------------------------------------------------------- run
def cmd_run(a):
    import torch
    import torch.nn as nn
    from safetensors.torch import save_file

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # allowed once per process (a second replay in the same process keeps it)
        pass
    if a.flush_denormal and not torch.set_flush_denormal(True):
        sys.exit("--flush-denormal: this CPU does not support flushing denormals")
    dtype = {"float32": torch.float32, "float64": torch.float64}[a.dtype]
    draws, meta = read_safetensors(os.path.join(a.record, "draws.safetensors"))
    if meta.get("format") != "pad-replay-draws-v1":
        sys.exit("%s/draws.safetensors: format %r, expected pad-replay-draws-v1" % (a.record, meta.get("format")))
    cond = json.loads(meta["condition"])
    if cond["nrem_source"] != "Latent" or cond["order"] != "WakeNremRem":
        sys.exit("condition %s: only NREM from the Wake latents and the order Wake, NREM, REM are replayed"
                 % cond["name"])
    W, N, R, eps = cond["w"], cond["n"], cond["r"], cond["epsilon"]
    mix = cond["rem_mix"]
    B, C, NF, NZ = (int(meta[k]) for k in ("batch", "channels", "nf", "nz"))
    epochs, ipe = int(meta["epochs"]), int(meta["iterations_per_epoch"])
    adam = json.loads(meta["adam"])
    snapshot_at = set(a.snapshot_at or json.loads(meta["snapshot_at"]))
    images = load_images(a.data, int(meta["images"]), meta["dataset"])

    torch.set_default_dtype(dtype)
    E, G = build(torch, nn, C, NF, NZ)
    init, _ = read_safetensors(os.path.join(a.record, "init.safetensors"))
    E.load_state_dict({k: torch.from_numpy(v) for k, v in init.items() if not k.startswith("tconv")})
    G.load_state_dict({k: torch.from_numpy(v) for k, v in init.items() if k.startswith("tconv")})
    optD = torch.optim.Adam(E.parameters(), lr=adam["lr"], betas=(adam["beta1"], adam["beta2"]), eps=adam["eps"])
    optG = torch.optim.Adam(G.parameters(), lr=adam["lr"], betas=(adam["beta1"], adam["beta2"]), eps=adam["eps"])
    bce, mse = nn.BCELoss(), nn.MSELoss()
    ones, zeros = torch.ones(B), torch.zeros(B)

    def draw(name, t):
        return torch.from_numpy(draws[name][t]).to(dtype)

    os.makedirs(a.out, exist_ok=True)
    rows = []
    t0 = time.time()
    t = 0
    old = None
    last = min(epochs * ipe, a.stop_after or epochs * ipe)
    for epoch in range(1, epochs + 1):
        order = draws["order.%d" % epoch]
        for i in range(ipe):
            if t == last:
                break
            x32 = to_input(torch, images[order[i * B:(i + 1) * B]])
            if t == 0 and not np.array_equal(x32.numpy(), draws["x.first"]):
                sys.exit("the first mini-batch differs from pad's (x.first): the input conversion is not the same")
            x = x32.to(dtype)
            # Wake
            optD.zero_grad(set_to_none=False)
            optG.zero_grad(set_to_none=False)
            z, d = E(x)
            z_noise = z + eps * draw("wake_noise", t) if eps != 0 else z
            err_real = bce(d, ones)
            kl = kl_loss(torch, z)
            rec = mse(G(z_noise, reverse=False), x)
            if a.summed_wake_backward:  # pad's single pass: the same gradient up to summation order
                loss = kl
                if R > 0:
                    loss = loss + err_real
                if W > 0:
                    loss = loss + W * rec
                loss.backward()
            else:  # the authors' three passes
                if R > 0:
                    err_real.backward(retain_graph=True)
                kl.backward(retain_graph=True)
                if W > 0:
                    (W * rec).backward()
            optD.step()
            optG.step()
            d_x = d.mean().item()
            # NREM
            optD.zero_grad(set_to_none=False)
            zd = z.detach()
            with torch.no_grad():
                dream = G(zd) * draw("mask", t)
            z_rec, _ = E(dream)
            err_nrem = mse(z_rec, zd)
            if N > 0:
                (N * err_nrem).backward()
            optD.step()
            # REM
            optD.zero_grad(set_to_none=False)
            optG.zero_grad(set_to_none=False)
            noise = draw("rem_noise", t)
            if i == 0:
                zm = (mix["z"] + mix["z_old"]) * zd + mix["noise"] * noise
            else:
                zm = mix["z"] * zd + mix["z_old"] * old + mix["noise"] * noise
            _, d_fake = E(G(zm, reverse=True))
            err_fake = bce(d_fake, zeros)
            if R > 0:
                err_fake.backward()
                optD.step()
                optG.step()
            old = zd
            t += 1
            rows.append((t, epoch, [rec.item(), kl.item(), err_real.item(), err_nrem.item(), err_fake.item(), d_x,
                                    d_fake.mean().item()]))
            if t in snapshot_at:
                sd = {k: v.detach().contiguous() for k, v in {**E.state_dict(), **G.state_dict()}.items()}
                save_file(sd, os.path.join(a.out, snapshot_name(t)),
                          metadata={"iteration": str(t), "dtype": a.dtype, "threads": str(a.threads)})
            if a.log_every and t % a.log_every == 0:
                print("[it %d/%d] L_img %.4f L_KL %.3f L_NREM %.4f d(x) %.3f d(dream) %.3f  %.1f s"
                      % (t, epochs * ipe, rows[-1][2][0], rows[-1][2][1], rows[-1][2][3], rows[-1][2][5],
                         rows[-1][2][6], time.time() - t0), flush=True)
    with open(os.path.join(a.out, "losses.csv"), "w") as f:
        f.write(LOSSES_HEADER + "\n")
        for it, epoch, vals in rows:
            f.write("%d,%d,%s\n" % (it, epoch, ",".join(repr(float(v)) for v in vals)))
    info = {"record": os.path.abspath(a.record), "threads": a.threads, "dtype": a.dtype,
            "flush_denormal": a.flush_denormal, "summed_wake_backward": a.summed_wake_backward,
            "torch": torch.__version__, "iterations": t, "seconds": round(time.time() - t0, 1)}
    with open(os.path.join(a.out, "run.json"), "w") as f:
        json.dump(info, f, indent=1)
    print("RUN", json.dumps(info), flush=True)


# ----------------------------------------------------------------------------- compare
def network(name):
    return "G" if name.startswith("tconv") else "E"


def divergence(dir_a, dir_b, it):
    """Per tensor ||a - b|| / ||b|| at snapshot `it`, and the same over all parameters as one vector."""
    a, _ = read_safetensors(os.path.join(dir_a, snapshot_name(it)))
    b, _ = read_safetensors(os.path.join(dir_b, snapshot_name(it)))
    if sorted(a) != sorted(b):
        sys.exit("%s and %s hold different tensors at iteration %d" % (dir_a, dir_b, it))
    per, num, den = {}, 0.0, 0.0
    for k in sorted(a):
        x, y = a[k].astype(np.float64), b[k].astype(np.float64)
        diff, norm = float(np.sum((x - y) ** 2)), float(np.sum(y ** 2))
        per[k] = (diff ** 0.5) / max(norm ** 0.5, 1e-30)
        num, den = num + diff, den + norm
    return per, (num / den) ** 0.5


def loss_diff(la, lb, it, names=("L_img", "L_KL", "L_NREM", "L_fake")):
    """Relative differences of losses at iteration `it` and of their means over iterations 1..it."""
    i = it - 1
    at = {n: abs(la[i, LOSS_NAMES.index(n)] - lb[i, LOSS_NAMES.index(n)]) / max(abs(lb[i, LOSS_NAMES.index(n)]), 1e-12)
          for n in names}
    return at


def read_losses_if_any(path):
    return read_losses(path) if os.path.exists(path) else None


def cmd_compare(a):
    pairs = [(name, da, db) for name, da, db in a.pair]
    summary = {}
    for name, da, db in pairs:
        its = sorted(set(snapshot_iterations(da)) & set(snapshot_iterations(db)))
        if not its:
            sys.exit("%s and %s have no snapshot iteration in common" % (da, db))
        # A run stopped by hand (a long float64 one) has snapshots but no losses.csv: compare its parameters only.
        la, lb = read_losses_if_any(os.path.join(da, "losses.csv")), read_losses_if_any(os.path.join(db, "losses.csv"))
        print("## %s\n   A = %s\n   B = %s (reference)\n" % (name, da, db))
        print("| iteration | all params | median tensor | max tensor | E median | G median | L_img | L_KL | L_NREM | L_fake |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for it in its:
            per, whole = divergence(da, db, it)
            vals = np.array(list(per.values()))
            e = np.array([v for k, v in per.items() if network(k) == "E"])
            g = np.array([v for k, v in per.items() if network(k) == "G"])
            ld = loss_diff(la, lb, it) if la is not None and lb is not None else None
            print("| %d | %.2e | %.2e | %.2e (%s) | %.2e | %.2e | %s |" % (
                it, whole, np.median(vals), vals.max(), max(per, key=per.get), np.median(e), np.median(g),
                " | ".join("%.1e" % ld[n] if ld else "-" for n in ("L_img", "L_KL", "L_NREM", "L_fake"))))
            summary.setdefault(it, {})[name] = (whole, float(np.median(vals)), float(vals.max()))
        if la is None or lb is None:
            print("\n(no losses.csv on one side: parameters only)\n")
            continue
        n = min(len(la), len(lb))
        mean_rel = [abs(la[:n, j].mean() - lb[:n, j].mean()) / max(abs(lb[:n, j].mean()), 1e-12)
                    for j in range(len(LOSS_NAMES))]
        print("\nmeans over iterations 1..%d, relative difference: %s\n" % (
            n, ", ".join("%s %.1e" % (LOSS_NAMES[j], mean_rel[j]) for j in range(len(LOSS_NAMES)))))
    names = [p[0] for p in pairs]
    print("## ||a - b|| / ||b|| over all parameters (median over tensors)\n")
    print("| iteration | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for it in sorted(summary):
        cells = ["%.1e (%.1e)" % summary[it][n][:2] if n in summary[it] else "" for n in names]
        print("| %d | %s |" % (it, " | ".join(cells)))


# ----------------------------------------------------------------------------- stable read-out
def cmd_readout(a):
    import torch
    import torch.nn as nn
    torch.set_num_threads(a.threads)
    arrays, meta = read_safetensors(a.data)
    C = int(meta["channels"])
    ck, _ = read_safetensors(a.ckpt)
    enc = {k: torch.from_numpy(v.astype(np.float32)) for k, v in ck.items() if not k.startswith("tconv")
           and not k.startswith("adam.")}
    NZ, NF = enc["conv4.0.bias"].shape[0], enc["conv1.0.bias"].shape[0]
    E, _ = build(torch, nn, C, NF, NZ)
    E.load_state_dict(enc)
    E.eval()

    def features(u8):
        out = []
        with torch.no_grad():
            for i in range(0, u8.shape[0], 1000):
                out.append(E(to_input(torch, u8[i:i + 1000]))[0].numpy().astype(np.float64))
        return np.concatenate(out)

    ftr, fte = features(arrays["train.images"]), features(arrays["test.images"])
    ytr, yte = arrays["train.labels"].astype(np.int64), arrays["test.labels"].astype(np.int64)
    mu, sd = ftr.mean(0), ftr.std(0)
    sd[sd == 0] = 1.0
    xtr, xte = (ftr - mu) / sd, (fte - mu) / sd
    k = int(max(ytr.max(), yte.max())) + 1
    y = np.eye(k)[ytr]
    ym = y.mean(0)
    w = np.linalg.solve(xtr.T @ xtr + a.lam * np.eye(xtr.shape[1]), xtr.T @ (y - ym))
    acc = lambda x, lab: float(100.0 * np.mean(np.argmax(x @ w + ym, 1) == lab))
    res = {"ckpt": a.ckpt, "readout": "ridge on standardised z, one-hot, lambda %g" % a.lam,
           "train_acc": round(acc(xtr, ytr), 2), "test_acc": round(acc(xte, yte), 2)}
    print(json.dumps(res), flush=True)


def cmd_to_f32(a):
    from safetensors.numpy import save_file
    t, meta = read_safetensors(a.snapshot)
    save_file({k: v.astype(np.float32) for k, v in t.items()}, a.out, metadata=meta)
    print(a.out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("run", help="replay a record in PyTorch")
    r.add_argument("record", help="directory written by `pad replay`")
    r.add_argument("--data", required=True, help="the dataset artifact the record was made on")
    r.add_argument("--out", required=True, help="directory for snapshots and losses.csv")
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    r.add_argument("--snapshot-at", type=lambda s: [int(v) for v in s.split(",")], default=None,
                   help="iterations to snapshot [default: the record's]")
    r.add_argument("--flush-denormal", action="store_true", help="flush denormals to zero, as pad does")
    r.add_argument("--summed-wake-backward", action="store_true",
                   help="one Wake backward pass through the summed loss (as pad), not the authors' three")
    r.add_argument("--log-every", type=int, default=100)
    r.add_argument("--stop-after", type=int, default=0, help="stop after this many iterations [default: all]")
    c = sub.add_parser("compare", help="divergence tables of pairs of runs")
    c.add_argument("--pair", nargs=3, action="append", required=True, metavar=("NAME", "DIR_A", "DIR_B"))
    o = sub.add_parser("readout", help="ridge read-out of a checkpoint's z")
    o.add_argument("--data", required=True)
    o.add_argument("--ckpt", required=True)
    o.add_argument("--lam", type=float, default=1.0)
    o.add_argument("--threads", type=int, default=2)
    f = sub.add_parser("to-f32", help="float64 snapshot -> float32 checkpoint")
    f.add_argument("snapshot")
    f.add_argument("out")
    a = p.parse_args()
    if a.mode == "run" and a.threads < 1:
        p.error("--threads must be >= 1")
    {"run": cmd_run, "compare": cmd_compare, "readout": cmd_readout, "to-f32": cmd_to_f32}[a.mode](a)


if __name__ == "__main__":
    main()
