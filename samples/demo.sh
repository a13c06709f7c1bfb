#!/usr/bin/env bash
# What `make demo` runs: the digits, wine and heart samples end to end, each in a fresh workspace
# inside the sample.
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

header "Digits done: predictions in $PWD/predictions-out, workspace in $PWD/demo-workspace"

# The MLflow sample: a no-code deployment, then a scoring script on the same model.
cd ../wine
header "batchml demo: an MLflow model of wine cultivars, scoring CSV files"
rm -rf demo-workspace predictions-out parquet-out

header "Making the data and the MLflow model: python prepare.py"
python prepare.py

header "Deploying and invoking: bash deploy-and-run.sh"
bash deploy-and-run.sh

header "Wine done: predictions in $PWD/predictions-out and $PWD/parquet-out"

# The pipeline sample: a prepare step and a score step behind one endpoint.
cd ../heart
header "batchml demo: a pipeline deployment (prepare, then score with an MLflow model)"
rm -rf demo-workspace scores-out

header "Making the data, the transformations and the MLflow model: python prepare.py"
python prepare.py

header "Deploying and invoking: bash deploy-and-run.sh"
bash deploy-and-run.sh

header "Demo done: pipeline scores in $PWD/scores-out/named-outputs/scores"

cat >&2 <<'NEXT'

Next: your own model. README.md, "Your own model in five minutes", deploys a scikit-learn model
with a 20-line scoring script. In short, with batchml on PATH (.venv/bin):
  batchml batch-endpoint create -f endpoint.yml
  batchml batch-deployment create -f deployment.yml --set-default
  batchml batch-endpoint invoke -n NAME --input data --stream
Every command's --help ends with examples.
NEXT
