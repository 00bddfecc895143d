#!/usr/bin/env bash
# The main job (`make run`): the TFX pipeline on the offline MNIST, then the pushed model served
# by `gan-tf serve` on 127.0.0.1 and queried over REST, then the server stopped.
#   scripts/main_job.sh VENV PRESET ROOT [extra `gan-tf pipeline run` arguments]
set -euo pipefail
venv=${1:-.venv}; preset=${2:-dcgan_mnist}; root=${3:-runs/$preset}
shift $(( $# < 3 ? $# : 3 ))
gan_tf="$venv/bin/gan-tf"
base="$root/serving/gan"

"$gan_tf" pipeline run --preset "$preset" --root "$root" "$@"

if ! ls -d "$base"/[0-9]* >/dev/null 2>&1; then
  echo "main job: the gate blessed no model, so nothing is served (see the gate report above)" >&2
  exit 1
fi
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$gan_tf" serve --model-base-path "$base" --rest-port "$port" --grpc-port 0 > "$root/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 120); do
  "$gan_tf" query --url "http://127.0.0.1:$port" --status >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { cat "$root/serve.log" >&2; exit 1; }
  sleep 1
done
"$gan_tf" query --url "http://127.0.0.1:$port" --seeds 0-63 --out "$root/served_grid.png" >/dev/null
echo "served: http://127.0.0.1:$port answered (gan-tf serve, log: $root/serve.log)"
echo "samples from the server: $root/served_grid.png"
echo "TensorBoard, every run side by side: $venv/bin/tensorboard --logdir $(dirname "$root")"
echo "serve it again with: $gan_tf serve --model-base-path $base"
