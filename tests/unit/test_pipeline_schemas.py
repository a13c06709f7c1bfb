"""Structure of components, pipeline deployments and pipeline jobs (schemas/*.schema.json).

The valid documents paraphrase Azure/azureml-examples cli/endpoints/batch/deploy-pipelines
(hello-batch, batch-scoring-with-preprocessing, training-with-components). What bindings mean is
checked in batchml.core.pipeline, not here: a binding is just a string to these schemas.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from batchml.core import spec as specs
from batchml.core.errors import InvalidSpecError

COMMAND = "commandComponent.schema.json"
PIPELINE = "pipelineComponent.schema.json"
DEPLOYMENT = "pipelineComponentBatchDeployment.schema.json"
JOB = "pipelineJob.schema.json"

NAME_RULE = "is not a valid name: use only letters, digits and '_', and start with a letter or '_'"
INPUT_TYPES = (
    "number, integer, boolean, string, uri_file, uri_folder, mltable, mlflow_model, custom_model"
)
STEP_INPUT_RULE = (
    "must be a binding such as ${{parent.inputs.data}}, a literal value, or a mapping with path "
    "and type"
)


def spec_of(text: str, tmp_path: Path, name: str = "spec.yml") -> specs.Spec:
    path = tmp_path / name
    path.write_text(text)
    return specs.load_file(path)


def problems_of(spec: specs.Spec, schema: str) -> list[str]:
    with pytest.raises(InvalidSpecError) as info:
        specs.validate(spec, schema)
    assert info.value.exit_code == 4
    return [str(problem) for problem in info.value.problems]


def problems(text: str, schema: str, tmp_path: Path) -> list[str]:
    return problems_of(spec_of(text, tmp_path), schema)


# -- Azure's examples validate ----------------------------------------------------------------

HELLO_COMPONENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json
name: hello_batch
display_name: Hello Batch component
version: 1
type: pipeline
jobs:
  main_job:
    type: command
    component:
      code: src
      environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
      command: >-
        python hello.py
"""

HELLO_DEPLOYMENT = """\
$schema: http://azureml/sdk-2-0/BatchDeployment.json
name: hello-batch-dpl
description: A hello world deployment with a single step.
endpoint_name: hello-pipeline-batch
type: pipeline
component: azureml:hello_batch@latest
settings:
    default_compute: batch-cluster
"""

HELLO_DEPLOYMENT_FROM_JOB = """\
$schema: http://azureml/sdk-2-0/BatchDeployment.json
name: hello-batch-from-job
endpoint_name: hello-pipeline-batch
type: pipeline
job_definition: azureml:job_name_placeholder
settings:
    continue_on_step_failure: false
    default_compute: batch-cluster
"""

HELLO_JOB = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline

experiment_name: hello-pipeline-batch
display_name: hello-pipeline-batch-job
description: Runs the pipeline component as a standalone job before it is deployed.

compute: batch-cluster
component: hello-component/hello.yml
"""

PREPARE_COMPONENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: uci_heart_prepare
display_name: UCI Heart dataset prepare
type: command
description: |-
  **Prepare UCI Heart dataset**:

  * `data`: the data to transform.
inputs:
  data:
    type: uri_folder
  transformations:
    type: custom_model
    optional: true
  categorical_encoding:
    type: string
    optional: true
    default: ordinal
outputs:
  prepared_data:
    type: uri_folder
  transformations_output:
    type: custom_model
code: src
environment: azureml:xgboost-sklearn-py38@latest
command: >-
  python prepare.py
  --data_path ${{inputs.data}}
  $[[--transformations_path ${{inputs.transformations}}]]
  $[[--categorical_encoding ${{inputs.categorical_encoding}}]]
  --prepared_data_path ${{outputs.prepared_data}}
  --transformations_output_path ${{outputs.transformations_output}}
"""

SCORE_COMPONENT = """\
# <component>
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: uci_heart_score
display_name: UCI Heart Classifier Score
type: command
inputs:
  model:
    type: mlflow_model
  data:
    type: uri_folder
  score_mode:
    type: string
outputs:
  scores:
    type: uri_folder
environment: azureml:xgboost-sklearn-py38@latest
code: src
command: >-
  python score.py
  --model_path ${{inputs.model}}
  --data_path ${{inputs.data}}
  --score_mode ${{inputs.score_mode}}
  --scores_path ${{outputs.scores}}
# </component>
"""

