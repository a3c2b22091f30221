"""The ``kmc`` command: parse arguments, call the library, print.

Exit status: 0 on success, 1 on an error with the input or output (one line
on stderr, no traceback, no partial output file), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import sys
import threading
import time
import warnings
from typing import NoReturn

__all__ = ["main", "run"]

PROG = "kmc"


class _Failure(Exception):
    """An error to report in one line with exit status 1."""


def _int_in(name: str, low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} is {text!r}; it must be an integer") from None
        if value < low or (high is not None and value > high):
            rule = f"from {low} to {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{name} is {value}; it must be {rule}")
        return value

    return parse


def _coder_name(text: str) -> str:
    from .coder import get_coder
    from .errors import ParameterError

    try:
        return get_coder(text).name
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("coder is", "--coder is", 1)) from None


def _n_init(text: str):
    return "auto" if text == "auto" else _int_in("--n-init", 1)(text)


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="k-means image codec: palette + bit-packed indices in a .kmc file.",
    )
    parser.add_argument("--version", action="version", version=f"kmcodec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from .options import EncodeOptions as Defaults  # the one home of every default

    enc = sub.add_parser("encode", help="compress images into .kmc files")
    enc.add_argument("input", nargs="+", metavar="INPUT",
                     help="images (PNG, JPEG, GIF, WebP, TIFF, BMP, ...: see the README), or folders of them")
    choose = enc.add_mutually_exclusive_group()
    choose.add_argument(
        "-k", "--colors", type=_int_in("-k", 1, 65536), default=None, metavar="K",
        help=f"largest palette size, 1 to 65536 (default {Defaults.k})",
    )
    choose.add_argument(
        "--target-psnr", type=_positive_float("--target-psnr"), metavar="DB",
        help="choose the smallest K whose decoded PSNR reaches DB (by search)",
    )
    choose.add_argument(
        "--max-bytes", type=_int_in("--max-bytes", 1), metavar="N",
        help="choose the largest K whose file fits in N bytes",
    )
    enc.add_argument("-o", "--output", metavar="OUT",
                     help="default: INPUT with suffix .kmc (one input only)")
    enc.add_argument(
        "--seed", type=_int_in("--seed", 0, 2**63 - 1), default=None,
        help=f"random seed (default {Defaults.seed}); same input and seed give the same bytes",
    )
    enc.add_argument(
        "--n-init", type=_n_init, default=None, metavar="N",
        help=f"k-means seedings, keeping the best (default {Defaults.n_init!r}: 3 for "
        "K <= 32, 2 for K <= 128, else 1)",
    )
    enc.add_argument(
        "--max-iter", type=_int_in("--max-iter", 1), default=None, metavar="N",
        help=f"cap on Lloyd iterations per restart (default {Defaults.max_iter})",
    )
    from .options import ENGINES

    enc.add_argument(
        "--engine", choices=ENGINES, default=None,
        help=f"kmcodec's own k-means or scikit-learn's KMeans (default {Defaults.engine})",
    )
    from .coder import coders

    enc.add_argument(
        "--coder", type=_coder_name, default=None, metavar="NAME",
        help=f"how the indices are stored, by name or number (default {Defaults.coder}): "
        + "; ".join(f"{c.name} ({c.id}): {c.summary}" for c in coders()),
    )
    _common_output_flags(enc)
    _batch_flags(enc)

    dec = sub.add_parser("decode", help="decode .kmc files to ordinary images")
    dec.add_argument("input", nargs="+", metavar="IN.kmc", help=".kmc files or folders of them")
    dec.add_argument(
        "-o", "--output", metavar="OUT",
        help="format follows the suffix (default: IN with suffix .png; one input only)",
    )
    dec.add_argument("--format", default=None, metavar="EXT",
                     help="output format by suffix: png (default), webp (lossless), tif, bmp,"
                     " gif, jpg, ppm, tga, pcx, sgi, qoi")
    _common_output_flags(dec)
    _batch_flags(dec)

    inf = sub.add_parser("info", help="describe a .kmc file and check it")
    inf.add_argument("input", metavar="FILE.kmc")
    inf.add_argument("--json", action="store_true", help="print JSON instead of text")
    _limit_flag(inf)

    cmp_ = sub.add_parser(
        "compare", help="true size and quality of .kmc against PNG, JPEG, WebP and GIF"
    )
    cmp_.add_argument("images", nargs="+", metavar="IMAGE")
    cmp_.add_argument(
        "-k", type=_k_list, default=None, metavar="LIST",
        help="comma-separated K values (default 2,4,8,16,32,64,128,256)",
    )
    cmp_.add_argument("--seed", type=_int_in("--seed", 0, 2**63 - 1), default=0)
    cmp_.add_argument("--json", metavar="F", help="write the rows as a JSON array")
    cmp_.add_argument("--csv", metavar="F", help="write the rows as CSV")
    cmp_.add_argument("--plot", metavar="F.png", help="write images, rate-distortion chart and table")
    cmp_.add_argument("--no-ssim", action="store_true", help="skip SSIM (faster on huge images)")
    cmp_.add_argument("-f", "--force", action="store_true", help="overwrite the output files")
    _limit_flag(cmp_)

    plot = sub.add_parser("plot", help="illustrate k-means on an image")
    kinds = plot.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind, help_text, suffix in (
        ("colors", "pixels in RGB space before and after, palette as large markers", "F.png"),
        ("iterations", "animated GIF of k-means moving its centroids", "F.gif"),
    ):
        p = kinds.add_parser(kind, help=help_text)
        p.add_argument("input", metavar="IMAGE")
        p.add_argument("-k", type=_int_in("-k", 1, 256), default=8, metavar="K", help="colours (default 8)")
        p.add_argument("-o", "--output", required=True, metavar=suffix)
        p.add_argument("--seed", type=_int_in("--seed", 0, 2**63 - 1), default=0)
        p.add_argument("-f", "--force", action="store_true", help="overwrite OUT")
        _limit_flag(p)
    return parser


def _k_list(text: str) -> list[int]:
    parse = _int_in("-k", 1, 65536)
    values = [parse(part.strip()) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"-k is {text!r}; give K values such as 4,16,64")
    return sorted(set(values))


def _positive_float(name: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} is {text!r}; it must be a number") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"{name} is {value}; it must be positive and finite")
        return value

    return parse


def _limit_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-pixels", type=_int_in("--max-pixels", 0), default=None, metavar="N",
        help="refuse images above N pixels (default: Pillow's MAX_IMAGE_PIXELS, "
        "about 89 million); 0 removes the limit: only for trusted files",
    )


def _common_output_flags(parser: argparse.ArgumentParser) -> None:
    _limit_flag(parser)
    parser.add_argument("-f", "--force", action="store_true", help="overwrite OUT")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")


def _batch_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders")
    parser.add_argument("--out-dir", metavar="D", help="write outputs here, mirroring the input tree")
    parser.add_argument("-j", "--jobs", type=_int_in("-j", 1), default=None, metavar="N",
                        help="worker processes for many files (default: all cores)")


def _is_batch(args) -> bool:
    return len(args.input) > 1 or args.out_dir is not None or any(os.path.isdir(p) for p in args.input)


def _batch(args, kind: str) -> None:
    from . import batch
    from .errors import ParameterError

    if args.output:
        raise _Usage("-o names one output; with several inputs or folders use --out-dir")
    for path in args.input:
        if not os.path.exists(path):
            raise _Failure(f"{_show(path)}: no such file or folder")
    common = dict(out_dir=args.out_dir, jobs=args.jobs, recursive=args.recursive,
                  overwrite=args.force, progress=sys.stderr.isatty(), max_pixels=args.max_pixels)
    start = time.perf_counter()
    try:
        if kind == "encode":
            results = batch.encode_many(args.input, options=_encode_options(args), **common)
        else:
            results = batch.decode_many(args.input, fmt=args.format or "png", **common)
    except ParameterError as exc:  # colliding outputs, found before any work
        raise _Usage(str(exc)) from None
    for r in results:
        if not r.ok:
            error = r.error or ""
            if error.startswith(f"{r.input}: "):  # the library named the file already
                error = error[len(r.input) + 2 :]
            print(f"{PROG}: error: {_show(r.input)}: {_one_line(error)}", file=sys.stderr)
    summary = batch.summarize(results, time.perf_counter() - start)
    if not args.quiet:
        print(summary)
    if summary.failed:
        raise _Failed(summary.failed)


class _Failed(Exception):
    """Some files of a batch failed (already reported): exit status 1."""


def _default_output(path: str, suffix: str) -> str:
    return os.path.splitext(path)[0] + suffix


def _check_paths(src: str, dst: str) -> None:
    if not os.path.exists(src):
        raise _Failure(f"{_show(src)}: no such file")
    if os.path.isdir(src):
        raise _Failure(f"{_show(src)}: is a directory, not a file")
    if os.path.exists(dst) and os.path.samefile(src, dst):
        raise _Failure(f"{_show(dst)}: output would overwrite the input; choose another -o")


def _one_line(text: str) -> str:
    """A message as one printable line (file names inside it may hold anything)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _show(path) -> str:
    """A path as printable text on one line.

    Undecodable bytes become ``\\xNN``, and so do control characters (a
    newline or an escape sequence in a name must not forge output lines or
    drive the terminal).
    """
    return _one_line(os.fsencode(path).decode("utf-8", "backslashreplace"))


