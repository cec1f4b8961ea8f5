"""Pipelines that are already compiled: a KFP IR YAML, an Argo Workflow YAML, or a KFP DSL script.

`kfp-jupyter compile` writes these files and other tools (the kfp SDK, Argo's own examples) do
too; submitting one should not need the notebook it came from. What the submission needs from the
notebook (the pipeline's name, its parameters and their types, the steps to follow) is read from
the file itself, so that `-p` is checked against the pipeline's own parameters, with the same
messages as for a notebook, before anything is sent.

The kind of a file is told by its content, not only its name: a `.yaml` holding a Workflow is an
Argo Workflow whatever it is called, and a file that is neither kind is refused with one message.
A DSL script is compiled by the kfp SDK in a separate Python process (scripts run arbitrary code
at import; a failure there must not take this process with it), see `dsl_driver.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from ..compile.argo import (
    ANNOTATION_DESCRIPTION,
    ANNOTATION_PARAMETERS,
    LABEL_PIPELINE,
    compiled_here,
    given_text,
)
from ..errors import install_extra
from ..params import (
    PARAM_TYPES,
    ParameterError,
    ParamType,
    parse_value,
    resolve_values,
    value_text,
)
from .errors import ClusterError, ConfigError, InvalidSubmission

Kind = Literal["notebook", "kfp", "argo", "dsl"]

#: KFP IR parameterType -> our parameter type (the names `-p` messages use for notebooks too)
IR_TYPES = {
    "NUMBER_INTEGER": "int",
    "NUMBER_DOUBLE": "float",
    "BOOLEAN": "bool",
    "STRING": "str",
    "LIST": "list",
    "STRUCT": "dict",
}
#: the first IR versions' `type` (PrimitiveType), still read by KFP
_OLD_IR_TYPES = {"INT": "int", "DOUBLE": "float", "STRING": "str"}
ARGO_API_GROUP = "argoproj.io/"


@dataclass(frozen=True)
class DeclaredParameter:
    """A parameter as the compiled pipeline declares it; `required`: it has no default, so a
    run must give it."""

    name: str
    type: str
    default: object = None
    required: bool = False
    #: Argo: the only values the parameter accepts (its `enum`), when it has one
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompiledStep:
    """A task of the compiled pipeline's top-level DAG: what following a run shows."""

    name: str


@dataclass(frozen=True)
class CompiledPipeline:
    """A compiled pipeline file, read: enough to submit it and follow its run.

    Has the attributes of model.Pipeline that submitting uses (name, description, experiment,
    steps, parameters, metrics), so the backends take either."""

    kind: Literal["kfp", "argo"]
    path: Path
    name: str
    #: kfp: the IR YAML as it will be uploaded; argo: the Workflow YAML as read
    text: str
    description: str = ""
    experiment: str | None = None
    steps: tuple[CompiledStep, ...] = ()
    parameters: tuple[DeclaredParameter, ...] = ()
    metrics: tuple[str, ...] = ()
    #: argo: the Workflow document
    document: Mapping[str, Any] = field(default_factory=dict)
    #: where it came from, for messages: the file, or "DSL script x.py"
    source: str = ""


# --- telling the kinds apart


def kind_of(path: Path) -> Kind:
    """What `path` holds. A notebook or a Python script by its name; anything else by reading
    it (raises InvalidSubmission when it is not a pipeline at all)."""
    suffix = path.suffix.lower()
    if suffix == ".ipynb":
        return "notebook"
    if suffix == ".py":
        return "dsl"
    docs = _yaml_documents(path)
    first = docs[0]
    if "cells" in first and "nbformat" in first:
        return "notebook"
    if _is_ir(first):
        return "kfp"
    if _is_argo(first):
        return "argo"
    raise InvalidSubmission(
        f"{path} is neither a notebook, a KFP pipeline (IR YAML) nor an Argo Workflow: "
        + _what_it_is(first),
        fix="give a notebook (.ipynb), the YAML of `kfp-jupyter compile -t kfp` (or of kfp's "
        "compiler), an Argo Workflow YAML with --engine argo, or a KFP DSL script (.py)",
    )


def _is_ir(doc: Mapping[str, Any]) -> bool:
    return "pipelineInfo" in doc and ("root" in doc or "deploymentSpec" in doc)


