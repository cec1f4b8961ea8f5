"""inspect, compile, convert: the commands that read a notebook and write files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..compile import TARGETS
from ..errors import NotebookError, UsageError
from ..fileio import output_errors, output_file, same_file
from ..frontends.options import compile_output, compiled_summary, notebook_warnings
from ..loader import load_notebook
from .common import handle_errors, kfp_runtime_option, no_pin_option, warn

if TYPE_CHECKING:
    from rich.console import Console


def _show_warnings(pipeline: object) -> None:
    for w in notebook_warnings(pipeline):
        warn(w)


def _inspected(notebook: Path, pin_packages: bool | None) -> dict[str, object]:
    """The pipeline as `inspect --json` prints it. A notebook that cannot become one still
    prints one JSON object for the tool reading stdout, its problems as the JupyterLab server
    answers them (`message`, `problems`), before the error goes on to stderr and exit 2."""
    try:
        return load_notebook(notebook, pin_packages=pin_packages).to_json()
    except NotebookError as e:
        answer = {"message": str(e), "problems": [p.to_json() for p in e.problems]}
        click.echo(json.dumps(answer, indent=2))
        raise


def _console() -> Console:
    """A terminal's width on a terminal; piped (`| less -S`, `> file`, a program), the lines as
    long as they are, since nothing there wraps or cuts them (rich would use 80 columns)."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=_UNCUT)


#: wide enough for any row of a pipeline's table; rich pads nothing to it
_UNCUT = 100_000


@click.command("inspect")
@click.argument("notebook", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for tools).")
@no_pin_option
@handle_errors
def inspect_cmd(notebook: Path, as_json: bool, pin_packages: bool | None) -> None:
    """Show the pipeline as kfp-jupyter understands NOTEBOOK."""
    if as_json:
        click.echo(json.dumps(_inspected(notebook, pin_packages), indent=2))
        return
    pipeline = load_notebook(notebook, pin_packages=pin_packages)
    _show_warnings(pipeline)
    from rich.table import Table

    console = _console()
    console.print(
        f"[bold]{pipeline.name}[/bold]"
        + (f" — {pipeline.description}" if pipeline.description else "")
    )
    if pipeline.parameters:
        console.print(
            "parameters: "
            + ", ".join(f"{p.name}: {p.type} = {p.default!r}" for p in pipeline.parameters)
        )
    if pipeline.metrics:
        console.print("metrics: " + ", ".join(pipeline.metrics))
    table = Table("step", "after", "inputs", "outputs", "parameters", "resources", "cells")
    for s in pipeline.steps:
        table.add_row(
            s.name,
            ", ".join(s.after),
            ", ".join(f"{i.name} ({i.producer})" for i in s.inputs),
            ", ".join(s.outputs),
            ", ".join(s.parameters),
            ", ".join(f"{k}={v}" for k, v in s.limits.items()),
            ", ".join(map(str, s.cells)),
        )
    console.print(table)
    console.print("packages each step installs on a cluster:")
    for s in pipeline.steps:
        console.print(f"  {s.name}: {', '.join(s.packages) or '(none)'}", soft_wrap=True)


@click.command("compile")
@click.argument("notebook", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-t",
    "--target",
    type=click.Choice(list(TARGETS)),
    default="kfp",
    show_default=True,
    help="kfp: KFP v2 IR YAML; argo: Argo Workflow YAML; dsl: a KFP Python script.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(),  # as given: '-', and a trailing '/' that names a folder
    help="Where to write ('-' for standard output). Default: next to the notebook.",
)
@kfp_runtime_option
@no_pin_option
@handle_errors
def compile_cmd(
    notebook: Path,
    target: str,
    output: str | None,
    kfp_runtime: str | None,
    pin_packages: bool | None,
) -> None:
    """Compile NOTEBOOK to a pipeline file. Nothing is written if compilation fails."""
    pipeline = load_notebook(notebook, pin_packages=pin_packages)
    _show_warnings(pipeline)
    text, path = compile_output(pipeline, target, output, notebook, kfp_runtime)
    if path is None:
        sys.stdout.write(text)
        return
    click.echo(compiled_summary(path, target, pipeline), err=True)


