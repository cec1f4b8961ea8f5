"""A failed step's exception, in the notebook's terms, as the step program reported it.

The step runtime (packaging/stepfailure.py) maps the traceback where the step fails: frames of
cells become `cell N, line M`, library frames stay, its own frames go. It prints that to the log
and writes it as JSON; the runner keeps the JSON next to the step's log in the run folder, so the
terminal, `runs logs`, `runs show` and the widget all show the same error, first, without needing
the notebook or the program again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .storebase import Store

#: the file the step program writes its error to, in the attempt's scratch folder
ATTEMPT_FILE = "error.json"
#: what starts the one line a step program without an error file (a cluster pod) prints to stderr
#: after its traceback: this, then the error's JSON (`StepError.to_json`). A pod's log is all the
#: notebook's side gets back from a cluster, so the mapped error travels in it, machine-readable.
#: packaging/stepfailure.py writes the same text (it cannot import this module).
MARKER = "kfp-jupyter-step-error: "


@dataclass(frozen=True)
class StepError:
    """The exception that ended a step, with its traceback already mapped to cells."""

    type: str
    message: str
    #: Python's last line(s) for it: `TYPE: MESSAGE`, plus a SyntaxError's location or notes
    exception: str
    #: the mapped traceback (with the exceptions it was raised from), "" if no frame was kept
    traceback: str
    #: each {cell, line, name, source} (a cell), {notebook, notebook_cell, line, name, source} (a
    #: cell of a notebook Kale's composition spliced in), {file, line, name, source} (a library) or
    #: {name, source: "", earlier_step: true} (code an earlier step passed on by value); a frame
    #: may carry `repeated: N` (the N identical frames after it left out), and {left_out: N}
    #: stands for N frames cut from the middle of a very long traceback
    frames: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def headline(self) -> str:
        """`ZeroDivisionError: division by zero`: what a reader needs first."""
        return f"{self.type}: {self.message}" if self.message else self.type

    def render(self) -> str:
        """The exception first, then where it happened (then any detail Python adds to it)."""
        parts = [self.headline]
        if self.traceback:
            parts.append(self.traceback)
        if self.exception.strip() != self.headline.strip():
            parts.append(self.exception)
        return "\n".join(parts)

    @property
    def printed(self) -> str:
        """The text the step program printed to its log, Python's order (exception last)."""
        return "\n".join(p for p in (self.traceback, self.exception) if p)

    def without_in(self, log: str) -> str:
        """`log` without the error the step printed at its end (render() shows it already)."""
        end = log.rstrip("\n")
        if self.printed and end.endswith(self.printed):
            return end[: -len(self.printed)].rstrip("\n")
        return log

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> StepError | None:
        """The error in `data`, or None if it is not one (a file cut short, another version)."""
        if not isinstance(data, dict):
            return None
        text = {k: data.get(k) for k in ("type", "message", "exception", "traceback")}
        if not all(isinstance(v, str) for v in text.values()):
            return None
        frames = data.get("frames")
        return cls(
            str(text["type"]),
            str(text["message"]),
            str(text["exception"]),
            str(text["traceback"]),
            tuple(f for f in frames if isinstance(f, dict)) if isinstance(frames, list) else (),
        )

    @classmethod
    def from_text(cls, text: str | None) -> StepError | None:
        if not text:
            return None
        try:
            return cls.from_json(json.loads(text))
        except ValueError:
            return None


def marker_line(error: StepError) -> str:
    """The line a step program prints for `error` when it has no error file to write."""
    return MARKER + json.dumps(error.to_json(), separators=(",", ":"))


def split_marker(log: str) -> tuple[StepError | None, str]:
    """The error a step printed as a marker line in `log` (the last one, if any), and the log
    without marker lines, which are for machines, not for the reader."""
    error: StepError | None = None
    kept: list[str] = []
    for line in log.splitlines(keepends=True):
        at = line.find(MARKER)
        if at < 0:
            kept.append(line)
            continue
        found = StepError.from_text(line[at + len(MARKER) :].strip())
        if found is None:
            kept.append(line)  # cut short (a log tail that began mid-line): leave it be
        else:
            error = found
            if line[:at].strip():  # text the step wrote without a newline before the marker
                kept.append(line[:at] + "\n")
    return error, "".join(kept)


def read_error(path: Path) -> StepError | None:
    """The error stored at `path`, or None if there is none."""
    try:
        return StepError.from_text(path.read_text(encoding="utf-8"))
    except OSError:
        return None


def error_file(log: Path | str) -> Path:
    """Where a step's error is kept: next to its log (`logs/STEP.log` -> `logs/STEP.error.json`)."""
    log = Path(log)
    return log.with_name(log.stem + ".error.json")


def write_error(log: Path, error: StepError | None) -> Path:
    """Keep (or, for a failure without one, clear) the error of the step whose log is `log`."""
    path = error_file(log)
    if error is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(json.dumps(error.to_json(), indent=1), encoding="utf-8")
    return path


def stored_error(store: Store, run_id: str, log: str | None) -> StepError | None:
    """The error kept for the step of run `run_id` whose log is `log`: from the run folder on this
    machine, else from the store (a run made elsewhere)."""
    if not log:
        return None
    local = error_file(log)
    if local.is_file():
        return read_error(local)
    return StepError.from_text(store.read_text(f"runs/{run_id}/logs/{local.name}"))
