"""The local run history as a reviewer found it wanting: a live run whose pid means nothing here
(a runner in another PID namespace on a host of the same name) is left alone and cannot be
resumed twice; a store that cannot be written can still be read, and is left as it was;
`runs show --json` says why a run failed; `runs list --summary` counts the store as it is on disk;
a run id is never read as a pattern; another application's `history.db` is refused."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_support import CLI, kfpj, show, start_kfpj, tasks
from nbutil import code, make_notebook

from kfp_jupyter.cli.local_common import human_bytes
from kfp_jupyter.engine import resume_local
from kfp_jupyter.engine.history import History
from kfp_jupyter.engine.procinfo import RunnerId
from kfp_jupyter.engine.schema import MIGRATIONS
from kfp_jupyter.errors import UsageError

#: a pid above Linux's largest (2**22): no process here has it
NO_SUCH_PID = 2**22 + 12345


def _listed(store: Path) -> dict[str, Any]:
    p = kfpj("runs", "list", "--json", store=store)
    assert p.returncode == 0, p.stderr
    (entry,) = json.loads(p.stdout)
    return dict(entry)


def _failing(path: Path) -> Path:
    """make -> boom: `make` stores `values`, `boom` divides by zero in its cell's third line."""
    return make_notebook(
        path,
        [
            code("values = [1, 2]", "step:make"),
            code("x = len(values)\ny = 0\nz = x / y", "step:boom", "prev:make"),
        ],
    )


# --- a live run is never touched ------------------------------------------------------------


def _waiting(tmp_path: Path) -> tuple[Path, Path]:
    """A notebook whose second step waits until something is written to a FIFO (returned)."""
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    nb = make_notebook(
        tmp_path / "wait.ipynb",
        [
            code("a = 1", "step:first"),
            code(f"with open({str(fifo)!r}) as f:\n    f.read()\nb = a + 1", "step:wait"),
        ],
    )
    return nb, fifo


def _release(fifo: Path) -> None:
    """Let the waiting step go on (nothing happens if it is not waiting any more)."""
    with contextlib.suppress(OSError):
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, b"go")
        os.close(fd)


def _unshare_pid() -> list[str]:
    """The command line prefix that starts a program in a PID namespace of its own (with its own
    /proc), as in a container that shares this host's name; skips when it cannot be made."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare command")
    prefix = ["unshare", "-p", "-f", "--kill-child", "--mount-proc"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"no PID namespace can be made here: {probe.stderr.decode().strip()}")
    return prefix


@pytest.mark.parametrize("where", ["recorded pid means nothing here", "another PID namespace"])
def test_a_live_run_whose_pid_means_nothing_here_is_left_running(
    tmp_path: Path, where: str
) -> None:
    """The runner holds its run's lock while it runs: readers leave the run RUNNING and
    `runs resume` refuses it, whatever the pid recorded for it says; it then ends as it would."""
    nb, fifo = _waiting(tmp_path)
    store = tmp_path / "store"
    if where == "another PID namespace":
        prefix = _unshare_pid()
        runner = subprocess.Popen(
            [*prefix, *CLI, "run", str(nb), "--store", str(store)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    else:
        runner = start_kfpj("run", nb, store=store)
    try:
        assert runner.stdout is not None
        seen = ""
        for line in runner.stdout:  # blocks until the runner prints the step's start
            seen += line
            if re.search(r"\bwait\s+RUNNING\b", line):
                break
        assert re.search(r"\bwait\s+RUNNING\b", seen), seen
        run_id = str(show(store)["id"])
        if where != "another PID namespace":
            with sqlite3.connect(store / "history.db") as db:  # as a runner elsewhere leaves it
                db.execute(
                    "UPDATE runs SET runner_host = ?, runner_pid = ?, runner_token = NULL",
                    (RunnerId.current().host, NO_SUCH_PID),
                )

        assert _listed(store)["state"] == "RUNNING"
        assert tasks(show(store, run_id))["wait"]["state"] == "RUNNING"
        again = kfpj("runs", "resume", run_id, store=store)
        assert again.returncode == 2, again.stdout + again.stderr
        assert f"run {run_id} is still running" in again.stderr and "Traceback" not in again.stderr
        assert _listed(store)["state"] == "RUNNING"

        _release(fifo)
        out, _ = runner.communicate(timeout=120)
    finally:
        _release(fifo)
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert runner.returncode == 0, seen + out
    entry = _listed(store)
    assert entry["state"] == "SUCCEEDED" and entry["attempts"] == 1, entry


def test_a_run_whose_runner_is_gone_is_still_found_interrupted(tmp_path: Path) -> None:
    """The lock file left behind by a runner that died is free: its run, found RUNNING with a
    pid that no process has, is INTERRUPTED, and can be resumed. (A runner that ends removes
    the file.)"""
    store = tmp_path / "store"
    nb = make_notebook(tmp_path / "nb.ipynb", [code("a = 1", "step:one")])
    assert kfpj("run", nb, store=store).returncode == 0
    run_id = str(show(store)["id"])
    lock = store / "runs" / run_id / "runner.lock"
    assert not lock.exists()
    lock.touch()  # as a runner that died leaves it
    with sqlite3.connect(store / "history.db") as db:
        db.execute(
            "UPDATE runs SET state = 'RUNNING', finished = NULL, runner_host = ?, "
            "runner_pid = ?, runner_token = NULL",
            (RunnerId.current().host, NO_SUCH_PID),
        )
    assert _listed(store)["state"] == "INTERRUPTED"
    assert kfpj("runs", "resume", run_id, store=store).returncode == 0
    assert _listed(store)["state"] == "SUCCEEDED"


# --- a store that cannot be written ---------------------------------------------------------

READERS = ["a user who may not write it", "a read-only file system"]


def _files(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file of a store: size, mode and content hash, by path."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        out[str(p.relative_to(root))] = (st.st_size, stat.S_IMODE(st.st_mode), digest)
    return out


def _chmod_tree(root: Path, writable: bool) -> None:
    for p in [root, *root.rglob("*")]:
        if not p.is_symlink():
            mode = stat.S_IMODE(p.stat().st_mode)
            p.chmod(mode | stat.S_IWUSR if writable else mode & ~0o222)


def _check(argv: list[str], what: str) -> None:
    probe = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"{what}: {probe.stderr.strip()}")


@contextlib.contextmanager
def _reader(store: Path, how: str) -> Iterator[list[str]]:
    """The command line prefix of a reader who cannot write `store` (`how`), for as long as the
    block lasts. Root writes into a folder whatever its permissions: as root, the reader drops
    the capabilities that let it (setpriv); a read-only file system is a read-only bind mount in
    a mount namespace of the reader's own."""
    if how == "a read-only file system":
        if shutil.which("unshare") is None or os.geteuid() != 0:
            pytest.skip("a read-only bind mount needs unshare, as root")
        script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
        prefix = ["unshare", "-m", "sh", "-c", script, "sh", str(store)]
        _check([*prefix, "true"], "no read-only bind mount can be made here")
        yield prefix
        return
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root writes into a read-only folder, and there is no setpriv")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    _chmod_tree(store, writable=False)
    try:
        _check([*prefix, "sh", "-c", f"! touch {str(store)!r}/probe"], "the reader may write")
        yield prefix
    finally:
        _chmod_tree(store, writable=True)


