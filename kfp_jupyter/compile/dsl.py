"""The `dsl` target: a readable KFP v2 Python script, one @dsl.component per step and a @dsl.pipeline.

The script is the editable twin of the `kfp` target: run with `python`, it has the kfp SDK write the
same IR that `compile -t kfp` writes (tests/compile/test_kfp_oracle.py holds the two side by side), whichever
kfp SDK runs it. The kfp runtime its steps install is kfp-jupyter's pin, as in the `kfp` target.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .._version import __version__
from ..packaging.program import StepProgram, python_name, unique_identifier
from .kfp_ir.launcher import is_version
from .kfp_ir.platform import create_pvc_arguments
from .kfp_shared import check_kfp, kfp_programs, kfp_spec, task_arguments
from .shared import secrets_by_name

if TYPE_CHECKING:
    from ..model import Parameter, Pipeline, Step

#: module-level names of the script that steps must not take
SCRIPT_NAMES = frozenset(
    {
        "dsl",
        "compiler",
        "kubernetes",
        "kfp",
        "KFP_RUNTIME",
        "sys",
        "Path",
        "Artifact",
        "Input",
        "Output",
        "Metrics",
        "OutputPath",
        "components",
    }
)


def _call(function: str, args: list[str], task: str = "") -> str:
    """The call, assigned to `task` when given; one argument a line when it would be long."""
    assign = f"{task} = " if task else ""
    call = f"{assign}{function}({', '.join(args)})"
    if len(call) > 96 and args:
        call = f"{assign}{function}(\n" + "".join(f"        {x},\n" for x in args) + "    )"
    return call


@dataclass
class _Names:
    """The script's module-level names: those taken, and what the kfp modules are imported as
    (`kubernetes`, unless a pipeline parameter has that name and would hide it in the pipeline's
    function)."""

    taken: set[str]
    kubernetes: str = "kubernetes"
    json_format: str = "json_format"
    #: the decorator that has a component install the pinned kfp runtime (`_runtime_lines`)
    pin_runtime: str = "pin_kfp_runtime"
    #: step name -> the variable of its task
    tasks: dict[str, str] = field(default_factory=dict)


def _names(pipeline: Pipeline) -> _Names:
    params = {p.name for p in pipeline.parameters}
    taken = set(SCRIPT_NAMES) | {python_name(s.name) for s in pipeline.steps} | params
    names = _Names(taken)
    if "kubernetes" in params:
        names.kubernetes = unique_identifier("kfp_kubernetes", taken)
    if _uses_json_format(pipeline):
        names.json_format = unique_identifier("json_format", taken)
    names.pin_runtime = unique_identifier("pin_kfp_runtime", taken)
    return names


def _task_lines(
    pipeline: Pipeline,
    step: Step,
    programs: dict[str, StepProgram],
    task: str,
    names: _Names,
) -> list[str]:
    tasks = names.tasks
    prog = programs.get(step.name)
    args = []
    for t in task_arguments(pipeline, step, programs):
        if t.source == "literal":
            args.append(f"{t.input}={t.value!r}")
        elif t.source == "parameter":
            args.append(f"{t.input}={t.value}")
        else:
            args.append(f"{t.input}={tasks[t.producer]}.outputs[{t.key!r}]")
    function = prog.function if prog is not None else python_name(step.name)
    return [_call(function, args, task), *_settings_lines(step, task, names)]


def _settings_lines(step: Step, task: str, names: _Names) -> list[str]:
    tasks, kubernetes = names.tasks, names.kubernetes
    lines: list[str] = []
    data_producers = {i.producer for i in step.inputs}
    order_only = [a for a in step.after if a not in data_producers]
    if order_only:
        lines.append(f"{task}.after({', '.join(tasks[a] for a in order_only)})")
    if not step.cache:
        lines.append(f"{task}.set_caching_options(False)")
    if step.retries:
        lines.append(f"{task}.set_retry(num_retries={step.retries})")
    for key, value in sorted(step.limits.items()):
        if key in ("cpu", "memory"):
            lines.append(f"{task}.set_{key}_limit({value!r})")
        else:
            lines.append(f"{task}.set_accelerator_type({key!r}).set_accelerator_limit({value!r})")
    if step.timeout:
        lines.append(f"{kubernetes}.set_timeout({task}, {step.timeout})")
    for secret, keys in secrets_by_name(step):
        lines.append(
            f"{kubernetes}.use_secret_as_env({task}, secret_name={secret!r}, secret_key_to_env={keys!r})"
        )
    for k, v in sorted(step.labels.items()):
        lines.append(f"{kubernetes}.add_pod_label({task}, {k!r}, {v!r})")
    for k, v in sorted(step.annotations.items()):
        lines.append(f"{kubernetes}.add_pod_annotation({task}, {k!r}, {v!r})")
    return lines


def uses_kubernetes(pipeline: Pipeline) -> bool:
    return any(
        s.timeout or s.secrets or s.labels or s.annotations or s.mounts for s in pipeline.steps
    )


def spec_text(step: Step) -> str:
    """The component spec a non-Python step runs, as the YAML text the script embeds: a reusable
    component's own file, or a v1-style spec written for a container or resource cell (as KFP
    runs it: kfp_shared.kfp_spec)."""
    from ..components.v1yaml import to_v1_yaml

    if step.resource is None and step.component is not None and step.component.spec.text:
        return step.component.spec.text
    return to_v1_yaml(kfp_spec(step))


def _py_text(text: str) -> str:
    """`text` as a Python string literal: a raw triple-quoted block where that is exact."""
    if "'''" in text or text.endswith(("\\", "'")) or "\r" in text or "\x00" in text:
        return repr(text)
    return "r'''" + text + "'''"


def _spec_comment(step: Step) -> str:
    if step.resource is not None:
        r = step.resource
        return (
            f"# The resource step {step.name!r} (kubectl {r.action} {r.kind}/{r.name}): KFP v2 has "
            "no ResourceOp,\n# so a small component runs kubectl with the manifest."
        )
    if step.kind == "container":
        return (
            f"# The container step {step.name!r} (a ContainerOp-style cell), as a component spec."
        )
    assert step.component is not None
    spec = step.component.spec
    return f"# Component {spec.name!r} from {step.component.source} ({spec.format} spec)."


def _spec_constant(step: Step, taken: set[str]) -> str:
    if step.component is not None and step.component.source:
        base = re.sub(r"[^0-9a-zA-Z]+", "_", step.component.spec.name).strip("_").upper()
    else:
        base = python_name(step.name).upper()
    return unique_identifier(f"{base or 'COMPONENT'}_SPEC", taken)


def _component_lines(
    step: Step, name: str, constants: dict[str, str], taken: set[str]
) -> list[str]:
    """The step's component, loaded from its spec's text (written out once, however many steps
    use it)."""
    text = spec_text(step)
    lines: list[str] = []
    if text not in constants:
        constants[text] = _spec_constant(step, taken)
        lines += [_spec_comment(step), f"{constants[text]} = {_py_text(text)}", "", ""]
    lines += [
        f"{name} = components.load_component_from_text({constants[text]})",
        f"{name}.component_spec.name = {step.name!r}  # KFP names a task after its component",
    ]
    spec_image = step.component.spec.container.image if step.component is not None else None
    if spec_image is not None and step.image != spec_image:
        lines.append(
            f"{name}.component_spec.implementation.container.image = {step.image!r}"
            "  # the notebook's image"
        )
    return lines


def _volume_lines(pipeline: Pipeline, names: _Names) -> tuple[list[str], dict[str, str]]:
    """CreatePVC tasks for the volumes made per run; each volume -> the expression of its claim."""
    lines: list[str] = []
    claims: dict[str, str] = {}
    for v in pipeline.volumes:
        if v.claim is not None:
            claims[v.name] = repr(v.claim)
            continue
        var = unique_identifier(python_name(v.name) + "_pvc", names.taken)
        args = [f"{k}={value!r}" for k, value in create_pvc_arguments(v).items()]
        lines.append(_call(f"{names.kubernetes}.CreatePVC", args, var))
        lines.append(f"{var}.set_display_name({'volume-' + v.name!r})")
        lines.append(f"{var}.set_caching_options(False)  # a new claim for each run")
        claims[v.name] = f"{var}.outputs['name']"
    return lines, claims


def _mount_lines(
    step: Step, task: str, pipeline: Pipeline, claims: dict[str, str], kubernetes: str
) -> list[str]:
    lines: list[str] = []
    for m in step.mounts:
        volume = pipeline.volume(m.volume)
        args = [task, f"pvc_name={claims[m.volume]}", f"mount_path={m.path!r}"]
        lines.append(_call(f"{kubernetes}.mount_pvc", args))
        if volume.claim is None:
            lines.append(f"{task}.after({claims[m.volume].split('.')[0]})")
        lines.append(f"{task}.set_env_variable({volume.env!r}, {m.path!r})")
    return lines


def _runtime_lines(pipeline: Pipeline, names: _Names) -> list[str]:
    """KFP_RUNTIME, the kfp runtime each step installs. A version is installed as the kfp SDK
    installs its own (`'kfp==V' '--no-deps'`, which is what the `kfp` target writes), whichever
    kfp SDK runs the script: each component is decorated to swap the SDK's version for the pin.
    The SDK's own `kfp_package_path` would install the pin with all of kfp's dependencies,
    over the versions a step pins. A requirement is given to `kfp_package_path` as it is."""
    runtime = pipeline.kfp_runtime
    lines = [
        "# The kfp runtime each step installs: kfp-jupyter's pin (kfp_runtime in the notebook's",
    ]
    if not is_version(runtime):
        lines += ["# metadata, or --kfp-runtime), a pip requirement installed as it is."]
        return [*lines, f"KFP_RUNTIME = {runtime!r}", "", ""]
    return [
        *lines,
        "# metadata, or --kfp-runtime), whichever kfp SDK runs this script.",
        f"KFP_RUNTIME = {runtime!r}",
        "",
        "",
        f"def {names.pin_runtime}(component):",
        '    """The component, installing kfp==KFP_RUNTIME where the kfp SDK running this script wrote',
        "    its own version: the same pip line, without kfp's dependencies (`kfp_package_path` would",
        '    install them too, over the versions a step pins)."""',
        "    command = component.component_spec.implementation.container.command",
        '    if command[:2] == ["sh", "-c"]:',
        "        sdk = f\"'kfp=={kfp.__version__}' '--no-deps'\"",
        "        command[2] = command[2].replace(sdk, f\"'kfp=={KFP_RUNTIME}' '--no-deps'\")",
        "    return component",
        "",
        "",
    ]


