"""Submitting and following, where a review found them wrong: a pipeline version reused although
only its platform part (secrets, timeouts) changed, a step named like a volume's task, `--host`
lost to the kubeconfig's token refresh, and a host with a scheme other than http(s).

Through the command line against the test servers (tests/servers/), which answer as the real
APIs do: the KFP server keeps a version's platform part and serves it as KFP does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from nbutil import code, make_notebook
from servers.helpers import K8S_TOKEN, TOKEN_ENV, cli, no_traceback
from servers.k8s_server import write_kubeconfig
from servers.kfp_server import KfpServer

pytest_plugins = ["servers.fixtures"]


def submit(server: KfpServer, nb: Path, *more: str) -> tuple[int, str, str]:
    result = cli("submit", str(nb), "--host", server.url, "--token-env", TOKEN_ENV, *more)
    no_traceback(result)
    return result.exit_code, result.stdout, result.stderr


def run_versions(server: KfpServer) -> list[str]:
    """The pipeline version each run was created from, in order."""
    return [
        r.body["pipeline_version_reference"]["pipeline_version_id"]
        for r in server.state.requests
        if r.operation == "RunService_CreateRun"
    ]


def two_steps(path: Path, *train_tags: str) -> Path:
    return make_notebook(
        path,
        [code("x = 1", "step:train", *train_tags), code("y = x + 1", "step:use")],
        metadata={"kfp_jupyter": {"name": "two-steps"}},
    )


# --- 1. a version is reused only when both documents are the same


@pytest.mark.parametrize(
    "tags",
    [
        ("secret:db:password:DB_PASS",),
        ("timeout:600",),
        ("label:team:ml", "annotation:owner:ada"),
    ],
)
def test_adding_only_platform_settings_uploads_a_new_version(kfp_api, tmp_path, tags):
    nb = two_steps(tmp_path / "nb.ipynb")
    assert submit(kfp_api, nb)[0] == 0
    two_steps(nb, *tags)
    status, _, err = submit(kfp_api, nb)
    assert status == 0, err
    assert "uploaded pipeline 'two-steps' as a new version" in err
    assert "reusing" not in err
    first, second = run_versions(kfp_api)
    assert first != second
    # the server keeps (and serves) the platform part the run needs
    [pid] = kfp_api.state.pipelines
    served = kfp_api.state.versions[pid][-1]["pipeline_spec"]
    assert set(served) == {"pipeline_spec", "platform_spec"}
    assert "kubernetes" in served["platform_spec"]["platforms"]


def test_a_version_with_a_platform_part_is_recognised_under_another_name(kfp_api, tmp_path):
    nb = two_steps(tmp_path / "nb.ipynb", "secret:db:password:DB_PASS")
    assert submit(kfp_api, nb)[0] == 0
    [pid] = kfp_api.state.pipelines
    [version] = kfp_api.state.versions[pid]
    version["display_name"] = version["name"] = "uploaded-by-hand"  # as from the KFP UI
    status, _, err = submit(kfp_api, nb)
    assert status == 0, err
    assert "is unchanged: reusing its version 'uploaded-by-hand'" in err
    assert len(kfp_api.state.versions[pid]) == 1
    first, second = run_versions(kfp_api)
    assert first == second


# --- 2. steps are followed under the task names the compiler gave them


def volume_nb(path: Path) -> Path:
    """A step named `createpvc` beside a volume made per run, whose task the compiler names
    `createpvc` (shown as `volume-data`): the step's own task is `createpvc-2`."""
    return make_notebook(
        path,
        [
            code("a = 1", "step:prepare"),
            code("b = a + 1", "step:createpvc"),
            code("c = b", "step:train", "volume:data:/data:1Gi:standard"),
        ],
        metadata={"kfp_jupyter": {"name": "with-volume"}},
    )


def step_states(out: str) -> dict[str, list[str]]:
    rows = [line.split() for line in out.splitlines() if line.startswith(" ")]
    states: dict[str, list[str]] = {}
    for row in rows:
        if len(row) >= 3:
            states.setdefault(row[1], []).append(row[2])
    return states


def test_a_step_named_createpvc_is_followed_on_its_own_task(kfp_api, tmp_path):
    kfp_api.state.fail_tasks = {"createpvc-2"}
    status, out, _ = submit(kfp_api, volume_nb(tmp_path / "v.ipynb"), "--wait",
                            "--poll-interval", "0.05")  # fmt: skip
    assert status == 1, out
    assert "task 'createpvc' failed: exit status 1" in out
    states = step_states(out)
    assert states["createpvc"][-1] == "FAILED", out
    assert states["train"][-1] == "SKIPPED", out
    assert "volume-data" not in states


