"""Loading components: v1-style specs and v2 component YAML, from text, a file and a URL; each
invalid spec is refused with a message that names the field; nothing in a spec is ever run."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from components_util import V1_SPEC, V2_SPEC

from kfp_jupyter.components import (
    ComponentSpecError,
    load_component_from_file,
    load_component_from_text,
    load_component_from_url,
)
from kfp_jupyter.components.spec import InputPath, InputValue, OutputPath, Unsupported


def test_v1_spec_inputs_outputs_and_placeholders() -> None:
    spec = load_component_from_file(V1_SPEC)
    assert (spec.name, spec.format) == ("Scale rows", "v1")
    assert spec.container.image == "python:3.11-slim"
    # keys are the names KFP's Python API gives them: the names a notebook assigns
    assert [(i.key, i.passing, i.value_type) for i in spec.inputs] == [
        ("rows", "path", None),
        ("factor", "value", "float"),
        ("skip_header", "value", "bool"),
    ]
    factor = spec.input("factor")
    assert factor.has_default and factor.default == 2.0 and factor.optional
    assert spec.input("skip_header").optional and not spec.input("skip_header").has_default
    assert [(o.key, o.passing, o.value_type) for o in spec.outputs] == [
        ("scaled_rows", "path", None),
        ("row_count", "value", "int"),
    ]
    assert spec.container.command[-4:] == (
        InputPath("rows"),
        InputValue("factor"),
        OutputPath("scaled_rows"),
        OutputPath("row_count"),
    )
    assert spec.text == V1_SPEC.read_text()


def test_v2_component_yaml_written_by_the_kfp_sdk() -> None:
    spec = load_component_from_file(V2_SPEC)
    assert (spec.name, spec.format) == ("column-total", "v2")
    assert spec.description == "Sums one column of a CSV table."
    assert {i.key: (i.passing, i.value_type, i.type) for i in spec.inputs} == {
        "column": ("value", "str", "STRING"),
        "table": ("path", None, "system.Dataset"),
    }
    assert {o.key: (o.passing, o.value_type) for o in spec.outputs} == {
        "total": ("value", "float"),
        "report": ("path", None),
    }
    assert spec.container.args == (
        InputPath("table"),
        InputValue("column"),
        OutputPath("total"),
        OutputPath("report"),
    )


def test_v2_placeholders_inside_strings_and_kfp_only_ones() -> None:
    text = V2_SPEC.read_text().replace(
        "- '{{$.inputs.parameters[''column'']}}'",
        "- '--column={{$.inputs.parameters[''column'']}}'\n        - '{{$}}'",
    )
    spec = load_component_from_text(text)
    concat = spec.container.args[1]
    assert concat.parts == ("--column=", InputValue("column"))  # type: ignore[union-attr]
    assert spec.container.args[2] == Unsupported("{{$}}")
    assert spec.unsupported() == ["{{$}}"]


def test_the_kfp_sdk_reads_our_test_components_the_same_way() -> None:
    from kfp import components

    for path in (V1_SPEC, V2_SPEC):
        ours = load_component_from_file(path)
        theirs = components.load_component_from_file(str(path)).component_spec
        assert {i.key for i in ours.inputs} == set(theirs.inputs or {})
        assert {o.key for o in ours.outputs} == set(theirs.outputs or {})


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1 serving `tmp_path`."""
    (tmp_path / "v1.yaml").write_text(V1_SPEC.read_text())
    (tmp_path / "v2.yaml").write_text(V2_SPEC.read_text())
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_load_from_a_url(server: str) -> None:
    assert load_component_from_url(f"{server}/v1.yaml") == load_component_from_file(V1_SPEC)
    assert load_component_from_url(f"{server}/v2.yaml").name == "column-total"


def test_url_errors_are_one_clear_line(server: str) -> None:
    with pytest.raises(ComponentSpecError, match=r"HTTP 404"):
        load_component_from_url(f"{server}/missing.yaml")
    with pytest.raises(ComponentSpecError, match=r"not valid YAML \(line 2, column 1\)"):
        load_component_from_url(f"{server}/broken.yaml")
    with pytest.raises(ComponentSpecError, match="must start with http:// or https://"):
        load_component_from_url("file:///etc/passwd")


def test_a_url_that_does_not_answer_times_out() -> None:
    import socket

    quiet = socket.socket()
    quiet.bind(("127.0.0.1", 0))
    quiet.listen(1)  # accepts the connection, never answers
    try:
        port = quiet.getsockname()[1]
        with pytest.raises(ComponentSpecError, match=r"no answer within 0.5 s"):
            load_component_from_url(f"http://127.0.0.1:{port}/c.yaml", timeout=0.5)
    finally:
        quiet.close()


