"""``confstream demo``: a per-epoch report on a simulated imbalanced 3-class training run.

Each epoch streams about a million softmax predictions through a ``ConfusionMatrix`` in
batches (as a training loop would), prints scikit-learn's report for the epoch, and at the
end shows the per-class recall across epochs: the minority class's recall rises, then falls
as the simulated model over-fits the majority class.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from .confusion import ConfusionMatrix
from .history import History

CLASSES = ["majority", "middle", "minority"]
PRIORS = np.array([0.80, 0.15, 0.05])
BATCH = 1 << 16
_BARS = "▁▂▃▄▅▆▇█"


def _signal(epoch: int, epochs: int) -> np.ndarray:
    """How well the simulated model separates each class at this epoch."""
    x = epoch / max(epochs - 1, 1)
    majority = 0.6 + 2.4 * x
    middle = 0.4 + 1.8 * x
    minority = 0.3 + 3.2 * x * np.exp(-4.0 * x) * 2.2  # peaks about a third of the way
    return np.array([majority, middle, minority])


def _bias(epoch: int, epochs: int) -> np.ndarray:
    """A drift towards the majority class late in training (over-fitting the prior)."""
    x = epoch / max(epochs - 1, 1)
    return np.array([1.6 * x * x, 0.0, -0.5 * x])


def simulate_epoch(rng, n, epoch, epochs):
    """Yield (y_true, softmax scores) batches of one epoch."""
    signal, bias = _signal(epoch, epochs), _bias(epoch, epochs)
    for start in range(0, n, BATCH):
        m = min(BATCH, n - start)
        y = rng.choice(3, size=m, p=PRIORS)
        logits = rng.standard_normal((m, 3)).astype(np.float32)
        logits[np.arange(m), y] += signal[y].astype(np.float32)
        logits += bias.astype(np.float32)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        yield y, e / e.sum(axis=1, keepdims=True)


def sparkline(values) -> str:
    return "".join(_BARS[min(int(v * len(_BARS)), len(_BARS) - 1)] for v in values)


def main(args) -> int:
    epochs = getattr(args, "epochs", 10)
    n = getattr(args, "samples", 1_000_000)
    seed = getattr(args, "seed", None)
    rng = np.random.default_rng(0 if seed is None else seed)
    out = sys.stdout
    history = History()
    acc = ConfusionMatrix(num_classes=len(CLASSES))
    counted = 0
    spent = 0.0
    # The first update compiles the kernels (or loads them from numba's cache): time it apart,
    # on a batch of the same form as the epochs' (enough rows for the vector argmax).
    t0 = time.perf_counter()
    ConfusionMatrix(num_classes=len(CLASSES)).update(
        np.zeros(64, dtype=np.int64), np.full((64, len(CLASSES)), 1 / 3, dtype=np.float32))
    warmup = time.perf_counter() - t0
    for epoch in range(epochs):
        acc.reset()
        for y, scores in simulate_epoch(rng, n, epoch, epochs):
            t0 = time.perf_counter()
            acc.update(y, scores)
            spent += time.perf_counter() - t0
            counted += len(y)
        report = acc.report(target_names=CLASSES, digits=3, zero_division=0)
        history.append(report)
        out.write(f"epoch {epoch + 1}/{epochs}: {n:,} predictions\n{report}\n")
    out.write("per-class recall by epoch\n")
    width = max(len(c) for c in CLASSES)
    for name in CLASSES:
        r = history.get("recall", name)
        out.write(f"  {name:>{width}}  {sparkline(r)}  "
                  + " ".join(f"{v:.2f}" for v in r) + "\n")
    best = int(np.argmax(history.get("recall", "minority")))
    out.write(f"minority recall peaked at epoch {best + 1} "
              f"({history.get('recall', 'minority')[best]:.3f}) and ended at "
              f"{history.get('recall', 'minority')[-1]:.3f}\n")
    out.write(f"engine time: {spent:.2f} s for {counted:,} predictions "
              f"({counted / max(spent, 1e-9) / 1e6:.0f} M/s), after {warmup:.2f} s to compile "
              f"or load the kernels\n")
    if not getattr(args, "no_plot", False):
        path = getattr(args, "plot", "recall.png")
        try:
            history.plot("recall", path=path)
        except ImportError:
            out.write('(no plot: matplotlib is not installed; pip install "confstream[plot]")\n')
        else:
            out.write(f"wrote {path}\n")
    return 0
