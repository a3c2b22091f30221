"""Writing output files so that no partial or clobbered file is ever left.

The data goes to a hidden temporary file in the destination folder, is
flushed to disk, and only then takes the final name: by ``os.replace`` when
overwriting is allowed, otherwise by ``os.link``, which fails atomically if
the name exists (no window between a check and the write).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from typing import BinaryIO, Iterator

__all__ = ["atomic_output"]


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[BinaryIO]:
    """Open a temporary file that becomes ``path`` when the block succeeds.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.  Checked before the
        block runs, so no work is wasted, and again when publishing.
    """
    path = os.fspath(path)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, "file exists (use -f to overwrite)", path)
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, path, overwrite)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _publish(tmp: str, path: str, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(
            errno.EEXIST, "file exists (use -f to overwrite)", path
        ) from None
    except OSError:
        # Some file systems have no hard links; fall back to a checked rename.
        if os.path.lexists(path):
            raise FileExistsError(
                errno.EEXIST, "file exists (use -f to overwrite)", path
            ) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)
