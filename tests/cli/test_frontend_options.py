"""One set of `run` and `submit` options for every front end: `kfp-jupyter run|submit`, `%kfp
run|submit` and the JupyterLab server's `POST runs|submit` take the same options (the server as
JSON fields, the option's name in snake_case), apart from the few the manual says do not apply to
a front end, which that front end refuses with the reason.

What each front end takes is read from what a user meets: the command's --help, the magic's
usage line, and the server's answer to a field it does not know. The server's options are then
posted for real and their effect checked in the run, or on the test cluster."""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from IPython.core.error import UsageError
from jupyter_server_util import Server, jupyter_server
from nbutil import code, make_notebook
from servers.helpers import KFP_TOKEN, TOKEN_ENV
from servers.k8s_server import K8sServer, write_kubeconfig
from servers.kfp_server import KfpServer

from kfp_jupyter import compile_pipeline
from kfp_jupyter.cli.main import cli
from kfp_jupyter.cluster import attach, submit
from kfp_jupyter.engine import run_local
from kfp_jupyter.frontends.options import (
    CONNECTION_OPTIONS,
    RUN_OPTIONS,
    SUBMIT_OPTIONS,
    Option,
    api_keywords,
)
from kfp_jupyter.jupyter.kfp_args import kfp_parser, param_values

pytest_plugins = ["servers.fixtures"]

#: what the manual documents as not applying, per command and front end
EXCLUDED = {
    "run": {"cli": {"--wait"}, "magic": set(), "server": {"--store", "--wait"}},
    "submit": {
        "cli": set(),
        "magic": {"--json", "--timeout"},
        "server": {"--json", "--timeout", "--wait"},
    },
}
#: the short names usage lines show, and the server's field of `-p NAME=VALUE ...`
SHORT = {"-p": "--param"}
FIELD_OF = {"--param": "params"}
PATIENCE = 300


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `kubectl` that only records what it was asked to apply (in kubectl.log beside it)."""
    folder = tmp_path_factory.mktemp("bin")
    kubectl = folder / "kubectl"
    kubectl.write_text(
        f"#!{sys.executable}\nimport sys\n"
        f"open({str(folder / 'kubectl.log')!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        "print('configmap/s configured')\n"
    )
    kubectl.chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, bin_dir: Path) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("options")
    env = {TOKEN_ENV: KFP_TOKEN, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    with jupyter_server(base, {}, env) as srv:
        yield srv


# --- what each front end takes ------------------------------------------------------------------


def cli_options(command: str) -> set[str]:
    """The long options `kfp-jupyter COMMAND --help` lists."""
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    found = re.findall(r"^  (?:-\w, )?(--[\w-]+)", result.output, re.MULTILINE)
    return set(found) - {"--help"}


def magic_options(command: str) -> set[str]:
    """The options the usage line of `%kfp COMMAND` lists (shown with any mistake)."""
    with pytest.raises(UsageError) as e:
        kfp_parser().parse_args([command, "-p"])  # -p without its value
    usage = str(e.value).split("(usage:", 1)[1]
    return {SHORT.get(o, o) for o in re.findall(r"\[(--?[\w-]+)", usage)}


def server_options(server: Server, endpoint: str) -> set[str]:
    """The options the server names as accepted when it refuses a field it does not know."""
    status, answer = server.call("POST", endpoint, {"path": "demo.ipynb", "no_such_field": 1})
    assert status == 400, answer
    message = answer["message"]
    assert "'no_such_field'" in message, message
    fields = message.split("the fields accepted: ", 1)[1].split(", ")
    fields.remove("path")  # the notebook: the commands' argument
    by_field = {v: k for k, v in FIELD_OF.items()}
    return {by_field.get(f, "--" + f.replace("_", "-")) for f in fields}


@pytest.mark.parametrize("command", ["run", "submit"])
def test_every_front_end_takes_the_same_options(server: Server, command: str) -> None:
    taken = {
        "cli": cli_options(command),
        "magic": magic_options(command),
        "server": server_options(server, "runs" if command == "run" else "submit"),
    }
    every = set().union(*taken.values())
    assert {"--param", "--experiment", "--no-pin"} <= every  # the listings were read
    for front_end, options in taken.items():
        assert options == every - EXCLUDED[command][front_end], front_end


@pytest.mark.parametrize("command", ["run", "submit"])
def test_an_option_of_another_front_end_is_refused_with_the_reason(
    server: Server, command: str, tmp_path: Path
) -> None:
    nb = make_notebook(tmp_path / "n.ipynb", [code("x = 1", "step:one")])
    for option in EXCLUDED[command]["cli"]:
        result = CliRunner().invoke(cli, [command, str(nb), option], prog_name="kfp-jupyter")
        assert result.exit_code == 2, result.output
        assert f"{option} is not an option of kfp-jupyter {command}: " in result.output
    for option in EXCLUDED[command]["magic"]:
        with pytest.raises(UsageError, match=f"{option} is not an option here: .+"):
            kfp_parser().parse_args([command, str(nb), option])
    for option in EXCLUDED[command]["server"]:
        field = option[2:].replace("-", "_")
        endpoint = "runs" if command == "run" else "submit"
        status, answer = server.call("POST", endpoint, {"path": "demo.ipynb", field: True})
        assert status == 400, answer
        assert answer["message"].startswith(f"{field!r} is not an option here: "), answer


def test_the_magic_passes_its_options_on_as_the_command_does(tmp_path: Path) -> None:
    given = kfp_parser().parse_args(
        ["submit", "nb.ipynb", "--context", "c", "--engine", "argo", "-p", "a=1", "--no-pin"]
    )
    assert (given.context, given.engine, given.params, given.pin_packages) == (
        "c",
        "argo",
        ["a=1"],
        False,
    )
    left_out = kfp_parser().parse_args(["run"])  # not given: the notebook's settings apply
    assert (left_out.pin_packages, left_out.launcher, left_out.workers) == (None, None, None)
    with pytest.raises(UsageError, match="invalid choice"):
        kfp_parser().parse_args(["run", "--launcher", "thread"])


@pytest.mark.parametrize(
    ("table", "function"),
    [(RUN_OPTIONS, run_local), (SUBMIT_OPTIONS, submit), (CONNECTION_OPTIONS, attach)],
)
def test_every_option_passed_on_is_a_keyword_of_the_function_that_takes_it(
    table: tuple[Option, ...], function: Any
) -> None:
    """A front end passes what it read straight on: an option added to a table without its
    keyword in the API would fail at every front end's first use of it."""
    every = {o.dest: "x" if o.kind != "flag" else True for o in table}
    passed = api_keywords(table, every)
    assert passed, "nothing is passed on"
    assert set(passed) <= set(inspect.signature(function).parameters), function.__name__
    assert "params" not in passed and "pin_packages" not in passed  # the front end's own


