"""The ``kmc`` command: parse arguments, call the library, print.

Standard output carries only data and what was asked for (``info``, the
``compare`` table); status lines, warnings and errors go to standard error.

Exit status: 0 on success; 1 on an error with an input or output (one line
on stderr, no traceback, no partial output file); 2 on a usage error; 98
when ``--skip-if-larger`` left a file out (as pngquant); 141 on a broken
pipe, quietly (as if killed by SIGPIPE); 128 + N when stopped by signal N;
70 on an internal error.
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

from .metrics import METRICS
from .rivals import FAMILIES

__all__ = ["main", "run"]

PROG = "kmc"
STDIO = "-"  # the name of standard input or output
EXIT_SKIPPED = 98
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE


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


def _float_in(name: str, ok, rule: str):
    """A parser of a number that ``ok`` accepts; ``rule`` says which, in messages."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} is {text!r}; it must be a number {rule}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{name} is {text}; it must be {rule}")
        return value

    return parse


def _chroma_weight(text: str) -> float | str:
    if text == "auto":
        return text
    return _float_in("--chroma-weight", lambda v: 1 <= v <= 10, "from 1 to 10, or auto")(text)


#: --dither-map's words and the values of ``dither_map`` they stand for.
_MAP_WORDS = {"off": False, "on": True, "auto": "auto"}
_MAP_WORD = {value: word for word, value in _MAP_WORDS.items()}


