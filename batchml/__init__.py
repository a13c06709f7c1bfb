"""batchml: a local-first twin of Azure Machine Learning batch endpoints.

The packages are layered; a module imports only from its own package and the packages below
it (tests/unit/test_layers.py checks every import, lazy ones included):

  cli       the commands: parse, call one service, render (the only place that prints)
  output    rendering json|yaml|table|tsv and --query
  services  what a command does to the workspace: create, show, invoke, cancel, ...
  runner    a job's detached runner and the engine: plan, schedule, journal, assemble, logs
  backends  where workers run: local processes, Ray actors (behind backends.base)
  mlflow    MLmodel checks, no-code MLflow scoring, jobs as MLflow runs, the registry bridge
  worker    inside a worker: the init()/run() contract, its messages, row helpers
  envs      the Python environments jobs run in: requirements, uv builds, the per-user cache
  store     the workspace folder: layout, atomic writes, locks, job files
  core      the resource and job records, specs and their validation, errors
"""

__version__ = "0.1.0"

# Highest first.
LAYERS = (
    "cli",
    "output",
    "services",
    "runner",
    "backends",
    "mlflow",
    "worker",
    "envs",
    "store",
    "core",
)
