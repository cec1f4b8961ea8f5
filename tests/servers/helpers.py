"""What the submit tests share besides fixtures: the demo notebook's cells, the tokens, running
the command in-process."""

from __future__ import annotations

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
