"""Compile time of kfp-jupyter against the kfp SDK's compiler and Kale, on the same synthetic
notebooks of 10, 100 and 500 steps.

    python benchmarks/compile.py                  # sizes 10 100 500, median of 3 runs each
    python benchmarks/compile.py --repeat 5 --sizes 10 100
    python benchmarks/compile.py --no-kale        # kfp-jupyter only
    python benchmarks/compile.py --repeat 5 --kale-repeat 1   # Kale once per size (it is slow)

kfp-jupyter is timed twice: through the Python API in this process (`compile_pipeline(load_notebook(nb), "kfp",
out)`, after one untimed warm-up so the kfp SDK import is not counted), and as the `kfp-jupyter
compile -t kfp` command (wall time of a fresh process, imports included). The kfp SDK's own
compiler is timed on the same pipeline: the `dsl` script kfp-jupyter writes for the notebook, run
with `python SCRIPT OUT.yaml` (a fresh process: the kfp import, building the pipeline's graph with
kfp's DSL, its compiler and YAML writer), the way a user who writes the KFP DSL by hand compiles;
its output holds the same IR (tests/compile/test_kfp_oracle.py). Kale (`kubeflow-kale` from
PyPI) is installed on first use into its own virtual environment under benchmarks/.venvs/ and timed
as its command `kale --nb NB` without `--upload_pipeline`/`--run_pipeline`, which writes its KFP DSL
script and compiles it to the pipeline YAML, nothing more. Both outputs are checked to hold one task
per step. The ratios compare the commands (kfp SDK / kfp-jupyter and kale / kfp-jupyter), like for
like; the goals: at 10 steps at most a quarter of the kfp SDK's time, at 300 steps and more at most
a seventh, and the 500-step command under 1 s.

Results are printed as one table and written to benchmarks/results/compile.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _env import child_env  # noqa: E402
from _notebooks import write_synthetic  # noqa: E402

DEFAULT_KALE = "2.3.0"
#: kfp SDK / kfp-jupyter at least this, by size: 4 (a quarter of its time) below 300 steps, 7 above
GOAL_KFP_RATIO = ((300, 7.0), (0, 4.0))
GOAL_500_SECONDS = 1.0


def kfp_goal(steps: int) -> float:
    return next(ratio for least, ratio in GOAL_KFP_RATIO if steps >= least)


@dataclass
class Result:
    steps: int
    kfpj_api_s: float | None = None
    kfpj_cli_s: float | None = None
    kfp_sdk_s: float | None = None
    kfp_ratio: float | None = None
    kale_s: float | None = None
    kale_error: str | None = None
    #: e.g. that fewer runs than asked finished in time (the median is of those that did)
    kale_note: str | None = None
    ratio: float | None = None
    goal_met: bool | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)
    #: seconds of a fixed pure-Python loop just before kfp-jupyter was timed: how fast the CPU was
    reference_s: float | None = None


def _tasks_in(yaml_path: Path) -> int:
    """How many tasks the pipeline's root DAG holds (to be sure both tools compiled every step).

    The file may hold a second document (the platform spec of kfp-kubernetes settings).
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with yaml_path.open(encoding="utf-8") as f:
        spec = next(yaml.load_all(f, Loader=loader))
    return len(spec["root"]["dag"]["tasks"])


def _kfpj_command() -> list[str]:
    script = Path(sys.executable).with_name("kfp-jupyter")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kfp_jupyter.cli.main"]