def _is_argo(doc: Mapping[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).startswith(ARGO_API_GROUP)


def _what_it_is(doc: Mapping[str, Any]) -> str:
    kind, api = doc.get("kind"), doc.get("apiVersion")
    if kind or api:
        return f"it is a {kind or 'document'} of {api or 'no apiVersion'}"
    keys = ", ".join(sorted(map(str, doc))[:6])
    return f"its top-level keys are {keys}" if keys else "it is empty"


def _yaml_documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of `path` (at least one, each a mapping), or InvalidSubmission."""
    return _parsed(_text_of(path), path)


def _text_of(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidSubmission(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidSubmission(f"{path} is a directory, not a pipeline file") from None
    except UnicodeDecodeError:
        raise InvalidSubmission(f"{path} is not a text file (not YAML, not a notebook)") from None
    except OSError as e:
        raise InvalidSubmission(f"cannot read {path}: {e.strerror or e}") from None


def _parsed(text: str, path: Path) -> list[dict[str, Any]]:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InvalidSubmission(f"{path} is not valid YAML{where}: {problem}") from None
    if not docs:
        raise InvalidSubmission(f"{path} is empty: it holds no pipeline")
    for i, d in enumerate(docs):
        if not isinstance(d, dict):
            which = "" if len(docs) == 1 else f" (document {i + 1})"
            raise InvalidSubmission(
                f"{path}{which} is YAML but not a mapping ({type(d).__name__}): not a pipeline"
            )
    return docs


# --- reading each kind


def load_compiled(path: Path, kind: Kind) -> CompiledPipeline:
    """The compiled pipeline at `path` ("kfp" or "argo" YAML, or a "dsl" script, compiled)."""
    if kind == "dsl":
        text = compile_script(path)
        return read_ir(text, path, source=f"DSL script {path}")
    if kind == "kfp":
        return read_ir(path.read_text(encoding="utf-8"), path, source=str(path))
    if kind == "argo":
        text = _text_of(path)
        return read_workflow(_parsed(text, path), path, text)
    raise ValueError(kind)


def read_ir(text: str, path: Path, *, source: str) -> CompiledPipeline:
    """A KFP IR (a PipelineSpec, then optionally a PlatformSpec document), uploaded as is."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise InvalidSubmission(f"{source} did not produce valid YAML: {e}") from None
    spec = docs[0] if docs else None
    if not isinstance(spec, dict) or not _is_ir(spec):
        raise InvalidSubmission(f"{source} is not a KFP pipeline spec (no pipelineInfo and root)")
    info = spec.get("pipelineInfo") or {}
    name = str(info.get("displayName") or info.get("name") or "").strip()
    if not name:
        raise InvalidSubmission(f"{source}: the pipeline has no name (pipelineInfo.name is empty)")
    root = spec.get("root") or {}
    declared = ((root.get("inputDefinitions") or {}).get("parameters")) or {}
    params = tuple(_ir_parameter(str(n), p or {}) for n, p in declared.items())
    tasks = ((root.get("dag") or {}).get("tasks")) or {}
    steps = tuple(
        CompiledStep(str(((t or {}).get("taskInfo") or {}).get("name") or key))
        for key, t in tasks.items()
    )
    return CompiledPipeline(
        kind="kfp",
        path=path,
        name=name,
        text=text,
        description=str(info.get("description") or ""),
        steps=steps,
        parameters=params,
        source=source,
    )


def _ir_parameter(name: str, p: Mapping[str, Any]) -> DeclaredParameter:
    raw = str(p.get("parameterType") or "")
    type_ = IR_TYPES.get(raw) or _OLD_IR_TYPES.get(str(p.get("type") or "")) or raw or "unknown"
    has_default = "defaultValue" in p
    default = p.get("defaultValue")
    if type_ == "int" and isinstance(default, float) and default.is_integer():
        default = int(default)  # protobuf keeps every number as a double: 4 is written 4.0
    return DeclaredParameter(
        name,
        type_,
        default,
        required=not has_default and not p.get("isOptional", False),
    )


def read_workflow(docs: list[dict[str, Any]], path: Path, text: str) -> CompiledPipeline:
    """An Argo Workflow (`docs`, parsed from `text`). Its parameters are text (Argo has no
    types): names are checked, and a parameter's `enum`, when it has one; those typed by the
    `kfp-jupyter/parameters` annotation (what `kfp-jupyter compile -t argo` writes) are checked
    as a notebook's are."""
    doc = docs[0]
    kind = doc.get("kind")
    if kind != "Workflow":
        fix = (
            "submit the Workflow it runs; --schedule makes the CronWorkflow"
            if kind == "CronWorkflow"
            else None
        )
        raise InvalidSubmission(
            f"{path} is an Argo {kind or 'document without a kind'}; submit takes a Workflow",
            fix=fix,
        )
    if len(docs) > 1:
        raise InvalidSubmission(
            f"{path} holds {len(docs)} YAML documents; an Argo Workflow file holds one"
        )
    meta = doc.get("metadata") or {}
    spec = doc.get("spec") or {}
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        raise InvalidSubmission(f"{path}: the Workflow's metadata and spec must be mappings")
    annotations = meta.get("annotations") or {}
    generated = str(meta.get("generateName") or "").rstrip("-")
    name = str(annotations.get(LABEL_PIPELINE) or generated or meta.get("name") or "").strip()
    if not name:
        raise InvalidSubmission(
            f"{path}: the Workflow has neither metadata.generateName nor metadata.name",
            fix="add `generateName: my-pipeline-` under metadata",
        )
    types = _workflow_types(annotations, path)
    return CompiledPipeline(
        kind="argo",
        path=path,
        name=name,
        text=text,
        description=str(annotations.get(ANNOTATION_DESCRIPTION) or ""),
        steps=tuple(CompiledStep(t) for t in _entry_tasks(spec)),
        parameters=_workflow_parameters(spec, types, path, encoded=compiled_here(doc)),
        document=doc,
        source=str(path),
    )


def _workflow_types(annotations: Mapping[str, Any], path: Path) -> dict[str, ParamType]:
    """The parameters' types the `kfp-jupyter/parameters` annotation gives ({} without it: a
    hand-written Workflow's parameters are text)."""
    said = annotations.get(ANNOTATION_PARAMETERS)
    if said is None:
        return {}
    try:
        types = json.loads(str(said))
    except ValueError:
        types = None
    if not isinstance(types, dict) or not all(t in PARAM_TYPES for t in types.values()):
        raise InvalidSubmission(
            f"{path}: the annotation {ANNOTATION_PARAMETERS} is {str(said)!r}, not a JSON object of "
            f"parameter types ({', '.join(PARAM_TYPES)})",
            fix="compile the Workflow again with `kfp-jupyter compile -t argo`, or remove the "
            "annotation (its parameters are then taken as text)",
        )
    return {str(k): cast(ParamType, v) for k, v in types.items()}


def _workflow_parameters(
    spec: Mapping[str, Any], types: Mapping[str, ParamType], path: Path, *, encoded: bool
) -> tuple[DeclaredParameter, ...]:
    """The Workflow's arguments, typed as `types` says (text otherwise); a default that does not
    read as its type (an edited file) is kept as the text it is, as Argo would pass it on. With
    `encoded` (kfp-jupyter compiled it), a default holding '{{' is read back from the encoded
    text the file holds (compile/argo.py, argo_text), which the submission encodes again."""
    params: list[DeclaredParameter] = []
    for p in (spec.get("arguments") or {}).get("parameters") or []:
        if not isinstance(p, dict) or not p.get("name"):
            raise InvalidSubmission(f"{path}: spec.arguments.parameters has an entry without name")
        name = str(p["name"])
        value = p.get("value", p.get("default"))
        default: object = None if value is None else value_text(value)
        if encoded and isinstance(default, str):
            default = given_text(default)
        type_ = types.get(name, "str")
        if type_ != "str" and default is not None:
            with contextlib.suppress(ValueError):
                default = parse_value(type_, str(default))
        params.append(
            DeclaredParameter(
                name,
                type_,
                default,
                required=value is None,
                choices=tuple(value_text(v) for v in p.get("enum") or ()),
            )
        )
    return tuple(params)


def _entry_tasks(spec: Mapping[str, Any]) -> list[str]:
    """The task (or step) names of the entrypoint template: the nodes a run's table shows."""
    entry = spec.get("entrypoint")
    for t in spec.get("templates") or []:
        if not isinstance(t, dict) or t.get("name") != entry:
            continue
        if isinstance(t.get("dag"), dict):
            return [str(x.get("name")) for x in t["dag"].get("tasks") or [] if isinstance(x, dict)]
        if isinstance(t.get("steps"), list):
            return [
                str(s.get("name"))
                for group in t["steps"]
                for s in (group if isinstance(group, list) else [group])
                if isinstance(s, dict)
            ]
        return [str(entry)]
    return []


# --- a run's values


def resolve_compiled_arguments(
    pipeline: CompiledPipeline, given: Mapping[str, object] | None
) -> dict[str, Any]:
    """The values a run of `pipeline` is created with, typed and checked as for a notebook:
    unknown names and values of the wrong type raise InvalidSubmission (nothing was sent)."""
    given = dict(given or {})
    if pipeline.kind == "argo":
        text = {p.name for p in pipeline.parameters if p.type == "str"}
        given = {k: v if k not in text else value_text(v) for k, v in given.items()}
    try:
        values = resolve_values(pipeline.parameters, given)
    except ParameterError as e:
        raise InvalidSubmission(str(e), fields=e.problems) from None
    if pipeline.kind == "argo":
        # Argo's values are text: the typed ones as the compiled program reads them back
        values = {k: v if v is None else value_text(v) for k, v in values.items()}
    for p in pipeline.parameters:
        if p.choices and p.name in given and values[p.name] not in p.choices:
            raise InvalidSubmission(
                f"parameter {p.name!r}: {values[p.name]!r} is not one of its values: "
                + ", ".join(p.choices)
            )
    missing = [p for p in pipeline.parameters if p.required and p.name not in given]
    if missing:
        names = ", ".join(f"{p.name} ({p.type})" for p in missing)
        raise InvalidSubmission(
            f"the pipeline {pipeline.name!r} has no default for {names}",
            fix=" ".join(f"-p {p.name}=VALUE" for p in missing),
        )
    # an optional parameter without a default is left to the pipeline, not sent as null
    return {k: v for k, v in values.items() if v is not None or k in given}


# --- DSL scripts


def compile_script(path: Path) -> str:
    """The KFP IR of the DSL script at `path`, compiled by the kfp SDK in another process.

    Accepted: a script with exactly one `@dsl.pipeline` function at its top level (defined or
    imported; compiled with kfp.compiler.Compiler), or, when it has none or several, a script
    whose `if __name__ == "__main__":` writes the IR to the path given as its first argument
    (what `kfp-jupyter compile -t dsl` writes). The script runs with its own folder as the
    working directory and first on sys.path, as `python script.py` would."""
    if not path.is_file():
        raise InvalidSubmission(f"{path}: no such file")
    driver = Path(__file__).with_name("dsl_driver.py")
    with tempfile.TemporaryDirectory(prefix="kfpj-dsl-") as tmp:
        out, report = Path(tmp) / "pipeline.yaml", Path(tmp) / "report.json"
        script = path.resolve()
        proc = subprocess.run(
            [sys.executable, str(driver), str(script), str(out), str(report)],
            cwd=script.parent,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            check=False,
        )
        result = _report(report)
        if proc.returncode == 0 and result.get("ok") and out.is_file():
            return out.read_text(encoding="utf-8")
    raise _script_error(path, result, proc)


def _report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _script_error(
    path: Path, result: Mapping[str, Any], proc: subprocess.CompletedProcess[str]
) -> ClusterError:
    problem = str(result.get("problem") or "")
    if problem == "no-kfp":
        return ConfigError(
            f"compiling the DSL script {path} needs the kfp SDK, which the Python running "
            f"kfp-jupyter ({sys.executable}) cannot import: {result.get('error')}",
            fix=install_extra("cluster") + " (or submit the YAML of `kfp-jupyter compile -t "
            "kfp` instead)",
        )
    if problem == "no-kfp-kubernetes":
        line = result.get("line")
        return ConfigError(
            f"compiling the DSL script {path} needs kfp-kubernetes (the script imports it"
            f"{f' on line {line}' if line else ''}), which the Python running kfp-jupyter "
            f"({sys.executable}) cannot import: {result.get('error')}",
            fix=install_extra("cluster"),
        )
    if problem == "error":
        line = result.get("line")
        where = f", line {line}" if line else ""
        return InvalidSubmission(
            f"the DSL script {path} failed to compile{where}: {result.get('error')}",
            fix=f"run `python {path.name}` to see the whole traceback",
        )
    if problem == "none":
        return InvalidSubmission(
            f"the DSL script {path} defines no @dsl.pipeline function and wrote no pipeline "
            "YAML to its first argument",
            fix="decorate the pipeline function with @dsl.pipeline, or end the script with "
            "`compiler.Compiler().compile(my_pipeline, sys.argv[1])` under "
            "`if __name__ == '__main__':`",
        )
    if problem == "several":
        names = ", ".join(str(n) for n in result.get("pipelines") or [])
        return InvalidSubmission(
            f"the DSL script {path} defines several pipelines ({names}) and its __main__ wrote "
            "none of them to its first argument",
            fix="keep one @dsl.pipeline function at the top level, or compile the one you mean "
            "in `if __name__ == '__main__':` to sys.argv[1]",
        )
    said = (proc.stderr or proc.stdout or "").strip().splitlines()
    last = said[-1] if said else f"exit status {proc.returncode}"
    return InvalidSubmission(f"the DSL script {path} could not be compiled: {last}")
