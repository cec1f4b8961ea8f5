"""A pod label or annotation Kubernetes refuses is a notebook error, as a limit amount is: without
the check it compiles, uploads, and fails on the cluster when the API server refuses the pod.
Every way a step says one (tags, `%%step` options, Kale's steps_defaults as a list or an object,
the `%%step` magic run in IPython) goes through the one check, and is told with its cell (and the
magic's line) and what to write instead. What Kubernetes takes still compiles as it did.

Also here: a misspelt cell magic of ours (`%%stepp three`) is told once, by its near-miss warning,
which says that the cell's code is left out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_support import ipython
from nbutil import code, make_notebook

from kfp_jupyter import compile_pipeline, load_notebook
from kfp_jupyter.errors import NotebookError

LONG = "x" * 70


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kfp_jupyter.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def problems_of(nb: Path) -> list[str]:
    with pytest.raises(NotebookError) as e:
        load_notebook(nb)
    return [str(p) for p in e.value.problems]


def two_steps(tmp_path: Path, first: Any, metadata: dict[str, Any] | None = None) -> Path:
    return make_notebook(
        tmp_path / "nb.ipynb", [first, code("y = x + 1", "step:b")], metadata=metadata
    )


# --- tags --------------------------------------------------------------------------------------


def test_compile_refuses_the_reviewed_tags_naming_each_with_its_fix(tmp_path: Path) -> None:
    nb = two_steps(
        tmp_path,
        code(
            "x = 1",
            "step:a",
            "label:team:ML Team",
            "label:bad key!:v",
            "annotation:bad key:v",
            f"label:owner:{LONG}",
        ),
    )
    out = tmp_path / "out.yaml"
    for target in ("kfp", "argo"):
        r = run_cli("compile", nb, "-t", target, "-o", out)
        assert r.returncode == 2, r.stderr
        assert not out.exists()
        assert "Traceback" not in r.stderr
        assert "(4 problems)" in r.stderr
        assert (
            "cell 1: tag 'label:team:ML Team': label 'team' has the value 'ML Team', which "
            "Kubernetes refuses (' ' in 'ML Team')"
        ) in r.stderr
        assert (
            "fix: write it as 'label:team:ML-Team'; or, to keep the text as it is, make it an "
            "annotation: 'annotation:team:ML Team'"
        ) in r.stderr
        assert "cell 1: tag 'label:bad key!:v': label key 'bad key!' is not one" in r.stderr
        assert "fix: write it as 'label:bad-key:v'" in r.stderr
        assert "cell 1: tag 'annotation:bad key:v': annotation key 'bad key' is not" in r.stderr
        assert "fix: write it as 'annotation:bad-key:v'" in r.stderr
        assert f"label 'owner' has the value '{LONG}', which Kubernetes refuses (70 " in r.stderr


@pytest.mark.parametrize(
    ("tag", "why"),
    [
        ("label:example.com/a/b:v", "it has more than one '/'"),
        ("label:/team:v", "its prefix before '/' is empty"),
        ("label:Example.com/team:v", "its prefix 'Example.com' is not a DNS subdomain"),
        ("label:my_org/team:v", "its prefix 'my_org' is not a DNS subdomain"),
        (f"label:{'a' * 64}:v", "64 characters long"),
        (f"label:{'a' * 254}/team:v", "its prefix has 254 characters"),
        ("label:-team:v", "'-team' starts or ends with '-'"),
        ("label:team.:v", "'team.' starts or ends with '.'"),
        ("label:team:-x", "'-x' starts or ends with '-'"),
        ("label:team:a/b", "'/' in 'a/b'"),
        ("annotation:example.com/a/b:v", "it has more than one '/'"),
        ("annotation:team!:v", "'!' in 'team!'"),
    ],
)
def test_each_rule_of_kubernetes_is_told(tmp_path: Path, tag: str, why: str) -> None:
    (problem,) = problems_of(two_steps(tmp_path, code("x = 1", "step:a", tag)))
    assert problem.startswith(f"cell 1: tag {tag!r}: ")
    assert f"({why})" in problem
    assert "\n  fix: " in problem


def test_what_kubernetes_takes_compiles_onto_the_pod(tmp_path: Path) -> None:
    """Prefixed keys, an empty label value, a value of 63 characters, free text in an annotation
    (with ':' and spaces) and an annotation key whose prefix has capitals (Kubernetes checks it
    in lowercase)."""
    nb = two_steps(
        tmp_path,
        code(
            "x = 1",
            "step:a",
            "label:app.kubernetes.io/part-of:",
            f"label:owner:{'x' * 63}",
            "label:team:ML_Team-1.0",
            "annotation:note:free text: kept whole",
            "annotation:Example.com/Owner:Ada Lovelace",
        ),
    )
    workflow = yaml.safe_load(compile_pipeline(load_notebook(nb), "argo"))
    (template,) = [t for t in workflow["spec"]["templates"] if t["name"] == "a"]
    assert template["metadata"] == {
        "labels": {"app.kubernetes.io/part-of": "", "owner": "x" * 63, "team": "ML_Team-1.0"},
        "annotations": {"note": "free text: kept whole", "Example.com/Owner": "Ada Lovelace"},
    }


# --- magics ------------------------------------------------------------------------------------


def test_a_magic_line_is_refused_at_its_line_with_the_option_to_write(tmp_path: Path) -> None:
    nb = two_steps(
        tmp_path, code("\n%%step a --label 'team=ML Team' --annotation 'bad key=v'\nx = 1")
    )
    label, annotation = problems_of(nb)
    assert label.startswith("cell 1, line 2: bad magic line ")
    assert "label 'team' has the value 'ML Team', which Kubernetes refuses" in label
    assert label.endswith(
        "fix: write it as '--label team=ML-Team'; or, to keep the text as it is, make it an "
        "annotation: \"--annotation 'team=ML Team'\""
    )
    assert annotation.startswith("cell 1, line 2: bad magic line ")
    assert "annotation key 'bad key' is not one Kubernetes takes" in annotation
    assert annotation.endswith("fix: write it as '--annotation bad-key=v'")


@pytest.mark.parametrize(
    ("tag", "option", "why"),
    [
        (
            f"label:owner:{LONG}",
            f"--label owner={LONG}",
            f"label 'owner' has the value '{LONG}', which Kubernetes refuses (70 characters long)",
        ),
        (
            "label:bad.key!:v",
            "--label bad.key!=v",
            "label key 'bad.key!' is not one Kubernetes takes ('!' in 'bad.key!'): a label key "
            "is a name (",
        ),
        (
            "annotation:a/b/c:",
            "--annotation a/b/c=",
            "annotation key 'a/b/c' is not one Kubernetes takes (it has more than one '/')",
        ),
    ],
    ids=["label-value", "label-key", "annotation-key"],
)
def test_a_magic_and_a_tag_say_the_same(tmp_path: Path, tag: str, option: str, why: str) -> None:
    """The same words for the same refusal, and the fix in each one's own spelling."""
    (by_tag,) = problems_of(two_steps(tmp_path, code("x = 1", "step:a", tag)))
    (by_magic,) = problems_of(two_steps(tmp_path / "m", code(f"%%step a {option}\nx = 1")))
    tag_words = by_tag.removeprefix(f"cell 1: tag '{tag}': ")
    magic_words = by_magic.removeprefix(f"cell 1, line 1: bad magic line '%%step a {option}': ")
    assert tag_words.startswith(why)
    assert tag_words.split("\n  fix: ")[0] == magic_words.split("\n  fix: ")[0]
    kind = tag.split(":")[0]
    assert f"\n  fix: write it as '{kind}:" in tag_words
    assert f"\n  fix: write it as '--{kind} " in magic_words


