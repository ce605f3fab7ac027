"""confstream side by side with what users would otherwise run, on the same arrays, in one process.

    python benchmarks/run.py            # the full run: sizes of the goals in benchmarks/README.md
    python benchmarks/run.py --quick    # small sizes, a few seconds: checks answers, not speed

Every timing is the median of several repeats (after one untimed call), and every result is
asserted equal to its reference before anything is timed. Ratios are "their time / our time"
(higher is better for confstream), except the read limit: "read-limit time / our time", the
share of memory speed that confstream reaches. The last table says which goals are met.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from numba import get_num_threads, njit

import confstream as cs
from confstream import _kernels as K


# ---------------------------------------------------------------------------------------------
# timing


def median_time(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


@njit(nogil=True, cache=True)
def _xor_words(words):
    acc = np.uint64(0)
    for i in range(words.shape[0]):
        acc ^= words[i]
    return acc


def read_limit(*arrays):
    """Only read the arrays' bytes (as 8-byte words, vectorised), split across threads the
    way confstream splits a batch (``K.run_chunks``): the speed of memory, not of counting."""
    nthreads = get_num_threads()
    acc = [np.uint64(0)] * nthreads
    for a in arrays:
        raw = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
        whole = raw[: raw.shape[0] // 8 * 8].view(np.uint64)

        def run(i0, i1, slot):
            acc[slot] ^= _xor_words(whole[i0:i1])

        K.run_chunks(run, whole.shape[0], nthreads, K.CHUNK_BYTES // 8)
        acc[0] ^= np.uint64(int(raw[whole.shape[0] * 8:].sum()))
    return np.bitwise_xor.reduce(np.array(acc, dtype=np.uint64))


# ---------------------------------------------------------------------------------------------
# results


@dataclass
class Row:
    workload: str
    who: str
    seconds: float
    items: int  # samples (or rows) per call
    nbytes: int  # bytes of input per call
    cpu: float = 0.0  # CPU seconds of all the process's threads per call (median)


@dataclass
class Goal:
    text: str
    value: float
    target: float
    kind: str = ">="  # value >= target, or "<=": value <= target
    unit: str = "x"

    @property
    def met(self) -> bool:
        return self.value >= self.target if self.kind == ">=" else self.value <= self.target


@dataclass
class Results:
    rows: list = field(default_factory=list)
    goals: list = field(default_factory=list)

    def time(self, workload, who, fn, repeats, items, nbytes):
        s = median_time(fn, repeats)
        self.rows.append(Row(workload, who, s, items, nbytes))
        return s

    def race(self, workload, entries, items, nbytes):
        """Time competitors in turns, round after round, so that a busy spell of the machine
        falls on all of them alike. ``entries``: (who, fn, repeats). Returns {who: median}."""
        for _, fn, _ in entries:
            fn()  # warm-up: compilation, caches, first-touch of memory
        times = {who: [] for who, _, _ in entries}
        cpus = {who: [] for who, _, _ in entries}
        for r in range(max(rep for _, _, rep in entries)):
            for who, fn, rep in entries:
                if r < rep:
                    c0 = time.process_time()
                    t0 = time.perf_counter()
                    fn()
                    times[who].append(time.perf_counter() - t0)
                    cpus[who].append(time.process_time() - c0)
        out = {}
        for who, _, _ in entries:
            out[who] = float(np.median(times[who]))
            self.rows.append(Row(workload, who, out[who], items, nbytes,
                                 float(np.median(cpus[who]))))
        return out

    def goal(self, text, value, target, kind=">=", unit="x"):
        self.goals.append(Goal(text, value, target, kind, unit))


def check_equal(name, got, ref):
    got, ref = np.asarray(got), np.asarray(ref)
    if got.shape != ref.shape or not np.array_equal(got, ref):
        raise AssertionError(f"{name}: result differs from the reference\n{got}\n!=\n{ref}")


def _torchmetrics():
    try:
        import torch
        from torchmetrics.functional.classification import (
            multiclass_confusion_matrix,
            multilabel_confusion_matrix,
        )
    except ImportError:  # optional competitor
        return None
    return torch, multiclass_confusion_matrix, multilabel_confusion_matrix


# ---------------------------------------------------------------------------------------------
# workloads


def bench_labels(res: Results, n: int, repeats: int, slow_repeats: int):
    """int64 labels, 10 classes."""
    from sklearn.metrics import confusion_matrix

    C = 10
    rng = np.random.default_rng(0)
    t = rng.integers(0, C, n)
    p = np.where(rng.random(n) < 0.8, t, rng.integers(0, C, n))
    name = f"int64 labels, {C} classes, {n:.0e}"
    ref = np.bincount(t * C + p, minlength=C * C).reshape(C, C)
    acc = cs.ConfusionMatrix(num_classes=C)
    check_equal("confstream", cs.ConfusionMatrix(num_classes=C).update(t, p).counts, ref)
    check_equal("sklearn", confusion_matrix(t, p, labels=range(C)), ref)
    entries = [("confstream", lambda: acc.update(t, p), repeats),
               ("np.bincount(t*C+p)", lambda: np.bincount(t * C + p, minlength=C * C), repeats),
               ("sklearn confusion_matrix", lambda: confusion_matrix(t, p, labels=range(C)),
                slow_repeats),
               ("read limit", lambda: read_limit(t, p), repeats)]
    tm = _torchmetrics()
    if tm is not None:
        torch, mcm, _ = tm
        tt, pt = torch.from_numpy(t), torch.from_numpy(p)
        check_equal("torchmetrics", mcm(pt, tt, C, validate_args=False).numpy(), ref)
        entries.append(("torchmetrics (validate_args=False)",
                        lambda: mcm(pt, tt, C, validate_args=False), slow_repeats))
    m = res.race(name, entries, n, t.nbytes + p.nbytes)
    ours = m["confstream"]
    res.goal(f"{name}: vs np.bincount", m["np.bincount(t*C+p)"] / ours, 3)
    if tm is not None:
        res.goal(f"{name}: vs torchmetrics", m["torchmetrics (validate_args=False)"] / ours, 8)
    res.goal(f"{name}: share of the read limit", m["read limit"] / ours * 100, 50, unit="%")


def bench_grouped(res: Results, n: int, repeats: int, slow_repeats: int):
    """int64 labels, 10 classes, in 100 groups: GroupedConfusionMatrix against the plain
    update on the same labels, and against what pandas users write (groupby + bincount)."""
    C, G = 10, 100
    rng = np.random.default_rng(0)
    t = rng.integers(0, C, n)
    p = np.where(rng.random(n) < 0.8, t, rng.integers(0, C, n))
    g = rng.integers(0, G, n)
    name = f"int64 labels, {C} classes, {G} groups, {n:.0e}"
    ref = np.bincount(g * C * C + t * C + p, minlength=G * C * C).reshape(G, C, C)
    check_equal("confstream grouped", cs.GroupedConfusionMatrix(C).update(t, p, g).counts, ref)
    grouped, plain = cs.GroupedConfusionMatrix(C), cs.ConfusionMatrix(num_classes=C)
    entries = [("confstream GroupedConfusionMatrix.update",
                lambda: grouped.update(t, p, g), repeats),
               ("confstream ConfusionMatrix.update (no groups)",
                lambda: plain.update(t, p), repeats),
               ("np.bincount(g*C*C+t*C+p)",
                lambda: np.bincount(g * C * C + t * C + p, minlength=G * C * C), repeats)]
    try:
        import pandas as pd
    except ImportError:  # optional competitor
        pd = None
    if pd is not None:
        df = pd.DataFrame({"g": g, "t": t, "p": p})

        def pandas_way():
            return {k: np.bincount(f["t"].to_numpy() * C + f["p"].to_numpy(),
                                   minlength=C * C).reshape(C, C)
                    for k, f in df.groupby("g")}

        got = pandas_way()
        check_equal("pandas groupby", np.stack([got[k] for k in range(G)]), ref)
        entries.append(("pandas groupby + np.bincount", pandas_way, slow_repeats))
    m = res.race(name, entries, n, t.nbytes + p.nbytes + g.nbytes)
    ours = m["confstream GroupedConfusionMatrix.update"]
    res.goal(f"{name}: time vs the plain update", ours / m[
        "confstream ConfusionMatrix.update (no groups)"], 1.5, kind="<=")
    if pd is not None:
        res.goal(f"{name}: vs pandas groupby + bincount",
                 m["pandas groupby + np.bincount"] / ours, 10)


def bench_grouped_multilabel(res: Results, n: int, repeats: int, slow_repeats: int):
    """Multi-label uint8 truth, float32 scores (n, 39), in 100 groups:
    GroupedMultilabelConfusionMatrix against the plain multi-label update on the same rows,
    and against what pandas users write (groupby, then numpy sums per group)."""
    L, G = 39, 100
    rng = np.random.default_rng(2)
    t = (rng.random((n, L)) < 0.2).astype(np.uint8)
    s = np.clip(t * 0.4 + rng.random((n, L), dtype=np.float32) * 0.6, 0, 1).astype(np.float32)
    g = rng.integers(0, G, n)
    name = f"multi-label float32 scores ({n:.0e}, {L}), {G} groups"
    pb = s > np.float32(0.5)
    ref = np.stack([np.bincount(g, weights=t[:, j] & pb[:, j], minlength=G)
                    for j in range(L)], axis=1).astype(np.int64)
    check_equal("confstream grouped multi-label",
                cs.GroupedMultilabelConfusionMatrix(L).update(t, s, g).counts[:, :, 1, 1], ref)
    grouped, plain = cs.GroupedMultilabelConfusionMatrix(L), cs.MultilabelConfusionMatrix(L)
    entries = [("confstream GroupedMultilabelConfusionMatrix.update",
                lambda: grouped.update(t, s, g), repeats),
               ("confstream MultilabelConfusionMatrix.update (no groups)",
                lambda: plain.update(t, s), repeats)]
    try:
        import pandas as pd
    except ImportError:  # optional competitor
        pd = None
    if pd is not None:
        df = pd.DataFrame({"g": g})

        def pandas_way():
            p = s > np.float32(0.5)
            tb = t.view(bool)
            return {k: (np.count_nonzero(tb[i] & p[i], axis=0), np.count_nonzero(p[i], axis=0),
                        np.count_nonzero(tb[i], axis=0))
                    for k, i in df.groupby("g").indices.items()}

        got = pandas_way()
        check_equal("pandas groupby", np.stack([got[k][0] for k in range(G)]), ref)
        entries.append(("pandas groupby + numpy sums (no per-sample statistics)", pandas_way,
                        slow_repeats))
    m = res.race(name, entries, n, t.nbytes + s.nbytes + g.nbytes)
    ours = m["confstream GroupedMultilabelConfusionMatrix.update"]
    res.goal(f"{name}: time vs the plain update", ours / m[
        "confstream MultilabelConfusionMatrix.update (no groups)"], 2.0, kind="<=")


def bench_argmax(res: Results, n: int, repeats: int):
    """float32 scores (n, 10), argmax fused into the count."""
    C = 10
    rng = np.random.default_rng(1)
    t = rng.integers(0, C, n)
    s = rng.random((n, C), dtype=np.float32)
    s[np.arange(n), t] += np.where(rng.random(n) < 0.7, 0.5, 0).astype(np.float32)
    name = f"float32 scores ({n:.0e}, {C}), argmax"
    ref = np.bincount(t * C + s.argmax(axis=1), minlength=C * C).reshape(C, C)
    acc = cs.ConfusionMatrix(num_classes=C)
    check_equal("confstream", cs.ConfusionMatrix(num_classes=C).update(t, s).counts, ref)
    nbytes = t.nbytes + s.nbytes
    m = res.race(name, [
        ("confstream", lambda: acc.update(t, s), repeats),
        ("np.argmax + np.bincount",
         lambda: np.bincount(t * C + s.argmax(axis=1), minlength=C * C), repeats),
        ("read limit", lambda: read_limit(t, s), repeats)], n, nbytes)
    res.goal(f"{name}: vs np.argmax + np.bincount",
             m["np.argmax + np.bincount"] / m["confstream"], 8)


def bench_multilabel(res: Results, n: int, repeats: int, slow_repeats: int):
    """Multi-label: uint8 truth, float32 scores (n, 39), threshold 0.5."""
    from sklearn.metrics import multilabel_confusion_matrix

    L = 39
    rng = np.random.default_rng(2)
    t = (rng.random((n, L)) < 0.2).astype(np.uint8)
    s = np.clip(t * 0.4 + rng.random((n, L), dtype=np.float32) * 0.6, 0, 1).astype(np.float32)
    name = f"multi-label float32 scores ({n:.0e}, {L})"
    ref = multilabel_confusion_matrix(t, (s > 0.5).astype(np.uint8))

    def numpy_sums():
        pb = s > 0.5
        tb = t.view(bool)
        tp = np.count_nonzero(tb & pb, axis=0)
        pred = np.count_nonzero(pb, axis=0)
        true = np.count_nonzero(tb, axis=0)
        return np.stack([np.stack([n - pred - true + tp, pred - tp], -1),
                         np.stack([true - tp, tp], -1)], 1)

    check_equal("numpy", numpy_sums(), ref)
    check_equal("confstream", cs.MultilabelConfusionMatrix(L).update(t, s).counts, ref)
    acc = cs.MultilabelConfusionMatrix(L)
    nbytes = t.nbytes + s.nbytes
    entries = [("confstream", lambda: acc.update(t, s), repeats),
               ("numpy vectorised sums", numpy_sums, repeats),
               ("sklearn multilabel_confusion_matrix",
                lambda: multilabel_confusion_matrix(t, (s > 0.5).astype(np.uint8)), slow_repeats),
               ("read limit", lambda: read_limit(t, s), repeats)]
    tm = _torchmetrics()
    if tm is not None:
        torch, _, mlcm = tm
        tt, st = torch.from_numpy(t), torch.from_numpy(s)
        check_equal("torchmetrics", mlcm(st, tt, L, validate_args=False).numpy(), ref)
        entries.append(("torchmetrics (validate_args=False)",
                        lambda: mlcm(st, tt, L, validate_args=False), slow_repeats))
    m = res.race(name, entries, n, nbytes)
    ours = m["confstream"]
    res.goal(f"{name}: vs numpy vectorised sums", m["numpy vectorised sums"] / ours, 5)
    res.goal(f"{name}: vs sklearn multilabel_confusion_matrix",
             m["sklearn multilabel_confusion_matrix"] / ours, 50)
    res.goal(f"{name}: share of the read limit", m["read limit"] / ours * 100, 50, unit="%")


def bench_more(res: Results, n: int, repeats: int, slow_repeats: int):
    """Forms that no goal names: binary scores, labels through a look-up table."""
    rng = np.random.default_rng(4)
    t = rng.integers(0, 2, n)
    s = np.clip(t * 0.3 + rng.random(n, dtype=np.float32) * 0.7, 0, 1).astype(np.float32)
    name = f"float32 binary scores, {n:.0e}, > 0.5"
    ref = np.bincount(t * 2 + (s > 0.5), minlength=4).reshape(2, 2)
    check_equal("confstream", cs.ConfusionMatrix(num_classes=2).update(t, s).counts, ref)
    acc = cs.ConfusionMatrix(num_classes=2)
    entries = [("confstream", lambda: acc.update(t, s), repeats),
               ("np.bincount(t*2 + (s > 0.5))",
                lambda: np.bincount(t * 2 + (s > 0.5), minlength=4), repeats),
               ("read limit", lambda: read_limit(t, s), repeats)]
    try:
        import torch
        from torchmetrics.functional.classification import binary_confusion_matrix
    except ImportError:
        pass
    else:
        tt, st = torch.from_numpy(t), torch.from_numpy(s)
        check_equal("torchmetrics", binary_confusion_matrix(st, tt, validate_args=False).numpy(),
                    ref)
        entries.append(("torchmetrics binary_confusion_matrix(validate_args=False)",
                        lambda: binary_confusion_matrix(st, tt, validate_args=False),
                        slow_repeats))
    res.race(name, entries, n, t.nbytes + s.nbytes)

    labels = np.arange(100, 170, 7)  # 10 classes that are not 0..9
    C = len(labels)
    tl = labels[rng.integers(0, C, n)]
    pl = np.where(rng.random(n) < 0.8, tl, labels[rng.integers(0, C, n)])
    name = f"int64 labels 100, 107, ..., 163, {n:.0e}"

    def numpy_way():
        a, b = np.searchsorted(labels, tl), np.searchsorted(labels, pl)
        return np.bincount(a * C + b, minlength=C * C).reshape(C, C)

    ref = numpy_way()
    check_equal("confstream", cs.ConfusionMatrix(labels=list(labels)).update(tl, pl).counts, ref)
    acc = cs.ConfusionMatrix(labels=list(labels))
    res.race(name, [("confstream", lambda: acc.update(tl, pl), repeats),
                    ("np.searchsorted + np.bincount", numpy_way, repeats),
                    ("read limit", lambda: read_limit(tl, pl), repeats)], n,
             tl.nbytes + pl.nbytes)


def _auroc_data(n, seed=7):
    """A realistic binary classifier: 10% positives, logits N(+-1.5, 1.5), float32 sigmoid."""
    rng = np.random.default_rng(seed)
    t = (rng.random(n) < 0.1).astype(np.int64)
    z = rng.normal(size=n) * 1.5 + np.where(t == 1, 1.5, -1.5)
    return t, (1 / (1 + np.exp(-z))).astype(np.float32)


def _check_bounds(name, bounds, ref):
    lo, hi = np.asarray(bounds, dtype=np.float64)[..., 0], np.asarray(bounds)[..., 1]
    if not (np.all(lo <= ref) and np.all(ref <= hi)):
        raise AssertionError(f"{name}: bounds {bounds} do not contain scikit-learn's {ref}")


def _print_medians(name, medians):
    for who, sec in medians.items():
        print(f"  {name} | {who}: {sec * 1e3:.1f} ms", flush=True)


def _tm_batched(kind, preds, target, classes, rows=10_000):
    """torchmetrics' binned AUROC (thresholds=100, macro) fed in batches of ``rows`` as a
    training loop feeds it: its functional form compares every score with every threshold at
    once ((N, C, 100) int64: 16 GB for (2·10^6, 10) scores, 31 GB for (10^6, 39))."""
    from torchmetrics.classification import MulticlassAUROC, MultilabelAUROC

    metric = (MulticlassAUROC(num_classes=classes, thresholds=100) if kind == "multiclass"
              else MultilabelAUROC(num_labels=classes, thresholds=100))
    for i in range(0, preds.shape[0], rows):
        metric.update(preds[i:i + rows], target[i:i + rows])
    return metric.compute()


def bench_curves(res: Results, n: int, n_mc: int, n_ml: int, repeats: int, slow_repeats: int,
                 quick: bool = False, forms=("binary", "multiclass", "multilabel")):
    """Streamed AUROC: update + roc_auc_bounds() on float32 probabilities (certified bins).
    Quick mode leaves torchmetrics out (its binned AUROC takes seconds even on small data and
    has no answer to check)."""
    try:
        if quick:
            raise ImportError
        import torch
        from torchmetrics.functional.classification import binary_auroc, multiclass_auroc
    except ImportError:  # optional competitor
        torch = binary_auroc = multiclass_auroc = None
    if "binary" in forms:
        _bench_curves_binary(res, n, repeats, slow_repeats, torch, binary_auroc)
    if "multiclass" in forms:
        _bench_curves_multiclass(res, n_mc, repeats, slow_repeats, torch, multiclass_auroc)
    if "multilabel" in forms:
        _bench_curves_multilabel(res, n_ml, repeats, slow_repeats, torch)


def _bench_curves_binary(res, n, repeats, slow_repeats, torch, binary_auroc):
    from sklearn.metrics import roc_auc_score

    t, s = _auroc_data(n)
    name = f"AUROC, float32 binary probabilities, {n:.0e}"
    ref = roc_auc_score(t, s)
    acc = cs.ScoreCurves().update(t, s)
    _check_bounds(name, acc.roc_auc_bounds(), ref)
    lo, hi = acc.roc_auc_bounds()
    if not lo <= acc.roc_auc() <= hi:
        raise AssertionError(f"{name}: point value outside its bounds")
    check_equal("cs.roc_auc_score", cs.roc_auc_score(t, s), ref)
    print(f"{name}: scikit-learn {ref!r}, confstream bounds [{lo!r}, {hi!r}] (width "
          f"{hi - lo:.2e}, state {acc.nbytes / 2**20:.1f} MiB)", flush=True)
    ada = cs.ScoreCurves(resolution="adaptive").update(t, s)
    alo, ahi = ada.roc_auc_bounds()
    _check_bounds(name + " (adaptive)", (alo, ahi), ref)
    streamed = cs.ScoreCurves(resolution="adaptive")
    for i in range(0, n, 10_000):
        streamed.update(t[i:i + 10_000], s[i:i + 10_000])
    slo, shi = streamed.roc_auc_bounds()
    _check_bounds(name + " (adaptive, 10^4-sample batches)", (slo, shi), ref)
    order = np.argsort(t, kind="stable")  # every negative first: the adaptive worst case
    worst = cs.ScoreCurves(resolution="adaptive").update(t[order], s[order])
    wlo, whi = worst.roc_auc_bounds()
    _check_bounds(name + " (adaptive, class-sorted)", (wlo, whi), ref)
    print(f"{name}: resolution='adaptive' bounds [{alo!r}, {ahi!r}] (width {ahi - alo:.2e}; "
          f"10^4-sample batches {shi - slo:.2e}; class-sorted stream {whi - wlo:.2e}; state "
          f"{ada.nbytes / 2**20:.2f} MiB)", flush=True)
    entries = [("confstream ScoreCurves update + roc_auc_bounds",
                lambda: cs.ScoreCurves().update(t, s).roc_auc_bounds(), repeats),
               ("confstream ScoreCurves(resolution='adaptive') update + roc_auc_bounds",
                lambda: cs.ScoreCurves(resolution="adaptive").update(t, s).roc_auc_bounds(),
                repeats),
               ("sklearn roc_auc_score", lambda: roc_auc_score(t, s), slow_repeats),
               ("confstream cs.roc_auc_score (exact drop-in)", lambda: cs.roc_auc_score(t, s),
                slow_repeats),
               ("read limit", lambda: read_limit(t, s), repeats)]
    if torch is not None:
        tt, st = torch.from_numpy(t), torch.from_numpy(s)
        tm = float(binary_auroc(st, tt, thresholds=100))
        print(f"{name}: torchmetrics binary_auroc(thresholds=100) = {tm!r} "
              f"(off by {abs(tm - ref):.1e}, no bound)", flush=True)
        entries.append(("torchmetrics binary_auroc(thresholds=100)",
                        lambda: binary_auroc(st, tt, thresholds=100), slow_repeats))
    m = res.race(name, entries, n, t.nbytes + s.nbytes)
    _print_medians(name, m)
    ours = m["confstream ScoreCurves update + roc_auc_bounds"]
    res.goal(f"{name}: vs sklearn roc_auc_score", m["sklearn roc_auc_score"] / ours, 50)
    if torch is not None:
        res.goal(f"{name}: vs torchmetrics thresholds=100",
                 m["torchmetrics binary_auroc(thresholds=100)"] / ours, 20)
    res.goal(f"{name}: share of the read limit", m["read limit"] / ours * 100, 50, unit="%")
    res.goal(f"{name}: width of the AUROC bound, fixed bins (default), 3.1 MiB state",
             (hi - lo) * 1e5, 1, kind="<=", unit="e-5")
    res.goal(f"{name}: width of the AUROC bound, resolution='adaptive', "
             f"{ada.nbytes / 2**20:.1f} MiB state", (ahi - alo) * 1e5, 1, kind="<=", unit="e-5")
    res.goal(f"{name}: resolution='adaptive' vs sklearn roc_auc_score",
             m["sklearn roc_auc_score"] /
             m["confstream ScoreCurves(resolution='adaptive') update + roc_auc_bounds"], 50)


def _bench_curves_multiclass(res, n_mc, repeats, slow_repeats, torch, multiclass_auroc):
    from sklearn.metrics import roc_auc_score

    C = 10
    rng = np.random.default_rng(8)
    y = rng.integers(0, C, n_mc)
    z = rng.normal(size=(n_mc, C)).astype(np.float32)
    z[np.arange(n_mc), y] += 1.5
    e = np.exp(z)
    p = (e / e.sum(1, keepdims=True)).astype(np.float32)
    name = f"AUROC, float32 multi-class ({n_mc:.0e}, {C}), ovr macro"
    ref = roc_auc_score(y, p, multi_class="ovr")
    acc = cs.ScoreCurves(num_classes=C).update(y, p)
    _check_bounds(name, acc.roc_auc_bounds(), ref)
    lo, hi = acc.roc_auc_bounds()
    print(f"{name}: scikit-learn {ref!r}, confstream bounds [{lo!r}, {hi!r}] (width "
          f"{hi - lo:.2e}, state {acc.nbytes / 2**20:.1f} MiB)", flush=True)
    entries = [("confstream ScoreCurves update + roc_auc_bounds",
                lambda: cs.ScoreCurves(num_classes=C).update(y, p).roc_auc_bounds(), repeats),
               ("sklearn roc_auc_score(multi_class='ovr')",
                lambda: roc_auc_score(y, p, multi_class="ovr"), slow_repeats),
               ("read limit", lambda: read_limit(y, p), repeats)]
    if torch is not None:
        yt, pt = torch.from_numpy(y), torch.from_numpy(p)
        entries.append(("torchmetrics MulticlassAUROC(thresholds=100), 10^4-row batches",
                        lambda: _tm_batched("multiclass", pt, yt, C), slow_repeats))
        # exact: keeps and sorts every score (O(N) memory); no bound with thresholds=100
        tm = float(_tm_batched("multiclass", pt, yt, C))
        print(f"{name}: torchmetrics MulticlassAUROC(thresholds=100) = {tm!r} (off by "
              f"{abs(tm - ref):.1e}, no bound)", flush=True)
        tm = float(multiclass_auroc(pt, yt, C, thresholds=None))
        print(f"{name}: torchmetrics multiclass_auroc(thresholds=None, exact) = {tm!r} (off by "
              f"{abs(tm - ref):.1e})", flush=True)
        entries.append(("torchmetrics multiclass_auroc(thresholds=None, exact)",
                        lambda: multiclass_auroc(pt, yt, C, thresholds=None), slow_repeats))
    m = res.race(name, entries, n_mc, y.nbytes + p.nbytes)
    _print_medians(name, m)
    ours = m["confstream ScoreCurves update + roc_auc_bounds"]
    res.goal(f"{name}: vs sklearn", m["sklearn roc_auc_score(multi_class='ovr')"] / ours, 50)
    if torch is not None:
        res.goal(f"{name}: vs torchmetrics thresholds=100",
                 m["torchmetrics MulticlassAUROC(thresholds=100), 10^4-row batches"] / ours, 20)
        print(f"  {name}: torchmetrics exact / confstream = "
              f"{m['torchmetrics multiclass_auroc(thresholds=None, exact)'] / ours:.1f}x, "
              f"thresholds=100 / confstream = "
              f"{m['torchmetrics MulticlassAUROC(thresholds=100), 10^4-row batches'] / ours:.1f}x",
              flush=True)


def _bench_curves_multilabel(res, n_ml, repeats, slow_repeats, torch):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(9)
    L = 39
    Y = (rng.random((n_ml, L)) < 0.2).astype(np.uint8)
    S = (1 / (1 + np.exp(-(rng.normal(size=(n_ml, L)) + 2 * Y - 1)))).astype(np.float32)
    name = f"AUROC, float32 multi-label ({n_ml:.0e}, {L}), macro"
    ref = roc_auc_score(Y, S)
    _check_bounds(name, cs.MultilabelScoreCurves(L).update(Y, S).roc_auc_bounds(), ref)
    entries = [("confstream MultilabelScoreCurves update + roc_auc_bounds",
                lambda: cs.MultilabelScoreCurves(L).update(Y, S).roc_auc_bounds(), repeats),
               ("sklearn roc_auc_score", lambda: roc_auc_score(Y, S), slow_repeats),
               ("read limit", lambda: read_limit(Y, S), repeats)]
    if torch is not None:
        Yt, St = torch.from_numpy(Y.astype(np.int64)), torch.from_numpy(S)
        entries.append(("torchmetrics MultilabelAUROC(thresholds=100), 10^4-row batches",
                        lambda: _tm_batched("multilabel", St, Yt, L), slow_repeats))
    m = res.race(name, entries, n_ml, Y.nbytes + S.nbytes)
    _print_medians(name, m)
    ours = m["confstream MultilabelScoreCurves update + roc_auc_bounds"]
    res.goal(f"{name}: vs sklearn", m["sklearn roc_auc_score"] / ours, 50)
    if torch is not None:
        res.goal(f"{name}: vs torchmetrics thresholds=100",
                 m["torchmetrics MultilabelAUROC(thresholds=100), 10^4-row batches"] / ours, 20)


def make_masks(b: int, h: int, w: int, classes: int, seed: int = 3):
    """Segmentation-like masks: blocky regions, a thin 255 border between regions in the truth,
    a prediction that gets most regions right and some pixels wrong."""
    rng = np.random.default_rng(seed)
    cell = 16
    small = rng.integers(0, classes, (b, h // cell, w // cell))
    small[rng.random(small.shape) < 0.5] = 0  # background dominates
    t = np.repeat(np.repeat(small, cell, axis=1), cell, axis=2).astype(np.uint8)
    pred_small = np.where(rng.random(small.shape) < 0.85, small,
                          rng.integers(0, classes, small.shape))
    p = np.repeat(np.repeat(pred_small, cell, axis=1), cell, axis=2).astype(np.uint8)
    noise = rng.random(p.shape) < 0.02
    p[noise] = rng.integers(0, classes, int(noise.sum()))
    border = np.zeros(t.shape, dtype=bool)
    border[:, :, 1:] |= t[:, :, 1:] != t[:, :, :-1]
    border[:, 1:, :] |= t[:, 1:, :] != t[:, :-1, :]
    t[border] = 255
    return t, p


def bench_masks(res: Results, b: int, hw: int, repeats: int):
    C = 21
    t, p = make_masks(b, hw, hw, C)
    name = f"uint8 masks {b}x{hw}x{hw}, {C} classes, ignore 255"

    def numpy_masked():
        keep = t != 255
        return np.bincount(t[keep].astype(np.intp) * C + p[keep], minlength=C * C)

    ref = numpy_masked().reshape(C, C)
    check_equal("confstream", cs.ConfusionMatrix(C, ignore_index=255).update(t, p).counts, ref)
    acc = cs.ConfusionMatrix(C, ignore_index=255)
    nbytes = t.nbytes + p.nbytes
    entries = [("confstream", lambda: acc.update(t, p), repeats),
               ("numpy masked bincount", numpy_masked, repeats),
               ("read limit", lambda: read_limit(t, p), repeats)]
    tm = _torchmetrics()
    if tm is not None:
        torch, mcm, _ = tm
        tt, pt = torch.from_numpy(t.astype(np.int64)), torch.from_numpy(p.astype(np.int64))
        check_equal("torchmetrics",
                    mcm(pt, tt, C, ignore_index=255, validate_args=False).numpy(), ref)
        entries.append(("torchmetrics (validate_args=False, int64 input)",
                        lambda: mcm(pt, tt, C, ignore_index=255, validate_args=False), repeats))
    m = res.race(name, entries, t.size, nbytes)
    res.goal(f"{name}: vs numpy masked bincount",
             m["numpy masked bincount"] / m["confstream"], 8)


def bench_one_shot(res: Results, n: int, repeats: int, slow_repeats: int):
    from sklearn.metrics import classification_report

    C = 10
    rng = np.random.default_rng(4)
    t = rng.integers(0, C, n)
    p = np.where(rng.random(n) < 0.8, t, rng.integers(0, C, n))
    name = f"one-shot classification_report, {n:.0e} labels"
    if cs.classification_report(t, p) != classification_report(t, p):
        raise AssertionError("classification_report: text differs from scikit-learn's")
    m = res.race(name, [
        ("confstream.classification_report", lambda: cs.classification_report(t, p), repeats),
        ("sklearn classification_report", lambda: classification_report(t, p), slow_repeats)],
        n, t.nbytes + p.nbytes)
    res.goal(f"{name}: vs scikit-learn", m["sklearn classification_report"]
             / m["confstream.classification_report"], 50)


def bench_report_text(res: Results, classes: int, n: int, repeats: int):
    from sklearn.metrics import classification_report

    rng = np.random.default_rng(5)
    t = rng.integers(0, classes, n)
    p = np.where(rng.random(n) < 0.6, t, rng.integers(0, classes, n))
    acc = cs.ConfusionMatrix(num_classes=classes).update(t, p)
    name = f"report() text, {classes} classes"
    if str(acc.report()) != classification_report(t, p):
        raise AssertionError("report(): text differs from scikit-learn's")
    ours = res.time(name, "str(acc.report())", lambda: str(acc.report()), repeats, 1, 0)
    res.goal(f"{name} (ms)", ours * 1e3, 20, "<=", "ms")


def bench_ci(res: Results, classes: int, n: int, resamples: int, repeats: int, slow: int):
    """report(ci=0.95) by the bootstrap drawn from the counts, against resampling the rows
    with numpy (np.bincount per replicate), on a table whose errors go to 5 neighbouring
    classes ("typical") and on one whose errors spread over every class ("dense")."""
    rng = np.random.default_rng(6)
    t = rng.integers(0, classes, n)
    near = (t + rng.integers(1, 6, n)) % classes
    for kind, wrong in (("typical", near), ("dense", rng.integers(0, classes, n))):
        p = np.where(rng.random(n) < 0.7, t, wrong)
        acc = cs.ConfusionMatrix(num_classes=classes).update(t, p)
        rep = acc.report(ci=0.95, n_resamples=resamples, seed=0)
        if rep.to_dict() != acc.report(ci=0.95, n_resamples=resamples, seed=0).to_dict():
            raise AssertionError("report(ci): same seed, other intervals")
        for k in range(classes):
            lo, hi = rep.interval("recall", k)
            if not lo <= rep.recall[k] <= hi:
                raise AssertionError(f"report(ci): recall {k} outside its interval")
        nz = int(np.count_nonzero(acc.counts))
        name = f"report(ci=0.95, n_resamples={resamples}), {classes} classes, {kind} ({nz} cells)"
        cells = t * classes + p

        def numpy_rows():
            r = np.random.default_rng(0)
            out = np.empty((resamples, classes))
            for b in range(resamples):
                tab = np.bincount(cells[r.integers(0, n, n)], minlength=classes * classes)
                tab = tab.reshape(classes, classes)
                out[b] = np.diag(tab) / np.maximum(tab.sum(axis=1), 1)
            return np.quantile(out, [0.025, 0.975], axis=0)

        m = res.race(name, [
            ("confstream report(ci)", lambda: acc.report(ci=0.95, n_resamples=resamples,
                                                         seed=0), repeats),
            ("confstream report(ci, ci_method='bca')",
             lambda: acc.report(ci=0.95, ci_method="bca", n_resamples=resamples, seed=0),
             repeats),
            (f"numpy: resample {n} rows, bincount", numpy_rows, slow)], 1, 0)
        res.goal(f"{name} (ms)", m["confstream report(ci)"] * 1e3, 100, "<=", "ms")


def bench_streamed(res: Results, n: int, nrep: int, repeats: int, slow: int, quick: bool):
    """The streamed Poisson bootstrap: update() with ``bootstrap=nrep`` replicates against the
    plain update on the same batch (the goal: the extra CPU time per sample and replicate),
    against the same Poisson bootstrap in numpy (Poisson weights, one bincount per replicate)
    and torchmetrics' ``BootStrapper(sampling_strategy="poisson")`` where installed."""
    rng = np.random.default_rng(8)
    c = 10
    t = rng.integers(0, c, n)
    p = np.where(rng.random(n) < 0.8, t, rng.integers(0, c, n))
    w = rng.random(n)
    boot = cs.ConfusionMatrix(num_classes=c, bootstrap=nrep, seed=0).update(t[:1000], p[:1000])
    ref = np.zeros((nrep, c * c))
    k = np.empty((1000, nrep), dtype=np.int64)
    from confstream import _poisson_kernels as PK

    PK.draw_weights(boot._boot.key, 0, 1000, nrep, PK.CDF, k)
    for r in range(nrep):
        ref[r] = np.bincount(t[:1000] * c + p[:1000], weights=k[:, r], minlength=c * c)
    check_equal("streamed bootstrap replicates", boot.replicates.reshape(nrep, -1), ref)

    cells = t * c + p

    def numpy_poisson():
        r = np.random.default_rng(0)
        out = np.zeros((nrep, c * c))
        for a in range(0, n, 20_000):
            kk = r.poisson(1.0, (nrep, min(20_000, n - a)))
            for b in range(nrep):
                out[b] += np.bincount(cells[a:a + 20_000], weights=kk[b], minlength=c * c)
        return out

    entries = [
        ("confstream update", lambda: cs.ConfusionMatrix(num_classes=c).update(t, p), repeats),
        (f"confstream update, bootstrap={nrep}",
         lambda: cs.ConfusionMatrix(num_classes=c, bootstrap=nrep).update(t, p), repeats),
        ("confstream update, weighted",
         lambda: cs.ConfusionMatrix(num_classes=c).update(t, p, sample_weight=w), repeats),
        (f"confstream update, weighted, bootstrap={nrep}",
         lambda: cs.ConfusionMatrix(num_classes=c, bootstrap=nrep).update(t, p, sample_weight=w),
         repeats),
        (f"numpy: Poisson weights, {nrep} bincounts", numpy_poisson, slow),
    ]
    try:
        import torch
        from torchmetrics.classification import MulticlassAccuracy
        from torchmetrics.wrappers import BootStrapper
    except ImportError:  # optional competitor
        torch = None
    if torch is not None and not quick:  # ~20 us per sample, and it checks no answer
        tt, pt = torch.from_numpy(t), torch.from_numpy(p)

        def torchmetrics_boot():
            bs = BootStrapper(MulticlassAccuracy(num_classes=c),
                              num_bootstraps=nrep, sampling_strategy="poisson")
            for a in range(0, n, 100_000):
                bs.update(pt[a:a + 100_000], tt[a:a + 100_000])
            return bs.compute()

        entries.append((f"torchmetrics BootStrapper(num_bootstraps={nrep}, poisson), accuracy",
                        torchmetrics_boot, 1))  # ~20 us per sample: one timed call
    name = f"streamed Poisson bootstrap, {n} labels, {c} classes"
    res.race(name, entries, n, t.nbytes + p.nbytes)
    cpu = {r.who: r.cpu for r in res.rows if r.workload == name}
    for kind in ("", "weighted, "):
        plain = cpu["confstream update" + (", weighted" if kind else "")]
        extra = (cpu[f"confstream update, {kind}bootstrap={nrep}"] - plain) / (n * nrep) * 1e9
        print(f"  {name}: {kind}extra CPU per sample per replicate {extra:.2f} ns")
        res.goal(f"streamed bootstrap B={nrep}, {kind}extra CPU per sample per replicate (ns)",
                 extra, 10, "<=", "ns")

    rng = np.random.default_rng(9)
    L = 10
    tm_ = (rng.random((n // 10, L)) < 0.3).astype(np.int64)
    pm_ = np.where(rng.random((n // 10, L)) < 0.8, tm_, 1 - tm_)
    nm = f"streamed Poisson bootstrap, multi-label {n // 10} x {L}"
    res.race(nm, [
        ("confstream update", lambda: cs.MultilabelConfusionMatrix(L).update(tm_, pm_), repeats),
        (f"confstream update, bootstrap={nrep}",
         lambda: cs.MultilabelConfusionMatrix(L, bootstrap=nrep).update(tm_, pm_), repeats)],
        n // 10, tm_.nbytes + pm_.nbytes)
    cpu = {r.who: r.cpu for r in res.rows if r.workload == nm}
    extra = (cpu[f"confstream update, bootstrap={nrep}"] - cpu["confstream update"]) / (
        n // 10 * nrep) * 1e9
    print(f"  {nm}: extra CPU per sample (row of {L} labels) per replicate {extra:.2f} ns")


_FIRST_UPDATE = textwrap.dedent("""
    import sys, time
    if sys.argv[1:] == ["core"]:  # as a core install (numpy + numba) has it: no scipy
        class _NoScipy:
            def find_spec(self, name, path=None, target=None):
                if name == "scipy" or name.startswith("scipy."):
                    raise ImportError("scipy is not installed (core install)")
        sys.meta_path.insert(0, _NoScipy())
    t0 = time.perf_counter()
    import numpy as np
    import confstream
    acc = confstream.ConfusionMatrix(num_classes=10)
    acc.update(np.arange(10) % 10, np.arange(10)[::-1] % 10)
    print(time.perf_counter() - t0)
""")


def _first_update_seconds(env, *args) -> float:
    r = subprocess.run([sys.executable, "-c", _FIRST_UPDATE, *args], capture_output=True,
                       text=True, env=env, timeout=600)
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    return float(r.stdout.strip().splitlines()[-1])


def bench_first_update(res: Results, repeats: int):
    name = "import + first update()"
    env = dict(os.environ)
    _first_update_seconds(env)  # makes sure the cache is warm
    # numba's first use of its CPU target probes for a BLAS by importing scipy.linalg
    # (numba/np/linalg.py, ensure_blas): 0.5 s of the first update where scipy is installed,
    # nothing on the core install (numpy + numba), which the child can pretend to be
    warm = float(np.median([_first_update_seconds(env) for _ in range(repeats)]))
    res.rows.append(Row(name, "warm numba cache, scipy installed", warm, 1, 0))
    core = float(np.median([_first_update_seconds(env, "core") for _ in range(repeats)]))
    res.rows.append(Row(name, "warm numba cache, core install (no scipy)", core, 1, 0))
    with tempfile.TemporaryDirectory() as cache:
        env["NUMBA_CACHE_DIR"] = cache  # an empty cache: everything compiles
        cold = _first_update_seconds(env)
    res.rows.append(Row(name, "cold (empty numba cache)", cold, 1, 0))
    res.goal(f"{name}, warm cache, core install (s)", core, 1.0, "<=", "s")


_STREAM = textwrap.dedent("""
    import resource, sys, tracemalloc
    import numpy as np
    import confstream
    total, batch = int(sys.argv[1]), int(sys.argv[2])
    rng = np.random.default_rng(6)
    batches = [(rng.integers(0, 10, batch), rng.integers(0, 10, batch)) for _ in range(4)]
    acc = confstream.ConfusionMatrix(num_classes=10)
    acc.update(batches[0][0][:1000], batches[0][1][:1000])  # kernels loaded, pools started
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    for i in range(total // batch):
        acc.update(*batches[i % 4])
    traced = tracemalloc.get_traced_memory()[1]
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert int(acc.sample_counts.sum()) == total + 1000
    print(rss1 - rss0, traced)
""")


def bench_stream_memory(res: Results, total: int, batch: int):
    name = f"streaming {total:.0e} labels in batches of {batch:.0e}"
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _STREAM, str(total), str(batch)],
                       capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    seconds = time.perf_counter() - t0
    rss, traced = (int(v) for v in r.stdout.split())
    batch_bytes = 2 * 8 * batch  # one batch: int64 y_true and y_pred
    res.rows.append(Row(name, "confstream (whole child process)", seconds, total, 0))
    res.rows.append(Row(name, f"peak RSS growth {rss / 2**20:.1f} MiB, numpy peak "
                        f"{traced / 2**20:.2f} MiB", 0.0, 0, 0))
    res.goal(f"{name}: peak RSS growth (batch sizes)", max(rss, traced) / batch_bytes, 3,
             "<=", " batches")


_CURVE_STREAM = textwrap.dedent("""
    import resource, sys, time
    import numpy as np
    import confstream
    marks, batch = [int(v) for v in sys.argv[1].split(",")], int(sys.argv[2])
    rng = np.random.default_rng(6)
    batches = []
    for _ in range(4):   # float32 sigmoid scores of a realistic classifier, 10% positives
        t = (rng.random(batch) < 0.1).astype(np.uint8)
        z = rng.normal(size=batch) * 1.5 + np.where(t == 1, 1.5, -1.5)
        batches.append((t, (1 / (1 + np.exp(-z))).astype(np.float32)))
    acc = confstream.ScoreCurves()
    acc.update(batches[0][0][:1000], batches[0][1][:1000])  # kernels loaded, state allocated

    def peak():
        # Linux: VmHWM, the peak since clear_refs (so the data's generation above does not
        # hide the loop's peak); elsewhere ru_maxrss, the peak since the start
        try:
            with open("/proc/self/status") as f:
                return next(int(x.split()[1]) * 1024 for x in f if x.startswith("VmHWM:"))
        except (OSError, StopIteration):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                                 # reset the peak to the current RSS
    except OSError:
        pass
    rss0 = peak()
    done, t0 = 1000, time.process_time()
    for mark in marks:
        while done < mark:
            k = min(batch, mark - done)
            t, s = batches[(done // batch) % 4]
            acc.update(t[:k], s[:k])
            done += k
        lo, hi = acc.roc_auc_bounds()
        rss = peak()
        print(done, rss0, rss, acc.nbytes, time.process_time() - t0, hi - lo, flush=True)
""")


def bench_curve_memory(res: Results, marks: list, batch: int):
    """Peak RSS of a child process streaming float32 binary scores into one ScoreCurves, read
    after each mark (e.g. 10^6, 10^7, 10^8 scores): flat means the marks' peaks agree."""
    name = f"streaming {marks[-1]:.0e} float32 binary scores into ScoreCurves, batches {batch:.0e}"
    r = subprocess.run([sys.executable, "-c", _CURVE_STREAM, ",".join(map(str, marks)),
                        str(batch)], capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    lines = [[float(v) for v in line.split()] for line in r.stdout.split("\n") if line]
    rss0 = lines[0][1]
    print(f"{name} (RSS after the first 1000 scores, the data generated: {rss0 / 2**20:.1f} "
          f"MiB; peaks from there)")
    for done, _, rss, nbytes, cpu, width in lines:
        print(f"  after {done:.0e} scores: peak RSS {rss / 2**20:.1f} MiB (+"
              f"{(rss - rss0) / 2**20:.1f}), state {nbytes / 2**20:.2f} MiB, CPU {cpu:.1f} s, "
              f"AUROC bound width {width:.2e}", flush=True)
        res.rows.append(Row(name, f"after {done:.0e}: peak RSS {rss / 2**20:.1f} MiB, state "
                            f"{nbytes / 2**20:.2f} MiB, CPU {cpu:.1f} s", 0.0, 0, 0))
    first, last = lines[0][2], lines[-1][2]
    res.goal(f"{name}: peak RSS after {lines[-1][0]:.0e} / after {lines[0][0]:.0e}",
             last / first, 1.05, "<=")


# ---------------------------------------------------------------------------------------------
# ways there, each measured: threads, sub-tables, dtypes, fused argmax


def bench_ways(res: Results, quick: bool, repeats: int):
    NO2 = np.zeros((0, 0))
    no = K.NO_COLS
    rng = np.random.default_rng(7)
    nthreads = get_num_threads()
    sp10, sp21 = K.space_of(no, 0, 10, 0, False), K.space_of(no, 0, 21, 255, True)

    def labels(p):  # the kernels' prediction bundle of a batch of labels
        return K.pred_of(K.PRED_LABELS, p, NO2, 0.0, no)

    # Threads: one against all, by batch size; where they cross is K.PARALLEL_MIN.
    sizes = [1 << k for k in ((10, 14) if quick else (12, 14, 16, 18, 20, 22))]
    for size in sizes:
        t = rng.integers(0, 10, size)
        p = rng.integers(0, 10, size)
        name = f"threads: int64 labels, batch {size}"
        one = res.time(name, "1 thread", lambda: K.count_table(t, labels(p), sp10, 1), repeats,
                       size, 0)
        many = res.time(name, f"{nthreads} threads",
                        lambda: K.count_table(t, labels(p), sp10, nthreads), repeats, size, 0)
        del one, many
    # Interleaved sub-tables on masks, where neighbouring pixels hit the same cell.
    t, p = make_masks(2 if quick else 16, 128 if quick else 512, 128 if quick else 512, 21)
    tf, pf = t.reshape(-1), p.reshape(-1)
    for nsub in (1, 2, 4, 8):
        res.time("sub-tables: uint8 masks, 1 thread", f"{nsub} sub-table(s)",
                 lambda: K.count_table(tf, labels(pf), sp21, 1, nsub),
                 repeats, tf.size, 0)
    # One specialisation per dtype against a cast to int64 first.
    res.time("dtypes: uint8 masks", "counted as uint8",
             lambda: K.count_table(tf, labels(pf), sp21, nthreads),
             repeats, tf.size, 0)
    res.time("dtypes: uint8 masks", "cast to int64, then counted",
             lambda: K.count_table(tf.astype(np.int64), labels(pf.astype(np.int64)), sp21,
                                   nthreads), repeats, tf.size, 0)
    # Argmax fused into the count against argmax first, then count the labels.
    n = 20_000 if quick else 2_000_000
    tl = rng.integers(0, 10, n)
    s = rng.random((n, 10), dtype=np.float32)
    cm = np.arange(10)
    # p1 unused by the argmax form: float64 as ConfusionMatrix passes it (one compile, not two)
    res.time("argmax: float32 (N, 10)", "fused in the counting pass",
             lambda: K.count_table(tl, K.pred_of(1, np.zeros(0), s, 0.0, cm), sp10,
                                   nthreads), repeats, n, 0)
    res.time("argmax: float32 (N, 10)", "argmax_rows, then count labels",
             lambda: K.count_table(tl, labels(K.argmax_rows(s)[0]), sp10, nthreads), repeats, n, 0)


# ---------------------------------------------------------------------------------------------
# output


def print_rows(rows):
    print(f"{'workload':52s} {'who':44s} {'median':>10s} {'Msamples/s':>11s} {'GB/s':>7s}"
          f" {'ratio':>7s} {'CPU':>10s}")
    ours = {}
    for r in rows:
        if r.who.startswith("confstream") and r.seconds > 0:
            ours.setdefault(r.workload, r.seconds)
    last = None
    for r in rows:
        if r.workload != last:
            print()
            last = r.workload
        if r.seconds <= 0:
            print(f"{r.workload:52s} {r.who}")
            continue
        ms = f"{r.seconds * 1e3:9.2f}ms"
        rate = f"{r.items / r.seconds / 1e6:11.1f}" if r.items > 1 else " " * 11
        gbs = f"{r.nbytes / r.seconds / 1e9:7.2f}" if r.nbytes else " " * 7
        ratio = ""
        if r.workload in ours and not r.who.startswith("confstream"):
            ratio = f"{r.seconds / ours[r.workload]:7.2f}"
        cpu = f"{r.cpu * 1e3:8.2f}ms" if r.cpu else ""
        print(f"{r.workload:52s} {r.who:44s} {ms:>10s} {rate} {gbs} {ratio:>7s} {cpu:>10s}")


def print_goals(goals):
    print()
    print(f"{'goal':84s} {'measured':>12s} {'target':>12s}  met")
    for g in goals:
        meas = f"{g.value:.2f}{g.unit}"
        tgt = f"{g.kind} {g.target:g}{g.unit}"
        print(f"{g.text:84s} {meas:>12s} {tgt:>12s}  {'yes' if g.met else 'NO'}")


def machine() -> str:
    """The CPU model, its vector ISA and the target numba compiles for: results are per CPU
    (benchmarks/README.md keeps one table per CPU seen)."""
    cpu = platform.processor() or platform.machine()
    flags: set = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu == (platform.processor() or
                                                             platform.machine()):
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [x for x in ("avx512f", "avx512bw", "avx512vl", "avx2", "fma", "avx", "sse4_2")
           if x in flags] or ["unknown ISA"]
    import llvmlite.binding as llvm
    import numba
    import numpy

    from confstream import _kernels as K
    target = os.environ.get("NUMBA_CPU_NAME") or llvm.get_host_cpu_name()
    return (f"{cpu} ({' '.join(isa)}; numba target {target}, vector kernels "
            f"{'on' if K.SIMD else 'off (CONFSTREAM_SIMD=0)'}), {os.cpu_count()} cores, "
            f"numba {numba.__version__} ({get_num_threads()} threads), numpy "
            f"{numpy.__version__}, Python {platform.python_version()}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="small sizes: checks every answer in a few seconds; timings mean little")
    ap.add_argument("--repeats", type=int, default=0, help="timed calls per measurement")
    ap.add_argument("--slow-repeats", type=int, default=0, metavar="N",
                    help="timed calls of the slow competitors (scikit-learn, torchmetrics); "
                         "default 3, or --repeats")
    ap.add_argument("--only", default="", help="comma-separated workloads: labels, grouped, "
                    "argmax, multilabel, masks, oneshot, report, import, stream, more, ways, ci, "
                    "streamed, curves (curves:binary / curves:multiclass / curves:multilabel "
                    "for one form), curvemem (peak RSS over 10^8 streamed scores)")
    ap.add_argument("--torch-threads", type=int, default=0, metavar="N",
                    help="torch.set_num_threads(N) for the torchmetrics rows (on a loaded "
                         "machine 1 avoids its threads' spin-waits; default: torch's own)")
    ap.add_argument("--curve-marks", default="1000000,10000000,100000000", metavar="N,N,...",
                    help="curvemem: scores streamed before each peak-RSS reading "
                         "(default 10^6, 10^7, 10^8)")
    args = ap.parse_args(argv)
    quick = args.quick
    repeats = args.repeats or (2 if quick else 7)
    slow = args.slow_repeats or args.repeats or (1 if quick else 3)
    only = set(filter(None, args.only.split(",")))

    def want(k):
        return not only or k in only

    warnings.simplefilter("ignore")  # sklearn's UndefinedMetricWarning on small quick data
    res = Results()
    print(f"confstream benchmarks{' (quick: sizes too small for the goals)' if quick else ''}")
    print(machine())
    print(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    if hasattr(os, "getloadavg"):  # other work on the machine shows in every timing
        print("load average at start: %.1f %.1f %.1f" % os.getloadavg())
    if want("labels"):
        bench_labels(res, 100_000 if quick else 10_000_000, repeats, slow)
    if want("grouped"):
        bench_grouped(res, 100_000 if quick else 10_000_000, repeats, slow)
        bench_grouped_multilabel(res, 10_000 if quick else 1_000_000, repeats, slow)
    if want("argmax"):
        bench_argmax(res, 20_000 if quick else 2_000_000, repeats)
    if want("multilabel"):
        bench_multilabel(res, 10_000 if quick else 1_000_000, repeats, slow)
    if want("masks"):
        bench_masks(res, 2 if quick else 16, 64 if quick else 512, repeats)
    if want("oneshot"):
        bench_one_shot(res, 20_000 if quick else 2_000_000, repeats, slow)
    if want("report"):
        bench_report_text(res, 50 if quick else 1000, 5_000 if quick else 1_000_000, repeats)
    if want("import") and not quick:
        bench_first_update(res, 3)
    if want("stream"):
        bench_stream_memory(res, *((1_000_000, 100_000) if quick else (100_000_000, 1_000_000)))
    if want("more"):
        bench_more(res, 100_000 if quick else 10_000_000, repeats, slow)
    if want("ways"):
        bench_ways(res, quick, repeats)
    if want("ci"):
        bench_ci(res, 10 if quick else 100, 10_000 if quick else 100_000,
                 100 if quick else 1000, repeats, slow)
    if want("streamed"):
        bench_streamed(res, 20_000 if quick else 200_000, 100, repeats, slow, quick)
    if args.torch_threads:
        import torch
        torch.set_num_threads(args.torch_threads)
        print(f"torch threads: {args.torch_threads}")
    forms = [k.split(":", 1)[1] for k in only if k.startswith("curves:")]
    if want("curves") or forms:
        bench_curves(res, *((100_000, 20_000, 10_000) if quick else
                            (10_000_000, 2_000_000, 1_000_000)), repeats, slow, quick,
                     forms=forms or ("binary", "multiclass", "multilabel"))
    if "curvemem" in only:   # not in the default run: 10^8 scores take a while
        marks = [int(v) for v in args.curve_marks.replace("_", "").split(",")]
        bench_curve_memory(res, [m // 100 for m in marks] if quick else marks,
                           10_000 if quick else 1_000_000)
    print_rows(res.rows)
    print_goals(res.goals)
    if hasattr(os, "getloadavg"):
        print("\nload average at end: %.1f %.1f %.1f" % os.getloadavg())
    missed = [g for g in res.goals if not g.met]
    print(f"\n{len(res.goals) - len(missed)} of {len(res.goals)} goals met"
          f"{' (quick mode: sizes too small for the goals to mean anything)' if quick else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
