"""Differential tests of the one-shot drop-ins against scikit-learn 1.9.

Every drop-in is called with random data (labels subsets and supersets, string labels,
multi-label dense and scipy.sparse, integer and float weights) and every keyword it takes;
its result, its warnings (class and text) and its exception (type and text) must be
scikit-learn's. Results are compared exactly, except where a sum over the samples is added
in another order than scikit-learn's (named where it happens, compared within 4 ulp).
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.exceptions
import sklearn.metrics as skm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import confstream as cs

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ZERO_DIVISION = ["warn", 0, 1, 0.0, 1.0, np.nan]
AVERAGES = [None, "binary", "micro", "macro", "weighted", "samples"]


# ---------------------------------------------------------------------------------------------
# comparing one call


def outcome(fn, *args, **kwargs):
    """(result, [(warning class, text)], exception or None)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result, exc = fn(*args, **kwargs), None
        except Exception as e:  # noqa: BLE001 - compared with the reference's
            result, exc = None, e
    return result, [(w.category, str(w.message)) for w in caught], exc


def _braces_as_sets(msg):
    """scikit-learn lists a set of options in its .pyc's iteration order: compare as sets."""
    return re.sub(r"\{([^{}]*)\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", ")))
                  + "}", msg)


def assert_same_error(ref, got):
    assert got is not None, f"scikit-learn raised {type(ref).__name__}: {ref}; we did not"
    for base in type(ref).__mro__:
        if base in (ValueError, TypeError) and issubclass(type(ref), base):
            assert isinstance(got, base), (type(got), type(ref), str(got))
    if type(ref).__name__ == "InvalidParameterError":
        assert isinstance(got, sklearn.utils._param_validation.InvalidParameterError)
    # scikit-learn's words first; confstream may add a detail after them
    assert _braces_as_sets(str(got)).startswith(_braces_as_sets(str(ref))), (str(got), str(ref))


def assert_same_value(ref, got, approx=False):
    if isinstance(ref, tuple):
        assert isinstance(got, tuple) and len(got) == len(ref)
        for a, b in zip(ref, got):
            assert_same_value(a, b, approx)
        return
    if ref is None:
        assert got is None
        return
    if isinstance(ref, (dict, str)):
        assert got == ref or (isinstance(ref, dict) and _same_dict(ref, got)), (got, ref)
        return
    ref_a, got_a = np.asarray(ref), np.asarray(got)
    assert type(got) is type(ref) or (np.ndim(ref) == 0 and np.ndim(got) == 0
                                      and isinstance(got, (float, np.floating))
                                      and isinstance(ref, (float, np.floating))), \
        (type(got), type(ref))
    assert got_a.shape == ref_a.shape and got_a.dtype == ref_a.dtype, (got_a, ref_a)
    if approx and ref_a.dtype.kind == "f":
        # the same sums of at most 25 non-negative terms, added in another order: each
        # order is within 24 ulp of the exact sum (relative), so both within 48 of each other
        # (1 - accuracy, total - hits: the same bound, absolute, on the scale of the total)
        scale = 1.0 if approx is True else float(approx)
        np.testing.assert_allclose(got_a, ref_a, rtol=48 * np.finfo(float).eps,
                                   atol=48 * np.finfo(float).eps * scale)
    else:
        np.testing.assert_array_equal(got_a, ref_a)


def _same_dict(a, b):
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(
            _same_dict(a[k], b[k]) for k in a)
    if isinstance(a, float) and np.isnan(a):
        return isinstance(b, float) and np.isnan(b)
    return type(a) is type(b) and a == b


def same(name, *args, approx=False, **kwargs):
    """confstream's `name` behaves as scikit-learn's on these arguments."""
    ref, ref_w, ref_e = outcome(getattr(skm, name), *args, **kwargs)
    got, got_w, got_e = outcome(getattr(cs, name), *args, **kwargs)
    if ref_e is not None:
        assert_same_error(ref_e, got_e)
        return None
    assert got_e is None, f"scikit-learn answered {ref!r}; we raised {got_e!r}"
    assert_same_value(ref, got, approx)
    assert [(c.__name__, m) for c, m in got_w] == [(c.__name__, m) for c, m in ref_w]
    for (gc, _), (rc, _) in zip(got_w, ref_w):
        assert issubclass(gc, rc), (gc, rc)  # caught by scikit-learn's class
    return got


