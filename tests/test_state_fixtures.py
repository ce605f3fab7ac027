"""States saved by ``to_dict`` (format 1) with the code of main at 31fa170, before the grouped
accumulators' state moved onto ``_state.Field``, still load: into the numbers that counting
their data gives now and that scikit-learn gives on the same rows
(tests/fixtures/make_states.py wrote them)."""

import json
import pathlib

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, multilabel_confusion_matrix

import confstream as cs

HERE = pathlib.Path(__file__).parent / "fixtures"

import importlib.util

_spec = importlib.util.spec_from_file_location("make_states", HERE / "make_states.py")
make_states = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_states)

NAMES = sorted(p.stem for p in HERE.glob("*.json"))


def test_every_accumulator_kind_has_a_saved_state():
    assert set(NAMES) == set(make_states.states(cs)), NAMES


@pytest.mark.parametrize("name", NAMES)
def test_saved_state_loads_into_what_counting_gives_now(name):
    saved = json.loads((HERE / f"{name}.json").read_text())
    acc = cs.from_dict(saved)
    now = make_states.states(cs)[name]
    assert acc.to_dict() == saved  # a loaded state writes itself back unchanged
    assert json.dumps(now.to_dict(), sort_keys=True) == json.dumps(saved, sort_keys=True)
    # loaded + counted now: every sum doubles, as merging two equal states must
    both = cs.from_dict(saved)
    both += now
    np.testing.assert_array_equal(both.sample_counts if hasattr(both, "sample_counts")
                                  else both.counts, 2 * np.asarray(
                                      acc.sample_counts if hasattr(acc, "sample_counts")
                                      else acc.counts))


def _check(name, acc):
    t, p, g, wf, wi, T, P = make_states.data()
    w = wf if "float" in name or name.endswith("_weights") else None
    w = wi if "int_weights" in name else w
    if name.startswith("cm_"):
        ref = confusion_matrix(t, p, labels=range(4), sample_weight=w)
        got = acc.counts
        (np.testing.assert_array_equal if w is None or w is wi else np.testing.assert_allclose)(
            got, ref)
    elif name.startswith("ml_"):
        np.testing.assert_allclose(acc.counts, multilabel_confusion_matrix(T, P, sample_weight=w))
    elif name.startswith("grouped_ml"):
        for k in ("a", "b", "c"):
            r = g == k
            np.testing.assert_allclose(acc[k].counts, multilabel_confusion_matrix(
                T[r], P[r], sample_weight=None if w is None else w[r]))
    else:
        for k in ("a", "b", "c"):
            r = g == k
            np.testing.assert_allclose(acc[k].counts, confusion_matrix(
                t[r], p[r], labels=range(4), sample_weight=None if w is None else w[r]))


@pytest.mark.parametrize("name", NAMES)
def test_saved_state_is_what_sklearn_counts(name):
    _check(name, cs.from_dict(json.loads((HERE / f"{name}.json").read_text())))
