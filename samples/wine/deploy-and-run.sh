#!/usr/bin/env bash
# Azure's MLflow batch example (azureml-examples: cli/endpoints/batch/deploy-models/
# heart-classifier-mlflow/deploy-and-run.sh) on scikit-learn's wine data, with `az ml` replaced
# by `batchml`: a no-code deployment of an MLflow model, then a deployment of the same model
# with a scoring script that writes parquet files.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
say() { printf '\n--- %s\n' "$*" >&2; }

# A workspace folder next to this script, so the sample never touches another workspace.
export BATCHML_WORKSPACE="$PWD/demo-workspace"

if [[ ! -f model/MLmodel || ! -d data ]]; then
  say "Making the data and the model (prepare.py)"
  python prepare.py
fi

# A unique endpoint name, as Azure's scripts make one (3-32 characters, a letter first).
ENDPOINT_NAME="wine-$RANDOM"

# Waits for a job and fails the script unless it completed.
wait_for() {
  say "Streaming the logs of job $1"
  batchml job stream -n "$1"
  local status
  status=$(batchml job show -n "$1" --query status -o tsv)
  if [[ $status == "Completed" ]]; then
    echo "Job completed"
  elif [[ $status == "Failed" ]]; then
    echo "Job failed" >&2
    exit 1
  else
    echo "Job status not failed or completed: $status" >&2
    exit 2
  fi
}

say "Registering the MLflow model"
MODEL_NAME="wine-classifier-mlflow"
batchml model create --name "$MODEL_NAME" --type mlflow_model --path model \
  --query "{name:name, version:version, type:type, signature_inputs:length(signature.inputs)}" -o table

say "Registering the unlabeled data"
batchml data create -f wine-dataset-unlabeled.yml --query "{name:name, version:version}" -o table

say "Creating compute"
batchml compute create -n batch-cluster --type amlcompute --min-instances 0 --max-instances 5 \
  -o none

say "Creating batch endpoint $ENDPOINT_NAME"
batchml batch-endpoint create -n "$ENDPOINT_NAME" -f endpoint.yml -o none

say "Creating the no-code deployment classifier-mlflow as the default"
batchml batch-deployment create --file deployment-simple/deployment.yml \
  --endpoint-name "$ENDPOINT_NAME" --set-default \
  --query "{Name:name, Code:code_configuration || 'none: a no-code MLflow deployment'}" -o table

DEPLOYMENT_NAME="classifier-mlflow"
batchml batch-endpoint show --name "$ENDPOINT_NAME" -o table

say "Invoking the endpoint on the data asset (runs on the default deployment)"
JOB_NAME=$(batchml batch-endpoint invoke --name "$ENDPOINT_NAME" \
  --input azureml:wine-dataset-unlabeled@latest --query name -o tsv)
batchml batch-deployment list-jobs --name "$DEPLOYMENT_NAME" --endpoint-name "$ENDPOINT_NAME" \
  --query "[].name" -o tsv
wait_for "$JOB_NAME"

say "Downloading the scores"
rm -rf predictions-out
batchml job download --name "$JOB_NAME" --output-name score --download-path ./predictions-out
PREDICTIONS=predictions-out/predictions.csv
echo "Predictions: $PWD/$PREDICTIONS ($(wc -l <"$PREDICTIONS") rows; first lines below)"
head -n 5 "$PREDICTIONS"
# The MLflow scorer's output: comma-separated, no header, `row,prediction,file`.
python - "$PREDICTIONS" <<'PY'
import sys

import pandas as pd

scores = pd.read_csv(sys.argv[1], names=["row", "prediction", "file"])
merged = scores.merge(pd.read_csv("labels.csv"), on=["file", "row"])
print(f"accuracy against labels.csv: {(merged['prediction'] == merged['label']).mean():.3f}")
PY

say "Creating deployment classifier-parquet (a scoring script on the same MLflow model)"
batchml batch-deployment create --file deployment-parquet/deployment.yml \
  --endpoint-name "$ENDPOINT_NAME" -o none

DEPLOYMENT_NAME="classifier-parquet"
say "Making $DEPLOYMENT_NAME the default deployment"
batchml batch-endpoint update --name "$ENDPOINT_NAME" \
  --set defaults.deployment_name="$DEPLOYMENT_NAME" -o table
batchml batch-deployment list -e "$ENDPOINT_NAME" -o table \
  --query "[].{Name:name, Script:code_configuration.scoring_script, Output:output_action}"

say "Invoking the endpoint again (now runs on $DEPLOYMENT_NAME)"
JOB_NAME=$(batchml batch-endpoint invoke --name "$ENDPOINT_NAME" --input data \
  --input-type uri_folder --query name -o tsv)
wait_for "$JOB_NAME"

say "Downloading the parquet files"
rm -rf parquet-out
batchml job download --name "$JOB_NAME" --output-name score --download-path ./parquet-out
python - parquet-out <<'PY'
import sys
from pathlib import Path

import pandas as pd

files = sorted(Path(sys.argv[1]).glob("*.parquet"))
print(f"{len(files)} parquet files: {', '.join(f.name for f in files)}")
print(pd.read_parquet(files[0]).iloc[:3, -4:].to_string())
PY
