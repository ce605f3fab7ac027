"""GroupedMultilabelConfusionMatrix against scikit-learn per group and fairlearn's MetricFrame.

Random multi-label data (indicators or scores, one threshold or one per label), random batch
splits (empty batches included), int / string / bool / crossed / sparse group keys, weights,
fixed and growing group spaces: each group's report must be byte-identical to
classification_report on that group's rows, and by_group / difference / ratio equal to
fairlearn's on the same data.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import classification_report

import confstream as cs
from _reference import cuts, same, split

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def group_rows(keys, g):
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


def stream(acc, parts, t, p, keys, w=None):
    for a, b in parts:
        sl = slice(a, b)
        acc.update(t[sl], p[sl], take(keys, sl), sample_weight=None if w is None else w[sl])
    return acc


def acc_thr(acc):
    return float(acc.threshold[0]) if acc._thr_scalar else acc.threshold.tolist()


def check_text(text, t, p, w, acc, kw):
    """``text`` is scikit-learn's report on (t, p, w), byte for byte, but for one known gap of
    the core's MultilabelConfusionMatrix too: scikit-learn sums the per-sample scores of
    "samples avg" pairwise (np.average), the engine exactly, so a value within an ulp of a
    rounding boundary can print one digit apart. There the text must be the core's."""
    ref = classification_report(t, p, sample_weight=w, **kw)
    if text == ref:
        return
    core = cs.MultilabelConfusionMatrix(t.shape[1], threshold=acc_thr(acc)).update(
        t, p, sample_weight=w)
    assert text == str(core.report(**{k: v for k, v in kw.items() if k != "output_dict"}))
    diff = [(x, y) for x, y in zip(text.splitlines(), ref.splitlines()) if x != y]
    assert [x.split()[:2] for x, _ in diff] == [["samples", "avg"]], diff


def draw_keys(draw, rng, n):
    kind = draw(st.sampled_from(["int", "str", "bool", "crossed", "sparse"]))
    g = rng.integers(0, draw(st.integers(1, 5)), n)
    if kind == "str":
        return np.array(["eu", "us", "apac", "latam", "mea"])[g]
    if kind == "bool":
        return g % 2 == 0
    if kind == "sparse":
        return g * 10**9 - 7
    if kind == "crossed":
        return (np.array(["web", "app"])[g % 2], rng.integers(0, 3, n))
    return g