def _background(text: str) -> tuple[int, int, int]:
    from .alpha import parse_background
    from .errors import ParameterError

    try:
        return parse_background(text)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("background is", "--background is", 1)) from None


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
        description="k-means image codec: a palette of K colours and one index per pixel in a"
        " .kmc file (bit-packed, or entropy-coded).",
        epilog="Use '-' as a file name for standard input or output. Status lines and warnings"
        " go to standard error. Exit status: 0 done, 1 error, 2 usage error, 98 skipped"
        " (--skip-if-larger), 141 broken pipe.",
    )
    parser.add_argument("--version", action="version", version=f"kmcodec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from .options import AUTO_MAP, PLAIN  # the defaults of the fields --perceptual sets
    from .options import EncodeOptions as Defaults  # the one home of every default

    enc = sub.add_parser("encode", help="compress images into .kmc files",
                         description="Compress images into .kmc files.")
    enc.add_argument("input", nargs="+", metavar="INPUT",
                     help="images (PNG, JPEG, GIF, WebP, TIFF, BMP, ...: see the README), folders"
                     " of them, or - for standard input")
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
        help="choose the largest K whose file, with the chosen coder, fits in N bytes (by search)",
    )
    enc.add_argument("-o", "--output", metavar="OUT",
                     help="the .kmc file, or - for standard output (default: INPUT with suffix"
                     " .kmc; standard output when INPUT is -)")
    enc.add_argument(
        "--seed", type=_int_in("--seed", 0, 2**63 - 1), default=None,
        help=f"random seed (default {Defaults.seed}); same input and seed give the same bytes",
    )
    enc.add_argument(
        "--n-init", type=_n_init, default=None, metavar="N",
        help=f"k-means seedings, keeping the best (default {Defaults.n_init!r}: 6 for "
        "K <= 32, 2 for K <= 128, else 1; 1 with --refine none)",
    )
    enc.add_argument(
        "--max-iter", type=_int_in("--max-iter", 1), default=None, metavar="N",
        help=f"cap on Lloyd iterations per restart (default {Defaults.max_iter})",
    )
    from .options import ENGINES

    enc.add_argument(
        "--engine", choices=ENGINES, default=None,
        help=f"kmcodec's own k-means or scikit-learn's KMeans (default {Defaults.engine};"
        ' sklearn needs pip install "kmcodec[sklearn]")',
    )
    _init_flags(enc)
    from .colorspace import SPACES

    enc.add_argument(
        "--space", choices=SPACES, default=None,
        help=f"where colour differences are measured when the palette is chosen (default"
        f" {PLAIN['space']}): rgb minimises the mean squared error of the 8-bit values; oklab is a"
        " perceptual space (Ottosson's Oklab), so that the palette spends its colours on differences"
        " people see; the file stores sRGB either way",
    )
    from .dither import METHODS as DITHER_METHODS

    enc.add_argument(
        "--dither", choices=DITHER_METHODS, default=None,
        help=f"how pixels take palette entries (default {PLAIN['dither']}): none, the nearest entry;"
        " fs, Floyd-Steinberg error diffusion with serpentine scanning, which keeps the mean colour"
        " of areas and turns bands in gradients into a fine grain, the error measured in --space;"
        " selective, the same only where the image is smooth (edges stay crisp, texture is left"
        " alone, files are smaller)",
    )
    enc.add_argument(
        "--dither-level", type=_float_in("--dither-level", lambda v: 0 <= v <= 1, "from 0 to 1"), default=None,
        metavar="L",
        help=f"dithering strength, 0 to 1 (default {PLAIN['dither_level']}): the share of each"
        " pixel's error passed on (scaled down where the palette's steps are too fine to show)",
    )
    enc.add_argument(
        "--dither-rate", type=_float_in("--dither-rate", lambda v: 0 <= v <= 4, "from 0 to 4"), default=None,
        metavar="R",
        help=f"rate-aware dithering, 0 to 4 (default {PLAIN['dither_rate']}): how readily a pixel takes"
        " an entry that a neighbour already holds, which the entropy coders store in few bits,"
        " instead of its nearest one; more where texture hides the difference; 0 always takes the"
        " nearest",
    )
    enc.add_argument(
        "--dither-map", choices=tuple(_MAP_WORDS), default=None,
        help="pass on less of a pixel's error where its undithered entry changes every few pixels"
        " (texture, where grain only costs bytes), nearly all of it along long runs of one entry"
        " (where bands show): after libimagequant's dither map"
        f" (default {_MAP_WORD[PLAIN['dither_map']]}); auto: on where the image's smaller side is below"
        f" {AUTO_MAP} pixels",
    )
    enc.add_argument(
        "--smooth-weight", type=_float_in("--smooth-weight", lambda v: 0 <= v <= 100, "from 0 to 100"),
        default=None, metavar="W",
        help=f"while the palette is searched, a pixel in a smooth area counts 1+W times, as the eye sees"
        f" errors there (default {PLAIN['smooth_weight']}: every pixel once, the plain mean squared"
        " error)",
    )
    enc.add_argument(
        "--chroma-weight", type=_chroma_weight, default=None, metavar="W|auto",
        help=f"with --space oklab, hue and colourfulness count W times as much as lightness, 1 to 10"
        f" (default {PLAIN['chroma_weight']}); auto: by the image's smaller side, 3 below 113 pixels,"
        " 2 below 225, 1 from there, as small images lose hues first",
    )
    enc.add_argument(
        "--perceptual", action="store_true", default=None,
        help="the settings that look best for their size (measured by bench/perceptual.py): --space"
        " oklab --dither fs --dither-level 0.75 --dither-rate 1 --dither-map auto --smooth-weight 1"
        " --chroma-weight auto",
    )
    from .coder import coders

    enc.add_argument(
        "--coder", type=_coder_name, default=None, metavar="NAME",
        help=f"how the indices are stored, by name or number (default {Defaults.coder}): "
        + "; ".join(f"{c.name} ({c.id}): {c.summary}" for c in coders()),
    )
    enc.add_argument("--raw-palette", action="store_true", default=None,
                     help="store the palette raw (format version 1, or 2 with alpha) even where the entropy"
                     " and mix coders would code it smaller (version 3), for readers older than version 3")
    enc.add_argument("--skip-if-larger", action="store_true",
                     help="write no .kmc file larger than its input; exit status 98 if one was"
                     " left out (without it, such a file is written with a warning)")
    enc.add_argument("--background", default=None, metavar="COLOR", type=_background,
                     help="composite transparency onto this colour (#rrggbb or a CSS name such as"
                     " white) and store the image opaque; by default an image with transparency"
                     " keeps it (a .kmc file with alpha)")
    _common_output_flags(enc)
    _batch_flags(enc)

    dec = sub.add_parser("decode", help="decode .kmc files to ordinary images",
                         description="Decode .kmc files to ordinary images.")
    dec.add_argument("input", nargs="+", metavar="IN.kmc",
                     help=".kmc files, folders of them, or - for standard input")
    dec.add_argument(
        "-o", "--output", metavar="OUT",
        help="the image, its format from the suffix, or - for standard output (default: IN"
        " with .png appended, e.g. photo.kmc.png, so that it is never the original; standard"
        " output when IN is -)",
    )
    dec.add_argument("--format", default=None, metavar="EXT",
                     help="output format by suffix: png (default), webp (lossless unless --quality),"
                     " tif, bmp, gif, jpg, ppm, tga, pcx, sgi, qoi; the default name then ends"
                     " .kmc.EXT")
    dec.add_argument("--quality", type=_int_in("--quality", 0, 100), default=None, metavar="Q",
                     help="0 to 100, for lossy outputs: JPEG (default quality 92, no chroma"
                     " subsampling) and WebP (lossy only when Q is given)")
    dec.add_argument("--background", default=None, metavar="COLOR", type=_background,
                     help="for .kmc files with transparency: composite onto this colour (#rrggbb or a"
                     " CSS name such as white); without it alpha is kept (PNG, WebP, TIFF, TGA, SGI,"
                     " QOI) and formats without alpha (JPEG, BMP, GIF, PPM, PCX) are refused")
    _common_output_flags(dec)
    _batch_flags(dec)

    inf = sub.add_parser("info", help="describe .kmc files and check them",
                         description="Describe .kmc files and check every field and the checksum.")
    inf.add_argument("input", nargs="+", metavar="FILE.kmc", help=".kmc files, or - for standard input")
    inf.add_argument("--json", action="store_true",
                     help="print JSON: an object for one file, an array for several")
    _limit_flag(inf)

    cmp_ = sub.add_parser(
        "compare", help="true size and quality of .kmc against PNG, JPEG, WebP, JPEG XL, AVIF and GIF",
        description="Encode each image at each K and compare the .kmc files' true size and"
        " quality with PNG, GIF, JPEG, WebP, JPEG XL and AVIF: the same quantised pixels stored"
        " losslessly, and the original at equal size (CODEC@size) and at equal quality"
        " (CODEC@METRIC), each at the best of its settings. The table, a summary and the codec"
        " versions go to standard output.",
    )
    cmp_.add_argument("images", nargs="+", metavar="IMAGE")
    cmp_.add_argument(
        "-k", type=_k_list, default=None, metavar="LIST",
        help="comma-separated K values (default 2,4,8,16,32,64,128,256)",
    )
    cmp_.add_argument("--seed", type=_int_in("--seed", 0, 2**63 - 1), default=0,
                      help="random seed (default 0)")
    cmp_.add_argument("--json", metavar="F", help="write the rows as a JSON array")
    cmp_.add_argument("--csv", metavar="F", help="write the rows as CSV")
    cmp_.add_argument("--plot", metavar="F.png",
                      help="write images, rate-distortion chart and table; the format follows the"
                      " suffix (png, pdf, svg, ...)")
    cmp_.add_argument("--metric", choices=METRICS, default="psnr",
                      help="the quality the equal-quality rows match, named CODEC@METRIC (default psnr)")
    cmp_.add_argument("--codecs", type=_codec_list, default=None, metavar="LIST",
                      help=f"comma-separated codecs to compare with (default all: {','.join(FAMILIES)})")
    cmp_.add_argument("--no-ssim", action="store_true", help="skip SSIM (faster on huge images)")
    cmp_.add_argument("--no-dithered", action="store_true",
                      help="leave out the kmc-perceptual rows (kmc encode --perceptual --coder entropy, dithered)"
                      " and the rows matched to them")
    cmp_.add_argument("--no-ssimulacra2", action="store_true",
                      help="skip SSIMULACRA2 (the slowest metric: about 0.4 s a row on 0.25 MP)")
    _init_flags(cmp_)
    cmp_.add_argument("-f", "--force", action="store_true", help="overwrite the output files")
    _limit_flag(cmp_)

    plot = sub.add_parser("plot", help="illustrate k-means on an image",
                          description="Illustrate k-means on an image.")
    kinds = plot.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind, help_text, out_help in (
        ("colors", "pixels in RGB space before and after, palette as large markers",
         "the figure; its format follows the suffix (png, pdf, svg, jpg, ...)"),
        ("iterations", "animation of plain k-means (seeding, then Lloyd) moving its centroids",
         "the animation: .gif, .png (APNG) or .webp"),
    ):
        p = kinds.add_parser(kind, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        p.add_argument("input", metavar="IMAGE")
        p.add_argument("-k", type=_int_in("-k", 1, 256), default=8, metavar="K", help="colours (default 8)")
        p.add_argument("-o", "--output", required=True, metavar="OUT", help=out_help)
        p.add_argument("--seed", type=_int_in("--seed", 0, 2**63 - 1), default=0,
                       help="random seed (default 0)")
        _init_flags(p, refine=kind == "colors")
        p.add_argument("-f", "--force", action="store_true", help="overwrite OUT")
        _limit_flag(p)
        p.set_defaults(usage_of=p)
    for p in (enc, dec, inf, cmp_, plot):
        p.set_defaults(usage_of=p)
    return parser


def _init_flags(parser, refine: bool = True) -> None:
    """--init (and --refine): how the k-means run starts, and what follows."""
    from .options import INITS, REFINES
    from .options import EncodeOptions as Defaults

    parser.add_argument(
        "--init", choices=INITS, default=None,
        help=f"how each seeding picks its first centres (default {Defaults.init}): kmeans++, greedy"
        " k-means++ (a weighted median cut when K is in the thousands: see the README); random, the"
        " tutorials' K random pixels: K distinct colours drawn in proportion to their pixel counts,"
        " from --seed",
    )
    if refine:
        parser.add_argument(
            "--refine", choices=REFINES, default=None,
            help=f"what follows the seeding (default {Defaults.refine}): full, kmcodec's engine (Lloyd on"
            " a colour grid, swap refinement, Lloyd on all colours); none, plain Lloyd from the seeds on"
            " all colours until no colour changes cluster, one seeding unless --n-init: the textbook"
            " algorithm (scikit-learn's engine always runs plain Lloyd)",
        )


def _codec_list(text: str) -> list[str]:
    values = [part.strip() for part in text.split(",") if part.strip()]
    for value in values:
        if value not in FAMILIES:
            raise argparse.ArgumentTypeError(f"--codecs names {value!r}; use some of {','.join(FAMILIES)}")
    if not values:
        raise argparse.ArgumentTypeError(f"--codecs is {text!r}; name codecs such as jpeg,avif")
    return list(dict.fromkeys(values))


def _k_list(text: str) -> list[int]:
    parse = _int_in("-k", 1, 65536)
    values = [parse(part.strip()) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"-k is {text!r}; give K values such as 4,16,64")
    return sorted(set(values))


def _positive_float(name: str):
    return _float_in(name, lambda v: 0 < v < float("inf"), "greater than 0 and finite")


def _limit_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-pixels", type=_int_in("--max-pixels", 0), default=None, metavar="N",
        help="refuse images above N pixels (default: Pillow's MAX_IMAGE_PIXELS, "
        "about 89 million); 0 removes the limit: only for trusted files",
    )