def test_nothing_in_a_spec_is_run_on_load(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = (
        f"name: !!python/object/apply:os.system ['touch {marker}']\n"
        "implementation: {container: {image: x, command: [echo]}}\n"
    )
    with pytest.raises(ComponentSpecError, match="not valid YAML"):
        load_component_from_text(evil)
    assert not marker.exists()


V1_OK = """name: Ok
inputs:
- {name: In, type: CSV}
- {name: N, type: Integer}
outputs:
- {name: Out}
implementation:
  container:
    image: alpine
    command: [sh, -c, 'cat "$0" > "$1"', {inputPath: In}, {outputPath: Out}, {inputValue: N}]
"""


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("", None, "the file is empty"),
        ("- a list\n", None, "a YAML mapping, not a list"),
        ("name: [x\n", None, "not valid YAML"),
        (V1_OK.replace("name: Ok\n", ""), "name", "is missing"),
        (V1_OK.replace("name: Ok", "name: 3"), "name", "non-empty string"),
        (V1_OK.replace("implementation:", "implementaton:"), "implementaton", "'implementation'"),
        (V1_OK.replace("  container:", "  graph:"), "implementation.graph", "not supported"),
        (V1_OK.replace("    image: alpine\n", ""), "implementation.container.image", "missing"),
        (V1_OK.replace("- {name: In, type: CSV}", "- {type: CSV}"), "inputs[0].name", "missing"),
        (V1_OK.replace("- {name: N, type: Integer}", "- {name: In}"), "inputs[1].name", "twice"),
        (
            V1_OK.replace("- {name: N, type: Integer}", "- {name: IN}"),
            "inputs[1].name",
            "both become 'in'",
        ),
        (
            V1_OK.replace("inputs:\n", "inputs: 3\n").replace(
                "- {name: In, type: CSV}\n- {name: N, type: Integer}\n", ""
            ),
            "inputs",
            "must be a list",
        ),
        (
            V1_OK.replace("type: Integer}", "type: Integer, defualt: 3}"),
            "inputs[1].defualt",
            "'default'",
        ),
        (
            V1_OK.replace("type: Integer}", "type: Integer, default: many}"),
            "inputs[1].default",
            "not a valid int",
        ),
        (
            V1_OK.replace("{inputPath: In}", "{inputPath: Inn}"),
            "implementation.container.command[3]",
            "names no input",
        ),
        (
            V1_OK.replace("{outputPath: Out}", "{outputPath: Result}"),
            "implementation.container.command[4]",
            "names no output",
        ),
        (
            V1_OK.replace("{inputValue: N}", "{inputValue: In}"),
            "implementation.container.command[5]",
            "no parameter type",
        ),
        (
            V1_OK.replace("{inputPath: In}", "{inputPath: N}"),
            "implementation.container.command[3]",
            "passes as a value",
        ),
        (
            V1_OK.replace("{inputValue: N}", "{inputSomething: N}"),
            "implementation.container.command[5]",
            "unknown placeholder",
        ),
        (
            V1_OK.replace(", {outputPath: Out}", ""),
            "implementation.container",
            "output 'Out' is never given",
        ),
        (
            V1_OK.replace("    command: [", "    fileOutputs: {a: /a}\n    command: ["),
            "implementation.container.fileOutputs",
            "outputPath",
        ),
    ],
)
def test_each_invalid_v1_spec_names_its_field(text: str, field: str | None, words: str) -> None:
    with pytest.raises(ComponentSpecError) as e:
        load_component_from_text(text, "'c.yaml'")
    msg = str(e.value)
    assert msg.startswith("component spec 'c.yaml'")
    assert words in msg
    if field is not None:
        assert f"field '{field}'" in msg


@pytest.mark.parametrize(
    ("edit", "field", "words"),
    [
        (
            ("pipelineInfo:\n  name: column-total", "pipelineInfo: {}"),
            "pipelineInfo.name",
            "missing",
        ),
        (
            ("exec-column-total:\n      container:", "exec-other:\n      container:"),
            "deploymentSpec.executors",
            "has no 'exec-column-total'",
        ),
        (
            ("        image: python:3.11-slim\n", ""),
            "deploymentSpec.executors.exec-column-total.container.image",
            "missing",
        ),
        (
            ("parameterType: NUMBER_DOUBLE", "parameterType: DECIMAL"),
            "root.outputDefinitions.parameters.total.parameterType",
            "DECIMAL",
        ),
        (
            ("inputs.artifacts[''table''].path", "inputs.artifacts[''tabel''].path"),
            "deploymentSpec.executors.exec-column-total.container.args[0]",
            "names no input",
        ),
    ],
)
def test_each_invalid_v2_spec_names_its_field(
    edit: tuple[str, str], field: str, words: str
) -> None:
    text = V2_SPEC.read_text()
    assert edit[0] in text
    with pytest.raises(ComponentSpecError) as e:
        load_component_from_text(text.replace(edit[0], edit[1]))
    assert f"field '{field}'" in str(e.value) and words in str(e.value)


def test_a_v2_pipeline_of_several_tasks_is_not_a_component() -> None:
    import yaml

    doc = yaml.safe_load(V2_SPEC.read_text())
    doc["root"]["dag"]["tasks"]["again"] = doc["root"]["dag"]["tasks"]["column-total"]
    with pytest.raises(ComponentSpecError, match="holds 2 tasks: this is a pipeline"):
        load_component_from_text(yaml.safe_dump(doc))


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ComponentSpecError, match="does not exist"):
        load_component_from_file(tmp_path / "nope.yaml")
    with pytest.raises(ComponentSpecError, match="is a folder"):
        load_component_from_file(tmp_path)
