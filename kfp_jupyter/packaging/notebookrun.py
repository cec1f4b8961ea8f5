# The runtime of a notebook step: executes a whole notebook in a kernel with nbclient. Its text
# (between the markers) is copied into the step's function, which must run in a plain Python
# image with only nbclient and ipykernel installed: keep it standard library at import time.
# ruff: noqa
# mypy: ignore-errors
# --- notebook: start
def _kfpj_run_notebook(step, path, source, values, inputs, outputs, metrics, keep, code):
    # Execute the notebook `source` (JSON) with `values` injected after its parameters cell and
    # the variables of `inputs` ({name: (variable, folder)}) loaded there; save `outputs`
    # ({variable: folder}) as any step saves its variables; keep the executed notebook in the
    # folder `keep`, its files named after the folder as a saved variable's are (every target
    # names an output's folder after the output). Returns the values of `metrics`. A cell that
    # fails ends the step with the notebook's cell and line.
    import json, os, tempfile

    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError as e:
        raise _KfpjError(
            f"step {step!r} executes notebook {path} in a kernel, which needs nbclient and "
            f"ipykernel ({e}). Fix: pip install nbclient ipykernel"
        ) from None

    nb = nbformat.reads(source, as_version=4)
    for number, cell in enumerate(nb.cells, start=1):
        cell.metadata["kfp_jupyter_cell"] = number
    lines = []
    if inputs:
        lines.append(code["load"])
        for name, (variable, folder) in inputs.items():
            lines.append(f"{name} = _kfpj_load({step!r}, {variable!r}, {folder!r})")
    lines += [f"{name} = {value!r}" for name, value in values.items()]
    if lines:
        cell = _kfpj_new_cell(nb, lines, "injected-parameters")
        at = 0
        for i, c in enumerate(nb.cells):
            tags = set(c.metadata.get("tags", []))
            first = c.source.lstrip().split("\n", 1)[0] if c.cell_type == "code" else ""
            if tags & {"parameters", "pipeline-parameters"} or first.startswith(
                "%%pipeline_parameters"
            ):
                at = i + 1
                break
        nb.cells.insert(at, cell)
    work = tempfile.mkdtemp(prefix="notebook-")
    found = os.path.join(work, "metrics.json")
    here = _kfpj_notebook_folder(path, work)
    if outputs or metrics:
        saves = [code["save"]]
        for name in (*outputs, *metrics):
            why = (
                f"step {step!r}: notebook {path} defines no variable {name!r}. Fix: assign "
                f"{name!r} in the notebook, or remove it from the step's outputs or metrics."
            )
            saves.append(f"if {name!r} not in globals():\n    raise _KfpjError({why!r})")
        for name, folder in outputs.items():
            saves.append(f"_kfpj_save({step!r}, {name!r}, {name}, {folder!r})")
        if metrics:
            numbers = ", ".join(f"{m!r}: float({m})" for m in metrics)
            saves.append(
                f"import json as _kfpj_json\n_kfpj_json.dump({{{numbers}}}, open({found!r}, 'w'))"
            )
        nb.cells.append(_kfpj_new_cell(nb, saves, "kfp-jupyter-outputs"))
    client = NotebookClient(
        nb, kernel_name="python3", timeout=None, resources={"metadata": {"path": here}}
    )
    print(f"kfp-jupyter: executing notebook {path} in a python3 kernel", flush=True)
    failed = None
    try:
        client.execute(env=_kfpj_kernel_env())
    except CellExecutionError:
        failed = _kfpj_notebook_failure(nb, step, path)
    except Exception as e:
        # nbclient shuts the kernel down when the step is stopped (SIGTERM: a timeout, a cancel),
        # then fails on its own cleanup: say what happened, not that
        cause = e
        while cause.__context__ is not None and type(cause).__name__ != "DeadKernelError":
            cause = cause.__context__
        failed = _KfpjError(
            f"step {step!r}: the kernel executing notebook {path} ended before the notebook did "
            f"({type(cause).__name__}: {cause}): the step was stopped (a timeout or a cancel), "
            "or the kernel died (out of memory?)"
        )
    finally:
        _kfpj_keep_notebook(nb, path, keep)
    if failed is not None:
        raise failed
    if not metrics:
        return {}
    with open(found, encoding="utf-8") as f:
        return json.load(f)