def test_a_magic_takes_an_empty_label_value_as_the_tag_does(tmp_path: Path) -> None:
    """Kubernetes takes an empty label or annotation value; so do `label:KEY:` and `--label KEY=`."""
    by_tag = two_steps(tmp_path, code("x = 1", "step:a", "label:tier:", "annotation:note:"))
    by_magic = two_steps(tmp_path / "m", code("%%step a --label tier= --annotation note=\nx = 1"))
    for nb in (by_tag, by_magic):
        workflow = yaml.safe_load(compile_pipeline(load_notebook(nb), "argo"))
        (template,) = [t for t in workflow["spec"]["templates"] if t["name"] == "a"]
        assert template["metadata"] == {"labels": {"tier": ""}, "annotations": {"note": ""}}


@pytest.mark.parametrize("kind", ["label", "annotation"])
def test_a_key_given_twice_with_two_values_is_refused_by_tag_and_magic(
    tmp_path: Path, kind: str
) -> None:
    """Never the last value silently: which one the user meant is theirs to say."""
    by_tag = two_steps(tmp_path, code("x = 1", "step:a", f"{kind}:team:x", f"{kind}:team:y"))
    by_magic = two_steps(tmp_path / "m", code(f"%%step a --{kind} team=x --{kind} team=y\nx = 1"))
    assert f"{kind} 'team' is set twice, to 'x' and to 'y'" in problems_of(by_tag)[0]
    assert f"{kind} 'team' is given twice, as 'x' and 'y'" in problems_of(by_magic)[0]
    same = two_steps(tmp_path / "s", code(f"%%step a --{kind} team=x --{kind} team=x\nx = 1"))
    workflow = yaml.safe_load(compile_pipeline(load_notebook(same), "argo"))
    (template,) = [t for t in workflow["spec"]["templates"] if t["name"] == "a"]
    assert template["metadata"][f"{kind}s"] == {"team": "x"}