def test_an_option_left_out_leaves_the_function_its_default(tmp_path: Path) -> None:
    """Not given means the notebook's settings and the API's defaults apply: nothing is passed;
    --no-cache is passed as cache=False."""
    left_out = kfp_parser().parse_args(["run", "nb.ipynb"])
    assert api_keywords(RUN_OPTIONS, vars(left_out)) == {}
    given = kfp_parser().parse_args(["run", "nb.ipynb", "--no-cache", "--keep-going", "--wait"])
    assert api_keywords(RUN_OPTIONS, vars(given)) == {"cache": False, "keep_going": True}
    show = kfp_parser().parse_args(
        ["show", "--run", "r1", "--engine", "kfp", "--host", "h", "--ui-url", "u"]
    )
    assert api_keywords(CONNECTION_OPTIONS, vars(show)) == {"host": "h", "ui_url": "u"}


@pytest.mark.parametrize("pair", ["oops", "=5", " =5"])
def test_a_parameter_without_a_name_is_refused_by_the_command_and_the_magic(
    tmp_path: Path, pair: str
) -> None:
    nb = make_notebook(tmp_path / "n.ipynb", [code("n = 1", "pipeline-parameters")])
    result = CliRunner().invoke(cli, ["run", str(nb), "-p", pair])
    assert result.exit_code == 2, result.output
    assert f"expected NAME=VALUE, got {pair!r}" in result.output
    with pytest.raises(UsageError, match=f"-p expected NAME=VALUE, got {re.escape(repr(pair))}"):
        param_values(kfp_parser().parse_args(["run", str(nb), "-p", pair]).params)


# --- the server honours what it takes ---------------------------------------------------------


def wait_run(server: Server, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + PATIENCE
    while True:
        status, run = server.call("GET", f"runs/{run_id}")
        assert status == 200, run
        if run["state"] not in ("PENDING", "RUNNING"):
            return dict(run)
        assert time.monotonic() < deadline, run
        time.sleep(0.2)


def spans(folder: Path) -> list[tuple[float, float]]:
    return sorted(tuple(json.loads(p.read_text())) for p in folder.glob("*.json"))


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_the_server_runs_with_every_run_option_it_takes(server: Server, bin_dir: Path) -> None:
    marks = server.root / "marks"
    marks.mkdir()
    record = (
        "import json, os, time\n"
        "began = time.time(); time.sleep(0.5)\n"
        "parent = open(f'/proc/{os.getppid()}/cmdline').read()\n"
        f"open(os.path.join({str(marks)!r}, STEP + '.json'), 'w')"
        ".write(json.dumps([began, time.time()]))\n"
        f"open(os.path.join({str(marks)!r}, STEP + '.parent'), 'w').write(parent)\n"
    )
    make_notebook(
        server.root / "all.ipynb",
        [
            code("n = 1", "pipeline-parameters"),
            code(f"STEP = 'a'\n{record}a = n", "step:a"),
            code(f"STEP = 'b'\n{record}b = n", "step:b"),
            code(
                "%%resource settings --action apply\napiVersion: v1\nkind: ConfigMap\n"
                "metadata:\n  name: s\n"
            ),
        ],
    )
    body = {
        "path": "all.ipynb",
        "params": {"n": 4},
        "experiment": "every-option",
        "workers": 1,
        "no_cache": True,
        "keep_going": True,
        "launcher": "subprocess",
        "host_exec": True,
        "apply_resources": True,
        "no_pin": True,
    }
    status, started = server.call("POST", "runs", body)
    assert status == 201, started
    run = wait_run(server, started["id"])
    assert run["state"] == "SUCCEEDED", run
    assert (run["parameters"], run["experiment"]) == ({"n": 4}, "every-option")
    (_, first_ended), (second_began, _) = spans(marks)
    assert first_ended <= second_began, "workers=1 ran both steps at once"
    for step in "ab":  # a cold interpreter started by the server, not a fork server's child
        assert "jupyter_server" in (marks / f"{step}.parent").read_text()
    assert "apply -f -" in (bin_dir / "kubectl.log").read_text()


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("workers", 0, "more than 0"),
        ("workers", 1.5, "a whole number"),
        ("launcher", "thread", "auto, fork, subprocess"),
        ("no_pin", "yes", "true or false"),
    ],
)
def test_the_server_refuses_a_bad_run_option_naming_it(
    server: Server, field: str, value: object, says: str
) -> None:
    status, answer = server.call("POST", "runs", {"path": "demo.ipynb", field: value})
    assert status == 400, answer
    assert repr(field) in answer["message"] and says in answer["message"], answer


