"""``confstream.adapters.generators.evaluate`` against scikit-learn on the same predictions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import classification_report

import confstream as cs
from _reference import cuts, same, split
from confstream.adapters.generators import evaluate

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_report(acc, y_true, y_pred, w=None):
    kw = {"sample_weight": w, "zero_division": 0}
    rep = acc.report(zero_division=0)
    assert str(rep) == classification_report(y_true, y_pred, **kw)
    assert same(rep.to_dict(), classification_report(y_true, y_pred, output_dict=True, **kw),
                approx_keys=("samples avg",))


def batches(parts, *arrays):
    """A generator, as a stream would be: read once, never concatenated."""
    for a, b in parts:
        yield tuple(x[a:b] for x in arrays)


@pytest.fixture(scope="module")
def iris_like():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = np.array(["ant", "bee", "cat"])[(X[:, 0] + rng.normal(size=300) > 0).astype(int)
                                       + (X[:, 1] > 0.8)]
    clf = LogisticRegression(max_iter=200).fit(X, y)
    return X, y, clf


def test_sklearn_estimator_predict(iris_like):
    X, y, clf = iris_like
    acc = evaluate(clf.predict, batches(split(300, [64, 128, 192, 256]), X, y))
    assert not acc.fixed
    assert_report(acc, y, clf.predict(X))


def test_predict_proba_with_labels(iris_like):
    X, y, clf = iris_like
    acc = evaluate(clf.predict_proba, batches(split(300, [100, 100, 250]), X, y),
                   labels=clf.classes_.tolist())
    assert_report(acc, y, clf.classes_[clf.predict_proba(X).argmax(axis=1)])


@given(data=st.data(), weighted=st.booleans(), form=st.sampled_from(["labels", "scores", "binary"]))
@SETTINGS
def test_any_split_equals_sklearn(data, weighted, form):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n = data.draw(st.integers(1, 80))
    X = rng.normal(size=(n, 3))
    W = rng.normal(size=(3, 3))
    if form == "binary":
        y = rng.integers(0, 2, n)

        def predict(x):
            return 1 / (1 + np.exp(-x[:, 0]))  # sigmoid scores, thresholded at 0.5

        ref, kw = (predict(X) > 0.5).astype(int), {"num_classes": 2}
    elif form == "scores":
        y = rng.integers(0, 3, n)

        def predict(x):
            return x @ W

        ref, kw = (X @ W).argmax(axis=1), {"num_classes": 3}
    else:
        y = rng.integers(-2, 3, n)

        def predict(x):
            return (x[:, 0] > 0).astype(int) * 2 - (x[:, 1] > 1)

        ref, kw = predict(X), {}
    w = rng.random(n) if weighted else None
    arrays = (X, y) if w is None else (X, y, w)
    acc = evaluate(predict, batches(split(n, data.draw(cuts(n))), *arrays), **kw)
    assert_report(acc, y, ref, w)


def test_multilabel_width_from_the_first_prediction():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 4))
    Y = (X[:, :3] + rng.normal(size=(90, 3)) > 0).astype(int)

    def predict(x):
        return x[:, :3] + 0.1

    acc = evaluate(predict, batches(split(90, [30, 60]), X, Y), multilabel=True, threshold=0.2)
    assert isinstance(acc, cs.MultilabelConfusionMatrix) and acc.num_labels == 3
    assert_report(acc, Y, (predict(X) > 0.2).astype(int))
    acc = evaluate(predict, batches(split(90, [30]), X, Y), multilabel=True, num_classes=3,
                   threshold=[0.1, 0.2, 0.3])
    assert_report(acc, Y, (predict(X) > np.array([0.1, 0.2, 0.3])).astype(int))


def test_never_concatenates_and_reads_once():
    seen = []

    def stream():
        for i in range(5):
            x = np.full(4, i)
            seen.append(x)
            yield x, x % 2

    def predict(x):
        assert any(x is s for s in seen)  # the batch itself, not a concatenation
        return (x + 1) % 2

    acc = evaluate(predict, stream(), num_classes=2)
    assert len(seen) == 5
    assert acc.counts.tolist() == [[0, 12], [8, 0]]


def test_errors_name_the_batch_and_the_state_stops_there():
    X = np.arange(10)
    with pytest.raises(TypeError, match=r"batch 1: expected \(x, y\) or \(x, y, "
                                        r"sample_weight\), got a tuple of length 1"):
        evaluate(lambda x: x, [(X, X), (X,)])
    with pytest.raises(TypeError, match="batch 0: .*got a ndarray"):
        evaluate(lambda x: x, [X])
    with pytest.raises(ValueError, match=r"batch 2: y_true\[3\] = 9 is not in the label space"):
        evaluate(lambda x: x % 3, [(X, X % 3)] * 2 + [(X, np.where(X == 3, 9, X % 3))],
                 num_classes=3)
    with pytest.raises(ValueError, match=r"batch 0: sample_weight\[0\]"):
        evaluate(lambda x: x % 3, [(X, X % 3, -np.ones(10))])
    with pytest.raises(ValueError, match="labels is not supported with multilabel"):
        evaluate(lambda x: x, [], multilabel=True, labels=[0, 1])
    with pytest.raises(ValueError, match="no batches"):
        evaluate(lambda x: x, [], multilabel=True)
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        evaluate(lambda x: x, [], num_classes=0)
    empty = evaluate(lambda x: x, [])
    assert isinstance(empty, cs.ConfusionMatrix) and empty.labels == []


def test_progress_bar(capsys):
    pytest.importorskip("tqdm")
    X = np.arange(12)
    evaluate(lambda x: x % 2, [(X, X % 2)] * 3, progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err
    evaluate(lambda x: x % 2, iter([(X, X % 2)] * 3), progress=True)  # no len: a count only
    assert "evaluate: 3batch" in capsys.readouterr().err
    evaluate(lambda x: x % 2, [(X, X % 2)] * 3)
    assert capsys.readouterr().err == ""


def test_docstring_example():
    import doctest

    import confstream.adapters.generators as mod

    assert doctest.testmod(mod).failed == 0


@pytest.mark.parametrize("t_shape, p_shape, p_dtype, expected", [
    ((8,), (8, 5), np.float32, 5),            # logits
    ((8, 4, 4), (8, 3, 4, 4), np.float32, 3),  # segmentation scores, class axis 1
    ((8, 4, 4), (8, 4, 4, 3), np.float64, 3),  # class axis last
    ((8,), (8,), np.float32, 2),              # binary scores
    ((8,), (8, 1), np.float32, 2),
    ((8, 1), (8,), np.float32, 2),
    ((8, 6), (8, 6), np.float32, 6),          # one-hot truth beside scores
    ((8,), (8, 5), np.int64, None),           # not scores
    ((8,), (7, 5), np.float32, None),         # does not fit: the core will say so
])
def test_classes_implied_by_float_predictions(t_shape, p_shape, p_dtype, expected):
    from confstream.adapters.generators import _classes_from_scores

    assert _classes_from_scores(np.zeros(t_shape), np.zeros(p_shape, p_dtype)) == expected
