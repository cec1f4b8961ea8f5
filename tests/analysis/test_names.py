"""What one block of code reads, defines and changes (the unit under the data-flow analysis),
and how IPython syntax becomes Python before it is analysed."""

from __future__ import annotations

import ast
import textwrap

import pytest

from kfp_jupyter.analysis.names import BUILTINS, BlockNames, analyse_block
from kfp_jupyter.notebook.source import to_python


def names(code: str, **kw: object) -> BlockNames:
    return analyse_block(textwrap.dedent(code), **kw)  # type: ignore[arg-type]


def reads(code: str) -> set[str]:
    """Names read from outside, builtins aside (the data flow ignores those)."""
    return set(names(code).reads) - BUILTINS


def defines(code: str) -> set[str]:
    return set(names(code).defines)


def mutates(code: str) -> set[str]:
    return set(names(code).mutates)


# -- assignment targets of every kind --------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "bound"),
    [
        ("a, (b, c) = f()", {"a", "b", "c"}),
        ("[a, b] = f()", {"a", "b"}),
        ("first, *rest = f()", {"first", "rest"}),
        ("x: int = 1", {"x"}),
        ("a = b = 1", {"a", "b"}),
        ("for i, (k, v) in enumerate(d): pass", {"i", "k", "v"}),
        ("with open('f') as fh, open('g') as (a, b): pass", {"fh", "a", "b"}),
        ("if (n := len(xs)) > 1: pass", {"n"}),
        ("ys = [last := v for v in range(3)]", {"ys", "last"}),
        ("import os.path, numpy as np\nfrom a.b import c as d, e", {"os", "np", "d", "e"}),
        ("def f(x): return x", {"f"}),
        ("async def g(): pass", {"g"}),
        ("class K: pass", {"K"}),
        (
            "match p:\n case [a, *others]: pass\n case {'k': v, **kw}: pass\n case P(x=q) as w: pass",
            {"a", "others", "v", "kw", "q", "w"},
        ),
    ],
)
def test_assignment_targets(code: str, bound: set[str]) -> None:
    got = names(code)
    assert bound <= set(got.defines)
    assert not bound & set(got.reads)


def test_augmented_assignment_reads_then_binds() -> None:
    got = names("total += 1")
    assert set(got.reads) == {"total"}
    assert "total" in got.defines


def test_augmented_assignment_after_binding_reads_nothing() -> None:
    assert reads("total = 0\nfor i in range(3):\n    total += i") == set()


def test_evaluation_order_decides_what_is_read() -> None:
    assert reads("x = x + 1") == {"x"}
    assert reads("x = 1\ny = x + 1") == set()
    assert reads("y = x\nx = 1") == {"x"}


def test_except_as_is_bound_in_its_handler_and_gone_after() -> None:
    got = names("try:\n    pass\nexcept ValueError as err:\n    msg = str(err)")
    assert "err" not in got.reads and "msg" in got.defines
    # Python deletes `err` at the end of the handler: nothing to hand on
    assert "err" not in got.defines


def test_match_reads_subject_values_and_classes() -> None:
    got = reads(
        "match cmd:\n    case Point(x=0):\n        pass\n    case Colour.RED:\n        pass"
    )
    assert got == {"cmd", "Point", "Colour"}


def test_import_inside_a_step_is_an_import_not_data() -> None:
    got = names("import seaborn as sns\nfrom sklearn.svm import SVC")
    assert got.imports == {
        "sns": "import seaborn as sns",
        "SVC": "from sklearn.svm import SVC",
    }


def test_star_import_is_reported() -> None:
    assert names("from math import *").star_imports == [1]


# -- reads inside functions, lambdas, classes and comprehensions --------------------------


def test_comprehension_reads_outside_names_but_not_its_own() -> None:
    assert reads("ys = [x * k for x in xs if x > lo]") == {"xs", "k", "lo"}
    assert reads("d = {k: v for k, v in pairs.items()}") == {"pairs"}
    assert reads("g = sum(a * b for a in r for b in range(a))") == {"r"}


def test_walrus_in_comprehension_binds_outside_and_is_not_read() -> None:
    got = names("ys = [(y := f(x)) + y for x in xs]")
    assert set(got.reads) == {"f", "xs"}
    assert "y" in got.defines


