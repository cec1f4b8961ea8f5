"""The fast YAML writer must write exactly what PyYAML's pure-Python emitter writes (the kfp SDK
writes the IR with it, and the `dsl` script run with `python` must match `compile -t kfp`)."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from nbutil import code, make_notebook

from kfp_jupyter import Pipeline, load_notebook
from kfp_jupyter.compile import forked, kfp_ir, yaml_emitter

#: the characters PyYAML's scalar analysis and writers treat specially, and words its resolver reads
PIECES = [
    *"ab -?:#,[]{}'\"\\\n\t|>&*!%@`.01e~",
    *["\x85", "\u2028", "é", "\ufeff", "\x00", "\x7f", "\U0001f600", "  ", "\n  ", " \n"],
    *["null", "true", "No", "1.5", "0x1F", "0o7", "2001-12-14", "<<", "=", "---", "...", "-1"],
]
LENGTHS = [0, 1, 2, 3, 5, 10, 40, 79, 81, 120, 122, 123, 124, 127, 128, 200, 400]


def random_text(rnd: random.Random) -> str:
    n = rnd.choice(LENGTHS)
    text = "".join(rnd.choice(PIECES) for _ in range(n))
    return text[:n] if rnd.random() < 0.5 else text


def random_scalar(rnd: random.Random) -> Any:
    if rnd.random() < 0.7:
        return random_text(rnd)
    numbers = [0, -3, 7, 10**30, 1.5, -0.0, 1e20, 1e-7, float("nan"), float("inf"), -float("inf")]
    return rnd.choice([*numbers, True, False, None])


def random_node(rnd: random.Random, depth: int = 0) -> Any:
    r = rnd.random()
    if depth > 4 or r < 0.4:
        return random_scalar(rnd)
    if r < 0.7:
        return {random_text(rnd): random_node(rnd, depth + 1) for _ in range(rnd.randint(0, 4))}
    return [random_node(rnd, depth + 1) for _ in range(rnd.randint(0, 4))]


def random_documents(rnd: random.Random) -> list[Any]:
    docs: list[Any] = []
    for _ in range(rnd.randint(1, 3)):
        if rnd.random() < 0.7:
            docs.append({random_text(rnd): random_node(rnd, 1) for _ in range(rnd.randint(0, 5))})
        else:
            docs.append([random_node(rnd, 1) for _ in range(rnd.randint(0, 4))])
    return docs


@pytest.mark.parametrize("seed", range(4))
def test_scalar_analysis_is_pyyamls(seed: int) -> None:
    rnd = random.Random(seed)
    ours = yaml_emitter.FastDumper(io.StringIO())
    theirs = yaml.Dumper(io.StringIO())
    for _ in range(3000):
        text = random_text(rnd)
        assert vars(ours.analyze_scalar(text)) == vars(theirs.analyze_scalar(text)), repr(text)


@pytest.mark.parametrize("seed", range(2))
def test_documents_are_written_byte_for_byte_like_pyyaml(seed: int) -> None:
    rnd = random.Random(1000 + seed)
    direct = 0
    for _ in range(300):
        docs = random_documents(rnd)
        expected = yaml.dump_all(docs, sort_keys=True)
        assert yaml_emitter.dump_all(docs, sort_keys=True) == expected, repr(docs)
        out = io.StringIO()
        yaml_emitter.dump_all(docs, out, sort_keys=True)
        assert out.getvalue() == expected
        writer = yaml_emitter._DataWriter(io.StringIO(), sort_keys=True)
        writer.write_documents(docs)  # plain data never needs PyYAML's own path
        direct += 1
    assert direct == 300


WORDS = [
    *["a", "exec-step", "system.Artifact", "STRING", "{{$}}", "-", "x:y", "k: v", "#c", "a#b"],
    *["null", "Yes", "~", "12", "1e3", "0o17", ".inf", "2001-12-14", "'q'", '"', "?", "-x", ""],
]


def ir_like(rnd: random.Random, depth: int = 0) -> Any:
    """Mostly plain words, as kfp's IR is: the writer's shortcut for them, around everything
    that must not take it (words PyYAML quotes, empty ones, non-strings, containers)."""
    r = rnd.random()
    if depth > 3 or r < 0.45:
        return rnd.choice([*WORDS, 0, 7, -1.5, True, False, None, "two words", "x" * 90])
    if r < 0.75:
        return {
            rnd.choice(WORDS) + rnd.choice(["", "s"]): ir_like(rnd, depth + 1) for _ in range(4)
        }
    return [ir_like(rnd, depth + 1) for _ in range(rnd.randint(0, 4))]


@pytest.mark.parametrize("seed", range(2))
def test_plain_words_are_written_byte_for_byte_like_pyyaml(seed: int) -> None:
    rnd = random.Random(1500 + seed)
    for _ in range(400):
        docs = [{"root": ir_like(rnd)}, [ir_like(rnd), ir_like(rnd)]]
        assert yaml_emitter.dump_all(docs, sort_keys=True) == yaml.dump_all(docs, sort_keys=True)


@pytest.mark.parametrize("seed", range(3))
def test_fast_dumper_matches_with_any_width_and_unicode(seed: int) -> None:
    rnd = random.Random(2000 + seed)
    for _ in range(1500):
        doc = {"k": random_text(rnd), "l": [random_text(rnd), {"i": random_text(rnd)}]}
        options = rnd.choice(
            [
                {},
                {"width": 12},
                {"width": 30},
                {"allow_unicode": True},
                {"default_flow_style": True},
            ]
        )
        expected = yaml.dump(doc, sort_keys=True, **options)
        assert yaml.dump(doc, Dumper=yaml_emitter.FastDumper, sort_keys=True, **options) == expected


@pytest.mark.parametrize("seed", range(2))
def test_double_quoted_lines_break_where_pyyamls_do(seed: int) -> None:
    """Source code as the IR holds it: ASCII, newlines, quotes, backslashes, runs of spaces, at
    every width and indentation, around the width's edge."""
    rnd = random.Random(3000 + seed)
    pieces = ["a", "b", " ", " ", "\n", '"', "\\", "\t", "xyz", "  ", "\\\\", "\r", "\\n"]
    for _ in range(4000):
        n = rnd.choice([1, 2, 3, 5, 20, 60, 79, 80, 81, 82, 150, 400])
        text = "".join(rnd.choice(pieces) for _ in range(n))
        key = "k" * rnd.choice([1, 30, 75, 90])
        doc = {key: text, "l": [[text]], "m": {"n": {"o": text}}}
        options = rnd.choice([{}, {"width": 10}, {"width": 20}, {"width": 40}])
        expected = yaml.dump(doc, sort_keys=True, **options)
        assert yaml.dump(doc, Dumper=yaml_emitter.FastDumper, sort_keys=True, **options) == expected


