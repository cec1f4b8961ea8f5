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
from ...components.spec import IR_TYPE_OF
from ..kfp_shared import TaskArgument, check_kfp, kfp_programs, kfp_spec, task_arguments
from ..shared import compact, k8s_name
from . import containers, launcher, platform, settings
from .names import artifact_type, io_definitions, struct_value, unique

if TYPE_CHECKING:
    from ...model import Pipeline, Step
    from ...packaging.program import StepProgram

SCHEMA_VERSION = "2.1.0"


@dataclass
class _Ir:
    components: dict[str, object] = field(default_factory=dict)
    executors: dict[str, object] = field(default_factory=dict)
    tasks: dict[str, dict[str, object]] = field(default_factory=dict)
    platform: dict[str, dict[str, object]] = field(default_factory=dict)
    #: each Python step's program (kfp_shared.kfp_programs)
    programs: dict[str, StepProgram] = field(default_factory=dict)
    #: step name -> task name; volume name -> the task that creates it
    step_tasks: dict[str, str] = field(default_factory=dict)
    volume_tasks: dict[str, str] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)

    def add(
        self, task_name: str, component: dict[str, object], container: dict[str, object]
    ) -> dict[str, object]:
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
        constants = platform.create_pvc_arguments(v)
        task["inputs"] = {
            "parameters": {k: {"runtimeValue": {"constant": c}} for k, c in constants.items()}
        }
        task["cachingOptions"] = {}  # a new claim for each run
        task["taskInfo"] = {"name": f"volume-{v.name}"}


def _python_component(pipeline: Pipeline, prog: StepProgram) -> dict[str, object]:
    types = {p.name: p.type for p in pipeline.parameters}
    inputs: dict[str, dict[str, object]] = {}
    outputs: dict[str, dict[str, object]] = {}
    for a in prog.args:
        side = inputs if a.kind in ("parameter", "value", "input", "path") else outputs
        if a.kind in ("parameter", "value", "export_value"):
            param_type = types[a.name] if a.kind == "parameter" else a.type
            side.setdefault("parameters", {})[a.arg] = {"parameterType": IR_TYPE_OF[param_type]}
        else:
            schema = "system.Metrics" if a.kind == "metrics" else "system.Artifact"
            side.setdefault("artifacts", {})[a.arg] = artifact_type(schema)
    return io_definitions(inputs, outputs)


def _task_inputs(ir: _Ir, arguments: list[TaskArgument]) -> dict[str, dict[str, object]]:
    inputs: dict[str, dict[str, object]] = {}
    for t in arguments:
        group = "parameters"
        ref: object
        task = ir.step_tasks.get(t.producer, "")
        if t.source == "literal":
            ref = {"runtimeValue": {"constant": struct_value(t.value)}}
        elif t.source == "parameter":
            ref = {"componentInputParameter": t.value}
        elif t.by_value:
            ref = {"taskOutputParameter": {"producerTask": task, "outputParameterKey": t.key}}
        else:
            group = "artifacts"
            ref = {"taskOutputArtifact": {"producerTask": task, "outputArtifactKey": t.key}}
        inputs.setdefault(group, {})[t.input] = ref
    return inputs


def _step_task(pipeline: Pipeline, ir: _Ir, step: Step, runtime: str) -> None:
    name = unique(k8s_name(step.name), ir.taken)
    ir.step_tasks[step.name] = name
    prog = ir.programs.get(step.name)
    if prog is not None:
        packages = tuple(step.packages)
        container = launcher.python_container(
            step.image, packages, runtime, prog.function, prog.kfp_function()
        )
        task = ir.add(name, _python_component(pipeline, prog), container)
        env: dict[str, str] = {}
    else:
        spec = kfp_spec(step)
        # a component runs in the image the notebook gives it, kubectl in its own
        image = step.image if step.resource is None else spec.container.image
        container, env = containers.container(spec, image)
        task = ir.add(name, containers.definitions(spec), container)
    # each mounted volume's path, in the variable every target sets (model.Volume.env)
    env.update((pipeline.volume(m.volume).env, m.path) for m in step.mounts)
    env_list = [{"name": k, "value": v} for k, v in env.items()]
    container.update(compact({"env": env_list, "resources": settings.resources(step)}))
    dependencies = {ir.step_tasks[a] for a in step.after} | {
        ir.step_tasks[i.producer] for i in step.inputs
    }
    dependencies |= {ir.volume_tasks[m.volume] for m in step.mounts if m.volume in ir.volume_tasks}
    inputs = _task_inputs(ir, task_arguments(pipeline, step, ir.programs))
    task.update(compact({"inputs": inputs, "dependentTasks": sorted(dependencies)}))
    task.update(settings.task_options(step))
    k8s = platform.executor_config(pipeline, step, ir.volume_tasks)
    if k8s:
        ir.platform[f"exec-{name}"] = k8s


def _root_inputs(pipeline: Pipeline) -> dict[str, object]:
    return {
        "parameters": {
            p.name: {
                "parameterType": IR_TYPE_OF[p.type],
                "defaultValue": struct_value(p.default),
                "isOptional": True,
            }
            for p in pipeline.parameters
        }
    }


def build(pipeline: Pipeline, runtime: str) -> list[dict[str, object]]:
    """The IR's documents: the PipelineSpec, and a PlatformSpec when any step has Kubernetes
    settings. `runtime` is the kfp runtime each Python step installs (a version or a requirement)."""
    check_kfp(pipeline)
    ir = _Ir(programs=kfp_programs(pipeline))
    _volume_tasks(pipeline, ir)
    for step in pipeline.steps:
        _step_task(pipeline, ir, step, runtime)
    info = {"name": pipeline.name, **compact({"description": pipeline.description})}
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
