#!/usr/bin/env python3
"""PyTorch side of examples/fid_speed.rs: images/s of pytorch-fid's InceptionV3 forward (pool3,
299x299 input, no resize) on CPU. Weights are random (speed does not depend on them), installed
through pytorch-fid's own loader so the network is exactly its FID Inception.

Usage: python scripts/fid_speed_torch.py THREADS BATCH ITERS   -> prints {"img_per_s": ...}
Needs torch, torchvision, pytorch-fid.
"""
import json
import sys
import time

import torch
import torchvision

import pytorch_fid.inception as pfi


def main(threads, batch, iters):
    torch.set_num_threads(threads)
    base = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
    pfi.load_state_dict_from_url = lambda *a, **k: base.state_dict()
    net = pfi.InceptionV3([3], resize_input=False, normalize_input=False).eval()
    x = torch.rand(batch, 3, 299, 299) * 2 - 1
    with torch.inference_mode():
        net(x)
        t = time.perf_counter()
        for _ in range(iters):
            net(x)
        dt = time.perf_counter() - t
    print(json.dumps({"threads": threads, "batch": batch, "img_per_s": batch * iters / dt, "torch": torch.__version__}))


if __name__ == "__main__":
    main(*map(int, sys.argv[1:4]))
