# The error reporting of a step program, in the notebook's terms. Like stepruntime.py, this file's
# text (between its markers) is copied into every generated step program, right after
# stepruntime.py's outer section (packaging/program.py, outer_runtime), so it must run with the
# standard library alone. It is a file of its own because reporting a failure is a concern apart
# from handing values between steps; cluster/steplogs.py also maps logs with `_kfpj_cell_map`.
# ruff: noqa
# mypy: ignore-errors
# --- failure: start (appended to the outer section of stepruntime.py)
# A failing step speaks in the notebook's terms: frames of the step's cells (and of the imports and
# functions cells it embeds) become `cell N, line M`, frames of libraries stay as they are, frames
# of this runtime go. Mapped here, where the step fails, so the error is written once (to the log
# and, for the local engine, to a JSON file next to the outputs) and every viewer shows the same.
def _kfpj_cell_map(lines: "list[str]") -> "dict[int, tuple[int, int, str, str]]":
    """Program line -> (cell, line in that cell, section, notebook) for the lines that come from
    cells: build_program heads each section with `# --- NAME` and each cell with `# cell N` (or
    `# cell N, line K` when the cell's code starts at its line K, after a magic line), followed by
    ` of PATH` for a cell of another notebook (one Kale's composition spliced in; else "")."""
    out = {}
    section, cell, start, notebook = "", None, 0, ""
    for number, text in enumerate(lines, start=1):
        stripped = text.strip()
        where, _, of = stripped[7:].partition(" of ")
        head, _, first = where.partition(", line ")
        if text.startswith("    # --- "):
            section, cell = stripped[6:], None
        elif (
            stripped.startswith("# cell ")
            and head.isdigit()
            and (not first or first.isdigit())
            and text[:4] == "    "
        ):
            if section in ("imports", "functions") or section.startswith("step "):
                cell, start, notebook = int(head), number - int(first or 1) + 1, of
        elif cell is not None:
            out[number] = (cell, number - start, section, notebook)
    return out


def _kfpj_cell_frame(
    entry: "tuple[int, int, str, str]", name: str, func_name: str, source: str
) -> "dict[str, object]":
    """A frame in a cell, as every viewer reads it: `cell` is a cell of the pipeline's own
    notebook; a cell of another notebook is `notebook_cell` with its `notebook` (so nothing marks
    the composing notebook's cell of that number)."""
    cell, line, section, notebook = entry
    if name == func_name:  # the step function's own level: a cell's top-level code
        name = section if section.startswith("step ") else section + " cell"
    if notebook:
        return {
            "notebook": notebook,
            "notebook_cell": cell,
            "line": line,
            "name": name,
            "source": source,
        }
    return {"cell": cell, "line": line, "name": name, "source": source}


def _kfpj_frames(tb, program, func_name):
    """The frames of a traceback as dicts: mapped to cells, kept (libraries) or left out."""
    import linecache

    cells = _kfpj_cell_map(linecache.getlines(program))
    frames = []
    while tb is not None:
        code, number = tb.tb_frame.f_code, tb.tb_lineno
        file, name = code.co_filename, code.co_name
        tb = tb.tb_next
        source = linecache.getline(file, number).strip()
        if file != program:
            frames.append({"file": file, "line": number, "name": name, "source": source})
        elif number in cells:
            frames.append(_kfpj_cell_frame(cells[number], name, func_name, source))
    return frames


def _kfpj_format_frames(frames):
    if not frames:
        return ""
    out = ["Traceback (most recent call last):"]
    for f in frames:
        if "cell" in f:
            out.append(f"  cell {f['cell']}, line {f['line']}, in {f['name']}")
        elif "notebook" in f:
            out.append(
                f"  {f['notebook']}, cell {f['notebook_cell']}, line {f['line']}, in {f['name']}"
            )
        else:
            out.append(f'  File "{f["file"]}", line {f["line"]}, in {f["name"]}')
        if f["source"]:
            out.append("    " + f["source"])
    return "\n".join(out)


def _kfpj_type_name(e, qualified=True):
    """The name Python prints for the exception's type; unqualified, a class from a cell is named
    as the notebook names it (not `train.<locals>.MyError`) and the runtime's own errors `Error`."""
    kind = type(e)
    name = kind.__qualname__
    if not qualified:
        name = "Error" if kind.__name__.startswith("_Kfpj") else name.rsplit("<locals>.", 1)[-1]
    if kind.__module__ in ("builtins", "__main__"):
        return name
    return f"{kind.__module__}.{name}"


def _kfpj_error(e, program, func_name, seen=None):
    """The error as a dict (type, message, frames, exception, traceback), with its causes."""
    import traceback

    seen = seen if seen is not None else set()
    seen.add(id(e))
    frames = _kfpj_frames(e.__traceback__, program, func_name)
    cause, why = None, ""
    if e.__cause__ is not None and id(e.__cause__) not in seen:
        cause = e.__cause__
        why = "The above exception was the direct cause of the following exception:"
    elif e.__context__ is not None and not e.__suppress_context__ and id(e.__context__) not in seen:
        cause = e.__context__
        why = "During handling of the above exception, another exception occurred:"
    text = ""
    if cause is not None:
        earlier = _kfpj_error(cause, program, func_name, seen)
        text = _kfpj_join(earlier["traceback"], earlier["exception"]) + "\n\n" + why + "\n\n"
    exception = "".join(traceback.format_exception_only(type(e), e)).rstrip("\n")
    shown = _kfpj_type_name(e, qualified=False)
    if exception.startswith(_kfpj_type_name(e)):
        exception = shown + exception[len(_kfpj_type_name(e)) :]
    return {
        "type": shown,
        "message": str(e),
        "frames": frames,
        "exception": exception,
        "traceback": text + _kfpj_format_frames(frames),
    }


def _kfpj_thread_hook(program, func_name):
    """Map the traceback of an exception that ends a thread too (it does not fail the step, as
    in any program, but its log should point at cells, not at this program)."""
    import sys, threading

    def hook(args):
        try:
            if args.exc_value is None or issubclass(args.exc_type, SystemExit):
                raise TypeError("nothing to map")
            error = _kfpj_error(args.exc_value, program, func_name)
        except Exception:
            threading.__excepthook__(args)
            return
        name = args.thread.name if args.thread is not None else threading.get_ident()
        text = _kfpj_join(error["traceback"], error["exception"])
        print(f"Exception in thread {name}:\n{text}", file=sys.stderr, flush=True)

    threading.excepthook = hook


def _kfpj_join(*parts):
    return "\n".join(p for p in parts if p)


def _kfpj_fail(e, program, func_name, error_file):
    """Report the step's exception in the notebook's terms, then exit 1 as Python would."""
    import json, sys

    try:
        error = _kfpj_error(e, program, func_name)
    except Exception:  # never lose the step's own error to a failure of this report
        raise e
    print(_kfpj_join(error["traceback"], error["exception"]), file=sys.stderr, flush=True)
    if error_file:
        try:
            with open(error_file, "w", encoding="utf-8") as f:
                json.dump(error, f)
        except OSError:
            pass
    else:  # a pod: its log is all that comes back, so the error goes there, machine-readable
        # (engine/steperror.py MARKER: the notebook's side finds it in the fetched log)
        marker = json.dumps(error, separators=(",", ":"))
        print("kfp-jupyter-step-error: " + marker, file=sys.stderr, flush=True)
    raise SystemExit(1)


# --- failure: end
