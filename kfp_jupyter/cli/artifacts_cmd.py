"""experiments list, artifacts get: what the local runs are grouped under, and the data they
stored, copied out to a file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import UsageError
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
        table.add_row(e.name, str(e.runs), timestamp(e.last_run))
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
    type=click.Path(path_type=Path),
    default=None,
    help="The file to write (or a folder to write into). Default: ./VARIABLE.EXT",
)
@store_option
@handle_errors
def artifacts_get(
    run_id: str, step: str, variable: str, output: Path | None, store: str | None
) -> None:
    """Copy VARIABLE as saved by STEP in a run to a file (.npy, .parquet, .joblib, .json, ...)."""
    st, history = history_of(store)
    run = history.get_run(run_id)
    history.task(run.id, step)  # a clear error for an unknown step
    arts = {a.name: a for a in history.artifacts(run.id, step)}
    if variable not in arts:
        have = ", ".join(arts) or "none (it has not finished, or hands nothing on)"
        raise UsageError(
            f"step {step!r} of run {run.id} has no output {variable!r} (its outputs: {have})"
        )
    art = arts[variable]
    folder = st.artifact_path(art.digest.split(":", 1)[1])
    _check_intact(st, art)
    files = sorted(p for p in folder.iterdir() if p.name.startswith(variable + "."))
    if not files:
        raise UsageError(f"the artifact {art.uri} holds no file for {variable!r}")
    source = files[0]
    if output is None:
        target = Path.cwd() / source.name
    elif output.is_dir() or str(output).endswith(("/", "\\")):
        output.mkdir(parents=True, exist_ok=True)
        target = output / source.name
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        target = output
    shutil.copyfile(source, target)
    click.echo(
        f"wrote {target} ({art.type}, {source.stat().st_size} bytes, {art.digest[:19]}...)",
        err=True,
    )


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
