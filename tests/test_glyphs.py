"""The synthetic glyph set (offline transfer source for digits) and its cached pre-training."""

import numpy as np
import torch

from alkit.engine.data.glyphs import GLYPHS, make_glyphs
from alkit.engine.train import pretrain
from task_settings import training


def test_glyphs_are_seeded_letters_and_symbols_at_digit_resolution():
    x, y = make_glyphs(3, seed=1)
    assert x.shape == (3 * len(GLYPHS), 1, 8, 8) and x.dtype == torch.uint8
    assert np.bincount(y.numpy(), minlength=len(GLYPHS)).tolist() == [3] * len(GLYPHS)
    assert not any(c.isdigit() for c in GLYPHS) and len(set(GLYPHS)) == len(GLYPHS)
    x2, y2 = make_glyphs(3, seed=1)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(make_glyphs(3, seed=2)[0], x)
    assert int(x.max()) > 200 and float(x.float().mean()) > 20  # ink in the digits' 0..255 range


def test_pretraining_is_cached_by_recipe(tmp_path, monkeypatch):
    recipe = dict(pretrain.PRETRAIN_RECIPE, n_per_class=2, epochs=1)
    calls = []
    real = pretrain.pretrain_on_glyphs
    monkeypatch.setattr(pretrain, "pretrain_on_glyphs", lambda *a, **k: calls.append(1) or real(*a, **k))
    a = pretrain.glyph_backbone(cache_dir=tmp_path, recipe=recipe)
    b = pretrain.glyph_backbone(cache_dir=tmp_path, recipe=recipe)
    assert len(calls) == 1  # trained once, then read back
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not any(k.startswith("fc.") for k in a)  # the head is not transferred
    files = list(tmp_path.iterdir())
    assert [f.suffix for f in files] == [".pt"]  # no temporary file left behind
    assert pretrain.cache_key(recipe=recipe) in files[0].name
    assert pretrain.cache_key(recipe=dict(recipe, epochs=2)) != pretrain.cache_key(recipe=recipe)


def test_task_loads_glyph_backbone(tmp_path, monkeypatch):
    from alkit.engine.data.digits import load_digits
    from alkit.tasks.classification import ClassificationTask

    recipe = dict(pretrain.PRETRAIN_RECIPE, n_per_class=2, epochs=1)
    state = pretrain.glyph_backbone(cache_dir=tmp_path, recipe=recipe)
    monkeypatch.setattr(pretrain, "glyph_backbone", lambda model: state)
    task = ClassificationTask(load_digits(), **training(), pretrained="glyphs", device="cpu")
    m = task.new_model()
    own = m.state_dict()
    assert all(torch.equal(own[k], v) for k, v in state.items())
    scratch = ClassificationTask(load_digits(), **training(), device="cpu").new_model().state_dict()
    assert any(not torch.equal(scratch[k], v) for k, v in state.items() if v.is_floating_point())
