"""The `dsl` target: a readable KFP v2 Python script, one @dsl.component per step and a @dsl.pipeline.

It is also how the `kfp` target is produced (the script is run through the kfp SDK's compiler), so
running the script with `python` writes exactly the IR YAML that `compile -t kfp` writes.
"""

from __future__ import annotations

from pathlib import Path

from .._version import __version__
from ..model import Pipeline, Step
from ..packaging.program import StepProgram, build_program, python_name

#: module-level names of the script that steps must not take
SCRIPT_NAMES = frozenset(
    {
        "dsl",
        "compiler",
        "kubernetes",
        "kfp",
        "sys",
        "Path",
        "Artifact",
        "Input",
        "Output",
        "Metrics",
    }
)


def _unique(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _task_lines(step: Step, prog: StepProgram, task: str, tasks: dict[str, str]) -> list[str]:
    args = []
    for a in prog.args:
        if a.kind == "parameter":
            args.append(f"{a.arg}={a.name}")
        elif a.kind == "input":
            producer = next(i.producer for i in step.inputs if i.name == a.name)
            args.append(f"{a.arg}={tasks[producer]}.outputs[{a.name!r}]")
    call = f"{task} = {prog.function}({', '.join(args)})"
    if len(call) > 96 and args:
        call = f"{task} = {prog.function}(\n" + "".join(f"        {x},\n" for x in args) + "    )"
    lines = [call]
    data_producers = {i.producer for i in step.inputs}
    order_only = [a for a in step.after if a not in data_producers]
    if order_only:
        lines.append(f"{task}.after({', '.join(tasks[a] for a in order_only)})")
    if not step.cache:
        lines.append(f"{task}.set_caching_options(False)")
    if step.retries:
        lines.append(f"{task}.set_retry(num_retries={step.retries})")
    for key, value in sorted(step.limits.items()):
        if key == "cpu":
            lines.append(f"{task}.set_cpu_limit({value!r})")
        elif key == "memory":
            lines.append(f"{task}.set_memory_limit({value!r})")
        else:
            lines.append(f"{task}.set_accelerator_type({key!r}).set_accelerator_limit({value!r})")
    if step.timeout:
        lines.append(f"kubernetes.set_timeout({task}, {step.timeout})")
    by_secret: dict[str, dict[str, str]] = {}
    for s in step.secrets:
        by_secret.setdefault(s.secret, {})[s.key] = s.env
    for secret, mapping in sorted(by_secret.items()):
        lines.append(
            f"kubernetes.use_secret_as_env({task}, secret_name={secret!r}, secret_key_to_env={dict(sorted(mapping.items()))!r})"
        )
    for k, v in sorted(step.labels.items()):
        lines.append(f"kubernetes.add_pod_label({task}, {k!r}, {v!r})")
    for k, v in sorted(step.annotations.items()):
        lines.append(f"kubernetes.add_pod_annotation({task}, {k!r}, {v!r})")
    return lines


def uses_kubernetes(pipeline: Pipeline) -> bool:
    return any(s.timeout or s.secrets or s.labels or s.annotations for s in pipeline.steps)


def compile_dsl(pipeline: Pipeline) -> str:
    return dsl_script(pipeline)[0]


def dsl_script(pipeline: Pipeline) -> tuple[str, str]:
    """The script's text and the name of its pipeline function."""
    programs = [build_program(pipeline, s) for s in pipeline.steps]
    source = Path(pipeline.notebook).name if pipeline.notebook else "a notebook"
    out: list[str] = [
        f'"""Pipeline {pipeline.name!r}, generated from {source} by kfp-jupyter {__version__}.',
        "",
        "Each step of the notebook is a lightweight Python component below; edit them freely.",
        "Run `python THIS_FILE [OUTPUT.yaml]` to write the KFP pipeline IR (default: next to this file).",
        '"""',
        "",
        "from kfp import compiler, dsl",
    ]
    if uses_kubernetes(pipeline):
        out.append("from kfp import kubernetes")
    out += ["from kfp.dsl import Artifact, Input, Metrics, Output", "", ""]
    for prog in programs:
        packages = list(prog.step.packages)
        out.append(
            f"@dsl.component(base_image={prog.step.image!r}, packages_to_install={packages!r})"
        )
        out.append(prog.kfp_function().rstrip("\n"))
        out += ["", ""]
    taken = (
        set(SCRIPT_NAMES) | {p.function for p in programs} | {p.name for p in pipeline.parameters}
    )
    func = _unique("pipeline", taken)
    decorator = [f"name={pipeline.name!r}"]
    if pipeline.description:
        decorator.append(f"description={pipeline.description!r}")
    if pipeline.pipeline_root:
        decorator.append(f"pipeline_root={pipeline.pipeline_root!r}")
    out.append(f"@dsl.pipeline({', '.join(decorator)})")
    params = [f"{p.name}: {p.type} = {p.default!r}" for p in pipeline.parameters]
    sig = f"def {func}({', '.join(params)}):"
    if len(sig) > 100:
        sig = f"def {func}(\n" + "".join(f"    {p},\n" for p in params) + "):"
    out.append(sig)
    tasks: dict[str, str] = {}
    body: list[str] = []
    for step, prog in zip(pipeline.steps, programs, strict=True):
        task = _unique(python_name(step.name) + "_task", taken)
        tasks[step.name] = task
        body += _task_lines(step, prog, task, tasks)
    out += [f"    {ln}" for ln in (body or ["pass"])]
    out += [
        "",
        "",
        'if __name__ == "__main__":',
        "    import sys",
        "    from pathlib import Path",
        "",
        '    target = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).with_suffix(".yaml"))',
        f"    compiler.Compiler().compile({func}, target)",
        "",
    ]
    return "\n".join(out), func
