"""What a call does to the objects it is given, judged from the call alone.

The walk of names.py asks this at every call: a method is assumed to change a variable it is called
on unless it is known not to, and a function of the notebook's own changes what its body changes.
The vocabulary (which methods keep their object, which change it) grows on its own, apart from the
walk that uses it.

Calls that change the process rather than an object (`np.random.seed`, `os.environ[...] = ...`)
are in one table, PROCESS_STATE: a later step, in a process of its own, runs without that state.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import Problem

if TYPE_CHECKING:
    from .blocks import CodeBlock


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Methods that do not change the object they are called on (a logger's, a path's and a storage
#: client's act on the world outside: their object is the same afterwards).
PURE_METHODS = _words(
    """
    head tail describe info copy mean median mode sum min max std var sem count nunique unique
    value_counts isna isnull notna notnull any all idxmax idxmin argmax argmin round abs corr cov
    quantile numpy astype reshape flatten ravel transpose dot sample groupby agg aggregate apply
    map applymap pipe filter query select_dtypes get keys values items index rindex assign
    predict predict_proba predict_log_proba decision_function score score_samples transform
    inverse_transform evaluate kneighbors plot hist boxplot format format_map startswith endswith
    split rsplit splitlines join strip lstrip rstrip lower upper title capitalize casefold replace
    find rfind encode decode zfill center ljust rjust partition rpartition isdigit isalpha
    isalnum isspace isnumeric issubset issuperset isdisjoint union intersection difference
    symmetric_difference merge concat combine_first compare join drop dropna fillna bfill ffill
    interpolate rename rename_axis reindex reset_index set_index set_axis sort_values sort_index
    argsort searchsorted nonzero iterrows itertuples iteritems where mask clip cumsum cumprod
    cummax cummin diff pct_change shift rolling expanding ewm resample memory_usage equals isin
    between nlargest nsmallest duplicated drop_duplicates explode melt pivot pivot_table stack
    unstack squeeze item detach cpu cuda float double int long half bool view permute unsqueeze
    contiguous clone size dim numel state_dict parameters named_parameters buffers
    named_buffers children named_children modules named_modules summary most_common elements
    total match fullmatch search findall finditer sub subn exists resolve absolute glob rglob
    iterdir read_text read_bytes with_suffix with_name with_stem joinpath relative_to stat
    save savefig save_model save_pretrained save_weights show dump dumps tobytes tofile
    to_numpy to_list tolist to_dict to_json to_csv to_parquet to_pickle to_string to_frame
    to_markdown to_html to_records to_excel to_sql to_latex to_xarray to_period to_timestamp
    debug warning warn error exception critical log
    mkdir touch write_text write_bytes unlink rmdir chmod
    upload_file download_file put_object get_object
    """
)
#: Methods that change their object even on a part of a variable (`obj.items.append(1)`).
MUTATING_METHODS = _words(
    """
    fit partial_fit fit_transform fit_predict fit_resample train eval compile
    append extend insert pop popitem remove clear add discard update setdefault sort reverse
    intersection_update difference_update symmetric_difference_update
    load_state_dict zero_grad requires_grad_ set_params set_output
    """
)
#: Methods whose result is a view into their object (`model.parameters()`).
VIEW_METHODS = frozenset({"parameters", "named_parameters", "buffers", "modules", "children"})
#: Lower-case factories that wrap their arguments without copying them.
WRAPPING_FACTORIES = frozenset(
    {"make_pipeline", "make_union", "asarray", "asanyarray", "from_numpy"}
)
#: Functions that change their first argument in place (`random.shuffle(xs)`, `np.random.shuffle(a)`).
INPLACE_FUNCTIONS = frozenset({"shuffle", "fill_diagonal", "copyto", "putmask", "place"})


@dataclass(frozen=True)
class FunctionEffects:
    """What calling a function does to names outside it, so that a call site can account for it."""

    params: tuple[str, ...] = ()
    #: parameters whose object the function changes in place
    changed_params: frozenset[str] = frozenset()
    #: outside objects the function changes in place
    changed_globals: frozenset[str] = frozenset()
    #: names the function binds with a `global` statement
    bound_globals: frozenset[str] = frozenset()


def root_name(node: ast.AST) -> ast.Name | None:
    """The variable at the root of `a.b[c].d`, or None (e.g. for `f().x`)."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node if isinstance(node, ast.Name) else None


def _is_pure(method: str) -> bool:
    return method in PURE_METHODS or method.startswith(("to_", "get_", "is_", "as", "_repr"))


