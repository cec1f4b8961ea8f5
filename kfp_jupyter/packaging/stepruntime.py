# The runtime of a step program. This file's text is copied into every generated component,
# because a component must run in a plain Python image with no kfp-jupyter installed.
# Keep it dependency-free (standard library at import time), and keep the two marked sections.
# ruff: noqa
# mypy: ignore-errors
# --- inner: start (copied into each step function, only the parts the step needs)
# --- part: error
class _KfpjError(RuntimeError):
    pass


# --- part: save
def _kfpj_exact_json(value, depth=0):
    t = type(value)
    if value is None or t in (bool, int, str):
        return True
    if t is float:
        return value == value and abs(value) != float("inf")
    if depth > 50:
        return False
    if t is list:
        return all(_kfpj_exact_json(v, depth + 1) for v in value)
    if t is dict:
        return all(type(k) is str and _kfpj_exact_json(v, depth + 1) for k, v in value.items())
    return False


def _kfpj_save(step, name, value, path):
    import os, sys, json, pickle

    os.makedirs(path, exist_ok=True)
    base = os.path.join(path, name)
    mod, kind = type(value).__module__.split(".")[0], type(value).__name__
    try:
        if mod == "numpy" and kind == "ndarray" and not value.dtype.hasobject:
            import numpy

            numpy.save(base + ".npy", value, allow_pickle=False)
            return base + ".npy"
        # parquet wants a str column name: pickle keeps a Series named otherwise
        series = (
            mod == "pandas" and kind == "Series" and (value.name is None or type(value.name) is str)
        )
        if (mod == "pandas" and kind == "DataFrame") or series:
            # a Series travels as a one-column frame; its name (or its lack of one) comes back
            file = base + (".parquet" if kind == "DataFrame" else ".series.parquet")
            try:
                import pyarrow  # noqa: F401

                frame = (
                    value
                    if kind == "DataFrame"
                    else value.to_frame("__kfpj_unnamed__" if value.name is None else value.name)
                )
                frame.to_parquet(file)
                return file
            except Exception:
                if os.path.exists(file):
                    os.remove(file)
        if "sklearn" in sys.modules:
            from sklearn.base import BaseEstimator

            if isinstance(value, BaseEstimator):
                import joblib

                joblib.dump(value, base + ".joblib")
                return base + ".joblib"
        if "torch" in sys.modules:
            import torch

            if isinstance(value, (torch.Tensor, torch.nn.Module)):
                torch.save(value, base + ".pt")
                return base + ".pt"
        if _kfpj_exact_json(value):
            with open(base + ".json", "w", encoding="utf-8") as f:
                json.dump(value, f)
            return base + ".json"
        try:
            import cloudpickle as pickler
        except ImportError:
            pickler = pickle
        data = pickler.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        with open(base + ".pkl", "wb") as f:
            f.write(data)
        return base + ".pkl"
    except Exception as e:
        for ext in (".npy", ".parquet", ".series.parquet", ".joblib", ".pt", ".json", ".pkl"):
            if os.path.exists(base + ext):
                os.remove(base + ext)
        raise _KfpjError(
            f"step {step!r}: variable {name!r} of type {type(value).__module__}.{type(value).__qualname__} "
            f"cannot be handed on to the steps that read it ({type(e).__name__}: {e}). "
            f"Fix: create {name!r} inside the step that uses it, or turn it into data "
            "(a list, dict, numpy array or DataFrame) before this step ends."
        ) from None


# --- part: load
def _kfpj_load(step, name, path):
    import os, json, pickle

    files = (
        sorted(f for f in os.listdir(path) if f.startswith(name + "."))
        if os.path.isdir(path)
        else []
    )
    if not files:
        raise _KfpjError(f"step {step!r}: input {name!r} was not found at {path!r}")
    file = os.path.join(path, files[0])
    ext = os.path.splitext(file)[1]
    if ext == ".npy":
        import numpy

        return numpy.load(file, allow_pickle=False)
    if ext == ".parquet":
        import pandas

        frame = pandas.read_parquet(file)
        if not file.endswith(".series.parquet"):
            return frame
        series = frame.iloc[:, 0]
        return series.rename(None) if series.name == "__kfpj_unnamed__" else series
    if ext == ".joblib":
        import joblib

        return joblib.load(file)
    if ext == ".pt":
        import torch

        return torch.load(file, weights_only=False)
    if ext == ".json":
        with open(file, encoding="utf-8") as f:
            return json.load(f)
    with open(file, "rb") as f:
        return pickle.load(f)


