"""What the submit tests share besides fixtures: the demo notebook's cells, the tokens, running
the command in-process, the log of a failed KFP step pod."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result
from nbutil import code

KFP_TOKEN = "kfp-token-5ec4e7-never-print-me"
K8S_TOKEN = "k8s-token-9b1d0c-never-print-me"
TOKEN_ENV = "KFPJ_TEST_TOKEN"

CELLS = [
    code("import json", "imports"),
    code(
        "n_rows = 4\nrate = 0.5\nlabel = 'demo'\nverbose = False\nsizes = [1, 2]\nopts = {'k': 1}",
        "pipeline-parameters",
    ),
    code("data = [i * rate for i in range(n_rows)]", "step:load_data"),
    code("total = sum(data) + len(sizes) + opts['k']\nscore = total / 10", "step:train"),
    code("print(json.dumps({'label': label, 'total': total, 'verbose': verbose}))", "step:report"),
    code("score", "pipeline-metrics"),
]


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run `kfp-jupyter ARGS` in this process (the environment as the test set it up)."""
    from kfp_jupyter.cli.main import cli as group

    return CliRunner().invoke(group, list(args), env=env, catch_exceptions=False)


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output, result.output
    assert "Traceback" not in (result.stderr or ""), result.stderr


def kfp_pod_log(notebook: Path, step: str, arguments: str, tmp: Path) -> str:
    """What KFP's executor pod of `step` logs when the step fails: the component's source run as
    ephemeral_component.py and its function called with `arguments` (Python keyword text; `types`
    is imported), its exception left to Python, as kfp's executor_main does. KFP's backend cannot
    run here; this is the log the cluster tests fetch through the kubernetes client."""
    import subprocess
    import sys

    import kfp_jupyter
    from kfp_jupyter.cluster.steplogs import kfp_component_source

    ir = kfp_jupyter.compile_pipeline(kfp_jupyter.load_notebook(notebook), "kfp")
    found = kfp_component_source(ir, step)
    assert found is not None
    source, function = found
    folder = tmp / "program"
    folder.mkdir()
    (folder / "ephemeral_component.py").write_text(source, encoding="utf-8")
    driver = (
        "import runpy, types\n"
        "ns = runpy.run_path('ephemeral_component.py')\n"
        f"ns[{function!r}]({arguments})\n"
    )
    r = subprocess.run([sys.executable, "-c", driver], cwd=folder, capture_output=True, text=True)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "ephemeral_component.py" in r.stderr, r.stderr
    return "I1203 launcher_v2.go:92] started\n" + r.stdout + r.stderr