def reference_loop() -> float:
    """A fixed pure-Python loop, timed (best of 3). Shared machines run the same work at quite
    different speeds from one minute to the next; this says how fast the CPU was."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(3_000_000):
            total += i
        best = min(best, time.perf_counter() - start)
    return best


def time_api(nb: Path, out: Path, repeat: int) -> list[float]:
    from kfp_jupyter import compile_pipeline, load_notebook

    compile_pipeline(load_notebook(nb), "kfp", out)  # warm-up: imports kfp-jupyter's modules once
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        compile_pipeline(load_notebook(nb), "kfp", out)
        samples.append(time.perf_counter() - start)
    return samples


def time_cli(nb: Path, out: Path, repeat: int, timeout: float) -> list[float]:
    """Fresh `kfp-jupyter compile` processes. One untimed run first: it writes the .pyc files of
    kfp-jupyter's modules, as the first run on a user's machine does (an editable install has
    none until then)."""
    command = [*_kfpj_command(), "compile", str(nb), "-t", "kfp", "-o", str(out)]
    return time_command(command, out, repeat, timeout, "kfp-jupyter compile")


def time_command(
    command: list[str], out: Path, repeat: int, timeout: float, what: str
) -> list[float]:
    """Wall times of `repeat` runs of `command` (which writes `out`), after one untimed run."""
    samples = []
    for i in range(repeat + 1):
        out.unlink(missing_ok=True)
        start = time.perf_counter()
        r = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=child_env(),
        )
        if i:
            samples.append(time.perf_counter() - start)
        if r.returncode != 0:
            raise RuntimeError(f"{what} failed ({r.returncode}): {r.stderr.strip()[-300:]}")
    return samples


def time_kfp_sdk(nb: Path, work: Path, repeat: int, timeout: float) -> list[float]:
    """The kfp SDK's compiler on the notebook's `dsl` script, in fresh processes (one untimed run
    first, which writes kfp's .pyc files where they are missing)."""
    from kfp_jupyter import compile_pipeline, load_notebook

    pipeline = load_notebook(nb)
    script = work / f"{nb.stem}_dsl.py"
    compile_pipeline(pipeline, "dsl", script, kfp_runtime=_installed_kfp())
    out = work / f"{nb.stem}.kfp-sdk.yaml"
    samples = time_command(
        [sys.executable, str(script), str(out)], out, repeat, timeout, "dsl script"
    )
    if (n := _tasks_in(out)) != len(pipeline.steps):
        raise RuntimeError(f"the kfp SDK's pipeline has {n} tasks, not {len(pipeline.steps)}")
    return samples


def _installed_kfp() -> str:
    import importlib.metadata

    return importlib.metadata.version("kfp")


def ensure_kale(version: str) -> Path:
    """The `kale` command of a virtual environment holding kubeflow-kale==version (created once)."""
    venv = HERE / ".venvs" / f"kale-{version}"
    kale = venv / "bin" / "kale"
    if kale.exists():
        return kale
    print(
        f"installing kubeflow-kale=={version} into {venv.relative_to(HERE.parent)} (first run only)...",
        file=sys.stderr,
    )
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    r = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"kubeflow-kale=={version}",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if r.returncode != 0 or not kale.exists():
        raise RuntimeError(
            f"pip install kubeflow-kale=={version} failed: {r.stderr.strip()[-500:]}"
        )
    return kale


def kale_version(kale: Path) -> str:
    r = subprocess.run(
        [
            str(kale.with_name("python")),
            "-c",
            "import importlib.metadata as m; print(m.version('kubeflow-kale'))",
        ],
        capture_output=True,
        text=True,
    )
    return r.stdout.strip() or "unknown"


def time_kale(
    kale: Path, nb: Path, steps: int, repeat: int, timeout: float
) -> tuple[list[float], str | None]:
    """Kale's CLI, compile only. Its output goes to `--output_path`, relative to the notebook.

    A run that times out after others finished ends the series; the finished runs are kept.
    """
    name = f"synthetic-{steps}"
    out_dir = f"kale-out-{steps}"
    produced = nb.parent / out_dir / f"{name}.pipeline.yaml"
    samples: list[float] = []
    for _ in range(repeat):
        produced.unlink(missing_ok=True)
        start = time.perf_counter()
        try:
            r = _run_kale(kale, nb, name, out_dir, timeout)
        except subprocess.TimeoutExpired:
            if not samples:
                raise
            return samples, f"run {len(samples) + 1} timed out after {timeout:g} s"
        samples.append(time.perf_counter() - start)
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"exit {r.returncode}: {last}")
        if not produced.exists():
            raise RuntimeError(f"Kale wrote no {produced.name}")
        if (n := _tasks_in(produced)) != steps:
            raise RuntimeError(f"Kale's pipeline has {n} tasks, not {steps}")
    return samples, None


