"""The `kfp-jupyter` command. Each command lives in its own module and only calls the Python API."""

from __future__ import annotations

import click

from .._version import __version__
from . import run_cmd, submit_cmd, targets_cmd
from .commands import compile_cmd, compose_cmd, convert_cmd, inspect_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="kfp-jupyter")
def cli() -> None:
    """Turn an annotated Jupyter notebook into a Kubeflow Pipelines pipeline.

    Exit status: 0 success, 1 failure while running, 2 invalid notebook or arguments.
    """


cli.add_command(inspect_cmd)
cli.add_command(compile_cmd)
cli.add_command(convert_cmd)
cli.add_command(compose_cmd)

run_cmd.register(cli)
submit_cmd.register(cli)
targets_cmd.register(cli)


def main() -> None:
    cli(prog_name="kfp-jupyter")


if __name__ == "__main__":
    main()
