#!/usr/bin/env bash
# Azure's mnist batch example (azureml-examples: cli/endpoints/batch/deploy-models/
# mnist-classifier/deploy-and-run.sh) on scikit-learn's digits, with `az ml` replaced by `batchml`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
say() { printf '\n--- %s\n' "$*" >&2; }

# A workspace folder next to this script, so the sample never touches another workspace.
export BATCHML_WORKSPACE="$PWD/demo-workspace"

if [[ ! -f model/digits.pkl || ! -d data ]]; then
  say "Making the data and the model (prepare.py)"
  python prepare.py
fi

# A unique endpoint name, as Azure's scripts make one (3-32 characters, a letter first).
ENDPOINT_NAME="digits-$RANDOM"

say "Creating compute"
batchml compute create -n batch-cluster --type amlcompute --min-instances 0 --max-instances 5 \
  -o table

say "Registering the model"
MODEL_NAME="digits-classifier"
batchml model create --name "$MODEL_NAME" --type custom_model --path model -o table

say "Creating batch endpoint $ENDPOINT_NAME"
batchml batch-endpoint create --file endpoint.yml --name "$ENDPOINT_NAME" -o none

say "Creating deployment digits-svc (type: model) as the default"
batchml batch-deployment create --file deployment-svc/deployment.yml \
  --endpoint-name "$ENDPOINT_NAME" --set-default -o none

say "Creating deployment digits-legacy (the legacy flat form)"
batchml batch-deployment create --file deployment-legacy/deployment.yml \
  --endpoint-name "$ENDPOINT_NAME" -o none

DEPLOYMENT_NAME="digits-legacy"
say "Making $DEPLOYMENT_NAME the default deployment"
batchml batch-endpoint update --name "$ENDPOINT_NAME" \
  --set defaults.deployment_name="$DEPLOYMENT_NAME" -o none
batchml batch-deployment list -e "$ENDPOINT_NAME" -o table

say "Invoking the endpoint on data/ (runs on the default deployment)"
JOB_NAME=$(batchml batch-endpoint invoke --name "$ENDPOINT_NAME" --input data \
  --input-type uri_folder --query name -o tsv)
echo "Job $JOB_NAME: $(batchml job show -n "$JOB_NAME" --query status -o tsv)"

say "Streaming the job's logs"
batchml job stream -n "$JOB_NAME"

STATUS=$(batchml job show -n "$JOB_NAME" --query status -o tsv)
if [[ $STATUS == "Completed" ]]; then
  echo "Job completed"
elif [[ $STATUS == "Failed" ]]; then
  echo "Job failed" >&2
  exit 1
else
  echo "Job status not failed or completed: $STATUS" >&2
  exit 2
fi

say "Downloading the scores"
rm -rf predictions-out
batchml job download -n "$JOB_NAME" --output-name score --download-path ./predictions-out
PREDICTIONS=$(find predictions-out -name predictions.csv -print -quit)
if [[ -z $PREDICTIONS ]]; then
  echo "no predictions.csv under predictions-out/" >&2
  exit 1
fi
echo "Predictions: $PWD/$PREDICTIONS ($(wc -l <"$PREDICTIONS") rows; first lines below)"
head -n 5 "$PREDICTIONS"

if [[ -f labels.csv ]]; then
  # append_row output has no header and space-separated fields, as on Azure.
  python - "$PREDICTIONS" <<'PY'
import sys

import pandas as pd

scores = pd.read_csv(sys.argv[1], sep=" ", header=None).iloc[:, :2]
scores.columns = ["file", "class"]
merged = scores.merge(pd.read_csv("labels.csv"), on="file")
print(f"accuracy against labels.csv: {(merged['class'] == merged['label']).mean():.3f}")
PY
fi
