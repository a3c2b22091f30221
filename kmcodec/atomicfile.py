"""Writing output files so that no partial or clobbered file is ever left.

The data goes to a hidden temporary file in the destination folder, is
flushed to disk, and only then takes the final name: by ``os.replace`` when
overwriting is allowed, otherwise by ``os.link``, which fails atomically if
the name exists (no window between a check and the write).

An existing FIFO or character device is not a file to replace: with
``overwrite`` the finished data is copied into it (renaming over
``/dev/null`` would destroy the device node).  A symbolic link is replaced
itself, never the file it points to.  Errors always name the caller's path,
never the temporary one.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import stat
import tempfile
from typing import BinaryIO
from collections.abc import Iterator

from .errors import OutputExistsError

__all__ = ["atomic_output", "spooled_output", "temporary_name", "remove_temporaries", "discard_open"]

_SUFFIX = ".tmp"
_TOKEN_HEX = 8  # characters of randomness in a temporary name
_open: set[str] = set()  # temporary files of the blocks running now


def discard_open() -> None:
    """Remove the temporary files of every :func:`atomic_output` block running now.

    For a process about to leave by ``os._exit`` (a stop signal that could
    not be raised as an exception), which skips their clean-up.
    """
    for tmp in list(_open):
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _stem(path: str) -> tuple[str, str]:
    """The folder, and NAME as it appears in ``.NAME.XXXXXXXX.tmp``."""
    folder, name = os.path.split(path)
    try:
        limit = os.pathconf(folder or ".", "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    room = limit - len(f"..{'x' * _TOKEN_HEX}.{_SUFFIX}")
    # Cut as bytes and decode as the file system does (surrogateescape), so
    # that any name, in any locale, round-trips to the same bytes.
    return folder, os.fsdecode(os.fsencode(name)[: max(room, 1)])


def temporary_name(path: str) -> str:
    """A hidden sibling of ``path``, unique, no longer than the folder allows.

    ``.NAME.XXXXXXXX.tmp`` adds 14 bytes to NAME; when that passes NAME_MAX
    the copy of NAME is shortened (the temporary name need only be unique,
    which its random part makes it).
    """
    folder, short = _stem(path)
    return os.path.join(folder, f".{short}.{secrets.token_hex(_TOKEN_HEX // 2)}{_SUFFIX}")


def remove_temporaries(path: str | os.PathLike) -> list[str]:
    """Remove temporary files left for ``path`` by a writer that was killed.

    Only names of the exact form :func:`temporary_name` makes for ``path``
    are touched.  A batch calls this for its unfinished outputs after it had
    to kill a worker that could not clean up itself.
    """
    folder, short = _stem(os.path.abspath(os.fspath(path)))
    pattern = re.compile(re.escape(f".{short}.") + f"[0-9a-f]{{{_TOKEN_HEX}}}" + re.escape(_SUFFIX))
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(entry.path)
    return removed


def _user_error(exc: OSError, path: str) -> OSError:
    """The same error, naming ``path`` instead of a temporary file."""
    return OSError(exc.errno, exc.strerror or str(exc), path)


class _Output(io.BufferedWriter):
    """A buffered file whose write errors (a full disk) name the output."""

    def __init__(self, raw: io.RawIOBase, path: str) -> None:
        super().__init__(raw)
        self.output_path = path

    def write(self, data) -> int:
        try:
            return super().write(data)
        except OSError as exc:
            raise _user_error(exc, self.output_path) from None

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as exc:
            raise _user_error(exc, self.output_path) from None


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[BinaryIO]:
    """Open a temporary file that becomes ``path`` when the block succeeds.

    Parameters
    ----------
    path : str or os.PathLike
        The output.  An existing FIFO or character device receives the data
        once it is complete; a block device, socket or folder is refused.
    overwrite : bool, default False
        Replace an existing ``path``.  Without it an existing ``path`` is
        never touched.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``overwrite`` is false.  Checked before the
        block runs, so no work is wasted, and again when publishing.
    OSError
        For real I/O failures (with ``errno``); ``filename`` is ``path``.
    """
    path = os.fspath(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _user_error(exc, path) from None
    if st is not None:
        target = st
        if stat.S_ISLNK(st.st_mode):
            # A link to a pipe or device (/dev/stdout, /proc/self/fd/1) is a
            # way to name it; a link to a file is replaced itself, below.
            with contextlib.suppress(OSError):
                target = os.stat(path)
        if stat.S_ISDIR(target.st_mode):
            raise IsADirectoryError(21, "is a directory", path)
        if not overwrite:
            raise OutputExistsError(path)
        if stat.S_ISFIFO(target.st_mode) or stat.S_ISCHR(target.st_mode):
            with _stream_into(path) as fh:
                yield fh
            return
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            raise OSError(22, "not a regular file, FIFO or character device", path)
    with _replace(path, overwrite, st) as fh:
        yield fh


@contextlib.contextmanager
def _replace(path: str, overwrite: bool, old: os.stat_result | None) -> Iterator[BinaryIO]:
    tmp = temporary_name(os.path.abspath(path))
    _open.add(tmp)
    # Everything from the file's creation on is inside the clean-up block:
    # a signal arriving just after os.open must not leave it behind.
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as exc:
            raise _user_error(exc, path) from None
        if old is not None and stat.S_ISREG(old.st_mode):
            with contextlib.suppress(OSError):  # a replaced file keeps its permissions
                os.fchmod(fd, stat.S_IMODE(old.st_mode))
        with _Output(io.FileIO(fd, "wb"), path) as fh:
            yield fh
            fh.flush()
            try:
                os.fsync(fh.fileno())
            except OSError as exc:
                raise _user_error(exc, path) from None
        try:
            _publish(tmp, path, overwrite)
        except OSError as exc:
            if isinstance(exc, OutputExistsError):
                raise
            raise _user_error(exc, path) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        _open.discard(tmp)


@contextlib.contextmanager
def _stream_into(path: str) -> Iterator[BinaryIO]:
    # The data is kept in an unnamed temporary file (nothing to clean up on
    # any exit) and copied only when complete, so a reader of the FIFO never
    # sees a partial file.
    with tempfile.TemporaryFile() as spool:
        yield spool
        try:
            with open(path, "wb") as out:
                _copy(spool, out)
        except OSError as exc:
            raise _user_error(exc, path) from None


@contextlib.contextmanager
def spooled_output(stream: BinaryIO) -> Iterator[BinaryIO]:
    """A temporary file whose bytes go to ``stream`` once the block succeeds.

    For standard output: if the work fails, nothing at all is written, as
    with a file (a reader never gets the first half of an image).  The
    temporary file is unnamed, so no exit path can leave it behind.
    """
    with tempfile.TemporaryFile() as spool:
        yield spool
        _copy(spool, stream)


def _copy(spool: BinaryIO, out: BinaryIO) -> None:
    spool.flush()
    spool.seek(0)
    while chunk := spool.read(1 << 20):
        out.write(chunk)
    out.flush()


def _publish(tmp: str, path: str, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputExistsError(path) from None
    except OSError:
        # Some file systems have no hard links; fall back to a checked rename.
        if os.path.lexists(path):
            raise OutputExistsError(path) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)
