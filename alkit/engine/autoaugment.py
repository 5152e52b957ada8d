"""Batched AutoAugment (Cubuk et al., CVPR 2019) on uint8 image tensors.

Every operation takes a batch ``x`` (uint8 ``[b, C, H, W]``, C = 1 or 3, any device) and a
per-image parameter vector ``m`` (float ``[b]``) and returns a new uint8 ``[b, C, H, W]`` tensor.
Nothing loops over images in Python: geometric ops gather pixels through per-image affine maps,
histogram ops use one ``bincount`` for the whole batch.

Op semantics follow the tensor definitions of torchvision 0.2x (which mirror PIL):

* ShearX/ShearY: shear factor ``m`` about the top-left corner, nearest neighbour, zero fill.
* TranslateX/TranslateY: shift by ``trunc(m)`` pixels, zero fill.
* Rotate: ``m`` degrees counter-clockwise about the image centre, nearest neighbour, zero fill.
* Brightness / Color (saturation) / Contrast / Sharpness: blend with a degenerate image
  (black / grey-scale / mean grey / 3x3 smoothed) with factor ``1 + m``, result truncated to
  uint8 as torchvision does. Color is a no-op on one channel.
* Posterize: keep the top ``m`` bits. Solarize: invert pixels ``>= m``. Invert: ``255 - x``.
* AutoContrast: per image and channel, stretch [min, max] to [0, 255] (constant channels kept).
* Equalize: per image and channel histogram equalisation with PIL's lookup table.

Magnitudes: the policy names a bin 0..9 of 10 bins as in torchvision's ``AutoAugment``:
shear 0..0.3, translate 0..150/331 of the image side, rotate 0..30 deg, enhance 0..0.9,
posterize 8..4 bits, solarize threshold 255..0; geometric and enhance ops get a random sign.
"""
from __future__ import annotations

import math

import torch

# The CIFAR-10 policy of Cubuk et al. 2019 (Appendix, Table 8 in the arXiv version):
# 25 sub-policies, each two steps "op probability magnitude-bin" ("-" = op takes no magnitude).
_CIFAR10_TEXT = """
Invert 0.1 - | Contrast 0.2 6
Rotate 0.7 2 | TranslateX 0.3 9
Sharpness 0.8 1 | Sharpness 0.9 3
ShearY 0.5 8 | TranslateY 0.7 9
AutoContrast 0.5 - | Equalize 0.9 -
ShearY 0.2 7 | Posterize 0.3 7
Color 0.4 3 | Brightness 0.6 7
Sharpness 0.3 9 | Brightness 0.7 9
Equalize 0.6 - | Equalize 0.5 -
Contrast 0.6 7 | Sharpness 0.6 5
Color 0.7 7 | TranslateX 0.5 8
Equalize 0.3 - | AutoContrast 0.4 -
TranslateY 0.4 3 | Sharpness 0.2 6
Brightness 0.9 6 | Color 0.2 8
Solarize 0.5 2 | Invert 0.0 -
Equalize 0.2 - | AutoContrast 0.6 -
Equalize 0.2 - | Equalize 0.6 -
Color 0.9 9 | Equalize 0.6 -
AutoContrast 0.8 - | Solarize 0.2 8
Brightness 0.1 3 | Color 0.7 0
Solarize 0.4 5 | AutoContrast 0.9 -
TranslateY 0.9 9 | TranslateY 0.7 9
AutoContrast 0.9 - | Solarize 0.8 3
Equalize 0.8 - | Invert 0.1 -
TranslateY 0.7 9 | AutoContrast 0.9 -
"""


def _parse_policy(text: str) -> tuple[tuple[tuple[str, float, int | None], ...], ...]:
    policy = []
    for line in text.strip().splitlines():
        steps = []
        for step in line.split("|"):
            op, prob, level = step.split()
            steps.append((op, float(prob), None if level == "-" else int(level)))
        policy.append(tuple(steps))
    return tuple(policy)


CIFAR10_POLICY = _parse_policy(_CIFAR10_TEXT)
"""25 sub-policies ``((op, prob, bin), (op, prob, bin))``; ``bin`` is None for magnitude-free ops."""

NUM_BINS = 10