def test_repeated_long_texts_are_written_the_same_everywhere() -> None:
    """Long quoted texts are written once per writer state and replayed (the IR repeats kfp's
    scripts in every component): in every position they must read as PyYAML writes them."""
    rnd = random.Random(4000)
    texts = ["\n".join(random_text(rnd) + " x" * 40 for _ in range(3)) for _ in range(3)]
    texts += ['program_path=$(mktemp -d)\n\nprintf \'%s\' "$0" > "$program_path/x.py"\n' * 2]
    for _ in range(200):
        doc: dict[str, Any] = {}
        for i in range(rnd.randint(1, 6)):
            text = rnd.choice(texts)
            doc[f"k{i}" * rnd.randint(1, 20)] = rnd.choice(
                [text, [text, "sh", text], {"command": [text, [text]], "args": text}]
            )
        docs = [doc, [texts[0], texts[-1]]]
        assert yaml_emitter.dump_all(docs, sort_keys=True) == yaml.dump_all(docs, sort_keys=True)


def test_what_the_direct_writer_does_not_do_goes_through_pyyaml() -> None:
    shared = [1, 2]
    cases: list[tuple[list[Any], dict[str, Any]]] = [
        ([{"a": shared, "b": shared}], {"sort_keys": True}),  # anchors and aliases
        ([{"a": (1, 2)}], {"sort_keys": True}),  # a tuple is tagged
        ([{1: "x", "b": "y"}], {"sort_keys": True}),  # a non-string key
        (["a scalar document"], {"sort_keys": True}),
        ([{"a": "b" * 100 + " c" * 50}], {"sort_keys": True, "width": 20}),
        ([{"b": 1, "a": 2}], {}),  # unsorted
    ]
    for docs, options in cases:
        assert yaml_emitter.dump_all(docs, **options) == yaml.dump_all(docs, **options)


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Documents are written by two processes whatever their size; the pids of the children."""
    pids: list[int] = []
    monkeypatch.setattr(forked, "can_fork", lambda: True)
    monkeypatch.setattr(yaml_emitter._Split, "least", 1)
    monkeypatch.setattr(forked.os, "fork", recording_fork(pids))
    return pids


def recording_fork(pids: list[int]) -> Callable[[], int]:
    """os.fork, noting each child's pid in `pids` (in the parent)."""
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            pids.append(pid)
        return pid

    return fork


