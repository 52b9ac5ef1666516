"""golden/intsem.py: the integer rules the RTL is checked against (docs/integer-semantics.md)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden import intsem
from golden.intsem import (accumulate, dequantize, dot_chunks, dpu_dot, int_matmul,
                           lane_chunks, qmax, quantize, requantize, saturate, wrap)


def _lo(w):
    return -(1 << (w - 1))


def _hi(w):
    return (1 << (w - 1)) - 1


# -- quantization ----------------------------------------------------------------------------

@pytest.mark.parametrize("width", [2, 4, 8, 12, 16])
def test_quantize_symmetric(width):
    rng = np.random.default_rng(width)
    x = rng.normal(size=(7, 33)) * 3.0
    q, scale = quantize(x, width)
    assert q.dtype == np.int64 and q.shape == x.shape
    assert scale == np.max(np.abs(x)) / qmax(width)
    assert q.min() >= -qmax(width) and q.max() <= qmax(width)
    assert _lo(width) not in q  # the most negative code is never produced
    i = np.unravel_index(np.argmax(np.abs(x)), x.shape)
    assert q[i] == np.sign(x[i]) * qmax(width)  # the largest magnitude maps to +-qmax
    assert np.max(np.abs(dequantize(q, scale) - x)) <= scale / 2 * (1 + 1e-9)


def test_quantize_negative_extreme_is_minus_qmax():
    q, scale = quantize([-3.0, 1.0, 0.0], 12)
    assert q.tolist() == [-2047, round(2047 / 3), 0] and scale == 3.0 / 2047
    assert qmax(12) == 2047 and qmax(2) == 1


def test_quantize_all_zero_and_empty():
    q, scale = quantize(np.zeros((3, 4)), 12)
    assert scale == 1.0 and q.dtype == np.int64 and not q.any()
    q, scale = quantize(np.zeros((0,)), 8)
    assert scale == 1.0 and q.shape == (0,)


def test_quantize_explicit_scale_clips_and_rounds_half_even():
    q, scale = quantize([0.5, 1.5, 2.5, -0.5, -1.5, 100.0, -100.0], 4, scale=1.0)
    assert scale == 1.0
    assert q.tolist() == [0, 2, 2, 0, -2, 7, -7]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False), min_size=1,
                max_size=40),
       st.integers(2, 16))
def test_quantize_never_most_negative(xs, width):
    q, scale = quantize(xs, width)
    assert scale > 0
    assert q.min() >= -qmax(width) and q.max() <= qmax(width)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_quantize_tiny_tensor():
    q, scale = quantize(np.array([0.0, 5e-324, -5e-324]), 12)
    assert scale > 0 and q.min() >= -2047


# -- saturate / wrap -------------------------------------------------------------------------

def test_saturate_and_wrap_at_the_ends():
    x = np.array([-(1 << 40), -2049, -2048, -1, 0, 2047, 2048, 1 << 40])
    assert saturate(x, 12).tolist() == [-2048, -2048, -2048, -1, 0, 2047, 2047, 2047]
    assert wrap(x, 12).tolist() == [0, 2047, -2048, -1, 0, 2047, -2048, 0]
    assert wrap(np.array([1 << 62]), 64).tolist() == [1 << 62]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(-(1 << 50), 1 << 50), st.integers(2, 48))
def test_saturate_wrap_properties(v, width):
    s = int(saturate(np.int64(v), width))
    w = int(wrap(np.array([v]), width)[0])
    assert s == min(max(v, _lo(width)), _hi(width))
    assert _lo(width) <= w <= _hi(width) and (w - v) % (1 << width) == 0
    if _lo(width) <= v <= _hi(width):
        assert s == w == v


# -- per-cycle lane sums ---------------------------------------------------------------------

def _chunks_loop(a, b, lanes):
    k = len(a)
    out = []
    for c in range(-(-k // lanes)):
        s = 0
        for i in range(c * lanes, min((c + 1) * lanes, k)):
            s += int(a[i]) * int(b[i])
        out.append(s)
    return out


@pytest.mark.parametrize("lanes", [1, 2, 4, 16, 64])
@pytest.mark.parametrize("k", [0, 1, 15, 16, 17, 100])
def test_dot_chunks_vs_loop(lanes, k):
    rng = np.random.default_rng(1000 * lanes + k)
    a = rng.integers(-2048, 2048, size=(3, k))
    b = rng.integers(-2048, 2048, size=(3, k))
    got = dot_chunks(a, b, lanes)
    assert got.shape == (3, lane_chunks(k, lanes))
    for r in range(3):
        assert got[r].tolist() == _chunks_loop(a[r], b[r], lanes)


def test_dot_chunks_broadcasts():
    rng = np.random.default_rng(5)
    x = rng.integers(-2048, 2048, size=(4, 37))
    w = rng.integers(-2048, 2048, size=(37, 6))
    got = dot_chunks(x[:, None, :], w.T[None, :, :], 16)
    assert got.shape == (4, 6, 3)
    assert got[2, 5].tolist() == _chunks_loop(x[2], w[:, 5], 16)


def test_lane_chunks():
    assert [lane_chunks(k, 16) for k in (0, 1, 16, 17, 32, 33)] == [0, 1, 1, 2, 2, 3]
    assert lane_chunks(5, 1) == 5


def test_extreme_lane_sum_fits_28_bits():
    # -2048 * -2048 = 2**22 per product, 16 lanes -> 2**26 per chunk: inside 28-bit signed.
    a = np.full(16, -2048)
    assert dot_chunks(a, a, 16).tolist() == [1 << 26]
    assert _lo(28) <= 1 << 26 <= _hi(28)
    assert dot_chunks(a, -a - 1, 16).tolist() == [-2048 * 2047 * 16]  # most negative sum
    assert _lo(24) <= -2048 * 2047 and 2048 * 2048 <= _hi(24)  # a product fits 24 bits


# -- saturating accumulation in chunk order --------------------------------------------------

def _acc_loop(chunks, width, init=0):
    acc = init
    for c in chunks:
        acc = min(max(acc + int(c), _lo(width)), _hi(width))
    return acc


def test_accumulate_saturates_high_and_low():
    hi, lo = _hi(32), _lo(32)
    assert int(accumulate([hi, 1], 32)) == hi
    assert int(accumulate([lo, -1], 32)) == lo
    assert int(accumulate([1 << 26] * 32, 32)) == hi
    assert int(accumulate([-(1 << 26)] * 33, 32)) == lo
    assert int(accumulate([], 32, init=7)) == 7
    assert int(accumulate([5], 32, init=hi)) == hi


def test_accumulate_order_is_chunk_order():
    hi = _hi(32)
    fwd = [hi, 5, -10]
    # Saturation makes the result order-dependent; chunk order (ascending K) is the rule.
    assert int(accumulate(fwd, 32)) == hi - 10
    assert int(accumulate(fwd[::-1], 32)) == hi - 5
    assert int(accumulate(fwd, 32)) == _acc_loop(fwd, 32)
    # Saturation is sticky only while the sum keeps pushing: it recovers on the way back.
    assert int(accumulate([hi, hi, -hi], 32)) == 0
    assert int(wrap(np.array([hi + hi - hi]), 32)[0]) == hi  # what an exact/wrapping sum gives


def test_accumulate_batched_matches_loop():
    rng = np.random.default_rng(11)
    chunks = rng.integers(-(1 << 26), 1 << 26, size=(5, 4, 40))
    init = rng.integers(-(1 << 27), 1 << 27, size=(5, 4))
    got = accumulate(chunks, 28, init)
    for i in range(5):
        for j in range(4):
            assert int(got[i, j]) == _acc_loop(chunks[i, j], 28, int(init[i, j]))


def test_worked_example_32_chunks_saturate_32_bit_accumulator():
    a = np.full(32 * 16, -2048)
    assert int(dpu_dot(a[: 31 * 16], a[: 31 * 16], 16, 32)) == 31 << 26  # still exact
    assert int(dpu_dot(a, a, 16, 32)) == _hi(32)  # 32 * 2**26 = 2**31 saturates
    assert int(dpu_dot(a, a, 16, 48)) == 1 << 31  # a 48-bit accumulator holds it


def test_dpu_dot_tail_chunk_is_zero_padded():
    rng = np.random.default_rng(2)
    a = rng.integers(-2048, 2048, 21)
    b = rng.integers(-2048, 2048, 21)
    assert int(dpu_dot(a, b, 16, 32)) == int(np.dot(a, b))
    assert int(dpu_dot(a, b, 16, 32, init=100)) == int(np.dot(a, b)) + 100


# -- int_matmul: fast path equals the chunked path -------------------------------------------

def _matmul_loop(x, w, lanes, acc_width):
    m, k = x.shape
    n = w.shape[1]
    out = np.zeros((m, n), np.int64)
    for i in range(m):
        for j in range(n):
            out[i, j] = _acc_loop(_chunks_loop(x[i], w[:, j], lanes), acc_width)
    return out


@st.composite
def matmul_cases(draw):
    width = draw(st.integers(2, 16))
    lanes = draw(st.sampled_from([1, 2, 4, 8, 16]))
    acc_width = draw(st.integers(4, 48))
    m, k, n = draw(st.integers(1, 4)), draw(st.integers(0, 40)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    lo, hi = _lo(width), _hi(width)
    if draw(st.booleans()):  # extremes: pushes the accumulator into saturation
        x = rng.choice([lo, hi], size=(m, k))
        w = rng.choice([lo, hi], size=(k, n))
    else:
        x = rng.integers(lo, hi + 1, size=(m, k))
        w = rng.integers(lo, hi + 1, size=(k, n))
    return x, w, lanes, acc_width


@settings(max_examples=200, deadline=None, derandomize=True)
@given(matmul_cases())
def test_int_matmul_equals_chunked(case):
    x, w, lanes, acc_width = case
    got = int_matmul(x, w, lanes, acc_width)
    ref = dpu_dot(x[:, None, :], w.T[None, :, :], lanes, acc_width)
    assert got.shape == (x.shape[0], w.shape[1])
    assert np.array_equal(got, ref)
    assert np.array_equal(got, _matmul_loop(x, w, lanes, acc_width))


def test_int_matmul_paths_explicitly():
    rng = np.random.default_rng(9)
    x = rng.integers(-2048, 2048, size=(3, 48))
    w = rng.integers(-2048, 2048, size=(48, 5))
    assert np.array_equal(int_matmul(x, w, 16, 32), x @ w)  # fast path: cannot saturate
    xs = np.full((2, 528), -2048)  # 33 chunks: -2048 * 2047 * 528 < -2**31
    ws = np.full((528, 3), -2048)
    ws[:, 1] = 2047
    got = int_matmul(xs, ws, 16, 32)  # chunked path: saturates high and low
    assert got[:, 0].tolist() == [_hi(32)] * 2 and got[:, 2].tolist() == [_hi(32)] * 2
    assert got[:, 1].tolist() == [_lo(32)] * 2
    assert np.array_equal(got, _matmul_loop(xs, ws, 16, 32))
    # fast path in column slices (a product larger than one BLAS thread's): still exact
    xl = rng.integers(-2048, 2048, size=(16, 512))
    wl = rng.integers(-2048, 2048, size=(512, 300))
    assert np.array_equal(int_matmul(xl, wl, 16, 40), xl @ wl)


# -- requantization --------------------------------------------------------------------------

def test_requantize_round_half_up():
    # shift 4: acc / 16; exact halves go towards +infinity, for both signs.
    acc = np.array([8, 24, 40, -8, -24, -40, 7, 9, -7, -9, 0, 16, -16])
    assert requantize(acc, 4, 12).tolist() == [1, 2, 3, 0, -1, -2, 0, 1, 0, -1, 0, 1, -1]
    assert requantize(np.array([1, -1, 2, -2, 3, -3]), 1, 12).tolist() == [1, 0, 1, -1, 2, -1]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.integers(-(1 << 47), (1 << 47) - 1), st.integers(0, 40), st.integers(2, 16))
def test_requantize_matches_exact_rational_rule(acc, shift, width):
    from fractions import Fraction
    import math
    exact = math.floor(Fraction(acc, 1 << shift) + Fraction(1, 2)) if shift else acc
    want = min(max(exact, _lo(width)), _hi(width))
    assert int(requantize(np.int64(acc), shift, width)) == want


def test_requantize_shift_zero_is_saturate():
    acc = np.array([-5000, -2048, -1, 0, 1, 2047, 5000])
    assert requantize(acc, 0, 12).tolist() == [-2048, -2048, -1, 0, 1, 2047, 2047]


def test_requantize_saturates_both_ends():
    assert requantize(np.array([_hi(32)]), 6, 12).tolist() == [2047]
    assert requantize(np.array([_lo(32)]), 6, 12).tolist() == [-2048]  # may reach -2**(W-1)
    assert requantize(np.array([2047 * 64 + 31]), 6, 12).tolist() == [2047]
    assert requantize(np.array([2047 * 64 + 32]), 6, 12).tolist() == [2047]  # 2048 -> clip
    assert requantize(np.array([-2048 * 64 - 32]), 6, 12).tolist() == [-2048]
    assert requantize(np.array([-2048 * 64 - 33]), 6, 12).tolist() == [-2048]


def test_requantize_negative_shift_rejected():
    with pytest.raises(ValueError, match="shift = -1"):
        requantize(np.array([1]), -1, 12)


def test_requantize_shift_above_63_rejected():
    with pytest.raises(ValueError):
        requantize(np.array([5]), 64, 12)


def test_public_names():
    for name in intsem.__all__:
        assert callable(getattr(intsem, name))
