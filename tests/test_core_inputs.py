"""Input forms and array types: every dtype and framework gives scikit-learn's answer."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import classification_report

import confstream as cs
from confstream import _inputs as I

rng = np.random.default_rng(11)
T = rng.integers(0, 4, 300)
P = rng.integers(0, 4, 300)
SCORES = rng.normal(size=(300, 4)).astype(np.float32)
REF = classification_report(T, P, digits=4)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                                   np.uint32, np.uint64, np.float16, np.float32, np.float64])
def test_every_label_dtype(dtype):
    acc = cs.ConfusionMatrix(num_classes=4).update(T.astype(dtype), P.astype(dtype))
    ref = classification_report(T.astype(dtype), P.astype(dtype), digits=4)
    assert str(acc.report(digits=4)) == ref
    dyn = cs.ConfusionMatrix().update(T.astype(dtype), P.astype(dtype))
    assert str(dyn.report(digits=4)) == ref


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32, np.uint8])
def test_every_score_dtype(dtype):
    s = (SCORES * 10).astype(dtype)
    acc = cs.ConfusionMatrix(num_classes=4).update(T, s)
    assert str(acc.report(digits=4)) == classification_report(T, s.argmax(axis=1), digits=4)


def test_lists_tuples_and_non_contiguous_views():
    assert str(cs.ConfusionMatrix().update(T.tolist(), tuple(P.tolist())).report(digits=4)) == REF
    big_t = np.stack([T, T]).T  # (300, 2): column 0 is a strided view
    big_p = np.stack([P, P]).T
    acc = cs.ConfusionMatrix().update(big_t[:, 0], big_p[:, 1])
    assert str(acc.report(digits=4)) == REF
    rev = cs.ConfusionMatrix().update(T[::-1], P[::-1])
    assert str(rev.report(digits=4)) == REF


def test_big_endian_and_bool_inputs():
    acc = cs.ConfusionMatrix().update(T.astype(">i4"), P.astype(">i8"))
    assert str(acc.report(digits=4)) == REF
    tb, pb = T > 1, P > 1
    assert str(cs.ConfusionMatrix().update(tb, pb).report()) == classification_report(tb, pb)


def test_column_vectors_and_binary_sigmoids():
    t = rng.integers(0, 2, 200)
    s = rng.random((200, 1)).astype(np.float32)
    acc = cs.ConfusionMatrix(num_classes=2).update(t[:, None], s)
    assert str(acc.report()) == classification_report(t, (s[:, 0] > 0.5).astype(int))


def test_float_predictions_in_a_dynamic_space_are_labels_not_scores():
    with pytest.raises(ValueError, match=r"binary scores need a space of two classes"):
        cs.ConfusionMatrix().update([0, 1], np.array([0.2, 0.9]))


def test_scores_for_a_fixed_string_space_index_its_columns():
    names = ["cat", "dog", "emu", "fox"]
    acc = cs.ConfusionMatrix(labels=names).update(np.array(names)[T], SCORES)
    ref = classification_report(np.array(names)[T], np.array(names)[SCORES.argmax(1)])
    assert str(acc.report()) == ref
    onehot = np.eye(4)[T]
    acc2 = cs.ConfusionMatrix(labels=names).update(onehot, SCORES)
    assert str(acc2.report()) == ref


def test_torch_tensors_cpu_zero_copy_and_requires_grad():
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(T)
    logits = torch.from_numpy(SCORES).requires_grad_(True)
    assert np.shares_memory(I.as_array(t, "y_true"), T)
    acc = cs.ConfusionMatrix(num_classes=4).update(t, logits)
    assert str(acc.report(digits=4)) == classification_report(T, SCORES.argmax(1), digits=4)
    acc_bf16 = cs.ConfusionMatrix(num_classes=4).update(t, logits.to(torch.bfloat16))
    assert acc_bf16.counts.sum() == 300
    masks = torch.from_numpy(rng.integers(0, 3, (2, 5, 5)))
    seg_logits = torch.randn(2, 3, 5, 5)
    acc3 = cs.ConfusionMatrix(num_classes=3).update(masks, seg_logits)
    ref = classification_report(masks.numpy().reshape(-1),
                                seg_logits.argmax(1).numpy().reshape(-1))
    assert str(acc3.report()) == ref


def test_tensorflow_tensors():
    tf = pytest.importorskip("tensorflow")
    acc = cs.ConfusionMatrix().update(tf.constant(T), tf.constant(P))
    assert str(acc.report(digits=4)) == REF


def test_jax_arrays():
    jnp = pytest.importorskip("jax.numpy")
    acc = cs.ConfusionMatrix().update(jnp.asarray(T), jnp.asarray(P))
    assert str(acc.report(digits=4)) == REF


def test_pandas_series_and_object_arrays():
    pd = pytest.importorskip("pandas")
    acc = cs.ConfusionMatrix().update(pd.Series(T), pd.Series(P))
    assert str(acc.report(digits=4)) == REF
    obj_t = np.array(["a", "b", "a"], dtype=object)
    obj_p = np.array(["a", "a", "b"], dtype=object)
    assert str(cs.ConfusionMatrix().update(obj_t, obj_p).report(zero_division=0)) == \
        classification_report(obj_t, obj_p, zero_division=0)
    with pytest.raises(TypeError, match=r"Mix of label input types .* y_true\[1\] = 1 is a number"):
        cs.ConfusionMatrix().update(np.array(["a", 1], dtype=object), ["a", "a"])
    with pytest.raises(TypeError, match=r"y_pred\[2\] = 'x' is a string after numbers"):
        cs.ConfusionMatrix().update([1, 2, 3], np.array([1, 2.5, "x"], dtype=object))


@pytest.mark.parametrize("dtype", ["Int64", "UInt8", "Float32", "boolean", "int64[pyarrow]"])
def test_pandas_nullable_dtypes_read_as_scikit_learn_reads_them(dtype):
    pd = pytest.importorskip("pandas")
    if "pyarrow" in dtype:
        pytest.importorskip("pyarrow")
    t = pd.Series([1, 0, 1, 1, 0], dtype=dtype)
    p = pd.Series([1, 1, 0, 1, 0], dtype=dtype)
    want = classification_report(t, p)  # labels 0.0 and 1.0: float64 in scikit-learn
    assert str(cs.ConfusionMatrix().update(t, p).report()) == want
    assert cs.classification_report(t, p) == want
    with_na = pd.Series([1, None, 1], dtype=dtype)
    with pytest.raises(ValueError, match=r"y_true\[1\] = nan"):
        cs.ConfusionMatrix().update(with_na, p[:3])


def test_labels_spread_far_apart_use_the_mapping_path():
    far = np.array([10**12, -5, 3 * 10**12, 10**12])
    pf = np.array([-5, -5, 3 * 10**12, 10**12])
    acc = cs.ConfusionMatrix().update(far[:2], pf[:2]).update(far[2:], pf[2:])
    assert str(acc.report()) == classification_report(far, pf)
    assert acc._space._sparse
