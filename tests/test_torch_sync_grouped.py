"""``sync()`` of the grouped accumulators in a real two-process gloo group on 127.0.0.1.

Each rank sees part of the data, some groups (and labels) that the other rank never sees,
in another order of appearance; every rank's synced accumulator must hold each group of the
union and equal scikit-learn on that group's rows of all the data. Ranks whose accumulators
cannot be added must all raise, not hang. The run is bounded in time (a hang fails).
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

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with gloo is needed")

WORLD = 2
TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cases(seed=0):
    """{name: (per-rank (y, p, groups, w), factory args)}."""
    rng = np.random.default_rng(seed)
    cases = {}
    # String groups and integer labels, each rank with groups and labels of its own; rank 1
    # weighted in quarters (sums exact in any order).
    per_rank = []
    for own_g, own_y, weighted in ((["us", "eu"], [5, 0, 2], False),
                                   (["apac", "us"], [7, 2, -1], True)):
        n = 60
        y = rng.choice(own_y, n)
        p = np.where(rng.random(n) < 0.6, y, rng.choice(own_y, n))
        w = rng.integers(1, 12, n) / 4 if weighted else None
        per_rank.append((y, p, rng.choice(own_g, n), w))
    cases["dynamic_str_groups"] = (per_rank, {"kind": "cm"})
    # Crossed slices (device, version) with string labels; combinations on one rank only.
    per_rank = []
    for devices, versions in ((["web"], [1, 2]), (["app", "web"], [2, 3])):
        n = 50
        y = rng.choice(["cat", "dog", "emu"], n)
        p = np.where(rng.random(n) < 0.5, y, rng.choice(["cat", "dog", "emu"], n))
        per_rank.append((y, p, (rng.choice(devices, n), rng.choice(versions, n)), None))
    cases["crossed"] = (per_rank, {"kind": "cm"})
    # Fixed groups and classes, rank 0 sees only some of both.
    per_rank = []
    for hi in (2, 4):
        n = 40
        per_rank.append((rng.integers(0, hi, n), rng.integers(0, hi, n),
                         rng.integers(0, hi, n), None))
    cases["fixed"] = (per_rank, {"kind": "cm", "num_classes": 4, "groups": [3, 2, 1, 0]})
    # Rank 1 saw nothing at all.
    y = rng.integers(0, 3, 30)
    cases["one_rank_empty"] = ([(y, y[::-1].copy(), y % 2 == 0, None),
                                (y[:0], y[:0], y[:0] % 2 == 0, None)], {"kind": "cm"})
    # Multi-label, groups on one rank only, weights on rank 0 only.
    per_rank = []
    for own_g, weighted in (([0, 1], True), ([1, 2], False)):
        n = 40
        per_rank.append((rng.integers(0, 2, (n, 3)), rng.random((n, 3)), rng.choice(own_g, n),
                         rng.integers(1, 8, n) / 2 if weighted else None))
    cases["multilabel"] = (per_rank, {"kind": "ml", "num_labels": 3})
    return cases


def build(args, data):
    """One rank's accumulator, counted in the parent (the ranks only sync: no numba
    compilation of their own)."""
    import confstream as cs

    if args["kind"] == "ml":
        acc = cs.GroupedMultilabelConfusionMatrix(args["num_labels"])
    else:
        acc = cs.GroupedConfusionMatrix(args.get("num_classes"), groups=args.get("groups"))
    y, p, g, w = data
    for a in range(0, len(y), 16):
        gb = tuple(c[a:a + 16] for c in g) if isinstance(g, tuple) else g[a:a + 16]
        acc.update(y[a:a + 16], p[a:a + 16], gb, None if w is None else w[a:a + 16])
    return acc


def rank_inputs(cases):
    import confstream as cs

    out = []
    for rank in range(WORLD):
        accs = {name: build(args, per_rank[rank]) for name, (per_rank, args) in cases.items()}
        accs["fixed_mismatch"] = cs.GroupedConfusionMatrix(2, groups=[0, 1 + rank])
        accs["kind_mismatch"] = (cs.GroupedConfusionMatrix(2) if rank
                                 else cs.ConfusionMatrix(2))
        accs["key_types"] = cs.GroupedConfusionMatrix().update([0], [0], ["a"] if rank else [1])
        accs["after_errors"] = cs.GroupedConfusionMatrix(2).update([rank], [1], [rank])
        out.append(accs)
    return out


def worker(rank, port, inputs, out_dir):
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    from confstream.adapters import torch as ta

    results = {}
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=WORLD, timeout=timedelta(seconds=60))
    try:
        for name, acc in inputs[rank].items():
            before = acc.to_dict()
            try:
                total = acc.sync() if name == "crossed" else ta.sync(acc)
                results[name] = ("ok", total.to_dict())
            except Exception as exc:  # noqa: BLE001
                results[name] = ("raised", type(exc).__name__, str(exc))
            assert acc.to_dict() == before, "sync() changed its input"
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


def all_data(per_rank, args):
    y = np.concatenate([d[0] for d in per_rank])
    p = np.concatenate([d[1] for d in per_rank])
    if isinstance(per_rank[0][2], tuple):
        g = [tuple(k) for d in per_rank for k in zip(*[c.tolist() for c in d[2]])]
    else:
        g = [k for d in per_rank for k in d[2].tolist()]
    ws = [d[3] if d[3] is not None else np.ones(len(d[0])) for d in per_rank]
    w = np.concatenate(ws) if any(d[3] is not None for d in per_rank) else None
    if args["kind"] == "ml":
        p = (p > 0.5).astype(int)
    return y, p, g, w


def test_two_process_gloo_sync_of_grouped_accumulators(tmp_path):
    from sklearn.metrics import classification_report

    import confstream as cs
    from _reference import same

    cases = make_cases()
    results = run_group(tmp_path, rank_inputs(cases))
    for res in results:
        assert "crash" not in res, res["crash"]
    for name, (per_rank, args) in cases.items():
        assert results[0][name] == results[1][name], name  # the same state on every rank
        status, state = results[0][name]
        assert status == "ok", (name, results[0][name])
        acc = cs.from_dict(state)
        y, p, g, w = all_data(per_rank, args)
        keys = np.empty(len(g), dtype=object)
        keys[:] = g
        seen = sorted(set(g))
        assert acc.groups == (args["groups"] if "groups" in args else seen), name
        reports = acc.report(zero_division=0)
        assert list(reports) == [k for k in acc.groups if k in seen]
        for k in seen:
            rows = np.array([v == k for v in g])
            kw = {"sample_weight": None if w is None else w[rows], "zero_division": 0}
            assert str(reports[k]) == classification_report(y[rows], p[rows], **kw), (name, k)
            assert same(reports[k].to_dict(),
                        classification_report(y[rows], p[rows], output_dict=True, **kw),
                        approx_keys=("samples avg",)), (name, k)
        kw = {"sample_weight": w, "zero_division": 0}
        assert str(acc.overall().report(zero_division=0)) == classification_report(y, p, **kw)
    for rank in range(WORLD):
        status, kind, msg = results[rank]["fixed_mismatch"]
        assert (status, kind) == ("raised", "ValueError") and "different group spaces" in msg
        status, kind, msg = results[rank]["kind_mismatch"]
        assert (status, kind) == ("raised", "ValueError") and "different kind" in msg
        status, kind, msg = results[rank]["key_types"]
        assert status == "raised" and kind == "LabelTypeError" and "rank 1" in msg
        status, state = results[rank]["after_errors"]
        assert status == "ok" and state["counts"] == [[[0, 1], [0, 0]], [[0, 0], [0, 1]]]