# ---------------------------------------------------------------------------------------------
# data


@st.composite
def single_label(draw):
    kind = draw(st.sampled_from(["int", "binary", "str", "float"]))
    pool = {"int": [0, 1, 2, 3, -1], "binary": [0, 1], "str": ["a", "b", "c"],
            "float": [0.0, 1.0, 2.0]}[kind]
    n = draw(st.integers(1, 25))
    y = st.lists(st.sampled_from(pool[:draw(st.integers(1, len(pool)))]), min_size=n,
                 max_size=n)
    t, p = np.array(draw(y)), np.array(draw(y))
    extra = {"int": [7], "binary": [2], "str": ["zz"], "float": [5.0]}[kind]
    return t, p, pool + extra


@st.composite
def weights(draw, n):
    form = draw(st.sampled_from([None, "int", "float"]))
    if form is None:
        return None
    if form == "int":
        w = np.array(draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)))
    else:
        w = np.array(draw(st.lists(st.floats(0, 3, allow_nan=False, width=64), min_size=n,
                                   max_size=n)))
    return w


SPARSE_FORMS = [np.asarray, sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.csc_array, list]


@st.composite
def multi_label(draw):
    n = draw(st.integers(1, 15))
    L = draw(st.integers(2, 5))
    cells = st.lists(st.lists(st.integers(0, 1), min_size=L, max_size=L), min_size=n,
                     max_size=n)
    t, p = np.array(draw(cells)), np.array(draw(cells))
    ft, fp = draw(st.sampled_from(SPARSE_FORMS)), draw(st.sampled_from(SPARSE_FORMS))
    conv = (lambda f, a: a.tolist() if f is list else f(a))
    return conv(ft, t), conv(fp, p), L, n


def label_kw(draw, pool):
    form = draw(st.sampled_from(["none", "subset", "empty"]))
    if form == "none":
        return {}
    if form == "empty":
        return {"labels": []}
    return {"labels": draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool),
                                    unique=True))}


SETWISE = ["precision_score", "recall_score", "f1_score", "jaccard_score"]


# ---------------------------------------------------------------------------------------------
# differential tests


@SETTINGS
@given(single_label(), st.data())
def test_set_wise_single_label(data, draw):
    t, p, pool = data
    w = draw.draw(weights(len(t)))
    kw = label_kw(draw.draw, pool)
    kw["average"] = draw.draw(st.sampled_from(AVERAGES))
    kw["zero_division"] = draw.draw(st.sampled_from(ZERO_DIVISION))
    if draw.draw(st.booleans()):
        kw["pos_label"] = draw.draw(st.sampled_from(pool))
    name = draw.draw(st.sampled_from(SETWISE + ["fbeta_score", "precision_recall_fscore_support"]))
    if name in ("fbeta_score", "precision_recall_fscore_support"):
        kw["beta"] = draw.draw(st.sampled_from([0.0, 0.5, 1, 2.0, np.inf]))
    if name == "precision_recall_fscore_support" and draw.draw(st.booleans()):
        kw["warn_for"] = draw.draw(st.sampled_from([("precision",), ("recall", "f-score"),
                                                    ["f-score"], set()]))
    if name == "jaccard_score" and isinstance(kw["zero_division"], float) and np.isnan(
            kw["zero_division"]):
        kw["zero_division"] = "warn"
    same(name, t, p, sample_weight=w, **kw)


@SETTINGS
@given(multi_label(), st.data())
def test_set_wise_multi_label(data, draw):
    t, p, L, n = data
    w = draw.draw(weights(n))
    kw = label_kw(draw.draw, list(range(L)))
    if kw.get("labels") and draw.draw(st.booleans()):
        kw["labels"] = kw["labels"] + kw["labels"][:1]  # a repeated label
    kw["average"] = draw.draw(st.sampled_from(AVERAGES))
    kw["zero_division"] = draw.draw(st.sampled_from(["warn", 0, 1]))
    name = draw.draw(st.sampled_from(SETWISE + ["fbeta_score", "precision_recall_fscore_support"]))
    if name in ("fbeta_score", "precision_recall_fscore_support"):
        kw["beta"] = draw.draw(st.sampled_from([0.0, 0.5, 1, 2.0, np.inf]))
    same(name, t, p, sample_weight=w, **kw)


