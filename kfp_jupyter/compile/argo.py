"""The `argo` target: an Argo `Workflow` for clusters that have Argo Workflows but no KFP.

Each step runs the same plain step program the local engine runs (packaging/program.py) as an Argo
`script` template; the program reads its parameters from KFPJ_PARAM_* variables and its artifacts
from fixed paths under /tmp/kfpj, so the YAML only has to put things where the program looks.
Artifacts travel through the cluster's default artifact repository: the YAML names no bucket, so it
runs unchanged on any cluster whose Argo has one configured.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import textwrap
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..errors import NotebookError, Problem
from ..packaging.program import build_program
from ..packaging.stepmain import _kfpj_argo_text
from ..params import value_text
from ..yamltext import dump_yaml
from .argo_components import (
    INPUTS,
    OUTPUTS,
    ROOT,
    component_arguments,
    component_template,
    container,
    resource_template,
    secret_env,
    volume_env,
    workflow_volumes,
)
from .shared import at_parameter_lines, compact, is_python, k8s_name, pod_metadata

if TYPE_CHECKING:
    from ..model import Parameter, Pipeline, Step

API_VERSION = "argoproj.io/v1alpha1"

METRICS_FILE = f"{OUTPUTS}/metrics.json"
#: Where each metric is also written as one file, so Argo can read it as an output parameter.
METRICS_DIR = f"{ROOT}/metrics"

#: Workflow labels/annotations that say who made the workflow and from which pipeline.
LABEL_PIPELINE = "kfp-jupyter/pipeline"
ANNOTATION_VERSION = "kfp-jupyter/version"
ANNOTATION_NOTEBOOK = "kfp-jupyter/notebook"
ANNOTATION_DESCRIPTION = "workflows.argoproj.io/description"
#: The parameters' types, which Argo does not have (its values are text): compact JSON
#: {"name": "int", ...} in parameter order, so submitting the file checks `-p` values as a
#: notebook's are (cluster/compiled.py reads it).
ANNOTATION_PARAMETERS = "kfp-jupyter/parameters"

#: A parameter value Argo must not see as it is (see `argo_text`) travels as this prefix and the
#: base64 of its UTF-8 text; the step program decodes it (`_kfpj_argo_text`, packaging/stepmain.py).
ENCODED_PREFIX = "kfpj-b64:"
#: What tells a script template's program that decodes such values (stepmain.py defines it).
_DECODER = "def _kfpj_argo_text("
#: The first line of a script template whose program is base64-encoded (`script_source`).
_ENCODED_PROGRAM = (
    "# kfp-jupyter: this step's code contains two opening braces in a row, which Argo would take\n"
)

#: Argo names parameters and artifacts with `[-a-zA-Z0-9_]+`; Python allows non-ASCII identifiers.
_ARGO_FIELD_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")
#: Kubernetes limits object names to 63 characters; Argo appends 5 random ones to generateName.
_GENERATE_NAME_MAX = 63 - 5


def argo_name(step_name: str) -> str:
    """A step's template and task name: Argo allows only letters, digits and '-' there."""
    return step_name.replace("_", "-")


def parameter_value(param: Parameter) -> str:
    """A parameter value as the text the step program parses back (see `_kfpj_param`)."""
    return argo_text(value_text(param.default))


def argo_text(text: str) -> str:
    """A parameter value's text as the Workflow holds it. Argo replaces `{{...}}` in the values it
    passes to a step too (SubstituteParams replaces globals such as `{{workflow.name}}` after a
    task's arguments are copied into the template's inputs), so a value holding '{{' is encoded
    for the step program to decode; so is one that starts with the prefix, so that decoding gives
    back exactly the value given. Every other value is written as it is."""
    if "{{" not in text and not text.startswith(ENCODED_PREFIX):
        return text
    return ENCODED_PREFIX + base64.b64encode(text.encode("utf-8")).decode("ascii")


def given_text(text: str) -> str:
    """The value a Workflow's parameter text stands for: `argo_text` undone, by the decoder the
    step programs run (one decoder, so the two cannot drift apart)."""
    decoded: str = _kfpj_argo_text(text)  # type: ignore[no-untyped-call]
    return decoded


def compiled_here(doc: Mapping[str, Any]) -> bool:
    """Whether kfp-jupyter compiled this Workflow (so its values may be `argo_text`'s); another
    Workflow's values are Argo's own, `{{...}}` in them meant for Argo to replace."""
    meta = doc.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    return isinstance(annotations, Mapping) and ANNOTATION_VERSION in annotations


def decodes_parameters(template: Mapping[str, Any]) -> bool:
    """Whether a template runs a step program that decodes `argo_text`'s values: one that this
    version compiled, not a component's container, nor a program an older version compiled."""
    source = str((template.get("script") or {}).get("source") or "")
    if source.startswith(_ENCODED_PROGRAM):
        encoded = source.partition('"""')[2].partition('"""')[0]
        try:
            source = base64.b64decode("".join(encoded.split())).decode("utf-8")
        except ValueError:
            return False
    return _DECODER in source


