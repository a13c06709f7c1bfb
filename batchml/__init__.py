"""batchml: a local-first twin of Azure Machine Learning batch endpoints."""

__version__ = "0.1.0"