@SETTINGS
@given(st.one_of(single_label(), multi_label()), st.data())
def test_matrices_and_reports(data, draw):
    t, p = data[0], data[1]
    n = len(t) if not sp.issparse(t) else t.shape[0]
    multilabel = len(data) == 4
    pool = list(range(data[2])) if multilabel else data[2]
    w = draw.draw(weights(n))
    kw = label_kw(draw.draw, pool)
    name = draw.draw(st.sampled_from(["confusion_matrix", "multilabel_confusion_matrix",
                                      "classification_report", "cohen_kappa_score"]))
    if name == "confusion_matrix":
        kw["normalize"] = draw.draw(st.sampled_from([None, "true", "pred", "all"]))
    elif name == "multilabel_confusion_matrix":
        kw["samplewise"] = draw.draw(st.booleans())
    elif name == "classification_report":
        kw["digits"] = draw.draw(st.integers(0, 5))
        kw["output_dict"] = draw.draw(st.booleans())
        kw["zero_division"] = draw.draw(st.sampled_from(ZERO_DIVISION))
        if draw.draw(st.booleans()):
            k = len(kw.get("labels") or pool)
            kw["target_names"] = [f"name {i}" for i in range(k)]
    else:
        kw["weights"] = draw.draw(st.sampled_from([None, "linear", "quadratic"]))
        kw["replace_undefined_by"] = draw.draw(st.sampled_from([np.nan, 0.0, -1.0, 0.5]))
    same(name, t, p, sample_weight=w, **kw)


@SETTINGS
@given(st.one_of(single_label(), multi_label()), st.data())
def test_scores_of_all_samples(data, draw):
    t, p = data[0], data[1]
    n = len(t) if not sp.issparse(t) else t.shape[0]
    w = draw.draw(weights(n))
    name = draw.draw(st.sampled_from(["accuracy_score", "zero_one_loss", "hamming_loss",
                                      "balanced_accuracy_score", "matthews_corrcoef"]))
    kw = {}
    if name in ("accuracy_score", "zero_one_loss"):
        kw["normalize"] = draw.draw(st.booleans())
    if name == "balanced_accuracy_score":
        kw["adjusted"] = draw.draw(st.booleans())
    # scikit-learn averages the (weighted) hits with numpy's pairwise sum, the engine adds
    # its weighted cells one sample at a time: float weights may differ in the last ulp
    # (multi-label hamming_loss is exact: the same dot product of exact per-sample counts)
    approx = w is not None and w.dtype.kind == "f" and name in (
        "accuracy_score", "zero_one_loss", "hamming_loss") and not (
        name == "hamming_loss" and len(data) == 4)
    if approx:
        approx = max(1.0, float(np.sum(w)))
    same(name, t, p, sample_weight=w, approx=approx, **kw)


# ---------------------------------------------------------------------------------------------
# the cases of the issue, one by one

Y = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1]])
P = np.array([[1, 0, 0], [0, 1, 1], [0, 1, 1], [0, 0, 0]])


def test_samples_average_over_a_label_subset_is_exact():
    assert same("jaccard_score", Y, P, average="samples", labels=[0, 2]) == skm.jaccard_score(
        Y, P, average="samples", labels=[0, 2])
    same("precision_recall_fscore_support", Y, P, average="samples", labels=[0, 1])
    same("f1_score", Y, P, average="samples", labels=[1])
    same("fbeta_score", Y, P, beta=3, average="samples", labels=[2, 0],
         sample_weight=[1, 2, 0.5, 3])
    same("classification_report", Y, P, labels=[0, 2], zero_division=0)


