# The runtime of a step program. This file's text is copied into every generated component,
# because a component must run in a plain Python image with no kfp-jupyter installed.
# Keep it dependency-free (standard library at import time), and keep the two marked sections.
# The outer section goes on in stepfailure.py (the error reporting), copied right after it.
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


# The local engine names each output by a digest of its bytes. The step hashes them as they go
# out (the engine then never reads an output again to hash it) and leaves the digests next to the
# output's folder, with each file's size, mtime and inode: the engine trusts a digest only for the
# file as it was hashed. Off where nobody asked for digests (a cluster) or blake3 is missing.
def _kfpj_hasher():
    import os

    if os.environ.get("KFPJ_DIGESTS") != "blake3":
        return None
    try:
        import blake3
    except ImportError:
        return None
    return blake3.blake3(max_threads=blake3.blake3.AUTO)


class _KfpjHashing:
    """A file being written that hashes what passes through it (for writers that take a file)."""

    def __init__(self, raw, hasher):
        self.raw, self.hasher = raw, hasher

    def write(self, data):
        self.hasher.update(data)
        return self.raw.write(data)

    def tell(self):
        return self.raw.tell()

    def flush(self):
        self.raw.flush()

    def writable(self):
        return True

    def seekable(self):
        return False

    @property
    def closed(self):
        return self.raw.closed


