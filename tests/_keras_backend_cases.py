"""Real ``model.fit`` runs for confstream.adapters.keras, on whichever backend KERAS_BACKEND names.

Not collected by the main run (the name does not start with ``test_``): tests/test_keras.py runs
this file once per backend in a subprocess, since a process can hold only one Keras backend.
Run it alone with e.g. ``KERAS_BACKEND=torch python -m pytest tests/_keras_backend_cases.py``.

Every value is checked against scikit-learn on ``model.predict`` of the same validation data:
ClassMetrics (float32, in the graph) to rel 1e-6, ConfusionCallback (the core engine) to
rel 1e-12 and its report byte for byte.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

pytestmark = [
    # torch's pytree trips over numpy 2's copy keyword when Keras runs on the torch backend.
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")
from sklearn.metrics import classification_report, precision_recall_fscore_support  # noqa: E402

from confstream.adapters.keras import ClassMetrics, ConfusionCallback  # noqa: E402

BACKEND = keras.backend.backend()
METRIC_REL = 1e-6  # float32 division in the graph
ENGINE_REL = 1e-12  # the core engine computes in float64, like scikit-learn
PRF = ("precision", "recall", "f1")


# --------------------------------------------------------------------------- helpers
def expected(
    y_true, y_hat, *, prefix="", num_classes=None, labels=None, names=None, weights=None,
    metrics=PRF,
):
    """scikit-learn's per-class values, keyed as the adapter writes them into the logs."""
    if labels is None and num_classes is not None:
        labels = list(range(num_classes))
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_hat, labels=labels, sample_weight=weights, zero_division=0, average=None
    )
    columns = {"precision": p, "recall": r, "f1": f, "support": s}
    names = names or [str(lab) for lab in (labels if labels is not None else range(len(p)))]
    return {f"{prefix}{m}_{n}": float(columns[m][i]) for m in metrics for i, n in enumerate(names)}


def assert_matches(got, want, rel):
    missing = sorted(set(want) - set(got))
    assert not missing, f"missing keys: {missing[:5]}"
    wrong = {k: (got[k], want[k]) for k in want if got[k] != pytest.approx(want[k], rel=rel, abs=0)}
    assert not wrong, f"{len(wrong)} values differ from scikit-learn: {list(wrong.items())[:3]}"


def last_epoch(history):
    return {k: v[-1] for k, v in history.history.items()}