def _common_output_flags(parser: argparse.ArgumentParser) -> None:
    _limit_flag(parser)
    parser.add_argument("-f", "--force", action="store_true",
                        help="replace outputs that exist (never an input); write binary data to a terminal")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no status lines (errors and warnings still go to standard error)")


def _batch_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders")
    parser.add_argument("--out-dir", metavar="D", help="write outputs here, mirroring the input tree")
    parser.add_argument("-j", "--jobs", type=_int_in("-j", 1), default=None, metavar="N",
                        help="worker processes for many files (default: all cores)")


def _is_batch(args) -> bool:
    return len(args.input) > 1 or args.out_dir is not None or any(os.path.isdir(p) for p in args.input)


def _no_stdio_in_batch(args) -> None:
    if STDIO in args.input and len(args.input) > 1:
        raise _Usage("- (standard input) is one file: give it alone")
    if STDIO in args.input and args.out_dir is not None:
        raise _Usage("- (standard input) has no name to write under --out-dir; use -o")
    if args.output == STDIO and _is_batch(args):
        raise _Usage("-o - (standard output) takes one input; with several use --out-dir")


def _batch(args, kind: str) -> None:
    from . import batch
    from .errors import ParameterError
    from .wording import plural

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
            results = batch.encode_many(args.input, options=_encode_options(args),
                                        skip_if_larger=args.skip_if_larger, **common)
        else:
            results = batch.decode_many(args.input, fmt=args.format or "png", quality=args.quality,
                                        background=args.background, **common)
    except ParameterError as exc:  # colliding outputs, found before any work
        raise _Usage(str(exc)) from None
    existing = 0
    for r in results:
        if r.skipped and not args.quiet:
            _say(_skipped_line(r.input, r.output, r.bytes_out, r.bytes_in))
        if r.ok:
            continue
        if r.error_type == "OutputExistsError":
            existing += 1
            error = _exists(r.output)
        else:
            error = r.error or ""
            if error.startswith(f"{r.input}: "):  # the library named the file already
                error = error[len(r.input) + 2 :]
            error = f"{_show(r.input)}: {_one_line(error)}"
        print(f"{PROG}: error: {error}", file=sys.stderr)
    summary = batch.summarize(results, time.perf_counter() - start)
    if not args.quiet:
        _say(str(summary))
    if existing > 1:
        print(f"{PROG}: {plural(existing, 'output')} exist; -f would replace them", file=sys.stderr)
    if summary.failed:
        raise _Failed(summary.failed)
    if summary.skipped:
        raise _Skipped