@contextlib.contextmanager
def _about(path: str):
    """Errors raised while working on ``path`` name it first."""
    from .errors import KmcError, OutputExistsError

    try:
        yield
    except OutputExistsError as exc:
        raise _Failure(f"{_show(exc.filename)}: file exists (use -f to overwrite it)") from None
    except KmcError as exc:
        text = str(exc)
        shown = _show(path)
        raise type(exc)(text if text.startswith((shown, repr(shown))) else f"{shown}: {text}") from None


def _encode_options(args):
    """The EncodeOptions the flags ask for; flags not given keep the defaults."""
    from .codec import options_from
    from .errors import ParameterError

    try:
        return options_from(k=args.colors, seed=args.seed, n_init=args.n_init, engine=args.engine,
                            max_iter=args.max_iter, coder=args.coder, target_psnr=args.target_psnr,
                            max_bytes=args.max_bytes)
    except ParameterError as exc:  # a combination of flags that cannot work
        raise _Usage(str(exc)) from None


def _encode(args) -> None:
    if _is_batch(args):
        return _batch(args, "encode")
    args.input = args.input[0]
    from .atomicfile import atomic_output
    from .codec import quantize_auto
    from .container import OVERHEAD

    options = _encode_options(args)
    out = args.output or _default_output(args.input, ".kmc")
    _check_paths(args.input, out)
    with _about(args.input), atomic_output(out, args.force) as fh:
        start = time.perf_counter()
        q = quantize_auto(args.input, options=options)
        size = q.write_to(fh, options.coder)
        seconds = time.perf_counter() - start
    if args.quiet:
        return
    height, width = q.shape
    k = len(q.palette)
    bits = (k - 1).bit_length()
    mse = q.mse
    psnr = "inf (lossless)" if mse == 0 else f"{10 * math.log10(255**2 / mse):.2f} dB"
    formula = 24 * k + width * height * bits
    how = (f"formula {formula:,} bits + {OVERHEAD} bytes" if options.coder == "packed"
           else f"{100 * size / (formula // 8 + OVERHEAD):.1f}% of the packed file")
    print(
        f"{_show(out)}: {width}x{height}, {k} colours ({bits} bits/index), "
        f"{size:,} bytes ({options.coder} coder) = {how}; {size * 8 / (width * height):.3f} bits/pixel, "
        f"MSE {mse:.2f}, PSNR {psnr}, {seconds:.2f} s"
    )


