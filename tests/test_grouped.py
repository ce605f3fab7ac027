"""GroupedConfusionMatrix against scikit-learn per group and fairlearn's MetricFrame.

Random data, random batch splits (empty batches included), int / string / bool / crossed
group keys, weights, ignore_index, fixed and growing spaces: each group's report must be
byte-identical to classification_report on that group's rows, and by_group / difference /
ratio equal to fairlearn's on the same data.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import classification_report

import confstream as cs
from _reference import cuts, dask_client, same, split

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def group_rows(keys, g):
    """Row mask of group g (a key, or a tuple of keys for crossed columns)."""
    if isinstance(keys, tuple):
        m = np.ones(len(keys[0]), bool)
        for col, k in zip(keys, g):
            m &= np.asarray(col) == k
        return m
    return np.asarray(keys) == g


def reference_groups(keys):
    if isinstance(keys, tuple):
        return sorted(set(zip(*[np.asarray(c).tolist() for c in keys])))
    return sorted(set(np.asarray(keys).tolist()))


def take(keys, sl):
    return tuple(c[sl] for c in keys) if isinstance(keys, tuple) else keys[sl]


def canon(acc):
    """Counts with the classes in sorted order (a growing space numbers them as they come)."""
    order = np.argsort(np.array(acc.labels, dtype=object).astype(str) if acc.labels and
                       isinstance(acc.labels[0], str) else np.array(acc.labels))
    return acc.counts[:, order][:, :, order]


def stream(acc, parts, t, p, keys, w=None):
    for a, b in parts:
        sl = slice(a, b)
        acc.update(t[sl], p[sl], take(keys, sl), sample_weight=None if w is None else w[sl])
    return acc


@st.composite
def grouped_data(draw):
    n = draw(st.integers(1, 120))
    c = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    label_kind = draw(st.sampled_from(["int", "str", "neg"]))
    t = rng.integers(0, c, n)
    p = np.where(rng.random(n) < 0.6, t, rng.integers(0, c, n))
    if label_kind == "str":
        names = np.array(["ant", "bee", "cat", "dog", "eel"])
        t, p = names[t], names[p]
    elif label_kind == "neg":
        t, p = t * 3 - 4, p * 3 - 4
    key_kind = draw(st.sampled_from(["int", "str", "bool", "crossed", "sparse"]))
    ng = draw(st.integers(1, 6))
    g = rng.integers(0, ng, n)
    if key_kind == "str":
        keys = np.array(["eu", "us", "apac", "latam", "mea", "x"])[g]
    elif key_kind == "bool":
        keys = g % 2 == 0
    elif key_kind == "sparse":
        keys = g * 10**9 - 7
    elif key_kind == "crossed":
        keys = (np.array(["web", "app"])[g % 2], rng.integers(0, 3, n))
    else:
        keys = g
    w = rng.integers(0, 4, n).astype(float) * draw(st.sampled_from([1.0, 0.37])) \
        if draw(st.booleans()) else None
    ign = None
    if label_kind != "str" and draw(st.booleans()):
        ign = int(t[0])
    parts = split(n, draw(cuts(n)))
    return t, p, keys, w, ign, parts


@SETTINGS
@given(grouped_data(), st.sampled_from([0, 1, np.nan]), st.integers(1, 5))
def test_each_group_report_equals_sklearn_on_its_rows(data, zero_division, digits):
    t, p, keys, w, ign, parts = data
    acc = stream(cs.GroupedConfusionMatrix(ignore_index=ign), parts, t, p, keys, w)
    keep = np.ones(len(t), bool) if ign is None else t != ign
    ref_groups = reference_groups(keys)
    assert acc.groups == ref_groups
    zero = [g for g in ref_groups if w is not None and (group_rows(keys, g) & keep).any()
            and w[group_rows(keys, g) & keep].sum() == 0]
    if zero:
        with pytest.raises(ValueError, match="non-zero"):
            acc.report()
        return
    reports = acc.report(digits=digits, zero_division=zero_division)
    seen = []
    for g in ref_groups:
        rows = group_rows(keys, g) & keep
        if not rows.any():
            assert g not in reports
            continue
        seen.append(g)
        wg = None if w is None else w[rows]
        kw = dict(digits=digits, zero_division=zero_division, sample_weight=wg)
        assert str(reports[g]) == classification_report(t[rows], p[rows], **kw)
        assert same(reports[g].to_dict(),
                    classification_report(t[rows], p[rows], output_dict=True, **kw))
    assert list(reports) == seen
    if keep.any() and (w is None or w[keep].sum() > 0):
        ref = classification_report(t[keep], p[keep], digits=digits, zero_division=zero_division,
                                    sample_weight=None if w is None else w[keep])
        assert str(acc.overall().report(digits=digits, zero_division=zero_division)) == ref


@SETTINGS
@given(grouped_data())
def test_labels_keyword_and_fixed_spaces(data):
    t, p, keys, w, ign, parts = data
    w = None if w is None else w + 0.5
    labels = sorted(set(t.tolist()) | set(p.tolist()))
    groups = reference_groups(keys)
    acc = stream(cs.GroupedConfusionMatrix(labels=labels, groups=groups, ignore_index=ign),
                 parts, t, p, keys, w)
    assert acc.groups == groups
    keep = np.ones(len(t), bool) if ign is None else t != ign
    ask = labels[::-1][: max(1, len(labels) - 1)]
    for g, rep in acc.report(labels=ask, zero_division=0).items():
        rows = group_rows(keys, g) & keep
        wg = None if w is None else w[rows]
        assert str(rep) == classification_report(t[rows], p[rows], labels=ask, zero_division=0,
                                                 sample_weight=wg)


@SETTINGS
@given(grouped_data(), st.integers(2, 4), st.data())
def test_merged_shards_equal_one_stream(data, nshards, more):
    t, p, keys, w, ign, parts = data
    if w is not None:
        w = np.floor(w) + 1  # integer weights: sums in any order are exact
    n = len(t)
    bounds = split(n, more.draw(st.lists(st.integers(0, n), min_size=nshards - 1,
                                         max_size=nshards - 1)))
    shards = [stream(cs.GroupedConfusionMatrix(ignore_index=ign), [(a, b)], t, p, keys, w)
              for a, b in bounds]
    order = more.draw(st.permutations(range(len(shards))))
    total = sum(shards[i] for i in order)
    one = stream(cs.GroupedConfusionMatrix(ignore_index=ign), parts, t, p, keys, w)
    assert total.groups == one.groups
    assert np.array_equal(canon(total), canon(one))
    assert {g: str(r) for g, r in total.report(zero_division=0).items()} == \
           {g: str(r) for g, r in one.report(zero_division=0).items()}
    again = shards[0].copy()
    for s in shards[1:]:
        again += s
    assert np.array_equal(canon(again), canon(one))


# --------------------------------------------------------------------------------------------
# fairlearn's MetricFrame

fairlearn = pytest.importorskip("fairlearn.metrics")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.booleans(), st.sampled_from(["int", "str", "crossed"]),
       st.integers(1, 4))
def test_by_group_difference_ratio_equal_fairlearn(seed, weighted, key_kind, nbatches):
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
    )
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        f1_score,
        precision_score,
        recall_score,
    )

    rng = np.random.default_rng(seed)
    n = int(rng.integers(40, 300))
    t = rng.integers(0, 2, n)
    p = np.where(rng.random(n) < 0.7, t, 1 - t)
    t[:4], p[:4] = [0, 0, 1, 1], [0, 1, 0, 1]  # both classes, both ways, in every group
    g = rng.integers(0, 4, n)
    g[:16] = np.repeat(np.arange(4), 4)
    for k in range(4):  # each group gets all four (true, pred) pairs
        idx = np.flatnonzero(g == k)[:4]
        t[idx], p[idx] = [0, 0, 1, 1], [0, 1, 0, 1]
    if key_kind == "str":
        keys = np.array(["a", "b", "c", "d"])[g]
        sf = keys
    elif key_kind == "crossed":
        keys = (np.array(["x", "y"])[g % 2], g // 2)
        sf = {"s0": keys[0], "s1": keys[1]}
    else:
        keys = sf = g
    w = rng.integers(1, 5, n).astype(float) if weighted else None
    acc = stream(cs.GroupedConfusionMatrix(), split(n, rng.integers(0, n, nbatches - 1)),
                 t, p, keys, w)
    cases = [
        ("accuracy", None, {}, accuracy_score),
        ("balanced_accuracy", None, {}, balanced_accuracy_score),
        ("recall", None, {"zero_division": 0}, recall_score),
        ("precision", 1, {"zero_division": 0}, precision_score),
        ("f1", 1, {"zero_division": 0}, f1_score),
        ("selection_rate", None, {}, selection_rate),
        ("false_positive_rate", None, {}, false_positive_rate),
        ("false_negative_rate", None, {}, false_negative_rate),
        ("recall", "macro", {"zero_division": 0},
         lambda a, b, **k: recall_score(a, b, average="macro", **k)),
    ]
    for metric, of_class, kw, fn in cases:
        mf = MetricFrame(metrics=fn, y_true=t, y_pred=p, sensitive_features=sf,
                         sample_params=None if w is None else {"sample_weight": w})
        ref = {(k if not isinstance(k, tuple) else tuple(k)): v
               for k, v in mf.by_group.items()}
        got = acc.by_group(metric, of_class, **kw)
        assert list(got) == list(ref), (metric, list(got), list(ref))
        for k in ref:
            assert np.isclose(got[k], ref[k], rtol=1e-12, atol=0), (metric, k, got[k], ref[k])
        for method in ("between_groups", "to_overall"):
            assert np.isclose(acc.difference(metric, of_class, method=method, **kw),
                              mf.difference(method=method), rtol=1e-12, atol=1e-15), metric
            assert np.isclose(acc.ratio(metric, of_class, method=method, **kw),
                              mf.ratio(method=method), rtol=1e-12, atol=1e-15), metric
        if w is None:  # unweighted: the same floating-point operations, so exactly equal
            assert got == ref, metric
            assert acc.difference(metric, of_class, **kw) == mf.difference()


def test_difference_and_ratio_skip_nan_and_handle_zero_as_fairlearn():
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import precision_score

    # group "b" predicts no positive: precision is undefined there (nan with zero_division)
    t = np.array([1, 1, 0, 1, 0, 0, 1, 0])
    p = np.array([1, 0, 1, 0, 0, 0, 1, 1])
    g = np.array(["a", "a", "a", "b", "b", "b", "c", "c"])
    acc = cs.GroupedConfusionMatrix().update(t, p, g)
    mf = MetricFrame(metrics=lambda a, b: precision_score(a, b, zero_division=np.nan),
                     y_true=t, y_pred=p, sensitive_features=g)
    got = acc.by_group("precision", 1, zero_division=np.nan)
    assert np.isnan(got["b"]) and np.isnan(mf.by_group["b"])
    for method in ("between_groups", "to_overall"):
        assert acc.difference("precision", 1, method, zero_division=np.nan) == \
            mf.difference(method=method)
        assert acc.ratio("precision", 1, method, zero_division=np.nan) == mf.ratio(method=method)
    with pytest.raises(ValueError, match="method"):
        acc.difference("precision", 1, "largest")


# --------------------------------------------------------------------------------------------
# forms, read-outs, state


def test_forms_of_the_engine_work_per_group():
    rng = np.random.default_rng(5)
    # score matrices (argmax fused), binary scores, masks with one key per image
    t = rng.integers(0, 3, 200)
    s = rng.normal(size=(200, 3))
    g = rng.integers(0, 3, 200)
    acc = cs.GroupedConfusionMatrix(num_classes=3).update(t, s, g)
    for k in range(3):
        assert str(acc[k].report(zero_division=0)) == classification_report(
            t[g == k], s[g == k].argmax(1), zero_division=0)
    yb = rng.integers(0, 2, 100)
    sc = rng.random(100)
    acc = cs.GroupedConfusionMatrix(2, threshold=0.3).update(yb, sc, g[:100])
    for k in range(3):
        m = g[:100] == k
        assert np.array_equal(acc[k].counts, cs.confusion_matrix(yb[m], (sc[m] > 0.3) * 1,
                                                                 labels=[0, 1]))
    masks = rng.integers(0, 4, (3, 8, 8)).astype(np.uint8)
    masks[:, 0] = 255
    pred = rng.integers(0, 4, (3, 8, 8))
    acc = cs.GroupedConfusionMatrix(4, ignore_index=255).update(masks, pred, ["a", "b", "a"])
    for k, imgs in (("a", [0, 2]), ("b", [1])):
        tt, pp = masks[imgs].ravel(), pred[imgs].ravel()
        keep = tt != 255
        assert str(acc[k].report()) == classification_report(tt[keep], pp[keep])


def test_readouts_pandas_and_sample_counts():
    pd = pytest.importorskip("pandas")
    t = np.array([0, 1, 1, 0, 1, 2])
    p = np.array([0, 1, 0, 0, 2, 2])
    region = pd.Series(["eu", "eu", "us", "us", "us", "eu"])
    device = np.array(["web", "app", "web", "web", "app", "web"])
    acc = cs.GroupedConfusionMatrix().update(t, p, pd.DataFrame({"r": region, "d": device}))
    assert acc.groups == [("eu", "app"), ("eu", "web"), ("us", "app"), ("us", "web")]
    assert ("eu", "web") in acc and ("eu", "tv") not in acc and len(acc) == 4
    df = acc.to_pandas(names=["region", "device"], zero_division=0)
    assert list(df.columns) == ["region", "device", "class", "precision", "recall",
                                "f1-score", "support"]
    rows = df[(df.region == "us") & (df.device == "web") & (df["class"] == "accuracy")]
    assert rows["f1-score"].tolist() == [0.5]
    assert acc.counts.shape == (4, 3, 3) and acc.sample_counts.sum() == 6
    with pytest.raises(KeyError, match="no group"):
        acc["nowhere"]
    gaps = acc.gaps()
    assert gaps[("accuracy", None)]["difference"] == acc.difference("accuracy")


def test_bad_input_raises_naming_value_and_position_and_changes_nothing():
    acc = cs.GroupedConfusionMatrix(labels=[0, 1, 2])
    acc.update([0, 1, 2], [0, 1, 1], ["a", "b", "a"])
    before = acc.to_dict()
    cases = [
        (([0, 1], [0, 1], ["a"]), ValueError, r"groups has 1 keys but the batch has 2"),
        (([0, 1, 1], [0, 1, 1], [1.0, np.nan, 2.0]), ValueError,
         r"groups\[1\] = nan is not a group key"),
        (([0, 1, 1], [0, 1, 1], [1.0, 2.5, 2.0]), ValueError, r"groups\[1\] = 2.5"),
        (([0, 7, 1], [0, 1, 1], ["a", "a", "b"]), ValueError,
         r"y_true\[1\] = 7 is not in the label space \[0, 1, 2\]"),
        (([0, 1, 1], [0, 1, -3], ["a", "a", "b"]), ValueError, r"y_pred\[2\] = -3"),
        (([0, 1], [0, 1], ["a", "b"], [1.0, -1.0]), ValueError, r"sample_weight\[1\] = -1.0"),
        (([0, 1], [0, 1], [1, 2]), TypeError, "Mix of label input types"),
        (([0, 1], [0, 1], (["a", "b"], [1, 2])), ValueError, "key column"),
        (([0, 1], [0, 1], [["a"], ["b"]]), ValueError, "groups"),
    ]
    for args, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            acc.update(*args[:3], sample_weight=args[3] if len(args) > 3 else None)
        assert acc.to_dict() == before
    fixed = cs.GroupedConfusionMatrix(groups=[1, 2, 3]).update([0, 1], [1, 1], [3, 1])
    state = fixed.to_dict()
    with pytest.raises(ValueError, match=r"groups\[2\] = 4 is not in the group space \[1, 2, 3\]"):
        fixed.update([0, 1, 0], [0, 1, 0], [1, 2, 4])
    assert fixed.to_dict() == state
    crossed = cs.GroupedConfusionMatrix(groups=[("a", 1), ("b", 2)])
    with pytest.raises(ValueError, match=r"\('b', 1\) is not in the group space"):
        crossed.update([0, 1], [0, 1], (["a", "b"], [1, 1]))
    # a refused weighted batch leaves an unweighted state unweighted
    with pytest.raises(ValueError):
        acc.update([0, 1], [0, 1], ["a", "b"], sample_weight=[np.inf, 1.0])
    assert not acc.weighted and acc.to_dict() == before


def test_state_round_trips_and_refuses_bad_states():
    rng = np.random.default_rng(3)
    acc = cs.GroupedConfusionMatrix()
    for _ in range(3):
        acc.update(rng.integers(-2, 3, 50), rng.integers(-2, 3, 50),
                   (rng.integers(0, 3, 50), np.array(["x", "y"])[rng.integers(0, 2, 50)]),
                   sample_weight=rng.random(50))
    d = json.loads(json.dumps(acc.to_dict()))
    for again in (cs.GroupedConfusionMatrix.from_dict(d), cs.from_dict(d),
                  pickle.loads(pickle.dumps(acc)),
                  acc.copy()):
        assert again == acc
        assert {g: str(r) for g, r in again.report(digits=8, zero_division=0).items()} == \
               {g: str(r) for g, r in acc.report(digits=8, zero_division=0).items()}
        assert str(again.overall().report(digits=9, zero_division=0)) == \
            str(acc.overall().report(digits=9, zero_division=0))
    assert cs.GroupedConfusionMatrix.from_dict(cs.GroupedConfusionMatrix().to_dict()).groups == []
    bad = [dict(d, version=99), dict(d, kind="ConfusionMatrix"), dict(d, counts=[[1]]),
           dict(d, groups={"columns": "x"}),
           dict(d, weights=dict(d["weights"], total=[-1.0] * len(d["weights"]["total"])))]
    for b in bad:
        with pytest.raises((ValueError, TypeError)):
            cs.GroupedConfusionMatrix.from_dict(b)
    # fixed spaces survive, bools keys too
    f = cs.GroupedConfusionMatrix(2, groups=[True, False]).update([0, 1], [1, 1], [False, True])
    g = cs.GroupedConfusionMatrix.from_dict(json.loads(json.dumps(f.to_dict())))
    assert g.groups == [True, False] and g == f
    with pytest.raises(ValueError, match="different group spaces"):
        f + cs.GroupedConfusionMatrix(2, groups=[1, 2]).update([0], [0], [2])


def test_weighted_supports_are_sequential_float_sums_per_group():
    rng = np.random.default_rng(11)
    n = 5000
    t, p = rng.integers(0, 3, n), rng.integers(0, 3, n)
    g = rng.integers(0, 4, n)
    w = rng.random(n) * 3
    acc = cs.GroupedConfusionMatrix()
    for a, b in split(n, [17, 17, 900, 2500]):
        acc.update(t[a:b], p[a:b], g[a:b], sample_weight=w[a:b])
    for k in range(4):
        m = g == k
        assert str(acc[k].report(digits=10)) == classification_report(
            t[m], p[m], sample_weight=w[m], digits=10)
    assert str(acc.overall().report(digits=10)) == classification_report(
        t, p, sample_weight=w, digits=10)


def test_big_batches_through_threads_equal_bincount():
    rng = np.random.default_rng(4)
    n = 400_000
    t, p = rng.integers(0, 6, n), rng.integers(0, 6, n)
    g = rng.integers(0, 50, n)
    acc = cs.GroupedConfusionMatrix(6).update(t, p, g)
    ref = np.bincount(g * 36 + t * 6 + p, minlength=50 * 36).reshape(50, 6, 6)
    assert np.array_equal(acc.counts, ref)
    t[n - 3] = 9
    with pytest.raises(ValueError, match=rf"y_true\[{n - 3}\] = 9"):
        acc.update(t, p, g)
    assert np.array_equal(acc.counts, ref)


def test_threads_lose_no_count_in_a_child_process():
    code = textwrap.dedent("""
        import threading, numpy as np, confstream as cs
        from concurrent.futures import ThreadPoolExecutor
        rng = np.random.default_rng(1)
        batches = [(rng.integers(0, 4, 30_000), rng.integers(0, 4, 30_000),
                    rng.integers(0, 5 + i % 3, 30_000),
                    rng.integers(1, 3, 30_000).astype(float) if i % 4 == 0 else None)
                   for i in range(24)]
        acc = cs.GroupedConfusionMatrix()
        other = cs.GroupedConfusionMatrix()
        def work(b):
            acc.update(b[0], b[1], b[2], sample_weight=b[3])
            acc.report(zero_division=0); acc.to_dict(); acc.copy(); acc.overall()
            other.update(b[0], b[1], b[2])
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(work, batches))
        t = np.concatenate([b[0] for b in batches]); p = np.concatenate([b[1] for b in batches])
        g = np.concatenate([b[2] for b in batches])
        w = np.concatenate([b[3] if b[3] is not None else np.ones(30_000) for b in batches])
        ref = np.bincount(g * 16 + t * 4 + p, minlength=7 * 16).reshape(7, 4, 4)
        assert np.array_equal(acc.sample_counts, ref), "lost counts"
        assert np.array_equal(other.counts, ref), "lost counts (unweighted)"
        wref = np.bincount(g * 16 + t * 4 + p, weights=w, minlength=7 * 16).reshape(7, 4, 4)
        assert np.allclose(acc.counts, wref)
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr


