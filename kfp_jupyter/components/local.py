"""Run a component, container or resource step on this machine.

The contract is the one Python steps have with the local engine, so the engine treats every step
alike: each input is a folder the engine gives (for a component's file or value, the file inside it
is named after the artifact), each output is a folder to fill (this module writes output NAME as
the file NAME inside it), and parameters arrive as typed values.

Where it runs: with Docker or Podman when one is available (the step's image, inputs and outputs
mounted read-only/read-write, volumes mounted at their paths). Without either, only when
`host_exec` is on: the command then runs on this machine with the image ignored (what the tests
do). Otherwise the step fails with one line saying so. A resource step is not applied to a
cluster from a local run unless `apply_resources` is on (then `kubectl ACTION -f -`).

Downstream Python steps read a file output as its path (a str) and a value output (Integer,
String, ...) as the value itself: see `_kfpj_main` in packaging/stepmain.py.

Two ways in:
- `run_container_step(step, parameters=..., inputs=..., outputs=..., ...)` with model objects;
- `local_program(pipeline, step)`: the text of a program the engine runs like a Python step's
  (`python prog.py ARGS.json`), configured by KFPJ_HOST_EXEC, KFPJ_CONTAINER_RUNTIME,
  KFPJ_VOLUMES_DIR and KFPJ_APPLY_RESOURCES in its environment.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..model import GPU_RESOURCE, Argument, ComponentCall, Input, Mount, Pipeline, Step, volume_env
from ..params import value_text
from .loader import load_component_from_text
from .render import Filler, RenderError, call_filler, render, render_one
from .steps import Resource, kubectl_component, wrapped_file_outputs
from .v1yaml import to_v1_yaml

RUNTIMES = ("docker", "podman")
#: Where inputs and outputs are mounted in a local container.
CONTAINER_INPUTS = "/kfpj/inputs"
CONTAINER_OUTPUTS = "/kfpj/outputs"


@dataclass(frozen=True)
class StepResult:
    """How a local run of a step ended. `exit_code` is None when nothing was started."""

    ok: bool
    exit_code: int | None
    #: "docker", "podman", "host" or "" (not run)
    ran_with: str
    message: str = ""
    skipped: bool = False
    outputs: dict[str, str] = field(default_factory=dict)


@functools.lru_cache(maxsize=4)
def _working(exe: str) -> bool:
    try:
        r = subprocess.run(
            [exe, "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=15
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def detect_runtime(choice: str = "auto") -> str | None:
    """docker or podman, whichever is installed and answers; None if neither.

    `choice` (or the KFPJ_CONTAINER_RUNTIME variable, when choice is auto) can force one, or
    'none' to run without containers."""
    if choice == "auto":
        choice = os.environ.get("KFPJ_CONTAINER_RUNTIME", "auto") or "auto"
    if choice == "none":
        return None
    candidates = RUNTIMES if choice == "auto" else (choice,)
    for exe in candidates:
        path = shutil.which(exe)
        if path and _working(path):
            return exe
    return None


def _say(log: IO[str], text: str) -> None:
    log.write(f"kfp-jupyter: {text}\n")
    log.flush()


def _read_value(path: Path, kind: str | None) -> object:
    text = path.read_text(encoding="utf-8")
    if kind in (None, "str"):
        return text
    return json.loads(text.lower() if kind == "bool" else text)


@dataclass(frozen=True)
class _Where:
    """Paths as the running program sees them."""

    inputs: Mapping[str, str]
    outputs: Mapping[str, str]
    volumes: Mapping[str, str]


def _filler(
    call: ComponentCall,
    step: Step,
    parameters: Mapping[str, object],
    in_dirs: Mapping[str, Path],
    where: _Where,
) -> Filler:
    kinds = {i.name: i for i in step.inputs}

    def passed(a: Argument) -> str:
        if a.kind == "parameter":
            return value_text(parameters[a.name])
        i = kinds.get(a.name)
        return value_text(_read_value(in_dirs[a.name] / a.name, i.type if i else None))

    return call_filler(
        call,
        passed,
        lambda a: where.inputs[a.name],
        lambda variable: where.outputs[variable],
        "only KFP can fill it in, so this component runs only on KFP",
    )


def _host_path(arg: str, mounts: tuple[Mount, ...], volumes: Mapping[str, Path]) -> str:
    """An argument under a volume's mount path (`/data/x`, or `--out=/data/x`), pointed at the
    volume's folder on this machine: a command run on the host cannot mount anything."""
    i = arg.find("=")
    forms = [("", arg)] + ([(arg[: i + 1], arg[i + 1 :])] if i >= 0 else [])
    for m in mounts:
        root = m.path.rstrip("/")
        for head, tail in forms:
            if tail == root or tail.startswith(root + "/"):
                return head + str(volumes[m.volume]) + tail[len(root) :]
    return arg


