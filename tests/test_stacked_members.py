"""ENS-varR's members trained as one stacked network (alkit.engine.train.stacked): the grouped
conversion computes each member exactly (forward in train and eval mode, gradients), splitting back
returns the stacked weights, a stacked fit agrees with the sequential one up to float rounding, the
switch off is the old path bit for bit, and a stacked fit is deterministic under a seed.

Tolerances. One forward/backward of the stacked network differs from the members' by float rounding
(~1e-7 in the small CNN; up to ~1e-4 after the train-mode BatchNorm layers of the deep nets on 6
images, where the stem is a matrix product on one side and a convolution on the other: 3e-4
asserted). Over a training, rounding differences stay at that level for a few
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
from alkit.engine.train.stacked import (GroupedLinear, StackedStem, can_stack, split_members, stack_members,
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


def _blocks(stacked_t: torch.Tensor, count: int, owner, like) -> list[torch.Tensor]:
    """Member m's part of a stacked tensor of module ``owner``, shaped as ``like`` (the member's
    tensor): index m of a GroupedLinear's (its first ``d_out`` rows) or a StackedStem's, else
    block m of dim 0."""
    if isinstance(owner, GroupedLinear):
        return [t[:owner.d_out] for t in stacked_t]
    if isinstance(owner, StackedStem):
        return [t.reshape(like.shape) for t in stacked_t]
    return list(stacked_t.chunk(count))


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
            # the stem is a matrix product here, a convolution there: rounding, which train-mode BN
            # over 6 images amplifies in the deep nets (up to ~1e-4 at ResNet-18's logits)
            assert torch.allclose(logits.view(6, count, 10)[:, m], ref_logits, atol=3e-4)
            assert torch.allclose(emb.chunk(count, dim=1)[m], ref_emb, atol=3e-4)
            for t, r in zip(taps, ref_taps):
                assert torch.allclose(t.chunk(count, dim=1)[m], r, atol=3e-4)
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
        owner, like = places[pname.rpartition(".")[0]], dict(members[0].named_parameters())[pname]
        for m, (member, part) in enumerate(zip(members, _blocks(p.grad, count, owner, like))):
            assert torch.allclose(part, dict(member.named_parameters())[pname].grad, atol=3e-4, rtol=1e-4), (pname, m)


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
        for m, part in enumerate(_blocks(t, 3, owner, out[0].state_dict()[key])):
            assert torch.equal(out[m].state_dict()[key], part), key
    # and the round trip members -> stacked -> members is the identity
    back = split_members(stack_members(members), copy.deepcopy(_members(factory)))
    for a, b in zip(members, back):
        assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_grouped_linear_and_what_cannot_stack():
    lins = [torch.nn.Linear(5, 4) for _ in range(3)]
    gl = GroupedLinear(3, 5, 4)
    assert gl.weight.shape == (3, 16, 5) and gl.bias.shape == (3, 16)  # rows padded to ROW_ALIGN
    with torch.no_grad():
        gl.weight[:, :4].copy_(torch.stack([lin.weight for lin in lins]))
        gl.bias[:, :4].copy_(torch.stack([lin.bias for lin in lins]))
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


def test_stacked_fit_is_deterministic_and_cached_per_member(digits, tmp_path, monkeypatch):
    a = _fit(digits, True, 8, seed=3)[2]
    b = _fit(digits, True, 8, seed=3)[2]
    c = _fit(digits, True, 8, seed=4)[2]
    assert _states_equal(a, b) and not _states_equal(a, c)
    # the fit cache keeps each member under its own (labelled, seed) entry: a stacked member is the
    # same network bit for bit however it was stacked, so member 0 is the plain network of seed 3
    task = ClassificationTask(digits, **training(epochs=1, min_steps=8, ensemble_size=3), stacked_members=True)
    task.fit_cache = FitCache(tmp_path, "sig")
    labelled = task.initial_order(np.random.default_rng(0))[:60]
    first = task.fit(labelled, seed=3, strategy="ens-varr").models
    assert _states_equal(first, a)
    assert all(task.fit_cache.load(labelled, 3 + 1000 * m) is not None for m in range(3))
    monkeypatch.setattr(stacked_mod, "train_stacked_supervised", lambda *a, **k: pytest.fail("trained again"))
    assert _states_equal(task.fit(labelled, seed=3, strategy="ens-varr").models, a)
    assert _states_equal(task.fit(labelled, seed=3, strategy="random").models, a[:1])


def test_fit_many_equals_fit_request_by_request(digits):
    """Several trials' networks asked for together (one stack per labelled-set size) are the
    networks each ``fit`` gives alone, bit for bit: ENS-varR's members, a plain strategy's network,
    labelled sets of two sizes, and a Learning-Loss request (trained on its own) in one call."""
    task = ClassificationTask(digits, **training(epochs=1, min_steps=6, ensemble_size=2), stacked_members=True)
    order = task.initial_order(np.random.default_rng(1))
    asks = [(order[:40], 11, "ens-varr"), (order[5:45], 12, "random"), (order[:60], 13, "entropy"),
            (order[:40], 14, "ll")]
    together = task.fit_many(asks)
    for (labelled, seed, strategy), learner in zip(asks, together):
        alone = task.fit(labelled, seed, strategy)
        assert len(alone.models) == len(learner.models) and _states_equal(alone.models, learner.models)
        assert (alone.lossnet is None) == (learner.lossnet is None)


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


@pytest.mark.parametrize("isa", ["native", "AVX2"])
def test_a_member_trains_the_same_bit_for_bit_in_stacks_of_any_size(digits, isa):
    """Member m of a stack is a function of its own initial weights, labelled set and seed only:
    trained alone (beside its throw-away twin), with 1, 6 or 20 other members (other labelled sets
    of the same size, other seeds), its weights and BatchNorm statistics are equal with
    ``torch.equal``. This is what lets trainings of different trials or strategies share one stack
    without changing any record. "AVX2" reruns it in a fresh process with oneDNN and ATen capped at
    AVX2 (``ONEDNN_MAX_CPU_ISA``, ``ATEN_CPU_CAPABILITY``), as on a CPU without AVX-512, whose vector
    width (8 floats) is where the grouped first convolution and the strided softmax used to part."""
    if isa != "native":
        import os
        import subprocess
        import sys

        env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", ATEN_CPU_CAPABILITY="avx2")
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__,
                              "-k", "bit_for_bit and native"], env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return
    from alkit.engine.augment import build_augment

    augment = build_augment("paper", digits.image_size, hflip=False)
    pools = [np.random.default_rng(100 + t).choice(len(digits.train_y), 40, replace=False) for t in range(21)]

    def trained(ids):
        nets = []
        for s in ids:
            torch.manual_seed(s)
            nets.append(prepare_model(SmallCNN(10, 1), CPU))
        train_stacked_supervised(nets, digits, [pools[s] for s in ids], epochs=1, augment=augment, seeds=list(ids),
                                 batch_size=16, lr=0.05, min_steps=60)
        return {s: net.state_dict() for s, net in zip(ids, nets)}

    alone = trained([3])[3]
    for ids in ([3, 0], [5, 3, 1, 0, 2, 4, 6], list(range(21))):
        member = trained(ids)[3]
        assert all(torch.equal(member[k], alone[k]) for k in alone), len(ids)
