"""Many files at once: folders, worker processes, or a cluster.

:func:`encode_many` and :func:`decode_many` expand folders into files, plan
each output path (beside its input, or mirrored under ``out_dir``), and run
one task per file on any :class:`concurrent.futures.Executor`: by default a
local process pool with one worker per core; a Dask cluster's
``Client(...).get_executor()`` works the same way.  Workers return small
:class:`Result` records (sizes, seconds, the error message), never pixels.
One bad file is a failed result, not an exception: the rest go on.  Every
output is written atomically, so an interrupted run leaves no partial file.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from . import _signals
from .atomicfile import remove_temporaries
from .pixellimit import pixel_limit
from .errors import ParameterError
from .files import Report, decode_file, decoded_name, encode_file, encoded_name
from .options import EncodeOptions
from .wording import plural

__all__ = ["Result", "Summary", "plan", "encode_many", "decode_many", "summarize"]


@dataclass(frozen=True)
class Result:
    """What one task did.  ``error`` is None on success."""

    input: str
    output: str
    bytes_in: int
    bytes_out: int
    seconds: float
    error: str | None = None
    skipped: bool = False  # encoded, but larger than the input: not written
    error_type: str | None = None  # the exception's class name, e.g. "OutputExistsError"

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Summary:
    """Totals of a batch; bytes count the files written."""

    files: int
    failed: int
    bytes_in: int
    bytes_out: int
    seconds: float
    skipped: int = 0

    @property
    def ratio(self) -> float:
        return self.bytes_in / self.bytes_out if self.bytes_out else float("nan")

    def __str__(self) -> str:
        written = self.files - self.failed - self.skipped
        return (
            f"{plural(self.files, 'file')}: {written} done, "
            + (f"{self.skipped} skipped (larger than the input), " if self.skipped else "")
            + f"{self.failed} failed; "
            f"{plural(self.bytes_in, 'byte', ',')} in, {plural(self.bytes_out, 'byte', ',')} out"
            + (f" (ratio {self.ratio:.2f})" if written else "")
            + f"; {self.seconds:.1f} s"
        )


def summarize(results, seconds: float) -> Summary:
    written = [r for r in results if r.ok and not r.skipped]
    failed = sum(not r.ok for r in results)
    return Summary(len(results), failed, sum(r.bytes_in for r in written),
                   sum(r.bytes_out for r in written), seconds, sum(r.skipped for r in results))


def _is_image_name(path: Path) -> bool:
    """A folder's file worth encoding: its suffix names a format kmcodec reads.

    Only a name test (the format itself is checked by content when the file
    is opened); .kmc files and decoded ones (``photo.kmc.png``) are left
    out, and so are the suffixes of formats kmcodec refuses (.pdf, .eps,
    .h5, ...).
    """
    from PIL import Image

    from .images import INPUT_FORMATS

    if path.stem.lower().endswith(".kmc"):
        return False  # a decoded .kmc file (photo.kmc.png): encoding it again is never the intent
    Image.init()
    fmt = Image.registered_extensions().get(path.suffix.lower())
    return fmt is not None and fmt != "KMC" and fmt in INPUT_FORMATS


def plan(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike | None = None,
         rename: Callable[[str], str] = encoded_name, recursive: bool = False,
         accept: Callable[[Path], bool] | None = None) -> list[tuple[str, str]]:
    """(input, output) pairs for files and folders.

    A folder contributes the files ``accept`` approves (top level only
    unless ``recursive``), sorted; a file given by name is always taken.
    Each output is named by ``rename`` (default
    :func:`~kmcodec.files.encoded_name`; :func:`~kmcodec.files.decoded_name`
    for decodes); under ``out_dir`` outputs mirror the input tree (a
    folder's files keep their path below it, a file goes to the top).

    Raises
    ------
    ParameterError
        If two inputs would be written to one output (``a.png`` and
        ``a.bmp`` in one folder), or an output would be one of the inputs;
        checked before any work.
    """
    accept = accept or (lambda p: True)
    pairs = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = item.rglob("*") if recursive else item.iterdir()
            files = sorted(p for p in found if p.is_file() and accept(p))
            for f in files:
                rel = f.relative_to(item)
                base = Path(out_dir) / rel if out_dir else f
                pairs.append((str(f), rename(str(base))))
        else:
            base = Path(out_dir) / item.name if out_dir else item
            pairs.append((str(item), rename(str(base))))
    _check_collisions(pairs)
    return pairs


def _key(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def _check_collisions(pairs: list[tuple[str, str]]) -> None:
    by_output: dict[str, list[str]] = {}
    for src, dst in pairs:
        by_output.setdefault(_key(dst), []).append(src)
    inputs = {_key(src): src for src, _ in pairs}
    for src, dst in pairs:
        sources = by_output[_key(dst)]
        if len(sources) > 1:
            names = " and ".join(repr(s) for s in sources)
            raise ParameterError(
                f"inputs {names} would all be written to {dst!r}; give them"
                " separately or use different folders"
            )
        other = inputs.get(_key(dst))
        if other is not None:
            raise ParameterError(f"the output of {src!r} would be {dst!r}, which is an input")


@dataclass(frozen=True)
class Settings:
    """What every task of a batch needs besides its paths (small, picklable)."""

    options: EncodeOptions | None = None
    max_pixels: int | None = None
    skip_if_larger: bool = False
    fmt: str = "png"
    quality: int | None = None
    background: tuple[int, int, int] | None = None


def _prepare(dst: str) -> None:
    # encode_file and decode_file check the paths themselves.
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)


def _guarded(work, src: str, dst: str, overwrite: bool, how: Settings) -> Result:
    """Run one task's work; any failure becomes that file's error.

    Only a stop request (a signal in a worker) escapes, after the work's
    own clean-up has run.
    """
    start = time.perf_counter()
    _signals.in_task(True)
    try:
        with pixel_limit(how.max_pixels):
            report = work(src, dst, overwrite, how)
        return Result(src, dst, report.bytes_in, report.bytes_out, time.perf_counter() - start,
                      skipped=report.skipped)
    except Exception as exc:
        return Result(src, dst, 0, 0, time.perf_counter() - start, _message(exc),
                      error_type=type(exc).__name__)
    except _signals.Stop as stop:
        if _signals.is_worker():
            _signals.exit_now(128 + stop.signum)  # the output's temporary file is gone by now
        raise
    finally:
        _signals.in_task(False)


def _encode_work(src: str, dst: str, overwrite: bool, how: Settings) -> Report:
    _prepare(dst)
    return encode_file(src, dst, how.options, overwrite=overwrite, skip_if_larger=how.skip_if_larger)


def _decode_work(src: str, dst: str, overwrite: bool, how: Settings) -> Report:
    _prepare(dst)
    return decode_file(src, dst, how.fmt, overwrite=overwrite, quality=how.quality, background=how.background)


def _encode_task(src: str, dst: str, overwrite: bool, how: Settings) -> Result:
    return _guarded(_encode_work, src, dst, overwrite, how)


def _decode_task(src: str, dst: str, overwrite: bool, how: Settings) -> Result:
    return _guarded(_decode_work, src, dst, overwrite, how)


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


_DIED = ("the worker process died while working on this file (killed, crashed or"
         " out of memory)")


def _pool(jobs: int | None, how: Settings) -> ProcessPoolExecutor:
    # Fresh interpreters, not forks: a fork of a process whose OpenMP
    # runtime has started (pykdtree's) can hang in the child.
    workers = jobs or os.cpu_count() or 1
    threads = max(1, (os.cpu_count() or 1) // workers)
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_signals.worker_init, initargs=(os.getpid(), how.max_pixels, threads),
    )


def _round(task, pairs, overwrite, how, executor, jobs, done) -> list[tuple[str, str]]:
    """Run ``pairs`` on ``executor`` (default: a fresh pool); report each
    result through ``done``; return the pairs whose worker process died.

    On any exception (a stop signal, Ctrl-C) the pool's workers are stopped
    at once, and temporary files a killed worker could not remove are.
    """
    own = _pool(jobs, how) if executor is None else None
    runner = own or executor
    assert runner is not None
    futures = {runner.submit(task, src, dst, overwrite, how): (src, dst) for src, dst in pairs}
    finished: set[str] = set()
    broken = []
    try:
        for future in as_completed(futures):
            src, dst = futures[future]
            finished.add(src)
            try:
                done(future.result())
            except BrokenProcessPool:
                broken.append((src, dst))
            except Exception as exc:  # the executor's failure, not the task's
                done(Result(src, dst, 0, 0, 0.0, _message(exc)))
    except BaseException:
        if own is None:
            for future in futures:
                future.cancel()
            raise
        _signals.stop_pool(own)
        own = None
        for src, dst in pairs:
            if src not in finished:
                remove_temporaries(dst)
        raise
    finally:
        if own is not None:
            own.shutdown(wait=True)
    return broken


def _run(task, pairs, overwrite, how, executor, jobs, progress) -> list[Result]:
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(pairs), unit="file", desc="kmc")

    def done(result: Result) -> None:
        results.append(result)
        if bar is not None:
            bar.update(1)

    results: list[Result] = []
    try:
        if executor is None and (jobs == 1 or len(pairs) <= 1):
            for src, dst in pairs:
                done(task(src, dst, overwrite, how))
            return results
        # A worker that dies takes the files in flight on its pool with it.
        # They run again on a fresh pool; whatever breaks that one too runs
        # alone, one file a pool, so that only a real culprit fails.
        broken = _round(task, pairs, overwrite, how, executor, jobs, done)
        if broken and executor is None:
            broken = _round(task, broken, overwrite, how, None, jobs, done)
        for src, dst in broken:
            alone = [] if executor is not None else [(src, dst)]
            if not alone or _round(task, alone, overwrite, how, None, 1, done):
                done(Result(src, dst, 0, 0, 0.0, _DIED))
        order = {src: i for i, (src, _) in enumerate(pairs)}
        return sorted(results, key=lambda r: order[r.input])
    finally:
        if bar is not None:
            bar.close()


def encode_many(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike | None = None,
                k: int | None = None, seed: int | None = None, *,
                executor: Executor | None = None, jobs: int | None = None, recursive: bool = False,
                overwrite: bool = False, progress: bool = False, max_pixels: int | None = None,
                skip_if_larger: bool = False, options: EncodeOptions | None = None,
                **settings) -> list[Result]:
    """Encode image files and folders to .kmc files.

    Parameters
    ----------
    inputs : iterable of paths
        Files (any image Pillow reads) and folders (their image files).
    out_dir : path, optional
        Mirror the inputs under this folder; default: beside each input.
    k, seed, options, **settings
        As for :func:`kmcodec.encode` (``coder``, ``target_psnr``, ``max_bytes``
        and the other fields of :class:`kmcodec.EncodeOptions`).
    executor : concurrent.futures.Executor, optional
        Where tasks run; default a process pool of ``jobs`` workers (all
        cores).  A Dask ``Client(...).get_executor()`` runs them on a cluster.
    jobs : int, optional
        Workers of the default pool; 1 runs in this process.
    max_pixels : int, optional
        Pixel limit set in every worker (0: none); default Pillow's.
    skip_if_larger : bool, default False
        Write no .kmc file larger than its input (its result says ``skipped``).

    Returns
    -------
    list of Result, in input order
    """
    from .codec import options_from

    opts = options_from(options, k=k, seed=seed, **settings)
    pairs = plan(inputs, out_dir, encoded_name, recursive, _is_image_name)
    how = Settings(opts, max_pixels, skip_if_larger=skip_if_larger)
    return _run(_encode_task, pairs, overwrite, how, executor, jobs, progress)


def decode_many(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike | None = None,
                fmt: str = "png", *, executor: Executor | None = None,
                jobs: int | None = None, recursive: bool = False, overwrite: bool = False,
                progress: bool = False, max_pixels: int | None = None,
                quality: int | None = None, background=None) -> list[Result]:
    """Decode .kmc files and folders to images of format ``fmt`` (a suffix or name).

    ``a.kmc`` becomes ``a.kmc.png`` (:func:`~kmcodec.files.decoded_name`),
    never ``a.png``, which may be the original.  ``quality`` is for lossy
    formats (JPEG, lossy WebP); ``background`` composites files with alpha
    onto a colour (see :func:`~kmcodec.files.decode_file`).  Other
    arguments as for :func:`encode_many`.

    Raises
    ------
    ParameterError
        For a format kmcodec does not write (see
        :data:`kmcodec.outputs.OUTPUT_FORMATS`), a quality it does not
        take, or colliding outputs; before any work.
    """
    from .outputs import output_format, save_options

    from .alpha import parse_background

    save_options(output_format(fmt), quality)
    colour = None if background is None else parse_background(background)
    pairs = plan(inputs, out_dir, lambda name: decoded_name(name, fmt), recursive,
                 lambda p: p.suffix.lower() == ".kmc")
    how = Settings(None, max_pixels, fmt=fmt, quality=quality, background=colour)
    return _run(_decode_task, pairs, overwrite, how, executor, jobs, progress)
