"""The ``kmc`` command: parse arguments, call the library, print.

Exit status: 0 on success, 1 on an error with the input or output (one line
on stderr, no traceback, no partial output file), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings

__all__ = ["main"]

PROG = "kmc"


class _Failure(Exception):
    """An error to report in one line with exit status 1."""


def _int_in(name: str, low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} is {text!r}; it must be an integer")
        if value < low or (high is not None and value > high):
            rule = f"from {low} to {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{name} is {value}; it must be {rule}")
        return value

    return parse


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

    enc = sub.add_parser("encode", help="compress an image into a .kmc file")
    enc.add_argument("input", metavar="INPUT", help="any image Pillow can read")
    enc.add_argument(
        "-k", "--colors", type=_int_in("-k", 1, 65536), default=16, metavar="K",
        help="largest palette size, 1 to 65536 (default 16)",
    )
    enc.add_argument("-o", "--output", metavar="OUT", help="default: INPUT with suffix .kmc")
    enc.add_argument(
        "--seed", type=_int_in("--seed", 0, 2**63 - 1), default=0,
        help="random seed (default 0); same input and seed give the same bytes",
    )
    enc.add_argument(
        "--n-init", type=_n_init, default="auto", metavar="N",
        help="k-means seedings, keeping the best; 'auto' (default) is 3 for "
        "K <= 32, 2 for K <= 128, else 1",
    )
    enc.add_argument(
        "--max-iter", type=_int_in("--max-iter", 1), default=300, metavar="N",
        help="cap on Lloyd iterations per restart (default 300)",
    )
    enc.add_argument(
        "--engine", choices=("kmeans", "sklearn"), default="kmeans",
        help="kmcodec's own k-means (default) or scikit-learn's KMeans",
    )
    _common_output_flags(enc)

    dec = sub.add_parser("decode", help="decode a .kmc file to an ordinary image")
    dec.add_argument("input", metavar="IN.kmc")
    dec.add_argument(
        "-o", "--output", metavar="OUT",
        help="format follows the suffix (default: IN with suffix .png)",
    )
    _common_output_flags(dec)

    inf = sub.add_parser("info", help="describe a .kmc file and check it")
    inf.add_argument("input", metavar="FILE.kmc")
    inf.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def _common_output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--force", action="store_true", help="overwrite OUT")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")


def _default_output(path: str, suffix: str) -> str:
    return os.path.splitext(path)[0] + suffix


def _check_paths(src: str, dst: str) -> None:
    if not os.path.exists(src):
        raise _Failure(f"{src}: no such file")
    if os.path.isdir(src):
        raise _Failure(f"{src}: is a directory, not a file")
    if os.path.exists(dst) and os.path.samefile(src, dst):
        raise _Failure(f"{dst}: output would overwrite the input; choose another -o")


def _encode(args) -> None:
    from .atomicfile import atomic_output
    from .codec import quantize
    from .container import OVERHEAD

    out = args.output or _default_output(args.input, ".kmc")
    _check_paths(args.input, out)
    with atomic_output(out, args.force) as fh:
        start = time.perf_counter()
        from .images import to_rgb_array

        rgb = to_rgb_array(args.input)
        q = quantize(
            rgb, args.colors, args.seed, n_init=args.n_init,
            engine=args.engine, max_iter=args.max_iter,
        )
        data = q.to_bytes()
        fh.write(data)
        seconds = time.perf_counter() - start
    if args.quiet:
        return
    height, width = q.shape
    k = len(q.palette)
    bits = (k - 1).bit_length()
    mse = q.mse
    psnr = "inf (lossless)" if mse == 0 else f"{10 * math.log10(255**2 / mse):.2f} dB"
    print(
        f"{out}: {width}x{height}, {k} colours ({bits} bits/index), "
        f"{len(data):,} bytes = formula {24 * k + width * height * bits:,} bits "
        f"+ {OVERHEAD} bytes; {len(data) * 8 / (width * height):.3f} bits/pixel, "
        f"MSE {mse:.2f}, PSNR {psnr}, {seconds:.2f} s"
    )


def _decode(args) -> None:
    from PIL import Image

    from .atomicfile import atomic_output
    from .codec import read

    out = args.output or _default_output(args.input, ".png")
    suffix = os.path.splitext(out)[1].lower()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None or fmt not in Image.SAVE:
        raise _Usage(
            f"output suffix {suffix!r} names no image format Pillow can write; "
            "use e.g. .png, .bmp, .tif, .webp or .jpg"
        )
    _check_paths(args.input, out)
    pixels = read(args.input)
    with atomic_output(out, args.force) as fh:
        try:
            Image.fromarray(pixels, "RGB").save(fh, format=fmt)
        except (ValueError, KeyError) as exc:
            raise _Failure(f"{out}: cannot write RGB pixels as {fmt}: {exc}") from None
    if not args.quiet:
        height, width, _ = pixels.shape
        print(f"{out}: {width}x{height} RGB, {fmt}, {os.path.getsize(out):,} bytes")


def _info(args) -> None:
    from .codec import info

    if not os.path.isfile(args.input):
        raise _Failure(f"{args.input}: no such file")
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
        ("indices", f"{meta.index_bytes:>12,} bytes  = ceil({n} x {b} / 8)"),
        ("trailer", f"{meta.trailer_bytes:>12,} bytes  (CRC-32)"),
        ("total", f"{meta.total_bytes:>12,} bytes"),
        (
            "formula",
            f"24K + N*ceil(log2 K) = {meta.formula_bits:,} bits = "
            f"{(meta.formula_bits + 7) // 8:,} bytes; the file adds "
            f"{meta.total_bytes - (meta.formula_bits + 7) // 8} bytes",
        ),
        ("bits/pixel", f"{meta.total_bytes * 8 / n:.4f} (raw RGB: 24)"),
    ]
    print(args.input)
    for label, text in rows:
        print(f"  {label:<10} {text}")


class _Usage(Exception):
    """A usage error found after parsing: exit status 2."""


_COMMANDS = {"encode": _encode, "decode": _decode, "info": _info}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    from .errors import KmcError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                _COMMANDS[args.command](args)
            finally:
                for w in caught:
                    print(f"{PROG}: warning: {w.message}", file=sys.stderr)
    except _Usage as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (_Failure, KmcError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        name = exc.filename if exc.filename is not None else ""
        text = exc.strerror or str(exc)
        print(f"{PROG}: error: {name}{': ' if name else ''}{text}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no output written", file=sys.stderr)
        return 130
    return 0
