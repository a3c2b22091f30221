"""Where Numba may cache kmcodec's compiled loops, safely.

Numba's cache index files are pickles: loading them runs code.  So the cache
lives only in a folder the current user owns and nobody else can write:
``$XDG_CACHE_HOME/kmcodec-numba-UID`` (``~/.cache/...`` by default),
created with mode 0700.  Its owner and mode are checked before every load
and save (owned by this user, writable by nobody else); a folder that
fails the check is never read.  Where no such folder
can be had (no writable home, a service account), the process compiles into
a fresh private folder that it removes at exit, and says once (a
:class:`~kmcodec.errors.KmcWarning`) that compiling costs seconds each run.

Numba's own cache locations (``__pycache__`` beside the installed package,
``NUMBA_CACHE_DIR``) are not used for kmcodec's functions: a shared install
folder may be writable by others.  Nothing here changes process-wide state;
the cache is attached to kmcodec's dispatchers only.

Compiling takes seconds, so a named function about to be compiled says so
first, in one line logged (level WARNING) to the ``kmcodec.jitcache``
logger: on stderr by default, as ``kmc: note:`` in the ``kmc`` command,
and silenced like any log message, e.g.
``logging.getLogger("kmcodec").setLevel(logging.ERROR)``.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import shutil
import stat
import tempfile
import threading
import warnings

__all__ = ["cache_dir", "is_private", "private_cache", "discard_temporary", "persistent"]

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_chosen: str | None = None
_temporary: str | None = None
_announced: set[str] = set()


def _uid() -> int:
    return os.geteuid() if hasattr(os, "geteuid") else 0


def is_private(path: str) -> bool:
    """True if ``path`` is a real folder (not a link) that only we can write.

    It must be owned by us, and neither group nor others may write to it:
    then nobody else can have planted a file in it.  (Folders made by
    kmcodec 0.1, mode 0755, qualify and are tightened to 0700 on use.)
    """
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        return False
    return not (hasattr(os, "geteuid") and (st.st_uid != _uid() or st.st_mode & 0o022))


def _make_private(path: str) -> bool:
    """Create ``path`` with mode 0700 if missing; True if it is private."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    if not is_private(path):
        return False
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)  # no one else need even read it
    return True


def _safe_ancestors(path: str) -> bool:
    """No other user can rename or replace any folder on the way to ``path``.

    Each ancestor must be owned by us or root, and not writable by group or
    others unless it is sticky (as /tmp is: there others cannot rename our
    entries).  Without this, someone who can write to ``~/.cache``'s parent
    could swap in a folder of theirs between our check and Numba's read.
    """
    if not hasattr(os, "geteuid"):
        return True
    folder = os.path.dirname(os.path.abspath(path))
    while True:
        try:
            st = os.lstat(folder)
        except OSError:
            return False
        if stat.S_ISLNK(st.st_mode):
            try:
                st = os.stat(folder)
            except OSError:
                return False
        shared = st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX
        if st.st_uid not in (_uid(), 0) or shared:
            return False
        parent = os.path.dirname(folder)
        if parent == folder:
            return True
        folder = parent


def _home_cache() -> str | None:
    base = os.environ.get("XDG_CACHE_HOME")
    if not base or not os.path.isabs(base):
        home = os.path.expanduser("~")
        if home == "~" or not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return os.path.join(base, f"kmcodec-numba-{_uid()}")


def _private_tempdir() -> str:
    global _temporary
    path = tempfile.mkdtemp(prefix="kmcodec-numba-")  # mode 0700, ours
    _temporary = path
    atexit.register(discard_temporary)
    warnings.warn(
        f"no private cache folder for compiled code ({_home_cache() or 'no home folder'}"
        " is not one only this user can write, in folders only this user or root can"
        " change); compiling into a temporary folder, so every process compiles again"
        " what it uses (the k-means engine 20 to 60 s, the entropy coder 15 to 25 s)",
        _kmc_warning(),
        stacklevel=3,
    )
    return path


def discard_temporary() -> None:
    """Remove this process's temporary cache folder, if it made one.

    Run at exit; call it too before leaving by ``os._exit`` (batch workers
    stopped by a signal), which skips ``atexit``.
    """
    global _temporary
    if _temporary is not None:
        shutil.rmtree(_temporary, ignore_errors=True)
        _temporary = None


def _kmc_warning() -> type[Warning]:
    from .errors import KmcWarning

    return KmcWarning


def cache_dir() -> str:
    """The folder for this process's compiled-code cache, private to this user.

    The user-wide folder when it is, or can be made, private (its parent is
    created as needed, mode 0700); otherwise a fresh temporary folder
    removed when the process exits.
    """
    global _chosen
    with _lock:
        if _chosen is not None and is_private(_chosen):
            return _chosen
        path = _user_folder()
        _chosen = path if path is not None else _private_tempdir()
        return _chosen


