"""PyTorch glue: tensors counted on their device, ``evaluate()`` and ``sync()``.

- CPU tensors need nothing from here: the core reads them zero-copy (``.detach().numpy()``).
- Tensors on a GPU are counted on the GPU (``update`` below; the core's ``update()`` sends
  them here): only the C×C counts ever reach the host, and only when the state is read.
- ``evaluate(model, loader)`` runs a model over a loader into a new accumulator.
- ``sync(acc)`` sums accumulators over the ranks of ``torch.distributed``.

torch is imported lazily; ``pip install "confstream[torch]"`` installs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["evaluate", "sync", "update"]

from ._torch_device import _device_update, _torch, update  # noqa: F401



# ============================================================================================
# evaluate


def evaluate(
    model,
    loader: Iterable[Any],
    *,
    num_classes: int | None = None,
    labels: Sequence[Any] | None = None,
    multilabel: bool = False,
    threshold: float | Sequence[float] = 0.5,
    device=None,
    progress: bool = True,
    curves: bool = False,
    curves_bits: int | None = None,
    curves_resolution: str = "fixed",
    curves_intervals: int | None = None,
    ci: float | None = None,
    ci_method: str = "bootstrap",
    n_resamples: int = 1000,
    seed: int | None = None,
    bootstrap: int | None = None,
    target_names: Sequence[str] | None = None,
    zero_division: Any = "warn",
):
    """Run ``model`` over every batch of ``loader`` and count its predictions.

    Parameters
    ----------
    model : torch.nn.Module
        Called as ``model(x)``; it must return the predictions as one tensor: logits or
        scores ``(N, C)`` (argmax), binary scores ``(N,)`` / ``(N, 1)`` (``> threshold``),
        labels, segmentation scores ``(N, C, H, W)`` beside ``(N, H, W)`` masks, or, with
        ``multilabel=True``, ``(N, L)`` scores. It runs under ``model.eval()`` and
        ``torch.inference_mode()``; every submodule's training flag is restored afterwards,
        also when a batch raises.
    loader : iterable
        A ``DataLoader`` or any iterable of ``(x, y)`` or ``(x, y, sample_weight)``. ``x``
        (a tensor, or a tuple / list / dict of them) is moved to ``device``; ``y`` and the
        weights are moved to the predictions' device by the counting itself.
    num_classes, labels : optional
        The label space (see ``ConfusionMatrix``). When neither is given, the first batch's
        float predictions fix it: scores with a class axis (``(N, C)``, ``(N, C, H, W)``)
        give ``num_classes=C`` (a label outside ``0..C-1`` then raises), binary scores
        shaped like the labels ``num_classes=2``. A fixed space of integers
        is what lets GPU batches be counted on the GPU; other spaces are counted on the host.
        With ``multilabel=True``, ``num_classes`` is the number of labels (default: the width
        of the first output).
    multilabel : bool
        Count into a ``MultilabelConfusionMatrix``.
    threshold : float or sequence of float
        Binary and multi-label scores are positive when strictly above it (use 0.0 for
        logits).
    device : torch.device or str, optional
        Where ``x`` goes; default the device of the model's first parameter (or buffer),
        else the CPU. The model itself is not moved.
    progress : bool
        A tqdm progress bar, when tqdm is installed.
    curves : bool
        Also stream the scores into a :class:`confstream.ScoreCurves` (binary scores, or
        ``(N, C)`` / ``(N, C, H, W)`` one-vs-rest) or :class:`confstream.MultilabelScoreCurves`
        and return it too: ``acc.report().with_curves(curves)`` then has each class's AUROC
        and average precision (scikit-learn's ``roc_auc_score`` / ``average_precision_score``
        of the class against the rest), ``curves.per_class()`` the same as a dict. Scores
        are copied to the host for this (float16 / bfloat16 as they are: exact; float32:
        certified bounds, see docs/CURVES.md). The model must output scores (or logits).
    curves_bits : int, optional
        ``bits`` of the score curves (default 10).
    curves_resolution : {"fixed", "adaptive"}, default "fixed"
        ``resolution`` of the score curves: "adaptive" keeps float scores as interval lists
        placed where the classes overlap (narrower bounds, slower updates; docs/CURVES.md).
    curves_intervals : int, optional
        ``intervals`` of adaptive score curves (``curves_resolution="adaptive"`` only).
    ci : float, optional
        Also make the report with confidence intervals (e.g. 0.95; docs/INTERVALS.md) and
        return it last: ``(acc, report)``, or ``(acc, curves, report)`` with ``curves=True``
        (the report then has the curves' AUROC / AP too). ``ci_method``, ``n_resamples``,
        ``seed``, ``target_names`` and ``zero_division`` go to ``acc.report``.
    bootstrap : int, optional
        Keep this many streamed Poisson bootstrap replicates (``ConfusionMatrix(bootstrap=...,
        seed=...)``, seed 0 where ``seed`` is None): what intervals of weighted loaders and of
        ``multilabel=True`` need; the intervals then come from them. Batches are counted on
        the host then.

    Returns
    -------
    ConfusionMatrix or MultilabelConfusionMatrix
        Its ``report()`` equals ``classification_report`` on all ``y`` against the model's
        predictions. GPU counts stay on the GPU until the accumulator is first read.
        With ``curves=True``: ``(accumulator, score_curves)``.

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> from confstream.adapters.torch import evaluate
    >>> x = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 2.0]])
    >>> y = torch.tensor([0, 1, 1, 1])
    >>> acc = evaluate(torch.nn.Identity(), DataLoader(TensorDataset(x, y), batch_size=2),
    ...                progress=False)
    >>> acc.counts
    array([[1, 0],
           [1, 2]])
    """
    torch = _torch()
    from .generators import _run, _Spec

    from . import _curves
    from confstream._replicates import settings
    from confstream.intervals import check_ci

    if ci is not None:
        check_ci(ci, ci_method, n_resamples)
        if multilabel and bootstrap is None:
            raise ValueError("ci with multilabel=True needs the streamed bootstrap: give "
                             "bootstrap=B (e.g. 200)")
    elif target_names is not None or zero_division != "warn":
        raise ValueError("target_names and zero_division are the report's: give ci= too "
                         "(or call acc.report(...) on the returned accumulator)")
    spec = _Spec(num_classes, labels, multilabel, threshold, infer_classes=True)
    if bootstrap is not None:
        boot = settings(bootstrap, 0 if seed is None else seed, 0)
        spec.extra = {"bootstrap": boot.replicates, "seed": boot.seed}
    curve_options = _curves.curve_options(curves_bits, curves_resolution, curves_intervals)
    with_curves = _curves.check_curves(curves, curve_options)
    made = []

    def feed_curves(acc, y, y_pred, w):
        y_pred = y_pred.detach().cpu() if isinstance(y_pred, torch.Tensor) else y_pred
        y = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y
        w = w.detach().cpu().numpy() if isinstance(w, torch.Tensor) else w
        if not made:
            made.append(_curves.new_curves(acc, y_pred, multilabel=spec.multilabel,
                                           labels=spec.labels, options=curve_options))
        made[0].update(*_curves.curve_batch(made[0], y, y_pred, w, multilabel=spec.multilabel,
                                            labels=spec.labels))

    if device is None:
        device = _model_device(model)
    device = torch.device(device)
    modes = [(m, m.training) for m in model.modules()]

    def predict(x):
        out = model(_to_device(x, device))
        if not isinstance(out, torch.Tensor):
            raise TypeError(
                f"model(x) returned a {type(out).__name__}; evaluate() needs the predictions "
                f"as one tensor (wrap the model to pick them out)"
            )
        return out

    model.eval()
    try:
        with torch.inference_mode():
            acc = _run(predict, loader, spec, progress=progress,
                       after=feed_curves if with_curves else None)
    finally:
        for m, mode in modes:
            m.training = mode
    if with_curves and not made:
        raise ValueError("curves=True: the loader yielded no samples to draw curves from")
    if ci is None:
        return (acc, made[0]) if with_curves else acc
    options = {"ci": ci, "ci_method": ci_method}
    if not multilabel:
        options.update(n_resamples=n_resamples, seed=seed)
    report = acc.report(target_names=target_names, zero_division=zero_division, **options)
    if with_curves:
        return acc, made[0], report.with_curves(made[0], warn=False)
    return acc, report


def _model_device(model):
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return "cpu"


def _to_device(x, device):
    torch = _torch()
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, (list, tuple)):
        return type(x)(_to_device(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _to_device(v, device) for k, v in x.items()}
    return x


# ============================================================================================
# sync


def sync(acc, group=None):
    """The sum of ``acc`` over all ranks of a ``torch.distributed`` process group.

    **Every rank of the group must call it** (it is a collective, like ``all_reduce``);
    a rank that does not call it makes the others wait until the group's timeout.

    Works on gloo (CPU) and NCCL (the sums travel on ``torch.cuda.current_device()``, as
    NCCL requires; set it per rank first). First the ranks exchange their label spaces: for
    dynamic spaces the result's labels are the union over the ranks, in rank order (rank
    0's labels first, then labels only rank 1 saw, ...), so ranks that saw different
    classes neither hang nor mis-align. Fixed label spaces, thresholds and
    ``ignore_index`` must agree on every rank. Then each array of the additive state is
    summed with one ``all_reduce`` per dtype.

    ``ScoreCurves`` / ``MultilabelScoreCurves`` sync too: their settings (classes, bits, ovo)
    must agree, and so must the kind of score bins (one score dtype family: float16,
    bfloat16, small integers, or float32 / float64); a rank without data joins any. Their
    (column, bin, cell) table is summed densely, ``num_bins`` x columns x cells values (3.1
    MiB per class at the default bits for float scores).

    Parameters
    ----------
    acc : ConfusionMatrix, MultilabelConfusionMatrix, grouped or curve accumulator
        This rank's accumulator (``ScoreCurves``, ``MultilabelScoreCurves``;
        ``GroupedConfusionMatrix``, ``GroupedMultilabelConfusionMatrix``: groups and labels
        seen on some ranks only are in the result, as in a merge). It is not changed (pending GPU counts are folded
        into it, as any read does).
    group : ProcessGroup, optional
        Default: the world.

    Returns
    -------
    An accumulator of ``acc``'s type
        A new accumulator, the same on every rank, equal to one accumulator over all ranks'
        data. Sample counts are exact; with sample weights, the weighted sums are sums of
        per-rank sums, so they may differ from scikit-learn on the concatenated data in the
        last bit (scikit-learn adds one sample at a time).

    Raises
    ------
    ValueError, TypeError
        On every rank alike when the ranks' accumulators cannot be added (kinds, label
        spaces, settings), or when reading any rank's accumulator fails (e.g. a bad GPU
        batch): the failing rank raises its own error, the others a ``RuntimeError`` that
        names it.
    RuntimeError
        When ``torch.distributed`` is not initialised.

    Examples
    --------
    In every process of a ``torchrun`` job, after ``dist.init_process_group("gloo")``::

        acc = ConfusionMatrix()
        for x, y in shard_loader:
            acc.update(y, model(x))
        total = sync(acc)            # the same on every rank
        if dist.get_rank() == 0:
            print(total.report())
    """
    torch = _torch()
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            "sync() needs torch.distributed: call torch.distributed.init_process_group first"
        )
    world = dist.get_world_size(group)

    def agree(local_error, payload):
        return _agree(dist, world, group, local_error, payload)

    from confstream.curves import ScoreCurves

    if isinstance(acc, ScoreCurves):  # MultilabelScoreCurves too
        return _sync_curves(torch, dist, acc, group, agree)

    local = error = None
    try:
        local = acc.copy()
        info = _sync_info(local)
    except Exception as exc:  # noqa: BLE001 - every rank must hear of it, or they hang
        error, info = exc, None
    infos = agree(error, info)
    for rank, other in enumerate(infos[1:], start=1):
        if other["kind"] != infos[0]["kind"]:
            raise ValueError(f"sync(): rank 0 and rank {rank} have accumulators with different "
                             f"kind: {infos[0]['kind']!r} and {other['kind']!r}")
    if "skeleton" in infos[0]:
        return _sync_grouped(torch, dist, local, infos, agree, group)
    union, any_weighted = _agree_on_space(infos)  # raises alike on every rank

    try:
        target = _empty_like(local)._expand(union)
        target += local
        arrays = target._state_arrays()
        if any_weighted:
            arrays = _exact_sums(_as_weighted(arrays), all(i.get("exact") for i in infos))
        layout = sorted((k, v.dtype.str, v.shape) for k, v in arrays.items())
        error = None
    except Exception as exc:  # noqa: BLE001
        error, layout = exc, None
    layouts = agree(error, layout)
    if any(other != layout for other in layouts):
        raise RuntimeError(f"sync(): the ranks' state arrays differ: {layouts}")

    summed = _all_reduce(torch, dist, arrays, group)
    kinds = [sorted(set().union(*(i["kinds"][0] for i in infos))),
             sorted(set().union(*(i["kinds"][1] for i in infos)))]
    if kinds[0] or kinds[1]:
        summed["kinds"] = kinds
    out = _empty_like(local)._expand(union)
    out._add_state_arrays(summed)
    return out


def _agree(dist, world, group, local_error, payload):
    """All-gather (error, payload); raise on every rank if any rank failed."""
    gathered = [None] * world
    dist.all_gather_object(gathered, (None if local_error is None else
                                      f"{type(local_error).__name__}: {local_error}",
                                      payload), group=group)
    if local_error is not None:
        raise local_error
    for rank, (err, _) in enumerate(gathered):
        if err is not None:
            raise RuntimeError(f"sync(): rank {rank} failed: {err}")
    return [p for _, p in gathered]


def _sync_curves(torch, dist, acc, group, agree):
    """``sync`` of score curves: the ranks agree on kind, settings and score mode (a rank
    without data takes the others'), then the dense (column, bin, cell) table, the classes
    seen and the not-a-probability flag are summed with one all_reduce per dtype."""
    if getattr(acc, "resolution", "fixed") == "adaptive":
        return _sync_adaptive_curves(acc, agree)
    local = error = info = None
    try:
        local = acc.copy()
        with local._lock:
            table, mode, dtype, weighted, not_prob = local._snapshot()
            seen = local._seen
        state = local.to_dict()
        info = {"kind": state["kind"], "settings": state["settings"], "mode": mode,
                "dtype": None if dtype is None else np.dtype(dtype).str, "weighted": weighted}
    except Exception as exc:  # noqa: BLE001 - every rank must hear of it, or they hang
        error = exc
    infos = agree(error, info)
    _same_curve_settings(infos)
    modes = {i["mode"] for i in infos} - {None}
    if len(modes) > 1:
        shown = "; ".join(f"rank {r}: {np.dtype(i['dtype']).name}" for r, i in enumerate(infos)
                          if i["mode"] is not None)
        raise ValueError(f"sync(): the ranks counted scores of different kinds of bins "
                         f"({shown}); keep one score dtype on every rank")
    if not modes:
        return local.copy().reset()
    mode = modes.pop()
    any_weighted = any(i["weighted"] for i in infos)
    dtypes = [np.dtype(i["dtype"]) for i in infos if i["dtype"] is not None]
    out = local.copy().reset()
    shape = out._table_shape(mode)
    kind = np.float64 if any_weighted else np.int64
    arrays = {
        "table": (np.zeros(shape, kind) if table is None else table.astype(kind)),
        "seen": np.array([seen >> i & 1 for i in range(out.num_classes)], np.int64),
        "not_prob": np.array([int(bool(not_prob))], np.int64),
    }
    summed = _all_reduce(torch, dist, arrays, group)
    seen_all = sum(1 << i for i, v in enumerate(summed["seen"].tolist()) if v)
    out._commit(mode, np.result_type(*dtypes), summed["table"], any_weighted,
                not_prob=bool(summed["not_prob"][0]), seen=seen_all)
    return out


def _same_curve_settings(infos):
    """Every rank's curves of one kind and settings (``infos``: their to_dict heads)."""
    first = infos[0]
    for rank, other in enumerate(infos[1:], start=1):
        for what in ("kind", "settings"):
            if other[what] != first[what]:
                raise ValueError(
                    f"sync(): rank 0 and rank {rank} have score curves with different "
                    f"{what}: {first[what]!r} and {other[what]!r}")


def _sync_adaptive_curves(acc, agree):
    """``sync`` of adaptive score curves: every rank's interval lists differ, so the states
    travel whole (``to_dict``, a few MiB per class) and every rank adds them in rank order."""
    local = error = state = None
    try:
        local = acc.copy()
        state = local.to_dict()
    except Exception as exc:  # noqa: BLE001 - every rank must hear of it, or they hang
        error = exc
    states = agree(error, state)
    _same_curve_settings(states)
    out = local.copy().reset()
    for other in states:
        out += type(local).from_dict(other)
    return out


def _sync_info(acc) -> dict:
    if hasattr(acc, "_skeleton"):  # a grouped accumulator: its spaces travel as an empty copy
        return {"kind": type(acc).__name__, "skeleton": acc._skeleton(),
                "weighted": acc.weighted}
    info = {"kind": type(acc).__name__, "fixed": acc.fixed, "labels": acc.labels,
            "weighted": acc.weighted,
            # exact integer weight sums (``_wi``): an unweighted state's are its counts
            "exact": (acc._wi is not None or not acc.weighted) if hasattr(acc, "_wi") else None,
            "kinds": [sorted(getattr(acc, "_tkinds", ())), sorted(getattr(acc, "_pkinds", ()))]}
    if hasattr(acc, "ignore_index"):
        info["settings"] = {"threshold": acc.threshold, "ignore_index": acc.ignore_index}
    else:
        info["settings"] = {"threshold": np.asarray(acc.threshold).tolist()}
    boot = getattr(acc, "_boot", None)
    if boot is not None:  # the shards (ranks) may differ in their shard number only
        info["settings"]["bootstrap"] = {"replicates": boot.replicates, "seed": boot.seed}
    return info


def _sync_grouped(torch, dist, local, infos, agree, group):
    """``sync`` of a grouped accumulator (``GroupedConfusionMatrix`` or its multi-label twin).

    Every rank adds the ranks' empty copies in rank order, so every rank builds the same
    label and group spaces (a group or a label seen on one rank only is in it; fixed spaces
    and settings must agree, and the accumulators' own merge rules say so alike on every
    rank); then each rank's state, laid out over those spaces, is summed by ``all_reduce``.
    """
    union = infos[0]["skeleton"]
    for rank, info in enumerate(infos[1:], start=1):
        try:
            union = union + info["skeleton"]
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"sync(): rank {rank}'s accumulator cannot be added to rank "
                            f"0's{'' if rank == 1 else f' .. {rank - 1}'}: {exc}") from None
    any_weighted = any(i["weighted"] for i in infos)
    try:
        target = union.copy()
        target += local
        arrays = target._sync_arrays(any_weighted)
        layout = sorted((k, v.dtype.str, v.shape) for k, v in arrays.items())
        error = None
    except Exception as exc:  # noqa: BLE001 - every rank must hear of it, or they hang
        error, arrays, layout = exc, None, None
    layouts = agree(error, layout)
    if any(other != layout for other in layouts):
        raise RuntimeError(f"sync(): the ranks' state arrays differ: {layouts}")
    summed = _all_reduce(torch, dist, arrays, group)
    out = union.copy()
    out._load_sync_arrays(summed, any_weighted)
    return out


