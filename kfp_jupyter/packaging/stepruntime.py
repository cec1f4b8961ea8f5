# The runtime of a step program. This file's text is copied into every generated component,
# because a component must run in a plain Python image with no kfp-jupyter installed.
# Keep it dependency-free (standard library at import time), and keep the two marked sections.
# The outer section (a plain step program's main) is in stepmain.py.
# ruff: noqa
# mypy: ignore-errors
# --- inner: start (copied into each step function, only the parts the step needs)
# --- part: error
class _KfpjError(RuntimeError):
    pass


# --- part: main
# A notebook defines its functions cell's classes in `__main__`, so pickle, joblib and torch.save
# keep a value that holds an instance by reference (`__main__.Model`), and loading it gives an
# instance of the notebook's own class. A step defines them inside its function
# (`train.<locals>.Model`), where pickle cannot find them: they are set up as the notebook has
# them. The step that loads such a value runs the same cell, so the reference finds that step's
# own class: isinstance holds, and a method's frames are its own cells.
def _kfpj_as_main(names):
    # Name the classes and functions `names` of the calling step function's imports
    # and functions cells `__main__.NAME`, bound in `__main__`, as a notebook has them. A name that
    # `__main__` already holds (the program's own, kfp's executor's), a builtin's or the runtime's
    # is left as it is: a value that holds such a class goes by value, as before.
    import builtins, sys

    main = sys.modules.get("__main__")
    if main is None:
        return
    scope = sys._getframe(1).f_locals
    ours = main.__dict__.setdefault("_kfpj_by_reference", {})
    for name in names:
        value = scope.get(name)
        outer, nested, own = str(getattr(value, "__qualname__", "")).partition(".<locals>.")
        if (
            own != name
            or "." in outer
            or hasattr(builtins, name)
            or name.lower().startswith("_kfpj")
            or main.__dict__.get(name, value) is not value
        ):
            continue  # not defined at the step function's top level, or a name not to take
        if _kfpj_requalify(value, outer + nested + own, name, ours):
            setattr(main, name, value)


def _kfpj_requalify(value, old, new, ours):
    # Name `value` `__main__.new` (and what its class body defines `new.NAME`), recorded in
    # `ours`; whether it could be.
    try:
        value.__qualname__ = new
        value.__module__ = "__main__"
    except (AttributeError, TypeError):
        return False
    ours[id(value)] = value
    for member in list(vars(value).values()) if isinstance(value, type) else ():
        member = getattr(member, "__func__", member)  # a classmethod's or staticmethod's
        qualname = getattr(member, "__qualname__", None)
        if isinstance(qualname, str) and qualname.startswith(old + "."):
            _kfpj_requalify(member, qualname, new + qualname[len(old) :], ours)
    return True


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
    # A file being written that hashes what passes through it (for writers that take a file).

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
    # Leave the digest of a finished output file for the engine (when it asked for one).
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
    # Hash a file this step just wrote, while its pages are still in memory: for writers that
    # need a real file of their own.
    hasher = _kfpj_hasher()
    if hasher is not None:
        chunk = bytearray(1 << 22)
        with open(file, "rb", buffering=0) as f:
            while n := f.readinto(chunk):
                hasher.update(memoryview(chunk)[:n])
    return _kfpj_written(file, hasher)


def _kfpj_save_npy(file, value, hasher):
    # numpy.save's bytes; with a hasher, the array is hashed in memory while it is written.
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
    # A DataFrame (or a Series, as a one-column frame) as parquet: its file, or None (and no
    # file) when parquet cannot hold it.
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
    # A scikit-learn estimator (joblib) or a torch tensor or module (torch.save): its file, or
    # None for any other value, and for one they cannot save: they keep classes by reference, and
    # one that a step's cell defines is found nowhere else (the data pickle keeps it by value).
    # Only libraries the step imported are asked.
    import os

    try:
        return _kfpj_save_library(base, value, hasher)
    except Exception as e:
        for ext in (".joblib", ".pt"):
            if os.path.exists(base + ext):
                os.remove(base + ext)
        name = os.path.basename(base)
        print(f"kfp-jupyter: {name!r} is saved as a pickle instead ({type(e).__name__}: {e})")
        return None


