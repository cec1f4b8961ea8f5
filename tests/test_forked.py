"""The helper processes of a compile: a result comes back, or the caller learns it must do the work."""

from __future__ import annotations

import os
import time

import pytest

from kfp_jupyter.compile import forked


def test_the_childs_result_comes_back() -> None:
    big = {"text": "x" * 3_000_000, "n": list(range(1000))}  # more than a pipe holds at once
    with forked.Forked(lambda: (os.getpid(), big)) as child:
        assert child.started
        pid, value = child.result()
    assert pid != os.getpid() and value == big


def test_what_the_child_raises_is_raised_in_the_parent() -> None:
    def fails() -> None:
        raise LookupError("nothing here")

    with forked.Forked(fails) as child, pytest.raises(LookupError, match="nothing here"):
        child.result()


def test_a_child_that_dies_is_a_failure_the_caller_can_catch() -> None:
    with forked.Forked(lambda: os._exit(3)) as child, pytest.raises(forked.ChildFailed):
        child.result()


def test_a_result_that_cannot_be_sent_is_an_error_in_the_parent() -> None:
    with forked.Forked(lambda: lambda: None) as child, pytest.raises(Exception, match="pickle"):
        child.result()


def test_a_child_whose_result_is_not_wanted_is_stopped_and_reaped() -> None:
    start = time.monotonic()
    with forked.Forked(lambda: time.sleep(60)) as child:
        pid = child._pid
    assert time.monotonic() - start < 30
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped


def test_no_child_when_fork_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(forked.os, "fork", no_fork)
    with forked.Forked(lambda: 1) as child:
        assert not child.started
        with pytest.raises(forked.ChildFailed):
            child.result()


def test_no_helper_in_a_process_with_threads() -> None:
    import threading

    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not forked.can_fork()
    finally:
        stop.set()
        t.join()


def test_a_child_that_takes_too_long_is_given_up_and_stopped() -> None:
    start = time.monotonic()
    with forked.Forked(lambda: time.sleep(60)) as child:
        pid = child._pid
        with pytest.raises(forked.ChildFailed, match="took more than"):
            child.result(timeout=0.5)
    assert time.monotonic() - start < 30
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # stopped and reaped
