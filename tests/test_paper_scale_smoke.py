"""The `paper` recipes end to end on fabricated real-format data (a handful of steps each), so a
crash at paper scale is caught on a laptop: CIFAR-10 with WRN-28-2, every built-in classification
strategy raw and the paper's SSL-X with the originals' options (UDA, FixMatch:
alkit.experiments.recipes.PAPER_SSL); PASCAL VOC with DeepLab-v2 (ResNet-101, no pretrained
weights: offline), every segmentation strategy, s4GAN with the original's discriminator options,
and polygon-level labelling. Only sizes shrink (budgets, steps, crops); every other setting is the
paper recipe's, as `alkit reproduce --preset paper` would resolve it."""

import pickle

import cv2
import numpy as np
import pytest
from PIL import Image

from alkit.experiments.config import Experiment, run
from alkit.experiments.recipes import PAPER_SSL, recipe
from alkit.strategies import strategy_names


def _cifar10(root, per_batch=12):
    """cifar-10-batches-py in the real format (bytes keys, uint8 rows of 3072 values)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": (np.arange(per_batch) % 10).tolist(),
                         b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                         b"filenames": [b"x.png"] * per_batch}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)], b"num_vis": 3072,
                     b"num_cases_per_batch": per_batch}, f)


def _voc(root, n_train=10, n_val=3):
    """VOCdevkit/VOC2012 in the real format: JPEG images, palette PNG masks with a 255 border."""
    voc = root / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    ids = [f"2007_{i:06d}" for i in range(n_train + n_val)]
    rng = np.random.default_rng(0)
    for k, name in enumerate(ids):
        h, w = (36, 44) if k % 2 else (44, 36)
        cv2.imwrite(str(voc / "JPEGImages" / f"{name}.jpg"), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        m = np.zeros((h, w), np.uint8)
        m[6:20, 6:22] = 1 + k % 20  # one object of a VOC class
        m[5, 5:23] = 255  # its border: ignored
        im = Image.fromarray(m, mode="P")
        im.putpalette([0, 0, 0] + [int(v) for v in rng.integers(0, 255, 3 * 255)])
        im.save(voc / "SegmentationClass" / f"{name}.png")
    sets = voc / "ImageSets" / "Segmentation"
    (sets / "train.txt").write_text("\n".join(ids[:n_train]) + "\n")
    (sets / "val.txt").write_text("\n".join(ids[n_train:]) + "\n")


def _ran(df, strategies, cycles):
    assert set(df.strategy) == set(strategies)
    assert df.groupby("strategy").cycle.max().eq(cycles).all()


def test_cifar10_paper_recipe_every_strategy_and_ssl(tmp_path):
    _cifar10(tmp_path / "data")
    r = recipe("classification", "cifar10", "high")
    small = dict(dataset="cifar10", data_root=str(tmp_path / "data"), regime="high", initial=20, step=10, cycles=1,
                 trials=1, epochs=1, batch_size=8, ensemble_size=2, workers=1)
    names = strategy_names("classification", builtin_only=True)
    exp = Experiment(strategies=tuple(names), **small)
    task = exp.build_task()
    assert task.model_name == "wrn-28-2" and exp.resolved()["lr"] == r["lr"]
    _ran(run(exp, task=task, store_root=tmp_path / "runs", progress=False), names, 1)
    for ssl in ("uda", "fixmatch"):
        exp = Experiment(strategies=("random", "entropy"), ssl=ssl, iterations=2, unlabelled_batch=8, **small)
        task = exp.build_task()
        assert task.ssl_options == PAPER_SSL[ssl]  # the originals' optimiser, schedule, EMA and views
        _ran(run(exp, task=task, store_root=tmp_path / "runs", progress=False), ["random", "entropy"], 1)


@pytest.mark.parametrize("ssl", [None, "s4gan"])
def test_voc_paper_recipe_every_strategy(tmp_path, ssl):
    _voc(tmp_path / "data")
    small = dict(dataset="voc", data_root=str(tmp_path / "data"), pretrained="none", trials=1, cycles=1,
                 initial=12, step=8, epochs=1, batch_size=2, ensemble_size=2, workers=1)
    names = ("random", "d-score") if ssl else tuple(n for n in strategy_names("segmentation", builtin_only=True)
                                                    if n != "d-score")  # D-score needs s4GAN's discriminator
    extra = dict(ssl="s4gan", iterations=2) if ssl else {}
    exp = Experiment(strategies=tuple(names), **small, **extra)
    task = exp.build_task()
    task.crop_size = 33  # the paper's 321-px crops, shrunk (Experiment has no crop setting: the recipe's)
    assert task.model_name == "deeplabv2-resnet101" and task.tolerance == recipe("segmentation", "voc")["tolerance"]
    if ssl:
        assert task.s4gan["real_batch"] == "separate" and task.s4gan["ignore_fill"] == "zeros"
    df = run(exp, task=task, store_root=tmp_path / "runs", progress=False)
    _ran(df, names, 1)
    assert np.isfinite(df.miou).all()


def test_voc_paper_recipe_polygon_labelling(tmp_path):
    _voc(tmp_path / "data")
    exp = Experiment(dataset="voc", data_root=str(tmp_path / "data"), pretrained="none", trials=1, cycles=1,
                     initial=12, step=4, epochs=1, batch_size=2, labeling="polygon",
                     polygon_strategy="entropy", workers=1)
    task = exp.build_task()
    task.crop_size = 33
    df = run(exp, task=task, store_root=tmp_path / "runs", progress=False)
    assert df.cycle.max() == 1 and (df.n_items.diff().dropna() > 0).all()


def test_segmentation_pretrained_words_are_checked_before_any_compute(tmp_path):
    _voc(tmp_path / "data")
    ok = Experiment(dataset="voc", data_root=str(tmp_path / "data"), pretrained="none").build_task()
    assert ok.pretrained is None  # "none", as the command line and the notebooks say it
    with pytest.raises(ValueError, match="pretrained weights 'imagnet'.*imagenet"):
        Experiment(dataset="voc", data_root=str(tmp_path / "data"), pretrained="imagnet").resolved()
