"""Error advice worded for where it is shown.

Each message and fix is written once, in the command line's terms: the options a user types
(`give --token-env VAR`). The widget has fields, not options, so `for_widget` rewrites every
option a message names into the widget's field (`fill the "token variable" field`), and an option
the widget has no field for into the keyword of `PipelineWidget.submit` that sets it. Advice
that only makes sense in a shell ("before running this command") is reworded for a notebook.
Kept apart from the messages so that a new message needs no second wording.
"""

from __future__ import annotations

import re

from .errors import ClusterError

#: option -> the label of the widget's field that sets it
FIELDS = {
    "--token-env": "token variable",
    "--host": "host",
    "--namespace": "namespace",
    "--experiment": "experiment",
    "--engine": "target",
    "--target": "saved",
}
#: options the widget has no field for -> the keyword of `widget.submit(...)` that sets them
KEYWORDS = {
    "--request-timeout": "request_timeout",
    "--kubeconfig": "kubeconfig",
    "--context": "context",
    "--ui-url": "ui_url",
    "--run-name": "run_name",
    "--schedule": "schedule",
    "--kfp-runtime": "kfp_runtime",
}
#: what stands for a value in a message (`--host URL`): dropped, the field is where it goes
PLACEHOLDERS = {"URL", "NAME", "VAR", "PATH", "SECONDS", "YOUR-PROFILE-NAMESPACE"}

_OPTION = re.compile(
    r"(?:\b(?P<verb>give|use|set|with|check|raise)\s)?"
    r"(?P<option>--[a-z][a-z-]*[a-z])"
    r"(?:\s(?P<value>[A-Z][A-Z0-9_-]*|[0-9][0-9.]*|kfp|argo)(?![\w'.-]))?"
)
_EXPORT = re.compile(
    r"export (?P<var>[A-Za-z_][A-Za-z0-9_]*)=\.\.\. \(the bearer token\) before running this "
    r"command"
)


def _field(m: re.Match[str]) -> str:
    verb, option, value = m["verb"], m["option"], m["value"]
    shown = value if value and value not in PLACEHOLDERS else None
    if option in FIELDS:
        field = f'the "{FIELDS[option]}" field'
        if verb in ("give", "use", "set"):
            return f"fill {field}" + (f" with {shown}" if shown else "")
        said = f"{verb} {field}" if verb else field
        return said + (f" ({shown})" if shown else "")
    if option in KEYWORDS:
        keyword = f"{KEYWORDS[option]}={shown or '...'} in widget.submit()"
        return f"{verb} {keyword}" if verb else keyword
    return m[0]


def for_widget(text: str) -> str:
    """`text` (a message in the command line's terms) as the widget shows it."""
    text = _EXPORT.sub(
        lambda m: (
            f"set {m['var']} (the bearer token) in the environment JupyterLab was started "
            'from and restart the kernel, or fill the "token variable" field with the name of a '
            "variable that is set"
        ),
        text,
    )
    return _OPTION.sub(_field, text)


def worded(text: str, where: str) -> str:
    """`text` for the front end `where` ("cli" keeps it as written, "widget" names fields)."""
    return for_widget(text) if where == "widget" else text


def error_text(e: BaseException, form: bool) -> str:
    """An error's message as a front end shows it: with `form` (the widget, JupyterLab's Submit
    dialog) a cluster error's advice names the form's fields; else as written."""
    return for_widget(str(e)) if form and isinstance(e, ClusterError) else str(e)
