"""The count engine's contracts: exact integer weights, weights that stay with their samples,
all-or-nothing commits, byte orders, and concurrency (update racing reset / merge / copy /
pickle / read), each checked against scikit-learn or an invariant that a misplaced count breaks.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import (classification_report, confusion_matrix, jaccard_score,
                             multilabel_confusion_matrix)

import confstream as cs
from _reference import cuts, split

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- integer weights: exact int64 counts, as scikit-learn's confusion_matrix ------------------

@given(st.data())
@SETTINGS
def test_integer_weights_are_exact_int64_counts(data):
    n = data.draw(st.integers(1, 40))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    t, p = rng.integers(0, 3, n), rng.integers(0, 3, n)
    dtype = data.draw(st.sampled_from([np.int64, np.int32, np.uint8, np.uint64, np.bool_]))
    big = 2**53 if dtype in (np.int64, np.uint64) else 0
    w = (rng.integers(0, 3, n) + big * rng.integers(0, 2, n)).astype(dtype)
    w[0] = 1  # all-zero weights are refused alike (tested with the errors)
    acc = cs.ConfusionMatrix(num_classes=3)
    for a, b in split(n, data.draw(cuts(n))):
        acc.update(t[a:b], p[a:b], sample_weight=w[a:b])
    ref = confusion_matrix(t, p, labels=[0, 1, 2], sample_weight=w)
    assert ref.dtype == np.int64 and acc.counts.dtype == np.int64
    np.testing.assert_array_equal(acc.counts, ref)
    np.testing.assert_array_equal(acc.confusion_matrix(labels=[0, 1, 2]), ref)
    # the report keeps scikit-learn's float sums
    assert str(acc.report(labels=[0, 1, 2], zero_division=0)) == classification_report(
        t, p, labels=[0, 1, 2], sample_weight=w, zero_division=0)
    # and the state keeps them through JSON and merging
    again = cs.from_dict(acc.to_dict())
    np.testing.assert_array_equal(again.counts, ref)
    half = n // 2
    left = cs.ConfusionMatrix(num_classes=3).update(t[:half], p[:half], sample_weight=w[:half])
    right = cs.ConfusionMatrix(num_classes=3).update(t[half:], p[half:], sample_weight=w[half:])
    np.testing.assert_array_equal((left + right).counts, ref)


def test_a_float_weight_makes_the_counts_float_as_scikit_learn():
    acc = cs.ConfusionMatrix(num_classes=2).update([0, 1], [0, 1], sample_weight=np.array([3, 4]))
    assert acc.counts.dtype == np.int64
    acc.update([1], [1], sample_weight=[0.5])
    assert acc.counts.dtype == np.float64
    np.testing.assert_array_equal(acc.counts, [[3.0, 0.0], [0.0, 4.5]])
    # unweighted batches weigh 1, and integer sums stay integers
    acc = cs.ConfusionMatrix(num_classes=2).update([0], [0], sample_weight=np.array([2**53]))
    acc.update([0], [0])
    assert acc.counts[0, 0] == 2**53 + 1


@pytest.mark.parametrize("dynamic", [False, True])
def test_integer_overflow_is_refused_and_changes_nothing(dynamic):
    top = np.iinfo(np.int64).max
    acc = cs.ConfusionMatrix() if dynamic else cs.ConfusionMatrix(num_classes=3)
    acc.update([0, 1], [0, 1], sample_weight=np.array([top - 1, 5]))
    before = acc.to_dict()
    with pytest.raises(OverflowError, match=r"sample_weight\[1\] = 2: .*cell \(0, 0\)"):
        acc.update([2, 0], [2, 0], sample_weight=np.array([1, 2]))
    assert acc.to_dict() == before
    other = cs.ConfusionMatrix() if dynamic else cs.ConfusionMatrix(num_classes=3)
    other.update([0], [0], sample_weight=np.array([9]))
    with pytest.raises(OverflowError, match=r"at \(0, 0\)"):
        acc += other
    assert acc.to_dict() == before
    with pytest.raises(ValueError, match=r"sample_weight\[1\] = 18446744073709551615"):
        acc.update([0, 0], [0, 0], sample_weight=np.array([1, 2**64 - 1], dtype=np.uint64))
    assert acc.to_dict() == before
    # the first weighted batch of an unweighted state, refused: still unweighted
    fresh = cs.ConfusionMatrix(num_classes=3).update([1], [1])
    fresh.update([0], [0], sample_weight=np.array([top]))
    with pytest.raises(OverflowError):
        fresh.update([0], [0], sample_weight=np.array([top]))
    assert fresh.counts[0, 0] == top


# -- weights stay with their samples when ignore_index meets a mapped label space -------------

SPACES = {
    "fixed": dict(num_classes=3),
    "fixed-sparse": dict(labels=[0, 1, 1 << 30]),
    "fixed-lut": dict(labels=[7, -3, 12]),
    "dynamic": dict(),
}


@given(st.data())
@SETTINGS
def test_ignore_index_with_weights_in_every_space(data):
    kind = data.draw(st.sampled_from(sorted(SPACES)))
    values = {"fixed": [0, 1, 2], "fixed-sparse": [0, 1, 1 << 30], "fixed-lut": [7, -3, 12],
              "dynamic": [0, 1 << 30, -5]}[kind]
    n = data.draw(st.integers(1, 50))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    ign = -1
    t = np.array(values)[rng.integers(0, 3, n)]
    t[rng.random(n) < 0.3] = ign
    p = np.array(values)[rng.integers(0, 3, n)]
    weighted = data.draw(st.sampled_from(["float", "int", None]))
    w = None if weighted is None else (rng.random(n) if weighted == "float"
                                       else rng.integers(0, 5, n))
    acc = cs.ConfusionMatrix(**SPACES[kind], ignore_index=ign)
    for a, b in split(n, data.draw(cuts(n))):
        acc.update(t[a:b], p[a:b], sample_weight=None if w is None else w[a:b])
    keep = t != ign
    if not keep.any():
        assert acc.sample_counts.sum() == 0
        return
    labels = sorted(values)
    if w is not None and not w[keep].any():
        with pytest.raises(ValueError, match="Sample weights must contain at least one non-zero"):
            confusion_matrix(t[keep], p[keep], labels=labels, sample_weight=w[keep])
        with pytest.raises(ValueError, match="Sample weights must contain at least one non-zero"):
            acc.confusion_matrix(labels=labels)
        return
    ref = confusion_matrix(t[keep], p[keep], labels=labels,
                           sample_weight=None if w is None else w[keep])
    got = acc.confusion_matrix(labels=labels)
    if weighted == "float":
        np.testing.assert_allclose(got, ref, rtol=1e-12)
    else:
        np.testing.assert_array_equal(got, ref)


def test_ignored_weights_do_not_shift_the_others():
    """The case of the issue: a sparse space, one ignored sample, float weights."""
    acc = cs.ConfusionMatrix(labels=[0, 1, 1 << 30], ignore_index=-1)
    acc.update([-1, 0, 1], [0, 0, 1], sample_weight=[5.0, 1.0, 2.0])
    np.testing.assert_array_equal(acc.counts, [[1, 0, 0], [0, 2, 0], [0, 0, 0]])
    # a bad prediction at an ignored place is no error, there either
    acc.update([-1, 0], [99, 0])
    assert acc.sample_counts.sum() == 3


@given(st.data())
@SETTINGS
def test_a_dynamic_space_grows_by_counted_samples_only(data):
    """Labels of samples that ignore_index skips (their predictions too) are not added: the
    report's labels are scikit-learn's on the counted rows; a bad label is named at its
    place in the batch, not in the counted rows."""
    n = data.draw(st.integers(1, 40))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    t = rng.integers(0, 4, n).astype(np.float64)
    p = rng.integers(0, 7, n).astype(np.float64)
    t[rng.random(n) < 0.4] = -100
    bad = data.draw(st.sampled_from([None, "y_true", "y_pred"]))
    keep = t != -100
    if bad and keep.any():
        i = int(rng.choice(np.flatnonzero(keep)))
        (t if bad == "y_true" else p)[i] = 2.5
    acc = cs.ConfusionMatrix(ignore_index=-100)
    if bad and keep.any():
        with pytest.raises(ValueError, match=rf"^{bad}\[{i}\] = 2.5 is not a class label"):
            acc.update(t, p)
        assert acc.labels == [] and acc.sample_counts.sum() == 0
        return
    acc.update(t, p)
    if not keep.any():
        assert acc.labels == []
        return
    assert sorted(acc.labels) == sorted(set(t[keep].astype(int)) | set(p[keep].astype(int)))
    assert str(acc.report(zero_division=0)) == classification_report(t[keep], p[keep],
                                                                 zero_division=0)


# -- scikit-learn's refusals ---------------------------------------------------------------

@pytest.mark.parametrize("t, p", [([0, 1, 2], [0, 1, 1]), ([0, 1, 1], [0, 1, 0]),
                                  (["a", "b"], ["a", "b"]), ([0, 0], [0, 0]),
                                  ([0, 2], [2, 2])])
def test_jaccard_binary_as_scikit_learn(t, p):
    acc = cs.ConfusionMatrix().update(t, p)
    try:
        with pytest.warns() if t == [0, 0] else _nothing():
            ref = jaccard_score(t, p, average="binary")
    except ValueError as exc:
        with pytest.raises(ValueError) as info:
            acc.jaccard(average="binary")
        assert str(info.value) == str(exc)
        return
    with pytest.warns() if t == [0, 0] else _nothing():
        assert acc.jaccard(average="binary") == ref


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# -- byte orders ------------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"])
@pytest.mark.parametrize("order", ["<", ">"])
def test_every_dtype_in_either_byte_order(code, order):
    rng = np.random.default_rng(3)
    t = rng.integers(0, 3, 64)
    p = rng.integers(0, 3, 64)
    dt = np.dtype(order + code)
    acc = cs.ConfusionMatrix(num_classes=3).update(t.astype(dt), p.astype(dt))
    np.testing.assert_array_equal(acc.counts, confusion_matrix(t, p, labels=[0, 1, 2]))
    if code[0] == "f":  # scores: argmax rows and binary scores
        s = rng.normal(size=(64, 3)).astype(dt)
        acc = cs.ConfusionMatrix(num_classes=3).update(t, s)
        np.testing.assert_array_equal(acc.counts, confusion_matrix(
            t, s.astype(np.float64).argmax(1), labels=[0, 1, 2]))
        b = rng.random(64).astype(dt)
        tb = t % 2
        acc = cs.ConfusionMatrix(num_classes=2).update(tb, b)
        np.testing.assert_array_equal(acc.counts, confusion_matrix(
            tb, (b > b.dtype.type(0.5)).astype(int), labels=[0, 1]))
        truth = (rng.random((64, 3)) < 0.5).astype(int)
        ml = cs.MultilabelConfusionMatrix(3).update(truth, s)
        np.testing.assert_array_equal(ml.counts, multilabel_confusion_matrix(
            truth, (s > s.dtype.type(0.5)).astype(int)))


# -- concurrency: one accumulator shared by four threads, in a child process -------------------

STRESS = textwrap.dedent("""
    import pickle, sys, threading, time
    import numpy as np
    import confstream as cs

    kind, weights = sys.argv[1], sys.argv[2]
    make = {
        "fixed": lambda: cs.ConfusionMatrix(num_classes=40),
        "dynamic": lambda: cs.ConfusionMatrix(),
        "sparse": lambda: cs.ConfusionMatrix(ignore_index=-1),
        "strings": lambda: cs.ConfusionMatrix(),
        "multilabel": lambda: cs.MultilabelConfusionMatrix(7),
    }[kind]
    acc = make()
    errors = []

    def batch(r):
        n = int(r.integers(1, 3000))
        if kind == "multilabel":
            t = r.integers(0, 2, (n, 7))
            return t, t.astype(np.float64) * 0.8 + 0.1  # predictions == truth
        hi = int(r.integers(2, 40))
        t = r.integers(0, hi, n)
        if kind == "sparse":
            t = t * (1 << 28) - (r.random(n) < 0.1)  # spread out; some ignored (-1)
            t[t < -1] = -1
        if kind == "strings":
            t = np.array(["c%d" % v for v in t])
        return t, t.copy()  # predictions == truth: any count off the diagonal is misplaced

    def weights_of(r, n):
        if weights == "none":
            return None
        return r.integers(1, 4, n) if weights == "int" else r.random(n)

    def guard(fn):
        def run(seed):
            r = np.random.default_rng(seed)
            try:
                while time.time() < stop:
                    fn(r)
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))
        return run

    @guard
    def updater(r):
        t, p = batch(r)
        acc.update(t, p, sample_weight=weights_of(r, len(t)))

    @guard
    def resetter(r):
        time.sleep(0.002)
        acc.reset()

    @guard
    def merger(r):
        other = make()
        t, p = batch(r)
        other.update(t, p, sample_weight=weights_of(r, len(t)))
        acc.__iadd__(other)
        acc.copy()

    @guard
    def reader(r):
        check(pickle.loads(pickle.dumps(acc)))
        check(cs.from_dict(acc.to_dict()))
        repr(acc)

    def check(a):
        c = np.asarray(a.counts, dtype=np.float64)
        if kind == "multilabel":
            off = c[:, 0, 1].sum() + c[:, 1, 0].sum()
        else:
            off = c[~np.eye(c.shape[0], dtype=bool)].sum() if c.size else 0
        if off:
            raise AssertionError("a count off the diagonal: %r" % (c,))

    # Compile first (a cold numba cache takes seconds), on an accumulator of its own: the
    # threads' whole time is then shared work.
    warm = np.random.default_rng(99)
    first = make()
    for _ in range(2):
        t, p = batch(warm)
        first.update(t, p, sample_weight=weights_of(warm, len(t)))
    first += first.copy()
    check(pickle.loads(pickle.dumps(first)))
    check(cs.from_dict(first.to_dict()))
    stop = time.time() + float(sys.argv[3])
    threads = [threading.Thread(target=f, args=(i,))
               for i, f in enumerate([updater, updater, resetter, merger, reader])]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    check(acc)
    if errors:
        print("\\n".join(sorted(set(errors))))
        sys.exit(3)
    print("ok", repr(acc))