def test_kernels_follow_the_jit_policy():
    from confstream import _group_kernels as GK

    for name in ("_labels_chunk", "count_into", "key_indices", "combine"):
        assert getattr(GK, name).targetoptions.get("nogil") is True, name
        assert getattr(GK, name)._cache is not None, name


# --------------------------------------------------------------------------------------------
# Dask and the command line

@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 workers in this process (threads): cheap to start; the tasks still
    go through the scheduler, and their results are merged as on a real cluster."""
    yield from dask_client(processes=False)


def test_dask_grouped_confusion_matrix_equals_sklearn_per_group(client):
    da = pytest.importorskip("dask.array")
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    from confstream.adapters import dask as cs_dask

    rng = np.random.default_rng(8)
    n = 5000
    t = rng.choice(["ant", "bee", "cat"], n)
    p = np.where(rng.random(n) < 0.7, t, rng.choice(["ant", "bee", "cat"], n))
    region = rng.choice(["eu", "us", "apac"], n)
    device = rng.integers(0, 3, n)
    w = rng.integers(1, 5, n) / 2
    acc = cs_dask.grouped_confusion_matrix(da.from_array(t, chunks=700),
                                           da.from_array(p, chunks=1100),
                                           da.from_array(region, chunks=900))
    for g in sorted(set(region)):
        m = region == g
        assert str(acc.report()[g]) == classification_report(t[m], p[m])
    df = dd.from_pandas(pd.DataFrame({"t": t, "p": p, "r": region, "d": device, "w": w}),
                        npartitions=7)
    acc = cs_dask.grouped_confusion_matrix(df.t, df.p, df[["r", "d"]], sample_weight=df.w)
    assert acc.groups == sorted(set(zip(region.tolist(), device.tolist())))
    for (r, d), rep in acc.report(digits=5).items():
        m = (region == r) & (device == d)
        assert str(rep) == classification_report(t[m], p[m], sample_weight=w[m], digits=5)
    delayed = cs_dask.grouped_confusion_matrix(df.t, df.p, (df.r, df.d), compute=False,
                                               group_keys=[(r, d) for r in ["eu", "us", "apac"]
                                                           for d in range(3)])
    fixed = delayed.compute()
    assert fixed.groups[0] == ("eu", 0) and np.array_equal(fixed["us", 2].sample_counts,
                                                          acc["us", 2].sample_counts)


def hive_dataset(root, seed=0, n_parts=(2, 1, 3)):
    """Parquet parts under region=<r>/ folders, 'device' a column of the files."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    for region, k in zip(["eu", "us", "apac"], n_parts):
        os.makedirs(root / f"region={region}", exist_ok=True)
        for j in range(k):
            n = int(rng.integers(150, 400))
            t = rng.choice(["cat", "dog", "eel"], n, p=[0.6, 0.3, 0.1])
            p = np.where(rng.random(n) < 0.75, t, rng.choice(["cat", "dog", "eel", "fox"], n))
            pd.DataFrame({"y": t, "yhat": p, "device": rng.choice(["web", "app"], n),
                          "w": rng.integers(1, 8, n) / 4}).to_parquet(
                root / f"region={region}" / f"part-{j}.parquet")
    return root


