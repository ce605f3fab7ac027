"""The Keras, Lightning and Transformers adapters log the same key names for the same
classes, with scikit-learn's values (one naming rule: confstream.adapters._keys)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from sklearn.metrics import precision_recall_fscore_support  # noqa: E402

import confstream as cs  # noqa: E402
from confstream.adapters._keys import report_keys  # noqa: E402
from confstream.adapters.transformers import ComputeMetrics  # noqa: E402

NAMES = ["neg", "pos", "unsure"]


def data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    z = rng.normal(size=(200, 3)).astype(np.float32)
    return y, z


def test_transformers_and_lightning_keys_are_one_rule():
    y, z = data()
    hf = ComputeMetrics(target_names=NAMES)((z, y))
    acc = cs.ConfusionMatrix(3).update(y, z)
    lightning = report_keys(acc.report(labels=[0, 1, 2], target_names=NAMES, zero_division=0),
                            prefix="val_")
    assert {"val_" + k: v for k, v in hf.items()} == lightning
    p, r, f, _ = precision_recall_fscore_support(y, z.argmax(1), zero_division=0)
    for i, name in enumerate(NAMES):
        assert hf[f"precision_{name}"] == p[i] and hf[f"recall_{name}"] == r[i]
        assert hf[f"f1_{name}"] == f[i]


@pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_keras_keys_are_the_same():
    pytest.importorskip("keras")
    from confstream.adapters.keras import ClassMetrics, ConfusionCallback

    y, z = data()
    hf = ComputeMetrics(target_names=NAMES)((z, y))
    cb = ConfusionCallback((z, y), target_names=NAMES, metrics=("precision", "recall", "f1"))
    keras_logs = cb._log_values(cs.ConfusionMatrix(3).update(y, z))
    assert keras_logs == {"val_" + k: v for k, v in hf.items() if k in
                          {k2[len("val_"):] for k2 in keras_logs}}
    assert len(keras_logs) == 9
    metric = ClassMetrics(3, class_names=NAMES)
    metric.update_state(y, z)
    in_graph = {k: float(v) for k, v in metric.result().items()}
    assert set(in_graph) == {k[len("val_"):] for k in keras_logs}  # Keras adds "val_" itself
    for k, v in in_graph.items():
        assert v == pytest.approx(hf[k], rel=1e-6)  # float32 in the graph
