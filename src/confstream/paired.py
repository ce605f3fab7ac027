"""Two models on the same stream: per-class agreement tables, recall differences with
intervals, McNemar's test.

For each true class the accumulator keeps the 2x2 table of (model a correct?) x (model b
correct?), laid out as statsmodels' ``mcnemar`` reads it::

    [[both correct,          a correct, b wrong],
     [a wrong, b correct,    both wrong        ]]

Counts only, so accumulators merge (``a + b``) and a one-pass stream and merged shards agree.
"""

from __future__ import annotations

import math
import threading
from typing import NamedTuple

import numpy as np

from . import _errors as E
from . import _inputs as I
from . import intervals as CI
from .confusion import ConfusionMatrix

__all__ = ["PairedConfusion", "compare", "Difference", "McNemar", "mcnemar"]


class Difference(NamedTuple):
    """``estimate`` = metric of model b minus metric of model a, with its interval."""

    estimate: float
    low: float
    high: float


class McNemar(NamedTuple):
    statistic: float
    pvalue: float


def mcnemar(table, exact=True, correction=True) -> McNemar:
    """McNemar's test of a 2x2 table, as ``statsmodels.stats.contingency_tables.mcnemar``.

    ``exact``: the binomial test on the discordant pairs (statistic ``min(n01, n10)``);
    otherwise the chi-square statistic, with continuity correction if ``correction``.
    No discordant pair: p-value 1 (exact) or nan (chi-square, 0 / 0).
    """
    table = np.asarray(table, dtype=np.float64)
    if table.shape != (2, 2):
        raise ValueError(f"mcnemar needs a 2x2 table, got shape {table.shape}")
    n1, n2 = float(table[0, 1]), float(table[1, 0])
    if exact:
        if n1 != int(n1) or n2 != int(n2):
            raise ValueError("exact can only be used with tables containing integers.")
        stat = min(n1, n2)
        p = min(2.0 * CI.binom_cdf(stat, n1 + n2), 1.0)
        return McNemar(stat, float(p))
    if n1 + n2 == 0:
        return McNemar(math.nan, math.nan)
    stat = (abs(n1 - n2) - int(bool(correction))) ** 2 / (n1 + n2)
    return McNemar(stat, math.erfc(math.sqrt(stat / 2.0)))  # chi-square sf with 1 dof


