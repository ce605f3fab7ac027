"""The device path's state comes from the accumulators' declaration (``_FIELDS``).

A ``_Stretch`` (``adapters/_torch_device.py``) holds one flat tensor per declared field (its
declared size and one trash slot, in its declared dtype) and promotes its counts to weight
sums with the fields' own ``ones`` functions, run on torch tensors. These tests run through
the device code on CPU tensors (``confstream._devices.forced``), and on a GPU where there is
one: streams whose weights start mid-stream (unweighted batches, then integer weights, then
float weights, or any order), in random batch splits, against the host path on the same
batches and against scikit-learn's ``confusion_matrix`` / ``multilabel_confusion_matrix``
with ``sample_weight``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from sklearn.metrics import confusion_matrix, multilabel_confusion_matrix  # noqa: E402

import confstream as cs  # noqa: E402
from _reference import cuts, split  # noqa: E402
from confstream import _devices  # noqa: E402
from confstream import _state as S  # noqa: E402
from confstream.adapters import _torch_device as td  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
DEVICES = [pytest.param("cuda", marks=CUDA), "cpu"]
KINDS = ("none", "int", "float")  # a batch's weights: none, integer-typed, float-typed
C, L = 4, 3


@st.composite
def streams(draw):
    """(n, seed, batch bounds, each batch's weight kind, float weights in quarters, with
    integer weights past 2**53)."""
    n = draw(st.integers(0, 70))
    bounds = split(n, draw(cuts(n)))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=len(bounds),
                          max_size=len(bounds)))
    if draw(st.booleans()):  # unweighted batches, then integer weights, then float ones
        kinds.sort(key=KINDS.index)
    return (n, draw(st.integers(0, 2**32 - 1)), bounds, kinds, draw(st.booleans()),
            draw(st.booleans()))


def weights(rng, kind, n, quarters, big):
    if kind == "none":
        return None
    if kind == "int":
        w = rng.integers(0, 5, n)
        return w + (2**53) * rng.integers(0, 2, n) if big else w
    return rng.integers(0, 13, n) / 4 if quarters else rng.random(n) * 3


def on(dev, a):
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a)).to(dev)


def reference_weights(ws, sizes):
    """The weights scikit-learn reads: 1 for an unweighted batch's samples; int64 while every
    batch is unweighted or integer-weighted (its confusion_matrix sums int64 exactly)."""
    parts = [np.ones(k, np.int64) if w is None else w for w, k in zip(ws, sizes)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def check_against_sklearn(got, ref, exact: bool):
    if exact:
        np.testing.assert_array_equal(got, ref)
    else:  # float sums: scikit-learn adds in its own order
        np.testing.assert_allclose(got, ref, rtol=1e-12)


def report(acc) -> str:
    """The report's text, or the words of its error (nothing counted: as scikit-learn)."""
    try:
        return str(acc.report(zero_division=0))
    except ValueError as exc:
        return f"ValueError: {exc}"


def feed(dev, acc, host, t, p, bounds, ws):
    """The same batches (and weights ``ws``) into ``acc`` on ``dev`` and ``host`` on the
    host; returns ``ws``."""
    with forcing(dev):
        for (a, b), w in zip(bounds, ws):
            acc.update(on(dev, t[a:b]), on(dev, p[a:b]), on(dev, w))
            host.update(t[a:b], p[a:b], sample_weight=w)
    return ws


def forcing(dev):
    return _devices.forced() if dev == "cpu" else _devices.forced(False)


