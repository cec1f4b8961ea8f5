"""The widget's front end in headless Chromium, on a plain page: the DAG drawing (nodes, edges,
states, pan and zoom at 300 steps), the details panel, the parameter form and the buttons.

The page mounts the committed `static/widget.js` with a stand-in for anywidget's model, so what is
tested is exactly the module users load; the lab test (test_lab.py) checks it against a kernel."""

from __future__ import annotations

import time
from typing import Any

import pytest
from graphs import iris, random_dag
from harness import ROOT, screenshot

import kfp_jupyter

pytestmark = pytest.mark.browser

FINAL = ["SUCCEEDED", "CACHED", "FAILED", "SKIPPED", "CANCELLED", "INTERRUPTED"]


def mount(page: Any, url: str, graph: dict[str, Any], **extra: Any) -> float:
    if page.url != url:
        page.goto(url)
        page.wait_for_function("window.ready === true")
    ms = float(page.evaluate("([g, e]) => window.kfp.mount(g, e)", [graph, extra]))
    assert page.errors == []
    return ms


def set_trait(page: Any, name: str, value: Any) -> None:
    page.evaluate("([k, v]) => window.model.set(k, v)", [name, value])


def node(page: Any, step: str) -> Any:
    return page.locator(f'[data-kfp-step="{step}"]')


def view_transform(page: Any) -> tuple[float, float, float]:
    t = page.evaluate("() => document.querySelector('.kfp-dag-viewport').getAttribute('transform')")
    nums = [
        float(x)
        for x in t.replace("translate(", "").replace(") scale(", ",").rstrip(")").split(",")
    ]
    return nums[0], nums[1], nums[2]


# --- drawing ------------------------------------------------------------------------------------


def test_one_node_per_step_with_image_badges_and_labelled_edges(
    page: Any, widget_page_url: str
) -> None:
    mount(page, widget_page_url, iris())
    names = page.locator("[data-kfp-step]").evaluate_all(
        "els => els.map(e => e.getAttribute('data-kfp-step'))"
    )
    assert sorted(names) == ["evaluate", "load_data", "split", "train_forest", "train_logreg"]
    assert set(
        page.locator("[data-kfp-step]").evaluate_all("els => els.map(e => e.dataset.kfpState)")
    ) == {"NONE"}
    forest = node(page, "train_forest")
    assert "python:3.11" in forest.text_content()
    assert "cpu 1" in forest.text_content() and "mem 1Gi" in forest.text_content()
    edges = page.locator(".kfp-edge").evaluate_all(
        "els => els.map(e => e.dataset.kfpSource + '>' + e.dataset.kfpTarget)"
    )
    assert sorted(edges) == sorted(
        [
            "load_data>split",
            "split>train_forest",
            "split>train_logreg",
            "split>evaluate",
            "train_forest>evaluate",
            "train_logreg>evaluate",
        ]
    )
    labels = page.locator(".kfp-edge-label text").all_text_contents()
    assert "data" in labels and "x_train, y_train" in labels and "x_test, y_test" in labels
    # every edge runs downwards: the producer's node is above the consumer's
    boxes = {n: node(page, n).bounding_box() for n in names}
    for e in edges:
        a, b = e.split(">")
        assert boxes[a]["y"] + boxes[a]["height"] <= boxes[b]["y"]
    assert page.locator("[data-kfp-action=compile]").count() == 1
    assert page.locator("[data-kfp-action=run]").count() == 1
    assert page.locator("[data-kfp-action=submit]").count() == 1


def test_steps_that_run_no_notebook_python_are_tagged_and_edges_use_the_notebooks_names(
    page: Any, widget_page_url: str
) -> None:
    graph = kfp_jupyter.load_notebook(ROOT / "examples" / "components_pipeline.ipynb").to_json()
    mount(page, widget_page_url, graph)
    kinds = page.locator(".kfp-node").evaluate_all(
        "els => Object.fromEntries(els.map(e => [e.dataset.kfpStep, e.dataset.kfpKind]))"
    )
    assert kinds == {
        "split": "python",
        "train_stats": "component",
        "test_stats": "component",
        "compare": "python",
    }, kinds
    assert node(page, "train_stats").locator(".kfp-node-kind").text_content() == "◆ component"
    assert node(page, "split").locator(".kfp-node-kind").count() == 0
    # the component's box is drawn unlike a Python step's (square corners)
    corners = {n: node(page, n).locator(".kfp-node-box").get_attribute("rx") for n in kinds}
    assert corners["train_stats"] != corners["split"], corners
    # the edge into a component carries the notebook's variable, not the file written for it
    label = page.locator('.kfp-edge-label[data-kfp-source="split"][data-kfp-target="train_stats"]')
    assert label.locator("text").text_content() == "train_rows"
    labels = " ".join(page.locator(".kfp-edge-label text").all_text_contents())
    assert "__csv" not in labels, labels
    # container and resource steps get their own tags
    other = iris()
    for s in other["steps"]:
        s["kind"] = {"train_forest": "container", "train_logreg": "resource"}.get(s["name"])
    mount(page, widget_page_url, other)
    assert node(page, "train_forest").locator(".kfp-node-kind").text_content() == "▣ container"
    assert node(page, "train_logreg").locator(".kfp-node-kind").text_content() == "☸ resource"


