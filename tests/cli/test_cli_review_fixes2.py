"""Review fixes of the command line, through the real command: `artifacts get` hands out an
executed notebook in the form `-o` names and a variable by its notebook name; `inspect --json` on
a notebook with problems still prints one JSON object; the `inspect --json` example of
docs/cli.md is what the command prints; saved targets stay readable by their user only."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from engine_support import kfpj
from nbutil import code, make_notebook
from notebook_steps_util import plain
from servers.helpers import cli

from kfp_jupyter.cli.targets_cmd import targets_add
from kfp_jupyter.cluster.targets import ENGINES

ROOT = Path(__file__).resolve().parents[2]


def refused(result: subprocess.CompletedProcess[str], *says: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for words in says:
        assert words in result.stderr, result.stderr


def wrote(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return re.findall(r"^wrote (\S+) \(", result.stderr, re.M)


# --- artifacts get: an executed notebook ------------------------------------------------------


@pytest.fixture(scope="module")
def notebook_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store of a run of a plain notebook: one notebook step, its `executed_notebook` kept
    as .ipynb and .html."""
    folder = tmp_path_factory.mktemp("notebook-run")
    store = folder / "store"
    ran = kfpj("run", plain(folder / "plain.ipynb"), store=store)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return store


def get_notebook(store: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return kfpj(
        "artifacts", "get", "latest", "plain", "executed_notebook", *args, store=store, cwd=cwd
    )


def printed_by(path: Path) -> list[str]:
    """What the cells of the notebook at `path` printed, read as Jupyter reads a notebook."""
    book = json.loads(path.read_text(encoding="utf-8"))
    assert book["nbformat"] == 4
    return ["".join(o.get("text", "")) for c in book["cells"] for o in c.get("outputs", [])]


def test_o_ipynb_is_the_executed_notebook(notebook_run: Path, tmp_path: Path) -> None:
    assert wrote(get_notebook(notebook_run, tmp_path, "-o", "out.ipynb")) == ["out.ipynb"]
    assert "total 6.0\n" in printed_by(tmp_path / "out.ipynb")  # executed: its outputs


def test_o_html_is_the_html_copy(notebook_run: Path, tmp_path: Path) -> None:
    assert wrote(get_notebook(notebook_run, tmp_path, "-o", "out.html")) == ["out.html"]
    assert (tmp_path / "out.html").read_text().lstrip().lower().startswith("<!doctype html")


@pytest.mark.parametrize("output", ["both/", None])
def test_a_folder_gets_both(notebook_run: Path, tmp_path: Path, output: str | None) -> None:
    got = get_notebook(notebook_run, tmp_path, *(["-o", output] if output else []))
    folder = tmp_path / (output or "")
    names = ["executed_notebook.html", "executed_notebook.ipynb"]
    assert wrote(got) == [
        str(Path(output or "") / n) if output else str(tmp_path / n) for n in names
    ]
    assert sorted(p.name for p in folder.iterdir()) == names
    assert "total 6.0\n" in printed_by(folder / names[1])


def test_another_suffix_says_which_to_give(notebook_run: Path, tmp_path: Path) -> None:
    got = get_notebook(notebook_run, tmp_path, "-o", "out.txt")
    refused(got, "executed_notebook.html, executed_notebook.ipynb", "ending in .html or .ipynb")
    assert list(tmp_path.iterdir()) == []


# --- artifacts get: a variable written for a component ----------------------------------------

#: the container copies its input: `rows` reaches it as a file, and no Python step reads `rows`,
#: so the step's only stored output of it is the file `rows__auto`
COPY = (
    "%%container copy --image busybox:1.36\n"
    'command: [sh, -c, \'cat "$0" > "$1"\', {inputPath: rows}, {outputPath: copied}]'
)


@pytest.fixture(scope="module")
def export_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export-run")
    nb = make_notebook(
        folder / "export.ipynb",
        [code("%%imports\nimport os"), code("%%step make\nrows = [1, 2, 3]"), code(COPY)],
    )
    store = folder / "store"
    ran = kfpj("run", nb, "--host-exec", store=store)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return store


def test_the_notebooks_name_of_an_exported_variable_is_taken(
    export_run: Path, tmp_path: Path
) -> None:
    got = kfpj(
        "artifacts",
        "get",
        "latest",
        "make",
        "rows",
        "-o",
        "rows.json",
        store=export_run,
        cwd=tmp_path,
    )
    assert wrote(got) == ["rows.json"]
    assert json.loads((tmp_path / "rows.json").read_text()) == [1, 2, 3]


def test_an_unknown_name_is_told_about_the_suffix(export_run: Path, tmp_path: Path) -> None:
    got = kfpj("artifacts", "get", "latest", "make", "row", store=export_run, cwd=tmp_path)
    refused(got, "has no output 'row' (its outputs: rows__auto)", "VARIABLE__FORMAT")
    assert list(tmp_path.iterdir()) == []


# --- inspect --json ---------------------------------------------------------------------------


def test_inspect_json_of_a_notebook_with_problems_prints_its_problems(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "bad.ipynb",
        [code("%%step a\nx = 1"), code("%%step b\ny = x +\n")],
    )
    got = kfpj("inspect", nb, "--json")
    refused(got, "the notebook cannot become a pipeline")
    answer = json.loads(got.stdout)  # one JSON object, and nothing else
    assert set(answer) == {"message", "problems"}
    [problem] = answer["problems"]
    assert set(problem) == {"message", "cell", "step", "line", "fix"}
    assert problem["cell"] == 2 and "syntax error" in problem["message"]
    assert problem["message"] in answer["message"]


def test_inspect_json_of_a_missing_notebook_prints_its_problem(tmp_path: Path) -> None:
    got = kfpj("inspect", tmp_path / "nope.ipynb", "--json")
    refused(got, "does not exist")
    assert "does not exist" in json.loads(got.stdout)["problems"][0]["message"]


# --- the manual's example of inspect --json ---------------------------------------------------

ELIDED = "..."


def matches(doc: Any, real: Any) -> bool:
    """Whether the manual's `doc` shows `real`: "..." stands for any value, or for any number of
    list items; every key of an object is shown; a pinned package shows the pin's name (its
    version is this environment's)."""
    if doc == ELIDED:
        return True
    if isinstance(doc, dict):
        return (
            isinstance(real, dict)
            and set(doc) == set(real)
            and all(matches(doc[k], real[k]) for k in doc)
        )
    if isinstance(doc, list):
        return isinstance(real, list) and _list_matches(doc, real)
    if isinstance(doc, str) and isinstance(real, str) and "==" in doc:
        return "==" in real and doc.split("==")[0] == real.split("==")[0]
    return bool(type(doc) is type(real) and doc == real)


def _list_matches(doc: list[Any], real: list[Any]) -> bool:
    if not doc:
        return not real
    if doc[0] == ELIDED:
        return any(_list_matches(doc[1:], real[i:]) for i in range(len(real) + 1))
    return bool(real) and matches(doc[0], real[0]) and _list_matches(doc[1:], real[1:])


def inspect_example() -> dict[str, Any]:
    """The JSON block of docs/cli.md under `inspect`."""
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    after = page[page.index("**`inspect`**") :]
    block = after[after.index("```json\n") + len("```json\n") :]
    example: dict[str, Any] = json.loads(block[: block.index("```")])
    return example


def test_the_manuals_inspect_json_example_is_what_inspect_prints() -> None:
    got = kfpj("inspect", "examples/iris_classifier.ipynb", "--json", cwd=ROOT)
    assert got.returncode == 0, got.stderr
    real = json.loads(got.stdout)
    example = inspect_example()
    assert matches(example, real), json.dumps(real, indent=1)


def test_the_example_check_can_fail() -> None:
    example = inspect_example()
    real = json.loads(kfpj("inspect", "examples/iris_classifier.ipynb", "--json", cwd=ROOT).stdout)
    shown = next(s for s in example["steps"] if s != ELIDED)
    for change in ({"resources": {"cpu": "1"}}, {"cpu": "1"}, {"packages": ["numpy"]}):
        wrong = {**example, "steps": [ELIDED, {**shown, **change}, ELIDED]}
        assert not matches(wrong, real), change
    assert not matches({**example, "steps": [shown]}, real)


# --- saved targets --------------------------------------------------------------------------


def test_targets_file_is_the_users_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "config"
    monkeypatch.setenv("KFP_JUPYTER_CONFIG_DIR", str(folder))
    folder.mkdir()
    (folder / "targets.json").write_text("{}\n")
    (folder / "targets.json").chmod(0o644)
    for name in ("prod", "dev"):
        result = cli("targets", "add", name, "--engine", "argo")
        assert result.exit_code == 0, result.output
        assert stat.S_IMODE((folder / "targets.json").stat().st_mode) == 0o600
    assert sorted(json.loads((folder / "targets.json").read_text())["targets"]) == ["dev", "prod"]
    assert [p.name for p in folder.iterdir()] == ["targets.json"]  # no temporary file left


def test_targets_add_offers_the_engines_a_target_can_have() -> None:
    [engine] = [p for p in targets_add.params if p.name == "engine"]
    assert tuple(getattr(engine.type, "choices", ())) == ENGINES


def test_the_executed_notebook_of_an_older_format_still_validates(tmp_path: Path) -> None:
    """A notebook saved as nbformat 4.4 (no cell ids, as older Jupyter writes) keeps its format
    when executed: the cells kfp-jupyter adds carry no id there, so the kept .ipynb validates
    and opens in Jupyter as the user's own did."""
    import nbformat

    nb_path = plain(tmp_path / "old.ipynb")
    book = json.loads(nb_path.read_text(encoding="utf-8"))
    book["nbformat_minor"] = 4
    for cell in book["cells"]:
        cell.pop("id", None)
    nb_path.write_text(json.dumps(book), encoding="utf-8")
    nbformat.validate(nbformat.read(str(nb_path), as_version=4))  # the user's notebook is valid
    store = tmp_path / "store"
    ran = kfpj("run", nb_path, store=store)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    got = kfpj(
        "artifacts",
        "get",
        "latest",
        "old",
        "executed_notebook",
        "-o",
        "out.ipynb",
        store=store,
        cwd=tmp_path,
    )
    assert wrote(got) == ["out.ipynb"]
    executed = nbformat.read(str(tmp_path / "out.ipynb"), as_version=4)
    nbformat.validate(executed)
    assert executed.nbformat_minor == 4
    assert "total 6.0\n" in printed_by(tmp_path / "out.ipynb")