class _Failed(Exception):
    """Some files of a batch failed (already reported): exit status 1."""


class _Skipped(Exception):
    """--skip-if-larger left a file out (already reported): exit status 98."""


def _say(line: str) -> None:
    """A status line: on standard error, which never carries data."""
    print(line, file=sys.stderr)


def _one_line(text: str) -> str:
    from .wording import one_line

    return one_line(text)


def _show(path) -> str:
    """A path as printable text on one line (undecodable bytes as ``\\xNN``)."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        path = getattr(path, "name", "<stream>")
    return _one_line(os.fsencode(path).decode("utf-8", "backslashreplace"))


def _exists(path: str) -> str:
    """The message for an output that exists: what -f would replace."""
    try:
        st = os.stat(path)
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime))
        what = f" ({st.st_size:,} bytes, modified {when})"
    except OSError:
        what = ""
    return f"{_show(path)}: file exists{what}; -f would replace it"


def _skipped_line(src: str, dst: str, size: int, size_in: int) -> str:
    return (f"{PROG}: {_show(src)}: skipped: {_show(dst)} would be {size:,} bytes, larger than the input"
            f" ({size_in:,} bytes); nothing written")


@contextlib.contextmanager
def _about(path):
    """Errors raised while working on ``path`` name it first."""
    from .errors import KmcError, OutputExistsError

    try:
        yield
    except OutputExistsError as exc:
        raise _Failure(_exists(exc.filename)) from None
    except KmcError as exc:
        text = str(exc)
        shown = _show(path)
        raise type(exc)(text if text.startswith((shown, repr(shown))) else f"{shown}: {text}") from None


def _encode_options(args):
    """The EncodeOptions the flags ask for; flags not given keep the defaults."""
    from .codec import options_from
    from .errors import MissingDependencyError, ParameterError

    for flag, value in (("--dither-level", args.dither_level), ("--dither-rate", args.dither_rate),
                        ("--dither-map", args.dither_map)):
        if value is not None and args.dither in (None, "none") and not args.perceptual:
            raise _Usage(f"{flag} needs --dither fs or selective (or --perceptual)")
    dither_map = None if args.dither_map is None else _MAP_WORDS[args.dither_map]
    if args.perceptual:
        from .options import PERCEPTUAL

        for name, value in PERCEPTUAL.items():  # the options refuse these too, but name the field, not the flag
            given = getattr(args, name)  # --dither-map's words: "auto" is also the value
            if given is not None and given != value:
                flag = "--" + name.replace("_", "-")
                raise _Usage(f"--perceptual sets {flag} to {value} but {flag} is {given}; give one or the other")
    try:
        return options_from(k=args.colors, seed=args.seed, n_init=args.n_init, engine=args.engine,
                            max_iter=args.max_iter, init=args.init, refine=args.refine, coder=args.coder,
                            raw_palette=args.raw_palette, target_psnr=args.target_psnr,
                            max_bytes=args.max_bytes, background=args.background, space=args.space,
                            dither=args.dither, dither_level=args.dither_level, dither_rate=args.dither_rate,
                            dither_map=dither_map,
                            smooth_weight=args.smooth_weight, chroma_weight=args.chroma_weight,
                            perceptual=args.perceptual)
    except MissingDependencyError as exc:  # the machine lacks it, not the command line
        raise _Failure(str(exc).replace("engine is", "--engine is", 1)) from None
    except ParameterError as exc:  # a combination of flags that cannot work
        raise _Usage(str(exc)) from None


def _streams(args):
    """The source and destination: a path, or standard input or output.

    Refuses to read an image from a terminal, and to write one to a terminal
    unless -f (as gzip does).
    """
    src = args.input[0]
    to_stdout = args.output == STDIO or (src == STDIO and args.output is None)
    source = sys.stdin.buffer if src == STDIO else src
    if src == STDIO and sys.stdin.isatty():
        raise _Failure("<stdin>: is a terminal; pipe a file in, or name one")
    if to_stdout and sys.stdout.isatty() and not args.force:
        raise _Failure("<stdout>: is a terminal; redirect the output (> FILE), or use -o FILE")
    return source, (sys.stdout.buffer if to_stdout else None)


def _encode(args) -> None:
    _no_stdio_in_batch(args)
    if _is_batch(args):
        return _batch(args, "encode")
    from .clustering import preload, stop_preload
    from .files import encode_file, encoded_name

    options = _encode_options(args)
    source, stdout = _streams(args)
    dst = stdout or args.output or encoded_name(source)
    engine = preload()  # while the image is read
    try:
        with _about(source), _flag_names():
            report = encode_file(source, dst, options, overwrite=args.force, skip_if_larger=args.skip_if_larger)
    except BaseException:
        stop_preload()  # no waiting for it before the error is reported
        raise
    if engine is not None:
        engine.join()
    if report.skipped:
        if not args.quiet:
            _say(_skipped_line(report.input, report.output, report.bytes_out, report.bytes_in))
        raise _Skipped
    if not args.quiet:
        _say(_encode_line(report, options.coder))


@contextlib.contextmanager
def _flag_names():
    """The library's parameter names in its messages become the flags that set them."""
    from .errors import ParameterError

    try:
        yield
    except ParameterError as exc:
        text = str(exc)
        for name, flag in (("max_bytes is", "--max-bytes is"), ("target_psnr is", "--target-psnr is")):
            text = text.replace(name, flag)
        raise type(exc)(text) from None