def test_gpu_steps_carry_a_gpu_badge(page: Any, widget_page_url: str) -> None:
    mount(page, widget_page_url, random_dag(20))
    assert node(page, "step_017").locator(".kfp-badge-gpu").text_content() == "GPU 1"
    assert node(page, "step_001").locator(".kfp-badge-gpu").count() == 0


def test_states_show_as_colour_and_text_and_running_counts_up(
    page: Any, widget_page_url: str
) -> None:
    mount(page, widget_page_url, iris())
    now = page.evaluate("Date.now() / 1000")
    set_trait(
        page,
        "states",
        {
            "load_data": {"state": "SUCCEEDED", "started": now - 5, "finished": now - 2.5},
            "split": {"state": "CACHED", "cached": True},
            "train_forest": {"state": "RUNNING", "started": now - 3},
            "train_logreg": {"state": "FAILED", "exit_code": 1},
            "evaluate": {"state": "SKIPPED"},
        },
    )
    expect = {
        "load_data": ("SUCCEEDED", "succeeded in 2.5 s"),
        "split": ("CACHED", "cached"),
        "train_logreg": ("FAILED", "failed (exit 1)"),
        "evaluate": ("SKIPPED", "skipped"),
    }
    for step, (state, text) in expect.items():
        assert node(page, step).get_attribute("data-kfp-state") == state
        assert node(page, step).locator(".kfp-node-state").text_content() == text
    running = node(page, "train_forest").locator(".kfp-node-state")
    assert node(page, "train_forest").get_attribute("data-kfp-state") == "RUNNING"
    first = running.text_content()
    assert first.startswith("running 0:0")
    page.wait_for_function(
        "t => document.querySelector('[data-kfp-step=train_forest] .kfp-node-state').textContent !== t",
        arg=first,
        timeout=5000,
    )
    assert running.text_content() > first  # 0:03 -> 0:04
    colours = {
        s: node(page, s).locator(".kfp-node-box").evaluate("e => getComputedStyle(e).stroke")
        for s in ("load_data", "split", "train_forest", "train_logreg", "evaluate")
    }
    assert len(set(colours.values())) == 5  # each state its own colour
    screenshot(page, "widget-states.png")


def test_clicking_a_node_selects_it_and_shows_its_details(page: Any, widget_page_url: str) -> None:
    mount(page, widget_page_url, iris())
    node(page, "split").click()
    assert page.evaluate("window.model.get('selected')") == "split"
    assert "kfp-selected" in (node(page, "split").get_attribute("class") or "")
    highlighted = page.locator(".kfp-edge.kfp-edge-hl").count()
    assert highlighted == 4  # load_data->split and split's three out-edges
    set_trait(
        page,
        "details",
        {
            "step": "split",
            "state": "SUCCEEDED",
            "image": "python:3.11",
            "parameters": {"seed": 7},
            "inputs": [{"name": "data", "producer": "load_data", "type": "parquet", "size": 5187}],
            "outputs": [{"name": "x_test", "type": "npy", "size": 1568}],
            "metrics": {"accuracy": 0.95},
            "log_tail": "105 training rows, 45 test rows",
        },
    )
    panel = page.locator("[data-kfp-details=split]")
    assert panel.is_visible()
    text = panel.inner_text()
    assert "load_data" in text and "parquet" in text and "5.2 kB" in text and "1.6 kB" in text
    assert "accuracy" in text and "0.95" in text
    assert panel.locator("[data-kfp-detail=log]").inner_text() == "105 training rows, 45 test rows"
    # clicking the background clears the selection
    page.mouse.click(*_blank_point(page))
    assert page.evaluate("window.model.get('selected')") == ""
    assert not panel.is_visible()


def _blank_point(page: Any) -> tuple[float, float]:
    box = page.locator("svg.kfp-dag-svg").bounding_box()
    return box["x"] + 6, box["y"] + 6


# --- the toolbar ---------------------------------------------------------------------------------


