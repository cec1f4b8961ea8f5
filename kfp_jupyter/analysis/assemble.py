"""From what the analysis decided for a step to the model's Step, one kind of step at a time.

The data-flow phases (dataflow.py) decide what each step runs after, reads and hands on; turning
that into a Step also needs what each kind installs and runs: packages for Python steps, the
kernel and the child notebook's imports for notebook steps, the component's image for the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Problem
from ..model import NOTEBOOK_OUTPUT, ComponentCall, Export, Input, Mount, Parameter, Step
from .blocks import Blocks, StepBlock, step_fields
from .packages import Unpinnable, imported_modules, resolve_packages

if TYPE_CHECKING:
    from ..notebook.metadata import NotebookSettings
    from ..notebook.step_settings import StepSettings
    from .nonpython import Special


@dataclass(frozen=True)
class StepPlan:
    """What the data flow decided for one step, in the order its Step keeps."""

    sb: StepBlock
    #: the step's settings with the notebook's step defaults applied
    settings: StepSettings
    after: tuple[str, ...]
    explicit: tuple[str, ...]
    inputs: tuple[Input, ...]
    #: what the step hands on, in the order the wiring found them
    outputs: tuple[str, ...]
    parameters: tuple[str, ...]
    mounts: tuple[Mount, ...]

    def placed(self) -> dict[str, Any]:
        """The Step fields every kind of step takes from the plan: where its code is, what it
        runs after, what it receives and what it mounts."""
        return {
            "name": self.sb.name,
            "source": self.sb.code.code,
            "cells": self.sb.code.cells,
            "after": self.after,
            "explicit_after": self.explicit,
            "inputs": self.inputs,
            "parameters": self.parameters,
            "mounts": self.mounts,
        }


def python_step(
    plan: StepPlan,
    blocks: Blocks,
    settings: NotebookSettings,
    *,
    extra_imports: list[str],
    metrics: list[str],
    exports: list[Export],
    local: frozenset[str],
    warnings: list[Problem],
) -> Step:
    """A Python step: it installs the packages its code (and the shared cells) imports."""
    sb, st = plan.sb, plan.settings
    extra = "\n".join(dict.fromkeys(extra_imports))
    code_for_packages = (
        blocks.imports.code,
        blocks.functions.code,
        extra,
        *(code for _, code, _ in sb.code.parts),
    )
    marshalling = bool(plan.inputs or plan.outputs)
    unpinnable: list[Unpinnable] = []
    packages = resolve_packages(
        code_for_packages,
        (*settings.packages, *st.packages),
        marshalling=marshalling,
        local_modules=local,
        pin=settings.pin_packages,
        unpinnable=unpinnable,
    )
    warnings += [u.problem(sb.name) for u in unpinnable]
    return Step(
        **plan.placed(),
        outputs=tuple(sorted(plan.outputs)),
        metrics=tuple(metrics),
        extra_imports=extra,
        packages=packages,
        **step_fields(st, settings.image),
        exports=tuple(sorted(exports, key=lambda e: e.name)),
    )


def special_step(sp: Special, call: ComponentCall | None, plan: StepPlan) -> Step:
    """A component, container or resource step: its image is the component's (or the one the
    step names), and it installs no packages."""
    sb = plan.sb
    if sp.kind == "resource":
        assert sp.resource is not None
        image = sp.resource.image
    elif call is not None:
        image = sb.settings.image or call.spec.container.image
    else:
        image = sb.settings.image or ""
    fields = {**step_fields(plan.settings, ""), "image": image}
    if sp.kind == "resource":  # kubectl applies a manifest: the step has no limits or secrets
        fields.update(limits={}, secrets=())
    return Step(
        **plan.placed(),
        outputs=plan.outputs,
        **fields,
        kind=sp.kind,  # type: ignore[arg-type]
        component=call,
        resource=sp.resource,
    )


def notebook_step(
    sp: Special,
    plan: StepPlan,
    settings: NotebookSettings,
    params: dict[str, Parameter],
    warnings: list[Problem],
) -> Step:
    """A step that executes a whole notebook: it installs the kernel, nbclient and what the
    notebook imports, and hands on the variables its cell names (plus the executed notebook)."""
    from .notebookstep import notebook_call, notebook_packages

    sb, st = plan.sb, plan.settings
    assert sp.notebook is not None
    call = notebook_call(sp.notebook, params)
    packages = notebook_packages(
        sp.notebook.child,
        settings,
        st.packages,
        marshalling=bool(plan.inputs or call.variables),
        step=sb.name,
        warnings=warnings,
    )
    return Step(
        **plan.placed(),
        outputs=(*call.variables, NOTEBOOK_OUTPUT),
        metrics=tuple(sp.notebook.child.metrics),
        packages=packages,
        **step_fields(st, settings.image),
        kind="notebook",
        notebook=call,
    )


def local_modules(notebook: str | None, blocks: Blocks, warnings: list[Problem]) -> frozenset[str]:
    """Modules the notebook imports from files beside it, which a step's container does not have."""
    if notebook is None:
        return frozenset()
    folder = Path(notebook).parent
    found: set[str] = set()
    parts: list[tuple[int, str, str | None]] = [
        *((c, code, None) for c, code, _ in blocks.imports.parts),
        *((c, code, None) for c, code, _ in blocks.functions.parts),
        *((c, code, s.name) for s in blocks.steps for c, code, _ in s.code.parts),
    ]
    for cell, code, step in parts:
        for module in imported_modules(code):
            top = module.split(".")[0]
            if top in found:
                continue
            for path in (folder / f"{top}.py", folder / top / "__init__.py"):
                if path.is_file():
                    found.add(top)
                    warnings.append(
                        Problem(
                            f"module {top!r} is {path.relative_to(folder)} beside the notebook; "
                            "a step runs in its own container, where that file is not",
                            cell=cell,
                            step=step,
                            fix="put the code the steps need in the functions cell, or publish "
                            "the module as a package and name it in 'packages:'",
                        )
                    )
                    break
    return frozenset(found)
