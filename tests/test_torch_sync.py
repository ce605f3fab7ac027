"""``confstream.adapters.torch.sync`` in a real two-process gloo group on 127.0.0.1.

Each rank sees part of the data and a different subset of the labels (in a different order
of appearance); every rank's synced report must equal scikit-learn on all the data. Score
curves sync in the same group: equal to scikit-learn on the union of the ranks' data (exact
float16 / bfloat16 scores), containing it in their bounds (float32), equal to the sum of the
ranks' accumulators. Ranks
whose accumulators cannot be added must all raise, not hang. The whole run is bounded in
time, so a hang fails the test instead of stalling CI.
"""

from __future__ import annotations

import os
import pickle
import socket
import time
import traceback
from datetime import timedelta

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

# scikit-learn and the helpers are imported where the parent needs them: the spawned ranks
# import this module too, and each second of their start-up counts twice.

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with gloo is needed")

WORLD = 2
TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cases(seed=0):
    """{name: (per-rank batches, sklearn's view of all data, accumulator factory args)}."""
    rng = np.random.default_rng(seed)
    cases = {}
    # Dynamic integer labels: rank 0 sees {5, 0, 2}, rank 1 sees {2, 7, -1}; their
    # predictions stay within what each rank saw, so the label spaces truly differ.
    per_rank = []
    for own in ([5, 0, 2], [7, 2, -1]):
        n = 60
        y = rng.choice(own, n)
        p = np.where(rng.random(n) < 0.6, y, rng.choice(own, n))
        per_rank.append((y, p, None))
    cases["dynamic_int"] = (per_rank, {"kind": "cm"})
    # Dynamic strings, rank 1 with sample weights in quarters (sums exact in any order).
    per_rank = []
    for own, weighted in ((["dog", "cat"], False), (["emu", "dog", "ant"], True)):
        n = 50
        y = rng.choice(own, n)
        p = np.where(rng.random(n) < 0.5, y, rng.choice(own, n))
        w = rng.integers(1, 12, n) / 4 if weighted else None
        per_rank.append((y, p, w))
    cases["dynamic_str_weighted"] = (per_rank, {"kind": "cm"})
    # Fixed space of 5 classes, logits as CPU tensors and device-path counting (called
    # directly, on CPU tensors), rank 0 sees only classes 0-2.
    per_rank = []
    for hi in (3, 5):
        n = 40
        y = rng.integers(0, hi, n)
        s = rng.normal(size=(n, 5))
        per_rank.append((y, s, None))
    cases["fixed_logits"] = (per_rank, {"kind": "cm", "num_classes": 5})
    # Multi-label, weights on rank 0 only.
    per_rank = []
    for weighted in (True, False):
        n = 30
        per_rank.append((rng.integers(0, 2, (n, 3)), rng.random((n, 3)),
                         rng.integers(1, 8, n) / 2 if weighted else None))
    cases["multilabel"] = (per_rank, {"kind": "ml", "num_labels": 3})
    # Integer weights (summed exactly, as scikit-learn's confusion_matrix) on rank 0 beside an
    # unweighted rank 1 (its exact sums are its counts), and float weights beside integer
    # ones (no exact sums then): every rank must send the same arrays.
    for name, kinds in (("int_weights_beside_none", ("int", None)),
                        ("float_weights_beside_int", ("float", "int"))):
        per_rank = []
        for kind in kinds:
            n = 40
            y = rng.integers(0, 3, n)
            p = np.where(rng.random(n) < 0.6, y, rng.integers(0, 3, n))
            w = (None if kind is None else rng.integers(0, 5, n) if kind == "int"
                 else rng.integers(1, 12, n) / 4)
            per_rank.append((y, p, w))
        cases[name] = (per_rank, {"kind": "cm", "num_classes": 3, "host": True})
    # Rank 1 saw nothing at all.
    y = rng.integers(0, 3, 20)
    cases["one_rank_empty"] = ([(y, y[::-1].copy(), None), (y[:0], y[:0], None)], {"kind": "cm"})
    return cases


def build(args, data):
    """One rank's accumulator, counted in the parent: the ranks then only sync, so they
    need no numba compilation of their own (that would cost each rank seconds on a cold
    cache)."""
    import confstream as cs
    from confstream.adapters import torch as ta

    if args["kind"] == "ml":
        acc = cs.MultilabelConfusionMatrix(args["num_labels"])
    else:
        acc = cs.ConfusionMatrix(args.get("num_classes"))
    y, p, w = data
    for a in range(0, len(y), 16):  # batches
        wb = None if w is None else torch.from_numpy(w[a:a + 16])
        if args.get("num_classes") and not args.get("host") and a % 32 == 0:
            ta._device_update(acc, torch.from_numpy(y[a:a + 16]), torch.from_numpy(p[a:a + 16]), wb)
        elif y.dtype.kind == "U":
            acc.update(y[a:a + 16], p[a:a + 16], None if w is None else w[a:a + 16])
        else:
            acc.update(torch.from_numpy(y[a:a + 16]), torch.from_numpy(p[a:a + 16]), wb)
    return acc