def _kfpj_save_library(base, value, hasher):
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


def _kfpj_pickle(value):
    # The value's pickle: cloudpickle's, which keeps by value what a step's own cells define
    # (the steps that read it do not define those), but the functions cell's classes by reference,
    # as a notebook's pickle keeps them (`_kfpj_as_main`). Pickle's where cloudpickle is not
    # installed.
    import io, pickle, sys

    try:
        import cloudpickle
    except ImportError:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    ours = getattr(sys.modules.get("__main__"), "_kfpj_by_reference", None)
    if not ours:
        return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    class _KfpjPickler(cloudpickle.Pickler):
        def reducer_override(self, obj):
            if id(obj) in ours:
                return NotImplemented  # pickle's own save: by reference
            return super().reducer_override(obj)

    out = io.BytesIO()
    _KfpjPickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return out.getvalue()


def _kfpj_save_data(base, value, hasher):
    # Any other value: JSON when it comes back exactly, else a pickle.
    import json

    if _kfpj_exact_json(value):
        data = json.dumps(value).encode("utf-8")  # what json.dump writes to a file
        file = base + ".json"
    else:
        data = _kfpj_pickle(value)
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
        file = _kfpj_save_model(base, value, hasher)
        if file is not None:
            return file
        # a fresh hasher: what a library that failed to save the value wrote does not count
        return _kfpj_save_data(base, value, _kfpj_hasher())
    except Exception as e:
        for ext in (".npy", ".parquet", ".series.parquet", ".joblib", ".pt", ".json", ".pkl"):
            if os.path.exists(base + ext):
                os.remove(base + ext)
        raise _KfpjError(
            f"step {step!r}: variable {name!r} of type {type(value).__module__}.{type(value).__qualname__} "
            f"cannot be handed on to the steps that read it ({type(e).__name__}: {e}). "
            f"Fix: {_kfpj_save_fix(name, e)}"
        ) from None


def _kfpj_save_fix(name, error):
    # What to do about a value that cannot be pickled.
    try:
        import cloudpickle  # noqa: F401
    except ImportError:
        if "<locals>" in str(error):  # a class or function a step's cell defines
            return (
                "install cloudpickle, which saves the classes and functions a step's cells "
                "define, or define them in the functions cell (every step runs that cell)."
            )
    return (
        "a value that holds an open file, a connection, a lock, a thread or a generator cannot "
        f"be handed on: create {name!r} inside the step that uses it, or turn it into data (a "
        "list, dict, numpy array or DataFrame) before this step ends."
    )


# --- part: load
def _kfpj_load(step, name, path):
    import os

    files = (
        sorted(f for f in os.listdir(path) if f.startswith(name + "."))
        if os.path.isdir(path)
        else []
    )
    if not files:
        raise _KfpjError(f"step {step!r}: input {name!r} was not found at {path!r}")
    file = os.path.join(path, files[0])
    try:
        return _kfpj_read(file)
    except AttributeError as e:
        if "__main__" not in str(e):
            raise
        # a class of the functions cell, kept by reference (`_kfpj_as_main`), that is not here
        raise _KfpjError(
            f"step {step!r}: input {name!r} holds a class of the notebook's functions cell, "
            f"which is not defined here ({e}). Fix: define it before the input is loaded (in a "
            "notebook: run the functions cell first; a step of the pipeline runs it itself)."
        ) from None


def _kfpj_read(file):
    import os, json, pickle

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
    # A parameter value of type `kind`, as the text KFP reads back.
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
    # The file format that suits a value the component takes in any format.
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
