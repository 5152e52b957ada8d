"""Pure scoring and selection functions of the paper's query strategies (Sec. 3.1).

Each takes arrays (numpy, or torch where noted) and returns numpy; none of them looks at a label.
``n`` is the number of scored items, ``C`` the number of classes, ``M`` the number of ensemble
members, ``d`` the feature width.

- :func:`entropy` -- Entropy sampling (Shannon 1948; used for deep AL by Wang et al. 2017).
- :func:`variation_ratio` -- ENS-varR (Beluch et al., "The power of ensembles for active learning
  in image classification", CVPR 2018; variation ratio of Freeman 1965).
- :func:`top_k` -- the highest scores first, ties broken at random (seeded).
- :func:`k_center_greedy` -- Core-set (Sener & Savarese, "Active learning for convolutional neural
  networks: a core-set approach", ICLR 2018), the k-center greedy variant the paper uses.
- :func:`margin` -- Margin sampling (Scheffer, Decomain & Wrobel, "Active hidden Markov models for
  information extraction", IDA 2001).
- :func:`bald`, :func:`mc_dropout_probs`, :func:`mc_dropout_bald` (chunked over the pool) -- BALD
  with MC dropout (Houlsby et al. 2011; Gal, Islam & Ghahramani, "Deep Bayesian active learning
  with image data", ICML 2017).
- :func:`grad_embedding` -- BADGE's gradient embedding (Ash et al., "Deep batch active learning by
  diverse, uncertain gradient lower bounds", ICLR 2020); the seeding is in :mod:`.badge`.
"""

from __future__ import annotations

import contextlib
import heapq

import numpy as np
import torch


