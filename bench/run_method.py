"""One quantiser, one image, one K, in a process of its own (for bench/encode.py).

    python bench/run_method.py METHOD IMAGE K OUT.png

Reads IMAGE, quantises it to K colours with METHOD and writes the result as
a palette PNG (compress_level 1, so that writing costs little), exactly what
a user of that method would run.  The parent times the whole process and
reads its peak memory, then measures the output's error itself.

METHOD: pillow-mediancut, pillow-maxcoverage, pillow-octree,
pillow-libimagequant, sklearn (the tutorials' recipe: KMeans(n_clusters=K,
random_state=0) on every pixel), sklearn-weighted (the same objective on the
distinct colours, weighted by count).
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image

PILLOW = {
    "pillow-mediancut": Image.Quantize.MEDIANCUT,
    "pillow-maxcoverage": Image.Quantize.MAXCOVERAGE,
    "pillow-octree": Image.Quantize.FASTOCTREE,
    "pillow-libimagequant": Image.Quantize.LIBIMAGEQUANT,
}


def sklearn_recipe(rgb: np.ndarray, k: int, weighted: bool) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.cluster import KMeans

    pixels = rgb.reshape(-1, 3)
    if not weighted:
        model = KMeans(n_clusters=k, random_state=0).fit(pixels.astype(np.float64))
        return np.clip(np.rint(model.cluster_centers_), 0, 255).astype(np.uint8), model.labels_
    keys = pixels.astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], np.uint32)
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    colors = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], 1).astype(np.float64)
    model = KMeans(n_clusters=k, random_state=0).fit(colors, sample_weight=counts)
    palette = np.clip(np.rint(model.cluster_centers_), 0, 255).astype(np.uint8)
    return palette, model.labels_[inverse.reshape(-1)]


def main() -> None:
    method, path, k, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    im = Image.open(path).convert("RGB")
    if method in PILLOW:
        result = im.quantize(colors=k, method=PILLOW[method], dither=Image.Dither.NONE)
    elif method in ("sklearn", "sklearn-weighted"):
        rgb = np.asarray(im)
        palette, labels = sklearn_recipe(rgb, k, weighted=method == "sklearn-weighted")
        if k > 256:
            raise SystemExit("palette PNGs hold at most 256 colours")
        result = Image.fromarray(labels.reshape(rgb.shape[:2]).astype(np.uint8), "P")
        result.putpalette(palette.tobytes())
    else:
        raise SystemExit(f"unknown method {method!r}")
    result.save(out, compress_level=1)


if __name__ == "__main__":
    main()
