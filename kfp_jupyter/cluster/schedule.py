"""Cron expressions, checked on this machine before a recurring run is created.

The two engines read cron differently, and the difference bites silently:

- KFP's scheduler uses robfig/cron v1, with a *seconds* field first: `SEC MIN HOUR DOM MONTH DOW`
  (e.g. `0 0 9 * * 1-5`: 09:00:00 on weekdays). It also accepts five fields, but then reads them
  as `SEC MIN HOUR DOM MONTH` with any weekday, so the ordinary crontab line `0 9 * * 1` would run
  hourly at minute 9 in January. Five fields are therefore refused here, with the six-field form
  the user probably meant.
- Argo's CronWorkflow uses the ordinary five fields `MIN HOUR DOM MONTH DOW`.

Both take the descriptors @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, and
KFP also `@every DURATION` (Go durations such as 90s, 1h30m).
"""

from __future__ import annotations

import re

from .errors import InvalidSubmission

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

#: (name, low, high, names for values starting at `low`, whether `?` is allowed)
_SECOND = ("second", 0, 59, None, False)
_MINUTE = ("minute", 0, 59, None, False)
_HOUR = ("hour", 0, 23, None, False)
_DOM = ("day of month", 1, 31, None, True)
_MONTH = ("month", 1, 12, _MONTHS, False)
_DOW = ("day of week", 0, 6, _DAYS, True)

KFP_FIELDS = (_SECOND, _MINUTE, _HOUR, _DOM, _MONTH, _DOW)
ARGO_FIELDS = (_MINUTE, _HOUR, _DOM, _MONTH, _DOW)

_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")

KFP_FORMAT = "SEC MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK (6 fields, seconds first)"
ARGO_FORMAT = "MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK (5 fields)"


def _value(text: str, field: tuple[str, int, int, list[str] | None, bool]) -> int:
    name, low, high, names, _ = field
    if names and text.upper() in names:
        return low + names.index(text.upper())
    if not text.isdigit():
        raise ValueError(
            f"{name}: {text!r} is not a number" + (f" or a name ({names[0]}..)" if names else "")
        )
    n = int(text)
    if not low <= n <= high:
        raise ValueError(f"{name}: {n} is out of range {low}-{high}")
    return n


def _check_field(text: str, field: tuple[str, int, int, list[str] | None, bool]) -> None:
    name, _, _, _, question = field
    for part in text.split(","):
        if not part:
            raise ValueError(f"{name}: empty list item in {text!r}")
        if part == "?" and question:
            continue
        rng, slash, step = part.partition("/")
        if slash and (not step.isdigit() or int(step) < 1):
            raise ValueError(f"{name}: invalid step in {part!r}")
        if rng in ("*", "?") and (rng == "*" or question):
            continue
        a, dash, b = rng.partition("-")
        start = _value(a, field)
        if dash:
            end = _value(b, field)
            if end < start:
                raise ValueError(f"{name}: range {rng} is backwards")


def check_cron(expression: str, engine: str) -> str:
    """Return the expression (trimmed) if `engine` ('kfp' or 'argo') will read it as meant."""
    expr = " ".join(expression.split())
    fields = KFP_FIELDS if engine == "kfp" else ARGO_FIELDS
    fmt = KFP_FORMAT if engine == "kfp" else ARGO_FORMAT
    engine_name = "Kubeflow Pipelines" if engine == "kfp" else "Argo"
    if not expr:
        raise InvalidSubmission("--schedule: the cron expression is empty")
    if expr.startswith("@"):
        if expr in _DESCRIPTORS:
            return expr
        word, _, rest = expr.partition(" ")
        if word == "@every" and engine == "kfp" and _GO_DURATION.match(rest.strip()):
            return expr
        raise InvalidSubmission(
            f"--schedule {expression!r}: unknown descriptor for {engine_name}",
            fix="use one of "
            + ", ".join(sorted(_DESCRIPTORS))
            + (", or @every DURATION (e.g. @every 1h30m)" if engine == "kfp" else ""),
        )
    parts = expr.split(" ")
    if engine == "kfp" and len(parts) == 5:
        raise InvalidSubmission(
            f"--schedule {expression!r}: Kubeflow Pipelines reads cron with a seconds field first "
            f"({fmt}); with five fields it would take {parts[0]!r} as the second and ignore the "
            "day of week",
            fix=f"if you meant the usual crontab line, write '0 {expr}'",
        )
    if engine == "argo" and len(parts) == 6:
        raise InvalidSubmission(
            f"--schedule {expression!r}: Argo reads cron without seconds ({fmt})",
            fix=f"drop the seconds field: '{' '.join(parts[1:])}'",
        )
    if len(parts) != len(fields):
        raise InvalidSubmission(
            f"--schedule {expression!r}: expected {len(fields)} fields, found {len(parts)}",
            fix=f"{engine_name} cron format: {fmt}",
        )
    for text, field in zip(parts, fields, strict=True):
        try:
            _check_field(text, field)
        except ValueError as e:
            raise InvalidSubmission(
                f"--schedule {expression!r}: {e}", fix=f"{engine_name} cron format: {fmt}"
            ) from None
    return expr
