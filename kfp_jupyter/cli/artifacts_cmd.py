"""experiments list, artifacts get: what the local runs are grouped under, and the data they
stored, copied out to a file."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import click

from ..analysis.wiring import FORMAT_OF_TYPE
from ..components.spec import ValueType
from ..errors import KfpJupyterError, UsageError
from ..fileio import copy_atomically
from .common import handle_errors
from .local_common import history_of, rich_console, store_option, timestamp

if TYPE_CHECKING:
    from ..engine.history import ArtifactRow
    from ..engine.storebase import Store


@click.group("experiments")
def experiments_group() -> None:
    """Experiments: the names runs are grouped under."""


@experiments_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array (for tools).")
@store_option
@handle_errors
def experiments_list(as_json: bool, store: str | None) -> None:
    """List experiments with their number of runs."""
    from rich.table import Table
    from rich.text import Text

    from ..engine.report import iso

    _, history = history_of(store)
    rows = history.experiments()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "name": e.name,
                        "runs": e.runs,
                        "created": iso(e.created),
                        "last_run": iso(e.last_run),
                    }
                    for e in rows
                ],
                indent=2,
            )
        )
        return
    if not rows:
        click.echo("no experiments")
        return
    table = Table("experiment", "runs", "last run", box=None, pad_edge=False)
    for e in rows:
        table.add_row(Text(e.name), str(e.runs), timestamp(e.last_run))
    rich_console().print(table)


@click.group("artifacts")
def artifacts_group() -> None:
    """The data steps hand on to each other, as stored by runs."""


@artifacts_group.command("get")
@click.argument("run_id", metavar="RUN_ID|latest")
@click.argument("step")
@click.argument("variable")
@click.option(
    "-o",
    "--output",
    # a str, not a click.Path: a Path drops the trailing "/" that says "a folder to write into"
    type=str,
    default=None,
    metavar="PATH",
    help="The file to write, or a folder to write into (one that exists, or a path ending in "
    "'/'), or - for standard output. Default: the stored file's name (VARIABLE.EXT, or "
    "VARIABLE) in the current folder.",
)
@store_option
@handle_errors
def artifacts_get(
    run_id: str, step: str, variable: str, output: str | None, store: str | None
) -> None:
    """Copy VARIABLE as saved by STEP in a run to a file (.npy, .parquet, .joblib, .json, ...;
    a component's or container's output file as it wrote it; a notebook step's executed notebook
    as .ipynb or .html, as -o's suffix says, or both into a folder)."""
    st, history = history_of(store)
    run = history.get_run(run_id)
    history.task(run.id, step)  # a clear error for an unknown step
    arts = {a.name: a for a in history.artifacts(run.id, step)}
    art = arts[_output_name(arts, variable, step, run.id)]
    sources = _stored_files(st, art)
    if output == "-":
        _to_stdout(sources)
        return
    for source, target in _targets(output, sources):
        _copy(source, target)
        kind = art.type if len(sources) == 1 else source.suffix.lstrip(".")
        click.echo(
            f"wrote {target} ({kind}, {source.stat().st_size} bytes, {art.digest[:19]}...)",
            err=True,
        )


#: the formats a Python step writes a variable in for a component (analysis/wiring.py names
#: that output VARIABLE__FORMAT, `rows__csv`, or VARIABLE__TYPE for a value, `n__int`, with `_`s
#: after it while the name is taken)
_EXPORT_SUFFIXES = frozenset({"auto", *FORMAT_OF_TYPE.values(), *get_args(ValueType)})


def _output_name(arts: Mapping[str, ArtifactRow], variable: str, step: str, run_id: str) -> str:
    """The stored output `variable` names: itself, or the one file a Python step wrote of that
    variable for a component (`rows` for `rows__csv`), which is what the notebook calls it."""
    if variable in arts:
        return variable
    exported = [n for n, a in arts.items() if _is_export_of(n, a, variable)]
    if len(exported) == 1:
        return exported[0]
    if exported:
        raise UsageError(
            f"step {step!r} of run {run_id} wrote {variable!r} for components in several "
            f"formats ({', '.join(exported)}): give the output's whole name, one of those"
        )
    have = ", ".join(arts) or "none (it has not finished, or hands nothing on)"
    exports = [n for n, a in arts.items() if _is_export_of(n, a, n.partition("__")[0])]
    hint = (
        f"; an output named VARIABLE__FORMAT ({exports[0]}) is a variable written for a "
        f"component, and its variable's name ({exports[0].partition('__')[0]}) finds it"
        if exports
        else ""
    )
    raise UsageError(
        f"step {step!r} of run {run_id} has no output {variable!r} (its outputs: {have}){hint}"
    )


def _is_export_of(name: str, art: ArtifactRow, variable: str) -> bool:
    """Whether output `name` is `variable` written for a component: named as the wiring names
    such a file, and recorded as the bare file it is (a variable of the notebook's own named
    `data__raw` or `data__csv` is saved as VARIABLE.EXT: never taken for an export of `data`)."""
    prefix = variable + "__"
    if not name.startswith(prefix) or art.type != "file":
        return False
    return name[len(prefix) :].rstrip("_") in _EXPORT_SUFFIXES


def _stored_files(st: Store, art: ArtifactRow) -> list[Path]:
    """The files of the artifact to hand out: a Python step saves VARIABLE.EXT, a component,
    container or export output is the bare file VARIABLE, as the step wrote it, and a notebook
    step's executed notebook is VARIABLE.ipynb and VARIABLE.html."""
    hex_digest = art.digest.split(":", 1)[1]
    try:
        folder = st.artifact_path(hex_digest)  # a remote store fetches it first
    except FileNotFoundError as e:
        raise _missing(st, art) from e
    if not folder.is_dir():
        raise _missing(st, art)
    _check_intact(st, art)
    entries = sorted(folder.iterdir())
    files = [p for p in entries if p.is_file()]
    named = [p for p in files if p.name.startswith(art.name + ".")]
    exact = [p for p in files if p.name == art.name]
    chosen = named or exact or (files if len(entries) == 1 else [])
    if not chosen:
        what = ", ".join(p.name + ("/" if p.is_dir() else "") for p in entries) or "nothing"
        raise UsageError(
            f"the artifact {art.step}/{art.name} of run {art.run_id} is not one file to copy "
            f"(it holds: {what}); its files are in {folder}"
        )
    return chosen


def _missing(st: Store, art: ArtifactRow) -> KfpJupyterError:
    """Bytes deleted from the store by hand (a kept run's are never removed by `runs gc`)."""
    return KfpJupyterError(
        f"the output {art.name!r} of step {art.step!r} in run {art.run_id} is no longer in the "
        f"store: its files ({st.artifact_uri(art.digest.split(':', 1)[1])}) are gone. Run the "
        f"notebook again: step {art.step!r} runs again (the cache cannot reuse what is gone), "
        f"then `kfp-jupyter artifacts get latest {art.step} {art.name}`"
    )


def _targets(output: str | None, sources: list[Path]) -> list[tuple[Path, Path]]:
    """Each stored file to copy and where to: into `output` when it is a folder (it exists as
    one or ends in a path separator, as typed: `-o results/`; the current folder without -o),
    else to the file `output`, which, when the output is stored as several files (an executed
    notebook's .ipynb and .html), is the one with its suffix."""
    if output is None:
        return [(s, Path.cwd() / s.name) for s in sources]
    if output.endswith(("/", os.sep)) or Path(output).is_dir():
        return [(s, Path(output) / s.name) for s in sources]
    target = Path(output)
    if len(sources) == 1:
        _check_suffix(output, sources[0])
        return [(sources[0], target)]
    suffix = target.suffix.lower()
    same = [s for s in sources if s.suffix.lower() == suffix]
    if len(same) != 1:
        kinds = " or ".join(s.suffix for s in sources)
        raise UsageError(
            f"-o {output}: this output is stored as {', '.join(s.name for s in sources)}; give "
            f"-o a file name ending in {kinds} for one of them, or a folder (ending in '/') "
            "for all"
        )
    return [(same[0], target)]


#: suffixes that name a data format: a file named so is read as that format, so -o may not give
#: one to a file stored in another (Parquet bytes in `x.csv` fail far from here, or mislead)
_DATA_SUFFIXES = frozenset(
    {".csv", ".tsv", ".json", ".jsonl", ".txt", ".npy", ".npz", ".parquet", ".feather", ".arrow"}
    | {".joblib", ".pkl", ".pickle", ".pt", ".pth", ".h5", ".hdf5", ".xlsx", ".xls", ".ipynb"}
    | {".html", ".yaml", ".yml", ".zip", ".gz"}
)
#: two names of one format
_SAME_FORMAT = {".pickle": ".pkl", ".pth": ".pt", ".hdf5": ".h5", ".yml": ".yaml"}


def _check_suffix(output: str, source: Path) -> None:
    """Refuse an -o whose suffix names a format other than the stored file's (a file stored
    without a suffix, a component's output, is copied under any name)."""
    wanted, stored = Path(output).suffix.lower(), source.suffix.lower()
    same = _SAME_FORMAT.get(wanted, wanted) == _SAME_FORMAT.get(stored, stored)
    if not stored or same or wanted not in _DATA_SUFFIXES:
        return
    fixed = Path(output).with_suffix(source.suffix)
    raise UsageError(
        f"-o {output}: this output is stored as {stored.lstrip('.')} ({source.name}), not "
        f"{wanted.lstrip('.')}; give -o {fixed} (or a name without a suffix, or a folder ending "
        "in '/'); nothing was written"
    )


def _to_stdout(sources: list[Path]) -> None:
    """`-o -`: the stored bytes to standard output, for a pipe (`| head`, `| jq`)."""
    if len(sources) != 1:
        raise UsageError(
            f"-o -: this output is stored as {', '.join(s.name for s in sources)}; give -o a "
            f"file name ending in {' or '.join(s.suffix for s in sources)} for one of them, or "
            "a folder (ending in '/') for all"
        )
    try:
        with sources[0].open("rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    except BrokenPipeError:  # the reader had enough (`| head`): as cat, stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush
        sys.exit(0)


def _copy(source: Path, target: Path) -> None:
    """Copy through a temporary file beside `target`, so that a failed or interrupted copy
    leaves no half-written file."""
    try:
        copy_atomically(source, target)
    except OSError as e:
        where = (
            f"{e.filename}: " if e.filename and not Path(e.filename).name.endswith(".tmp") else ""
        )
        raise UsageError(
            f"cannot write {target} ({where}{e.strerror or e}); give -o a file or folder you "
            "can write"
        ) from e


def _check_intact(st: Store, art: ArtifactRow) -> None:
    """Refuse to hand out an artifact whose bytes no longer match the digest it is known by."""
    from ..engine.storelayout import ArtifactChangedError

    problem = st.verify_artifact(art.digest.split(":", 1)[1])
    if problem is not None:
        raise ArtifactChangedError(
            f"the artifact {art.step}/{art.name} of run {art.run_id} ({art.uri}) does not match "
            f"its digest {art.digest[:19]}...: {problem}. Run the notebook again to compute it "
            "afresh (a cached run notices it and re-runs the step)"
        )
