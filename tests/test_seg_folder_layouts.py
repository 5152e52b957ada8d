"""Real segmentation folders as they ship (issue 8): the SegNet/CamVid layout, a void label other
than 255 (argument, dataset.json, --ignore-index) and class ids outside the class list."""

import json

import numpy as np
import pytest
from PIL import Image

from alkit.engine.data.seg_folder import load_seg_folder


def write_pair(img_dir, ann_dir, stem, mask):
    img_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    rgb = np.stack([mask * 20] * 3, -1).astype(np.uint8)
    Image.fromarray(rgb).save(img_dir / f"{stem}.png")
    Image.fromarray(mask.astype(np.uint8), mode="L").save(ann_dir / f"{stem}.png")


def camvid(root, void=11, bad_id=None):
    """SegNet layout: train/ trainannot/ val/ valannot/ test/ testannot/, 3 classes, void label ``void``."""
    g = np.random.default_rng(0)
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        for i in range(n):
            m = g.integers(0, 3, (8, 10))
            m[0, :3] = void
            if bad_id is not None and split == "val" and i == 1:
                m[2, 2] = bad_id
            write_pair(root / split, root / f"{split}annot", f"{split}_{i:03d}", m)
    return root


def test_segnet_layout_with_ignore_index(tmp_path):
    root = camvid(tmp_path / "CamVid")
    (root / "classes.txt").write_text("sky\nroad\ncar\n")
    d = load_seg_folder(root, ignore_index=11)
    assert (len(d.train_images), len(d.val_images)) == (4, 2)  # pool = train, validation = val
    assert d.classes == ["sky", "road", "car"] and d.ignore_index == 11
    assert tuple(d.train_images.shape) == (4, 3, 8, 10)
    assert (d.train_masks[:, 0, :3] == 11).all() and int(d.train_masks[:, 1:].max()) <= 2
    # the written mask comes back pixel for pixel
    first = np.array(Image.open(root / "trainannot" / "train_000.png"))
    assert np.array_equal(d.train_masks[0].numpy(), first)


def test_segnet_without_val_uses_test(tmp_path):
    root = camvid(tmp_path / "c")
    for sub in ("val", "valannot"):
        for f in (root / sub).iterdir():
            f.unlink()
        (root / sub).rmdir()
    d = load_seg_folder(root, classes=["a", "b", "c"], ignore_index=11)
    assert len(d.val_images) == 2 and all(np.array_equal(m.numpy(), np.array(Image.open(root / "testannot" / f"test_{i:03d}.png"))) for i, m in enumerate(d.val_masks))


def test_metadata_file_sets_void_label_and_classes(tmp_path):
    root = camvid(tmp_path / "c", void=7)
    (root / "dataset.json").write_text(json.dumps({"classes": ["a", "b", "c"], "ignore_index": 7}))
    d = load_seg_folder(root)
    assert d.ignore_index == 7 and d.num_classes == 3
    # without the metadata file the void label 7 would be a class id outside the list
    with pytest.raises(ValueError, match="class id"):
        load_seg_folder(root, ignore_index=255)


def test_class_id_outside_list_names_the_file(tmp_path):
    root = camvid(tmp_path / "c", bad_id=5)
    with pytest.raises(ValueError, match=r"val_001\.png: mask holds class id\(s\) 5 outside the 3 classes"):
        load_seg_folder(root, classes=["a", "b", "c"], ignore_index=11)


@pytest.mark.parametrize("meta, match", [({"ignore_index": 300}, "0..255"), ({"ignore_index": "x"}, "0..255"),
                                         ({"void": 3}, "unknown key"), ({"classes": []}, "non-empty")])
def test_bad_metadata_is_one_error(tmp_path, meta, match):
    root = camvid(tmp_path / "c")
    (root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=match):
        load_seg_folder(root)


def test_ignore_index_that_is_a_class(tmp_path):
    root = camvid(tmp_path / "c")
    with pytest.raises(ValueError, match="ignore_index 1 is also a class id"):
        load_seg_folder(root, classes=["a", "b", "c"], ignore_index=1)


def test_cli_ignore_index_reaches_the_loader(tmp_path):
    """``--ignore-index 11`` becomes the experiment's data option, which loads the folder with void 11."""
    from alkit import cli
    from alkit.experiments.config import Experiment

    root = camvid(tmp_path / "CamVid")
    (root / "classes.txt").write_text("sky\nroad\ncar\n")
    args = cli.build_parser().parse_args(["run", "--dataset", str(root), "--ignore-index", "11",
                                          "--out", str(tmp_path / "o")])
    exp = Experiment(**cli.experiment_settings(cli.check_run(args)))
    assert exp.data_options == {"ignore_index": 11}
    from alkit.engine.data import load_dataset

    d = load_dataset(exp.dataset, **exp.data_options)
    assert d.ignore_index == 11 and d.num_classes == 3
