"""Check HTTP requests and responses against a Swagger 2.0 spec, in both directions, strictly.

What is checked for a request: that the method and path are an operation of the spec; the
security requirement (KFP: an `authorization` header holding `Bearer ...`); every query parameter
known, typed and in its enum, required ones present; path parameters present; the JSON body
(content type, schema) or the multipart form (its file fields). For a response: a JSON body that
matches the schema of its status code (or `default`).

Stricter than the spec as published, on purpose: every object definition that lists its
properties forbids others (a misspelt field is an error, as grpc-gateway rejects unknown fields),
and the formats the KFP spec uses are enforced (int64 as a decimal string, int32 in range,
RFC 3339 date-time, base64 bytes).
"""

from __future__ import annotations

import base64
import copy
import json
import re
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time")
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_RFC3339.match(value))


@FORMATS.checks("int64")
def _int64(value: object) -> bool:
    if isinstance(value, str):
        return bool(re.fullmatch(r"-?\d+", value)) and -(2**63) <= int(value) < 2**63
    return True  # the type keyword judges non-strings


@FORMATS.checks("int32")
def _int32(value: object) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**31) <= value < 2**31
    return True


@FORMATS.checks("byte")
def _byte(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        base64.b64decode(value, validate=True)
        return True
    except ValueError:
        return False


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


@dataclass
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    spec: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.spec.get("operationId", f"{self.method} {self.template}"))


