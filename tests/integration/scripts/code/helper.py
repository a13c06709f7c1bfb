"""A sibling module of code/score.py: importable because the script's folder is on sys.path."""

NAMES = ("AZUREML_MODEL_DIR", "AZUREML_BI_OUTPUT_PATH", "MY_SETTING")
