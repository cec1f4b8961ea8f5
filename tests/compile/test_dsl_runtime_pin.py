"""The `dsl` script pinned to a kfp runtime other than the kfp SDK that runs it: run with `python`,
it still has the SDK write the IR `compile -t kfp` writes, each Python step installing the pinned
kfp as the SDK installs its own (without kfp's dependencies, which would replace the versions a
step pins). The oracle (test_kfp_oracle.py) pins the runtime to the installed SDK; this is the
other case.

Through the real commands: `kfp-jupyter compile` with `--kfp-runtime`, then `python SCRIPT OUT`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from components_util import mixed_notebook
from ir_compare import assert_same_ir, docs, ir_from_dsl_script
from nbutil import code, make_notebook

kfp = pytest.importorskip("kfp")
pytest.importorskip("kfp.kubernetes")

ROOT = Path(__file__).resolve().parents[2]

#: a kfp version that is not the installed kfp SDK's
OTHER_VERSION = "2.15.2" if kfp.__version__ != "2.15.2" else "2.16.0"


def _compile(nb: Path, target: str, out: Path, runtime: str) -> Path:
    command = [sys.executable, "-m", "kfp_jupyter.cli.main", "compile", str(nb), "-t", target]
    r = subprocess.run(
        [*command, "-o", str(out), "--kfp-runtime", runtime],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return out


def _both(nb: Path, folder: Path, runtime: str) -> tuple[list[dict[str, Any]], str]:
    """The `kfp` target's IR, and the IR the `dsl` script's kfp SDK writes."""
    folder.mkdir(parents=True, exist_ok=True)
    ours = _compile(nb, "kfp", folder / "kfp.yaml", runtime).read_text(encoding="utf-8")
    script = _compile(nb, "dsl", folder / "pipeline_dsl.py", runtime)
    return docs(ours), ir_from_dsl_script(script, folder / "from_dsl.yaml")


def _installs(documents: list[dict[str, Any]]) -> dict[str, str]:
    """What each Python step installs (the first stage of its command line), by executor."""
    executors = documents[0]["deploymentSpec"]["executors"]
    commands = {n: e.get("container", {}).get("command", []) for n, e in executors.items()}
    return {
        name: command[2]
        for name, command in commands.items()
        if any("kfp.dsl.executor_main" in part for part in command)
    }


def _with_a_kfp_package(folder: Path) -> Path:
    """Steps with pinned packages, and one whose packages name a kfp distribution (it then
    installs no other kfp)."""
    return make_notebook(
        folder / "pins.ipynb",
        [
            code("n = 3", "pipeline-parameters"),
            code("import json\ntext = json.dumps([n])", "step:first", "packages:requests==2.32.3"),
            code("size = len(text)", "step:second", "packages:kfp-kubernetes"),
            code("print(size)", "step:third"),
        ],
    )


def _notebooks(folder: Path) -> dict[str, Path]:
    return {
        "example iris_classifier": ROOT / "examples" / "iris_classifier.ipynb",
        "example components_pipeline": ROOT / "examples" / "components_pipeline.ipynb",
        "mixed steps": mixed_notebook(folder / "mixed"),
        "a step with a kfp package": _with_a_kfp_package(folder / "pins"),
    }


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _notebooks(tmp_path_factory.mktemp("pins"))


@pytest.mark.parametrize(
    "which",
    [
        "example iris_classifier",
        "example components_pipeline",
        "mixed steps",
        "a step with a kfp package",
    ],
)
def test_a_pin_other_than_the_sdk_gives_the_kfp_targets_ir(
    which: str, notebooks: dict[str, Path], tmp_path: Path
) -> None:
    ours, theirs = _both(notebooks[which], tmp_path, OTHER_VERSION)
    assert docs(theirs)[0]["sdkVersion"] == f"kfp-{kfp.__version__}"
    assert_same_ir(ours, theirs)
    # what a step installs: the pin, without kfp's dependencies; never the SDK's own version
    installs = _installs(docs(theirs))
    assert installs
    for name, install in installs.items():
        assert f"kfp=={kfp.__version__}" not in install, name
        if "kfp-kubernetes" not in install:
            assert f"'kfp=={OTHER_VERSION}' '--no-deps'" in install, (name, install)


def test_the_pin_is_what_steps_install_when_it_is_the_sdks_version_too(
    notebooks: dict[str, Path], tmp_path: Path
) -> None:
    ours, theirs = _both(notebooks["a step with a kfp package"], tmp_path, kfp.__version__)
    assert_same_ir(ours, theirs)
    installs = _installs(docs(theirs))
    assert f"'kfp=={kfp.__version__}' '--no-deps'" in installs["exec-first"]


def test_a_pip_requirement_as_the_pin_is_installed_as_it_is(
    notebooks: dict[str, Path], tmp_path: Path
) -> None:
    requirement = f"kfp[kubernetes]=={OTHER_VERSION}"
    ours, theirs = _both(notebooks["example iris_classifier"], tmp_path, requirement)
    assert_same_ir(ours, theirs)
    for install in _installs(docs(theirs)).values():
        assert f"'{requirement}' && " in install and "--no-deps" not in install
