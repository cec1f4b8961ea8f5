"""Reading a notebook: its cells, their annotations (tags or magics) and notebook-level settings."""

from .annotations import Annotation, Role, StepSettings, annotate
from .metadata import NotebookSettings, read_settings
from .reader import Cell, NotebookFile, read_notebook

__all__ = [
    "Annotation",
    "Cell",
    "NotebookFile",
    "NotebookSettings",
    "Role",
    "StepSettings",
    "annotate",
    "read_notebook",
    "read_settings",
]
