"""Read a notebook file into plain, numbered cells.

Version 4 notebooks (everything Jupyter has written since 2015) are read as JSON and checked for
what the pipeline relies on, with messages that point at the cell. nbformat is imported only to
upgrade older files: importing it pulls in jsonschema's format checkers, which can take seconds,
and a compiler that runs on every save must start fast.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NotebookError, Problem

CELL_TYPES = ("code", "markdown", "raw")
_FIX = "open and re-save it in Jupyter"


@dataclass(frozen=True)
class Cell:
    """One cell. `index` is 1-based over all cells, as a person counts them in the notebook."""

    index: int
    kind: str
    source: str
    tags: tuple[str, ...]
    #: the cell's metadata 'notebook_path', where Kale's notebook reference keeps the path of the
    #: notebook it composes (notebook/kale_compose.py); None if the cell has none
    notebook_path: str | None = None

    @property
    def first_line(self) -> str:
        for line in self.source.splitlines():
            if line.strip():
                return line.strip()
        return ""


@dataclass(frozen=True)
class NotebookFile:
    path: Path | None
    cells: tuple[Cell, ...]
    metadata: dict[str, Any]


def read_notebook(path: str | Path) -> NotebookFile:
    """Read and check `path`; a file that is not a notebook is a NotebookError, not a crash."""
    return parse_notebook_text(read_text(path), Path(path))


#: the largest file read as a notebook: far more than a notebook's code and outputs, so a larger
#: file is most likely a wrong path (a data file), which would otherwise be read whole into memory
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024


def read_text(path: str | Path) -> str:
    """The text of the notebook file at `path`, read only if it is a regular file of at most
    MAX_NOTEBOOK_BYTES (a FIFO, opened without waiting for a writer, would never end; a device
    like /dev/zero or a huge file would fill the memory); NotebookError naming the path else."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise NotebookError(
            Problem(f"notebook {str(p)!r} does not exist", fix="check the path")
        ) from None
    except OSError as e:
        raise NotebookError(Problem(f"cannot read {str(p)!r}: {e.strerror or e}")) from None
    kind = os.fstat(fd)
    if not stat.S_ISREG(kind.st_mode):
        os.close(fd)
        raise NotebookError(
            Problem(
                f"{str(p)!r} is a folder, not a notebook"
                if stat.S_ISDIR(kind.st_mode)
                else f"{str(p)!r} is not a file but a device, pipe or socket",
                fix="give the path of an .ipynb file",
            )
        )
    with os.fdopen(fd, "rb") as f:
        try:
            data = b"" if kind.st_size > MAX_NOTEBOOK_BYTES else f.read(MAX_NOTEBOOK_BYTES + 1)
        except OSError as e:
            raise NotebookError(Problem(f"cannot read {str(p)!r}: {e.strerror or e}")) from None
    if kind.st_size > MAX_NOTEBOOK_BYTES or len(data) > MAX_NOTEBOOK_BYTES:
        raise NotebookError(
            Problem(
                f"{str(p)!r} is larger than {MAX_NOTEBOOK_BYTES // (1024 * 1024)} MB: too "
                "large to be a notebook",
                fix="check the path (it may name a data file), or clear the notebook's outputs "
                "(Jupyter: Edit > Clear Outputs of All Cells) and save it",
            )
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NotebookError(Problem(f"cannot read {str(p)!r}: {e}")) from None


def notebook_json(text: str, path: Path | None = None) -> dict[str, Any]:
    """The notebook as version-4 JSON, checked; NotebookError listing what is wrong otherwise."""
    name = str(path) if path else "notebook"
    try:
        raw = json.loads(text)
    except ValueError as e:
        other = _another_kind(text, path, name)
        raise NotebookError(
            other or Problem(f"{name} is not a valid notebook: not JSON ({e})", fix=_FIX)
        ) from None
    except RecursionError:  # Python's JSON reader stops at about a thousand levels
        raise NotebookError(
            Problem(f"{name} is not a valid notebook: its JSON is nested too deeply", fix=_FIX)
        ) from None
    if not isinstance(raw, dict) or ("cells" not in raw and "worksheets" not in raw):
        raise NotebookError(
            _another_kind(text, path, name)
            or Problem(
                f"{name} is not a valid notebook: JSON without notebook cells",
                fix="give the path of an .ipynb file",
            )
        )
    nb: dict[str, Any] = raw if raw.get("nbformat") == 4 else _upgrade(raw, name)
    problems = _check(nb, name)
    if problems:
        raise NotebookError(problems)
    return nb


#: what says a notebook is wanted, whichever command or notebook reference gave the path
_TAKES = "kfp-jupyter takes a notebook (.ipynb) here"
#: a top-level key of a compiled pipeline starting a line of its YAML (or, quoted, its JSON); a
#: notebook's JSON holds such text only inside a quoted line of a cell
_KFP_IR = re.compile(r'^(?:pipelineInfo|\s*"pipelineInfo")\s*:', re.M)
_ARGO = re.compile(r'^\s*(?:apiVersion|"apiVersion")\s*:\s*["\']?argoproj\.io/', re.M)
#: a Python script that uses the kfp SDK: a KFP DSL script, which `submit` compiles and sends
_DSL = re.compile(r"^\s*(?:from\s+kfp\b|import\s+kfp\b)", re.M)


def _another_kind(text: str, path: Path | None, name: str) -> Problem | None:
    """A file of another kind given where a notebook goes: a compiled pipeline (`kfp-jupyter
    compile`'s own output, easily given to `run` or `compile` again), a script, a YAML file.
    Re-saving it in Jupyter, the fix for a broken notebook, would not help: the message says
    what the file is and which command takes it. None if it may be a broken notebook."""
    return _compiled(text, name) or _by_suffix(text, path, name)


def _compiled(text: str, name: str) -> Problem | None:
    """A compiled pipeline, which `submit` takes."""
    if _KFP_IR.search(text):
        what, submit = "a compiled pipeline (KFP IR YAML)", f"kfp-jupyter submit {name}"
    elif _ARGO.search(text):
        what, submit = "an Argo Workflow", f"kfp-jupyter submit {name} --engine argo"
    else:
        return None
    return Problem(
        f"{name} is {what}, not a notebook: {_TAKES}",
        fix="give the notebook it was compiled from; to run this pipeline on a cluster, send "
        f"it with '{submit}'",
    )


def _by_suffix(text: str, path: Path | None, name: str) -> Problem | None:
    """A file whose name says it is no notebook: a script (a KFP DSL one `submit` takes), a
    YAML or JSON file, anything but .ipynb."""
    suffix = path.suffix.lower() if path is not None else ".ipynb"
    if suffix == ".ipynb":
        return None
    fix = "give the path of an .ipynb file"
    if suffix == ".py":
        if _DSL.search(text):
            fix += f" (a KFP DSL script is sent to a cluster with 'kfp-jupyter submit {name}')"
        return Problem(f"{name} is a Python script, not a notebook: {_TAKES}", fix=fix)
    kind = {".yaml": "a YAML file, ", ".yml": "a YAML file, ", ".json": "a JSON file, "}
    return Problem(f"{name} is {kind.get(suffix, '')}not a notebook: {_TAKES}", fix=fix)


def _upgrade(raw: dict[str, Any], name: str) -> dict[str, Any]:
    """An older notebook as version 4, through nbformat; a format nbformat cannot read (a
    newer one, or no number at all) is named as such, not with nbformat's bare complaint."""
    version = raw.get("nbformat")
    if isinstance(version, int) and not isinstance(version, bool) and version > 4:
        raise NotebookError(
            Problem(
                f"{name} is in notebook format {version}, which kfp-jupyter cannot read yet (it "
                "reads format 4, what Jupyter writes, and the older ones)",
                fix="save it in format 4 with the Jupyter that wrote it (e.g. 'jupyter nbconvert "
                f"--to notebook --nbformat 4 {name}')",
            )
        )
    if "nbformat" in raw and (
        not isinstance(version, int) or isinstance(version, bool) or version < 1
    ):
        raise NotebookError(
            Problem(
                f"{name} is not a valid notebook: its 'nbformat' is "
                + (
                    f"the text {version!r}, not a number"
                    if isinstance(version, str)
                    else f"{version!r}, not a format number (1 to 4)"
                ),
                fix="set 'nbformat' to the number 4 (the format Jupyter writes), or open and "
                "re-save it in Jupyter",
            )
        )
    try:
        import nbformat

        nbf: Any = nbformat  # untyped library
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbf.convert(nbf.from_dict(raw), 4)
        upgraded: dict[str, Any] = json.loads(json.dumps(nb))
        return upgraded
    except Exception as e:  # nbformat raises several unrelated types for malformed files
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if isinstance(e, KeyError):
            msg = f"it has no {msg}"
        raise NotebookError(
            Problem(
                f"{name} is not a valid notebook of format {version}: {msg}",
                fix=_FIX,
            )
        ) from None


def _is_text(value: object) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    )


