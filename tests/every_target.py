"""A pipeline compiled to every target and each judged by the real thing: the KFP IR parsed
strictly by KFP's own protobuf types, the Argo Workflow checked against Argo's schema, and the DSL
script run with the kfp SDK, which must write the same IR."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from argo_schema import validate_workflow
from google.protobuf import json_format
from ir_compare import assert_same_ir, ir_from_dsl_script
from kfp.pipeline_spec import pipeline_spec_pb2

from kfp_jupyter import compile_pipeline

if TYPE_CHECKING:
    from kfp_jupyter.model import Pipeline


def strict_ir(pipeline: Pipeline) -> list[dict[str, Any]]:
    """The KFP IR's documents, each parsed strictly (no unknown field) by KFP's protobuf types."""
    docs = list(yaml.safe_load_all(compile_pipeline(pipeline, "kfp")))
    json_format.ParseDict(docs[0], pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)
    for platform in docs[1:]:
        json_format.ParseDict(
            platform, pipeline_spec_pb2.PlatformSpec(), ignore_unknown_fields=False
        )
    return docs


def same_ir_from_dsl(pipeline: Pipeline, tmp_path: Path) -> None:
    """The `dsl` script, run with `python`, has the kfp SDK write the IR `compile -t kfp` writes."""
    script = tmp_path / "pipeline_dsl.py"
    compile_pipeline(pipeline, "dsl", script)
    theirs = ir_from_dsl_script(script, tmp_path / "from_dsl.yaml")
    assert_same_ir(compile_pipeline(pipeline, "kfp"), theirs)


def on_every_target(
    pipeline: Pipeline, tmp_path: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The IR's documents and the Workflow, once every target has been judged."""
    docs = strict_ir(pipeline)
    argo: dict[str, Any] = yaml.safe_load(compile_pipeline(pipeline, "argo"))
    validate_workflow(argo)
    same_ir_from_dsl(pipeline, tmp_path)
    return docs, argo
