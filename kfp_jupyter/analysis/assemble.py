"""From what the analysis decided for a step to the model's Step, one kind of step at a time.

The data-flow phases (dataflow.py) decide what each step runs after, reads and hands on; turning
that into a Step also needs what each kind installs and runs: packages for Python steps, the
kernel and the child notebook's imports for notebook steps, the component's image for the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..errors import Problem
from ..model import NOTEBOOK_OUTPUT, ComponentCall, Export, Input, Mount, Parameter, Step
from ..notebook.source import pip_lines, written_file
from ..notebook.step_settings import merge_packages, requirement_key
from .blocks import Blocks, StepBlock, step_fields
from .packages import (
    PipInstall,
    Unpinnable,
    has_version,
    imported_modules,
    read_pip_install,
    resolve_packages,
)

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
    stated_by: dict[str, tuple[str, ...]],
) -> Step:
    """A Python step: it installs the packages its code (and the shared cells) imports. What
    the notebook states for it (tags, metadata, pip lines) goes into `stated_by`, for the
    warnings about its pins."""
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
    # what the notebook states, the more specific last (it wins): the shared cells' pip lines,
    # the notebook's `packages`, the step's pip lines, the step's `packages:` tags; a pip line's
    # requirement without a version only adds a package, as `pip install x` keeps the x it has
    shared = stated_by_pip([*blocks.imports.parts, *blocks.functions.parts], None, warnings)
    own = stated_by_pip(sb.code.parts, sb.name, warnings)
    wanted = tuple(r for r in (*shared, *own) if not has_version(r))
    stated = (*_versioned(shared), *settings.packages, *_versioned(own), *st.packages)
    stated_by[sb.name] = (*stated, *wanted)
    packages = resolve_packages(
        code_for_packages,
        stated,
        marshalling=marshalling,
        local_modules=local,
        pin=settings.pin_packages,
        unpinnable=unpinnable,
        wanted=wanted,
    )
    warnings += [u.problem(sb.name) for u in unpinnable]
    _skipped_pins(blocks.skipped, packages, stated, sb.name, warnings)
    return Step(
        **plan.placed(),
        outputs=tuple(sorted(plan.outputs)),
        metrics=tuple(metrics),
        extra_imports=extra,
        packages=packages,
        **step_fields(st, settings.image),
        exports=tuple(sorted(exports, key=lambda e: e.name)),
    )


def _versioned(requirements: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(r for r in requirements if has_version(r))


def stated_by_pip(
    parts: Iterable[tuple[int, str, int]], step: str | None, warnings: list[Problem]
) -> tuple[str, ...]:
    """The requirements the pip install lines of these cells state, read as `packages:` tags
    are (a later one of a package wins, as the later install does); each line is reported,
    once: the shared cells' lines are read for every step."""
    reqs: list[str] = []
    for cell, code, _ in parts:
        for command, args in pip_lines(code):
            pip = read_pip_install(command, args)
            reqs += pip.requirements
            problem = _pip_problem(pip, cell, step)
            if problem not in warnings:
                warnings.append(problem)
    return merge_packages((), tuple(reqs), override=True)


def _pip_problem(pip: PipInstall, cell: int, step: str | None) -> Problem:
    """What becomes of a pip line: its requirements go with the step's packages; what is not a
    requirement by name is left out, with the way to state it instead."""
    who = "the step installs" if step else "every Python step installs"
    pinned = _versioned(pip.requirements)
    named = [r for r in pip.requirements if r not in pinned]
    said = [f"{who} {', '.join(pinned)} instead"] if pinned else []
    said += [f"{who} {', '.join(named)} (the version installed here, if imported)"] if named else []
    if not pip.dropped and not said:  # `!pip install -q`, `%pip install -U pip`
        return Problem(
            f"{pip.command!r} is left out of the code: it names nothing a step installs",
            cell=cell,
            step=step,
        )
    if not pip.dropped:
        as_tags = "" if named else " (as 'packages:' tags make it)"
        return Problem(
            f"{pip.command!r} is left out of the code: {'; '.join(said)}{as_tags}",
            cell=cell,
            step=step,
        )
    them = ", ".join(repr(d) for d in pip.dropped)
    said.append(f"{them} {'is' if len(pip.dropped) == 1 else 'are'} no requirement by name")
    return Problem(
        f"{pip.command!r} is left out of the code: {'; '.join(said)}, which a step cannot install",
        cell=cell,
        step=step,
        fix="name what the steps need in 'packages:NAME==VERSION' tags (the notebook's "
        "'packages' metadata for every step), or build it into the step's image",
    )


