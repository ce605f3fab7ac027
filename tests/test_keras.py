"""confstream.adapters.keras: ClassMetrics against scikit-learn, argument checks, and the
``model.fit`` cases run once per Keras backend in subprocesses (tests/_keras_backend_cases.py),
because the backend is fixed at the first ``import keras`` of a process.

ClassMetrics counts in float32 inside the graph. Counts of up to 2**24 samples (and weights that
are multiples of 1/8) are exact in float32, so the only difference from scikit-learn's float64
is the rounding of the final division: values are compared with rel=1e-6.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

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
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from sklearn.metrics import precision_recall_fscore_support  # noqa: E402

from confstream.adapters.keras import ClassMetrics  # noqa: E402

REL = 1e-6
REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "tests" / "_keras_backend_cases.py"


def reference(y_true, y_pred, num_classes, *, sample_weight=None, multilabel=False):
    """scikit-learn's per-class values keyed like ClassMetrics.result()."""
    labels = None if multilabel else list(range(num_classes))
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, sample_weight=sample_weight, zero_division=0, average=None
    )
    out = {}
    for name, column in (("precision", p), ("recall", r), ("f1", f), ("support", s)):
        out.update({f"{name}_{i}": float(v) for i, v in enumerate(column)})
    return out


def run_metric(metric, batches):
    for batch in batches:
        metric.update_state(*batch)
    return {k: float(keras.ops.convert_to_numpy(v)) for k, v in metric.result().items()}


def assert_close(got, want):
    assert sorted(got) == sorted(want)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=REL, abs=0), key


def splits(n, cuts):
    edges = sorted({0, n, *(c % (n + 1) for c in cuts)})
    return list(zip(edges[:-1], edges[1:]))


ALL = ("precision", "recall", "f1", "support")


# --------------------------------------------------------------------------- differential
@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(1, 60),
    c=st.integers(2, 6),
    form=st.sampled_from(["sparse", "column", "float", "onehot"]),
    weighted=st.sampled_from([None, "vector", "column"]),
    cuts=st.lists(st.integers(0, 60), max_size=3),
    seed=st.integers(0, 2**16),
)
def test_softmax_matches_sklearn(n, c, form, weighted, cuts, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    scores = rng.random((n, c)).astype("float32")  # continuous: no argmax ties
    y_in = {
        "sparse": y.astype("int64"),
        "column": y.reshape(-1, 1).astype("int32"),
        "float": y.astype("float32"),
        "onehot": np.eye(c, dtype="float32")[y],
    }[form]
    w = rng.integers(0, 9, n) / 8.0  # exact in float32; zeros included
    w[0] = 0.5  # scikit-learn refuses weights that are all zero
    w_in = {None: None, "vector": w, "column": w.reshape(-1, 1)}[weighted]
    batches = [
        (y_in[a:b], scores[a:b]) + (() if w_in is None else (w_in[a:b],))
        for a, b in splits(n, cuts)
    ]
    got = run_metric(ClassMetrics(c, metrics=ALL), batches)
    want = reference(y, scores.argmax(1), c, sample_weight=None if weighted is None else w)
    assert_close(got, want)


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(1, 60),
    threshold=st.sampled_from([0.5, 0.25, 0.75]),
    shape=st.sampled_from(["column", "flat"]),
    label_shape=st.sampled_from(["sparse", "column", "onehot"]),
    cuts=st.lists(st.integers(0, 60), max_size=3),
    seed=st.integers(0, 2**16),
)
def test_sigmoid_binary_matches_sklearn(n, threshold, shape, label_shape, cuts, seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype("int64")  # imbalanced
    # Scores on the threshold itself must go to class 0 (strict >).
    scores = rng.choice(np.array([0.1, 0.25, 0.5, 0.75, 0.9, threshold], dtype="float32"), n)
    y_in = {"sparse": y, "column": y.reshape(-1, 1), "onehot": np.eye(2, dtype="float32")[y]}
    y_in = y_in[label_shape]
    s_in = scores.reshape(-1, 1) if shape == "column" else scores
    batches = [(y_in[a:b], s_in[a:b]) for a, b in splits(n, cuts)]
    got = run_metric(ClassMetrics(2, metrics=ALL, threshold=threshold), batches)
    assert_close(got, reference(y, (scores > threshold).astype(int), 2))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 50),
    n_labels=st.integers(2, 8),  # one column is "binary" to sklearn,
    per_label=st.booleans(),
    weighted=st.booleans(),
    cuts=st.lists(st.integers(0, 50), max_size=3),
    seed=st.integers(0, 2**16),
)
def test_multilabel_matches_sklearn(n, n_labels, per_label, weighted, cuts, seed):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, n_labels)) < 0.3).astype("int32")
    scores = rng.choice(np.array([0.0, 0.25, 0.5, 0.75, 1.0], dtype="float32"), (n, n_labels))
    threshold = rng.choice([0.25, 0.5, 0.75], n_labels) if per_label else 0.5
    w = rng.integers(1, 9, n) / 4.0
    batches = [(y[a:b], scores[a:b]) + ((w[a:b],) if weighted else ()) for a, b in splits(n, cuts)]
    metric = ClassMetrics(n_labels, metrics=ALL, multilabel=True, threshold=threshold)
    got = run_metric(metric, batches)
    y_hat = (scores > threshold).astype(int)
    want = reference(y, y_hat, n_labels, multilabel=True, sample_weight=w if weighted else None)
    assert_close(got, want)


