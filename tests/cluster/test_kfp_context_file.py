"""kfp's context file (~/.config/kfp/context.json) as users write it: the docs tell them to put
`"host": URL` there, and kfp.Client must not fail on a file without its own "namespace" key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from servers.helpers import TOKEN_ENV, cli, no_traceback
from servers.kfp_server import KfpServer

pytest_plugins = ["servers.fixtures"]


def write(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("content", [{}, {"client_authentication_cookie": ""}])
def test_a_context_file_without_namespace_and_host_flag(
    kfp_api: KfpServer, demo_nb, cluster_env, content
):
    write(cluster_env, content)
    result = cli("submit", str(demo_nb), "--host", kfp_api.url, "--token-env", TOKEN_ENV)
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert len(kfp_api.state.runs) == 1
    assert json.loads(cluster_env.read_text()) == content  # kfp was not made to rewrite it


def test_the_documented_context_file_with_only_the_host(kfp_api: KfpServer, demo_nb, cluster_env):
    write(cluster_env, {"host": kfp_api.url})
    result = cli("submit", str(demo_nb), "--token-env", TOKEN_ENV)
    no_traceback(result)
    assert result.exit_code == 0, result.output
    [run] = kfp_api.state.runs.values()
    assert run.run["run_id"]


def test_host_only_file_and_a_namespace_flag(kfp_api: KfpServer, demo_nb, cluster_env):
    kfp_api.state.namespaces = {"team-a"}
    write(cluster_env, {"host": kfp_api.url})
    result = cli("submit", str(demo_nb), "--namespace", "team-a", "--token-env", TOKEN_ENV)
    assert result.exit_code == 0, result.output
    [experiment] = kfp_api.state.experiments.values()
    assert experiment["namespace"] == "team-a"


def test_host_only_file_on_multi_user_kfp_asks_healthz_as_kfp_does(
    kfp_api: KfpServer, demo_nb, cluster_env
):
    """No namespace anywhere: kfp's own behaviour without a context file (it asks healthz, and
    outside a pod has no namespace), so the server's answer about the namespace is what is said."""
    kfp_api.state.multi_user = True
    write(cluster_env, {"host": kfp_api.url})
    result = cli("submit", str(demo_nb), "--token-env", TOKEN_ENV, "--experiment", "x")
    no_traceback(result)
    assert result.exit_code == 1
    assert "KeyError" not in result.output
    assert "namespace must be set" in result.stderr
    assert any(r.operation and "healthz" in r.operation.lower() for r in kfp_api.state.requests)


def test_namespace_kubeflow_with_a_keyless_file_is_a_clear_error(
    kfp_api: KfpServer, demo_nb, cluster_env
):
    """kfp.Client cannot tell 'kubeflow' from its default and then reads the file's key."""
    write(cluster_env, {"host": kfp_api.url})
    result = cli("submit", str(demo_nb), "--namespace", "kubeflow", "--token-env", TOKEN_ENV)
    no_traceback(result)
    assert result.exit_code == 2
    assert f'{cluster_env} has no "namespace" key' in result.stderr
    assert f'add "namespace": "kubeflow" to {cluster_env}' in result.stderr
    assert kfp_api.state.requests == []


def test_namespace_kubeflow_with_the_key_in_the_file(kfp_api: KfpServer, demo_nb, cluster_env):
    kfp_api.state.namespaces = {"kubeflow"}
    write(cluster_env, {"host": kfp_api.url, "namespace": "kubeflow"})
    result = cli("submit", str(demo_nb), "--token-env", TOKEN_ENV)
    assert result.exit_code == 0, result.output
    [experiment] = kfp_api.state.experiments.values()
    assert experiment["namespace"] == "kubeflow"