def _skipped_pins(
    skipped: list[tuple[int, str]],
    packages: tuple[str, ...],
    stated: tuple[str, ...],
    step: str,
    warnings: list[Problem],
) -> None:
    """A skip cell's pip line is not part of the pipeline: a version it pins for a package the
    step installs (from its imports) is not the step's, and the step would run another one."""
    found = {requirement_key(p): p for p in packages}
    named = {requirement_key(r) for r in stated}
    for cell, code in skipped:
        for command, args in pip_lines(code):
            for req in read_pip_install(command, args).requirements:
                key = requirement_key(req)
                if not has_version(req) or key in named or found.get(key, req) == req:
                    continue
                how = f"tag a cell of the step 'packages:{req}'"
                if "," in req:  # a tag holds no comma
                    how = f'add --packages "{req}" to the step\'s %%step line'
                warnings.append(
                    Problem(
                        f"{command!r} is in a skip cell, which is not part of the pipeline: the "
                        f"step installs {found[key]!r}, not {req!r}",
                        cell=cell,
                        step=step,
                        fix=f"{how}, or move the pip line into a cell of the step (or the "
                        "imports cell, for every step)",
                    )
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
    """Modules the notebook imports from files beside it (or that a `%%writefile` cell writes
    there), which a step's container does not have."""
    written = _written_modules(blocks)
    if notebook is None and not written:
        return frozenset()
    found: set[str] = set()
    parts: list[tuple[int, str, str | None]] = [
        *((c, code, None) for c, code, _ in blocks.imports.parts),
        *((c, code, None) for c, code, _ in blocks.functions.parts),
        *((c, code, s.name) for s in blocks.steps for c, code, _ in s.code.parts),
    ]
    for cell, code, step in parts:
        for module in imported_modules(code):
            top = module.split(".")[0]
            where = None if top in found else _local_file(notebook, top, written)
            if where is not None:
                found.add(top)
                warnings.append(
                    Problem(
                        f"module {top!r} is {where}; a step runs in its own container, where "
                        "that file is not",
                        cell=cell,
                        step=step,
                        fix="put the code the steps need in the functions cell, or publish "
                        "the module as a package and name it in 'packages:'",
                    )
                )
    return frozenset(found)


def _local_file(notebook: str | None, top: str, written: dict[str, tuple[int, str]]) -> str | None:
    """Where module `top` is beside the notebook, said for a warning; None when it is not."""
    if top in written:
        cell, path = written[top]
        return f"{path}, which the %%writefile cell {cell} writes beside the notebook"
    if notebook is None:
        return None
    folder = Path(notebook).parent
    for file in (folder / f"{top}.py", folder / top / "__init__.py"):
        if file.is_file():
            return f"{file.relative_to(folder)} beside the notebook"
    return None


def _written_modules(blocks: Blocks) -> dict[str, tuple[int, str]]:
    """Top-level modules that `%%writefile` cells write beside the notebook (`helper.py`,
    `pkg/__init__.py`): module -> (cell, path). Skipped cells count: the notebook ran them."""
    cells = [
        *((c, code) for c, code, _ in blocks.imports.parts),
        *((c, code) for c, code, _ in blocks.functions.parts),
        *((c, code) for s in blocks.steps for c, code, _ in s.code.parts),
        *blocks.skipped,
    ]
    out: dict[str, tuple[int, str]] = {}
    for cell, code in cells:
        path = written_file(code)
        parts = PurePosixPath(path).parts if path and path.endswith(".py") else ()
        if not parts or parts[0] in ("/", "..") or ".." in parts:
            continue
        top = parts[0].removesuffix(".py") if len(parts) == 1 else parts[0]
        if top.isidentifier():
            out.setdefault(top, (cell, path or ""))
    return out