""")


@pytest.mark.parametrize("kind, weights", [
    ("fixed", "float"), ("dynamic", "float"), ("dynamic", "none"), ("dynamic", "int"),
    ("sparse", "float"), ("strings", "int"), ("multilabel", "float"), ("multilabel", "none"),
])
def test_four_threads_share_one_accumulator(kind, weights):
    proc = subprocess.run([sys.executable, "-c", STRESS, kind, weights, "1.0"],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert proc.stdout.startswith("ok")


@pytest.mark.parametrize("t, p", [([-0.0, 1.0], [-0.0, 1.0]), ([0.0, 1.0], [-0.0, 1.0]),
                                  ([1.0, 1.0], [-0.0, 1.0]), ([-0.0, 2.0], [1.0, 2.0]),
                                  ([2.0, -0.0, 1.0], [1.0, 2.0, -0.0])])
def test_negative_zero_labels_print_as_scikit_learn(t, p):
    t, p = np.array(t), np.array(p)
    acc = cs.ConfusionMatrix()
    for i in range(len(t)):  # one sample a batch: the sign is kept across batches
        acc.update(t[i:i + 1], p[i:i + 1])
    acc = cs.from_dict(acc.to_dict())
    assert str(acc.report(zero_division=0)) == classification_report(t, p, zero_division=0)