def _output_format(suffix: str):
    from .errors import ParameterError
    from .outputs import output_format

    try:
        return output_format(suffix)
    except ParameterError as exc:
        raise _Usage(str(exc)) from None


def _decode(args) -> None:
    if args.format is not None:
        _output_format(args.format)  # a usage error before any work or folder
    if _is_batch(args):
        return _batch(args, "decode")
    args.input = args.input[0]
    from .atomicfile import atomic_output
    from .outputs import write_image

    from .outputs import suffix_for

    if args.output:
        suffix = os.path.splitext(args.output)[1]
        if not suffix and args.format is None:
            raise _Usage(f"-o {_show(args.output)!r} has no suffix to name a format; add --format EXT")
        fmt = _output_format(suffix or args.format)
        if args.format is not None and _output_format(args.format) != fmt:
            raise _Usage(f"--format is {args.format!r} but -o {_show(args.output)!r} names {fmt.name}")
        out = args.output
    else:
        fmt = _output_format(args.format or "png")
        out = _default_output(args.input, suffix_for(args.format or "png"))
    _check_paths(args.input, out)
    with _about(args.input), atomic_output(out, args.force) as fh:
        width, height, how = write_image(args.input, fh, fmt)
        size = fh.tell()
    if not args.quiet:
        print(f"{_show(out)}: {width}x{height}, {how}, {size:,} bytes")


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else f"{part} bytes against 0"