def reaped(pids: list[int], within: float = 10.0) -> bool:
    """Every child has ended (a helper that delivered may still be exiting for a moment)."""
    deadline = time.monotonic() + within
    for pid in pids:
        while True:
            try:
                if os.waitpid(pid, os.WNOHANG) != (0, 0):
                    break
            except ChildProcessError:
                break  # reaped already
            if time.monotonic() > deadline:
                return False  # still running
            time.sleep(0.01)
    return True


@pytest.mark.parametrize("seed", range(2))
def test_two_processes_write_the_bytes_of_one(seed: int, forks: list[int]) -> None:
    rnd = random.Random(5000 + seed)
    for _ in range(80):
        doc = {random_text(rnd): random_node(rnd, 1) for _ in range(rnd.randint(2, 8))}
        docs = (
            [doc, {"second": [doc.get(k) for k in list(doc)[:1]]}] if rnd.random() < 0.2 else [doc]
        )
        assert yaml_emitter.dump_all(docs, sort_keys=True) == yaml.dump_all(docs, sort_keys=True)
    assert len(forks) > 40, "hardly any document was split"
    assert reaped(forks)


def big_pipeline(tmp_path: Path, steps: int = 150) -> Pipeline:
    sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
    from _notebooks import write_synthetic

    return load_notebook(write_synthetic(steps, tmp_path / "big.ipynb"))


