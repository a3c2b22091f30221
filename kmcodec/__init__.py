"""kmcodec: k-means colour quantisation written as a real file format, .kmc.

A .kmc file is a 28-byte header, a palette of K RGB colours (24 bits each),
one ceil(log2 K)-bit index per pixel, bit-packed, and a CRC-32: exactly the
textbook 24K + N*ceil(log2 K) bits plus 32 bytes.

Importing this package registers a Pillow plugin for ``.kmc`` files.
"""

from __future__ import annotations

from . import pillow_plugin as _pillow_plugin  # noqa: F401  (registers "KMC")
from .codec import (
    Quantized,
    decode,
    decode_palette,
    encode,
    info,
    k_for_bytes,
    quantize,
    quantize_for_bytes,
    quantize_for_psnr,
    read,
    write,
)
from . import container  # noqa: F401  (kmcodec.container: the format module)
from .options import EncodeOptions
from .container import KmcInfo
from .errors import (
    FormatError,
    InputError,
    KmcError,
    KmcWarning,
    MissingDependencyError,
    OutputExistsError,
    ParameterError,
    PixelLimitError,
    UnsupportedFormatError,
)

__version__ = "0.1.0"

__all__ = [
    "EncodeOptions",
    "encode",
    "decode",
    "decode_palette",
    "quantize",
    "quantize_for_psnr",
    "quantize_for_bytes",
    "k_for_bytes",
    "read",
    "write",
    "info",
    "Quantized",
    "KmcInfo",
    "KmcError",
    "FormatError",
    "UnsupportedFormatError",
    "PixelLimitError",
    "ParameterError",
    "InputError",
    "MissingDependencyError",
    "OutputExistsError",
    "KmcWarning",
    "__version__",
]
