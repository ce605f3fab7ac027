"""confstream's device path (CUDA tensors counted on the GPU) against torchmetrics and plain
torch on the same GPU tensors, in one process; run by benchmarks/gpu_check.sh.

Every result is asserted equal to a torch ``bincount`` reference before anything is timed.
Each timed call ends with ``torch.cuda.synchronize()`` (the device path itself does not
wait for the GPU), so the times are of the work, not of launching it. The competitors take
turns, round after round; the table shows medians and ratios (their median / confstream's).

``--cpu`` is a dry run with tiny sizes on CPU tensors (the same device-path code, called
through ``confstream.adapters.torch.update``): it proves the script, its timings mean nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch

import confstream as cs
from confstream.adapters.torch import update as device_update

try:
    from torchmetrics.functional.classification import (
        multiclass_confusion_matrix,
        multilabel_confusion_matrix,
    )
except ImportError:  # optional competitor
    multiclass_confusion_matrix = multilabel_confusion_matrix = None


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def check_equal(name, got, ref):
    got = got.cpu().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
    ref = ref.cpu().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    if got.shape != ref.shape or not np.array_equal(got, ref):
        raise AssertionError(f"{name}: result differs from the reference\n{got}\n!=\n{ref}")


def race(device, entries, rounds):
    """{name: median seconds} for (name, fn) entries, timed in turns."""
    times = {name: [] for name, _ in entries}
    for _, fn in entries:  # warm-up: allocator, kernels, first-call costs
        fn()
        sync(device)
    for _ in range(rounds):
        for name, fn in entries:
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) for name, v in times.items()}


ROWS = []


def report(workload, medians, items):
    ours = medians["confstream"]
    for i, (name, t) in enumerate(medians.items()):
        ratio = "" if name == "confstream" else f"{t / ours:.2f}"
        rate = f" ({items / t / 1e6:.0f} M/s)" if name == "confstream" else ""
        ROWS.append((workload if i == 0 else "", name, f"{t * 1e3:.3f} ms{rate}", ratio))


def bench_labels(device, n, rounds):
    C = 10
    g = torch.Generator(device=device).manual_seed(0)
    t = torch.randint(0, C, (n,), device=device, generator=g)
    p = torch.where(torch.rand(n, device=device, generator=g) < 0.8, t,
                    torch.randint(0, C, (n,), device=device, generator=g))
    ref = torch.bincount(t * C + p, minlength=C * C).reshape(C, C)
    check_equal("confstream", device_update(cs.ConfusionMatrix(C), t, p).counts, ref)
    acc = cs.ConfusionMatrix(C)
    entries = [("confstream", lambda: device_update(acc, t, p)),
               ("torch.bincount(t*C+p)", lambda: torch.bincount(t * C + p, minlength=C * C))]
    if multiclass_confusion_matrix is not None:
        check_equal("torchmetrics", multiclass_confusion_matrix(p, t, C, validate_args=False), ref)
        entries.append(("torchmetrics multiclass_confusion_matrix(validate_args=False)",
                        lambda: multiclass_confusion_matrix(p, t, C, validate_args=False)))
    report(f"int64 labels, {C} classes, {n:.0e}", race(device, entries, rounds), n)
    acc.counts  # the one host copy; must not raise


def bench_scores(device, n, rounds):
    C = 10
    g = torch.Generator(device=device).manual_seed(1)
    t = torch.randint(0, C, (n,), device=device, generator=g)
    s = torch.rand(n, C, device=device, generator=g)
    ref = torch.bincount(t * C + s.argmax(1), minlength=C * C).reshape(C, C)
    check_equal("confstream", device_update(cs.ConfusionMatrix(C), t, s).counts, ref)
    acc = cs.ConfusionMatrix(C)
    entries = [("confstream", lambda: device_update(acc, t, s)),
               ("torch argmax + bincount",
                lambda: torch.bincount(t * C + s.argmax(1), minlength=C * C))]
    if multiclass_confusion_matrix is not None:
        check_equal("torchmetrics", multiclass_confusion_matrix(s, t, C, validate_args=False), ref)
        entries.append(("torchmetrics multiclass_confusion_matrix(validate_args=False)",
                        lambda: multiclass_confusion_matrix(s, t, C, validate_args=False)))
    report(f"float32 scores ({n:.0e}, {C}), argmax", race(device, entries, rounds), n)


def bench_masks(device, b, hw, rounds):
    C = 21
    g = torch.Generator(device=device).manual_seed(3)
    small = torch.randint(0, C, (b, hw // 16, hw // 16), device=device, generator=g)
    t = small.repeat_interleave(16, 1).repeat_interleave(16, 2).to(torch.uint8)
    p = t.clone()
    noise = torch.rand(t.shape, device=device, generator=g) < 0.05
    p[noise] = torch.randint(0, C, (int(noise.sum()),), device=device, generator=g,
                             dtype=torch.uint8)
    t[:, :, ::37] = 255  # void lines
    keep = t != 255
    ref = torch.bincount(t[keep].long() * C + p[keep].long(), minlength=C * C).reshape(C, C)
    check_equal("confstream",
                device_update(cs.ConfusionMatrix(C, ignore_index=255), t, p).counts, ref)
    acc = cs.ConfusionMatrix(C, ignore_index=255)

    def torch_masked():
        k = t != 255
        return torch.bincount(t[k].long() * C + p[k].long(), minlength=C * C)

    entries = [("confstream", lambda: device_update(acc, t, p)),
               ("torch masked bincount", torch_masked)]
    if multiclass_confusion_matrix is not None:
        t64, p64 = t.long(), p.long()
        check_equal("torchmetrics", multiclass_confusion_matrix(
            p64, t64, C, ignore_index=255, validate_args=False), ref)
        entries.append(("torchmetrics (validate_args=False, int64 input)",
                        lambda: multiclass_confusion_matrix(p64, t64, C, ignore_index=255,
                                                            validate_args=False)))
    report(f"uint8 masks {b}x{hw}x{hw}, {C} classes, ignore 255",
           race(device, entries, rounds), t.numel())


def bench_multilabel(device, n, rounds):
    L = 39
    g = torch.Generator(device=device).manual_seed(2)
    t = (torch.rand(n, L, device=device, generator=g) < 0.3).to(torch.uint8)
    s = torch.rand(n, L, device=device, generator=g)
    pos = s > 0.5
    tb = t.bool()
    tp = (pos & tb).sum(0)
    fp = (pos & ~tb).sum(0)
    fn = (~pos & tb).sum(0)
    tn = n - tp - fp - fn
    ref = torch.stack([tn, fp, fn, tp], 1).reshape(L, 2, 2)
    check_equal("confstream", device_update(cs.MultilabelConfusionMatrix(L), t, s).counts, ref)
    acc = cs.MultilabelConfusionMatrix(L)

    def torch_sums():
        q = s > 0.5
        b = t.bool()
        return (q & b).sum(0), q.sum(0), b.sum(0)

    entries = [("confstream", lambda: device_update(acc, t, s)),
               ("torch vectorised sums", torch_sums)]
    if multilabel_confusion_matrix is not None:
        tl = t.long()
        check_equal("torchmetrics", multilabel_confusion_matrix(s, tl, L, validate_args=False),
                    ref)
        entries.append(("torchmetrics multilabel_confusion_matrix(validate_args=False)",
                        lambda: multilabel_confusion_matrix(s, tl, L, validate_args=False)))
    report(f"multi-label float32 scores ({n:.0e}, {L}), uint8 truth",
           race(device, entries, rounds), n * L)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true",
                    help="dry run: tiny sizes on CPU tensors (timings mean nothing)")
    ap.add_argument("--rounds", type=int, default=0)
    args = ap.parse_args(argv)
    if args.cpu:
        device = torch.device("cpu")
        sizes = dict(labels=10_000, scores=2_000, masks=(2, 64), multilabel=1_000)
        rounds = args.rounds or 3
    else:
        if not torch.cuda.is_available():
            print("gpu_bench.py: no CUDA device (use --cpu for a dry run)", file=sys.stderr)
            return 2
        device = torch.device("cuda", torch.cuda.current_device())
        sizes = dict(labels=10_000_000, scores=2_000_000, masks=(16, 512), multilabel=1_000_000)
        rounds = args.rounds or 21
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        platform.processor() or platform.machine())
    print(f"device path benchmark on {name}{' (CPU dry run)' if args.cpu else ''}; "
          f"torch {torch.__version__}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"medians of {rounds} rounds")
    bench_labels(device, sizes["labels"], rounds)
    bench_scores(device, sizes["scores"], rounds)
    bench_masks(device, *sizes["masks"], rounds)
    bench_multilabel(device, sizes["multilabel"], rounds)
    print("\n| workload | who | median | ratio |\n|---|---|---:|---:|")
    for row in ROWS:
        print("| " + " | ".join(row) + " |")
    print("\nall results equal the torch bincount reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
