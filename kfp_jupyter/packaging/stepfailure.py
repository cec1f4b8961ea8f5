# The error reporting of a step program, in the notebook's terms. Like stepruntime.py, this file's
# text (between its markers) is copied into every generated step program, right after
# stepmain.py's outer section (packaging/program.py, outer_runtime), so it must run with the
# standard library alone. It is a file of its own because reporting a failure is a concern apart
# from handing values between steps; cluster/steplogs.py also maps logs with `_kfpj_cell_map`.
# ruff: noqa
# mypy: ignore-errors
# --- failure: start (appended to the outer section of stepmain.py)
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


#: a run of identical frames (a recursion) shows this many, then how many more, as Python does
_KFPJ_REPEATS_SHOWN = 3
#: a longer traceback keeps its first and last frames (where the step began, where it failed)
_KFPJ_FIRST_FRAMES, _KFPJ_LAST_FRAMES = 25, 50


def _kfpj_frames(tb, program, func_name):
    """The frames of a traceback as dicts: mapped to cells, kept (libraries) or left out; a run
    of identical frames collapsed and a very long traceback cut in its middle, so a RecursionError
    is a few lines (not thousands) in the log, in the error's JSON and in every viewer."""
    import linecache

    maps = {program: _kfpj_cell_map(linecache.getlines(program))}
    keyed = []
    while tb is not None:
        code, number = tb.tb_frame.f_code, tb.tb_lineno
        tb = tb.tb_next
        frame = _kfpj_frame(code, number, program, func_name, maps)
        if frame is not None:
            keyed.append(((code.co_filename, number, code.co_name), frame))
    return _kfpj_shorten(_kfpj_collapse(keyed))


def _kfpj_frame(code, number, program, func_name, maps):
    """One frame as a dict, or None for a frame of this runtime. Code that an earlier step pickled
    by value runs here too, and its file is no file of this step: cloudpickle 3 names it
    `<dynamic-code>`, older ones keep the producing program's path (on a cluster `step.py`, this
    program's name as well: all step code is nested in its step's function, so the function whose
    locals define the code tells the steps apart)."""
    import linecache

    file, name = code.co_filename, code.co_name
    if file == program and name == "<module>":  # its top level calls the main, after the cells
        return None
    owner = _kfpj_owner(code)
    if (file == program and owner and owner != func_name) or (
        file == "<dynamic-code>" and owner != ""
    ):
        return {"name": name, "source": "", "earlier_step": True}
    cells = _kfpj_program_cells(file, maps)
    source = linecache.getline(file, number).strip()
    if cells is None:
        return {"file": file, "line": number, "name": name, "source": source}
    if number not in cells:
        return None
    return _kfpj_cell_frame(cells[number], name, func_name if file == program else "", source)


def _kfpj_owner(code):
    """The function whose locals define `code` ("" at a module's top level), or None where Python
    does not say (before 3.11)."""
    qualname = getattr(code, "co_qualname", None)
    if qualname is None:
        return None
    head, nested, _ = qualname.partition(".<locals>.")
    return head if nested else ""


def _kfpj_program_cells(file, maps):
    """The cell map of `file` if it is a step program, else None. Besides this step's, that is an
    earlier step's program still on this machine, whose pickled code kept its path."""
    import linecache

    if file not in maps:
        lines = linecache.getlines(file)
        is_program = any(line.startswith("def _kfpj_fail(") for line in lines)
        maps[file] = _kfpj_cell_map(lines) if is_program else None
    return maps[file]


def _kfpj_collapse(keyed):
    """The frames with a run of the same (file, line, function) cut to its first few, the last of
    them counting the rest (`repeated`), as traceback.StackSummary prints them."""
    frames, last, count = [], None, 0
    for key, frame in keyed:
        count = count + 1 if key == last else 1
        last = key
        if count <= _KFPJ_REPEATS_SHOWN:
            frames.append(frame)
        else:
            frames[-1]["repeated"] = count - _KFPJ_REPEATS_SHOWN
    return frames


