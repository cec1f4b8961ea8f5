"""Running a notebook's pipeline on this machine: kfp-jupyter's engine against the alternatives.

    python benchmarks/local_run.py                    # one run of each, one table
    python benchmarks/local_run.py --repeat 3         # medians of 3
    python benchmarks/local_run.py --notebook my.ipynb

Every contender is timed as the wall time of a fresh process doing the whole job, imports
included, i.e. what a user waits for after typing the command:

- engine, cold: `kfp-jupyter run NB --store EMPTY` (fork-server launcher, the default on Linux);
- engine, cached: the same command again on the same store (every step reused);
- engine, cold processes: `kfp-jupyter run NB --launcher subprocess` (`python step.py` per step);
- nbclient: the notebook top to bottom in one kernel (`NotebookClient(nb).execute()`);
- papermill: `papermill NB OUT`;
- kfp.local: `kfp.local.SubprocessRunner(use_venv=False)` running the compiled IR YAML
  (`load_notebook(nb).compile("kfp", path)`, then `kfp.components.load_component_from_file`).

Notebooks: the example ML notebook (examples/iris_classifier.ipynb) and a chain of 20 trivial
steps (each adds one to the previous step's number). Per-step overhead is measured on chains of 1
and 20 steps: (time(20) - time(1)) / 19, which cancels each tool's fixed start-up cost.

Goals (issue 3): the engine on the ML notebook within 1.5x of its top-to-bottom run; a fully
cached re-run under 10% of the cold run; per-step overhead under 100 ms on the trivial chain.
Results are printed as one table and written to benchmarks/results/local_run.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _env import child_env  # noqa: E402

EXAMPLE = ROOT / "examples" / "iris_classifier.ipynb"
PY = sys.executable

NBCLIENT = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[2]}}).execute()
"""

KFP_LOCAL = """
import sys, warnings
warnings.simplefilter("ignore")
from kfp import components, local
from kfp_jupyter import load_notebook
nb, ir, root = sys.argv[1:4]
load_notebook(nb).compile("kfp", ir)
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root)
components.load_component_from_file(ir)()
"""


def kfpj_command() -> list[str]:
    script = Path(PY).with_name("kfp-jupyter")
    return [str(script)] if script.exists() else [PY, "-m", "kfp_jupyter.cli.main"]


def timed(argv: list[str], cwd: Path, timeout: float) -> float:
    start = time.perf_counter()
    p = subprocess.run(
        argv, cwd=str(cwd), capture_output=True, text=True, timeout=timeout, env=child_env()
    )
    took = time.perf_counter() - start
    if p.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:4])} ... failed ({p.returncode}):\n{p.stdout[-2000:]}"
            f"\n{p.stderr[-2000:]}"
        )
    return took


def chain_notebook(path: Path, steps: int) -> Path:
    cells = [nbformat.v4.new_code_cell("x0 = 0")]
    cells[0].metadata["tags"] = ["step:s0"]
    for i in range(1, steps):
        c = nbformat.v4.new_code_cell(f"x{i} = x{i - 1} + 1")
        c.metadata["tags"] = [f"step:s{i}", f"prev:s{i - 1}"]
        cells.append(c)
    metric = nbformat.v4.new_code_cell(f"x{steps - 1}")
    metric.metadata["tags"] = ["pipeline-metrics"]
    cells.append(metric)
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


class Bench:
    def __init__(self, work: Path, timeout: float) -> None:
        self.work = work
        self.timeout = timeout
        self.n = 0

    def fresh(self, name: str) -> Path:
        self.n += 1
        d = self.work / f"{self.n:03d}-{name}"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d

    def engine(self, nb: Path, launcher: str = "fork") -> tuple[float, float]:
        """(cold, cached) wall times of `kfp-jupyter run` on a new store."""
        d = self.fresh("engine")
        argv = [
            *kfpj_command(),
            "run",
            str(nb),
            "--store",
            str(d / "store"),
            "--launcher",
            launcher,
        ]
        cold = timed(argv, nb.parent, self.timeout)
        cached = timed(argv, nb.parent, self.timeout)
        return cold, cached

    def nbclient(self, nb: Path) -> float:
        return timed([PY, "-c", NBCLIENT, str(nb), str(nb.parent)], nb.parent, self.timeout)

    def papermill(self, nb: Path) -> float:
        d = self.fresh("papermill")
        exe = Path(PY).with_name("papermill")
        argv = [str(exe)] if exe.exists() else [PY, "-m", "papermill"]
        return timed(
            [*argv, "--cwd", str(nb.parent), str(nb), str(d / "out.ipynb")], nb.parent, self.timeout
        )

    def kfp_local(self, nb: Path) -> float:
        d = self.fresh("kfp-local")
        return timed(
            [PY, "-c", KFP_LOCAL, str(nb), str(d / "pipeline.yaml"), str(d / "root")],
            d,
            self.timeout,
        )


def median_of(repeat: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(repeat))


