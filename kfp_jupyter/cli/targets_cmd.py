"""targets add|list|show|remove: the saved targets `submit --target NAME` sends to.

Only calls kfp_jupyter.cluster.targets; a bad name, field or an unknown target exits 2.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from ..cluster.engines import ENGINES
from .common import handle_errors

if TYPE_CHECKING:
    from ..cluster.targets import Target

_ENGINE_HELP = "kfp: a Kubeflow Pipelines 2.x deployment; argo: Argo Workflows (Kubernetes API)."


def _describe(target: Target) -> str:
    """One target as `field: value` lines, empty fields left out."""
    rows = [(k, v) for k, v in target.to_json().items() if v]
    return "\n".join(f"{k}: {v}" for k, v in rows)


@click.group("targets")
def targets_group() -> None:
    """Saved targets: a cluster's engine, host, namespace, experiment, UI address and the NAME of
    the environment variable holding its token (never the token). Use one with
    `kfp-jupyter submit NOTEBOOK --target NAME`, `%kfp submit --target NAME` or the widget."""


@targets_group.command("add")
@click.argument("name")
@click.option("--engine", type=click.Choice(list(ENGINES)), required=True, help=_ENGINE_HELP)
@click.option(
    "--host",
    metavar="URL",
    help="kfp: the KFP API address; argo: the Kubernetes API server (default: kubeconfig's).",
)
@click.option("--namespace", metavar="NS", help="The namespace runs are created in.")
@click.option("--experiment", metavar="NAME", help="The experiment runs are recorded under.")
@click.option("--ui-url", metavar="URL", help="Where the UI is, for the printed link.")
@click.option(
    "--token-env",
    metavar="VAR",
    help="The NAME of the environment variable holding the bearer token (the token itself is "
    "never stored).",
)
@click.option("--replace", is_flag=True, help="Overwrite a target of the same name.")
@handle_errors
def targets_add(
    name: str,
    engine: str,
    host: str | None,
    namespace: str | None,
    experiment: str | None,
    ui_url: str | None,
    token_env: str | None,
    replace: bool,
) -> None:
    """Save a target called NAME.

    \b
    kfp-jupyter targets add prod --engine kfp --host https://kfp.example.com \\
        --namespace team-a --experiment nightly --token-env KFP_TOKEN
    """
    from ..cluster.targets import Target, add_target, targets_path

    target = Target(name, engine, host, namespace, experiment, ui_url, token_env)
    saved = add_target(target, replace=replace)
    click.echo(f"saved target {saved.name!r} ({saved.engine}) in {targets_path()}", err=True)


@targets_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for tools).")
@handle_errors
def targets_list(as_json: bool) -> None:
    """List the saved targets (the one submitted to last is marked with *)."""
    from ..cluster.targets import last_target, load_targets

    targets, last = load_targets(), last_target()
    if as_json:
        out = {"targets": [t.to_json() for t in targets.values()], "last": last}
        click.echo(json.dumps(out, indent=2))
        return
    if not targets:
        click.echo(
            "no saved targets; add one: kfp-jupyter targets add NAME --engine kfp --host URL"
        )
        return
    for t in targets.values():
        mark = "*" if t.name == last else " "
        where = " ".join(x for x in (t.host, t.namespace and f"namespace={t.namespace}") if x)
        click.echo(f"{mark} {t.name}  {t.engine}  {where}".rstrip())


@targets_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for tools).")
@handle_errors
def targets_show(name: str, as_json: bool) -> None:
    """Show the saved target NAME."""
    from ..cluster.targets import get_target

    target = get_target(name)
    click.echo(json.dumps(target.to_json(), indent=2) if as_json else _describe(target))


@targets_group.command("remove")
@click.argument("name")
@handle_errors
def targets_remove(name: str) -> None:
    """Forget the saved target NAME."""
    from ..cluster.targets import remove_target

    remove_target(name)
    click.echo(f"removed target {name!r}", err=True)
