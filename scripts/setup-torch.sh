#!/usr/bin/env bash
# A Python with PyTorch for the scripts that run it: the baseline `pad bench` measures pad against
# (scripts/torch_pad.py), the replay against PyTorch (scripts/replay/) and, with --fid, the
# Inception forward of `pad bench --inception` (torch_pad.py inception). The official CPU wheel (MKL + oneDNN), about 5 GB.
#   usage: scripts/setup-torch.sh [--fid] [VENV_DIR]
# VENV_DIR defaults to $HOME/.cache/pad-peer-torch, where `pad bench` looks for its Python; the
# last line printed is the venv's python. TORCH_VERSION chooses the wheel (default 2.15.0).
set -euo pipefail
extra=()
if [ "${1:-}" = "--fid" ]; then extra=(torchvision pytorch-fid); shift; fi
venv="${1:-$HOME/.cache/pad-peer-torch}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q "torch==${TORCH_VERSION:-2.15.0}" numpy safetensors "${extra[@]}"
"$venv/bin/python" -c 'import torch; print("torch", torch.__version__, torch.backends.cpu.get_cpu_capability())'
echo "$venv/bin/python"