def test_the_magic_run_in_ipython_refuses_it_before_the_cell_runs(tmp_path: Path) -> None:
    cell = "%%step a --label 'team=ML Team'\\nprint('the cell ran')"
    r = ipython(tmp_path, "%load_ext kfp_jupyter", f'get_ipython().run_cell("{cell}")')
    assert "UsageError: %%step: label 'team' has the value 'ML Team'" in r.stderr + r.stdout
    assert "the cell ran" not in r.stdout


# --- Kale's steps_defaults -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "defaults",
    [["label:team:ML Team", "limit:cpu:1"], {"labels": {"team": "ML Team"}}],
    ids=["tags", "object"],
)
def test_kales_steps_defaults_are_checked_too(tmp_path: Path, defaults: object) -> None:
    nb = two_steps(
        tmp_path,
        code("x = 1", "step:a"),
        metadata={"kubeflow_notebook": {"steps_defaults": defaults}},
    )
    (problem,) = problems_of(nb)
    assert problem.startswith(
        "notebook metadata 'kubeflow_notebook.steps_defaults': tag 'label:team:ML Team': label "
        "'team' has the value 'ML Team', which Kubernetes refuses"
    )
    assert "fix: write it as 'label:team:ML-Team'" in problem


# --- a misspelt magic of ours: one warning -------------------------------------------------------


def test_a_misspelt_magic_is_one_warning_saying_the_cell_is_left_out(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [code("x = 1", "step:one"), code("%%stepp three\ny = x + 1"), code("z = 1", "step:four")],
    )
    (warning,) = [str(w) for w in load_notebook(nb).warnings]
    assert warning.startswith(
        "cell 2, line 1: cell magic %%stepp is not a kfp-jupyter magic, so it annotates nothing, "
        "and the cell's code is left out of the pipeline as not Python; did you mean "
        "'%%step three'?"
    )
    r = run_cli("compile", nb, "-o", tmp_path / "out.yaml")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("warning:") == 1, r.stderr


def test_a_misspelt_magic_below_our_own_is_told_too(tmp_path: Path) -> None:
    """The second line of a `%%step` cell is where IPython reads the body's own cell magic: a
    near miss there leaves the cell's code out just the same."""
    nb = make_notebook(
        tmp_path / "nb.ipynb", [code("x = 1", "step:one"), code("%%step two\n%%stepp\ny = x")]
    )
    (warning,) = [str(w) for w in load_notebook(nb).warnings]
    assert warning.startswith("cell 2, line 2: cell magic %%stepp is not a kfp-jupyter magic")
    assert "fix: write line 2, in a cell of its own, as '%%step'" in warning


def test_another_non_python_magic_still_says_the_cell_is_left_out(tmp_path: Path) -> None:
    nb = make_notebook(tmp_path / "nb.ipynb", [code("x = 1", "step:one"), code("%%bash\necho hi")])
    (warning,) = [str(w) for w in load_notebook(nb).warnings]
    assert "cell magic %%bash is not Python; the cell is left out of the step" in warning
