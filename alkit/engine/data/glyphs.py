"""A synthetic glyph set: the offline transfer-learning source for the embedded digits.

The paper (Sec. 3.2.5) fine-tunes an ImageNet-pretrained ResNet-18, i.e. a network pre-trained on a
large *labelled* set from another domain. Its offline analogue for scikit-learn's 8x8 digits is this
generated set of letters and symbols (never digits), rendered with the DejaVu fonts that ship with
matplotlib (``matplotlib/mpl-data/fonts/ttf``), so nothing is downloaded.

Each image: one of :data:`GLYPHS` (the classes) drawn with PIL in white on black on a 32x32 canvas
from a random font of :data:`FONTS` at a random size (24-34 px: the digits fill their box), stroke width (0-2 px), rotation
(+-15 degrees) and shift (+-2 px), then reduced like the UCI digits were made: each 4x4 block's
ink is summed (0..16 in the original) and rescaled to uint8 0..255, giving ``[1, 8, 8]`` images
with the digits' value range; finally Gaussian noise (sd 10 grey levels, clipped). Fully
determined by ``(n_per_class, seed)`` and :data:`GENERATOR_VERSION`.
"""

from __future__ import annotations

import numpy as np
import torch

GENERATOR_VERSION = 1  # bump when the rendering below changes
# 26 capitals + 10 symbols: no digits, no letters easily mistaken for one (O, I, l, S, Z, B, G, q)
GLYPHS = tuple("ACDEFHJKLMNPRTUVWXY") + tuple("abdefhkmnrtuy") + tuple("#%&+<>?@")
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
         "DejaVuSansMono.ttf", "DejaVuSans-Oblique.ttf")
CANVAS = 32  # rendering side; 4x4 blocks -> 8x8 as in the UCI digits


def _font_dir():
    import matplotlib

    from pathlib import Path

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def render_glyph(char: str, font_file: str, size: int, stroke: int, angle: float, shift: tuple[int, int]) -> np.ndarray:
    """One glyph as a float ``[CANVAS, CANVAS]`` ink map in [0, 1] (white on black), centred, then
    rotated by ``angle`` degrees and shifted by ``shift`` = (dx, dy) pixels."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(_font_dir() / font_file), size)
    img = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = draw.textbbox((0, 0), char, font=font, stroke_width=stroke)
    x = (CANVAS - (right - left)) / 2 - left + shift[0]
    y = (CANVAS - (bottom - top)) / 2 - top + shift[1]
    draw.text((x, y), char, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
    img = img.rotate(angle, resample=Image.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0


def make_glyphs(n_per_class: int = 150, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The glyph set: ``(x uint8 [n_per_class * len(GLYPHS), 1, 8, 8], y int64 [N])`` (class k =
    ``GLYPHS[k]``), shuffled; deterministic in ``(n_per_class, seed)``. See the module docstring."""
    rng = np.random.default_rng(seed)
    k = len(GLYPHS)
    xs = np.empty((n_per_class * k, 1, 8, 8), dtype=np.uint8)
    ys = np.repeat(np.arange(k), n_per_class)
    for i, c in enumerate(ys):
        ink = render_glyph(GLYPHS[c], FONTS[rng.integers(len(FONTS))], int(rng.integers(24, 35)),
                           int(rng.integers(0, 3)), float(rng.uniform(-15, 15)),
                           (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))))
        blocks = ink.reshape(8, 4, 8, 4).sum(axis=(1, 3))  # 0..16 per block, like the UCI digits
        img = blocks * (255.0 / 16.0) + rng.normal(0, 10, size=(8, 8))
        xs[i, 0] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    order = rng.permutation(len(ys))
    return torch.from_numpy(xs[order]), torch.from_numpy(ys[order].astype(np.int64))
