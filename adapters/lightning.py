"""PyTorch Lightning glue: exact per-class precision / recall / F1 in ``self.log`` every epoch.

:class:`ClassMetricsCallback` feeds one confstream accumulator per stage from every batch's
outputs (counted where the tensors are: on the GPU for CUDA tensors), sums it over the ranks
once per epoch with :func:`confstream.adapters.torch.sync`, and logs the epoch's report as
flat scalars through ``pl_module.log_dict``, under the key names the Keras adapter uses
(``val_recall_<class>``, ``val_f1_macro``, ``val_accuracy``; see ``confstream.adapters._keys``).
``ModelCheckpoint``, ``EarlyStopping`` and every logger see them.

Lightning is imported when this module is: ``pip install "confstream[lightning]"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

try:
    import lightning.pytorch as pl
    import torch
except ImportError as exc:  # pragma: no cover - exercised only without lightning
    raise ImportError(
        'confstream.adapters.lightning needs Lightning 2: pip install "confstream[lightning]"'
    ) from exc

from ._keys import check_metrics, class_key, interval_keys, report_keys

__all__ = ["ClassMetricsCallback"]

_STAGES = ("train", "val", "test")
_LABEL_KEYS = ("labels", "label", "y", "target", "targets")


def default_get(outputs: Any, batch: Any) -> tuple[Any, Any]:
    """``(batch[1], logits)``: the default ``get`` of :class:`ClassMetricsCallback`.

    ``outputs`` is what the step returned: the logits tensor, or a dict with a ``"logits"``
    entry (``training_step`` must return a dict, e.g. ``{"loss": loss, "logits": logits}``).
    ``batch`` is ``(x, y, ...)`` or a dict with one of the keys ``labels``, ``label``, ``y``,
    ``target``, ``targets``.
    """
    if isinstance(outputs, torch.Tensor):
        y_pred = outputs
    elif isinstance(outputs, Mapping) and "logits" in outputs:
        y_pred = outputs["logits"]
    else:
        what = "None" if outputs is None else (
            f"a dict with keys {sorted(map(str, outputs))}" if isinstance(outputs, Mapping)
            else f"a {type(outputs).__name__}")
        raise TypeError(
            "ClassMetricsCallback reads the predictions from the step's return value, which "
            f"must be the logits tensor or a dict with a 'logits' entry; the step returned "
            f"{what} (return the logits, or pass get=lambda outputs, batch: (y_true, y_pred))"
        )
    if isinstance(batch, Mapping):
        found = [k for k in _LABEL_KEYS if k in batch]
        if len(found) != 1:
            raise TypeError(
                f"ClassMetricsCallback takes y_true from a dict batch's key among {_LABEL_KEYS}; "
                f"the batch has keys {sorted(map(str, batch))} (pass get=...)"
            )
        return batch[found[0]], y_pred
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return batch[1], y_pred
    raise TypeError(
        "ClassMetricsCallback takes y_true as batch[1]; the batch is "
        f"{'a ' + type(batch).__name__ + ' of length ' + str(len(batch)) if isinstance(batch, (tuple, list)) else 'a ' + type(batch).__name__}"
        " (pass get=lambda outputs, batch: (y_true, y_pred))"
    )


def _detach(a: Any) -> Any:
    return a.detach() if isinstance(a, torch.Tensor) else a


class ClassMetricsCallback(pl.Callback):
    """Per-class precision, recall and F1 of whole epochs, logged and kept as reports.

    Every batch of the chosen stages goes into a :class:`confstream.ConfusionMatrix` (or
    :class:`confstream.MultilabelConfusionMatrix`); nothing else is kept. At the end of the
    stage's epoch the accumulators of all ranks are summed (every rank ends with the same
    counts), the epoch's :class:`confstream.Report` is appended to ``history`` and its values
    are logged with ``pl_module.log_dict(..., on_epoch=True)``:

    - ``f"{stage}_{metric}_{class}"`` for metric in ``metrics`` (default precision, recall,
      f1) and every class (its target name, else its label);
    - ``f"{stage}_{metric}_{average}"`` for the report's averages (``micro`` where it has no
      accuracy row, ``macro``, ``weighted``, and ``samples`` for multi-label);
    - ``f"{stage}_accuracy"`` where the report has an accuracy row;
    - with ``curves=True``, ``f"{stage}_auroc_{class}"`` and ``f"{stage}_ap_{class}"``: each
      class's AUROC and average precision against the rest, from the epoch's scores streamed
      into a :class:`confstream.ScoreCurves` (binary logits: the positive class only).

    ``stage`` is ``"train"``, ``"val"`` or ``"test"``. The values are exactly those of
    ``sklearn.metrics.classification_report(y_true, y_pred, labels=..., zero_division=...)``
    on all the epoch's batches of all ranks (logged as float64 tensors).

    Parameters
    ----------
    num_classes : int, optional
        Size of the label space (labels ``0 .. C-1``), or of the label columns with
        ``multilabel=True``. Default: the width of the first batch's logits; with label
        predictions (no class axis) the space is dynamic (the labels seen, sorted).
    labels : sequence, optional
        The label values, in the order of the model's output columns.
    target_names : sequence of str, optional
        One name per class, used in the reports' rows and in the keys. Without
        ``num_classes`` and ``labels`` they fix the label space to ``0 .. len(target_names)-1``.
    multilabel : bool
        ``(N, L)`` logits against a ``(N, L)`` 0/1 indicator.
    stages : sequence of str
        Any of ``"train"``, ``"val"``, ``"test"``. ``"train"`` reads ``training_step``'s
        returned dict (``{"loss": loss, "logits": logits}``).
    get : callable, optional
        ``get(outputs, batch) -> (y_true, y_pred)``, anything ``update()`` takes. Default
        :func:`default_get`: ``batch[1]`` and the returned logits / ``outputs["logits"]``.
    every : int
        Count and log the stage's runs number ``every``, ``2 * every``, ... only (a run is one
        epoch of the stage's loop; the sanity check is never counted).
    threshold : float or sequence of float
        Binary ``(N,)`` / ``(N, 1)`` and multi-label scores are positive when strictly above it.
        The default 0.0 is for logits (``sigmoid(z) > 0.5``); use 0.5 for probabilities.
    zero_division : {0, 1, "warn", nan}
        As in scikit-learn; "warn" warns once per epoch and metric.
    metrics : sequence of str
        Which per-class values are logged: any of precision, recall, f1, support.
    averages : bool
        Also log the averages and accuracy.
    verbose : bool
        Print the report at the end of each counted epoch (on rank 0).
    ci : float, optional
        Confidence level (e.g. 0.95): the reports carry intervals (docs/INTERVALS.md) and
        ``f"{key}_lo"`` / ``f"{key}_hi"`` are logged beside each logged value that has one
        (e.g. ``val_recall_minority_lo``, ``val_f1_macro_hi``, ``val_accuracy_lo``), which
        ``EarlyStopping`` / ``ModelCheckpoint`` can monitor.
    ci_method, n_resamples, seed
        Passed to ``report`` with ``ci``. The default seed 0 gives the same intervals on every
        rank (they are drawn from the summed counts).
    bootstrap : int, optional
        Keep this many streamed Poisson bootstrap replicates in the accumulators
        (``ConfusionMatrix(bootstrap=...)``, shard = the rank): needed for ``ci`` with
        ``multilabel=True``; the intervals then come from them.
    curves : bool
        Also stream the scores (the logits, copied to the host) into a
        :class:`confstream.ScoreCurves` (or :class:`confstream.MultilabelScoreCurves`), summed
        over the ranks with the counts, and log AUROC / AP per class; the reports carry them
        (``Report.with_curves``), ``curves`` keeps the last epoch's accumulator per stage.
        float16 / bfloat16 logits are exact (scikit-learn's values); float32 ones certified:
        within ``report.curve_bounds()`` (about 1e-4 wide or less at the default bits,
        docs/CURVES.md).
        Every rank needs at least one batch to sync its curves.
    curves_bits : int, optional
        ``bits`` of the score curves (width of the bounds against memory; default 10).
    curves_resolution : {"fixed", "adaptive"}, default "fixed"
        ``resolution`` of the score curves: "adaptive" keeps float scores as interval lists
        placed where the classes overlap (narrower bounds, slower updates; docs/CURVES.md).
    curves_intervals : int, optional
        ``intervals`` of adaptive score curves (``curves_resolution="adaptive"`` only).

    Attributes
    ----------
    history : confstream.History
        The first stage's reports, one per counted epoch; the same on every rank.
    histories : dict
        ``{stage: History}``; with several dataloaders in a stage, the dataloader ``i > 0``
        has its own entry ``f"{stage}/dataloader_idx_{i}"`` (and keys with that suffix).
    confusion : dict
        ``{stage: accumulator}`` of the last counted epoch, summed over the ranks.
    curves : dict
        ``{stage: score curves}`` of the last counted epoch (``curves=True``).

    Notes
    -----
    Lightning's ``DistributedSampler`` pads the last batch of a rank by repeating samples when
    the data set does not split evenly; those repeats are counted, as every distributed metric
    counts them. Use a data set size divisible by the number of ranks for exact figures.

    Examples
    --------
    >>> cb = ClassMetricsCallback(target_names=["neg", "pos"])                # doctest: +SKIP
    >>> best = ModelCheckpoint(monitor="val_recall_pos", mode="max")          # doctest: +SKIP
    >>> Trainer(callbacks=[cb, best]).fit(model, train_loader, val_loader)    # doctest: +SKIP
    >>> print(cb.history[-1])                                                 # doctest: +SKIP
    """

    def __init__(
        self,
        num_classes: int | None = None,
        *,
        labels: Sequence[Any] | None = None,
        target_names: Sequence[str] | None = None,
        multilabel: bool = False,
        stages: Sequence[str] = ("val",),
        get: Callable[[Any, Any], tuple[Any, Any]] | None = None,
        every: int = 1,
        threshold: float | Sequence[float] = 0.0,
        zero_division: Any = 0,
        metrics: Sequence[str] = ("precision", "recall", "f1"),
        averages: bool = True,
        verbose: bool = False,
        ci: float | None = None,
        ci_method: str = "bootstrap",
        n_resamples: int = 1000,
        seed: int | None = 0,
        bootstrap: int | None = None,
        curves: bool = False,
        curves_bits: int | None = None,
        curves_resolution: str = "fixed",
        curves_intervals: int | None = None,
    ) -> None:
        super().__init__()
        from confstream import History
        from confstream._replicates import settings
        from confstream.intervals import check_ci

        from . import _curves
        from .generators import _Spec

        if ci is not None:
            ci, ci_method = check_ci(ci, ci_method, n_resamples)
            if multilabel and bootstrap is None:
                raise ValueError("ci with multilabel=True needs the streamed bootstrap: give "
                                 "bootstrap=B (e.g. 200)")
        settings(bootstrap, 0, 0)  # refuse a bad bootstrap now, not at the first batch
        self.ci = ci
        self.bootstrap = bootstrap
        self._ci_kwargs = ({} if ci is None else
                           {"ci": ci, "ci_method": ci_method, "n_resamples": n_resamples,
                            "seed": seed})
        if ci is not None and multilabel:  # the streamed replicates' own number and seed
            self._ci_kwargs = {"ci": ci, "ci_method": ci_method}
        self._rank = 0
        self._curve_options = _curves.curve_options(curves_bits, curves_resolution,
                                                    curves_intervals)
        self.with_curves = _curves.check_curves(curves, self._curve_options)
        self.curves_bits = curves_bits
        self.curves_resolution, self.curves_intervals = curves_resolution, curves_intervals
        self.curves: dict[str, Any] = {}
        self._curve_accs: dict[str, dict[int, Any]] = {}
        self._labels = None if labels is None else list(labels)

        if isinstance(stages, str):
            stages = (stages,)
        stages = tuple(dict.fromkeys(stages))
        if not stages or any(s not in _STAGES for s in stages):
            raise ValueError(f"stages must be a non-empty subset of {_STAGES}, got {stages!r}")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        if get is not None and not callable(get):
            raise TypeError(f"get must be callable as get(outputs, batch), got {get!r}")
        labels = None if labels is None else list(labels)
        if labels is not None and num_classes is not None and len(labels) != num_classes:
            raise ValueError(f"labels has {len(labels)} entries but num_classes={num_classes}")
        self.target_names = None if target_names is None else [str(n) for n in target_names]
        if self.target_names is not None and num_classes is None and labels is None:
            # Names belong to class indices (as id2label): they fix the space to 0 .. C-1.
            num_classes = len(self.target_names)
        self._spec = _Spec(num_classes, labels, multilabel, threshold, infer_classes=True)
        if self.target_names is not None and len(set(self.target_names)) != len(self.target_names):
            raise ValueError(f"target_names must be unique, got {self.target_names}")
        size = num_classes if num_classes is not None else (
            None if labels is None else len(labels))
        if self.target_names is not None and size is not None and len(self.target_names) != size:
            raise ValueError(
                f"target_names has {len(self.target_names)} names but the label space has "
                f"{size} classes"
            )
        self.multilabel = bool(multilabel)
        self.stages = stages
        self.get = get or default_get
        self.every = every
        self.zero_division = zero_division
        self.metrics = check_metrics(metrics)
        self.averages = bool(averages)
        self.verbose = bool(verbose)
        self.histories = {stage: History() for stage in stages}
        self.confusion: dict[str, Any] = {}
        self._runs = dict.fromkeys(stages, 0)
        self._accs: dict[str, dict[int, Any]] = {stage: {} for stage in stages}
        self._active = dict.fromkeys(stages, False)

    @property
    def history(self):
        return self.histories[self.stages[0]]

    # ------------------------------------------------------------------ the three phases
    def _start(self, trainer: Any, stage: str) -> None:
        if stage not in self._runs:
            return
        self._accs[stage] = {}
        self._rank = int(getattr(trainer, "global_rank", 0) or 0)
        self._curve_accs[stage] = {}
        if trainer.sanity_checking:
            self._active[stage] = False
            return
        self._runs[stage] += 1
        self._active[stage] = self._runs[stage] % self.every == 0

    def _batch(self, stage: str, outputs: Any, batch: Any, dataloader_idx: int) -> None:
        if not self._active.get(stage):
            return
        y_true, y_pred = self.get(outputs, batch)
        y_true, y_pred = _detach(y_true), _detach(y_pred)
        accs = self._accs[stage]
        acc = accs.get(dataloader_idx)
        if acc is None:
            acc = accs[dataloader_idx] = self._build(y_true, y_pred)
        acc.update(y_true, y_pred)
        if self.with_curves:
            self._feed_curves(stage, dataloader_idx, acc, y_true, y_pred)

    def _feed_curves(self, stage: str, idx: int, acc: Any, y_true: Any, y_pred: Any) -> None:
        from . import _curves

        y_pred = y_pred.cpu() if isinstance(y_pred, torch.Tensor) else np.asarray(y_pred)
        y = y_true.cpu().numpy() if isinstance(y_true, torch.Tensor) else np.asarray(y_true)
        if y_pred.ndim == 2 and y_pred.shape[1] == 1 and not self.multilabel:
            y_pred = y_pred[:, 0]
        made = self._curve_accs.setdefault(stage, {})
        if idx not in made:
            made[idx] = _curves.new_curves(acc, y_pred, multilabel=self.multilabel,
                                           labels=self._labels, options=self._curve_options)
        made[idx].update(*_curves.curve_batch(made[idx], y, y_pred, None,
                                              multilabel=self.multilabel, labels=self._labels))

    def _build(self, y_true: Any = None, y_pred: Any = None) -> Any:
        self._spec.extra = ({} if self.bootstrap is None else
                            {"bootstrap": self.bootstrap, "seed": 0, "shard": self._rank})
        acc = self._spec.build(y_true, y_pred)
        if self.target_names is not None and acc.fixed and len(acc.labels) != len(self.target_names):
            raise ValueError(
                f"target_names has {len(self.target_names)} names but the label space has "
                f"{len(acc.labels)} classes (give num_classes or labels)"
            )
        return acc

    def _end(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if not self._active.get(stage):
            return
        self._active[stage] = False
        accs = self._accs[stage] or {0: None}
        distributed = trainer.world_size > 1 and torch.distributed.is_available() \
            and torch.distributed.is_initialized()
        values: dict[str, float] = {}
        for idx in sorted(accs):
            acc = accs[idx]
            if acc is None:  # no batch on this rank: an empty accumulator still takes part
                self._spec.extra = ({} if self.bootstrap is None else
                                    {"bootstrap": self.bootstrap, "seed": 0,
                                     "shard": self._rank})
                acc = self._spec.build()
            if distributed:
                from .torch import sync

                acc = sync(acc)
            name = stage if idx == 0 else f"{stage}/dataloader_idx_{idx}"
            if idx == 0:
                self.confusion[stage] = acc
            if not acc.counts.any():
                raise ValueError(
                    f"ClassMetricsCallback: the {name} epoch counted no samples (every position "
                    "ignored?), so it has no report"
                )
            report = acc.report(**self._report_kwargs(acc))
            curves = self._curve_accs.get(stage, {}).get(idx)
            if curves is not None:
                if distributed:
                    from .torch import sync

                    curves = sync(curves)
                if idx == 0:
                    self.curves[stage] = curves
                report = report.with_curves(curves, warn=False)
            self.histories.setdefault(name, type(self.history)()).append(report)
            flat = report_keys(report, prefix=f"{stage}_", metrics=self.metrics,
                               averages=self.averages)
            if self.ci is not None:
                flat.update(interval_keys(report, prefix=f"{stage}_", metrics=self.metrics,
                                          averages=self.averages))
            if report.curves is not None:
                for row, vals in report.curves.items():
                    if row in ("macro avg", "weighted avg"):
                        if not self.averages:
                            continue
                        row = row.split()[0]
                    for metric in ("auroc", "ap"):
                        flat[class_key(f"{stage}_", metric, row)] = float(vals[metric])
            suffix = "" if idx == 0 else f"/dataloader_idx_{idx}"
            values.update({k + suffix: v for k, v in flat.items()})
            if self.verbose and trainer.is_global_zero:
                print(f"\n{name} epoch {trainer.current_epoch}: classification report\n{report}")
        device = pl_module.device
        dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
        tensors = {k: torch.tensor(v, dtype=dtype, device=device) for k, v in values.items()}
        # The values are already the same on every rank: "max" over the ranks keeps them as
        # they are (a mean would round them), and sync_dist keeps Lightning from warning.
        pl_module.log_dict(tensors, on_step=False, on_epoch=True, reduce_fx="max",
                           sync_dist=distributed, batch_size=1, add_dataloader_idx=False)

    def _report_kwargs(self, acc: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"target_names": self.target_names,
                                  "zero_division": self.zero_division, **self._ci_kwargs}
        if not self.multilabel and (acc.fixed or self.target_names is not None):
            # A fixed space reports every class every epoch, so the logged keys never vanish.
            kwargs["labels"] = acc.labels
        return kwargs

    # ------------------------------------------------------------------ Lightning hooks
    def on_train_epoch_start(self, trainer, pl_module):
        self._start(trainer, "train")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._batch("train", outputs, batch, 0)

    def on_train_epoch_end(self, trainer, pl_module):
        self._end(trainer, pl_module, "train")

    def on_validation_epoch_start(self, trainer, pl_module):
        self._start(trainer, "val")

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx,
                                dataloader_idx=0):
        self._batch("val", outputs, batch, dataloader_idx)

    def on_validation_epoch_end(self, trainer, pl_module):
        self._end(trainer, pl_module, "val")

    def on_test_epoch_start(self, trainer, pl_module):
        self._start(trainer, "test")

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._batch("test", outputs, batch, dataloader_idx)

    def on_test_epoch_end(self, trainer, pl_module):
        self._end(trainer, pl_module, "test")

    # ------------------------------------------------------------------ checkpoints
    @property
    def state_key(self) -> str:
        # One callback per set of stages may be checkpointed (Lightning needs unique keys).
        return self._generate_state_key(stages=self.stages)

    def state_dict(self) -> dict[str, Any]:
        return {"runs": dict(self._runs)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._runs.update({k: v for k, v in state_dict.get("runs", {}).items() if k in self._runs})
