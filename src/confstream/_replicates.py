"""The streamed Poisson bootstrap's settings and the accumulators' side of it.

An accumulator made with ``bootstrap=B`` keeps B replicate tables beside its counts (see
``_poisson_kernels``); ``Boot`` is its frozen settings: the number of replicates, the seed, the
shard and the key they make. Merging needs equal ``replicates`` and ``seed``; shards of one
stream should have distinct ``shard`` numbers so that their Poisson weights are independent
(with equal numbers, samples at equal positions of two shards share their weights: the
replicates are still valid bootstrap replicates on average, only noisier).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Boot(NamedTuple):
    replicates: int
    seed: int
    shard: int

    @property
    def key(self) -> np.uint64:
        return np.uint64(np.random.SeedSequence([self.seed, self.shard, 0x5EED]).generate_state(
            1, np.uint64)[0])

    def to_dict(self) -> dict:
        return {"replicates": self.replicates, "seed": self.seed, "shard": self.shard}


def _int(value, name, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {value!r}")
    return int(value)


def settings(bootstrap, seed, shard):
    """``Boot`` of the constructor's arguments, or None without ``bootstrap``; refuses bad
    values (naming them) as the other constructor arguments are refused."""
    if bootstrap is None:
        if seed != 0 or shard != 0:
            raise ValueError("seed and shard are the streamed bootstrap's: give bootstrap=B "
                             "(the number of replicates) with them")
        return None
    b = _int(bootstrap, "bootstrap", 1)
    s = _int(seed, "seed", 0)
    if s >= 2**63:
        raise ValueError(f"seed must be below 2**63, got {seed!r}")
    h = _int(shard, "shard", 0)
    if h >= 2**63:
        raise ValueError(f"shard must be below 2**63, got {shard!r}")
    return Boot(b, s, h)


def check_merge(a: Boot | None, b: Boot | None, what: str):
    """Refuse to add accumulators whose replicates do not add up."""
    if a is None and b is None:
        return
    if a is None or b is None:
        raise ValueError(
            f"Cannot add {what}s with and without the streamed bootstrap: bootstrap="
            f"{None if a is None else a.replicates} and bootstrap="
            f"{None if b is None else b.replicates} (the samples of one would have no "
            f"replicates)")
    if a.replicates != b.replicates or a.seed != b.seed:
        raise ValueError(
            f"Cannot add {what}s with different bootstrap settings: bootstrap={a.replicates}, "
            f"seed={a.seed} and bootstrap={b.replicates}, seed={b.seed}")


def from_dict(d) -> tuple:
    """(Boot or None, stream position) from a ``to_dict`` dict (absent in older states)."""
    if d is None:
        return None, 0
    if not isinstance(d, dict):
        raise ValueError("state: 'bootstrap' must be a dict or null")
    try:
        boot = settings(d.get("replicates"), d.get("seed"), d.get("shard"))
        pos = _int(d.get("position"), "position", 0)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"state: 'bootstrap': {exc}") from None
    if boot is None:
        raise ValueError("state: 'bootstrap' has no 'replicates'")
    return boot, pos


def host(x):
    """A device tensor as a host one (the replicates are counted on the host)."""
    dev = getattr(x, "device", None)
    if dev is not None and getattr(dev, "type", "cpu") != "cpu" and hasattr(x, "cpu"):
        return x.detach().cpu()
    return x