def _encode_line(report, coder: str) -> str:
    from .container import OVERHEAD
    from .wording import plural

    width, height, k, size = report.width, report.height, report.colors, report.bytes_out
    bits = (k - 1).bit_length()
    mse = report.mse
    psnr = "inf (lossless)" if mse == 0 else f"{10 * math.log10(255**2 / mse):.2f} dB"
    formula = (32 if report.alpha else 24) * k + width * height * bits
    how = (f"formula {formula:,} bits + {OVERHEAD} bytes" if coder == "packed"
           else f"{100 * size / (formula // 8 + OVERHEAD):.1f}% of the packed file")
    return (
        f"{_show(report.output)}: {width}x{height}, {plural(k, 'colour', ',')} ({bits} bits/index), "
        f"{plural(size, 'byte', ',')} ({coder} coder) = {how}; {size * 8 / (width * height):.3f} bits/pixel, "
        f"{'with alpha, MSE of premultiplied RGBA' if report.alpha else 'MSE'} {mse:.2f}, PSNR {psnr},"
        f" {report.seconds:.2f} s"
    )


def _output_format(suffix: str):
    from .errors import ParameterError
    from .outputs import output_format

    try:
        return output_format(suffix)
    except ParameterError as exc:
        raise _Usage(str(exc)) from None


