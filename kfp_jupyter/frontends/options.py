"""The options of `run`, `submit` and `attach`, once for every front end.

The CLI builds its click options from these tables (cli/common.py), `%kfp` its argparse options
(jupyter/kfp_args.py), and the server reads the same options as JSON fields (server/base.py), so
that the three cannot drift apart. An option that makes no sense in a front end says so here, with
the reason, and that front end refuses it with the reason rather than as unknown.

Every default means "not given": a flag is off, a value is None, so that the notebook's own
settings (its metadata) still apply whenever an option is left out. What a front end read goes on
to `run_local` and `submit` through `api_keywords`, so a new option is added here and in the
function that takes it, never at each front end's call.

What the front ends then do alike with what they read is here too, so that each shows the same
warnings and errors: the notebook's warnings before a run, and `compile -o`.

This package sits between cluster/ and the front ends: it may import the engines' names from
cluster/, and cli/, jupyter/ and server/ import it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cluster.engines import ENGINES
from ..errors import UsageError
from ..fileio import UnwritableOutput, output_file

if TYPE_CHECKING:
    from ..model import Pipeline

CLI, MAGIC, SERVER = "cli", "magic", "server"
FRONT_ENDS = (CLI, MAGIC, SERVER)

#: how step processes start; `auto` lets the engine choose (fork on Linux)
LAUNCHERS = ("auto", "fork", "subprocess")

_TERMINAL = "it prints one JSON object for tools reading the command's output"
_SERVER_ANSWERS_AT_ONCE = (
    "the server answers at once with the run's id; the panel follows the run from there"
)


@dataclass(frozen=True)
class Option:
    """One option as every front end spells it.

    `kind`: "text", "int", "float" (a positive number), "flag" (off unless given), "off" (a
    `--no-...` flag: None unless given, then False, so a notebook's setting is kept otherwise)
    or "pairs" (repeatable NAME=VALUE). `dest` is the keyword the front ends pass on; `json` the
    server's field (the option's name in snake_case unless said otherwise). `not_for` maps a
    front end to why the option is not one of its options. `own`: the front end uses the value
    itself (parameters are parsed first, --no-pin applies as the notebook is loaded, --wait says
    how the run is followed) instead of passing it on under `dest` (see `api_keywords`).
    `positive`: a number that means nothing unless it is more than 0 (a poll interval of 0 would
    ask the cluster without pause); each front end refuses another as it reads the option, with
    the words of `number_problem`."""

    flag: str
    help: str
    kind: str = "text"
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    short: str | None = None
    dest_name: str | None = None
    json_name: str | None = None
    not_for: Mapping[str, str] = field(default_factory=dict)
    own: bool = False
    positive: bool = False

    @property
    def dest(self) -> str:
        return self.dest_name or self.flag.lstrip("-").replace("-", "_")

    @property
    def json(self) -> str:
        return self.json_name or self.flag.lstrip("-").replace("-", "_")

    @property
    def names(self) -> tuple[str, ...]:
        return (self.short, self.flag) if self.short else (self.flag,)

    def applies_to(self, front_end: str) -> bool:
        return front_end not in self.not_for

    def number_problem(self, value: float) -> str | None:
        """Why `value` cannot be given to this option (None when it can), as every front end
        says it."""
        if not self.positive or 0 < value < math.inf:
            return None
        if self.kind == "int":
            kind = "a whole number"
        else:
            kind = "a number of seconds" if self.metavar == "SECONDS" else "a number"
        return f"{self.flag} {value:g}: give {kind} more than 0"


def _param(help_text: str) -> Option:
    return Option(
        "--param",
        help_text,
        kind="pairs",
        metavar="NAME=VALUE",
        short="-p",
        dest_name="params",
        json_name="params",
        own=True,
    )


def parse_pairs(values: Iterable[str]) -> dict[str, str]:
    """`-p NAME=VALUE` options as text by name (typed later, against the pipeline's parameters);
    a malformed one raises ValueError, which each front end reports in its own way."""
    out: dict[str, str] = {}
    for v in values:
        name, sep, value = v.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"expected NAME=VALUE, got {v!r}")
        out[name.strip()] = value
    return out


EXPERIMENT = Option("--experiment", "Record the run under this experiment.", metavar="NAME")

STORE = Option(
    "--store",
    "Where runs keep artifacts and history: a folder or an fsspec URL such as "
    "s3://bucket/prefix. Default: $KFP_JUPYTER_STORE, else the nearest .kfp-jupyter folder from "
    "here up to the top of the git repository, else a new one at that top (or here, outside a "
    "repository).",
    metavar="PATH_OR_URL",
)

NO_PIN = Option(
    "--no-pin",
    "Do not pin the packages found from the steps' imports to the versions installed here. "
    "Default: the notebook's pin_packages setting, else pinned.",
    kind="off",
    dest_name="pin_packages",
    own=True,
)

KFP_RUNTIME = Option(
    "--kfp-runtime",
    "The kfp runtime each Python step installs on KFP: a version ('2.15.0') or a pip "
    "requirement. Default: the notebook's kfp_runtime setting, else kfp-jupyter's pin.",
    metavar="VERSION",
)

RUN_OPTIONS: tuple[Option, ...] = (
    _param("Set a pipeline parameter (repeatable); the value is parsed as its type."),
    EXPERIMENT,
    Option(
        STORE.flag,
        STORE.help,
        metavar=STORE.metavar,
        not_for={
            SERVER: "the server's runs are in its own store ($KFP_JUPYTER_STORE when it "
            "started), where its panel finds them"
        },
    ),
    Option(
        "--workers",
        "Steps run at the same time. Default: the number of cores.",
        kind="int",
        metavar="N",
        positive=True,
    ),
    Option(
        "--no-cache",
        "Run every step, even if an earlier run has its outputs for the same code, inputs and "
        "parameters.",
        kind="off",
        dest_name="cache",
        json_name="no_cache",
    ),
    Option(
        "--keep-going",
        "After a step fails, still run the steps that do not depend on it.",
        kind="flag",
    ),
    Option(
        "--launcher",
        "How step processes start: from a fork server that has run the notebook's imports "
        "(fast; default on Linux) or as a cold `python step.py` each.",
        choices=LAUNCHERS,
    ),
    Option(
        "--host-exec",
        "Run component and container steps' commands on this machine, without their images "
        "(for when Docker or Podman is not available).",
        kind="flag",
    ),
    Option(
        "--apply-resources",
        "Apply resource steps with kubectl (its current context); by default a local run "
        "touches no cluster and only reports them.",
        kind="flag",
    ),
    NO_PIN,
    Option(
        "--wait",
        "Block until the run ends (without it the cell returns at once and the widget follows "
        "the run).",
        kind="flag",
        own=True,
        not_for={
            CLI: "the command always follows the run to its end: its exit status is the run's",
            SERVER: _SERVER_ANSWERS_AT_ONCE,
        },
    ),
)

SUBMIT_OPTIONS: tuple[Option, ...] = (
    Option(
        "--target",
        "A saved target (kfp-jupyter targets list): its engine, host, namespace, experiment, UI "
        "address and token variable, each overridden by the option of the same name given here.",
        metavar="NAME",
    ),
    Option(
        "--engine",
        "kfp: a Kubeflow Pipelines 2.x deployment; argo: Argo Workflows through the Kubernetes "
        "API. Default: the --target's engine, else argo for an Argo Workflow YAML, else kfp.",
        choices=ENGINES,
    ),
    Option(
        "--host",
        "kfp: the KFP API address (default: $KF_PIPELINES_ENDPOINT, then the host in kfp's "
        "context file, then the in-cluster service when in a pod). argo: the Kubernetes API "
        "server (default: from kubeconfig).",
        metavar="URL",
    ),
    Option(
        "--namespace",
        "kfp: your profile namespace in multi-user Kubeflow (default: kfp's context file). "
        "argo: where the Workflow is created (default: the kubeconfig context's, else 'default').",
        metavar="NS",
    ),
    Option(
        "--experiment",
        "kfp: the experiment of the run, created if missing (default: the notebook's, else "
        "'Default'). argo: recorded as an annotation.",
        metavar="NAME",
    ),
    Option("--run-name", "The run's name (argo: the name's prefix).", metavar="NAME"),
    _param(
        "Set a pipeline parameter (repeatable); checked against the pipeline's parameters (the "
        "notebook's, or the compiled file's) and parsed as their type before anything is sent."
    ),
    Option(
        "--schedule",
        "Create a recurring run instead of one run. kfp: 6 fields, seconds first "
        "('0 0 9 * * 1-5'); argo: a CronWorkflow, 5 fields ('0 9 * * 1-5').",
        metavar="CRON",
    ),
    Option(
        "--wait",
        "Follow the run until it ends (the command exits 1 if it fails).",
        kind="flag",
        own=True,
        not_for={SERVER: _SERVER_ANSWERS_AT_ONCE},
    ),
    Option(
        "--timeout",
        "With --wait: stop following after SECONDS and exit 124 if the run has not ended "
        "(it is left running in the cluster).",
        kind="float",
        metavar="SECONDS",
        own=True,
        not_for={
            MAGIC: "it bounds --wait for scripts and CI jobs, with exit status 124; a notebook "
            "has no exit status: interrupt the kernel to stop waiting",
            SERVER: "it bounds --wait, and " + _SERVER_ANSWERS_AT_ONCE,
        },
    ),
    Option(
        "--token-env",
        "Read the bearer token from the environment variable VAR (never from the command line).",
        metavar="VAR",
    ),
    Option("--kubeconfig", "argo: the kubeconfig to use.", metavar="PATH"),
    Option("--context", "argo: the kubeconfig context.", metavar="NAME"),
    Option(
        "--ui-url",
        "Where the UI is, for the printed link (kfp default: $KF_PIPELINES_UI_ENDPOINT, else the "
        "host; argo default: from $ARGO_SERVER).",
        metavar="URL",
    ),
    Option(
        "--poll-interval",
        "With --wait: seconds between reads of a KFP run (default 5); argo: length of one watch "
        "request (default 60).",
        kind="float",
        metavar="SECONDS",
        positive=True,
    ),
    Option(
        "--request-timeout",
        "Seconds each request to the server may take in all, retries included (default 30); a "
        "host that never answers fails after this instead of hanging.",
        kind="float",
        metavar="SECONDS",
    ),
    Option(
        "--json",
        "Print one JSON object (for tools).",
        kind="flag",
        dest_name="as_json",
        own=True,
        not_for={
            MAGIC: _TERMINAL + "; the cell shows the run instead",
            SERVER: "the server always answers JSON",
        },
    ),
    KFP_RUNTIME,
    NO_PIN,
)


def _submit_option(dest: str, help_text: str | None = None) -> Option:
    """The option of `submit` passed on under `dest`, with `help_text` where following a run sent
    earlier needs other words (it always follows: there is no --wait to bound)."""
    option = next(o for o in SUBMIT_OPTIONS if o.dest == dest)
    return replace(option, help=help_text) if help_text else option


#: the options of `submit` that say where the cluster is and how to ask it: what following a run
#: sent earlier needs (`%kfp show --run`, `kfp-jupyter attach`), with the same words and defaults
CONNECTION_OPTIONS: tuple[Option, ...] = (
    *(
        _submit_option(dest)
        for dest in ("target", "host", "namespace", "token_env", "kubeconfig", "context", "ui_url")
    ),
    _submit_option(
        "poll_interval",
        "Seconds between reads of a KFP run (default 5); argo: length of one watch request "
        "(default 60).",
    ),
    _submit_option("request_timeout"),
)

#: `kfp-jupyter attach RUN_ID`: follow a run sent earlier (from here, another machine, the
#: JupyterLab panel) to its end, as `submit --wait` follows the run it sends
ATTACH_OPTIONS: tuple[Option, ...] = (
    _submit_option(
        "engine",
        "kfp: RUN_ID is a Kubeflow Pipelines run id; argo: the name of an Argo Workflow. "
        "Default: the --target's engine, else kfp.",
    ),
    *CONNECTION_OPTIONS,
    _submit_option(
        "timeout",
        "Stop following after SECONDS and exit 124 if the run has not ended (it is left running "
        "in the cluster).",
    ),
    _submit_option("as_json"),
)


def api_keywords(table: tuple[Option, ...], given: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords for `run_local` (RUN_OPTIONS), `submit` (SUBMIT_OPTIONS) or `attach`
    (CONNECTION_OPTIONS) from the options a front end read, by `dest`: each option given and not
    the front end's own. One left out, or not given (None, or a flag that is off), is not passed,
    so the function's own default (and the notebook's settings) apply."""
    out: dict[str, Any] = {}
    for o in table:
        value = given.get(o.dest)
        if o.own or value is None or (o.kind == "flag" and value is False):
            continue
        out[o.dest] = value
    return out


# --- what every front end does alike with what it read ------------------------------------------

#: `compile -o -`: the compiled pipeline goes to standard output and no file is written
STDOUT = "-"
_TO_STDOUT = f"-o {STDOUT} for standard output"


def check_submit_options(schedule: str | None, wait: bool) -> None:
    """Options of `submit` that contradict each other, refused in the same words by every front
    end before anything is sent."""
    if schedule is not None and wait:
        raise UsageError(
            "--wait follows one run; a recurring run (--schedule) starts many: drop one of them"
        )


def notebook_warnings(what: object) -> list[str]:
    """The warnings of a notebook's pipeline (a compiled file has none), which every front end
    shows before it acts on the pipeline."""
    return [str(w) for w in getattr(what, "warnings", ())]


def run_warnings(pipeline: Pipeline) -> list[str]:
    """What a local run warns about before it starts: the notebook's warnings, and the secrets
    its steps read that are not set here (on this machine they come from the environment)."""
    unset = sorted({s.env for st in pipeline.steps for s in st.secrets} - set(os.environ))
    if not unset:
        return notebook_warnings(pipeline)
    verb = "is" if len(unset) == 1 else "are"
    secrets = (
        f"steps read secrets from {', '.join(unset)}, which {verb} not set here: on this "
        "machine, secrets come from the environment"
    )
    return [*notebook_warnings(pipeline), secrets]


def compile_output(
    pipeline: Pipeline,
    target: str,
    output: str | None,
    notebook: str | Path | None,
    kfp_runtime: str | None = None,
) -> tuple[str, Path | None]:
    """Compile as `compile [-o OUTPUT]` does in every front end: the text, and the file written
    (None for `-o -`, standard output, where the front end writes the text). Without -o the file
    goes next to the notebook. What `compile_pipeline` refuses about the output it says here in
    the terms of `-o`, with standard output as the other choice."""
    from ..compile import compile_pipeline, default_output

    if output == STDOUT:
        return compile_pipeline(pipeline, target, kfp_runtime=kfp_runtime), None
    default = default_output(notebook, pipeline, target)
    path = default if output is None else output_file(output, default.name, "-o", _TO_STDOUT)
    try:
        return compile_pipeline(pipeline, target, path, kfp_runtime=kfp_runtime), path
    except UnwritableOutput as e:
        raise UnwritableOutput(path, e, "-o", _TO_STDOUT) from None


def compiled_summary(path: Path, target: str, pipeline: Pipeline) -> str:
    n = len(pipeline.steps)
    return f"wrote {path} ({target}, {n} step{'' if n == 1 else 's'})"