def run_container_step(
    step: Step,
    *,
    parameters: Mapping[str, object],
    inputs: Mapping[str, str | Path],
    outputs: Mapping[str, str | Path],
    work_dir: str | Path,
    volumes: Mapping[str, str | Path] | None = None,
    host_exec: bool = False,
    runtime: str = "auto",
    apply_resources: bool = False,
    log: IO[str] | None = None,
    timeout: float | None = None,
) -> StepResult:
    """Run a component, container or resource step, and leave its outputs where downstream steps
    read them.

    parameters: the values of the pipeline parameters the step uses (step.parameters), typed.
    inputs: for each of step.inputs, by its name, the folder its producer's output is in.
    outputs: for each of step.outputs, a folder (made if missing) to write it in.
    volumes: for each volume the step mounts, by name, a folder on this machine.
    work_dir: a scratch folder (the working directory of a command run on the host).
    """
    log = log or sys.stdout
    if step.kind == "resource":
        assert step.resource is not None
        return _run_resource(step.name, step.resource, apply_resources, log, timeout)
    if step.component is None:
        raise ValueError(f"step {step.name!r} is a Python step; run its step program instead")
    dirs = _Dirs.of(step, inputs, outputs, volumes or {}, Path(work_dir))
    exe = detect_runtime(runtime)
    if exe is None and not host_exec:
        return _failed(
            log,
            f"step {step.name!r} runs in the image {step.image}, but neither docker nor podman "
            "is available here; install one, or run with --host-exec to run its command on "
            "this machine (the image is then ignored)",
        )
    where = dirs.where(step, in_container=exe is not None)
    spec = step.component.spec
    fill = _filler(step.component, step, parameters, dirs.inputs, where)
    try:
        command = render(spec.container.command, fill)
        args = render(spec.container.args, fill)
        env = {k: render_one(v, fill) for k, v in spec.container.env}
    except (RenderError, OSError, ValueError) as e:
        return _failed(log, f"step {step.name!r}: cannot build the command line: {e}")
    if step.gpus:
        _say(
            log,
            f"step {step.name!r} asks for {step.gpus} GPU(s); a local run does not reserve them",
        )
    if exe is None and not (command or args):
        return _failed(
            log,
            f"step {step.name!r}: the component has no command, only args for its image's "
            "entrypoint, so it cannot run on the host",
        )
    if exe is None:
        argv, env = _file_outputs_in_scratch(step.name, [*command, *args], env, dirs.work, log)
        code = _run_on_host(step, argv, env, dirs, log, timeout)
    else:
        argv = _container_argv(exe, step, command, args, env, dirs)
        _say(log, f"step {step.name!r}: running {step.image} with {exe}")
        code = _run(argv, dict(os.environ), dirs.work, log, timeout)
    return _outcome(step, code, exe or "host", dirs, where, log, timeout)


def _run_on_host(
    step: Step,
    argv: list[str],
    env: Mapping[str, str],
    dirs: _Dirs,
    log: IO[str],
    timeout: float | None,
) -> int | None:
    """Run the command line here, paths under the volumes' mount paths pointed at their folders."""
    argv = [_host_path(a, step.mounts, dirs.volumes) for a in argv]
    _say(
        log, f"step {step.name!r}: running its command on this machine (image {step.image} ignored)"
    )
    run_env = {**os.environ, **env}
    for m in step.mounts:
        run_env[volume_env(m.volume)] = str(dirs.volumes[m.volume])
    return _run(argv, run_env, dirs.work, log, timeout)