def _kfpj_shorten(frames):
    """At most the first and last frames, with one `left_out` entry counting those between."""
    if len(frames) <= _KFPJ_FIRST_FRAMES + _KFPJ_LAST_FRAMES:
        return frames
    middle = frames[_KFPJ_FIRST_FRAMES:-_KFPJ_LAST_FRAMES]
    left_out = sum(1 + f.get("repeated", 0) for f in middle)
    return frames[:_KFPJ_FIRST_FRAMES] + [{"left_out": left_out}] + frames[-_KFPJ_LAST_FRAMES:]


def _kfpj_format_frames(frames):
    if not frames:
        return ""
    out = ["Traceback (most recent call last):"]
    for f in frames:
        out.append(_kfpj_format_frame(f))
        if f.get("source"):
            out.append("    " + f["source"])
        repeated = f.get("repeated", 0)
        if repeated:
            s = "s" if repeated > 1 else ""
            out.append(f"  [Previous line repeated {repeated} more time{s}]")
    return "\n".join(out)


def _kfpj_format_frame(f):
    """A frame's `where` line: in a cell, in a cell of another notebook, in code an earlier step
    pickled, in a library's file; or the note that stands for the frames left out."""
    if "left_out" in f:
        return f"  [{f['left_out']} frames left out]"
    if "cell" in f:
        return f"  cell {f['cell']}, line {f['line']}, in {f['name']}"
    if "notebook" in f:
        return f"  {f['notebook']}, cell {f['notebook_cell']}, line {f['line']}, in {f['name']}"
    if f.get("earlier_step"):
        return (
            f"  in {f['name']} (defined in an earlier step; its cell and line are not known here)"
        )
    return f'  File "{f["file"]}", line {f["line"]}, in {f["name"]}'


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
        "message": _kfpj_str(e),
        "frames": frames,
        "exception": exception,
        "traceback": text + _kfpj_format_frames(frames),
    }


def _kfpj_str(e):
    """str(e), or what Python prints for an exception whose own __str__ fails (the report of the
    step's error must not fail on it)."""
    try:
        return str(e)
    except Exception:
        return "<exception str() failed>"


def _kfpj_unmapped(e):
    """The error as Python reports it, frames unmapped: what is left when mapping it fails, so the
    step's own error is never lost to a failure of its report."""
    import traceback

    lines = traceback.format_exception(type(e), e, e.__traceback__)
    only = traceback.format_exception_only(type(e), e)
    return {
        "type": type(e).__name__,
        "message": _kfpj_str(e),
        "frames": [],
        "exception": "".join(only).rstrip("\n"),
        "traceback": "".join(lines[: len(lines) - len(only)]).rstrip("\n"),
    }


def _kfpj_thread_hook(program, func_name):
    """Map what ends the step without passing through _kfpj_fail: an exception that ends a thread
    (it does not fail the step, as in any program, but its log should point at cells, not at this
    program) and a KeyboardInterrupt (the step ends as an interrupted program does)."""
    import sys, threading

    # what mapping needs, imported now: a first import in the interpreter's last hook makes an
    # interrupted program exit with 1, not by its SIGINT
    import linecache, traceback

    previous = sys.excepthook

    def interrupted(kind, value, tb):
        if isinstance(value, KeyboardInterrupt):
            ours = tb  # from this program's frames on: not the lines that started it (Argo's)
            while ours is not None and ours.tb_frame.f_code.co_filename != program:
                ours = ours.tb_next
            if _kfpj_interrupted(value.with_traceback(ours), program, func_name):
                return
        previous(kind, value, tb)

    sys.excepthook = interrupted

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


def _kfpj_interrupted(e, program, func_name):
    """Print the mapped traceback of a KeyboardInterrupt that stops the step, once, whichever of the
    step's main and the interpreter's last hook comes first; False if it could not be mapped."""
    import sys

    if not getattr(e, "_kfpj_reported", False):
        try:
            error = _kfpj_error(e, program, func_name)
        except Exception:
            return False
        print(_kfpj_join(error["traceback"], error["exception"]), file=sys.stderr, flush=True)
        e._kfpj_reported = True
    return True


def _kfpj_join(*parts):
    return "\n".join(p for p in parts if p)


def _kfpj_fail(e, program, func_name, error_file):
    """Report the step's exception in the notebook's terms, then exit 1 as Python would."""
    import json, sys

    try:
        error = _kfpj_error(e, program, func_name)
    except Exception:  # never lose the step's own error to a failure of this report
        error = _kfpj_unmapped(e)
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
