"""Pillow plugin: ``Image.open("x.kmc")`` and ``im.save("x.kmc", colors=K)``.

Registered by ``import kmcodec``.  Opening reads only the header and the
palette, except that a coded palette (format version 3) is decoded only
after the whole file, read at open, has passed its CRC-32 (spec section
14.3); pixels are decoded, and the whole file checked, on ``load()``.
A file with up to 256 colours opens in mode "P" with its palette (and, for
a file with alpha, the entries' alphas as ``info["transparency"]``, as
Pillow's PNG reader gives them); a larger palette does not fit Pillow's
"P" mode, so such a file opens as "RGB", or "RGBA" with alpha.

Save options: ``colors`` (K, as ``Image.quantize`` names it; ``k`` also
works), ``seed``, ``n_init``, ``engine``, ``init``, ``refine``, ``max_iter``, ``tol``, ``coder``, ``raw_palette``,
``target_psnr``, ``max_bytes``, ``background``, ``space``, ``dither``,
``dither_level``, ``dither_rate``, ``dither_map``, ``smooth_weight``, ``chroma_weight``, ``perceptual``: every
field of :class:`kmcodec.EncodeOptions`, with its defaults; or ``options=EncodeOptions(...)`` with any of them on top.
Any other keyword is a ParameterError, not silently ignored.
"""

from __future__ import annotations

from typing import IO, Any

from PIL import Image, ImageFile, ImagePalette

from . import container
from .coder import fits_in_memory
from .errors import ParameterError, PixelLimitError

_MAX_P_COLORS = 256
_MAX_SIDE = 2**31 - 1  # Pillow stores width and height as C ints


def _accept(prefix: bytes) -> bool:
    return prefix[:4] == container.MAGIC


class KmcImageFile(ImageFile.ImageFile):
    format = "KMC"
    format_description = "k-means palette image (kmcodec)"

    def _open(self) -> None:
        assert self.fp is not None
        # The declared lengths are checked against the real size before
        # anything is read or allocated: a forged payload_bytes of 2**63
        # must be a FormatError, not a MemoryError.
        self.fp.seek(0, 2)
        size = self.fp.tell()
        self.fp.seek(0)
        header = container.parse_header(container.read_header_bytes(self.fp), size)
        channels = 1 if header.colors <= _MAX_P_COLORS else header.channels
        if max(header.width, header.height) > _MAX_SIDE or not fits_in_memory(
            header.pixels * channels
        ):
            raise PixelLimitError(
                f"width x height is {header.width} x {header.height}: more than a Pillow"
                f" image holds ({_MAX_SIDE} pixels a side) or this machine's memory"
            )
        self._size = (header.width, header.height)
        self.info["colors"] = header.colors
        self.info["coder"] = container.coder_of(header).name
        if header.colors <= _MAX_P_COLORS:
            self._mode = "P"
            if header.coded_palette:
                # Decoded only behind a good CRC, as every reader must (spec section 14.3).
                self.fp.seek(0)
                raw = container.read_palette(self.fp.read(header.total_bytes))[1].tobytes()
            else:
                raw = self.fp.read(header.palette_bytes)
            if header.alpha:
                self.info["transparency"] = raw[3::4]
                raw = b"".join(raw[i : i + 3] for i in range(0, len(raw), 4))
            self.palette = ImagePalette.raw("RGB", raw)
        else:
            self._mode = "RGBA" if header.alpha else "RGB"
        self._total_bytes = header.total_bytes
        self.tile = [ImageFile._Tile("kmc", (0, 0, *self._size), 0, (header.total_bytes,))]

    def verify(self) -> None:
        """Make every decoder check of the spec on the whole file."""
        assert self.fp is not None
        self.fp.seek(0)
        container.info(self.fp.read(self._total_bytes + 1))
        super().verify()


class KmcDecoder(ImageFile.PyDecoder):
    _pulls_fd = True

    def decode(self, buffer: Any) -> tuple[int, int]:
        from .codec import decode_palette

        assert self.fd is not None
        total = self.args[0]
        # One byte more than declared, so that trailing bytes are reported.
        data = self.fd.read(total + 1)
        palette, indices = decode_palette(data)
        if self.mode == "P":
            self.set_as_raw(indices.tobytes(), "P")
        else:
            self.set_as_raw(palette[indices].tobytes(), self.mode)
        return -1, 0


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    from .codec import encode, options_from

    from .options import NAMES

    encode_settings = dict(im.encoderinfo)
    known = {"colors", "options", *NAMES}
    unknown = sorted(set(encode_settings) - known)
    if unknown:
        raise ParameterError(
            f"save option {unknown[0]!r} is not one the KMC writer takes; it takes "
            + ", ".join(sorted(known))
        )
    options = encode_settings.pop("options", None)
    if "colors" in encode_settings:
        if "k" in encode_settings:
            raise ParameterError("give colors or k, not both: they are the same setting (K)")
        encode_settings["k"] = encode_settings.pop("colors")
    fp.write(encode(im, options=options_from(options, **encode_settings)))


Image.register_open(KmcImageFile.format, KmcImageFile, _accept)
Image.register_decoder("kmc", KmcDecoder)
Image.register_save(KmcImageFile.format, _save)
Image.register_extension(KmcImageFile.format, ".kmc")
Image.register_mime(KmcImageFile.format, "image/x-kmc")