def _kfpj_new_cell(nb, lines, tag):
    # A code cell of ours, tagged `tag`, valid in `nb`'s format: cell ids exist from nbformat
    # 4.5 on, and the kept notebook must still open (and validate) as the user's did.
    import nbformat

    cell = nbformat.v4.new_code_cell("\n".join(lines) + "\n")
    cell.metadata["tags"] = [tag]
    if nb.nbformat_minor < 5:
        cell.pop("id", None)
    return cell


def _kfpj_notebook_folder(path, scratch):
    # The folder the kernel starts in. Where the notebook is beside the step (a local run works
    # in its pipeline notebook's folder, and a child's `path` is relative to that), its own folder,
    # as Jupyter opens it: relative paths and modules next to it work as they did there. Elsewhere
    # (a cluster's container has only the notebook embedded in the program) the step's scratch.
    import os

    here = os.path.abspath(os.path.expanduser(path))
    return os.path.dirname(here) if os.path.isfile(here) else scratch


def _kfpj_kernel_env():
    # The step's environment less the folders the local runner put first on PYTHONPATH.
    # KFPJ_STEP_PATH names them (the pipeline notebook's folder). A kernel finds modules on
    # PYTHONPATH before its own folder: left there, they would make the notebook import the
    # pipeline folder's helper.py instead of the one beside it, as Jupyter would not. The
    # user's own PYTHONPATH entries stay, as they would in Jupyter.
    import os

    env = dict(os.environ)
    ours = env.pop("KFPJ_STEP_PATH", "").split(os.pathsep)
    entries = env.get("PYTHONPATH", "").split(os.pathsep)
    if ours != [""] and entries[: len(ours)] == ours:
        rest = os.pathsep.join(entries[len(ours) :])
        if rest:
            env["PYTHONPATH"] = rest
        else:
            env.pop("PYTHONPATH", None)
    return env


def _kfpj_notebook_failure(nb, step, path):
    # The exception that ends the step: the error of the notebook's failed cell, located.
    import re, sys

    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") != "error":
                continue
            text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", "\n".join(out.get("traceback", [])))
            ename, evalue = out.get("ename", "Error"), out.get("evalue", "")
            tags = cell.metadata.get("tags", [])
            if "kfp-jupyter-outputs" in tags:
                return _KfpjError(evalue if ename == "_KfpjError" else f"{ename}: {evalue}")
            number = cell.metadata.get("kfp_jupyter_cell")
            at = re.search(r"Cell In\[\d+\], line (\d+)", text)
            where = f"cell {number}" if number else "the injected parameters cell"
            if at:
                where += f", line {at.group(1)}"
            print(f"kfp-jupyter: notebook {path}, {where}:\n{text}", file=sys.stderr, flush=True)
            kind = ename if ename.isidentifier() else "NotebookError"
            error = type(kind, (Exception,), {"__module__": "builtins"})
            return error(f"{evalue} (notebook {path}, {where})")
    return _KfpjError(f"step {step!r}: notebook {path} failed without an error in a cell")


def _kfpj_keep_notebook(nb, path, keep):
    # Keep the executed notebook (and its HTML, when nbconvert is installed) as an artifact.
    import os

    import nbformat

    os.makedirs(keep, exist_ok=True)
    cells = [
        c
        for c in nb.cells
        if "kfp-jupyter-outputs" not in c.metadata.get("tags", [])
        or any(o.get("output_type") == "error" for o in c.get("outputs", []))
    ]
    for c in cells:
        c.metadata.pop("kfp_jupyter_cell", None)
    nb.cells = cells
    stem = os.path.basename(os.path.normpath(keep))
    nbformat.write(nb, os.path.join(keep, stem + ".ipynb"))
    try:
        from nbconvert import HTMLExporter
    except ImportError:
        print(
            "kfp-jupyter: nbconvert is not installed, so the executed notebook is kept as "
            ".ipynb only (install nbconvert for an HTML copy)",
            flush=True,
        )
        return
    html, _ = HTMLExporter().from_notebook_node(nb)
    with open(os.path.join(keep, stem + ".html"), "w", encoding="utf-8") as f:
        f.write(html)


# --- notebook: end