def _component_decorator(pipeline: Pipeline, prog: StepProgram, names: _Names) -> list[str]:
    settings = f"base_image={prog.step.image!r}, packages_to_install={list(prog.step.packages)!r}"
    if not is_version(pipeline.kfp_runtime):
        return [f"@dsl.component({settings}, kfp_package_path=KFP_RUNTIME)"]
    return [f"@{names.pin_runtime}", f"@dsl.component({settings})"]


def compile_dsl(pipeline: Pipeline) -> str:
    check_kfp(pipeline)
    programs = kfp_programs(pipeline)
    names = _names(pipeline)
    out = _import_lines(pipeline, programs, names)
    if programs:
        out += _runtime_lines(pipeline, names)
    constants: dict[str, str] = {}
    for step in pipeline.steps:
        prog = programs.get(step.name)
        if prog is None:
            out += _component_lines(step, python_name(step.name), constants, names.taken)
        else:
            out += _component_decorator(pipeline, prog, names)
            out.append(prog.kfp_function().rstrip("\n"))
        out += ["", ""]
    func = unique_identifier("pipeline", names.taken)
    out += _pipeline_lines(pipeline, programs, func, names)
    out += _default_lines(pipeline, func, names.json_format)
    return "\n".join(out + _main_lines(pipeline, func, names.json_format))


