"""The widget's model (its traits) as real local runs progress, and what its buttons do.

The front end only draws these traits and sends button messages, so driving `_on_msg` as the
front end does and watching the traits tests the widget's behaviour without a browser (the
browser tests in tests/browser/ check the drawing)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from nbutil import code, make_notebook

pytest.importorskip("anywidget")

from kfp_jupyter.cluster.targets import ENGINES
from kfp_jupyter.engine.api import run_local
from kfp_jupyter.engine.events import RunEvent, TaskEvent
from kfp_jupyter.jupyter import settings
from kfp_jupyter.jupyter.widget import PipelineWidget, show

ROOT = Path(__file__).resolve().parents[2]

# the KFP API test server of the submit tests (tests/servers/)
pytest_plugins = ["servers.fixtures"]
FINAL = {"SUCCEEDED", "CACHED", "FAILED", "SKIPPED", "CANCELLED", "INTERRUPTED"}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFP_JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("KFP_JUPYTER_STORE", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)


def notebook(path: Path, *, sleep: float = 0.0, fail: bool = False) -> Path:
    """load -> (left, right) -> join: a fan-out/fan-in with a parameter and a metric."""
    join = "total = float(sum(left) + sum(right))"
    if fail:
        join += "\nraise RuntimeError('the join step broke on purpose')"
    return make_notebook(
        path,
        [
            code("import time\nimport numpy as np", "imports"),
            code("scale = 2\nlabel = 'x'", "pipeline-parameters"),
            code(f"base = np.arange(4) * scale\ntime.sleep({sleep})", "step:load"),
            code("left = base[:2]\nprint('left', left)", "step:left", "prev:load"),
            code("right = base[2:]", "step:right", "prev:load", "limit:nvidia.com/gpu:1"),
            code(join, "step:join"),
            code("print(total)", "pipeline-metrics"),
        ],
        metadata={"kfp_jupyter": {"name": "fan", "experiment": "widget-tests"}},
    )


def record_states(w: PipelineWidget) -> list[dict[str, str]]:
    seen: list[dict[str, str]] = []
    w.observe(lambda c: seen.append({k: v["state"] for k, v in c["new"].items()}), names="states")
    return seen


def click(w: PipelineWidget, action: str, **content: Any) -> None:
    """What the front end sends when a button is clicked."""
    w._on_msg(w, {"action": action, **content}, [])


def wait_for(cond: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


# --- the pipeline ------------------------------------------------------------------------------


def test_the_model_holds_the_pipeline_graph_parameters_and_target(tmp_path: Path) -> None:
    w = PipelineWidget(notebook(tmp_path / "fan.ipynb"))
    steps = {s["name"]: s for s in w.graph["steps"]}
    assert list(steps) == ["load", "left", "right", "join"]
    assert steps["join"]["input_sources"] == {"left": "left", "right": "right"}
    assert steps["right"]["resources"] == {"nvidia.com/gpu": "1"}
    assert w.params == {"scale": 2, "label": "x"}
    assert w.graph["parameter_types"] == {"scale": "int", "label": "str"}
    assert w.target["engine"] == "local"
    # the target menu offers this machine and every engine a submit accepts
    assert w.engines == ["local", *ENGINES]
    assert w.target["experiment"] == "widget-tests"  # from the notebook's metadata
    assert w.error == ""
    assert w.states == {}


def test_an_invalid_notebook_shows_its_problems_in_words(tmp_path: Path) -> None:
    nb = make_notebook(tmp_path / "bad.ipynb", [code("y = x + 1", "step:only")])
    w = PipelineWidget(nb)
    assert w.graph == {}
    assert "'x'" in w.error and "cell 1" in w.error
    assert "Traceback" not in w.error
    # the fixed notebook is read again by the next action
    make_notebook(nb, [code("x = 1", "step:first"), code("y = x + 1", "step:second")])
    click(w, "compile")
    wait_for(lambda: not w.busy)
    assert w.error == ""
    assert [s["name"] for s in w.graph["steps"]] == ["first", "second"]


# --- running -------------------------------------------------------------------------------------


def test_run_button_states_go_from_pending_through_running_to_succeeded(tmp_path: Path) -> None:
    w = PipelineWidget(notebook(tmp_path / "fan.ipynb", sleep=1.0))
    seen = record_states(w)
    click(w, "run", params={"scale": 3})
    assert w.busy  # the kernel is not blocked: the work happens in a thread
    final = w.wait(120)
    assert w.busy == ""
    assert final["state"] == "SUCCEEDED"
    assert final["metrics"] == {"total": 18.0}  # (0+3) + (6+9) with scale=3 from the form
    assert isinstance(final["clock"], float)
    assert final["started"] <= final["finished"]
    assert seen[0] == {s: "PENDING" for s in ("load", "left", "right", "join")}
    load_states = [s["load"] for s in seen]
    assert "RUNNING" in load_states  # load sleeps 1 s: its RUNNING state was drawn
    assert load_states.index("RUNNING") < load_states.index("SUCCEEDED")
    assert seen[-1] == {s: "SUCCEEDED" for s in ("load", "left", "right", "join")}
    # join never ran before both branches finished
    for snap in seen:
        if snap["join"] != "PENDING":
            assert snap["left"] == snap["right"] == "SUCCEEDED"
    running = w.states["load"]
    assert running["started"] is not None and running["finished"] >= running["started"]


def test_a_second_run_is_cached_and_shown_as_cached(tmp_path: Path) -> None:
    w = PipelineWidget(notebook(tmp_path / "fan.ipynb"))
    w.run_local()
    assert w.wait(120)["state"] == "SUCCEEDED"
    first = w.run["id"]
    w.run_local()
    final = w.wait(120)
    assert final["id"] != first
    assert final["state"] == "SUCCEEDED"
    assert {s["state"] for s in w.states.values()} == {"CACHED"}
    assert all(s["cached"] for s in w.states.values())


def test_a_failing_step_is_failed_with_its_exit_code_and_log_tail(tmp_path: Path) -> None:
    w = PipelineWidget(notebook(tmp_path / "fan.ipynb", fail=True))
    w.run_local()
    final = w.wait(120)
    assert final["state"] == "FAILED"
    assert "join" in final["message"]
    assert w.states["join"]["state"] == "FAILED"
    assert w.states["join"]["exit_code"] not in (None, 0)
    w.selected = "join"
    assert "the join step broke on purpose" in w.details["log_tail"]
    assert w.details["state"] == "FAILED"


def test_a_failure_upstream_skips_the_rest(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "chain.ipynb",
        [
            code("a = 1\nraise SystemExit(3)", "step:first"),
            code("b = a + 1", "step:second"),
        ],
    )
    w = PipelineWidget(nb)
    w.run_local()
    assert w.wait(120)["state"] == "FAILED"
    assert w.states["first"]["state"] == "FAILED"
    assert w.states["first"]["exit_code"] == 3
    assert w.states["second"]["state"] == "SKIPPED"


def test_details_of_a_step_name_types_sizes_metrics_and_parameters(tmp_path: Path) -> None:
    w = PipelineWidget(notebook(tmp_path / "fan.ipynb"))
    w.selected = "left"
    before = w.details
    assert before["inputs"] == [{"name": "base", "producer": "load", "type": None, "size": None}]
    assert "not run yet" in before["note"]
    w.run_local({"scale": 5})
    w.wait(120)
    w.selected = "left"
    d = w.details
    assert d["state"] == "SUCCEEDED"
    assert d["inputs"][0]["name"] == "base" and d["inputs"][0]["producer"] == "load"
    assert d["inputs"][0]["type"] == "npy" and d["inputs"][0]["size"] > 0
    assert [(o["name"], o["type"]) for o in d["outputs"]] == [("left", "npy")]
    assert d["outputs"][0]["size"] > 0
    assert "left [0 5]" in d["log_tail"]
    w.selected = "load"
    assert w.details["parameters"] == {"scale": 5}
    w.selected = "join"
    assert w.details["metrics"] == {"total": 30.0}
    w.selected = ""
    assert w.details == {}


def test_cancel_button_stops_the_run(tmp_path: Path) -> None:
    w = PipelineWidget(notebook(tmp_path / "fan.ipynb", sleep=60))
    w.run_local()
    wait_for(lambda: w.states.get("load", {}).get("state") == "RUNNING")
    click(w, "cancel")
    final = w.wait(60)
    assert final["state"] == "CANCELLED"
    assert w.states["load"]["state"] == "CANCELLED"
    assert w.states["join"]["state"] in {"CANCELLED", "SKIPPED"}


# --- following a run started elsewhere ------------------------------------------------------------


def test_following_a_run_started_in_another_cell_replays_it_from_the_start(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "fan.ipynb")
    handle = run_local(nb, store=tmp_path / "other")
    assert handle.wait(120) == "SUCCEEDED"
    w = show(nb, run=handle)  # after the run ended: still every task, from the events
    final = w.wait(30)
    assert final["id"] == handle.run_id
    assert {s["state"] for s in w.states.values()} == {"SUCCEEDED"}
    w.selected = "right"
    assert w.details["outputs"][0]["size"] > 0  # the handle's store is used for details


def test_reattach_by_id_to_a_run_of_another_process(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "fan.ipynb", sleep=3.0)
    store = tmp_path / "shared"
    script = (
        "import sys\nfrom kfp_jupyter.engine.api import run_local\n"
        "h = run_local(sys.argv[1], store=sys.argv[2])\nprint(h.run_id, flush=True)\n"
        "sys.exit(0 if h.wait() == 'SUCCEEDED' else 1)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(nb), str(store)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        w = PipelineWidget(nb)
        seen = record_states(w)
        w.attach(run_id[:5], store=store)  # a prefix is enough, as on the command line
        final = w.wait(120)
        assert proc.wait(60) == 0
    finally:
        proc.kill()
    assert final["id"] == run_id
    assert final["state"] == "SUCCEEDED"
    assert final["metrics"] == {"total": 12.0}
    assert any(s["load"] == "RUNNING" for s in seen)  # attached while it was still running
    assert {s["state"] for s in w.states.values()} == {"SUCCEEDED"}


def test_attach_to_an_unknown_run_says_so(tmp_path: Path) -> None:
    w = PipelineWidget(notebook(tmp_path / "fan.ipynb"))
    w.run_local()
    w.wait(120)
    with pytest.raises(Exception, match="no run 'ffffffff'"):
        w.attach("ffffffff")


class _StreamThatBreaks:
    """A handle whose event stream ends early (e.g. a cluster connection lost)."""

    run_id = "cluster-1"
    engine = "kfp"
    url = "http://127.0.0.1:1/#/runs/details/cluster-1"
    state = "RUNNING"
    error: BaseException | None = None

    def events(self) -> Any:
        yield RunEvent("cluster-1", "RUNNING", time.time())
        yield TaskEvent("cluster-1", "load", "RUNNING", time.time(), started=time.time())
        raise ConnectionError("the server went away")


def test_a_followed_stream_that_breaks_is_reported_in_words(tmp_path: Path) -> None:
    w = PipelineWidget(notebook(tmp_path / "fan.ipynb"))
    w.follow(_StreamThatBreaks())
    final = w.wait(10)
    assert final["engine"] == "kfp"
    assert final["url"].endswith("cluster-1")
    assert final["state"] == "FAILED"
    assert "the server went away" in final["message"]
    assert w.states["load"]["state"] == "RUNNING"
    w.selected = "load"
    assert "cluster's UI" in w.details["note"]


# --- compile, submit, errors --------------------------------------------------------------------


def test_compile_button_writes_kfp_ir_or_argo_for_the_target(tmp_path: Path) -> None:
    w = PipelineWidget(notebook(tmp_path / "fan.ipynb"))
    click(w, "compile")
    wait_for(lambda: not w.busy)
    assert w.error == ""
    assert (tmp_path / "fan.yaml").is_file()
    assert "fan.yaml" in w.status
    click(w, "compile", target={"engine": "argo"})
    wait_for(lambda: not w.busy)
    assert (tmp_path / "fan.argo.yaml").is_file()
    assert "argo" in w.status


def test_a_bad_parameter_is_an_error_in_words_and_nothing_runs(tmp_path: Path) -> None:
    w = PipelineWidget(notebook(tmp_path / "fan.ipynb"))
    click(w, "run", params={"scale": "lots"})
    wait_for(lambda: not w.busy)
    assert "scale" in w.error and "int" in w.error
    assert "Traceback" not in w.error
    assert w.run == {}


def test_submit_to_local_or_to_an_unconfigured_cluster_explains_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = PipelineWidget(notebook(tmp_path / "fan.ipynb"))
    click(w, "submit")
    wait_for(lambda: not w.busy)
    assert "choose Kubeflow Pipelines or Argo" in w.error
    pytest.importorskip("kfp_jupyter.cluster")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    click(w, "submit", target={"engine": "kfp", "host": ""})
    wait_for(lambda: not w.busy)
    assert "host" in w.error.lower()
    assert "Traceback" not in w.error


def test_target_fields_are_remembered_per_user_and_per_engine(tmp_path: Path) -> None:
    w = PipelineWidget(notebook(tmp_path / "fan.ipynb"))
    # showing a notebook is not a choice of the user's: nothing is written yet
    assert not settings.settings_path().exists()
    w.target = {
        "engine": "kfp",
        "host": "http://127.0.0.1:8888",
        "namespace": "team-a",
        "experiment": "nightly",
    }
    w.target = {**w.target, "engine": "argo", "host": "", "namespace": "argo-ns"}
    saved = json.loads(settings.settings_path().read_text())
    assert saved["engine"] == "argo"
    assert saved["engines"]["kfp"]["host"] == "http://127.0.0.1:8888"
    assert saved["engines"]["argo"]["namespace"] == "argo-ns"
    assert "token" not in json.dumps(saved)
    # a new notebook session starts with the last target
    again = PipelineWidget(notebook(tmp_path / "fan2.ipynb"))
    assert again.target["engine"] == "argo"
    assert again.target["namespace"] == "argo-ns"
    # switching engine brings back that engine's fields
    again.target = {**again.target, "engine": "kfp"}
    assert again.target["host"] == "http://127.0.0.1:8888"
    assert again.target["namespace"] == "team-a"


# --- the front end module ------------------------------------------------------------------------


def test_the_widget_module_is_one_self_contained_es_module() -> None:
    esm = PipelineWidget._esm
    text = Path(str(esm)).read_text() if isinstance(esm, (str, os.PathLike)) else str(esm)
    assert re.search(r"as default\b|export default", text)
    # no imports: anywidget loads the module from a string, with nothing next to it
    assert not re.search(r"^\s*import\b.*\bfrom\s*[\"']", text, re.M)
    assert "data-kfp-step" in text and "data-kfp-state" in text and "data-kfp-action" in text


def test_the_committed_widget_module_is_built_from_the_sources() -> None:
    js = ROOT / "js"
    if not (js / "node_modules" / "esbuild").is_dir() or shutil.which("node") is None:
        pytest.skip("js/node_modules not installed (cd js && npm ci)")
    out = subprocess.run(["node", "build.mjs", "--check"], cwd=js, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_state_updates_are_throttled_for_big_runs(tmp_path: Path) -> None:
    """Hundreds of events in a burst become a few trait updates, and the last one is complete."""
    names = [f"s{i}" for i in range(300)]

    class Burst:
        run_id = "burst"
        state = "SUCCEEDED"
        error = None

        def events(self) -> Any:
            t = time.time()
            yield RunEvent("burst", "RUNNING", t)
            for n in names:
                yield TaskEvent("burst", n, "RUNNING", t, started=t)
                yield TaskEvent("burst", n, "SUCCEEDED", t, started=t, finished=t)
            yield RunEvent("burst", "SUCCEEDED", t)

    w = PipelineWidget(notebook(tmp_path / "fan.ipynb"))
    updates = []
    lock = threading.Lock()

    def count(_c: Any) -> None:
        with lock:
            updates.append(1)

    w.observe(count, names="states")
    w.follow(Burst())
    assert w.wait(10)["state"] == "SUCCEEDED"
    assert len(updates) < 50
    assert all(w.states[n]["state"] == "SUCCEEDED" for n in names)


# --- submitting to a cluster (a KFP API server on 127.0.0.1, see tests/servers/) ------------------


def test_submit_sends_to_kfp_and_draws_the_cluster_run_live(kfp_api: Any, demo_nb: Path) -> None:
    from servers.helpers import TOKEN_ENV

    w = PipelineWidget(demo_nb)
    seen = record_states(w)
    w.target = {"engine": "kfp", "host": kfp_api.url, "namespace": "", "experiment": "exp-w"}
    # the server moves a run on by one step per read: a read every 0.4 s keeps each RUNNING state
    # on screen longer than the widget's update interval
    handle = w.submit(token_env=TOKEN_ENV, poll_interval=0.4)
    final = w.wait(60)
    assert final["engine"] == "kfp"
    assert final["id"] == handle.run_id
    assert final["url"] == f"{kfp_api.url}/#/runs/details/{handle.run_id}"
    assert final["state"] == "SUCCEEDED"
    assert f"submitted run {handle.run_id}" in w.status
    assert {s["state"] for s in w.states.values()} == {"SUCCEEDED"}
    assert any(s.get("train") == "RUNNING" for s in seen)
    run = next(iter(kfp_api.state.runs.values())).run
    assert run["runtime_config"]["parameters"]["n_rows"] == 4
    w.selected = "train"
    assert "cluster's UI" in w.details["note"]


def test_a_failing_cluster_task_is_drawn_failed_and_the_rest_skipped(
    kfp_api: Any, demo_nb: Path
) -> None:
    from servers.helpers import TOKEN_ENV

    kfp_api.state.fail_tasks = {"train"}
    w = PipelineWidget(demo_nb)
    w.target = {"engine": "kfp", "host": kfp_api.url}
    w.submit(token_env=TOKEN_ENV, poll_interval=0.05)
    final = w.wait(60)
    assert final["state"] == "FAILED"
    assert "train" in (final["message"] or "")
    assert {k: v["state"] for k, v in w.states.items()} == {
        "load_data": "SUCCEEDED",
        "train": "FAILED",
        "report": "SKIPPED",
    }


def test_show_without_anywidget_says_how_to_install_it() -> None:
    """`kfp_jupyter.show()` in an environment without the widget extra: one message with the
    install command, as `%kfp show` gives, not a bare ModuleNotFoundError."""
    code = (
        "import sys\n"
        "sys.modules['anywidget'] = None  # as if it were not installed\n"
        "import kfp_jupyter\n"
        "from kfp_jupyter.errors import KfpJupyterError\n"
        "try:\n"
        "    kfp_jupyter.show()\n"
        "except KfpJupyterError as e:\n"
        "    print('said:', e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "said: kfp_jupyter.show() needs anywidget" in r.stdout, r.stdout
    assert "pip install" in r.stdout, r.stdout
