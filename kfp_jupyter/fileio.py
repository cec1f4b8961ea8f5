"""Whole-file writes: a reader sees the old file or the new one, never half of either, and a
failure leaves no temporary file behind.

A file the user named (`compile -o`, `convert -o`, `compile_pipeline(..., path)`) that cannot be
written is their input to change, not a failure of ours: `output_file` and `output_errors` say so
in one line naming the path as given (never the temporary file's name) and how to fix it, in the
same words for every front end.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from .errors import UsageError


def _special(path: Path) -> bool:
    """Whether `path` is there and no regular file (a device such as /dev/null, a FIFO, a
    terminal): a file to write into, never one to rename another over."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A fresh temporary path beside `path`, renamed over `path` when the block ends well and
    removed when it does not. Through a symlink its file is written, the link kept (as `cp`
    does); a device or FIFO (`-o /dev/stdout`) is yielded itself, to be written in place; a file
    its owner made read-only is refused, as `cp` would refuse it."""
    if _special(path):
        yield path
        return
    link = os.path.islink(path)
    path = Path(os.path.realpath(path))
    if os.path.exists(path) and (
        not os.access(path, os.W_OK) or not os.stat(path).st_mode & stat.S_IWUSR
    ):  # renaming over it would succeed (and root may write any file)
        raise PermissionError(errno.EACCES, "the file is read-only", str(path))
    if link and not path.parent.is_dir():  # as `cp`: a link into a missing folder makes none
        raise FileNotFoundError(errno.ENOENT, "the link's target folder does not exist", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    # the name cut short: a name near the file system's limit (255 bytes) must still have room
    # for the suffix; os.urandom, not secrets, which costs an import of hmac on every start
    stem = path.name.encode()[:200].decode(errors="ignore")
    tmp = path.with_name(f".{stem}.{os.urandom(6).hex()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, text: str, *, mode: int = 0o666, keep_mode: bool = False) -> None:
    """Write `text` to a fresh file beside `path`, then rename it over `path`.

    The file is created with `mode` and the process's umask, as `open` would create it (no umask
    juggling, which would race with other threads creating files). `keep_mode` keeps an existing
    file's permissions, for files the user owns and may have restricted (a notebook).
    """
    with _replacing(path) as tmp:
        in_place = _special(tmp)
        fd = os.open(tmp, os.O_WRONLY | (0 if in_place else os.O_CREAT | os.O_EXCL), mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        if keep_mode and not in_place and path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)


def copy_atomically(source: Path, path: Path) -> None:
    """Copy `source` to a fresh file beside `path`, then rename it over `path`."""
    with _replacing(path) as tmp:
        if _special(tmp):  # shutil.copyfile refuses a FIFO
            with source.open("rb") as src, tmp.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            shutil.copyfile(source, tmp)


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (symlinks and other spellings included): an output must
    never be written over one of the inputs it is made from."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


class UnwritableOutput(UsageError, OSError):
    """An output the user named that the system refused to write.

    A UsageError, so that every front end reports it as bad input (one line, exit 2); an OSError
    too, with the system's errno and words, so that code that catches OSError still does (the
    JupyterLab server words it relative to its root folder), and so that a front end can word it
    again for its own option: `UnwritableOutput(path, error, "-o")`."""

    def __init__(
        self, path: Path, error: OSError, option: str | None = None, otherwise: str | None = None
    ) -> None:
        #: why, in the terms of the path given
        self.reason: str = (
            error.reason if isinstance(error, UnwritableOutput) else _unwritable(path, error)
        )
        fix = f"give {option + ' ' if option else ''}a file in a folder you can write"
        super().__init__(f"cannot write {str(path)!r}: {self.reason}; {fix}{_or(otherwise)}")
        self.errno, self.strerror, self.filename = error.errno, error.strerror, str(path)

    def __str__(self) -> str:  # the message, not OSError's "[Errno N] ..."
        return str(self.args[0])


def output_file(
    given: str | os.PathLike[str],
    example: str,
    option: str | None = None,
    otherwise: str | None = None,
) -> Path:
    """The file an output path names; UsageError when it names nothing or a folder, checked
    before any work (a folder would only fail at the rename, and a trailing `/` would otherwise
    become a file of the folder's name). `example`: a file name to suggest inside a folder;
    `option`: how the user gave the path (`-o`), for the message; `otherwise`: another choice
    the front end has (`-o - for standard output`)."""
    text = os.fspath(given)
    named = f"{option} {text!r}" if option else f"the output path {text!r}"
    if not text.strip():
        raise UsageError(f"{named} names no file: give a file name{_or(otherwise)}")
    path = Path(text)
    if text.endswith(("/", os.sep)) or os.path.isdir(path):
        raise UsageError(f"{named} is a folder; name a file in it, such as {str(path / example)!r}")
    return path


@contextlib.contextmanager
def output_errors(
    path: Path, option: str | None = None, otherwise: str | None = None
) -> Iterator[None]:
    """Around the writing of `path`: the OSError that stops it becomes an UnwritableOutput."""
    try:
        yield
    except OSError as e:
        raise UnwritableOutput(path, e, option, otherwise) from None


def _or(otherwise: str | None) -> str:
    return f" (or {otherwise})" if otherwise else ""


def _unwritable(path: Path, error: OSError) -> str:
    """Why `path` could not be written, in the terms of the path given (not of a temporary
    file's name)."""
    existing = next((p for p in path.parents if os.path.lexists(p)), None)
    if existing is not None and not os.path.isdir(existing):
        return f"{str(existing)!r} is a file, not a folder"
    return error.strerror or type(error).__name__