def _check_quality(fmt, quality) -> None:
    from .errors import ParameterError
    from .outputs import save_options

    try:
        save_options(fmt, quality)
    except ParameterError as exc:
        raise _Usage(str(exc).replace("quality is", "--quality is", 1)) from None


def _decode(args) -> None:
    if args.format is not None:
        _check_quality(_output_format(args.format), args.quality)  # before any work or folder
    elif args.output in (None, STDIO):
        _check_quality(_output_format("png"), args.quality)
    _no_stdio_in_batch(args)
    if _is_batch(args):
        return _batch(args, "decode")
    from .files import decode_file, decoded_name

    source, stdout = _streams(args)
    if stdout is not None or not args.output:
        fmt = args.format or "png"
        dst = stdout or decoded_name(source, fmt)
    else:
        suffix = os.path.splitext(args.output)[1]
        if not suffix and args.format is None:
            raise _Usage(f"-o {_show(args.output)!r} has no suffix to name a format; add --format EXT")
        fmt = suffix or args.format
        if args.format is not None and _output_format(args.format) != _output_format(fmt):
            raise _Usage(f"--format is {args.format!r} but -o {_show(args.output)!r} names"
                         f" {_output_format(fmt).name}")
        _check_quality(_output_format(fmt), args.quality)
        dst = args.output
    from .outputs import NoAlphaError

    try:
        with _about(source):
            report = decode_file(source, dst, fmt, overwrite=args.force, quality=args.quality,
                                 background=args.background)
    except NoAlphaError as exc:
        raise _Usage(f"{exc}; give --background COLOR") from None
    if not args.quiet:
        from .wording import plural

        _say(f"{_show(report.output)}: {report.width}x{report.height}, {report.description},"
             f" {plural(report.bytes_out, 'byte', ',')}")


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else f"{part} bytes against 0"