# --- part: export
# A variable handed to a component step is written as a plain file in the format the component
# declares (or that suits the value), or as a parameter value: components are not Python programs.
def _kfpj_export(step, name, value, fmt, kind, path):
    import json, os

    def fail(why):
        raise _KfpjError(
            f"step {step!r}: variable {name!r} of type {type(value).__module__}.{type(value).__qualname__} "
            f"cannot be written as {fmt} for a component step ({why}). Fix: convert it to a "
            "pandas DataFrame, numpy array, str or list/dict before this step ends."
        ) from None

    mod, cls = type(value).__module__.split(".")[0], type(value).__name__
    if hasattr(value, "item") and mod == "numpy" and getattr(value, "ndim", 1) == 0:
        value = value.item()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if fmt == "value":
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        fits = {
            "int": number and isinstance(value, int),
            "float": number,
            "str": True,
            "bool": isinstance(value, bool),
            "list": isinstance(value, list),
            "dict": isinstance(value, dict),
        }
        if not fits[kind]:
            fail(f"the component takes a {kind}")
        if kind == "str" and not isinstance(value, str):
            text = json.dumps(value) if _kfpj_exact_json(value) else str(value)
        elif kind == "bool":
            text = "true" if value else "false"
        else:
            text = value if isinstance(value, str) else json.dumps(value)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return
    if fmt == "auto":
        if mod == "pandas" and cls in ("DataFrame", "Series"):
            fmt = "csv"
        elif mod == "numpy" and cls == "ndarray" and not value.dtype.hasobject:
            fmt = "npy"
        elif isinstance(value, (str, bytes)):
            fmt = "text"
        elif _kfpj_exact_json(value):
            fmt = "json"
        else:
            fail("no file format fits it")
    try:
        if fmt in ("csv", "tsv"):
            sep = "," if fmt == "csv" else "\t"
            if mod == "pandas" and cls == "Series":
                value = value.to_frame()
            if mod == "pandas" and cls in ("DataFrame", "Series"):
                value.to_csv(path, sep=sep, index=False)
                return
            import csv

            rows = value.tolist() if mod == "numpy" else value
            with open(path, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f, delimiter=sep)
                for row in rows:
                    writer.writerow(row if isinstance(row, (list, tuple)) else [row])
        elif fmt == "npy":
            import numpy

            with open(path, "wb") as f:
                numpy.save(f, numpy.asarray(value), allow_pickle=False)
        elif fmt == "parquet":
            value.to_parquet(path)
        elif fmt == "json":
            if mod == "pandas":
                value.to_json(path, orient="records")
                return
            if mod == "numpy":
                value = value.tolist()
            with open(path, "w", encoding="utf-8") as f:
                json.dump(value, f)
        elif isinstance(value, bytes):
            with open(path, "wb") as f:
                f.write(value)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(value if isinstance(value, str) else json.dumps(value))
    except _KfpjError:
        raise
    except Exception as e:
        if os.path.exists(path):
            os.remove(path)
        fail(f"{type(e).__name__}: {e}")


# --- part: like
# KFP hands list/dict parameters over as protobuf Structs, where every number is a float: give back
# ints where the notebook's own value has ints, so {'max_iter': 300} stays an int.
def _kfpj_like(value, template):
    if type(template) is int and type(value) is float and value.is_integer():
        return int(value)
    if isinstance(value, dict) and isinstance(template, dict):
        return {k: _kfpj_like(v, template.get(k)) for k, v in value.items()}
    if isinstance(value, list) and isinstance(template, list) and template:
        return [_kfpj_like(v, template[min(i, len(template) - 1)]) for i, v in enumerate(value)]
    return value


