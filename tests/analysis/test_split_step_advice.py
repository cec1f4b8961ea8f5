"""A step read before the step that defines what it reads gets advice that works when followed.

A step tagged in cells on both sides of another step runs all its cells at once, so its lower
cells cannot read what the step in between defines. The advice used to be "tag this step
'prev:two'", and following it gave the mirror error ("tag this step 'prev:one'"): a cycle. The
error now says the step is split and to give the lower cell a step of its own; `prev:` is
offered only where it makes no cycle. Each case follows the advice and checks the notebook then
compiles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from nbutil import code, make_notebook

from kfp_jupyter import NotebookError, Pipeline, load_notebook

if TYPE_CHECKING:
    from kfp_jupyter.errors import Problem


def load(tmp_path: Path, cells: list[Any]) -> Pipeline:
    return load_notebook(make_notebook(tmp_path / "nb.ipynb", cells))


def one_problem(tmp_path: Path, cells: list[Any]) -> Problem:
    with pytest.raises(NotebookError) as e:
        load(tmp_path, cells)
    (problem,) = e.value.problems
    assert problem.fix, str(problem)
    return problem


def flows(p: Pipeline) -> dict[str, dict[str, str]]:
    """{step: {input variable: producing step}}"""
    return {s.name: {i.name: i.producer for i in s.inputs} for s in p.steps}


#: the reviewer's notebook: step 'one' in cells 1 and 3, around step 'two', which reads from it
SPLIT = [code("x = 1", "step:one"), code("y = x + 1", "step:two"), code("z = y + 1", "step:one")]


def test_the_command_line_says_the_step_is_split_and_how_to_mend_it(tmp_path: Path) -> None:
    nb = make_notebook(tmp_path / "split.ipynb", SPLIT)
    r = subprocess.run(
        [sys.executable, "-m", "kfp_jupyter.cli.main", "compile", str(nb), "-o", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "cell 3, line 1 / step 'one': name 'y' is read but nothing before" in r.stderr
    assert "step 'one' is split around step 'two'" in r.stderr
    assert "its cells 1 and 3 have cell 2 of step 'two' between them" in r.stderr
    assert "fix: give cell 3 a step of its own (tag it 'step:NEW_NAME')" in r.stderr
    # the old advice would make a cycle, and the error says so rather than offering it
    assert "would make a cycle: step 'two' reads 'x' from it" in r.stderr
    assert "or tag this step 'prev:two'" not in r.stderr
    assert r.stdout == ""


def test_following_the_advice_a_step_of_its_own_compiles(tmp_path: Path) -> None:
    cells = [*SPLIT[:2], code("z = y + 1", "step:three")]
    assert flows(load(tmp_path, cells)) == {"one": {}, "two": {"x": "one"}, "three": {"y": "two"}}


def test_following_the_advice_part_of_the_step_in_between_compiles(tmp_path: Path) -> None:
    cells = [*SPLIT[:2], code("z = y + 1", "step:two")]
    assert flows(load(tmp_path, cells)) == {"one": {}, "two": {"x": "one"}}


def test_the_part_is_named_by_its_first_cell_and_the_step_by_its_cell_above(
    tmp_path: Path,
) -> None:
    """Cells 1-2 of 'one', cell 3 of 'two', cells 4-5 of 'one' (5 continues 4 and reads)."""
    problem = one_problem(
        tmp_path,
        [
            code("x = 1", "step:one"),
            code("w = x"),
            code("y = x + 1", "step:two"),
            code("v = 0", "step:one"),
            code("z = y + v"),
        ],
    )
    assert problem.cell == 5 and problem.step == "one"
    assert "its cells 2 and 4 have cell 3 of step 'two' between them" in problem.message
    assert "so cell 4 runs before step 'two'" in problem.message
    assert problem.fix is not None and problem.fix.startswith("give cell 4 a step of its own")


def test_a_split_step_without_a_cycle_is_also_offered_prev(tmp_path: Path) -> None:
    """Step 'two' reads nothing of 'one': running all of 'one' after 'two' works too."""
    cells = [code("x = 1", "step:one"), code("y = 2", "step:two"), code("z = y", "step:one")]
    problem = one_problem(tmp_path, cells)
    assert "step 'one' is split around step 'two'" in problem.message
    assert problem.fix is not None and problem.fix.endswith("or tag this step 'prev:two'")
    followed = [code("x = 1", "step:one", "prev:two"), *cells[1:]]
    assert flows(load(tmp_path, followed)) == {"two": {}, "one": {"y": "two"}}


def test_the_mirror_error_says_which_prev_tag_to_remove(tmp_path: Path) -> None:
    """Where the old advice led: 'one' tagged 'prev:two', so 'two' reads 'x' before 'one' runs,
    though cell 1 defines it above. Removing the tag brings back the split error, whose advice
    then works."""
    problem = one_problem(
        tmp_path, [code("x = 1", "step:one"), SPLIT[1], code("z = y + 1", "step:one", "prev:two")]
    )
    assert problem.cell == 2 and problem.step == "two"
    assert "step 'one' defines it in cell 1, above, but runs after this step" in problem.message
    assert "'prev:two'" in problem.message
    assert problem.fix == "remove the tag 'prev:two' from step 'one'"
    assert "prev:one" not in problem.fix


def test_prev_through_another_step_is_named_as_the_prev_tags(tmp_path: Path) -> None:
    """'one' runs after 'mid', which runs after 'two': no tag of 'one' names 'two' itself."""
    problem = one_problem(
        tmp_path,
        [
            code("x = 1", "step:one", "prev:mid"),
            code("y = x", "step:two"),
            code("m = 1", "step:mid", "prev:two"),
        ],
    )
    assert problem.step == "two"
    assert "runs after this step, as the 'prev:' tags say" in problem.message
    assert problem.fix == "change the 'prev:' tags so that step 'one' runs before this one"


def test_prev_is_not_offered_where_it_makes_a_cycle(tmp_path: Path) -> None:
    """'early' reads what 'later' defines, and 'later' reads what 'early' defines."""
    problem = one_problem(
        tmp_path, [code("a = 1\nb = late", "step:early"), code("late = a", "step:later")]
    )
    assert problem.fix == (
        "step 'later' defines it later; move that code above this step (tagging this step "
        "'prev:later' would make a cycle: step 'later' reads 'a' from it)"
    )


def test_prev_is_still_offered_where_it_works(tmp_path: Path) -> None:
    problem = one_problem(
        tmp_path, [code("b = late", "step:early"), code("late = 1", "step:later")]
    )
    assert problem.fix == (
        "step 'later' defines it later; move that code above this step, or tag this step "
        "'prev:later'"
    )
    followed = [code("b = late", "step:early", "prev:later"), code("late = 1", "step:later")]
    assert flows(load(tmp_path, followed)) == {"later": {}, "early": {"late": "later"}}
