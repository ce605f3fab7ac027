"""ConfusionCallback(curves=True): AUROC / AP per class in the logs and the History, from a
real ``model.fit``, against scikit-learn's ``roc_auc_score`` / ``average_precision_score`` on
``model.predict`` of the same validation data.

Runs on the process's Keras backend (TensorFlow by default); the callback reads numpy
predictions, so the backend does not enter the curves' arithmetic. The model's float32 scores
are binned (certified): each logged value must be within its bound's width of scikit-learn's,
and scikit-learn's value inside the bounds.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")
from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: E402

from confstream.adapters.keras import ConfusionCallback  # noqa: E402


def mlp(n_in, n_out, activation):
    return keras.Sequential([keras.Input((n_in,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(n_out, activation=activation)])


def check(report, name, y_bin, score, logged_auroc, logged_ap):
    """The logged values against scikit-learn, through the report's certified bounds."""
    for metric, ref_fn, logged in (("auroc", roc_auc_score, logged_auroc),
                                   ("ap", average_precision_score, logged_ap)):
        ref = ref_fn(y_bin, score)
        lo, hi = report.curve_bounds(metric, name)
        assert lo - 1e-12 <= ref <= hi + 1e-12, (metric, name, lo, ref, hi)
        assert hi - lo < 2e-3, (metric, name, hi - lo)  # bins fine enough to mean something
        assert abs(logged - ref) <= (hi - lo) + 1e-12, (metric, name, logged, ref)
        assert report.get(metric, name) == logged


def binary_case(keras_seed, seed, n, p, shift):
    """(x, y, a compiled one-sigmoid model) of binary data whose feature 0 tells the class."""
    keras.utils.set_random_seed(keras_seed)
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < p).astype("int64")
    x = rng.normal(size=(n, 4)).astype("float32")
    x[:, 0] += shift * y
    model = mlp(4, 1, "sigmoid")
    model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy")
    return x, y, model


def test_binary_sigmoid_logs_auroc_and_ap():
    x, y, model = binary_case(1, 7, 400, 0.2, 1.5)
    xv, yv = x[240:], y[240:, None]
    cb = ConfusionCallback((xv, yv), curves=True)
    hist = model.fit(x[:240], y[:240], epochs=2, batch_size=80, callbacks=[cb], verbose=0)
    assert {"val_auroc_1", "val_ap_1"} <= set(hist.history)
    assert "val_auroc_0" not in hist.history  # the score is the positive class's
    score = model.predict(xv, batch_size=32, verbose=0)[:, 0]
    report = cb.history[-1]
    check(report, 1, yv[:, 0], score, hist.history["val_auroc_1"][-1],
          hist.history["val_ap_1"][-1])
    assert cb.history.get("auroc", 1) == hist.history["val_auroc_1"]
    assert cb.curves is not None and not cb.curves.exact
    assert "auroc" in str(report) and "certified" in str(report)


def test_softmax_one_hot_with_names_and_weights():
    keras.utils.set_random_seed(2)
    rng = np.random.default_rng(3)
    centres = rng.normal(scale=1.2, size=(3, 5))
    y = rng.integers(0, 3, 360)
    x = (centres[y] + rng.normal(size=(360, 5))).astype("float32")
    onehot = np.eye(3, dtype="float32")[y]
    w = rng.integers(1, 4, 360).astype("float64")
    names = ["ant", "bee", "cat"]
    xv, ov, yv, wv = x[200:], onehot[200:], y[200:], w[200:]
    model = mlp(5, 3, "softmax")
    model.compile(keras.optimizers.Adam(0.02), "categorical_crossentropy")
    cb = ConfusionCallback((xv, ov, wv), target_names=names, curves=True, log_prefix="cb_")
    hist = model.fit(x[:200], onehot[:200], epochs=2, callbacks=[cb], verbose=0)
    scores = model.predict(xv, batch_size=32, verbose=0)
    report = cb.history[-1]
    for k, name in enumerate(names):
        yk = (yv == k).astype(int)
        for metric, fn in (("auroc", roc_auc_score), ("ap", average_precision_score)):
            ref = fn(yk, scores[:, k], sample_weight=wv)
            lo, hi = report.curve_bounds(metric, name)
            assert lo - 1e-12 <= ref <= hi + 1e-12 and hi - lo < 2e-3, (metric, name)
            logged = hist.history[f"cb_{metric}_{name}"][-1]
            assert abs(logged - ref) <= (hi - lo) + 1e-12
    ref = roc_auc_score(yv, scores, multi_class="ovr", average="macro", sample_weight=wv)
    lo, hi = report.curve_bounds("auroc", "macro avg")
    assert lo - 1e-12 <= ref <= hi + 1e-12
    assert len(cb.history.get("ap", "bee")) == 2


