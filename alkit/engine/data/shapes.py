"""``shapes``: the embedded, offline segmentation dataset (procedurally generated).

Each scene is a ``size x size`` RGB image (default 64) with a textured background and 1-4 objects
drawn one over the other, so later objects occlude earlier ones. Classes (index = label id):

    0 background, 1 disc, 2 ring, 3 square, 4 triangle, 5 cross

* The class is the **shape**; colour is only a hint: each class has a typical hue (disc red, ring
  yellow, square green, triangle blue, cross magenta) jittered by +-25 degrees with random
  saturation and brightness, so neighbouring classes overlap in colour and a network must also
  look at geometry. Backgrounds are muted (low saturation) but may share any hue. (With fully
  random colours a network trained from scratch needs thousands of images; this hint lets the
  small CPU network learn from tens to hundreds, which is what an AL curve needs.)
* Sizes vary ~4x (radius 8-30 % of the image side), squares/triangles/crosses are randomly
  rotated, objects may be cut by the border; rings have a hole showing what lies behind them
  (the annotator has to click the hole as well).
* Backgrounds are one of: a sinusoidal grating, a checkerboard, or smooth blotchy noise, each in
  two random colours, plus pixel noise; objects get a linear shading gradient and noise.
* Deterministic: image ``i`` of a split depends only on ``(seed, split, i, size)``, so the pool's
  first 100 images are the same whether 100 or 1000 are generated.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from alkit.engine.data.base import channel_stats
from alkit.engine.data.seg_folder import SegmentationDataset

SHAPES_CLASSES = ["background", "disc", "ring", "square", "triangle", "cross"]
_SPLIT_ID = {"train": 0, "val": 1}
_SUB = 4  # sub-pixel bits for cv2 drawing (smooth outlines at small sizes)


CLASS_HUES = {1: 0.0, 2: 55.0, 3: 120.0, 4: 220.0, 5: 300.0}  # degrees


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    """One colour: hue in degrees, saturation and value in [0, 1] -> RGB float in [0, 255]."""
    hsv = np.array([[[(h % 360) / 2, s * 255, v * 255]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Textured background in two muted colours, float32 ``[size, size, 3]`` in [0, 255]."""
    c1, c2 = (_hsv_to_rgb(rng.uniform(0, 360), rng.uniform(0, 0.45), rng.uniform(0.15, 0.95)) for _ in range(2))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    kind = rng.integers(3)
    if kind == 0:  # grating
        theta, freq = rng.uniform(0, np.pi), rng.uniform(2, 8)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + rng.uniform(0, 6.3))
    elif kind == 1:  # checkerboard
        cells = rng.integers(3, 9)
        t = ((np.floor(xx * cells) + np.floor(yy * cells)) % 2).astype(np.float32)
    else:  # blotches: upsampled low-resolution noise
        low = rng.uniform(0, 1, (rng.integers(3, 7),) * 2).astype(np.float32)
        t = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    return t[..., None] * c1 + (1 - t[..., None]) * c2


def _shape_mask(rng: np.random.Generator, cls: int, size: int) -> np.ndarray:
    """Binary uint8 ``[size, size]`` mask of one object of class ``cls`` at a random pose."""
    m = np.zeros((size, size), np.uint8)
    r = rng.uniform(0.08, 0.30) * size
    cx, cy = rng.uniform(0.1, 0.9, 2) * size
    theta = rng.uniform(0, 2 * np.pi)
    s = 1 << _SUB
    centre = (int(cx * s), int(cy * s))

    def poly(points):  # rotate + translate unit-radius points, draw filled
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        pts = (np.asarray(points) @ rot.T * r + (cx, cy)) * s
        cv2.fillPoly(m, [pts.round().astype(np.int32)], 1, lineType=cv2.LINE_8, shift=_SUB)

    if cls == 1:  # disc
        cv2.circle(m, centre, int(r * s), 1, -1, lineType=cv2.LINE_8, shift=_SUB)
    elif cls == 2:  # ring: disc minus a concentric hole
        cv2.circle(m, centre, int(r * s), 1, -1, lineType=cv2.LINE_8, shift=_SUB)
        cv2.circle(m, centre, int(r * rng.uniform(0.4, 0.65) * s), 0, -1, lineType=cv2.LINE_8, shift=_SUB)
    elif cls == 3:  # square
        poly([(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)])
    elif cls == 4:  # triangle (equilateral, circumradius r)
        a = np.deg2rad([90, 210, 330])
        poly(np.stack([np.cos(a), np.sin(a)], 1))
    else:  # cross: two bars of width 0.6 r
        w = 0.3
        poly([(-1, -w), (-w, -w), (-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1),
              (-w, w), (-1, w)])
    return m


def render_scene(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (RGB uint8 ``[size, size, 3]``, label mask uint8 ``[size, size]``)."""
    img = _background(rng, size)
    mask = np.zeros((size, size), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    for _ in range(rng.integers(1, 5)):
        cls = int(rng.integers(1, len(SHAPES_CLASSES)))
        obj = _shape_mask(rng, cls, size).astype(bool)
        if obj.sum() < 6:  # almost entirely outside the image
            continue
        colour = _hsv_to_rgb(CLASS_HUES[cls] + rng.normal(0, 12.5), rng.uniform(0.55, 1), rng.uniform(0.45, 1))
        g = rng.uniform(-0.35, 0.35, 2)
        shade = 1.0 + g[0] * (xx - 0.5) + g[1] * (yy - 0.5)
        img[obj] = (shade[..., None] * colour)[obj]
        mask[obj] = cls
    img += rng.normal(0, 8, img.shape)
    img = cv2.GaussianBlur(img.astype(np.float32), (3, 3), 0.6)
    return img.clip(0, 255).astype(np.uint8), mask


def make_shapes(n: int, size: int = 64, seed: int = 0, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` scenes of one split: (images uint8 ``[n, 3, size, size]``, masks uint8 ``[n, size, size]``)."""
    if split not in _SPLIT_ID:
        raise ValueError(f"unknown split {split!r}; choose from train, val")
    if size < 16:
        raise ValueError(f"shapes needs size >= 16 pixels, got {size}")
    imgs = np.empty((n, size, size, 3), np.uint8)
    masks = np.empty((n, size, size), np.uint8)
    for i in range(n):
        rng = np.random.default_rng([seed, _SPLIT_ID[split], i, size])
        imgs[i], masks[i] = render_scene(rng, size)
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(masks)


def load_shapes(n_train: int = 1000, n_val: int = 200, size: int = 64, seed: int = 0) -> SegmentationDataset:
    """The embedded ``shapes`` dataset: a pool of ``n_train`` scenes and ``n_val`` validation scenes.

    Normalisation statistics are measured on the pool. No ignore pixels (ignore index 255 unused).
    """
    tr_x, tr_y = make_shapes(n_train, size, seed, "train")
    va_x, va_y = make_shapes(n_val, size, seed, "val")
    mean, std = channel_stats(tr_x)
    return SegmentationDataset("shapes", tr_x, tr_y, va_x, va_y, list(SHAPES_CLASSES), mean=mean, std=std,
                               info=dict(size=size, seed=seed))
