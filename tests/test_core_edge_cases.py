"""Edge cases found by an adversarial review, each against scikit-learn or the state contract."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import sklearn.metrics as skm

import confstream as cs
from _reference import recorded, same


@pytest.mark.parametrize("t, p", [
    (np.array([2**63 + 5, 1], np.uint64), np.array([1, 1], np.uint64)),
    (np.array([1e19, 0.0]), np.array([0.0, 0.0])),
    ([0, 2**64], [0, 0]),
])
def test_labels_beyond_int64_are_refused_not_wrapped(t, p):
    acc = cs.ConfusionMatrix().update([0], [0])
    before = acc.to_dict()
    with pytest.raises(ValueError, match=r"y_true\[\d\] = "):
        acc.update(t, p)
    assert acc.to_dict() == before
    with pytest.raises(ValueError):
        cs.ConfusionMatrix(labels=[0, 2**63 + 5])


def test_float_class_ids_in_a_two_class_space_are_labels_not_scores():
    for labels, t, p in (([1, 2], [1, 2, 1], [1.0, 2.0, 1.0]), ([1, 0], [0, 1], [0.0, 1.0])):
        acc = cs.ConfusionMatrix(labels=labels).update(t, np.array(p))
        assert str(acc.report()) == skm.classification_report(t, p)
    # in a space of 0 and 1 (or of two strings), floats are scores: > threshold
    s = np.array([0.2, 0.7, 0.5])
    acc = cs.ConfusionMatrix(num_classes=2).update([0, 1, 1], s)
    assert str(acc.report(zero_division=0)) == skm.classification_report(
        [0, 1, 1], (s > 0.5).astype(int), zero_division=0)
    acc = cs.ConfusionMatrix(labels=["neg", "pos"]).update(["neg", "pos", "pos"], s)
    assert acc.confusion_matrix().tolist() == [[1, 0], [1, 1]]


@pytest.mark.parametrize("truth", [np.zeros((2, 3)), np.array([[0, 1, 1.0], [1, 0, 0]]),
                                   np.array([[0.2, 0.8, 0.0], [1, 0, 0]]),
                                   np.array([[0, -5, 0.0], [1, 0, 0]])])
def test_one_hot_truth_must_be_one_hot(truth):
    acc = cs.ConfusionMatrix(num_classes=3)
    with pytest.raises(ValueError, match=r"y_true\[0.*one-hot truth must hold 0s and a single 1"):
        acc.update(truth, np.eye(3)[:2])
    assert acc.counts.sum() == 0


def test_repeated_labels_in_matrix_metrics_as_sklearn():
    t, p = [0, 1, 1, 0], [0, 1, 0, 0]
    np.testing.assert_array_equal(cs.confusion_matrix(t, p, labels=[0, 0, 1]),
                                  skm.confusion_matrix(t, p, labels=[0, 0, 1]))
    assert cs.cohen_kappa_score(t, p, labels=[0, 0, 1]) == skm.cohen_kappa_score(
        t, p, labels=[0, 0, 1])


def test_one_multilabel_column_is_binary_data():
    with pytest.raises(ValueError, match="ConfusionMatrix\\(num_classes=2\\)"):
        cs.MultilabelConfusionMatrix(1)
    t, p = np.array([[1], [0], [1]]), np.array([[1], [1], [0]])
    assert cs.classification_report(t, p, zero_division=0) == skm.classification_report(
        t, p, zero_division=0)


def test_ambiguous_class_axis_is_refused():
    acc = cs.ConfusionMatrix(num_classes=5)
    with pytest.raises(ValueError, match="could be axis 1 or the last"):
        acc.update(np.zeros((2, 5, 5), int), np.zeros((2, 5, 5, 5), np.float32))


def test_bytes_labels_are_refused_as_sklearn_does():
    acc = cs.ConfusionMatrix().update(["a", "b"], ["b", "a"])
    with pytest.raises(TypeError, match="bytes"):
        acc.update([b"c"], [b"c"])
    assert acc.labels == ["a", "b"]
    with pytest.raises(TypeError):
        skm.classification_report([b"c"], [b"c"])
    with pytest.raises(TypeError):
        cs.classification_report([b"c"], [b"c"])


def test_failed_growth_leaves_space_and_counts_in_step(monkeypatch):
    acc = cs.ConfusionMatrix().update(["a", "b"], ["a", "a"])

    def no_memory(*a, **k):
        raise MemoryError

    monkeypatch.setattr(np, "pad", no_memory)
    with pytest.raises(MemoryError):
        acc.update(["c", "d"], ["c", "d"])
    monkeypatch.undo()
    assert acc.labels == ["a", "b"] and acc.counts.shape == (2, 2)
    acc.update(["c", "a"], ["a", "a"])
    assert acc.counts.sum() == 4


def test_merge_while_the_other_is_updated():
    rng = np.random.default_rng(0)
    b = cs.ConfusionMatrix()
    errors = []

    def grow():
        for k in range(200):
            b.update(rng.integers(0, 10 + k, 50), rng.integers(0, 10 + k, 50))

    th = threading.Thread(target=grow)
    th.start()
    try:
        while th.is_alive():
            total = cs.ConfusionMatrix().update([0], [0]) + b
            assert total.counts.shape[0] == len(total.labels)
    except Exception as exc:  # noqa: BLE001
        errors.append(exc)
    th.join()
    assert not errors


def test_from_dict_refuses_repeated_labels_and_string_counts():
    d = cs.ConfusionMatrix().update([0, 1], [0, 1]).to_dict()
    d2 = json.loads(json.dumps(d))
    d2["labels"] = [0, 0]
    with pytest.raises(ValueError, match="repeated"):
        cs.from_dict(d2)
    d3 = json.loads(json.dumps(d))
    d3["counts"] = [["1", "0"], ["0", "1"]]
    with pytest.raises(ValueError, match="not numeric"):
        cs.from_dict(d3)


def test_labels_of_another_type_give_zero_rows_as_sklearn():
    kw = {"labels": ["a", "b"], "zero_division": 0}
    got, got_w = recorded(cs.classification_report, [0, 1, 2], [1, 1, 0], **kw)
    ref, ref_w = recorded(skm.classification_report, [0, 1, 2], [1, 1, 0], **kw)
    assert got == ref and got_w == ref_w
    got, got_w = recorded(cs.jaccard_score, ["b", "b"], ["b", "b"])
    ref, ref_w = recorded(skm.jaccard_score, ["b", "b"], ["b", "b"])
    assert same(float(got), float(ref)) and got_w == ref_w


def test_kappa_needs_a_label_present_in_y1():
    with pytest.raises(ValueError, match="must be present in `y1`"):
        skm.cohen_kappa_score([1, 1], [0, 0], labels=[0])
    with pytest.raises(ValueError, match="must be present in `y1`"):
        cs.cohen_kappa_score([1, 1], [0, 0], labels=[0])


def test_drop_in_refuses_2d_weights_and_takes_bool_zero_division():
    with pytest.raises(ValueError, match="1D"):
        cs.classification_report([0, 1], [0, 1], sample_weight=[[1.0], [1.0]])
    assert cs.classification_report([0, 1], [1, 1], zero_division=True) == \
        skm.classification_report([0, 1], [1, 1], zero_division=True)


def test_score_error_position_in_the_callers_layout():
    logits = np.zeros((3, 4, 5, 6), np.float32)
    logits[1, 2, 3, 4] = np.inf
    masks = np.zeros((3, 5, 6), np.int64)
    with pytest.raises(ValueError, match=r"y_pred\[1, 2, 3, 4\] = inf"):
        cs.ConfusionMatrix(num_classes=4).update(masks, logits)
    last = np.zeros((3, 5, 6, 4), np.float32)
    last[1, 3, 4, 2] = np.nan
    with pytest.raises(ValueError, match=r"y_pred\[1, 3, 4, 2\] = nan"):
        cs.ConfusionMatrix(num_classes=4).update(masks, last)