def test_function_body_reads_count_when_the_block_never_binds_them() -> None:
    got = names("def f(a):\n    return a * scale + offset()\nresult = f(1)")
    assert set(got.reads) == {"scale", "offset"}
    assert got.late_reads == {"scale", "offset"}


def test_function_body_reads_of_names_bound_before_the_def_are_local() -> None:
    assert reads("scale = 2\ndef f(a):\n    return a * scale") == set()


def test_function_body_reads_of_names_bound_later_are_soft() -> None:
    got = names("def f():\n    return df.shape\nn = f()\ndf = None")
    assert "df" not in got.reads
    assert set(got.soft_reads) == {"df"}


def test_lambda_reads_and_defaults() -> None:
    got = names("key = lambda r, w=weights: r[col] * w")
    assert set(got.reads) == {"weights", "col"}


def test_function_parameters_locals_globals_and_nested_functions() -> None:
    code = """
    def outer(p, *args, k=1, **kw):
        local = p + len(args) + k + len(kw)
        def inner():
            return local + free_in_inner
        import math
        return inner() + math.pi
    """
    assert reads(code) == {"free_in_inner"}


def test_class_body_runs_now_and_methods_later() -> None:
    code = """
    class Config(Base):
        lr = base_lr * 2
        def scaled(self):
            return self.lr * factor
    """
    got = names(code)
    assert {"Base", "base_lr", "factor"} == set(got.reads)
    assert got.late_reads == {"factor"}


def test_decorators_defaults_and_annotations_are_read_where_the_function_is_defined() -> None:
    got = reads("@register(reg)\ndef f(x: Frame = default) -> Out:\n    return x")
    assert got == {"register", "reg", "Frame", "default", "Out"}


# -- del ----------------------------------------------------------------------------------


def test_del_reads_and_deletes() -> None:
    got = names("del tmp")
    assert "tmp" in got.reads and set(got.deletes) == {"tmp"}
    assert "tmp" not in got.defines


def test_del_then_bind_again_is_not_a_delete() -> None:
    got = names("del tmp\ntmp = 1")
    assert not got.deletes and "tmp" in got.defines


def test_del_of_an_item_changes_the_object() -> None:
    got = names("del df['col']")
    assert "df" in got.mutates and not got.deletes


# -- changing objects in place ------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "changed"),
    [
        ("df['x'] = 1", "df"),
        ("df.loc[0, 'a'] = 1", "df"),
        ("obj.attr = 1", "obj"),
        ("obj.inner.attr = 1", "obj"),
        ("counts['a'] += 1", "counts"),
        ("model.fit(X, y)", "model"),
        ("scaler.fit_transform(X)", "scaler"),
        ("lst.append(1)", "lst"),
        ("d.update(a=1)", "d"),
        ("df.drop(columns=['a'], inplace=True)", "df"),
        ("df['a'].fillna(0, inplace=True)", "df"),
        ("self_made.items.append(1)", "self_made"),
        ("rng.integers(0, 10)", "rng"),  # an unknown method on a variable: assumed to change it
        ("random.shuffle(deck)", "deck"),
        ("np.random.shuffle(arr)", "arr"),
        ("[acc.append(i) for i in range(3)]", "acc"),
        ("ax.set_title('t')", "ax"),
    ],
)
def test_changes_in_place(code: str, changed: str) -> None:
    got = names(code)
    assert changed in got.mutates
    assert changed in got.reads  # changing it needs the upstream object


@pytest.mark.parametrize(
    "code",
    [
        "df.head()",
        "print(df.describe())",
        "model.predict(X)",
        "model.score(X, y)",
        "df.plot.scatter(x='a', y='b')",
        "df.plot(kind='bar')",
        "df['a'].hist()",
        "df.columns.tolist()",
        "df.groupby('a').sum().reset_index()",
        "df.to_csv('out.csv')",
        "df.drop(columns=['a'])",
        "fig.savefig('plot.png')",
        "s.str.lower()",
        "display(df)",
        "[r.name for r in rows]",
    ],
)
def test_read_only_calls_change_nothing(code: str) -> None:
    assert mutates(code) == set()


def test_function_that_changes_its_argument_changes_the_callers_object() -> None:
    code = """
    def add_features(frame, col='ratio'):
        frame[col] = frame.a / frame.b
    add_features(df)
    """
    got = names(code)
    assert "df" in got.mutates
    assert got.functions["add_features"].changed_params == {"frame"}