def test_a_large_pipeline_is_written_by_three_processes_byte_for_byte(tmp_path: Path) -> None:
    """One helper writes the steps' programs ahead while kfp builds the graph, another the second
    half of the document: the bytes of one process."""
    pipeline = big_pipeline(tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(forked, "can_fork", lambda: False)
        one = pipeline.compile("kfp")
    docs = list(yaml.safe_load_all(one))
    plan = yaml_emitter._Split.plan(docs[0])
    assert plan is not None and len(plan.path) >= 3  # split inside deploymentSpec.executors
    pids: list[int] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(forked, "can_fork", lambda: True)
        mp.setattr(forked.os, "fork", recording_fork(pids))
        three = pipeline.compile("kfp")
    assert len(pids) == 2 and reaped(pids)
    assert three == one


def test_the_programs_written_ahead_are_replayed_not_written_again(tmp_path: Path) -> None:
    """The helper writes each program where kfp's IR puts it (each executor's container command):
    if kfp's layout moved, the parent would quietly write everything itself."""
    pipeline = big_pipeline(tmp_path, 60)
    written: list[int] = []
    real = yaml_emitter.FastDumper.write_double_quoted

    def counted(self: Any, text: str, split: bool = True) -> None:
        if os.getpid() == parent and len(text) > 1000:
            written.append(len(text))
        real(self, text, split)

    parent = os.getpid()
    outputs = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(yaml_emitter.FastDumper, "write_double_quoted", counted)
        mp.setattr(yaml_emitter._Split, "least", 10**12)  # one writer, in this process
        mp.setattr(kfp_ir, "_AHEAD_LEAST", 1)
        for helper in (False, True):
            mp.setattr(forked, "can_fork", lambda helper=helper: helper)
            written.clear()
            outputs.append(pipeline.compile("kfp"))
            if not helper:
                assert len(written) >= 60  # every program, by this process
    assert written == [], "the programs written ahead were written again"
    assert outputs[0] == outputs[1]


def test_a_helper_that_dies_while_writing_ahead_costs_time_not_output(tmp_path: Path) -> None:
    pipeline = big_pipeline(tmp_path, 40)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(forked, "can_fork", lambda: False)
        expected = pipeline.compile("kfp")
    pids: list[int] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(forked, "can_fork", lambda: True)
        mp.setattr(forked.os, "fork", recording_fork(pids))
        mp.setattr(kfp_ir, "_AHEAD_LEAST", 1)
        mp.setattr(yaml_emitter, "write_ahead", lambda *args: os._exit(3))
        assert pipeline.compile("kfp") == expected
    assert pids and reaped(pids)


def test_texts_written_ahead_read_the_same_in_any_position() -> None:
    """Written ahead for one place in the document, replayed wherever the writer is in the same
    state, and written afresh anywhere else."""
    rnd = random.Random(4500)
    texts = ["\n".join(random_text(rnd) + " y" * 30 for _ in range(3)) for _ in range(4)]
    texts.append("word " * 30)
    path = ("a", "b", "c")
    ahead = yaml_emitter.write_ahead(texts, path)
    assert {key[0] for key in ahead.written} == set(texts)
    for _ in range(100):
        doc: dict[str, Any] = {"a": {"b": {"c": rnd.sample(texts, 3)}, "d": {"c": texts[:2]}}}
        doc["x"] = rnd.choice([texts[0], [texts[1]], {"c": [texts[2]]}])
        expected = yaml.dump_all([doc], sort_keys=True)
        assert yaml_emitter.dump_all([doc], sort_keys=True, ahead=ahead) == expected


def test_a_container_in_both_parts_is_noticed(forks: list[int]) -> None:
    """PyYAML writes a container reached twice as an anchor and an alias, whichever process
    walks each occurrence."""
    shared = {"x": [1, 2, 3], "y": "text " * 30}
    for doc in (
        {f"k{i:02}": shared if i in (1, 18) else {"v": i} for i in range(20)},
        {"a": {f"k{i:02}": {"v": i} for i in range(20)}, "b": shared, "c": {"d": shared}},
        {"a": shared["x"], "b": {f"k{i:02}": i for i in range(30)}, "z": shared["x"]},
    ):
        assert yaml_emitter.dump_all([doc], sort_keys=True) == yaml.dump_all([doc], sort_keys=True)
    assert forks and reaped(forks)


def test_what_either_part_cannot_write_goes_through_pyyaml(forks: list[int]) -> None:
    early = {f"k{i:02}": (1, 2) if i == 0 else "v" for i in range(30)}  # a tuple: tagged
    late = {f"k{i:02}": (1, 2) if i == 29 else "v" for i in range(30)}
    for doc in (early, late):
        assert yaml_emitter.dump_all([doc], sort_keys=True) == yaml.dump_all([doc], sort_keys=True)
    assert len(forks) == 2 and reaped(forks)


def test_when_the_child_fails_one_process_writes_everything(
    forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> bytes:
        raise MemoryError("as if the child ran out of memory")

    monkeypatch.setattr(forked.pickle, "dumps", broken)  # only the child pickles
    doc = {f"k{i:02}": {"v": [i, "text " * 20]} for i in range(40)}
    assert yaml_emitter.dump_all([doc], sort_keys=True) == yaml.dump_all([doc], sort_keys=True)
    assert len(forks) == 1 and reaped(forks)


def test_when_the_child_hangs_one_process_writes_everything(
    forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_init = yaml_emitter._Split.__init__

    def impatient(self: Any, *args: Any) -> None:
        real_init(self, *args)
        self.patience = 0.5

    monkeypatch.setattr(yaml_emitter._Split, "__init__", impatient)
    monkeypatch.setattr(yaml_emitter._Split, "_second_part", lambda *a: time.sleep(60))
    doc = {f"k{i:02}": {"v": [i, "text " * 20]} for i in range(40)}
    start = time.monotonic()
    assert yaml_emitter.dump_all([doc], sort_keys=True) == yaml.dump_all([doc], sort_keys=True)
    assert time.monotonic() - start < 30
    assert len(forks) == 1 and reaped(forks, within=1.0)


def test_a_notebook_full_of_awkward_text_compiles_like_the_dsl_script(tmp_path: Path) -> None:
    """End to end: what kfp itself writes (the script run by python) equals the kfp target."""
    long_line = "x = '" + "word " * 40 + "'"
    nb = make_notebook(
        tmp_path / "awkward.ipynb",
        [
            code("greeting = 'héllo ☃'\nwidth = 3", "pipeline-parameters"),
            code(f'{long_line}\ny = "quote \\" back\\\\slash\\ttab"  \n', "step:first"),
            code("z = [x, y, greeting * width]   # trailing spaces   ", "step:second"),
            code("text = '''\n  indented\n\n   lines  \n'''\nprint(z, text)", "step:third"),
        ],
    )
    pipeline = load_notebook(nb)
    script = tmp_path / "awkward_dsl.py"
    pipeline.compile("dsl", script)
    r = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "by_kfp.yaml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "by_kfp.yaml").read_text(encoding="utf-8") == pipeline.compile("kfp")


def test_compiling_leaves_kfp_whole(tmp_path: Path) -> None:
    """Compiling skips importing kfp's client, but kfp stays complete for the code that follows."""
    ml_notebook = Path(__file__).parent.parent / "examples" / "iris_classifier.ipynb"
    program = f"""
import sys
from kfp_jupyter import load_notebook
load_notebook({str(ml_notebook)!r}).compile("kfp", {str(tmp_path / "p.yaml")!r})
print("client imported:", "kfp.client" in sys.modules)
import kfp
from kfp import Client, components, dsl
assert kfp.Client is Client and Client.__name__ == "Client"
assert components.load_component_from_file({str(tmp_path / "p.yaml")!r}) is not None
from kfp.dsl import utils, component_factory
from kfp.compiler import pipeline_spec_builder
assert not hasattr(utils.sanitize_task_name, "cache_info"), "a patch outlived compiling"
from kfp.dsl.types import type_annotations, type_utils
assert type_utils.is_parameter_type.__module__ == type_utils.__name__
assert type_annotations.get_short_type_name.__module__ == type_annotations.__name__
assert pipeline_spec_builder.yaml is __import__("yaml")
from kfp.dsl import pipeline_task
from kfp.dsl.types import custom_artifact_types
from kfp.pipeline_spec import pipeline_spec_pb2
import inspect, docstring_parser
assert inspect.isfunction(pipeline_task.PipelineTask.name.fget)
assert component_factory.docstring_parser is docstring_parser
assert custom_artifact_types.get_custom_artifact_type_import_statements.__module__ == (
    custom_artifact_types.__name__
)
keys = pipeline_spec_pb2.PipelineDeploymentConfig().executors.keys()
assert type(keys).__module__ == "collections.abc", type(keys)
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["client imported: False", "ok"]