def test_parameter_form_is_typed_and_buttons_send_actions(page: Any, widget_page_url: str) -> None:
    g = iris()
    mount(page, widget_page_url, g, params=dict(g["parameters"]))
    assert page.locator("[data-kfp-param]").count() == 4
    assert page.locator("[data-kfp-param=n_estimators]").get_attribute("type") == "number"
    page.fill("[data-kfp-param=n_estimators]", "120")
    page.locator("[data-kfp-param=n_estimators]").dispatch_event("change")
    page.fill("[data-kfp-param=test_size]", "0.25")
    page.locator("[data-kfp-param=test_size]").dispatch_event("change")
    page.fill("[data-kfp-param=solver]", "saga")
    page.locator("[data-kfp-param=solver]").dispatch_event("change")
    params = page.evaluate("window.model.get('params')")
    assert params["n_estimators"] == 120 and isinstance(params["n_estimators"], int)
    assert params["test_size"] == 0.25
    assert params["solver"] == "saga"
    page.click("[data-kfp-action=run]")
    sent = page.evaluate("window.model.sent")
    assert sent[-1]["action"] == "run"
    assert sent[-1]["params"]["n_estimators"] == 120
    page.click("[data-kfp-action=compile]")
    assert page.evaluate("window.model.sent")[-1]["action"] == "compile"


def test_an_invalid_parameter_is_explained_and_not_sent(page: Any, widget_page_url: str) -> None:
    g = {
        "name": "p",
        "steps": [{"name": "a"}],
        "parameters": {"sizes": [1, 2], "n": 3},
        "parameter_types": {"sizes": "list", "n": "int"},
    }
    mount(page, widget_page_url, g)
    page.fill("[data-kfp-param=sizes]", "[1, 2")
    page.locator("[data-kfp-param=sizes]").dispatch_event("change")
    assert "kfp-invalid" in (page.get_attribute("[data-kfp-param=sizes]", "class") or "")
    page.click("[data-kfp-action=run]")
    assert page.evaluate("window.model.sent") == []
    assert "parameter sizes must be JSON" in page.locator("[data-kfp-error]").inner_text()
    page.fill("[data-kfp-param=sizes]", "[1, 2, 3]")
    page.locator("[data-kfp-param=sizes]").dispatch_event("change")
    page.click("[data-kfp-action=run]")
    assert page.evaluate("window.model.sent")[-1]["params"]["sizes"] == [1, 2, 3]


def test_submit_needs_a_cluster_target_and_shows_its_fields(
    page: Any, widget_page_url: str
) -> None:
    mount(page, widget_page_url, iris())
    submit = page.locator("[data-kfp-action=submit]")
    assert submit.is_disabled()
    assert not page.locator("[data-kfp-field=host]").is_visible()
    page.select_option("[data-kfp-field=engine]", "kfp")
    assert page.evaluate("window.model.get('target').engine") == "kfp"
    assert page.locator("[data-kfp-field=host]").is_visible()
    page.fill("[data-kfp-field=host]", "http://127.0.0.1:8888")
    page.locator("[data-kfp-field=host]").dispatch_event("change")
    assert page.evaluate("window.model.get('target').host") == "http://127.0.0.1:8888"
    assert submit.is_enabled()
    submit.click()
    assert page.evaluate("window.model.sent")[-1]["action"] == "submit"


def test_errors_status_and_a_running_run_show_in_words(page: Any, widget_page_url: str) -> None:
    mount(page, widget_page_url, iris())
    set_trait(page, "error", "step 'train_logreg' failed: exited with code 1")
    assert page.locator("[data-kfp-error]").inner_text().startswith("step 'train_logreg' failed")
    now = page.evaluate("Date.now() / 1000")
    set_trait(
        page,
        "run",
        {
            "id": "1a2b3c4d",
            "state": "RUNNING",
            "engine": "local",
            "started": now - 61,
            "clock": now,
        },
    )
    status = page.locator("[data-kfp-status]").inner_text()
    assert "1a2b3c4d" in status and "RUNNING" in status and "1:01" in status
    assert page.locator("[data-kfp-action=cancel]").is_visible()
    assert page.locator("[data-kfp-action=run]").is_disabled()
    page.click("[data-kfp-action=cancel]")
    assert page.evaluate("window.model.sent")[-1]["action"] == "cancel"
    set_trait(
        page,
        "run",
        {
            "id": "1a2b3c4d",
            "state": "SUCCEEDED",
            "started": now - 61,
            "finished": now,
            "metrics": {"acc": 0.9556},
            "clock": now,
        },
    )
    status = page.locator("[data-kfp-status]").inner_text()
    assert "SUCCEEDED" in status and "acc = 0.9556" in status
    assert not page.locator("[data-kfp-action=cancel]").is_visible()


# --- big pipelines -----------------------------------------------------------------------------------