def _info(args) -> None:
    from .codec import info
    from .coder import get_coder

    if not os.path.exists(args.input):
        raise _Failure(f"{_show(args.input)}: no such file")
    if os.path.isdir(args.input):
        raise _Failure(f"{_show(args.input)}: is a folder, not a .kmc file")
    with _about(args.input):
        meta = info(args.input)
    if args.json:
        print(json.dumps(meta.to_dict(), indent=2))
        return
    n = meta.width * meta.height
    k, b = meta.colors, meta.bits_per_index
    rows = [
        ("image", f"{meta.width} x {meta.height} = {n:,} pixels"),
        ("palette", f"{k:,} colours, {b} bits per index"),
        ("coder", f"{meta.coder} (format version {meta.version})"),
        ("header", f"{meta.header_bytes:>12,} bytes"),
        ("palette", f"{meta.palette_bytes:>12,} bytes  = 3 x {k} (24 bits per colour)"),
        *get_coder(meta.coder).describe(meta),
        ("trailer", f"{meta.trailer_bytes:>12,} bytes  (CRC-32)"),
        ("total", f"{meta.total_bytes:>12,} bytes"),
        (
            "formula",
            f"24K + N*ceil(log2 K) = {meta.formula_bits:,} bits = "
            f"{(meta.formula_bits + 7) // 8:,} bytes; "
            + (f"the file adds {meta.total_bytes - (meta.formula_bits + 7) // 8} bytes"
               if meta.coder == "packed" else
               f"the file is {_share(meta.total_bytes, (meta.formula_bits + 7) // 8)} of it"),
        ),
        ("bits/pixel", f"{meta.total_bytes * 8 / n:.4f} (raw RGB: 24)"),
    ]
    print(_show(args.input))
    for label, text in rows:
        print(f"  {label:<10} {text}")


def _compare(args) -> None:
    try:
        from .compare import DEFAULT_KS, compare, format_table, write_csv, write_json
        import tqdm  # noqa: F401
        if not args.no_ssim:
            import skimage  # noqa: F401
    except ImportError as exc:
        raise _Failure(f"kmc compare needs its extra: pip install \"kmcodec[compare]\" ({exc})") from None
    from .atomicfile import atomic_output

    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise _Failure('--plot needs matplotlib: pip install "kmcodec[plot]"') from None
    for path in args.images:
        if not os.path.isfile(path):
            raise _Failure(f"{path}: no such file")
    for target in (args.json, args.csv, args.plot):
        if target and os.path.lexists(target) and not args.force:
            raise _Failure(f"{target}: file exists (use -f to overwrite)")
    ks = args.k or list(DEFAULT_KS)
    thumbs: dict | None = {} if args.plot else None
    rows = compare(args.images, ks, args.seed, want_ssim=not args.no_ssim,
                   progress=sys.stderr.isatty(), thumbs=thumbs)
    print(format_table(rows))
    for target, writer in ((args.json, write_json), (args.csv, write_csv)):
        if target:
            text = io.StringIO()
            writer(rows, text)
            with atomic_output(target, args.force) as fh:
                fh.write(text.getvalue().encode())
    if args.plot:
        from .plots import comparison_figure

        with atomic_output(args.plot, args.force) as fh:
            comparison_figure(rows, thumbs or {}, fh)