def changed_by_call(
    call: ast.Call, known: Mapping[str, FunctionEffects] = {}
) -> tuple[list[ast.expr], frozenset[str], frozenset[str]]:
    """What a call changes: (expressions changed in place, outside names changed, names bound)."""
    changed: list[ast.expr] = []
    f = call.func
    if isinstance(f, ast.Attribute) and root_name(f.value) is not None:
        inplace = any(
            k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in call.keywords
        )
        on_variable = isinstance(f.value, ast.Name)
        if inplace or f.attr in MUTATING_METHODS or (on_variable and not _is_pure(f.attr)):
            changed.append(f.value)
    fname = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
    if fname in INPLACE_FUNCTIONS and call.args:
        changed.append(call.args[0])
    effects = known.get(f.id) if isinstance(f, ast.Name) else None
    if effects is None:
        return changed, frozenset(), frozenset()
    for i, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            break
        if i < len(effects.params) and effects.params[i] in effects.changed_params:
            changed.append(arg)
    for k in call.keywords:
        if k.arg is not None and k.arg in effects.changed_params:
            changed.append(k.value)
    return changed, effects.changed_globals, effects.bound_globals


def built_around(value: ast.expr) -> set[str]:
    """Variables an object shares state with, when `value` builds it around them.

    A constructor call (`SGD(model.parameters())`, `Pipeline([('m', model)])`, `Trainer(model=m)`)
    keeps references to its arguments, so changing the new object (`opt.step()`, `pipe.fit()`)
    changes them too. Plain functions and methods are assumed to return new objects.
    """
    if not isinstance(value, ast.Call):
        return set()
    f = value.func
    callee = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    if not (callee[:1].isupper() or callee in WRAPPING_FACTORIES):
        return set()
    out: set[str] = set()
    todo: list[ast.expr] = [*value.args, *(k.value for k in value.keywords)]
    while todo:
        e = todo.pop()
        if isinstance(e, ast.Starred):
            todo.append(e.value)
        elif isinstance(e, ast.Name):
            out.add(e.id)
        elif isinstance(e, (ast.List, ast.Tuple, ast.Set)):
            todo.extend(e.elts)
        elif isinstance(e, ast.Dict):
            todo.extend(v for v in e.values if v is not None)
        elif (
            isinstance(e, ast.Call)
            and isinstance(e.func, ast.Attribute)
            and e.func.attr in VIEW_METHODS
            and isinstance(e.func.value, ast.Name)
        ):
            out.add(e.func.value.id)
    return out


# --- state of the whole process, which a step's own process starts without --------------------


@dataclass(frozen=True)
class ProcessState:
    """Something a call sets for the whole process (a global seed, an environment variable): in
    the notebook every later cell has it, in a pipeline only the rest of the step that sets it."""

    #: what a later step does not get
    what: str
    #: qualified names (prefixes) whose use in a later step depends on it; IMPORTS for any
    #: import statement, RELATIVE_PATH for a relative path given to a call
    uses: tuple[str, ...]
    #: the other fix, after moving the call into the imports cell
    instead: str


IMPORTS = "<import>"
RELATIVE_PATH = "<relative path>"
_RNG = "set the seed in each step that uses it"
_ENV = ProcessState(
    "environment variables",
    ("os.environ", "os.environb", "os.getenv", "os.getenvb", "os.system", "os.popen", "subprocess"),
    "set it in each step that reads it",
)
_CWD = ProcessState(
    "the working folder",
    ("builtins.open", "os", "pathlib", "glob", "shutil", RELATIVE_PATH),
    "use absolute paths in the steps",
)
_MPL = ProcessState(
    "matplotlib's settings", ("matplotlib", "seaborn"), "set them in each step that plots"
)
_PATH = ProcessState("the module search path", (IMPORTS,), "set it in each step that imports")
_PANDAS = ProcessState("pandas options", ("pandas",), "set them in each step that needs them")