#: characters a shell takes literally wherever they stand, quoted or not
_SHELL_SAFE = re.compile(r"[\w@%+=:,./-]+", re.ASCII)


def _file_outputs_in_scratch(
    name: str, argv: list[str], env: Mapping[str, str], work: Path, log: IO[str]
) -> tuple[list[str], dict[str, str]]:
    """A command run on the host writes its file_outputs under the step's own scratch folder
    (`/tmp/copy.csv` -> WORK/file-outputs/tmp/copy.csv), not at the fixed paths, which are the
    container's own: there two users or two parallel steps would write the same file. Each
    mention of a fixed path (or a path below it) in the command line and env is rewritten."""
    paths = wrapped_file_outputs(argv)
    if not paths:
        return argv, dict(env)
    root = str(work.absolute() / "file-outputs")
    if not _SHELL_SAFE.fullmatch(root):
        _say(
            log,
            f"step {name!r}: its file_outputs are written at their fixed paths on this machine: "
            f"the scratch folder {root} holds characters a shell command would split on",
        )
        return argv, dict(env)
    for p in paths:
        Path(root + p).parent.mkdir(parents=True, exist_ok=True)
    alternatives = "|".join(re.escape(p) for p in sorted(paths, key=len, reverse=True))
    mention = re.compile(rf"(?<![\w./-])(?:{alternatives})(?![\w.-])")

    def moved(text: str) -> str:
        return mention.sub(lambda m: root + m.group(0), text)

    _say(log, f"step {name!r}: its file_outputs ({', '.join(paths)}) are written under {root}")
    return [moved(a) for a in argv], {k: moved(v) for k, v in env.items()}


def _failed(log: IO[str], message: str, code: int | None = None, ran_with: str = "") -> StepResult:
    _say(log, message)
    return StepResult(False, code, ran_with, message)


@dataclass(frozen=True)
class _Dirs:
    """The folders on this machine a step's run uses."""

    inputs: Mapping[str, Path]
    outputs: Mapping[str, Path]
    volumes: Mapping[str, Path]
    work: Path

    @classmethod
    def of(
        cls,
        step: Step,
        inputs: Mapping[str, str | Path],
        outputs: Mapping[str, str | Path],
        volumes: Mapping[str, str | Path],
        work: Path,
    ) -> _Dirs:
        """The folders given, checked to be all the step needs, and made where missing."""
        dirs = cls(
            {name: Path(p) for name, p in inputs.items()},
            {name: Path(p) for name, p in outputs.items()},
            {name: Path(p) for name, p in volumes.items()},
            work,
        )
        missing = (
            ("inputs", [i.name for i in step.inputs if i.name not in dirs.inputs]),
            ("outputs", [o for o in step.outputs if o not in dirs.outputs]),
            ("volumes", [m.volume for m in step.mounts if m.volume not in dirs.volumes]),
        )
        if any(names for _, names in missing):
            raise ValueError(
                f"step {step.name!r}: no folder given for "
                + ", ".join(f"{what} {names}" for what, names in missing if names)
            )
        for d in (*dirs.outputs.values(), *dirs.volumes.values(), work):
            d.mkdir(parents=True, exist_ok=True)
        return dirs

    def where(self, step: Step, in_container: bool) -> _Where:
        if not in_container:
            return _Where(
                {a: str(self.inputs[a] / a) for a in self.inputs},
                {o: str(self.outputs[o] / o) for o in self.outputs},
                {v: str(p) for v, p in self.volumes.items()},
            )
        return _Where(
            {a: f"{CONTAINER_INPUTS}/{a}/{a}" for a in self.inputs},
            {o: f"{CONTAINER_OUTPUTS}/{o}/{o}" for o in self.outputs},
            {m.volume: m.path for m in step.mounts},
        )


