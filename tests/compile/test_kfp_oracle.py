"""The oracle: the IR that `kfp-jupyter compile -t kfp` builds from the pipeline model equals the IR
that the kfp SDK's own compiler writes when the notebook's `dsl` script is run with `python`.

Compared as parsed data (tests/ir_compare.py says what is set aside), with the runtime pin set to
the installed kfp SDK's version.

Run by CI twice: with the newest kfp (the test environment) and with the lowest kfp the package
claims to support (a second environment, see .ci/run).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
from components_util import mixed_notebook
from ir_compare import assert_same_ir, docs, ir_from_dsl_script, kfp_local_metrics
from nbutil import code, make_notebook, md
from test_compile_kfp import ML_CELLS

from kfp_jupyter import Pipeline, compile_pipeline, load_notebook

kfp = pytest.importorskip("kfp")
pytest.importorskip("kfp.kubernetes")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.ipynb"))


def _every_annotation(folder: Path) -> Path:
    """One notebook with every step setting, every parameter type and the naming edge cases."""
    return make_notebook(
        folder / "zoo.ipynb",
        [
            code("import json\nimport math", "imports"),
            code("def double(x):\n    return 2 * x", "functions"),
            code(
                "count = 3\nrate = 0.5\nlabel = 'zoo'\nflag = False\nsizes = [1, 2.5, 'x']\n"
                "conf = {'a': {'b': [1, 2]}, 'c': 'd'}",
                "pipeline-parameters",
            ),
            md("# steps"),
            code(
                "first = double(count)\nmore = json.dumps(conf)",
                "step:first_step",
                "image:python:3.12-slim",
                "packages:requests==2.32.3",
                "limit:cpu:500m",
                "limit:memory:2G",
                "volume:scratch:/scratch:5Gi",
                "volume:pvc/existing-claim:/data",
            ),
            code(
                "second = first + len(sizes)\nfirst = first * rate",
                "step:second-step",
                "limit:amd.com/gpu:2",
                "timeout:30",
                "retries:5",
                "cache:disabled",
            ),
            code(
                "third = math.sqrt(second) if flag else second\nprint(label, more, first)",
                "step:third_step",
                "secret:db:user:DB_USER",
                "secret:db:password:DB_PASSWORD",
                "secret:api:token:API_TOKEN",
                "label:team:data",
                "label:tier:gold",
                "annotation:note:a b c",
                "limit:memory:300Mi",
                "packages:kfp-kubernetes",
                "volume:scratch:/scratch:5Gi",
            ),
            code("after_all = third", "step:last", "prev:first_step"),
            code("third\nafter_all", "pipeline-metrics"),
        ],
        {
            "kfp_jupyter": {
                "name": "zoo",
                "description": "every annotation",
                "pipeline_root": "minio://bucket/root",
                "packages": ["numpy"],
                "volumes": ["shared:/shared:1Gi:standard:rwx"],
            }
        },
    )


def _notebooks(folder: Path) -> dict[str, Path]:
    found = {f"example {p.stem}": p for p in EXAMPLES}
    found["test ml"] = make_notebook(
        folder / "ml" / "ml.ipynb",
        ML_CELLS,
        {"kfp_jupyter": {"name": "iris-demo", "description": "a test"}},
    )
    found["test mixed (magics)"] = mixed_notebook(folder / "mixed-magics")
    found["test mixed (tags)"] = mixed_notebook(folder / "mixed-tags", magics=False)
    found["every annotation"] = _every_annotation(folder / "zoo")
    # notebook steps: a function executing the embedded notebook, as a Python step is one
    from notebook_steps_util import parent, plain

    found["notebook steps"] = parent(folder / "notebook-steps")
    found["plain notebook"] = plain(folder / "plain" / "sums.ipynb")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _notebooks import write_synthetic

    found["synthetic 20 steps"] = write_synthetic(20, folder / "synthetic" / "s20.ipynb")
    return found


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _notebooks(tmp_path_factory.mktemp("oracle"))


def _pinned(pipeline: Pipeline) -> Pipeline:
    return dataclasses.replace(pipeline, kfp_runtime=kfp.__version__)


@pytest.mark.parametrize(
    "which",
    [
        *(f"example {p.stem}" for p in EXAMPLES),
        "test ml",
        "test mixed (magics)",
        "test mixed (tags)",
        "every annotation",
        "synthetic 20 steps",
        "notebook steps",
        "plain notebook",
    ],
)
def test_the_ir_equals_what_kfps_compiler_writes_from_the_dsl_script(
    which: str, notebooks: dict[str, Path], tmp_path: Path
) -> None:
    pipeline = _pinned(load_notebook(notebooks[which]))
    ours = docs(compile_pipeline(pipeline, "kfp"))
    script = tmp_path / "pipeline_dsl.py"
    compile_pipeline(pipeline, "dsl", script)
    theirs = docs(ir_from_dsl_script(script, tmp_path / "kfp.yaml"))
    assert theirs[0]["sdkVersion"] == f"kfp-{kfp.__version__}"
    assert_same_ir(ours, theirs)


def test_the_ir_parses_strictly_into_kfps_protos(notebooks: dict[str, Path]) -> None:
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    for which, path in notebooks.items():
        documents = docs(compile_pipeline(load_notebook(path), "kfp"))
        json_format.ParseDict(
            documents[0], pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False
        )
        deployment = pipeline_spec_pb2.PipelineDeploymentConfig()
        json_format.ParseDict(
            documents[0]["deploymentSpec"], deployment, ignore_unknown_fields=False
        )
        assert set(deployment.executors) == {
            c["executorLabel"] for c in documents[0]["components"].values()
        }, which
        if len(documents) > 1:
            json_format.ParseDict(
                documents[1], pipeline_spec_pb2.PlatformSpec(), ignore_unknown_fields=False
            )


def test_the_pinned_runtime_is_what_steps_install_whatever_kfp_is_installed(
    notebooks: dict[str, Path],
) -> None:
    from kfp_jupyter.model import DEFAULT_KFP_RUNTIME

    def installs(pipeline: Pipeline) -> set[str]:
        executors = docs(compile_pipeline(pipeline, "kfp"))[0]["deploymentSpec"]["executors"]
        return {e["container"]["command"][2].split("pip install")[-1] for e in executors.values()}

    pipeline = load_notebook(notebooks["example iris_classifier"])
    assert pipeline.kfp_runtime == DEFAULT_KFP_RUNTIME
    assert installs(pipeline) == {
        f" --quiet --no-warn-script-location 'kfp=={DEFAULT_KFP_RUNTIME}' '--no-deps' "
        """'typing-extensions>=3.7.4,<5; python_version<"3.9"' && "$0" "$@"\n"""
    }
    assert {
        line.split("'--no-deps'")[0].split()[-1]
        for line in installs(dataclasses.replace(pipeline, kfp_runtime="2.15.0"))
    } == {"'kfp==2.15.0'"}
    # a requirement other than a version is installed as it is, with its dependencies
    requirement = dataclasses.replace(pipeline, kfp_runtime="kfp[kubernetes]==2.16.1")
    assert installs(requirement) == {
        """ --quiet --no-warn-script-location 'kfp[kubernetes]==2.16.1' && "$0" "$@"\n"""
    }


@pytest.mark.slow
@pytest.mark.parametrize("example", ["iris_classifier", "magics_pipeline"])
def test_kfp_local_runs_the_example_with_the_notebooks_metric_values(
    example: str, tmp_path: Path
) -> None:
    """The IR, run by `kfp.local` (Python steps as subprocesses), gives the metric values of the
    notebook run top to bottom in a kernel. (components_pipeline.ipynb has container steps, which
    kfp.local runs only in Docker.)"""
    pytest.importorskip("sklearn")
    from topdown import run_top_to_bottom

    nb = ROOT / "examples" / f"{example}.ipynb"
    pipeline = _pinned(load_notebook(nb))
    ir = tmp_path / "pipeline.yaml"
    compile_pipeline(pipeline, "kfp", ir)
    got = kfp_local_metrics(ir, tmp_path / "kfp-local")
    expected = run_top_to_bottom(nb, list(pipeline.metrics))
    assert set(got) == set(pipeline.metrics)
    assert got == pytest.approx(expected, abs=0, rel=1e-12)


def test_libyaml_and_pyyamls_own_writer_write_the_same_bytes(
    notebooks: dict[str, Path], tmp_path: Path
) -> None:
    """Where PyYAML has no libyaml, the pure-Python writer is used: the same notebook still
    compiles to the same bytes."""
    import yaml

    from kfp_jupyter.compile.kfp_ir import dump
    from kfp_jupyter.compile.kfp_ir.pipeline_spec import build

    odd = make_notebook(
        tmp_path / "odd.ipynb",
        [
            code('note = \'café ☕ \\t tab\'\nquote = "it\'s \\\\ \\"x\\""', "step:a"),
            code("text = note + quote + '''\n  indented: [x, {y}]\n# not a comment\n'''", "step:b"),
            code("print(text, '\\u2028', '\\x85')", "step:c"),
        ],
    )
    for path in [*notebooks.values(), odd]:
        pipeline = load_notebook(path)
        documents = build(pipeline, pipeline.kfp_runtime)
        text = dump(documents, yaml.CSafeDumper)
        assert dump(documents, yaml.SafeDumper) == text, path
        assert [d for d in yaml.safe_load_all(text) if d] == documents