def test_multilabel_sigmoids():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 4)).astype("float32")
    y = (x[:, :3] + rng.normal(size=(300, 3)) > 0.3).astype("int64")
    model = mlp(4, 3, "sigmoid")
    model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy")
    cb = ConfusionCallback((x[180:], y[180:]), multilabel=True, curves=True)
    hist = model.fit(x[:180], y[:180], epochs=1, callbacks=[cb], verbose=0)
    scores = model.predict(x[180:], batch_size=32, verbose=0)
    for k in range(3):
        check(cb.history[-1], str(k), y[180:, k], scores[:, k],
              hist.history[f"val_auroc_{k}"][-1], hist.history[f"val_ap_{k}"][-1])


def test_curves_need_scores_and_a_bool():
    with pytest.raises(ValueError, match="curves must be True or False"):
        ConfusionCallback((np.zeros((2, 1)), np.zeros(2)), curves="yes")
    with pytest.raises(ValueError, match="bits"):
        ConfusionCallback((np.zeros((2, 1)), np.zeros(2)), curves=True, curves_bits=0)


def test_adaptive_resolution_equals_adaptive_curves_by_hand():
    from confstream import ScoreCurves

    x, y, model = binary_case(4, 9, 320, 0.3, 1.2)
    xv, yv = x[160:], y[160:]
    cb = ConfusionCallback((xv, yv[:, None]), batch_size=40, curves=True,
                           curves_resolution="adaptive", curves_intervals=64)
    hist = model.fit(x[:160], y[:160], epochs=1, batch_size=160, callbacks=[cb], verbose=0)
    want = ScoreCurves(labels=[0, 1], resolution="adaptive", intervals=64)
    scores = []
    for i in range(0, 160, 40):                      # the callback's whole batches
        scores.append(np.asarray(model.predict_on_batch(xv[i:i + 40]))[:, 0])
        want.update(yv[i:i + 40], scores[-1])
    assert cb.curves == want and cb.curves.resolution == "adaptive"
    per = want.per_class(warn=False)[1]
    assert hist.history["val_auroc_1"][-1] == per["auroc"]
    assert hist.history["val_ap_1"][-1] == per["ap"]
    s = np.concatenate(scores)
    for metric, fn in (("auroc", roc_auc_score), ("ap", average_precision_score)):
        lo, hi = cb.history[-1].curve_bounds(metric, 1)
        assert lo <= fn(yv, s) <= hi and hi > lo  # 160 scores in 64 intervals: coarsened


@pytest.mark.parametrize("kw, words", [
    ({"curves_intervals": 64}, r"intervals \(resolution='adaptive' only\) must be an int"),
    ({"curves_resolution": "adaptive", "curves_intervals": 8}, "64..67108864, got 8"),
    ({"curves_resolution": "fine"}, "resolution must be 'fixed' or 'adaptive', got 'fine'"),
    ({"curves_resolution": "adaptive", "curves_bits": 12}, "bits sets the fixed bins"),
])
def test_bad_curve_resolution_is_refused_at_construction(kw, words):
    with pytest.raises(ValueError, match=words):
        ConfusionCallback((np.zeros((2, 1)), np.zeros(2)), curves=True, **kw)
