"""What a call does to the objects it is given, judged from the call alone.

The walk of names.py asks this at every call: a method is assumed to change a variable it is called
on unless it is known not to, and a function of the notebook's own changes what its body changes.
The vocabulary (which methods keep their object, which change it) grows on its own, apart from the
walk that uses it.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass


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
