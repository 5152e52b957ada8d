"""ENS-varR's members trained as one stacked network (alkit.engine.train.stacked): the grouped
conversion computes each member exactly (forward in train and eval mode, gradients), splitting back
returns the stacked weights, a stacked fit agrees with the sequential one up to float rounding, the
switch off is the old path bit for bit, and a stacked fit is deterministic under a seed.

Tolerances. One forward/backward of the stacked network differs from the members' by float rounding
(~1e-7 here; 1e-5 asserted). Over a training, rounding differences stay at that level for a few
steps, then a pre-activation within rounding of 0 flips its ReLU and the two trainings part by
~1e-4 in one step and drift apart slowly (chaotic SGD): measured on digits, 60 labels, 150 steps,
per-member argmax agreement on the pool 98.7-100 %, mean |delta p| 4e-4 to 1e-3. The same
sequential training in channels-first instead of channels-last (a change that is only rounding)
parts from itself as much: 98.4-100 %, mean |delta p| 1.6e-3 to 2e-3. So the short fit (5 steps)
is held to 1e-5, the long one to >= 99 % agreement over the members (>= 98 % each), mean |delta p|
<= 2e-3 (the rounding yardstick's size).
"""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import alkit.engine.train.common as common
import alkit.engine.train.stacked as stacked_mod
from alkit.engine.data import load_dataset
from alkit.engine.models import CifarResNet18, SmallCNN, WideResNet
from alkit.engine.models.mc_dropout import add_penultimate_dropout
from alkit.engine.train.common import prepare_model
from alkit.engine.train.stacked import (GroupedLinear, can_stack, split_members, stack_members,
                                        stacking_wanted, train_stacked_supervised)
from alkit.engine.train.supervised import predict, train_supervised
from alkit.tasks.classification import ClassificationTask
from alkit.tasks.fit_cache import FitCache
from task_settings import training