#: what a YAML comment cannot hold: a line break (which ends it) or a character YAML refuses
_NOT_IN_A_COMMENT = re.compile(
    "[^\t\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def _breaks_kfps_header(pipeline: Pipeline) -> str:
    """What would break the comment kfp's compiler heads its YAML with (the description, and
    each parameter with its default as `str()` writes it), named for the script's comment, or
    "": a str default or a description that holds what a YAML comment cannot. The comment
    would end early, and the file be no YAML."""
    params = [
        p.name
        for p in pipeline.parameters
        if isinstance(p.default, str) and _NOT_IN_A_COMMENT.search(p.default)
    ]
    what = []
    if params:
        names = " and ".join([", ".join(params[:-1]), params[-1]] if len(params) > 1 else params)
        what.append(f"the default{'s' if len(params) > 1 else ''} of {names}")
    if _NOT_IN_A_COMMENT.search("".join(pipeline.description.splitlines())):
        what.append("the pipeline's description")
    if not what:
        return ""
    verb = "holds" if len(what) == 1 and len(params) < 2 else "hold"
    return f"{', and '.join(what)} {verb}"


def _main_lines(pipeline: Pipeline, func: str, json_format: str) -> list[str]:
    lines = [
        "",
        "",
        'if __name__ == "__main__":',
        "    import sys",
        "    from pathlib import Path",
        "",
    ]
    target = '    target = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).with_suffix(".yaml"))'
    breaks = _breaks_kfps_header(pipeline)
    if not breaks:
        return [*lines, target, f"    compiler.Compiler().compile({func}, target)", ""]
    why = (
        "kfp's compiler starts its YAML with a comment that holds the pipeline's description and "
        f"the parameters' defaults as they are, and {breaks} a line break or a character YAML "
        "refuses, which would break that comment and leave a file no YAML reader takes: the IR "
        "is written here as the compiler writes it, less the comment."
    )
    return [
        *lines,
        "    import yaml",
        "",
        target,
        *(f"    # {line}" for line in textwrap.wrap(why, 90)),
        f"    documents = [{json_format}.MessageToDict({func}.pipeline_spec)]",
        f"    if {func}.platform_spec.platforms:",
        f"        documents.append({json_format}.MessageToDict({func}.platform_spec))",
        '    Path(target).write_text(yaml.safe_dump_all(documents, sort_keys=True), encoding="utf-8")',
        "",
    ]


def _import_lines(pipeline: Pipeline, programs: dict[str, StepProgram], names: _Names) -> list[str]:
    source = Path(pipeline.notebook).name if pipeline.notebook else "a notebook"
    out: list[str] = [
        f'"""Pipeline {pipeline.name!r}, generated from {source} by kfp-jupyter {__version__}.',
        "",
        "Each step of the notebook is a lightweight Python component below; edit them freely.",
        "Run `python THIS_FILE [OUTPUT.yaml]` to write the KFP pipeline IR (default: next to this file).",
        '"""',
        "",
    ]
    if _uses_json_format(pipeline):
        out.append(_import("google.protobuf", "json_format", names.json_format))
    modules = ["compiler"] if not _breaks_kfps_header(pipeline) else []
    if len(programs) < len(pipeline.steps):
        modules.append("components")
    out += ["import kfp", f"from kfp import {', '.join([*modules, 'dsl'])}"]
    if uses_kubernetes(pipeline) or pipeline.volumes:
        out.append(_import("kfp", "kubernetes", names.kubernetes))
    dsl_names = ["Artifact", "Input", "Metrics", "Output"]
    if any(p.uses_output_path for p in programs.values()):
        dsl_names.append("OutputPath")
    return [*out, f"from kfp.dsl import {', '.join(dsl_names)}", "", ""]


def _import(package: str, module: str, alias: str) -> str:
    return f"from {package} import {module}" + (f" as {alias}" if alias != module else "")


def _uses_json_format(pipeline: Pipeline) -> bool:
    """Whether the script needs protobuf's json_format: to set a default holding None, or to
    write the IR itself (`_main_lines`)."""
    held = any(_holds_none(p.default) for p in pipeline.parameters)
    return held or bool(_breaks_kfps_header(pipeline))


def _holds_none(value: object) -> bool:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return any(v is None or _holds_none(v) for v in value)
    return False


def _signature_default(p: Parameter) -> str:
    return "None" if _holds_none(p.default) else repr(p.default)


def _default_lines(pipeline: Pipeline, func: str, json_format: str) -> list[str]:
    """Defaults that hold None, set in the IR after the kfp SDK wrote it: the SDK takes no None
    inside a default, the IR holds it (JSON null), as the `kfp` target writes it."""
    held = [p for p in pipeline.parameters if _holds_none(p.default)]
    if not held:
        return []
    listed = ", ".join(p.name for p in held)
    lines = [
        "",
        "",
        f"# The kfp SDK takes no None inside a default, the IR does: the default of {listed}",
        "# (None in the signature above) is set here, in the IR the SDK wrote.",
        f"_defaults = {func}.pipeline_spec.root.input_definitions.parameters",
    ]
    for p in held:
        lines.append(f"{json_format}.ParseDict({p.default!r}, _defaults[{p.name!r}].default_value)")
    return lines


def _pipeline_lines(
    pipeline: Pipeline, programs: dict[str, StepProgram], func: str, names: _Names
) -> list[str]:
    decorator = [f"name={pipeline.name!r}"]
    if pipeline.description:
        decorator.append(f"description={pipeline.description!r}")
    if pipeline.pipeline_root:
        decorator.append(f"pipeline_root={pipeline.pipeline_root!r}")
    params = [f"{p.name}: {p.type} = {_signature_default(p)}" for p in pipeline.parameters]
    sig = f"def {func}({', '.join(params)}):"
    if len(sig) > 100:
        sig = f"def {func}(\n" + "".join(f"    {p},\n" for p in params) + "):"
    body, claims = _volume_lines(pipeline, names)
    for step in pipeline.steps:
        task = unique_identifier(python_name(step.name) + "_task", names.taken)
        names.tasks[step.name] = task
        body += _task_lines(pipeline, step, programs, task, names)
        body += _mount_lines(step, task, pipeline, claims, names.kubernetes)
    return [
        f"@dsl.pipeline({', '.join(decorator)})",
        sig,
        *(f"    {ln}" for ln in (body or ["pass"])),
    ]