def _info(args) -> None:
    from .codec import info
    from .errors import KmcError

    entries = []
    failed = 0
    for path in args.input:
        source = sys.stdin.buffer if path == STDIO else path
        try:
            if path != STDIO and os.path.isdir(path):
                raise _Failure(f"{_show(path)}: is a folder, not a .kmc file;"
                               f" try {_show(path.rstrip('/') or '/')}/*.kmc")
            with _about(source):
                meta = info(source)
        except (_Failure, KmcError, OSError) as exc:
            if isinstance(exc, BrokenPipeError):
                raise
            message = _error_text(exc)
            print(f"{PROG}: error: {message}", file=sys.stderr)
            failed += 1
            entries.append({"file": _show(source), "error": message})
            continue
        if args.json:
            entries.append({"file": _show(source), **meta.to_dict()})
        else:
            if len(entries):
                print()
            entries.append({})
            _print_info(_show(source), meta)
    if args.json:
        print(json.dumps(entries[0] if len(args.input) == 1 else entries, indent=2))
    if failed:
        raise _Failed(failed)


def _print_info(name: str, meta) -> None:
    from .coder import get_coder
    from .wording import plural

    n = meta.width * meta.height
    k, b = meta.colors, meta.bits_per_index
    entry = 4 if meta.alpha else 3
    channels = ": R, G, B, A)" if meta.alpha else ")"
    if meta.coded_palette:
        palette = (f"{meta.palette_bytes:>12,} bytes  = coded, {8 * meta.palette_bytes / k:.2f} bits per colour"
                   f" (raw {entry} x {k} = {entry * k:,}{channels}")
    else:
        palette = f"{meta.palette_bytes:>12,} bytes  = {entry} x {k} ({8 * entry} bits per colour{channels}"
    rows = [
        ("image", f"{meta.width} x {meta.height} = {plural(n, 'pixel', ',')}"
                  + (", with alpha" if meta.alpha else "")),
        ("palette", f"{plural(k, 'colour', ',')}, {plural(b, 'bit')} per index"),
        ("coder", f"{meta.coder} (format version {meta.version})"),
        ("header", f"{meta.header_bytes:>12,} bytes"),
        ("palette", palette),
        *get_coder(meta.coder).describe(meta),
        ("trailer", f"{meta.trailer_bytes:>12,} bytes  (CRC-32)"),
        ("total", f"{meta.total_bytes:>12,} bytes"),
        (
            "formula",
            f"{8 * entry}K + N*ceil(log2 K) = {meta.formula_bits:,} bits = "
            f"{(meta.formula_bits + 7) // 8:,} bytes; "
            + (f"the file adds {plural(meta.total_bytes - (meta.formula_bits + 7) // 8, 'byte')}"
               if meta.coder == "packed" else
               f"the file is {_share(meta.total_bytes, (meta.formula_bits + 7) // 8)} of it"),
        ),
        ("bits/pixel", f"{meta.total_bytes * 8 / n:.4f} (raw {'RGBA: 32' if meta.alpha else 'RGB: 24'})"),
    ]
    print(name)
    for label, text in rows:
        print(f"  {label:<10} {text}")


def _compare(args) -> None:
    try:
        from .compare import DEFAULT_KS, compare
        from .compare_report import format_summary, format_table, format_versions, write_csv, write_json
        from .rivals import versions
        import tqdm  # noqa: F401
        if not args.no_ssim:
            import skimage  # noqa: F401
        if not args.no_ssimulacra2:
            import ssimulacra2  # noqa: F401
    except ImportError as exc:
        raise _Failure(f"kmc compare needs its extra: pip install \"kmcodec[compare]\" ({exc})") from None
    from .atomicfile import atomic_output

    for flag, off in (("ssim", args.no_ssim), ("ssimulacra2", args.no_ssimulacra2)):
        if args.metric == flag and off:
            raise _Usage(f"--metric {flag} matches on the metric --no-{flag} switches off")
    plot_format = None
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise _Failure('--plot needs matplotlib: pip install "kmcodec[plot]"') from None
        plot_format = _plot_format(args.plot, "figure")
    for path in args.images:
        if not os.path.isfile(path):
            raise _Failure(f"{_show(path)}: no such file")
    for target in (args.json, args.csv, args.plot):
        if target and os.path.lexists(target) and not args.force:
            raise _Failure(_exists(target))
    ks = args.k or list(DEFAULT_KS)
    thumbs: dict | None = {} if args.plot else None
    rows = compare(args.images, ks, args.seed, want_ssim=not args.no_ssim,
                   progress=sys.stderr.isatty(), thumbs=thumbs, metric=args.metric,
                   want_ssimulacra2=not args.no_ssimulacra2, codecs=args.codecs or FAMILIES,
                   dithered=not args.no_dithered, options=_clustering_options(args))
    print(format_table(rows, args.metric))
    summary = format_summary(rows, args.metric)
    if summary:
        print()
        print(summary)
    print()
    print(format_versions(versions()))
    for target, writer in ((args.json, write_json), (args.csv, write_csv)):
        if target:
            text = io.StringIO()
            writer(rows, text)
            with atomic_output(target, args.force) as fh:
                fh.write(text.getvalue().encode())
    if args.plot:
        from .plots import comparison_figure

        with atomic_output(args.plot, args.force) as fh:
            comparison_figure(rows, thumbs or {}, fh, plot_format or "png", metric=args.metric)


