"""The step program's error report where Python's own would be unreadable or would point at
generated code: a recursion is a few lines (not thousands) in every viewer and in the stored
error, an exception whose str() fails and a KeyboardInterrupt are still mapped to cells, and code
an earlier step pickled by value is named in the notebook's terms, never by a generated path."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from engine_support import failed_block, kfpj, show, tasks
from nbutil import code, make_notebook

from kfp_jupyter import load_notebook
from kfp_jupyter.packaging.program import build_program

EARLIER = "(defined in an earlier step; its cell and line are not known here)"


def _run_failing(tmp_path: Path, *cells: str, launcher: str = "auto") -> tuple[Path, str]:
    """Run a notebook of `step:sN` cells whose last step fails: (store, what `run` printed)."""
    nb = make_notebook(
        tmp_path / "nb.ipynb", [code(c, f"step:s{i}") for i, c in enumerate(cells, start=1)]
    )
    store = tmp_path / "store"
    p = kfpj("run", nb, "--launcher", launcher, store=store)
    assert p.returncode == 1, p.stdout + p.stderr
    return store, p.stdout + p.stderr


def _stored_error(store: Path, step: str) -> Path:
    (found,) = store.glob(f"runs/*/logs/{step}.error.json")
    return found


@pytest.fixture(scope="module")
def recursion(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return _run_failing(
        tmp_path_factory.mktemp("recursion"), "def r(n):\n    return r(n + 1)\n\nr(0)"
    )


def test_a_recursion_shows_three_frames_then_how_many_more(recursion: tuple[Path, str]) -> None:
    _, out = recursion
    text = failed_block(out, "s1")
    assert text.splitlines()[0] == "RecursionError: maximum recursion depth exceeded"
    assert "cell 1, line 4, in step s1\n    r(0)" in text
    assert text.count("cell 1, line 2, in r\n    return r(n + 1)") == 3
    repeated = re.search(r"\[Previous line repeated (\d+) more times\]", text)
    assert repeated and int(repeated[1]) > 900, text
    assert len(out.splitlines()) < 40, out


def test_a_recursion_is_short_in_runs_show_runs_logs_and_the_stored_error(
    recursion: tuple[Path, str],
) -> None:
    store, _ = recursion
    shown = kfpj("runs", "show", "latest", store=store)
    logs = kfpj("runs", "logs", "latest", "s1", store=store)
    for p in (shown, logs):
        assert p.returncode == 0, p.stderr
        assert "[Previous line repeated" in p.stdout
        assert len(p.stdout.splitlines()) < 40, p.stdout
    stored = _stored_error(store, "s1")
    assert stored.stat().st_size < 4096
    frames = json.loads(stored.read_text())["frames"]
    assert [f["name"] for f in frames] == ["step s1", "r", "r", "r"]
    assert frames[-1]["repeated"] > 900


def test_a_long_chain_of_different_frames_keeps_its_first_and_last(tmp_path: Path) -> None:
    """Two functions calling each other repeat no line twice in a row: the middle is left out."""
    store, out = _run_failing(
        tmp_path, "def a(n):\n    return b(n)\n\ndef b(n):\n    return a(n + 1)\n\na(0)"
    )
    text = failed_block(out, "s1")
    assert text.splitlines()[0] == "RecursionError: maximum recursion depth exceeded"
    assert "cell 1, line 7, in step s1\n    a(0)" in text
    left_out = re.search(r"^  \[(\d+) frames left out\]$", text, re.MULTILINE)
    assert left_out and int(left_out[1]) > 800, text
    assert text.rstrip().endswith(("return b(n)", "return a(n + 1)"))
    assert len(out.splitlines()) < 200
    assert _stored_error(store, "s1").stat().st_size < 16384


def test_an_exception_whose_str_fails_is_still_mapped(tmp_path: Path) -> None:
    store, out = _run_failing(
        tmp_path,
        "class Odd(Exception):\n    def __str__(self):\n        raise RuntimeError('no str')\n\n"
        "raise Odd()",
    )
    text = failed_block(out, "s1")
    assert text.splitlines()[0] == "Odd: <exception str() failed>"
    assert "cell 1, line 5, in step s1\n    raise Odd()" in text
    assert "programs/" not in out and "_kfpj" not in out
    shown = kfpj("runs", "show", "latest", store=store)
    assert "Odd: <exception str() failed>" in shown.stdout
    assert "cell 1, line 5, in step s1" in shown.stdout


@pytest.mark.parametrize("launcher", ["subprocess", "fork"])
def test_a_keyboard_interrupt_is_mapped_and_ends_the_step_as_interrupted(
    tmp_path: Path, launcher: str
) -> None:
    """Under either launcher (a program of its own is also what a cluster's pod runs)."""
    store, out = _run_failing(
        tmp_path, "print('working')\nraise KeyboardInterrupt()", launcher=launcher
    )
    text = failed_block(out, "s1")
    assert "cell 1, line 2, in step s1\n    raise KeyboardInterrupt()\nKeyboardInterrupt" in text
    assert "programs/" not in out and "_kfpj" not in out and "<module>" not in out
    assert tasks(show(store))["s1"]["exit_code"] == 130  # 128 + SIGINT, as a shell reports it


def test_code_an_earlier_step_pickled_by_value_is_named_without_a_generated_path(
    tmp_path: Path,
) -> None:
    _, out = _run_failing(
        tmp_path,
        "f = lambda v: v / 0\n\ndef g(v):\n    return f(v)",
        "print(g(1))",
    )
    text = failed_block(out, "s2")
    assert text.splitlines()[0] == "ZeroDivisionError: division by zero"
    assert "cell 2, line 1, in step s2\n    print(g(1))" in text
    assert f"  in g {EARLIER}\n  in <lambda> {EARLIER}" in text
    assert "<dynamic-code>" not in out and "programs/" not in out


MARSHALLED = (
    "import marshal\n\ndef g(v):\n    return v / 0\n\ng_code = marshal.dumps(g.__code__)",
    "import marshal, types\n\nh = types.FunctionType(marshal.loads(g_code), {})\nh(1)",
)


def test_code_that_kept_the_producing_programs_path_is_mapped_to_its_cell(
    tmp_path: Path,
) -> None:
    """Before cloudpickle 3, code pickled by value kept its file: the earlier step's program,
    which a local run still has, so its cell and line are known."""
    _, out = _run_failing(tmp_path, *MARSHALLED)
    text = failed_block(out, "s2")
    assert "cell 2, line 4, in step s2\n    h(1)" in text
    assert "cell 1, line 4, in g\n    return v / 0" in text
    assert "programs/" not in out


def test_code_from_another_program_at_the_same_path_is_not_taken_for_this_steps(
    tmp_path: Path,
) -> None:
    """A cluster runs every step's program at one path (Argo's script file): code another step
    pickled with its path looks like this program's own, and must not be mapped to its cells."""
    if sys.version_info < (3, 11):
        pytest.skip("Python names the function defining a code object from 3.11 on")
    nb = make_notebook(
        tmp_path / "nb.ipynb", [code(c, f"step:s{i}") for i, c in enumerate(MARSHALLED, start=1)]
    )
    pipeline = load_notebook(nb)
    folder = tmp_path / "run"
    folder.mkdir()
    results = []
    for step in pipeline.steps:
        (folder / "step.py").write_text(build_program(pipeline, step).plain_program())
        args = {
            "parameters": {},
            "inputs": {i.name: str(folder / i.producer / i.name) for i in step.inputs},
            "outputs": {o: str(folder / step.name / o) for o in step.outputs},
            "metrics": None,
        }
        (folder / "args.json").write_text(json.dumps(args))
        results.append(
            subprocess.run(
                [sys.executable, str(folder / "step.py"), str(folder / "args.json")],
                capture_output=True,
                text=True,
                cwd=tmp_path,
            )
        )
    assert results[0].returncode == 0, results[0].stderr
    err = results[1].stderr
    assert results[1].returncode == 1, err
    assert "cell 2, line 4, in step s2\n    h(1)\n" in err
    assert f"  in g {EARLIER}\nZeroDivisionError: division by zero" in err


@pytest.mark.parametrize("launcher", ["subprocess", "fork"])
def test_a_step_runs_under_the_same_compiler_flags_with_either_launcher(
    tmp_path: Path, launcher: str
) -> None:
    """Annotations are evaluated when a function is defined, as in the notebook's kernel: the
    fork server's own `from __future__` imports do not leak into the step programs it runs."""
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [code("def f(x: int) -> None:\n    pass\n\nkind = f.__annotations__['x']", "step:s1"),
         code("assert kind is int, repr(kind)", "step:s2")],
    )  # fmt: skip
    p = kfpj("run", nb, "--launcher", launcher, store=tmp_path / "store")
    assert p.returncode == 0, p.stdout + p.stderr