def rank_inputs(cases):
    """Per rank: {case name: accumulator}, plus the accumulators of the error cases."""
    import confstream as cs

    out = []
    for rank in range(WORLD):
        accs = {name: build(args, per_rank[rank]) for name, (per_rank, args) in cases.items()}
        # Different fixed spaces: both ranks must raise the same error, nobody hang.
        accs["fixed_mismatch"] = cs.ConfusionMatrix(3 + rank)
        # Strings on one rank, numbers on the other.
        accs["mixed_types"] = cs.ConfusionMatrix().update(["a"] if rank else [1],
                                                          ["a"] if rank else [1])
        # The group must still work after the errors.
        accs["after_errors"] = cs.ConfusionMatrix(2).update([rank], [1])
        out.append(accs)
    return out


def worker(rank, port, inputs, out_dir):
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    import confstream as cs
    from confstream.adapters import torch as ta

    accs = inputs[rank]
    results = {}
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=WORLD, timeout=timedelta(seconds=60))

    def attempt(name, acc):
        before = acc.to_dict()
        try:
            total = ta.sync(acc)
            results[name] = ("ok", total.to_dict(), acc.labels)
        except Exception as exc:  # noqa: BLE001
            results[name] = ("raised", type(exc).__name__, str(exc))
        assert acc.to_dict() == before, "sync() changed its input"

    try:
        for name, acc in accs.items():
            if name != "after_errors":
                attempt(name, acc)
        # A bad device batch on rank 1 only (torch ops, no numba): rank 1 raises its own
        # error, rank 0 a RuntimeError naming rank 1.
        bad = cs.ConfusionMatrix(3)
        ta._device_update(bad, torch.tensor([0, 7 if rank else 1]), torch.tensor([0, 1]))
        try:
            ta.sync(bad)
            results["bad_batch"] = ("no error",)
        except Exception as exc:  # noqa: BLE001
            results["bad_batch"] = ("raised", type(exc).__name__, str(exc))
        attempt("after_errors", accs["after_errors"])
    except Exception:  # noqa: BLE001
        results["crash"] = traceback.format_exc()
    finally:
        dist.destroy_process_group()
    with open(os.path.join(out_dir, f"rank{rank}.pkl"), "wb") as f:
        pickle.dump(results, f)


def run_group(tmp_path, inputs):
    import torch.multiprocessing as mp

    ctx = mp.start_processes(worker, args=(free_port(), inputs, str(tmp_path)), nprocs=WORLD,
                             join=False, start_method="spawn")
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not ctx.join(timeout=0.1):
            if time.monotonic() > deadline:
                pytest.fail(f"the gloo group did not finish within {TIMEOUT_S} s (a hang?)")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.terminate()
    out = []
    for rank in range(WORLD):
        with open(tmp_path / f"rank{rank}.pkl", "rb") as f:
            out.append(pickle.load(f))
    return out


def reference(per_rank, args):
    from sklearn.metrics import classification_report

    y = np.concatenate([d[0] for d in per_rank])
    p = np.concatenate([d[1] for d in per_rank])
    ws = [d[2] if d[2] is not None else np.ones(len(d[0])) for d in per_rank]
    w = np.concatenate(ws) if any(d[2] is not None for d in per_rank) else None
    if args["kind"] == "ml":
        p = (p > 0.5).astype(int)
    elif p.ndim == 2:
        p = p.argmax(axis=1)
    kw = {"sample_weight": w, "zero_division": 0}
    return (classification_report(y, p, **kw),
            classification_report(y, p, output_dict=True, **kw))


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    """One two-process group for the confusion matrices' and the score curves' cases (each
    start of a group costs seconds): (results per rank, curve inputs, cm cases, curve cases)."""
    cases, curve_cases = make_cases(), make_curve_cases()
    inputs = rank_inputs(cases)
    curve_inputs = curve_rank_inputs(curve_cases)
    for rank in range(WORLD):
        after = inputs[rank].pop("after_errors")  # the worker runs it last anyway
        inputs[rank].update(curve_inputs[rank])
        inputs[rank]["after_errors"] = after
    results = run_group(tmp_path_factory.mktemp("gloo"), inputs)
    return results, curve_inputs, cases, curve_cases


