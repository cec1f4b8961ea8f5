"""What the engine executes: the step programs of a pipeline and the graph between them.

A Plan is built from a Pipeline with the compile work's own `build_program(...).plain_program()`,
so a local run executes the very program a cluster would. It is also the "compiled spec" kept in
the history: its JSON is stored with each pipeline version (keyed by its content hash), which is
what lets `runs resume` finish a run exactly as it started, even after the notebook was edited.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..analysis.packages import imported_modules
from ..model import by_name
from ..notebook.source import to_python
from ..packaging.program import build_program
from .cache import (
    ModuleMemo,
    functions_in_key,
    local_module_digests,
    names_sys_path,
    program_fingerprint,
)

if TYPE_CHECKING:
    from ..model import Pipeline, Step
    from ..packaging.program import StepProgram

PLAN_FORMAT = 1


@dataclass(frozen=True)
class PlanStep:
    name: str
    program: str
    after: tuple[str, ...]
    #: (variable, producing step)
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[str, ...]
    parameters: tuple[str, ...]
    metrics: tuple[str, ...]
    packages: tuple[str, ...]
    image: str
    cache: bool
    retries: int
    timeout: int | None
    #: environment variables the step's secrets map to (taken from this machine's environment)
    secret_env: tuple[str, ...] = ()
    #: python, component, container or resource (the latter three run components/local.py)
    kind: str = "python"
    #: (volume, mount path) of the volumes the step mounts
    mounts: tuple[tuple[str, str], ...] = ()
    #: (module, content digest) of the modules beside the notebook the step imports, when planned
    modules: tuple[tuple[str, str], ...] = ()
    #: the fingerprint the cache key holds for the program when it leaves out functions the step
    #: cannot call ("": the program's own, as when nothing is left out)
    program_key: str = ""


@dataclass(frozen=True)
class PlanParameter:
    name: str
    type: str
    default: Any


@dataclass(frozen=True)
class Plan:
    name: str
    steps: tuple[PlanStep, ...]
    parameters: tuple[PlanParameter, ...]
    metrics: tuple[str, ...]
    #: the notebook's imports code: a fork server runs it once so steps start warm
    imports: str
    notebook: str | None
    experiment: str | None
    #: (name, existing claim or None): a folder per run, or one kept across runs for a claim
    volumes: tuple[tuple[str, str | None], ...] = ()

    def step(self, name: str) -> PlanStep:
        return by_name(self.steps, name)

    def parameter(self, name: str) -> PlanParameter:
        return by_name(self.parameters, name)

    def to_json(self) -> str:
        data = {"format": PLAN_FORMAT, **asdict(self)}
        for step in data["steps"]:  # absent when empty: the plan's digest is what it was before
            for field in ("modules", "program_key"):
                if not step[field]:
                    del step[field]
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @property
    def digest(self) -> str:
        """The pipeline version: a hash of everything that decides what runs (not the path)."""
        data = json.loads(self.to_json())
        data.pop("notebook", None)
        data.pop("experiment", None)
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    @staticmethod
    def from_json(text: str) -> Plan:
        data = json.loads(text)
        if data.get("format") != PLAN_FORMAT:
            raise ValueError(f"unknown plan format {data.get('format')!r}")
        steps = tuple(
            PlanStep(
                name=s["name"],
                program=s["program"],
                after=tuple(s["after"]),
                inputs=tuple((v, p) for v, p in s["inputs"]),
                outputs=tuple(s["outputs"]),
                parameters=tuple(s["parameters"]),
                metrics=tuple(s["metrics"]),
                packages=tuple(s["packages"]),
                image=s["image"],
                cache=bool(s["cache"]),
                retries=int(s["retries"]),
                timeout=s["timeout"],
                secret_env=tuple(s.get("secret_env", ())),
                kind=s.get("kind", "python"),
                mounts=tuple((v, m) for v, m in s.get("mounts", ())),
                modules=tuple((n, d) for n, d in s.get("modules", ())),
                program_key=s.get("program_key", ""),
            )
            for s in data["steps"]
        )
        params = tuple(
            PlanParameter(p["name"], p["type"], p["default"]) for p in data["parameters"]
        )
        return Plan(
            name=data["name"],
            steps=steps,
            parameters=params,
            metrics=tuple(data["metrics"]),
            imports=data["imports"],
            notebook=data["notebook"],
            experiment=data["experiment"],
            volumes=tuple((n, c) for n, c in data.get("volumes", ())),
        )


def _program(pipeline: Pipeline, step: Step, built: StepProgram | None) -> str:
    """The step's program: `built`'s, or for the steps that run an image (component, container
    and resource steps) a program with the same contract (`python prog.py ARGS.json`) that runs
    it with Docker or Podman."""
    if built is not None:
        return built.plain_program()
    from ..components.local import local_program

    return local_program(pipeline, step)


def _step_function(pipeline: Pipeline, step: Step) -> StepProgram | None:
    """The function a Python or notebook step's program runs (None for the other kinds)."""
    return build_program(pipeline, step) if step.kind in ("python", "notebook") else None


