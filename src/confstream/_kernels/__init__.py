"""numba kernels: arrays in, counts out. The accumulators read them through this package.

Every kernel validates in the same pass as it counts and returns the first bad position (and
a code saying what was wrong, ``confstream._errors``) instead of raising; the Python wrappers
raise with words. Kernels never touch an accumulator's state unless they are the ``add_*`` /
``*_into`` kind, which the accumulator calls under its lock after a validating pass, so that
an update is all or nothing.

One module per concern:

- ``_rules``: the jit policy and the rules every kernel shares, written once: a label
  value's index in the space, a prediction's index in every input form, the cell of a sample;
  the argument bundles (``space_of``: the label space and ``ignore_index``; ``pred_of``: the
  predictions in their form).
- ``_single``: single-label counting. Unweighted batches: ``count_table``, one validating
  pass per chunk into tables of the batch's own (one chunk kernel per prediction form, block
  kernels that apply the cell rule branch-free). Weighted batches: ``cells`` then
  ``add_cells*`` (scikit-learn's summation order, one sample at a time).
- ``_multilabel``: the per-label 2x2 sums of multi-label batches.
- ``_values``: label values before counting (integer checks, ranges, string codes).
- ``_simd``: the LLVM-IR vector bodies (``CONFSTREAM_SIMD=0`` turns them off).
- ``_threads``: chunks claimed by free threads, each into its own tables.

Constants that a test or a benchmark changes live in the module that reads them (e.g.
``_single._CELLS_MAX``): set them there.
"""

from __future__ import annotations

# What the accumulators and the tests read as ``_kernels.<name>``.
# ruff: noqa: F401
from .._errors import (
    ERR_GROUP, ERR_INTERNAL, ERR_PRED, ERR_PRED_ML, ERR_SCORE, ERR_TRUE, ERR_TRUE_ML, ERR_WEIGHT, OK)
from ._rules import (
    column_map, _idx, _ijit, _index, _int_of, _jit, NO_COLS, PRED_ARGMAX, PRED_BINARY,
    PRED_LABELS, _pred_index, pred_of, rule_of, _sample_cell, space_of)
from ._simd import SIMD
from ._threads import (
    CHUNK_BYTES, _grain, run_chunks, slot_zeros)
from ._values import (
    distinct_ints, first_not_integer, str_codes, str_table)
from ._single import (
    add_cells, add_cells_int, add_cells_weighted, argmax_rows, _BLOCK, cells, _CELLS_MAX,
    _count_cells, count_table, _first_bad, _NO2F, NO_KEYS, NSUB_SMALL, PAIRS_MIN,
    PARALLEL_MIN)
from ._multilabel import (
    _ml_add_row, _ml_row, ml_count_into, ml_count_tables, ML_PARALLEL_MIN, ml_validate,
    ml_vec_thresholds)
from ._simd import _vec_ml