#: What sets process-wide state, by qualified name (aliases resolved: `np.random.seed` is
#: `numpy.random.seed`): `NAME()` a call, `NAME[]` an item set, deleted or changed by a method
#: (`os.environ['X'] = ...`, `os.environ.update(...)`), `NAME.` an attribute set below it.
PROCESS_STATE: dict[str, ProcessState] = {
    "random.seed()": ProcessState(
        "the seed of Python's global random generator", ("random",), _RNG
    ),
    "numpy.random.seed()": ProcessState("numpy's global random seed", ("numpy.random",), _RNG),
    **dict.fromkeys(
        ("torch.manual_seed()", "torch.cuda.manual_seed()", "torch.cuda.manual_seed_all()"),
        ProcessState("torch's global random seed", ("torch",), _RNG),
    ),
    **dict.fromkeys(
        (
            "tensorflow.random.set_seed()",
            "tensorflow.set_random_seed()",
            "tensorflow.compat.v1.set_random_seed()",
            "keras.utils.set_random_seed()",
        ),
        ProcessState("TensorFlow's global random seed", ("tensorflow", "keras"), _RNG),
    ),
    **dict.fromkeys(("os.environ[]", "os.putenv()", "os.unsetenv()"), _ENV),
    "os.chdir()": _CWD,
    **dict.fromkeys(("pandas.set_option()", "pandas.reset_option()", "pandas.options."), _PANDAS),
    "numpy.set_printoptions()": ProcessState(
        "numpy's print options", ("numpy",), "set them in each step that prints arrays"
    ),
    "sklearn.set_config()": ProcessState(
        "scikit-learn's configuration", ("sklearn",), "set it in each step that uses scikit-learn"
    ),
    **dict.fromkeys(
        ("warnings.filterwarnings()", "warnings.simplefilter()"),
        ProcessState("the warning filters", ("warnings",), "set them in each step that needs them"),
    ),
    **dict.fromkeys(
        (
            *("matplotlib.rcParams[]", "matplotlib.pyplot.rcParams[]", "matplotlib.rc()"),
            *("matplotlib.pyplot.rc()", "matplotlib.style.use()", "matplotlib.pyplot.style.use()"),
            *("seaborn.set()", "seaborn.set_theme()", "seaborn.set_style()"),
            "seaborn.set_context()",
        ),
        _MPL,
    ),
    "sys.path[]": _PATH,
    **dict.fromkeys(
        ("logging.basicConfig()", "logging.disable()"),
        ProcessState(
            "the logging configuration", ("logging",), "configure it in each step that logs"
        ),
    ),
}

#: what `uses` holds for an environment variable read by its name (`os.getenv('HOME')`) and one
#: set by its name (`os.environ['MODE'] = ...`; `*` when a step sets one it does not name): a
#: later step depends on a variable it reads by that name, or on any when it reads them otherwise
_ENV_READ = "<env read>"
_ENV_SET = "<env set>"
_ENV_READERS = frozenset({"os.environ.get", "os.environb.get", "os.getenv", "os.getenvb"})
_ENV_MAPS = frozenset({"os.environ", "os.environb"})

#: relative file paths as calls take them (`read_csv('train.csv')`, `open('./out/m.pkl')`)
_RELATIVE_PATH = re.compile(r"^(?:\.\.?/)?[\w.-]+(?:/[\w.-]+)*\.[A-Za-z0-9]{1,8}$|^\.\.?/")