def _agree_on_space(infos):
    """The label list every rank expands to, and whether any rank is weighted.

    Runs on every rank with the same gathered ``infos``, so it raises alike everywhere.
    """
    first = infos[0]
    for rank, info in enumerate(infos[1:], start=1):
        for what in ("kind", "settings", "fixed"):
            if info[what] != first[what]:
                raise ValueError(
                    f"sync(): rank 0 and rank {rank} have accumulators with different "
                    f"{what}: {first[what]!r} and {info[what]!r}"
                )
        if first["fixed"] and info["labels"] != first["labels"]:
            raise ValueError(
                f"sync(): rank 0 and rank {rank} have different fixed label spaces: "
                f"{first['labels']!r} and {info['labels']!r}"
            )
    union, seen = [], set()
    for info in infos:
        for v in info["labels"]:
            if v not in seen:
                seen.add(v)
                union.append(v)
    if len({isinstance(v, str) for v in union}) > 1:
        from confstream import LabelTypeError

        raise LabelTypeError(
            "sync(): the ranks' labels mix strings and numbers: "
            + "; ".join(f"rank {r}: {i['labels'][:8]!r}" for r, i in enumerate(infos))
        )
    return union, any(i["weighted"] for i in infos)


def _empty_like(acc):
    """An empty accumulator with ``acc``'s settings (and, if fixed, its label space)."""
    return acc.copy().reset()


