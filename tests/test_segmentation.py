"""Segmentation side (paper Sec. 4): datasets, scores, models, trainer, click-budget task, CLI."""

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from alkit.engine.data.seg_folder import load_seg_folder
from alkit.engine.data.shapes import SHAPES_CLASSES, load_shapes, make_shapes
from alkit.engine.data.voc import VOC_CLASSES, load_voc
from alkit.strategies import segmentation as S
from task_settings import seg_recipe

# ---------------------------------------------------------------- data


def test_shapes_deterministic_and_prefix_stable():
    a_x, a_y = make_shapes(6, seed=3)
    b_x, b_y = make_shapes(3, seed=3)
    assert a_x.dtype == torch.uint8 and a_x.shape == (6, 3, 64, 64) and a_y.shape == (6, 64, 64)
    assert torch.equal(a_x[:3], b_x) and torch.equal(a_y[:3], b_y)
    assert not torch.equal(make_shapes(3, seed=4)[1], b_y)
    d = load_shapes(40, 10)
    assert d.classes == SHAPES_CLASSES and d.fixed_size and len(d.val_images) == 10
    labels = set(torch.unique(d.train_masks).tolist())
    assert labels <= set(range(len(SHAPES_CLASSES))) and len(labels) >= 4


def _palette_png(path, mask):
    im = Image.fromarray(mask.astype(np.uint8), mode="P")
    im.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [64] * 759)
    im.save(path)


