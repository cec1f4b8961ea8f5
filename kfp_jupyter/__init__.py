"""kfp-jupyter: turn an annotated Jupyter notebook into a Kubeflow Pipelines pipeline."""

from typing import TYPE_CHECKING

from ._version import __version__
from .errors import KfpJupyterError, NotebookError, Problem, UsageError
from .lazy import lazy_getattr
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
    "attach",
    "compile_pipeline",
    "load_notebook",
    "run_local",
    "show",
    "step_inputs",
    "submit",
]

if TYPE_CHECKING:
    from .cluster import attach as attach
    from .cluster import submit as submit
    from .compile import compile_pipeline as compile_pipeline
    from .engine import run_local as run_local
    from .engine.inputs import step_inputs as step_inputs

# The engine and the cluster clients are imported on first use: `import kfp_jupyter` (and every
# CLI call) stays cheap, and a missing optional dependency only matters to who uses that part.
_LAZY = {
    "run_local": ".engine",
    "submit": ".cluster",
    "attach": ".cluster",
    "compile_pipeline": ".compile",
    "step_inputs": ".engine.inputs",
}
__getattr__ = lazy_getattr(__name__, _LAZY)


def show(source: object = None, **kwargs: object) -> object:
    """The notebook widget for a pipeline or notebook (default: this kernel's notebook).

    Imported on use: the widget needs anywidget (the `widget` extra).
    """
    try:
        from .jupyter.widget import show as _show
    except ModuleNotFoundError as e:
        if e.name not in ("anywidget", "traitlets"):
            raise
        from .errors import KfpJupyterError, install_extra

        raise KfpJupyterError(
            f"kfp_jupyter.show() needs {e.name}: {install_extra('widget')}"
        ) from None
    return _show(source, **kwargs)  # type: ignore[arg-type]


def load_ipython_extension(ip: object) -> None:
    """`%load_ext kfp_jupyter`: the annotation cell magics and `%kfp`."""
    from .jupyter.magics import load_ipython_extension as _load

    _load(ip)  # type: ignore[arg-type]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The server extension behind the JupyterLab extension (REST handlers under /kfp-jupyter/api/)."""
    return [{"module": "kfp_jupyter.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The prebuilt JupyterLab extension, for `jupyter labextension develop`."""
    return [{"src": "labextension", "dest": "kfp-jupyter-labextension"}]