class PairedConfusion:
    """Agreement of two models' predictions with the truth, per true class.

    Parameters
    ----------
    num_classes : int, optional
        Labels are ``0 .. num_classes - 1``.
    labels : sequence, optional
        The label values (ints or strings), in this order. One of the two is required.

    Examples
    --------
    >>> pc = PairedConfusion(num_classes=2).update([0, 0, 1, 1], [0, 1, 1, 1], [0, 0, 1, 0])
    >>> pc.table().tolist()
    [[2, 1], [1, 0]]
    >>> pc.difference(1, method="wald").estimate     # recall of class 1: b - a
    -0.5
    """

    def __init__(self, num_classes=None, *, labels=None):
        if num_classes is None and labels is None:
            raise ValueError("give num_classes or labels: a paired comparison needs a fixed "
                             "label space")
        self._spec = {"num_classes": num_classes} if num_classes is not None else \
            {"labels": list(labels)}
        proto = ConfusionMatrix(**self._spec)
        self._labels = proto.labels
        self._index = {v: i for i, v in enumerate(self._labels)}
        self._lock = threading.RLock()
        self._reset_state()

    def _reset_state(self):
        c = len(self._labels)
        self._pairs = np.zeros((c, 2, 2), dtype=np.int64)
        self._a = ConfusionMatrix(**self._spec)
        self._b = ConfusionMatrix(**self._spec)

    # -- state ----------------------------------------------------------------------------
    @property
    def labels(self) -> list:
        return list(self._labels)

    @property
    def tables(self) -> np.ndarray:
        """(C, 2, 2) per true class: ``[[both correct, only a], [only b, both wrong]]``."""
        with self._lock:
            return self._pairs.copy()

    @property
    def a(self) -> ConfusionMatrix:
        """Model a's confusion matrix (a copy): ``pc.a.report()``."""
        with self._lock:
            return self._a.copy()

    @property
    def b(self) -> ConfusionMatrix:
        with self._lock:
            return self._b.copy()

    def table(self, of_class=None) -> np.ndarray:
        """The 2x2 table of one true class (label value), or of all samples (None)."""
        t = self.tables
        return t.sum(axis=0) if of_class is None else t[self._class_index(of_class)]

    def _class_index(self, of_class):
        try:
            return self._index[of_class]
        except (KeyError, TypeError):
            raise KeyError(f"no class {of_class!r}; labels: {self._labels}") from None

    def reset(self):
        with self._lock:
            self._reset_state()
        return self

    def copy(self):
        new = self.__class__.__new__(self.__class__)
        new.__setstate__(self.__getstate__())
        return new

    def __getstate__(self):
        with self._lock:
            return {"spec": self._spec, "pairs": self._pairs.copy(), "a": self._a.copy(),
                    "b": self._b.copy()}

    def __setstate__(self, state):
        self.__init__(**state["spec"])
        self._pairs, self._a, self._b = state["pairs"], state["a"], state["b"]

    def __iadd__(self, other):
        if not isinstance(other, PairedConfusion):
            return NotImplemented
        if other._labels != self._labels:
            raise ValueError(f"cannot add PairedConfusion over labels {other._labels} to one "
                             f"over {self._labels}")
        snap = other.__getstate__()
        with self._lock:
            self._pairs += snap["pairs"]
            self._a += snap["a"]
            self._b += snap["b"]
        return self

    def __add__(self, other):
        if isinstance(other, (int, float)) and other == 0:
            return self.copy()
        if not isinstance(other, PairedConfusion):
            return NotImplemented
        return self.copy().__iadd__(other)

    def __radd__(self, other):
        if isinstance(other, (int, float)) and other == 0:
            return self.copy()
        return NotImplemented

    def __repr__(self):
        return (f"PairedConfusion(labels={I.show_labels(self._labels)}, "
                f"samples={int(self._pairs.sum())})")

    # -- update ---------------------------------------------------------------------------
    def update(self, y_true, y_pred_a, y_pred_b):
        """Fold a batch: 1-D labels, predictions as labels or (N, C) scores (argmax).

        A bad value raises (naming ``y_pred_a`` / ``y_pred_b``) and changes nothing."""
        t = I.as_array(y_true, "y_true")
        if t.ndim == 2 and t.shape[1] == 1:
            t = t[:, 0]
        if t.ndim != 1:
            raise ValueError(f"y_true must be 1-D labels, got shape {t.shape}")
        preds, counted = [], []
        for name, y in (("y_pred_a", y_pred_a), ("y_pred_b", y_pred_b)):
            p = I.as_array(y, name)
            if p.shape[0] != t.shape[0]:
                raise ValueError(f"{name} has {p.shape[0]} samples, y_true {t.shape[0]}")
            acc = ConfusionMatrix(**self._spec)
            try:
                acc.update(t, p)  # validates values and shapes with the engine's messages
            except (ValueError, TypeError) as exc:
                raise E.reworded(exc, str(exc).replace("y_pred", name)) from None
            lab = np.asarray(self._labels, dtype=object)
            if p.ndim == 2 and p.shape[1] == len(self._labels) and p.shape[1] > 1:
                p = lab[np.argmax(p, axis=1)]
            elif p.ndim == 2:
                p = p[:, 0]
            if p.ndim == 1 and p.dtype.kind == "f" and len(lab) == 2 and (
                    self._labels == [0, 1] or all(isinstance(v, str) for v in self._labels)):
                p = lab[(p > acc.threshold).astype(np.int64)]  # binary scores, as the engine
            preds.append(p)
            counted.append(acc)
        if t.shape[0] == 0:
            return self
        c = len(self._labels)
        try:
            t_idx = self._indices(t)
            idx = [self._indices(p) for p in preds]
        except KeyError:
            idx = None
        # the pairing must see the classes the engine counted, or refuse (never guess)
        if idx is None or any(
                not np.array_equal(np.bincount(t_idx * c + i, minlength=c * c).reshape(c, c),
                                   acc.counts) for i, acc in zip(idx, counted)):
            raise ValueError("PairedConfusion pairs 1-D labels or (N, C) scores; these "
                             "predictions have another form (e.g. masks): give labels")
        a_wrong = (idx[0] != t_idx).astype(np.int64)
        b_wrong = (idx[1] != t_idx).astype(np.int64)
        pairs = np.bincount(t_idx * 4 + a_wrong * 2 + b_wrong, minlength=4 * c)
        with self._lock:
            self._pairs += pairs.reshape(c, 2, 2)
            self._a += counted[0]
            self._b += counted[1]
        return self

    def _indices(self, values) -> np.ndarray:
        """Label values (already validated by the engine) -> indices into the label space."""
        uniq, inv = np.unique(np.asarray(values), return_inverse=True)
        lut = np.array([self._index[_plain(u)] for u in uniq.tolist()], dtype=np.int64)
        return lut[inv.ravel()]

    # -- read-outs ------------------------------------------------------------------------
    def recall(self):
        """(recall of a, recall of b) per class; nan for a class without samples."""
        t = self.tables.astype(np.float64)
        n = t.sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            return (t[:, 0, :].sum(axis=1) / n, t[:, :, 0].sum(axis=1) / n)

    def accuracy(self):
        t = self.table().astype(np.float64)
        n = t.sum()
        return (t[0].sum() / n, t[:, 0].sum() / n) if n else (math.nan, math.nan)

    def difference(self, of_class=None, ci=0.95, *, method="bootstrap", n_resamples=1000,
                   seed=None) -> Difference:
        """Recall of class ``of_class`` (accuracy for None): model b minus model a.

        ``method``: ``"bootstrap"`` (percentile, whole tables drawn from the counts, so the
        classes' supports vary as in the data) or ``"wald"`` (paired: the normal interval of
        the mean per-sample difference, ``sqrt((n01 + n10) - (n01 - n10)**2 / n) / n``).
        """
        ci, _ = CI.check_ci(ci, "bootstrap", n_resamples)
        if method not in ("bootstrap", "wald"):
            raise ValueError(f"unknown method {method!r}; one of ['bootstrap', 'wald']")
        tables = self.tables
        k = None if of_class is None else self._class_index(of_class)
        t = tables.sum(axis=0) if k is None else tables[k]
        n = int(t.sum())
        if n == 0:
            return Difference(math.nan, math.nan, math.nan)
        only_a, only_b = int(t[0, 1]), int(t[1, 0])
        est = (only_b - only_a) / n
        if method == "wald":
            z = -CI.NormalDist().inv_cdf((1 - ci) / 2)
            se = math.sqrt(max(only_a + only_b - (only_b - only_a) ** 2 / n, 0.0)) / n
            return Difference(est, est - z * se, est + z * se)
        c = tables.shape[0]
        flat = tables.reshape(c, 4)
        # the (C * 4)-cell table is one multinomial; draw it through the (C', C') kernel
        # of intervals.py by laying the cells on a diagonal
        square = np.diag(flat.ravel())
        reps, _, _, _ = CI.bootstrap_margins(square, n_resamples, seed)
        reps = reps.reshape(-1, c, 4)
        sel = reps.sum(axis=1) if k is None else reps[:, k]
        tot = sel.sum(axis=1).astype(np.float64)
        diff = CI._ratio(sel[:, 2] - sel[:, 1], tot)  # nan: class absent from a replicate
        lo, hi = CI.percentile_interval(diff[:, None], ci)
        return Difference(est, float(lo[0]), float(hi[0]))

    def mcnemar(self, of_class=None, exact=True, correction=True) -> McNemar:
        """McNemar's test that a and b have the same recall of ``of_class`` (accuracy for
        None); equal to statsmodels' ``mcnemar(self.table(of_class), exact, correction)``."""
        return mcnemar(self.table(of_class), exact=exact, correction=correction)

    def summary(self, ci=0.95, *, method="bootstrap", n_resamples=1000, seed=None,
                digits=3) -> str:
        """A text table: per class recall of a and b, b - a with its interval, McNemar's
        exact p-value; and the same for accuracy."""
        ra, rb = self.recall()
        names = [str(v) for v in self._labels] + ["accuracy"]
        width = max(max(len(s) for s in names), 8)
        head = (f"{'':>{width}} {'support':>9} {'a':>{digits + 3}} {'b':>{digits + 3}}  "
                f"{'b - a':>{digits + 4}} {f'[{ci * 100:g}% interval]':>{2 * digits + 10}} "
                f"{'McNemar p':>10}\n")
        out = head
        n_all = self.tables.sum(axis=(1, 2))
        rows = [(v, n_all[i], ra[i], rb[i]) for i, v in enumerate(self._labels)]
        acc_a, acc_b = self.accuracy()
        rows.append((None, n_all.sum(), acc_a, acc_b))
        for (v, n, x, y), name in zip(rows, names):
            d = self.difference(v, ci, method=method, n_resamples=n_resamples, seed=seed)
            p = self.mcnemar(v).pvalue
            out += (f"{name:>{width}} {int(n):>9} {x:>{digits + 3}.{digits}f} "
                    f"{y:>{digits + 3}.{digits}f}  {d.estimate:>+{digits + 4}.{digits}f} "
                    f"{f'[{d.low:+.{digits}f}, {d.high:+.{digits}f}]':>{2 * digits + 10}} "
                    f"{p:>10.4g}\n")
        return out


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def compare(y_true, y_pred_a, y_pred_b, *, labels=None) -> PairedConfusion:
    """A ``PairedConfusion`` of one pass over 1-D labels (labels: the sorted values seen)."""
    if labels is None:
        arrays = [I.as_array(y, n) for y, n in ((y_true, "y_true"), (y_pred_a, "y_pred_a"),
                                                 (y_pred_b, "y_pred_b"))]
        if any(a.ndim != 1 for a in arrays):
            raise ValueError("compare() finds the labels of 1-D labels only; give labels= "
                             "for scores")
        labels = [_plain(v) for v in np.unique(np.concatenate(arrays)).tolist()]
    return PairedConfusion(labels=labels).update(y_true, y_pred_a, y_pred_b)
