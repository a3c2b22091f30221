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

__all__ = ["EncodeOptions", "ENGINES", "MAX_COLORS", "PERCEPTUAL", "check_int"]

#: The k-means engines: kmcodec's own, or scikit-learn's KMeans.
ENGINES = ("kmeans", "sklearn")
#: The largest palette a .kmc file holds.
MAX_COLORS = 65536
#: What ``perceptual=True`` sets: the best combination of bench/perceptual.py.
PERCEPTUAL = {"space": "oklab", "dither": "selective"}
_FIELD_DEFAULTS = {"space": "rgb", "dither": "none"}


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
        kept.  "auto" is 6 for k <= 32, 2 for k <= 128 and 1 above.
    engine : {"kmeans", "sklearn"}, default "kmeans"
        kmcodec's own engine, or scikit-learn's ``KMeans`` (the optional extra
        ``kmcodec[sklearn]``; MissingDependencyError without it).
    max_iter : int, default 300
        Cap on Lloyd iterations per run.
    tol : float, default 1e-4
        Convergence tolerance, relative to the image's colour variance.
    coder : str, default "packed"
        A registered coder's name (an id is accepted and stored as the name).
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
        Strength of the dithering, 0 (none) to 1 (the whole error passed on).
    perceptual : bool, default False
        The settings that look best for their size, measured by
        ``bench/perceptual.py`` (:data:`PERCEPTUAL`: for now Oklab with
        selective dithering), so that users need not tune; ``space`` and
        ``dither`` must then be left at their defaults or given those values.
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
    space: str = "rgb"
    dither: str = "none"
    dither_level: float = 1.0
    perceptual: bool = False

    def __post_init__(self) -> None:
        fix = object.__setattr__  # frozen: normalised values are set once, here
        fix(self, "k", check_int("k", self.k, 1, MAX_COLORS))
        fix(self, "seed", check_int("seed", self.seed, 0, 2**63 - 1))
        if self.n_init != "auto":
            fix(self, "n_init", check_int("n_init", self.n_init, 1))
        fix(self, "max_iter", check_int("max_iter", self.max_iter, 1))
        if not isinstance(self.perceptual, bool):
            raise ParameterError(f"perceptual is {self.perceptual!r}; it must be True or False")
        if self.perceptual:
            for name, value in PERCEPTUAL.items():
                given = getattr(self, name)
                if given not in (value, _FIELD_DEFAULTS[name]):
                    raise ParameterError(f"perceptual sets {name} to {value!r} but {name} is {given!r};"
                                         f" give one or the other")
                fix(self, name, value)
        if self.space not in SPACES:
            raise ParameterError(f"space is {self.space!r}; it must be one of {SPACES}")
        if self.dither not in DITHER_METHODS:
            raise ParameterError(f"dither is {self.dither!r}; it must be one of {DITHER_METHODS}")
        level = self.dither_level
        if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 <= float(level) <= 1:
            raise ParameterError(f"dither_level is {level!r}; it must be a number from 0 to 1")
        fix(self, "dither_level", float(level))
        if self.engine not in ENGINES:
            raise ParameterError(f"engine is {self.engine!r}; it must be one of {ENGINES}")
        if self.engine == "sklearn" and importlib.util.find_spec("sklearn") is None:
            raise MissingDependencyError(
                "engine is 'sklearn' but scikit-learn is not installed: pip install \"kmcodec[sklearn]\""
            )
        if isinstance(self.tol, bool) or not isinstance(self.tol, numbers.Real) or not float(self.tol) >= 0:
            raise ParameterError(f"tol is {self.tol!r}; it must be a number >= 0")
        fix(self, "tol", float(self.tol))
        fix(self, "coder", get_coder(self.coder).name)
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

    def replace(self, **changes: Any) -> EncodeOptions:
        """A copy with ``changes``, validated again."""
        return dataclasses.replace(self, **changes)

    @property
    def seedings(self) -> int:
        """``n_init`` with "auto" resolved for this ``k``."""
        if self.n_init == "auto":
            return 6 if self.k <= 32 else 2 if self.k <= 128 else 1
        return int(self.n_init)