def _plot_format(path: str, kind: str) -> str:
    from . import plots
    from .errors import ParameterError

    try:
        return plots.figure_format(path) if kind == "figure" else plots.animation_format(path)
    except ParameterError as exc:
        raise _Usage(str(exc)) from None


def _clustering_options(args):
    """The EncodeOptions of --init and --refine, where a command has them."""
    from .codec import options_from

    return options_from(init=args.init, refine=getattr(args, "refine", None))


def _plot(args) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise _Failure('kmc plot needs matplotlib: pip install "kmcodec[plot]"') from None
    from . import plots
    from .atomicfile import atomic_output
    from .codec import quantize
    from .files import check_paths
    from .images import to_rgb_array

    fmt = _plot_format(args.output, "figure" if args.kind == "colors" else "animation")
    check_paths(args.input, args.output)
    with _about(args.input):
        rgb = to_rgb_array(args.input)
    options = _clustering_options(args)
    with _about(args.output), atomic_output(args.output, args.force) as fh:
        if args.kind == "colors":
            plots.colors_figure(rgb, quantize(rgb, args.k, args.seed, options=options), fh, args.seed, fmt)
        else:
            frames = plots.iterations_animation(rgb, args.k, fh, args.seed, fmt=fmt, init=options.init)
    if args.kind == "iterations":
        from .wording import plural

        _say(f"{_show(args.output)}: {plural(frames, 'frame')}")
    else:
        _say(f"{_show(args.output)}: written")


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
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except BrokenPipeError:
        return _broken_pipe()


def _broken_pipe() -> int:
    # The reader went away (kmc ... | head): end quietly, as Unix tools do
    # when SIGPIPE kills them.  Python flushes stdout once more at exit;
    # point it at /dev/null so that this flush cannot fail again.
    stdout = sys.__stdout__
    if stdout is not None and sys.stdout is stdout:
        with contextlib.suppress(Exception):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stdout.fileno())
            os.close(devnull)
    return EXIT_BROKEN_PIPE


def _main(argv: list[str]) -> int:
    from ._process import configure_process

    configure_process()
    _printable_streams()
    parser = _parser()
    if not argv:
        parser.print_help()
        return 0
    try:
        args, extras = parser.parse_known_args(argv)
        if extras:
            # The sub-command's usage, not the top level's: that is the
            # one that lists the options the user was reaching for.
            getattr(args, "usage_of", parser).error(f"unrecognized arguments: {' '.join(extras)}")
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


def _error_text(exc: BaseException) -> str:
    """The one line for an error (without the ``kmc: error:`` prefix)."""
    from .errors import PixelLimitError

    if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError) and exc.strerror:
        name = _show(exc.filename) if exc.filename is not None else ""
        return f"{name}{': ' if name else ''}{_one_line(exc.strerror)}"
    text = _one_line(str(exc))
    if isinstance(exc, PixelLimitError) and "above the limit" in text and "raise the limit" not in text:
        text += "; --max-pixels N raises the limit"
    return text


@contextlib.contextmanager
def _warnings_as_lines():
    """Each warning, once, as a ``kmc: warning:`` line when it happens
    (before the summary that follows the work)."""
    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = _one_line(str(message))
        if text not in seen:
            seen.add(text)
            print(f"{PROG}: warning: {text}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        # An unclosed file is Python's housekeeping, not news for the user.
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.showwarning = show
        yield


@contextlib.contextmanager
def _notes_as_lines():
    """Print kmcodec's log messages as ``kmc: note:`` lines, as they come.

    The library logs only what must be said before a long wait (compiling
    the entropy coder on first use).
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
    from .errors import KmcError

    if getattr(args, "max_pixels", None) is not None:
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = args.max_pixels or None
    try:
        with _notes_as_lines(), _warnings_as_lines():
            _COMMANDS[args.command](args)
    except BrokenPipeError:
        raise
    except _Usage as exc:
        print(f"{PROG} {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except (_Failure, KmcError, OSError) as exc:
        print(f"{PROG}: error: {_error_text(exc)}", file=sys.stderr)
        return 1
    except _Failed:
        return 1
    except _Skipped:
        return EXIT_SKIPPED
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
