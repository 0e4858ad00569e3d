"""Batch-normalization kernels over the feature axis of an (N, D) batch.

Training forward and backward reduce over the batch axis, once per feature:
the parallel kernels ``prange`` over blocks of whole columns, so each thread
owns its features' statistics and outputs (no shared accumulator, fixed
summation order: bitwise repeatable). Sums run over rows 0..N-1 in order,
which is the order of NumPy's ``sum(axis=0)`` on a C-contiguous array.
Every kernel has a ``*_serial`` twin with the same signature for small inputs,
written out rather than generated (see ``_jit.serial_twin``).
"""
import numpy as np

from ._jit import kernel, parallel_kernel, prange

#: Features per parallel task (a block of whole columns).
COL_BLOCK = 16


@kernel
def _bn_fwd_block(x, gamma, beta, eps, mu, var, std, xc, xn, out, j0, j1):
    N = x.shape[0]
    n = x.dtype.type(N)
    for j in range(np.uint64(j0), np.uint64(j1)):
        mu[j] = x.dtype.type(0)
        var[j] = x.dtype.type(0)
    for i in range(N):
        for j in range(np.uint64(j0), np.uint64(j1)):
            mu[j] += x[i, j]
    for j in range(np.uint64(j0), np.uint64(j1)):
        mu[j] = mu[j] / n
    for i in range(N):
        for j in range(np.uint64(j0), np.uint64(j1)):
            c = x[i, j] - mu[j]
            xc[i, j] = c
            var[j] += c * c
    for j in range(np.uint64(j0), np.uint64(j1)):
        var[j] = var[j] / n
        std[j] = np.sqrt(var[j] + eps)
    for i in range(N):
        for j in range(np.uint64(j0), np.uint64(j1)):
            v = xc[i, j] / std[j]
            xn[i, j] = v
            out[i, j] = gamma[j] * v + beta[j]


@parallel_kernel
def bn_forward_train(x, gamma, beta, eps, mu, var, std, xc, xn, out):
    """Training-mode batch norm: batch statistics, normalised x and gamma * xn + beta.

    x : (N, D) C-contiguous float32/float64, N >= 1.
    gamma, beta : (D,) float arrays (may be wider than x: out then takes their dtype).
    eps : scalar of x's dtype.
    mu, var, std : (D,) x's dtype, written (mean, biased variance, sqrt(var + eps)).
    xc, xn : (N, D) x's dtype, written (x - mu and xc / std).
    out : (N, D) of dtype result_type(gamma, x, beta), written.
    """
    D = x.shape[1]
    # each task owns a block of whole feature columns
    for c in prange((D + COL_BLOCK - 1) // COL_BLOCK):
        _bn_fwd_block(x, gamma, beta, eps, mu, var, std, xc, xn, out,
                      c * COL_BLOCK, min(D, (c + 1) * COL_BLOCK))


@kernel
def bn_forward_train_serial(x, gamma, beta, eps, mu, var, std, xc, xn, out):
    """Serial twin of :func:`bn_forward_train`."""
    _bn_fwd_block(x, gamma, beta, eps, mu, var, std, xc, xn, out, 0, x.shape[1])


@kernel
def _bn_test_rows(x, gamma, beta, mean, sd, out, i0, i1):
    for i in range(np.uint64(i0), np.uint64(i1)):
        for j in range(x.shape[1]):
            out[i, j] = gamma[j] * ((x[i, j] - mean[j]) / sd[j]) + beta[j]


@parallel_kernel
def bn_forward_test(x, gamma, beta, mean, sd, out):
    """Inference-mode batch norm: out = gamma * ((x - mean) / sd) + beta.

    x : (N, D) C-contiguous float; gamma, beta, mean, sd : (D,) float
    (sd = sqrt(running_var + eps)); out : (N, D) of the promoted dtype, written.
    """
    for i in prange(x.shape[0]):
        _bn_test_rows(x, gamma, beta, mean, sd, out, i, i + 1)


@kernel
def bn_forward_test_serial(x, gamma, beta, mean, sd, out):
    """Serial twin of :func:`bn_forward_test`."""
    _bn_test_rows(x, gamma, beta, mean, sd, out, 0, x.shape[0])


@kernel
def _bn_bwd_block(dout, gamma, xc, xn, std, dbeta, dgamma, dvar, dmu, dx, j0, j1):
    # The reference's chain, element by element in its order of operations:
    #   dxn = gamma*dout; dxc = dxn/std; dstd = -sum(dxn*xc/(std*std));
    #   dvar = 0.5*dstd/std; dxc += (2/N)*xc*dvar; dmu = sum(dxc); dx = dxc - dmu/N
    N = dout.shape[0]
    dt = dout.dtype.type
    n = dt(N)
    c2 = dt(2.0 / N)
    zero = dt(0)
    for j in range(np.uint64(j0), np.uint64(j1)):
        dbeta[j] = zero
        dgamma[j] = zero
        dvar[j] = zero  # holds sum(dxn*xc/(std*std)) until turned into dvar below
        dmu[j] = zero
    for i in range(N):
        for j in range(np.uint64(j0), np.uint64(j1)):
            d = dout[i, j]
            dbeta[j] += d
            dgamma[j] += xn[i, j] * d
            dxn = gamma[j] * d
            dvar[j] += (dxn * xc[i, j]) / (std[j] * std[j])
    for j in range(np.uint64(j0), np.uint64(j1)):
        dvar[j] = (dt(0.5) * -dvar[j]) / std[j]
    for i in range(N):
        for j in range(np.uint64(j0), np.uint64(j1)):
            v = (gamma[j] * dout[i, j]) / std[j] + (c2 * xc[i, j]) * dvar[j]
            dx[i, j] = v
            dmu[j] += v
    for j in range(np.uint64(j0), np.uint64(j1)):
        dmu[j] = dmu[j] / n  # from here on dmu holds dmu / N
    for i in range(N):
        for j in range(np.uint64(j0), np.uint64(j1)):
            dx[i, j] = dx[i, j] - dmu[j]


@parallel_kernel
def bn_backward(dout, gamma, xc, xn, std, dbeta, dgamma, dvar, dmu, dx):
    """Batch-norm backward (training mode).

    dout, xc, xn : (N, D) C-contiguous, one float dtype; gamma, std : (D,) same dtype.
    dbeta, dgamma : (D,) written with the parameter gradients.
    dvar, dmu : (D,) scratch, written (dvar, and dmu / N).
    dx : (N, D) written with the input gradient.
    """
    D = dout.shape[1]
    # each task owns a block of whole feature columns
    for c in prange((D + COL_BLOCK - 1) // COL_BLOCK):
        _bn_bwd_block(dout, gamma, xc, xn, std, dbeta, dgamma, dvar, dmu, dx,
                      c * COL_BLOCK, min(D, (c + 1) * COL_BLOCK))


@kernel
def bn_backward_serial(dout, gamma, xc, xn, std, dbeta, dgamma, dvar, dmu, dx):
    """Serial twin of :func:`bn_backward`."""
    _bn_bwd_block(dout, gamma, xc, xn, std, dbeta, dgamma, dvar, dmu, dx, 0, dout.shape[1])