CPU = torch.device("cpu")
NETS = {  # (factory, input channels, side): tiny versions where the real one is slow on a CPU
    "small-cnn": (lambda: SmallCNN(10, 1), 1, 8),
    "wrn-10-1": (lambda: WideResNet(10, 3, depth=10, widen=1), 3, 16),
    "wrn-28-2": (lambda: WideResNet(10, 3, depth=28, widen=2), 3, 8),
    "resnet18": (lambda: CifarResNet18(10, 3), 3, 8),
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks, as a run's worker processes train them: one torch thread (the task's
    ``preferred_threads`` hint, which the runner applies and a direct ``fit`` does not)."""
    with common.torch_threads(1):
        yield


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _members(factory, count=3):
    out = []
    for m in range(count):
        torch.manual_seed(100 + m)
        out.append(prepare_model(factory(), CPU))
    return out


def _blocks(stacked_t: torch.Tensor, count: int, grouped: bool) -> list[torch.Tensor]:
    """Member m's part of a stacked tensor: index m of a GroupedLinear's, else block m of dim 0."""
    return list(stacked_t) if grouped else list(stacked_t.chunk(count))


@pytest.mark.parametrize("name", list(NETS))
def test_stacked_forward_and_gradients_equal_the_members(name):
    factory, c, side = NETS[name]
    count = 3 if name != "resnet18" else 2
    members = _members(factory, count)
    stacked = prepare_model(stack_members(members), CPU)
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(6, c, side, side, generator=g).contiguous(memory_format=torch.channels_last)
          for _ in range(count)]
    ys = [torch.randint(0, 10, (6,), generator=g) for _ in range(count)]
    for mode in ("train", "eval"):
        for net in members + [stacked]:
            net.train(mode == "train")
        logits, emb, taps = stacked.forward_features(torch.cat(xs, dim=1))
        for m, member in enumerate(members):
            ref_logits, ref_emb, ref_taps = member.forward_features(xs[m])
            assert torch.allclose(logits.view(6, count, 10)[:, m], ref_logits, atol=1e-5)
            assert torch.allclose(emb.chunk(count, dim=1)[m], ref_emb, atol=1e-5)
            for t, r in zip(taps, ref_taps):
                assert torch.allclose(t.chunk(count, dim=1)[m], r, atol=1e-5)
        if mode == "train":  # the running statistics moved as each member's own did
            for (n, buf), *refs in zip(stacked.named_buffers(), *[mem.buffers() for mem in members]):
                if "running" in n:
                    assert torch.allclose(buf, torch.cat(refs), atol=1e-5)
    # gradients of the summed per-member losses = each member's own gradient
    for net in members + [stacked]:
        net.train()
        net.zero_grad()
    loss = F.cross_entropy(stacked(torch.cat(xs, 1)).view(6 * count, 10), torch.stack(ys, 1).view(-1)) * count
    loss.backward()
    for m, member in enumerate(members):
        F.cross_entropy(member(xs[m]), ys[m]).backward()
    places = dict(stacked.named_modules())
    for pname, p in stacked.named_parameters():
        grouped = isinstance(places[pname.rpartition(".")[0]], GroupedLinear)
        for m, (member, part) in enumerate(zip(members, _blocks(p.grad, count, grouped))):
            assert torch.allclose(part, dict(member.named_parameters())[pname].grad, atol=1e-5), (pname, m)


@pytest.mark.parametrize("name", ["small-cnn", "wrn-10-1"])
def test_split_back_returns_the_stacked_weights(name):
    factory, c, side = NETS[name]
    members = _members(factory)
    stacked = prepare_model(stack_members(members), CPU).train()
    stacked(torch.randn(4, 3 * c, side, side))  # moves the running statistics
    with torch.no_grad():
        for p in stacked.parameters():
            p.add_(torch.randn_like(p))
    out = split_members(stacked, copy.deepcopy(members))
    places = dict(stacked.named_modules())
    for key, t in stacked.state_dict().items():
        owner = places[key.rpartition(".")[0]]
        if key.endswith("num_batches_tracked"):
            assert all(torch.equal(o.state_dict()[key], t) for o in out)
            continue
        for m, part in enumerate(_blocks(t, 3, isinstance(owner, GroupedLinear))):
            assert torch.equal(out[m].state_dict()[key], part), key
    # and the round trip members -> stacked -> members is the identity
    back = split_members(stack_members(members), copy.deepcopy(_members(factory)))
    for a, b in zip(members, back):
        assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_grouped_linear_and_what_cannot_stack():
    lins = [torch.nn.Linear(5, 4) for _ in range(3)]
    gl = GroupedLinear(3, 5, 4)
    with torch.no_grad():
        gl.weight.copy_(torch.stack([lin.weight for lin in lins]))
        gl.bias.copy_(torch.stack([lin.bias for lin in lins]))
    xs = [torch.randn(7, 5) for _ in range(3)]
    out = gl(torch.cat(xs, 1)).view(7, 3, 4)
    for m in range(3):
        assert torch.allclose(out[:, m], lins[m](xs[m]), atol=1e-6)
    assert can_stack(SmallCNN(10, 1)) and can_stack(WideResNet(10, 3, depth=10, widen=1))
    assert not can_stack(add_penultimate_dropout(SmallCNN(10, 1)))  # BALD's hook
    assert not can_stack(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten()))  # not a built-in
    with pytest.raises(ValueError):
        stack_members([SmallCNN(10, 1), SmallCNN(5, 1)])
    assert stacking_wanted(CPU, 8, "auto") and not stacking_wanted(CPU, 32, "auto")
    assert stacking_wanted(CPU, 32, True) and not stacking_wanted(CPU, 8, False)
    assert stacking_wanted(torch.device("cuda"), 32, "auto")
    with pytest.raises(ValueError):
        stacking_wanted(CPU, 8, "yes")


def _fit(data, stacked, steps, seed=5, members=3, labels=60, **kw):
    task = ClassificationTask(data, **training(epochs=1, min_steps=steps, ensemble_size=members), stacked_members=stacked, **kw)
    labelled = task.initial_order(np.random.default_rng(0))[:labels]
    return task, labelled, task.fit(labelled, seed=seed, strategy="ens-varr").models


def _pool_probs(data, models):
    return torch.stack([predict(m, data.train_x, data.mean, data.std)["probs"] for m in models])  # [M, n, K]


def _states_equal(a, b):
    return all(torch.equal(x.state_dict()[k], y.state_dict()[k]) for x, y in zip(a, b) for k in x.state_dict())


def test_stacked_fit_agrees_with_sequential(digits, monkeypatch):
    calls = []
    real = stacked_mod.train_stacked_supervised
    monkeypatch.setattr(stacked_mod, "train_stacked_supervised", lambda *a, **k: calls.append(1) or real(*a, **k))
    # a few steps: float rounding only
    _, _, seq = _fit(digits, False, 5)
    _, _, st = _fit(digits, True, 5)
    assert len(calls) == 1 and len(st) == 3
    for a, b in zip(seq, st):
        for k, t in a.state_dict().items():
            assert torch.allclose(t.float(), b.state_dict()[k].float(), atol=1e-5), k
    p_seq, p_st = _pool_probs(digits, seq), _pool_probs(digits, st)
    assert torch.allclose(p_seq, p_st, atol=1e-5)
    assert (p_seq.argmax(-1) == p_st.argmax(-1)).float().mean() >= 0.999
    # 150 steps: rounding amplified as much as a channels-first training parts from channels-last
    _, _, seq = _fit(digits, False, 150)
    _, _, st = _fit(digits, True, 150)
    p_seq, p_st = _pool_probs(digits, seq), _pool_probs(digits, st)
    agree = (p_seq.argmax(-1) == p_st.argmax(-1)).float().mean(-1)  # [M]
    assert agree.mean() >= 0.99 and agree.min() >= 0.98, agree
    assert (p_seq - p_st).abs().mean() <= 2e-3


def test_switch_off_is_the_old_path_bit_for_bit(digits, monkeypatch):
    task, labelled, off = _fit(digits, False, 12)
    reference = []  # what fit did before stacking existed: members one after another
    for m in range(3):
        torch.manual_seed(5 + 1000 * m)
        model = task.new_model()
        reference.append(train_supervised(model, digits, labelled, epochs=1, augment=task.augment, seed=5 + 1000 * m,
                                          batch_size=64, lr=task.lr, min_steps=12))
    assert _states_equal(off, reference)
    monkeypatch.setattr(common, "STACKED_MEMBERS", False)  # the module constant, when the task says None
    assert _states_equal(_fit(digits, None, 12)[2], reference)
    monkeypatch.setattr(common, "STACKED_MEMBERS", "auto")  # digits on the CPU: stacked
    auto = _fit(digits, None, 12)[2]
    assert _states_equal(auto, _fit(digits, True, 12)[2]) and not _states_equal(auto, reference)
    # SSL ensembles and single-model strategies never stack
    assert not ClassificationTask(digits, **training(), ssl="uda", stacked_members=True)._stacks_members()


def test_stacked_fit_is_deterministic_and_cached_as_one_entry(digits, tmp_path, monkeypatch):
    a = _fit(digits, True, 8, seed=3)[2]
    b = _fit(digits, True, 8, seed=3)[2]
    c = _fit(digits, True, 8, seed=4)[2]
    assert _states_equal(a, b) and not _states_equal(a, c)
    # the fit cache keeps the stacked ensemble whole, under its own entry (not a lone network's)
    task = ClassificationTask(digits, **training(epochs=1, min_steps=8, ensemble_size=3), stacked_members=True)
    task.fit_cache = FitCache(tmp_path, "sig")
    labelled = task.initial_order(np.random.default_rng(0))[:60]
    first = task.fit(labelled, seed=3, strategy="ens-varr").models
    assert _states_equal(first, a)
    assert task.fit_cache.load(labelled, 3) is None and task.fit_cache.load(labelled, 3, "stacked3") is not None
    monkeypatch.setattr(stacked_mod, "train_stacked_supervised", lambda *a, **k: pytest.fail("trained again"))
    assert _states_equal(task.fit(labelled, seed=3, strategy="ens-varr").models, a)


def test_stacked_trainer_with_weight_average_matches_members(digits):
    """The trainer's other options (batch size, weight average) act per member as well."""
    from alkit.engine.augment import build_augment

    aug = build_augment("paper", 8, hflip=False)
    labelled, seeds = np.arange(0, 400, 9), [11, 12]
    kw = dict(epochs=2, augment=aug, batch_size=16, ema=0.9, min_steps=4)
    members = _members(lambda: SmallCNN(10, 1), 2)
    alone = [train_supervised(copy.deepcopy(m), digits, labelled, seed=s, **kw) for m, s in zip(members, seeds)]
    together = train_stacked_supervised(members, digits, labelled, seeds=seeds, **kw)
    for a, b in zip(alone, together):
        assert not b.training
        for k, t in a.state_dict().items():
            assert torch.allclose(t.float(), b.state_dict()[k].float(), atol=1e-5), k
