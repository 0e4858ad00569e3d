"""fastscratch._layers.matmul: the layers' GEMMs against np.dot, their fixed blocks, and the scoped BLAS thread count."""
import numpy as np
import pytest
from _tol import tol
from fastscratch.kernels import gemm as _kg
from hypothesis import given, settings
from hypothesis import strategies as st

import fastscratch
from fastscratch._layers import matmul as _blas

threadpoolctl = pytest.importorskip("threadpoolctl")

needs_openblas = pytest.mark.skipif(_blas.openblas() is None,
                                    reason="NumPy's BLAS is not OpenBLAS: matmul is np.dot")


def _blas_threads():
    """NumPy's BLAS thread count as threadpoolctl reads it from the library."""
    return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]


def _assert_gemm_close(got, want, a, b, err_msg=""):
    """got == want up to the rounding of length-k dot products (BLAS sums in its own order)."""
    k = a.shape[-1] if a.ndim == 2 else 1
    scale = max(np.sqrt(k), 1.0) * (np.abs(a).max(initial=0) * np.abs(b).max(initial=0))
    np.testing.assert_allclose(got, want, rtol=0, atol=scale * 8 * np.finfo(got.dtype).eps + 1e-300,
                               err_msg=err_msg)


def _layouts(rng, shape, dtype):
    a = rng.standard_normal(shape).astype(dtype)
    yield "C", a
    yield "F", np.asfortranarray(a)
    big = rng.standard_normal((shape[0] + 3, 2 * shape[1] + 1)).astype(dtype)
    view = big[1:shape[0] + 1, :2 * shape[1]:2]  # strided, neither C nor F
    yield "strided", view


# shapes of the book's GEMMs (conv forward / dcol / affine) and odd small ones
SHAPES = [(57600, 25, 30), (78400, 144, 16), (3136, 16, 144), (100, 4320, 100), (100, 100, 4320), (64, 64, 20000),
          (4320, 100, 100), (7, 3, 5), (1, 1, 1), (129, 1, 257)]


@needs_openblas
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m, k, n", SHAPES)
def test_matmul_matches_np_dot(m, k, n, dtype):
    rng = np.random.default_rng(m * 7 + k * 3 + n)
    b = rng.standard_normal((k, n)).astype(dtype)
    for label, a in _layouts(rng, (m, k), dtype):
        got = _blas.matmul(a, b)
        assert got.dtype == np.dtype(dtype) and got.shape == (m, n) and got.flags.c_contiguous, label
        _assert_gemm_close(got, np.dot(a, b), a, b, err_msg=label)


