"""Bad input: a ValueError / TypeError that names the problem, and the state unchanged."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import confstream as cs


def unchanged(acc, exc, match, *args, **kwargs):
    """acc.update(*args) raises exc matching ``match`` and leaves acc exactly as it was."""
    before = json.dumps(acc.to_dict())
    with pytest.raises(exc, match=match):
        acc.update(*args, **kwargs)
    assert json.dumps(acc.to_dict()) == before


@pytest.fixture
def acc3():
    return cs.ConfusionMatrix(num_classes=3).update([0, 1, 2], [0, 1, 1])


def test_label_out_of_range(acc3):
    unchanged(acc3, ValueError, r"y_true\[2\] = 3 is not in the label space \[0, 1, 2\]",
              [0, 1, 3, 0], [0, 1, 1, 0])
    unchanged(acc3, ValueError, r"y_pred\[1\] = 7 is not in the label space",
              [0, 1], [0, 7])


def test_negative_label(acc3):
    unchanged(acc3, ValueError, r"y_true\[1\] = -1 is not in the label space", [0, -1], [0, 0])


def test_bad_value_late_in_a_big_batch_changes_nothing(acc3):
    t = np.zeros(1_000_000, dtype=np.int64)
    t[-1] = 5
    unchanged(acc3, ValueError, r"y_true\[999999\] = 5", t, np.zeros_like(t))


def test_float_labels_that_are_not_integers(acc3):
    unchanged(acc3, ValueError, r"y_true\[1\] = 1.5 is not a class label",
              np.array([0.0, 1.5]), np.array([0.0, 1.0]))
    dyn = cs.ConfusionMatrix().update([0, 1], [1, 1])
    unchanged(dyn, ValueError, r"y_pred\[2\] = 0.25 is not a class label",
              np.array([0.0, 1.0, 1.0]), np.array([0.0, 1.0, 0.25]))


def test_nan_label(acc3):
    unchanged(acc3, ValueError, r"y_pred\[0\] = nan", np.array([0.0]), np.array([np.nan]))


def test_length_mismatch(acc3):
    unchanged(acc3, ValueError, "different numbers of samples: 3 and 2", [0, 1, 2], [0, 1])


def test_nan_and_infinite_scores(acc3):
    s = np.full((4, 3), 0.1, dtype=np.float32)
    s[2, 1] = np.nan
    unchanged(acc3, ValueError, r"y_pred\[2, 1\] = nan is not a finite score", [0, 1, 2, 0], s)
    s[2, 1] = np.inf
    unchanged(acc3, ValueError, r"y_pred\[2, 1\] = inf is not a finite score", [0, 1, 2, 0], s)
    binary = cs.ConfusionMatrix(num_classes=2).update([0], [0.2])
    unchanged(binary, ValueError, r"y_pred\[1\] = -inf is not a finite score",
              [0, 1], np.array([0.3, -np.inf]))


def test_score_width_is_not_the_number_of_classes(acc3):
    unchanged(acc3, ValueError, "4 score columns but the label space has 3 classes",
              [0, 1], np.zeros((2, 4)))


def test_bad_sample_weights(acc3):
    unchanged(acc3, ValueError, r"sample_weight\[1\] = -1.0", [0, 1], [0, 1], [1.0, -1.0])
    unchanged(acc3, ValueError, r"sample_weight\[0\] = nan", [0, 1], [0, 1], [np.nan, 1.0])
    unchanged(acc3, ValueError, r"sample_weight\[0\] = inf", [0, 1], [0, 1], [np.inf, 1.0])
    unchanged(acc3, ValueError, "sample_weight has 3 values but y_true has 2 samples",
              [0, 1], [0, 1], [1.0, 1.0, 1.0])
    unchanged(acc3, TypeError, "sample_weight must be numeric", [0, 1], [0, 1], ["a", "b"])


def test_strings_into_an_integer_space(acc3):
    unchanged(acc3, TypeError, "Mix of label input types", ["a", "b"], ["a", "b"])
    dyn = cs.ConfusionMatrix().update([1, 2], [2, 2])
    unchanged(dyn, TypeError, "Mix of label input types", ["a"], ["a"])
    # scikit-learn raises ValueError for the same mix: the error is both.
    with pytest.raises(ValueError, match="Mix of label input types"):
        dyn.update(["a"], ["a"])
    strs = cs.ConfusionMatrix().update(["a"], ["b"])
    unchanged(strs, TypeError, "Mix of label input types", [1], [1])


def test_unknown_string_in_a_fixed_space():
    acc = cs.ConfusionMatrix(labels=["cat", "dog"]).update(["cat"], ["dog"])
    unchanged(acc, ValueError, r"y_pred\[1\] = 'emu' is not in the label space \['cat', 'dog'\]",
              ["cat", "dog"], ["cat", "emu"])


def test_mask_positions_are_named_in_the_mask_shape():
    acc = cs.ConfusionMatrix(num_classes=4, ignore_index=255)
    t = np.zeros((2, 3, 3), np.uint8)
    t[1, 2, 0] = 9
    unchanged(acc, ValueError, r"y_true\[1, 2, 0\] = 9", t, np.zeros_like(t))


def test_multilabel_errors():
    acc = cs.MultilabelConfusionMatrix(3).update([[1, 0, 1]], [[0.9, 0.1, 0.2]])
    unchanged(acc, ValueError, r"shape \(N, 3\) for 3 labels, got \(1, 4\)",
              [[1, 0, 1, 0]], [[1, 0, 1, 0]])
    unchanged(acc, ValueError, r"y_true\[1, 2\] = 2: multi-label indicators must be 0 or 1",
              [[1, 0, 1], [0, 0, 2]], [[1, 0, 1], [0, 0, 1]])
    unchanged(acc, ValueError, r"y_pred\[0, 1\] = 3", [[1, 0, 1]], [[1, 3, 1]])
    unchanged(acc, ValueError, r"y_pred\[0, 2\] = nan is not a finite score",
              [[1, 0, 1]], [[0.5, 0.5, np.nan]])
    unchanged(acc, ValueError, r"sample_weight\[0\] = -2.0", [[1, 0, 1]], [[1, 0, 1]], [-2.0])


def test_merging_different_label_spaces_names_both():
    a = cs.ConfusionMatrix(num_classes=3)
    b = cs.ConfusionMatrix(num_classes=4)
    with pytest.raises(ValueError, match=r"\[0, 1, 2\] and \[0, 1, 2, 3\]"):
        a + b
    s = cs.ConfusionMatrix(labels=["x", "y"])
    with pytest.raises(TypeError, match="different types"):
        a + s
    with pytest.raises(ValueError, match="different label spaces"):
        cs.MultilabelConfusionMatrix(3) + cs.MultilabelConfusionMatrix(5)
    with pytest.raises(ValueError, match="different settings"):
        cs.ConfusionMatrix(num_classes=3, ignore_index=255) + a
    before = a.to_dict()
    with pytest.raises(ValueError):
        a += b
    assert a.to_dict() == before


def good_state():
    return cs.ConfusionMatrix(num_classes=2).update([0, 1, 1], [0, 1, 0]).to_dict()


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["counts"][0].__setitem__(0, -1), "negative value at"),
    (lambda d: d["counts"][0].__setitem__(0, math.inf), "not finite"),
    (lambda d: d["counts"][0].__setitem__(0, math.nan), "not finite"),
    (lambda d: d["counts"][0].__setitem__(0, 0.5), "must hold integers"),
    (lambda d: d.__setitem__("counts", [[1, 2, 3]]), r"has shape \(1, 3\), expected \(2, 2\)"),
    (lambda d: d.__setitem__("version", 99), "unknown format version 99"),
    (lambda d: d.__setitem__("kind", "Histogram"), "kind 'Histogram'"),
    (lambda d: d.__setitem__("kinds", [["complex"], []]), "'kinds' must be"),
])
def test_from_dict_refuses_bad_states(edit, match):
    d = good_state()
    edit(d)
    with pytest.raises(ValueError, match=match):
        cs.ConfusionMatrix.from_dict(d)


def test_from_dict_refuses_bad_weighted_and_multilabel_states():
    d = cs.ConfusionMatrix().update([0, 1], [0, 1], [0.5, 2.0]).to_dict()
    d["weights"]["true"][0] = -0.5
    with pytest.raises(ValueError, match="weights.true"):
        cs.from_dict(d)
    m = cs.MultilabelConfusionMatrix(2).update([[1, 0]], [[1, 1]]).to_dict()
    m["hp"] = [[0]]
    with pytest.raises(ValueError, match="'hp' has shape"):
        cs.from_dict(m)
    with pytest.raises(ValueError, match="unknown kind"):
        cs.from_dict({"kind": "nope"})


def test_empty_batch_is_a_no_op(acc3):
    before = acc3.to_dict()
    assert acc3.update([], []) is acc3
    acc3.update(np.zeros(0, np.int64), np.zeros((0, 3), np.float32))
    assert acc3.to_dict() == before
    ml = cs.MultilabelConfusionMatrix(2)
    ml.update(np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="empty input"):
        ml.report()


def test_constructor_arguments():
    with pytest.raises(ValueError, match="at least 1"):
        cs.ConfusionMatrix(0)
    with pytest.raises(TypeError, match="num_classes must be an int"):
        cs.ConfusionMatrix(2.5)
    with pytest.raises(ValueError, match="not both"):
        cs.ConfusionMatrix(2, labels=[0, 1])
    with pytest.raises(ValueError, match="repeated"):
        cs.ConfusionMatrix(labels=[1, 1])
    with pytest.raises(ValueError, match="threshold must be"):
        cs.MultilabelConfusionMatrix(3, threshold=[0.5, 0.5])


def test_report_arguments(acc3):
    with pytest.raises(ValueError, match="zero_division"):
        acc3.report(zero_division=2)
    with pytest.raises(ValueError, match="digits"):
        acc3.report(digits=-1)
    with pytest.raises(ValueError, match="does not match size of target_names"):
        acc3.report(target_names=["a"])
