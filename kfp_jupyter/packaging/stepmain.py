# The main of a plain step program (the local engine and Argo run it; KFP runs the step function
# with its own executor instead). Like stepruntime.py, this file's text is copied into generated
# programs: keep it standard library at import time, and keep the marked section. It goes on in
# stepfailure.py (the error reporting), copied right after it, and it reads what the inner
# section of stepruntime.py defines in the step function (artifacts, loads).
# ruff: noqa
# mypy: ignore-errors
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

    text = _kfpj_argo_text(text)
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


def _kfpj_argo_text(text):
    """A parameter's text as it was given. Argo rewrites its own expressions in the values it
    passes, so kfp-jupyter gives it a value holding two opening braces (or starting with the
    prefix) as `kfpj-b64:` and the base64 of its UTF-8 text (compile/argo.py, argo_text);
    anything else is the value itself. (No two braces here: this text is in every program.)"""
    from base64 import b64decode

    if not text.startswith("kfpj-b64:"):
        return text
    try:
        return b64decode(text[9:], validate=True).decode("utf-8")
    except ValueError:  # not ours after all: the text as Argo passed it
        return text


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
    except SystemExit:
        raise  # its exit code is the step's, as in any program
    except KeyboardInterrupt as e:  # mapped to its cell, then 128 + SIGINT under every launcher
        _kfpj_interrupted(e, func.__code__.co_filename, func.__code__.co_name)
        raise SystemExit(130) from None
    except BaseException as e:
        _kfpj_fail(e, func.__code__.co_filename, func.__code__.co_name, error_file)


# --- outer: end