def mlp(n_in, n_out, activation):
    return keras.Sequential(
        [
            keras.Input((n_in,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(n_out, activation=activation),
        ]
    )


def blobs(n, num_classes, *, dim=6, seed=0, spread=1.5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(num_classes, dim))
    y = rng.integers(0, num_classes, n)
    return (centres[y] + rng.normal(size=(n, dim))).astype("float32"), y


def predict_labels(model, x, *, threshold=None):
    scores = model.predict(x, batch_size=32, verbose=0)
    if threshold is not None:
        return (scores > threshold).astype(int)
    return scores.argmax(axis=1)


def keys(prefixes, metrics, names):
    return {f"{p}{m}_{n}" for p in prefixes for m in metrics for n in names}


def not_vacuous(y_hat, num_classes):
    # The fixtures are tuned so that the model predicts every class: a test of zeros proves little.
    assert len(np.unique(y_hat)) == num_classes, np.bincount(y_hat, minlength=num_classes)


@pytest.fixture(autouse=True)
def seed():
    keras.utils.set_random_seed(1)


# --------------------------------------------------------------------------- binary
@pytest.fixture(scope="module")
def imbalanced():
    rng = np.random.default_rng(7)
    y = (rng.random(800) < 0.15).astype("int64")  # ~15 % positives
    x = rng.normal(size=(800, 4)).astype("float32")
    x[:, 0] += 2.0 * y
    # whole batches of 32 (19 + 6): one batch shape, one trace / XLA compilation per step
    return x[:608], y[:608, None], x[608:], y[608:, None]  # (N, 1) labels


BINARY_EPOCHS = 4


@pytest.fixture(scope="module")
def binary_fit(imbalanced):
    """One 4-epoch fit for the binary tests, not one each (a fit is seconds of tracing per
    backend): the default threshold and 0.3 side by side, in ClassMetrics and in
    ConfusionCallback, a callback logging every second epoch and EarlyStopping on a metric's
    and a callback's key."""
    x, y, xv, yv = imbalanced
    keras.utils.set_random_seed(1)  # a module fixture: set up before the autouse seed
    model = mlp(4, 1, "sigmoid")
    model.compile(
        keras.optimizers.Adam(0.02), "binary_crossentropy",
        metrics=[ClassMetrics(2), ClassMetrics(2, threshold=0.3, prefix="t3_", name="t3")],
    )
    cbs = {
        "cb": ConfusionCallback((xv, yv), log_prefix="cb_"),
        "t3": ConfusionCallback((xv, yv), threshold=0.3, log_prefix="cbt3_"),
        "every2": ConfusionCallback((xv, yv), every=2, log_prefix="cb2_", metrics=("recall",)),
        "each": ConfusionCallback((xv, yv), log_prefix="rec_", metrics=("recall",)),
        # A monitor missing from the logs makes Keras warn, which this suite turns into an error.
        "stop_metric": keras.callbacks.EarlyStopping(monitor="val_recall_1", mode="max",
                                                     patience=10),
        "stop_callback": keras.callbacks.EarlyStopping(monitor="rec_recall_1", mode="max",
                                                       patience=10),
    }
    hist = model.fit(
        x, y, validation_data=(xv, yv), epochs=BINARY_EPOCHS, batch_size=32,
        callbacks=list(cbs.values()), verbose=0,
    )
    return model, hist, cbs


def test_binary_imbalanced_sigmoid(imbalanced, binary_fit):
    x, y, xv, yv = imbalanced
    model, hist, cbs = binary_fit
    cb = cbs["cb"]

    assert set(hist.history) == ({"loss", "val_loss"} | keys(["", "val_", "cb_"], PRF, "01")
                                 | keys(["t3_", "val_t3_", "cbt3_"], PRF, "01")
                                 | keys(["cb2_", "rec_"], ("recall",), "01"))
    every2 = {k for k in hist.history if k.startswith("cb2_")}
    assert all(len(v) == BINARY_EPOCHS for k, v in hist.history.items() if k not in every2)
    y_hat = predict_labels(model, xv, threshold=0.5)[:, 0]
    not_vacuous(y_hat, 2)
    got = last_epoch(hist)
    assert_matches(got, expected(yv[:, 0], y_hat, prefix="val_", num_classes=2), METRIC_REL)
    assert_matches(got, expected(yv[:, 0], y_hat, prefix="cb_", num_classes=2), ENGINE_REL)
    assert str(cb.history[-1]) == classification_report(yv[:, 0], y_hat, zero_division=0)
    assert len(cb.history) == BINARY_EPOCHS
    assert cb.history.get("recall", 1) == pytest.approx(hist.history["cb_recall_1"], rel=ENGINE_REL)

    # The training-side keys come from the same update_state: check them through evaluate().
    train = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    y_hat_train = predict_labels(model, x, threshold=0.5)[:, 0]
    assert_matches(train, expected(y[:, 0], y_hat_train, num_classes=2), METRIC_REL)


def test_threshold_is_strict_and_configurable(imbalanced, binary_fit):
    x, y, xv, yv = imbalanced
    model, hist, cbs = binary_fit
    y_hat = predict_labels(model, xv, threshold=0.3)[:, 0]
    assert (y_hat != predict_labels(model, xv, threshold=0.5)[:, 0]).any()  # 0.3 is not 0.5
    want = expected(yv[:, 0], y_hat, prefix="val_t3_", num_classes=2)
    assert_matches(last_epoch(hist), want, METRIC_REL)
    want = expected(yv[:, 0], y_hat, prefix="cbt3_", num_classes=2)
    assert_matches(last_epoch(hist), want, ENGINE_REL)
    assert str(cbs["t3"].history[-1]) == classification_report(yv[:, 0], y_hat, zero_division=0)


def test_early_stopping_and_every(binary_fit):
    _, hist, cbs = binary_fit
    every2, each = cbs["every2"], cbs["each"]
    stop_metric, stop_callback = cbs["stop_metric"], cbs["stop_callback"]
    assert len(hist.history["val_recall_1"]) == BINARY_EPOCHS
    assert stop_metric.best == max(hist.history["val_recall_1"])
    assert stop_callback.best == max(hist.history["rec_recall_1"])
    assert stop_callback.best == max(each.history.get("recall", 1))
    assert len(every2.history) == BINARY_EPOCHS // 2
    assert len(hist.history["cb2_recall_1"]) == BINARY_EPOCHS // 2
    assert hist.history["cb2_recall_1"] == hist.history["rec_recall_1"][1::2]


def test_early_stopping_stops_on_class_recall():
    # Labels are pure noise: the recall of class 1 cannot keep improving, so training stops.
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(256, 4)).astype("float32"), rng.integers(0, 2, 256)
    model = mlp(4, 1, "sigmoid")
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy", metrics=[ClassMetrics(2)])
    stop = keras.callbacks.EarlyStopping(monitor="val_recall_1", mode="max", patience=1)
    hist = model.fit(
        x[:128], y[:128], validation_data=(x[128:], y[128:]), epochs=30, callbacks=[stop], verbose=0
    )
    assert stop.stopped_epoch > 0 and len(hist.history["val_recall_1"]) < 30


# --------------------------------------------------------------------------- multi-class
def test_confidence_interval_bounds_in_fit_logs():
    # ConfusionCallback(ci=...) in a real fit: val_recall_<class>_lo / _hi every epoch, equal to
    # the interval of the epoch's report recomputed from model.predict; a later callback
    # (EarlyStopping on a lower bound) sees them
    import confstream as cs

    x, y = blobs(480, 3, seed=4, spread=0.6)  # overlapping classes: no recall of 0 or 1
    xv, yv = x[320:], y[320:]
    names = ["ant", "bee", "cat"]
    model = mlp(6, 3, "softmax")
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    ci = {"ci": 0.9, "n_resamples": 300, "seed": 3}
    cb = ConfusionCallback((xv, yv), target_names=names, **ci)
    wilson = ConfusionCallback((xv, yv), target_names=names, log_prefix="w_", ci=0.9,
                               ci_method="wilson", metrics=("recall", "f1"))
    stop = keras.callbacks.EarlyStopping(monitor="val_recall_bee_lo", mode="max", patience=5)
    hist = model.fit(x[:320], y[:320], epochs=3, callbacks=[cb, wilson, stop], verbose=0)

    bounds = keys(["val_"], PRF, names)
    bounds = {k + s for k in bounds for s in ("_lo", "_hi")}
    assert bounds <= set(hist.history) and all(len(hist.history[k]) == 3 for k in bounds)
    assert {k for k in hist.history if k.startswith("w_")} == (
        keys(["w_"], ("recall", "f1"), names)
        | {f"w_recall_{n}_{s}" for n in names for s in ("lo", "hi")})  # no F1 bounds
    y_hat = predict_labels(model, xv)
    not_vacuous(y_hat, 3)
    rep = cs.ConfusionMatrix(num_classes=3).update(yv, y_hat).report(
        labels=[0, 1, 2], target_names=names, zero_division=0, **ci)
    assert str(cb.history[-1]) == str(rep)
    got = last_epoch(hist)
    for name in names:
        for metric, row in (("recall", "recall"), ("precision", "precision"), ("f1", "f1-score")):
            lo, hi = rep.interval(row, name)
            key = f"val_{metric}_{name}"
            assert (got[key + "_lo"], got[key + "_hi"]) == (lo, hi)
            assert lo <= got[key] <= hi and lo < hi
        wlo, whi = cs.intervals.wilson(int(((y_hat == yv) & (yv == names.index(name))).sum()),
                                       int((yv == names.index(name)).sum()), 0.9)
        assert got[f"w_recall_{name}_lo"] == pytest.approx(wlo, abs=1e-12)
        assert got[f"w_recall_{name}_hi"] == pytest.approx(whi, abs=1e-12)
    assert stop.best == max(hist.history["val_recall_bee_lo"])


@pytest.mark.parametrize("jit_compile", [False, True])
def test_softmax_one_hot_three_classes(jit_compile):
    if jit_compile and BACKEND == "torch":
        pytest.skip("torch.compile of a train step takes about a minute on CPU; run by hand")
    x, y = blobs(480, 3, seed=2)  # multiples of 32: one batch shape, one XLA compilation
    onehot = np.eye(3, dtype="float32")[y]
    xv, yv, ov = x[320:], y[320:], onehot[320:]
    names = ["ant", "bee", "cat"]
    model = mlp(6, 3, "softmax")
    model.compile(
        keras.optimizers.Adam(0.01), "categorical_crossentropy",
        metrics=[ClassMetrics(3, class_names=names)], jit_compile=jit_compile,
    )
    cb = ConfusionCallback((xv, ov), target_names=names, log_prefix="cb_")
    hist = model.fit(
        x[:320], onehot[:320], validation_data=(xv, ov), epochs=2, callbacks=[cb], verbose=0
    )

    assert set(hist.history) == {"loss", "val_loss"} | keys(["", "val_", "cb_"], PRF, names)
    y_hat = predict_labels(model, xv)
    not_vacuous(y_hat, 3)
    got = last_epoch(hist)
    assert_matches(got, expected(yv, y_hat, prefix="val_", num_classes=3, names=names), METRIC_REL)
    assert_matches(got, expected(yv, y_hat, prefix="cb_", num_classes=3, names=names), ENGINE_REL)
    want = classification_report(yv, y_hat, target_names=names, zero_division=0)
    assert str(cb.history[-1]) == want
    f1_bee = hist.history["cb_f1_bee"]
    assert cb.history.get("f1-score", "bee") == pytest.approx(f1_bee, rel=ENGINE_REL)


def test_sparse_labels_with_sample_weights():
    x, y = blobs(600, 4, seed=5)
    rng = np.random.default_rng(5)
    w = rng.integers(1, 9, len(y)) / 4.0  # exact in float32: only the final division rounds
    xv, yv, wv = x[400:], y[400:], w[400:]
    model = mlp(6, 4, "softmax")
    all4 = ("precision", "recall", "f1", "support")
    model.compile(
        keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
        metrics=[ClassMetrics(4, metrics=all4)],  # Keras gives these no weights
        weighted_metrics=[ClassMetrics(4, metrics=all4, prefix="w_", name="weighted")],
    )
    cb = ConfusionCallback((xv, yv, wv), log_prefix="cb_", metrics=all4, batch_size=48)
    rows = []  # the callback predicts batch by batch, never the whole set at once
    predict_on_batch = model.predict_on_batch
    model.predict_on_batch = lambda x_batch: rows.append(len(x_batch)) or predict_on_batch(x_batch)
    hist = model.fit(  # training on whole batches of 32; validation ends on a short batch
        x[:384], y[:384], sample_weight=w[:384], validation_data=(xv, yv, wv),
        epochs=2, callbacks=[cb], verbose=0,
    )
    assert rows == [48, 48, 48, 48, 8] * 2
    y_hat = predict_labels(model, xv)
    not_vacuous(y_hat, 4)
    got = last_epoch(hist)
    prefixes = ["", "val_", "w_", "val_w_", "cb_"]
    assert set(got) == {"loss", "val_loss"} | keys(prefixes, all4, "0123")
    assert_matches(got, expected(yv, y_hat, prefix="val_", num_classes=4, metrics=all4), METRIC_REL)
    weighted = dict(num_classes=4, weights=wv, metrics=all4)
    assert_matches(got, expected(yv, y_hat, prefix="val_w_", **weighted), METRIC_REL)
    assert_matches(got, expected(yv, y_hat, prefix="cb_", **weighted), ENGINE_REL)
    # Weighted supports print as floats: the engine must sum them exactly as scikit-learn does.
    want = classification_report(yv, y_hat, sample_weight=wv, zero_division=0)
    assert str(cb.history[-1]) == want


# --------------------------------------------------------------------------- multi-label
def test_multilabel_39_sigmoids():
    rng = np.random.default_rng(11)
    n, dim, n_labels = 608, 12, 39  # whole batches of 32: 416 + 192
    x = rng.normal(size=(n, dim)).astype("float32")
    logits = x @ rng.normal(size=(dim, n_labels)) + rng.normal(size=(n, n_labels))
    y = (logits > np.quantile(logits, 0.75, axis=0)).astype("int32")  # ~25 % of each label
    xv, yv = x[416:], y[416:]
    model = mlp(dim, n_labels, "sigmoid")
    metric = ClassMetrics(n_labels, multilabel=True)
    model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy", metrics=[metric])
    cb = ConfusionCallback((xv, yv), multilabel=True, log_prefix="cb_")
    hist = model.fit(
        x[:416], y[:416], validation_data=(xv, yv), epochs=2, callbacks=[cb], verbose=0
    )

    labels = [str(i) for i in range(n_labels)]
    assert set(hist.history) == {"loss", "val_loss"} | keys(["", "val_", "cb_"], PRF, labels)
    y_hat = predict_labels(model, xv, threshold=0.5)
    assert 0 < y_hat.sum() < y_hat.size
    got = last_epoch(hist)
    assert_matches(got, expected(yv, y_hat, prefix="val_"), METRIC_REL)
    assert_matches(got, expected(yv, y_hat, prefix="cb_"), ENGINE_REL)
    assert str(cb.history[-1]) == classification_report(yv, y_hat, zero_division=0)


# --------------------------------------------------------------------------- data forms
def torch_tensor(a):
    import torch

    return torch.from_numpy(np.ascontiguousarray(a))


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        cut = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[cut], self.y[cut]


def test_generator_validation_data():
    x, y = blobs(500, 3, seed=9)
    xv, yv = x[350:], y[350:]

    def batches():
        for start in range(0, len(xv), 40):
            yield xv[start : start + 40], yv[start : start + 40]

    callbacks = [
        ConfusionCallback(batches, log_prefix="gen_"),  # a callable: a fresh generator each time
        ConfusionCallback(Batches(xv, yv, 64), log_prefix="pyd_"),
        ConfusionCallback(itertools.cycle(list(batches())), steps=4, log_prefix="endless_"),
        ConfusionCallback(list(batches()), num_classes=3, log_prefix="list_"),
    ]
    try:
        import tensorflow as tf

        tf_batches = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(33)
        callbacks.append(ConfusionCallback(tf_batches, log_prefix="tfd_"))
    except ImportError:  # pragma: no cover - tensorflow is in the test extra
        pass
    try:
        import torch.utils.data as tud

        pairs = tud.TensorDataset(torch_tensor(xv), torch_tensor(yv))
        loader = tud.DataLoader(pairs, batch_size=30)
        callbacks.append(ConfusionCallback(loader, log_prefix="torch_"))
    except ImportError:  # pragma: no cover - torch is in the test extra
        pass
    prefixes = [cb.log_prefix for cb in callbacks]
    model = mlp(6, 3, "softmax")
    model.compile(
        keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=[ClassMetrics(3)]
    )
    # Keras' own validation from a PyDataset feeds ClassMetrics batch by batch too.
    hist = model.fit(  # training on whole batches of 32 (the validation batches are ragged)
        x[:320], y[:320], validation_data=Batches(xv, yv, 50), epochs=2,
        callbacks=callbacks, verbose=0,
    )

    y_hat = predict_labels(model, xv)
    not_vacuous(y_hat, 3)
    got = last_epoch(hist)
    assert_matches(got, expected(yv, y_hat, prefix="val_", num_classes=3), METRIC_REL)
    report = classification_report(yv, y_hat, zero_division=0)
    for cb in callbacks:
        assert len(cb.history) == 2, cb.log_prefix
        assert str(cb.history[-1]) == report, cb.log_prefix
        assert_matches(got, expected(yv, y_hat, prefix=cb.log_prefix, num_classes=3), ENGINE_REL)
    assert {k.split("_")[0] + "_" for k in got} >= set(prefixes)


def test_one_shot_generator_is_refused_when_used_up():
    x, y = blobs(192, 3, seed=4)  # whole batches of 32
    gen = ((x[i : i + 48], y[i : i + 48]) for i in range(0, 192, 48))
    model = mlp(6, 3, "softmax")
    model.compile("adam", "sparse_categorical_crossentropy")
    cb = ConfusionCallback(gen)
    with pytest.raises(ValueError, match="yielded no batches.*one-shot generator"):
        model.fit(x, y, epochs=2, callbacks=[cb], verbose=0)
    assert len(cb.history) == 1


def test_callback_rejects_bad_batches():
    x, y = blobs(96, 3, seed=4)  # whole batches of 32
    model = mlp(6, 3, "softmax")
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="x has 96 rows but y has 95"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[ConfusionCallback((x, y[:95]))])
    with pytest.raises(ValueError, match="must carry labels.*as a tuple"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[ConfusionCallback([x, y])])


