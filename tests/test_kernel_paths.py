"""The fast counting paths against numpy / scikit-learn, each with its own edges.

The vector argmax (``_vec_argmax``: rows of up to 16 float32 / 8 float64 scores read as one
vector, the next row's scores in the spare lanes), the buffered identity-space path for integer
labels, and the prefetching cell counter: ties, signed zeros, extreme finite values, rows near
the end of the batch (read one score at a time), a NaN or infinity at any position, and the
thread split of big batches.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix

import confstream as cs
from confstream import _kernels as K

FLOATS = [np.float32, np.float64, np.float16]


def reference(t, s, n, ignore=None):
    keep = np.ones(len(t), bool) if ignore is None else (np.asarray(t) != ignore)
    return confusion_matrix(np.asarray(t)[keep], np.asarray(s)[keep].argmax(axis=1),
                            labels=range(n))


def tie_heavy_scores(rng, rows, cols, dtype):
    """Scores drawn from a few values, so that most rows hold ties, signed zeros and the
    extreme finite values of the dtype."""
    info = np.finfo(dtype)
    pool = np.array([0.0, -0.0, 0.5, -0.5, 1.0, info.max, info.min, info.tiny, -info.tiny],
                    dtype=dtype)
    return pool[rng.integers(0, len(pool), (rows, cols))]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cols=st.integers(2, 20), rows=st.integers(0, 300), dtype=st.sampled_from(FLOATS),
       ties=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_argmax_rows_match_numpy(cols, rows, dtype, ties, seed):
    rng = np.random.default_rng(seed)
    n = cols
    t = rng.integers(0, n, rows)
    s = (tie_heavy_scores(rng, rows, cols, dtype) if ties
         else rng.standard_normal((rows, cols)).astype(dtype))
    got = cs.ConfusionMatrix(num_classes=n).update(t, s).counts
    if rows:
        np.testing.assert_array_equal(got, reference(t, s, n))
    else:
        assert not got.any()


@settings(max_examples=40, deadline=None)
@given(cols=st.integers(2, 17), rows=st.integers(1, 200), dtype=st.sampled_from(FLOATS),
       bad=st.sampled_from([np.nan, np.inf, -np.inf]), seed=st.integers(0, 2**32 - 1))
def test_a_non_finite_score_anywhere_is_named_and_changes_nothing(cols, rows, dtype, bad,
                                                                   seed):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, cols, rows)
    s = rng.random((rows, cols)).astype(dtype)
    i, j = int(rng.integers(0, rows)), int(rng.integers(0, cols))
    s[i, j] = bad
    acc = cs.ConfusionMatrix(num_classes=cols).update([0], np.eye(cols, dtype=dtype)[:1])
    before = json.dumps(acc.to_dict())
    with pytest.raises(ValueError, match=rf"y_pred\[{i}, {j}\] = .* is not a finite score"):
        acc.update(t, s)
    assert json.dumps(acc.to_dict()) == before


def test_non_finite_values_of_the_next_row_do_not_leak_into_this_one():
    # Row 0 is read as 16 lanes: lanes 3.. hold rows 1.. Those are not this row's scores.
    s = np.zeros((8, 3), dtype=np.float32)
    s[0] = [0.1, 0.9, 0.2]
    s[1:] = np.finfo(np.float32).max
    acc = cs.ConfusionMatrix(num_classes=3).update(np.zeros(8, int), s)
    np.testing.assert_array_equal(acc.counts, reference(np.zeros(8, int), s, 3))
    s[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"y_pred\[2, 1\] = nan"):
        cs.ConfusionMatrix(num_classes=3).update(np.zeros(8, int), s)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_big_batches_split_across_threads(dtype):
    rng = np.random.default_rng(5)
    rows, cols = 3 * K.PARALLEL_MIN + 7, 10
    t = rng.integers(0, cols, rows)
    s = tie_heavy_scores(rng, rows, cols, dtype)
    got = cs.ConfusionMatrix(num_classes=cols).update(t, s).counts
    np.testing.assert_array_equal(got, reference(t, s, cols))
    s[-1, -1] = np.nan  # the very last score, read one at a time
    with pytest.raises(ValueError, match=rf"y_pred\[{rows - 1}, {cols - 1}\] = nan"):
        cs.ConfusionMatrix(num_classes=cols).update(t, s)


def test_ignore_index_and_a_label_space_with_scores():
    rng = np.random.default_rng(6)
    t = rng.integers(0, 5, 5000)
    t[::7] = 255
    s = rng.random((5000, 5)).astype(np.float32)
    got = cs.ConfusionMatrix(num_classes=5, ignore_index=255).update(t, s).counts
    np.testing.assert_array_equal(got, reference(t, s, 5, ignore=255))
    # labels other than 0..n-1: columns map to labels through a look-up
    acc = cs.ConfusionMatrix(labels=[10, 20, 30, 40, 50])
    t2 = np.array([10, 20, 30, 40, 50])[rng.integers(0, 5, 5000)]
    acc.update(t2, s)
    want = confusion_matrix(t2, np.array([10, 20, 30, 40, 50])[s.argmax(1)],
                            labels=[10, 20, 30, 40, 50])
    np.testing.assert_array_equal(acc.counts, want)


def test_strided_and_fortran_scores_take_the_general_path():
    rng = np.random.default_rng(7)
    base = rng.random((4000, 20)).astype(np.float32)
    t = rng.integers(0, 10, 4000)
    for s in (base[:, ::2], np.asfortranarray(base[:, :10])):
        got = cs.ConfusionMatrix(num_classes=10).update(t, s).counts
        np.testing.assert_array_equal(got, reference(t, s, 10))


def test_float32_scores_compile_one_argmax_chunk_whichever_path():
    # Rows the vector argmax reads (10 wide) and rows it does not (40 wide): the unused vector
    # is float32 too, so both share one compiled _chunk_argmax (a cold compile is seconds).
    from confstream._kernels import _single

    if not hasattr(_single._chunk_argmax, "signatures"):
        pytest.skip("NUMBA_DISABLE_JIT: no compiled signatures")
    rng = np.random.default_rng(3)
    for width in (10, 40):
        s = rng.random((3000, width)).astype(np.float32)
        t = rng.integers(0, width, 3000)
        got = cs.ConfusionMatrix(num_classes=width).update(t, s).counts
        np.testing.assert_array_equal(got, reference(t, s, width))
    # arguments (t, pred, space, keys, job, scan); pred[2] the scores, scan[1] the vector
    flats = {str(sig[5].types[1].dtype) for sig in _single._chunk_argmax.signatures
             if str(sig[1].types[2].dtype) == "float32"}
    assert flats == {"float32"}, flats


INTS = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from(INTS), n=st.integers(1, 40), size=st.integers(0, 20000),
       bad_at=st.one_of(st.none(), st.floats(0, 1)), which=st.sampled_from(["t", "p"]),
       seed=st.integers(0, 2**32 - 1))
def test_integer_labels_in_0_to_n(dtype, n, size, bad_at, which, seed):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, n, size).astype(dtype)
    p = rng.integers(0, n, size).astype(dtype)
    acc = cs.ConfusionMatrix(num_classes=n)
    if bad_at is None or size == 0:
        acc.update(t, p)
        want = np.bincount(t.astype(np.int64) * n + p.astype(np.int64), minlength=n * n)
        np.testing.assert_array_equal(acc.counts, want.reshape(n, n))
        return
    i = min(size - 1, int(bad_at * size))
    arr = t if which == "t" else p
    arr[i] = n if np.iinfo(dtype).max >= n else np.iinfo(dtype).max  # one past the space
    if arr[i] < n:
        return
    name = "y_true" if which == "t" else "y_pred"
    before = json.dumps(acc.to_dict())
    with pytest.raises(ValueError, match=rf"{name}\[{i}\] = {arr[i]} is not in the label space"):
        acc.update(t, p)
    assert json.dumps(acc.to_dict()) == before


@pytest.mark.parametrize("nsub", [1, 2, 4, 8])
def test_cell_counter_with_every_number_of_sub_tables(nsub):
    rng = np.random.default_rng(8)
    t = rng.integers(0, 7, 10_001)
    p = rng.integers(0, 7, 10_001)
    no = np.zeros(0, np.int64)
    table, pos, _ = K.count_table(t, K.pred_of(K.PRED_LABELS, p, K._NO2F, 0.0, no),
                                  K.space_of(no, 0, 7, 0, False), 1, nsub)
    assert pos == -1
    np.testing.assert_array_equal(table, confusion_matrix(t, p, labels=range(7)))


# Multi-label scores: ``_vec_ml`` reads W labels at a time (the last W of a row with a mask).

ML_TRUTH = [np.uint8, np.int8, np.bool_]


def ml_reference(t, s, thr):
    from sklearn.metrics import multilabel_confusion_matrix
    return multilabel_confusion_matrix(np.asarray(t, dtype=np.int64),
                                       (s > thr).astype(np.int64))


@settings(max_examples=30, deadline=None)
@given(L=st.integers(2, 40), rows=st.integers(1, 1500), tdt=st.sampled_from(ML_TRUTH),
       pdt=st.sampled_from([np.float32, np.float64]), per_label=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_multilabel_scores_match_sklearn(L, rows, tdt, pdt, per_label, seed):
    rng = np.random.default_rng(seed)
    t = (rng.random((rows, L)) < 0.3).astype(tdt)
    s = rng.random((rows, L)).astype(pdt)
    s[::3] = s[::3].round(1)  # scores equal to a threshold
    thr = rng.choice([0.1, 0.5, 0.7], L) if per_label else 0.5
    acc = cs.MultilabelConfusionMatrix(L, threshold=thr).update(t, s)
    # numpy compares float32 scores with a Python float in float32, with a float64 array
    # in float64: as confstream does
    np.testing.assert_array_equal(acc.counts, ml_reference(t, s, pdt(thr) if not per_label
                                                           else np.asarray(thr)))
    # the per-sample histograms, through the samples average
    from sklearn.metrics import classification_report
    pred = (s > (pdt(thr) if not per_label else np.asarray(thr))).astype(np.int64)
    ref = classification_report(t.astype(np.int64), pred, output_dict=True, zero_division=0)
    got = acc.report(zero_division=0).to_dict()["samples avg"]
    for key in ("precision", "recall", "f1-score"):
        assert got[key] == pytest.approx(ref["samples avg"][key], rel=1e-12, abs=1e-15)
    assert got["support"] == ref["samples avg"]["support"]


def test_float32_scores_against_float64_thresholds_compare_exactly():
    # 0.1 is not a float32: float32(0.1) > 0.1, so a score of float32(0.1) is above it
    f = np.float32(0.1)
    s = np.array([[f, np.nextafter(f, np.float32(0))]] * 3, dtype=np.float32)
    t = np.zeros((3, 2), np.uint8)
    for thr in ([0.1, 0.1], [float(f), float(f)], [0.3, 0.1]):
        acc = cs.MultilabelConfusionMatrix(2, threshold=thr).update(t, s)
        np.testing.assert_array_equal(acc.counts, ml_reference(t, s, np.asarray(thr)))


@settings(max_examples=40, deadline=None)
@given(L=st.integers(2, 40), rows=st.integers(1, 3000), tdt=st.sampled_from([np.uint8, np.int8]),
       what=st.sampled_from(["truth", "nan", "inf"]), where=st.floats(0, 1),
       seed=st.integers(0, 2**32 - 1))
def test_multilabel_bad_value_anywhere_is_named(L, rows, tdt, what, where, seed):
    rng = np.random.default_rng(seed)
    t = (rng.random((rows, L)) < 0.3).astype(tdt)
    s = rng.random((rows, L)).astype(np.float32)
    k = min(rows * L - 1, int(where * rows * L))
    i, j = divmod(k, L)
    if what == "truth":
        t[i, j] = 2 if tdt == np.uint8 else -1
        match = rf"y_true\[{i}, {j}\] = {t[i, j]}: multi-label indicators must be 0 or 1"
    else:
        s[i, j] = np.nan if what == "nan" else -np.inf
        match = rf"y_pred\[{i}, {j}\] = .* is not a finite score"
    acc = cs.MultilabelConfusionMatrix(L).update(np.zeros((1, L), np.uint8),
                                                 np.zeros((1, L), np.float32))
    before = json.dumps(acc.to_dict())
    with pytest.raises(ValueError, match=match):
        acc.update(t, s)
    assert json.dumps(acc.to_dict()) == before


def test_multilabel_big_batch_across_threads():
    rng = np.random.default_rng(9)
    rows, L = 4 * K.ML_PARALLEL_MIN + 3, 39
    t = (rng.random((rows, L)) < 0.2).astype(np.bool_)
    s = rng.random((rows, L)).astype(np.float32)
    acc = cs.MultilabelConfusionMatrix(L).update(t, s)
    np.testing.assert_array_equal(acc.counts, ml_reference(t, s, np.float32(0.5)))


# Binary scores and look-up label spaces: cells into the buffer, then the counter.


@settings(max_examples=40, deadline=None)
@given(size=st.integers(0, 20000), dtype=st.sampled_from([np.float32, np.float64]),
       thr=st.sampled_from([0.0, 0.25, 0.5]), ignore=st.booleans(),
       bad_at=st.one_of(st.none(), st.floats(0, 1)), seed=st.integers(0, 2**32 - 1))
def test_binary_scores(size, dtype, thr, ignore, bad_at, seed):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, size)
    s = rng.random(size).astype(dtype).round(2)  # scores equal to the threshold
    if ignore and size:
        t[rng.random(size) < 0.1] = 9
    acc = cs.ConfusionMatrix(num_classes=2, threshold=thr, ignore_index=9 if ignore else None)
    if bad_at is not None and size:
        i = min(size - 1, int(bad_at * size))
        s[i] = np.nan
        if not (ignore and t[i] == 9):
            with pytest.raises(ValueError, match=rf"y_pred\[{i}\] = nan"):
                acc.update(t, s)
            assert not acc.counts.any()
            return
    acc.update(t, s)
    keep = t != 9
    pred = (s[keep] > dtype(thr)).astype(np.int64)
    want = np.bincount(t[keep] * 2 + pred, minlength=4).reshape(2, 2)
    np.testing.assert_array_equal(acc.counts, want)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 20000), k=st.integers(1, 30), bad=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_labels_through_the_look_up_table(size, k, bad, seed):
    rng = np.random.default_rng(seed)
    labels = np.sort(rng.choice(np.arange(-50, 200), k, replace=False))
    t = labels[rng.integers(0, k, size)]
    p = labels[rng.integers(0, k, size)]
    acc = cs.ConfusionMatrix(labels=list(labels))
    if bad:
        i = int(rng.integers(0, size))
        p[i] = 1000
        with pytest.raises(ValueError, match=rf"y_pred\[{i}\] = 1000 is not in the label space"):
            acc.update(t, p)
        assert not acc.counts.any()
        return
    acc.update(t, p)
    a, b = np.searchsorted(labels, t), np.searchsorted(labels, p)
    np.testing.assert_array_equal(acc.counts, np.bincount(a * k + b, minlength=k * k)
                                  .reshape(k, k))


def test_cell_numbers_beyond_int32_use_an_int64_buffer(monkeypatch):
    # n * n >= 2**31 needs 16 GiB tables; lower the limit to take that path here
    monkeypatch.setattr(K._single, "_CELLS_MAX", 10)
    rng = np.random.default_rng(10)
    t = rng.integers(0, 5, 50_000)
    p = rng.integers(0, 5, 50_000)
    s = rng.random((50_000, 5)).astype(np.float32)
    s2 = rng.random(50_000).astype(np.float32)
    assert (cs.ConfusionMatrix(num_classes=5).update(t, p).counts
            == confusion_matrix(t, p, labels=range(5))).all()
    assert (cs.ConfusionMatrix(num_classes=5).update(t, s).counts == reference(t, s, 5)).all()
    t2 = t % 2
    want = np.bincount(t2 * 2 + (s2 > 0.5), minlength=4).reshape(2, 2)
    assert (cs.ConfusionMatrix(num_classes=2).update(t2, s2).counts == want).all()


# Regressions from an adversarial review of these paths.


@pytest.mark.parametrize("cols", [2, 10, 17])  # 17: the row-by-row kernel
@pytest.mark.parametrize("rows", [8, 5000, 4096 + 1])
def test_a_nan_in_an_ignored_row_is_not_an_error_and_drops_nothing(cols, rows):
    rng = np.random.default_rng(11)
    t = rng.integers(0, cols, rows)
    s = rng.random((rows, cols)).astype(np.float32)
    t[2] = 255
    s[2, 0] = np.nan
    t[rows - 1] = 255  # the last row: read one score at a time
    s[rows - 1, cols - 1] = np.inf
    acc = cs.ConfusionMatrix(num_classes=cols, ignore_index=255).update(t, s)
    np.testing.assert_array_equal(acc.counts, reference(t, s, cols, ignore=255))
    # and a bad label after such a block is still refused
    t[rows - 2] = cols
    with pytest.raises(ValueError, match=rf"y_true\[{rows - 2}\] = {cols} is not in the label"):
        cs.ConfusionMatrix(num_classes=cols, ignore_index=255).update(t, s)


def test_float16_scores_compare_with_the_threshold_in_float16():
    s = np.full((1, 2), 0.3, np.float16)  # float16(0.3) = 0.30004883 > 0.3, but not in float16
    acc = cs.MultilabelConfusionMatrix(2, threshold=0.3).update(np.zeros((1, 2), np.uint8), s)
    np.testing.assert_array_equal(acc.counts, ml_reference(np.zeros((1, 2)), s, 0.3))
    b = cs.ConfusionMatrix(num_classes=2, threshold=0.3).update([0], s[:, 0])
    want = np.bincount((s[:, 0] > 0.3).astype(np.int64), minlength=4).reshape(2, 2)
    np.testing.assert_array_equal(b.counts, want)


def test_ignore_index_beyond_int64_is_refused():
    with pytest.raises(ValueError, match="ignore_index must fit in int64"):
        cs.ConfusionMatrix(num_classes=3, ignore_index=2**63)


@pytest.mark.parametrize("dtype,labels", [(np.uint8, [3, 7, 200]), (np.int8, [-100, -1, 5])])
def test_byte_labels_through_a_look_up_table_use_the_pair_histogram(dtype, labels):
    rng = np.random.default_rng(12)
    size = K.PAIRS_MIN + 5
    lab = np.array(labels, dtype=dtype)
    t = lab[rng.integers(0, 3, size)]
    p = lab[rng.integers(0, 3, size)]
    t[::9] = 50  # ignored
    acc = cs.ConfusionMatrix(labels=labels, ignore_index=50).update(t, p)
    keep = t != 50
    a = np.searchsorted(np.sort(lab), t[keep])
    b = np.searchsorted(np.sort(lab), p[keep])
    order = np.argsort(np.argsort(lab))  # label index of each sorted position
    want = np.bincount(order[a] * 3 + order[b], minlength=9).reshape(3, 3)
    np.testing.assert_array_equal(acc.counts, want)
    p[size - 2] = 51
    with pytest.raises(ValueError, match=rf"y_pred\[{size - 2}\] = 51 is not in the label"):
        cs.ConfusionMatrix(labels=labels, ignore_index=50).update(t, p)


@pytest.mark.parametrize("labels", [list(range(300)), [1000, 2000], list(range(-128, 128))])
def test_byte_labels_in_spaces_wider_or_outside_the_bytes(labels):
    """The byte cells hold the space's byte values only: a space with all 256 of them (and
    more), or none (every sample ignored or refused), against scikit-learn."""
    rng = np.random.default_rng(14)
    size = K.PAIRS_MIN + 3
    signed = min(labels) < 0
    dtype = np.int8 if signed else np.uint8
    if labels == [1000, 2000]:
        t = np.full(size, 7, dtype)
        p = rng.integers(0, 256, size).astype(dtype)
        acc = cs.ConfusionMatrix(labels=labels, ignore_index=7).update(t, p)
        np.testing.assert_array_equal(acc.counts, np.zeros((2, 2), np.int64))
        t[size - 4] = 8
        with pytest.raises(ValueError, match=rf"y_true\[{size - 4}\] = 8 is not in"):
            acc.update(t, p)
        np.testing.assert_array_equal(acc.counts, np.zeros((2, 2), np.int64))
        return
    lo, hi = (-128, 128) if signed else (0, 256)
    t = rng.integers(lo, hi, size).astype(dtype)
    p = np.where(rng.random(size) < 0.5, t, rng.integers(lo, hi, size)).astype(dtype)
    acc = cs.ConfusionMatrix(labels=labels, ignore_index=5).update(t, p)
    keep = t != 5
    want = confusion_matrix(t[keep].astype(np.int64), p[keep].astype(np.int64), labels=labels)
    np.testing.assert_array_equal(acc.counts, want)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.bool_])
def test_byte_labels_in_the_identity_space_use_the_pair_histogram(dtype):
    """Masks (0..n-1 bytes, ignore_index) take the pair histogram from PAIRS_MIN samples on:
    counts as scikit-learn's; a value outside the space (255 for uint8, -1 for int8) is found
    at its position; an ignored one is not counted."""
    rng = np.random.default_rng(13)
    size = K.PAIRS_MIN + 7
    n = 2 if dtype == np.bool_ else 21
    t = rng.integers(0, n, size).astype(dtype)
    p = np.where(rng.random(size) < 0.8, t, rng.integers(0, n, size)).astype(dtype)
    ign = None if dtype == np.bool_ else 7
    acc = cs.ConfusionMatrix(num_classes=n, ignore_index=ign).update(t, p)
    keep = np.ones(size, bool) if ign is None else t != ign
    want = confusion_matrix(t[keep].astype(np.int64), p[keep].astype(np.int64),
                            labels=range(n))
    np.testing.assert_array_equal(acc.counts, want)
    if dtype == np.bool_:
        return
    bad = -1 if dtype == np.int8 else 255
    p[size - 3] = bad
    before = acc.to_dict()
    with pytest.raises(ValueError, match=rf"y_pred\[{size - 3}\] = {bad} is not in"):
        acc.update(t, p)
    assert acc.to_dict() == before
    t[size - 3] = ign  # an ignored sample's prediction is not read
    acc.update(t, p)
    keep = t != ign
    want2 = want + confusion_matrix(t[keep].astype(np.int64), p[keep].astype(np.int64),
                                    labels=range(n))
    np.testing.assert_array_equal(acc.counts, want2)


# The key axis of the chunk kernels (``keys``): cell = key index · n² + true · n + pred, in
# every prediction form and label-space kind; the first bad sample, a key or a value, wins.

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.sampled_from(["labels", "lut", "binary", "argmax"]),
       st.integers(1, 9000), st.booleans(), st.booleans(), st.integers(-1, 8999),
       st.integers(-1, 8999))
def test_the_key_axis_counts_as_numpy_per_key(seed, form, size, key_lut, ignore, bad_key,
                                              bad_value):
    rng = np.random.default_rng(seed)
    n, ng = 4, 5
    t = rng.integers(0, n, size)
    g = rng.integers(0, ng, size)
    if form == "lut":  # labels 10, 11, ... through the space's look-up table
        lut, lo = np.arange(n, dtype=np.int64), 10
        t_in, p = t + 10, rng.integers(0, n, size) + 10
        pidx = p - 10
    else:
        lut, lo = np.zeros(0, np.int64), 0
        t_in = t
    if form == "labels":
        p = pidx = rng.integers(0, n, size)
    elif form == "binary":
        n = 2
        t = t_in = rng.integers(0, 2, size)
        s = rng.random(size)
        pidx = (s > 0.5).astype(np.int64)
    elif form == "argmax":
        s2 = rng.random((size, n)).astype(np.float32)
        pidx = s2.argmax(axis=1)
    if key_lut:  # keys 100, 101, ... through a look-up table
        glut, glo, g_in = np.arange(ng, dtype=np.int64), 100, g + 100
    else:
        glut, glo, g_in = np.zeros(0, np.int64), 0, g.copy()
    ign = int(t_in[0]) if ignore else 0
    want_bad = {}  # position: code
    if 0 <= bad_value < size and form in ("binary", "argmax"):
        if form == "binary":
            s[bad_value] = np.nan
        else:
            s2[bad_value, rng.integers(0, n)] = np.inf
        if not (ignore and t_in[bad_value] == ign):  # a NaN in an ignored row is no error
            want_bad[bad_value] = K.ERR_SCORE
    if 0 <= bad_key < size:  # keys are checked first, ignored samples' too
        g_in[bad_key] = 10**6
        want_bad[bad_key] = K.ERR_GROUP
    keys = (g_in, glut, glo, ng, True)
    colmap = np.arange(n, dtype=np.int64)
    space = K.space_of(lut, lo, n, ign, ignore)
    if form in ("labels", "lut"):
        pred = K.pred_of(K.PRED_LABELS, p, K._NO2F, 0.0, K.NO_COLS)
    elif form == "binary":
        pred = K.pred_of(K.PRED_BINARY, s, K._NO2F, 0.5, colmap)
    else:
        pred = K.pred_of(K.PRED_ARGMAX, s2[:, 0], s2, 0.0, colmap)
    got = K.count_table(t_in, pred, space, 1, keys=keys)
    table, pos, code = got
    if want_bad:
        first = min(want_bad)
        assert table is None and (pos, code) == (first, want_bad[first]), (got[1:], want_bad)
        return
    keep = (t_in != ign) if ignore else np.ones(size, bool)
    ref = np.bincount(g[keep] * n * n + t[keep] * n + pidx[keep],
                      minlength=ng * n * n).reshape(ng, n, n)
    assert pos == -1
    np.testing.assert_array_equal(table, ref)


@pytest.mark.parametrize("offset", [0, 3])
def test_byte_pairs_count_runs_a_word_at_a_time(offset):
    """Masks repeat one (truth, prediction) pair for long runs: eight samples of one pair (a
    word of each array) add 8 at once. Runs of random lengths, a start off the words'
    alignment, ignored values and a bad value inside a run, against scikit-learn."""
    rng = np.random.default_rng(31)
    lengths = rng.integers(1, 40, K.PAIRS_MIN // 8)
    size = int(lengths.sum())
    t = np.repeat(rng.integers(0, 9, lengths.shape[0]), lengths).astype(np.uint8)
    p = np.repeat(rng.integers(0, 9, lengths.shape[0]), lengths).astype(np.uint8)
    p[rng.random(size) < 0.01] = 4
    t[rng.random(size) < 0.01] = 255
    buf_t = np.zeros(size + offset, np.uint8)
    buf_p = np.zeros(size + offset, np.uint8)
    buf_t[offset:], buf_p[offset:] = t, p
    t, p = buf_t[offset:], buf_p[offset:]  # views that start off the alignment of words
    assert size >= K.PAIRS_MIN
    acc = cs.ConfusionMatrix(num_classes=9, ignore_index=255).update(t, p)
    keep = t != 255
    want = confusion_matrix(t[keep], p[keep], labels=range(9))
    np.testing.assert_array_equal(acc.counts, want)
    start = int(np.flatnonzero(np.repeat(lengths, lengths) >= 24)[0])  # inside a long run
    bad = start + 13
    p2 = p.copy()
    p2[bad] = 9
    t2 = t.copy()
    t2[bad] = 0  # not ignored
    with pytest.raises(ValueError, match=rf"y_pred\[{bad}\] = 9 is not in"):
        acc.update(t2, p2)
    np.testing.assert_array_equal(acc.counts, want)


_PAIRS_THREADS = r"""
import sys, threading
import numpy as np
from sklearn.metrics import confusion_matrix
import confstream as cs
from confstream import _kernels as K

