"""`{{` in the argo target: parameter values that Argo would rewrite reach the step as they were
given (compiled defaults, `submit -p` for a notebook and for a compiled Workflow), what cannot be
passed that way is refused, and a step whose code holds `{{` still reports failures by cell.

Argo cannot run here: tests/argo_pods.py runs the pods as Argo would, and `as_argo_passes` does
first what Argo's controller does to a template's parameter values (workflow/common/util.go,
SubstituteParams: globals such as `{{workflow.name}}` are replaced after a task's arguments are
copied into the template's inputs).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from argo_pods import run_like_argo, templates_by_name
from argo_schema import validate_workflow
from nbutil import code, make_notebook
from servers.helpers import cli, no_traceback
from servers.k8s_server import K8sServer

pytest_plugins = ["servers.fixtures"]

#: the globals Argo's first substitution pass knows in a pod's template
ARGO_GLOBALS = {
    "workflow.name": "braces-x7k2p",
    "workflow.namespace": "argo",
    "pod.name": "braces-x7k2p-show-1234",
}
VALUES = {
    "tmpl": "run {{workflow.name}} on {{pod.name}}, {{=1+1}} and {{ lone",
    "tags": ["{{workflow.namespace}}", "b"],
    "conf": {"k": "{{x}}", "n": 1},
    "plain": "no braces here",
    "odd": "kfpj-b64:bm90IG1pbmU=",
    "n": 3,
}
PARAMETERS = "\n".join(f"{k} = {v!r}" for k, v in VALUES.items())
SHOW = (
    "import json\n"
    "seen = {'tmpl': tmpl, 'tags': tags, 'conf': conf, 'plain': plain, 'odd': odd, 'n': n}\n"
    "with open('seen.json', 'w', encoding='utf-8') as f:\n"
    "    json.dump(seen, f)"
)


def _argo_replace(text: str) -> str:
    """`text` after Argo's pass: known globals replaced, an expression evaluated (to EXPR here),
    any other `{{...}}` left (unresolved is allowed); a '{{' without '}}' fails the workflow."""
    out, rest = "", text
    while "{{" in rest:
        head, _, tail = rest.partition("{{")
        tag, found, rest = tail.partition("}}")
        assert found, f"Argo fails the workflow: no closing braces after '{{{{' in {text!r}"
        key = tag.strip()
        kept = "EXPR" if key.startswith("=") else "{{" + tag + "}}"
        out += head + ARGO_GLOBALS.get(key, kept)
    return out + rest


def as_argo_passes(doc: dict[str, Any]) -> dict[str, Any]:
    """The Workflow with each argument value as a step's template gets it from Argo."""
    out = copy.deepcopy(doc)
    for p in out["spec"]["arguments"]["parameters"]:
        p["value"] = _argo_replace(p["value"])
    return out


def seen_by_the_step(doc: dict[str, Any], work: Path) -> dict[str, Any]:
    run_like_argo(as_argo_passes(doc), work)
    seen: dict[str, Any] = json.loads((work / "show" / "seen.json").read_text(encoding="utf-8"))
    return seen


def arguments(doc: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in doc["spec"]["arguments"]["parameters"]}


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    return make_notebook(
        tmp_path / "braces.ipynb",
        [code(PARAMETERS, "pipeline-parameters"), code(SHOW, "step:show")],
        {"kfp_jupyter": {"name": "braces"}},
    )


def compiled(nb: Path, out: Path) -> dict[str, Any]:
    result = cli("compile", str(nb), "-t", "argo", "-o", str(out))
    no_traceback(result)
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = yaml.safe_load(out.read_text(encoding="utf-8"))
    return doc


def created(server: K8sServer) -> dict[str, Any]:
    [doc] = server.state.created
    return doc


# --- compiled defaults