def metrics_artifact(step: Step) -> str:
    """The name of a step's metrics artifact: 'metrics' unless a variable of the step has it."""
    return "kfpj-metrics" if "metrics" in step.outputs else "metrics"


def pip_header(packages: Iterable[str]) -> str:
    """Code run before the step program imports anything: install the step's packages."""
    packages = list(packages)
    if not packages:
        return ""
    return (
        "# kfp-jupyter: install this step's packages before anything imports them\n"
        "# (set KFPJ_SKIP_PIP=1 to skip, e.g. in an image that already has them).\n"
        "def _kfpj_pip_install(packages):\n"
        "    import os, subprocess, sys\n"
        "\n"
        '    if os.environ.get("KFPJ_SKIP_PIP") == "1":\n'
        "        return\n"
        "    subprocess.run(\n"
        '        [sys.executable, "-m", "pip", "install", "--quiet", "--no-warn-script-location",'
        " *packages],\n"
        "        check=True,\n"
        "    )\n"
        "\n"
        "\n"
        f"_kfpj_pip_install({packages!r})\n"
        "del _kfpj_pip_install\n"
        "\n"
        "\n"
    )


def script_source(program: str) -> str:
    """The script template's source: the program itself, unless Argo would rewrite it.

    Argo substitutes `{{...}}` anywhere in a template, script source included, and fails on an
    expression it does not know, so user code such as f"{{x}}" would break the workflow. Such a
    program is shipped base64-encoded behind a few lines that decode and run it.
    """
    if "{{" not in program:
        return program
    encoded = base64.b64encode(program.encode("utf-8")).decode("ascii")
    lines = textwrap.wrap(encoded, 76)
    return (
        _ENCODED_PROGRAM
        + "# for one of its own template expressions; so the program is base64-encoded and decoded here.\n"
        "import base64\n"
        "import linecache\n"
        "\n"
        '_kfpj_program = """\n' + "\n".join(lines) + '\n"""\n'
        '_kfpj_program = base64.b64decode(_kfpj_program).decode("utf-8")\n'
        "# its lines, for the error report to map a failure to its cell and show the line\n"
        'linecache.cache["step.py"] = (\n'
        '    len(_kfpj_program), None, _kfpj_program.splitlines(True), "step.py"\n'
        ")\n"
        'exec(compile(_kfpj_program, "step.py", "exec"), {"__name__": "__main__"})\n'
    )


def _check_names(pipeline: Pipeline) -> None:
    """Problems Argo would reject at submission, reported now with a fix instead."""
    fix_names = "use only ASCII letters, digits and '_' in "
    problems = [
        Problem(
            f"parameter {p.name!r} cannot be an Argo parameter name",
            fix=fix_names + "parameter names",
        )
        for p in pipeline.parameters
        if not _ARGO_FIELD_NAME.match(p.name)
    ]
    for s in pipeline.steps:
        problems += [
            Problem(
                f"variable {name!r} cannot be an Argo artifact or parameter name",
                step=s.name,
                fix=fix_names + "names passed between steps",
            )
            for name in sorted(set(s.outputs) | set(s.input_names) | set(s.metrics))
            if not _ARGO_FIELD_NAME.match(name)
        ]
        seen: dict[str, str] = {}
        for name in s.parameters:
            other = seen.setdefault(name.upper(), name)
            if other != name:
                problems.append(
                    Problem(
                        f"parameters {other!r} and {name!r} differ only in case; the step receives "
                        f"both as the environment variable KFPJ_PARAM_{name.upper()}",
                        step=s.name,
                        fix="rename one of them",
                    )
                )
    if problems:
        raise NotebookError(problems)


def _check_values(pipeline: Pipeline) -> None:
    """A default holding '{{' that a component's or container step's command line takes: Argo
    would replace what it takes for its expressions, and only a step program can decode the
    encoded value (`argo_text`)."""
    problems = [
        (p.name, unencodable(p.name, step, "its default"))
        for p in pipeline.parameters
        if "{{" in value_text(p.default)
        for step in command_line_readers(pipeline, p.name)
    ]
    if problems:
        raise NotebookError(at_parameter_lines(pipeline, problems))


def command_line_readers(pipeline: Pipeline, name: str) -> list[str]:
    """The steps that take parameter `name` on a container's command line, as Argo passes it."""
    return [
        s.name
        for s in pipeline.steps
        if s.component is not None
        and any(a.kind == "parameter" and a.name == name for a in s.component.arguments)
    ]


def unencodable(name: str, step: str, what: str) -> Problem:
    """Why a value holding '{{' cannot reach `step` (what takes it is no step program of ours)."""
    return Problem(
        f"parameter {name!r}: {what} contains '{{{{', which Argo takes for the start of one of "
        "its own expressions and replaces; this step gets the value as Argo passes it, on a "
        "container's command line (Argo has no way to escape '{{')",
        step=step,
        fix=f"give {name!r} a value without '{{{{'",
    )