def _check(raw: dict[str, Any], name: str) -> list[Problem]:
    """What the notebook format requires of the parts we read."""
    bad = f"{name} is not a valid notebook"
    if not isinstance(raw.get("metadata", {}), dict):
        return [Problem(f"{bad}: its metadata is not an object", fix=_FIX)]
    cells = raw.get("cells")
    if not isinstance(cells, list):
        return [Problem(f"{bad}: 'cells' is not a list", fix=_FIX)]
    problems: list[Problem] = []
    for i, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict):
            problems.append(Problem(f"{bad}: the cell is not an object", cell=i, fix=_FIX))
            continue
        kind = cell.get("cell_type")
        if kind not in CELL_TYPES:
            problems.append(Problem(f"{bad}: unknown cell type {kind!r}", cell=i, fix=_FIX))
        if not _is_text(cell.get("source")):
            problems.append(
                Problem(f"{bad}: the cell's 'source' is missing or not text", cell=i, fix=_FIX)
            )
        meta = cell.get("metadata", {})
        if not isinstance(meta, dict):
            problems.append(
                Problem(f"{bad}: the cell's metadata is not an object", cell=i, fix=_FIX)
            )
            continue
        tags = meta.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            problems.append(
                Problem(f"{bad}: the cell's tags are not a list of strings", cell=i, fix=_FIX)
            )
            continue
        for tag in tags:
            if "," in tag:
                problems.append(_comma_tag(tag, i))
    return problems