TRAIN_COMPONENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: train_xgb
version: 1
inputs:
  data:
    type: uri_folder
    mode: download
  target_column:
    type: string
  eval_size:
    type: number
    default: 0.3
    min: 0
    max: 1
  register_best_model:
    type: boolean
    default: false
outputs:
  model:
    type: mlflow_model
  evaluation_results:
    type: uri_folder
    mode: rw_mount
code: src
environment: azureml:xgboost-sklearn-py38@latest
command: >-
  python train_xgb.py --data_path ${{inputs.data}} --target_column ${{inputs.target_column}}
  --eval_size ${{inputs.eval_size}} --register_best_model ${{inputs.register_best_model}}
  --model ${{outputs.model}} --evaluation_results ${{outputs.evaluation_results}}
"""

SCORING_PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json
type: pipeline

name: batch_scoring_uci_heart
display_name: Batch Scoring for UCI heart
description: Batch inference with pre-processing reused from the training pipeline.

inputs:
  input_data:
    type: uri_folder
  score_mode:
    type: string
    default: append

outputs:
  scores:
    type: uri_folder
    mode: upload

jobs:
  preprocess_job:
    type: command
    component: azureml:uci_heart_prepare@latest
    inputs:
      data: ${{parent.inputs.input_data}}
      transformations:
        path: azureml:heart-classifier-transforms@latest
        type: custom_model
    outputs:
      prepared_data:

  score_job:
    type: command
    component: components/score/score.yml
    inputs:
      data: ${{parent.jobs.preprocess_job.outputs.prepared_data}}
      model:
        path: azureml:heart-classifier@latest
        type: mlflow_model
      score_mode: ${{parent.inputs.score_mode}}
    outputs:
      scores:
        mode: upload
        path: ${{parent.outputs.scores}}
"""

SCORING_JOB = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline

display_name: uci-classifier-score-job
description: |-
  Batch inference with pre and post processing steps.

compute: batch-cluster
component: pipeline.yml
inputs:
  input_data:
    type: uri_folder
  score_mode: append
outputs:
  scores:
    mode: upload
"""

SCORING_DEPLOYMENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponentBatchDeployment.schema.json
name: uci-classifier-prepros-xgb
description: A deployment with pre and post processing done before and after inference.
endpoint_name: uci-classifier-batch
type: pipeline
component: pipeline.yml
settings:
    continue_on_step_failure: false
    default_compute: batch-cluster
"""

TRAINING_PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json
type: pipeline

name: uci-heart-train-pipeline
display_name: uci-heart-train
description: Trains a classifier over the UCI heart dataset.

inputs:
  input_data:
    type: uri_folder

outputs:
  model:
    type: mlflow_model
    mode: upload
  evaluation_results:
    type: uri_folder
    mode: upload
  prepare_transformations:
    type: uri_folder
    mode: upload

jobs:
  preprocess_job:
    type: command
    component: ../components/prepare/prepare.yml
    inputs:
      data: ${{parent.inputs.input_data}}
      categorical_encoding: ordinal
    outputs:
      prepared_data:
      transformations_output: ${{parent.outputs.prepare_transformations}}

  train_job:
    type: command
    component: ../components/train_xgb/train_xgb.yml
    inputs:
      data: ${{parent.jobs.preprocess_job.outputs.prepared_data}}
      target_column: target
      register_best_model: false
      eval_size: 0.3
    outputs:
      model:
        mode: upload
        type: mlflow_model
        path: ${{parent.outputs.model}}
      evaluation_results:
        mode: upload
        type: uri_folder
        path: ${{parent.outputs.evaluation_results}}
"""

TRAINING_JOB = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline

experiment_name: uci-heart-train-pipeline
display_name: uci-heart-train-job

compute: batch-cluster
component: pipeline.yml
inputs:
  input_data:
    type: uri_folder
outputs:
  model:
    type: mlflow_model
    mode: upload
  evaluation_results:
    type: uri_folder
    mode: upload
  prepare_transformations:
    mode: upload
"""