def import_aliases(tree: ast.AST, into: dict[str, str] | None = None) -> dict[str, str]:
    """What each imported name is (`np` -> `numpy`, `plt` -> `matplotlib.pyplot`, `seed` ->
    `random.seed`), bound as names.py binds imports (`import os.path` binds `os`)."""
    out = {} if into is None else into
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                if a.name != "*":
                    out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def qualified(node: ast.AST, aliases: Mapping[str, str]) -> str | None:
    """The dotted name an expression names through the imports (`np.random.seed` ->
    `numpy.random.seed`); None when its root is no imported name (`open` is `builtins.open`)."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    base = aliases.get(node.id, "builtins.open" if node.id == "open" else None)
    return None if base is None else ".".join([base, *reversed(attrs)])


def _set_here(node: ast.AST, aliases: Mapping[str, str]) -> ProcessState | None:
    """The process state `node` sets, if any: a call, or an item or attribute it assigns or
    deletes."""
    if isinstance(node, ast.Call):
        q = qualified(node.func, aliases)
        if q is None:
            return None
        owner, _, method = q.rpartition(".")
        if method in MUTATING_METHODS or method in ("__setitem__", "__delitem__"):
            found = PROCESS_STATE.get(f"{owner}[]")
            if found is not None:
                return found
        return PROCESS_STATE.get(f"{q}()")
    if not isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del)):
        return None
    if isinstance(node, ast.Subscript):
        q = qualified(node.value, aliases)
        return None if q is None else PROCESS_STATE.get(f"{q}[]")
    if isinstance(node, ast.Attribute):
        q = qualified(node, aliases) or ""
        return next((s for k, s in PROCESS_STATE.items() if k[-1] == "." and q.startswith(k)), None)
    return None


def _constant_key(args: list[ast.expr]) -> str | None:
    first = args[0] if args else None
    if isinstance(first, ast.Constant) and isinstance(first.value, (str, bytes)):
        value = first.value
        return value if isinstance(value, str) else value.decode(errors="replace")
    return None


def _env_read(node: ast.AST, aliases: Mapping[str, str]) -> tuple[str, list[ast.expr]] | None:
    """An environment variable read by a constant name (`os.environ['HOME']`, `os.getenv('X')`,
    `'X' in os.environ`): its name, and the parts of `node` still to look at."""
    if isinstance(node, ast.Call) and qualified(node.func, aliases) in _ENV_READERS:
        key = _constant_key(node.args)
        rest = [*node.args[1:], *(k.value for k in node.keywords)]
    elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        key = _constant_key([node.slice]) if qualified(node.value, aliases) in _ENV_MAPS else None
        rest = []
    elif (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], (ast.In, ast.NotIn))
        and qualified(node.comparators[0], aliases) in _ENV_MAPS
    ):
        key, rest = _constant_key([node.left]), []
    else:
        return None
    return None if key is None else (key, rest)


def _env_set(node: ast.AST) -> list[str]:
    """The environment variables a setting node names (`os.environ['X'] = 1`, `os.putenv('X',
    v)`, `os.environ.update(X='1')`); `*` when it names them otherwise (`os.environ[k] = v`)."""
    if isinstance(node, ast.Subscript):
        return [_constant_key([node.slice]) or "*"]
    if not isinstance(node, ast.Call):
        return ["*"]
    if not (isinstance(node.func, ast.Attribute) and node.func.attr == "update"):
        return [_constant_key(node.args) or "*"]
    keys = [k.arg for k in node.keywords]
    if node.args:
        d = node.args[0]
        if len(node.args) > 1 or not isinstance(d, ast.Dict):
            return ["*"]
        keys += [None if k is None else _constant_key([k]) for k in d.keys]
    return [k or "*" for k in keys] if keys else ["*"]


@dataclass
class _Scan:
    """What one block of code sets and uses of the process's state."""

    #: each state it sets, with the first node that sets it
    sets: dict[ProcessState, ast.AST] = field(default_factory=dict)
    #: qualified names it uses (IMPORTS if it imports, RELATIVE_PATH if it names a relative path)
    uses: set[str] = field(default_factory=set)
    #: the names it reads (to find the functions cell's functions it calls)
    reads: set[str] = field(default_factory=set)


def _scan(tree: ast.AST, aliases: Mapping[str, str]) -> _Scan:
    out = _Scan()
    #: each node to look at, with the statement it is part of (to quote an assignment whole)
    todo: list[tuple[ast.AST, ast.AST]] = [(tree, tree)]
    while todo:
        node, stmt = todo.pop()
        stmt = node if isinstance(node, ast.stmt) else stmt
        read = _env_read(node, aliases)
        if read is not None:
            out.uses.add(_ENV_READ + read[0])
            todo.extend((child, stmt) for child in read[1])
            continue
        state = _set_here(node, aliases)
        said = node if isinstance(node, ast.Call) else stmt
        if state is _ENV:
            out.uses.update(_ENV_SET + key for key in _env_set(node))
        if state is not None and (state not in out.sets or _at(said) < _at(out.sets[state])):
            out.sets[state] = said
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.uses.add(IMPORTS)
        if isinstance(node, ast.Call) and any(
            isinstance(a, ast.Constant)
            and isinstance(a.value, str)
            and _RELATIVE_PATH.match(a.value)
            for a in node.args
        ):
            out.uses.add(RELATIVE_PATH)
        root = node
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name):  # the whole chain: `np.random.default_rng`, not `np.random`
            q = qualified(node, aliases)
            if q is not None:
                out.uses.add(q)
            out.reads.add(root.id)
            continue
        todo.extend((child, stmt) for child in ast.iter_child_nodes(node))
    return out


def _line(node: ast.AST) -> int:
    return getattr(node, "lineno", 0)


def _at(node: ast.AST) -> tuple[int, int]:
    return _line(node), getattr(node, "col_offset", 0)


