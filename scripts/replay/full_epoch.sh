#!/usr/bin/env bash
# The full-epoch replay of one condition on the CIFAR-10 JPEG stand-in (docs/correctness.md):
# pad records one epoch with every random draw; PyTorch replays it from the same initial weights on
# 2 threads, 1 thread (float32) and in float64; the divergence tables of
#   pad vs PyTorch f32 2t,  PyTorch f32 1t vs 2t,  PyTorch f32 vs f64,  pad vs PyTorch f64
# go to OUT/compare.md, and both end states (pad's, PyTorch f32 2t's) get the paper's probe
# (`pad probe`: CSV in OUT/<run>/probe.csv, its summary with pad's ridge accuracy in probe.log)
# and PyTorch's own ridge read-out (OUT/<run>/readout.json).
#
#   usage (from the repository root): scripts/replay/full_epoch.sh CONDITION [OUT]
#   needs: target/release/pad, data/cifar10-jpeg.safetensors (`pad fetch cifar10-jpeg --mirror ../shared/data`),
#          the PyTorch venv of scripts/setup-torch.sh ($PY, default $HOME/.cache/pad-peer-torch/bin/python)
# Steps whose output exists are skipped, so a stopped run continues. Runs one step at a time.
# PAD (default target/release/pad), DATA (default data/cifar10-jpeg.safetensors) and PY can be set.
set -euo pipefail
cond=${1:?usage: full_epoch.sh CONDITION [OUT]}
out=${2:-/tmp/replay/$cond}
PY=${PY:-$HOME/.cache/pad-peer-torch/bin/python}
PAD=${PAD:-target/release/pad}
data=${DATA:-data/cifar10-jpeg.safetensors}
script=scripts/replay/replay_pad.py

[ -e "$out/pad/losses.csv" ] || $PAD replay --data "$data" --condition "$cond" --seed 0 --out "$out" --quiet --threads 2
replay() {  # NAME, then flags of replay_pad.py run
    [ -e "$out/$1/run.json" ] || $PY $script run "$out" --data "$data" --out "$out/$1" --log-every 200 "${@:2}"
}
replay torch-f32-2t --threads 2
replay torch-f32-1t --threads 1
# float64 runs on PyTorch's native kernels (oneDNN has none), about 10 s an iteration here:
# F64_ITERS=N stops it after N iterations (the comparison then ends there).
replay torch-f64-2t --threads 2 --dtype float64 --stop-after "${F64_ITERS:-0}"
$PY $script compare \
    --pair "pad vs PyTorch f32 2t" "$out/pad" "$out/torch-f32-2t" \
    --pair "PyTorch f32 1t vs 2t" "$out/torch-f32-1t" "$out/torch-f32-2t" \
    --pair "PyTorch f32 vs f64" "$out/torch-f32-2t" "$out/torch-f64-2t" \
    --pair "pad vs PyTorch f64" "$out/pad" "$out/torch-f64-2t" | tee "$out/compare.md"
last=$(ls "$out/pad" | grep '^iter-' | sort | tail -1)
for run in pad torch-f32-2t; do
    [ -e "$out/$run/probe.csv" ] || $PAD probe --data "$data" --ckpt "$out/$run/$last" --threads 2 > "$out/$run/probe.csv" 2> "$out/$run/probe.log"
    [ -e "$out/$run/readout.json" ] || $PY $script readout --data "$data" --ckpt "$out/$run/$last" | tee "$out/$run/readout.json"
done