def _outcome(
    step: Step,
    code: int | None,
    ran_with: str,
    dirs: _Dirs,
    where: _Where,
    log: IO[str],
    timeout: float | None,
) -> StepResult:
    """How the run ended: it must have exited with 0 and written every output."""
    if code != 0:
        return _failed(
            log,
            f"step {step.name!r} timed out after {timeout:g} s"
            if code is None
            else f"step {step.name!r}: the command exited with code {code}",
            code,
            ran_with,
        )
    written: dict[str, str] = {}
    for o in step.outputs:
        path = dirs.outputs[o] / o
        if not path.exists():
            return _failed(
                log,
                f"step {step.name!r}: the component did not write its output {o!r} "
                f"(expected at {where.outputs[o]})",
                code,
                ran_with,
            )
        written[o] = str(path)
    return StepResult(True, code, ran_with, outputs=written)


def _container_argv(
    exe: str,
    step: Step,
    command: list[str],
    args: list[str],
    env: Mapping[str, str],
    dirs: _Dirs,
) -> list[str]:
    argv = [exe, "run", "--rm"]
    if exe == "docker" and hasattr(os, "getuid"):
        # files the step writes belong to the user who runs the pipeline, not to root
        argv += ["--user", f"{os.getuid()}:{os.getgid()}"]
    for name, d in dirs.inputs.items():
        argv += ["-v", f"{d.resolve()}:{CONTAINER_INPUTS}/{name}:ro"]
    for name, d in dirs.outputs.items():
        argv += ["-v", f"{d.resolve()}:{CONTAINER_OUTPUTS}/{name}"]
    for m in step.mounts:
        argv += ["-v", f"{dirs.volumes[m.volume].resolve()}:{m.path}"]
        argv += ["-e", f"{volume_env(m.volume)}={m.path}"]
    for k, v in env.items():
        argv += ["-e", f"{k}={v}"]
    for s in step.secrets:
        if s.env in os.environ:
            argv += ["-e", s.env]  # the value is taken from this machine's environment
    if command:
        argv += ["--entrypoint", command[0], step.image, *command[1:], *args]
    else:
        argv += [step.image, *args]
    return argv


def _run(
    argv: list[str], env: dict[str, str], cwd: Path, log: IO[str], timeout: float | None
) -> int | None:
    """Run to the end with output to `log`; None if stopped after `timeout` seconds."""
    out: Any = log if _has_fileno(log) else subprocess.PIPE
    try:
        proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True
        )
    except OSError as e:
        _say(log, f"cannot start {argv[0]!r}: {e}")
        return 127
    try:
        text, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        text, _ = proc.communicate()
        if text:
            log.write(text)
        return None
    if text:
        log.write(text)
    log.flush()
    return proc.returncode


def _has_fileno(f: IO[str]) -> bool:
    try:
        f.fileno()
    except (OSError, ValueError, AttributeError):
        return False
    f.flush()
    return True


