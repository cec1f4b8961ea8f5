"""A kubeconfig that is not YAML is the project's config error (exit 2, the file and the fix), as
the command line shows it, not an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest
from servers.helpers import cli, no_traceback

pytest_plugins = ["servers.fixtures"]

BROKEN = {
    # a flow sequence cut short: the kubernetes client's YAML parser gives up at line 3
    "cut-short": ("apiVersion: v1\nclusters: [\n  - {name: a\n", "line 3, column 3"),
    # a NUL byte: YAML's reader refuses it before parsing
    "binary": ("\x00\x01kubeconfig", "special characters are not allowed"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_kubeconfig_that_is_not_yaml_is_a_config_error_naming_it(
    cluster_env: Path, demo_nb: Path, tmp_path: Path, kind: str
) -> None:
    text, where = BROKEN[kind]
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(text)
    result = cli("submit", str(demo_nb), "--engine", "argo", "--kubeconfig", str(kubeconfig))
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output, result.output
    assert f"cannot read the kubeconfig {kubeconfig}: it is not valid YAML" in result.output
    assert where in result.output, result.output
    assert "fix: correct the file" in result.output and "--kubeconfig PATH" in result.output


def test_a_kubeconfig_from_the_environment_that_is_not_yaml_is_said_the_same_way(
    cluster_env: Path, demo_nb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(BROKEN["cut-short"][0])
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    result = cli("submit", str(demo_nb), "--engine", "argo")
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert f"cannot read the kubeconfig {kubeconfig}: it is not valid YAML" in result.output
