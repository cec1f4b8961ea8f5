"""A command imports what it runs and no more: `compile` and `inspect` start without the local
engine, the run history, the cluster clients or the Jupyter parts, so that compiling a notebook
costs one interpreter start and the compiler, not the whole package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from nbutil import code, make_notebook

#: packages a command that only reads a notebook and writes a file never needs
NOT_FOR_COMPILING = (
    "kfp_jupyter.engine",
    "kfp_jupyter.cluster.config",
    "kfp_jupyter.cluster.targets",
    "kfp_jupyter.jupyter",
    "kfp_jupyter.server",
    "kfp_jupyter.cli.run_cmd",
    "kfp_jupyter.cli.runs_cmd",
    "kfp_jupyter.cli.submit_cmd",
    "kfp_jupyter.cli.targets_cmd",
    "kfp_jupyter.cli.artifacts_cmd",
)

PROBE = (
    "import json, sys\n"
    "from kfp_jupyter.cli.main import cli\n"
    "try:\n"
    "    cli(sys.argv[1:], prog_name='kfp-jupyter')\n"
    "except SystemExit as e:\n"
    "    code = e.code\n"
    "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}), file=sys.stderr)\n"
)


def _modules(*args: str) -> tuple[int, list[str]]:
    r = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    report = json.loads(r.stderr.strip().splitlines()[-1])
    return report["code"], report["modules"]


@pytest.mark.parametrize(
    "args",
    [
        ("compile", "-t", "kfp"),
        ("compile", "-t", "argo"),
        ("compile", "-t", "dsl"),
        ("inspect", "--json"),
    ],
)
def test_compiling_imports_no_engine_cluster_or_jupyter_code(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("import json", "imports"),
            code("x = json.dumps(1)", "step:a"),
            code("y = x", "step:b"),
        ],
    )
    out = ["-o", str(tmp_path / "out")] if args[0] == "compile" else []
    status, modules = _modules(args[0], str(nb), *args[1:], *out)
    assert status in (0, None)
    assert "kfp_jupyter.loader" in modules  # the probe sees what the command imported
    loaded = [m for m in modules if m.startswith(NOT_FOR_COMPILING)]
    assert loaded == []


def test_every_command_is_listed_and_runs_its_help() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "kfp_jupyter.cli.main", "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    section = r.stdout.split("Commands:")[1]
    names = [line.split()[0] for line in section.splitlines() if line[2:3].isalpha()]
    assert names == sorted(names)
    expected = {
        "artifacts",
        "attach",
        "cancel",
        "compile",
        "compose",
        "convert",
        "experiments",
        "inspect",
        "run",
    }
    assert expected | {"runs", "submit", "targets"} == set(names)
    for name in names:
        h = subprocess.run(
            [sys.executable, "-m", "kfp_jupyter.cli.main", name, "--help"],
            capture_output=True,
            text=True,
        )
        assert h.returncode == 0 and f"kfp-jupyter {name}" in h.stdout, h.stderr
