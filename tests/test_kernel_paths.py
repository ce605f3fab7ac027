"""The fast counting paths against numpy / scikit-learn, each with its own edges.

The vector argmax (``_vec_argmax``: rows of up to 16 float32 / 8 float64 scores read as one
vector, the next row's scores in the spare lanes), the buffered identity-space path for integer
labels, and the prefetching cell counter: ties, signed zeros, extreme finite values, rows near
the end of the batch (read one score at a time), a NaN or infinity at any position, and the
thread split of big batches.
"""

from __future__ import annotations

import json

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
    table, pos, _ = K.count_table(t, K.PRED_LABELS, p, K._NO2F, 0.0, no, no, 0, 7, 0, False,
                                  1, nsub)
    assert pos == -1
    np.testing.assert_array_equal(table, confusion_matrix(t, p, labels=range(7)))