def test_the_accumulator_refuses_samples_over_a_subset_naming_the_way():
    acc = cs.MultilabelConfusionMatrix(3).update(Y, P)
    for call in (lambda: acc.jaccard(average="samples", labels=[0, 2]),
                 lambda: acc.precision_recall_fscore_support(average="samples", labels=[0, 2])):
        with pytest.raises(ValueError, match=r"MultilabelConfusionMatrix\(2\).*\[:, \[0, 2\]\]"):
            call()
    sub = cs.MultilabelConfusionMatrix(2).update(Y[:, [0, 2]], P[:, [0, 2]])
    assert sub.jaccard(average="samples") == skm.jaccard_score(Y, P, average="samples",
                                                               labels=[0, 2])


@pytest.mark.parametrize("form", [sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.csc_array,
                                  sp.coo_array, sp.lil_matrix])
def test_sparse_indicators_in_the_drop_ins_and_the_accumulator(form, monkeypatch):
    import confstream._inputs as inputs

    monkeypatch.setattr(inputs, "SPARSE_BLOCK_CELLS", 4)  # several blocks of rows
    for name in ("multilabel_confusion_matrix", "f1_score", "jaccard_score", "hamming_loss",
                 "accuracy_score", "classification_report"):
        kw = {"average": "samples"} if name in ("f1_score", "jaccard_score") else {}
        same(name, form(Y), form(P), **kw)
    w = np.array([1.0, 2.5, 0.0, 3.0])
    dense = cs.MultilabelConfusionMatrix(3).update(Y, P, sample_weight=w)
    sparse = cs.MultilabelConfusionMatrix(3).update(form(Y), form(P), sample_weight=w)
    assert sparse == dense
    bad = P.copy()
    bad[3, 1] = 2
    with pytest.raises(ValueError, match=r"y_pred\[3, 1\] = 2"):
        sparse.update(form(Y), form(bad))
    assert sparse == dense  # all or nothing, over every block


def test_messages_are_scikit_learns():
    same("confusion_matrix", [0, 1, 1], [0, 1])
    same("f1_score", [0, 1, 1], [0, 1])
    same("f1_score", [0, 1, 1], [0, 1, 0], sample_weight=[1, 2])
    same("precision_recall_fscore_support", [0, 1, 2], [0, 1, 1], average="samples")
    same("jaccard_score", [0, 1, 2], [0, 1, 1], average="samples")
    same("multilabel_confusion_matrix", [0, 1, 2], [0, 1, 1], samplewise=True)
    same("confusion_matrix", [0.5, 1], [0, 1])
    same("confusion_matrix", [0, np.nan, 1], [0, 1, 1])
    same("f1_score", [0, 1, 1], [0, 1, 1], sample_weight=[1, np.inf, 1])
    same("f1_score", [0, 1, 1], [0, 1, 1], sample_weight=[0, 0, 0])
    same("confusion_matrix", ["a", "b"], [0, 1])
    same("f1_score", [0, 1, 2], [0, 1, 1])
    same("f1_score", [0, 1, 1], [0, 1, 1], pos_label=2)
    same("f1_score", Y, P)
    same("f1_score", Y, np.ones((4, 2)), average="micro")
    same("f1_score", np.zeros((2, 3, 2)), np.zeros((2, 3, 2)))
    same("f1_score", [], [])
    same("accuracy_score", sp.csr_matrix(np.array([[0], [1]])), [0, 1])
    same("multilabel_confusion_matrix", Y, P, labels=[0, 5])
    same("multilabel_confusion_matrix", Y, P, labels=[-1, 0])
    same("f1_score", [0, 1, 1], [0, 1, 0], average="macro", pos_label=0)


