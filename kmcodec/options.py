"""The encoder's settings, in one validated object.

Every default lives here and only here; the API, the command line, batches
and the Pillow plugin build an :class:`EncodeOptions` and pass it on, as
libimagequant keeps all its settings in one attributes object.  Validation
happens once, when the object is made; the modules below trust it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import numbers
from dataclasses import dataclass
from typing import Any

from .coder import get_coder
from .colorspace import SPACES
from .dither import METHODS as DITHER_METHODS
from .errors import MissingDependencyError, ParameterError

__all__ = ["EncodeOptions", "ENGINES", "INITS", "REFINES", "MAX_COLORS", "PERCEPTUAL", "NAMES", "PLAIN", "AUTO_CHROMA",
           "AUTO_MAP", "check_int"]

#: The k-means engines: kmcodec's own, or scikit-learn's KMeans.
ENGINES = ("kmeans", "sklearn")
#: How the first centres are chosen: k-means++, or random colours of the image.
INITS = ("kmeans++", "random")
#: What follows the seeding: the engine's whole pipeline, or plain Lloyd only.
REFINES = ("full", "none")
#: The largest palette a .kmc file holds.
MAX_COLORS = 65536
#: What ``perceptual=True`` sets: the best combination of bench/perceptual.py.
PERCEPTUAL = {"space": "oklab", "dither": "fs", "dither_level": 0.75, "dither_rate": 1.0, "dither_map": "auto",
              "smooth_weight": 1.0, "chroma_weight": "auto"}
#: What the fields :data:`PERCEPTUAL` sets are when neither they nor ``perceptual`` are given.
PLAIN = {"space": "rgb", "dither": "none", "dither_level": 1.0, "dither_rate": 0.0, "dither_map": False,
         "smooth_weight": 0.0, "chroma_weight": 1.0}
#: ``chroma_weight="auto"``: (smaller side below this many pixels, weight);
#: 1 from the last.  They are the sides at which SSIMULACRA2, which halves
#: an image up to five times and stops below 8 pixels, gains its fifth and
#: its sixth scale (bench/perceptual.py: 150 x 112 against 150 x 113).
AUTO_CHROMA = ((113, 3.0), (225, 2.0))
#: ``dither_map="auto"``: on where the smaller side is below this; measured
#: the same way (bench/perceptual.py: the map costs points from six scales).
AUTO_MAP = 225


class _Unset:
    """A field left out, told apart from one given its plain value."""

    def __init__(self, plain: Any) -> None:
        self.plain = plain

    def __repr__(self) -> str:
        return f"{self.plain!r} unless perceptual"


def _unset(name: str) -> Any:
    # Typed Any so that the fields keep their plain types once __post_init__ has resolved them.
    return _Unset(PLAIN[name])


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an int, or a ParameterError naming ``name``, the value and the rule."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{name} is {value!r}; it must be an integer")
    value = int(value)
    if value < low or (high is not None and value > high):
        rule = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ParameterError(f"{name} is {value}; it must be {rule}")
    return value


@dataclass(frozen=True)
class EncodeOptions:
    """How an image is quantised and coded.

    Parameters
    ----------
    k : int, default 16
        Largest palette size, 1 to 65536.  An image with ``k`` or fewer
        distinct colours is kept exactly.
    seed : int, default 0
        Seeds every random choice: same image and settings, same bytes.
    n_init : int or "auto", default "auto"
        Independent k-means seedings; the best (lowest squared error) is
        kept.  "auto" is 6 for k <= 32, 2 for k <= 128 and 1 above; 1 with
        ``refine="none"``.
    engine : {"kmeans", "sklearn"}, default "kmeans"
        kmcodec's own engine, or scikit-learn's ``KMeans`` (the optional extra
        ``kmcodec[sklearn]``; MissingDependencyError without it).
    init : {"kmeans++", "random"}, default "kmeans++"
        How each seeding picks its first centres.  "kmeans++": greedy
        k-means++ (as scikit-learn's), weighted by pixel counts; when K is so
        large that it would cost more than 2e8 distance evaluations on the
        grid's cells (4e9 on all colours with ``refine="none"``), which is
        K in the thousands on a photograph, a deterministic weighted median
        cut instead, and only one seeding.  "random": the
        tutorials' "K random pixels": K distinct colours of the image drawn
        at random in proportion to their pixel counts, without replacement,
        from ``seed``.
    refine : {"full", "none"}, default "full"
        What follows the seeding with the "kmeans" engine.  "full": the
        engine's pipeline (:mod:`kmcodec.clustering`: Lloyd on a colour
        grid, swap refinement, then Lloyd on all colours).  "none": plain
        Lloyd from the seeds on all the image's colours until no colour
        changes cluster (``tol`` is not used) or ``max_iter``, one seeding
        unless ``n_init`` says otherwise, nothing else: the textbook
        algorithm, to run exactly and compare.  With transparency, opaque
        and translucent colours are still clustered apart and settled under
        the alpha rules (:mod:`kmcodec.alpha_palette`).  scikit-learn's
        engine always runs plain Lloyd.
    max_iter : int, default 300
        Cap on Lloyd iterations per run.
    tol : float, default 1e-4
        Convergence tolerance, relative to the image's colour variance.
    coder : str, default "packed"
        A registered coder's name (an id is accepted and stored as the name).
    raw_palette : bool, default False
        Store the palette raw (format version 1, or 2 with alpha) even where
        coding it would be smaller, for readers that predate format version
        3 (spec section 14).  By default coders other than "packed" code it
        when that is smaller; "packed" never does.
    target_psnr : float, optional
        Choose the smallest K whose PSNR reaches this many dB (``k`` is
        then ignored).
    max_bytes : int, optional
        Choose the largest K whose file, with ``coder``, fits in this many
        bytes (``k`` is then ignored; see :func:`kmcodec.quantize_for_bytes`).
    space : {"rgb", "oklab"}, default "rgb"
        Where colour distances are measured while the palette is searched
        and pixels are mapped to it (:mod:`kmcodec.colorspace`): 8-bit sRGB
        values, which minimises the mean squared error, or Oklab, where
        distances follow perceived differences.  The file stores sRGB
        either way.  With transparency the colour is premultiplied by alpha
        in either space.
    dither : {"none", "fs", "selective"}, default "none"
        How pixels are mapped to the palette (:mod:`kmcodec.dither`):
        each to its nearest entry; Floyd-Steinberg error diffusion with
        serpentine scanning, the error measured in ``space``; or the same
        only where the image is smooth (crisp edges, smaller files).
    dither_level : float, default 1.0
        Strength of the dithering, 0 (none) to 1 (the whole error passed on),
        scaled down for a palette too fine for bands to show
        (:data:`kmcodec.dither.FINE`).
    dither_rate : float, default 0.0
        Rate-aware dithering, 0 to 4 (:mod:`kmcodec.dither`): how readily a
        pixel takes an entry a neighbour already holds, which the entropy
        coders code in few bits, instead of its nearest entry; 0 always
        takes the nearest.
    dither_map : bool or "auto", default False
        Whether a pixel passes on less of its error where its undithered
        entry changes often (after libimagequant's dither map,
        :mod:`kmcodec.dither`): texture is dithered less, long runs of one
        entry, where bands show, nearly fully.  "auto" (what ``perceptual``
        sets): where the image's smaller side is below :data:`AUTO_MAP`
        (225) pixels.
    smooth_weight : float, default 0.0
        How many times more a pixel in a smooth area counts while the
        palette is searched, 0 to 100 (:mod:`kmcodec.importance`): the eye
        sees errors there, and texture hides them.  0 minimises the plain
        mean squared error.
    chroma_weight : float or "auto", default 1.0
        With ``space="oklab"``, Oklab's a and b (hue and colourfulness) are
        multiplied by this, 1 to 10, while the palette is searched and the
        pixels are mapped and dithered: more of the palette goes to keeping
        hues apart.  "auto" (what ``perceptual`` sets) follows the image's
        smaller side: 3 below 113 pixels, 2 below 225 and 1 from there
        (:data:`AUTO_CHROMA`).  On a small image a lost hue is what people
        notice first; once the image is large enough for the coarse
        scales of SSIMULACRA2, which weigh lightness over wide areas, the
        weight costs more than it gives.  Must be 1 with ``space="rgb"``.
    perceptual : bool, default False
        The settings that look best for their size, measured by
        ``bench/perceptual.py`` (:data:`PERCEPTUAL`: Oklab, Floyd-Steinberg
        dithering at ``dither_level`` 0.75 with ``dither_rate`` 1 and
        ``dither_map`` "auto", ``smooth_weight`` 1, ``chroma_weight``
        "auto"), so that users need not tune; ``space``, ``dither``,
        ``dither_level``, ``dither_rate``, ``dither_map``,
        ``smooth_weight`` and ``chroma_weight`` must then be left out or
        given those values (a field given its plain default, such as
        ``dither_level=1.0``, is refused).
    background : str or (R, G, B), optional
        Composite an image with transparency onto this colour (``"#rrggbb"``,
        a CSS colour name, or integers 0..255; stored as a tuple) and store
        it opaque.  By default transparency is kept: a file with alpha
        (format version 2) when any pixel is not fully opaque.

    Raises
    ------
    ParameterError
        When made with any invalid value, naming the field, the value and
        the rule.
    """

    k: int = 16
    seed: int = 0
    n_init: int | str = "auto"
    engine: str = "kmeans"
    max_iter: int = 300
    tol: float = 1e-4
    coder: str = "packed"
    target_psnr: float | None = None
    max_bytes: int | None = None
    background: tuple[int, int, int] | None = None
    space: str = _unset("space")
    dither: str = _unset("dither")
    dither_level: float = _unset("dither_level")
    dither_rate: float = _unset("dither_rate")
    dither_map: bool | str = _unset("dither_map")
    smooth_weight: float = _unset("smooth_weight")
    chroma_weight: float | str = _unset("chroma_weight")
    perceptual: bool = False
    init: str = "kmeans++"
    refine: str = "full"
    # Appended last, as init and refine were, so that positional arguments keep their meaning.
    raw_palette: bool = False
    # Which of PLAIN's fields were given, so that replace() resolves the others again.
    _given: frozenset[str] = dataclasses.field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fix = object.__setattr__  # frozen: normalised values are set once, here
        fix(self, "k", check_int("k", self.k, 1, MAX_COLORS))
        fix(self, "seed", check_int("seed", self.seed, 0, 2**63 - 1))
        if self.n_init != "auto":
            fix(self, "n_init", check_int("n_init", self.n_init, 1))
        fix(self, "max_iter", check_int("max_iter", self.max_iter, 1))
        if not isinstance(self.perceptual, bool):
            raise ParameterError(f"perceptual is {self.perceptual!r}; it must be True or False")
        chosen = PERCEPTUAL if self.perceptual else PLAIN
        fix(self, "_given", frozenset(name for name in chosen if not isinstance(getattr(self, name), _Unset)))
        for name, value in chosen.items():
            given = getattr(self, name)
            if isinstance(given, _Unset):
                fix(self, name, value)
            elif self.perceptual and given != value:
                raise ParameterError(f"perceptual sets {name} to {value!r} but {name} is {given!r};"
                                     f" give one or the other")
        for name, high in (("dither_rate", 4), ("smooth_weight", 100)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) <= high:
                raise ParameterError(f"{name} is {value!r}; it must be a number from 0 to {high}")
            fix(self, name, float(value))
        if self.space not in SPACES:
            raise ParameterError(f"space is {self.space!r}; it must be one of {SPACES}")
        chroma = self.chroma_weight
        if chroma != "auto":
            if isinstance(chroma, bool) or not isinstance(chroma, numbers.Real) or not 1 <= float(chroma) <= 10:
                raise ParameterError(f"chroma_weight is {chroma!r}; it must be a number from 1 to 10, or 'auto'")
            fix(self, "chroma_weight", float(chroma))
            if self.space == "rgb" and chroma != 1:
                raise ParameterError(f"chroma_weight is {chroma!r} but space is 'rgb'; it weighs Oklab's a and b,"
                                     " so it needs space='oklab'")
        if not (isinstance(self.dither_map, bool) or self.dither_map == "auto"):
            raise ParameterError(f"dither_map is {self.dither_map!r}; it must be True, False or 'auto'")
        if self.dither not in DITHER_METHODS:
            raise ParameterError(f"dither is {self.dither!r}; it must be one of {DITHER_METHODS}")
        level = self.dither_level
        if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 <= float(level) <= 1:
            raise ParameterError(f"dither_level is {level!r}; it must be a number from 0 to 1")
        fix(self, "dither_level", float(level))
        for name, allowed in (("engine", ENGINES), ("init", INITS), ("refine", REFINES)):
            if getattr(self, name) not in allowed:
                raise ParameterError(f"{name} is {getattr(self, name)!r}; it must be one of {allowed}")
        if self.engine == "sklearn" and importlib.util.find_spec("sklearn") is None:
            raise MissingDependencyError(
                "engine is 'sklearn' but scikit-learn is not installed: pip install \"kmcodec[sklearn]\""
            )
        if isinstance(self.tol, bool) or not isinstance(self.tol, numbers.Real) or not float(self.tol) >= 0:
            raise ParameterError(f"tol is {self.tol!r}; it must be a number >= 0")
        fix(self, "tol", float(self.tol))
        fix(self, "coder", get_coder(self.coder).name)
        if not isinstance(self.raw_palette, bool):
            raise ParameterError(f"raw_palette is {self.raw_palette!r}; it must be True or False")
        if self.target_psnr is not None:
            value = self.target_psnr
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
                raise ParameterError(f"target_psnr is {value!r}; it must be a positive number of dB")
            fix(self, "target_psnr", float(value))
        if self.max_bytes is not None:
            fix(self, "max_bytes", check_int("max_bytes", self.max_bytes, 1))
        if self.target_psnr is not None and self.max_bytes is not None:
            raise ParameterError("give target_psnr or max_bytes, not both")
        if self.background is not None:
            from .alpha import parse_background

            fix(self, "background", parse_background(self.background))

    def chroma(self, height: int, width: int) -> float:
        """The chroma weight for an image of ``height`` x ``width`` pixels ("auto" resolved; 1 with RGB)."""
        if self.space == "rgb":
            return 1.0
        if self.chroma_weight == "auto":
            return next((w for below, w in AUTO_CHROMA if min(height, width) < below), 1.0)
        return float(self.chroma_weight)

    def mapped(self, height: int, width: int) -> bool:
        """Whether the dithering of an image of ``height`` x ``width`` pixels
        uses the dither map (``dither_map`` with "auto" resolved)."""
        if self.dither_map == "auto":
            return min(height, width) < AUTO_MAP
        return bool(self.dither_map)

    def replace(self, **changes: Any) -> EncodeOptions:
        """A copy with ``changes``, validated again.

        The fields :data:`PERCEPTUAL` sets and that were left out stay left
        out, so that ``replace(perceptual=True)`` works on the defaults.
        Use this, not ``dataclasses.replace``, which passes every field as
        given.
        """
        kept = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.init and (f.name not in PLAIN or f.name in self._given)}
        return EncodeOptions(**{**kept, **changes})

    @property
    def seedings(self) -> int:
        """``n_init`` with "auto" resolved for this ``k``."""
        if self.n_init == "auto":
            if self.refine == "none":
                return 1  # the textbook run: one seeding
            return 6 if self.k <= 32 else 2 if self.k <= 128 else 1
        return int(self.n_init)


#: The fields an EncodeOptions is made from, as the API and the plugin accept them.
NAMES = tuple(f.name for f in dataclasses.fields(EncodeOptions) if f.init)