def test_arbitrary_weights_close_to_sklearn():
    # Weights that float32 cannot hold exactly: the sums round, so the tolerance is wider.
    rng = np.random.default_rng(1)
    y, scores, w = rng.integers(0, 3, 200), rng.random((200, 3)), rng.random(200)
    batches = [(y[:90], scores[:90], w[:90]), (y[90:], scores[90:], w[90:])]
    got = run_metric(ClassMetrics(3, metrics=ALL), batches)
    want = reference(y, scores.argmax(1), 3, sample_weight=w)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-5), key


def test_zero_division_is_zero_and_reset():
    metric = ClassMetrics(3, metrics=ALL)
    metric.update_state(np.array([0, 0]), np.eye(3, dtype="float32")[[0, 1]])
    got = run_metric(metric, [])
    assert_close(got, reference([0, 0], [0, 1], 3))
    assert got["precision_2"] == got["recall_2"] == got["f1_2"] == 0.0
    assert got["precision_1"] == 0.0 and got["recall_1"] == 0.0
    metric.reset_state()
    assert all(v == 0.0 for v in run_metric(metric, []).values())


def test_keys_and_class_names():
    metric = ClassMetrics(3, metrics=("recall",), class_names=["cat", "dog", "eel"])
    metric.update_state(np.array([0, 1, 2, 2]), np.eye(3, dtype="float32")[[0, 2, 2, 2]])
    got = run_metric(metric, [])
    assert list(got) == ["recall_cat", "recall_dog", "recall_eel"]
    assert got == pytest.approx({"recall_cat": 1.0, "recall_dog": 0.0, "recall_eel": 1.0})
    assert list(ClassMetrics(2).result()) == [
        "precision_0", "precision_1", "recall_0", "recall_1", "f1_0", "f1_1"
    ]


@pytest.mark.parametrize(
    "y_true",
    [
        np.array([0, 3]),
        np.array([-1, 0]),
        np.array([0.5, 1.0], dtype="float32"),
        np.array([[0], [7]]),
    ],
    ids=["too-big", "negative", "non-integer", "column"],
)
def test_invalid_sparse_labels_poison_result(y_true):
    # A compiled step cannot raise, and dropping the rows would be silent: results go NaN.
    metric = ClassMetrics(3)
    metric.update_state(np.array([0, 1]), np.eye(3, dtype="float32")[[0, 1]])
    metric.update_state(y_true, np.eye(3, dtype="float32")[[0, 1]])
    assert all(np.isnan(v) for v in run_metric(metric, []).values())
    metric.reset_state()
    metric.update_state(np.array([0, 1]), np.eye(3, dtype="float32")[[0, 1]])
    assert not any(np.isnan(v) for v in run_metric(metric, []).values())


