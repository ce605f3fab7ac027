"""``ScoreCurves.update`` of torch tensors on the device path (``adapters/_torch_device``),
run on CPU tensors through ``confstream._devices.forced()`` as CUDA tensors would take it:
float16 / bfloat16 (as they are), bool and small-integer scores binned and counted with torch
ops, against scikit-learn and against the host path; bad batches raise the core's error with
the state unchanged; other scores fall back to the host."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

torch = pytest.importorskip("torch")
skm = pytest.importorskip("sklearn.metrics")

import confstream as cs  # noqa: E402
from confstream import _devices  # noqa: E402
from _reference import cuts, split  # noqa: E402

DTYPES = [torch.float16, torch.bfloat16, torch.int16, torch.int8, torch.uint8, torch.bool]


@pytest.fixture
def device_only(monkeypatch):
    """Fail if a good batch reaches the host path: the device path must count it."""
    def refuse(self, *a, **k):
        raise AssertionError("the batch took the host path")
    monkeypatch.setattr(cs.ScoreCurves, "_update_host", refuse)


def scores(rng, n, c, dtype):
    if dtype == torch.bool:
        return torch.from_numpy(rng.random((n, c)) < 0.4)
    if dtype in (torch.int8, torch.int16, torch.uint8):
        lo = 0 if dtype == torch.uint8 else -5
        return torch.from_numpy(rng.integers(lo, 9, (n, c))).to(dtype)
    p = rng.dirichlet(np.ones(c), n) if c > 1 else rng.random((n, 1))
    return torch.from_numpy(p).to(dtype)        # many ties at half precision


def as64(s):
    return s.to(torch.float64).numpy()


@settings(max_examples=40, deadline=None)
@given(st.data(), st.integers(0, 2**32 - 1), st.integers(1, 300), st.sampled_from(DTYPES),
       st.sampled_from([2, 2, 4]), st.booleans())
def test_device_path_equals_sklearn_and_the_host(data, seed, n, dtype, c, weighted):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    s = scores(rng, n, 1 if c == 2 else c, dtype)
    if c == 2:
        s = s[:, 0]
    w = torch.from_numpy(rng.integers(0, 4, n).astype(np.float64)) if weighted else None
    dev = cs.ScoreCurves(None if c == 2 else c)
    host = cs.ScoreCurves(None if c == 2 else c)
    host_update = cs.ScoreCurves._update_host
    yt = torch.from_numpy(y)
    for a, b in split(n, data.draw(cuts(n))):       # random batches, empty ones too
        with _devices.forced(), mock.patch.object(  # counted on the device path, not the host
                cs.ScoreCurves, "_update_host", side_effect=AssertionError("host path")):
            dev.update(yt[a:b], s[a:b], None if w is None else w[a:b])
        host_update(host, y[a:b], s[a:b].numpy() if dtype != torch.bfloat16 else s[a:b],
                    None if w is None else w[a:b].numpy())
    assert dev.exact
    if not weighted or c == 2:       # bincount adds in input order, as the core does
        assert dev == host
    else:
        np.testing.assert_allclose(dev._table, host._table, rtol=1e-13)
        assert dev._seen == host._seen
    s64, ww = as64(s), None if w is None else w.numpy()
    if dev._table.sum() == 0:
        return
    per = dev.per_class(warn=False)
    for k, label in enumerate([1] if c == 2 else range(c)):
        col = s64 if c == 2 else s64[:, k]
        truth = y == label
        wk = None if ww is None else ww
        if not (truth.any() and (~truth).any()) or (ww is not None and (
                ww[truth].sum() == 0 or ww[~truth].sum() == 0)):
            continue
        ref_auc = skm.roc_auc_score(truth, col, sample_weight=wk)
        ref_ap = skm.average_precision_score(truth, col, sample_weight=wk)
        if weighted:
            assert per[label]["auroc"] == pytest.approx(ref_auc, rel=1e-12, abs=1e-15)
            assert per[label]["ap"] == pytest.approx(ref_ap, rel=1e-12, abs=1e-15)
        else:
            assert per[label]["auroc"] == ref_auc and per[label]["ap"] == ref_ap


def test_good_batches_never_reach_the_host(device_only):
    rng = np.random.default_rng(1)
    y = torch.from_numpy(rng.integers(0, 3, 500))
    s = torch.from_numpy(rng.dirichlet(np.ones(3), 500)).to(torch.bfloat16)
    with _devices.forced():
        acc = cs.ScoreCurves(3).update(y, s).update(y[:7], s[:7], torch.ones(7))
        binary = cs.ScoreCurves().update(y % 2, s[:, 1])
        binary.update((y % 2).numpy(), s[:, :2])          # (N, 2): the positive column
    ref = np.eye(3)[np.r_[y.numpy(), y.numpy()[:7]]]
    s64 = np.r_[as64(s), as64(s[:7])]
    per = acc.per_class()       # (bfloat16 rows do not sum to 1: roc_auc() refuses them)
    assert [per[k]["auroc"] for k in range(3)] == [
        skm.roc_auc_score(ref[:, k], s64[:, k]) for k in range(3)]
    with pytest.raises(ValueError, match="need to be probabilities"):
        acc.roc_auc()
    assert binary.weighted is False and binary.roc_auc() == skm.roc_auc_score(
        np.r_[y.numpy() % 2, y.numpy() % 2], np.r_[as64(s[:, 1]), as64(s[:, 1])])


def test_bad_batches_raise_the_cores_error_and_count_nothing():
    rng = np.random.default_rng(2)
    y = torch.from_numpy(rng.integers(0, 2, 200))
    s = torch.from_numpy(rng.random(200)).to(torch.float16)
    acc = cs.ScoreCurves().update(y, s)
    before = acc.copy()
    bad_s = s.clone()
    bad_s[131] = float("inf")
    bad_y = y.clone()
    bad_y[17] = 2
    w = torch.ones(200, dtype=torch.float64)
    w[88] = -1.0
    cases = [((y, bad_s), r"y_score\[131\] = inf is not finite"),
             ((bad_y, s), r"y_true\[17\] = 2 is not in the label space"),
             ((y, s, w), r"sample_weight\[88\] = -1.0 must be finite and non-negative"),
             ((y[:5], s), "y_true has 5 samples but y_score has 200"),
             ((y, s.to(torch.float32)), "cannot join scores counted in float16 bins")]
    for args, words in cases:
        with _devices.forced(), pytest.raises(ValueError, match=words):
            acc.update(*args)
        with pytest.raises(ValueError, match=words):     # the same words on the host path
            acc.update(*(a.numpy() if a.dtype != torch.float32 else a for a in args))
        assert acc == before
    mc = cs.ScoreCurves(3)
    with _devices.forced(), pytest.raises(ValueError, match=r"y_true\[1\] = 3"):
        mc.update(torch.tensor([0, 3]), torch.full((2, 3), 1 / 3).half())
    assert mc._table is None


def test_other_scores_fall_back_to_the_host():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 400)
    p = rng.dirichlet(np.ones(3), 400).astype(np.float32)
    with _devices.forced():
        cert = cs.ScoreCurves(3).update(torch.from_numpy(y), torch.from_numpy(p))
        ovo = cs.ScoreCurves(3, ovo=True).update(torch.from_numpy(y),
                                                 torch.from_numpy(p).half())
        named = cs.ScoreCurves(labels=[0, 1, 2]).update(torch.from_numpy(y),
                                                        torch.from_numpy(p).half())
    assert cert == cs.ScoreCurves(3).update(y, p) and not cert.exact
    assert ovo == cs.ScoreCurves(3, ovo=True).update(y, p.astype(np.float16))
    p16 = p.astype(np.float16).astype(np.float64)
    assert [v["auroc"] for v in named.per_class().values()] == [
        skm.roc_auc_score(y == k, p16[:, k]) for k in range(3)]


def test_threads_updating_one_accumulator_on_the_device_path():
    """Several threads feed one accumulator through the device path (in a child process, so a
    crash fails the test): the state is that of one stream."""
    code = textwrap.dedent("""
        import threading
        import numpy as np, torch
        import confstream as cs
        rng = np.random.default_rng(4)
        y = torch.from_numpy(rng.integers(0, 4, 40_000))
        s = torch.from_numpy(rng.dirichlet(np.ones(4), 40_000)).half()
        acc = cs.ScoreCurves(4)
        parts = [(y[i::8], s[i::8]) for i in range(8)]
        threads = [threading.Thread(target=lambda a, b: [acc.update(a, b) for _ in range(3)],
                                    args=p) for p in parts]
        for t in threads: t.start()
        for t in threads: t.join()
        ref = cs.ScoreCurves(4)
        for _ in range(3):
            ref._update_host(y.numpy(), s.numpy())
        assert acc == ref, "threads lost counts"
        print("ok")
    """)
    env = dict(os.environ, CONFSTREAM_DEVICE_PATH="1")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