def _env(step: Step) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": f"KFPJ_PARAM_{p.upper()}", "value": f"{{{{inputs.parameters.{p}}}}}"}
        for p in step.parameters
    ]
    if step.metrics:
        env.append({"name": "KFPJ_METRICS_DIR", "value": METRICS_DIR})
    return env + secret_env(step)


def _step_template(pipeline: Pipeline, step: Step) -> dict[str, Any]:
    if step.kind == "resource":
        body = resource_template(step)
    elif not is_python(step):
        body = component_template(pipeline, step)
    else:
        body = _python_template(pipeline, step)
    template = {
        "name": argo_name(step.name),
        "metadata": pod_metadata(step),
        "inputs": body.pop("inputs", None),
        "outputs": body.pop("outputs", None),
        "activeDeadlineSeconds": str(step.timeout) if step.timeout else None,
        "retryStrategy": {"limit": str(step.retries)} if step.retries else None,
    }
    return {**compact(template), **body}


def _python_template(pipeline: Pipeline, step: Step) -> dict[str, Any]:
    program = build_program(pipeline, step).plain_program(header=pip_header(step.packages))
    inputs = {
        "parameters": [{"name": p} for p in step.parameters],
        "artifacts": [{"name": i.name, "path": f"{INPUTS}/{i.name}"} for i in step.inputs],
    }
    parameters = [{"name": m, "valueFrom": {"path": f"{METRICS_DIR}/{m}"}} for m in step.metrics]
    # a value a component takes on its command line is an output parameter as well
    parameters += [
        {"name": e.name, "valueFrom": {"path": f"{OUTPUTS}/{e.name}"}}
        for e in step.exports
        if e.format == "value"
    ]
    artifacts = [{"name": o, "path": f"{OUTPUTS}/{o}"} for o in step.outputs]
    if step.metrics:
        artifacts.append({"name": metrics_artifact(step), "path": METRICS_FILE})
    script = container(pipeline, step, ["python3"], [], _env(step) + volume_env(pipeline, step))
    script["source"] = script_source(program)
    outputs = {"parameters": parameters, "artifacts": artifacts}
    return compact({"inputs": compact(inputs), "outputs": compact(outputs), "script": script})


def _task(step: Step) -> dict[str, Any]:
    if not is_python(step):
        arguments = component_arguments(step, argo_name) if step.component is not None else {}
    else:
        parameters = [
            {"name": p, "value": f"{{{{workflow.parameters.{p}}}}}"} for p in step.parameters
        ]
        artifacts = [
            {
                "name": i.name,
                "from": f"{{{{tasks.{argo_name(i.producer)}.outputs.artifacts.{i.name}}}}}",
            }
            for i in step.inputs
        ]
        arguments = compact({"parameters": parameters, "artifacts": artifacts})
    task = {
        "name": argo_name(step.name),
        "template": argo_name(step.name),
        "dependencies": sorted(argo_name(a) for a in step.after),
        "arguments": arguments,
    }
    return compact(task)


def _dag_name(pipeline: Pipeline) -> str:
    taken = {argo_name(s.name) for s in pipeline.steps}
    candidates = itertools.chain(
        ["pipeline", "pipeline-dag"], (f"pipeline-dag-{n}" for n in itertools.count(2))
    )
    return next(c for c in candidates if c not in taken)


def workflow(pipeline: Pipeline) -> dict[str, Any]:
    """The Workflow as a plain dict, keys in the order they are written."""
    _check_names(pipeline)
    _check_values(pipeline)
    entry = _dag_name(pipeline)
    annotations = {
        LABEL_PIPELINE: pipeline.name,
        ANNOTATION_VERSION: __version__,
    }
    if pipeline.notebook:
        annotations[ANNOTATION_NOTEBOOK] = re.split(r"[\\/]", pipeline.notebook)[-1]
    if pipeline.description:
        annotations[ANNOTATION_DESCRIPTION] = pipeline.description
    if pipeline.parameters:
        types = {p.name: p.type for p in pipeline.parameters}
        annotations[ANNOTATION_PARAMETERS] = json.dumps(types, separators=(",", ":"))
    spec: dict[str, Any] = {"entrypoint": entry}
    if pipeline.parameters:
        spec["arguments"] = {
            "parameters": [
                {"name": p.name, "value": parameter_value(p)} for p in pipeline.parameters
            ]
        }
    dag = {"name": entry, "dag": {"tasks": [_task(s) for s in pipeline.steps]}}
    spec["templates"] = [dag] + [_step_template(pipeline, s) for s in pipeline.steps]
    spec.update(workflow_volumes(pipeline))
    return {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {
            "generateName": (k8s_name(pipeline.name, _GENERATE_NAME_MAX - 1) or "pipeline") + "-",
            "labels": {LABEL_PIPELINE: k8s_name(pipeline.name, 63) or "pipeline"},
            "annotations": dict(sorted(annotations.items())),
        },
        "spec": spec,
    }


def compile_argo(pipeline: Pipeline) -> str:
    return dump_yaml(workflow(pipeline))
