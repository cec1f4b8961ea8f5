"""Component, container, resource and volume annotations in a notebook: the grammar (tags and
magics, converted both ways) and every mistake reported with its cell, step and a fix."""

from __future__ import annotations

import http.server
import re
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from components_util import V1_SPEC, V2_SPEC, mixed_notebook
from nbutil import code, make_notebook

from kfp_jupyter import NotebookError, Pipeline, compile_pipeline, load_notebook
from kfp_jupyter.frontends.convert import convert_notebook
from kfp_jupyter.notebook.magic_lines import MagicUsageError, parse_magic_line
from kfp_jupyter.notebook.tags import TagError, parse_tags
from kfp_jupyter.notebook.volumes import VolumeRef

if TYPE_CHECKING:
    from kfp_jupyter.errors import Problem


def _nb(tmp_path: Path, cells: list[Any], metadata: dict[str, Any] | None = None) -> Path:
    (tmp_path / "components").mkdir(exist_ok=True)
    for spec in (V1_SPEC, V2_SPEC):
        shutil.copy(spec, tmp_path / "components" / spec.name)
    return make_notebook(tmp_path / "nb.ipynb", cells, metadata)


def load(tmp_path: Path, cells: list[Any], metadata: dict[str, Any] | None = None) -> Pipeline:
    return load_notebook(_nb(tmp_path, cells, metadata))


def problems(
    tmp_path: Path, cells: list[Any], metadata: dict[str, Any] | None = None
) -> list[Problem]:
    with pytest.raises(NotebookError) as e:
        load(tmp_path, cells, metadata)
    return e.value.problems


HEAD = [
    code("import pandas as pd", "imports"),
    code("factor = 2.0\nlabel = 'x'\nrounds = 3", "pipeline-parameters"),
    code("table = pd.DataFrame({'b': [1.0, 2.0]})\nsize = 2", "step:make"),
]


def test_tags_for_components_containers_resources_and_volumes() -> None:
    t = parse_tags(
        ["step:fetch", "component:https://example.com/c/train.yaml", "volume:data:/data:5Gi"]
    )
    assert t.settings.component == "https://example.com/c/train.yaml"
    assert t.settings.kind == "component"
    assert t.settings.volumes == (VolumeRef("data", "/data", "5Gi"),)
    t = parse_tags(["step:c", "container", "image:busybox:1.36", "volume:pvc/shared-fs:/mnt"])
    assert (t.settings.kind, t.settings.image) == ("container", "busybox:1.36")
    assert t.settings.volumes == (VolumeRef("shared-fs", "/mnt", claim=True),)
    t = parse_tags(["step:r", "resource:delete"])
    assert (t.settings.kind, t.settings.resource) == ("resource", "delete")
    v = parse_tags(["volume:data:/d:1Gi:fast-ssd:rwx"]).settings.volumes[0]
    assert (v.size, v.storage_class, v.access_mode) == ("1Gi", "fast-ssd", "ReadWriteMany")
    assert v.text() == "data:/d:1Gi:fast-ssd:ReadWriteMany"


@pytest.mark.parametrize(
    ("tag", "words"),
    [
        ("component:", "needs the path or URL"),
        ("resource:destroy", "create, apply, delete"),
        ("volume:data", "must be NAME:MOUNT_PATH"),
        ("volume:data:relative/path", "absolute folder path"),
        ("volume:Data:/d:1Gi", "lowercase letters"),
        ("volume:data:/d:lots", "not an amount"),
        ("volume:data:/d:1Gi:std:sometimes", "access mode"),
        ("volume:data:/d:1Gi:std:rwo:extra", "too many"),
        ("volume:pvc/claim:/d:1Gi", "existing claim takes no size"),
        ("volume:data:/d::std", "give the size before"),
    ],
)
def test_bad_tags(tag: str, words: str) -> None:
    with pytest.raises(TagError, match=words):
        parse_tags(["step:s", tag])


