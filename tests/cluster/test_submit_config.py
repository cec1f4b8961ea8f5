"""Where `submit` connects to and with which credentials, resolved before anything is sent."""

from __future__ import annotations

import json

import pytest
from servers.k8s_server import write_kubeconfig

from kfp_jupyter.cluster.config import (
    IN_CLUSTER_KFP,
    ConnectionSettings,
    KfpConnection,
    KubeConnection,
    Token,
    argo_ui_url,
    kfp_connection,
    kube_connection,
)
from kfp_jupyter.cluster.errors import ConfigError

pytest_plugins = ["servers.fixtures"]


def resolve_kfp(host=None, **settings) -> KfpConnection:
    return kfp_connection(ConnectionSettings(host, **settings))


def resolve_kube(host=None, **settings) -> KubeConnection:
    return kube_connection(ConnectionSettings(host, **settings))


def write_context(path, **data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_kfp_host_resolution_order(cluster_env):
    write_context(cluster_env, host="http://from-context:1", namespace="ctx-ns")
    env = {"KF_PIPELINES_ENDPOINT": "http://from-env:2", "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    # 1. --host
    c = resolve_kfp("http://from-flag:3/", environ=env)
    assert (c.host, c.host_source) == ("http://from-flag:3", "--host")
    # 2. KF_PIPELINES_ENDPOINT
    c = resolve_kfp(None, environ=env)
    assert (c.host, c.host_source) == ("http://from-env:2", "$KF_PIPELINES_ENDPOINT")
    # 3. kfp's context file (and its namespace)
    c = resolve_kfp(None, environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    assert c.host == "http://from-context:1" and str(cluster_env) in c.host_source
    assert c.namespace == "ctx-ns"
    # 4. in a pod: the in-cluster service
    cluster_env.unlink()
    c = resolve_kfp(None, environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    assert c.host == IN_CLUSTER_KFP == "http://ml-pipeline.kubeflow.svc.cluster.local:8888"
    # 5. nowhere: an error naming every way to configure it
    with pytest.raises(ConfigError) as info:
        resolve_kfp(None, environ={})
    text = str(info.value)
    assert "--host" in text and "KF_PIPELINES_ENDPOINT" in text and str(cluster_env) in text
    assert info.value.exit_code == 2


def test_namespace_flag_beats_the_context_file(cluster_env):
    write_context(cluster_env, namespace="ctx-ns")
    assert resolve_kfp("http://h", namespace="flag-ns", environ={}).namespace == "flag-ns"
    assert resolve_kfp("http://h", environ={}).namespace == "ctx-ns"


def test_ui_address(cluster_env):
    assert resolve_kfp("http://h:1", environ={}).ui_url == "http://h:1"
    env = {"KF_PIPELINES_UI_ENDPOINT": "https://ui.example/"}
    assert resolve_kfp("http://h:1", environ=env).ui_url == "https://ui.example"
    assert resolve_kfp("http://h:1", ui_url="https://x", environ=env).ui_url == "https://x"


def test_tokens_never_show_their_value(cluster_env):
    c = resolve_kfp("http://h", token_env="MY_TOKEN", environ={"MY_TOKEN": " s3cr3t\n"})
    assert c.token is not None and c.token.reveal() == "s3cr3t"
    for text in (repr(c), str(c), repr(c.token), str(c.token), f"{c.token}"):
        assert "s3cr3t" not in text
    assert repr(Token("x", "$V")) == "<token from $V>"
    with pytest.raises(ConfigError, match="MY_TOKEN is not set"):
        resolve_kfp("http://h", token_env="MY_TOKEN", environ={})


def test_service_account_token_path(cluster_env, tmp_path):
    f = tmp_path / "token"
    f.write_text("abc")
    c = resolve_kfp("http://h", environ={"KF_PIPELINES_SA_TOKEN_PATH": str(f)})
    assert c.sa_token_path == str(f)
    # an explicit token wins; a missing file is not used
    assert (
        resolve_kfp(
            "http://h", token="t", environ={"KF_PIPELINES_SA_TOKEN_PATH": str(f)}
        ).sa_token_path
        is None
    )
    assert (
        resolve_kfp("http://h", environ={"KF_PIPELINES_SA_TOKEN_PATH": "/nope"}).sa_token_path
        is None
    )


def test_bad_context_file_is_a_clear_error(cluster_env):
    cluster_env.parent.mkdir(parents=True)
    cluster_env.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read kfp's context file"):
        resolve_kfp(None, environ={})


def test_kube_from_kubeconfig(cluster_env, tmp_path):
    kc = write_kubeconfig(tmp_path / "kc", "http://127.0.0.1:9", "tok", "ns-1")
    c = resolve_kube(environ={"KUBECONFIG": str(kc)})
    assert (c.host, c.namespace, c.namespace_source) == (
        "http://127.0.0.1:9",
        "ns-1",
        "the kubeconfig context",
    )
    assert c.configuration.api_key["authorization"] == "Bearer tok"
    assert "tok" not in c.describe()
    c = resolve_kube(namespace="other", kubeconfig=str(kc), environ={})
    assert c.namespace == "other"
    c = resolve_kube(
        "http://127.0.0.1:10", kubeconfig=str(kc), token_env="T", environ={"T": "tok2"}
    )
    assert c.host == "http://127.0.0.1:10"
    assert c.configuration.api_key["authorization"] == "Bearer tok2"


def test_kube_context_choice(cluster_env, tmp_path):
    import yaml

    kc = write_kubeconfig(tmp_path / "kc", "http://127.0.0.1:9", "tok", "ns-1")
    doc = yaml.safe_load(kc.read_text())
    doc["clusters"].append({"name": "c2", "cluster": {"server": "http://127.0.0.1:11"}})
    doc["contexts"].append(
        {"name": "second", "context": {"cluster": "c2", "user": "test-user", "namespace": "ns-2"}}
    )
    kc.write_text(yaml.safe_dump(doc))
    c = resolve_kube(kubeconfig=str(kc), context="second", environ={})
    assert (c.host, c.namespace) == ("http://127.0.0.1:11", "ns-2")
    with pytest.raises(ConfigError, match="cannot use the kubeconfig"):
        resolve_kube(kubeconfig=str(kc), context="missing", environ={})


def test_kube_without_any_configuration(cluster_env):
    with pytest.raises(ConfigError, match="no Kubernetes configuration") as info:
        resolve_kube(environ={})
    assert info.value.exit_code == 2
    with pytest.raises(ConfigError, match="no such file"):
        resolve_kube(kubeconfig="/does/not/exist", environ={})
    c = resolve_kube("http://127.0.0.1:5", token="t", environ={})
    assert (c.host, c.namespace) == ("http://127.0.0.1:5", "default")


def test_argo_ui_address():
    assert argo_ui_url(None, {}) is None
    assert argo_ui_url(None, {"ARGO_SERVER": "argo:2746"}) == "https://argo:2746"
    env = {"ARGO_SERVER": "argo:2746", "ARGO_SECURE": "false", "ARGO_BASE_HREF": "/argo/"}
    assert argo_ui_url(None, env) == "http://argo:2746/argo"
    assert argo_ui_url("https://ui/", env) == "https://ui"
