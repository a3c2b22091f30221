"""Draw the bundled few-colour graphic, ``shapes.png``, deterministically.

Run ``python samples/make_graphics.py`` to re-create it; the committed file is
the reference.  Flat colours without anti-aliasing: 8 distinct colours, the
kind of image (charts, diagrams, logos) where palette coding shines.
"""

from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {
    "background": (250, 250, 245),
    "ink": (30, 30, 40),
    "red": (214, 39, 40),
    "blue": (31, 119, 180),
    "green": (44, 160, 44),
    "orange": (255, 127, 14),
    "purple": (148, 103, 189),
    "grid": (200, 200, 200),
}


def draw() -> Image.Image:
    im = Image.new("RGB", (480, 320), COLOURS["background"])
    d = ImageDraw.Draw(im)
    d.fontmode = "1"  # no anti-aliasing: the colour count stays exact
    for y in range(40, 281, 40):
        d.line([(40, y), (300, y)], fill=COLOURS["grid"], width=1)
    bars = [("red", 180), ("blue", 120), ("green", 220), ("orange", 90), ("purple", 150)]
    for i, (name, height) in enumerate(bars):
        x = 55 + i * 50
        d.rectangle([x, 280 - height, x + 30, 280], fill=COLOURS[name])
    d.line([(40, 20), (40, 280), (300, 280)], fill=COLOURS["ink"], width=2)
    d.text((60, 292), "k-means: few colours", fill=COLOURS["ink"])
    d.ellipse([330, 40, 450, 160], fill=COLOURS["blue"])
    d.pieslice([330, 40, 450, 160], 0, 110, fill=COLOURS["orange"])
    d.pieslice([330, 40, 450, 160], 110, 200, fill=COLOURS["green"])
    d.regular_polygon((390, 240, 50), 6, fill=COLOURS["purple"], outline=COLOURS["ink"])
    return im


if __name__ == "__main__":
    out = Path(__file__).with_name("shapes.png")
    draw().save(out, optimize=True)
    print(out, len(draw().getcolors()), "colours")