def test_two_process_gloo_sync(group):
    import confstream as cs
    from _reference import same

    results, _, cases, _ = group
    for rank, res in enumerate(results):
        assert "crash" not in res, res["crash"]
    for name, (per_rank, args) in cases.items():
        text, ref = reference(per_rank, args)
        assert results[0][name][1] == results[1][name][1]  # the same state on every rank
        for rank in range(WORLD):
            status, state, _ = results[rank][name]
            assert status == "ok"
            rep = cs.from_dict(state).report(zero_division=0)
            assert str(rep) == text, (name, rank)
            assert same(rep.to_dict(), ref, approx_keys=("samples avg",)), (name, rank)
    # exact integer sums kept where every rank has them (as a local +=), dropped otherwise
    for name in ("int_weights_beside_none", "float_weights_beside_int"):
        per_rank, args = cases[name]
        local = build(args, per_rank[0])
        local += build(args, per_rank[1])
        assert results[0][name][1] == local.to_dict(), name
        has_exact = "integer_cells" in results[0][name][1]["weights"]
        assert has_exact == (name == "int_weights_beside_none"), name
    # the union of labels: rank 0's, then those only rank 1 saw, in rank 1's order
    own0, own1 = results[0]["dynamic_int"][2], results[1]["dynamic_int"][2]
    assert sorted(own0) == [0, 2, 5] and sorted(own1) == [-1, 2, 7]
    assert results[0]["dynamic_int"][1]["labels"] == own0 + [v for v in own1 if v not in own0]
    # errors: raised on every rank, never a hang
    for rank in range(WORLD):
        status, kind, msg = results[rank]["fixed_mismatch"]
        assert (status, kind) == ("raised", "ValueError")
        assert "different fixed label spaces: [0, 1, 2] and [0, 1, 2, 3]" in msg
        status, kind, msg = results[rank]["mixed_types"]
        assert status == "raised" and kind == "LabelTypeError" and "mix strings and numbers" in msg
    assert results[1]["bad_batch"][:2] == ("raised", "ValueError")
    assert "y_true[1] = 7" in results[1]["bad_batch"][2]
    assert results[0]["bad_batch"][:2] == ("raised", "RuntimeError")
    assert "rank 1 failed: ValueError: y_true[1] = 7" in results[0]["bad_batch"][2]
    for rank in range(WORLD):
        status, state, _ = results[rank]["after_errors"]
        assert status == "ok" and state["counts"] == [[0, 1], [0, 1]]


# --------------------------------------------------------------------------------------------
# score curves (ScoreCurves / MultilabelScoreCurves): the same group, the same worker


def make_curve_cases(seed=1):
    """{name: (per-rank (y, score, weight), kind args)}; counted in the parent."""
    rng = np.random.default_rng(seed)
    cases = {}
    per = []
    for n, weighted in ((70, False), (50, True)):
        y = (rng.random(n) < 0.3).astype(np.int64)
        s = (rng.normal(size=n) + y).astype(np.float16)
        per.append((y, s, rng.integers(1, 8, n) / 4 if weighted else None))
    cases["binary_f16_weighted_on_one_rank"] = (per, {"kind": "bin"})
    per = []
    for n in (90, 60):
        y = (rng.random(n) < 0.2).astype(np.int64)
        per.append((y, (1 / (1 + np.exp(-rng.normal(size=n) - 2 * y))).astype(np.float32),
                    None))
    cases["binary_f32_certified"] = (per, {"kind": "bin"})
    per = []
    for n in (300, 200):  # adaptive intervals, refined and coarsened apart on each rank
        y = (rng.random(n) < 0.3).astype(np.int64)
        per.append((y, (1 / (1 + np.exp(-rng.normal(size=n) - 2 * y))).astype(np.float32),
                    rng.integers(1, 8, n) / 4 if n == 200 else None))
    cases["binary_f32_adaptive"] = (per, {"kind": "bin_adaptive"})
    per = []
    for n, hi in ((80, 2), (60, 4)):  # rank 0 sees classes 0-1 only
        y = rng.integers(0, hi, n)
        p = rng.dirichlet(np.ones(4), n)
        per.append((y, torch.from_numpy(p).to(torch.bfloat16), None))
    cases["multiclass_bf16_classes_split"] = (per, {"kind": "mc", "num_classes": 4})
    per = []
    for n in (40, 30):
        per.append((rng.integers(0, 2, (n, 3)), rng.random((n, 3)).astype(np.float16),
                    rng.integers(1, 4, n).astype(float)))
    cases["multilabel_weighted"] = (per, {"kind": "ml", "num_labels": 3})
    y = (rng.random(30) < 0.5).astype(np.int64)
    cases["one_rank_empty"] = ([(y, rng.random(30).astype(np.float16), None),
                                (y[:0], np.zeros(0, np.float16), None)], {"kind": "bin"})
    return cases


