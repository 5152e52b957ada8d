"""UDA training-step throughput: alkit's batched on-device pipeline vs a torchvision DataLoader.

One UDA step (paper Sec. 3.2.3) = a labelled batch with the "paper" augmentation + an unlabelled
batch seen twice (weak view: crop + flip; strong view: AutoAugment + Cutout + crop + flip), one
forward/backward of WRN-28-2 on all of them, SGD. Throughput counts labelled + unlabelled images
per second (an unlabelled image counts once, though it is augmented and forwarded twice).

- alkit:  ``alkit.engine.train.uda.train_uda`` itself (uint8 pool on the device, index-gathered batches,
          batched augmentation on the device, one forward pass).
- torchvision: the same step fed by ``torch.utils.data.DataLoader`` over PIL images with
          per-sample ``transforms`` (RandomCrop, RandomHorizontalFlip, AutoAugment(CIFAR10),
          ToTensor, Cutout, Normalize), ``num_workers`` as given.

Besides the full step, the data pipeline alone (producing the normalised batches, no network) is
timed both ways: that is where the two differ; on a CPU the full step is dominated by WRN-28-2.
Data: random 32x32 RGB images (content does not change the cost of these operations).

    python benchmarks/bench_uda.py [--device cpu|cuda] [--labelled-batch 16] [--unlabelled-batch 80]
                                   [--steps 3] [--workers 0,2] [--threads N]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alkit.engine.augment import build_augment  # noqa: E402
from alkit.engine.data.base import ImageDataset, normalize  # noqa: E402
from alkit.engine.models import build_model  # noqa: E402
from alkit.engine.train.common import autocast, sgd_cosine  # noqa: E402
from alkit.engine.train.uda import consistency_loss, train_uda  # noqa: E402

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def synthetic(n: int, seed: int = 0) -> ImageDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return ImageDataset("synthetic", x, y, x[:64], y[:64], [str(i) for i in range(10)], MEAN, STD)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


# ---------------------------------------------------------------- torchvision / DataLoader way
class Cutout:
    """Per-sample Cutout on a float tensor [C, H, W] (DeVries & Taylor 2017), square clipped at the border."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, t):
        _, h, w = t.shape
        cy, cx = np.random.randint(h), np.random.randint(w)
        y0, x0 = max(0, cy - self.size // 2), max(0, cx - self.size // 2)
        t = t.clone()
        t[:, y0:cy - self.size // 2 + self.size, x0:cx - self.size // 2 + self.size] = 0
        return t


def torchvision_transforms():
    from torchvision import transforms as T

    crop_flip = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()]
    tail = [T.Normalize(MEAN, STD)]
    weak = T.Compose(crop_flip + [T.ToTensor()] + tail)
    strong = T.Compose(crop_flip + [T.AutoAugment(T.AutoAugmentPolicy.CIFAR10), T.ToTensor(), Cutout(16)] + tail)
    return weak, strong


class PILSet(torch.utils.data.Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, transform, two_views=None):
        from PIL import Image

        self.images = [Image.fromarray(im) for im in images]  # HWC uint8 -> PIL, decoded once
        self.labels, self.transform, self.two_views = labels, transform, two_views

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        im = self.images[i]
        if self.two_views:
            return self.two_views[0](im), self.two_views[1](im)
        return self.transform(im), int(self.labels[i])


def endless(loader):
    while True:
        yield from loader


def dataloader_batches(data: ImageDataset, lab, unl, B, U, workers):
    weak, strong = torchvision_transforms()
    hwc = data.train_x.permute(0, 2, 3, 1).cpu().numpy()
    labels = data.train_y.cpu().numpy()
    kw = dict(num_workers=workers, drop_last=True, shuffle=True, persistent_workers=workers > 0)
    lab_loader = torch.utils.data.DataLoader(PILSet(hwc[lab], labels[lab], strong), batch_size=B, **kw)
    unl_loader = torch.utils.data.DataLoader(PILSet(hwc[unl], labels[unl], None, (weak, strong)), batch_size=U, **kw)
    return zip(endless(lab_loader), endless(unl_loader))


def dataloader_step(model, opt, sched, batch, device):
    (xl, y), (xw, xs) = batch
    B = len(xl)
    x = torch.cat([xl, xw, xs]).to(device, non_blocking=True)
    y = y.to(device)
    with autocast(device):
        logits = model(x).float()
    lw, ls = logits[B:].chunk(2)
    loss = F.cross_entropy(logits[:B], y) + consistency_loss(lw, ls)[0]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()


# ---------------------------------------------------------------- measurements
def time_alkit_step(data, lab, unl, B, U, steps, device):
    weak = build_augment("weak", 32)
    strong = build_augment("strong", 32)
    model = build_model("wrn-28-2", 10).to(device)
    kw = dict(batch_size=B, unlabelled_batch=U, weak=weak, strong=strong, seed=0, progress=False)
    train_uda(model, data, lab, unl, iterations=1, **kw)  # warm-up
    sync(device)
    t = time.perf_counter()
    train_uda(model, data, lab, unl, iterations=steps, **kw)
    sync(device)
    return (time.perf_counter() - t) / steps


def time_alkit_pipeline(data, lab, unl, B, U, reps, device):
    weak, strong = build_augment("weak", 32), build_augment("strong", 32)
    g = torch.Generator(device=device).manual_seed(0)
    lab_t = torch.as_tensor(lab, device=device)
    unl_t = torch.as_tensor(unl, device=device)

    def one():
        li = lab_t[torch.randint(len(lab_t), (B,), generator=g, device=device)]
        raw = data.train_x[unl_t[torch.randint(len(unl_t), (U,), generator=g, device=device)]]
        x = torch.cat([strong(data.train_x[li], generator=g), weak(raw, generator=g), strong(raw, generator=g)])
        return normalize(x, data.mean, data.std)

    one()
    sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        one()
    sync(device)
    return (time.perf_counter() - t) / reps


def time_dataloader_step(data, lab, unl, B, U, steps, device, workers):
    model = build_model("wrn-28-2", 10).to(device)
    model.train()
    opt, sched = sgd_cosine(model.parameters(), steps + 1)
    it = dataloader_batches(data, lab, unl, B, U, workers)
    dataloader_step(model, opt, sched, next(it), device)  # warm-up (also starts the workers)
    sync(device)
    t = time.perf_counter()
    for batch in itertools.islice(it, steps):
        dataloader_step(model, opt, sched, batch, device)
    sync(device)
    return (time.perf_counter() - t) / steps


def time_dataloader_pipeline(data, lab, unl, B, U, reps, device, workers):
    it = dataloader_batches(data, lab, unl, B, U, workers)
    next(it)
    t = time.perf_counter()
    for (xl, _), (xw, xs) in itertools.islice(it, reps):
        torch.cat([xl, xw, xs]).to(device)
    sync(device)
    return (time.perf_counter() - t) / reps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--labelled-batch", type=int, default=16, help="labelled images per step (paper: 64)")
    p.add_argument("--unlabelled-batch", type=int, default=80, help="unlabelled images per step (paper: 320)")
    p.add_argument("--steps", type=int, default=3, help="timed training steps per pipeline")
    p.add_argument("--pipeline-reps", type=int, default=10, help="timed batches for the data-only comparison")
    p.add_argument("--workers", default="0,2", help="DataLoader num_workers values to compare, comma separated")
    p.add_argument("--pool", type=int, default=2000, help="synthetic pool size")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave torch's default)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    B, U = a.labelled_batch, a.unlabelled_batch
    data = synthetic(a.pool).to(device)
    rng = np.random.default_rng(0)
    lab = np.sort(rng.choice(a.pool, max(4 * B, a.pool // 5), replace=False))
    unl = np.setdiff1d(np.arange(a.pool), lab)
    imgs = B + U
    workers = [int(w) for w in a.workers.split(",") if w.strip()]
    print(f"UDA step, WRN-28-2, 32x32, batch {B} labelled + {U} unlabelled (x2 views), device={device}, "
          f"torch threads={torch.get_num_threads()}")

    rows = []
    t_alk = time_alkit_step(data, lab, unl, B, U, a.steps, device)
    p_alk = time_alkit_pipeline(data, lab, unl, B, U, a.pipeline_reps, device)
    rows.append(("alkit batched (train_uda)", t_alk, p_alk))
    for w in workers:
        t_dl = time_dataloader_step(data, lab, unl, B, U, a.steps, device, w)
        p_dl = time_dataloader_pipeline(data, lab, unl, B, U, a.pipeline_reps, device, w)
        rows.append((f"torchvision DataLoader, workers={w}", t_dl, p_dl))

    print(f"\n{'pipeline':38s} {'step img/s':>11s} {'data-only img/s':>16s}")
    for name, t, pt in rows:
        print(f"{name:38s} {imgs / t:11.1f} {imgs / pt:16.1f}")
    print()
    for name, t, pt in rows[1:]:
        print(f"alkit / ({name}):  full step x{t / t_alk:.2f}   data pipeline alone x{pt / p_alk:.2f}")


if __name__ == "__main__":
    main()