def test_known_functions_from_elsewhere_apply_their_effects() -> None:
    defs = names("def tidy(frame):\n    frame.dropna(inplace=True)\ndef log(msg):\n    print(msg)")
    got = names("tidy(data)\nlog(text)", known=defs.functions)
    assert set(got.mutates) == {"data"}


def test_function_that_changes_a_global() -> None:
    defs = names(
        "def remember(x):\n    seen.append(x)\ndef reset():\n    global counter\n    counter = 0"
    )
    got = names("remember(1)\nreset()", known=defs.functions)
    assert "seen" in got.mutates and "seen" in got.reads
    assert "counter" in got.defines


def test_rebinding_a_function_name_forgets_its_effects() -> None:
    defs = names("def tidy(frame):\n    frame.clear()")
    got = names("tidy = print\ntidy(data)", known=defs.functions)
    assert "data" not in got.mutates


@pytest.mark.parametrize(
    ("code", "changed"),
    [
        ("opt = torch.optim.SGD(model.parameters(), lr=0.1)\nopt.step()", "model"),
        ("opt = Adam(net.parameters())\nsched = StepLR(opt, 10)\nsched.step()", "net"),
        ("pipe = Pipeline([('s', scaler), ('m', clf)])\npipe.fit(X, y)", "clf"),
        ("pipe = make_pipeline(scaler, clf)\npipe.fit(X, y)", "scaler"),
        ("trainer = Trainer(model=bert, args=args)\ntrainer.train()", "bert"),
    ],
)
def test_changing_an_object_built_around_a_variable_changes_the_variable(
    code: str, changed: str
) -> None:
    assert changed in mutates(code)


@pytest.mark.parametrize(
    "code",
    [
        "items = list(data)\nitems.append(1)",
        "X = df.drop(columns=cols)\nX.fillna(0, inplace=True)",
        "opt = Adam(model.parameters())\nopt = None\nopt = []\nopt.append(1)",
        "pred = model.predict(X)\npred.sort()",
    ],
)
def test_copies_and_results_do_not_share_state(code: str) -> None:
    got = names(code)
    assert set(got.mutates) <= set(got.defines)  # only its own new objects change


def test_changing_own_variable_is_still_a_define() -> None:
    got = names("items = []\nitems.append(1)")
    assert "items" in got.defines and "items" not in got.reads


def test_syntax_error_raises_with_line() -> None:
    with pytest.raises(SyntaxError) as e:
        analyse_block("a = 1\nb = (\n")
    assert e.value.lineno is not None


# -- IPython syntax ---------------------------------------------------------------------------


def test_line_magics_and_shell_become_comments_keeping_line_numbers() -> None:
    src = "%matplotlib inline\n!pip install -q pandas\nimport pandas as pd\nfiles = !ls\ndf.head?"
    py = to_python(src)
    ast.parse(py.code)
    assert py.code.count("\n") == src.count("\n")
    assert "import pandas as pd" in py.code.splitlines()[2]
    assert py.notes


def test_time_magic_keeps_its_statement() -> None:
    py = to_python("%time model = fit(X)\n%timeit fit(X)")
    assert names(py.code).defines.keys() == {"model"}


def test_magic_like_lines_inside_a_multiline_string_stay() -> None:
    src = '%matplotlib inline\nq = """\n%s\n!important\n"""\nr = (\n    1\n)'
    py = to_python(src)
    tree = ast.parse(py.code)
    value = ast.literal_eval(tree.body[0].value)  # type: ignore[attr-defined]
    assert value == "\n%s\n!important\n"


def test_magic_inside_an_indented_block_keeps_the_block_valid() -> None:
    py = to_python("if True:\n    !echo hi\nx = 1")
    ast.parse(py.code)


def test_python_cell_magic_drops_its_line_and_others_drop_the_cell() -> None:
    timed = to_python("%%time\nx = 1")
    assert names(timed.code).defines.keys() == {"x"}
    bash = to_python("%%bash\necho $HOME\nx=1")
    assert names(bash.code).defines == {}
    assert "not Python" in bash.notes[0]


def test_plain_python_is_unchanged() -> None:
    src = "x = 5 % 3\ns = '!not shell'\n"
    assert to_python(src).code == src