TRAINING_DEPLOYMENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/batchDeployment.schema.json
name: uci-classifier-train-xgb
endpoint_name: uci-classifier-train
type: pipeline
component: pipeline.yml
settings:
    continue_on_step_failure: false
    default_compute: batch-cluster
"""

INVOKE_STYLE_JOB = """\
type: pipeline
name: my_job_1
tags: {team: ml}
properties: {origin: test}
settings:
  default_datastore: azureml:workspaceblobstore
  force_rerun: true
  on_init: setup_job
inputs:
  input_data:
    type: uri_folder
    path: data/unlabeled
    mode: download
  score_mode:
    type: string
    default: append
    optional: true
  threshold: 0.5
  verbose: true
outputs:
  scores:
    type: uri_folder
    path: azureml://datastores/workspaceblobstore/paths/scores
    mode: rw_mount
  extra:
jobs:
  score_job:
    type: command
    component: ./score.yml
    display_name: score
    description: scores the data
    compute: azureml:batch-cluster
    environment_variables: {LOG_LEVEL: debug, WORKERS: 2}
    settings: {}
    tags: {step: score}
    inputs:
      data:
        path: ${{parent.inputs.input_data}}
        mode: ro_mount
      score_mode: ${{parent.inputs.score_mode}}
      limit: 10
    outputs:
      scores: ${{parent.outputs.scores}}
"""

INLINE_PIPELINE_DEPLOYMENT = """\
name: inline-pipeline
endpoint_name: hello-pipeline-batch
type: pipeline
tags: {stage: dev}
properties: {owner: me}
component:
  type: pipeline
  inputs:
    message:
      type: string
      default: hello
      enum: [hello, bye]
  jobs:
    say:
      type: command
      component:
        type: command
        name: say
        version: "2"
        is_deterministic: false
        environment:
          name: tiny
          image: python:3.11-slim
          conda_file: {dependencies: [python=3.11]}
          os_type: linux
        resources: {instance_count: 1, instance_type: cpu, shm_size: 2g, properties: {}}
        distribution: {type: pytorch}
        environment_variables: {A: "1"}
        additional_includes: [../common]
        inputs:
          message: {type: string, description: what to say}
          count: {type: integer, min: 1, max: 5, default: 1}
        command: echo ${{inputs.message}}
      inputs:
        message: ${{parent.inputs.message}}
settings:
  default_compute: batch-cluster
  anything_else: kept
"""


@pytest.mark.parametrize(
    ("schema", "text"),
    [
        (PIPELINE, HELLO_COMPONENT),
        (DEPLOYMENT, HELLO_DEPLOYMENT),
        (DEPLOYMENT, HELLO_DEPLOYMENT_FROM_JOB),
        (JOB, HELLO_JOB),
        (COMMAND, PREPARE_COMPONENT),
        (COMMAND, SCORE_COMPONENT),
        (COMMAND, TRAIN_COMPONENT),
        (PIPELINE, SCORING_PIPELINE),
        (JOB, SCORING_JOB),
        (DEPLOYMENT, SCORING_DEPLOYMENT),
        (PIPELINE, TRAINING_PIPELINE),
        (JOB, TRAINING_JOB),
        (DEPLOYMENT, TRAINING_DEPLOYMENT),
        (JOB, INVOKE_STYLE_JOB),
        (DEPLOYMENT, INLINE_PIPELINE_DEPLOYMENT),
    ],
    ids=[
        "hello-component",
        "hello-deployment",
        "hello-deployment-from-job",
        "hello-job",
        "prepare-component",
        "score-component",
        "train-component",
        "scoring-pipeline",
        "scoring-job",
        "scoring-deployment",
        "training-pipeline",
        "training-job",
        "training-deployment",
        "job-with-steps",
        "inline-pipeline-deployment",
    ],
)
def test_azure_shapes_validate(tmp_path: Path, schema: str, text: str) -> None:
    spec = spec_of(text, tmp_path)
    assert specs.validate(spec, schema) == spec.data


def test_examples_keep_their_values(tmp_path: Path) -> None:
    """Bare outputs are null, folded commands are one line, literals keep their YAML types."""
    pipeline = specs.validate(spec_of(SCORING_PIPELINE, tmp_path), PIPELINE)
    assert pipeline["jobs"]["preprocess_job"]["outputs"] == {"prepared_data": None}
    hello = specs.validate(spec_of(HELLO_COMPONENT, tmp_path), PIPELINE)
    assert hello["jobs"]["main_job"]["component"]["command"] == "python hello.py"
    assert hello["version"] == 1
    prepare = specs.validate(spec_of(PREPARE_COMPONENT, tmp_path), COMMAND)
    assert prepare["command"].startswith("python prepare.py --data_path ${{inputs.data}} $[[")
    job = specs.validate(spec_of(SCORING_JOB, tmp_path), JOB)
    assert job["inputs"]["score_mode"] == "append"
    training = specs.validate(spec_of(TRAINING_PIPELINE, tmp_path), PIPELINE)
    assert training["jobs"]["train_job"]["inputs"]["register_best_model"] is False
    assert training["jobs"]["train_job"]["inputs"]["eval_size"] == 0.3


# -- mistakes, one line each --------------------------------------------------------------------


def test_only_command_steps(tmp_path: Path) -> None:
    text = """\
