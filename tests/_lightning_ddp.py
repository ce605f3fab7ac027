"""Run by tests/test_lightning.py as ``python _lightning_ddp.py OUTDIR``: a 2-process
``strategy="ddp"`` fit on CPU (gloo, 127.0.0.1). Lightning starts the second rank by running
this script again; each rank writes what it saw and what the callbacks hold to OUTDIR."""

from __future__ import annotations

import os
import pickle
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lightning.pytorch as pl  # noqa: E402

from torch.utils.data import DataLoader, Subset  # noqa: E402

from _lightning_case import TinyModel, make_data  # noqa: E402
from confstream.adapters.lightning import ClassMetricsCallback  # noqa: E402


class ShardedModel(TinyModel):
    """Rank r reads rows r, r + 2, ... (no DistributedSampler, whose train shuffling would
    mix the shards): rank 0 sees train labels {0, 1} only, rank 1 {1, 2}, so the train
    callback's dynamic label spaces differ by rank and must be joined."""

    def _shard(self, data):
        rank = self.trainer.global_rank
        return DataLoader(Subset(data, range(rank, len(data), 2)), batch_size=16)

    def train_dataloader(self):
        return self._shard(make_data(96, 0, ([0, 1], [1, 2])))

    def val_dataloader(self):
        return self._shard(make_data(64, 1, ([0, 1, 2], [0, 2])))


def main(outdir: str) -> None:
    warnings.simplefilter("ignore")  # Lightning's hints about workers and small data
    pl.seed_everything(0, verbose=False)
    val_cb = ClassMetricsCallback(target_names=["a", "b", "c"])
    train_cb = ClassMetricsCallback(
        stages=("train",), get=lambda out, batch: (batch[1], out["logits"].argmax(1)))
    model = ShardedModel()
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", devices=2, strategy="ddp",
                         use_distributed_sampler=False, callbacks=[val_cb, train_cb],
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(model)
    rank = trainer.global_rank
    out = {
        "world": trainer.world_size,
        "seen": {k: model.predictions(*k) for k in list(model.seen)},
        "val": [r.to_dict() for r in val_cb.history],
        "val_text": [str(r) for r in val_cb.history],
        "train_text": [str(r) for r in train_cb.history],
        "logged": {k: float(v) for k, v in trainer.callback_metrics.items()},
    }
    with open(os.path.join(outdir, f"rank{rank}.pkl"), "wb") as f:
        pickle.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1])