# --------------------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_classes=1), "num_classes must be >= 2"),
        (dict(num_classes=0, multilabel=True), "num_classes must be >= 1"),
        (dict(num_classes=2.0), "num_classes must be an int"),
        (dict(num_classes=3, metrics=("recall", "auc")), "metrics must be"),
        (dict(num_classes=3, metrics=()), "metrics must be"),
        (dict(num_classes=3, class_names=["a", "b"]), "class_names has 2 names but num_classes=3"),
        (dict(num_classes=2, class_names=["a", "a"]), "class_names must be unique"),
        (dict(num_classes=2, class_names="ab"), "class_names must be a sequence"),
        (dict(num_classes=3, threshold=[0.5, 0.5, 0.5]), "threshold must be a scalar"),
        (dict(num_classes=3, multilabel=True, threshold=[0.5, 0.5]), "threshold has 2 values"),
        (dict(num_classes=2, threshold=float("nan")), "threshold must be finite"),
        (dict(num_classes=2, threshold="high"), "threshold must be a number"),
        (dict(num_classes=2, prefix=1), "prefix must be a str"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClassMetrics(**kwargs)


def _zeros(*shape):
    return np.zeros(shape, "float32")


@pytest.mark.parametrize(
    "kwargs, y_true, y_pred, sample_weight, match",
    [
        ({}, [0, 1], _zeros(2, 4), None, r"y_pred must be \(N, 3\).*\(2, 4\)"),
        ({}, [0, 1], _zeros(2, 1), None, r"y_pred must be \(N, 3\)"),
        ({"num_classes": 2}, [0, 1], _zeros(2, 3), None, r"or 1 for a binary sigmoid"),
        ({}, _zeros(2, 2), _zeros(2, 3), None, r"y_true must be sparse labels"),
        ({"multilabel": True}, _zeros(2, 2), _zeros(2, 3), None, r"y_true must be a \(N, 3\)"),
        ({"multilabel": True}, _zeros(2, 3), _zeros(2, 2), None, r"y_pred must be \(N, 3\)"),
        ({}, [0, 1], _zeros(2, 3), _zeros(2, 3), r"sample_weight must be"),
    ],
)
def test_bad_inputs(kwargs, y_true, y_pred, sample_weight, match):
    metric = ClassMetrics(**{"num_classes": 3, **kwargs})
    with pytest.raises(ValueError, match=match):
        metric.update_state(np.asarray(y_true), y_pred, sample_weight)


# --------------------------------------------------------------------------- serialization
def test_config_round_trip():
    metric = ClassMetrics(
        4, metrics=("f1", "recall"), multilabel=True, threshold=[0.1, 0.2, 0.3, 0.4],
        class_names=["a", "b", "c", "d"], name="per_label", prefix="ml_",
    )
    blob = keras.saving.serialize_keras_object(metric)
    assert blob["registered_name"] == "confstream>ClassMetrics"
    again = keras.saving.deserialize_keras_object(blob)
    assert isinstance(again, ClassMetrics)
    assert again.get_config() == metric.get_config()
    assert list(again.result()) == list(metric.result())
    assert list(again.result())[:2] == ["ml_f1_a", "ml_f1_b"]


# --------------------------------------------------------------------------- model.fit
def _backend_available(backend):
    module = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}[backend]
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def backend_runs():
    """Start every available backend's run at once (they overlap on 2 cores)."""
    runs = {}
    for backend in ("tensorflow", "torch", "jax"):
        if not _backend_available(backend):
            continue
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
        # three runs at the same time share numba's cache (saves are locked: _kernels/_jit.py)
        # one process each (no xdist inside): the three already share the cores
        cmd = [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
               str(CASES)]
        runs[backend] = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    yield runs
    for proc in runs.values():  # runs that no test read (-k): stop them, close their pipes
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.mark.parametrize("backend", ["tensorflow", "torch", "jax"])
def test_fit_cases_on_backend(backend, backend_runs):
    pytest.importorskip({"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}[backend])
    proc = backend_runs[backend]
    try:
        out, _ = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"{backend} cases timed out:\n{out[-6000:]}")
    assert proc.returncode == 0, f"KERAS_BACKEND={backend} cases failed:\n{out[-8000:]}"
    assert " passed" in out and "no tests ran" not in out, out[-2000:]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_threshold_compares_in_the_scores_dtype(dtype):
    # numpy and the core engine compare float32 scores with the threshold rounded to float32,
    # so float32(0.3) is not above 0.3 while float64(float32(0.3)) is.
    scores = np.array([np.float32(0.3), 0.2, 0.9, np.float32(0.3)], dtype=dtype)
    y = np.array([1, 0, 1, 0])
    metric = ClassMetrics(2, metrics=ALL, threshold=0.3)
    got = run_metric(metric, [(y, scores)])
    y_hat = (scores > 0.3).astype(int)
    assert y_hat.tolist() == ([0, 0, 1, 0] if dtype == "float32" else [1, 0, 1, 1])
    assert_close(got, reference(y, y_hat, 2))
    multi = ClassMetrics(2, metrics=ALL, multilabel=True, threshold=[0.3, 0.3])
    got = run_metric(multi, [(np.stack([y, 1 - y], 1), np.stack([scores, scores], 1))])
    want = reference(np.stack([y, 1 - y], 1), np.stack([y_hat, y_hat], 1), 2, multilabel=True)
    assert_close(got, want)


# --------------------------------------------------------------------------- callback arguments
@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (((1, 2, 3, 4),), {}, r"\(x, y\) or \(x, y, sample_weight\), got a tuple of 4"),
        (((1, 2),), dict(every=0), "every must be a positive int"),
        (((1, 2),), dict(batch_size=0), "batch_size must be a positive int"),
        (((1, 2),), dict(steps=0), "steps must be a positive int"),
        (((1, 2),), dict(num_classes=1), "num_classes must be >= 2"),
        (((1, 2),), dict(num_classes=3, labels=[0, 1]), "labels has 2 entries but num_classes=3"),
        (((1, 2),), dict(multilabel=True, labels=[0, 1]), "labels is for single-label problems"),
        (((1, 2),), dict(metrics=("recall", "auc")), "metrics must be"),
        (((1, 2),), dict(log_prefix=None), "log_prefix must be a str"),
    ],
)
def test_callback_bad_arguments(args, kwargs, match):
    from confstream.adapters.keras import ConfusionCallback

    with pytest.raises(ValueError, match=match):
        ConfusionCallback(*args, **kwargs)


