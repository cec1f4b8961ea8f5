"""The Argo side of non-Python steps and volumes: container templates for components and container
cells, `resource` templates for resource cells, and the workflow's volumes.

A component's placeholders become Argo's own: a value is `{{inputs.parameters.KEY}}` (or the
literal itself), an input file is the path where Argo puts the input artifact, an output is a path
in an emptyDir mounted at /tmp/kfpj/outputs (KFP creates output folders for a component; Argo does
not, so the mount gives every output path an existing parent). A value output (Integer, String,
...) is both an output parameter, for the components that take it by value, and an artifact, for
the Python steps that read it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..components.render import RenderError, call_filler, render, render_one
from ..components.spec import walk
from ..errors import NotebookError, Problem
from ..params import value_text
from .shared import compact, unique_name

if TYPE_CHECKING:
    from ..model import ComponentCall, Pipeline, Step

#: The fixed paths the plain step program uses when it runs without an argument file.
ROOT = "/tmp/kfpj"
INPUTS = f"{ROOT}/inputs"
OUTPUTS = f"{ROOT}/outputs"


def outputs_volume(pipeline: Pipeline) -> str:
    taken = set(pod_volume_names(pipeline).values())
    name = "kfpj-outputs"
    while name in taken:
        name += "-x"
    return name


def pod_volume_names(pipeline: Pipeline) -> dict[str, str]:
    """Each pipeline volume's pod volume name (a DNS label), distinct from every other one.

    A volume made for each run keeps its own name (already a DNS label, and the name Argo gives
    its claim); an existing claim's name is made one (`team.claim` -> `team-claim`), numbered
    when that is taken (`-2`, `-3`, ...), in the order the pipeline lists its volumes, so that
    claims `data.v1` and `data-v1` get two volumes, and the same notebook the same names."""
    names = {v.name: v.name for v in pipeline.volumes if v.claim is None}
    taken = set(names.values())
    for v in pipeline.volumes:
        if v.claim is not None:
            names[v.name] = unique_name(_claim_label(v.claim), taken, limit=63)
    return names


def _claim_label(claim: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", claim)[:63].strip("-") or "claim"


def volume_mounts(pipeline: Pipeline, step: Step) -> list[dict[str, Any]]:
    names = pod_volume_names(pipeline)
    return [{"name": names[m.volume], "mountPath": m.path} for m in step.mounts]


def secret_env(step: Step) -> list[dict[str, Any]]:
    return [
        {"name": s.env, "valueFrom": {"secretKeyRef": {"name": s.secret, "key": s.key}}}
        for s in step.secrets
    ]


def volume_env(pipeline: Pipeline, step: Step) -> list[dict[str, Any]]:
    return [{"name": pipeline.volume(m.volume).env, "value": m.path} for m in step.mounts]


def workflow_volumes(pipeline: Pipeline) -> dict[str, Any]:
    templates = []
    existing = []
    names = pod_volume_names(pipeline)
    for v in pipeline.volumes:
        if v.claim is None:
            claim_spec = {
                "accessModes": [v.access_mode],
                "resources": {"requests": {"storage": v.size}},
                **compact({"storageClassName": v.storage_class}),
            }
            templates.append({"metadata": {"name": v.name}, "spec": claim_spec})
        else:
            existing.append(
                {"name": names[v.name], "persistentVolumeClaim": {"claimName": v.claim}}
            )
    return compact({"volumeClaimTemplates": templates, "volumes": existing})


def _problem(step: Step, message: str, fix: str) -> NotebookError:
    return NotebookError(Problem(message, step=step.name, fix=fix))


def resources(step: Step) -> dict[str, Any]:
    limits = dict(sorted(step.limits.items()))
    requests = {k: v for k, v in limits.items() if k in ("cpu", "memory")}
    return compact({"limits": limits, "requests": requests})


def container(
    pipeline: Pipeline,
    step: Step,
    command: list[str],
    args: list[str],
    env: list[dict[str, Any]],
    scratch: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    fields = {
        "image": step.image,
        "command": command,
        "args": args,
        "env": env,
        "resources": resources(step),
        "volumeMounts": volume_mounts(pipeline, step) + (scratch or []),
    }
    return compact(fields)


def component_template(pipeline: Pipeline, step: Step) -> dict[str, Any]:
    """A component's or container cell's template; its outputs are written into an emptyDir,
    since Argo (unlike KFP) does not make their folders."""
    call = step.component
    assert call is not None
    _check_expressions(step, call)
    command, arguments, env = _command_line(step, call)
    env += volume_env(pipeline, step) + secret_env(step)
    scratch = outputs_volume(pipeline)
    mounts = [{"name": scratch, "mountPath": OUTPUTS}] if call.spec.outputs else []
    template = _template_io(step, call)
    template["container"] = container(pipeline, step, command, arguments, env, mounts)
    if call.spec.outputs:
        template["volumes"] = [{"name": scratch, "emptyDir": {}}]
    return template


def _check_expressions(step: Step, call: ComponentCall) -> None:
    """Refuse what Argo cannot run: placeholders only KFP fills, and text Argo would rewrite."""
    spec = call.spec
    for text in spec.unsupported():
        raise _problem(
            step,
            f"component {spec.name!r} uses the placeholder {text}, which only KFP fills in",
            "compile this notebook with the kfp target, or use a component without it",
        )
    literal_text = [p for p in walk(spec.parts) if isinstance(p, str)] + [
        value_text(a.value) for a in call.arguments if a.kind == "literal"
    ]
    if any("{{" in t for t in literal_text):
        raise _problem(
            step,
            "the component's command contains '{{', which Argo would take for one of its "
            "template expressions",
            "compile this notebook with the kfp target",
        )


def _command_line(
    step: Step, call: ComponentCall
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    spec = call.spec
    fill = call_filler(
        call,
        lambda a: "{{inputs.parameters." + a.input + "}}",
        lambda a: f"{INPUTS}/{a.name}",
        lambda variable: f"{OUTPUTS}/{variable}",
        "only KFP can fill it in",
    )
    try:
        return (
            render(spec.container.command, fill),
            render(spec.container.args, fill),
            [{"name": k, "value": render_one(v, fill)} for k, v in spec.container.env],
        )
    except RenderError as e:
        raise _problem(step, str(e), "give the component that input") from None


def _template_io(step: Step, call: ComponentCall) -> dict[str, Any]:
    """The template's `inputs` and `outputs`: a value travels as a parameter, a file as an
    artifact; outputs are named after the variables that hold them (a component used twice has
    the same output keys in both steps; the notebook names them apart)."""
    kinds = {i.name: i.kind for i in step.inputs}
    params = [
        {"name": a.input}
        for a in call.arguments
        if a.kind == "parameter" or (a.kind == "artifact" and kinds.get(a.name) == "value")
    ]
    arts = [
        {"name": a.name, "path": f"{INPUTS}/{a.name}"}
        for a in call.arguments
        if a.kind == "artifact" and kinds.get(a.name) == "path"
    ]
    inputs = {"parameters": params, "artifacts": list({a["name"]: a for a in arts}.values())}
    value_outputs = [call.variable(o.key) for o in call.spec.outputs if o.passing == "value"]
    outputs = {
        "parameters": [{"name": v, "valueFrom": {"path": f"{OUTPUTS}/{v}"}} for v in value_outputs],
        "artifacts": [{"name": v, "path": f"{OUTPUTS}/{v}"} for v in call.variables],
    }
    return compact({"inputs": compact(inputs), "outputs": compact(outputs)})


def component_arguments(step: Step, task_name: Any) -> dict[str, Any]:
    """The dag task's arguments for a component step (`task_name` maps a step to its task)."""
    call = step.component
    assert call is not None
    producers = {i.name: i for i in step.inputs}
    params: list[dict[str, Any]] = []
    arts: list[dict[str, Any]] = []
    for a in call.arguments:
        if a.kind == "parameter":
            params.append({"name": a.input, "value": "{{workflow.parameters." + a.name + "}}"})
        elif a.kind == "artifact":
            i = producers[a.name]
            task = task_name(i.producer)
            if i.kind == "value":
                params.append(
                    {"name": a.input, "value": f"{{{{tasks.{task}.outputs.parameters.{a.name}}}}}"}
                )
            elif all(x["name"] != a.name for x in arts):
                arts.append(
                    {"name": a.name, "from": f"{{{{tasks.{task}.outputs.artifacts.{a.name}}}}}"}
                )
    return compact({"parameters": params, "artifacts": arts})


def resource_template(step: Step) -> dict[str, Any]:
    r = step.resource
    assert r is not None
    return {"resource": {"action": r.action, "manifest": r.manifest}}