type: pipeline
jobs:
  score_job:
    type: parallel
    component: score.yml
    mini_batch_size: 10
    task: {type: run_function}
"""
    file = tmp_path / "spec.yml"
    assert problems(text, PIPELINE, tmp_path) == [
        f'{file}:4: jobs.score_job.type: only type: command steps are supported (got "parallel")'
    ]


def test_step_needs_type_and_component(tmp_path: Path) -> None:
    text = """\
type: pipeline
jobs:
  score_job:
    inputs: {data: x}
"""
    file = tmp_path / "spec.yml"
    assert problems(text, PIPELINE, tmp_path) == [
        f"{file}:3: jobs.score_job.type: is required",
        f"{file}:3: jobs.score_job.component: is required",
    ]


def test_pipeline_component_needs_type_and_jobs(tmp_path: Path) -> None:
    file = tmp_path / "spec.yml"
    assert problems("name: p\n", PIPELINE, tmp_path) == [
        f"{file}: type: is required",
        f"{file}: jobs: is required",
    ]


def test_command_component_missing_command(tmp_path: Path) -> None:
    text = """\
name: uci_heart_score
type: command
environment: azureml:xgboost-sklearn-py38@latest
"""
    file = tmp_path / "spec.yml"
    assert problems(text, COMMAND, tmp_path) == [f"{file}: command: is required"]


def test_inline_component_missing_command_and_environment(tmp_path: Path) -> None:
    text = """\
type: pipeline
jobs:
  main_job:
    type: command
    component:
      code: src
      commands: python hello.py
"""
    file = tmp_path / "spec.yml"
    assert problems(text, PIPELINE, tmp_path) == [
        f"{file}:5: jobs.main_job.component.environment: is required",
        f"{file}:5: jobs.main_job.component.command: is required",
        f"{file}:7: jobs.main_job.component.commands: unknown field; did you mean 'command'?",
    ]


def test_unknown_input_type(tmp_path: Path) -> None:
    text = """\
name: uci_heart_score
environment: azureml:env@latest
command: python score.py
inputs:
  data:
    type: tabular
  model: {}
outputs:
  scores:
    type: string
    mode: download
"""
    file = tmp_path / "spec.yml"
    assert problems(text, COMMAND, tmp_path) == [
        f'{file}:6: inputs.data.type: must be one of {INPUT_TYPES} (got "tabular")',
        f"{file}:7: inputs.model.type: is required",
        f"{file}:10: outputs.scores.type: must be one of uri_file, uri_folder, mltable, "
        'mlflow_model, custom_model (got "string")',
        f'{file}:11: outputs.scores.mode: must be one of rw_mount, upload, direct (got "download")',
    ]


def test_input_definition_fields(tmp_path: Path) -> None:
    text = """\
name: c
environment: azureml:env@latest
command: run
inputs:
  n:
    type: number
    min: low
    default: [1]
    optional: "yes"
    enum: []
    mode: rw_mount
    required: true
