"""Stopping cleanly on SIGTERM, SIGHUP and SIGINT, in the CLI and in workers.

A stop signal becomes a :class:`Stop` exception in the main thread, so that
every ``finally`` and ``except BaseException`` on the way out runs: above
all, the one in :mod:`kmcodec.atomicfile` that removes a temporary output.
Handlers are installed only by the command line's entry point and by the
batch module's worker initialiser, never on import.

While compiled code runs (:func:`deferred`: the k-means engine, the
entropy coder), a stop is only noted, and raised when the block ends or
at its next :func:`check`: a Python exception raised in the middle of a
call into Numba's dispatcher surfaces as a SystemError, or crashes the
process (a segmentation fault in 1 to 3 of 20 tries, before this).

An exception raised where Python cannot pass it on (in a callback from C
code, as Numba's compiler makes, or in a ``__del__``) is "unraisable": it
would be printed and dropped, and the work would go on.  A stop dropped so
is caught by :func:`_dropped` instead, which removes the temporary files,
says so and leaves at once.

A worker process of a batch exits at once when a stop signal finds it idle,
and after its task's clean-up when it finds it busy; on Linux it also asks
to be sent SIGTERM when its parent dies, so that no worker outlives a
killed ``kmc``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

__all__ = ["Stop", "stop_signals", "worker_init", "in_task", "is_worker", "stop_pool", "exit_now", "deferred",
           "check"]

#: The signals that ask a process to stop (SIGHUP where it exists).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)

_worker = False
_busy = False
_deferring = threading.local()  # .depth: the main thread's deferred() blocks (handlers run there)
_pending: int | None = None  # a stop noted while deferring


class Stop(BaseException):
    """A stop signal arrived; ``signum`` says which.  Exit status 128 + signum."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum


def _ignore_further() -> None:
    # A second signal must not interrupt the clean-up the first one began
    # (a Ctrl-C reaches the workers, then their parent's SIGTERM follows).
    for sig in (*STOP_SIGNALS, signal.SIGINT):
        with contextlib.suppress(ValueError, OSError):
            signal.signal(sig, signal.SIG_IGN)


def _raise_stop(signum, frame) -> None:
    global _pending
    _ignore_further()
    if getattr(_deferring, "depth", 0):
        _pending = signum
        return
    _raise(signum)


def _raise(signum: int) -> None:
    if signum == signal.SIGINT and not _worker:
        raise KeyboardInterrupt
    raise Stop(signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A block in which a stop signal is noted, not raised, until the block
    ends or calls :func:`check` (for calls into compiled code)."""
    _deferring.depth = getattr(_deferring, "depth", 0) + 1
    try:
        yield
    finally:
        _deferring.depth -= 1
    check()


def threaded(function, items, workers: int) -> list:
    """``[function(item) for item in items]`` on ``workers`` threads (in this
    one when 1), for calls into compiled code that release the GIL: a stop
    signal waits (:func:`deferred`) until they have all returned."""
    with deferred():
        if workers <= 1:
            return [function(item) for item in items]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(function, items))


def check() -> None:
    """Raise the stop noted in a :func:`deferred` block, if any (in the
    main thread, where it is seen)."""
    global _pending
    if _pending is not None and threading.current_thread() is threading.main_thread():
        signum, _pending = _pending, None
        _raise(signum)


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Stop`, SIGINT into KeyboardInterrupt.

    After the first, further signals are ignored, so that clean-up finishes.

    For the command line's main thread; the previous handlers (and
    ``sys.unraisablehook``) come back afterwards.
    """
    saved = {}
    for sig in (*STOP_SIGNALS, signal.SIGINT):
        with contextlib.suppress(ValueError, OSError):  # not the main thread
            saved[sig] = signal.signal(sig, _raise_stop)
    hook = sys.unraisablehook
    sys.unraisablehook = _dropped
    try:
        yield
    finally:
        sys.unraisablehook = hook
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _dropped(unraisable) -> None:
    """``sys.unraisablehook``: a stop that could not be raised ends the process now."""
    exc = unraisable.exc_value
    if not isinstance(exc, (Stop, KeyboardInterrupt)):
        sys.__unraisablehook__(unraisable)
        return
    from .atomicfile import discard_open

    discard_open()
    if not _worker:
        what = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"stopped by signal {exc.signum}"
        with contextlib.suppress(Exception):
            print(f"kmc: {what}; no partial output left, inputs untouched", file=sys.stderr, flush=True)
    exit_now(130 if isinstance(exc, KeyboardInterrupt) else 128 + exc.signum)


def exit_now(status: int) -> None:
    """Leave at once (``os._exit``), removing what atexit would have."""
    from .jitcache import discard_temporary

    discard_temporary()
    os._exit(status)


def _worker_signal(signum, frame) -> None:
    global _pending
    if not _busy:
        exit_now(128 + signum)
    _ignore_further()
    if getattr(_deferring, "depth", 0):
        _pending = signum
        return
    raise Stop(signum)


def worker_init(parent: int, max_pixels: int | None = None, threads: int | None = None) -> None:
    """Initialiser of batch worker processes: stop cleanly, never outlive the parent.

    ``parent`` is the pid of the process that made the pool; ``max_pixels``
    (0: none) is set as this process's pixel limit; ``threads`` is how many
    threads the k-means engine's loops run on (unless the user's
    ``NUMBA_NUM_THREADS`` says), so that workers share the cores rather
    than each taking all of them.
    """
    global _worker
    _worker = True
    if threads is not None:
        os.environ.setdefault("NUMBA_NUM_THREADS", str(threads))
    if max_pixels is not None:
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = max_pixels or None
    _warnings_as_lines()
    _notes_as_lines()
    sys.unraisablehook = _dropped
    from ._process import configure_process

    configure_process()
    for sig in (*STOP_SIGNALS, signal.SIGINT):
        signal.signal(sig, _worker_signal)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took effect
        exit_now(128 + int(signal.SIGTERM))


def _warnings_as_lines() -> None:
    # A worker's warnings reach the user as the CLI's own, one line each.
    import warnings

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        from .wording import one_line

        print(f"kmc: warning: {one_line(str(message))}", file=sys.stderr)

    warnings.showwarning = show


def _notes_as_lines() -> None:
    # A worker's log messages (the notice that it compiles the entropy
    # coder) reach the user as the CLI's notes, as they come.
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("kmc: note: %(message)s"))
    logger = logging.getLogger("kmcodec")
    logger.addHandler(handler)
    logger.propagate = False


def in_task(busy: bool) -> None:
    """Mark the start and end of a task (a stop while idle exits at once)."""
    global _busy
    _busy = busy


def is_worker() -> bool:
    """True in a process set up by :func:`worker_init`."""
    return _worker


def stop_pool(pool, timeout: float = 5.0) -> None:
    """Stop a ProcessPoolExecutor's workers now: SIGTERM, then SIGKILL.

    Workers remove their temporary files on SIGTERM; one that has not
    exited after ``timeout`` seconds is killed.
    """
    # The executor keeps its workers in ``_processes`` (pid -> Process) in
    # every Python this package supports; 3.14 adds terminate_workers().
    table = getattr(pool, "_processes", None)
    processes = list(table.values()) if isinstance(table, dict) else []
    if not processes and hasattr(pool, "terminate_workers"):
        pool.terminate_workers()
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.terminate()
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
    # No future is cancelled here: the executor's own thread now fails the
    # pending ones as broken (cancelling them too trips CPython gh-107219,
    # an InvalidStateError traceback, before 3.12).
    pool.shutdown(wait=True)
