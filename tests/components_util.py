"""A notebook that mixes Python steps with a v1-style component, a v2 component YAML, a container
cell and a resource cell; and a small driver that runs a pipeline's steps in order on this machine
(Python steps as their plain programs, the others through kfp_jupyter.components.local)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbutil import code, make_notebook

from kfp_jupyter.components.local import StepResult, local_program, run_container_step
from kfp_jupyter.packaging.program import build_program

if TYPE_CHECKING:
    from kfp_jupyter import Pipeline

DATA = Path(__file__).parent / "data" / "components"
V1_SPEC = DATA / "scale_rows.yaml"
V2_SPEC = DATA / "column_total.v2.yaml"

MANIFEST = """apiVersion: v1
kind: ConfigMap
metadata:
  name: mixed-settings
data:
  mode: test
"""


def mixed_notebook(folder: Path, note_file: Path | None = None, magics: bool = True) -> Path:
    """The notebook; components are copied to `folder`/components and named relative to it."""
    (folder / "components").mkdir(parents=True, exist_ok=True)
    shutil.copy(V1_SPEC, folder / "components" / V1_SPEC.name)
    shutil.copy(V2_SPEC, folder / "components" / V2_SPEC.name)
    note = str(note_file or (folder / "note.txt"))
    container = (
        'command: [sh, -c, \'wc -l < "$0" | tr -d " " > "$1"; echo "$2" > "$3"\', '
        "{inputPath: report}, {outputPath: line_count}, {inputValue: label}, "
        f"{note}]\n"
        "outputs: {line_count: Integer}\n"
        f"file_outputs: {{note: {note}}}"
    )
    if magics:
        scale = code(
            "%%component scale components/scale_rows.yaml --cpu 1 --memory 512Mi\n"
            "rows = table\nfactor = factor"
        )
        total = code(
            "%%component total components/column_total.v2.yaml --gpu 1 --retries 2\n"
            "table = scaled_rows\ncolumn = column"
        )
        count = code(
            "%%container count-lines --image busybox:1.36 --volume scratch:/scratch:1Gi:fast\n"
            + container
        )
        resource = code("%%resource settings --action apply --after make\n" + MANIFEST)
    else:
        scale = code(
            "rows = table\nfactor = factor",
            "step:scale",
            "component:components/scale_rows.yaml",
            "limit:cpu:1",
            "limit:memory:512Mi",
        )
        total = code(
            "table = scaled_rows\ncolumn = column",
            "step:total",
            "component:components/column_total.v2.yaml",
            "limit:nvidia.com/gpu:1",
            "retries:2",
        )
        count = code(
            container,
            "step:count-lines",
            "container",
            "image:busybox:1.36",
            "volume:scratch:/scratch:1Gi:fast",
        )
        resource = code(MANIFEST, "step:settings", "resource:apply", "prev:make")
    return make_notebook(
        folder / "mixed.ipynb",
        [
            code("import pandas as pd", "imports"),
            code("factor = 3.0\nn_rows = 5\ncolumn = 'b'", "pipeline-parameters"),
            code(
                "table = pd.DataFrame({'a': list(range(n_rows)), 'b': [x * 0.5 for x in range(n_rows)]})\n"
                "label = f'rows={n_rows}'",
                "step:make",
            ),
            scale,
            total,
            count,
            resource,
            code(
                "scaled = pd.read_csv(scaled_rows)\n"
                "check_total = float(scaled[column].sum())\n"
                "n = row_count + line_count\n"
                "note_text = open(note).read().strip()\n"
                "types_ok = float(isinstance(row_count, int) and isinstance(total, float)\n"
                "                 and isinstance(scaled_rows, str) and note_text == f'rows={n_rows}')\n"
                "total_value = total",
                "step:check",
            ),
            code("check_total\nn\ntypes_ok\ntotal_value", "pipeline-metrics"),
        ],
        {"kfp_jupyter": {"name": "mixed", "volumes": ["shared:/shared:2Gi:standard:rwx"]}},
    )


def run_locally(
    pipeline: Pipeline,
    folder: Path,
    *,
    as_programs: bool = False,
    host_exec: bool = True,
    runtime: str = "none",
    parameters: dict[str, Any] | None = None,
) -> tuple[dict[str, float], dict[str, StepResult | int], str]:
    """Run every step in order; returns (metrics, per-step result, log of non-Python steps).

    Each output goes to FOLDER/STEP/out/NAME, as the engine lays them out. With `as_programs`
    the non-Python steps run as `local_program` programs with the engine's environment variables
    instead of through the API."""
    values = {p.name: p.default for p in pipeline.parameters}
    values.update(parameters or {})
    metrics: dict[str, float] = {}
    results: dict[str, StepResult | int] = {}
    log = io.StringIO()
    for step in pipeline.steps:
        inputs = {i.name: str(folder / i.producer / "out" / i.name) for i in step.inputs}
        outputs = {o: str(folder / step.name / "out" / o) for o in step.outputs}
        for o in outputs.values():
            Path(o).mkdir(parents=True, exist_ok=True)
        args = {
            "parameters": {p: values[p] for p in step.parameters},
            "inputs": inputs,
            "outputs": outputs,
            "metrics": str(folder / step.name / "metrics.json") if step.metrics else None,
        }
        if step.kind == "python" or as_programs:
            program = (
                build_program(pipeline, step).plain_program()
                if step.kind == "python"
                else local_program(pipeline, step)
            )
            script = folder / f"{step.name}.py"
            script.write_text(program, encoding="utf-8")
            (folder / f"{step.name}.json").write_text(json.dumps(args), encoding="utf-8")
            env = dict(os.environ)
            env.update(
                KFPJ_HOST_EXEC="1" if host_exec else "0",
                KFPJ_CONTAINER_RUNTIME=runtime,
                KFPJ_VOLUMES_DIR=str(folder / "volumes"),
                TMPDIR=str(folder),
            )
            r = subprocess.run(
                [sys.executable, str(script), str(folder / f"{step.name}.json")],
                capture_output=True,
                text=True,
                env=env,
                cwd=folder,
                timeout=300,
            )
            log.write(r.stdout + r.stderr)
            results[step.name] = r.returncode
            if r.returncode != 0:
                break
        else:
            result = run_container_step(
                step,
                parameters=args["parameters"],
                inputs=inputs,
                outputs=outputs,
                work_dir=folder / step.name / "work",
                volumes={m.volume: folder / "volumes" / m.volume for m in step.mounts},
                host_exec=host_exec,
                runtime=runtime,
                log=log,
            )
            results[step.name] = result
            if not result.ok:
                break
        if step.metrics:
            metrics.update(json.loads((folder / step.name / "metrics.json").read_text()))
    return metrics, results, log.getvalue()
