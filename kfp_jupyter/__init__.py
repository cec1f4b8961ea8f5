"""kfp-jupyter: turn an annotated Jupyter notebook into a Kubeflow Pipelines pipeline."""

from ._version import __version__
from .errors import KfpJupyterError, NotebookError, Problem, UsageError
from .loader import load_notebook
from .model import Input, Parameter, Pipeline, Step

__all__ = [
    "Input",
    "KfpJupyterError",
    "NotebookError",
    "Parameter",
    "Pipeline",
    "Problem",
    "Step",
    "UsageError",
    "__version__",
    "load_notebook",
]