# ----------------------------------------------------------------------------- geometry
def _gather_nearest(x: torch.Tensor, src_row: torch.Tensor, src_col: torch.Tensor) -> torch.Tensor:
    """out[b, c, i, j] = x[b, c, src_row[b, i, j], src_col[b, i, j]], 0 where out of bounds.

    x uint8 [b, C, H, W]; src_row / src_col integer [b, H, W] (or broadcastable to it).
    """
    b, c, h, w = x.shape
    src_row, src_col = torch.broadcast_tensors(src_row, src_col)
    src_row = src_row.expand(b, h, w)
    src_col = src_col.expand(b, h, w)
    inside = (src_row >= 0) & (src_row < h) & (src_col >= 0) & (src_col < w)
    flat = (src_row.clamp(0, h - 1) * w + src_col.clamp(0, w - 1)).reshape(b, 1, h * w)
    out = x.reshape(b, c, h * w).gather(2, flat.expand(b, c, h * w)).view(b, c, h, w)
    return out.masked_fill(~inside.unsqueeze(1), 0)


def affine_nearest(x: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """Per-image affine warp, nearest neighbour, zero fill (torchvision tensor convention).

    x uint8 [b, C, H, W]; coeffs float [b, 6] = (a, b, c, d, e, f): the *inverse* map from an
    output pixel centre (u, v) to the source point (a u + b v + c, d u + e v + f), where u, v are
    measured from the image centre in pixels. Returns uint8 [b, C, H, W].
    """
    _, _, h, w = x.shape
    coeffs = coeffs.to(torch.float32).view(-1, 6, 1, 1)
    u = (torch.arange(w, device=x.device, dtype=torch.float32) + 0.5 - w / 2).view(1, 1, w)
    v = (torch.arange(h, device=x.device, dtype=torch.float32) + 0.5 - h / 2).view(1, h, 1)
    su = coeffs[:, 0] * u + coeffs[:, 1] * v + coeffs[:, 2]
    sv = coeffs[:, 3] * u + coeffs[:, 4] * v + coeffs[:, 5]
    col = torch.round(su + (w / 2 - 0.5)).long()
    row = torch.round(sv + (h / 2 - 0.5)).long()
    return _gather_nearest(x, row, col)


GEOMETRIC_OPS = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")


def geometric(x: torch.Tensor, kind: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Per-image geometric op in one warp: image i gets GEOMETRIC_OPS[kind[i]] with value m[i].

    x uint8 [b, C, H, W]; kind int [b] in 0..4; m float [b]. Inverse maps (u, v from the centre):
    ShearX: u' = u + m (v + H/2) (shear about the top-left corner, as torchvision/PIL);
    ShearY: v' = v + m (u + W/2); TranslateX/Y: u' = u - trunc(m) / v' = v - trunc(m) (whole
    pixels, so integer-exact); Rotate: by m degrees counter-clockwise about the centre.
    """
    _, _, h, w = x.shape
    m = m.to(torch.float32)
    kind = kind.to(x.device)
    shx, shy, tx, ty, rot = (kind == i for i in range(5))
    rad = m * (math.pi / 180.0)
    cos, sin = torch.where(rot, torch.cos(rad), 1.0), torch.where(rot, torch.sin(rad), 0.0)
    shift = m.trunc()
    zero = torch.zeros_like(m)
    coeffs = torch.stack([
        cos, torch.where(shx, m, -sin), torch.where(shx, m * (h / 2), torch.where(tx, -shift, zero)),
        torch.where(shy, m, sin), cos, torch.where(shy, m * (w / 2), torch.where(ty, -shift, zero)),
    ], dim=1)
    return affine_nearest(x, coeffs)


def _single(op: str):
    kind = GEOMETRIC_OPS.index(op)

    def fn(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return geometric(x, torch.full(m.shape, kind, device=m.device), m)
    fn.__name__ = fn.__qualname__ = op.lower()
    return fn


shear_x, shear_y, translate_x, translate_y, rotate = (_single(op) for op in GEOMETRIC_OPS)
shear_x.__doc__ = "ShearX by factor m [b] about the top-left corner: src_col = col + m (row + 1/2)."
shear_y.__doc__ = "ShearY by factor m [b] about the top-left corner: src_row = row + m (col + 1/2)."
translate_x.__doc__ = "Shift right by trunc(m) [b] pixels (negative: left); integer-exact, zero fill."
translate_y.__doc__ = "Shift down by trunc(m) [b] pixels (negative: up); integer-exact, zero fill."
rotate.__doc__ = "Rotate by m [b] degrees counter-clockwise about the image centre (nearest, zero fill)."


# ----------------------------------------------------------------------------- colour
ENHANCE_OPS = ("Brightness", "Color", "Contrast", "Sharpness")


def _per_image(m: torch.Tensor) -> torch.Tensor:
    return m.to(torch.float32).view(-1, 1, 1, 1)


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma truncated to uint8: [b, 3, H, W] -> float [b, 1, H, W] (C=1: the image)."""
    if x.shape[1] == 1:
        return x.to(torch.float32)
    r, g, b = x.to(torch.float32).unbind(1)
    return (0.2989 * r + 0.587 * g + 0.114 * b).to(torch.uint8).unsqueeze(1).to(torch.float32)


def _smoothed(xf: torch.Tensor) -> torch.Tensor:
    """PIL's SMOOTH filter (1 1 1 / 1 5 1 / 1 1 1) / 13, rounded, on the interior; border kept."""
    rows = xf[:, :, :-2] + xf[:, :, 1:-1] + xf[:, :, 2:]                 # 3-row sums
    box = rows[:, :, :, :-2] + rows[:, :, :, 1:-1] + rows[:, :, :, 2:]   # 3x3 sums
    out = xf.clone()
    out[:, :, 1:-1, 1:-1] = torch.round((box + 4.0 * xf[:, :, 1:-1, 1:-1]) / 13.0)
    return out


def enhance(x: torch.Tensor, kind: torch.Tensor, m: torch.Tensor,
            present: tuple[str, ...] = ENHANCE_OPS) -> torch.Tensor:
    """PIL ImageEnhance ops in one blend: image i gets ENHANCE_OPS[kind[i]] with factor 1 + m[i].

    out = trunc(clamp(f x + (1 - f) d)) with the degenerate image d: black (Brightness), the
    grey-scale image (Color; a no-op for C = 1), the mean grey level (Contrast), or the smoothed
    image (Sharpness; identity for H or W <= 2). x uint8 [b, C, H, W]; kind int [b] in 0..3;
    m float [b]; ``present`` names the ops that may occur (only their degenerates are computed).
    """
    _, c, h, w = x.shape
    xf = x.to(torch.float32)
    f = 1.0 + m.to(torch.float64)  # float64 so that 1 - f is as exact as torchvision's
    kind = kind.to(x.device)
    degenerate = torch.zeros((), device=x.device)
    noop = torch.zeros_like(kind, dtype=torch.bool)
    if "Color" in present:
        if c == 1:
            noop = noop | (kind == 1)
        else:
            degenerate = torch.where((kind == 1).view(-1, 1, 1, 1), _grayscale(x), degenerate)
    if "Contrast" in present:
        mean = _grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
        degenerate = torch.where((kind == 2).view(-1, 1, 1, 1), mean, degenerate)
    if "Sharpness" in present:
        if h <= 2 or w <= 2:
            noop = noop | (kind == 3)
        else:
            degenerate = torch.where((kind == 3).view(-1, 1, 1, 1), _smoothed(xf), degenerate)
    f = torch.where(noop, 1.0, f)
    out = _per_image(f) * xf + _per_image(1.0 - f) * degenerate
    return out.clamp_(0, 255).to(torch.uint8)


def _single_enhance(op: str):
    kind = ENHANCE_OPS.index(op)

    def fn(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return enhance(x, torch.full(m.shape, kind, device=m.device), m, (op,))
    fn.__name__ = fn.__qualname__ = op.lower()
    return fn


brightness, color, contrast, sharpness = (_single_enhance(op) for op in ENHANCE_OPS)
brightness.__doc__ = "Brightness with factor 1 + m [b] (blend with black)."
color.__doc__ = "Saturation with factor 1 + m [b] (blend with the grey-scale image); no-op for C = 1."
contrast.__doc__ = "Contrast with factor 1 + m [b] (blend with the image's mean grey level)."
sharpness.__doc__ = "Sharpness with factor 1 + m [b] (blend with the 3x3-smoothed image)."


def posterize(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Keep the m [b] (integer 0..8) most significant bits of every pixel."""
    bits = m.round().long().clamp(0, 8)
    keep = (256 - (1 << (8 - bits))).to(torch.uint8)  # e.g. 5 bits -> 0b11111000
    return x & keep.view(-1, 1, 1, 1)


def solarize(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Invert pixels >= threshold m [b]."""
    return torch.where(x.to(torch.float32) >= _per_image(m), 255 - x, x)


def invert(x: torch.Tensor, m: torch.Tensor | None = None) -> torch.Tensor:
    """255 - x (m ignored)."""
    return 255 - x


def autocontrast(x: torch.Tensor, m: torch.Tensor | None = None) -> torch.Tensor:
    """Per image and channel map [min, max] linearly onto [0, 255]; constant channels unchanged."""
    xf = x.to(torch.float32)
    lo = xf.amin(dim=(2, 3), keepdim=True)
    hi = xf.amax(dim=(2, 3), keepdim=True)
    flat = hi == lo
    scale = torch.where(flat, torch.ones_like(lo), 255.0 / (hi - lo).clamp_min(1.0))
    lo = torch.where(flat, torch.zeros_like(lo), lo)
    return ((xf - lo) * scale).clamp_(0, 255).to(torch.uint8)


def equalize(x: torch.Tensor, m: torch.Tensor | None = None) -> torch.Tensor:
    """Histogram equalisation per image and channel (PIL's ImageOps.equalize lookup table).

    One ``bincount`` over the whole batch builds all [b*C, 256] histograms; with
    step = (n_pixels - count of the brightest value present) // 255, value v maps to
    (cumhist[v - 1] + step // 2) // step; channels with step 0 are left unchanged.
    """
    b, c, h, w = x.shape
    n = b * c
    flat = x.reshape(n, h * w).long()
    offset = (torch.arange(n, device=x.device) * 256).view(n, 1)
    hist = torch.bincount((flat + offset).view(-1), minlength=n * 256).view(n, 256)
    top = hist.gather(1, flat.amax(dim=1, keepdim=True))
    step = torch.div(h * w - top, 255, rounding_mode="floor")
    safe = step.clamp_min(1)
    lut = torch.div(hist.cumsum(1) + torch.div(safe, 2, rounding_mode="floor"), safe, rounding_mode="floor")
    lut = torch.cat([torch.zeros_like(lut[:, :1]), lut[:, :-1]], dim=1).clamp_(0, 255)
    out = torch.where(step > 0, lut.gather(1, flat), flat)
    return out.to(torch.uint8).view(b, c, h, w)


OPS = {
    "ShearX": shear_x, "ShearY": shear_y, "TranslateX": translate_x, "TranslateY": translate_y,
    "Rotate": rotate, "Brightness": brightness, "Color": color, "Contrast": contrast,
    "Sharpness": sharpness, "Posterize": posterize, "Solarize": solarize,
    "AutoContrast": autocontrast, "Equalize": equalize, "Invert": invert,
}
"""op name -> batched function ``f(x uint8 [b, C, H, W], m float [b]) -> uint8 [b, C, H, W]``."""

_SIGNED = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate",
           "Brightness", "Color", "Contrast", "Sharpness"}


def magnitude(op: str, level: int | None, height: int, width: int) -> float:
    """Unsigned magnitude of ``op`` at bin ``level`` (0..9) for an H x W image (torchvision's scale)."""
    if level is None:
        return 0.0
    t = level / (NUM_BINS - 1)
    if op in ("ShearX", "ShearY"):
        return 0.3 * t
    if op == "TranslateX":
        return 150.0 / 331.0 * width * t
    if op == "TranslateY":
        return 150.0 / 331.0 * height * t
    if op == "Rotate":
        return 30.0 * t
    if op in ("Brightness", "Color", "Contrast", "Sharpness"):
        return 0.9 * t
    if op == "Posterize":
        return float(8 - round(4 * t))
    if op == "Solarize":
        return 255.0 * (1.0 - t)
    raise ValueError(f"unknown AutoAugment op {op!r}; valid: {sorted(OPS)}")


def _group_key(op: str, fuse_enhance: bool) -> str:
    """Ops sharing a key are applied by one batched call within a policy step."""
    if op in GEOMETRIC_OPS:
        return "geometric"
    if op in ENHANCE_OPS and fuse_enhance:
        return "enhance"
    return op


class BatchedAutoAugment:
    """AutoAugment with a fixed policy, every image drawing its own sub-policy, coins and signs.

    ``__call__(x uint8 [B, C, H, W], generator) -> uint8 [B, C, H, W]`` (new tensor). For each
    of the two steps, the images whose coin succeeded are grouped by the op they drew and each
    group is transformed by one batched call (no Python loop over images). All geometric ops of
    a step share one warp (:func:`geometric`).

    ``masked``: False gathers each group (``index_select``; least work, best on CPU); True runs
    every group on the whole batch and keeps its result with ``torch.where`` (no host-device
    sync, fewer kernel launches since the enhance ops share one blend; best on GPUs). None
    (default) picks True on non-CPU devices. Both give identical outputs.
    """

    def __init__(self, policy=CIFAR10_POLICY, *, masked: bool | None = None):
        for sub in policy:
            for op, prob, level in sub:
                if op not in OPS:
                    raise ValueError(f"unknown AutoAugment op {op!r}; valid: {sorted(OPS)}")
        self.policy = tuple(policy)
        self.masked = masked
        self.n_steps = len(self.policy[0])
        self._groups = {}  # masked flag -> per step: list of (key, ops in the group)
        for flag in (False, True):
            per_step = []
            for k in range(self.n_steps):
                groups: dict = {}
                for sub in self.policy:
                    op = sub[k][0]
                    groups.setdefault(_group_key(op, flag), set()).add(op)
                per_step.append([(key, tuple(sorted(ops))) for key, ops in sorted(groups.items())])
            self._groups[flag] = per_step
        self._cache: dict = {}

    def __repr__(self) -> str:
        return f"BatchedAutoAugment({len(self.policy)} sub-policies)"

    def _tables(self, device: torch.device, h: int, w: int, masked: bool):
        """[n_steps, n_sub] tensors on ``device``: group index, kind within the group,
        probability, signed magnitude base, signed flag."""
        key = (str(device), h, w, masked)
        if key not in self._cache:
            group, kind, prob, mag, signed = [], [], [], [], []
            for k in range(self.n_steps):
                keys = [gk for gk, _ in self._groups[masked][k]]
                g_row, k_row = [], []
                for sub in self.policy:
                    op = sub[k][0]
                    g_row.append(keys.index(_group_key(op, masked)))
                    k_row.append(GEOMETRIC_OPS.index(op) if op in GEOMETRIC_OPS
                                 else ENHANCE_OPS.index(op) if op in ENHANCE_OPS else 0)
                group.append(g_row)
                kind.append(k_row)
                prob.append([sub[k][1] for sub in self.policy])
                mag.append([magnitude(sub[k][0], sub[k][2], h, w) for sub in self.policy])
                signed.append([sub[k][0] in _SIGNED for sub in self.policy])
            self._cache[key] = (torch.tensor(group, device=device), torch.tensor(kind, device=device),
                                torch.tensor(prob, device=device, dtype=torch.float32),
                                torch.tensor(mag, device=device, dtype=torch.float32),
                                torch.tensor(signed, device=device))
        return self._cache[key]

    @staticmethod
    def _run_group(key: str, ops: tuple[str, ...], x, kind, values):
        if key == "geometric":
            return geometric(x, kind, values)
        if key == "enhance":
            return enhance(x, kind, values, ops)
        return OPS[key](x, values)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        bsz, _, h, w = x.shape
        dev = x.device
        masked = dev.type != "cpu" if self.masked is None else bool(self.masked)
        choice = torch.randint(len(self.policy), (bsz,), generator=generator, device=dev)
        coins = torch.rand((bsz, self.n_steps), generator=generator, device=dev)
        signs = torch.randint(2, (bsz, self.n_steps), generator=generator, device=dev) * 2 - 1
        group_t, kind_t, prob_t, mag_t, signed_t = self._tables(dev, h, w, masked)
        x = x.clone()
        for k in range(self.n_steps):
            group = torch.where(coins[:, k] < prob_t[k][choice], group_t[k][choice], -1)
            kind = kind_t[k][choice]
            base = mag_t[k][choice]
            values = torch.where(signed_t[k][choice], base * signs[:, k], base)
            for gi, (key, ops) in enumerate(self._groups[masked][k]):
                if masked:
                    out = self._run_group(key, ops, x, kind, values)
                    x = torch.where((group == gi).view(-1, 1, 1, 1), out, x)
                    continue
                idx = torch.nonzero(group == gi).flatten()
                if idx.numel() == 0:
                    continue
                out = self._run_group(key, ops, x.index_select(0, idx), kind.index_select(0, idx),
                                      values.index_select(0, idx))
                x.index_copy_(0, idx, out)
        return x
