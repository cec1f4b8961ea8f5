"""Reusable components: KFP v1-style component specs and KFP v2 component YAML.

    from kfp_jupyter.components import load_component_from_file
    spec = load_component_from_file("components/train.yaml")
    [i.key for i in spec.inputs]   # the names a notebook's component cell assigns

Loading parses YAML with a safe loader and runs nothing. A component step of a notebook (a cell
tagged `component:PATH_OR_URL`, or `%%component NAME PATH_OR_URL`) is compiled to KFP, Argo and the
DSL script like any step; `kfp_jupyter.components.local` runs it on this machine.
"""

from __future__ import annotations

from .loader import (
    ComponentSpecError,
    load_component_from_file,
    load_component_from_text,
    load_component_from_url,
)
from .spec import ComponentInput, ComponentOutput, ComponentSpec, Container

__all__ = [
    "ComponentInput",
    "ComponentOutput",
    "ComponentSpec",
    "ComponentSpecError",
    "Container",
    "load_component_from_file",
    "load_component_from_text",
    "load_component_from_url",
]