def _numpy(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if x is None:
        raise ValueError(f"{name} is missing (None)")
    return np.asarray(x)


def entropy(probs) -> np.ndarray:
    """Shannon entropy in nats of each row: ``probs [n, C]`` -> float64 ``[n]``.

    ``H(p) = -sum_c p_c log p_c`` with ``0 log 0 = 0``; uniform rows give ``log C``, one-hot rows 0.
    Rows are used as given (not re-normalised). Entropy sampling queries the highest values.
    """
    p = _numpy(probs, "probs").astype(np.float64, copy=False)
    if p.ndim != 2:
        raise ValueError(f"probs must be 2-D [n, classes], got shape {p.shape}")
    if np.isnan(p).any() or (p < 0).any():
        raise ValueError("probs must be non-negative and free of NaN")
    logp = np.log(np.where(p > 0, p, 1.0))
    return -(p * logp).sum(axis=1)


def variation_ratio(member_preds, num_classes: int | None = None) -> np.ndarray:
    """Variation ratio of an ensemble's votes (Beluch et al. 2018): ``1 - f_m / M``.

    ``member_preds``: int ``[M, n]``, the class each of the ``M`` members predicts for each item;
    ``f_m`` is the number of votes of the modal class. Returns float64 ``[n]`` in ``[0, 1 - 1/M]``:
    0 when all members agree. ``num_classes`` (default: largest prediction + 1) bounds the labels.
    """
    preds = _numpy(member_preds, "member_preds")
    if preds.ndim != 2 or preds.shape[0] < 1:
        raise ValueError(f"member_preds must be 2-D [members, n] with >= 1 member, got shape {preds.shape}")
    if preds.size and not np.issubdtype(preds.dtype, np.integer):
        raise ValueError(f"member_preds must hold integer class ids, got dtype {preds.dtype}")
    m, n = preds.shape
    if n == 0:
        return np.zeros(0)
    k = int(preds.max()) + 1 if num_classes is None else int(num_classes)
    if preds.min() < 0 or preds.max() >= k:
        raise ValueError(f"member_preds must lie in [0, {k}), got range [{preds.min()}, {preds.max()}]")
    flat = (preds.astype(np.int64) + np.arange(n, dtype=np.int64) * k).ravel()  # item-major class slots
    votes = np.bincount(flat, minlength=n * k).reshape(n, k)  # [n, C]
    return 1.0 - votes.max(axis=1) / m


def top_k(scores, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of the ``k`` highest ``scores [n]``, highest first, as int64 ``[k]``.

    Items with equal scores are ordered by a random permutation drawn from ``rng`` (a
    ``np.random.Generator``, or an int seed), so ties do not favour low indices, and the result is
    reproducible for a given seed. ``0 <= k <= n``; NaN scores are refused.
    """
    s = _numpy(scores, "scores").astype(np.float64, copy=False)
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D [n], got shape {s.shape}")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    k = int(k)
    if not 0 <= k <= len(s):
        raise ValueError(f"k must be in [0, {len(s)}], got {k}")
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    perm = rng.permutation(len(s))
    order = perm[np.argsort(-s[perm], kind="stable")]  # stable: tied items keep the random order
    return order[:k].astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Core-set: k-center greedy with memory linear in the pool
# ---------------------------------------------------------------------------------------------

def _as_features(features, device) -> torch.Tensor:
    """``features [n, d]`` as a float torch tensor on ``device`` (default: where it already is;
    numpy shares memory on the CPU). float64 stays float64, anything else becomes float32."""
    x = torch.from_numpy(np.ascontiguousarray(features)) if isinstance(features, np.ndarray) else features
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(features))
    x = x.detach()
    if device is not None:
        x = x.to(device)
    if x.dtype != torch.float64:
        x = x.float()
    return x


def _min_sq_dist(x: torch.Tensor, sq: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                 chunk: int) -> torch.Tensor:
    """``min_j ||x[rows[i]] - x[cols[j]]||^2`` for each ``i``, computed in ``chunk x chunk`` blocks
    (so the extra memory is ``O(chunk^2 + chunk * d)``, never ``len(rows) * len(cols)``)."""
    out = torch.empty(len(rows), dtype=x.dtype, device=x.device)
    for a in range(0, len(rows), chunk):
        r = rows[a:a + chunk]
        xr = x.index_select(0, r)
        best = torch.full((len(r),), float("inf"), dtype=x.dtype, device=x.device)
        for b in range(0, len(cols), chunk):
            c = cols[b:b + chunk]
            # ||c||^2 - 2 <x, c>, then the row's own ||x||^2 is added after the min
            part = torch.addmm(sq[c].unsqueeze(0), xr, x.index_select(0, c).T, alpha=-2.0)
            torch.minimum(best, part.amin(dim=1), out=best)
        out[a:a + len(r)] = (best + sq[r]).clamp_(min=0.0)
    return out


def k_center_greedy(features, labelled_mask, budget: int, *, chunk: int = 2048,
                    device: str | torch.device | None = None) -> np.ndarray:
    """Core-set selection by k-center greedy (Sener & Savarese 2018, the variant the paper uses).

    ``features``: ``[n, d]`` (numpy or torch; computed in torch on the features' device, or on
    ``device``); ``labelled_mask``: bool ``[n]``; ``budget``: how many to pick (at most the number
    of unlabelled points). Returns int64 ``[budget]`` row indices in selection order, each
    unlabelled and distinct.

    Each step picks the unlabelled point farthest (Euclidean) from its nearest centre, the centres
    being the labelled points and the points picked so far; ties go to the lowest index (as
    ``argmax``). With no labelled point the first pick is the point nearest to the mean of all
    features (lowest index on ties), a deterministic, order-independent start.

    Memory is linear in ``n``: one running min-distance per point; distances are computed in
    blocks of at most ``chunk x chunk`` -- never an ``n x n`` matrix.

    Speed ("lazy" greedy, exact): a point's min-distance only ever shrinks, so an out-of-date value
    is an upper bound. The points wait in a max-heap keyed by their value. Each step looks at the
    top point: if it has been compared with every centre it is the true farthest point and is
    picked; otherwise it is compared with the centres it has not seen yet and goes back into the
    heap. Most points are never compared with most centres. Likewise only the first quarter of a
    large labelled set (at least ``chunk`` points) is compared with every unlabelled point up
    front; the rest of the labelled set is queued as centres seen lazily, in batches. The picks are
    those of the plain greedy that updates all ``n`` distances at every step.
    """
    x = _as_features(features, device)
    if x.dim() != 2:
        raise ValueError(f"features must be 2-D [n, d], got shape {tuple(x.shape)}")
    n = x.shape[0]
    mask = torch.as_tensor(_numpy(labelled_mask, "labelled_mask"))
    if mask.dtype != torch.bool or mask.shape != (n,):
        raise ValueError(f"labelled_mask must be bool [{n}], got {mask.dtype} {tuple(mask.shape)}")
    mask = mask.to(x.device)
    budget, chunk = int(budget), int(chunk)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    unl = torch.nonzero(~mask).squeeze(1)
    if not 0 <= budget <= len(unl):
        raise ValueError(f"budget must be in [0, {len(unl)}] (the number of unlabelled points), got {budget}")
    if budget == 0:
        return np.zeros(0, dtype=np.int64)
    sq = torch.linalg.vector_norm(x, dim=1).square()  # [n] squared norms
    if not bool(torch.isfinite(sq).all()):  # NaN / inf anywhere in a row makes its norm non-finite
        raise ValueError("features contain NaN or inf (or values too large to square)")

    picks: list[int] = []
    labelled = torch.nonzero(mask).squeeze(1)
    if len(labelled):
        n0 = len(labelled) if len(labelled) <= chunk else max(chunk, len(labelled) // 4)
        u = _min_sq_dist(x, sq, unl, labelled[:n0], chunk)  # [u] min squared distance to those
        queued = labelled[n0:]
    else:  # start from the point nearest the mean
        to_mean = sq - 2.0 * (x @ x.mean(dim=0))  # + ||mean||^2, the same for all
        first = int(torch.nonzero(to_mean == to_mean.min())[0, 0])
        picks.append(first)
        u = (sq - 2.0 * (x @ x[first]) + sq[first]).clamp_(min=0.0)  # unl holds every row here
        queued = labelled
    _lazy_greedy(x, sq, unl, u, queued, picks, budget, chunk)
    return np.asarray(picks, dtype=np.int64)


def _cpu_threads(device: torch.device, threads: int):
    """Use ``threads`` intra-op threads on the CPU inside the block, then restore the setting.

    The greedy steps are mostly tiny tensor ops; with several threads every op pays a thread
    hand-off, and on a busy 2-core machine that made the steps ~50x slower (4.8 s vs 0.1 s for 200
    picks from 4,000 points). So they run on one thread (their batched refreshes, 256-row matrix
    products, gain little from a second one); the initial pass uses all threads.
    """
    from alkit.engine.train.common import torch_threads

    return torch_threads(threads) if device.type == "cpu" else contextlib.nullcontext()


def _lazy_greedy(x: torch.Tensor, sq: torch.Tensor, unl: torch.Tensor, u: torch.Tensor,
                 queued: torch.Tensor, picks: list[int], budget: int, chunk: int) -> None:
    """The greedy steps of :func:`k_center_greedy`; appends to ``picks`` until it holds ``budget``.

    ``unl`` int [u]: the unlabelled rows; ``u`` [u]: their min squared distance to the centres
    already taken into account (rows already in ``picks`` are skipped); ``queued`` int [q]:
    labelled rows not yet taken into account. The centre list is ``queued`` then the picks;
    ``seen[row]`` says how many of its entries the row's value accounts for. Heap entries are
    ``(-value, row)``: the top is the largest value, the lowest row on ties.
    """
    n_q = len(queued)
    centres = x.new_empty((n_q + budget, x.shape[1]))
    csq = sq.new_empty(n_q + budget)
    centres[:n_q], csq[:n_q] = x[queued], sq[queued]
    sqn = sq.double().cpu().numpy()
    for j, p in enumerate(picks):
        centres[n_q + j], csq[n_q + j] = x[p], sq[p]
    seen = [len(picks)] * len(x)  # labelled start: nothing seen; mean start: the first pick seen
    done = set(picks)
    heap = [(-d, i) for d, i in zip(u.double().cpu().tolist(), unl.tolist()) if i not in done]
    heapq.heapify(heap)
    batch = min(chunk, 256)
    with _cpu_threads(x.device, 1):
        while len(picks) < budget:
            neg, i = heap[0]
            k, s = n_q + len(picks), seen[i]
            if s == k:  # compared with every centre, so no other point can be farther: pick it
                heapq.heappop(heap)
                centres[k], csq[k] = x[i], sq[i]
                picks.append(i)
            elif k - s <= batch:  # compare it with the centres it has not seen
                d = float((csq[s:k] - 2.0 * (centres[s:k] @ x[i])).min()) + sqn[i]
                seen[i] = k
                heapq.heapreplace(heap, (max(neg, -max(d, 0.0)), i))
            else:  # many unseen centres (queued labelled ones): refresh the top points together
                top = [heapq.heappop(heap) for _ in range(min(batch, len(heap)))]
                rows = [r for _, r in top]
                d2 = _refresh(x, sq, centres, csq, rows, [seen[r] for r in rows], k, chunk)
                for (neg_r, r), d in zip(top, d2.tolist()):
                    seen[r] = k
                    heapq.heappush(heap, (max(neg_r, -d), r))


def _refresh(x, sq, centres, csq, rows: list[int], seen_rows: list[int], k: int, chunk: int) -> torch.Tensor:
    """float64 ``[len(rows)]``: min squared distance of each row to ``centres[seen_row:k]``
    (+inf if it has none to see), in blocks of ``chunk`` centres."""
    dev = x.device
    r = torch.tensor(rows, device=dev)
    s = torch.tensor(seen_rows, device=dev)
    xr = x[r]
    best = torch.full((len(rows),), float("inf"), dtype=x.dtype, device=dev)
    for b in range(min(seen_rows), k, chunk):
        e = min(k, b + chunk)
        d2 = torch.addmm(csq[b:e].unsqueeze(0), xr, centres[b:e].T, alpha=-2.0)  # [rows, e - b]
        d2.masked_fill_(torch.arange(b, e, device=dev).unsqueeze(0) < s.unsqueeze(1), float("inf"))
        torch.minimum(best, d2.amin(dim=1), out=best)
    return (best + sq[r]).clamp_(min=0.0).double().cpu()


# ---------------------------------------------------------------------------------------------
# Margin, BALD, BADGE's gradient embedding
# ---------------------------------------------------------------------------------------------

def _probs2d(probs, name: str = "probs") -> np.ndarray:
    p = _numpy(probs, name).astype(np.float64, copy=False)
    if p.ndim != 2:
        raise ValueError(f"{name} must be 2-D [n, classes], got shape {p.shape}")
    return p


def margin(probs) -> np.ndarray:
    """Margin sampling score (Scheffer et al. 2001): ``-(p_1 - p_2)``, the negated gap between the
    two most probable classes. ``probs [n, C]`` -> float64 ``[n]`` in ``[-1, 0]``; the smallest
    margin (the highest score) is queried first. With one class the gap is ``p_1`` (``p_2 = 0``)."""
    p = _probs2d(probs)
    if p.shape[1] == 1:
        return -p[:, 0]
    top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]  # [n, 2]: second largest, largest
    return -(top2[:, 1] - top2[:, 0])


def bald(mc_probs) -> np.ndarray:
    """BALD (Houlsby et al. 2011) with MC-dropout samples (Gal et al. 2017): the mutual information
    between the prediction and the weights, ``H[mean_t p_t] - mean_t H[p_t]``, in nats.

    ``mc_probs``: ``[T, n, C]`` softmax outputs of ``T`` stochastic forward passes -> float64
    ``[n]``, ``>= 0`` up to rounding: 0 when every pass agrees, high when confident passes disagree.
    """
    p = _numpy(mc_probs, "mc_probs").astype(np.float64, copy=False)
    if p.ndim != 3 or p.shape[0] < 1:
        raise ValueError(f"mc_probs must be 3-D [samples, n, classes], got shape {p.shape}")
    mean_entropy = entropy(p.reshape(-1, p.shape[2])).reshape(p.shape[0], p.shape[1]).mean(axis=0)
    return entropy(p.mean(axis=0)) - mean_entropy


def mc_dropout_probs(embedding, weight, bias=None, *, samples: int = 20, p: float = 0.5,
                     seed: int = 0) -> np.ndarray:
    """MC-dropout softmax samples from a classifier's last layer: float32 ``[T, n, C]``.

    ``embedding [n, D]``: penultimate features; ``weight [C, D]``, ``bias [C]``: the final linear
    layer. Each of the ``samples`` passes drops every feature with probability ``p`` (inverted
    dropout: survivors are scaled by ``1 / (1 - p)``) and applies the layer. alkit's networks have
    no dropout inside, so this is where BALD's dropout goes (a "last-layer" MC dropout; the
    classification task trains BALD's network with the same dropout,
    :mod:`alkit.engine.models.mc_dropout`, as Gal et al. 2017 train theirs). Seeded by ``seed``;
    computed in torch where ``embedding`` is. The whole ``[T, n, C]`` array: for a large pool,
    :func:`mc_dropout_bald` computes BALD chunk by chunk.
    """
    if int(samples) < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    emb, w, b, gen = _mc_inputs(embedding, weight, bias, p, seed)
    return _mc_passes(emb, w, b, 1.0 - p, int(samples), gen).cpu().numpy()


BALD_CHUNK = 4096  # pool rows per MC-dropout chunk of mc_dropout_bald


def _mutual_information(p: torch.Tensor) -> torch.Tensor:
    """``H[mean_t p_t] - mean_t H[p_t]`` in nats, float64 ``[c]``, of softmax samples ``p [T, c, K]``."""
    p = p.double()
    mean = p.mean(0)
    return -torch.special.xlogy(mean, mean).sum(1) + torch.special.xlogy(p, p).sum(2).mean(0)


def _mc_inputs(embedding, weight, bias, p: float, seed: int):
    """Checked float32 ``(emb [n, D], weight [C, D], bias [C], generator)`` on the embedding's device."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout p must be in [0, 1), got {p}")
    emb = torch.as_tensor(_numpy(embedding, "embedding") if not isinstance(embedding, torch.Tensor) else embedding)
    emb = emb.detach().float()
    w = torch.as_tensor(weight).detach().float().to(emb.device)
    b = torch.zeros(w.shape[0], device=emb.device) if bias is None else torch.as_tensor(bias).detach().float().to(emb.device)
    if emb.dim() != 2 or w.dim() != 2 or w.shape[1] != emb.shape[1]:
        raise ValueError(f"embedding [n, D] and weight [C, D] do not fit: {tuple(emb.shape)}, {tuple(w.shape)}")
    gen = torch.Generator(device=emb.device)
    gen.manual_seed(int(seed))
    return emb, w, b, gen


def _mc_passes(emb: torch.Tensor, w: torch.Tensor, b: torch.Tensor, keep: float, samples: int,
               gen: torch.Generator) -> torch.Tensor:
    """Float32 softmax samples ``[samples, c, C]`` of rows ``emb [c, D]``: inverted dropout (keep
    probability ``keep``) on the features, then the last layer."""
    probs = torch.empty((samples, emb.shape[0], w.shape[0]), dtype=torch.float32, device=emb.device)
    full = torch.full_like(emb, keep)
    for t in range(samples):
        mask = torch.bernoulli(full, generator=gen) / keep
        probs[t] = torch.softmax(torch.addmm(b, emb * mask, w.T), dim=1)
    return probs


def mc_dropout_bald(embedding, weight, bias=None, *, samples: int = 20, p: float = 0.5, seed: int = 0,
                    chunk: int = BALD_CHUNK) -> np.ndarray:
    """BALD scores from MC dropout on the last layer, float64 ``[n]``, without the ``[T, n, C]`` array.

    Same samples as :func:`mc_dropout_probs` (``embedding [n, D]``, last layer ``weight [C, D]``,
    ``bias [C]``, ``samples`` passes with inverted dropout rate ``p``), but the pool is taken
    ``chunk`` rows at a time: each chunk's ``samples`` softmax passes are float32 ``[T, chunk, C]``
    and reduce at once to its BALD scores (:func:`bald`'s formula, in float64 on the chunk only),
    so memory is ``O(n D + chunk T C)``, linear in the pool (20 x 45,000 x 100 in float64, about
    0.7 GB plus its copies, was the earlier whole-pool array for CIFAR-100). Masks are drawn chunk
    by chunk, pass by pass, from one generator seeded by ``seed``: with ``chunk >= n`` they are
    :func:`mc_dropout_probs`'s. Computed in torch where ``embedding`` is.
    """
    if int(samples) < 1 or int(chunk) < 1:
        raise ValueError(f"samples and chunk must be >= 1, got {samples}, {chunk}")
    emb, w, b, gen = _mc_inputs(embedding, weight, bias, p, seed)
    out = torch.empty(emb.shape[0], dtype=torch.float64, device=emb.device)
    for start in range(0, emb.shape[0], int(chunk)):
        rows = slice(start, start + int(chunk))
        out[rows] = _mutual_information(_mc_passes(emb[rows], w, b, 1.0 - p, int(samples), gen))
    return out.cpu().numpy()


def grad_embedding(probs, features) -> np.ndarray:
    """BADGE's gradient embedding (Ash et al. 2020): the gradient of the cross-entropy loss with
    respect to the last linear layer's weights, at the predicted label ``y = argmax p``.

    ``probs [n, C]``, ``features [n, D]`` -> float32 ``[n, C*D]``; block ``c`` (columns
    ``c*D:(c+1)*D``) is ``(p_c - 1[c == y]) * features``. (The authors' code stores the negative,
    ``(1[c == y] - p_c) * features``: the same norms and distances.) The bias gradient is not used.
    """
    p = _probs2d(probs)
    f = _numpy(features, "features").astype(np.float64, copy=False)
    if f.ndim != 2 or len(f) != len(p):
        raise ValueError(f"features must be [n, D] with n = {len(p)}, got shape {f.shape}")
    a = p.copy()
    a[np.arange(len(p)), p.argmax(axis=1)] -= 1.0
    return (a[:, :, None] * f[:, None, :]).reshape(len(p), -1).astype(np.float32)
