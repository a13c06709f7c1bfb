#!/usr/bin/env bash
# What `make demo` runs: the digits sample end to end, in a fresh workspace inside the sample.
set -euo pipefail

header() { printf '\n=== %s ===\n' "$*" >&2; }

if ! command -v batchml >/dev/null; then
  echo "batchml is not on PATH; run 'make demo', or put .venv/bin first in PATH" >&2
  exit 1
fi
cd "$(dirname "${BASH_SOURCE[0]}")/digits"

header "batchml demo: batch scoring of handwritten digits ($(command -v batchml))"
rm -rf demo-workspace predictions-out

header "Making the data and the model: python prepare.py"
python prepare.py

header "Deploying and invoking: bash deploy-and-run.sh"
bash deploy-and-run.sh

header "Demo done: predictions in $PWD/predictions-out, workspace in $PWD/demo-workspace"
