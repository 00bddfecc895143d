#!/usr/bin/env bash
# Unpacks Fashion-MNIST's four IDX files from Debian's dataset-fashion-mnist package into
# ~/.cache/gan_tf/fashion-mnist, without root (apt-get download + dpkg-deb -x), where
# gan_tf.data.fashion_mnist finds them. Fashion-MNIST: Xiao, Rasul, Vollgraf (2017), MIT.
set -euo pipefail
dest=${1:-$HOME/.cache/gan_tf/fashion-mnist}
if ls "$dest"/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz >/dev/null 2>&1; then
  echo "Fashion-MNIST already in $dest"; exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download dataset-fashion-mnist)
mkdir -p "$dest"
dpkg-deb -x "$work"/dataset-fashion-mnist_*.deb "$dest"
ls -l "$dest"/usr/share/datasets/fashion-mnist/