@needs_openblas
@pytest.mark.parametrize("m, k, n", [(16, 78400, 144), (30, 57600, 25), (4320, 100, 100), (5, 300, 7)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matmul_tn_matches_np_dot(m, k, n, dtype):
    rng = np.random.default_rng(m + k + n)
    a = rng.standard_normal((k, m)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    got = _blas.matmul_tn(a, b)
    assert got.dtype == np.dtype(dtype) and got.shape == (m, n)
    _assert_gemm_close(got, np.dot(a.T, b), a.T, b)


@needs_openblas
@settings(max_examples=60, deadline=None)
@given(m=st.integers(0, 300), k=st.integers(0, 300), n=st.integers(0, 40),
       dtype=st.sampled_from([np.float64, np.float32]), ta=st.booleans(), tb=st.booleans())
def test_matmul_random_shapes(m, k, n, dtype, ta, tb):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    a, b = (a.T if ta else a), (b.T if tb else b)
    _assert_gemm_close(_blas.matmul(a, b), np.dot(a, b), a, b)
    _assert_gemm_close(_blas.matmul_tn(np.ascontiguousarray(a.T), b), np.dot(a, b), a, b)


@needs_openblas
def test_the_book_shapes_take_the_blocked_path(monkeypatch):
    # the comparisons above would compare np.dot with itself if matmul never reached the blocks
    calls = []
    real_out, real_tn = _kg.gemm_blocks, _kg.gemm_tn_reduce
    monkeypatch.setattr(_kg, "gemm_blocks", lambda *a: calls.append("out") or real_out(*a))
    monkeypatch.setattr(_kg, "gemm_tn_reduce", lambda *a: calls.append("tn") or real_tn(*a))
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((57600, 25)), rng.standard_normal((25, 30))
    _assert_gemm_close(_blas.matmul(a, b), np.dot(a, b), a, b)
    c, d = rng.standard_normal((78400, 16)), rng.standard_normal((78400, 144))
    _assert_gemm_close(_blas.matmul_tn(c, d), np.dot(c.T, d), c.T, d)
    assert calls == ["out", "tn"]


# float32 batches (the book's load_mnist(normalize=True)) against float64 weights: widened piece by piece
WIDEN_SHAPES = [(60000, 784, 50), (10000, 784, 100), (10000, 100, 100), (2000, 3, 300), (1000, 1, 7),
                (100, 784, 100), (33, 5000, 20), (668, 784, 50), (669, 784, 50)]  # the last two: either side of WIDEN_MIN_BYTES


@needs_openblas
@pytest.mark.parametrize("m, k, n", WIDEN_SHAPES)
def test_float32_rows_against_float64_weights_match_np_dot(m, k, n, monkeypatch):
    calls = []
    real = _kg.gemm_rows_widen
    monkeypatch.setattr(_kg, "gemm_rows_widen", lambda *a: calls.append(a[-1]) or real(*a))
    rng = np.random.default_rng(m + k + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n))
    a_before = a.copy()
    for label, bb in (("C", b), ("F", np.asfortranarray(b))):
        got = _blas.matmul(a, bb)
        assert got.dtype == np.float64 and got.shape == (m, n), label
        _assert_gemm_close(got, np.dot(a, bb), a, bb, err_msg=label)
    np.testing.assert_array_equal(a, a_before)
    fa = np.asfortranarray(a)  # x.T of a float32 batch, as in dW = x.T @ dout: the whole copy, in its own order
    _assert_gemm_close(_blas.matmul(fa, b), np.dot(fa, b), fa, b)
    rows, cols = _kg.out_blocks(m, n, k)
    if m * n * k >= _blas.BLAS_SERIAL_BELOW and rows < m and m * k * 8 >= _blas.WIDEN_MIN_BYTES:
        assert calls == [_kg.widen_piece(k, 8)] * 2  # the widening kernel is what ran, both times
    else:  # a small batch: copied whole, as np.dot does (a dense layer keeps the copy for its dW)
        assert calls == []


@needs_openblas
def test_a_very_long_reduction_is_widened_whole(monkeypatch):
    # pieces of a few rows would each re-read all of b: past that point the one float64 copy is cheaper
    calls = []
    real = _kg.gemm_rows_widen
    monkeypatch.setattr(_kg, "gemm_rows_widen", lambda *a: calls.append(a[-1]) or real(*a))
    rng = np.random.default_rng(9)
    k = 20000
    assert _kg.widen_piece(k, 8) < _kg.MIN_BLOCK_SIDE
    a, b = rng.standard_normal((64, k)).astype(np.float32), rng.standard_normal((k, 10))
    _assert_gemm_close(_blas.matmul(a, b), np.dot(a, b), a, b)
    assert calls == []


def test_dot_is_np_dot_for_what_matmul_does_not_take():
    m = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    assert type(_blas.dot(m, m)) is np.matrix
    np.testing.assert_array_equal(_blas.dot(m, m), np.dot(m, m))
    np.testing.assert_array_equal(_blas.dot(np.arange(3.0), np.arange(3.0)), 5.0)
    np.testing.assert_array_equal(_blas.dot([[1.0, 2.0]], [[3.0], [4.0]]), [[11.0]])


@needs_openblas
@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 3000), k=st.integers(1, 400), n=st.integers(1, 60), piece=st.integers(1, 50))
def test_widened_pieces_of_any_size_match_np_dot(m, k, n, piece):
    # every piece size and block edge: pieces that divide the block, or leave a short last piece
    rng = np.random.default_rng(m * 31 + k * 7 + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n))
    rows = max(1, m // 3)
    out = np.full((m, n), np.nan)
    lib = _blas.openblas()
    with _blas.blas_single_threaded():
        _kg.gemm_rows_widen(lib.gemm[np.dtype(np.float64)], lib.width, a, b, False, out, rows, piece)
    _assert_gemm_close(out, np.dot(a, b), a, b)
    with _blas.blas_single_threaded():
        _kg.gemm_rows_widen(lib.gemm[np.dtype(np.float64)], lib.width, a, np.ascontiguousarray(b.T), True, out,
                            rows, piece)
    _assert_gemm_close(out, np.dot(a, b), a, b)


def _threads_to_compare():
    """Numba's thread count, to compare with 1 thread; skips the test where there is only one."""
    n = fastscratch.get_num_threads()
    if n < 2:
        pytest.skip("one Numba thread: nothing to compare against")
    return n


@needs_openblas
def test_widened_results_do_not_depend_on_thread_counts():
    rng = np.random.default_rng(5)
    a, b = rng.random((20000, 300)).astype(np.float32), rng.random((300, 40))
    n = _threads_to_compare()
    try:
        runs = []
        for threads in sorted({1, n}):
            fastscratch.set_num_threads(threads)
            runs.append(_blas.matmul(a, b))
    finally:
        fastscratch.set_num_threads(n)
    assert all(np.array_equal(got, runs[0]) for got in runs[1:])


def test_matmul_other_dtypes_are_np_dot():
    a = np.arange(12).reshape(3, 4)
    b = np.arange(8).reshape(4, 2)
    assert _blas.matmul(a, b).dtype == np.dot(a, b).dtype
    np.testing.assert_array_equal(_blas.matmul(a, b), np.dot(a, b))
    mixed = _blas.matmul(a.astype(np.float32), b.astype(np.float64))
    assert mixed.dtype == np.float64  # NumPy's promotion, as the reference's np.dot gives


def test_matmul_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(m, k\) @ \(k, n\); got \(3, 4\) @ \(5, 2\)"):
        _blas.matmul(np.ones((3, 4)), np.ones((5, 2)))
    with pytest.raises(ValueError, match="out must be"):
        _blas.matmul(np.ones((3, 4)), np.ones((4, 2)), out=np.empty((3, 3)))
    with pytest.raises(ValueError, match=r"\(k, m\).T @ \(k, n\)"):
        _blas.matmul_tn(np.ones((3, 4)), np.ones((5, 2)))


def test_matmul_writes_into_out():
    rng = np.random.default_rng(1)
    a, b = rng.random((2000, 64)), rng.random((64, 48))
    out = np.empty((2000, 48))
    assert _blas.matmul(a, b, out=out) is out
    np.testing.assert_allclose(out, a @ b, **tol(np.float64))


@pytest.mark.parametrize("m, n, k", [(57600, 30, 25), (100, 100, 4320), (3, 3, 3), (78400, 16, 144)])
def test_blocks_depend_on_the_shape_only(m, n, k):
    rows, cols = _kg.out_blocks(m, n, k)
    nb = -(-m // rows) * -(-n // cols)
    assert 1 <= nb <= _kg.MAX_BLOCKS and (rows >= m or cols >= n)  # one side cut, at most MAX_BLOCKS
    rows, nb = _kg.reduce_blocks(m, n, k)
    assert 1 <= nb and (nb - 1) * rows < k <= nb * rows


@needs_openblas
def test_results_do_not_depend_on_thread_counts():
    # Numba's threads run the blocks; BLAS's own thread count never reaches a block (one thread each)
    rng = np.random.default_rng(2)
    a, b = rng.random((20000, 72)), rng.random((72, 40))
    c, d = rng.random((20000, 40)), rng.random((20000, 72))
    n = _threads_to_compare()
    try:
        runs = []
        for threads in sorted({1, n}):
            fastscratch.set_num_threads(threads)
            for blas in (1, 2):
                with threadpoolctl.threadpool_limits(limits=blas, user_api="blas"):
                    runs.append((_blas.matmul(a, b), _blas.matmul_tn(c, d)))
    finally:
        fastscratch.set_num_threads(n)
    for got in runs[1:]:
        assert np.array_equal(got[0], runs[0][0]) and np.array_equal(got[1], runs[0][1])


@needs_openblas
@pytest.mark.parametrize("limit", [None, 1, 2])
def test_blas_threads_restored_after_every_layer_call(limit):
    # the user's own setting (threadpoolctl's limit, or the library's default) is what BLAS has afterwards
    rng = np.random.default_rng(3)
    conv = fastscratch.layers.Convolution(rng.standard_normal((8, 3, 3, 3)), np.zeros(8), 1, 1)
    affine = fastscratch.layers.Affine(rng.standard_normal((8 * 16 * 16, 10)), np.zeros(10))
    x = rng.random((40, 3, 16, 16))
    with threadpoolctl.threadpool_limits(limits=limit, user_api="blas"):
        before = _blas_threads()
        out = affine.forward(conv.forward(x))
        conv.backward(affine.backward(np.ones_like(out)).reshape(40, 8, 16, 16))
        assert _blas_threads() == before


@needs_openblas
def test_blas_threads_restored_when_the_kernel_raises(monkeypatch):
    lib = _blas.openblas()
    before = lib.get_num_threads()
    seen = []

    def failing(*args):
        seen.append(lib.get_num_threads())
        raise RuntimeError("kernel failed")

    monkeypatch.setattr(_kg, "gemm_blocks", failing)
    with pytest.raises(RuntimeError, match="kernel failed"):
        _blas.matmul(np.ones((5000, 64)), np.ones((64, 64)))
    assert seen == [1]  # single-threaded inside
    assert lib.get_num_threads() == before


@needs_openblas
def test_scope_restores_nested_and_on_exceptions():
    lib = _blas.openblas()
    before = lib.get_num_threads()
    with pytest.raises(KeyError), _blas.blas_single_threaded():
        assert lib.get_num_threads() == 1
        with _blas.blas_single_threaded():
            assert lib.get_num_threads() == 1
        assert lib.get_num_threads() == 1
        raise KeyError("x")
    assert lib.get_num_threads() == before


@needs_openblas
def test_scopes_of_two_threads_restore_the_count_once_both_are_done():
    import threading
    lib = _blas.openblas()
    before = lib.get_num_threads()
    entered, release = threading.Event(), threading.Event()
    seen = []

    def other():
        with _blas.blas_single_threaded():
            entered.set()
            release.wait(10)
            seen.append(lib.get_num_threads())

    worker = threading.Thread(target=other)
    worker.start()
    entered.wait(10)
    with _blas.blas_single_threaded():
        pass  # this thread's scope ends while the other's is still open
    seen.append(lib.get_num_threads())
    release.set()
    worker.join(10)
    assert seen == [1, 1]
    assert lib.get_num_threads() == before


# a dense layer's dx and dW, side by side: (N, D) input, (D, M) weights
BACKWARD_SHAPES = [(100, 100, 100), (100, 784, 100), (100, 100, 10), (100, 10, 100), (400, 100, 100),
                   (1000, 100, 100), (7, 3, 5), (1, 1, 1), (33, 250, 17),
                   (1, 784, 100), (100, 784, 1), (300, 1, 513)]  # a side of 1: np.dot's gemv, no pair


@needs_openblas
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("N, D, M", BACKWARD_SHAPES)
def test_backward_products_are_bitwise_the_separate_gemms(N, D, M, dtype, monkeypatch):
    pairs, ones = [], []
    real, real_one = _kg.gemm_blocks_pair, _kg.gemm_one
    monkeypatch.setattr(_kg, "gemm_blocks_pair", lambda *a: pairs.append(a) or real(*a))
    monkeypatch.setattr(_kg, "gemm_one", lambda *a: ones.append(a) or real_one(*a))
    rng = np.random.default_rng(N + D + M)
    x, W, dout = (rng.standard_normal(s).astype(dtype) for s in ((N, D), (D, M), (N, M)))
    before = [x.copy(), W.copy(), dout.copy()]
    dx, dW = _blas.backward_products(x, W, dout)
    calls_one = len(ones)
    assert dx.dtype == dW.dtype == np.dtype(dtype) and dx.shape == (N, D) and dW.shape == (D, M)
    np.testing.assert_array_equal(dx, _blas.matmul(dout, W.T))
    np.testing.assert_array_equal(dW, _blas.matmul_tn(x, dout))
    _assert_gemm_close(dx, np.dot(dout, W.T), dout, W.T)
    _assert_gemm_close(dW, np.dot(x.T, dout), x.T, dout)
    for a, b in zip((x, W, dout), before):
        np.testing.assert_array_equal(a, b)
    small = N * D * M < _blas.BLAS_SERIAL_BELOW
    split_reduction = _kg.reduce_blocks(D, M, N)[1] > 1
    paired = not small and not split_reduction and min(N, D, M) > 1
    # two one-block GEMMs below MIN_SPLIT_WORK together: one after the other on this thread, no parallel region
    serial = paired and 2 * N * D * M < _kg.MIN_SPLIT_WORK
    assert bool(pairs) == (paired and not serial)  # the one parallel region, where it applies
    assert calls_one == (2 if serial else 0)


@needs_openblas
def test_backward_products_of_mixed_dtypes_are_the_separate_gemms():
    # float32 images into a float64 first layer (only dW is needed there, but a reader's may ask dx)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((100, 784)).astype(np.float32)
    W, dout = rng.standard_normal((784, 100)), rng.standard_normal((100, 100))
    dx, dW = _blas.backward_products(x, W, dout)
    np.testing.assert_array_equal(dx, _blas.matmul(dout, W.T))
    np.testing.assert_array_equal(dW, _blas.matmul_tn(x, dout))
    assert dx.dtype == dW.dtype == np.float64


@needs_openblas
def test_backward_products_do_not_depend_on_thread_counts():
    rng = np.random.default_rng(6)
    x, W, dout = rng.random((100, 100)), rng.random((100, 100)), rng.random((100, 100))
    n = _threads_to_compare()
    try:
        runs = []
        for threads in sorted({1, n}):
            fastscratch.set_num_threads(threads)
            runs.append(_blas.backward_products(x, W, dout))
    finally:
        fastscratch.set_num_threads(n)
    for dx, dW in runs[1:]:
        assert np.array_equal(dx, runs[0][0]) and np.array_equal(dW, runs[0][1])


def test_a_100_wide_dense_gemm_is_cut_in_two():
    # (100, 100) @ (100, 100) is below MIN_BLOCK_WORK, yet long enough for two threads
    assert 100 ** 3 < _kg.MIN_BLOCK_WORK and 100 ** 3 >= _kg.MIN_SPLIT_WORK
    assert _kg.out_blocks(100, 100, 100) == (50, 100)
    assert _kg.out_blocks(100, 10, 100) == (100, 10)  # 100K multiply-adds: one block
    assert _kg.out_blocks(20, 20, 2000) == (20, 20)  # too narrow to cut: blocks of MIN_BLOCK_SIDE at least


@needs_openblas
def test_one_call_gemms_put_openblas_thread_count_back():
    # gemm_one and the small Affine kernels set OpenBLAS to one thread themselves, for the call only
    lib = _blas.openblas()
    before = lib.get_num_threads()
    rng = np.random.default_rng(8)
    x, W, b, dout = rng.random((100, 100)), rng.random((100, 10)), rng.random(10), rng.random((100, 10))
    assert _blas.BLAS_SERIAL_BELOW <= 100 * 100 * 10 < _kg.MIN_SPLIT_WORK // 2
    try:
        lib.set_num_threads(2)
        np.testing.assert_array_equal(_blas.matmul(x, W), np.dot(x, W))
        assert _blas.affine_forward(x, W, b) is not None and _blas.affine_backward(x, W, dout, True) is not None
        assert lib.get_num_threads() == 2
        with _blas.blas_single_threaded():  # inside an open scope the count stays at one
            _blas.matmul(x, W)
            _blas.affine_backward(x, W, dout, False)
            assert lib.get_num_threads() == 1
        assert lib.get_num_threads() == 2
    finally:
        lib.set_num_threads(before)