def test_target_names_and_labels():
    x, y = blobs(96, 3, seed=4)
    y = np.where(y == 2, 0, y)  # class 2 never occurs in y
    names = ["a", "b", "c"]
    values = np.array([10, 20, 30])
    model = mlp(6, 3, "softmax")
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    named = ConfusionCallback((x, y), target_names=names, log_prefix="named_")
    valued = ConfusionCallback((x, values[y]), labels=[10, 20, 30], log_prefix="valued_")
    hist = model.fit(x, y, epochs=1, verbose=0, callbacks=[named, valued])
    y_hat = predict_labels(model, x)
    # Names stay with their classes: every class is listed, even one absent from the epoch.
    assert str(named.history[-1]) == classification_report(
        y, y_hat, labels=[0, 1, 2], target_names=names, zero_division=0
    )
    want = classification_report(values[y], values[y_hat], zero_division=0)
    assert str(valued.history[-1]) == want
    got = last_epoch(hist)
    assert_matches(got, expected(y, y_hat, prefix="named_", num_classes=3, names=names), ENGINE_REL)
    want = expected(values[y], values[y_hat], prefix="valued_", labels=[10, 20, 30])
    assert_matches(got, want, ENGINE_REL)
    with pytest.raises(ValueError, match="target_names has 2 names but the label space has 3"):
        two_names = ConfusionCallback((x, y), target_names=["a", "b"])
        model.fit(x, y, epochs=1, verbose=0, callbacks=[two_names])