size, n = K.PAIRS_MIN + 11, 21
rng = np.random.default_rng(int(sys.argv[1]))
batches = []
for k in range(6):
    t = rng.integers(0, n, size).astype(np.uint8)
    p = np.where(rng.random(size) < 0.7, t, rng.integers(0, n, size)).astype(np.uint8)
    t[rng.random(size) < 0.05] = 255
    batches.append((t, p))
want = [confusion_matrix(t[t != 255], p[t != 255], labels=range(n)) for t, p in batches]
shared = cs.ConfusionMatrix(num_classes=n, ignore_index=255)
own = [cs.ConfusionMatrix(num_classes=n, ignore_index=255) for _ in batches]
bad = []
def work(k):
    t, p = batches[k]
    for _ in range(3):
        own[k].update(t, p)
        shared.update(t, p)
    tb = t.copy()
    tb[size - 1] = 99  # refused: the thread's scratch must still be left zero
    try:
        own[k].update(tb, p)
        bad.append(k)
    except ValueError:
        pass
threads = [threading.Thread(target=work, args=(k,)) for k in range(len(batches))]
for th in threads:
    th.start()
for th in threads:
    th.join()
assert not bad, bad
for k in range(len(batches)):
    np.testing.assert_array_equal(own[k].counts, 3 * want[k])
np.testing.assert_array_equal(shared.counts, 3 * sum(want))
print("ok")
"""


def test_byte_pairs_from_several_threads_at_once():
    """The pair histogram's sub-tables are each thread's scratch, kept zero between batches:
    six threads counting masks at once (own and shared accumulators, a refused batch among
    them) give scikit-learn's counts. In a child process, so that a crash fails the test."""
    proc = subprocess.run([sys.executable, "-c", _PAIRS_THREADS, "5"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