def _as(prefix: list[str], store: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, *CLI, *map(str, args), "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize("how", READERS)
def test_a_store_that_cannot_be_written_is_read_as_it_is(tmp_path: Path, how: str) -> None:
    store, out = tmp_path / "store", tmp_path / "out"
    out.mkdir()
    assert kfpj("run", _failing(tmp_path / "nb.ipynb"), store=store).returncode == 1
    run_id = str(show(store)["id"])
    with _reader(store, how) as reader:
        before = _files(store)
        listed = _as(reader, store, "runs", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [(r["id"], r["state"]) for r in json.loads(listed.stdout)] == [(run_id, "FAILED")]
        shown = _as(reader, store, "runs", "show", "latest", "--json")
        assert shown.returncode == 0, shown.stderr
        assert tasks(json.loads(shown.stdout))["boom"]["error"]["type"] == "ZeroDivisionError"
        for args in (
            ("runs", "show", run_id[:4]),
            ("runs", "logs", "latest", "boom"),
            ("runs", "list", "--summary"),
            ("experiments", "list"),
            ("artifacts", "get", "latest", "make", "values", "-o", f"{out}/"),
        ):
            done = _as(reader, store, *args)
            assert done.returncode == 0, (args, done.stderr)
        assert list(out.iterdir()), "artifacts get wrote nothing"
        for args in (("runs", "gc", "--keep", "0"), ("runs", "resume", "latest")):
            refused = _as(reader, store, *args)
            assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
            assert "cannot be written here" in refused.stderr, refused.stderr
            assert "Traceback" not in refused.stderr and "internal error" not in refused.stderr
        assert _files(store) == before  # not even a -wal or -shm file
    assert _listed(store)["state"] == "FAILED"  # and it is still the store it was


@pytest.mark.parametrize("how", READERS)
def test_an_older_history_that_cannot_be_written_says_it_must_be_upgraded(
    tmp_path: Path, how: str
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    History(store / "history.db", MIGRATIONS[:1]).close()  # as the first version left it
    with _reader(store, how) as reader:
        before = _files(store)
        old = _as(reader, store, "runs", "list")
        assert old.returncode == 2, old.stdout + old.stderr
        assert "written by an older kfp-jupyter" in old.stderr, old.stderr
        assert "must be upgraded" in old.stderr and "as a user who can write it" in old.stderr
        assert _files(store) == before
    upgraded = kfpj("runs", "list", store=store)  # by one who can write it: then read as usual
    assert upgraded.returncode == 0 and "no runs" in upgraded.stdout, upgraded.stderr


# --- runs show --json -------------------------------------------------------------------------


def test_runs_show_json_says_why_a_run_failed_as_the_text_view_does(tmp_path: Path) -> None:
    store, nb = tmp_path / "store", _failing(tmp_path / "nb.ipynb")
    assert kfpj("run", nb, store=store).returncode == 1
    summary = show(store)
    text = kfpj("runs", "show", "latest", store=store).stdout
    assert summary["message"] == "step 'boom' failed" and summary["message"] in text
    assert summary["notebook"] == str(nb.absolute()) and f"notebook: {nb.absolute()}" in text
    assert summary["pipeline"] in text and summary["attempts"] == 1
    assert isinstance(summary["duration"], float) and summary["duration"] >= 0
    boom, make = tasks(summary)["boom"], tasks(summary)["make"]
    assert make["error"] is None and make["message"] is None
    assert boom["message"] and boom["message"] in text
    error = boom["error"]
    assert (error["type"], error["message"]) == ("ZeroDivisionError", "division by zero")
    innermost = error["frames"][-1]
    assert (innermost["cell"], innermost["line"]) == (2, 3), error
    assert "cell 2, line 3, in step boom" in error["traceback"]
    assert _indented(error["traceback"]) in text  # as the text view prints it under the step
    (artifact,) = summary["artifacts"]
    assert (artifact["step"], artifact["name"]) == ("make", "values")
    shown = (
        f"make/values  {artifact['type']}  {artifact['size']} B  {artifact['digest'][:19]}  "
        f"{artifact['uri']}"
    )
    assert shown in text, text


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


# --- runs list --summary ----------------------------------------------------------------------


def _du(path: Path) -> int:
    done = subprocess.run(["du", "-s", "-B1", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"no GNU du here: {done.stderr.strip()}")
    return int(done.stdout.split()[0])


def test_the_summary_counts_the_store_as_it_is_on_disk(tmp_path: Path) -> None:
    """Artifacts as their folder takes on disk (their manifests too, and artifacts no run refers
    to any more), and the kept programs, which were left out."""
    if shutil.which("du") is None:
        pytest.skip("no du command")
    store = tmp_path / "store"
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [code("values = list(range(5000))", "step:make"), code("n = len(values)", "step:use")],
    )
    assert kfpj("run", nb, store=store).returncode == 0
    summary = kfpj("runs", "list", "--summary", store=store)
    assert summary.returncode == 0, summary.stderr
    line = summary.stdout.strip().splitlines()[-1]
    artifacts, programs = _du(store / "artifacts"), _du(store / "programs")
    assert f"artifacts {human_bytes(artifacts)}, programs {human_bytes(programs)}, " in line, line
    assert re.search(r": \S+ \S+ on disk \(", line), line


# --- run ids --------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["%", "_", "{first}_{rest}", "{first}%"])
def test_a_run_id_is_never_read_as_a_pattern(tmp_path: Path, ref: str) -> None:
    store = tmp_path / "store"
    nb = make_notebook(tmp_path / "nb.ipynb", [code("values = [1]", "step:make")])
    assert kfpj("run", nb, store=store).returncode == 0
    run_id = str(show(store)["id"])
    given = ref.format(first=run_id[0], rest=run_id[1:3])
    for args in (
        ("runs", "show", given),
        ("runs", "logs", given, "make"),
        ("artifacts", "get", given, "make", "values", "-o", "-"),
    ):
        p = kfpj(*args, store=store)
        assert p.returncode == 2, (args, p.stdout)
        assert f"no run {given!r}: a run id is hex digits" in p.stderr, p.stderr
        assert run_id not in p.stdout
    with pytest.raises(UsageError, match="a run id is hex digits"):
        resume_local(given, store=store)
    assert show(store, run_id.upper())["id"] == run_id  # a prefix in capitals is still one


# --- another application's database ---------------------------------------------------------


def test_another_applications_history_db_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    with sqlite3.connect(store / "history.db") as db:
        db.execute("CREATE TABLE runs (name TEXT)")
        db.execute("INSERT INTO runs VALUES ('theirs')")
    db.close()
    before = _files(store)
    nb = make_notebook(tmp_path / "nb.ipynb", [code("a = 1", "step:one")])
    for args in (("runs", "list"), ("run", nb)):
        p = kfpj(*args, store=store)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert "is not a kfp-jupyter store's run history" in p.stderr, p.stderr
        assert "internal error" not in p.stderr
        assert _files(store) == before
