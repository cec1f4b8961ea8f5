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
from typing import Any

from ..components.render import Filler, RenderError, render, render_one
from ..components.spec import walk
from ..errors import NotebookError, Problem
from ..model import Pipeline, Step
from ..params import value_text

#: The fixed paths the plain step program uses when it runs without an argument file.
ROOT = "/tmp/kfpj"
INPUTS = f"{ROOT}/inputs"
OUTPUTS = f"{ROOT}/outputs"


def outputs_volume(pipeline: Pipeline) -> str:
    """The emptyDir's name: one no volume of the pipeline has."""
    taken = {volume_name(v.name, v.claim) for v in pipeline.volumes}
    name = "kfpj-outputs"
    while name in taken:
        name += "-x"
    return name


def volume_name(name: str, claim: str | None) -> str:
    """The pod volume's name (a DNS label) for a pipeline volume."""
    if claim is None:
        return name
    return re.sub(r"[^a-z0-9-]", "-", claim)[:63].strip("-") or "claim"


def volume_mounts(pipeline: Pipeline, step: Step) -> list[dict[str, Any]]:
    out = []
    for m in step.mounts:
        v = pipeline.volume(m.volume)
        out.append({"name": volume_name(v.name, v.claim), "mountPath": m.path})
    return out


def secret_env(step: Step) -> list[dict[str, Any]]:
    return [
        {"name": s.env, "valueFrom": {"secretKeyRef": {"name": s.secret, "key": s.key}}}
        for s in step.secrets
    ]


def volume_env(pipeline: Pipeline, step: Step) -> list[dict[str, Any]]:
    return [{"name": pipeline.volume(m.volume).env, "value": m.path} for m in step.mounts]


def workflow_volumes(pipeline: Pipeline) -> dict[str, Any]:
    """volumeClaimTemplates (a claim made for each run) and volumes (existing claims)."""
    spec: dict[str, Any] = {}
    templates = []
    existing = []
    for v in pipeline.volumes:
        if v.claim is None:
            claim_spec: dict[str, Any] = {
                "accessModes": [v.access_mode],
                "resources": {"requests": {"storage": v.size}},
            }
            if v.storage_class:
                claim_spec["storageClassName"] = v.storage_class
            templates.append({"metadata": {"name": v.name}, "spec": claim_spec})
        else:
            existing.append(
                {
                    "name": volume_name(v.name, v.claim),
                    "persistentVolumeClaim": {"claimName": v.claim},
                }
            )
    if templates:
        spec["volumeClaimTemplates"] = templates
    if existing:
        spec["volumes"] = existing
    return spec


def _problem(step: Step, message: str, fix: str) -> NotebookError:
    return NotebookError(Problem(message, step=step.name, fix=fix))


def component_template(
    pipeline: Pipeline, step: Step, name: str, resources: dict[str, Any]
) -> dict[str, Any]:
    call = step.component
    assert call is not None
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
    args = {a.input: a for a in call.arguments}
    kinds = {i.name: i.kind for i in step.inputs}

    def value(key: str) -> str | None:
        a = args.get(key)
        if a is None:
            i = spec.input(key)
            return value_text(i.default) if i.has_default and i.default is not None else None
        if a.kind == "literal":
            return value_text(a.value)
        return "{{inputs.parameters." + key + "}}"

    def input_path(key: str) -> str | None:
        a = args.get(key)
        return f"{INPUTS}/{a.name}" if a is not None and a.kind == "artifact" else None

    fill = Filler(
        value, input_path, lambda key: f"{OUTPUTS}/{call.variable(key)}", "only KFP can fill it in"
    )
    try:
        command = render(spec.container.command, fill)
        arguments = render(spec.container.args, fill)
        env: list[dict[str, Any]] = [
            {"name": k, "value": render_one(v, fill)} for k, v in spec.container.env
        ]
    except RenderError as e:
        raise _problem(step, str(e), "give the component that input") from None

    template: dict[str, Any] = {"name": name}
    inputs: dict[str, Any] = {}
    params = [
        {"name": a.input}
        for a in call.arguments
        if a.kind == "parameter" or (a.kind == "artifact" and kinds.get(a.name) == "value")
    ]
    if params:
        inputs["parameters"] = params
    arts = [
        {"name": a.name, "path": f"{INPUTS}/{a.name}"}
        for a in call.arguments
        if a.kind == "artifact" and kinds.get(a.name) == "path"
    ]
    if arts:
        inputs["artifacts"] = list({a["name"]: a for a in arts}.values())
    if inputs:
        template["inputs"] = inputs
    outputs: dict[str, Any] = {}
    value_outputs = [o for o in spec.outputs if o.passing == "value"]
    # outputs are named after the variables that hold them (a component used twice has the same
    # output keys in both steps; the notebook names them apart)
    if value_outputs:
        outputs["parameters"] = [
            {"name": v, "valueFrom": {"path": f"{OUTPUTS}/{v}"}}
            for v in (call.variable(o.key) for o in value_outputs)
        ]
    if spec.outputs:
        outputs["artifacts"] = [{"name": v, "path": f"{OUTPUTS}/{v}"} for v in call.variables]
    if outputs:
        template["outputs"] = outputs
    container: dict[str, Any] = {"image": step.image}
    if command:
        container["command"] = command
    if arguments:
        container["args"] = arguments
    env += volume_env(pipeline, step) + secret_env(step)
    if env:
        container["env"] = env
    container.update(resources)
    mounts = volume_mounts(pipeline, step)
    scratch = outputs_volume(pipeline)
    if spec.outputs:
        mounts.append({"name": scratch, "mountPath": OUTPUTS})
    if mounts:
        container["volumeMounts"] = mounts
    template["container"] = container
    if spec.outputs:
        template["volumes"] = [{"name": scratch, "emptyDir": {}}]
    return template


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
    out: dict[str, Any] = {}
    if params:
        out["parameters"] = params
    if arts:
        out["artifacts"] = arts
    return out


def resource_template(step: Step, name: str) -> dict[str, Any]:
    r = step.resource
    assert r is not None
    return {"name": name, "resource": {"action": r.action, "manifest": r.manifest}}
