"""``kmc compare``'s outputs: the table, the equal-quality summary, JSON and CSV.

The JSON and CSV rows are :meth:`kmcodec.compare.Row.to_dict`: the keys of
:data:`kmcodec.compare.JSON_KEYS` first, then the rest (``against`` and
``settings`` on matched rows; ``settings`` is a JSON object in CSV too).
"""

from __future__ import annotations

import json
import math
import os

from .metrics import METRIC_NAMES

__all__ = ["write_json", "write_csv", "format_table", "format_summary", "format_versions"]


def write_json(rows, fh) -> None:
    json.dump([r.to_dict() for r in rows], fh, indent=1)
    fh.write("\n")


def write_csv(rows, fh) -> None:
    import csv

    from .compare import JSON_KEYS

    dicts = [r.to_dict() for r in rows]
    keys = list(JSON_KEYS) + sorted({k for d in dicts for k in d} - set(JSON_KEYS))
    writer = csv.DictWriter(fh, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for d in dicts:
        writer.writerow({k: _cell(d.get(k)) for k in keys})


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _settings_text(settings: dict | None) -> str:
    """A matched row's settings in a few words: ``q=92 4:4:4 progressive``."""
    if not settings:
        return ""
    words = []
    for key, value in settings.items():
        if key == "quality":
            words.append(f"q={value}")
        elif key == "subsampling":
            words.append(str(value))
        elif key == "progressive":
            words.append("progressive" if value else "baseline")
        elif key in ("optimize", "lossless"):
            continue
        else:
            words.append(f"{key}={value}")
    return " ".join(words)


def _number(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    if math.isnan(value):
        return "nan"
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"


def format_table(rows, metric: str = "psnr") -> str:
    """An aligned text table; ``*`` marks the best value of each (image, K) group.

    Best: fewest bytes, highest PSNR, SSIM and SSIMULACRA2.  The png row
    (the original, losslessly) stands alone at the top of each image.
    """
    header = ["image", "K", "method", "vs", "bytes", "bits/px", "x raw", "PSNR dB", "SSIM", "SSIMU2",
              "enc s", "dec s", "settings; note"]
    lines = []
    groups: dict = {}
    for r in rows:
        groups.setdefault((r.image, r.k), []).append(r)
    with_alpha = {r.image for r in rows if r.extra.get("alpha")}
    for (image, k), group in groups.items():
        several = len(group) > 1
        fewest = min(r.bytes for r in group)
        best = {}
        for name in ("psnr", "ssim", "ssimulacra2"):
            values = [r.metric(name) for r in group if not math.isnan(r.metric(name))]
            best[name] = max(values) if values else None

        def mark(hit: bool, several: bool = several) -> str:
            return "*" if hit and several else " "

        for r in group:
            notes = [_settings_text(r.settings) if r.against else ""]
            if r.lossless:
                notes.append(f"lossless ({r.lossless} pixels)")
            if r.extra.get("elbow"):
                notes.append("<- elbow")
            if r.extra.get("alpha"):
                notes.append("alpha: PSNR of premultiplied RGBA")
            if r.note:
                notes.append(r.note)
            cells = {}
            for name, digits in (("psnr", 2), ("ssim", 4), ("ssimulacra2", 2)):
                value = r.metric(name)
                shown = None if math.isnan(value) and getattr(r, name) is None else value
                cells[name] = _number(shown, digits) + mark(shown is not None and value == best[name])
            lines.append([
                os.path.basename(image), "-" if k is None else str(k), r.method, r.against or "",
                f"{r.bytes:,}{mark(r.bytes == fewest)}", f"{r.bpp:.3f}",
                f"{(32 if image in with_alpha else 24) / r.bpp:.1f}",
                cells["psnr"], cells["ssim"], cells["ssimulacra2"],
                f"{r.encode_s:.3f}", f"{r.decode_s:.3f}", "; ".join(n for n in notes if n),
            ])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    left = {0, 2, 3, 12}
    fmt = "  ".join(f"{{:{'<' if i in left else '>'}{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*header)] + [fmt.format(*line) for line in lines]
    out.append("* best in its (image, K) group: fewest bytes, highest PSNR, SSIM, SSIMULACRA2 (SSIMU2)."
               " x raw: compression ratio against 24-bit RGB. vs: the kmc file a row was matched to"
               f" (CODEC@size: equal size; CODEC@{metric}: the smallest file at equal {METRIC_NAMES[metric]}).")
    if any(r.extra.get("alpha") for r in rows):
        out.append("Images with transparency: PSNR from the MSE over premultiplied R*A/255, G*A/255, B*A/255"
                   " and A; SSIM and SSIMULACRA2 the worse of the images composited onto black and onto white;"
                   " codecs without alpha (JPEG, GIF) left out; x raw against 32-bit RGBA.")
    return "\n".join(line.rstrip() for line in out)


def format_summary(rows, metric: str = "psnr") -> str:
    """Per image, each kmc file's size over the other codecs' at equal quality.

    Below 1, the .kmc file is the smaller; "never" where the codec does not
    reach the .kmc file's quality at its best setting.  Lossless rows store
    the .kmc file's own pixels, so they are at equal quality by
    construction.
    """
    out = []
    images = list(dict.fromkeys(r.image for r in rows))
    for image in images:
        mine = [r for r in rows if r.image == image and r.k is not None]
        kmc_names = list(dict.fromkeys(r.method for r in mine if r.method.startswith("kmc")))
        others = list(dict.fromkeys(
            r.method for r in mine
            if r.method.endswith(f"@{metric}") or (r.lossless is not None and not r.method.startswith("kmc"))
        ))
        if not others:
            continue
        header = ["K", "file", *[m.removesuffix(f"@{metric}") for m in others]]
        lines = []
        for k in dict.fromkeys(r.k for r in mine):
            for name in kmc_names:
                # The dithered file has its own pixels: its own matched rows.
                own = name == "kmc-perceptual"
                by_method = {r.method: r for r in mine
                             if r.k == k and ("kmc-perceptual" in (r.against, r.method)) == own}
                mine_row = by_method.get(name)
                if mine_row is None:
                    continue
                cells = [str(k), name]
                for other in others:
                    row = by_method.get(other)
                    if row is None:
                        cells.append("-")
                    elif row.note.startswith("never"):
                        cells.append("never")
                    else:
                        cells.append(f"{mine_row.bytes / row.bytes:.2f}")
                lines.append(cells)
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
        fmt = "  ".join(f"{{:{'<' if i == 1 else '>'}{w}}}" for i, w in enumerate(widths))
        out.append(f"{os.path.basename(image)}: .kmc size / other file's size at equal"
                   f" {METRIC_NAMES[metric]} (below 1: the .kmc file is smaller;"
                   " lossless codecs store the .kmc pixels)")
        out.append(fmt.format(*header))
        out.extend(fmt.format(*line) for line in lines)
        out.append("")
    return "\n".join(out).rstrip()


def format_versions(versions: dict[str, str]) -> str:
    """One line naming every codec library's version."""
    return "codecs: " + ", ".join(f"{name} {version}" for name, version in versions.items())