@st.composite
def ml_data(draw):
    n = draw(st.integers(1, 100))
    L = draw(st.integers(2, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = (rng.random((n, L)) < rng.random(L)).astype(draw(st.sampled_from([np.int64, np.uint8,
                                                                          bool])))
    form = draw(st.sampled_from(["labels", "float64", "float32"]))
    thr = draw(st.sampled_from([0.5, 0.25, "per label"]))
    thr = rng.random(L).round(2).tolist() if thr == "per label" else thr
    if form == "labels":
        p = np.where(rng.random((n, L)) < 0.7, t, 1 - t.astype(np.int64)).astype(np.int64)
        ref_p = p
    else:
        p = rng.random((n, L)).astype(form)
        ref_p = (p > (np.asarray(thr, dtype=p.dtype) if np.ndim(thr) == 0
                      else np.asarray(thr))).astype(int)
    keys = draw_keys(draw, rng, n)
    w = None
    if draw(st.booleans()):
        w = rng.integers(0, 4, n).astype(float) * draw(st.sampled_from([1.0, 0.37]))
    parts = split(n, draw(cuts(n)))
    return t, p, ref_p, thr, keys, w, parts


@SETTINGS
@given(ml_data(), st.sampled_from([0, 1, np.nan, "warn"]), st.integers(1, 5))
def test_each_group_report_equals_sklearn_on_its_rows(data, zero_division, digits):
    t, p, ref_p, thr, keys, w, parts = data
    L = t.shape[1]
    acc = stream(cs.GroupedMultilabelConfusionMatrix(L, threshold=thr), parts, t, p, keys, w)
    groups = reference_groups(keys)
    assert acc.groups == groups
    assert acc.sample_counts.tolist() == [int(group_rows(keys, g).sum()) for g in groups]
    if w is not None and any(w[group_rows(keys, g)].sum() == 0 for g in groups):
        with pytest.raises(ValueError, match="non-zero"):
            acc.report()
        return
    kw = dict(digits=digits, zero_division=zero_division)
    with warnings.catch_warnings():
        # "warn": the same warnings per group as scikit-learn's (tests of the core check them)
        warnings.simplefilter("ignore")
        check_reports(acc, t, ref_p, keys, w, groups, kw)


def check_reports(acc, t, ref_p, keys, w, groups, kw):
    reports = acc.report(**kw)
    assert list(reports) == groups
    for g in groups:
        rows = group_rows(keys, g)
        wg = None if w is None else w[rows]
        check_text(str(reports[g]), t[rows], ref_p[rows], wg, acc, kw)
        assert same(reports[g].to_dict(),
                    classification_report(t[rows], ref_p[rows], sample_weight=wg,
                                          output_dict=True, **kw),
                    approx_keys=("samples avg",))
        counts = acc[g].counts
        from sklearn.metrics import multilabel_confusion_matrix

        assert np.allclose(counts, multilabel_confusion_matrix(t[rows], ref_p[rows],
                                                                  sample_weight=wg))
    if w is None or w.sum() > 0:
        check_text(str(acc.overall().report(**kw)), t, ref_p, w, acc, kw)


@SETTINGS
@given(ml_data(), st.data())
def test_labels_target_names_and_fixed_group_spaces(data, more):
    """Every keyword of classification_report per group: ``labels`` (all of them, in any
    order: samples avg needs every label), ``target_names`` (also of the wrong length, which
    scikit-learn only warns about when ``labels`` is given), ``digits``; a fixed group space
    in its given order."""
    t, p, ref_p, thr, keys, w, parts = data
    L = t.shape[1]
    w = None if w is None else w + 0.5
    groups = reference_groups(keys)[::-1]
    acc = stream(cs.GroupedMultilabelConfusionMatrix(L, threshold=thr, groups=groups), parts,
                 t, p, keys, w)
    assert acc.groups == groups
    labels = more.draw(st.permutations(range(L)))
    names = more.draw(st.sampled_from([None, [f"<{j}>" for j in labels],
                                       [f"t{j}" for j in labels][:-1]]))
    kw = dict(labels=labels, target_names=names, zero_division=0, digits=more.draw(
        st.integers(1, 4)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short target_names: scikit-learn warns too
        reports = acc.report(**kw)
        for g in groups:
            rows = group_rows(keys, g)
            wg = None if w is None else w[rows]
            check_text(str(reports[g]), t[rows], ref_p[rows], wg, acc, kw)
    with pytest.raises(ValueError, match="needs every label"):
        acc.report(labels=labels[:-1])


@SETTINGS
@given(ml_data(), st.integers(2, 4), st.data())
def test_merged_shards_equal_one_stream(data, nshards, more):
    t, p, _, thr, keys, w, parts = data
    if w is not None:
        w = np.floor(w) + 1  # integer weights: sums in any order are exact
    n, L = t.shape
    bounds = split(n, more.draw(st.lists(st.integers(0, n), min_size=nshards - 1,
                                         max_size=nshards - 1)))
    shards = [stream(cs.GroupedMultilabelConfusionMatrix(L, threshold=thr), [(a, b)], t, p,
                     keys, w) for a, b in bounds]
    order = more.draw(st.permutations(range(len(shards))))
    total = sum(shards[i] for i in order)
    one = stream(cs.GroupedMultilabelConfusionMatrix(L, threshold=thr), parts, t, p, keys, w)
    assert total.groups == one.groups
    assert np.array_equal(total.counts, one.counts)
    assert {g: str(r) for g, r in total.report(zero_division=0).items()} == \
           {g: str(r) for g, r in one.report(zero_division=0).items()}
    assert str(total.overall().report(zero_division=0)) == \
        str(one.overall().report(zero_division=0))
    again = shards[0].copy()
    for s in shards[1:]:
        again += s
    assert np.array_equal(again.counts, one.counts)


def test_fixed_group_space_keeps_its_order_and_empty_groups():
    t = np.array([[1, 0], [0, 1], [1, 1]])
    acc = cs.GroupedMultilabelConfusionMatrix(2, groups=["z", "a", "m"]).update(t, t, ["a", "z", "a"])
    assert acc.groups == ["z", "a", "m"] and "m" in acc and len(acc) == 3
    assert list(acc.report(zero_division=0)) == ["z", "a"]  # no sample, no report
    assert acc.sample_counts.tolist() == [1, 2, 0]
    assert acc.counts[2].sum() == 0 and acc["m"].counts.sum() == 0


# --------------------------------------------------------------------------------------------
# fairlearn's MetricFrame

fairlearn = pytest.importorskip("fairlearn.metrics")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.booleans(), st.sampled_from(["int", "str", "crossed"]),
       st.integers(1, 4))
def test_by_group_difference_ratio_equal_fairlearn(seed, weighted, key_kind, nbatches):
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        hamming_loss,
        jaccard_score,
        precision_score,
        recall_score,
    )

    rng = np.random.default_rng(seed)
    n, L = int(rng.integers(40, 200)), int(rng.integers(2, 5))
    t = rng.integers(0, 2, (n, L))
    p = np.where(rng.random((n, L)) < 0.75, t, 1 - t)
    g = rng.integers(0, 4, n)
    g[:4] = np.arange(4)
    if key_kind == "str":
        keys = sf = np.array(["a", "b", "c", "d"])[g]
    elif key_kind == "crossed":
        keys = (np.array(["x", "y"])[g % 2], g // 2)
        sf = {"s0": keys[0], "s1": keys[1]}
    else:
        keys = sf = g
    w = rng.integers(1, 5, n).astype(float) if weighted else None
    acc = stream(cs.GroupedMultilabelConfusionMatrix(L),
                 split(n, rng.integers(0, n, nbatches - 1)), t, p, keys, w)
    zd = {"zero_division": 0}
    cases = [
        ("accuracy", None, {}, accuracy_score),
        ("hamming_loss", None, {}, hamming_loss),
        ("f1", "micro", zd, lambda a, b, **k: f1_score(a, b, average="micro", **k, **zd)),
        ("f1", "macro", zd, lambda a, b, **k: f1_score(a, b, average="macro", **k, **zd)),
        ("f1", "samples", zd, lambda a, b, **k: f1_score(a, b, average="samples", **k, **zd)),
        ("precision", 0, zd, lambda a, b, **k: precision_score(a[:, 0], b[:, 0], **k, **zd)),
        ("recall", "weighted", zd,
         lambda a, b, **k: recall_score(a, b, average="weighted", **k, **zd)),
        ("jaccard", "samples", zd,
         lambda a, b, **k: jaccard_score(a, b, average="samples", **k, **zd)),
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
    with pytest.raises(ValueError, match="needs of_class"):
        acc.by_group("recall")
    with pytest.raises(ValueError, match="of_class must be a label index"):
        acc.by_group("recall", L)


# --------------------------------------------------------------------------------------------
# bad input, state


def test_bad_input_raises_naming_value_and_position_and_changes_nothing():
    acc = cs.GroupedMultilabelConfusionMatrix(3)
    acc.update([[1, 0, 1], [0, 1, 1]], [[1, 0, 0], [0, 1, 1]], ["a", "b"])
    before = acc.to_dict()
    ok = [[1, 0, 1], [0, 1, 1], [0, 0, 0]]
    cases = [
        ((ok, ok, ["a"]), ValueError, r"groups has 1 keys but the batch has 3"),
        ((ok, ok, [1.0, np.nan, 2.0]), ValueError, r"groups\[1\] = nan is not a group key"),
        ((ok, ok, [1.0, 2.5, 2.0]), ValueError, r"groups\[1\] = 2.5"),
        ((ok, ok, [1, 2, 3]), TypeError, "group space"),  # numbers into a space of strings
        (([[1, 0, 1], [0, 2, 1], [0, 0, 0]], ok, ["a", "c", "b"]), ValueError,
         r"y_true\[1, 1\] = 2: multi-label indicators must be 0 or 1"),
        ((ok, [[1, 0, 1], [0, 1, 1], [0, 0, -1]], ["a", "c", "b"]), ValueError,
         r"y_pred\[2, 2\] = -1: multi-label"),
        ((ok, [[0.1, 0.2, 0.3], [0.1, np.nan, 0.2], [0, 0, 0.0]], ["a", "c", "b"]), ValueError,
         r"y_pred\[1, 1\] = nan is not a finite score"),
        ((ok, ok, ["a", "c", "b"], [1.0, -1.0, 1.0]), ValueError, r"sample_weight\[1\] = -1.0"),
        ((ok, ok, ["a", "c", "b"], [1.0, 1.0]), ValueError, "sample_weight has 2 values"),
        (([[1, 0], [0, 1]], [[1, 0], [0, 1]], ["a", "b"]), ValueError, r"shape \(N, 3\)"),
        ((ok, ok[:2], ["a", "b"]), ValueError, "different numbers of samples"),
        ((ok, ok, (["a", "b", "c"], [1, 2, 3])), ValueError, "key column"),
    ]
    for args, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            acc.update(*args[:3], sample_weight=args[3] if len(args) > 3 else None)
        assert acc.to_dict() == before
        assert acc.groups == ["a", "b"]
    fixed = cs.GroupedMultilabelConfusionMatrix(2, groups=[1, 2, 3]).update([[0, 1]], [[1, 1]],
                                                                           [3])
    state = fixed.to_dict()
    for w in (None, [1.0, 1.0, 1.0]):
        with pytest.raises(ValueError, match=r"groups\[2\] = 4 is not in the group space"):
            fixed.update([[0, 1]] * 3, [[0, 1]] * 3, [1, 2, 4], sample_weight=w)
        assert fixed.to_dict() == state
    # a refused weighted batch leaves an unweighted state unweighted
    with pytest.raises(ValueError, match=r"sample_weight\[0\] = inf"):
        acc.update(ok, ok, ["a", "b", "a"], sample_weight=[np.inf, 1.0, 1.0])
    assert not acc.weighted and acc.to_dict() == before
    with pytest.raises(ValueError, match="num_labels must be at least 2"):
        cs.GroupedMultilabelConfusionMatrix(1)
    with pytest.raises(ValueError, match="threshold must be one value or 3"):
        cs.GroupedMultilabelConfusionMatrix(3, threshold=[0.5, 0.5])


def test_state_round_trips_and_refuses_bad_states():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    acc = cs.GroupedMultilabelConfusionMatrix(3, threshold=[0.3, 0.5, 0.7])
    for i in range(3):
        acc.update(rng.integers(0, 2, (40, 3)), rng.random((40, 3)),
                   (rng.integers(0, 3, 40), np.array(["x", "y"])[rng.integers(0, 2, 40)]),
                   sample_weight=rng.random(40) if i else None)
    d = json.loads(json.dumps(acc.to_dict()))
    for again in (cs.GroupedMultilabelConfusionMatrix.from_dict(d), cs.from_dict(d),
                  pickle.loads(pickle.dumps(acc)), acc.copy()):
        assert again == acc
        assert {g: str(r) for g, r in again.report(digits=8, zero_division=0).items()} == \
               {g: str(r) for g, r in acc.report(digits=8, zero_division=0).items()}
        assert str(again.overall().report(digits=9, zero_division=0)) == \
            str(acc.overall().report(digits=9, zero_division=0))
    empty = cs.GroupedMultilabelConfusionMatrix(2)
    assert cs.from_dict(json.loads(json.dumps(empty.to_dict()))).groups == []
    assert (empty + empty).groups == []
    bad = [dict(d, version=99), dict(d, kind="GroupedConfusionMatrix"), dict(d, num_labels=1),
           dict(d, counts=dict(d["counts"], tp=[[1]])), dict(d, groups={"columns": "x"}),
           dict(d, weights=dict(d["weights"], wsum=[-1.0] * len(d["weights"]["wsum"])))]
    for b in bad:
        with pytest.raises((ValueError, TypeError)):
            cs.GroupedMultilabelConfusionMatrix.from_dict(b)
    # a scalar threshold stays a scalar (float32 scores compare in float32)
    f = cs.GroupedMultilabelConfusionMatrix(2, threshold=0.1, groups=[True, False])
    s32 = np.array([[0.1, 0.2]], np.float32)  # float32(0.1) > 0.1 in float64, not in float32
    f.update([[0, 1]], s32, [True])
    again = cs.from_dict(json.loads(json.dumps(f.to_dict())))
    assert again.groups == [True, False] and again == f
    again.update([[0, 1]], s32, [True])
    assert again[True].counts[0].tolist() == [[2, 0], [0, 0]]
    with pytest.raises(ValueError, match="different thresholds"):
        f + cs.GroupedMultilabelConfusionMatrix(2, threshold=0.2)
    with pytest.raises(ValueError, match="different label spaces"):
        f + cs.GroupedMultilabelConfusionMatrix(3)
    with pytest.raises(ValueError, match="different group spaces"):
        f + cs.GroupedMultilabelConfusionMatrix(2, threshold=0.1, groups=[1, 2]).update(
            [[0, 1]], [[0, 1]], [2])
    df = acc.to_pandas(names=["region", "device"], zero_division=0)
    assert list(df.columns) == ["region", "device", "class", "precision", "recall",
                                "f1-score", "support"]
    assert set(df["class"]) == {"0", "1", "2", "micro avg", "macro avg", "weighted avg",
                                "samples avg"}
    assert len(df) == 7 * len(acc.groups) and isinstance(df, pd.DataFrame)


def test_big_batches_through_threads_and_sparse_input_equal_bincount():
    sp = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(4)
    n, L = 60_000, 5
    t = (rng.random((n, L)) < 0.3).astype(np.uint8)
    s = rng.random((n, L)).astype(np.float32)
    g = rng.integers(0, 40, n)
    acc = cs.GroupedMultilabelConfusionMatrix(L, threshold=0.6).update(t, s, g)
    pb = (s > np.float32(0.6)).astype(np.int64)
    ref = np.stack([np.bincount(g, weights=(t[:, j] & pb[:, j]), minlength=40)
                    for j in range(L)], axis=1)
    assert np.array_equal(acc.counts[:, :, 1, 1], ref)
    t2 = t.copy()
    t2[n - 3, 2] = 7
    with pytest.raises(ValueError, match=rf"y_true\[{n - 3}, 2\] = 7"):
        acc.update(t2, s, g)
    assert np.array_equal(acc.counts[:, :, 1, 1], ref)
    one = cs.GroupedMultilabelConfusionMatrix(L).update(sp.csr_matrix(t[:500]),
                                                        sp.csr_matrix(pb[:500]), g[:500])
    two = cs.GroupedMultilabelConfusionMatrix(L).update(t[:500], pb[:500], g[:500])
    assert one == two


@pytest.mark.parametrize("truth,scores", [(np.uint8, np.float64), (bool, np.float32)])
def test_vector_rows_with_groups_equal_sklearn_per_group(truth, scores):
    """Byte truth and float scores take the engine's vector rows with each row's group
    (``GK.ml_vec_chunk``): blocks of 4096 rows, rows wider than one vector, per-label
    thresholds, the batch's last rows counted apart. Each group's report is scikit-learn's on
    its rows; a bad value in a later block (truth, score, group) is found at its row and
    changes nothing."""
    rng = np.random.default_rng(21)
    n, L = 9_001, 37
    t = (rng.random((n, L)) < rng.random(L)).astype(truth)
    s = rng.random((n, L)).astype(scores)
    thr = rng.random(L).round(2).tolist()
    g = rng.integers(0, 7, n) * 10**9 - 7
    acc = cs.GroupedMultilabelConfusionMatrix(L, threshold=thr, groups=sorted(set(g.tolist())))
    acc.update(t[:5000], s[:5000], g[:5000]).update(t[5000:], s[5000:], g[5000:])
    ref_p = (s > np.asarray(thr)).astype(int)
    for k in acc.groups:
        m = g == k
        check_text(str(acc[k].report()), t[m].astype(int), ref_p[m], None, acc, {})
    before = acc.to_dict()
    row = 6_000
    bad_cases = []
    if truth is np.uint8:
        t2 = t.copy()
        t2[row, 20] = 2
        bad_cases.append(((t2, s, g), rf"y_true\[{row}, 20\] = 2"))
    s2 = s.copy()
    s2[row, 36] = np.inf
    bad_cases.append(((t, s2, g), rf"y_pred\[{row}, 36\] = inf"))
    g2 = g.copy()
    g2[row] = 5
    bad_cases.append(((t, s, g2), rf"groups\[{row}\] = 5 is not in the group space"))
    for args, msg in bad_cases:
        with pytest.raises(ValueError, match=msg):
            acc.update(*args)
        assert acc.to_dict() == before


def test_threads_lose_no_count_in_a_child_process():
    code = textwrap.dedent("""
        import numpy as np, confstream as cs
        from concurrent.futures import ThreadPoolExecutor
        rng = np.random.default_rng(1)
        L = 3
        batches = [(rng.integers(0, 2, (8000, L)), rng.integers(0, 2, (8000, L)),
                    rng.integers(0, 4 + i % 3, 8000),
                    rng.integers(1, 3, 8000).astype(float) if i % 4 == 0 else None)
                   for i in range(16)]
        acc = cs.GroupedMultilabelConfusionMatrix(L)
        other = cs.GroupedMultilabelConfusionMatrix(L)
        def work(b):
            acc.update(b[0], b[1], b[2], sample_weight=b[3])
            acc.report(zero_division=0); acc.to_dict(); acc.copy(); acc.overall(); acc + other
            other.update(b[0], b[1], b[2])
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(work, batches))
        t = np.concatenate([b[0] for b in batches]); p = np.concatenate([b[1] for b in batches])
        g = np.concatenate([b[2] for b in batches])
        w = np.concatenate([b[3] if b[3] is not None else np.ones(8000) for b in batches])
        ref = np.stack([np.bincount(g, weights=t[:, j] & p[:, j], minlength=6)
                        for j in range(L)], axis=1)
        for a in (acc, other):
            assert a.groups == list(range(6))
            assert np.array_equal(a.sample_counts, np.bincount(g, minlength=6)), "lost rows"
        assert np.array_equal(other.counts[:, :, 1, 1], ref), "lost counts (unweighted)"
        wref = np.stack([np.bincount(g, weights=(t[:, j] & p[:, j]) * w, minlength=6)
                         for j in range(L)], axis=1)
        assert np.allclose(acc.counts[:, :, 1, 1], wref), "lost counts (weighted)"
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr


def test_kernels_follow_the_jit_policy():
    from confstream import _group_kernels as GK

    for name in ("ml_first_bad", "ml_count_chunk", "ml_count_into"):
        assert getattr(GK, name).targetoptions.get("nogil") is True, name
        assert getattr(GK, name)._cache is not None, name


def test_multilabel_state_keeps_a_scalar_threshold_scalar():
    """A ``MultilabelConfusionMatrix`` read back from ``to_dict`` compares float32 scores in
    float32 as before (``to_dict`` used to write one threshold as a list of them, and the
    accumulator read back compared in float64 from then on)."""
    s32 = np.array([[0.1, 0.2]], np.float32)  # float32(0.1) > 0.1 in float64, not in float32
    a = cs.MultilabelConfusionMatrix(2, threshold=0.1).update([[0, 1]], s32)
    b = cs.from_dict(json.loads(json.dumps(a.to_dict())))
    for acc in (a, b):
        acc.update([[0, 1]], s32)
    assert a == b and b.counts[0].tolist() == [[2, 0], [0, 0]]
    per_label = cs.MultilabelConfusionMatrix(2, threshold=[0.1, 0.1]).update([[0, 1]], s32)
    assert per_label.to_dict()["threshold"] == [0.1, 0.1]
    assert per_label.counts[0].tolist() == [[0, 1], [0, 0]]  # compared in float64, as numpy


@pytest.mark.parametrize("weighted", [False, True])
def test_pickles_of_the_two_dict_state_still_load(weighted):
    """Before the state was declared (``_state.Field``) it lived in two dicts, ``_st`` (per
    group) and ``_ov`` (over all groups, once weighted): such pickles load as they were."""
    cls = cs.GroupedMultilabelConfusionMatrix
    acc = cls(3)
    acc.update([[1, 0, 1], [0, 1, 0], [1, 1, 0]], [[0.9, 0.2, 0.4], [0.1, 0.7, 0.6],
                                                   [0.8, 0.3, 0.1]], groups=["eu", "us", "us"],
               sample_weight=[2.0, 0.5, 1.0] if weighted else None)
    version, data = acc.__getstate__()
    held = [f for f in acc._FIELDS if data.get(f.attr) is not None]
    old = {k: v for k, v in data.items() if k not in {f.attr for f in acc._FIELDS}}
    old["_st"] = {f.key: data[f.attr] for f in held if f.head}
    old["_ov"] = {f.key[len("overall_"):]: data[f.attr] for f in held if not f.head}
    assert len(old["_st"]) == (15 if weighted else 8) and len(old["_ov"]) == 7 * weighted
    back = cls.__new__(cls)
    back.__setstate__((version, old))
    assert back.to_dict() == acc.to_dict()
    np.testing.assert_array_equal(back.counts, acc.counts)
    assert back.by_group("f1", of_class="samples", zero_division=0) == acc.by_group(
        "f1", of_class="samples", zero_division=0)
