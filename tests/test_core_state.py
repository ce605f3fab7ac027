"""Merging, copying, pickling, JSON state, threads: any split of the work gives the same answer."""

from __future__ import annotations

import json
import pickle
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import classification_report, multilabel_confusion_matrix

import confstream as cs
from _reference import cuts, split


def parts(acc_factory, t, p, w, bounds):
    out = []
    for a, b in bounds:
        acc = acc_factory()
        acc.update(t[a:b], p[a:b], sample_weight=None if w is None else w[a:b])
        out.append(acc)
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 120), st.sampled_from(["int", "str", "fixed"]), st.booleans(), st.data())
def test_merged_partitions_equal_one_pass(n, kind, weighted, data):
    pool = {"int": [3, -1, 7, 0], "str": ["b", "a", "c"], "fixed": [0, 1, 2]}[kind]
    t = np.array(data.draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)))
    p = np.array(data.draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)))
    w = np.array(data.draw(st.lists(st.integers(1, 4), min_size=n, max_size=n)), float) \
        if weighted else None
    factory = (lambda: cs.ConfusionMatrix(num_classes=3)) if kind == "fixed" \
        else cs.ConfusionMatrix
    pieces = parts(factory, t, p, w, split(n, data.draw(cuts(n))))
    order = data.draw(st.permutations(range(len(pieces))))
    merged = sum(pieces[i] for i in order)
    merged_iadd = factory()
    for i in order:
        merged_iadd += pieces[i]
    ref = classification_report(t, p, sample_weight=w, digits=4, zero_division=0)
    # Integer weights: every summation order gives the same sums, so the text is exact.
    assert str(merged.report(digits=4, zero_division=0)) == ref
    assert str(merged_iadd.report(digits=4, zero_division=0)) == ref
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "A single label was found", as sklearn
        assert np.array_equal(merged.confusion_matrix(),
                              factory().update(t, p, sample_weight=w).confusion_matrix())


def test_fixed_plus_dynamic_and_commutativity():
    a = cs.ConfusionMatrix(labels=["x", "y", "z"]).update(["x", "y"], ["y", "y"])
    b = cs.ConfusionMatrix().update(["z"], ["x"])
    ab, ba = a + b, b + a
    assert ab.labels == ba.labels == ["x", "y", "z"] and ab.fixed and ba.fixed
    assert str(ab.report(zero_division=0)) == str(ba.report(zero_division=0)) == \
        classification_report(["x", "y", "z"], ["y", "y", "x"], zero_division=0)


def test_copy_is_independent_and_reset_clears():
    a = cs.ConfusionMatrix().update([0, 1], [1, 1])
    b = a.copy().update([2], [2])
    assert a.labels == [0, 1] and b.labels == [0, 1, 2]
    assert a.reset().labels == [] and a.counts.shape == (0, 0)
    fixed = cs.ConfusionMatrix(num_classes=3).update([1], [1]).reset()
    assert fixed.labels == [0, 1, 2] and fixed.counts.sum() == 0


def roundtrip_all(acc):
    j = cs.from_dict(json.loads(json.dumps(acc.to_dict())))
    pk = pickle.loads(pickle.dumps(acc))
    return j, pk


def test_json_and_pickle_round_trips_keep_reports_exact():
    rng = np.random.default_rng(0)
    t, p, w = rng.integers(0, 4, 500), rng.integers(0, 4, 500), rng.random(500)
    acc = cs.ConfusionMatrix().update(t, p, sample_weight=w)
    for other in roundtrip_all(acc):
        assert str(other.report()) == str(acc.report()) == classification_report(
            t, p, sample_weight=w)
        assert other == acc
        other.update([0], [0])  # still usable, lock restored
    tm, pm = rng.integers(0, 2, (300, 5)), rng.random((300, 5))
    ml = cs.MultilabelConfusionMatrix(5).update(tm, pm, sample_weight=w[:300])
    for other in roundtrip_all(ml):
        assert str(other.report(zero_division=1)) == str(ml.report(zero_division=1))
        assert np.array_equal(other.counts, ml.counts)


def test_old_state_versions_still_load():
    # A state written by version 1 of the format (kept verbatim).
    v1 = {"version": 1, "kind": "ConfusionMatrix", "labels": ["neg", "pos"], "fixed": False,
          "threshold": 0.5, "ignore_index": None, "counts": [[3, 1], [0, 2]],
          "kinds": [["str"], ["str"]], "weights": None}
    acc = cs.from_dict(v1)
    assert str(acc.report()) == classification_report(
        ["neg"] * 4 + ["pos"] * 2, ["neg"] * 3 + ["pos"] * 3)


