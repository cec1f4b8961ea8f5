"""Time to first render of the pipeline widget's DAG in headless Chromium, up to 300 steps.

    python benchmarks/widget.py                   # 100 and 300 steps, median of 5 page loads
    python benchmarks/widget.py --sizes 300 1000 --repeat 3

The widget's committed module (kfp_jupyter/jupyter/static/widget.js, exactly what users load) is
served with a small page on 127.0.0.1 that stands in for anywidget's model, and opened in Debian's
chromium (`/usr/bin/chromium`, or $KFP_JUPYTER_CHROMIUM) through Playwright. Each sample is a fresh
page load, so the module is parsed and compiled every time. Two pipelines per size:

- notebook: the synthetic notebook of benchmarks/_notebooks.py (the compile benchmark's: a chain
  with fan-in), read with `load_notebook(...)`, so the JSON is what the widget really receives;
- tangled: random DAG, each step reading 1-3 variables of the 25 steps before it: wide, with many
  long and crossing edges, the hard case for a layered layout.

Columns: `first render` = from the page's start to the widget drawn and painted (module load +
parse + layout + DOM + first frame); `render()` = the widget's render call to the first frame;
`layout` = the layered layout alone. The goal: a 300-step pipeline on screen in under 1 s.
Results are printed as one table and written to benchmarks/results/widget.json.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _notebooks import write_synthetic  # noqa: E402

STATIC = ROOT / "kfp_jupyter" / "jupyter" / "static"
CHROMIUM = os.environ.get("KFP_JUPYTER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
GOAL_MS = 1000.0

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>widget benchmark</title></head>
<body style="margin:0;padding:12px"><div id="host" style="width:1100px"></div>
<script type="module">
import widget, { layeredLayout } from "./widget.js";
const graph = await (await fetch(new URLSearchParams(location.search).get("graph"))).json();
const state = { graph, states: {}, run: {}, params: {}, selected: "", details: {}, error: "",
  status: "", busy: "", notebook: "", target: { engine: "local" } };
const model = { get: (k) => state[k], set: (k, v) => { state[k] = v; }, save_changes() {},
  send() {}, on() {}, off() {} };
const t0 = performance.now();
widget.render({ model, el: document.getElementById("host") });
await new Promise((r) => requestAnimationFrame(() => setTimeout(r)));
const t1 = performance.now();
const nodes = graph.steps.map((s) => ({ id: s.name, width: 200, height: 64 }));
const edges = [];
for (const s of graph.steps) for (const a of s.after) edges.push({ source: a, target: s.name,
  label: { width: 60, height: 16 } });
const t2 = performance.now();
layeredLayout(nodes, edges);
const t3 = performance.now();
window.result = { firstRender: t1, render: t1 - t0, layout: t3 - t2,
  nodes: document.querySelectorAll("[data-kfp-step]").length };
</script></body></html>
"""


def notebook_graph(n: int, work: Path) -> dict[str, Any]:
    from kfp_jupyter import load_notebook

    nb = write_synthetic(n, work / f"synthetic_{n}.ipynb")
    return load_notebook(nb).to_json()


def tangled_graph(n: int, seed: int = 3, window: int = 25) -> dict[str, Any]:
    rnd = random.Random(seed)
    names = [f"step_{i:04d}" for i in range(n)]
    steps = []
    for i, name in enumerate(names):
        pool = names[max(0, i - window) : i]
        ups = sorted(rnd.sample(pool, min(len(pool), rnd.choice([1, 1, 2, 3]))))
        sources = {f"v_{u[-4:]}": u for u in ups}
        steps.append(
            {
                "name": name,
                "after": ups,
                "inputs": list(sources),
                "input_sources": sources,
                "outputs": [f"v_{name[-4:]}"],
                "image": "python:3.11",
                "resources": {},
            }
        )
    return {"name": f"tangled-{n}", "steps": steps}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def measure(graphs: dict[str, dict[str, Any]], repeat: int) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="kfpj-widget-bench-") as tmp:
        root = Path(tmp)
        shutil.copy(STATIC / "widget.js", root / "widget.js")
        (root / "index.html").write_text(PAGE, encoding="utf-8")
        for name, g in graphs.items():
            (root / f"{name}.json").write_text(json.dumps(g), encoding="utf-8")
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root))
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        rows = []
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for name, g in graphs.items():
                    samples: list[dict[str, float]] = []
                    for _ in range(repeat + 1):  # the first load warms the disk cache only
                        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
                        page = ctx.new_page()
                        page.goto(f"{base}/index.html?graph={name}.json")
                        page.wait_for_function("window.result !== undefined", timeout=120_000)
                        r = page.evaluate("window.result")
                        ctx.close()
                        if r["nodes"] != len(g["steps"]):
                            raise RuntimeError(f"{name}: drew {r['nodes']} of {len(g['steps'])}")
                        samples.append(r)
                    samples = samples[1:]
                    rows.append(
                        {
                            "graph": name,
                            "steps": len(g["steps"]),
                            "edges": sum(len(s["after"]) for s in g["steps"]),
                            **{
                                k: statistics.median(s[k] for s in samples)
                                for k in ("firstRender", "render", "layout")
                            },
                            "samples": samples,
                        }
                    )
                browser.close()
        finally:
            server.shutdown()
    return rows


def _load() -> float | None:
    """The 1-minute load average: on a shared machine, times scale with it."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 300])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if not Path(CHROMIUM).is_file():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        graphs: dict[str, dict[str, Any]] = {}
        for n in args.sizes:
            graphs[f"notebook-{n}"] = notebook_graph(n, Path(tmp))
            graphs[f"tangled-{n}"] = tangled_graph(n)
    load_before = _load()
    rows = measure(graphs, args.repeat)

    print(f"\nwidget first render in headless Chromium (median of {args.repeat} page loads)")
    print(f"machine: {os.cpu_count()} cores, load average {load_before} before, {_load()} after\n")
    header = (
        f"{'pipeline':<16}{'steps':>6}{'edges':>7}{'first render':>15}{'render()':>11}{'layout':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['graph']:<16}{r['steps']:>6}{r['edges']:>7}{r['firstRender']:>12.0f} ms"
            f"{r['render']:>8.0f} ms{r['layout']:>6.0f} ms"
        )
    big = [r for r in rows if r["steps"] == 300]
    verdict = None
    if big:
        worst = max(r["firstRender"] for r in big)
        verdict = worst < GOAL_MS
        print(
            f"\ngoal: 300 steps on screen in < {GOAL_MS:.0f} ms: "
            f"{'met' if verdict else 'NOT met'} (worst {worst:.0f} ms)"
        )
    out = HERE / "results" / "widget.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "load_before": load_before,
                    "load_after": _load(),
                },
                "repeat": args.repeat,
                "goal_ms": GOAL_MS,
                "goal_met": verdict,
                "rows": rows,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