def test_a_failing_volume_task_is_not_shown_as_the_createpvc_step(kfp_api, tmp_path):
    kfp_api.state.fail_tasks = {"volume-data"}
    status, out, _ = submit(kfp_api, volume_nb(tmp_path / "v.ipynb"), "--wait",
                            "--poll-interval", "0.05")  # fmt: skip
    assert status == 1, out
    states = step_states(out)
    assert states["createpvc"][-1] == "SUCCEEDED", out
    assert states["train"][-1] == "SKIPPED", out


def test_every_step_is_followed_on_the_task_the_compiler_gave_it(tmp_path):
    """Steps named like the volumes' tasks, numbered in the compiler's order (volumes made per
    run first; an existing claim makes no task): each task of the IR is one step's, or a
    volume's, which is no step."""
    import yaml

    import kfp_jupyter
    from kfp_jupyter.cluster.kfp_backend import task_names

    nb = make_notebook(
        tmp_path / "clash.ipynb",
        [
            code("a = 1", "step:load_data", "volume:one:/one:1Gi"),
            code("b = a", "step:createpvc", "volume:two:/two:1Gi"),
            code("c = b", "step:createpvc-2", "volume:pvc/team:/team"),
            code("d = c", "step:createpvc_3"),
        ],
    )
    pipeline = kfp_jupyter.load_notebook(nb)
    ir = kfp_jupyter.compile_pipeline(pipeline, "kfp")
    tasks = next(yaml.safe_load_all(ir))["root"]["dag"]["tasks"]
    names = task_names(pipeline, ir)
    assert names == {
        "load-data": "load_data",
        "createpvc-3": "createpvc",
        "createpvc-2-2": "createpvc-2",
        "createpvc-3-2": "createpvc_3",
    }
    shown = {t["taskInfo"]["name"] for t in tasks.values()}
    assert shown - set(names) == {"volume-one", "volume-two"}


# --- 3. Argo: --host holds with the kubeconfig's own credentials


def test_argo_host_wins_over_the_kubeconfig_server_with_its_token(
    k8s_api, demo_nb, tmp_path, closed_port, monkeypatch
):
    """The kubeconfig's user has a token, so the kubernetes client refreshes it before every
    request, and that refresh used to put the kubeconfig's server back."""
    stale = f"http://127.0.0.1:{closed_port}"
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", stale, K8S_TOKEN, "argo")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    k8s_api.state.fail_tasks = {"train"}
    k8s_api.state.task_logs = {"train": "reading the rows\nthe train pod's last words\n"}
    result = cli("submit", str(demo_nb), "--engine", "argo", "--host", k8s_api.url, "--wait")
    no_traceback(result)
    # the step failed, and the run was followed to its end
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "task 'train' failed" in result.stdout, result.stderr
    assert "the train pod's last words" in result.stdout  # its log, read from --host too
    assert len(k8s_api.state.created) == 1
    assert str(closed_port) not in result.output
    assert {r["auth"] for r in k8s_api.state.requests} == {f"Bearer {K8S_TOKEN}"}
    assert any(r["path"].endswith("/log") for r in k8s_api.state.requests)


# --- 4. only http(s) addresses


@pytest.mark.parametrize("engine", ["kfp", "argo"])
def test_a_host_with_another_scheme_says_only_http_is_supported(cluster_env, demo_nb, engine):
    result = cli("submit", str(demo_nb), "--engine", engine, "--host", "ftp://kfp.example.com")
    no_traceback(result)
    assert result.exit_code == 2
    assert (
        "--host 'ftp://kfp.example.com': only http:// and https:// addresses are supported, "
        "not ftp://" in result.stderr
    )
    assert "fix: give an http(s) address, e.g. https://kfp.example.com" in result.stderr
    assert "http://ftp://" not in result.stderr


def test_a_saved_target_with_another_scheme_says_which_target(cluster_env, demo_nb):
    folder = Path(os.environ["KFP_JUPYTER_CONFIG_DIR"])  # the test's own (cluster_env)
    folder.mkdir(parents=True, exist_ok=True)
    targets = {"targets": {"prod": {"engine": "kfp", "host": "ftp://kfp.example.com"}}}
    (folder / "targets.json").write_text(json.dumps(targets), encoding="utf-8")
    result = cli("submit", str(demo_nb), "--target", "prod")
    no_traceback(result)
    assert result.exit_code == 2
    assert "the host of the saved target 'prod'" in result.stderr
    assert "only http:// and https:// addresses are supported, not ftp://" in result.stderr
    assert "kfp-jupyter targets add prod --engine kfp --host URL --replace" in result.stderr
    # an http(s) --host given with it is used instead, and checked as --host
    result = cli("submit", str(demo_nb), "--target", "prod", "--host", "gopher://x")
    assert "--host 'gopher://x': only http:// and https://" in result.stderr


def test_targets_add_refuses_another_scheme(cluster_env):
    result = cli("targets", "add", "prod", "--engine", "kfp", "--host", "ftp://kfp.example.com")
    no_traceback(result)
    assert result.exit_code == 2
    assert "only http:// and https:// addresses are supported, not ftp://" in result.stderr