def test_defaults_with_braces_reach_the_step_as_written(notebook: Path, tmp_path: Path) -> None:
    doc = compiled(notebook, tmp_path / "wf.yaml")
    validate_workflow(doc)
    values = arguments(doc)
    # Argo sees no braces in a value; values without them are written as they always were
    assert not any("{{" in v for v in values.values())
    assert values["plain"] == "no braces here" and values["n"] == "3"
    assert all(values[k].startswith("kfpj-b64:") for k in ("tmpl", "tags", "conf", "odd"))
    assert seen_by_the_step(doc, tmp_path / "pods") == VALUES


# --- submitted values


def test_a_submitted_value_with_braces_reaches_the_step_as_given(
    k8s_api: K8sServer, kubeconfig_file: Path, notebook: Path, tmp_path: Path
) -> None:
    result = cli(
        "submit", str(notebook), "--engine", "argo",
        "-p", "tmpl={{workflow.name}}!", "-p", 'tags=["{{pod.name}}", "}}{{"]', "-p", "plain=p",
    )  # fmt: skip
    no_traceback(result)
    assert result.exit_code == 0, result.output
    doc = created(k8s_api)  # the server checked it against Argo's strict schema
    assert arguments(doc)["plain"] == "p"
    seen = seen_by_the_step(doc, tmp_path / "pods")
    assert seen == dict(VALUES, tmpl="{{workflow.name}}!", tags=["{{pod.name}}", "}}{{"], plain="p")


def test_a_compiled_workflow_submitted_keeps_its_defaults_and_the_values_given(
    k8s_api: K8sServer, kubeconfig_file: Path, notebook: Path, tmp_path: Path
) -> None:
    path = tmp_path / "wf.yaml"
    in_file = arguments(compiled(notebook, path))
    result = cli("submit", str(path), "-p", "tmpl=at {{workflow.namespace}}", "-p", "odd=x")
    no_traceback(result)
    assert result.exit_code == 0, result.output
    doc = created(k8s_api)
    sent = arguments(doc)
    # the defaults go as the file has them (encoded once, not again)
    assert {k: sent[k] for k in ("tags", "conf", "plain", "n")} == {
        k: in_file[k] for k in ("tags", "conf", "plain", "n")
    }
    seen = seen_by_the_step(doc, tmp_path / "pods")
    assert seen == dict(VALUES, tmpl="at {{workflow.namespace}}", odd="x")


def test_another_workflows_values_are_argos_to_replace(
    k8s_api: K8sServer, kubeconfig_file: Path, tmp_path: Path
) -> None:
    path = tmp_path / "hand.yaml"
    path.write_text(
        "apiVersion: argoproj.io/v1alpha1\n"
        "kind: Workflow\n"
        "metadata: {generateName: hand-}\n"
        "spec:\n"
        "  entrypoint: main\n"
        "  arguments: {parameters: [{name: out, value: x}]}\n"
        "  templates:\n"
        "  - name: main\n"
        "    dag: {tasks: [{name: say, template: say}]}\n"
        "  - name: say\n"
        "    container: {image: 'busybox:1.36', command: [echo, '{{workflow.parameters.out}}']}\n",
        encoding="utf-8",
    )
    result = cli("submit", str(path), "-p", "out=s3://bucket/{{workflow.name}}")
    assert result.exit_code == 0, result.output
    assert arguments(created(k8s_api)) == {"out": "s3://bucket/{{workflow.name}}"}


# --- what no step program reads


def _component_notebook(tmp_path: Path, default: str) -> Path:
    return make_notebook(
        tmp_path / "say.ipynb",
        [
            code(f"tmpl = {default!r}\nn = 1", "pipeline-parameters"),
            code("%%container say --image busybox:1.36\ncommand: [echo, {inputValue: tmpl}]"),
            code("m = n + 1", "step:add"),
        ],
    )