def test_magics_for_components_containers_and_resources() -> None:
    m = parse_magic_line("%%component train components/train.yaml --after prep --gpu 1")
    assert (m.step, m.settings.component, m.settings.prev) == (
        "train",
        "components/train.yaml",
        ("prep",),
    )
    m = parse_magic_line("%%container wc --image busybox --volume data:/data:1Gi --memory 1Gi")
    assert (m.settings.kind, m.settings.image, m.settings.limits) == (
        "container",
        "busybox",
        (("memory", "1Gi"),),
    )
    m = parse_magic_line("%%resource cfg --action create")
    assert m.settings.resource == "create"
    for line, words in [
        ("%%component train", "the following arguments are required: PATH_OR_URL"),
        ("%%resource cfg", "--action"),
        ("%%resource cfg --action destroy", "invalid choice"),
        ("%%container c --volume data", "must be NAME:MOUNT_PATH"),
    ]:
        with pytest.raises(MagicUsageError, match=words):
            parse_magic_line(line)


def test_convert_both_ways_keeps_the_pipeline(tmp_path: Path) -> None:
    nb = mixed_notebook(tmp_path / "a", note_file=tmp_path / "n.txt")
    tags = tmp_path / "a" / "tags.ipynb"
    back = tmp_path / "a" / "magics.ipynb"
    convert_notebook(nb, "tags", tags)
    convert_notebook(tags, "magics", back)

    def argo(path: Path, name: str, added: int = 0) -> str:
        # the `# cell N` markers also say where a cell's code starts: after a magic line, at line 2
        text = compile_pipeline(load_notebook(path), "argo").replace(name, "mixed")
        text = re.sub(r"# cell (\d+), line 2\b", r"# cell \1", text)
        # cells added above move the others down
        return re.sub(r"# cell (\d+)", lambda m: f"# cell {int(m[1]) - added}", text)

    expected = argo(nb, "mixed")
    assert argo(tags, "tags") == expected
    # converting to magics put `%load_ext kfp_jupyter` first, so that Run All works
    assert back.read_text().count("%load_ext kfp_jupyter") == 1
    assert argo(back, "magics", added=1) == expected
    assert "%%component scale components/scale_rows.yaml" in back.read_text()
    assert "%%resource settings --action apply" in back.read_text()