@click.command("convert")
@click.argument("notebook", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--to",
    "style",
    type=click.Choice(["tags", "magics"]),
    required=True,
    help="The annotation style to write.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(),  # as given: '-', and '' and a trailing '/' refused in our words
    required=True,
    help="The notebook to write (may be NOTEBOOK itself; '-' for standard output).",
)
@handle_errors
def convert_cmd(notebook: Path, style: str, output: str) -> None:
    """Rewrite NOTEBOOK's annotations as cell tags or as %%step magics. Nothing is written if the
    converted notebook would not read back as the same pipeline."""
    from ..frontends.convert import convert, write_converted

    path = (
        None
        if output == "-"
        else output_file(output, notebook.name, "-o", "-o - for standard output")
    )
    done = convert(notebook, style, path)  # reading fails as a NotebookError, not an OSError
    for note in done.kept:
        warn(str(note))
    if path is None:
        sys.stdout.write(done.text)
    else:
        with output_errors(path, "-o", "-o - for standard output"):
            write_converted(done, notebook, path)
    if done.plain:
        click.echo(
            f"{notebook} is a plain notebook (run whole as one step): nothing to convert; its "
            "parameters and metrics cells keep their tags, which papermill reads"
            + ("" if path is None or same_file(path, notebook) else f" (copied to {path})"),
            err=True,
        )
    elif path is not None:
        # only the cells written in the new style: those left in their own are warned of above
        n = done.cells
        click.echo(f"wrote {path} ({n} cell{'' if n == 1 else 's'} converted to {style})", err=True)


def _step_lists(values: tuple[str, ...], option: str) -> dict[str, list[str]]:
    """`STEP:A,B` options as {STEP: [A, B]} (`STEP:` gives STEP an empty list)."""
    out: dict[str, list[str]] = {}
    for v in values:
        step, sep, rest = v.partition(":")
        if not sep or not step:
            raise click.BadParameter(f"{v!r} must be STEP:NAME[,NAME...]", param_hint=option)
        out.setdefault(step, []).extend(n.strip() for n in rest.split(",") if n.strip())
    return out


@click.command("compose")
@click.argument(
    "notebooks", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--after",
    "after",
    multiple=True,
    metavar="STEP:PREV[,PREV]",
    help="STEP runs after PREV (instead of after the notebook before it); 'STEP:' for none. "
    "Steps are named after the notebooks' file names. Repeatable.",
)
@click.option(
    "--outputs",
    "outputs",
    multiple=True,
    metavar="STEP:VAR[,VAR]",
    help="Variables STEP's notebook hands on; a later notebook whose parameters cell names one "
    "gets it. Repeatable.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("pipeline.ipynb"),
    show_default=True,
    help="The pipeline notebook to write.",
)
@click.option("--name", help="The pipeline's name (default: from the output's file name).")
@click.option("--replace", is_flag=True, help="Overwrite the output if it exists.")
@handle_errors
def compose_cmd(
    notebooks: tuple[Path, ...],
    after: tuple[str, ...],
    outputs: tuple[str, ...],
    output: Path,
    name: str | None,
    replace: bool,
) -> None:
    """Write a pipeline notebook running each of NOTEBOOKS whole, as one step each (in the order
    given, each after the one before it unless --after says otherwise). An existing output is
    kept unless --replace is given; one of NOTEBOOKS never is overwritten."""
    from ..frontends.compose import compose, refuse_an_input, write_composed

    refuse_an_input(notebooks, output)  # said first: --replace does not make it right
    if output.exists() and not replace:
        raise UsageError(
            f"refusing to overwrite {str(output)!r}: it exists; add --replace to overwrite it, "
            "or give another output path with -o"
        )
    nb = compose(
        list(notebooks),
        output,
        after=_step_lists(after, "--after"),
        outputs=_step_lists(outputs, "--outputs"),
        name=name,
    )
    write_composed(nb, output)
    click.echo(f"wrote {output} ({len(notebooks)} notebook steps)", err=True)