def _layout_facts(page: Any) -> dict[str, Any]:
    return dict(
        page.evaluate(
            """() => {
      const nodes = [...document.querySelectorAll('.kfp-node')].map(g => {
        const m = /translate\\(([-\\d.]+),([-\\d.]+)\\)/.exec(g.getAttribute('transform'));
        return {name: g.dataset.kfpStep, x: +m[1], y: +m[2]};
      });
      let overlaps = 0;
      for (let i = 0; i < nodes.length; i++) for (let j = i + 1; j < nodes.length; j++) {
        const a = nodes[i], b = nodes[j];
        if (Math.abs(a.x - b.x) < 200 && Math.abs(a.y - b.y) < 72) overlaps++;
      }
      const at = Object.fromEntries(nodes.map(n => [n.name, n]));
      let upwards = 0;
      for (const e of document.querySelectorAll('.kfp-edge')) {
        if (at[e.dataset.kfpSource].y >= at[e.dataset.kfpTarget].y) upwards++;
      }
      return {nodes: nodes.length, edges: document.querySelectorAll('.kfp-edge').length,
              overlaps, upwards};
    }"""
        )
    )


@pytest.mark.parametrize("n", [100, 300])
def test_big_pipelines_are_drawn_whole_without_overlaps(
    page: Any, widget_page_url: str, n: int
) -> None:
    graph = random_dag(n)
    ms = mount(page, widget_page_url, graph)
    facts = _layout_facts(page)
    assert facts["nodes"] == n
    assert facts["edges"] == sum(len(s["after"]) for s in graph["steps"])
    assert facts["overlaps"] == 0
    assert facts["upwards"] == 0
    assert ms < 15000, f"first render took {ms:.0f} ms"
    # the first view is readable (names at >= 60% size), starting with the first steps
    _, _, k = view_transform(page)
    assert k >= 0.6
    assert node(page, "step_000").is_visible()
    name_px = node(page, "step_000").locator(".kfp-node-name").bounding_box()["height"]
    assert name_px >= 8
    screenshot(page, f"widget-{n}-steps.png")


def test_300_steps_pan_zoom_fit_and_find(page: Any, widget_page_url: str) -> None:
    mount(page, widget_page_url, random_dag(300))
    svg = page.locator("svg.kfp-dag-svg").bounding_box()
    cx, cy = svg["x"] + svg["width"] / 2, svg["y"] + svg["height"] / 2
    x0, y0, k0 = view_transform(page)
    # Ctrl+wheel zooms around the pointer
    page.mouse.move(cx, cy)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -300)
    page.keyboard.up("Control")
    _, _, k1 = view_transform(page)
    assert k1 > k0
    # a plain wheel is left to the page (the notebook scrolls)
    page.mouse.wheel(0, 200)
    assert view_transform(page)[2] == k1
    # drag pans
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx - 150, cy - 90, steps=5)
    page.mouse.up()
    x2, y2, _ = view_transform(page)
    assert x2 != x0 and y2 != y0
    assert page.evaluate("window.model.get('selected')") == ""  # a drag is not a click
    # fit shows everything
    page.click("[data-kfp-zoom=fit]")
    _, _, kf = view_transform(page)
    assert kf < k0
    vb = page.locator(".kfp-dag-viewport").bounding_box()
    assert vb["width"] <= svg["width"] + 1 and vb["height"] <= svg["height"] + 1
    assert page.locator(".kfp-dag").evaluate("e => e.classList.contains('kfp-lod-low')")
    # far out, edge labels are not drawn (they could not be read)
    assert not page.locator(".kfp-edge-label").first.is_visible()
    # find a step: it is centred, readable and selected
    page.fill(".kfp-dag-find", "step_250")
    page.press(".kfp-dag-find", "Enter")
    box = node(page, "step_250").bounding_box()
    assert abs(box["x"] + box["width"] / 2 - cx) < 5 and abs(box["y"] + box["height"] / 2 - cy) < 5
    assert view_transform(page)[2] >= 0.6
    assert page.evaluate("window.model.get('selected')") == "step_250"
    # keyboard: - zooms out, 0 fits
    page.locator(".kfp-dag").focus()
    page.keyboard.press("-")
    assert view_transform(page)[2] < 1.0
    page.keyboard.press("0")
    assert abs(view_transform(page)[2] - kf) < 1e-3


def test_300_states_update_quickly(page: Any, widget_page_url: str) -> None:
    graph = random_dag(300)
    mount(page, widget_page_url, graph)
    names = [s["name"] for s in graph["steps"]]
    t0 = time.monotonic()
    for i in range(0, 300, 30):
        states = {
            n: {"state": "SUCCEEDED" if j < i else "RUNNING" if j < i + 30 else "PENDING"}
            for j, n in enumerate(names)
        }
        set_trait(page, "states", states)
    set_trait(page, "states", {n: {"state": FINAL[j % len(FINAL)]} for j, n in enumerate(names)})
    elapsed = time.monotonic() - t0
    got = page.locator("[data-kfp-step]").evaluate_all("els => els.map(e => e.dataset.kfpState)")
    assert got == [FINAL[j % len(FINAL)] for j in range(300)]
    assert elapsed < 20
