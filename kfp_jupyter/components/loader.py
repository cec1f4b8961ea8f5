"""Read a component from YAML text, a file or a URL: a v1-style spec or a v2 component YAML.

Only a safe YAML loader is used and nothing in the spec is run while loading: a component from a
URL is data until a step runs its container. Every mistake is reported with the field it is in
(`inputs[1].name`, `implementation.container.args[2]`), since a spec is usually someone else's file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..errors import KfpJupyterError
from .fields import Invalid, kind
from .v1spec import read_v1
from .v2spec import read_v2

if TYPE_CHECKING:
    from .spec import ComponentSpec

#: A component file larger than this is not a component (and is not read into memory whole).
MAX_BYTES = 5 * 1024 * 1024
#: seconds a component URL has to send the whole spec (a deadline for the fetch, not per read)
URL_TIMEOUT = 30.0


class ComponentSpecError(KfpJupyterError):
    """The component cannot be read: the message names the component and the field at fault."""


def load_component_from_text(text: str, source: str = "component") -> ComponentSpec:
    """Read a component spec (v1-style or v2 YAML) from `text`; `source` names it in errors."""
    try:
        return _load(text)
    except Invalid as e:
        where = f", field '{e.where}'" if e.where else ""
        raise ComponentSpecError(f"component spec {source}{where}: {e.message}") from None


def load_component_from_file(path: str | Path) -> ComponentSpec:
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ComponentSpecError(f"component spec {str(p)!r} does not exist") from None
    except IsADirectoryError:
        raise ComponentSpecError(f"component spec {str(p)!r} is a folder, not a file") from None
    except OSError as e:
        raise ComponentSpecError(f"cannot read component spec {str(p)!r}: {e}") from None
    return load_component_from_text(_decode(data, repr(str(p))), repr(str(p)))


def load_component_from_url(url: str, timeout: float = URL_TIMEOUT) -> ComponentSpec:
    """Fetch a component with one plain HTTP(S) GET (no credentials, no other schemes); the
    whole spec must arrive within `timeout` seconds, however slowly its host sends it."""
    return load_component_from_text(fetch_text(url, timeout), repr(url))


def fetch_text(url: str, timeout: float = URL_TIMEOUT) -> str:
    import http.client
    import urllib.error

    from .fetch import DeadlinePassed, fetch

    if not re.match(r"^https?://", url, re.IGNORECASE):
        raise ComponentSpecError(f"component URL {url!r} must start with http:// or https://")
    try:
        data = fetch(url, timeout, MAX_BYTES + 1, {"User-Agent": "kfp-jupyter"})
    except (DeadlinePassed, TimeoutError):
        raise ComponentSpecError(_too_slow(url, timeout)) from None
    except urllib.error.HTTPError as e:
        raise ComponentSpecError(
            f"cannot fetch component {url!r}: HTTP {e.code} {e.reason}"
        ) from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, TimeoutError):
            raise ComponentSpecError(_too_slow(url, timeout)) from None
        raise ComponentSpecError(f"cannot fetch component {url!r}: {reason}") from None
    except http.client.IncompleteRead:
        raise ComponentSpecError(
            f"cannot fetch component {url!r}: the answer was cut short (the host hung up before "
            "sending all it announced); try again, or save the spec next to the notebook and "
            "name its file in the tag instead"
        ) from None
    except (OSError, ValueError, http.client.HTTPException) as e:
        raise ComponentSpecError(f"cannot fetch component {url!r}: {e}") from None
    return _decode(data, repr(url))


def _too_slow(url: str, timeout: float) -> str:
    return (
        f"cannot fetch component {url!r}: no answer within {timeout:g} s (the whole spec must "
        "arrive in that time); check the URL and that its host is up, or save the spec next to "
        "the notebook and name its file in the tag instead"
    )


def _decode(data: bytes, source: str) -> str:
    if len(data) > MAX_BYTES:
        raise ComponentSpecError(
            f"component spec {source} is larger than {MAX_BYTES // (1024 * 1024)} MB; "
            "it is not a component spec"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ComponentSpecError(f"component spec {source} is not UTF-8 text") from None


def _load(text: str) -> ComponentSpec:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        docs = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise Invalid("", f"not valid YAML{at}: {problem}") from None
    if not docs:
        raise Invalid("", "the file is empty")
    doc = docs[0]
    if not isinstance(doc, dict):
        raise Invalid("", f"a component spec is a YAML mapping, not a {kind(doc)}")
    if "implementation" not in doc and ("pipelineInfo" in doc or "root" in doc):
        return read_v2(doc, text)
    return read_v1(doc, text)