def _as_weighted(arrays: dict) -> dict:
    """A state's arrays read as weighted, so that adding an unweighted rank's state to
    weighted ranks' states counts its samples there too: its weighted sums are there
    already (``_state.dense`` fills them in from the declaration, weight 1 each)."""
    return dict(arrays, weighted=np.array([1], dtype=np.int64))


def _exact_sums(arrays: dict, every_rank: bool) -> dict:
    """The exact integer weight sums (``wi``) travel when every rank has them, an unweighted
    rank's being its counts (weight 1 each), as a local ``+=`` keeps them; else on no rank
    (the sum then is of float weights), so that every rank sends the same arrays."""
    arrays = dict(arrays)
    if not every_rank:
        arrays.pop("wi", None)
    elif "wi" not in arrays and "n" in arrays:
        arrays["wi"] = np.array(arrays["n"], dtype=np.int64)
    return arrays


def _all_reduce(torch, dist, arrays: dict, group) -> dict:
    """Sum every array over the group: one all_reduce per dtype, on the backend's device."""
    backend = str(dist.get_backend(group))
    on_gpu = backend == "nccl" or ("gloo" not in backend and "mpi" not in backend
                                   and torch.cuda.is_available())
    device = torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
    keys = sorted(arrays)
    out = {}
    for dtype in sorted({arrays[k].dtype.str for k in keys}):
        ks = [k for k in keys if arrays[k].dtype.str == dtype]
        flat = np.concatenate([np.ascontiguousarray(arrays[k]).reshape(-1) for k in ks])
        buf = torch.from_numpy(flat).to(device)
        dist.all_reduce(buf, op=dist.ReduceOp.SUM, group=group)
        flat = buf.cpu().numpy()
        start = 0
        for k in ks:
            size = arrays[k].size
            out[k] = flat[start:start + size].reshape(arrays[k].shape)
            start += size
    return out