def test_the_server_submits_with_every_kfp_option_it_takes(
    server: Server, kfp_api: KfpServer
) -> None:
    make_notebook(
        server.root / "pinned.ipynb",
        [code("import yaml", "imports"), code("text = yaml.safe_dump({'a': 1})", "step:dump")],
    )
    body = {
        "path": "pinned.ipynb",
        "engine": "kfp",
        "host": kfp_api.url,
        "experiment": "from-options",
        "run_name": "every-option",
        "params": {},
        "token_env": TOKEN_ENV,
        "ui_url": "http://ui.example",
        "poll_interval": 1,
        "request_timeout": 20,
        "kfp_runtime": "2.13.0",
        "no_pin": True,
    }
    status, info = server.call("POST", "submit", body)
    assert status == 201, info
    assert info["name"] == "every-option" and info["url"].startswith("http://ui.example"), info
    [run] = [r.run for r in kfp_api.state.runs.values()]
    experiment = kfp_api.state.experiments[run["experiment_id"]]
    assert experiment["display_name"] == "from-options"
    [upload] = kfp_api.state.uploads
    spec = upload.decode()
    assert "kfp==2.13.0" in spec
    assert re.search(r"PyYAML(?!==)", spec, re.IGNORECASE) and not re.search(
        r"PyYAML==", spec, re.IGNORECASE
    ), "no_pin: the package is not pinned"

    status, info = server.call("POST", "submit", {**body, "schedule": "0 0 6 * * *"})
    assert status == 201 and info["kind"] == "recurring", info
    assert len(kfp_api.state.recurring) == 1


def test_the_server_submits_to_argo_with_the_kubeconfig_and_context_given(
    server: Server, k8s_api: K8sServer, tmp_path: Path
) -> None:
    from servers.helpers import K8S_TOKEN

    body = {"path": "demo.ipynb", "engine": "argo", "kubeconfig": "kc", "context": "lab"}
    # a kubeconfig is used as it is (its credentials, the files it names, the commands it runs):
    # a server takes one from a request only if its settings list it
    status, answer = server.call("POST", "submit", body)
    assert status == 400 and "c.KfpJupyterServer.kubeconfigs" in answer["message"], answer
    (tmp_path / "listed").mkdir()
    with jupyter_server(tmp_path / "listed", {"kubeconfigs": ["kc"]}) as listed:
        # like every path the API takes, a kubeconfig is named relative to the server's root
        write_kubeconfig(listed.root / "kc", k8s_api.url, K8S_TOKEN, "argo", context="lab")
        status, info = listed.call("POST", "submit", body)
        assert status == 201, info
        assert any(kind == "workflows" for kind, _, _ in k8s_api.state.objects), "no workflow"
        status, answer = listed.call("POST", "submit", {**body, "context": "elsewhere"})
        assert status == 400 and "elsewhere" in answer["message"], answer


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("poll_interval", 0, "more than 0"),
        ("request_timeout", "soon", "a number"),
        ("engine", "airflow", "kfp, argo"),
    ],
)
def test_the_server_refuses_a_bad_submit_option_naming_it(
    server: Server, field: str, value: object, says: str
) -> None:
    status, answer = server.call("POST", "submit", {"path": "demo.ipynb", field: value})
    assert status == 400, answer
    assert repr(field) in answer["message"] and says in answer["message"], answer


def test_no_pin_with_a_compiled_pipeline_is_refused_as_the_command_refuses_it(
    server: Server,
) -> None:
    from kfp_jupyter import load_notebook

    compile_pipeline(
        load_notebook(server.root / "demo.ipynb"), "kfp", server.root / "compiled.yaml"
    )
    status, answer = server.call("POST", "submit", {"path": "compiled.yaml", "no_pin": True})
    assert status == 400 and "compiled already" in answer["message"], answer