"""
    file = tmp_path / "spec.yml"
    assert problems(text, COMMAND, tmp_path) == [
        f'{file}:7: inputs.n.min: must be a number (got "low")',
        f"{file}:8: inputs.n.default: must be a string or a number or true or false (got [1])",
        f'{file}:9: inputs.n.optional: must be true or false (got "yes")',
        f"{file}:10: inputs.n.enum: [] should be non-empty",
        f"{file}:11: inputs.n.mode: must be one of ro_mount, download, direct, eval_mount, "
        'eval_download (got "rw_mount")',
        f"{file}:12: inputs.n.required: unknown field; allowed: default, description, enum, max, "
        "min, mode, optional, type",
    ]


@pytest.mark.parametrize(
    "name", ["score-mode", "1data", "data.x", "données", "has space", ""], ids=repr
)
def test_input_names_are_identifiers(tmp_path: Path, name: str) -> None:
    text = f"""\
name: c
environment: azureml:env@latest
command: run
inputs:
  "{name}":
    type: string
"""
    file = tmp_path / "spec.yml"
    assert problems(text, COMMAND, tmp_path) == [f"{file}:5: inputs.{name}: {NAME_RULE}"]


@pytest.mark.parametrize("name", ["data", "_private", "Data_2", "x"])
def test_valid_input_names(tmp_path: Path, name: str) -> None:
    text = f"name: c\nenvironment: e\ncommand: run\ninputs:\n  {name}: {{type: string}}\n"
    specs.validate(spec_of(text, tmp_path), COMMAND)


def test_names_of_outputs_steps_and_bindings(tmp_path: Path) -> None:
    text = """\
type: pipeline
outputs:
  my-scores: {type: uri_folder}
jobs:
  score-job:
    type: command
    component: score.yml
  ok_job:
    type: command
    component: score.yml
    inputs:
      data-in: ${{parent.inputs.data}}
    outputs:
      scores-out:
"""
    file = tmp_path / "spec.yml"
    assert problems(text, PIPELINE, tmp_path) == [
        f"{file}:3: outputs.my-scores: {NAME_RULE}",
        f"{file}:5: jobs.score-job: {NAME_RULE}",
        f"{file}:12: jobs.ok_job.inputs.data-in: {NAME_RULE}",
        f"{file}:14: jobs.ok_job.outputs.scores-out: {NAME_RULE}",
    ]


@pytest.mark.parametrize(
    "name", ["Uci_heart", "uci-heart", "_uci", "1uci", "uci.heart", "x" * 256], ids=repr
)
def test_command_component_names(tmp_path: Path, name: str) -> None:
    text = f"name: {name}\nenvironment: e\ncommand: run\n"
    file = tmp_path / "spec.yml"
    assert problems(text, COMMAND, tmp_path) == [
        f"{file}:1: name: must be lowercase letters, digits and '_', starting with a letter "
        f'(got "{name}")'
    ]


def test_command_component_type_and_fields(tmp_path: Path) -> None:
    text = """\
type: parallel
name: ok_name
version: 1.5
environment: 3
command: ""
resources: {instance_count: 0, gpus: 1}
additional_includes: a/b
"""
    file = tmp_path / "spec.yml"
    env_rule = (
        "must be a reference such as azureml:my-env@latest, or an inline environment with "
        "image and conda_file"
    )
    assert problems(text, COMMAND, tmp_path) == [
        f'{file}:1: type: must be command (got "parallel")',
        f"{file}:3: version: must be a string or an integer (got 1.5)",
        f"{file}:4: environment: {env_rule} (got 3)",
        f"{file}:5: command: '' should be non-empty",
        f"{file}:6: resources.gpus: unknown field; allowed: instance_count, instance_type, "
        "properties, shm_size",
        f"{file}:6: resources.instance_count: must be at least 1 (got 0)",
        f'{file}:7: additional_includes: must be a list (got "a/b")',
    ]


def test_step_inputs_and_outputs(tmp_path: Path) -> None:
    text = """\
type: pipeline
jobs:
  score_job:
    type: command
    component: 5
    inputs:
      empty:
      listed: [a]
      model: {type: mlflow_model}
      data: {path: x, type: tabular, mode: upload}
    outputs:
      scores: 3
      other: {path: out, type: string, mode: download, name: registered}