@pytest.mark.parametrize("dev", DEVICES)
@SETTINGS
@given(streams())
def test_single_label_promotion_mid_stream_equals_host_and_sklearn(dev, stream):
    n, seed, bounds, kinds, quarters, big = stream
    rng = np.random.default_rng(seed)
    t = rng.integers(-1, C, n)  # -1: ignored
    p = rng.integers(0, C, n)
    acc = cs.ConfusionMatrix(C, ignore_index=-1)
    host = cs.ConfusionMatrix(C, ignore_index=-1)
    ws = feed(dev, acc, host, t, p, bounds, [weights(rng, kind, b - a, quarters, big)
                                          for (a, b), kind in zip(bounds, kinds)])
    if any(b > a for a, b in bounds):
        assert acc._pending  # counted on the device, folded in at the read
    assert acc.to_dict() == host.to_dict()  # every field, bit for bit (the CPU adds in order)
    assert report(acc) == report(host)
    w = reference_weights(ws, [b - a for a, b in bounds])
    keep = t != -1
    if not w[keep].any():  # scikit-learn refuses no samples, or weights that are all 0
        assert not acc.counts.any()
        return
    ref = confusion_matrix(t[keep], p[keep], labels=list(range(C)),
                           sample_weight=w[keep] if any(x is not None for x in ws) else None)
    if "float" not in kinds:  # exact int64 counts, as scikit-learn's
        assert acc.counts.dtype == np.int64 and ref.dtype == np.int64
    # integer sums are exact in int64; sums of quarters in float64 in any order
    check_against_sklearn(acc.counts, ref, "float" not in kinds or (quarters and not big))


@pytest.mark.parametrize("dev", DEVICES)
@SETTINGS
@given(streams(), st.booleans())
def test_multilabel_promotion_mid_stream_equals_host_and_sklearn(dev, stream, scores):
    n, seed, bounds, kinds, quarters, _ = stream
    big = False  # multi-label weight sums are float64 (tn = total - tp - fp - fn would cancel)
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, (n, L))
    p = rng.random((n, L)) if scores else rng.integers(0, 2, (n, L))
    acc, host = cs.MultilabelConfusionMatrix(L), cs.MultilabelConfusionMatrix(L)
    ws = feed(dev, acc, host, t, p, bounds, [weights(rng, kind, b - a, quarters, big)
                                          for (a, b), kind in zip(bounds, kinds)])
    assert acc.to_dict() == host.to_dict()  # histograms and zero-weight samples included
    assert report(acc) == report(host)
    w = reference_weights(ws, [b - a for a, b in bounds]).astype(np.float64)
    pred = (p > 0.5).astype(np.int64) if scores else p
    if not w.any():  # scikit-learn refuses no samples, or weights that are all 0
        assert not acc.counts.any()
    else:
        ref = multilabel_confusion_matrix(t, pred, sample_weight=w)
        # float64 sums: exact for small integers and quarters in any order
        check_against_sklearn(acc.counts, ref, quarters or "float" not in kinds)


@pytest.mark.parametrize("dev", DEVICES)
def test_promotion_after_a_left_out_batch_and_across_reads(dev):
    """A bad weighted batch promotes the device tensors but is left out: the state stays
    unweighted (as the host's, where the batch raises); then weights after a read."""
    t, p = np.array([0, 1, 2, 1]), np.array([0, 2, 2, 1])
    acc, host = cs.ConfusionMatrix(3), cs.ConfusionMatrix(3)
    with forcing(dev):
        acc.update(on(dev, t), on(dev, p))
        host.update(t, p)
        acc.update(on(dev, t), on(dev, p), on(dev, np.array([1.0, -1.0, 1.0, 1.0])))
        with pytest.raises(ValueError, match=r"sample_weight\[1\] = -1.0"):
            acc.counts
        acc.reset()
        host.reset()
        for w in (None, np.array([1, 2, 3, 4]), None, np.array([0.5, 0.25, 2.0, 1.0])):
            acc.update(on(dev, t), on(dev, p), on(dev, w))
            host.update(t, p, sample_weight=w)
            assert acc.to_dict() == host.to_dict()  # a read between batches


def test_stretch_tensors_are_the_declared_fields():
    """Every tensor of a stretch is a declared field: its declared size plus one trash slot,
    its declared dtype; the unweighted fields from the first batch, the weighted (and exact)
    ones from the first weighted batch, the exact ones gone at the first float weight."""
    for acc, t, p in ((cs.ConfusionMatrix(C, ignore_index=-1), torch.tensor([0, -1, 3]),
                       torch.tensor([1, 2, 3])),
                      (cs.MultilabelConfusionMatrix(L), torch.tensor([[0, 1, 1]] * 3),
                       torch.tensor([[1, 1, 0]] * 3))):
        size = C if isinstance(acc, cs.ConfusionMatrix) else L
        fields = {f.key: f for f in type(acc)._FIELDS}

        def held(when):
            return {k for k, f in fields.items() if f.when in when}

        td.update(acc, t, p)
        (stretch,) = acc._pending
        assert set(stretch._s) == held({S.ALWAYS})
        td.update(acc, t, p, torch.tensor([1, 2, 0]))
        assert set(stretch._s) == held({S.ALWAYS, S.WEIGHTED, S.EXACT})
        for k, v in stretch._s.items():
            f = fields[k]
            assert v.shape == (int(np.prod(S.shape_of(acc, f, size))) + 1,)
            assert v.dtype == (torch.int64 if f.integer else torch.float64)
        td.update(acc, t, p, torch.tensor([0.5, 1.0, 0.0]))
        assert set(stretch._s) == held({S.ALWAYS, S.WEIGHTED})


