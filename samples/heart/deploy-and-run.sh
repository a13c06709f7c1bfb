#!/usr/bin/env bash
# Azure's pipeline batch example (azureml-examples: cli/endpoints/batch/deploy-pipelines/
# batch-scoring-with-preprocessing/deploy-and-run.sh) on scikit-learn's breast cancer data, with
# `az ml` replaced by `batchml`: a pipeline deployment whose first step prepares the data with
# registered transformations and whose second step scores it with an MLflow model. Then, as
# hello-batch does, a second deployment made from a pipeline job.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
say() { printf '\n--- %s\n' "$*" >&2; }

# A workspace folder next to this script, so the sample never touches another workspace.
export BATCHML_WORKSPACE="$PWD/demo-workspace"

if [[ ! -f model/MLmodel || ! -f transformations/transformations.joblib || ! -d data/unlabeled ]]
then
  say "Making the data, the transformations and the model (prepare.py)"
  python prepare.py
fi

# A unique endpoint name, as Azure's scripts make one (3-32 characters, a letter first).
ENDPOINT_NAME="breast-cancer-score-$RANDOM"

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

say "Registering the environment of the components"
batchml environment create -f environment/sklearn-mlflow-py311.yml \
  --query "{name:name, version:version}" -o table

say "Registering the MLflow model and the transformations"
batchml model create --name breast-cancer-classifier --type mlflow_model --path model \
  --query "{name:name, version:version, type:type}" -o table
batchml model create --name breast-cancer-classifier-transforms --type custom_model \
  --path transformations --query "{name:name, version:version, type:type}" -o table

say "Registering the prepare and score components"
batchml component create -f components/prepare/prepare.yml --query "{name:name, version:version}" -o table
batchml component create -f components/score/score.yml --query "{name:name, version:version}" -o table

say "Creating compute"
batchml compute create -n batch-cluster --type amlcompute --min-instances 0 --max-instances 5 \
  -o none

say "Testing the pipeline: running it once as a pipeline job"
PIPELINE_JOB=$(batchml job create -f pipeline-job.yml --set inputs.input_data.path=data/unlabeled \
  --query name -o tsv)
wait_for "$PIPELINE_JOB"

say "Creating batch endpoint $ENDPOINT_NAME"
batchml batch-endpoint create --name "$ENDPOINT_NAME" -f endpoint.yml -o none
batchml batch-endpoint show --name "$ENDPOINT_NAME" -o table

say "Creating the pipeline deployment breast-cancer-prepros as the default"
batchml batch-deployment create --endpoint "$ENDPOINT_NAME" -f deployment.yml --set-default \
  --query "{name:name, type:type, component:component}" -o table

say "Invoking the endpoint with inputs.yml (input_data: data/unlabeled, score_mode: append)"
JOB_NAME=$(batchml batch-endpoint invoke -n "$ENDPOINT_NAME" -f inputs.yml --query name -o tsv)
wait_for "$JOB_NAME"

say "The steps of job $JOB_NAME"
batchml job list --parent-job-name "$JOB_NAME" --query "[].name" -o tsv

say "Downloading the scores"
rm -rf scores-out
batchml job download --name "$JOB_NAME" --output-name scores --download-path ./scores-out
# Azure's layout for a named output of a pipeline job: <download-path>/named-outputs/<output>/.
SCORES=scores-out/named-outputs/scores
if [[ ! -d $SCORES ]]; then
  echo "no $SCORES/ in the download; it has:" >&2
  find scores-out >&2
  exit 1
fi
echo "Scores: $PWD/$SCORES"
ls "$SCORES"
# One CSV per input file, same name: the prepared columns and `prediction` (score_mode append).
python - "$SCORES" <<'PY'
import sys
from pathlib import Path

import pandas as pd

files = sorted(Path(sys.argv[1]).glob("*.csv"))
if not files:
    sys.exit(f"no CSV files in {sys.argv[1]}")
scores = pd.concat(
    pd.read_csv(path, usecols=["prediction"]).assign(file=path.name, row=lambda f: range(len(f)))
    for path in files
)
labels = pd.read_csv("labels.csv")
merged = scores.merge(labels, on=["file", "row"])
if len(merged) != len(labels):
    sys.exit(f"{len(merged)} scored rows match labels.csv, which has {len(labels)}")
accuracy = (merged["prediction"] == merged["label"]).mean()
print(f"{len(scores)} rows in {len(files)} files; accuracy against labels.csv: {accuracy:.3f}")
if accuracy < 0.9:
    sys.exit("the accuracy is below 0.9: the scores are wrong")
PY

say "Creating deployment breast-cancer-prepros-job from pipeline job $PIPELINE_JOB"
batchml batch-deployment create --endpoint "$ENDPOINT_NAME" \
  --set job_definition="azureml:$PIPELINE_JOB" -f deployment-from-job.yml \
  --query "{name:name, type:type, job_definition:job_definition}" -o table
batchml batch-deployment list -e "$ENDPOINT_NAME" -o table --query "[].{Name:name, Type:type}"

say "Deleting endpoint $ENDPOINT_NAME (its jobs are kept)"
batchml batch-endpoint delete -n "$ENDPOINT_NAME" --yes
