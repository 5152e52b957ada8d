"""An ensemble's members trained as ONE stacked network of grouped convolutions.

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


class GroupedLinear(nn.Module):
    """M independent linear layers applied side by side: ``[B, M d_in] -> [B, M d_out]``, block m of
    the output is ``x_m W_m^T + b_m`` for input block m. ``weight`` ``[M, d_out, d_in]``, ``bias``
    ``[M, d_out]`` (or None)."""

    def __init__(self, members: int, d_in: int, d_out: int, bias: bool = True):
        super().__init__()
        self.members, self.d_in, self.d_out = members, d_in, d_out
        self.weight = nn.Parameter(torch.empty(members, d_out, d_in))
        self.bias = nn.Parameter(torch.empty(members, d_out)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        h = torch.einsum("bmi,moi->bmo", x.reshape(b, self.members, self.d_in), self.weight)
        if self.bias is not None:
            h = h + self.bias
        return h.reshape(b, self.members * self.d_out)


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
    else:
        raise TypeError(f"cannot stack {type(m0).__name__}")
    cat = torch.stack if type(m0) is nn.Linear else torch.cat
    new.weight.copy_(cat([m.weight for m in mods]))
    if m0.bias is not None:
        new.bias.copy_(cat([m.bias for m in mods]))
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
                mod.weight.copy_(big.weight[m])
                if mod.bias is not None:
                    mod.bias.copy_(big.bias[m])
                continue
            mod.weight.copy_(block(big.weight))
            if mod.bias is not None:
                mod.bias.copy_(block(big.bias))
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.copy_(block(big.running_mean))
                mod.running_var.copy_(block(big.running_var))
                mod.num_batches_tracked.copy_(big.num_batches_tracked)
    return members


def train_stacked_supervised(models: list[nn.Module], data: ImageDataset, labelled: np.ndarray, *, epochs: int,
                             augment, seeds: list[int], batch_size: int = 64, lr: float = 0.03,
                             momentum: float = 0.9, weight_decay: float = 5e-4, min_steps: int = 0,
                             ema: float = 0.0, progress=None) -> list[nn.Module]:
    """Train the M ``models`` (on ``data``'s device, :func:`can_stack`) on pool items ``labelled``
    (int ``[n]``) as one stacked network; ``seeds[m]`` is member m's data-stream seed (ENS-varR's
    members, Beluch et al. 2018: ``seed + 1000 m`` in :meth:`ClassificationTask.fit`). Each step
    feeds ``[B, M C, H, W]`` (member m's augmented batch in channel block m) and sums the members'
    mean cross-entropies over the logits ``[B, M K]``.

    Member m gets what :func:`alkit.engine.train.supervised.train_supervised` (without a lossnet)
    gives it with ``seed=seeds[m]``: the same epochs / ``min_steps`` schedule, batches, augmentation
    draws, SGD (lr, momentum, weight decay, cosine over the same steps) and optional weight average
    ``ema``; the results agree with M sequential trainings up to float rounding. ``progress``: a tqdm
    bar advanced M per stacked step (one per member-step, as M sequential trainings would).
    Returns ``models``, trained in place and in eval mode."""
    count = len(models)
    if len(seeds) != count:
        raise ValueError(f"one seed per member: {count} models, {len(seeds)} seeds")
    device = data.device
    idx = torch.as_tensor(np.asarray(labelled), dtype=torch.long, device=device)
    epochs, total = training_length(len(idx), batch_size, epochs, min_steps)
    stacked = prepare_model(stack_members(models), device)
    opt, sched = sgd_cosine(list(stacked.parameters()), total, lr=lr, momentum=momentum, weight_decay=weight_decay)
    average = WeightAverage(stacked, ema) if ema > 0 else None
    stacked.train()
    streams = [_epoch_chunks(data, idx, epochs, augment, make_generator(s, device), batch_size) for s in seeds]
    step = 0
    for chunks in zip(*streams):
        # every member's chunk holds the same epochs of the same labelled set: the same batch bounds
        views = to_layout(torch.cat([c[0] for c in chunks], dim=1), device)  # [N, M C, H, W]
        labels = torch.stack([c[1] for c in chunks], dim=1)  # [N, M]
        for a, b in chunks[0][2]:
            y = labels[a:b]
            with autocast(device):
                logits = stacked(views[a:b])  # [B, M K]
                # sum over members of each member's mean cross-entropy
                loss = F.cross_entropy(logits.reshape(len(y) * count, -1), y.reshape(-1)) * count
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
    split_members(stacked, models)
    for m in models:
        m.eval()
    return models