def _program_key(pipeline: Pipeline, step: Step) -> str:
    """What a Python step's cache key holds for its program when the functions cell has
    functions the step cannot call (`cache.functions_in_key`); "" when it has none, so the key
    stays what it was. The names the program's generated code uses (its arguments, the inputs
    and outputs it loads and saves) count as uses too: every word of it, erring on the side of
    re-running. (The program without the cell is built anew: the kernel stand-ins it holds
    depend on the cell too. Its text is not needed, only its words: the shared runtime's are
    found once.)"""
    if step.kind != "python" or not pipeline.functions.strip():
        return ""
    bare = build_program(replace(pipeline, functions=""), step)
    code = (step.source, pipeline.imports, step.extra_imports)
    functions = functions_in_key(
        pipeline.functions, code, (bare.own_code(), *bare.shared_runtime())
    )
    if functions == pipeline.functions:
        return ""
    return program_fingerprint(
        build_program(replace(pipeline, functions=functions), step).plain_program()
    )


def _module_folder(notebook: str | None) -> Path:
    """Where a step's own modules are found: the folder its run starts it in (the notebook's, as
    in Jupyter; the current one without a notebook)."""
    if notebook:
        parent = Path(notebook).absolute().parent
        if parent.is_dir():
            return parent
    return Path.cwd()


def module_digests(
    kind: str, program: str, folder: Path, memo: ModuleMemo | None = None
) -> tuple[tuple[str, str], ...]:
    """The local modules a step imports, as its cache key holds them, when it runs in `folder`
    (its pipeline notebook's). A Python step imports from that folder; a notebook step from its
    notebook's code cells, in a kernel started in the child notebook's folder with the pipeline's
    folder also on its path. The other kinds run an image."""
    if kind == "python":
        return local_module_digests(program, folder, memo)
    if kind != "notebook":
        return ()
    embedded = _embedded_notebook(program)
    if embedded is None:
        return ()
    path, cells = embedded
    child = (folder / Path(path).expanduser()).absolute()
    folders = [child.parent, folder] if child.is_file() else [folder]
    return local_module_digests(cells, folders, memo)


def _python_module_digests(
    built: StepProgram, program: str, folder: Path, memo: ModuleMemo
) -> tuple[tuple[str, str], ...]:
    """module_digests of a Python step's `program` (`built`'s), without parsing the runtime all
    steps share in each program: the step's own code is scanned, and the shared runtime is read
    once (imported_modules and names_sys_path keep what they found by text). The same modules:
    where the own code parses, the program parses into its statements and the runtime's. The
    whole program is scanned when the own code does not parse (the program imports nothing
    then), or when the runtime names sys.path (its folders' order would be the program's)."""
    own = built.own_code()
    shared = built.shared_runtime()
    if _parses(own) and not any(names_sys_path(code) for code in shared):
        return local_module_digests((own, *shared), folder, memo)
    return local_module_digests(program, folder, memo)


def _parses(code: str) -> bool:
    """Whether the code parses. A module found in it says so without parsing it twice
    (imported_modules parses the code it reads, and keeps what it found for the scan)."""
    if imported_modules(code):
        return True
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _embedded_notebook(program: str) -> tuple[str, list[str]] | None:
    """The path and the code cells of the notebook a notebook step's program embeds (as its
    `_kfpj_run_notebook` call names them). Read from the program, not the pipeline, so a
    stored plan (a resumed run) gives them too."""
    try:
        tree = ast.parse(program)
    except SyntaxError:
        return None
    source = path = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_kfpj_notebook" for t in node.targets
        ):
            source = _str_constant(node.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "_kfpj_run_notebook"
            and len(node.args) > 1
        ):
            path = _str_constant(node.args[1])
    if source is None or path is None:
        return None
    try:
        cells = json.loads(source)["cells"]
        code = [to_python(_text(c["source"])).code for c in cells if c["cell_type"] == "code"]
    except (ValueError, KeyError, TypeError):
        return None
    return path, code


def _str_constant(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _text(source: str | list[str]) -> str:
    return "".join(source) if isinstance(source, list) else source


def plan_from_pipeline(pipeline: Pipeline) -> Plan:
    claims = {v.name for v in pipeline.volumes if v.claim}
    folder = _module_folder(pipeline.notebook)
    modules: ModuleMemo = {}
    steps = []
    for step in pipeline.steps:
        built = _step_function(pipeline, step)
        program = _program(pipeline, step, built)
        mounts = tuple((m.volume, m.path) for m in step.mounts)
        fresh_volume = any(v not in claims for v, _ in mounts)
        steps.append(
            PlanStep(
                name=step.name,
                program=program,
                after=tuple(step.after),
                inputs=tuple((i.name, i.producer) for i in step.inputs),
                outputs=tuple(step.outputs),
                parameters=tuple(step.parameters),
                metrics=tuple(step.metrics),
                packages=tuple(step.packages),
                image=step.image,
                # A volume made for each run starts empty, and what a step does to a cluster is
                # not among its outputs: such steps cannot be replayed from the cache. (An
                # existing claim persists across runs, like the store.)
                cache=step.cache and not fresh_volume and step.kind != "resource",
                retries=step.retries,
                timeout=step.timeout,
                secret_env=tuple(s.env for s in step.secrets),
                kind=step.kind,
                mounts=mounts,
                modules=(
                    _python_module_digests(built, program, folder, modules)
                    if built is not None and step.kind == "python"
                    else module_digests(step.kind, program, folder, modules)
                ),
                program_key=_program_key(pipeline, step),
            )
        )
    return Plan(
        name=pipeline.name,
        steps=tuple(steps),
        parameters=tuple(PlanParameter(p.name, p.type, p.default) for p in pipeline.parameters),
        metrics=tuple(pipeline.metrics),
        imports=pipeline.imports,
        notebook=pipeline.notebook,
        experiment=pipeline.experiment,
        volumes=tuple((v.name, v.claim) for v in pipeline.volumes),
    )
