"""Saved targets: a named cluster (engine, host, namespace, experiment, UI address and the NAME of
the variable holding the token), so every front end submits with one word: `--target prod`.

Like Elyra's runtime configurations, but never a credential: only the token's variable name is
kept, and anything that looks like a token value is refused. The file is per user,
`targets.json` in the kfp-jupyter config folder (`$KFP_JUPYTER_CONFIG_DIR`, else
`$XDG_CONFIG_HOME/kfp-jupyter`, else `~/.config/kfp-jupyter`, the folder the widget's settings
use), written atomically so a crash or two writers never leave half a file. It also remembers the
target submitted to last, which the widget opens with.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..fileio import write_atomically
from .config import check_token_env, read_json_object
from .engines import ENGINES
from .errors import ADDRESS_FORM, ConfigError, InvalidSubmission, http_url

CONFIG_ENV = "KFP_JUPYTER_CONFIG_DIR"
#: the fields a submission takes from a target (all but its name and engine)
OPTIONS = ("host", "namespace", "experiment", "ui_url", "token_env")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


@dataclass(frozen=True)
class Target:
    """One saved target; empty fields are None (the usual defaults apply)."""

    name: str
    engine: str
    host: str | None = None
    namespace: str | None = None
    experiment: str | None = None
    ui_url: str | None = None
    token_env: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def options(self) -> dict[str, str | None]:
        """The submit options this target gives (host, namespace, ...), by their API names."""
        return {k: getattr(self, k) for k in OPTIONS}


def config_dir() -> Path:
    """kfp-jupyter's per-user config folder (the same one the widget's settings live in)."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kfp-jupyter"


def targets_path() -> Path:
    return config_dir() / "targets.json"


def _read() -> dict[str, Any]:
    return read_json_object(
        targets_path(),
        "the saved targets",
        "fix the file, or delete it and add the targets again",
    )


def _write(data: Mapping[str, Any]) -> None:
    """Replace the file in one step, readable by the user only (0600: it names clusters and
    the variables holding their tokens)."""
    path = targets_path()
    try:
        write_atomically(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode=0o600)
    except OSError as e:
        raise ConfigError(
            f"cannot write the saved targets {path}: {e}",
            fix=f"make {path.parent} writable, or set ${CONFIG_ENV} to a folder that is",
        ) from None


def _from_json(name: str, raw: Any) -> Target | None:
    if not isinstance(raw, dict) or raw.get("engine") not in ENGINES:
        return None
    values = {f.name: raw.get(f.name) for f in fields(Target) if f.name not in ("name", "engine")}
    clean = {k: v for k, v in values.items() if isinstance(v, str) and v}
    return Target(name=name, engine=str(raw["engine"]), **clean)


def load_targets() -> dict[str, Target]:
    """All saved targets by name (entries that are not targets are skipped)."""
    raw = _read().get("targets")
    if not isinstance(raw, dict):
        return {}
    found = {name: _from_json(str(name), value) for name, value in raw.items()}
    return {name: t for name, t in sorted(found.items()) if t is not None}


def get_target(name: str) -> Target:
    """The saved target `name`; an unknown name is a ConfigError (exit 2) listing the known ones."""
    known = load_targets()
    if name in known:
        return known[name]
    listed = ", ".join(known) if known else "none yet"
    raise ConfigError(
        f"no saved target named {name!r} (saved targets: {listed})",
        fix="see `kfp-jupyter targets list`, or add it: "
        f"kfp-jupyter targets add {name} --engine kfp --host URL",
    )


def check_target(target: Target) -> Target:
    """`target` with its fields tidied, or a ConfigError that says which field is wrong."""
    if not _NAME.fullmatch(target.name):
        raise ConfigError(
            f"{target.name!r} cannot be a target name",
            fix="use letters, digits, '.', '_' and '-' (at most 63), e.g. prod or team-a.dev",
        )
    if target.engine not in ENGINES:
        raise ConfigError(
            f"--engine {target.engine!r}: choose one of {', '.join(ENGINES)}",
            fix="e.g. --engine kfp",
        )
    host = _url(target.host, "--host")
    ui_url = _url(target.ui_url, "--ui-url")
    token_env = check_token_env(target.token_env) if target.token_env else None
    return Target(
        name=target.name,
        engine=target.engine,
        host=host,
        namespace=(target.namespace or "").strip() or None,
        experiment=(target.experiment or "").strip() or None,
        ui_url=ui_url,
        token_env=token_env,
    )


