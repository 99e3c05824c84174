"""Trainable readouts on frozen features (torch): logistic regression trained with Adam, and the
projection pair of the zero-shot liquid state machine (Lin et al., Nat. Comput. Sci. 2025,
``MrLinNing/MemristorLSM`` ``LSM-CLIP-ATV/zero_shot_sim.py``, read, not copied: two trainable
maps of the frozen reservoirs' features to a shared space, a symmetric contrastive (CLIP) loss;
our maps are linear or one-hidden-layer MLPs, our batches hold one digit-matched pair per class).

Features are standardised with the training set's mean and std (``spiking.models.lsm.Standardizer``
does the same for the ridge readout); every random draw comes from the ``torch.Generator`` built
from ``seed``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def _as_tensor(x, dtype=torch.float32):
    return torch.as_tensor(np.asarray(x), dtype=dtype)


def _check_xy(x, y):
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"features {x.shape} and labels {y.shape}: expected [n, d] and [n]")
    return x, y


@dataclass
class LogisticReadout:
    """Multinomial logistic regression: ``softmax(z W + b)`` on standardised features ``z``."""

    mean: torch.Tensor
    std: torch.Tensor
    linear: torch.nn.Linear

    @classmethod
    def fit(cls, x, y, *, weight_decay: float = 1e-3, lr: float = 1e-2, epochs: int = 100, batch_size: int = 256,
            seed: int = 0, n_classes: int | None = None) -> "LogisticReadout":
        """Adam on the cross-entropy plus ``weight_decay * ||W||^2 / 2`` (minibatches, seeded order)."""
        x, y = _check_xy(x, y)
        for name, v in (("weight_decay", weight_decay), ("lr", lr)):
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name}={v!r}: expected a finite value >= 0")
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs={epochs!r}: expected a positive integer")
        gen = torch.Generator().manual_seed(int(seed))
        xt, yt = _as_tensor(x), torch.as_tensor(y, dtype=torch.int64)
        mean, std = xt.mean(0), xt.std(0, unbiased=False).clamp_min(1e-6)
        z = (xt - mean) / std
        k = int(n_classes or int(yt.max()) + 1)
        lin = torch.nn.Linear(z.shape[1], k)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=gen) * 0.01)
            lin.bias.zero_()
        opt = torch.optim.Adam(lin.parameters(), lr=lr)
        n = z.shape[0]
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen)
            for a in range(0, n, batch_size):
                idx = order[a:a + batch_size]
                loss = F.cross_entropy(lin(z[idx]), yt[idx]) + 0.5 * weight_decay * lin.weight.pow(2).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
        return cls(mean, std, lin)

    @torch.no_grad()
    def predict(self, x) -> np.ndarray:
        z = (_as_tensor(x) - self.mean) / self.std
        return self.linear(z).argmax(1).numpy()

    def accuracy(self, x, y) -> float:
        return float(np.mean(self.predict(x) == np.asarray(y)))


def select_logistic(x_train, y_train, x_val, y_val, weight_decays=(1e-4, 1e-3, 1e-2), seed=0, **kw):
    """The weight decay with the best validation accuracy (ties: the larger); returns
    (weight_decay, {weight_decay: val accuracy}, the readout trained with it)."""
    fits = {float(wd): LogisticReadout.fit(x_train, y_train, weight_decay=wd, seed=seed, **kw) for wd in weight_decays}
    scores = {wd: ro.accuracy(x_val, y_val) for wd, ro in fits.items()}
    best = max(scores, key=lambda a: (scores[a], a))
    return best, scores, fits[best]


# -- zero-shot retrieval ------------------------------------------------------------------------
class Projections(torch.nn.Module):
    """Two maps (audio, image) from standardised features to a shared space of ``dim``
    dimensions, outputs normalised to unit length; similarities are divided by ``temperature``.
    ``hidden = 0``: linear maps; ``hidden > 0``: one hidden layer of ``hidden`` ReLU units per map
    (a small MLP). Weights N(0, 1 / fan_in) (ReLU
    layers: 2 / fan_in, He et al. 2015) from ``generator``, biases 0."""

    def __init__(self, d_audio: int, d_image: int, dim: int = 64, temperature: float = 0.1, generator=None,
                 hidden: int = 0):
        super().__init__()
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
            raise ValueError(f"hidden={hidden!r}: expected an integer >= 0 (0: linear maps)")

        def head(d):
            if not hidden:
                return torch.nn.Linear(d, dim)
            return torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, dim))
        self.audio = head(d_audio)
        self.image = head(d_image)
        self.hidden = int(hidden)
        with torch.no_grad():
            for m in (self.audio, self.image):
                layers = [m] if isinstance(m, torch.nn.Linear) else [l for l in m if isinstance(l, torch.nn.Linear)]
                for i, lin in enumerate(layers):
                    gain = 2.0 if i < len(layers) - 1 else 1.0        # layers followed by a ReLU
                    lin.weight.copy_(torch.randn(lin.weight.shape, generator=generator)
                                     * math.sqrt(gain / lin.in_features))
                    lin.bias.zero_()
        self.temperature = float(temperature)

    def embed_audio(self, z):
        return F.normalize(self.audio(z), dim=1)

    def embed_image(self, z):
        return F.normalize(self.image(z), dim=1)


def symmetric_contrastive_loss(ea: torch.Tensor, ei: torch.Tensor, temperature: float) -> torch.Tensor:
    """CLIP's loss: cross-entropy of audio->image and image->audio similarity rows, matched pairs
    on the diagonal (Radford et al. 2021)."""
    logits = ea @ ei.T / temperature
    target = torch.arange(ea.shape[0])
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


class PairSampler:
    """Digit-matched (audio, image) pairs: each draw gives one pair per class shared by both label
    sets, items drawn uniformly within the class, so that no two pairs of a batch share a class
    and the contrastive loss has no false negatives."""

    def __init__(self, y_audio, y_image):
        y_audio, y_image = np.asarray(y_audio), np.asarray(y_image)
        self.classes = np.intersect1d(np.unique(y_audio), np.unique(y_image))
        if self.classes.size < 2:
            raise ValueError(f"audio and image labels share {self.classes.size} classes; expected >= 2")
        self.by_class = [[np.flatnonzero(y == c) for c in self.classes] for y in (y_audio, y_image)]
        self.sizes = [torch.tensor([ix.size for ix in by]) for by in self.by_class]
        flat = [np.concatenate(by) for by in self.by_class]
        self.flat = [torch.as_tensor(f) for f in flat]
        self.starts = [torch.as_tensor(np.concatenate([[0], np.cumsum([ix.size for ix in by])[:-1]]))
                       for by in self.by_class]

    def draw(self, generator: torch.Generator, groups: int | None = None):
        """(audio indices, image indices): [n_classes] arrays, or [groups, n_classes] with ``groups``."""
        g = 1 if groups is None else int(groups)
        out = []
        for flat, start, size in zip(self.flat, self.starts, self.sizes):
            k = (torch.rand((g, size.numel()), generator=generator, dtype=torch.float64) * size).long()
            k = torch.minimum(k, size - 1)
            out.append(flat[start + k].numpy())
        return (out[0][0], out[1][0]) if groups is None else (out[0], out[1])


def grouped_contrastive_loss(ea: torch.Tensor, ei: torch.Tensor, temperature: float) -> torch.Tensor:
    """The mean of :func:`symmetric_contrastive_loss` over groups: ``ea``, ``ei`` [groups, pairs, dim]."""
    g, c, _ = ea.shape
    logits = torch.bmm(ea, ei.transpose(1, 2)) / temperature   # one similarity matrix per group
    target = torch.arange(c).repeat(g)
    return 0.5 * (F.cross_entropy(logits.reshape(-1, c), target)
                  + F.cross_entropy(logits.transpose(1, 2).reshape(-1, c), target))


def digit_matched_pairs(y_audio, y_image, generator: torch.Generator):
    """One draw of :class:`PairSampler` (audio indices, image indices), classes in sorted order."""
    return PairSampler(y_audio, y_image).draw(generator)


def train_projections(za, ya, zi, yi, *, dim=64, temperature=0.1, lr=1e-3, steps=2000, groups=8, weight_decay=1e-4,
                      seed=0, hidden=0) -> Projections:
    """Train the projection pair on standardised audio features ``za`` and image features ``zi``:
    each step averages the symmetric contrastive loss over ``groups`` batches of digit-matched
    pairs (one pair per class each, :class:`PairSampler`), Adam; ``hidden``: see :class:`Projections`."""
    gen = torch.Generator().manual_seed(int(seed))
    model = Projections(za.shape[1], zi.shape[1], dim, temperature, gen, hidden=hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    za_t, zi_t = _as_tensor(za), _as_tensor(zi)
    sampler = PairSampler(ya, yi)
    c = sampler.classes.size
    for _ in range(steps):
        ia, ii = sampler.draw(gen, groups)                       # [groups, classes]
        ea = model.embed_audio(za_t[ia.reshape(-1)]).reshape(groups, c, -1)
        ei = model.embed_image(zi_t[ii.reshape(-1)]).reshape(groups, c, -1)
        loss = grouped_contrastive_loss(ea, ei, temperature)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


@torch.no_grad()
def retrieval_top1(queries: torch.Tensor, y_q, gallery: torch.Tensor, y_g) -> float:
    """Fraction of queries whose nearest gallery item (dot product) has the query's class."""
    best = (queries @ gallery.T).argmax(1).numpy()
    return float(np.mean(np.asarray(y_g)[best] == np.asarray(y_q)))


@torch.no_grad()
def prototype_top1(queries: torch.Tensor, y_q, gallery: torch.Tensor, y_g) -> float:
    """Fraction of queries whose most similar class prototype (the normalised mean embedding of
    the gallery items of a class, dot product) is the query's class."""
    y_g = np.asarray(y_g)
    classes = np.unique(y_g)
    protos = torch.stack([gallery[torch.as_tensor(y_g == c)].mean(0) for c in classes])
    protos = F.normalize(protos, dim=1)
    pred = classes[(queries @ protos.T).argmax(1).numpy()]
    return float(np.mean(pred == np.asarray(y_q)))