def test_a_default_with_braces_for_a_command_line_is_refused(tmp_path: Path) -> None:
    nb = _component_notebook(tmp_path, "hi {{workflow.name}}")
    out = tmp_path / "say.yaml"
    result = cli("compile", str(nb), "-t", "argo", "-o", str(out))
    no_traceback(result)
    assert result.exit_code == 2, result.output
    said = result.stderr
    assert "cell 1, line 1 / step 'say': parameter 'tmpl': its default contains '{{'" in said
    assert "fix: give 'tmpl' a value without '{{'" in said
    assert not out.exists()


def test_a_submitted_value_with_braces_for_a_command_line_is_refused(
    k8s_api: K8sServer, kubeconfig_file: Path, tmp_path: Path
) -> None:
    nb = _component_notebook(tmp_path, "hi")
    result = cli("submit", str(nb), "--engine", "argo", "-p", "tmpl={{workflow.name}}")
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert "step 'say': parameter 'tmpl': its value contains '{{'" in result.output
    assert "fix: give 'tmpl' a value without '{{'" in result.output
    # the compiled file: the same
    path = tmp_path / "say.yaml"
    compiled(nb, path)
    result = cli("submit", str(path), "-p", "tmpl=a {{b}}")
    assert result.exit_code == 2, result.output
    assert "step 'say': parameter 'tmpl'" in result.output
    assert k8s_api.state.created == []
    # the parameter that only Python steps read takes it
    result = cli("submit", str(path), "-p", "n=2", "-p", "tmpl=plain")
    assert result.exit_code == 0, result.output


def test_a_workflow_compiled_before_values_were_encoded_is_told_to_compile_again(
    k8s_api: K8sServer, kubeconfig_file: Path, tmp_path: Path
) -> None:
    nb = make_notebook(
        tmp_path / "plain.ipynb",
        [code("tmpl = 'hi'", "pipeline-parameters"), code("print(tmpl)", "step:show")],
    )
    path = tmp_path / "wf.yaml"
    compiled(nb, path)
    # the step program of an earlier version: it reads each value as Argo passes it
    text = path.read_text(encoding="utf-8")
    assert text.count("_kfpj_argo_text") == 2  # its definition and its call, in the plain source
    path.write_text(text.replace("_kfpj_argo_text", "_kfpj_earlier_text"), encoding="utf-8")
    result = cli("submit", str(path), "-p", "tmpl={{workflow.name}}")
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert "step 'show': parameter 'tmpl'" in result.output
    assert "compiled by an earlier kfp-jupyter" in result.output
    assert "fix: compile the notebook again with `kfp-jupyter compile -t argo`" in result.output
    assert k8s_api.state.created == []


# --- a step whose code holds '{{'


def test_a_failure_in_code_with_braces_points_at_its_cell_and_line(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "boom.ipynb",
        [
            code("n = 3", "pipeline-parameters"),
            code("label = f'{{literal}} {n}'\ny = n + 1\nz = y / 0", "step:boom"),
        ],
    )
    doc = compiled(nb, tmp_path / "boom.yaml")
    source = templates_by_name(doc)["boom"]["script"]["source"]
    assert "{{" not in source and "base64" in source
    # as Argo runs a script template: its source as a file, run by python3 in the pod
    script = tmp_path / "pod" / "script"
    script.parent.mkdir()
    script.write_text(source, encoding="utf-8")
    env = dict(os.environ, KFPJ_ROOT=str(tmp_path / "pod" / "kfpj"), KFPJ_PARAM_N="3")
    r = subprocess.run(
        [sys.executable, str(script)], env=env, cwd=script.parent, capture_output=True, text=True
    )
    assert r.returncode == 1, r.stderr
    assert "  cell 2, line 3, in step boom\n    z = y / 0\nZeroDivisionError" in r.stderr
    [marker] = [ln for ln in r.stderr.splitlines() if ln.startswith("kfp-jupyter-step-error: ")]
    error = json.loads(marker.partition(": ")[2])
    assert error["frames"] == [{"cell": 2, "line": 3, "name": "step boom", "source": "z = y / 0"}]