class SwaggerSpec:
    def __init__(self, path: Path) -> None:
        self.doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if self.doc.get("swagger") != "2.0":
            raise ValueError(f"{path} is not a Swagger 2.0 document")
        self.definitions = _strict(self.doc.get("definitions", {}))
        self.operations: list[Operation] = []
        for template, item in self.doc["paths"].items():
            names = re.findall(r"\{([^}]+)\}", template)
            pieces = re.split(r"\{[^}]+\}", template)
            regex = re.escape(pieces[0]) + "".join(
                f"(?P<p{i}>[^/]+?)" + re.escape(piece) for i, piece in enumerate(pieces[1:])
            )
            for method, op in item.items():
                if method.startswith("x-") or method == "parameters":
                    continue
                op = dict(op)
                op["_path_names"] = names
                self.operations.append(
                    Operation(method.upper(), template, re.compile(f"^{regex}$"), op)
                )
        # the most specific template first: /runs/{id}:terminate before /runs/{id}
        self.operations.sort(key=lambda o: -len(re.sub(r"\{[^}]+\}", "", o.template)))
        self._validators: dict[str, Draft4Validator] = {}

    # --- schemas

    def validator(self, schema: dict[str, Any]) -> Draft4Validator:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            root = dict(_strict(copy.deepcopy(schema)))
            root["definitions"] = self.definitions
            Draft4Validator.check_schema(root)
            self._validators[key] = Draft4Validator(root, format_checker=FORMATS)
        return self._validators[key]

    def schema_problems(self, schema: dict[str, Any], value: Any, where: str) -> list[str]:
        out = []
        for e in sorted(self.validator(schema).iter_errors(value), key=lambda e: list(e.path)):
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path)
            out.append(f"{where}{path}: {e.message}")
        return out

    def definition_problems(self, name: str, value: Any, where: str) -> list[str]:
        return self.schema_problems({"$ref": f"#/definitions/{name}"}, value, where)

    # --- requests

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for op in self.operations:
            if op.method != method:
                continue
            m = op.pattern.match(path)
            if m:
                values = [m.group(f"p{i}") for i in range(len(op.spec["_path_names"]))]
                return op, dict(zip(op.spec["_path_names"], values, strict=True))
        return None

    def _param_problem(self, p: dict[str, Any], raw: str) -> str | None:
        t = p.get("type")
        if t == "integer":
            if not re.fullmatch(r"-?\d+", raw):
                return f"{raw!r} is not an integer"
            if p.get("format") == "int32" and not -(2**31) <= int(raw) < 2**31:
                return f"{raw} is out of the int32 range"
        elif t == "boolean":
            if raw not in ("true", "false", "True", "False", "1", "0"):
                return f"{raw!r} is not a boolean"
        elif t == "number":
            try:
                float(raw)
            except ValueError:
                return f"{raw!r} is not a number"
        elif t == "string" and p.get("format") == "int64" and not re.fullmatch(r"-?\d+", raw):
            return f"{raw!r} is not an int64"
        if "enum" in p and raw not in p["enum"]:
            return f"{raw!r} is not one of {p['enum']}"
        return None

    def check_request(
        self,
        op: Operation,
        path_params: dict[str, str],
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[list[str], Any]:
        """(violations, parsed body: a JSON value, or {field: (filename, bytes)} for a form)."""
        problems: list[str] = []
        where = f"request {op.method} {op.template}"
        params = op.spec.get("parameters", [])
        lower = {k.lower(): v for k, v in headers.items()}
        # security
        requirements = op.spec.get("security", self.doc.get("security", []))
        if requirements:
            ok = False
            for req in requirements:
                satisfied = True
                for name in req:
                    sd = self.doc["securityDefinitions"][name]
                    if sd["type"] == "apiKey" and sd["in"] == "header":
                        value = lower.get(sd["name"].lower(), "")
                        if not value or (name == "Bearer" and not value.startswith("Bearer ")):
                            satisfied = False
                if satisfied:
                    ok = True
            if not ok:
                problems.append(f"{where}: no 'authorization: Bearer ...' header (security)")
        # path and query
        for p in params:
            if p["in"] == "path":
                if not path_params.get(p["name"]):
                    problems.append(f"{where}: path parameter {p['name']} is empty")
            elif p["in"] == "query":
                values = query.get(p["name"], [])
                if p.get("required") and not values:
                    problems.append(f"{where}: required query parameter {p['name']} is missing")
                for v in values:
                    why = self._param_problem(p, v)
                    if why:
                        problems.append(f"{where}: query parameter {p['name']}: {why}")
            elif p["in"] == "header" and p.get("required") and p["name"].lower() not in lower:
                problems.append(f"{where}: required header {p['name']} is missing")
        known = {p["name"] for p in params if p["in"] == "query"}
        for name in query:
            if name not in known:
                problems.append(f"{where}: unknown query parameter {name!r}")
        # body
        parsed: Any = None
        body_params = [p for p in params if p["in"] == "body"]
        form_params = [p for p in params if p["in"] == "formData"]
        ctype = lower.get("content-type", "")
        consumes = op.spec.get("consumes", self.doc.get("consumes", []))
        if body_params:
            if ctype.split(";")[0].strip() not in consumes:
                problems.append(f"{where}: content type {ctype!r} is not one of {consumes}")
            try:
                parsed = json.loads(body.decode("utf-8")) if body else None
            except ValueError as e:
                problems.append(f"{where}: the body is not JSON ({e})")
            else:
                bp = body_params[0]
                if parsed is None and bp.get("required"):
                    problems.append(f"{where}: the body is required")
                elif parsed is not None:
                    problems += self.schema_problems(bp["schema"], parsed, f"{where} body")
        elif form_params:
            if not ctype.startswith("multipart/form-data"):
                problems.append(f"{where}: content type {ctype!r} is not multipart/form-data")
                parsed = {}
            else:
                parsed = parse_multipart(ctype, body)
            for p in form_params:
                if p.get("required") and p["name"] not in parsed:
                    problems.append(f"{where}: required form field {p['name']} is missing")
                if p["name"] in parsed and p.get("type") == "file" and parsed[p["name"]][0] is None:
                    problems.append(f"{where}: form field {p['name']} is not a file")
            for name in parsed:
                if name not in {p["name"] for p in form_params}:
                    problems.append(f"{where}: unknown form field {name!r}")
        elif body:
            problems.append(f"{where}: a body was sent to an operation that takes none")
        return problems, parsed

    # --- responses

    def check_response(self, op: Operation, status: int, body: Any) -> list[str]:
        where = f"response {status} to {op.method} {op.template}"
        responses = op.spec.get("responses", {})
        spec = responses.get(str(status)) or responses.get("default")
        if spec is None:
            return [f"{where}: the spec lists no such response"]
        if "schema" not in spec:
            return [] if body is None else [f"{where}: the spec says there is no body"]
        return self.schema_problems(spec["schema"], body, f"{where} body")


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """{field name: (file name or None, content)} of a multipart/form-data body."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    out: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True)
        out[str(name)] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return out
