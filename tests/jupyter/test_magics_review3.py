"""The front ends in the notebook, as a user meets them: interrupting `%kfp submit` leaves the
cluster's run running; the widget's Run takes the notebook's edited parameter defaults; `%kfp
inputs` loads what a component wrote, from a run where the step started; `--schedule --wait` is
refused as the command line refuses it; `%kfp show --run` says when the run does not match the
notebook, creates no store, and its Cancel says whose run it is."""

from __future__ import annotations

import _thread
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from engine_support import ipython, kfpj, show, usage_error
from engine_support import run_cell as run
from nbutil import code, make_notebook

pytest_plugins = ["servers.fixtures"]

CRON = "0 0 * * * *"


def small(path: Path, *, consume: str = "consume") -> Path:
    return make_notebook(
        path,
        [
            code("%load_ext kfp_jupyter", "skip"),
            code("%%pipeline_parameters\nbase = 2"),
            code("%%step produce\nvalues = [base, base + 1]"),
            code(f"%%step {consume}\ntotal = float(sum(values))"),
        ],
        metadata={"kfp_jupyter": {"name": "small"}},
    )


def submit_line(nb: Path, server: Any, *extra: str) -> str:
    from servers.helpers import TOKEN_ENV

    options = f"--host {server.url} --token-env {TOKEN_ENV} --poll-interval 0.05"
    return " ".join([f"%kfp submit {nb.name} {options}", *extra])


def interrupt_when_followed(server: Any) -> None:
    """Interrupt the cell (as the notebook's stop button does) once the run it submitted is
    being followed: at the first read of the run, which only following does."""
    state = server.state
    read = state.RunService_GetRun
    once = threading.Lock()

    def reading(req: dict[str, Any]) -> Any:
        if once.acquire(blocking=False):
            _thread.interrupt_main()
        return read(req)

    state.RunService_GetRun = reading


def no_anywidget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anywidget", None)  # as if it were not installed


def terminated(server: Any) -> list[str]:
    return [r.path for r in server.state.requests if r.operation == "RunService_TerminateRun"]


# --- 1. an interrupted `%kfp submit` leaves the run to the cluster ----------------------------


@pytest.mark.parametrize("widget", [True, False])
def test_interrupting_submit_wait_stops_waiting_and_the_run_goes_on(
    ip: Any,
    tmp_path: Path,
    kfp_api: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    widget: bool,
) -> None:
    if not widget:
        no_anywidget(monkeypatch)
    kfp_api.state.hold_runs = True  # a run that would never end: only the interrupt ends the cell
    interrupt_when_followed(kfp_api)
    result = run(ip, submit_line(small(tmp_path / "small.ipynb"), kfp_api, "--wait"))
    assert result.success, result.error_in_exec
    [(run_id, sim)] = kfp_api.state.runs.items()
    err = capsys.readouterr().err
    url = f"{kfp_api.url}/#/runs/details/{run_id}"
    assert f"the run goes on in the cluster: {url}" in err, err
    assert terminated(kfp_api) == [] and not sim.cancel
    assert sim.run["state"] == "RUNNING"