"""
    file = tmp_path / "spec.yml"
    assert problems(text, PIPELINE, tmp_path) == [
        f"{file}:5: jobs.score_job.component: must be a component file, a reference such as "
        "azureml:my_component@latest, or an inline command component (got 5)",
        f"{file}:7: jobs.score_job.inputs.empty: {STEP_INPUT_RULE} (got null)",
        f'{file}:8: jobs.score_job.inputs.listed: {STEP_INPUT_RULE} (got ["a"])',
        f"{file}:9: jobs.score_job.inputs.model.path: is required",
        f"{file}:10: jobs.score_job.inputs.data.mode: must be one of ro_mount, download, direct, "
        'eval_mount, eval_download (got "upload")',
        f'{file}:10: jobs.score_job.inputs.data.type: must be one of {INPUT_TYPES} (got "tabular")',
        f"{file}:12: jobs.score_job.outputs.scores: must be empty, a binding such as "
        "${{parent.outputs.scores}}, or a mapping with path, type and mode (got 3)",
        f"{file}:13: jobs.score_job.outputs.other.name: unknown field; allowed: mode, path, type",
        f"{file}:13: jobs.score_job.outputs.other.mode: must be one of rw_mount, upload, direct "
        '(got "download")',
        f"{file}:13: jobs.score_job.outputs.other.type: must be one of uri_file, uri_folder, "
        'mltable, mlflow_model, custom_model (got "string")',
    ]


def test_step_fields(tmp_path: Path) -> None:
    text = """\
type: pipeline
jobs:
  score_job:
    type: command
    component: score.yml
    environment_variables: [A]
    resources: {instance_count: 2}
    settings: fast
"""
    file = tmp_path / "spec.yml"
    assert problems(text, PIPELINE, tmp_path) == [
        f'{file}:6: jobs.score_job.environment_variables: must be a mapping (got ["A"])',
        f"{file}:7: jobs.score_job.resources: unknown field; allowed: component, compute, "
        "description, display_name, environment_variables, inputs, outputs, settings, tags, type",
        f'{file}:8: jobs.score_job.settings: must be a mapping (got "fast")',
    ]


def test_deployment_with_component_and_job_definition(tmp_path: Path) -> None:
    text = """\
name: hello-batch-dpl
endpoint_name: hello-pipeline-batch
type: pipeline
component: azureml:hello_batch@latest
job_definition: azureml:job_name_placeholder
"""
    file = tmp_path / "spec.yml"
    assert problems(text, DEPLOYMENT, tmp_path) == [
        f"{file}:5: job_definition: give either component or job_definition, not both"
    ]


def test_deployment_without_component_or_job_definition(tmp_path: Path) -> None:
    text = "name: hello-batch-dpl\nendpoint_name: hello-pipeline-batch\ntype: pipeline\n"
    file = tmp_path / "spec.yml"
    assert problems(text, DEPLOYMENT, tmp_path) == [
        f"{file}: component: is required (or job_definition: azureml:<pipeline job name>)"
    ]


def test_deployment_fields(tmp_path: Path) -> None:
    text = """\
name: hello_batch
endpoint_name: hello-pipeline-batch
type: model
job_definition: my-job
environment_variables:
  A: b
compute: azureml:batch-cluster
settings:
  default_compute: ""
  continue_on_step_failure: "no"
  force_rerun: 1
  kept_as_is: {any: thing}
"""
    file = tmp_path / "spec.yml"
    name_rule = (
        "must be 3-32 characters of letters, digits and '-', start with a letter and end with a "
        "letter or digit"
    )
    allowed = (
        "$schema, component, description, endpoint_name, job_definition, name, properties, "
        "settings, tags, type"
    )
    assert problems(text, DEPLOYMENT, tmp_path) == [
        f'{file}:1: name: {name_rule} (got "hello_batch")',
        f'{file}:3: type: must be pipeline (got "model")',
        f'{file}:4: job_definition: must be azureml:<pipeline job name> (got "my-job")',
        f"{file}:5: environment_variables: unknown field; allowed: {allowed}",
        f"{file}:7: compute: unknown field; did you mean 'component'?",
        f"{file}:9: settings.default_compute: '' should be non-empty",
        f'{file}:10: settings.continue_on_step_failure: must be true or false (got "no")',
        f"{file}:11: settings.force_rerun: must be true or false (got 1)",
    ]


def test_deployment_inline_component_is_checked(tmp_path: Path) -> None:
    text = """\