def _comma_tag(tag: str, cell: int) -> Problem:
    """The notebook format forbids commas in tags: say so plainly, with the fix."""
    head, _, rest = tag.partition(":")
    message = f"tag {tag!r} contains ',', which notebook tags cannot hold"
    if head == "packages" and re.search(r",\s*[<>=!~]", rest):
        fix = (
            "a version range cannot be one tag: pin one version (e.g. 'packages:pandas==2.2.3'), "
            'or give the range on the magic line: %%step NAME --packages "pandas>=2,<3"'
        )
        return Problem(message, cell=cell, fix=fix)
    parts = [p.strip() for p in rest.split(",") if p.strip()]
    if head in _KEYED and not all(":" in p for p in parts[1:]):
        return Problem(message, cell=cell, fix=_comma_in_value(head, rest))
    example = " and ".join(f"'{head}:{p}'" for p in parts[:2]) if parts else "one tag per value"
    return Problem(message, cell=cell, fix=f"use one tag per value: {example}")


#: tags of `KEY:VALUE` pairs: a ',' followed by no other pair is inside a value, not between two
_KEYED = frozenset({"annotation", "label", "limit", "secret"})


def _comma_in_value(head: str, rest: str) -> str:
    """The fix for a tag whose value holds a ',': no tag can say it, splitting it would say
    another thing."""
    if head != "annotation":
        return f"write the {head}'s value without ','"
    key, _, value = rest.partition(":")
    magic = shlex.quote(f"{key}={value}")
    return (
        "an annotation whose value holds a ',' cannot be a tag: give it on the magic line "
        f"(%%step NAME --annotation {magic}), or write the value without ','"
    )


def parse_notebook_text(text: str, path: Path | None = None) -> NotebookFile:
    """Parse and check notebook JSON; anything that is not a valid notebook is a NotebookError."""
    return from_nbformat(notebook_json(text, path), path)


def from_nbformat(nb: Any, path: Path | None = None) -> NotebookFile:
    """Cells of a notebook already parsed (nbformat's NotebookNode or plain version-4 JSON)."""
    cells = []
    for i, c in enumerate(nb.get("cells", []), start=1):
        src = c.get("source", "")
        if isinstance(src, list):
            src = "".join(src)
        meta = c.get("metadata", {}) or {}
        tags = tuple(str(t) for t in meta.get("tags", []) or [])
        ref = meta.get("notebook_path")
        cells.append(
            Cell(
                index=i,
                kind=str(c.get("cell_type", "code")),
                source=src,
                tags=tags,
                notebook_path=None if ref is None else (ref if isinstance(ref, str) else ""),
            )
        )
    return NotebookFile(path=path, cells=tuple(cells), metadata=dict(nb.get("metadata", {})))