def _url(value: str | None, what: str) -> str | None:
    """An http(s) address without credentials in it (a target file holds no secret)."""
    if not value or not value.strip():
        return None
    url = http_url(value, what)
    if "@" in url.split("://", 1)[1].split("/", 1)[0]:
        raise ConfigError(
            f"{what}: the address holds a user name or password, and a target stores no "
            "credentials",
            fix="give the address without 'user:password@' and the token with --token-env VAR",
        )
    return url


def add_target(target: Target, *, replace: bool = False) -> Target:
    """Save `target` (checked first); an existing name needs `replace`."""
    target = check_target(target)
    data = _read()
    saved: dict[str, Any] = data["targets"] if isinstance(data.get("targets"), dict) else {}
    if target.name in saved and not replace:
        raise ConfigError(
            f"a target named {target.name!r} already exists",
            fix=f"add --replace to overwrite it, or remove it first: "
            f"kfp-jupyter targets remove {target.name}",
        )
    entry = {k: v for k, v in target.to_json().items() if k != "name" and v is not None}
    _write({**data, "targets": {**saved, target.name: entry}})
    return target


def remove_target(name: str) -> Target:
    """Forget the target `name` (and that it was the last one used); returns what it was."""
    target = get_target(name)
    data = _read()
    saved = dict(data.get("targets") or {})
    saved.pop(name, None)
    data["targets"] = saved
    if data.get("last") == name:
        data.pop("last")
    _write(data)
    return target


def last_target() -> str | None:
    """The name of the target submitted to last, if it is still saved."""
    try:
        data = _read()
        name = data.get("last")
        return name if isinstance(name, str) and name in load_targets() else None
    except ConfigError:
        return None


def remember_last(name: str) -> None:
    """Remember `name` as the target used last (best effort: a read-only home must not turn a
    submission that went through into a failure)."""
    try:
        data = _read()
        if data.get("last") != name:
            _write({**data, "last": name})
    except ConfigError:
        pass


def check_engine(engine: str) -> None:
    """Refuse, before anything is sent, an engine runs cannot be submitted to or followed on."""
    if engine not in ENGINES:
        raise InvalidSubmission(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")


def with_target(
    name: str | None, engine: str | None, given: Mapping[str, str | None]
) -> tuple[str, dict[str, str | None]]:
    """The engine and options of a submission: what was `given` explicitly wins, then the saved
    target `name`'s values; a given engine that is not the target's is refused (its host would
    be the wrong kind of server)."""
    given = checked_urls(given)
    if not name:
        return engine or "kfp", given
    target = get_target(name)
    if engine and engine != target.engine:
        raise ConfigError(
            f"--engine {engine} does not match the target {name!r}, which is {target.engine}",
            fix=f"drop --engine, or choose a {engine} target (kfp-jupyter targets list)",
        )
    unset = {k: v for k, v in target.options().items() if not given.get(k)}
    try:
        saved = checked_urls(unset, target=name)
    except ConfigError as e:
        raise ConfigError(
            e.message,
            fix=f"save the target again with an address like {ADDRESS_FORM}: kfp-jupyter "
            f"targets add {name} --engine {target.engine} --host URL --replace",
        ) from None
    merged = {k: given.get(k) or saved.get(k) for k in target.options()}
    return target.engine, {**given, **merged}


#: the options that are addresses: the command line option each is given with, what it is
URL_OPTIONS = {"host": ("--host", "host"), "ui_url": ("--ui-url", "UI address")}


def checked_urls(
    options: Mapping[str, str | None], *, target: str | None = None
) -> dict[str, str | None]:
    """`options` with their addresses checked before anything is sent, named where they came
    from: an option, or the saved `target` (its file may have been edited by hand)."""
    out = dict(options)
    for key, (option, what) in URL_OPTIONS.items():
        value = out.get(key)
        if value and value.strip():
            named = f"the {what} of the saved target {target!r}," if target else option
            out[key] = http_url(value, named)
    return out