@pytest.mark.parametrize("name,kw", [
    ("accuracy_score", {"normalize": "x"}), ("accuracy_score", {"sample_weight": 3}),
    ("precision_score", {"labels": 3}), ("precision_score", {"pos_label": [1]}),
    ("precision_score", {"average": "x"}), ("precision_score", {"zero_division": 3}),
    ("recall_score", {"zero_division": "x"}), ("f1_score", {"average": "foo"}),
    ("fbeta_score", {"beta": "x"}), ("fbeta_score", {"beta": -1}),
    ("hamming_loss", {"sample_weight": 3}), ("zero_one_loss", {"normalize": "x"}),
    ("cohen_kappa_score", {"weights": "x"}), ("cohen_kappa_score", {"replace_undefined_by": 2}),
    ("cohen_kappa_score", {"labels": 3}), ("matthews_corrcoef", {"sample_weight": 3}),
    ("jaccard_score", {"zero_division": np.nan}), ("jaccard_score", {"average": "x"}),
    ("precision_recall_fscore_support", {"beta": -1}),
    ("precision_recall_fscore_support", {"warn_for": "x"}),
    ("classification_report", {"digits": -1}), ("classification_report", {"output_dict": "x"}),
    ("classification_report", {"target_names": 3}),
    ("confusion_matrix", {"normalize": "x"}), ("multilabel_confusion_matrix", {"samplewise": "x"}),
    ("balanced_accuracy_score", {"adjusted": "x"}),
])
def test_parameter_errors_are_scikit_learns(name, kw):
    if name == "fbeta_score" and "beta" not in kw:
        kw = dict(kw, beta=1)
    same(name, [0, 1, 1], [0, 1, 0], **kw)
    if name != "fbeta_score":
        same(name, 3, [0, 1, 0])  # a scalar is no array-like


@pytest.mark.parametrize("name,kw", [
    (name, {"average": average})
    for name in ("precision_recall_fscore_support", "jaccard_score", "precision_score",
                 "f1_score")
    for average in (None, "micro", "macro", "weighted", "samples")
] + [(name, {}) for name in ("multilabel_confusion_matrix", "confusion_matrix",
                              "cohen_kappa_score", "classification_report")]
  + [("classification_report", {"output_dict": True}),
     ("classification_report", {"target_names": ["a"]}),
     ("multilabel_confusion_matrix", {"samplewise": True})])
def test_empty_labels(name, kw):
    same(name, [0, 1, 2], [0, 1, 1], labels=[], **kw)
    same(name, Y, P, labels=[], **kw)
    same(name, sp.csr_array(Y), sp.csr_array(P), labels=[], **kw)
    same(name, Y, P, labels=[], **kw)


def test_new_drop_ins_are_exported():
    for name in ("accuracy_score", "precision_score", "recall_score", "f1_score", "fbeta_score",
                 "hamming_loss", "zero_one_loss"):
        assert name in cs.__all__ and getattr(cs, name).__name__ == name
        import inspect

        assert inspect.signature(getattr(cs, name)) == inspect.signature(getattr(skm, name))
    for name in ("cohen_kappa_score", "matthews_corrcoef", "jaccard_score",
                 "precision_recall_fscore_support", "classification_report", "confusion_matrix",
                 "multilabel_confusion_matrix", "balanced_accuracy_score"):
        import inspect

        assert str(inspect.signature(getattr(cs, name))) == str(
            inspect.signature(getattr(skm, name)))


# ---------------------------------------------------------------------------------------------
# warnings: scikit-learn's class catches them, and confstream does not import scikit-learn


def test_sklearn_filter_turns_confstream_warnings_into_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.filterwarnings("error", category=sklearn.exceptions.UndefinedMetricWarning)
        with pytest.raises(sklearn.exceptions.UndefinedMetricWarning):
            cs.f1_score([0, 0], [0, 0])
        with pytest.raises(sklearn.exceptions.UndefinedMetricWarning):
            cs.ConfusionMatrix().update([1, 1], [0, 0]).report()
        with pytest.raises(cs.UndefinedMetricWarning):  # and confstream's class too
            cs.precision_score([1, 1], [0, 0])
    with pytest.warns(sklearn.exceptions.UndefinedMetricWarning, match="Precision is ill"):
        cs.precision_score([1, 1], [0, 0])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=sklearn.exceptions.UndefinedMetricWarning)
        cs.precision_score([1, 1], [0, 0])  # pytest's "error" filter does not fire