def test_verbose_prints_the_report(capsys):
    x, y = blobs(128, 3, seed=4)  # whole batches of 32
    model = mlp(6, 3, "softmax")
    model.compile("adam", "sparse_categorical_crossentropy")
    cb = ConfusionCallback((x, y), verbose=True)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    out = capsys.readouterr().out
    assert str(cb.history[-1]) in out and "Epoch 1" in out


# --------------------------------------------------------------------------- saving
def test_save_and_load(tmp_path):
    x, y = blobs(288, 3, seed=6)  # whole batches of 32
    names = ["a", "b", "c"]
    model = mlp(6, 3, "softmax")
    metric = ClassMetrics(3, class_names=names, metrics=("recall",))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[metric])
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects: the class is registered
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    after = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert set(after) == {"loss", "recall_a", "recall_b", "recall_c"}
    assert after == pytest.approx(before, rel=1e-6)
    y_hat = predict_labels(loaded, x)
    want = expected(y, y_hat, num_classes=3, names=names, metrics=("recall",))
    assert_matches(after, want, METRIC_REL)


# --------------------------------------------------------------------------- docs
def test_docs_example_runs(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "keras.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    assert "ConfusionCallback" in code
    monkeypatch.chdir(tmp_path)
    # The example asserts its report against scikit-learn itself.
    exec(compile(code, "docs/keras.md", "exec"), {"__name__": "docs_keras"})
    assert (tmp_path / "recall.png").stat().st_size > 0


def test_counts_stay_exact_past_2_to_the_24():
    """float32 counts would stop at 2**24 (16777216 + 1 == 16777216): the counts are exact
    integers on every backend, JAX without x64 included."""
    metric = ClassMetrics(2, metrics=("recall", "support"))
    n = 1 << 22
    y = np.ones(n, dtype="int32")
    scores = np.full((n, 1), 0.9, dtype="float32")
    for _ in range(4):
        metric.update_state(y, scores)
    metric.update_state(np.array([0], dtype="int32"), np.array([[0.1]], dtype="float32"))
    for _ in range(3):  # one at a time: in float32, 2**24 + 1 rounds back to 2**24
        metric.update_state(np.array([1], dtype="int32"), np.array([[0.9]], dtype="float32"))
    tp, true, pred = metric.counts()
    assert (tp.tolist(), true.tolist(), pred.tolist()) == (
        [1, 2**24 + 3], [1, 2**24 + 3], [1, 2**24 + 3])
    got = {k: float(v) for k, v in metric.result().items()}
    assert got["recall_1"] == 1.0 and got["recall_0"] == 1.0
    assert got["support_1"] == float(np.float32(2**24 + 3)) == 2**24 + 4