def test_component_from_a_url(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    shutil.copy(V1_SPEC, tmp_path / "site" / "scale.yaml")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(tmp_path / "site"), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/scale.yaml"
        p = load(tmp_path, [*HEAD, code(f"%%component scale {url}\nrows = table")])
    finally:
        httpd.shutdown()
        httpd.server_close()
    step = p.step("scale")
    assert step.component is not None and step.component.source == url
    assert step.component.spec.name == "Scale rows"
    assert step.outputs == ("scaled_rows", "row_count")


def _one(ps: list[Problem]) -> Problem:
    assert len(ps) == 1, [str(p) for p in ps]
    return ps[0]


@pytest.mark.parametrize(
    ("cell", "words", "fix"),
    [
        (
            "%%component s components/scale_rows.yaml\nrowz = table",
            "has no input 'rowz'",
            "did you mean 'rows'",
        ),
        (
            "%%component s components/scale_rows.yaml\nfactor = 2.0",
            "needs the input 'rows'",
            "rows = ...",
        ),
        (
            "%%component s components/scale_rows.yaml\nrows = table\nfactor = 'big'",
            "takes a float, not 'big'",
            "type",
        ),
        ("%%component s components/scale_rows.yaml\nrows = label", "takes a file", "variable"),
        ("%%component s components/scale_rows.yaml\nrows = 'data.csv'", "takes a file", "variable"),
        (
            "%%component s components/scale_rows.yaml\nrows = table\nfactor = label",
            "is a float but parameter 'label' is a str",
            None,
        ),
        (
            "%%component s components/scale_rows.yaml\nrows = table.head()",
            "must be given a literal",
            "Python step",
        ),
        (
            "%%component s components/scale_rows.yaml\nrows = table\nrows = table",
            "given twice",
            None,
        ),
        (
            "%%component s components/scale_rows.yaml\nif True:\n    rows = table",
            "only 'input_name = value'",
            None,
        ),
        (
            "%%component s components/nope.yaml\nrows = table",
            "does not exist",
            "relative to the notebook",
        ),
        (
            "%%component s components/scale_rows.yaml --packages numpy\nrows = table",
            "packages have no meaning",
            "remove",
        ),
        (
            "%%component s components/scale_rows.yaml\nrows = tabel",
            "name 'tabel' is read but nothing",
            None,
        ),
        ("%%container c\ncommand: [echo]", "needs an image", "--image REF"),
        (
            "%%container c --image x\ncommand: [echo, {inputPath: nothing}]",
            "name 'nothing' is read",
            None,
        ),
        (
            "%%container c --image x\ncommand: [cat, {inputPath: factor}]",
            "{inputPath: factor}: 'factor' is a pipeline parameter",
            "inputValue",
        ),
        ("%%container c --image x\ncomand: [echo]", "unknown field 'comand'", None),
        ("%%container c --image x\ncommand: [echo\n", "not valid YAML", "YAML"),
        (
            "%%container c --image x\ncommand: [cat, {inputPath: table}, {inputValue: table}]",
            "used both as",
            None,
        ),
        (
            "%%container c --image x\ncommand: [sh, {outputPath: out}]\noutputs: {out: CSV}",
            "not a value type",
            None,
        ),
        (
            "%%container c --image x\ncommand: [sh]\nfile_outputs: {out: relative.txt}",
            "absolute path",
            None,
        ),
        (
            "%%resource r --action apply\nkind: ConfigMap\nmetadata: {name: x}",
            "the manifest has no 'apiVersion'",
            None,
        ),
        (
            "%%resource r --action apply\napiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}",
            "only 'create' may use generateName",
            None,
        ),
        (
            "%%resource r --action apply --memory 1Gi\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}",
            "resource limits have no meaning",
            None,
        ),
    ],
)
def test_mistakes_in_non_python_steps(
    tmp_path: Path, cell: str, words: str, fix: str | None
) -> None:
    p = _one(problems(tmp_path, [*HEAD, code(cell)]))
    assert words in p.message, str(p)
    assert p.cell == 4
    if fix is not None:
        assert p.fix is not None and fix in p.fix, str(p)


def test_yaml_error_points_at_the_line_in_the_cell(tmp_path: Path) -> None:
    cell = "%%container c --image x\ncommand: [echo]\nargs: [a\nenv: {}\n"
    p = _one(problems(tmp_path, [*HEAD, code(cell)]))
    assert p.cell == 4 and p.line is not None and p.line >= 3


def test_naming_outputs(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            *HEAD,
            code("%%component s components/scale_rows.yaml\nrows = table\nscaled = scaled_rows"),
            code("n = len(scaled) + row_count", "step:use"),
        ],
    )
    assert p.step("s").outputs == ("scaled", "row_count")
    assert {i.name for i in p.step("use").inputs} == {"scaled", "row_count"}
    ps = problems(
        tmp_path,
        [
            *HEAD,
            code(
                "%%component s components/scale_rows.yaml\nrows = table\na = row_count\nb = row_count"
            ),
        ],
    )
    assert "output 'row_count' is given two names" in _one(ps).message
    ps = problems(
        tmp_path, [*HEAD, code("%%component s components/scale_rows.yaml\nrows = table\nx = y")]
    )
    p1 = _one(ps)
    assert "has no input 'x'" in p1.message
    assert p1.fix is not None and "NEW_NAME = OUTPUT (outputs: row_count, scaled_rows)" in p1.fix


def test_kinds_of_values_must_match_between_components(tmp_path: Path) -> None:
    ps = problems(
        tmp_path,
        [
            *HEAD,
            code("%%component s components/scale_rows.yaml\nrows = table"),
            code("%%container c --image x\ncommand: [cat, {inputPath: row_count}]"),
        ],
    )
    p = _one(ps)
    assert "'row_count' is a value written by step 's', but this step takes it as a file" in str(p)