def test_threads_lose_no_count():
    rng = np.random.default_rng(1)
    batches = [(rng.integers(0, 5, 50_000), rng.integers(0, 5, 50_000)) for _ in range(40)]
    for factory in (lambda: cs.ConfusionMatrix(num_classes=5), cs.ConfusionMatrix):
        acc = factory()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda b: acc.update(*b), batches))
        t = np.concatenate([b[0] for b in batches])
        p = np.concatenate([b[1] for b in batches])
        assert str(acc.report(digits=6)) == classification_report(t, p, digits=6)


def test_threads_with_weights_and_multilabel():
    rng = np.random.default_rng(2)
    n = 20_000
    batches = [(rng.integers(0, 2, (n, 4)), rng.random((n, 4)), rng.integers(1, 3, n).astype(float))
               for _ in range(16)]
    acc = cs.MultilabelConfusionMatrix(4)
    threads = [threading.Thread(target=acc.update, args=b) for b in batches]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t = np.concatenate([b[0] for b in batches])
    p = (np.concatenate([b[1] for b in batches]) > 0.5).astype(int)
    w = np.concatenate([b[2] for b in batches])
    assert np.array_equal(acc.counts, multilabel_confusion_matrix(t, p, sample_weight=w))


def test_kernels_release_the_gil():
    from numba.core.registry import CPUDispatcher  # noqa: F401  (numba present)

    from confstream import _kernels as K

    from numba.core.dispatcher import Dispatcher

    kernels = {name: f for name, f in vars(K).items() if isinstance(f, Dispatcher)}
    for name in ("cells", "add_cells", "add_cells_weighted", "add_cells_int",
                 "ml_validate", "ml_count_into"):
        assert name in kernels, name
    for name, f in kernels.items():
        assert f.targetoptions.get("nogil") is True, name
        assert f._cache is not None, name


def test_multilabel_state_arrays_add_back_all_or_nothing():
    """``MultilabelConfusionMatrix``'s dense state is derived from its declaration: an
    unweighted state adds into a weighted one as weight 1 per sample (as scikit-learn
    counts it), and a dict with one array of the wrong shape changes nothing."""
    t = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    p = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0]])
    w = np.array([2.5, 0.0, 1.0])
    plain = cs.MultilabelConfusionMatrix(3).update(t[:2], p[:2])
    weighted = cs.MultilabelConfusionMatrix(3).update(t[2:], p[2:], sample_weight=w[2:])
    arrays = plain._state_arrays()
    assert int(arrays["weighted"][0]) == 0 and arrays["tpw"].dtype == np.float64
    both = weighted.copy()
    both._add_state_arrays(arrays)
    ref = np.concatenate([[1.0, 1.0], w[2:]])
    np.testing.assert_array_equal(
        both.counts, multilabel_confusion_matrix(t, p, sample_weight=ref))
    assert (both + plain).to_dict() != both.to_dict()  # ... and merging adds them again
    before = both.to_dict()
    bad = both._state_arrays()
    bad["whf"] = bad["whf"][:, :-1]
    with pytest.raises(ValueError, match="'whf' of shape"):
        both._add_state_arrays(bad)
    assert both.to_dict() == before
    plain2 = plain.copy()
    plain2._add_state_arrays(weighted._state_arrays())  # weighted into unweighted: promoted
    assert plain2.weighted and plain2._nzero == 0
    np.testing.assert_array_equal(plain2.counts, both.counts)


def test_confusion_state_arrays_add_back_all_or_nothing():
    """Every array of a dense state is read and its shape checked before any is added (a
    bad margin used to fail after the counts were in)."""
    weighted = cs.ConfusionMatrix(2).update([0, 1], [0, 1], sample_weight=[1.5, 2.0])
    acc = cs.ConfusionMatrix(2).update([0], [1])
    before = acc.to_dict()
    for key, bad in (("pred_w", np.zeros(3)), ("w", np.zeros((2, 3))), ("n", np.zeros((3, 3)))):
        d = weighted._state_arrays()
        d[key] = bad
        with pytest.raises(ValueError, match=f"'{key}' of shape"):
            acc._add_state_arrays(d)
        assert acc.to_dict() == before
    acc._add_state_arrays(weighted._state_arrays())
    np.testing.assert_array_equal(acc.counts, [[1.5, 1.0], [0.0, 2.0]])
