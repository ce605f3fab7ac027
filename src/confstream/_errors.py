"""Error codes and errors, shared by the host kernels, the device path and the CLI.

Kernels never raise: they return the first bad position and one of the codes below, and the
Python side raises a ``BatchValueError`` with words and with the place as fields, so that a
caller (the CLI, an adapter) reads ``.argument`` / ``.index`` / ``.value`` instead of
parsing the text.
"""

from __future__ import annotations

import numpy as np

OK = 0
ERR_TRUE = 1  # y_true value not a valid label
ERR_PRED = 2  # y_pred value not a valid label
ERR_WEIGHT = 3  # sample_weight negative or not finite
ERR_SCORE = 4  # y_pred score NaN or infinite
ERR_TRUE_ML = 5  # multi-label truth not 0/1
ERR_PRED_ML = 6  # multi-label prediction not 0/1
ERR_INTERNAL = 7  # a block kernel and the sample-by-sample check disagree (a bug)
ERR_ONEHOT = 8  # one-hot truth that is not 0s and a single 1 (device path)
ERR_GROUP = 9  # a group key that is not in the group space (grouped accumulators)
ERR_WEIGHT_RANGE = 10  # a uint64 weight past int64 (device path; the host refuses it first)


class BatchValueError(ValueError):
    """A bad value in a batch; nothing of the batch was counted.

    ``argument``: "y_true", "y_pred" or "sample_weight"; ``index``: the value's place in
    that argument as the caller laid it out (a tuple); ``sample``: its first index, the
    sample's row (the row of a file's chunk); ``value``: the value itself.
    """

    def __init__(self, message: str, *, argument: str, index: tuple, value, sample: int):
        super().__init__(message)
        self.argument = argument
        self.index = tuple(int(i) for i in index)
        self.value = value
        self.sample = int(sample)

    def __reduce__(self):  # picklable across processes (Dask workers)
        return (_rebuild, (str(self), self.argument, self.index, self.value, self.sample))


def reworded(exc: Exception, message: str) -> Exception:
    """``exc`` with another message (a batch number put before it, an argument renamed),
    keeping its type and, for a ``BatchValueError``, its fields."""
    if isinstance(exc, BatchValueError):
        return BatchValueError(message, argument=exc.argument, index=exc.index, value=exc.value,
                               sample=exc.sample)
    try:
        return type(exc)(message)
    except TypeError:  # an exception type that wants other arguments: its base's
        return (ValueError if isinstance(exc, ValueError) else TypeError)(message)


def _rebuild(message, argument, index, value, sample):
    return BatchValueError(message, argument=argument, index=index, value=value, sample=sample)


def index_in(shape, flat_index: int) -> tuple:
    """A flat index as the index into an array of ``shape``."""
    if len(shape) <= 1:
        return (int(flat_index),)
    return tuple(int(i) for i in np.unravel_index(int(flat_index), shape))


def show_index(index: tuple) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def bad_value(argument: str, shape, flat_index: int, value, shown: str, what: str, *,
              index: tuple | None = None) -> BatchValueError:
    """``argument[place] = shown what``, e.g. ``y_true[1, 2] = 9 is not in the label space``."""
    index = index_in(shape, flat_index) if index is None else tuple(index)
    sep = "" if what.startswith(":") else " "
    return BatchValueError(f"{argument}{show_index(index)} = {shown}{sep}{what}", argument=argument,
                           index=index, value=value, sample=flat_index if len(shape) <= 1
                           else index[0])