#: independent generators, which the global seeds do not reach
_OWN_GENERATORS = frozenset(
    {
        *("numpy.random.default_rng", "numpy.random.Generator", "numpy.random.RandomState"),
        *("numpy.random.SeedSequence", "numpy.random.PCG64", "random.Random"),
        *("random.SystemRandom", "torch.Generator"),
    }
)


def _uses(state: ProcessState, uses: set[str]) -> bool:
    return any(
        u == p or (u.startswith(p + ".") and u not in _OWN_GENERATORS)
        for u in uses
        for p in state.uses
    )


def _used_later(state: ProcessState, setter: set[str], later: set[str]) -> bool:
    """Whether a later step's `later` uses depend on `state` as a step with the `setter` uses
    sets it: an environment variable only when the later step reads that one, or any."""
    if _uses(state, later):
        return True
    if state is not _ENV:
        return False
    read = {u.removeprefix(_ENV_READ) for u in later if u.startswith(_ENV_READ)}
    set_ = {u.removeprefix(_ENV_SET) for u in setter if u.startswith(_ENV_SET)}
    return bool(read & set_ or (read and "*" in set_))


def _function_scans(functions: str, aliases: Mapping[str, str]) -> dict[str, _Scan]:
    """What each function of the functions cell sets and uses, with what the functions it calls
    do: a step that calls `seed_everything(42)` sets the seeds."""
    try:
        tree = ast.parse(functions)
    except SyntaxError:
        return {}
    scans = {
        f.name: _scan(f, aliases)
        for f in tree.body
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }
    changed = True
    while changed:
        changed = False
        for name, s in scans.items():
            for other in sorted(s.reads & scans.keys() - {name}):
                o = scans[other]
                new = {k: v for k, v in o.sets.items() if k not in s.sets}
                if new or not o.uses <= s.uses:
                    s.sets.update(new)
                    s.uses |= o.uses
                    changed = True
    return scans


def _step_scan(code: str, aliases: dict[str, str], functions: dict[str, _Scan]) -> _Scan | None:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    scan = _scan(tree, import_aliases(tree, dict(aliases)))
    for name in sorted(scan.reads & functions.keys()):
        f = functions[name]
        scan.uses |= f.uses
        calls = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
        ]
        for state in f.sets:
            if calls and state not in scan.sets:
                scan.sets[state] = min(calls, key=_at)
    return scan


def warn_lost_process_state(
    shared: tuple[str, str],
    steps: list[tuple[str, CodeBlock]],
    warnings: list[Problem],
) -> None:
    """A step that sets process-wide state (a global seed, an environment variable) which a later
    step uses: in the notebook the later cells have it, but each step runs in a process of its
    own, so the later step runs without it, and silently gives other results. A warning, not an
    error: the later step may not depend on it. `shared` is the imports and functions cells'
    code (which every step runs first), `steps` the Python steps in run order."""
    aliases: dict[str, str] = {}
    for code in shared:
        try:
            import_aliases(ast.parse(code), aliases)
        except SyntaxError:
            continue
    functions = _function_scans(shared[1], aliases)
    scans = [(name, block, _step_scan(block.code, aliases, functions)) for name, block in steps]
    for i, (name, block, scan) in enumerate(scans):
        if scan is None:
            continue
        for state, node in sorted(scan.sets.items(), key=lambda s: _at(s[1])):
            later = [
                n
                for n, _, s in scans[i + 1 :]
                if s is not None and state not in s.sets and _used_later(state, scan.uses, s.uses)
            ]
            if later:
                warnings.append(_lost(state, node, block, name, later))


def _lost(
    state: ProcessState, node: ast.AST, block: CodeBlock, step: str, later: list[str]
) -> Problem:
    text = ast.get_source_segment(block.code, node) or ast.unparse(node)
    if "\n" in text or len(text) > 60:
        text = text.split("\n")[0][:57] + "..."
    cell, line = block.locate(_line(node))
    them = ", ".join(repr(n) for n in later[:5]) + (
        f" and {len(later) - 5} more" if len(later) > 5 else ""
    )
    one = len(later) == 1
    return Problem(
        f"{text!r} sets {state.what} for the rest of this step only: each step runs in a process "
        f"of its own, so the later step{'' if one else 's'} {them} (which "
        f"{'uses' if one else 'use'} it) {'runs' if one else 'run'} without it, and may give "
        "other results than the notebook run top to bottom",
        cell=cell,
        step=step,
        line=line,
        fix="move it into the imports (or functions) cell, which every step runs first, or "
        f"{state.instead}",
    )
