"""Behavioural tests for alkit.engine.augment / alkit.engine.autoaugment (batched uint8 augmentation)."""
import math

import pytest
import torch
import torchvision.transforms.functional as TF
from torchvision import transforms as T

from alkit.engine import autoaugment as A
from alkit.engine.augment import AUGMENT_NAMES, build_augment, cutout, random_crop_flip, scaled_cutout, scaled_pad

CUDA = torch.cuda.is_available()


def _images(b, c, s, seed=0):
    return torch.randint(0, 256, (b, c, s, s), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _gen(seed, device="cpu"):
    return torch.Generator(device=device).manual_seed(seed)


# ------------------------------------------------------------------ pipeline level
@pytest.mark.parametrize("name", AUGMENT_NAMES)
@pytest.mark.parametrize("c,s,hflip", [(1, 8, False), (3, 32, True)])
def test_shape_dtype_device_preserved(name, c, s, hflip):
    x = _images(16, c, s)
    y = build_augment(name, s, hflip=hflip)(x, _gen(0))
    assert y.shape == x.shape and y.dtype == torch.uint8 and y.device == x.device


def test_none_is_identity():
    x = _images(8, 3, 32)
    assert torch.equal(build_augment("none", 32)(x, _gen(0)), x)


def test_input_not_modified():
    x = _images(32, 3, 32)
    x0 = x.clone()
    build_augment("paper", 32)(x, _gen(0))
    assert torch.equal(x, x0)


@pytest.mark.parametrize("name", ["weak", "paper", "strong"])
def test_deterministic_given_generator(name):
    x = _images(64, 3, 32)
    aug = build_augment(name, 32)
    a, b, c = aug(x, _gen(1)), aug(x, _gen(1)), aug(x, _gen(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("name", ["weak", "paper"])
def test_per_image_randomness(name):
    x = _images(1, 3, 32).expand(64, 3, 32, 32).contiguous()  # 64 copies of one image
    y = build_augment(name, 32)(x, _gen(0))
    distinct = {bytes(img.flatten().tolist()) for img in y}
    assert len(distinct) > 32


def test_scaling_rule():
    assert (scaled_pad(32), scaled_cutout(32)) == (4, 16)
    assert (scaled_pad(8), scaled_cutout(8)) == (1, 2)  # halved below 16 px
    assert scaled_cutout(16) == 8
    assert (scaled_pad(2), scaled_cutout(1)) == (1, 1)
    aug = build_augment("paper", 8, hflip=False)
    assert (aug.pad, aug.cutout_size, aug.hflip) == (1, 2, False)


def test_unknown_name_and_bad_input():
    with pytest.raises(ValueError, match="weak"):
        build_augment("fancy", 32)
    with pytest.raises(ValueError, match="image_size"):
        build_augment("weak", 0)
    aug = build_augment("weak", 32)
    with pytest.raises(ValueError, match="uint8"):
        aug(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match="uint8"):
        aug(torch.zeros(2, 2, 32, 32, dtype=torch.uint8))


# ------------------------------------------------------------------ crop / flip / cutout
def _shift(img, dy, dx):
    """img [C, H, W] shifted so that out[i, j] = img[i + dy, j + dx], zero outside."""
    out = torch.zeros_like(img)
    h, w = img.shape[1:]
    out[:, max(0, -dy):min(h, h - dy), max(0, -dx):min(w, w - dx)] = \
        img[:, max(0, dy):min(h, h + dy), max(0, dx):min(w, w + dx)]
    return out


@pytest.mark.parametrize("hflip", [False, True])
def test_crop_is_padded_shift(hflip):
    x = _images(32, 3, 16)
    pad = 2
    y = random_crop_flip(x, pad, hflip, _gen(3))
    shifts_seen, flips_seen = set(), set()
    for img, out in zip(x, y):
        matches = [(dy, dx, f) for f in ([False, True] if hflip else [False])
                   for dy in range(-pad, pad + 1) for dx in range(-pad, pad + 1)
                   if torch.equal(out, _shift(img, dy, dx).flip(2) if f else _shift(img, dy, dx))]
        assert matches, "output is not a padded shift (+ flip) of the input"
        shifts_seen.add(matches[0][:2])
        flips_seen.add(matches[0][2])
    assert len(shifts_seen) > 5
    assert flips_seen == ({False, True} if hflip else {False})


def test_cutout_square():
    x = torch.full((64, 3, 40, 40), 200, dtype=torch.uint8)
    size = 10
    y = cutout(x, size, _gen(0))
    full = 0
    for img in y:
        zero = img == 0
        assert torch.equal(zero[0], zero[1]) and torch.equal(zero[0], zero[2])  # all channels
        rows = zero[0].any(1).nonzero().flatten()
        cols = zero[0].any(0).nonzero().flatten()
        assert len(rows) >= size // 2 and len(cols) >= size // 2
        h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        assert zero[0].sum() == h * w and h <= size and w <= size  # one rectangle
        if 0 < rows[0] and rows[-1] < 39 and 0 < cols[0] and cols[-1] < 39:
            assert h == size and w == size  # away from the border: the full square
            full += 1
    assert full > 10


def test_paper_on_digits_has_cutout():
    # 8x8 one-channel white images: cutout (2x2, clipped at the border) must black out pixels in every image
    x = torch.full((32, 1, 8, 8), 255, dtype=torch.uint8)
    y = build_augment("paper", 8, hflip=False)(x, _gen(0))
    assert ((y == 0).flatten(1).sum(1) >= 1).all()


# ------------------------------------------------------------------ single ops vs torchvision
def _per_image(fn, x, m):
    return torch.stack([fn(img, float(v)) for img, v in zip(x, m)])


def _hist_inputs():
    x = _images(12, 3, 16, seed=5)
    x[0] = 77                                        # constant: unchanged
    x[1] = torch.where(x[1] > 128, 200, 10).to(torch.uint8)  # two values
    x[2] = x[2] // 8 + 100                           # narrow range
    x[3, 1] = 0                                      # one constant channel
    return x


TV_OPS = {
    "Invert": (lambda im, v: TF.invert(im), None),
    "Solarize": (lambda im, v: TF.solarize(im, v), (0.0, 255.0)),
    "Posterize": (lambda im, v: TF.posterize(im, int(v)), "bits"),
    "Equalize": (lambda im, v: TF.equalize(im), None),
    "AutoContrast": (lambda im, v: TF.autocontrast(im), None),
    "Brightness": (lambda im, v: TF.adjust_brightness(im, 1 + v), (-0.9, 0.9)),
    "Color": (lambda im, v: TF.adjust_saturation(im, 1 + v), (-0.9, 0.9)),
    "Contrast": (lambda im, v: TF.adjust_contrast(im, 1 + v), (-0.9, 0.9)),
    "Sharpness": (lambda im, v: TF.adjust_sharpness(im, 1 + v), (-0.9, 0.9)),
    "TranslateX": (lambda im, v: TF.affine(im, 0.0, [int(v), 0], 1.0, [0.0, 0.0]), (-9.0, 9.0)),
    "TranslateY": (lambda im, v: TF.affine(im, 0.0, [0, int(v)], 1.0, [0.0, 0.0]), (-9.0, 9.0)),
    "ShearX": (lambda im, v: TF.affine(im, 0.0, [0, 0], 1.0, [math.degrees(math.atan(v)), 0.0],
                                       center=[0, 0]), (-0.3, 0.3)),
    "ShearY": (lambda im, v: TF.affine(im, 0.0, [0, 0], 1.0, [0.0, math.degrees(math.atan(v))],
                                       center=[0, 0]), (-0.3, 0.3)),
    "Rotate": (lambda im, v: TF.rotate(im, v), (-30.0, 30.0)),
}


@pytest.mark.parametrize("c,s", [(3, 16), (1, 8)])
@pytest.mark.parametrize("op", sorted(TV_OPS))
def test_op_matches_torchvision(op, c, s):
    ref, rng = TV_OPS[op]
    x = _hist_inputs()[:, :c] if s == 16 else _images(12, c, s, seed=6)
    g = torch.Generator().manual_seed(7)
    if rng == "bits":
        m = torch.randint(1, 9, (len(x),), generator=g).float()
    elif rng is None:
        m = torch.zeros(len(x))
    else:
        m = rng[0] + (rng[1] - rng[0]) * torch.rand(len(x), generator=g)
    ours, theirs = A.OPS[op](x, m), _per_image(ref, x, m)
    assert ours.dtype == torch.uint8 and ours.shape == x.shape
    if op in ("ShearX", "ShearY", "Rotate"):  # nearest-neighbour ties may round differently
        assert (ours != theirs).float().mean() < 0.01
    else:
        assert torch.equal(ours, theirs)


def test_translate_is_integer_exact():
    x = _images(2, 3, 10)
    y = A.translate_x(x, torch.tensor([3.7, -2.2]))  # truncates to 3 and -2
    assert torch.equal(y[0], _shift(x[0], 0, -3)) and torch.equal(y[1], _shift(x[1], 0, 2))
    y = A.translate_y(x, torch.tensor([-1.0, 4.0]))
    assert torch.equal(y[0], _shift(x[0], 1, 0)) and torch.equal(y[1], _shift(x[1], -4, 0))


def test_hand_made_point_ops():
    x = torch.tensor([0, 1, 127, 128, 200, 255], dtype=torch.uint8).view(1, 1, 1, 6)
    assert A.invert(x).flatten().tolist() == [255, 254, 128, 127, 55, 0]
    assert A.solarize(x, torch.tensor([128.0])).flatten().tolist() == [0, 1, 127, 127, 55, 0]
    assert A.posterize(x, torch.tensor([2.0])).flatten().tolist() == [0, 0, 64, 128, 192, 192]
    assert A.autocontrast(x[..., 1:5]).flatten().tolist() == [0, 161, 162, 255]  # (v - 1) * 255 / 199, truncated


# ------------------------------------------------------------------ policy machinery
def test_cifar10_policy_matches_torchvision():
    tv = T.AutoAugment(T.AutoAugmentPolicy.CIFAR10).policies
    assert len(A.CIFAR10_POLICY) == 25
    assert [tuple(tuple(step) for step in sub) for sub in tv] == list(A.CIFAR10_POLICY)


def test_magnitudes_match_torchvision_bins():
    space = T.AutoAugment()._augmentation_space(10, (32, 32))
    for op, (mags, _) in space.items():
        if op in ("AutoContrast", "Equalize", "Invert"):
            continue
        for level in range(10):
            assert A.magnitude(op, level, 32, 32) == pytest.approx(float(mags[level]), abs=1e-4)


def test_subpolicy_masking():
    x = _images(40, 3, 16)
    always = A.BatchedAutoAugment(((("Invert", 1.0, None), ("Equalize", 1.0, None)),))
    assert torch.equal(always(x, _gen(0)), A.equalize(A.invert(x)))
    never = A.BatchedAutoAugment(((("Invert", 0.0, None), ("Equalize", 0.0, None)),))
    assert torch.equal(never(x, _gen(0)), x)
    two = A.BatchedAutoAugment(((("Invert", 1.0, None), ("Invert", 0.0, None)),
                                (("Posterize", 1.0, 9), ("Invert", 0.0, None))))
    y = two(x, _gen(0))
    is_inv = (y == A.invert(x)).flatten(1).all(1)
    is_post = (y == A.posterize(x, torch.full((40,), 4.0))).flatten(1).all(1)
    assert (is_inv | is_post).all() and is_inv.any() and is_post.any()
    with pytest.raises(ValueError, match="Blur"):
        A.BatchedAutoAugment(((("Blur", 1.0, None), ("Invert", 0.0, None)),))


def test_masked_and_subset_modes_agree():
    x = _images(128, 3, 32)
    a = A.BatchedAutoAugment(masked=False)(x, _gen(9))
    b = A.BatchedAutoAugment(masked=True)(x, _gen(9))
    assert torch.equal(a, b) and not torch.equal(a, x)


# ------------------------------------------------------------------ CUDA
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.parametrize("name", ["weak", "paper"])
def test_cuda(name):
    x = _images(64, 3, 32).cuda()
    aug = build_augment(name, 32)
    a, b = aug(x, _gen(4, "cuda")), aug(x, _gen(4, "cuda"))
    assert a.device == x.device and a.dtype == torch.uint8 and torch.equal(a, b)
    for op in sorted(A.OPS):
        m = torch.rand(64, device="cuda")
        assert torch.equal(A.OPS[op](x, m).cpu(), A.OPS[op](x.cpu(), m.cpu())), op
    with pytest.raises(ValueError, match="generator"):
        aug(x, _gen(0))