# --- part: metric
def _kfpj_metric(step, metrics, name, value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _KfpjError(
            f"step {step!r}: metric {name!r} must be a number, not {type(value).__name__}. "
            "Fix: list only numeric variables in the pipeline-metrics cell."
        ) from None
    metrics.log_metric(name, number)


# --- inner: end
# --- outer: start (a plain step program: Argo and the local engine)
class _KfpjArtifact:
    def __init__(self, path):
        self.path = path
        self.metadata = {}


class _KfpjMetrics(_KfpjArtifact):
    def log_metric(self, name, value):
        import json, os

        self.metadata[name] = value
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump(self.metadata, f, sort_keys=True)
        folder = os.environ.get("KFPJ_METRICS_DIR")
        if folder:
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
                f.write(repr(value))


def _kfpj_param(text, kind):
    import ast, json

    if kind == "str":
        return text
    if kind == "bool":
        return text.strip().lower() in ("true", "1", "yes", "on")
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    try:
        return json.loads(text)
    except ValueError:
        return ast.literal_eval(text)


def _kfpj_value(path, kind):
    """A parameter-like value a component wrote to a file, read as KFP reads it: strings as they
    are, everything else as JSON (booleans in any case)."""
    import json

    with open(path, encoding="utf-8") as f:
        text = f.read()
    if kind == "str":
        return text
    return json.loads(text.lower() if kind == "bool" else text)


def _kfpj_main(func, parameters, inputs, outputs, metrics, files=None, values=None, exports=None):
    """Call the step function. With a JSON file argument (the local engine) it gives typed parameter
    values and artifact paths; without one (Argo) parameters come from KFPJ_PARAM_<NAME> variables
    and artifacts from fixed paths under /tmp/kfpj (KFPJ_ROOT moves them, to run steps side by side
    outside a pod).

    `files`, `values` and `exports` are the artifacts of component steps, which are single files:
    with an argument file, artifact NAME is the file NAME inside the folder the engine gives for it;
    under Argo it is the path itself."""
    import json, os, sys

    files, values, exports = files or {}, values or {}, exports or {}
    kwargs = {}
    if len(sys.argv) > 1:
        with open(sys.argv[1], encoding="utf-8") as f:
            spec = json.load(f)
        for arg, (name, _kind) in parameters.items():
            kwargs[arg] = spec["parameters"][name]
        for arg, name in inputs.items():
            kwargs[arg] = _KfpjArtifact(spec["inputs"][name])
        for arg, name in outputs.items():
            kwargs[arg] = _KfpjArtifact(spec["outputs"][name])
        if metrics:
            kwargs[metrics] = _KfpjMetrics(spec["metrics"])
        in_file = lambda name: os.path.join(spec["inputs"][name], name)
        out_file = lambda name: os.path.join(spec["outputs"][name], name)
    else:
        root = os.environ.get("KFPJ_ROOT", "/tmp/kfpj")
        for arg, (name, kind) in parameters.items():
            kwargs[arg] = _kfpj_param(os.environ["KFPJ_PARAM_" + name.upper()], kind)
        for arg, name in inputs.items():
            kwargs[arg] = _KfpjArtifact(root + "/inputs/" + name)
        for arg, name in outputs.items():
            kwargs[arg] = _KfpjArtifact(root + "/outputs/" + name)
        if metrics:
            kwargs[metrics] = _KfpjMetrics(root + "/outputs/metrics.json")
        in_file = lambda name: root + "/inputs/" + name
        out_file = lambda name: root + "/outputs/" + name
    for arg, name in files.items():
        kwargs[arg] = _KfpjArtifact(in_file(name))
    for arg, (name, kind) in values.items():
        kwargs[arg] = _kfpj_value(in_file(name), kind)
    for arg, (name, is_value) in exports.items():
        kwargs[arg] = out_file(name) if is_value else _KfpjArtifact(out_file(name))
    error_file = spec.get("error") if len(sys.argv) > 1 else os.environ.get("KFPJ_ERROR_FILE")
    _kfpj_thread_hook(func.__code__.co_filename, func.__code__.co_name)
    try:
        func(**kwargs)
    except (SystemExit, KeyboardInterrupt):
        raise  # their exit codes are the step's, as in any program
    except BaseException as e:
        _kfpj_fail(e, func.__code__.co_filename, func.__code__.co_name, error_file)


# A failing step speaks in the notebook's terms: frames of the step's cells (and of the imports and
# functions cells it embeds) become `cell N, line M`, frames of libraries stay as they are, frames
# of this runtime go. Mapped here, where the step fails, so the error is written once (to the log
# and, for the local engine, to a JSON file next to the outputs) and every viewer shows the same.
def _kfpj_cell_map(lines: "list[str]") -> "dict[int, tuple[int, int, str]]":
    """Program line -> (cell, line in that cell, section) for the lines that come from cells:
    build_program heads each section with `# --- NAME` and each cell with `# cell N` (or
    `# cell N, line K` when the cell's code starts at its line K, after a magic line)."""
    out = {}
    section, cell, start = "", None, 0
    for number, text in enumerate(lines, start=1):
        stripped = text.strip()
        head, _, first = stripped[7:].partition(", line ")
        if text.startswith("    # --- "):
            section, cell = stripped[6:], None
        elif (
            stripped.startswith("# cell ")
            and head.isdigit()
            and (not first or first.isdigit())
            and text[:4] == "    "
        ):
            if section in ("imports", "functions") or section.startswith("step "):
                cell, start = int(head), number - int(first or 1) + 1
        elif cell is not None:
            out[number] = (cell, number - start, section)
    return out


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
            cell, line, section = cells[number]
            if name == func_name:  # the step function's own level: a cell's top-level code
                name = section if section.startswith("step ") else section + " cell"
            frames.append({"cell": cell, "line": line, "name": name, "source": source})
    return frames


def _kfpj_format_frames(frames):
    if not frames:
        return ""
    out = ["Traceback (most recent call last):"]
    for f in frames:
        if "cell" in f:
            out.append(f"  cell {f['cell']}, line {f['line']}, in {f['name']}")
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


# --- outer: end