def test_callback_without_model():
    from confstream.adapters.keras import ConfusionCallback

    with pytest.raises(ValueError, match="has no model"):
        ConfusionCallback((np.zeros((2, 1)), np.zeros(2))).evaluate()


def test_zero_weight_samples_are_masked_out():
    # Keras pads with sample_weight 0; a padding label such as -1 must not poison the result.
    y = np.array([0, 1, -1, 2, 7])
    scores = np.eye(3, dtype="float32")[[0, 1, 2, 2, 0]]
    w = np.array([1.0, 1.0, 0.0, 1.0, 0.0])
    got = run_metric(ClassMetrics(3, metrics=ALL), [(y, scores, w)])
    assert_close(got, reference(y[w > 0], scores[w > 0].argmax(1), 3))
    poisoned = run_metric(ClassMetrics(3), [(y, scores, np.ones(5))])
    assert all(np.isnan(v) for v in poisoned.values())


def test_mixed_precision_counts_stay_float32():
    # float16 counts would stop being exact at 2048; the metric keeps float32 state.
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        metric = ClassMetrics(2, metrics=ALL)
        rng = np.random.default_rng(2)
        y = rng.integers(0, 2, 5001)
        scores = rng.choice(np.array([0.25, 0.5, 0.75], dtype="float16"), (5001, 1))
        got = run_metric(metric, [(y, scores)])
    finally:
        keras.mixed_precision.set_global_policy(policy)
    assert keras.backend.standardize_dtype(metric.true_sum.dtype) == "float32"
    assert_close(got, reference(y, (scores[:, 0] > 0.5).astype(int), 2))
