"""Compile a KFP DSL script to IR YAML; run as `python dsl_driver.py SCRIPT OUT REPORT` in a
process of its own (compiled.py), never imported.

The script is loaded as a module (not as __main__, so that a script that submits or compiles in
its main block does not do so twice): exactly one @dsl.pipeline function at its top level is
written to OUT as kfp's Compiler writes it, less the Compiler's leading comment (`_write_ir`).
With none or several, its `if __name__ == "__main__":` block is run with OUT as its first
argument, as `kfp-jupyter compile -t dsl` scripts expect. REPORT receives a JSON object saying
what happened, so that the parent can word the error without parsing a traceback.
"""

from __future__ import annotations

import json
import runpy
import sys
import traceback
from pathlib import Path
from typing import Any


def _write(report: Path, data: dict[str, Any]) -> None:
    report.write_text(json.dumps(data), encoding="utf-8")


def _failure(e: BaseException, script: Path) -> dict[str, Any]:
    """The error and the line of the script it came from (the last frame in the script)."""
    line = None
    for frame in traceback.extract_tb(e.__traceback__):
        if Path(frame.filename).resolve() == script:
            line = frame.lineno
    text = str(e).strip().splitlines()
    said = f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
    if len(text) > 1:
        said += " " + " ".join(t.strip() for t in text[1:4])
    return {"ok": False, "problem": "error", "error": said, "line": line}


def _write_ir(pipeline: Any, out: Path) -> None:
    """The pipeline's IR as kfp's Compiler writes it (its PipelineSpec, then its PlatformSpec if
    it has one), without the comment the Compiler puts first: that comment lists each
    parameter's default as it is, and a line break in one (`'hello\\nworld'`) ends the comment
    early and leaves a file no YAML reader takes."""
    import yaml
    from google.protobuf import json_format  # type: ignore[import-untyped]

    documents = [json_format.MessageToDict(pipeline.pipeline_spec)]
    if pipeline.platform_spec.platforms:
        documents.append(json_format.MessageToDict(pipeline.platform_spec))
    out.write_text(yaml.safe_dump_all(documents, sort_keys=True), encoding="utf-8")


def _needs_kfp_kubernetes(e: BaseException) -> bool:
    """Whether the script failed for want of kfp-kubernetes (`from kfp import kubernetes`, which
    `compile -t dsl` writes for secrets, volumes, labels and timeouts): a missing package the
    user installs, not an error in the script."""
    if not isinstance(e, ImportError):
        return False
    name = e.name or ""
    if name == "kfp.kubernetes" or name.startswith("kfp.kubernetes."):
        return True
    return name == "kfp" and "'kubernetes'" in str(e)


def main(argv: list[str]) -> int:
    script, out, report = Path(argv[1]).resolve(), Path(argv[2]), Path(argv[3])
    sys.path[0] = str(script.parent)  # as `python script.py`: the script's folder, not ours
    try:
        from kfp.dsl.graph_component import GraphComponent
    except ImportError as e:
        _write(report, {"ok": False, "problem": "no-kfp", "error": f"{type(e).__name__}: {e}"})
        return 3
    try:
        namespace = runpy.run_path(str(script), run_name="__kfpj_dsl__")
        found: dict[int, str] = {}
        for name, obj in namespace.items():
            if isinstance(obj, GraphComponent):
                found.setdefault(id(obj), name)
        pipelines = [namespace[n] for n in found.values()]
        if len(pipelines) == 1:
            _write_ir(pipelines[0], out)
        else:
            sys.argv = [str(script), str(out)]
            runpy.run_path(str(script), run_name="__main__")
            if not out.is_file():
                problem = "several" if pipelines else "none"
                _write(report, {"ok": False, "problem": problem, "pipelines": list(found.values())})
                return 4
    except SystemExit as e:
        if e.code not in (0, None):
            _write(report, {"ok": False, "problem": "error", "error": f"it exited with {e.code}"})
            return 4
        if not out.is_file():
            _write(report, {"ok": False, "problem": "none", "pipelines": []})
            return 4
    except BaseException as e:  # the script's own error, or kfp's: reported, not raised
        failure = _failure(e, script)
        if _needs_kfp_kubernetes(e):
            failure["problem"] = "no-kfp-kubernetes"
        _write(report, failure)
        return 4
    _write(report, {"ok": True})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