def _fake_voc(root, n_train=4, n_val=3, aug=False):
    voc = root / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation", "SegmentationClassAug"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    ids = [f"2007_{i:06d}" for i in range(n_train + n_val + 2)]
    rng = np.random.default_rng(0)
    for k, i in enumerate(ids):
        h, w = (30, 40) if k % 2 else (40, 30)
        cv2.imwrite(str(voc / "JPEGImages" / f"{i}.jpg"), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        m = np.zeros((h, w), np.uint8)
        m[5:15, 5:15] = 15  # a "person"
        m[4, 4:16] = 255  # border
        _palette_png(voc / "SegmentationClass" / f"{i}.png", m)
        Image.fromarray(m, mode="L").save(voc / "SegmentationClassAug" / f"{i}.png")
    sets = voc / "ImageSets" / "Segmentation"
    (sets / "train.txt").write_text("\n".join(ids[:n_train]) + "\n")
    (sets / "val.txt").write_text("\n".join(ids[n_train:n_train + n_val]) + "\n")
    if aug:
        (sets / "train_aug.txt").write_text("\n".join(ids[:n_train] + ids[-2:]) + "\n")
    return voc


def test_voc_folder_reads_palette_masks(tmp_path):
    _fake_voc(tmp_path)
    d = load_voc(tmp_path)
    assert d.classes == VOC_CLASSES and d.num_classes == 21
    assert len(d.train_images) == 4 and len(d.val_images) == 3 and d.info["train_list"] == "train"
    assert not d.fixed_size  # two image sizes -> lists
    assert d.train_images[0].shape[0] == 3 and d.train_images[0].shape[1:] == d.train_masks[0].shape
    assert set(torch.unique(d.train_masks[0]).tolist()) == {0, 15, 255}  # palette indices, not colours


def test_voc_uses_sbd_train_aug_when_present(tmp_path):
    _fake_voc(tmp_path, aug=True)
    d = load_voc(tmp_path / "VOCdevkit")
    assert d.info["train_list"] == "train_aug" and len(d.train_images) == 6
    assert len(load_voc(tmp_path, prefer_aug=False).train_images) == 4


def test_voc_missing_names_path_and_download_flag(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--download") as e:
        load_voc(tmp_path / "nowhere")
    assert "nowhere" in str(e.value) and "\n" not in str(e.value)


def _fake_folder(root, stems, size=(24, 32)):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for k, s in enumerate(stems):
        cv2.imwrite(str(root / "images" / f"{s}.png"), np.full((*size, 3), 10 * k, np.uint8))
        m = np.zeros(size, np.uint8)
        m[2:8, 2:8] = 1 + k % 2
        m[0, :] = 255
        Image.fromarray(m, mode="L").save(root / "masks" / f"{s}.png")


def test_generic_folder_with_lists_and_classes(tmp_path):
    stems = [f"img{i}" for i in range(5)]
    _fake_folder(tmp_path, stems)
    (tmp_path / "train.txt").write_text("img0\nimg1\nimg2\n")
    (tmp_path / "val.txt").write_text("img3\nimg4\n")
    (tmp_path / "classes.txt").write_text("bg\ncat\ndog\n")
    d = load_seg_folder(tmp_path)
    assert d.classes == ["bg", "cat", "dog"] and d.fixed_size
    assert d.train_images.shape == (3, 3, 24, 32) and d.val_masks.shape == (2, 24, 32)
    assert int(d.train_images[1, 0, 0, 0]) == 10  # img1 in list order
    assert set(torch.unique(d.train_masks).tolist()) == {0, 1, 2, 255}


def test_generic_folder_seeded_split_and_missing_mask(tmp_path):
    _fake_folder(tmp_path / "a", [f"x{i}" for i in range(10)])
    d = load_seg_folder(tmp_path / "a", val_fraction=0.3)
    assert len(d.train_images) == 7 and len(d.val_images) == 3 and d.classes == ["class_0", "class_1", "class_2"]
    (tmp_path / "a" / "masks" / "x0.png").unlink()
    with pytest.raises(FileNotFoundError, match="x0"):
        load_seg_folder(tmp_path / "a")

# ---------------------------------------------------------------- scores


def test_normalized_entropy_bounds():
    k = 4
    uniform = torch.full((1, k, 2, 2), 1 / k)
    onehot = torch.zeros(1, k, 2, 2)
    onehot[:, 0] = 1
    assert torch.allclose(S.normalized_entropy(uniform), torch.ones(1, 2, 2))
    assert torch.allclose(S.normalized_entropy(onehot), torch.zeros(1, 2, 2))
    assert isinstance(S.normalized_entropy(uniform.numpy()), np.ndarray)


def test_entropy_count_counts_uncertain_pixels():
    p = np.zeros((2, 2, 3, 3), np.float32)
    p[:, 0] = 1.0  # confident everywhere
    p[1, :, :2, :] = 0.5  # image 1: 6 pixels at 50/50 -> normalised entropy 1
    assert S.entropy_count(p, 0.6).tolist() == [0, 6]
    ignore = np.zeros((2, 3, 3), bool)
    ignore[1, 0] = True
    assert S.entropy_count(p, 0.6, ignore=ignore).tolist() == [0, 3]
    assert S.entropy_count(torch.from_numpy(p), 0.99).tolist() == [0, 6]


def test_ensemble_entropy_mean_prob_vs_mean_entropy():
    # two confident members that disagree: the mean prediction is uncertain, each member is not
    m = np.zeros((2, 1, 2, 1, 1), np.float32)
    m[0, 0, 0] = 1.0
    m[1, 0, 1] = 1.0
    assert S.ensemble_entropy_count(m, 0.6, "mean-prob").tolist() == [1]
    assert S.ensemble_entropy_count(m, 0.6, "mean-entropy").tolist() == [0]
    with pytest.raises(ValueError, match="mean-prob"):
        S.ensemble_entropy_count(m, 0.6, "max")


def test_order_by_score_highest_first_ties_seeded():
    s = np.array([1.0, 5.0, 5.0, 0.0, 3.0])
    o = S.order_by_score(s, np.random.default_rng(0))
    assert set(o[:2]) == {1, 2} and o[2:].tolist() == [4, 0, 3]
    assert np.array_equal(o, S.order_by_score(s, np.random.default_rng(0)))
    assert S.learning_loss_score(torch.tensor([0.3, 0.1])).tolist() == pytest.approx([0.3, 0.1])
    with pytest.raises(ValueError, match="ens-ent"):
        S.check_strategy("coreset", task="segmentation")

# ---------------------------------------------------------------- models and training


def test_models_forward_and_taps():
    from alkit.engine.models.segmentation import build_segmentation_model

    for name, size in (("small-seg", 64), ("deeplabv2-resnet50", 49)):
        net = build_segmentation_model(name, 5).eval()
        with torch.no_grad():
            logits, taps = net.forward_features(torch.randn(2, 3, size, size))
        assert logits.shape == (2, 5, size, size)
        assert [t.shape[1] for t in taps] == net.tap_channels and len(taps) == 4
    with pytest.raises(ValueError, match="small-seg"):
        build_segmentation_model("unet", 5)


def test_random_scaled_crop_shapes_flip_and_padding():
    from alkit.engine.train.segmentation import random_scaled_crop

    x = torch.arange(16.0).view(1, 1, 4, 4).expand(2, 3, 4, 4).contiguous()
    y = torch.arange(16).view(1, 4, 4).expand(2, 4, 4).contiguous()
    xo, yo = random_scaled_crop(x, y, 4, scale_range=(1, 1), hflip=False)
    assert torch.equal(yo, y) and torch.allclose(xo, x)
    g = torch.Generator().manual_seed(0)
    _, yo = random_scaled_crop(x, y, 4, scale_range=(1, 1), hflip=True, generator=g)
    for b in range(2):
        assert torch.equal(yo[b], y[b]) or torch.equal(yo[b], y[b].flip(-1))
    _, small = random_scaled_crop(x, y, 8, scale_range=(0.5, 0.5), hflip=False)
    assert small.shape == (2, 8, 8) and (small == 255).any()  # window larger than the image


def test_training_learns_and_evaluates():
    from alkit.engine.models.segmentation import SmallSegNet
    from alkit.engine.train.segmentation import evaluate_segmentation, train_segmentation

    d = load_shapes(30, 8)
    torch.manual_seed(0)
    net = SmallSegNet(6)
    before, _ = evaluate_segmentation(net, d.train_images[:10], d.train_masks[:10], 6, d.mean, d.std)
    train_segmentation(net, d.train_images, d.train_masks, np.arange(10), epochs=8, seed=0, mean=d.mean, std=d.std,
                       num_classes=6, crop_size=64, scale_range=(0.9, 1.1), lr=0.05, head_lr_mult=1,
                       min_epoch_steps=5)  # 40 steps: 8 left the width-16 network where it started
    assert not net.training
    after, cm = evaluate_segmentation(net, d.train_images[:10], d.train_masks[:10], 6, d.mean, d.std)
    assert cm.shape == (6, 6) and cm.sum() == 10 * 64 * 64
    assert after > before

# ---------------------------------------------------------------- task, budgets, CLI


@pytest.fixture(scope="module")
def task():
    from alkit.tasks.segmentation import SegmentationTask

    return SegmentationTask(load_shapes(40, 8), recipe=seg_recipe(epochs=1, ensemble_size=2), preview=2, device="cpu")


def test_task_costs_are_annotator_clicks(task):
    from alkit.protocol.annotation import annotate

    costs = task.pool_costs()
    expect = [max(1, annotate(m.numpy(), task.tolerance)[1]) for m in task.data.train_masks]
    assert costs.tolist() == expect and task.tolerance == 2.0
    assert task.approx_masks.shape == task.data.train_masks.shape


def test_budgets_in_clicks_overshoot_by_at_most_the_last_image(task):
    from alkit.protocol.loop import run_trial

    costs = task.pool_costs()
    initial, step = 120.0, 90.0
    for strategy in ("random", "entropy", "ens-ent", "ll"):
        recs = run_trial(task, strategy, initial=initial, step=step, cycles=2, trial=0, seed=1)
        spent_before = 0.0
        for r in recs:
            sel = np.asarray(r["selected"])
            budget = initial if r["cycle"] == 0 else step
            spent = costs[sel].sum()
            assert budget <= spent < budget + costs[sel[-1]]  # the documented rule
            assert r["cost"] == pytest.approx(spent_before + spent)
            spent_before = r["cost"]
            assert 0.0 <= r["miou"] <= 1.0
    from alkit.tasks.segmentation import decode_preview

    assert decode_preview(recs[0]["preview"]).shape == (2, 64, 64)


def test_rank_returns_every_unlabelled_image_once(task):
    learner = task.fit(np.arange(10), seed=0, strategy="entropy")
    unl = np.arange(10, 40)
    order = task.rank(learner, "entropy", np.arange(10), unl, 50, np.random.default_rng(0))
    assert sorted(order.tolist()) == unl.tolist()
    scores = task.scores(learner, "entropy", order)
    assert np.all(np.diff(scores) <= 0)


def test_clicks_table_and_cli(capsys):
    from alkit.cli import main
    from alkit.engine.data import load_dataset
    from alkit.protocol.annotation import clicks_table, sweep_options

    t = clicks_table(load_dataset("shapes", **sweep_options("shapes", 20)), [1, 4, 10], n_images=20, progress=False)
    assert t.tolerance.tolist() == [1, 4, 10] and t.clicks_per_image.is_monotonic_decreasing
    assert 0 < t.miou.min() <= t.miou.max() <= 100
    assert main(["clicks", "--dataset", "shapes", "--tolerance", "2,8", "--images", "10"]) == 0
    out = capsys.readouterr().out
    assert "clicks_per_image" in out and "miou" in out


def test_run_segmentation_resumes_from_store(tmp_path):
    from alkit.experiments.config import Experiment, run

    exp = Experiment(dataset="shapes", strategies=("random",), initial=100, step=60, cycles=1, trials=1, epochs=1,
                     data_options=dict(n_train=24, n_val=4), device="cpu")
    df = run(exp, store_root=tmp_path, progress=False)
    assert {"strategy", "trial", "cycle", "n_clicks", "n_images", "budget", "miou"} <= set(df.columns)
    assert df.budget.tolist() == [100, 160] and (df.n_clicks >= df.budget).all()
    again = run(exp, store_root=tmp_path, progress=False)
    assert again.miou.tolist() == df.miou.tolist() and again.seconds.tolist() == df.seconds.tolist()


# ---------------------------------------------------------------- the shapes recipe's training pieces (issue 16)


def test_train_steps_floor_per_epoch():
    from alkit.engine.train.segmentation import train_steps

    assert train_steps(31, 10, 12) == 4 * 12  # no floor: ceil(31 / 10) batches per epoch
    assert train_steps(31, 10, 12, min_epoch_steps=10) == 10 * 12  # few labels: 10 batches per epoch
    assert train_steps(250, 10, 12, min_epoch_steps=10) == 25 * 12  # enough labels: the floor is inert
    assert train_steps(0, 10, 0) == 1


def test_seg_optimizer_warmup_cosine_and_poly():
    from alkit.engine.train.segmentation import seg_optimizer

    w = torch.nn.Parameter(torch.zeros(2))
    opt, sched = seg_optimizer([{"params": [w], "lr": 1.0}], 10, optimizer="adamw", lr=1.0, schedule="cosine",
                               warmup=4, weight_decay=0.0)
    assert isinstance(opt, torch.optim.AdamW)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step(), sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # linear warm-up
    assert lrs[4:] == pytest.approx([0.5 * (1 + np.cos(np.pi * k / 6)) for k in range(6)])  # cosine to 0
    opt, sched = seg_optimizer([{"params": [w], "lr": 0.5}], 4, lr=0.5)  # the paper's SGD + poly
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.9
    opt.step(), sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5 * 0.75 ** 0.9)
    with pytest.raises(ValueError, match="optimizer"):
        seg_optimizer([w], 4, optimizer="rmsprop", lr=0.1)
    with pytest.raises(ValueError, match="schedule"):
        seg_optimizer([w], 4, schedule="step", lr=0.1)


def test_weight_average_is_an_ema_of_parameters_and_buffers():
    from alkit.engine.train.segmentation import WeightAverage

    m = torch.nn.BatchNorm1d(2)
    avg = WeightAverage(m, None, decay=0.5)
    with torch.no_grad():
        for v in (2.0, 4.0, 8.0):  # decays min(0.5, (1 + t) / (10 + t)): 0.1, 0.18..., then 0.25
            m.weight.fill_(v), m.running_mean.fill_(v)
            avg.update()
    d0, d1, d2 = 1 / 10, 2 / 11, 3 / 12
    expect = ((1.0 * d0 + 2 * (1 - d0)) * d1 + 4 * (1 - d1)) * d2 + 8 * (1 - d2)
    avg.copy_to()
    assert m.weight.tolist() == pytest.approx([expect] * 2)
    assert m.running_mean.tolist() == pytest.approx([expect - 1.0 * d0 * d1 * d2] * 2)  # started at 0, not 1
    off = WeightAverage(m, decay=0.0)
    with torch.no_grad():
        m.weight.fill_(3.0)
    off.update(), off.copy_to()
    assert m.weight.tolist() == [3.0, 3.0]  # disabled: the model keeps its last weights


def test_recipe_training_options_reach_the_trainer(monkeypatch):
    """The shapes recipe's optimiser settings are what the task trains with, channels-last on the CPU."""
    from alkit.engine.train import segmentation as seg_train
    from alkit.experiments.recipes import SEGMENTATION
    from alkit.tasks.segmentation import TRAIN_OPTIONS, SegmentationTask

    seen = {}
    real = seg_train.seg_optimizer

    def spy(groups, total, **kw):
        seen.update(kw, total=total)
        return real(groups, total, **kw)

    monkeypatch.setattr(seg_train, "seg_optimizer", spy)
    t = SegmentationTask(load_shapes(12, 4), recipe=seg_recipe(epochs=1), device="cpu")
    r = SEGMENTATION["shapes"]
    assert t.train_options == {k: r[k] for k in TRAIN_OPTIONS if k in r}
    learner = t.fit(np.arange(5), seed=0)
    assert seen["optimizer"] == r["optimizer"] and seen["schedule"] == r["schedule"]
    assert seen["total"] == seg_train.train_steps(5, t.batch_size, 1, r.get("min_epoch_steps", 0))
    assert learner.models[0].stage1[0][0].weight.is_contiguous(memory_format=torch.channels_last)


def test_soft_dice_loss_by_hand_and_against_a_loop():
    """Soft Dice (V-Net): 1 - mean over classes of (2 sum p g + 1) / (sum p + sum g + 1), ignore pixels out."""
    from alkit.engine.train.segmentation import soft_dice_loss

    # 2 classes, one image of 1 x 3 pixels; logits 0 / ln 3 give probabilities (0.5, 0.5) and (0.25, 0.75)
    logits = torch.tensor([[[[0.0, 0.0, 0.0]], [[0.0, np.log(3.0), 0.0]]]])
    y = torch.tensor([[[0, 1, 255]]])  # the third pixel is ignored
    p0, p1 = [0.5, 0.25], [0.5, 0.75]  # the two valid pixels
    d0 = (2 * 0.5 + 1) / (sum(p0) + 1 + 1)
    d1 = (2 * 0.75 + 1) / (sum(p1) + 1 + 1)
    assert float(soft_dice_loss(logits, y)) == pytest.approx(1 - (d0 + d1) / 2)
    # a random batch against a plain loop over classes and pixels
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 5, 6, generator=g)
    y = torch.randint(0, 4, (3, 5, 6), generator=g)
    y[0, :2] = 255
    probs = torch.softmax(logits, 1)
    scores = []
    for k in range(4):
        inter = sp = sg = 0.0
        for b, i, j in np.ndindex(3, 5, 6):
            if int(y[b, i, j]) == 255:
                continue
            inter += float(probs[b, k, i, j]) * (int(y[b, i, j]) == k)
            sp += float(probs[b, k, i, j])
            sg += int(y[b, i, j]) == k
        scores.append((2 * inter + 1) / (sp + sg + 1))
    assert float(soft_dice_loss(logits, y)) == pytest.approx(1 - np.mean(scores), rel=1e-5)
    perfect = torch.nn.functional.one_hot(torch.where(y == 255, 0, y), 4).permute(0, 3, 1, 2).float() * 50
    assert float(soft_dice_loss(perfect, y)) == pytest.approx(0.0, abs=1e-6)  # a sure, right prediction


def test_dice_weight_adds_the_dice_term_to_the_training_loss(monkeypatch):
    """dice_weight > 0: the trainer calls soft_dice_loss on every step's logits and masks; 0 never calls it."""
    from alkit.engine.train import segmentation as seg_train
    from alkit.engine.models.segmentation import SmallSegNet

    d = load_shapes(12, 4)
    calls = []
    real = seg_train.soft_dice_loss

    def spy(logits, y, ignore_index=255):
        calls.append(logits.shape)
        return real(logits, y, ignore_index)

    monkeypatch.setattr(seg_train, "soft_dice_loss", spy)
    common = dict(mean=d.mean, std=d.std, num_classes=d.num_classes, crop_size=32, batch_size=4, lr=1e-3, seed=0)
    seg_train.train_segmentation(SmallSegNet(d.num_classes), d.train_images, d.train_masks, np.arange(8), epochs=1,
                                 **common)
    assert calls == []
    seg_train.train_segmentation(SmallSegNet(d.num_classes), d.train_images, d.train_masks, np.arange(8), epochs=1,
                                 dice_weight=1.0, **common)
    assert calls == [torch.Size([4, d.num_classes, 32, 32])] * 2  # 8 images, batch 4: two steps