def build_curves(args, data):
    import confstream as cs

    if args["kind"] == "bin_adaptive":
        acc = cs.ScoreCurves(resolution="adaptive", intervals=64)
        acc._buffer = 40  # several flushes and coarsenings per rank
    elif args["kind"] == "ml":
        acc = cs.MultilabelScoreCurves(args["num_labels"])
    elif args["kind"] == "mc":
        acc = cs.ScoreCurves(num_classes=args["num_classes"])
    else:
        acc = cs.ScoreCurves()
    y, s, w = data
    for a in range(0, len(y), 16):
        acc.update(y[a:a + 16], s[a:a + 16], None if w is None else w[a:a + 16])
    return acc


def curve_rank_inputs(cases):
    import confstream as cs

    out = []
    for rank in range(WORLD):
        accs = {"curves_" + name: build_curves(args, per[rank])
                for name, (per, args) in cases.items()}
        accs["curves_bits_mismatch"] = cs.ScoreCurves(bits=8 + rank)
        accs["curves_dtype_mismatch"] = cs.ScoreCurves().update(
            [0, 1], np.array([0.2, 0.7], np.float16 if rank else np.float32))
        accs["curves_kind_mismatch"] = cs.ScoreCurves(num_classes=3) if rank else cs.ScoreCurves()
        accs["curves_after_errors"] = cs.ScoreCurves().update([rank, 1], np.array([0.5, 0.25],
                                                                           np.float16))
        out.append(accs)
    return out


def union(per):
    y = np.concatenate([d[0] for d in per])
    s = np.concatenate([np.asarray(d[1].float()) if isinstance(d[1], torch.Tensor)
                        else d[1] for d in per]).astype(np.float64)
    if all(d[2] is None for d in per):
        return y, s, None
    return y, s, np.concatenate([d[2] if d[2] is not None else np.ones(len(d[0]))
                                 for d in per])


def test_two_process_gloo_sync_of_curves(group):
    import confstream as cs
    from sklearn.metrics import average_precision_score, roc_auc_score

    results, inputs, _, cases = group
    for res in results:
        assert "crash" not in res, res["crash"]
    for case, (per, args) in cases.items():
        name = "curves_" + case
        assert results[0][name][:2] == results[1][name][:2], name  # the same on every rank
        status, state, _ = results[0][name]
        assert status == "ok", (name, results[0][name])
        got = cs.from_dict(state)
        assert got == inputs[0][name] + inputs[1][name], name
        y, s, w = union(per)
        # multi-class AUROC wants rows summing to 1, which bfloat16 rows do not: each
        # class's AUROC (per_class) is compared instead
        checks = [(average_precision_score, got.average_precision,
                   got.average_precision_bounds)]
        if args["kind"] != "mc":
            checks.append((roc_auc_score, got.roc_auc, got.roc_auc_bounds))
        for fn, read, bounds in checks:
            ref = fn(y, s, sample_weight=w)
            if got.exact:
                assert read() == pytest.approx(ref, rel=1e-12, abs=0), (name, fn.__name__)
            else:
                lo, hi = bounds()
                assert lo <= ref <= hi, (name, fn.__name__, lo, ref, hi)
        if args["kind"] == "mc":
            for k, row in got.per_class().items():
                assert row["auroc"] == roc_auc_score(y == k, s[:, k]), (name, k)
    for rank in range(WORLD):
        for name, words in (("curves_bits_mismatch", "different settings"),
                            ("curves_dtype_mismatch", "different kinds of bins"),
                            ("curves_kind_mismatch", "different")):
            status, kind, msg = results[rank][name]
            assert (status, kind) == ("raised", "ValueError") and words in msg, (name, msg)
        status, state, _ = results[rank]["curves_after_errors"]
        assert status == "ok" and cs.from_dict(state).roc_auc() == roc_auc_score(
            [0, 1, 1, 1], [0.5, 0.25, 0.5, 0.25])


def test_sync_needs_an_initialised_group():
    import confstream as cs
    from confstream.adapters import torch as ta

    if dist.is_initialized():  # pragma: no cover
        pytest.skip("a process group is already initialised here")
    with pytest.raises(RuntimeError, match="init_process_group"):
        ta.sync(cs.ConfusionMatrix(2))