def _plot(args) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise _Failure('kmc plot needs matplotlib: pip install "kmcodec[plot]"') from None
    from . import plots
    from .atomicfile import atomic_output
    from .codec import quantize
    from .images import to_rgb_array

    _check_paths(args.input, args.output)
    rgb = to_rgb_array(args.input)
    with atomic_output(args.output, args.force) as fh:
        if args.kind == "colors":
            plots.colors_figure(rgb, quantize(rgb, args.k, args.seed), fh, args.seed)
        else:
            frames = plots.iterations_animation(rgb, args.k, fh, args.seed)
    if args.kind == "iterations":
        print(f"{args.output}: {frames} frames")
    else:
        print(args.output)


class _Usage(Exception):
    """A usage error found after parsing: exit status 2."""


_COMMANDS = {
    "encode": _encode,
    "decode": _decode,
    "info": _info,
    "compare": _compare,
    "plot": _plot,
}


def _printable_streams() -> None:
    # A name that the terminal's encoding cannot show is printed escaped,
    # never a UnicodeEncodeError after the work is done.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(Exception):
                reconfigure(errors="backslashreplace")


def run() -> NoReturn:
    """The ``kmc`` program: :func:`main`, then exit with its status."""
    status = main()
    if "numba" in sys.modules and threading.active_count() == 1:
        _leave(status)
    sys.exit(status)


def _leave(status: int) -> NoReturn:
    """Exit at once, without the interpreter's teardown.

    Once Numba is imported (the entropy coder), freeing every module's
    objects one by one at exit takes 0.1 to 0.25 s, longer than a small
    decode (bench/startup.py).  The work is done and no other thread runs;
    what exit still does that matters is done here: the exit functions
    (logging's flush, the removal of a temporary compiled-code folder) and
    the flush of the standard streams.
    """
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        status = status or 120  # what Python exits with when it cannot flush them
    os._exit(status)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    from ._process import configure_process

    configure_process()
    _printable_streams()
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    from ._signals import Stop, stop_signals

    try:
        with stop_signals():
            return _run(args)
    except Stop as stop:
        print(f"{PROG}: stopped by signal {stop.signum}; no partial output left, inputs untouched",
              file=sys.stderr)
        return 128 + stop.signum


@contextlib.contextmanager
def _notes_as_lines():
    """Print kmcodec's log messages as ``kmc: note:`` lines, as they come.

    The library logs only what must be said before a long wait (compiling
    the entropy coder on first use); warnings, by contrast, are printed
    when the command ends.
    """
    import logging

    logger = logging.getLogger("kmcodec")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: note: %(message)s"))
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # once, here, not again by a handler of the root logger
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _run(args) -> int:
    from .errors import KmcError, PixelLimitError

    if getattr(args, "max_pixels", None) is not None:
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = args.max_pixels or None
    try:
        with _notes_as_lines(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # An unclosed file is Python's housekeeping, not news for the user.
            warnings.simplefilter("ignore", ResourceWarning)
            try:
                _COMMANDS[args.command](args)
            finally:
                for message in dict.fromkeys(str(w.message) for w in caught):
                    print(f"{PROG}: warning: {_one_line(message)}", file=sys.stderr)
    except _Usage as exc:
        print(f"{PROG} {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except PixelLimitError as exc:
        hint = "; --max-pixels N raises the limit" if "above the limit" in str(exc) else ""
        print(f"{PROG}: error: {_one_line(str(exc))}{hint}", file=sys.stderr)
        return 1
    except (_Failure, KmcError) as exc:
        print(f"{PROG}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except _Failed:
        return 1
    except OSError as exc:
        name = _show(exc.filename) if exc.filename is not None else ""
        text = exc.strerror or str(exc)
        print(f"{PROG}: error: {name}{': ' if name else ''}{_one_line(text)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no partial output left, inputs untouched", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"{PROG}: error: out of memory", file=sys.stderr)
        return 1
    except Exception as exc:
        # A bug: still one line, never a traceback (KMC_DEBUG=1 shows it).
        if os.environ.get("KMC_DEBUG"):
            raise
        print(f"{PROG}: error: internal error, please report it: {type(exc).__name__}: {_one_line(str(exc))}",
              file=sys.stderr)
        return 70
    return 0
