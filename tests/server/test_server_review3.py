"""Review fixes of the server extension, on a real `jupyter server`: compiles waiting on a
component host never hold up inspect, and one more than the fetch threads is refused saying what
waits; inspect's outline of a notebook naming a component URL has its parameters as the full
inspect shows them; a step in a cell whose tag or magic line cannot be read is answered with the
notebook's problem, not "no step", also beside a component URL (no outline then); a missing
path is 400, and an output of "/" names a folder; a recorded run is listed without a
guess at who sent it; a full cluster pool says what waits on it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_server_util import Server, jupyter_server
from nbutil import code, make_notebook
from servers.faulty import FaultyServer
from servers.spec_host import ECHO_SPEC, spec_host

#: as an administrator would configure them; one cluster thread, to fill the pool with one call
SETTINGS = {"quick_workers": 4, "fetch_workers": 4, "cluster_workers": 1}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with jupyter_server(tmp_path_factory.mktemp("review3"), SETTINGS) as srv:
        yield srv


@pytest.fixture
def silent() -> Iterator[FaultyServer]:
    """A host that accepts connections and never answers, until stopped."""
    host = FaultyServer("silent").start()
    try:
        yield host
    finally:
        host.stop()


def until(check: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def component_notebook(path: Path, source: str) -> Path:
    """Parameters of each type, a Python step, the component at `source`, and a metric."""
    return make_notebook(
        path,
        [
            code(
                "n = 3\nrate = 0.5\nlabel = 'hi'\non = True\nsizes = [1, 2]", "pipeline-parameters"
            ),
            code("text = label * n", "step:make"),
            code("text = text", "step:echo", f"component:{source}"),
            code("score = rate * len(out)", "step:score"),
            code("score", "pipeline-metrics"),
        ],
    )


# --- 4. compiles waiting on a component host ----------------------------------------------------


def test_compiles_waiting_on_a_component_host_leave_inspect_answering(
    server: Server, silent: FaultyServer
) -> None:
    component_notebook(server.root / "hung.ipynb", f"{silent.url}/c.yaml")
    answers: list[tuple[int, Any]] = []

    def compile_it(i: int) -> None:
        answers.append(
            server.call("POST", "compile", {"path": "hung.ipynb", "output": f"{i}.yaml"})
        )

    threads = [threading.Thread(target=compile_it, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    until(lambda: silent.connections >= 4, "the four compiles never reached the host")
    # the host never answers: the compiles wait (up to the fetch's deadline, 30 s) ...
    start = time.monotonic()
    status, data = server.call("GET", "inspect?path=demo.ipynb")
    took = time.monotonic() - start
    # ... while inspect of another notebook answers at once, not after them
    assert status == 200 and data["name"] == "demo", data
    assert answers == [] and took < 20, (took, answers)
    # one compile more than the fetch threads is refused at once, saying what waits
    status, data = server.call("POST", "compile", {"path": "hung.ipynb", "output": "5.yaml"})
    assert status == 503, data
    assert data["message"] == (
        "4 compiles are already fetching component URLs (at most 4 at once); try again when "
        "one ends"
    )
    silent.stop()  # the host hangs up: the compiles end, each saying why
    for t in threads:
        t.join(60)
    assert [a[0] for a in answers] == [422] * 4, answers
    assert all(f"cannot fetch component '{silent.url}/c.yaml'" in a[1]["message"] for a in answers)


# --- 5. the outline's parameters ----------------------------------------------------------------


def test_the_outline_has_the_parameters_as_the_full_inspect_shows_them(server: Server) -> None:
    with spec_host(ECHO_SPEC) as host:
        url = host.url("echo.yaml")
        component_notebook(server.root / "outlined.ipynb", url)
        status, outline = server.call("GET", "inspect?path=outlined.ipynb")
        assert status == 200 and outline["outline"] is True, outline
        assert host.requests == []  # still never fetched on inspect
    assert outline["parameters"] == {
        "n": 3, "rate": 0.5, "label": "hi", "on": True, "sizes": [1, 2]
    }  # fmt: skip
    assert outline["parameter_types"] == {
        "n": "int", "rate": "float", "label": "str", "on": "bool", "sizes": "list"
    }  # fmt: skip
    assert outline["metrics"] == ["score"]
    # the same notebook with the spec as a file: the full inspect says the same
    (server.root / "echo.yaml").write_text(ECHO_SPEC)
    component_notebook(server.root / "whole.ipynb", "echo.yaml")
    status, whole = server.call("GET", "inspect?path=whole.ipynb")
    assert status == 200 and "outline" not in whole, whole
    for field in ("parameters", "parameter_types", "metrics", "experiment"):
        assert outline[field] == whole[field], field


# --- 7. a step in a cell that cannot be read -----------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "says"),
    [
        (
            [code("x = 1", "step:a"), code("%%step b --cpu\ny = x")],
            "bad magic line '%%step b --cpu': argument --cpu: expected one argument",
        ),
        (
            [code("x = 1", "step:a"), code("y = x", "step:b", "retries:x")],
            "retries must be a whole number, not 'x'",
        ),
    ],
    ids=["half-typed-magic", "bad-tag"],
)
def test_a_step_whose_cell_cannot_be_read_answers_the_notebooks_problem(
    server: Server, cells: list[Any], says: str
) -> None:
    make_notebook(server.root / "typing.ipynb", cells)
    status, inspected = server.call("GET", "inspect?path=typing.ipynb")
    assert status == 422, inspected
    status, d = server.call("GET", "steps/b?path=typing.ipynb")
    # the problem inspect answers, in the same shape: the cell, the message and the fix
    assert (status, d) == (422, inspected)
    assert [(p["cell"], p["message"]) for p in d["problems"]] == [(2, says)], d
    assert all(p["fix"] for p in d["problems"]), d
    # the step that can be read is still shown, with a note
    status, d = server.call("GET", "steps/a?path=typing.ipynb")
    assert status == 200 and d["step"] == "a" and d["problems"] == [], d


# --- 8. words and statuses -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "inspect", None),
        ("GET", "inspect?path=", None),
        ("GET", "steps/load", None),
        ("GET", "runs/nope/steps/load", None),
        ("POST", "compile", {}),
        ("POST", "compile", {"path": ""}),
        ("POST", "runs", {}),
        ("POST", "submit", {}),
    ],
)
def test_a_missing_path_is_400_saying_what_to_give(
    server: Server, method: str, path: str, body: object
) -> None:
    status, data = server.call(method, path, body)
    assert status == 400, data
    assert data["message"] == (
        "no notebook path given; name the notebook by its path from the server's root directory"
    )


def record_run(server: Server, run_id: str, host: str, notebook: str = "demo.ipynb") -> None:
    """A line of submitted.jsonl as a submit writes it (this server's before a restart, a
    kernel's or a terminal's: the line is the same)."""
    folder = server.root.parent / "kfp-config"
    folder.mkdir(exist_ok=True)
    line = {
        "id": run_id, "engine": "kfp", "url": f"{host}/#/runs/details/{run_id}",
        "notebook": str((server.root / notebook).resolve()), "created": time.time(),
        "host": host,
    }  # fmt: skip
    with (folder / "submitted.jsonl").open("a") as f:
        f.write(json.dumps(line) + "\n")


def test_a_recorded_run_is_listed_without_a_guess_at_who_sent_it(server: Server) -> None:
    record_run(server, "recorded-1", "http://127.0.0.1:9")
    status, listed = server.call("GET", "runs?path=demo.ipynb")
    assert status == 200, listed
    run = next(r for r in listed if r["id"] == "recorded-1")
    assert run["state"] == "UNKNOWN"
    assert run["message"] == (
        "not followed by this server yet; its state is read from the cluster when the run is shown"
    )


def test_a_full_cluster_pool_says_what_waits_on_it(server: Server, silent: FaultyServer) -> None:
    record_run(server, "hung-1", silent.url)
    record_run(server, "hung-2", silent.url)
    first: list[tuple[int, Any]] = []
    looking = threading.Thread(target=lambda: first.append(server.call("GET", "runs/hung-1")))
    looking.start()
    until(lambda: silent.connections >= 1, "the server never looked the run up")
    status, data = server.call("GET", "runs/hung-2")
    assert status == 503, data
    assert data["message"] == (
        "1 look-up of a cluster run is already waiting on clusters (at most 1 at once); try "
        "again when one ends"
    )
    silent.stop()
    looking.join(120)
    assert first and first[0][0] != 200, first


def test_the_fetch_pool_is_configurable(tmp_path: Path, silent: FaultyServer) -> None:
    with jupyter_server(tmp_path, {"fetch_workers": 1}) as srv:
        component_notebook(srv.root / "hung.ipynb", f"{silent.url}/c.yaml")
        answers: list[tuple[int, Any]] = []
        body = {"path": "hung.ipynb"}
        waiting = threading.Thread(target=lambda: answers.append(srv.call("POST", "runs", body)))
        waiting.start()
        until(lambda: silent.connections == 1, "the run never reached the host")
        status, data = srv.call("POST", "compile", {"path": "hung.ipynb"})
        assert status == 503, data
        assert data["message"] == (
            "1 run is already fetching component URLs (at most 1 at once); try again when one ends"
        )
        silent.stop()
        waiting.join(60)
        assert answers and answers[0][0] == 422, answers


# --- review 14: a cell that cannot be read, in a notebook naming a component URL -------------


def test_an_unreadable_cell_beside_a_component_url_answers_the_notebooks_problem(
    server: Server,
) -> None:
    cells = [
        code("x = 1", "step:a"),
        code("y = x", "step:b", "retries:x"),
    ]
    with spec_host(ECHO_SPEC) as host:
        url = host.url("echo.yaml")
        make_notebook(
            server.root / "urlbad.ipynb",
            [*cells, code("text = 'hi'", "step:echo", f"component:{url}")],
        )
        status, inspected = server.call("GET", "inspect?path=urlbad.ipynb")
        # not an outline hiding step b and its problem: the problem, as without the URL
        assert status == 422, inspected
        assert [(p["cell"], p["message"]) for p in inspected["problems"]] == [
            (2, "retries must be a whole number, not 'x'")
        ], inspected
        assert all(p["fix"] for p in inspected["problems"]), inspected
        status, d = server.call("GET", "steps/b?path=urlbad.ipynb")
        assert (status, d) == (422, inspected)
        # the step that can be read is still shown
        status, d = server.call("GET", "steps/a?path=urlbad.ipynb")
        assert status == 200 and d["step"] == "a", d
        assert host.requests == []  # still never fetched on inspect
    # the same notebook without the URL: the same answer
    make_notebook(server.root / "plainbad.ipynb", cells)
    assert server.call("GET", "inspect?path=plainbad.ipynb") == (422, inspected)


def test_compile_to_the_root_says_it_names_a_folder(server: Server) -> None:
    status, data = server.call("POST", "compile", {"path": "demo.ipynb", "output": "/"})
    assert status == 400, data
    assert data["message"] == "output '/' is a folder; name a file in it"
