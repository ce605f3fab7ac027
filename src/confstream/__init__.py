"""confstream: incremental confusion matrices; reports identical to scikit-learn's.

>>> import confstream
>>> acc = confstream.ConfusionMatrix()
>>> for y_true, y_pred in [([0, 1, 1], [0, 1, 0]), ([2, 2], [2, 1])]:
...     _ = acc.update(y_true, y_pred)
>>> print(acc.report().to_dict()["accuracy"])
0.6
"""

import importlib

from .confusion import ConfusionMatrix, LabelTypeError, MultilabelConfusionMatrix, from_dict
from .history import History
from .metrics import UndefinedMetricWarning
from .report import Report
from .sklearn import (
    accuracy_score,
    balanced_accuracy_score,
    classification_report,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    fbeta_score,
    hamming_loss,
    jaccard_score,
    matthews_corrcoef,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    zero_one_loss,
)

__version__ = "0.1.0"

__all__ = [
    "ConfusionMatrix",
    "MultilabelConfusionMatrix",
    "ScoreCurves",
    "MultilabelScoreCurves",
    "GroupedConfusionMatrix",
    "GroupedMultilabelConfusionMatrix",
    "Report",
    "History",
    "PairedConfusion",
    "compare",
    "UndefinedMetricWarning",
    "LabelTypeError",
    "from_dict",
    "classification_report",
    "confusion_matrix",
    "multilabel_confusion_matrix",
    "precision_recall_fscore_support",
    "balanced_accuracy_score",
    "cohen_kappa_score",
    "matthews_corrcoef",
    "jaccard_score",
    "accuracy_score",
    "precision_score",
    "recall_score",
    "f1_score",
    "fbeta_score",
    "hamming_loss",
    "zero_one_loss",
    "roc_auc_score",
    "average_precision_score",
    "roc_curve",
    "precision_recall_curve",
]


# Imported on first use, so that `import confstream` stays quick for the common case.
_LAZY = {
    "ScoreCurves": ".curves",
    "MultilabelScoreCurves": ".curves",
    "GroupedConfusionMatrix": ".grouped",
    "GroupedMultilabelConfusionMatrix": ".grouped_multilabel",
    "PairedConfusion": ".paired",
    "compare": ".paired",
    "roc_auc_score": ".sklearn_ranking",
    "average_precision_score": ".sklearn_ranking",
    "roc_curve": ".sklearn_ranking",
    "precision_recall_curve": ".sklearn_ranking",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'confstream' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
