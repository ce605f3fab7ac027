"""Torch tensors in every form, against scikit-learn on the same data.

Two ways in: ``acc.update`` with CPU tensors (the core reads them zero-copy), and the GPU
path ``confstream.adapters.torch._device_update`` called directly with CPU tensors, so that
its torch-op counting is covered without a GPU. Both must equal scikit-learn, and the device
path must leave exactly the state the core's own counting leaves. The CUDA tests at the end
run only where a GPU is present.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from sklearn.metrics import classification_report  # noqa: E402

import confstream as cs  # noqa: E402
from _reference import cuts, same, split  # noqa: E402
from confstream.adapters import torch as ta  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
C = 4


def sk(y_true, y_pred, w=None, **kw):
    return (classification_report(y_true, y_pred, sample_weight=w, zero_division=0, **kw),
            classification_report(y_true, y_pred, sample_weight=w, zero_division=0,
                                  output_dict=True, **kw))


def assert_report(acc, y_true, y_pred, w=None, **kw):
    """Text byte-identical, dict equal; 'samples avg' (multi-label) within 4 ulp, as numpy's
    mean of per-sample scores is itself only one rounding of the exact value."""
    text, ref = sk(y_true, y_pred, w, **kw)
    rep = acc.report(zero_division=0, **kw)
    assert str(rep) == text
    assert same(rep.to_dict(), ref, approx_keys=("samples avg",))


# --------------------------------------------------------------------------------------------
# forms: (tensors to feed, the same data as scikit-learn reads it, accumulator settings)


def form_data(form, rng, n):
    """(y_true tensor, y_pred tensor, flat true labels, flat predicted labels, acc kwargs)."""
    y = rng.integers(0, C, n)
    if form == "labels":
        p = rng.integers(0, C, n)
        return torch.from_numpy(y), torch.from_numpy(p), y, p, {"num_classes": C}
    if form == "labels_int32":
        p = rng.integers(0, C, n)
        return (torch.from_numpy(y.astype(np.int32)), torch.from_numpy(p.astype(np.uint8)),
                y, p, {"num_classes": C})
    if form == "float_labels":  # integer-valued floats: the report prints 1.0, 2.0, ...
        p = rng.integers(0, C, n)
        return (torch.from_numpy(y.astype(np.float32)), torch.from_numpy(p.astype(np.float64)),
                y.astype(np.float32), p.astype(np.float64), {"num_classes": C})
    if form == "onehot":
        p = rng.integers(0, C, n)
        return (torch.from_numpy(y), torch.nn.functional.one_hot(torch.from_numpy(p), C),
                y, p, {"num_classes": C})
    if form == "onehot_truth":
        p = rng.integers(0, C, n)
        return (torch.nn.functional.one_hot(torch.from_numpy(y), C).to(torch.float32),
                torch.from_numpy(p), y, p, {"num_classes": C})
    if form in ("logits", "logits_f16", "requires_grad"):
        s = rng.normal(size=(n, C)).astype(np.float16 if form == "logits_f16" else np.float32)
        t = torch.from_numpy(s)
        if form == "requires_grad":
            t = (t * torch.ones(1, requires_grad=True))  # a non-leaf that requires grad
        return torch.from_numpy(y), t, y, s.argmax(axis=1), {"num_classes": C}
    if form == "softmax_both":  # score truth beside score predictions
        s = rng.random((n, C))
        return (torch.nn.functional.one_hot(torch.from_numpy(y), C).double(),
                torch.from_numpy(s), y, s.argmax(axis=1), {"num_classes": C})
    yb = rng.integers(0, 2, n)
    if form in ("sigmoid", "sigmoid_col"):
        s = rng.random(n)
        t = torch.from_numpy(s)
        return (torch.from_numpy(yb), t[:, None] if form == "sigmoid_col" else t, yb,
                (s > 0.3).astype(np.int64), {"num_classes": 2, "threshold": 0.3})
    if form == "bool":
        p = rng.integers(0, 2, n).astype(bool)
        return (torch.from_numpy(yb.astype(bool)), torch.from_numpy(p), yb.astype(bool), p,
                {"num_classes": 2})
    if form in ("mask", "mask_scores"):
        b = max(n // 6, 1)
        m = rng.integers(0, C, (b, 2, 3))
        m[rng.random(m.shape) < 0.2] = 255
        keep = m.reshape(-1) != 255
        if form == "mask":
            pm = rng.integers(0, C, m.shape)
            pt, pflat = torch.from_numpy(pm), pm.reshape(-1)
        else:
            s = rng.normal(size=(b, C, 2, 3))
            pt, pflat = torch.from_numpy(s), s.argmax(axis=1).reshape(-1)
        return (torch.from_numpy(m), pt, m.reshape(-1)[keep], pflat[keep],
                {"num_classes": C, "ignore_index": 255})
    if form == "lut_labels":  # a fixed space of integers other than 0..C-1
        labels = np.array([-3, 7, 9, 40])
        y, s = labels[rng.integers(0, C, n)], rng.normal(size=(n, C))
        return (torch.from_numpy(y), torch.from_numpy(s), y, labels[s.argmax(axis=1)],
                {"labels": labels.tolist()})
    raise AssertionError(form)


FORMS = ["labels", "labels_int32", "float_labels", "onehot", "onehot_truth", "logits",
         "logits_f16", "requires_grad", "softmax_both", "sigmoid", "sigmoid_col", "bool",
         "mask", "mask_scores", "lut_labels"]


def weights_for(form, t, rng, scale=3.0):
    """One weight per sample; for masks one per pixel, shaped like the masks."""
    shape = tuple(t.shape) if form.startswith("mask") else (len(t),)
    return rng.random(shape) * scale


def feed(update, acc, t, p, parts, w=None):
    for a, b in parts:
        update(acc, t[a:b], p[a:b], None if w is None else w[a:b].reshape(-1))
    return acc


def core_update(acc, t, p, w=None):
    acc.update(t, p, w)


def device_update(acc, t, p, w=None):
    ta._device_update(acc, t, p, w)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("path", [core_update, device_update], ids=["core", "device"])
def test_every_form_equals_sklearn(form, path):
    rng = np.random.default_rng(FORMS.index(form))
    t, p, rt, rp, kw = form_data(form, rng, 90)
    acc = feed(path, cs.ConfusionMatrix(**kw), t, p, split(len(t), [10, 10, 47]))
    assert_report(acc, rt, rp)


@pytest.mark.parametrize("form", FORMS)
def test_device_path_leaves_the_core_state(form):
    """Counted with torch ops, the state (counts, weighted sums, label kinds) is the core's
    own, to the last bit: weights are added in input order as np.bincount adds them."""
    rng = np.random.default_rng(100 + FORMS.index(form))
    t, p, rt, rp, kw = form_data(form, rng, 120)
    w = torch.from_numpy(weights_for(form, t, rng))
    parts = split(len(t), [7, 50, 50, 99])
    for weights in (None, w):
        core = feed(core_update, cs.ConfusionMatrix(**kw), t, p, parts, weights)
        dev = feed(device_update, cs.ConfusionMatrix(**kw), t, p, parts, weights)
        assert len(dev._pending) == 1  # one stretch of device counts, not one per batch
        assert dev.to_dict() == core.to_dict()
        assert not dev._pending


@given(data=st.data(), form=st.sampled_from(FORMS), weighted=st.booleans())
@SETTINGS
def test_any_split_equals_sklearn(data, form, weighted):
    seed = data.draw(st.integers(0, 2**32 - 1))
    n = data.draw(st.integers(1, 60))
    rng = np.random.default_rng(seed)
    t, p, rt, rp, kw = form_data(form, rng, n)
    w = weights_for(form, t, rng, 2.0) if weighted else None
    wt = None if w is None else torch.from_numpy(w)
    parts = split(len(t), data.draw(cuts(len(t))))
    acc = feed(device_update, cs.ConfusionMatrix(**kw), t, p, parts, wt)
    if form.startswith("mask"):
        keep = t.reshape(-1).numpy() != 255
        w = None if w is None else w.reshape(-1)[keep]
        if not keep.any():
            return
    assert_report(acc, rt, rp, w)


def test_cpu_tensors_are_read_without_a_copy():
    from confstream._inputs import as_array

    logits = torch.randn(6, 3, requires_grad=True) * 1.0  # a non-leaf requiring grad
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    for t in (logits, y, torch.zeros(4, dtype=torch.bool)):
        assert np.shares_memory(as_array(t, "y"), t.detach().numpy())
    acc = cs.ConfusionMatrix(3).update(y, logits)
    assert acc.counts.sum() == 6 and logits.requires_grad


def test_weighted_then_unweighted_batches():
    rng = np.random.default_rng(5)
    y, s = rng.integers(0, C, 80), rng.normal(size=(80, C))
    w = rng.random(40)
    acc = cs.ConfusionMatrix(C)
    ta._device_update(acc, torch.from_numpy(y[:40]), torch.from_numpy(s[:40]))
    ta._device_update(acc, torch.from_numpy(y[40:]), torch.from_numpy(s[40:]),
                      torch.from_numpy(w))
    assert acc.counts.dtype == np.float64 and acc.weighted
    assert_report(acc, y, s.argmax(axis=1), np.r_[np.ones(40), w])
    # host batches and device batches in one accumulator
    acc.update(y[:5], s[:5].argmax(axis=1))
    ta._device_update(acc, torch.from_numpy(y[5:9]), torch.from_numpy(s[5:9]))
    assert_report(acc, np.r_[y, y[:9]], np.r_[s.argmax(axis=1), s[:9].argmax(axis=1)],
                  np.r_[np.ones(40), w, np.ones(9)])


def test_mixed_inputs_and_host_fallbacks():
    rng = np.random.default_rng(6)
    y, s = rng.integers(0, 3, 50), rng.normal(size=(50, 3))
    # y as numpy / list beside a tensor
    acc = cs.ConfusionMatrix(3)
    ta._device_update(acc, y[:25], torch.from_numpy(s[:25]))
    ta._device_update(acc, y[25:].tolist(), torch.from_numpy(s[25:]))
    assert_report(acc, y, s.argmax(axis=1))
    # a dynamic space grows on the host: nothing is left pending
    acc = cs.ConfusionMatrix()
    ta._device_update(acc, torch.from_numpy(y), torch.from_numpy(s.argmax(axis=1)))
    assert not acc._pending
    assert_report(acc, y, s.argmax(axis=1))
    # string labels with scores: the host maps them
    names = np.array(["cat", "dog", "emu"])
    acc = cs.ConfusionMatrix(labels=names.tolist())
    ta._device_update(acc, names[y], torch.from_numpy(s))
    assert_report(acc, names[y], names[s.argmax(axis=1)])


def test_multilabel_forms_equal_sklearn_and_core_state():
    rng = np.random.default_rng(7)
    T = rng.integers(0, 2, (70, 5))
    S = rng.random((70, 5)).astype(np.float32)
    thr = [0.2, 0.5, 0.5, 0.7, 0.9]
    P = (S > np.array(thr, dtype=np.float32)).astype(np.int64)
    w = rng.random(70)
    parts = split(70, [0, 33, 40])
    # each dtype of truth and prediction once (each pair is a numba compile for the core)
    for tt, pred, weights in ((T, S, None), (T.astype(bool), P, w),
                              (T.astype(np.float64), P.astype(bool), None), (T, S, w)):
        args = (torch.from_numpy(tt), torch.from_numpy(pred))
        wt = None if weights is None else torch.from_numpy(weights)
        core = feed(core_update, cs.MultilabelConfusionMatrix(5, threshold=thr), *args, parts, wt)
        dev = feed(device_update, cs.MultilabelConfusionMatrix(5, threshold=thr), *args, parts, wt)
        assert dev.to_dict() == core.to_dict()
        assert_report(dev, T, P, weights)
    # weights arriving after unweighted batches
    dev = cs.MultilabelConfusionMatrix(5, threshold=thr)
    ta._device_update(dev, torch.from_numpy(T[:30]), torch.from_numpy(S[:30]))
    ta._device_update(dev, torch.from_numpy(T[30:]), torch.from_numpy(S[30:]),
                      torch.from_numpy(w[30:]))
    assert_report(dev, T, P, np.r_[np.ones(30), w[30:]])


def test_reads_between_batches_and_threads():
    """Reads in the middle of a stream close the device stretch; counting goes on in a new
    one. Threads updating and reading one accumulator lose nothing."""
    import threading

    rng = np.random.default_rng(8)
    y, s = rng.integers(0, C, (8, 25, 30)), rng.normal(size=(8, 25, 30, C))
    acc = cs.ConfusionMatrix(C)
    errors = []

    def work(k):
        try:
            for j in range(25):
                ta._device_update(acc, torch.from_numpy(y[k, j]), torch.from_numpy(s[k, j]))
                if j % 7 == k % 7:
                    acc.counts  # a read: folds the pending counts
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert_report(acc, y.reshape(-1), s.reshape(-1, C).argmax(axis=1))


# --------------------------------------------------------------------------------------------
# bad input


def test_shape_errors_raise_at_once_and_change_nothing():
    acc = cs.ConfusionMatrix(3)
    ta._device_update(acc, torch.tensor([0, 1]), torch.tensor([0, 2]))
    before = acc.to_dict()
    cases = [
        ((torch.tensor([0, 1]), torch.tensor([0, 1, 2])), "different numbers of samples"),
        ((torch.tensor([0, 1]), torch.zeros(2, 4)), "4 score columns"),
        ((torch.tensor([0, 1]), torch.zeros(3, 3)), "does not fit"),
        ((torch.tensor(1), torch.tensor(1)), "must be arrays"),
        ((torch.tensor([0, 1]), torch.tensor([0, 1]), torch.ones(3)), "sample_weight has 3"),
        ((torch.tensor([0, 1]), torch.tensor([0, 1]), torch.ones(2, 2)), "must be 1-D"),
    ]
    for args, words in cases:
        with pytest.raises(ValueError, match=words):
            ta._device_update(acc, *args)
    with pytest.raises(TypeError, match="complex"):
        ta._device_update(acc, torch.tensor([0, 1]), torch.zeros(2, dtype=torch.complex64))
    assert acc.to_dict() == before
    ml = cs.MultilabelConfusionMatrix(3)
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        ta._device_update(ml, torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="different numbers of samples"):
        ta._device_update(ml, torch.zeros(2, 3), torch.zeros(3, 3))


BAD_BATCHES = [
    # (kwargs, y_true, y_pred, weights, words that the error must hold)
    ({"num_classes": 3}, [0, 1, 7, 2], [0, 1, 1, 2], None,
     r"y_true\[2\] = 7 is not in the label space"),
    ({"num_classes": 3}, [0, 1, 2, 2], [0, -1, 1, 2], None,
     r"y_pred\[1\] = -1 is not in the label space"),
    ({"num_classes": 3}, [0.0, 1.5, 2.0], [0, 1, 1], None,
     r"y_true\[1\] = 1.5 is not a class label"),
    ({"num_classes": 3}, [0, 1, 2], [[0.1, 0.2, 0.3], [0.0, float("nan"), 1.0], [1.0, 0, 0]],
     None, r"y_pred\[1, 1\] = nan is not a finite score"),
    ({"num_classes": 2}, [0, 1, 1], [0.2, float("inf"), 0.9], None,
     r"y_pred\[1\] = inf is not a finite score"),
    ({"num_classes": 3}, [0, 1, 2], [0, 1, 2], [1.0, -2.0, 1.0], r"sample_weight\[1\] = -2.0"),
    ({"num_classes": 3, "ignore_index": 255}, [[0, 255], [9, 1]], [[0, 9], [1, 1]], None,
     r"y_true\[1, 0\] = 9 is not in the label space"),
    ({"labels": [3, 5, 8]}, [3, 5, 4], [3, 5, 8], None,
     r"y_true\[2\] = 4 is not in the label space"),
    ({"num_classes": 3}, [[0, 1, 0], [float("nan"), 0, 1]], [0, 2], None, r"y_true\[1, 0\] = nan"),
]


@pytest.mark.parametrize("kw, y_true, y_pred, w, words", BAD_BATCHES)
def test_bad_value_is_left_out_and_raised_at_the_next_read(kw, y_true, y_pred, w, words):
    t, p = torch.tensor(y_true), torch.tensor(y_pred)
    wt = None if w is None else torch.tensor(w, dtype=torch.float64)
    # the core raises at once on the same batch, naming the same place
    with pytest.raises(ValueError, match=words.split(" = ")[0]):
        cs.ConfusionMatrix(**kw).update(t, p, wt)
    good_t = torch.tensor([0, 1, 1]) if "labels" not in kw else torch.tensor([3, 5, 5])
    good_p = good_t.flip(0)
    acc = cs.ConfusionMatrix(**kw)
    ta._device_update(acc, good_t, good_p)
    ta._device_update(acc, t, p, wt)           # bad: left out on the device, no raise yet
    ta._device_update(acc, good_t, good_p, None if wt is None else torch.ones(3))
    with pytest.raises(ValueError, match=words) as info:
        acc.counts
    assert "device batch 1" in str(info.value) and "1 bad batch was left out" in str(info.value)
    # every later read raises it too, until reset(); a repr names it without raising
    for read in (lambda: acc.counts, acc.report, acc.to_dict, acc.copy):
        with pytest.raises(ValueError, match=words):
            read()
    assert "device error pending" in repr(acc)
    acc.reset()
    ta._device_update(acc, good_t, good_p)
    assert acc.to_dict() == cs.ConfusionMatrix(**kw).update(good_t, good_p).to_dict()
    assert "pending" not in repr(acc)


@pytest.mark.parametrize("kw, y_true, y_pred, w, words", BAD_BATCHES)
def test_validate_raises_at_once_with_the_state_unchanged(kw, y_true, y_pred, w, words):
    acc = cs.ConfusionMatrix(**kw)
    good_t = torch.tensor([0, 1, 1]) if "labels" not in kw else torch.tensor([3, 5, 5])
    ta.update(acc, good_t, good_t, validate=True)
    before = acc.to_dict()
    wt = None if w is None else torch.tensor(w, dtype=torch.float64)
    with pytest.raises(ValueError, match=words) as info:
        ta.update(acc, torch.tensor(y_true), torch.tensor(y_pred), wt, validate=True)
    assert "device batch" not in str(info.value)
    assert acc.to_dict() == before


def test_first_of_several_bad_batches_is_named():
    acc = cs.ConfusionMatrix(3)
    for i in range(5):
        y = torch.tensor([0, 1, 2, 1])
        if i in (2, 4):
            y[i - 1] = 10 + i
        ta._device_update(acc, y, torch.tensor([0, 1, 2, 2]))
    with pytest.raises(ValueError, match=r"y_true\[1\] = 12 .*device batch 2.*2 bad batches"):
        acc.report()
    with pytest.raises(ValueError, match=r"y_true\[1\] = 12 .*device batch 2"):
        acc.counts
    acc.reset()
    # after a reset counting starts a new stretch with its own numbering
    ta._device_update(acc, torch.tensor([0]), torch.tensor([0]))
    ta._device_update(acc, torch.tensor([5]), torch.tensor([0]))
    with pytest.raises(ValueError, match="device batch 1"):
        acc.copy()


def test_multilabel_bad_values():
    thr = 0.5
    for t, p, w, words in [
        ([[0, 1], [2, 0]], [[0.1, 0.9], [0.3, 0.2]], None, r"y_true\[1, 0\] = 2: multi-label"),
        ([[0, 1], [1, 0]], [[0, 1], [1, 3]], None, r"y_pred\[1, 1\] = 3: multi-label"),
        ([[0, 1], [1, 0]], [[0.1, 0.9], [float("nan"), 0.2]], None,
         r"y_pred\[1, 0\] = nan is not a finite"),
        ([[0, 1], [1, 0]], [[0.1, 0.9], [0.5, 0.2]], [1.0, float("nan")],
         r"sample_weight\[1\] = nan"),
    ]:
        wt = None if w is None else torch.tensor(w)
        acc = cs.MultilabelConfusionMatrix(2, threshold=thr)
        ta._device_update(acc, torch.tensor([[1, 1]]), torch.tensor([[0.7, 0.1]]))
        before = acc.to_dict()
        with pytest.raises(ValueError, match=words):
            ta.update(acc, torch.tensor(t), torch.tensor(p), wt, validate=True)
        assert acc.to_dict() == before
        ta._device_update(acc, torch.tensor(t), torch.tensor(p), wt)
        for _ in range(2):  # every read, until reset()
            with pytest.raises(ValueError, match=words):
                acc.to_dict()
        assert "device error pending" in repr(acc)
        acc.reset()
        ta._device_update(acc, torch.tensor([[1, 1]]), torch.tensor([[0.7, 0.1]]))
        assert acc.to_dict() == before


def test_reset_drops_pending_device_counts():
    acc = cs.ConfusionMatrix(3)
    ta._device_update(acc, torch.tensor([0, 9]), torch.tensor([0, 1]))
    acc.reset()
    ta._device_update(acc, torch.tensor([0, 1]), torch.tensor([0, 1]))
    assert acc.counts.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]


def test_counts_made_in_inference_mode_can_grow_outside_it():
    acc = cs.ConfusionMatrix(2)
    with torch.inference_mode():
        ta._device_update(acc, torch.tensor([0, 1]), torch.tensor([1, 1]))
    ta._device_update(acc, torch.tensor([0]), torch.tensor([0]))
    assert acc.counts.tolist() == [[1, 1], [0, 1]]


# --------------------------------------------------------------------------------------------
# The device path through the core's update(): on the GPU, and on CPU tensors with the device
# path forced (confstream._devices), so that these run in CI too.

from confstream import _devices  # noqa: E402

DEVICES = [pytest.param("cuda", marks=CUDA), "cpu"]


@pytest.fixture(params=DEVICES)
def dev(request):
    if request.param == "cpu":
        with _devices.forced():
            yield torch.device("cpu")
    else:
        yield torch.device("cuda")


@pytest.mark.parametrize("form", FORMS)
def test_device_forms_equal_sklearn(form, dev):
    rng = np.random.default_rng(200 + FORMS.index(form))
    t, p, rt, rp, kw = form_data(form, rng, 90)
    w = np.round(weights_for(form, t, rng) * 4) / 4  # quarters: sums exact in any order
    acc = cs.ConfusionMatrix(**kw)
    for a, b in split(len(t), [10, 10, 47]):
        acc.update(t[a:b].to(dev), p[a:b].detach().to(dev),
                   torch.from_numpy(w[a:b].reshape(-1)).to(dev))
    assert acc._pending and acc._pending[0].device.type == dev.type
    keep = t.reshape(-1).numpy() != 255 if form.startswith("mask") else slice(None)
    assert_report(acc, rt, rp, w.reshape(-1)[keep])


@CUDA
def test_cuda_update_does_not_synchronise():
    acc = cs.ConfusionMatrix(5)
    ml = cs.MultilabelConfusionMatrix(5)
    y = torch.randint(0, 5, (256,), device="cuda")
    s = torch.randn(256, 5, device="cuda")
    y_host = torch.randint(0, 5, (256,))
    w = torch.rand(256, device="cuda")
    acc.update(y, s)  # warm-up: allocations
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            acc.update(y, s, w)
            acc.update(y_host, s)
            ml.update((s > 0).int(), s, w)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert acc.counts.sum() == 256 * 7
    assert ml.counts.shape == (5, 2, 2)


def test_device_bad_value_raises_at_every_read(dev):
    acc = cs.ConfusionMatrix(3)
    acc.update(torch.tensor([0, 1, 5], device=dev), torch.tensor([0, 1, 1], device=dev))
    acc.update(torch.tensor([0, 1], device=dev), torch.tensor([0, 1], device=dev))
    assert acc._pending
    for _ in range(2):
        with pytest.raises(ValueError, match=r"y_true\[2\] = 5 .*" + dev.type):
            acc.report()
    acc.reset()
    acc.update(torch.tensor([0, 1], device=dev), torch.tensor([0, 1], device=dev))
    assert acc.counts.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool])
def test_device_integer_weights_are_exact_int64_counts(dev, dtype):
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(11)
    n = 120
    t, p = rng.integers(0, 3, n), rng.integers(0, 3, n)
    big = 2**53 if dtype == torch.int64 else 0  # sums past 2**53: float64 would round
    w = rng.integers(0, 3, n) + big * rng.integers(0, 2, n)
    w = w.astype(bool) if dtype == torch.bool else w
    w[0] = 1
    acc, host = cs.ConfusionMatrix(3), cs.ConfusionMatrix(3)
    acc.update(torch.tensor(t[:10], device=dev), torch.tensor(p[:10], device=dev))  # weigh 1
    host.update(t[:10], p[:10])
    for a, b in split(n - 10, [30, 47]):
        a, b = a + 10, b + 10
        acc.update(torch.tensor(t[a:b], device=dev), torch.tensor(p[a:b], device=dev),
                   torch.tensor(w[a:b], dtype=dtype, device=dev))
        host.update(t[a:b], p[a:b], sample_weight=w[a:b])
    assert acc._pending and acc._pending[0].device.type == dev.type
    ww = np.concatenate([np.ones(10, np.int64), w[10:].astype(np.int64)])
    ref = confusion_matrix(t, p, labels=[0, 1, 2], sample_weight=ww)
    assert ref.dtype == np.int64 and acc.counts.dtype == np.int64
    np.testing.assert_array_equal(acc.counts, ref)
    # a float weight makes them float sums, as on the host
    acc.update(torch.tensor([0], device=dev), torch.tensor([0], device=dev),
               torch.tensor([0.5], device=dev))
    host.update([0], [0], sample_weight=[0.5])
    assert acc.counts.dtype == np.float64
    np.testing.assert_array_equal(acc.counts, host.counts)


def test_device_integer_weights_past_int64_raise_at_every_read(dev):
    top = np.iinfo(np.int64).max
    acc = cs.ConfusionMatrix(2)
    acc.update(torch.tensor([0, 1], device=dev), torch.tensor([0, 1], device=dev),
               torch.tensor([top - 1, 5], device=dev))
    acc.update(torch.tensor([0], device=dev), torch.tensor([0], device=dev),
               torch.tensor([2], device=dev))  # (0, 0) wraps on the device
    for _ in range(2):
        with pytest.raises(OverflowError, match=r"2\*\*63 - 1 .*cell \(0, 0\)"):
            acc.report()
    acc.reset()
    acc.update(torch.tensor([0], device=dev), torch.tensor([0], device=dev),
               torch.tensor([top], device=dev))
    assert acc.counts.tolist() == [[top, 0], [0, 0]]
    # the sum with the host's exact counts is refused alike (host + device past int64)
    acc.update(np.array([0]), np.array([0]), sample_weight=np.array([0]))  # host path
    acc.update(torch.tensor([0], device=dev), torch.tensor([0], device=dev),
               torch.tensor([1], device=dev))
    with pytest.raises(OverflowError):
        acc.counts


@pytest.mark.skipif(not hasattr(torch, "uint64"), reason="torch without uint64")
@pytest.mark.parametrize("validate", [False, True])
def test_device_uint64_weights_past_int64_are_refused_as_on_the_host(dev, validate):
    """torch compares no uint64: the device path reads the sign bit of the int64 view. The
    host's words (``_inputs.weight_range_error``), before any other bad value of the batch
    (the host refuses the weights first), ignored positions too; nothing is counted."""
    from confstream.adapters import _torch_device as td

    top = np.uint64(2**63 - 1)
    w = np.array([1, 2, top, 2**63, 2**64 - 1], dtype=np.uint64)
    t, p = np.array([0, 7, 1, -1, 1]), np.array([0, 1, 1, 1, 0])  # 7: not a label
    acc, host = cs.ConfusionMatrix(2, ignore_index=-1), cs.ConfusionMatrix(2, ignore_index=-1)
    acc.update(torch.tensor([0, 1], device=dev), torch.tensor([0, 1], device=dev))
    before = acc.counts.copy()
    with pytest.raises(ValueError) as on_host:
        host.update(t, p, sample_weight=w)
    assert str(on_host.value) == (
        "sample_weight[3] = 9223372036854775808 is outside the int64 range of exact counts")
    args = (torch.tensor(t, device=dev), torch.tensor(p, device=dev),
            torch.from_numpy(w).to(dev))
    if validate:
        with pytest.raises(ValueError) as on_device:
            td.update(acc, *args, validate=True)
        assert str(on_device.value) == str(on_host.value)
    else:
        acc.update(*args)
        for _ in range(2):  # at every read until reset()
            with pytest.raises(ValueError) as on_device:
                acc.counts
            assert str(on_device.value).startswith(str(on_host.value) + " (device batch")
        acc.reset()
        acc.update(torch.tensor([0, 1], device=dev), torch.tensor([0, 1], device=dev))
    np.testing.assert_array_equal(acc.counts, before)
    # at the top of int64 the weights are counted, exactly
    acc.update(torch.tensor([1], device=dev), torch.tensor([0], device=dev),
               torch.tensor(np.array([top], dtype=np.uint64)).to(dev))
    assert acc.counts.tolist() == [[1, 0], [int(top), 1]]


BAD_WEIGHTS = [  # (weights for 3 samples, the error, its words): one rule, host and device
    (lambda: torch.ones(4), ValueError, "sample_weight has 4 values but y_true has 3 samples"),
    (lambda: torch.ones(3, 2), ValueError, r"sample_weight must be 1-D, got shape \(3, 2\)"),
    (lambda: torch.ones(1, 3), ValueError, r"sample_weight must be 1-D, got shape \(1, 3\)"),
    (lambda: torch.ones(3, dtype=torch.complex64), TypeError,
     "sample_weight must be numeric, got dtype"),
]


@pytest.mark.parametrize("case", range(len(BAD_WEIGHTS)))
def test_device_weights_follow_the_host_rule_word_for_word(dev, case):
    make, exc, words = BAD_WEIGHTS[case]
    t, p = torch.tensor([0, 1, 1], device=dev), torch.tensor([0, 1, 0], device=dev)
    acc, host = cs.ConfusionMatrix(2), cs.ConfusionMatrix(2)
    acc.update(t, p)
    before = acc.to_dict()
    with pytest.raises(exc, match=words) as on_device:
        acc.update(t, p, make().to(dev))
    with pytest.raises(exc, match=words) as on_host:
        host.update(t.cpu().numpy(), p.cpu().numpy(), make().numpy())
    # the same words, but the dtype's spelling (torch.complex64 / complex64)
    assert str(on_device.value).replace("torch.", "") == str(on_host.value)
    assert acc.to_dict() == before


def test_device_weights_of_shape_n_by_1_and_bool_are_read_as_the_host_reads_them(dev):
    from sklearn.metrics import confusion_matrix

    t, p = np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])
    for w in (np.array([[1.5], [2.0], [0.5], [1.0]]), np.array([True, False, True, True])):
        acc = cs.ConfusionMatrix(2)
        acc.update(torch.tensor(t, device=dev), torch.tensor(p, device=dev),
                   torch.tensor(w, device=dev))
        ref = confusion_matrix(t, p, sample_weight=w.reshape(-1).astype(np.float64))
        np.testing.assert_array_equal(acc.counts, ref)
        assert acc.counts.dtype == (np.int64 if w.dtype == bool else np.float64)
