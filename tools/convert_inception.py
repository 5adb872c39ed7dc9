#!/usr/bin/env python3
"""Converts an Inception-v3 PyTorch state dict (.pth) into the safetensors file that pad's FID
stage reads (`pad fid --inception FILE`). Tensor names are kept as they are (Conv2d_1a_3x3.conv.weight,
Conv2d_1a_3x3.bn.running_mean, ..., Mixed_7c.branch_pool.bn.running_var, fc.weight, ...);
floating tensors are stored as float32, integer bookkeeping tensors (bn.num_batches_tracked) are
dropped. pad folds the batch norms (eps 0.001) itself at load time.

Where the weights come from (pad ships none):
  * FID's network (`--layout fid`, the default, the one FID values are defined with):
    pt_inception-2015-12-05-6726825d.pth, pytorch-fid's port of TensorFlow's
    inception-2015-12-05 graph, published as the "fid_weights" release asset of the
    mseitzer/pytorch-fid GitHub project. `pip install pytorch-fid` and one run of
    `python -m pytorch_fid` (or InceptionV3()) downloads it into ~/.cache/torch/hub/checkpoints/.
  * torchvision's ImageNet inception_v3 (`--layout torchvision`, what the PAD authors' script
    used): inception_v3_google-0cc3c7bd.pth, fetched by
    torchvision.models.inception_v3(weights="IMAGENET1K_V1") into the same cache directory.

Usage: python tools/convert_inception.py IN.pth OUT.safetensors
Needs only torch (the safetensors format is written here directly).
"""
import json
import os
import struct
import sys

import torch


def state_dict(path):
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise SystemExit(f"{path}: expected a state dict (name -> tensor), found {type(obj).__name__}")
    return obj


def float32_tensors(sd):
    """name -> contiguous float32 tensor, for every floating tensor; the rest is reported and dropped."""
    out, dropped = {}, []
    for name, t in sd.items():
        if not torch.is_tensor(t):
            dropped.append(name)
        elif t.is_floating_point():
            out[name] = t.detach().to(torch.float32).contiguous()
        else:
            dropped.append(name)
    return out, dropped


def write_safetensors(tensors, path, metadata):
    """The safetensors layout: u64 header length, JSON header (names sorted), raw little-endian data."""
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name in sorted(tensors):
        data = tensors[name].numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-(len(js) + 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main(argv):
    if len(argv) != 2:
        raise SystemExit(__doc__)
    src, dst = argv
    tensors, dropped = float32_tensors(state_dict(src))
    if not any(k.startswith("Conv2d_1a_3x3.") for k in tensors):
        raise SystemExit(f"{src}: no Conv2d_1a_3x3.* tensors: not an Inception-v3 state dict")
    write_safetensors(tensors, dst, {"source": os.path.basename(src)})
    print(f"{dst}: {len(tensors)} float32 tensors ({sum(t.numel() for t in tensors.values())} values); dropped {len(dropped)} non-float: {', '.join(dropped[:3])}{' ...' if len(dropped) > 3 else ''}")


if __name__ == "__main__":
    main(sys.argv[1:])