@pytest.mark.parametrize("cls", [cs.ConfusionMatrix, cs.MultilabelConfusionMatrix])
def test_ones_on_tensors_equal_ones_on_arrays_exactly(cls):
    """The one promotion (``Field.ones``) run on int64 tensors gives what it gives on numpy
    arrays, bit for bit, at the edges of float64's integers and of int64 too."""
    size = C if cls is cs.ConfusionMatrix else L
    rng = np.random.default_rng(5)
    always = [f for f in cls._FIELDS if f.when == S.ALWAYS]
    shapes = {f.key: S.shape_of(None, f, size) for f in always}
    edges = [2**53 - 1, 2**53, 2**53 + 1, 2**62 + 1, 2**63 - 1]
    trials = [{k: rng.integers(0, 1000, sh) for k, sh in shapes.items()}]
    for e in edges:  # one count of e per array: every sum is e too
        trial = {}
        for k, sh in shapes.items():
            a = np.zeros(sh, np.int64)
            a.flat[rng.integers(0, a.size)] = e
            trial[k] = a
        trials.append(trial)
    promoted = 0
    for trial in trials:
        counts = {k: int(a) if shapes[k] == () else a for k, a in trial.items()}  # the host's
        views = {k: torch.from_numpy(np.array(a).reshape(-1)[:1] if shapes[k] == () else a)
                 for k, a in trial.items()}  # the device's: a scalar as one element
        for f in cls._FIELDS:
            if f.ones is None:
                continue
            want, got = f.ones(counts), f.ones(views)
            got = got.numpy() if isinstance(got, torch.Tensor) else got
            assert np.asarray(got).dtype == np.asarray(want).dtype
            np.testing.assert_array_equal(np.asarray(got).reshape(np.shape(want)), want)
            promoted += 1
    assert promoted >= 4 * len(trials)
    big = np.array(edges, np.int64)
    assert S.f64(torch.from_numpy(big)).tolist() == big.astype(np.float64).tolist()


@CUDA
def test_cuda_promotion_mid_stream_does_not_synchronise():
    y = torch.randint(0, 5, (256,), device="cuda")
    y[::7] = -1
    s = torch.randn(256, 5, device="cuda")
    m = (s > 0).int()
    wi = torch.randint(0, 4, (256,), device="cuda")
    wf = torch.rand(256, device="cuda")
    acc, ml = cs.ConfusionMatrix(5, ignore_index=-1), cs.MultilabelConfusionMatrix(5)
    acc.update(y, s)  # warm-up: allocations
    ml.update(m, s)
    acc.reset()
    ml.reset()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for w in (None, wi, None, wf):  # promoted at the integer batch, floats at the last
            acc.update(y, s, w)
            ml.update(m, s, w)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    keep = (y != -1).cpu().numpy()
    w = np.concatenate([np.ones(256), wi.cpu().numpy(), np.ones(256), wf.cpu().numpy()])
    yt = np.tile(y.cpu().numpy(), 4)
    yp = np.tile(s.argmax(dim=1).cpu().numpy(), 4)
    k = np.tile(keep, 4)
    np.testing.assert_allclose(
        acc.counts, confusion_matrix(yt[k], yp[k], labels=list(range(5)), sample_weight=w[k]),
        rtol=1e-12, atol=1e-9)  # a GPU's atomic adds: any order
    mt = np.tile(m.cpu().numpy(), (4, 1))
    mp = np.tile((s > 0.5).int().cpu().numpy(), (4, 1))
    np.testing.assert_allclose(ml.counts, multilabel_confusion_matrix(mt, mp, sample_weight=w),
                               rtol=1e-12, atol=1e-9)
