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
  (`compile_pipeline(load_notebook(nb), "kfp", path)`, then `kfp.components.load_component_from_file`).

Notebooks: the example ML notebook (examples/iris_classifier.ipynb) and a chain of 20 trivial
steps (each adds one to the previous step's number). Per-step overhead is measured on chains of 1
and 20 steps: (time(20) - time(1)) / 19, which cancels each tool's fixed start-up cost.

Goals (issue 3): the engine on the ML notebook within 1.5x of its top-to-bottom run; a fully
cached re-run under 10% of the cold run; per-step overhead under 100 ms on the trivial chain.

The engine at scale (issue 18), three more sections, each its own table:

- marshalling: a step makes a float64 array (or an 8-column DataFrame) of 64 MB and 512 MB
  (`--big` adds 2 GB), the next step reads it; against `np.save` + `np.load` (and `to_parquet` +
  `read_parquet`) of the same data on the same disk, in a fresh process. The engine's time runs
  from the end of the making step's code to the start of the reading step's code (each prints
  the time; a run through `run_local` in this process, fork server, nothing cached): saving the
  value (hashed with BLAKE3 as it is written, as the engine always does: hashing is on), storing
  it, starting the next step and loading it; minus the same gap with 8 elements (what handing on
  costs with no data). Throughput is size / time; the ratio is baseline time / engine time (1.0:
  as fast as the baseline; the goal is 0.8 or more);
- `runs list`: the wall time of `kfp-jupyter runs list` (and `--all`) with 1, 100 and 1,000 runs
  in the store: one real run, the others recorded through the public History API
  (`History.create_run`, finished tasks, SUCCEEDED);
- bytes a fully cached re-run of the ML notebook writes in the store: the files it creates or
  changes (their sizes), and the history database on its own (its changed 4 KiB pages and
  write-ahead log, which SQLite writes).

`--sections` picks the sections (default all); the JSON keeps the last results of the others.
Results are printed as tables and written to benchmarks/results/local_run.json.
"""

from __future__ import annotations

import argparse
import hashlib
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
from functools import partial
from pathlib import Path
from typing import Any

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
from kfp_jupyter import compile_pipeline, load_notebook
nb, ir, root = sys.argv[1:4]
compile_pipeline(load_notebook(nb), "kfp", ir)
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


# --- the engine at scale (issue 18) ----------------------------------------------------------

MB = 1024 * 1024

#: what makes the data, in a step and in the baseline alike (random: parquet cannot compress it)
MAKE = {
    "array": "x = np.random.default_rng(0).random({n})",
    "dataframe": (
        "x = pd.DataFrame(np.random.default_rng(0).random(({n} // 8, 8)), "
        "columns=[f'c{{i}}' for i in range(8)])"
    ),
}
MADE, READ = "KFPJ_BENCH_MADE", "KFPJ_BENCH_READ"
#: what the reading step does with it (as little as possible: reading it is the point)
USE = {"array": "y = float(x[-1])", "dataframe": "y = float(x.iloc[-1, 0])"}

BASELINE = """
import json, sys, time
import numpy as np, pandas as pd
kind, n, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
# first use of parquet loads pyarrow's pandas support: a cost the engine's gap for 8 elements
# (subtracted) pays too, so it is paid here before the clock starts
w = pd.DataFrame({{"c": [1.0]}})
w.to_parquet(folder + "/w.parquet"); pd.read_parquet(folder + "/w.parquet")
np.save(folder + "/w.npy", w["c"].to_numpy()); np.load(folder + "/w.npy")
t0 = time.perf_counter()
{make}
t1 = time.perf_counter()
if kind == "array":
    np.save(folder + "/x.npy", x)
    t2 = time.perf_counter()
    x = np.load(folder + "/x.npy")
else:
    x.to_parquet(folder + "/x.parquet")
    t2 = time.perf_counter()
    x = pd.read_parquet(folder + "/x.parquet")
t3 = time.perf_counter()
{use}
print(json.dumps({{"make": t1 - t0, "write": t2 - t1, "read": t3 - t2}}))
"""


def marshal_notebook(path: Path, kind: str, n: int) -> Path:
    """make -> use, each printing the time where its own code ends (make) or starts (use)."""
    cells = [nbformat.v4.new_code_cell("import time\nimport numpy as np\nimport pandas as pd")]
    cells[0].metadata["tags"] = ["imports"]
    made = f"{MAKE[kind].format(n=n)}\nprint('{MADE}', time.time())"
    make = nbformat.v4.new_code_cell(made)
    make.metadata["tags"] = ["step:make"]
    use = nbformat.v4.new_code_cell(f"print('{READ}', time.time())\n{USE[kind]}")
    use.metadata["tags"] = ["step:use", "prev:make"]
    nb = nbformat.v4.new_notebook()
    nb.cells = [*cells, make, use]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def stamp(log: Path, marker: str) -> float:
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.startswith(marker):
            return float(line.split()[1])
    raise RuntimeError(f"no {marker} in {log}")


def engine_gap_seconds(nb: Path, store: Path) -> float:
    """From the end of the making step's code to the start of the reading step's code, in one
    run of `nb` through the Python API (fork server, a new store, nothing cached): saving the
    value, hashing and storing it, starting the next step, loading it."""
    from kfp_jupyter.engine import run_local

    shutil.rmtree(store, ignore_errors=True)
    handle = run_local(nb, {}, store=str(store), cache=False, launcher="fork")
    state = handle.wait()
    logs = store / "runs" / str(handle.run_id) / "logs"
    try:
        if state != "SUCCEEDED":
            raise RuntimeError(f"the {nb.name} run ended {state}")
        return stamp(logs / "use.log", READ) - stamp(logs / "make.log", MADE)
    finally:
        shutil.rmtree(store, ignore_errors=True)


def baseline_seconds(kind: str, n: int, folder: Path, timeout: float) -> dict[str, float]:
    folder.mkdir(parents=True, exist_ok=True)
    script = BASELINE.format(make=MAKE[kind].format(n="n"), use=USE[kind])
    p = subprocess.run(
        [PY, "-c", script, kind, str(n), str(folder)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
    )
    shutil.rmtree(folder, ignore_errors=True)
    if p.returncode != 0:
        raise RuntimeError(f"the {kind} baseline failed:\n{p.stderr[-2000:]}")
    data: dict[str, float] = json.loads(p.stdout.strip().splitlines()[-1])
    return data


def marshalling(
    work: Path, sizes_mb: list[int], repeat: int, timeout: float
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    store = work / "marshal" / "store"
    for kind in ("array", "dataframe"):
        tiny_nb = marshal_notebook(work / "marshal" / f"{kind}-tiny.ipynb", kind, 8)
        engine_gap_seconds(tiny_nb, store)  # warm-up, not timed
        tiny = median_of(repeat, partial(engine_gap_seconds, tiny_nb, store))
        for size in sizes_mb:
            n = size * MB // 8
            nb = marshal_notebook(work / "marshal" / f"{kind}-{size}.ipynb", kind, n)
            gap = median_of(repeat, partial(engine_gap_seconds, nb, store))
            bases = [
                baseline_seconds(kind, n, work / "marshal" / "baseline", timeout)
                for _ in range(repeat)
            ]
            base = statistics.median(b["write"] + b["read"] for b in bases)
            engine = gap - tiny
            row = {
                "kind": kind,
                "size_mb": size,
                "baseline": "np.save + np.load" if kind == "array" else "to_parquet + read_parquet",
                "baseline_s": base,
                "baseline_write_s": statistics.median(b["write"] for b in bases),
                "baseline_read_s": statistics.median(b["read"] for b in bases),
                "engine_s": engine,
                "engine_gap_s": gap,
                "empty_gap_s": tiny,
                "baseline_mb_per_s": size / base if base > 0 else None,
                "engine_mb_per_s": size / engine if engine > 0 else None,
                "ratio": base / engine if engine > 0 else None,
            }
            print(
                f"  marshalling {kind:<10} {size:>5} MB  engine {engine:.2f} s, "
                f"baseline {base:.2f} s",
                file=sys.stderr,
            )
            rows.append(row)
    return rows


def add_runs(db: Path, pipeline: str, spec: str, digest: str, count: int) -> None:
    """Record `count` finished runs through the History API: what `runs list` reads."""
    from kfp_jupyter.engine.history import History
    from kfp_jupyter.engine.procinfo import RunnerId

    with History(db) as history:
        for _ in range(count):
            now = time.time()
            run_id = history.create_run(
                experiment="Default",
                pipeline=pipeline,
                digest=digest,
                spec=spec,
                notebook=None,
                parameters={},
                options={},
                steps=["s0"],
                runner=RunnerId.current(),
            )
            for task in history.tasks(run_id):
                history.update_task(task.id, state="SUCCEEDED", started=now, finished=now)
            history.set_run_state(run_id, "SUCCEEDED", finished=now)


def runs_list(work: Path, counts: list[int], repeat: int, timeout: float) -> list[dict[str, Any]]:
    from kfp_jupyter.engine.history import History

    store = work / "list" / "store"
    shutil.rmtree(store, ignore_errors=True)
    nb = chain_notebook(work / "list" / "chain1.ipynb", 1)
    timed([*kfpj_command(), "run", str(nb), "--store", str(store)], work, timeout)
    with History(store / "history.db") as history:
        first = history.list_runs()[0]
        spec = history.version_spec(first.version_id)
    digest = "sha256:" + hashlib.sha256(spec.encode()).hexdigest()
    have, rows = 1, []
    for count in sorted(counts):
        add_runs(store / "history.db", "chain1", spec, digest, count - have)
        have = max(have, count)
        row: dict[str, Any] = {"runs": count}
        for label, extra in (("default_s", []), ("all_s", ["--all"])):
            argv = [*kfpj_command(), "runs", "list", "--store", str(store), *extra]
            row[label] = median_of(repeat, partial(timed, argv, work, timeout))
        print(
            f"  runs list at {count:>5} runs: {row['default_s']:.2f} s, --all {row['all_s']:.2f} s",
            file=sys.stderr,
        )
        rows.append(row)
    return rows


def blocks(root: Path) -> dict[str, list[bytes]]:
    """Each file of the store as the digests of its 4 KiB blocks (SQLite writes whole pages)."""
    out: dict[str, list[bytes]] = {}
    for p in root.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            out[str(p.relative_to(root))] = [
                hashlib.sha256(data[i : i + 4096]).digest() for i in range(0, len(data), 4096)
            ] or [b""]
    return out


def cached_run_bytes(bench: Bench, nb: Path, timeout: float) -> dict[str, Any]:
    d = bench.fresh("cached-bytes")
    argv = [*kfpj_command(), "run", str(nb), "--store", str(d / "store")]
    timed(argv, nb.parent, timeout)
    before = blocks(d / "store")
    timed(argv, nb.parent, timeout)
    after = blocks(d / "store")
    files: dict[str, int] = {}
    database = 0
    for rel, digests in after.items():
        size = (d / "store" / rel).stat().st_size
        if rel.startswith("history.db"):
            old = before.get(rel, [])
            changed = [i for i, b in enumerate(digests) if i >= len(old) or old[i] != b]
            database += sum(min(4096, size - 4096 * i) for i in changed)
        elif before.get(rel) != digests:
            files[rel] = size
    result = {
        "notebook": nb.name,
        "files": files,
        "file_bytes": sum(files.values()),
        "database_bytes": database,
    }
    print(
        f"  cached run: {len(files)} file(s), {result['file_bytes']} bytes; "
        f"database {database} bytes",
        file=sys.stderr,
    )
    return result


def print_scale(data: dict[str, Any]) -> None:
    if "marshalling" in data:
        print("\nMarshalling (a step makes the data, the next reads it; hashing on):\n")
        header = (
            f"{'':<22}{'size':>8}{'engine':>10}{'MB/s':>8}{'baseline':>10}{'MB/s':>8}"
            f"{'ratio':>8}  baseline"
        )
        print(header)
        print("-" * (len(header) + 26))
        for r in data["marshalling"]:
            em, bm, ratio = r["engine_mb_per_s"], r["baseline_mb_per_s"], r["ratio"]
            print(
                f"{r['kind']:<22}{r['size_mb']:>5} MB{r['engine_s']:>8.2f} s"
                f"{em or 0:>8.0f}{r['baseline_s']:>8.2f} s{bm or 0:>8.0f}"
                f"{(f'{ratio:.2f}x' if ratio else '-'):>8}  {r['baseline']}"
            )
    if "runs_list" in data:
        print("\n`kfp-jupyter runs list` (wall time of a fresh process):\n")
        print(f"{'runs in the store':<20}{'default (20)':>14}{'--all':>10}")
        for r in data["runs_list"]:
            print(f"{r['runs']:<20}{fmt(r['default_s']):>14}{fmt(r['all_s']):>10}")
    if "cached_run_bytes" in data:
        c = data["cached_run_bytes"]
        print(
            f"\nA fully cached re-run of {c['notebook']} writes {c['file_bytes']} bytes in "
            f"{len(c['files'])} file(s) (goal < 4096), and {c['database_bytes']} bytes of "
            "history database pages and log"
        )
        for rel, size in c["files"].items():
            print(f"  {rel}: {size} bytes")


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
    ap.add_argument(
        "--sections",
        nargs="*",
        default=["runs", "marshal", "list", "bytes"],
        choices=["runs", "marshal", "list", "bytes"],
        help="runs: the contenders above; marshal, list, bytes: the engine at scale",
    )
    ap.add_argument("--sizes", nargs="*", type=int, default=[64, 512], help="marshalling, MB")
    ap.add_argument("--big", action="store_true", help="marshalling at 2048 MB too (4+ GB RAM)")
    ap.add_argument("--list-runs", nargs="*", type=int, default=[1, 100, 1000])
    args = ap.parse_args()
    try:
        data: dict[str, Any] = json.loads(args.json.read_text())
    except (OSError, ValueError):
        data = {}
    machine = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    data.setdefault("machine", machine)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="kfpj-bench-"))
    bench = Bench(work, args.timeout)
    ml = work / "ml" / args.notebook.name
    ml.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(args.notebook, ml)
    chain20 = chain_notebook(work / "chain" / "chain20.ipynb", 20)
    chain1 = chain_notebook(work / "chain" / "chain1.ipynb", 1)
    notebooks = {"ml": ml, "chain20": chain20, "chain1": chain1}

    # warm-up, not timed: byte-compiles kfp-jupyter and fills the OS file cache
    timed([*kfpj_command(), "run", str(chain1), "--store", str(work / "warm")], work, args.timeout)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if "runs" in args.sections:
        data.update(contenders(args, bench, notebooks), when=now, machine=machine)
    scale: dict[str, Any] = {}
    if "marshal" in args.sections:
        sizes = [*args.sizes, *([2048] if args.big else [])]
        scale["marshalling"] = marshalling(work, sizes, args.repeat, args.timeout)
    if "list" in args.sections:
        scale["runs_list"] = runs_list(work, args.list_runs, args.repeat, args.timeout)
    if "bytes" in args.sections:
        scale["cached_run_bytes"] = cached_run_bytes(bench, ml, args.timeout)
    if scale:
        data["scale"] = {
            **data.get("scale", {}),
            **scale,
            "when": now,
            "repeat": args.repeat,
            "machine": machine,
        }
        print_scale(scale)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def contenders(
    args: argparse.Namespace, bench: Bench, notebooks: dict[str, Path]
) -> dict[str, Any]:
    """The engine against nbclient, papermill and kfp.local (issue 3): one table."""
    rows: dict[str, dict[str, float | None]] = {}

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

    return {
        "notebook": args.notebook.name,
        "repeat": args.repeat,
        "seconds": rows,
        "goals": goals,
    }


if __name__ == "__main__":
    sys.exit(main())
