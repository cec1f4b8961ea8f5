"""Reading annotations: tags, magics (also mixed), roles of cells, settings, notebook metadata."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from nbutil import code, make_notebook, md

from kfp_jupyter import NotebookError, Pipeline, load_notebook

if TYPE_CHECKING:
    from kfp_jupyter.errors import Problem


def load(tmp_path: Path, cells: list[Any], metadata: dict[str, Any] | None = None) -> Pipeline:
    return load_notebook(make_notebook(tmp_path / "nb.ipynb", cells, metadata))


def problems(
    tmp_path: Path, cells: list[Any], metadata: dict[str, Any] | None = None
) -> list[Problem]:
    with pytest.raises(NotebookError) as e:
        load(tmp_path, cells, metadata)
    assert e.value.problems
    return e.value.problems


def shape(p: Pipeline) -> dict[str, Any]:
    """The pipeline minus where it came from: two notebooks that mean the same give equal shapes."""
    out = p.to_json()
    out.pop("notebook")
    out.pop("warnings")
    return out


TAGGED = [
    md("# Train a model\nSome words."),
    code("import math\nimport json", "imports"),
    code("def double(x):\n    return 2 * x", "functions"),
    code("rate = 0.5\nname = 'run'", "pipeline-parameters"),
    code("data = list(range(10))", "step:load"),
    code(
        "total = sum(double(d) for d in data) * rate", "step:train", "prev:load", "limit:memory:2Gi"
    ),
    code("score = math.sqrt(total)", "step:evaluate", "prev:train"),
    code("score", "pipeline-metrics"),
]

MAGICS = [
    md("# Train a model\nSome words."),
    code("%%imports\nimport math\nimport json"),
    code("%%functions\ndef double(x):\n    return 2 * x"),
    code("%%pipeline_parameters\nrate = 0.5\nname = 'run'"),
    code("%%step load\ndata = list(range(10))"),
    code("%%step train --after load --memory 2Gi\ntotal = sum(double(d) for d in data) * rate"),
    code("%%step evaluate --after train\nscore = math.sqrt(total)"),
    code("%%pipeline_metrics\nscore"),
]


def test_tagged_notebook(tmp_path: Path) -> None:
    p = load(tmp_path, TAGGED)
    assert [s.name for s in p.steps] == ["load", "train", "evaluate"]
    assert {q.name: (q.type, q.default) for q in p.parameters} == {
        "rate": ("float", 0.5),
        "name": ("str", "run"),
    }
    assert p.metrics == ("score",)
    assert "import math" in p.imports and "def double" in p.functions
    train = p.step("train")
    assert train.cells == (6,)  # cells are counted as in the notebook, markdown included
    assert train.after == ("load",) and train.input_names == ("data",)
    assert train.parameters == ("rate",)
    assert train.limits == {"memory": "2Gi"}
    assert p.step("evaluate").metrics == ("score",)
    assert p.step("load").outputs == ("data",)


def test_magics_mean_the_same_as_tags(tmp_path: Path) -> None:
    assert shape(load(tmp_path / "m", MAGICS)) == shape(load(tmp_path / "t", TAGGED))


def test_magics_and_tags_mixed_in_one_notebook(tmp_path: Path) -> None:
    mixed = [TAGGED[0], MAGICS[1], TAGGED[2], MAGICS[3], TAGGED[4], MAGICS[5], TAGGED[6], MAGICS[7]]
    assert shape(load(tmp_path / "x", mixed)) == shape(load(tmp_path / "t", TAGGED))


def test_magic_and_tags_on_one_cell_must_agree(tmp_path: Path) -> None:
    p = load(tmp_path / "ok", [code("%%step load --cpu 1\nx = 1", "step:load", "retries:2")])
    assert p.steps[0].limits == {"cpu": "1"} and p.steps[0].retries == 2
    (prob,) = problems(tmp_path / "bad", [code("%%step load\nx = 1", "step:other")])
    assert prob.cell == 1 and "tags say" in prob.message and prob.fix
    (prob,) = problems(tmp_path / "bad2", [code("%%step load --retries 1\nx = 1", "retries:2")])
    assert prob.cell == 1 and "retries" in prob.message


def test_block_is_an_alias_of_step(tmp_path: Path) -> None:
    p = load(tmp_path, [code("a = 1", "block:first"), code("b = a", "block:second")])
    assert [s.name for s in p.steps] == ["first", "second"]
    assert p.step("second").after == ("first",)


def test_untagged_cells_continue_the_step_above(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("a = 1", "step:one"),
            md("notes"),
            code("b = a + 1"),
            code(""),
            code("%%step two\nc = b"),
            code("d = c * 2"),
        ],
    )
    assert p.step("one").cells == (1, 3)
    assert p.step("two").cells == (5, 6)
    assert p.step("two").input_names == ("b",)
    assert p.step("one").outputs == ("b",)


def test_cells_with_one_step_name_form_one_step(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("a = 1", "step:load"),
            code("b = a * 2", "step:feature"),
            code("c = 3", "step:load"),
            code("d = b + c", "step:train"),
        ],
    )
    assert [s.name for s in p.steps] == ["load", "feature", "train"]
    load_step = p.step("load")
    assert load_step.cells == (1, 3)
    assert "a = 1" in load_step.source and "c = 3" in load_step.source
    assert {(i.name, i.producer) for i in p.step("train").inputs} == {
        ("b", "feature"),
        ("c", "load"),
    }


def test_markdown_is_ignored_even_when_it_looks_like_code(tmp_path: Path) -> None:
    p = load(
        tmp_path, [md("%%step fake\nimport os"), code("x = 1", "step:real"), md("y = undefined")]
    )
    assert [s.name for s in p.steps] == ["real"]
    assert p.steps[0].cells == (2,)


def test_skip_cells_and_what_follows_them_are_left_out(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("x = 1", "step:one"),
            code("x.undefined_call()\nplot(x)", "skip"),
            code("more_exploration(x)"),
            code("%%skip\nanother = broken("),
            code("y = x + 1", "step:two"),
        ],
    )
    assert [s.cells for s in p.steps] == [(1,), (5,)]


def test_plain_imports_and_ipython_lines_before_the_first_step(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("%matplotlib inline\n%load_ext autoreload"),
            code("!pip install -q scikit-learn"),
            code("import numpy as np\n%config InlineBackend.figure_format = 'retina'"),
            code("def helper(a):\n    return np.asarray(a)"),
            code("# just a comment"),
            code("%%step load\narr = helper([1, 2])"),
        ],
    )
    assert "import numpy as np" in p.imports
    assert "def helper" in p.functions
    assert p.steps[0].input_names == ()
    # magics-only cells are simply not part of the pipeline; a magic in an imports cell is said,
    # and a pip install cell states what every step installs, as the imports cell's pip lines do
    assert sorted(w.cell for w in p.warnings if w.cell is not None) == [2, 3]
    assert "scikit-learn" in p.steps[0].packages


def test_unannotated_code_before_the_first_step_is_an_error(tmp_path: Path) -> None:
    (prob,) = problems(tmp_path, [code("import os"), code("x = 1"), code("y = x", "step:a")])
    assert prob.cell == 2 and prob.fix and "step:NAME" in prob.fix


def test_parameters_of_every_type(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code(
                "epochs = 3\nlr = 1e-3\nname = 'x'\nverbose = False\nlayers = [64, 32]\n"
                "opts = {'a': 1, 'b': [True, None]}\nneg: int = -2",
                "pipeline-parameters",
            ),
            code("out = (epochs, lr, name, verbose, layers, opts, neg)", "step:use"),
        ],
    )
    got = {q.name: (q.type, q.default) for q in p.parameters}
    assert got == {
        "epochs": ("int", 3),
        "lr": ("float", 1e-3),
        "name": ("str", "x"),
        "verbose": ("bool", False),
        "layers": ("list", [64, 32]),
        "opts": ("dict", {"a": 1, "b": [True, None]}),
        "neg": ("int", -2),
    }
    assert set(p.step("use").parameters) == set(got)
    assert p.step("use").inputs == ()


def test_papermill_parameters_tag_is_understood(tmp_path: Path) -> None:
    p = load(tmp_path, [code("n = 2", "parameters"), code("m = n * 2", "step:a")])
    assert p.parameters[0].name == "n" and p.step("a").parameters == ("n",)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("shape = (1, 2)", "tuple"),
        ("path = os.getcwd()", "literal"),
        ("n = 2 * k", "literal"),
        ("s = {1, 2}", "set"),
        ("d = {1: 'a'}", "keys must be strings"),
        ("bad = [1, (2, 3)]", "tuple"),
        ("nothing = None", "NoneType"),
        ("_private = 1", "invalid parameter name"),
        ("print('hi')", "name = literal"),
    ],
)
def test_bad_parameters(tmp_path: Path, line: str, words: str) -> None:
    probs = problems(
        tmp_path, [code(f"ok = 1\n{line}", "pipeline-parameters"), code("x = ok", "step:a")]
    )
    (prob,) = probs
    assert words in prob.message
    assert prob.cell == 1 and prob.line == 2 and prob.fix


def test_metrics_bare_names_print_and_tuples(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("acc = 0.9\nloss = 0.1\nf1 = 0.8\nauc = 0.7", "step:a"),
            code("acc\nprint(loss)\nf1, auc", "pipeline-metrics"),
        ],
    )
    assert p.metrics == ("acc", "loss", "f1", "auc")
    assert p.step("a").metrics == ("acc", "loss", "f1", "auc")


def test_metrics_cell_with_other_code_is_an_error(tmp_path: Path) -> None:
    (prob,) = problems(
        tmp_path, [code("acc = 1", "step:a"), code("print(f'{acc:.2f}')", "pipeline-metrics")]
    )
    assert prob.cell == 2 and prob.line == 1 and "pipeline-metrics" in prob.message


SETTINGS_TAGS = [
    "step:train",
    "image:python:3.12-slim",
    "packages:scikit-learn==1.4.2",
    "packages:rich",
    "limit:nvidia.com/gpu:2",
    "limit:cpu:500m",
    "limit:memory:4Gi",
    "label:team:ml",
    "annotation:owner:me@example.com",
    "secret:s3-creds:access-key:AWS_ACCESS_KEY_ID",
    "cache:disabled",
    "retries:3",
    "timeout:600",
]
SETTINGS_MAGIC = (
    "%%step train --image python:3.12-slim --packages scikit-learn==1.4.2,rich --gpu 2 "
    "--cpu 500m --memory 4Gi --label team=ml --annotation owner=me@example.com "
    "--secret s3-creds:access-key:AWS_ACCESS_KEY_ID --no-cache --retries 3 --timeout 600"
)


@pytest.mark.parametrize("style", ["tags", "magic"])
def test_settings_become_step_fields(tmp_path: Path, style: str) -> None:
    body = "from sklearn.linear_model import LinearRegression\nimport pandas as pd\nm = LinearRegression()"
    cell = code(body, *SETTINGS_TAGS) if style == "tags" else code(SETTINGS_MAGIC + "\n" + body)
    s = load(tmp_path, [cell]).step("train")
    assert s.image == "python:3.12-slim"
    assert s.limits == {"nvidia.com/gpu": "2", "cpu": "500m", "memory": "4Gi"}
    assert s.gpus == "2"
    assert s.labels == {"team": "ml"}
    assert s.annotations == {"owner": "me@example.com"}
    assert [(x.secret, x.key, x.env) for x in s.secrets] == [
        ("s3-creds", "access-key", "AWS_ACCESS_KEY_ID")
    ]
    assert (s.cache, s.retries, s.timeout) == (False, 3, 600)
    # detected from the imports, pinned to this environment's version: pandas (and pyarrow to
    # save its frames); stated by the step, which wins: scikit-learn
    assert "scikit-learn==1.4.2" in s.packages and "rich" in s.packages
    assert f"pandas=={version('pandas')}" in s.packages and "scikit-learn" not in s.packages


def test_defaults_without_settings(tmp_path: Path) -> None:
    s = load(tmp_path, [code("x = 1", "step:a")]).step("a")
    assert (s.image, s.cache, s.retries, s.timeout, dict(s.limits)) == (
        "python:3.11",
        True,
        0,
        None,
        {},
    )


def test_packages_merge_notebook_metadata_and_step_pins(tmp_path: Path) -> None:
    meta = {"kfp_jupyter": {"packages": ["scikit-learn==1.5.0", "tqdm"], "image": "python:3.10"}}
    p = load(
        tmp_path,
        [
            code("import sklearn\nimport yaml", "imports"),
            code("a = 1", "step:one"),
            code("b = a", "step:two", "packages:scikit-learn>=1.3", "packages:numpy==2.0.0"),
        ],
        meta,
    )
    one, two = p.step("one"), p.step("two")
    assert "scikit-learn==1.5.0" in one.packages and "tqdm" in one.packages
    # yaml is the import name, pyyaml the distribution, at the version installed here
    assert f"pyyaml=={version('pyyaml')}" in one.packages
    assert "scikit-learn>=1.3" in two.packages and "scikit-learn==1.5.0" not in two.packages
    assert "numpy==2.0.0" in two.packages
    assert one.image == two.image == "python:3.10"


def test_a_comma_in_a_tag_is_explained(tmp_path: Path) -> None:
    # The notebook format forbids commas in tags; say so plainly rather than quote its schema.
    (prob,) = problems(tmp_path, [code("x = 1", "step:a", "packages:pandas,numpy")])
    assert prob.cell == 1 and "','" in prob.message
    assert prob.fix and "'packages:pandas' and 'packages:numpy'" in prob.fix


def test_gpu_aliases_and_other_accelerators(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("a = 1", "step:one", "limit:gpu:1"),
            code("%%step two --limit amd.com/gpu=2\nb = 2"),
            code("%%step three --limit gpu=4\nc = 3"),
        ],
    )
    assert p.step("one").limits == {"nvidia.com/gpu": "1"}
    assert p.step("two").limits == {"amd.com/gpu": "2"}
    assert p.step("three").gpus == "4"


@pytest.mark.parametrize(
    ("annotation", "words"),
    [
        ("limit:memory:4GB", "memory"),
        ("limit:cpu:two", "cpu"),
        ("limit:nvidia.com/gpu:0.5", "whole numbers"),
        ("retries:many", "whole number"),
        ("timeout:0", "at least 1 second"),
        ("cache:maybe", "cache:enabled"),
        ("secret:only:two", "SECRET:KEY:ENV_VAR"),
        ("label:novalue", "label:KEY:VALUE"),
        ("prev", "needs a value"),
    ],
)
def test_bad_settings_tags(tmp_path: Path, annotation: str, words: str) -> None:
    (prob,) = problems(tmp_path, [code("x = 1", "step:a", annotation)])
    assert words in prob.message and prob.cell == 1 and prob.fix


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("%%step", "name"),
        ("%%step a --gpu", "--gpu"),
        ("%%step a --retries -1", "--retries"),
        ("%%step a --frobnicate", "unrecognized"),
        ("%%step a b", "unrecognized"),
        ("%%step a --memory lots", "memory"),
        ("%%step a --timeout 0", "timeout"),
        ("%%step a --cache --no-cache", "not allowed"),
        ("%%imports now", "takes no arguments"),
        ("%%step a --image 'unclosed", "cannot split"),
    ],
)
def test_bad_magic_options_are_a_one_line_usage_error(
    tmp_path: Path, line: str, words: str
) -> None:
    (prob,) = problems(tmp_path, [code(f"{line}\nx = 1")])
    assert words in prob.message
    assert "\n" not in prob.message
    assert prob.cell == 1 and prob.fix
    if line.startswith("%%step") and "split" not in words:
        assert prob.fix.startswith("usage: %%step")


@pytest.mark.parametrize(
    "tags",
    # Kale refuses these too (two step names; `parameters` is papermill's tag, not Kale's); a
    # Kale role tag beside a step tag is read as Kale reads it (test_kale_compat.py)
    [("step:a", "step:b"), ("step:a", "parameters")],
)
def test_two_roles_in_tags_is_an_error(tmp_path: Path, tags: tuple[str, ...]) -> None:
    (prob,) = problems(tmp_path, [code("x = 1", *tags)])
    assert "two roles" in prob.message and prob.cell == 1


def test_settings_of_one_step_merge_across_its_cells(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        [
            code("a = 1", "step:train", "limit:cpu:2", "label:a:1"),
            code("b = 2", "limit:memory:1Gi"),  # settings on a continuation cell
            code("%%step train --label b=2 --retries 1\nc = 3"),
        ],
    ).step("train")
    assert s.limits == {"cpu": "2", "memory": "1Gi"}
    assert s.labels == {"a": "1", "b": "2"}
    assert s.retries == 1


@pytest.mark.parametrize(
    ("first", "second", "words"),
    [
        (("image:python:3.10",), ("image:python:3.12",), "image"),
        (("limit:memory:1Gi",), ("limit:memory:2Gi",), "memory"),
        (("cache:enabled",), ("cache:disabled",), "cache"),
        (("packages:pandas==2.0",), ("packages:pandas==2.1",), "pandas"),
    ],
)
def test_conflicting_settings_between_cells_of_one_step(
    tmp_path: Path, first: tuple[str, ...], second: tuple[str, ...], words: str
) -> None:
    (prob,) = problems(
        tmp_path,
        [
            code("a = 1", "step:s", *first),
            code("b = 1", "step:other"),
            code("c = a", "step:s", *second),
        ],
    )
    assert prob.cell == 3 and prob.step == "s" and words in prob.message and prob.fix


def test_settings_on_a_non_step_cell_are_ignored_with_a_warning(tmp_path: Path) -> None:
    # Kale takes the role tag and ignores the rest of the cell's tags; so does kfp-jupyter
    pipeline = load(
        tmp_path, [code("import os", "imports", "limit:cpu:1"), code("x = os.sep", "step:a")]
    )
    assert dict(pipeline.steps[0].limits) == {}
    (warning,) = pipeline.warnings
    assert warning.cell == 1 and "settings of this 'imports' cell are ignored" in warning.message


def test_settings_without_a_step_above_are_an_error(tmp_path: Path) -> None:
    (prob,) = problems(tmp_path, [code("import os", "limit:cpu:1"), code("x = 1", "step:a")])
    assert prob.cell == 1 and "belongs to no step" in prob.message


def test_ipython_inside_steps(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("import pandas as pd", "imports"),
            code(
                "%%time\n!pip install -q tabulate\ndf = pd.DataFrame({'a': [1]})\n"
                "query = '''\nSELECT *\n%(where)s\n'''\ndisplay(df)",
                "step:load",
            ),
            code("%%bash\necho done", "step:shell"),
            code("%time n = len(df)\ndf.head?", "step:count"),
        ],
    )
    load_step = p.step("load")
    assert "%(where)s" in load_step.source
    assert set(load_step.outputs) == {"df"}
    assert p.step("count").input_names == ("df",)
    assert any("not Python" in w.message and w.cell == 3 for w in p.warnings)


def test_line_numbers_count_the_magic_line(tmp_path: Path) -> None:
    (prob,) = problems(tmp_path, [code("%%step a\nx = 1\ny = (\n")])
    assert prob.cell == 1 and prob.line == 3 and "syntax error" in prob.message


def test_our_magic_below_the_first_line_is_an_error(tmp_path: Path) -> None:
    (prob,) = problems(tmp_path, [code("x = 1", "step:a"), code("# train\n%%step train\ny = x")])
    assert (prob.cell, prob.line) == (2, 2) and "first line" in prob.message and prob.fix
    # inside a string it is just text
    p = load(tmp_path / "ok", [code("x = 1", "step:a"), code('doc = """\n%%step b\n"""')])
    assert [s.name for s in p.steps] == ["a"]


def test_leading_blank_lines_before_a_magic(tmp_path: Path) -> None:
    p = load(tmp_path, [code("\n\n%%step a --cpu 1\nx = 1")])
    assert p.steps[0].limits == {"cpu": "1"}


def test_notebook_metadata_ours_win_over_kales(tmp_path: Path) -> None:
    meta = {
        "kfp_jupyter": {"name": "ours", "image": "python:3.12", "experiment": "exp-ours"},
        "kubeflow_notebook": {
            "pipeline_name": "kales",
            "pipeline_description": "from kale",
            "docker_image": "kale/image:1",
            "experiment": {"id": "new", "name": "exp-kale"},
        },
    }
    p = load(tmp_path, [code("x = 1", "step:a")], meta)
    assert (p.name, p.description, p.experiment) == ("ours", "from kale", "exp-ours")
    assert p.step("a").image == "python:3.12"


def test_kale_metadata_alone(tmp_path: Path) -> None:
    meta = {
        "kubeflow_notebook": {
            "pipeline_name": "kale-pipe",
            "experiment_name": "kexp",
            "docker_image": "kale/image:1",
            "steps_defaults": ["label:team:data", "limit:memory:1Gi"],
        }
    }
    p = load(tmp_path, [code("x = 1", "step:a"), code("y = x", "step:b", "limit:memory:2Gi")], meta)
    assert (p.name, p.experiment) == ("kale-pipe", "kexp")
    assert p.step("a").image == "kale/image:1"
    assert p.step("a").labels == {"team": "data"} and p.step("a").limits == {"memory": "1Gi"}
    assert p.step("b").limits == {"memory": "2Gi"}  # the step's own setting wins


def test_kale_settings_without_an_equivalent_are_warned_about(tmp_path: Path) -> None:
    meta = {"kubeflow_notebook": {"volumes": [{"mount_point": "/data"}], "autosnapshot": False}}
    p = load(tmp_path, [code("x = 1", "step:a")], meta)
    assert ["volumes" in w.message for w in p.warnings] == [True]


def test_pipeline_name_defaults_to_the_file_name(tmp_path: Path) -> None:
    p = load_notebook(make_notebook(tmp_path / "My Analysis_v2.ipynb", [code("x = 1", "step:a")]))
    assert p.name == "my-analysis-v2"


@pytest.mark.parametrize(
    ("meta", "words"),
    [
        ({"kfp_jupyter": {"name": "Bad Name"}}, "invalid pipeline name"),
        ({"kfp_jupyter": {"name": 5}}, "must be a string"),
        ({"kfp_jupyter": {"packages": [1]}}, "list of strings"),
        ({"kfp_jupyter": "x"}, "must be an object"),
        ({"kubeflow_notebook": {"steps_defaults": ["limit:cpu:lots"]}}, "steps_defaults"),
    ],
)
def test_bad_notebook_metadata(tmp_path: Path, meta: dict[str, Any], words: str) -> None:
    (prob,) = problems(tmp_path, [code("x = 1", "step:a")], meta)
    assert words in prob.message and prob.fix


def test_unknown_metadata_key_is_a_warning_with_a_suggestion(tmp_path: Path) -> None:
    p = load(tmp_path, [code("x = 1", "step:a")], {"kfp_jupyter": {"imgae": "python:3.12"}})
    (w,) = p.warnings
    assert "imgae" in w.message and w.fix and "image" in w.fix


def test_a_notebook_in_another_language_is_refused(tmp_path: Path) -> None:
    meta = {"kernelspec": {"name": "ir", "language": "R"}, "language_info": {"name": "R"}}
    (prob,) = problems(tmp_path, [code("x <- 1", "step:a")], meta)
    assert "runs r;" in prob.message and prob.fix


def test_other_tools_tags_are_ignored(tmp_path: Path) -> None:
    p = load(tmp_path, [code("x = 1", "step:a", "hide-input", "remove_cell", "papermill-error")])
    assert p.steps[0].name == "a"


def test_kale_2_base_image_is_read(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from nbutil import code, make_notebook

    from kfp_jupyter import load_notebook

    nb = make_notebook(
        tmp_path / "k.ipynb",
        [code("x = 1", "step:a")],
        {"kubeflow_notebook": {"base_image": "python:3.12-slim"}},
    )
    assert load_notebook(nb).steps[0].image == "python:3.12-slim"