def _user_folder() -> str | None:
    """The user-wide cache folder, made private if need be; None if it cannot be."""
    path = _home_cache()
    if path is None:
        return None
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
    return path if _safe_ancestors(path) and _make_private(path) else None


def persistent() -> bool:
    """Whether compiled code is kept for later processes (in the user-wide folder)."""
    with _lock:
        if _chosen is not None:
            return _chosen != _temporary
    return _user_folder() is not None


def _compiling(name: str, kept: bool, seconds: str) -> None:
    """Say, before the wait, that ``name`` is being compiled (once a process:
    an engine of several functions is announced once)."""
    with _lock:
        if name in _announced:
            return
        _announced.add(name)
    how = "once: the result is cached" if kept else "in each process: it cannot be cached"
    _log.warning("compiling %s (%s, %s)", name, seconds, how)


def private_cache(dispatcher, name: str | None = None, seconds: str = "10 to 20 s") -> None:
    """Give a Numba dispatcher a cache in :func:`cache_dir`, checked on each use.

    Cached code is loaded with Numba's runtime only, not the typing and
    lowering registries that compiling needs (see ``load_overload``).

    Parameters
    ----------
    dispatcher : numba Dispatcher
        A function decorated with ``numba.njit``.
    name : str, optional
        What it is, e.g. "the entropy decoder": then each compilation (no
        cached code for the types it is called with) is announced in one
        logged line first (see the module's docstring).
    seconds : str, default "10 to 20 s"
        How long compiling takes, for that line.
    """
    from numba.core.caching import CompileResultCacheImpl, FunctionCache, _CacheLocator
    from numba.core.runtime import rtsys

    class Locator(_CacheLocator):
        def __init__(self, py_func, py_file) -> None:
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            # One sub-folder per installed copy of kmcodec.  Numba fixes
            # its file paths from this once, so this is the folder every
            # check below must be about.
            self._path = os.path.join(cache_dir(), self.get_suitable_cache_subpath(py_file))

        def get_cache_path(self) -> str:
            return self._path

        def ensure_cache_path(self) -> None:
            if not _make_private(self.get_cache_path()):
                raise PermissionError(13, "cache folder is not private", self.get_cache_path())

        def get_source_stamp(self):
            # Compiled kernels inline helpers from the other _*_jit modules
            # (coder 2 those of coder 1), so a change to any of them must
            # invalidate the code: the stamp covers them all.
            digest = hashlib.sha256()
            folder = os.path.dirname(self._py_file)
            names = sorted({os.path.basename(self._py_file)} | {
                n for n in os.listdir(folder) if n.startswith("_") and n.endswith("_jit.py")})
            for name in names:
                with open(os.path.join(folder, name), "rb") as fh:
                    digest.update(name.encode() + b"\0" + hashlib.sha256(fh.read()).digest())
            return digest.hexdigest()

        def get_disambiguator(self) -> str:
            return str(self._lineno)

        @classmethod
        def from_function(cls, py_func, py_file):
            return cls(py_func, py_file)

    class Impl(CompileResultCacheImpl):
        _locator_classes = [Locator]  # noqa: RUF012 (Numba's own attribute)

    class Cache(FunctionCache):
        _impl_class = Impl

        def _checked(self) -> bool:
            # The very folder Numba reads (fixed at construction): if it
            # is no longer private, nothing is loaded or saved at all.
            folder = self._impl.locator.get_cache_path()
            if not (self.cache_path == folder and _safe_ancestors(os.path.dirname(folder))):
                return False
            if os.path.lexists(folder):
                return is_private(folder) and is_private(os.path.dirname(folder))
            try:
                self._impl.locator.ensure_cache_path()
            except OSError:
                return False
            return True

        def load_overload(self, sig, target_context):
            private = self._checked()
            if private:
                # Numba's own load_overload first refreshes the target
                # context: it installs every typing and lowering registry,
                # which only compiling needs (and numba.np.arraymath imports
                # SciPy to look for a BLAS): 0.3 to 0.5 s of a small decode.
                # A cached function's object code needs only the runtime it
                # links against.  On a miss the compiler refreshes the
                # context itself.
                rtsys.initialize(target_context)
                with self._guard_against_spurious_io_errors():
                    loaded = self._load_overload(sig, target_context)
                    if loaded is not None:
                        return loaded
            # Numba compiles when this returns None (under its compiler
            # lock: a thread that waits for another's compilation finds
            # the result and never comes here).
            if name is not None:
                _compiling(name, private and _temporary is None, seconds)
            return None

        def save_overload(self, sig, data):
            if self._checked():
                super().save_overload(sig, data)

    dispatcher._cache = Cache(dispatcher.py_func)
