"""A tiny Lightning model and data shared by tests/test_lightning.py and its DDP script.

The model records, per stage and epoch, the labels and predictions it returned, so that the
tests can hand scikit-learn exactly what the callback saw.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

import lightning.pytorch as pl

FEATURES, CLASSES = 4, 3


def make_data(n: int, seed: int, classes=None):
    """Imbalanced 3-class data; ``classes[i % 2]`` restricts the labels of even / odd rows
    (a non-shuffled DistributedSampler over 2 ranks gives rank r the rows r, r + 2, ...)."""
    rng = np.random.default_rng(seed)
    y = rng.choice(CLASSES, n, p=[0.6, 0.3, 0.1])
    if classes is not None:
        for parity, own in enumerate(classes):
            rows = np.arange(parity, n, 2)
            y[rows] = rng.choice(own, len(rows))
    centres = rng.normal(scale=1.5, size=(CLASSES, FEATURES))
    x = centres[y] + rng.normal(size=(n, FEATURES))
    return TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(y))


class TinyModel(pl.LightningModule):
    def __init__(self, lr: float = 0.5):
        super().__init__()
        self.net = torch.nn.Linear(FEATURES, CLASSES)
        with torch.no_grad():  # start out predicting the majority class, then learn
            self.net.weight.zero_()
            self.net.bias.copy_(torch.tensor([2.0, 0.0, 0.0]))
        self.lr = lr
        self.seen = defaultdict(lambda: ([], []))  # (stage, epoch) -> (y lists, pred lists)
        self.scores = defaultdict(list)  # (stage, epoch) -> logits

    def _record(self, stage, y, logits):
        ys, ps = self.seen[(stage, self.current_epoch)]
        ys.append(y.detach().cpu().numpy())
        ps.append(logits.detach().argmax(1).cpu().numpy())
        self.scores[(stage, self.current_epoch)].append(logits.detach().cpu().numpy())

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(x)
        self._record("train", y, logits)
        return {"loss": torch.nn.functional.cross_entropy(logits, y), "logits": logits}

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(x)
        if not self.trainer.sanity_checking:
            self._record("val", y, logits)
        return logits

    def test_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(x)
        self._record("test", y, logits)
        return {"logits": logits}

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def predictions(self, stage, epoch):
        ys, ps = self.seen[(stage, epoch)]
        return np.concatenate(ys), np.concatenate(ps)


def loaders(n_train=96, n_val=64, batch_size=16, train_classes=None, val_classes=None):
    train = DataLoader(make_data(n_train, 0, train_classes), batch_size=batch_size)
    val = DataLoader(make_data(n_val, 1, val_classes), batch_size=batch_size)
    return train, val