def test_import_confstream_does_not_import_sklearn():
    code = (
        "import sys, warnings\n"
        "import confstream as cs\n"
        "assert 'sklearn' not in sys.modules, sorted(m for m in sys.modules if 'sklearn' in m)\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    cs.f1_score([0, 0], [0, 0])\n"
        "    cs.jaccard_score([[0, 0], [1, 0]], [[0, 0], [1, 0]], average=None)\n"
        "assert 'sklearn' not in sys.modules\n"
        "assert [x.category for x in w] == [cs.UndefinedMetricWarning] * 2, w\n"
        "with warnings.catch_warnings():\n"
        "    warnings.filterwarnings('error', category=cs.UndefinedMetricWarning)\n"
        "    try:\n"
        "        cs.f1_score([0, 0], [0, 0])\n"
        "    except cs.UndefinedMetricWarning:\n"
        "        print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ---------------------------------------------------------------------------------------------
# integer weights: exact int64 counts

def test_integer_weights_give_exact_int64_counts():
    w = np.array([2**53 + 1, 1, 1])
    got = cs.confusion_matrix([0, 1, 1], [0, 1, 0], sample_weight=w)
    ref = skm.confusion_matrix([0, 1, 1], [0, 1, 0], sample_weight=w)
    assert got.dtype == np.int64 and ref.dtype == np.int64
    np.testing.assert_array_equal(got, ref)
    assert int(got[0, 0]) == 2**53 + 1


def test_integer_weights_past_int64_raise():
    w = np.array([2**62, 2**62, 1], dtype=np.int64)
    with pytest.raises(OverflowError, match="2\\*\\*63 - 1"):
        cs.confusion_matrix([0, 0, 1], [0, 0, 1], sample_weight=w)


@SETTINGS
@given(single_label(), st.data())
def test_integer_weights_are_int64_like_sklearn(data, draw):
    t, p, _ = data
    w = np.array(draw.draw(st.lists(st.integers(0, 1000), min_size=len(t), max_size=len(t))))
    same("confusion_matrix", t, p, sample_weight=w)


def test_drop_ins_doc_examples_run_and_list_every_drop_in(capsys):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "DROP_INS.md").read_text("utf-8")
    for code in re.findall(r"```python\n(.*?)```", doc, re.S):
        exec(compile(code, "DROP_INS.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "0.375" and out[3] == "3.0"
    from confstream import sklearn as dropins

    for name in dropins.__all__:
        if name != "InvalidParameterError":
            assert f"`{name}`" in doc, name


def test_sparse_updates_from_several_threads_at_once():
    """Threads feeding sparse batches (several blocks each) into one accumulator, in a child
    process so that a crash fails the test; the result equals one pass over all the data."""
    code = r"""
import threading
import numpy as np, scipy.sparse as sp
import confstream as cs, confstream._inputs as inputs
inputs.SPARSE_BLOCK_CELLS = 64
rng = np.random.default_rng(0)
parts = [(rng.integers(0, 2, (300, 5)), rng.integers(0, 2, (300, 5)), rng.random(300))
         for _ in range(8)]
acc = cs.MultilabelConfusionMatrix(5)
def work(i):
    t, p, w = parts[i]
    for _ in range(3):
        acc.update(sp.csr_array(t), sp.csc_matrix(p), sample_weight=w if i % 2 else None)
threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
ref = cs.MultilabelConfusionMatrix(5)
for i in range(8):
    t, p, w = parts[i]
    for _ in range(3):
        ref.update(t, p, sample_weight=w if i % 2 else None)
assert np.array_equal(acc.sample_counts if hasattr(acc, "sample_counts") else acc._tp, ref._tp)
np.testing.assert_allclose(acc.counts, ref.counts, rtol=1e-12)
assert acc._nsamples == ref._nsamples == 8 * 3 * 300
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_sparse_input_is_never_made_dense_whole():
    import tracemalloc

    # 100_000 x 200 int64 cells would be 160 MB dense; the blocks of rows are 8 MB each
    n, L = 100_000, 200
    rng = np.random.default_rng(1)
    rows, cols = rng.integers(0, n, 20_000), rng.integers(0, L, 20_000)
    t = sp.csr_array((np.ones(20_000, np.int64), (rows, cols)), shape=(n, L))
    t.sum_duplicates()
    t.data[:] = 1
    tracemalloc.start()
    try:
        acc = cs.MultilabelConfusionMatrix(L).update(t, t)
        loss = cs.hamming_loss(t, t)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert acc.counts[:, 1, 1].sum() == t.nnz and loss == 0.0
    assert peak < 60 * 2**20, peak
