"""Running component, container and resource steps on this machine: with --host-exec (the image
ignored), through a container runtime (here a stand-in `docker` that runs the command with the
mounts mapped back), and the one-line refusal when neither is possible."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from components_util import mixed_notebook, run_locally
from nbutil import code, make_notebook

from kfp_jupyter import load_notebook
from kfp_jupyter.components.local import StepResult, detect_runtime, run_container_step
from kfp_jupyter.packaging.runtime_text import inner_runtime


def _expected(factor: float, n_rows: int) -> dict[str, float]:
    """The metrics of the mixed notebook, worked out here without the pipeline."""
    b = [x * 0.5 for x in range(n_rows)]
    return {
        "check_total": sum(v * factor for v in b),
        "n": float(n_rows + 1),  # rows counted by the v1 component + lines of the v2 report
        "types_ok": 1.0,
        "total_value": sum(v * factor for v in b),
    }


def test_mixed_pipeline_runs_with_host_exec(tmp_path: Path) -> None:
    pipeline = load_notebook(mixed_notebook(tmp_path / "nb"))
    run = tmp_path / "run"
    metrics, results, log = run_locally(pipeline, run)
    assert metrics == pytest.approx(_expected(3.0, 5), abs=0, rel=1e-12)
    assert [r if isinstance(r, int) else r.ok for r in results.values()] == [0] + [True] * 4 + [0]
    # what the components wrote, as files downstream steps read
    with open(run / "scale" / "out" / "scaled_rows" / "scaled_rows", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["b"]) for r in rows] == [0.0, 1.5, 3.0, 4.5, 6.0]
    assert (run / "scale" / "out" / "row_count" / "row_count").read_text() == "5"
    assert json.loads((run / "total" / "out" / "total" / "total").read_text()) == 15.0
    assert (run / "make" / "out" / "label__str" / "label__str").read_text() == "rows=5"
    exported = pd.read_csv(run / "make" / "out" / "table__csv" / "table__csv")
    assert list(exported.columns) == ["a", "b"] and len(exported) == 5
    # one line per step that says how it ran; the resource step is not applied locally
    assert (
        "step 'scale': running its command on this machine (image python:3.11-slim ignored)" in log
    )
    assert "step 'total' asks for 1 GPU(s)" in log
    settings = results["settings"]
    assert isinstance(settings, StepResult) and settings.skipped and settings.ok
    assert "(kubectl apply ConfigMap/mixed-settings) is not applied from a local run" in log
    # the container step's volume is a folder here
    assert (run / "volumes" / "scratch").is_dir()


def test_parameters_reach_components(tmp_path: Path) -> None:
    pipeline = load_notebook(mixed_notebook(tmp_path / "nb"))
    metrics, _, _ = run_locally(pipeline, tmp_path / "run", parameters={"factor": 2.0, "n_rows": 4})
    assert metrics == pytest.approx(_expected(2.0, 4), abs=0, rel=1e-12)


def test_engine_programs_give_the_same_results(tmp_path: Path) -> None:
    """local_program: what the engine runs for a non-Python step, `python prog.py ARGS.json`."""
    pipeline = load_notebook(mixed_notebook(tmp_path / "nb"))
    metrics, results, log = run_locally(pipeline, tmp_path / "run", as_programs=True)
    assert set(results.values()) == {0}, log
    assert metrics == pytest.approx(_expected(3.0, 5), abs=0, rel=1e-12)
    assert "running its command on this machine" in log


def test_without_docker_podman_or_host_exec_one_line_and_nothing_runs(tmp_path: Path) -> None:
    pipeline = load_notebook(mixed_notebook(tmp_path / "nb"))
    run = tmp_path / "run"
    _, results, log = run_locally(pipeline, run, host_exec=False)
    scale = results["scale"]
    assert isinstance(scale, StepResult)
    assert (scale.ok, scale.exit_code, scale.ran_with) == (False, None, "")
    lines = [ln for ln in log.splitlines() if ln.strip()]
    assert lines == [
        "kfp-jupyter: step 'scale' runs in the image python:3.11-slim, but neither docker nor "
        "podman is available here; install one, or run with --host-exec to run its command on "
        "this machine (the image is then ignored)"
    ]
    assert not any((run / "scale" / "out").rglob("scaled_rows/scaled_rows"))
    assert "total" not in results
    # the engine's program says the same and fails
    _, results, log = run_locally(pipeline, tmp_path / "run2", host_exec=False, as_programs=True)
    assert results["scale"] == 1 and "neither docker nor podman is available" in log


FAKE_DOCKER = r'''#!PYTHON
"""A stand-in for `docker`: logs its arguments, then runs the command on this machine with each
container path of a -v mount mapped back to its host folder."""
import json, os, subprocess, sys

args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as f:
    f.write(json.dumps(args) + "\n")
if args[0] == "info":
    sys.exit(0)
assert args[0] == "run", args
i, mounts, env, entry = 1, [], {}, None
while args[i].startswith("-"):
    if args[i] == "--rm":
        i += 1
        continue
    opt, val = args[i], args[i + 1]
    i += 2
    if opt == "-v":
        host, ctr = val.split(":")[:2]
        mounts.append((ctr, host))
    elif opt == "-e":
        k, eq, v = val.partition("=")
        env[k] = v if eq else os.environ.get(k, "")
    elif opt == "--entrypoint":
        entry = val
image, rest = args[i], args[i + 1 :]


def host(a):
    for ctr, h in sorted(mounts, key=lambda m: -len(m[0])):
        if a == ctr or a.startswith(ctr + "/"):
            return h + a[len(ctr):]
    return a


argv = ([entry] if entry else []) + [host(a) for a in rest]
sys.exit(subprocess.call(argv, env={**os.environ, **env}))
'''


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "docker"
    exe.write_text(FAKE_DOCKER.replace("PYTHON", sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "docker.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    monkeypatch.delenv("KFPJ_CONTAINER_RUNTIME", raising=False)
    return log


def test_runs_in_a_container_runtime_when_there_is_one(tmp_path: Path, fake_docker: Path) -> None:
    assert detect_runtime() == "docker"
    pipeline = load_notebook(mixed_notebook(tmp_path / "nb"))
    metrics, _, log = run_locally(pipeline, tmp_path / "run", runtime="auto", host_exec=False)
    assert metrics == pytest.approx(_expected(3.0, 5), abs=0, rel=1e-12)
    assert "step 'scale': running python:3.11-slim with docker" in log
    calls = [json.loads(line) for line in fake_docker.read_text().splitlines()]
    runs = [c for c in calls if c[0] == "run"]
    assert len(runs) == 3  # the three steps that run a container; the resource step none
    scale = next(c for c in runs if "/kfpj/inputs/table__csv/table__csv" in c)
    busybox = next(c for c in runs if "busybox:1.36" in c)
    inputs = tmp_path / "run" / "make" / "out" / "table__csv"
    assert f"{inputs.resolve()}:/kfpj/inputs/table__csv:ro" in scale
    assert scale[scale.index("--entrypoint") + 1] == "python3"
    assert scale[-4:] == [
        "/kfpj/inputs/table__csv/table__csv",
        "3.0",
        "/kfpj/outputs/scaled_rows/scaled_rows",
        "/kfpj/outputs/row_count/row_count",
    ]
    assert f"{(tmp_path / 'run' / 'volumes' / 'scratch').resolve()}:/scratch" in busybox
    assert "KFPJ_VOLUME_SCRATCH=/scratch" in busybox


def _container_step(tmp_path: Path, body: str, options: str = "") -> Any:
    nb = make_notebook(
        tmp_path / "c.ipynb",
        [code(f"%%container work --image alpine:3 {options}\n{body}")],
    )
    return load_notebook(nb).steps[0]


def test_volume_paths_point_at_local_folders_with_host_exec(tmp_path: Path) -> None:
    step = _container_step(
        tmp_path,
        'command: [sh, -c, \'echo hello > "$0"/greeting; echo "$KFPJ_VOLUME_DATA" > "$1"\', '
        "/data, {outputPath: where}]",
        "--volume data:/data:1Gi",
    )
    log = io.StringIO()
    result = run_container_step(
        step,
        parameters={},
        inputs={},
        outputs={"where": tmp_path / "out"},
        work_dir=tmp_path / "work",
        volumes={"data": tmp_path / "vol"},
        host_exec=True,
        runtime="none",
        log=log,
    )
    assert result.ok, log.getvalue()
    assert (tmp_path / "vol" / "greeting").read_text() == "hello\n"
    assert (tmp_path / "out" / "where").read_text().strip() == str(tmp_path / "vol")


@pytest.mark.parametrize(
    ("body", "timeout", "words"),
    [
        ("command: [sh, -c, 'exit 3']", None, "the command exited with code 3"),
        (
            "command: [sh, -c, 'true', {outputPath: missing}]",
            None,
            "did not write its output 'missing'",
        ),
        ("command: [sleep, '10']", 0.5, "timed out after 0.5 s"),
        ("command: [no-such-program-here]", None, "exited with code 127"),
    ],
)
def test_failures_say_what_went_wrong(
    tmp_path: Path, body: str, timeout: float | None, words: str
) -> None:
    step = _container_step(tmp_path, body)
    log = io.StringIO()
    result = run_container_step(
        step,
        parameters={},
        inputs={},
        outputs={o: tmp_path / "out" / o for o in step.outputs},
        work_dir=tmp_path / "work",
        host_exec=True,
        runtime="none",
        log=log,
        timeout=timeout,
    )
    assert not result.ok
    assert words in result.message and words in log.getvalue()


def test_resource_steps_apply_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(
        f"#!{sys.executable}\nimport sys\n"
        f"open({str(tmp_path / 'kubectl.log')!r}, 'w').write(' '.join(sys.argv[1:]) + '\\n' + sys.stdin.read())\n"
        "print('configmap/mixed-settings configured')\n"
    )
    kubectl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    nb = make_notebook(
        tmp_path / "r.ipynb",
        [
            code(
                "%%resource settings --action apply\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\n"
            )
        ],
    )
    step = load_notebook(nb).steps[0]
    common: dict[str, Any] = {"parameters": {}, "inputs": {}, "outputs": {}, "work_dir": tmp_path}
    log = io.StringIO()
    skipped = run_container_step(step, log=log, **common)
    assert skipped.ok and skipped.skipped and not (tmp_path / "kubectl.log").exists()
    applied = run_container_step(step, log=log, apply_resources=True, **common)
    assert applied.ok and not applied.skipped
    assert (tmp_path / "kubectl.log").read_text() == (
        "apply -f -\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\n"
    )
    assert "configmap/mixed-settings configured" in log.getvalue()


# --- how a Python step writes a variable for a component -------------------------------------------


@pytest.fixture(scope="module")
def rt() -> dict[str, Any]:
    ns: dict[str, Any] = {}
    exec(compile(inner_runtime(), "<runtime>", "exec"), ns)
    return ns


def test_export_formats(rt: dict[str, Any], tmp_path: Path) -> None:
    export = rt["_kfpj_export"]
    df = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}, index=[7, 8])
    export("s", "df", df, "csv", None, str(tmp_path / "a"))
    assert (tmp_path / "a").read_text() == "x,y\n1,a\n2,b\n"
    export("s", "df", df, "tsv", None, str(tmp_path / "b"))
    assert (tmp_path / "b").read_text() == "x\ty\n1\ta\n2\tb\n"
    export("s", "df", df, "auto", None, str(tmp_path / "c"))
    assert (tmp_path / "c").read_text() == "x,y\n1,a\n2,b\n"
    arr = np.arange(6.0).reshape(2, 3)
    export("s", "arr", arr, "auto", None, str(tmp_path / "d"))
    assert (np.load(tmp_path / "d") == arr).all()
    export("s", "arr", arr, "csv", None, str(tmp_path / "e"))
    assert (tmp_path / "e").read_text() == "0.0,1.0,2.0\n3.0,4.0,5.0\n"
    export("s", "t", "some text", "auto", None, str(tmp_path / "f"))
    assert (tmp_path / "f").read_text() == "some text"
    export("s", "d", {"k": [1, 2]}, "auto", None, str(tmp_path / "g"))
    assert json.loads((tmp_path / "g").read_text()) == {"k": [1, 2]}
    export("s", "n", np.int64(4), "value", "int", str(tmp_path / "h"))
    assert (tmp_path / "h").read_text() == "4"
    export("s", "b", True, "value", "bool", str(tmp_path / "i"))
    assert (tmp_path / "i").read_text() == "true"
    export("s", "l", [1, 2], "value", "str", str(tmp_path / "j"))
    assert (tmp_path / "j").read_text() == "[1, 2]"
    with pytest.raises(RuntimeError, match=r"'n'.*the component takes a int"):
        export("s", "n", "four", "value", "int", str(tmp_path / "k"))
    with pytest.raises(RuntimeError, match=r"step 's': variable 'g'.*no file format fits it"):
        export("s", "g", object(), "auto", None, str(tmp_path / "m"))


def test_the_example_reuses_one_component_twice(tmp_path: Path) -> None:
    """examples/components_pipeline.ipynb: column_stats.yaml on the train and on the test rows."""
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    examples = Path(__file__).resolve().parents[2] / "examples"
    pipeline = load_notebook(examples / "components_pipeline.ipynb")
    metrics, _, log = run_locally(pipeline, tmp_path)
    assert log.count("running its command on this machine") == 2, log
    frame = load_iris(as_frame=True).frame
    train, test = train_test_split(frame, test_size=0.3, random_state=7, stratify=frame["target"])
    features = [c for c in frame.columns if c != "target"]
    shift = max(abs(round(train[c].mean(), 3) - round(test[c].mean(), 3)) for c in features)
    assert metrics["rows"] == 150.0
    assert metrics["mean_shift"] == pytest.approx(shift, abs=1e-9)
    stats = json.loads(
        (tmp_path / "train_stats" / "out" / "train_summary" / "train_summary").read_text()
    )
    assert stats["sepal length (cm)"]["min"] == float(train["sepal length (cm)"].min())


def test_python_steps_exchange_files_and_values_the_argo_way(tmp_path: Path) -> None:
    """Under Argo a step program has no argument file: an input is the file Argo put at
    /tmp/kfpj/inputs/NAME, an output the file it collects from /tmp/kfpj/outputs/NAME (KFPJ_ROOT
    moves both here)."""
    import subprocess

    from kfp_jupyter.packaging.program import build_program

    pipeline = load_notebook(mixed_notebook(tmp_path / "nb"))
    local = tmp_path / "local"
    run_locally(pipeline, local)  # the component outputs to feed the Python step with

    def run_argo_style(step_name: str, root: Path, params: dict[str, str]) -> None:
        root.mkdir(parents=True, exist_ok=True)
        script = root / "step.py"
        script.write_text(build_program(pipeline, pipeline.step(step_name)).plain_program())
        env = dict(os.environ, KFPJ_ROOT=str(root))
        env.update({f"KFPJ_PARAM_{k.upper()}": v for k, v in params.items()})
        r = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, cwd=root
        )
        assert r.returncode == 0, r.stderr

    make_root = tmp_path / "argo-make"
    run_argo_style("make", make_root, {"n_rows": "5"})
    table = pd.read_csv(make_root / "outputs" / "table__csv")
    assert list(table["b"]) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert (make_root / "outputs" / "label__str").read_text() == "rows=5"

    check_root = tmp_path / "argo-check"
    (check_root / "inputs").mkdir(parents=True)
    for i in pipeline.step("check").inputs:
        src = local / i.producer / "out" / i.name / i.name
        (check_root / "inputs" / i.name).write_bytes(src.read_bytes())
    run_argo_style("check", check_root, {"column": "b", "n_rows": "5"})
    metrics = json.loads((check_root / "outputs" / "metrics.json").read_text())
    assert metrics == pytest.approx(_expected(3.0, 5), abs=0, rel=1e-12)