def _run_resource(
    name: str, r: Resource, apply: bool, log: IO[str], timeout: float | None
) -> StepResult:
    what = f"kubectl {r.action} {r.kind}/{r.name}"
    if not apply:
        message = (
            f"resource step {name!r} ({what}) is not applied from a local run; it runs on the "
            "cluster"
        )
        _say(log, message)
        return StepResult(True, None, "", message, skipped=True)
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        message = f"resource step {name!r}: kubectl is not installed, so {what} cannot run"
        _say(log, message)
        return StepResult(False, None, "", message)
    _say(log, f"resource step {name!r}: {what} with this machine's kubectl context")
    try:
        proc = subprocess.run(
            [kubectl, r.action, "-f", "-"],
            input=r.manifest,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return StepResult(False, None, "host", f"resource step {name!r} timed out")
    log.write(proc.stdout + proc.stderr)
    ok = proc.returncode == 0
    return StepResult(
        ok, proc.returncode, "host", "" if ok else f"{what} exited with {proc.returncode}"
    )


# --- as a program the engine runs -----------------------------------------------------------------


def _task_json(step: Step) -> dict[str, Any]:
    call = step.component
    return {
        "name": step.name,
        "kind": step.kind,
        "image": step.image,
        "inputs": [[i.name, i.producer, i.kind, i.type] for i in step.inputs],
        "outputs": list(step.outputs),
        "parameters": list(step.parameters),
        "arguments": [[a.input, a.kind, a.value, a.name] for a in (call.arguments if call else ())],
        "renames": [list(r) for r in (call.renames if call else ())],
        "mounts": [[m.volume, m.path] for m in step.mounts],
        "gpus": step.gpus,
        "secrets": [s.env for s in step.secrets],
        "timeout": step.timeout,
        "resource": step.resource.to_json() if step.resource else None,
    }


def local_program(pipeline: Pipeline, step: Step) -> str:
    """A program that runs `step` like the engine runs a Python step: `python prog.py ARGS.json`.

    ARGS.json is the engine's usual {"parameters", "inputs", "outputs", "metrics"}; the program
    needs kfp_jupyter importable (it runs with the engine's own interpreter)."""
    if step.kind == "python":
        raise ValueError(f"step {step.name!r} is a Python step: use its step program")
    if step.resource is not None:
        text = to_v1_yaml(kubectl_component(step.name, step.resource))
    else:
        assert step.component is not None
        spec = step.component.spec
        text = spec.text or to_v1_yaml(spec)
    return (
        f'"""kfp-jupyter: the {step.kind} step {step.name!r} of pipeline {pipeline.name!r}, run on '
        'this machine.\n\nUsage: python THIS_FILE ARGS.json (see kfp_jupyter/components/local.py)."""\n\n'
        "import sys\n\n"
        "from kfp_jupyter.components.local import main\n\n"
        f"SPEC = {text!r}\n"
        f"TASK = {json.dumps(_task_json(step), sort_keys=True)!r}\n\n"
        'if __name__ == "__main__":\n'
        "    sys.exit(main(SPEC, TASK, sys.argv[1:]))\n"
    )


def _step_from_json(spec_text: str, task_text: str) -> Step:
    from ..model import Secret

    t = json.loads(task_text)
    resource = None
    call = None
    if t["resource"] is not None:
        resource = Resource(**t["resource"])
    else:
        spec = load_component_from_text(spec_text, f"of step {t['name']!r}")
        call = ComponentCall(
            spec,
            tuple(Argument(a, k, v, n) for a, k, v, n in t["arguments"]),
            renames=tuple((v, k) for v, k in t["renames"]),
        )
    return Step(
        name=t["name"],
        source="",
        cells=(),
        inputs=tuple(Input(n, p, k, ty) for n, p, k, ty in t["inputs"]),
        outputs=tuple(t["outputs"]),
        parameters=tuple(t["parameters"]),
        image=t["image"],
        limits={GPU_RESOURCE: t["gpus"]} if t["gpus"] else {},
        secrets=tuple(Secret("", "", e) for e in t["secrets"]),
        timeout=t["timeout"],
        kind=t["kind"],
        component=call,
        resource=resource,
        mounts=tuple(Mount(v, p) for v, p in t["mounts"]),
    )


def main(spec_text: str, task_text: str, argv: list[str]) -> int:
    """Entry point of `local_program`'s programs: 0 on success, 1 on failure."""
    if len(argv) != 1:
        print("usage: python PROGRAM ARGS.json", file=sys.stderr)
        return 2
    step = _step_from_json(spec_text, task_text)
    with open(argv[0], encoding="utf-8") as f:
        args = json.load(f)
    volumes_dir = os.environ.get("KFPJ_VOLUMES_DIR")
    volumes = {}
    for m in step.mounts:
        if volumes_dir is None:
            print(
                f"kfp-jupyter: step {step.name!r} mounts volume {m.volume!r}, but KFPJ_VOLUMES_DIR "
                "does not say where volumes are kept",
                file=sys.stderr,
            )
            return 1
        volumes[m.volume] = Path(volumes_dir) / m.volume
    result = run_container_step(
        step,
        parameters=args.get("parameters", {}),
        inputs=args.get("inputs", {}),
        outputs=args.get("outputs", {}),
        work_dir=Path(os.environ.get("TMPDIR") or Path.cwd()),
        volumes=volumes,
        host_exec=os.environ.get("KFPJ_HOST_EXEC") == "1",
        runtime=os.environ.get("KFPJ_CONTAINER_RUNTIME", "auto") or "auto",
        apply_resources=os.environ.get("KFPJ_APPLY_RESOURCES") == "1",
        log=sys.stdout,
        timeout=None,  # the engine enforces the step's timeout on this whole program
    )
    return 0 if result.ok else 1