def _run_kale(
    kale: Path, nb: Path, name: str, out_dir: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(kale),
            "--nb",
            nb.name,
            "--pipeline_name",
            name,
            "--experiment_name",
            "benchmarks",
            "--output_path",
            out_dir,
        ],
        cwd=nb.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def run(args: argparse.Namespace) -> dict[str, object]:
    import kfp_jupyter

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    kale: Path | None = None
    kale_note = None
    if not args.no_kale:
        try:
            kale = ensure_kale(args.kale_version)
        except Exception as e:  # report and go on with kfp-jupyter alone
            kale_note = f"Kale unavailable: {e}"
            print(kale_note, file=sys.stderr)
    results: list[Result] = []
    for steps in args.sizes:
        nb = write_synthetic(steps, work / f"synthetic_{steps}.ipynb")
        out = work / f"synthetic_{steps}.kfpj.yaml"
        res = Result(steps)
        print(f"{steps} steps: kfp-jupyter...", file=sys.stderr)
        res.reference_s = reference_loop()
        res.samples["kfpj_api"] = time_api(nb, out, args.repeat)
        res.samples["kfpj_cli"] = time_cli(nb, out, args.repeat, args.timeout)
        if (n := _tasks_in(out)) != steps:
            raise RuntimeError(f"kfp-jupyter's pipeline has {n} tasks, not {steps}")
        res.kfpj_api_s = statistics.median(res.samples["kfpj_api"])
        res.kfpj_cli_s = statistics.median(res.samples["kfpj_cli"])
        print(f"{steps} steps: the kfp SDK's compiler...", file=sys.stderr)
        res.samples["kfp_sdk"] = time_kfp_sdk(
            nb, work, args.kfp_repeat or args.repeat, args.timeout
        )
        res.kfp_sdk_s = statistics.median(res.samples["kfp_sdk"])
        res.kfp_ratio = res.kfp_sdk_s / res.kfpj_cli_s
        if kale is not None:
            print(f"{steps} steps: kale...", file=sys.stderr)
            try:
                res.samples["kale"], res.kale_note = time_kale(
                    kale, nb, steps, args.kale_repeat or args.repeat, args.timeout
                )
                res.kale_s = statistics.median(res.samples["kale"])
                res.ratio = res.kale_s / res.kfpj_cli_s
            except subprocess.TimeoutExpired:
                res.kale_error = f"timeout after {args.timeout:g} s"
            except Exception as e:
                res.kale_error = str(e)[:200]
        else:
            res.kale_error = kale_note or "not run (--no-kale)"
        under = steps < 500 or res.kfpj_cli_s < GOAL_500_SECONDS
        res.goal_met = under and res.kfp_ratio >= kfp_goal(steps)
        results.append(res)
    return {
        "benchmark": "compile",
        "date": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "kfp_jupyter": kfp_jupyter.__version__,
        "kale": kale_version(kale) if kale else None,
        "repeat": args.repeat,
        "kale_repeat": args.kale_repeat or args.repeat,
        "statistic": "median",
        "kfp": _installed_kfp(),
        "kfp_repeat": args.kfp_repeat or args.repeat,
        "goal": "kfp SDK / kfp-jupyter >= 4 below 300 steps, >= 7 from 300 steps; 500 steps "
        f"< {GOAL_500_SECONDS:g} s (command wall time)",
        "results": [asdict(r) for r in results],
    }


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def print_table(report: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    notes: list[str] = []
    title = f"compile -t kfp, median of {report['repeat']} runs"
    if report.get("kale_repeat") != report["repeat"]:
        title += f" ({report.get('kale_repeat')} of Kale)"
    table = Table(title=title + " (seconds)")
    for col in (
        "steps",
        "kfp-jupyter API",
        "kfp-jupyter CLI",
        "kfp SDK",
        "kfp SDK / kfp-jupyter",
        "kale CLI",
        "kale / kfp-jupyter",
        "goal",
    ):
        table.add_column(col, justify="left" if col == "goal" else "right")
    for r in report["results"]:  # type: ignore[attr-defined]
        error = r["kale_error"]
        kale = _s(r["kale_s"]) if error is None else error[:60] + ("..." if len(error) > 60 else "")
        if r.get("kale_note"):
            kale += " *"
            notes.append(f"* {r['steps']} steps: {r['kale_note']}")
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.1f}x"
        kfp_ratio = "-" if r["kfp_ratio"] is None else f"{r['kfp_ratio']:.1f}x"
        goal = {True: "yes", False: "NO", None: "unknown"}[r["goal_met"]]
        table.add_row(
            str(r["steps"]),
            _s(r["kfpj_api_s"]),
            _s(r["kfpj_cli_s"]),
            _s(r["kfp_sdk_s"]),
            kfp_ratio,
            kale,
            ratio,
            goal,
        )
    console = Console()
    console.print(table)
    for note in notes:
        console.print(note)
    refs = [r["reference_s"] for r in report["results"] if r.get("reference_s")]  # type: ignore[attr-defined]
    if refs:
        console.print(
            f"CPU speed: a fixed 3M-step Python loop took {min(refs):.3f}-{max(refs):.3f} s "
            "just before kfp-jupyter was timed (on a shared machine it varies by half)"
        )
    console.print(
        f"goal: {report['goal']}; kfp-jupyter {report['kfp_jupyter']}, kfp {report['kfp']}, "
        f"kubeflow-kale {report['kale'] or '-'}, Python {report['machine']['python']}, "  # type: ignore[index]
        f"{report['machine']['cpus']} CPUs"
    )  # type: ignore[index]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[10, 100, 500],
        metavar="N",
        help="numbers of steps (default: 10 100 500)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        metavar="N",
        help="runs per measurement; the median is shown",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=1800,
        metavar="S",
        help="give up on one command after S seconds",
    )
    p.add_argument(
        "--kale-repeat",
        type=int,
        default=None,
        metavar="N",
        help="runs of Kale per size (default: --repeat); Kale takes ~25 min for 500 steps",
    )
    p.add_argument(
        "--kfp-repeat",
        type=int,
        default=None,
        metavar="N",
        help="runs of the kfp SDK's compiler per size (default: --repeat)",
    )
    p.add_argument("--no-kale", action="store_true", help="leave Kale out")
    p.add_argument(
        "--kale-version",
        default=DEFAULT_KALE,
        help=f"kubeflow-kale version (default {DEFAULT_KALE})",
    )
    p.add_argument("--workdir", default=str(HERE / ".work"), help="where notebooks and outputs go")
    p.add_argument(
        "--json",
        default=str(HERE / "results" / "compile.json"),
        metavar="PATH",
        help="where to write the results ('' for nowhere)",
    )
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    report = run(args)
    print_table(report)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
