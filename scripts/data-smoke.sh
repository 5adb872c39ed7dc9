#!/usr/bin/env bash
# Real-data smoke of the dataset layer (issue 3): builds the Fashion-MNIST artifact from Debian's
# files (apt-get install dataset-fashion-mnist) and the CIFAR-10 JPEG stand-in from ../shared/data,
# in a scratch data directory, and checks their sha256 against data/datasets.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { /usr/bin/env time -f "  %e s wall, %M KB max RSS" target/debug/pad fetch "$@" --data-dir "$out" --lock "$out/datasets.lock"; }
[ -d /usr/share/datasets/fashion-mnist ] && run fashion-mnist --mirror /usr/share/datasets/fashion-mnist
[ -f ../shared/data/cifar10-jpeg.tar.gz ] && run cifar10-jpeg --mirror ../shared/data
for a in "$out"/*.safetensors; do
  name=$(basename "$a" .safetensors)
  sha=$(sha256sum "$a" | cut -c1-64)
  if grep -A2 "dataset = \"$name\"" data/datasets.lock | grep -q "$sha"; then echo "$name: $sha matches data/datasets.lock";
  else echo "$name: $sha DIFFERS from data/datasets.lock"; exit 1; fi
  target/debug/pad bench-load "$a"
done