def read_reference(root):
    """The dataset as pyarrow reads it (its own hive partitioning), as pandas."""
    import pyarrow.dataset as pads

    return pads.dataset(str(root), format="parquet", partitioning="hive").to_table().to_pandas()


def run_cli(capsys, *argv):
    from confstream import cli

    code = cli.main(["report"] + [str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def check_cli_json(out, df, by, weighted):
    d = json.loads(out)
    assert d["by"] == by
    got = {tuple(e["group"][c] for c in by): e["report"] for e in d["groups"]}
    keys = sorted(set(map(tuple, df[by].astype(str).values.tolist())))
    assert sorted(got) == keys
    for key, rep in got.items():
        m = np.ones(len(df), bool)
        for c, v in zip(by, key):
            m &= df[c].astype(str).values == v
        ref = classification_report(df.y[m], df.yhat[m], output_dict=True, zero_division=0,
                                    sample_weight=df.w[m] if weighted else None)
        assert same(rep, ref), key
    return d


def test_cli_on_a_hive_dataset_equals_sklearn_per_group(tmp_path, capsys, client):
    pytest.importorskip("pyarrow")
    root = hive_dataset(tmp_path / "ds")
    df = read_reference(root)
    base = [root, "--true", "y", "--pred", "yhat", "--chunksize", 97, "--zero-division", "0"]
    code, out, err = run_cli(capsys, *base, "--by", "region,device", "--format", "json",
                             "--weight", "w")
    assert code == 0, err
    d = check_cli_json(out, df, ["region", "device"], weighted=True)
    acc_ref = {g["metric"] + str(g["class"]): g for g in d["gaps"]}
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import accuracy_score, recall_score

    sf = {"region": df.region.astype(str), "device": df.device}
    mf = MetricFrame(metrics=accuracy_score, y_true=df.y, y_pred=df.yhat, sensitive_features=sf,
                     sample_params={"sample_weight": df.w.values})
    assert np.isclose(acc_ref["accuracyNone"]["difference"], mf.difference(), rtol=1e-12)
    assert np.isclose(acc_ref["accuracyNone"]["ratio_to_overall"],
                      mf.ratio(method="to_overall"), rtol=1e-12)
    mf = MetricFrame(metrics=lambda a, b: recall_score(a, b, labels=["dog"], average=None,
                                                       zero_division=0)[0],
                     y_true=df.y, y_pred=df.yhat, sensitive_features=sf)
    code, out2, err = run_cli(capsys, *base, "--by", "region,device", "--format", "json")
    gaps = {g["metric"] + str(g["class"]): g for g in json.loads(out2)["gaps"]}
    assert np.isclose(gaps["recalldog"]["difference"], mf.difference(), rtol=1e-12)
    # the text: each group's section is scikit-learn's report, byte for byte
    code, text, err = run_cli(capsys, *base, "--by", "region", "--digits", "3")
    assert code == 0, err
    for region in ["apac", "eu", "us"]:
        m = df.region.astype(str).values == region
        ref = classification_report(df.y[m], df.yhat[m], digits=3, zero_division=0)
        assert f"region={region}\n{ref}" in text
    assert "gaps between 3 groups" in text
    for fmt in ("csv", "markdown"):
        code, out, err = run_cli(capsys, *base, "--by", "region", "--format", fmt)
        assert code == 0 and "recall" in out and "apac" in out, err
    # on a Dask cluster: the same numbers (the weights are multiples of 1/4: exact sums)
    code, out3, err = run_cli(capsys, *base, "--by", "region,device", "--format", "json",
                              "--weight", "w", "--scheduler", client.scheduler.address)
    assert code == 0, err
    assert json.loads(out3) == d


def test_cli_globs_csv_parts_and_names_the_part_of_an_error(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(2)
    frames = []
    for j in range(3):
        n = 120
        f = pd.DataFrame({"y": rng.integers(0, 3, n), "p": rng.integers(0, 3, n),
                          "g": rng.integers(0, 2, n)})
        f.to_csv(tmp_path / f"part-{j}.csv", index=False)
        frames.append(f)
    df = pd.concat(frames, ignore_index=True)
    code, out, err = run_cli(capsys, tmp_path / "part-*.csv", "--true", "y", "--pred", "p",
                             "--by", "g", "--chunksize", 50, "--format", "json")
    assert code == 0, err
    for e in json.loads(out)["groups"]:
        m = df.g.values == e["group"]["g"]
        assert same(e["report"], classification_report(df.y[m], df.p[m], output_dict=True))
    # a part without the --by column; a bad group key: exit 2, one line naming part and row
    pd.DataFrame({"y": [0], "p": [1]}).to_csv(tmp_path / "part-3.csv", index=False)
    code, out, err = run_cli(capsys, tmp_path / "part-*.csv", "--true", "y", "--pred", "p",
                             "--by", "g")
    assert code == 2 and "--by column 'g' is missing in part" in err and "part-3.csv" in err
    pd.DataFrame({"y": [0, 1, 2], "p": [1, 1, 1], "g": [1.0, None, 0.0]}).to_csv(
        tmp_path / "part-3.csv", index=False)
    code, out, err = run_cli(capsys, tmp_path / "part-*.csv", "--true", "y", "--pred", "p",
                             "--by", "g")
    assert code == 2 and "part-3.csv: row 1 (line 3): missing value in column 'g'" in err, err
    pd.DataFrame({"y": [0, 1, 2], "p": [1, 1, 1], "g": [1, 1, 0]}).to_csv(
        tmp_path / "part-3.csv", index=False)
    code, out, err = run_cli(capsys, tmp_path / "part-*.csv", "--true", "y", "--pred", "p",
                             "--by", "g", "--labels", "0", "1", "2")
    assert code == 0, err
    pd.DataFrame({"y": [0, 1, 9], "p": [1, 1, 1], "g": [1, 1, 0]}).to_csv(
        tmp_path / "part-3.csv", index=False)
    code, out, err = run_cli(capsys, tmp_path / "part-*.csv", "--true", "y", "--pred", "p",
                             "--by", "g", "--workers", "0")
    assert code == 2 and "--workers must be at least 1" in err
    code, out, err = run_cli(capsys, tmp_path / "nothing-*.csv", "--true", "y", "--pred", "p",
                             "--by", "g")
    assert code == 2 and "no file matches" in err


def test_notebook_table_lists_every_group_with_its_values():
    from html.parser import HTMLParser

    t = np.array([0, 1, 1, 0, 1, 1])
    p = np.array([0, 1, 0, 0, 1, 0])
    acc = cs.GroupedConfusionMatrix().update(t, p, ["a", "a", "b", "b", "b", "a"])
    html = acc._repr_html_()

    class Cells(HTMLParser):
        rows: list = []

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])

        def handle_data(self, data):
            if self.rows:
                self.rows[-1].append(data)

    parser = Cells()
    parser.feed(html)
    head, *rows = parser.rows
    assert head[:2] == ["group", "accuracy"] and head[-1] == "support"
    assert [r[0] for r in rows] == ["a", "b", "all"]
    recall_1 = head.index("recall 1")
    from sklearn.metrics import recall_score
    for r, m in zip(rows, [np.array([1, 1, 0, 0, 0, 1], bool), np.array([0, 0, 1, 1, 1, 0], bool),
                           np.ones(6, bool)]):
        assert float(r[recall_1]) == round(recall_score(t[m], p[m]), 3)
        assert r[-1] == str(m.sum())
    assert cs.GroupedConfusionMatrix()._repr_html_().startswith("<pre>")


@pytest.mark.slow  # starts a worker process (~5 s idle, more on a busy machine)
def test_cli_workers_start_a_local_cluster_of_processes(tmp_path, capsys):
    pytest.importorskip("distributed")
    root = hive_dataset(tmp_path / "ds", seed=4, n_parts=(1, 1, 1))
    argv = [root, "--true", "y", "--pred", "yhat", "--by", "device,region", "--format", "json",
            "--zero-division", "0"]
    code, one, err = run_cli(capsys, *argv)
    assert code == 0, err
    code, out, err = run_cli(capsys, *argv, "--workers", "1")
    assert code == 0, err
    assert json.loads(out) == json.loads(one)
    check_cli_json(out, read_reference(root), ["device", "region"], weighted=False)


def test_cli_bad_values_name_the_part_row_and_column(tmp_path, capsys):
    (tmp_path / "a.csv").write_text("y,p,g,w\n0,1,a,1\n1,1,b,-2\n")
    (tmp_path / "b.csv").write_text("y,p,g\n0,1.5,a\n")
    code, out, err = run_cli(capsys, tmp_path / "a.csv", "--true", "y", "--pred", "p", "--by",
                             "g", "--weight", "w")
    assert code == 2 and err == (f"confstream: error: {tmp_path / 'a.csv'}: row 1 (line 3): "
                                 f"column 'w' = -2.0: weights must be non-negative and finite\n")
    code, out, err = run_cli(capsys, tmp_path / "b.csv", "--true", "y", "--pred", "p", "--by", "g")
    assert code == 2 and "b.csv: row 0 (line 2): column 'p' = 1.5 is not a class label" in err
    code, out, err = run_cli(capsys, tmp_path, "--true", "y", "--pred", "p")
    assert code == 2 and "is a directory: give --by COL" in err
    code, out, err = run_cli(capsys, tmp_path / "a.csv", "--true", "y", "--pred", "p",
                             "--workers", "2")
    assert code == 2 and "give --by COL too" in err


def test_cli_progress_bar_counts_the_parts(tmp_path, capsys, monkeypatch, client):
    tqdm = pytest.importorskip("tqdm")
    from confstream import cli

    bars = []

    class Spy:
        def __init__(self, total, unit, file, **kw):
            self.total, self.unit, self.file, self.n = total, unit, file, 0
            bars.append(self)

        def update(self, k):
            self.n += k

        def close(self):
            self.closed = True

    monkeypatch.setattr(tqdm, "tqdm", Spy)
    root = hive_dataset(tmp_path / "ds", seed=5, n_parts=(2, 1, 1))
    argv = [root, "--true", "y", "--pred", "yhat", "--by", "region", "--zero-division", "0"]
    assert run_cli(capsys, *argv)[0] == 0 and bars == []        # stderr is no terminal here
    monkeypatch.setattr(cli, "_isatty", lambda stream: True)
    for extra in ([], ["--scheduler", client.scheduler.address]):
        assert run_cli(capsys, *argv, *extra)[0] == 0
        bar = bars.pop()
        assert (bar.unit, bar.total, bar.n, bar.closed, bar.file) == ("part", 4, 4, True,
                                                                     sys.stderr)
    assert run_cli(capsys, *argv, "--no-progress")[0] == 0 and bars == []


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 5), st.booleans())
def test_report_html_table_has_the_text_reports_values(seed, digits, weighted):
    from html.parser import HTMLParser

    rng = np.random.default_rng(seed)
    t, p = rng.integers(0, 4, 60), rng.integers(0, 4, 60)
    w = rng.random(60) if weighted else None
    rep = cs.ConfusionMatrix().update(t, p, sample_weight=w).report(digits=digits,
                                                                    zero_division=0)

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.cell = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = ""

        def handle_data(self, data):
            self.cell += data

        def handle_endtag(self, tag):
            if tag in ("td", "th"):
                self.rows[-1].append(self.cell)

    parser = Cells()
    parser.feed(rep._repr_html_())
    head, *rows = parser.rows
    assert head == ["", "precision", "recall", "f1-score", "support"]
    text_rows = [line.split() for line in str(rep).splitlines()[2:] if line.strip()]
    for html_row, text_row in zip(rows, text_rows):
        name = " ".join(text_row[:-4]) if len(text_row) > 5 else text_row[0]
        if html_row[0] == "accuracy":
            assert text_row == ["accuracy", html_row[3], html_row[4]]
        else:
            assert [html_row[0]] + html_row[1:] == [name] + text_row[-4:]
    assert len(rows) == len(text_rows)


def test_heatmap_html_shows_every_cell_shaded_by_its_share():
    from confstream._html import heatmap

    acc = cs.ConfusionMatrix().update(["a", "b", "b", "b", "c"], ["a", "b", "b", "a", "c"])
    html = heatmap(acc.counts, acc.labels, title="<all>")
    assert html.count("<td") == 9 and "&lt;all&gt;" in html
    assert "rgba(31, 119, 180, 1.000); color: white; text-align: right'>2</td>" in html
    assert html.count(">0</td>") == 5 and "rgba(31, 119, 180, 0.500)" in html
    assert heatmap(np.zeros((1, 1)), [0]).count("0.000") == 1
