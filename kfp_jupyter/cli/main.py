"""The `kfp-jupyter` command. Each command lives in its own module and only calls the Python API.

A command's module is imported when that command runs (click's documented lazy-group pattern),
so `kfp-jupyter compile` does not pay for the cluster clients' and the run history's imports.
"""

from __future__ import annotations

import importlib

import click

from .._version import __version__

#: command name -> (its module in this package, the click command in that module)
COMMANDS = {
    "inspect": ("commands", "inspect_cmd"),
    "compile": ("commands", "compile_cmd"),
    "convert": ("commands", "convert_cmd"),
    "compose": ("commands", "compose_cmd"),
    "run": ("run_cmd", "run_cmd"),
    "runs": ("runs_cmd", "runs_group"),
    "experiments": ("artifacts_cmd", "experiments_group"),
    "artifacts": ("artifacts_cmd", "artifacts_group"),
    "submit": ("submit_cmd", "submit_cmd"),
    "attach": ("submit_cmd", "attach_cmd"),
    "cancel": ("submit_cmd", "cancel_cmd"),
    "targets": ("targets_cmd", "targets_group"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        command: click.Command = getattr(
            importlib.import_module(f".{where[0]}", __package__), where[1]
        )
        return command


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="kfp-jupyter")
def cli() -> None:
    """Turn an annotated Jupyter notebook into a Kubeflow Pipelines pipeline.

    Exit status: 0 success, 1 failure while running, 2 invalid notebook or arguments.
    """


def main() -> None:
    cli(prog_name="kfp-jupyter")


if __name__ == "__main__":
    main()