def test_submit_without_wait_and_without_anywidget_returns_at_once(
    ip: Any,
    tmp_path: Path,
    kfp_api: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    no_anywidget(monkeypatch)
    result = run(ip, submit_line(small(tmp_path / "small.ipynb"), kfp_api))
    assert result.success, result.error_in_exec
    assert result.result is None
    out = capsys.readouterr().out
    [run_id] = list(kfp_api.state.runs)
    assert f"submitted kfp run {run_id}: {kfp_api.url}/#/runs/details/{run_id}" in out, out
    assert "produce" not in out, out  # nothing followed: the cell did not wait
    assert not [r for r in kfp_api.state.requests if r.operation == "RunService_GetRun"]


_HIDE_ANYWIDGET = "import sys; sys.modules['anywidget'] = None"


def test_in_a_terminal_without_anywidget_runs_are_shown_as_the_command_line_shows_them(
    kfp_api: Any, tmp_path: Path
) -> None:
    nb = small(tmp_path / "small.ipynb")
    shown = ipython(
        tmp_path,
        _HIDE_ANYWIDGET,
        "%load_ext kfp_jupyter",
        f"%kfp run {nb.name}",
        submit_line(nb, kfp_api),
    )
    out = shown.stdout
    assert shown.returncode == 0, out + shown.stderr
    assert "run " in out and " SUCCEEDED in " in out and "kfp-jupyter runs show" in out, out
    [run_id] = list(kfp_api.state.runs)
    assert f"submitted kfp run {run_id}: {kfp_api.url}/#/runs/details/{run_id}" in out
    assert f"run {run_id}" not in out.replace(f"submitted kfp run {run_id}", ""), out


# --- 2. the widget runs with the notebook's parameter defaults as edited ------------------------


def _with_base(path: Path, base: int) -> Path:
    return make_notebook(
        path,
        [
            code(f"%%pipeline_parameters\nbase = {base}"),
            code("%%step produce\nvalues = [base, base + 1]"),
        ],
        metadata={"kfp_jupyter": {"name": "params"}},
    )


@pytest.mark.parametrize(("typed", "runs_with"), [(None, 10), (7, 7)])
def test_run_takes_an_edited_default_unless_the_form_value_was_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, typed: int | None, runs_with: int
) -> None:
    pytest.importorskip("anywidget")
    from kfp_jupyter.jupyter.widget import PipelineWidget

    monkeypatch.setenv("KFP_JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    store = tmp_path / "store"
    nb = _with_base(tmp_path / "params.ipynb", 3)
    w = PipelineWidget(nb, store=store)
    assert w.params == {"base": 3}
    form = {"base": 3 if typed is None else typed}  # what the front end's form holds
    _with_base(nb, 10)  # the notebook edited and saved, then Run clicked
    w._on_msg(w, {"action": "run", "params": form}, [])
    assert w.wait(120)["state"] == "SUCCEEDED", w.error
    assert show(store)["parameters"] == {"base": runs_with}
    assert w.params == {"base": runs_with}


# --- 3 and 6. %kfp inputs: a component's outputs; a run where the step started -------------------


def _with_container(path: Path) -> Path:
    body = (
        'command: [sh, -c, \'echo 7 > "$0"; echo hello > "$1"\', '
        "{outputPath: count}, {outputPath: note}]\n"
        "outputs: {count: Integer}\n"
    )
    return make_notebook(
        path,
        [
            code("%%pipeline_parameters\nk = 2"),
            code("%%container produce --image busybox:1.36\n" + body),
            code("%%step use\ntext = open(note).read().strip()\nraise ValueError(f'{count * k}')"),
        ],
        metadata={"kfp_jupyter": {"name": "mixed"}},
    )


def test_inputs_of_a_step_that_reads_a_containers_outputs(
    ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = _with_container(tmp_path / "mixed.ipynb")
    store = tmp_path / "runs"
    assert kfpj("run", nb, "--host-exec", store=store).returncode == 1  # `use` fails
    result = run(ip, f"%kfp inputs use {nb.name} --store {store}")
    assert result.success, result.error_in_exec
    assert ip.user_ns["count"] == 7  # a value, read with its type
    assert ip.user_ns["k"] == 2
    with open(ip.user_ns["note"], encoding="utf-8") as f:  # a file, as its path
        assert f.read() == "hello\n"
    out = capsys.readouterr().out
    assert "count: int, from 'produce'" in out and "note: the path of a file, from 'produce'" in out
    # the cell runs by hand as the step ran: its own failure
    failed = run(ip, "text = open(note).read().strip()\nraise ValueError(f'{count * k}')")
    assert str(failed.error_in_exec) == "14"


def test_inputs_of_a_step_that_is_not_python_are_refused_in_words(ip: Any, tmp_path: Path) -> None:
    nb = _with_container(tmp_path / "mixed.ipynb")
    store = tmp_path / "runs"
    kfpj("run", nb, "--host-exec", store=store)
    message = usage_error(run(ip, f"%kfp inputs produce {nb.name} --store {store}"))
    assert "step 'produce' of run" in message and "is a container step, not Python" in message


def _slow_when(path: Path) -> Path:
    """a -> b; `a` takes a minute when n is 4, so a run with n=4 can be cancelled in it."""
    return make_notebook(
        path,
        [
            code("%%pipeline_parameters\nn = 3"),
            code("%%step a\nimport time\nif n == 4:\n    time.sleep(60)\nv = n * 2"),
            code("%%step b\nw = v + 1"),
        ],
        metadata={"kfp_jupyter": {"name": "slow"}},
    )


def _cancelled_in_a(nb: Path, store: Path) -> str:
    """A run (n=4) cancelled while `a` ran: `b` never started."""
    from kfp_jupyter.engine.api import run_local
    from kfp_jupyter.engine.events import TaskEvent

    handle = run_local(nb, {"n": 4}, store=store, cache=False)
    for ev in handle.events():
        if isinstance(ev, TaskEvent) and ev.step == "a" and ev.state == "RUNNING":
            handle.cancel()
            break
    assert handle.wait(60) == "CANCELLED"
    return str(handle.run_id)


def test_inputs_come_from_the_newest_run_where_the_step_started(
    ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = _slow_when(tmp_path / "slow.ipynb")
    store = tmp_path / "runs"
    assert kfpj("run", nb, store=store).returncode == 0
    ran = show(store)["id"]
    cancelled = _cancelled_in_a(nb, store)
    tasks = {t["name"]: t for t in show(store, cancelled)["tasks"]}
    assert tasks["b"]["state"] == "CANCELLED" and tasks["b"]["started"] is None
    result = run(ip, f"%kfp inputs b {nb.name} --store {store}")
    assert result.success, result.error_in_exec
    assert f"step 'b' of run {ran}" in capsys.readouterr().out
    assert ip.user_ns["v"] == 6


def test_details_offer_the_inputs_of_a_step_only_where_it_started(tmp_path: Path) -> None:
    pytest.importorskip("anywidget")
    from kfp_jupyter.jupyter.widget import PipelineWidget

    nb = _slow_when(tmp_path / "slow.ipynb")
    store = tmp_path / "runs"
    cancelled = _cancelled_in_a(nb, store)
    w = PipelineWidget(nb, store=store)
    w.attach(cancelled)
    assert w.wait(30)["state"] == "CANCELLED"
    w.selected = "a"  # cancelled while it ran: it had its inputs
    assert w.details["inputs_loadable"] is True
    w.selected = "b"  # cancelled before it started
    assert w.details["state"] == "CANCELLED"
    assert w.details["inputs_loadable"] is False


# --- 4. --schedule --wait -------------------------------------------------------------------------


def test_schedule_with_wait_is_refused_as_the_command_line_refuses_it(
    ip: Any, tmp_path: Path, kfp_api: Any
) -> None:
    from servers.helpers import TOKEN_ENV, cli

    nb = small(tmp_path / "small.ipynb")
    message = usage_error(run(ip, submit_line(nb, kfp_api, f"--schedule '{CRON}' --wait")))
    assert kfp_api.state.requests == []  # nothing was sent
    connection = ["--host", kfp_api.url, "--token-env", TOKEN_ENV]
    said = cli("submit", str(nb), *connection, "--schedule", CRON, "--wait")
    assert said.exit_code == 2
    assert kfp_api.state.requests == []
    assert message in said.output and "a recurring run (--schedule) starts many" in message


def test_a_recurring_run_is_said_to_be_one(
    ip: Any, tmp_path: Path, kfp_api: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(ip, submit_line(small(tmp_path / "small.ipynb"), kfp_api, f"--schedule '{CRON}'"))
    assert result.success, result.error_in_exec
    [recurring] = list(kfp_api.state.recurring)
    assert f"submitted kfp recurring run {recurring}" in capsys.readouterr().out


# --- 5 and 7. %kfp show --run: a run that does not match; no store created; Cancel ---------------


def test_show_run_names_the_steps_of_the_run_that_are_not_in_the_notebook_now(
    ip: Any, tmp_path: Path
) -> None:
    nb = small(tmp_path / "small.ipynb")
    store = tmp_path / "runs"
    assert kfpj("run", nb, store=store).returncode == 0
    run_id = show(store)["id"]
    small(nb, consume="total")  # `consume` renamed since
    result = run(ip, f"w = %kfp show {nb.name} --run {run_id} --store {store}")
    assert result.success, result.error_in_exec
    w = ip.user_ns["w"]
    assert w.wait(30)["state"] == "SUCCEEDED"
    assert "step consume of this run is not in the notebook now" in w.error, w.error


def test_show_run_of_another_notebook_says_whose_run_it_is(ip: Any, tmp_path: Path) -> None:
    other = small(tmp_path / "other.ipynb")
    store = tmp_path / "runs"
    assert kfpj("run", other, store=store).returncode == 0
    run_id = show(store)["id"]
    nb = small(tmp_path / "small.ipynb")
    result = run(ip, f"w = %kfp show {nb.name} --run {run_id} --store {store}")
    assert result.success, result.error_in_exec
    w = ip.user_ns["w"]
    assert f"run {run_id} was of notebook {other}" in w.error, w.error


def test_show_run_of_a_cluster_run_names_the_steps_not_in_the_notebook(
    ip: Any, tmp_path: Path, kfp_api: Any
) -> None:
    from servers.helpers import TOKEN_ENV

    nb = small(tmp_path / "small.ipynb")
    assert run(ip, submit_line(nb, kfp_api)).success
    [run_id] = list(kfp_api.state.runs)
    small(nb, consume="total")
    line = f"w = %kfp show {nb.name} --run {run_id} --engine kfp --host {kfp_api.url}"
    result = run(ip, f"{line} --token-env {TOKEN_ENV} --poll-interval 0.05")
    assert result.success, result.error_in_exec
    assert "step consume of this run is not in the notebook now" in ip.user_ns["w"].error


def test_show_run_without_a_store_says_so_and_creates_none(ip: Any, tmp_path: Path) -> None:
    import kfp_jupyter
    from kfp_jupyter.errors import KfpJupyterError

    nb = small(tmp_path / "small.ipynb")
    message = usage_error(run(ip, f"%kfp show {nb.name} --run abc123"))
    assert f"there is no run history in {tmp_path / 'store'}" in message, message
    with pytest.raises(KfpJupyterError, match="there is no run history"):
        kfp_jupyter.show(nb, run="abc123")
    assert not (tmp_path / "store").exists()


_RUN_ELSEWHERE = """
import sys
from kfp_jupyter.engine.api import run_local
h = run_local(sys.argv[1], store=sys.argv[2])
print(h.run_id, flush=True)
sys.exit(0 if h.wait() == "SUCCEEDED" else 1)
"""


def test_cancel_of_a_run_of_another_process_says_whose_it_is_and_how_to_stop_it(
    ip: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "go-on"
    nb = make_notebook(
        tmp_path / "held.ipynb",
        [
            code(
                "%%step hold\nimport os, time\n"
                f"while not os.path.exists({str(marker)!r}):\n    time.sleep(0.05)\nx = 1"
            )
        ],
    )
    store = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN_ELSEWHERE, str(nb), str(store)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert run(ip, f"w = %kfp show {nb.name} --run {run_id} --store {store}").success
        w = ip.user_ns["w"]
        w._on_msg(w, {"action": "cancel"}, [])  # the Cancel button
        assert f"run {run_id} belongs to another process (pid {proc.pid} on " in w.error, w.error
        assert "stop it there" in w.error
    finally:
        marker.touch()
        assert proc.wait(120) == 0
    assert w.wait(30)["state"] == "SUCCEEDED"  # the run was left alone