def test_a_step_cannot_be_two_kinds(tmp_path: Path) -> None:
    ps = problems(
        tmp_path,
        [
            *HEAD,
            code("rows = table", "step:s", "component:components/scale_rows.yaml", "container"),
        ],
    )
    assert "said to be a component and a container step" in _one(ps).message


def test_shared_names_and_metrics_of_components(tmp_path: Path) -> None:
    ps = problems(
        tmp_path,
        [
            *HEAD,
            code("LIMIT = 3", "functions"),
            code("%%container c --image x\ncommand: [echo, {inputValue: LIMIT}]"),
        ],
    )
    assert "'LIMIT' is defined in the imports or functions cells" in _one(ps).message
    ps = problems(
        tmp_path,
        [
            *HEAD,
            code("%%component s components/scale_rows.yaml\nrows = table"),
            code("row_count", "pipeline-metrics"),
        ],
    )
    p = _one(ps)
    assert "metric 'row_count' is an output of component step 's'" in p.message
    assert p.fix is not None and "float(row_count)" in p.fix


@pytest.mark.parametrize(
    ("cells", "metadata", "words"),
    [
        ([code("x = 1", "step:a", "volume:data:/data")], None, "volume 'data' has no size"),
        (
            [
                code("x = 1", "step:a", "volume:data:/d:1Gi"),
                code("y = x", "step:b", "volume:data:/d:2Gi"),
            ],
            None,
            "defined twice differently",
        ),
        (
            [code("x = 1", "step:a", "volume:data:/d:1Gi", "volume:logs:/d:1Gi")],
            None,
            "both mounted at /d",
        ),
        (  # the step's $KFPJ_VOLUME_DATA could hold only one of the paths
            [code("x = 1", "step:a", "volume:data:/d:1Gi", "volume:data:/e")],
            None,
            "volume 'data' is mounted twice, at /d and at /e",
        ),
        (
            [code("%%step a --volume pvc/data:/e\nx = 1")],
            {"kfp_jupyter": {"volumes": [{"name": "pvc/data", "mount_path": "/d"}]}},
            "volume 'data' is mounted twice, at /d and at /e",
        ),
        (
            [code("x = 1", "step:a", "volume:pvc/data:/d", "volume:data:/e:1Gi")],
            None,
            "both an existing claim",
        ),
        (
            [code("x = 1", "step:a")],
            {"kfp_jupyter": {"volumes": [{"name": "d"}]}},
            "'mount_path' is missing",
        ),
        ([code("x = 1", "step:a")], {"kfp_jupyter": {"volumes": "data:/d:1Gi"}}, "must be a list"),
        (
            [code("x = 1", "step:a")],
            {"kfp_jupyter": {"volumes": [{"name": "d", "mount_path": "/d", "sise": "1Gi"}]}},
            "did you mean 'size'",
        ),
    ],
)
def test_volume_mistakes(
    tmp_path: Path, cells: list[Any], metadata: dict[str, Any] | None, words: str
) -> None:
    assert words in str(_one(problems(tmp_path, cells, metadata)))


def test_notebook_volumes_reach_every_container_step(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("x = 1", "step:a"),
            code("%%container c --image alpine --volume pvc/shared:/shared\ncommand: [ls, /data]"),
            code(
                "%%resource r --action create\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: y}"
            ),
        ],
        {
            "kfp_jupyter": {
                "volumes": [{"name": "data", "mount_path": "/data", "size": "3Gi"}],
            }
        },
    )
    assert [(m.volume, m.path) for m in p.step("a").mounts] == [("data", "/data")]
    assert [(m.volume, m.path) for m in p.step("c").mounts] == [
        ("data", "/data"),
        ("shared", "/shared"),
    ]
    assert p.step("r").mounts == ()
    assert p.to_json()["volumes"] == [
        {
            "name": "data",
            "size": "3Gi",
            "storage_class": None,
            "access_mode": "ReadWriteOnce",
            "claim": None,
        },
        {
            "name": "shared",
            "size": None,
            "storage_class": None,
            "access_mode": "ReadWriteOnce",
            "claim": "shared",
        },
    ]