def _kfpj_written(file, hasher):
    """Leave the digest of a finished output file for the engine (when it asked for one)."""
    import json, os

    if hasher is None:
        return file
    folder, rel = os.path.split(file)
    record = folder.rstrip(os.sep) + ".kfpj-digests.json"
    try:
        with open(record, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        data = {"algorithm": "blake3", "files": {}}
    st = os.stat(file)
    data["files"][rel] = [hasher.hexdigest(), st.st_size, st.st_mtime_ns, st.st_ino]
    try:
        with open(record, "w", encoding="utf-8") as f:
            json.dump(data, f)
    except OSError:
        pass  # the engine hashes the file itself
    return file


def _kfpj_hash_file(file):
    """Hash a file this step just wrote, while its pages are still in memory: for writers that
    need a real file of their own."""
    hasher = _kfpj_hasher()
    if hasher is not None:
        chunk = bytearray(1 << 22)
        with open(file, "rb", buffering=0) as f:
            while n := f.readinto(chunk):
                hasher.update(memoryview(chunk)[:n])
    return _kfpj_written(file, hasher)


def _kfpj_save_npy(file, value, hasher):
    """numpy.save's bytes; with a hasher, the array is hashed in memory while it is written."""
    import io, numpy

    fmt = numpy.lib.format
    data = value if value.flags.c_contiguous else value.T if value.flags.f_contiguous else None
    if hasher is not None and data is not None and value.dtype.names is None:
        header = io.BytesIO()
        meta = fmt.header_data_from_array_1_0(value)
        try:
            fmt.write_array_header_1_0(header, meta)
        except ValueError:  # too long for version 1.0: numpy.save writes 2.0 then
            header = io.BytesIO()
            fmt.write_array_header_2_0(header, meta)
        with open(file, "wb") as f:
            f.write(header.getvalue())
            hasher.update(header.getvalue())
            data.tofile(f)
        if data.nbytes:
            hasher.update(data.reshape(-1).view(numpy.uint8))
    elif hasher is not None:
        with open(file, "wb") as f:
            fmt.write_array(_KfpjHashing(f, hasher), value, allow_pickle=False)
    else:
        numpy.save(file, value, allow_pickle=False)
    return _kfpj_written(file, hasher)


def _kfpj_save_frame(base, value, kind, hasher):
    """A DataFrame (or a Series, as a one-column frame) as parquet: its file, or None (and no
    file) when parquet cannot hold it."""
    import os

    # a Series travels as a one-column frame; its name (or its lack of one) comes back
    file = base + (".parquet" if kind == "DataFrame" else ".series.parquet")
    try:
        import pyarrow  # noqa: F401

        frame = (
            value
            if kind == "DataFrame"
            else value.to_frame("__kfpj_unnamed__" if value.name is None else value.name)
        )
        if hasher is None:
            frame.to_parquet(file)
            return file
        with open(file, "wb") as f:
            frame.to_parquet(_KfpjHashing(f, hasher))
        return _kfpj_written(file, hasher)
    except Exception:
        if os.path.exists(file):
            os.remove(file)
        return None


def _kfpj_save_model(base, value, hasher):
    """A scikit-learn estimator (joblib) or a torch tensor or module (torch.save): its file, or
    None for any other value. Only libraries the step imported are asked."""
    import sys

    if "sklearn" in sys.modules:
        from sklearn.base import BaseEstimator

        if isinstance(value, BaseEstimator):
            import joblib

            if hasher is None:
                joblib.dump(value, base + ".joblib")
                return base + ".joblib"
            with open(base + ".joblib", "wb") as f:
                joblib.dump(value, _KfpjHashing(f, hasher))
            return _kfpj_written(base + ".joblib", hasher)
    if "torch" in sys.modules:
        import torch

        if isinstance(value, (torch.Tensor, torch.nn.Module)):
            torch.save(value, base + ".pt")  # through torch's own zip writer
            return _kfpj_hash_file(base + ".pt")
    return None


def _kfpj_save_data(base, value, hasher):
    """Any other value: JSON when it comes back exactly, else a pickle."""
    import json, pickle

    if _kfpj_exact_json(value):
        data = json.dumps(value).encode("utf-8")  # what json.dump writes to a file
        file = base + ".json"
    else:
        try:
            import cloudpickle as pickler
        except ImportError:
            pickler = pickle
        data = pickler.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        file = base + ".pkl"
    with open(file, "wb") as f:
        f.write(data)
    if hasher is not None:
        hasher.update(data)
    return _kfpj_written(file, hasher)


def _kfpj_save(step, name, value, path):
    import os

    if getattr(value, "path", None) == path:  # the output's own placeholder: never set
        raise _KfpjError(
            f"step {step!r} did not set {name!r}: its code sets it only on some paths (under an "
            f"if, in a loop or a try), this run took none of them, and no step before it sets "
            f"{name!r}; give it a value on every path (e.g. {name} = None before the if)"
        )
    os.makedirs(path, exist_ok=True)
    base = os.path.join(path, name)
    mod, kind = type(value).__module__.split(".")[0], type(value).__name__
    hasher = _kfpj_hasher()
    try:
        if mod == "numpy" and kind == "ndarray" and not value.dtype.hasobject:
            return _kfpj_save_npy(base + ".npy", value, hasher)
        # parquet wants a str column name: pickle keeps a Series named otherwise
        series = (
            mod == "pandas" and kind == "Series" and (value.name is None or type(value.name) is str)
        )
        if (mod == "pandas" and kind == "DataFrame") or series:
            file = _kfpj_save_frame(base, value, kind, hasher)
            if file is not None:
                return file
            hasher = _kfpj_hasher()  # what went into the failed file does not count
        return _kfpj_save_model(base, value, hasher) or _kfpj_save_data(base, value, hasher)
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

        if os.path.getsize(file) < 1 << 20:
            return numpy.load(file, allow_pickle=False)
        # Mapped, not read: pages come in as the step touches them, from the OS's cache. Copy on
        # write ("c"): a step that changes its input changes its own copy, never the stored
        # artifact; asarray makes it a plain ndarray (not a numpy.memmap) like numpy.load's.
        return numpy.asarray(numpy.load(file, mmap_mode="c", allow_pickle=False))
    if ext == ".parquet":
        import pandas

        try:
            import pyarrow.parquet  # noqa: F401

            # mapped: pyarrow decodes from the OS's cache instead of a copy of the file
            frame = pandas.read_parquet(file, engine="pyarrow", memory_map=True)
        except ImportError:
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
def _kfpj_export_fail(step, name, value, fmt, why):
    raise _KfpjError(
        f"step {step!r}: variable {name!r} of type {type(value).__module__}.{type(value).__qualname__} "
        f"cannot be written as {fmt} for a component step ({why}). Fix: convert it to a "
        "pandas DataFrame, numpy array, str or list/dict before this step ends."
    ) from None


def _kfpj_export(step, name, value, fmt, kind, path):
    import os

    mod, cls = type(value).__module__.split(".")[0], type(value).__name__
    if hasattr(value, "item") and mod == "numpy" and getattr(value, "ndim", 1) == 0:
        value = value.item()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if fmt == "value":
        _kfpj_export_value(step, name, value, kind, path)
    else:
        if fmt == "auto":
            fmt = _kfpj_export_format(step, name, value, mod, cls)
        _kfpj_export_file(step, name, value, fmt, mod, cls, path)


def _kfpj_export_value(step, name, value, kind, path):
    """A parameter value of type `kind`, as the text KFP reads back."""
    import json

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
        _kfpj_export_fail(step, name, value, "value", f"the component takes a {kind}")
    if kind == "str" and not isinstance(value, str):
        text = json.dumps(value) if _kfpj_exact_json(value) else str(value)
    elif kind == "bool":
        text = "true" if value else "false"
    else:
        text = value if isinstance(value, str) else json.dumps(value)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    _kfpj_hash_file(path)


def _kfpj_export_format(step, name, value, mod, cls):
    """The file format that suits a value the component takes in any format."""
    if mod == "pandas" and cls in ("DataFrame", "Series"):
        return "csv"
    if mod == "numpy" and cls == "ndarray" and not value.dtype.hasobject:
        return "npy"
    if isinstance(value, (str, bytes)):
        return "text"
    if _kfpj_exact_json(value):
        return "json"
    _kfpj_export_fail(step, name, value, "auto", "no file format fits it")


def _kfpj_export_file(step, name, value, fmt, mod, cls, path):
    import json, os

    try:
        if fmt in ("csv", "tsv"):
            sep = "," if fmt == "csv" else "\t"
            if mod == "pandas" and cls == "Series":
                value = value.to_frame()
            if mod == "pandas" and cls in ("DataFrame", "Series"):
                value.to_csv(path, sep=sep, index=False)
            else:
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
        elif fmt == "json" and mod == "pandas":
            value.to_json(path, orient="records")
        elif fmt == "json":
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
        _kfpj_hash_file(path)
    except _KfpjError:
        raise
    except Exception as e:
        if os.path.exists(path):
            os.remove(path)
        _kfpj_export_fail(step, name, value, fmt, f"{type(e).__name__}: {e}")


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


class _KfpjParameterError(ValueError):
    pass


def _kfpj_param(func, name, text, kind):
    """A parameter's text as Argo passes it, read as `parse_value` reads `-p`: a Workflow can be
    given any text (the Argo UI, `argo submit -p`, a compiled file submitted as it is), so what
    is not of the parameter's type fails the step naming the parameter, never as a silent False."""
    import ast, json, os

    low = text.strip().lower()
    value = None
    if kind == "str":
        return text
    if kind == "bool" and low in ("true", "1", "yes", "on", "false", "0", "no", "off"):
        return low in ("true", "1", "yes", "on")
    try:
        if kind == "int":
            return int(text.strip())
        if kind == "float":
            return float(text.strip())
        if kind in ("list", "dict"):
            try:
                value = json.loads(text)
            except ValueError:
                value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    if isinstance(value, list if kind == "list" else dict):
        return value
    a = "an" if kind == "int" else "a"
    said = " (true or false)" if kind == "bool" else ""
    error = _KfpjParameterError(
        f"parameter {name!r} ({kind}) was given {text!r}, which is not {a} {kind}. "
        f"Fix: run the pipeline with {a} {kind} value{said} for {name!r}"
    )
    code = func.__code__
    _kfpj_fail(error, code.co_filename, code.co_name, os.environ.get("KFPJ_ERROR_FILE"))


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
        # the local engine names outputs by digest: hash them as they are written (_kfpj_save)
        os.environ["KFPJ_DIGESTS"] = "blake3"
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
            kwargs[arg] = _kfpj_param(func, name, os.environ["KFPJ_PARAM_" + name.upper()], kind)
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


# --- outer: end