name: hello-batch-dpl
endpoint_name: hello-pipeline-batch
type: pipeline
component:
  jobs:
    main_job:
      type: command
      component: {command: run}
"""
    file = tmp_path / "spec.yml"
    assert problems(text, DEPLOYMENT, tmp_path) == [
        f"{file}:4: component.type: is required",
        f"{file}:8: component.jobs.main_job.component.environment: is required",
    ]


def test_deployment_component_must_be_a_reference_or_mapping(tmp_path: Path) -> None:
    text = "name: dpl\nendpoint_name: ep1\ntype: pipeline\ncomponent: [a]\n"
    file = tmp_path / "spec.yml"
    assert problems(text, DEPLOYMENT, tmp_path) == [
        f"{file}:4: component: must be a pipeline component file, a reference such as "
        'azureml:my_pipeline@latest, or an inline pipeline component (got ["a"])',
    ]


def test_job_with_component_and_jobs(tmp_path: Path) -> None:
    text = """\
type: pipeline
component: pipeline.yml
jobs:
  main_job:
    type: command
    component: hello.yml
"""
    file = tmp_path / "spec.yml"
    assert problems(text, JOB, tmp_path) == [
        f"{file}:2: component: give either component or jobs, not both"
    ]


def test_job_without_component_or_jobs(tmp_path: Path) -> None:
    file = tmp_path / "spec.yml"
    assert problems("type: pipeline\ncompute: batch-cluster\n", JOB, tmp_path) == [
        f"{file}: jobs: is required (or component: <a pipeline component>)"
    ]


def test_job_inputs_and_outputs(tmp_path: Path) -> None:
    text = """\
type: command
component: pipeline.yml
experiment_name: ""
inputs:
  input_data:
    type: tabular
    path: data
  listed: [1]
  missing:
  bad-name: 1
outputs:
  scores:
    mode: download
    name: registered
  bound: ${{parent.outputs.scores}}
"""
    file = tmp_path / "spec.yml"
    assert problems(text, JOB, tmp_path) == [
        f'{file}:1: type: must be pipeline (got "command")',
        f"{file}:3: experiment_name: '' should be non-empty",
        f'{file}:6: inputs.input_data.type: must be one of {INPUT_TYPES} (got "tabular")',
        f"{file}:8: inputs.listed: must be a literal value, or a mapping with type and path "
        "(got [1])",
        f"{file}:9: inputs.missing: must be a literal value, or a mapping with type and path "
        "(got null)",
        f"{file}:10: inputs.bad-name: {NAME_RULE}",
        f'{file}:13: outputs.scores.mode: must be one of rw_mount, upload, direct (got "download")',
        f"{file}:14: outputs.scores.name: unknown field; allowed: mode, path, type",
        f"{file}:15: outputs.bound: must be empty, or a mapping with type, path and mode "
        '(got "${{parent.outputs.scores}}")',
    ]


def test_job_steps_are_checked_like_pipeline_steps(tmp_path: Path) -> None:
    text = """\
type: pipeline
jobs:
  train:
    type: sweep
    trial: train.yml
"""
    file = tmp_path / "spec.yml"
    assert problems(text, JOB, tmp_path) == [
        f'{file}:4: jobs.train.type: only type: command steps are supported (got "sweep")'
    ]


# -- the rules behind the messages (batchml.core.spec) -------------------------------------------


def test_key_rule_without_a_message() -> None:
    """Keys that are not strings (YAML allows 1:) break the rule's type, named by the key."""
    spec = specs.Spec(
        {"environment": "e", "command": "c", "inputs": {1: {"type": "string"}}},
        "command line",
        Path("."),
    )
    assert problems_of(spec, COMMAND) == [
        "command line: inputs.1: is not an allowed name: 1 is not of type 'string'"
    ]
