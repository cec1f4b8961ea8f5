"""The PipelineSpec document (KFP IR schema 2.1.0) built from the pipeline model, top to bottom:
one component, executor and task per step, the tasks wired by the data they hand on.

Each step's task is named after the step, made fit for Kubernetes (`train_tree` -> `train-tree`);
its component and executor take the same name (`comp-train-tree`, `exec-train-tree`). Volumes
made per run come first, as tasks of their own (`createpvc`, `createpvc-2`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..._version import __version__
from ...model import Pipeline, Step
from ...packaging.program import StepProgram, build_program
from . import launcher, platform, settings
from .names import PARAMETER_TYPE, artifact_type, io_definitions, k8s_name, struct_value, unique

if TYPE_CHECKING:
    from ...components.spec import ComponentSpec

SCHEMA_VERSION = "2.1.0"


@dataclass
class _Ir:
    """The parts of both documents, filled step by step."""

    components: dict[str, object] = field(default_factory=dict)
    executors: dict[str, object] = field(default_factory=dict)
    tasks: dict[str, dict[str, object]] = field(default_factory=dict)
    platform: dict[str, dict[str, object]] = field(default_factory=dict)
    #: step name -> task name; volume name -> the task that creates it
    step_tasks: dict[str, str] = field(default_factory=dict)
    volume_tasks: dict[str, str] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)

    def add(
        self, task_name: str, component: dict[str, object], container: dict[str, object]
    ) -> dict[str, object]:
        """A task with its own component and executor; returns the task, to be filled in."""
        component["executorLabel"] = f"exec-{task_name}"
        self.components[f"comp-{task_name}"] = component
        self.executors[f"exec-{task_name}"] = {"container": container}
        task: dict[str, object] = {
            "componentRef": {"name": f"comp-{task_name}"},
            "taskInfo": {"name": task_name},
        }
        self.tasks[task_name] = task
        return task


def _volume_tasks(pipeline: Pipeline, ir: _Ir) -> None:
    for v in pipeline.volumes:
        if v.claim is not None:
            continue
        name = unique("createpvc", ir.taken)
        ir.volume_tasks[v.name] = name
        task = ir.add(name, platform.create_pvc_component(), {"image": platform.CREATE_PVC_IMAGE})
        constants: dict[str, object] = {
            "access_modes": [v.access_mode],
            "pvc_name_suffix": f"-{v.name}",
            "size": v.size,
        }
        if v.storage_class:
            constants["storage_class_name"] = v.storage_class
        task["inputs"] = {
            "parameters": {k: {"runtimeValue": {"constant": c}} for k, c in constants.items()}
        }
        task["cachingOptions"] = {}  # a new claim for each run
        task["taskInfo"] = {"name": f"volume-{v.name}"}


def _from_producer(pipeline: Pipeline, ir: _Ir, producer: str, name: str) -> tuple[str, object]:
    """Where an input comes from: ("parameters" | "artifacts", the IR's reference)."""
    step = pipeline.step(producer)
    key = step.component.key(name) if step.component is not None else name
    task = ir.step_tasks[producer]
    if step.output_kind(name) == "value":
        return "parameters", {
            "taskOutputParameter": {"producerTask": task, "outputParameterKey": key}
        }
    return "artifacts", {"taskOutputArtifact": {"producerTask": task, "outputArtifactKey": key}}


def _python_component(pipeline: Pipeline, prog: StepProgram) -> dict[str, object]:
    types = {p.name: p.type for p in pipeline.parameters}
    inputs: dict[str, dict[str, object]] = {}
    outputs: dict[str, dict[str, object]] = {}
    for a in prog.args:
        if a.kind in ("parameter", "value"):
            param_type = types[a.name] if a.kind == "parameter" else a.type
            inputs.setdefault("parameters", {})[a.arg] = {
                "parameterType": PARAMETER_TYPE[param_type]
            }
        elif a.kind in ("input", "path"):
            inputs.setdefault("artifacts", {})[a.arg] = artifact_type("system.Artifact")
        elif a.kind == "export_value":
            outputs.setdefault("parameters", {})[a.arg] = {"parameterType": PARAMETER_TYPE[a.type]}
        else:
            schema = "system.Metrics" if a.kind == "metrics" else "system.Artifact"
            outputs.setdefault("artifacts", {})[a.arg] = artifact_type(schema)
    return io_definitions(inputs, outputs)


def _python_inputs(
    pipeline: Pipeline, ir: _Ir, step: Step, prog: StepProgram
) -> dict[str, dict[str, object]]:
    producers = {i.name: i.producer for i in step.inputs}
    inputs: dict[str, dict[str, object]] = {}
    for a in prog.args:
        if a.kind == "parameter":
            inputs.setdefault("parameters", {})[a.arg] = {"componentInputParameter": a.name}
        elif a.kind in ("input", "path", "value"):
            group, ref = _from_producer(pipeline, ir, producers[a.name], a.name)
            inputs.setdefault(group, {})[a.arg] = ref
    return inputs


def _component_spec(step: Step) -> tuple[ComponentSpec, str]:
    """The component a non-Python step runs, and its image (the notebook's, for a component)."""
    if step.resource is not None:
        from ...components.steps import kubectl_component

        spec = kubectl_component(step.name, step.resource)
        return spec, spec.container.image
    assert step.component is not None
    return step.component.spec, step.image


def _component_inputs(pipeline: Pipeline, ir: _Ir, step: Step) -> dict[str, dict[str, object]]:
    producers = {i.name: i.producer for i in step.inputs}
    inputs: dict[str, dict[str, object]] = {}
    arguments = step.component.arguments if step.component is not None else ()
    for a in arguments:
        if a.kind == "literal":
            inputs.setdefault("parameters", {})[a.input] = {
                "runtimeValue": {"constant": struct_value(a.value)}
            }
        elif a.kind == "parameter":
            inputs.setdefault("parameters", {})[a.input] = {"componentInputParameter": a.name}
        else:
            group, ref = _from_producer(pipeline, ir, producers[a.name], a.name)
            inputs.setdefault(group, {})[a.input] = ref
    return inputs


def _step_task(pipeline: Pipeline, ir: _Ir, step: Step, runtime: str) -> None:
    name = unique(k8s_name(step.name), ir.taken)
    ir.step_tasks[step.name] = name
    if step.kind in ("python", "notebook"):
        # a notebook step is a Python function too: one that executes the embedded notebook
        prog = build_program(pipeline, step)
        packages = tuple(step.packages)
        container = launcher.python_container(
            step.image, packages, runtime, prog.function, prog.kfp_function()
        )
        task = ir.add(name, _python_component(pipeline, prog), container)
        inputs = _python_inputs(pipeline, ir, step, prog)
        env: dict[str, str] = {}
    else:
        # component support is imported only for the notebooks that have such steps
        from . import containers

        spec, image = _component_spec(step)
        container, env = containers.container(spec, image)
        task = ir.add(name, containers.definitions(spec), container)
        inputs = _component_inputs(pipeline, ir, step)
    if inputs:
        task["inputs"] = inputs
    # each mounted volume's path, in the variable every target sets (model.Volume.env)
    env.update((pipeline.volume(m.volume).env, m.path) for m in step.mounts)
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    resources = settings.resources(step)
    if resources:
        container["resources"] = resources
    task.update(settings.task_options(step))
    dependencies = {ir.step_tasks[a] for a in step.after} | {
        ir.step_tasks[i.producer] for i in step.inputs
    }
    dependencies |= {ir.volume_tasks[m.volume] for m in step.mounts if m.volume in ir.volume_tasks}
    if dependencies:
        task["dependentTasks"] = sorted(dependencies)
    k8s = platform.executor_config(pipeline, step, ir.volume_tasks)
    if k8s:
        ir.platform[f"exec-{name}"] = k8s


def _root_inputs(pipeline: Pipeline) -> dict[str, object]:
    return {
        "parameters": {
            p.name: {
                "parameterType": PARAMETER_TYPE[p.type],
                "defaultValue": struct_value(p.default),
                "isOptional": True,
            }
            for p in pipeline.parameters
        }
    }


def build(pipeline: Pipeline, runtime: str) -> list[dict[str, object]]:
    """The IR's documents: the PipelineSpec, and a PlatformSpec when any step has Kubernetes
    settings. `runtime` is the kfp runtime each Python step installs (a version or a requirement)."""
    ir = _Ir()
    _volume_tasks(pipeline, ir)
    for step in pipeline.steps:
        _step_task(pipeline, ir, step, runtime)
    info: dict[str, object] = {"name": pipeline.name}
    if pipeline.description:
        info["description"] = pipeline.description
    root: dict[str, object] = {"dag": {"tasks": ir.tasks}}
    if pipeline.parameters:
        root["inputDefinitions"] = _root_inputs(pipeline)
    spec: dict[str, object] = {
        "components": ir.components,
        "deploymentSpec": {"executors": ir.executors},
        "pipelineInfo": info,
        "root": root,
        "schemaVersion": SCHEMA_VERSION,
        "sdkVersion": f"kfp-jupyter-{__version__}",
    }
    if pipeline.pipeline_root:
        spec["defaultPipelineRoot"] = pipeline.pipeline_root
    documents = [spec]
    if ir.platform:
        documents.append(platform.platform_spec(ir.platform))
    return documents
