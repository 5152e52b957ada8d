"""Several networks (an ensemble's members, several trials' networks) trained as ONE stacked network
of grouped convolutions.

ENS-varR (Beluch et al., "The power of ensembles for active learning in image classification",
CVPR 2018; the paper's Sec. 3.1 uses it with 5 members) trains M independently initialised copies
of the classifier. Trained one after another, each step of each member is a separate, small
forward/backward pass (batch 64): on a GPU mostly kernel-launch latency, on one CPU thread mostly
per-call overhead of small kernels. Stacked, the M members run as one network whose channels are
the members' channels side by side, so one step launches each kernel once for all members:

* ``Conv2d(c_in, c_out, groups=g)`` -> ``Conv2d(M c_in, M c_out, groups=M g)``: output block m
  (channels ``m c_out .. (m+1) c_out - 1``) sees only input block m, with member m's weights.
* ``BatchNorm2d(c)`` -> ``BatchNorm2d(M c)``: batch norm is per channel, so each member's channels
  keep their own batch statistics and running statistics (exact, train mode included).
* ``Linear(d, k)`` -> :class:`GroupedLinear` ``(M, d, k)`` (a batched matmul).
* ReLU, additions, global average pooling act per channel and stay as they are.

The first convolution takes the M members' input batches concatenated along channels
(``[B, M C, H, W]``, member m's own images in block m); the logits ``[B, M K]`` are member m's in
block m. The loss is the sum of the members' mean cross-entropies, so member m's gradient is the
gradient it gets when trained alone; SGD, momentum, weight decay and the cosine schedule act per
element. Each member draws its own stream (generator seeded with its own seed: the same batch
order and augmentation draws as :func:`alkit.engine.train.supervised.train_supervised` would),
and starts from its own initial weights, so stacked and sequential training compute the same
function up to float rounding (tests/test_stacked_members.py). At the end the trained weights are
copied back into the M ordinary member modules; scoring and the ``Learner`` see no difference.

On the CPU a member's training does not depend on its stack at all, bit for bit: alone (beside a
throw-away twin) or with any other members (other labelled sets of the same size, other seeds), its
weights come out equal under ``torch.equal`` (measured for 1-21 members on AVX-512 and with oneDNN
and ATen capped at AVX2; tests/test_stacked_members.py). Three places used to tie a member's
numbers to the stack's size M, each where a kernel vectorises across members: the first
convolution (few input channels, so oneDNN chose its kernel by M C; now :class:`StackedStem`, a
per-member matrix product), the loss (a softmax over a strided ``[B, K, M]`` view; now rows of K
logits) and the linear layer's 10-float blocks (a vector tail in the SGD update; now
:data:`ROW_ALIGN` rows). So the trials of one strategy (and an ensemble's members) can share a stack
without changing any record: ``ClassificationTask.fit_many``, ``alkit.protocol.loop.run_trials``.

Why grouped convolutions and not ``torch.func`` (``stack_module_state`` + ``vmap(functional_call)``):
vmap cannot update BatchNorm running statistics in place (torch docs, "Patching Batch Norm": every
fix there drops the running statistics, i.e. batch norm in evaluation mode, which scoring needs),
and vmap's batching rule for a convolution over stacked weights is itself a grouped convolution.
Grouped modules keep ordinary ``nn.Module`` state (running stats, ``channels_last``, autocast).

Only networks whose forward uses nothing but the layers above (and per-channel functions) can be
stacked; :func:`can_stack` accepts alkit's built-in classifiers (small CNN, WRN-28-2, CIFAR
ResNet-18) and refuses anything else (a plug-in's forward may mix channels), which then trains
sequentially.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alkit.engine.data.base import ImageDataset
from alkit.engine.train import common
from alkit.engine.train.common import autocast, make_generator, prepare_model, sgd_cosine, to_layout
from alkit.engine.train.supervised import WeightAverage, _epoch_chunks, training_length


def stacking_wanted(device: torch.device, image_size: int, setting: bool | str | None = None) -> bool:
    """Whether an ensemble on ``device`` with images of side ``image_size`` trains stacked:
    ``setting`` (None: :data:`alkit.engine.train.common.STACKED_MEMBERS`, read at call time) True or
    False as given; ``"auto"``: on CUDA, and on the CPU for images of side <= 16 (where the measured
    step gains; see the constant's comment)."""
    setting = common.STACKED_MEMBERS if setting is None else setting
    if setting == "auto":
        return device.type == "cuda" or (device.type == "cpu" and int(image_size) <= 16)
    if isinstance(setting, bool):
        return setting
    raise ValueError(f"stacked_members must be True, False or 'auto', got {setting!r}")


# Rows of a member's block in the stacked linear layer are padded to a multiple of this (zero rows,
# sliced off the output): with every parameter block a whole number of 16-float vectors (AVX-512;
# 2 of AVX2's 8), elementwise kernels (the fused SGD update, weight decay) never treat part of a
# member's block as a vector tail, so a member's update is the same whatever the stack's size.
ROW_ALIGN = 16


class GroupedLinear(nn.Module):
    """M independent linear layers applied side by side: ``[B, M d_in] -> [B, M d_out]``, block m of
    the output is ``x_m W_m^T + b_m`` for input block m. ``weight`` ``[M, R, d_in]``, ``bias``
    ``[M, R]`` (or None), ``R`` = ``d_out`` rounded up to :data:`ROW_ALIGN` (rows past ``d_out`` are
    zero and unused). The bias is a column of the matrix product (inputs extended by a 1), so its
    gradient is a per-member matrix product too, not a sum over the batch whose order depends on M."""

    def __init__(self, members: int, d_in: int, d_out: int, bias: bool = True):
        super().__init__()
        self.members, self.d_in, self.d_out = members, d_in, d_out
        self.rows = -(-d_out // ROW_ALIGN) * ROW_ALIGN
        self.weight = nn.Parameter(torch.zeros(members, self.rows, d_in))
        self.bias = nn.Parameter(torch.zeros(members, self.rows)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        xm = x.reshape(b, self.members, self.d_in).transpose(0, 1)  # [M, B, d_in]
        w = self.weight
        if self.bias is not None:
            xm = torch.cat([xm, xm.new_ones(self.members, b, 1)], dim=2)
            w = torch.cat([w, self.bias.unsqueeze(2)], dim=2)  # [M, R, d_in + 1]
        h = torch.bmm(xm, w.transpose(1, 2))[:, :, :self.d_out]  # [M, B, d_out]
        return h.transpose(0, 1).reshape(b, self.members * self.d_out)


class StackedStem(nn.Module):
    """The first convolution of M members (few input channels: 1 for digits, 3 for RGB), ``[B, M C,
    H, W] -> [B, M c_out, H', W']``, as patches times each member's weights (``unfold`` + ``bmm``) on
    the CPU. oneDNN picks its kernel for a convolution with few input channels by the total count
    (M C), so a grouped convolution here gave a member slightly different numbers in stacks of
    different sizes (measured with oneDNN capped at AVX2: a stack of 3 parted from stacks of 2, 5
    and 7); a per-member matrix product does not depend on M. Elsewhere (CUDA) it is the grouped
    convolution.
    ``weight`` ``[M, c_out, C k k]`` (member m's ordinary weight, flattened, at index m; 3-D, so the
    channels-last conversion of a network leaves it as it is)."""

    def __init__(self, members: int, conv: nn.Conv2d):
        super().__init__()
        self.members = members
        self.c_in, self.c_out = conv.in_channels, conv.out_channels
        self.kernel_size, self.stride, self.padding = conv.kernel_size, conv.stride, conv.padding
        self.weight = nn.Parameter(torch.zeros(members, self.c_out, self.c_in * self.kernel_size[0] * self.kernel_size[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, (kh, kw), (sh, sw), (ph, pw) = self.members, self.kernel_size, self.stride, self.padding
        if x.device.type != "cpu":
            w = self.weight.reshape(m * self.c_out, self.c_in, kh, kw)
            return F.conv2d(x, w, None, self.stride, self.padding, groups=m)
        b, _, h, wd = x.shape
        ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
        cols = F.unfold(x, (kh, kw), padding=(ph, pw), stride=(sh, sw))  # [B, M C kh kw, L]
        cols = cols.reshape(b, m, -1, ho * wo).permute(1, 0, 3, 2).reshape(m, b * ho * wo, -1)
        out = torch.bmm(cols, self.weight.transpose(1, 2))  # [M, B L, c_out]
        # to [B, M c_out, H', W'] in channels-last memory (B, H', W', M c_out): one copy
        out = out.reshape(m, b, ho, wo, self.c_out).permute(1, 2, 3, 0, 4).reshape(b, ho, wo, m * self.c_out)
        return out.permute(0, 3, 1, 2)


def _is_stem(conv: nn.Conv2d) -> bool:
    """A convolution :class:`StackedStem` computes: few input channels, no groups, bias or dilation."""
    return (conv.in_channels <= 4 and conv.groups == 1 and conv.bias is None and conv.dilation == (1, 1)
            and conv.padding_mode == "zeros" and isinstance(conv.padding, tuple))


_STRUCTURAL = (nn.Sequential, nn.ModuleList, nn.ReLU, nn.Identity)
_STACKABLE = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)


def _builtin_classifiers() -> tuple[tuple, tuple]:
    """(alkit's built-in classifier types, the block types inside them): their forwards use only
    stackable layers and per-channel functions (ReLU, +, mean over H and W)."""
    from alkit.engine.models import CifarResNet18, SmallCNN, WideResNet
    from alkit.engine.models.resnet import BasicBlock
    from alkit.engine.models.wrn import WideBasicBlock

    return (SmallCNN, WideResNet, CifarResNet18), (WideBasicBlock, BasicBlock)


def can_stack(model: nn.Module) -> bool:
    """Whether ``model`` can be trained stacked: one of alkit's built-in classifiers (exact type, a
    subclass may change ``forward``), made of Conv2d / BatchNorm2d (affine, running stats) /
    Linear / ReLU / containers only, without hooks (e.g. BALD's dropout hook)."""
    tops, blocks = _builtin_classifiers()
    if type(model) not in tops:
        return False
    for mod in model.modules():
        if mod._forward_hooks or mod._forward_pre_hooks:
            return False
        if isinstance(mod, nn.BatchNorm2d) and not (mod.affine and mod.track_running_stats):
            return False
        if type(mod) not in _STACKABLE + _STRUCTURAL + blocks and mod is not model:
            return False
    return True


@torch.no_grad()
def _stack_leaf(mods: list[nn.Module]) -> nn.Module:
    """One stacked module from the M members' modules at the same place (weights copied in)."""
    m0, count = mods[0], len(mods)
    if type(m0) is nn.Conv2d and _is_stem(m0):
        new = StackedStem(count, m0)
        new.weight.copy_(torch.stack([m.weight.reshape(m0.out_channels, -1) for m in mods]))
        return new.to(m0.weight.device)
    if type(m0) is nn.Conv2d:
        new = nn.Conv2d(count * m0.in_channels, count * m0.out_channels, m0.kernel_size, m0.stride, m0.padding,
                        m0.dilation, groups=count * m0.groups, bias=m0.bias is not None, padding_mode=m0.padding_mode)
    elif type(m0) is nn.BatchNorm2d:
        new = nn.BatchNorm2d(count * m0.num_features, eps=m0.eps, momentum=m0.momentum)
        new.running_mean.copy_(torch.cat([m.running_mean for m in mods]))
        new.running_var.copy_(torch.cat([m.running_var for m in mods]))
        new.num_batches_tracked.copy_(m0.num_batches_tracked)
    elif type(m0) is nn.Linear:
        new = GroupedLinear(count, m0.in_features, m0.out_features, bias=m0.bias is not None)
        new.weight[:, :m0.out_features].copy_(torch.stack([m.weight for m in mods]))
        if m0.bias is not None:
            new.bias[:, :m0.out_features].copy_(torch.stack([m.bias for m in mods]))
        return new.to(m0.weight.device)
    else:
        raise TypeError(f"cannot stack {type(m0).__name__}")
    new.weight.copy_(torch.cat([m.weight for m in mods]))
    if m0.bias is not None:
        new.bias.copy_(torch.cat([m.bias for m in mods]))
    return new.to(m0.weight.device)


def stack_members(members: list[nn.Module]) -> nn.Module:
    """One network computing the M ``members`` (same architecture, :func:`can_stack`) side by side.

    Input float ``[B, M C, H, W]`` (member m's batch in channels ``m C .. (m+1) C - 1``); output logits
    ``[B, M K]`` (member m's in block m; ``forward_features`` likewise, embedding ``[B, M D]``).
    Each member's weights, BatchNorm running statistics and step count are copied in; the members
    are not changed. The stacked network has member 0's training/eval mode and device, and the
    default memory layout (``prepare_model`` makes it channels-last)."""
    if not members or not all(can_stack(m) for m in members):
        raise ValueError("stack_members needs alkit built-in classifiers of one architecture")
    shapes = [[tuple(t.shape) for t in m.state_dict().values()] for m in members]
    if any(s != shapes[0] for s in shapes) or len({type(m) for m in members}) != 1:
        raise ValueError("stack_members needs members of one architecture")
    stacked = copy.deepcopy(members[0])
    places = [dict(m.named_modules()) for m in members]
    for name, mod in list(stacked.named_modules()):
        if isinstance(mod, _STACKABLE):
            parent, _, child = name.rpartition(".")
            setattr(stacked.get_submodule(parent), child, _stack_leaf([p[name] for p in places]))
    stacked.stacked_members = len(members)
    return stacked


@torch.no_grad()
def split_members(stacked: nn.Module, members: list[nn.Module]) -> list[nn.Module]:
    """Copy the weights and BatchNorm statistics of ``stacked`` (from :func:`stack_members`) back
    into the M ``members`` (in place, whatever their memory layout); returns ``members``."""
    places, count = dict(stacked.named_modules()), len(members)
    for m, member in enumerate(members):

        def block(t: torch.Tensor) -> torch.Tensor:  # member m's channels of a stacked tensor
            size = len(t) // count
            return t[m * size:(m + 1) * size]

        for name, mod in member.named_modules():
            if not isinstance(mod, _STACKABLE):
                continue
            big = places[name]
            if isinstance(big, GroupedLinear):
                mod.weight.copy_(big.weight[m, :big.d_out])
                if mod.bias is not None:
                    mod.bias.copy_(big.bias[m, :big.d_out])
                continue
            if isinstance(big, StackedStem):
                mod.weight.copy_(big.weight[m].reshape(mod.weight.shape))
                continue
            mod.weight.copy_(block(big.weight))
            if mod.bias is not None:
                mod.bias.copy_(block(big.bias))
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.copy_(block(big.running_mean))
                mod.running_var.copy_(block(big.running_var))
                mod.num_batches_tracked.copy_(big.num_batches_tracked)
    return members


def train_stacked_supervised(models: list[nn.Module], data: ImageDataset, labelled, *, epochs: int,
                             augment, seeds: list[int], batch_size: int = 64, lr: float = 0.03,
                             momentum: float = 0.9, weight_decay: float = 5e-4, min_steps: int = 0,
                             ema: float = 0.0, progress=None) -> list[nn.Module]:
    """Train the M ``models`` (on ``data``'s device, :func:`can_stack`) as one stacked network:
    member m on pool items ``labelled`` (int ``[n]``, the same for all) or ``labelled[m]`` (a list
    of M index arrays of one length ``n``: e.g. the trials of one strategy at one cycle), with
    ``seeds[m]`` its data-stream seed (ENS-varR's members, Beluch et al. 2018: ``seed + 1000 m`` in
    :meth:`ClassificationTask.fit`). Each step feeds ``[B, M C, H, W]`` (member m's augmented batch
    in channel block m) and sums the members' mean cross-entropies over the logits ``[B, M K]``.

    Member m gets what :func:`alkit.engine.train.supervised.train_supervised` (without a lossnet)
    gives it with ``seed=seeds[m]``: the same epochs / ``min_steps`` schedule, batches, augmentation
    draws, SGD (lr, momentum, weight decay, cosine over the same steps) and optional weight average
    ``ema``; the results agree with M sequential trainings up to float rounding, and on the CPU
    they are the same bit for bit whatever the other members are and however many (the stem as a
    matrix product, :class:`StackedStem`; the loss per member over rows of ``K`` logits; each
    member's parameter blocks whole vectors, :data:`ROW_ALIGN`; tests/test_stacked_members.py). A
    lone model is trained beside a throw-away copy of itself, so that it too takes the stacked
    kernels (one network alone runs others). ``progress``: a tqdm bar advanced M per stacked step
    (one per member-step, as M sequential trainings would). Returns ``models``, trained in place and
    in eval mode."""
    count = len(models)
    if len(seeds) != count:
        raise ValueError(f"one seed per member: {count} models, {len(seeds)} seeds")
    sets = list(labelled) if isinstance(labelled, (list, tuple)) else [labelled] * count
    if len(sets) != count or len({len(x) for x in sets}) != 1:
        raise ValueError(f"one labelled set per member, all of one size: {count} models, "
                         f"sizes {[len(x) for x in sets]}")
    members, seeds = list(models), list(seeds)
    if count == 1:  # the throw-away twin (see the docstring)
        members.append(copy.deepcopy(models[0]))
        seeds.append(seeds[0])
        sets.append(sets[0])
    device = data.device
    idxs = [torch.as_tensor(np.asarray(x), dtype=torch.long, device=device) for x in sets]
    epochs, total = training_length(len(idxs[0]), batch_size, epochs, min_steps)
    stacked = prepare_model(stack_members(members), device)
    opt, sched = sgd_cosine(list(stacked.parameters()), total, lr=lr, momentum=momentum, weight_decay=weight_decay)
    average = WeightAverage(stacked, ema) if ema > 0 else None
    stacked.train()
    streams = [_epoch_chunks(data, idx, epochs, augment, make_generator(s, device), batch_size)
               for idx, s in zip(idxs, seeds)]
    width = len(members)
    step = 0
    for chunks in zip(*streams):
        # every member's chunk holds the same epochs of a labelled set of one size: the same batch bounds
        views = to_layout(torch.cat([c[0] for c in chunks], dim=1), device)  # [N, M C, H, W]
        labels = torch.stack([c[1] for c in chunks], dim=1)  # [N, M]
        for a, b in chunks[0][2]:
            y = labels[a:b]
            with autocast(device):
                logits = stacked(views[a:b])  # [B, M K]
                # each member's mean cross-entropy over rows of K logits (a softmax over a strided
                # [B, K, M] view would be vectorised across members, and so depend on M), summed
                per_row = F.cross_entropy(logits.float().reshape(len(y) * width, -1), y.reshape(-1),
                                          reduction="none")
                loss = per_row.reshape(len(y), width).mean(0).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if average is not None:
                average.update(step)
            if progress is not None:
                progress.update(count)
    if average is not None:
        average.copy_to(stacked)
    split_members(stacked, members)
    for m in models:
        m.eval()
    return models

