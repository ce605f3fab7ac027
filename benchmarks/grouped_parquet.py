"""`confstream report DIR --by ...` over a hive-partitioned Parquet dataset: one process, and a
LocalCluster of worker processes; wall time, CPU time and peak RSS, at several dataset sizes.

    python benchmarks/grouped_parquet.py                       # 10^8 rows: 100 files of 10^6
    python benchmarks/grouped_parquet.py --rows-per-file 20000 --files 2,4   # a small run

The dataset (``region=r0..r3/part-NNN.parquet``, int64 ``y`` / ``yhat`` over 10 classes, a
dictionary ``device`` column of 3 values) is generated under ``--root`` (default a new folder in
/tmp, removed at the end unless ``--keep``); its first k files are linked into a folder of their
own for each k of ``--files``. For each k:

- ``sequential``: the command without a scheduler (parts read one after another);
- ``cluster``: the command with ``--scheduler`` on a fresh ``LocalCluster`` of ``--workers``
  single-threaded worker processes started here, whose peak RSS (``ru_maxrss``) is read from
  every worker after the run (a fresh cluster per k: the peak belongs to that run);
- for the largest k, also ``--workers N`` as a user runs it (the command starts and stops its
  own cluster: start-up included).

Every mode's JSON output must be identical (counts are integers: the order of the merge does
not change them). Constant memory: the peak RSS of the sequential process and of each worker
stays the same as k grows. Timings are noisy on a shared machine: the load average is printed
beside every row.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REGIONS = ["r0", "r1", "r2", "r3"]
CLASSES = 10


def generate(root: str, nfiles: int, rows: int, seed: int = 0) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    paths = []
    p_class = np.linspace(2.0, 1.0, CLASSES)
    p_class /= p_class.sum()
    devices = pa.array(["web", "app", "tv"])
    for j in range(nfiles):
        region = REGIONS[j % len(REGIONS)]
        folder = os.path.join(root, "all", f"region={region}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"part-{j:03d}.parquet")
        y = rng.choice(CLASSES, rows, p=p_class).astype(np.int64)
        hit = rng.random(rows) < (0.7 + 0.05 * (j % len(REGIONS)))
        yhat = np.where(hit, y, rng.integers(0, CLASSES, rows)).astype(np.int64)
        dev = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 3, rows, dtype=np.int8)),
                                             devices)
        pq.write_table(pa.table({"y": y, "yhat": yhat, "device": dev}), path)
        paths.append(path)
    return paths


def subset(root: str, paths: list[str], k: int) -> str:
    """A folder holding links to the first k files, under the same region= folders."""
    out = os.path.join(root, f"first{k}")
    for p in paths[:k]:
        region = os.path.basename(os.path.dirname(p))
        os.makedirs(os.path.join(out, region), exist_ok=True)
        link = os.path.join(out, region, os.path.basename(p))
        if not os.path.exists(link):
            os.symlink(p, link)
    return out


def run_command(argv: list[str]) -> dict:
    """Run the command; its wall time, CPU time and peak RSS (this child alone), its output."""
    t0 = time.perf_counter()
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile() as errf:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errf)
        out = proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)     # this child's own rusage
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        errf.seek(0)
        err = errf.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(argv)}\n{err[-3000:]}")
    return {"wall_s": wall, "load": load, "cpu_s": usage.ru_utime + usage.ru_stime,
            "rss_mib": usage.ru_maxrss / 1024, "json": json.loads(out)}


def _peak_rss_mib() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    import resource
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def on_cluster(argv: list[str], workers: int) -> dict:
    import warnings

    import distributed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                           processes=True, dashboard_address=None,
                                           silence_logs=50)
        client = distributed.Client(cluster)
    try:
        base_rss = client.run(_peak_rss_mib)            # idle workers, before the run
        base_cpu = client.run(_cpu_seconds)
        r = run_command(argv + ["--scheduler", cluster.scheduler_address])
        r["worker_rss_mib"] = sorted(client.run(_peak_rss_mib).values())
        r["worker_idle_rss_mib"] = sorted(base_rss.values())
        cpu = client.run(_cpu_seconds)
        r["worker_cpu_s"] = sorted(cpu[w] - base_cpu[w] for w in cpu)   # the run's own
        return r
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client.close()
            cluster.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows-per-file", type=int, default=1_000_000)
    ap.add_argument("--files", default="10,50,100", help="dataset sizes in files, e.g. 10,50,100")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--root", default=None, help="where to write the dataset (default: /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the dataset")
    ap.add_argument("--repeats", type=int, default=1,
                    help="runs of each mode at each size; the summary gives medians")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    sizes = sorted({int(k) for k in args.files.split(",")})
    nmax = sizes[-1]
    root = args.root or tempfile.mkdtemp(prefix="confstream-lake-", dir="/tmp")
    os.makedirs(root, exist_ok=True)
    need = nmax * args.rows_per_file * 4            # about 2.3 bytes a row compressed; margin
    free = shutil.disk_usage(root).free
    if free < 2 * need:
        raise SystemExit(f"{root}: {free / 2**30:.1f} GiB free, need about {need / 2**30:.1f}")
    cli = [sys.executable, "-m", "confstream.cli", "report"]
    opts = ["--true", "y", "--pred", "yhat", "--by", "region,device", "--format", "json",
            "--no-progress", "--zero-division", "0"]
    rows = []
    try:
        t0 = time.perf_counter()
        paths = generate(root, nmax, args.rows_per_file)
        size = sum(os.path.getsize(p) for p in paths)
        print(f"dataset: {nmax} files x {args.rows_per_file:,} rows = "
              f"{nmax * args.rows_per_file:,} rows, {size / 2**20:.0f} MiB on disk, "
              f"written in {time.perf_counter() - t0:.0f} s ({root})", flush=True)
        for k in sizes:
            folder = subset(root, paths, k)
            for _ in range(args.repeats):
                seq = run_command(cli + [folder] + opts)
                rows.append(("sequential", k, seq))
                print(_row("sequential", k, args.rows_per_file, seq), flush=True)
                total = sum(g["report"]["macro avg"]["support"] for g in seq["json"]["groups"])
                assert total == k * args.rows_per_file, (total, k)
                clu = on_cluster(cli + [folder] + opts, args.workers)
                rows.append((f"cluster of {args.workers}", k, clu))
                print(_row(f"cluster of {args.workers}", k, args.rows_per_file, clu), flush=True)
                assert clu["json"] == seq["json"], "the cluster's report differs from one process's"
                if k == nmax:
                    own = run_command(cli + [folder] + opts + ["--workers", str(args.workers)])
                    rows.append((f"--workers {args.workers}", k, own))
                    print(_row(f"--workers {args.workers}", k, args.rows_per_file, own),
                          flush=True)
                    assert own["json"] == seq["json"]
        summary(rows, args.rows_per_file)
    finally:
        if not args.keep and args.root is None:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"mode": m, "files": k, **{a: b for a, b in r.items() if a != "json"}}
                       for m, k, r in rows], f, indent=1)
    print("identical JSON reports in every mode; rows counted == rows written")
    return 0


def summary(rows: list, per_file: int) -> None:
    """Medians of wall and CPU time, the largest peak RSS, per mode and size."""
    print("\nmedians (wall, command CPU; workers: CPU in the run, each) and peak RSS (largest):")
    keys = list(dict.fromkeys((m, k) for m, k, _ in rows))
    for m, k in keys:
        rs = [r for mm, kk, r in rows if (mm, kk) == (m, k)]
        wall = float(np.median([r["wall_s"] for r in rs]))
        text = (f"{m:<14} {k:>4} files  wall {wall:7.2f} s "
                f"({k * per_file / wall / 1e6:5.1f} M rows/s)  command cpu "
                f"{float(np.median([r['cpu_s'] for r in rs])):6.2f} s, "
                f"RSS {max(r['rss_mib'] for r in rs):4.0f} MiB")
        if "worker_rss_mib" in rs[0]:
            cpu = np.median([r["worker_cpu_s"] for r in rs], axis=0)
            text += (f"  workers cpu {', '.join(f'{v:.1f}' for v in cpu)} s, RSS "
                     f"{max(max(r['worker_rss_mib']) for r in rs):4.0f} MiB")
        text += f"  load {float(np.median([r['load'] for r in rs])):.1f}"
        print(text)


def _row(mode: str, k: int, rows: int, r: dict) -> str:
    text = (f"{mode:<14} {k:>4} files {k * rows / 1e6:>7.1f} M rows  wall {r['wall_s']:7.2f} s"
            f"  ({k * rows / r['wall_s'] / 1e6:6.1f} M rows/s)")
    text += f"  command cpu {r['cpu_s']:6.2f} s  peak RSS {r['rss_mib']:6.0f} MiB"
    if "worker_rss_mib" in r:
        text += ("  workers: peak RSS " + ", ".join(f"{v:.0f}" for v in r["worker_rss_mib"])
                 + " MiB (idle " + ", ".join(f"{v:.0f}" for v in r["worker_idle_rss_mib"])
                 + "), cpu in the run " + ", ".join(f"{v:.1f}" for v in r["worker_cpu_s"]) + " s")
    return text + f"  load {r['load']:.1f}"


if __name__ == "__main__":
    sys.exit(main())
