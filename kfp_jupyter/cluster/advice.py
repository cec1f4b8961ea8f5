"""Error advice worded for where it is shown.

Each message and fix is written once, in the command line's terms: the options a user types
(`give --token-env VAR`). A form has fields, not options, and each form labels them its own way
(the widget's engine choice is "target", the Submit dialog's is "engine"), so each front end with a
form has its own table (`FORMS`), and `for_form` rewrites every option a message names into that
form's field (`fill the "token variable" field`), and an option the form has no field for into
where it is set from there. Advice that only makes sense in a shell ("before running this
command") is reworded for where the variable is read. A command the message quotes
(`kfp-jupyter targets add prod --host URL`, or anything in backquotes) is kept as written: it is
typed in a terminal, option and all. Kept apart from the messages so that a new message needs no
second wording.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import ClusterError

#: what stands for a value in a message (`--host URL`): dropped, the field is where it goes
PLACEHOLDERS = {"URL", "NAME", "VAR", "PATH", "SECONDS", "YOUR-PROFILE-NAMESPACE"}
#: the submit options a form may lack a field for; each is named by its keyword (snake_case)
OTHER_OPTIONS = (
    "--request-timeout",
    "--kubeconfig",
    "--context",
    "--ui-url",
    "--run-name",
    "--schedule",
    "--kfp-runtime",
)


@dataclass(frozen=True)
class Form:
    """A front end's form: the label of the field each option is typed in, and where an option
    it has no field for is set instead (given its keyword and the value the message shows)."""

    fields: Mapping[str, str]
    elsewhere: Callable[[str, str | None], str]
    #: the advice for a token variable that is not set, with {var}
    token_unset: str


WIDGET = Form(
    fields={
        "--token-env": "token variable",
        "--host": "host",
        "--namespace": "namespace",
        "--experiment": "experiment",
        "--engine": "target",
        "--target": "saved",
    },
    elsewhere=lambda keyword, shown: f"{keyword}={shown or '...'} in widget.submit()",
    token_unset=(
        "set {var} (the bearer token) in the environment JupyterLab was started from and "
        'restart the kernel, or fill the "token variable" field with the name of a variable that '
        "is set"
    ),
)
#: JupyterLab's Submit dialog (labextension/src/index.ts, `SubmitForm`); the server reads the
#: token variable from its own environment, and takes the options the dialog lacks as fields of
#: `POST submit`
DIALOG = Form(
    fields={
        "--token-env": "token variable",
        "--host": "host",
        "--namespace": "namespace",
        "--experiment": "experiment",
        "--engine": "engine",
        "--target": "saved target",
        "--run-name": "run name",
    },
    elsewhere=lambda keyword, shown: (
        f'"{keyword}"' + (f": {shown}" if shown else "") + " in the request to POST submit "
        "(the dialog has no field for it)"
    ),
    token_unset=(
        "set {var} (the bearer token) in the environment JupyterLab was started from and "
        'restart JupyterLab, or fill the "token variable" field with the name of a variable '
        "that is set there"
    ),
)
FORMS = {"widget": WIDGET, "dialog": DIALOG}

_OPTION = re.compile(
    r"(?:\b(?P<verb>give|use|set|with|check|raise)\s)?"
    r"(?P<option>--[a-z][a-z-]*[a-z])"
    r"(?:\s(?P<value>[A-Z][A-Z0-9_-]*|[0-9][0-9.]*|kfp|argo)(?![\w'.-]))?"
)
_EXPORT = re.compile(
    r"export (?P<var>[A-Za-z_][A-Za-z0-9_]*)=\.\.\. \(the bearer token\) before running this "
    r"command"
)
#: text typed as it is: a backquoted span, or a `kfp-jupyter` command up to the end of its clause
#: (`;`, `,`, `)`, a full stop, the end of the line)
_VERBATIM = re.compile(r"`[^`]*`|\bkfp-jupyter\s(?:[^;,)`\n.]|\.(?!\s|$))*")


def _field(form: Form, m: re.Match[str]) -> str:
    verb, option, value = m["verb"], m["option"], m["value"]
    shown = value if value and value not in PLACEHOLDERS else None
    if option in form.fields:
        field = f'the "{form.fields[option]}" field'
        if verb in ("give", "use", "set"):
            return f"fill {field}" + (f" with {shown}" if shown else "")
        said = f"{verb} {field}" if verb else field
        return said + (f" ({shown})" if shown else "")
    if option in OTHER_OPTIONS:
        there = form.elsewhere(option[2:].replace("-", "_"), shown)
        return f"{verb} {there}" if verb else there
    return m[0]


def _reworded(form: Form, text: str) -> str:
    """`text` with no command in it, in `form`'s terms."""
    text = _EXPORT.sub(lambda m: form.token_unset.format(var=m["var"]), text)
    return _OPTION.sub(lambda m: _field(form, m), text)


def for_form(text: str, where: str) -> str:
    """`text` (a message in the command line's terms) as the form of `where` ("widget",
    "dialog") shows it; the commands it quotes stay as written."""
    form = FORMS[where]
    out, start = [], 0
    for m in _VERBATIM.finditer(text):
        out += [_reworded(form, text[start : m.start()]), m[0]]
        start = m.end()
    out.append(_reworded(form, text[start:]))
    return "".join(out)


def error_text(e: BaseException, where: str) -> str:
    """An error's message as the front end `where` ("cli", "widget", "dialog") shows it: a
    cluster error's advice names the fields of that front end's form; the command line, and
    errors of other kinds, keep it as written."""
    if where in FORMS and isinstance(e, ClusterError):
        return for_form(str(e), where)
    return str(e)