def fmt(v: float | None, unit: str = "s") -> str:
    if v is None:
        return "-"
    if unit == "ms":
        # One kernel (nbclient, papermill) or no process at all (cached) per step: the step count
        # hardly matters, and the difference of two start-up times can come out below zero.
        return f"{v * 1000:.0f} ms" if v >= 0.0005 else "~0 (noise)"
    return f"{v:.2f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--notebook", type=Path, default=EXAMPLE, help="the ML notebook")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each (the median is shown)")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--skip", nargs="*", default=[], choices=["papermill", "kfp-local", "nbclient"])
    ap.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    ap.add_argument("--json", type=Path, default=HERE / "results" / "local_run.json")
    args = ap.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="kfpj-bench-"))
    bench = Bench(work, args.timeout)
    ml = work / "ml" / args.notebook.name
    ml.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(args.notebook, ml)
    chain20 = chain_notebook(work / "chain" / "chain20.ipynb", 20)
    chain1 = chain_notebook(work / "chain" / "chain1.ipynb", 1)
    notebooks = {"ml": ml, "chain20": chain20, "chain1": chain1}

    rows: dict[str, dict[str, float | None]] = {}
    # warm-up, not timed: byte-compiles kfp-jupyter and fills the OS file cache
    timed([*kfpj_command(), "run", str(chain1), "--store", str(work / "warm")], work, args.timeout)

    def record(row: str, col: str, fn: Callable[[], float]) -> None:
        print(f"  {row:<28} {col:<8} ...", end="", flush=True, file=sys.stderr)
        try:
            value: float | None = median_of(args.repeat, fn)
        except Exception as e:  # a contender that fails is shown as such, not a crash
            print(f" failed: {str(e).splitlines()[0]}", file=sys.stderr)
            value = None
        else:
            print(f" {value:.2f} s", file=sys.stderr)
        rows.setdefault(row, {})[col] = value

    for col, nb in notebooks.items():
        for launcher, label in (("fork", "engine"), ("subprocess", "engine, cold processes")):
            pairs = [bench.engine(nb, launcher) for _ in range(args.repeat)]
            rows.setdefault(f"{label}: cold", {})[col] = statistics.median(p[0] for p in pairs)
            rows.setdefault(f"{label}: cached", {})[col] = statistics.median(p[1] for p in pairs)
            print(
                f"  {label:<28} {col:<8} {rows[f'{label}: cold'][col]:.2f} s cold, "
                f"{rows[f'{label}: cached'][col]:.2f} s cached",
                file=sys.stderr,
            )
        if "nbclient" not in args.skip:
            record("nbclient top to bottom", col, lambda nb=nb: bench.nbclient(nb))
        if "papermill" not in args.skip:
            record("papermill", col, lambda nb=nb: bench.papermill(nb))
        if "kfp-local" not in args.skip:
            record("kfp.local SubprocessRunner", col, lambda nb=nb: bench.kfp_local(nb))

    for r in rows.values():
        c20, c1 = r.get("chain20"), r.get("chain1")
        r["per_step"] = (c20 - c1) / 19 if c20 is not None and c1 is not None else None

    top = rows.get("nbclient top to bottom", {}).get("ml")
    cold = rows["engine: cold"]["ml"]
    cached = rows["engine: cached"]["ml"]
    per_step = rows["engine: cold"]["per_step"]
    goals = {
        "ml_within_1.5x_top_to_bottom": (cold / top <= 1.5) if cold and top else None,
        "cached_under_10pct_of_cold": (cached / cold < 0.10) if cold and cached else None,
        "per_step_overhead_under_100ms": (per_step < 0.100) if per_step is not None else None,
    }

    header = f"{'':<30}{'ML notebook':>14}{'20-step chain':>16}{'per-step overhead':>20}"
    print(
        f"\nLocal runs ({args.notebook.name}; 20 trivial steps), wall time of a fresh process, "
        f"{'median of ' + str(args.repeat) if args.repeat > 1 else 'one run each'}:\n"
    )
    print(header)
    print("-" * len(header))
    for name, r in rows.items():
        print(
            f"{name:<30}{fmt(r.get('ml')):>14}{fmt(r.get('chain20')):>16}"
            f"{fmt(r.get('per_step'), 'ms'):>20}"
        )
    print()
    if cold and top:
        print(f"engine cold / top to bottom on the ML notebook: {cold / top:.2f}x (goal <= 1.5x)")
    if cold and cached:
        print(f"engine cached / cold on the ML notebook: {100 * cached / cold:.1f}% (goal < 10%)")
    if per_step is not None:
        print(f"engine per-step overhead: {per_step * 1000:.0f} ms (goal < 100 ms)")
    kl = rows.get("kfp.local SubprocessRunner", {}).get("ml")
    if kl and cold:
        print(f"kfp.local / engine cold on the ML notebook: {kl / cold:.1f}x")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": {
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                },
                "notebook": args.notebook.name,
                "repeat": args.repeat,
                "seconds": rows,
                "goals": goals,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {args.json}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
