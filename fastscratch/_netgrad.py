"""Network numerical gradients in milliseconds: the book's networks, perturbed incrementally.

``network_numerical_gradient(network, x, t)`` returns what
``network.numerical_gradient(x, t)`` of the reference returns (same keys in the
same order, the parameters' shapes, float64; within 1e-7 absolute) for
TwoLayerNet, MultiLayerNet (ReLU or sigmoid, weight decay),
MultiLayerNetExtend (batch norm, dropout, weight decay) and SimpleConvNet.

Instead of running the whole network twice per parameter element, it runs the
unperturbed network once (NumPy GEMMs plus the kernels' own batch norm,
activation and loss, so that an unchanged value is reproduced bitwise) and
then, in ``fastscratch.kernels.numgrad``, re-evaluates only what each
perturbation changes: one column of one layer, a rank-1 change of the next
layer, the rows it reaches, and their loss terms. Everything is float64.

Differences from the reference, on purpose:

- Dropout (MultiLayerNetExtend, use_dropout): the reference's loss redraws
  every mask on each of its 2 * (number of parameters) calls, so its
  numerical gradient is noise. Here the masks are drawn once, exactly as one
  training forward of the reference draws them (``np.random.rand(N, D) >
  dropout_ratio`` per Dropout layer, in layer order, from NumPy's global
  generator), and held fixed for every perturbation: the gradient of that one
  dropped-out network. The global generator advances by that one forward.
- Batch norm in train mode: each reference loss call also moves the layers'
  running_mean/running_var (2 * (number of parameters) updates with
  perturbed batch statistics). Here nothing of the network is written: the
  running statistics, the layers' cached forward state and the parameters are
  left as they were.
- A layer's state left by the last loss call (SoftmaxWithLoss.loss, Relu.mask,
  ...) is not updated either; ``network.gradient`` recomputes all of it.

Anything else (other network classes, layer lists edited after construction,
non-float64 parameters, targets that are neither one-hot nor labels, pooling
with padding) is not handled here: ``incremental_numerical_gradient`` returns
None and the caller falls back to the reference method.
"""
import numba
import numpy as np

from .kernels import numgrad as _k
from .reference.multi_layer_net import MultiLayerNet as _RefMultiLayerNet
from .reference.multi_layer_net_extend import MultiLayerNetExtend as _RefMultiLayerNetExtend
from .reference.simple_convnet import SimpleConvNet as _RefSimpleConvNet
from .reference.two_layer_net import TwoLayerNet as _RefTwoLayerNet

#: The book's step.
H = 1e-4

_ACTS = {"Relu": _k.ACT_RELU, "Sigmoid": _k.ACT_SIGMOID}


class _Unsupported(Exception):
    """The network or its inputs are outside what the incremental kernels model."""


def _need(cond):
    if not cond:
        raise _Unsupported


def _param(network, key):
    p = network.params.get(key)
    _need(isinstance(p, np.ndarray) and p.dtype == np.float64)
    return p


def _labels(t, n, k):
    """Class index per row, as the book's cross_entropy_error reads t."""
    _need(isinstance(t, np.ndarray))
    if t.size == n * k:  # one-hot (or scores): the book takes argmax over axis 1
        _need(t.ndim == 2 and t.shape == (n, k))
        return np.ascontiguousarray(t.argmax(axis=1), dtype=np.int64)
    # labels: y[np.arange(n), t] picks one entry per row only for t of n entries
    _need(t.dtype.kind in "iu" and (t.ndim == 1 or t.size == 1) and t.size == n)
    lab = t.reshape(n).astype(np.int64)
    _need(np.all((lab >= -k) & (lab < k)))
    return np.ascontiguousarray(lab % k)  # NumPy indexing wraps negative labels


class _DenseChain:
    """L Affine layers (each hidden one with optional batch norm, an activation and a fixed
    dropout mask) ending in softmax-cross-entropy, packed flat for the kernels, with the
    unperturbed activations of every layer."""

    def __init__(self, X0, Ws, bs, gammas, betas, acts, masks, labels, lam):
        n = X0.shape[0]
        L = len(Ws)
        self.n = n
        self.dims = np.array([Ws[0].shape[0]] + [W.shape[1] for W in Ws], dtype=np.int64)
        d = self.dims
        self.woff = np.concatenate([[0], np.cumsum([W.size for W in Ws])]).astype(np.int64)
        self.boff = np.concatenate([[0], np.cumsum(d[1:])]).astype(np.int64)
        self.aoff = n * self.boff
        self.Wf = np.concatenate([W.ravel() for W in Ws])
        self.bf = np.concatenate([b.ravel() for b in bs])
        self.gf = np.concatenate([np.ones(d[l + 1]) if g is None else g.ravel()
                                  for l, g in enumerate(gammas)])
        self.tf = np.concatenate([np.zeros(d[l + 1]) if b is None else b.ravel()
                                  for l, b in enumerate(betas)])
        self.hasbn = np.array([g is not None for g in gammas], dtype=np.int64)
        self.act = np.array(acts, dtype=np.int64)
        self.maskf = np.concatenate([np.ones(n * d[l + 1]) if m is None else m.ravel().astype(np.float64)
                                     for l, m in enumerate(masks)])
        self.X0 = np.ascontiguousarray(X0, dtype=np.float64).reshape(-1)
        self.labels = labels
        self.lam = float(lam)
        total = int(self.aoff[-1])
        self.Zb = np.empty(total)
        self.XNb = np.zeros(total)
        self.Ab = np.empty(total)
        self.lgb = np.empty(n)
        self._mom = None
        self._no_moments = np.empty(0)
        self.Eb = np.empty(n * int(d[L]))  # exp(z - max z) of the logits
        self.Sx = np.empty(n * int(d[L]))  # their row sums without column j
        # the unperturbed forward: GEMMs in NumPy, everything that a perturbation
        # recomputes through the kernels' own functions
        a = np.ascontiguousarray(X0, dtype=np.float64)
        for l in range(L):
            lo, hi = int(self.aoff[l]), int(self.aoff[l + 1])
            z = a @ Ws[l] + bs[l]
            self.Zb[lo:hi] = z.ravel()
            if l == L - 1:
                _k.dense_log_probs(self.Zb[lo:hi], n, int(d[L]), labels, self.lgb, self.Eb, self.Sx)
                break
            bo, bo2 = int(self.boff[l]), int(self.boff[l + 1])
            _k.dense_post_activation(self.Zb[lo:hi], n, int(d[l + 1]), bool(self.hasbn[l]),
                                     self.gf[bo:bo2], self.tf[bo:bo2], int(self.act[l]),
                                     self.maskf[lo:hi], self.XNb[lo:hi], self.Ab[lo:hi])
            a = self.Ab[lo:hi].reshape(n, int(d[l + 1]))
        n_slots = max(1, numba.get_num_threads())
        width = int(d[1:].max())
        self.bufZ = np.zeros((n_slots, n * width))
        self.bufA = np.zeros((n_slots, n * width))
        self.colv = np.zeros((n_slots, n))
        self.flags = np.zeros((n_slots, n), dtype=np.int8)

    def model(self):
        """The chain's arrays in the kernels' argument order (dims .. lgb)."""
        return (self.dims, self.woff, self.boff, self.aoff, self.hasbn, self.act, self.Wf, self.gf,
                self.tf, self.maskf, self.labels, self.Zb, self.Ab, self.lgb)

    def _moments(self):
        """``logit_moments`` of the logits layer (for the layer that feeds it), computed once."""
        if self._mom is None:
            L = len(self.dims) - 1
            hidden, k = int(self.dims[L - 1]), int(self.dims[L])
            self._mom = (np.empty(self.n * hidden * 5), np.empty(hidden))
            _k.logit_moments(self.Eb, self.Wf[int(self.woff[L - 1]):], self.n, hidden, k, *self._mom)
        return self._mom

    def _input_csr(self):
        """Every layer's input by feature, packed: (ptroff, nzptr, nzrows, nzvals).

        Feature i of layer l's input is nonzero in rows nzrows[q] (values
        nzvals[q]) for q in nzptr[ptroff[l] + i] .. nzptr[ptroff[l] + i + 1].
        """
        ptrs, rows_all, vals_all, ptroff = [], [], [], [0]
        base = 0
        for l in range(len(self.dims) - 1):
            d_in = int(self.dims[l])
            if l == 0:
                a = self.X0.reshape(self.n, d_in)
            else:
                a = self.Ab[int(self.aoff[l - 1]):int(self.aoff[l])].reshape(self.n, d_in)
            at = a.T
            feat, rows = np.nonzero(at)  # ordered by feature, then row
            nzptr = np.zeros(d_in + 1, dtype=np.int64)
            np.cumsum(np.bincount(feat, minlength=d_in), out=nzptr[1:])
            ptrs.append(nzptr + base)
            rows_all.append(rows.astype(np.int64))
            vals_all.append(at[feat, rows])
            base += rows.size
            ptroff.append(ptroff[-1] + d_in + 1)
        return (np.array(ptroff, dtype=np.int64), np.concatenate(ptrs), np.concatenate(rows_all),
                np.ascontiguousarray(np.concatenate(vals_all), dtype=np.float64))

    def grads(self, specs):
        """Numerical gradients of the loss, one kernel launch for all.

        specs : list of (key, kind, layer, shape), kind 0 W, 1 b, 2 gamma, 3 beta.
        Returns {key: float64 array of shape}, in the order of specs.
        """
        sizes = [int(np.prod(shape)) for _, _, _, shape in specs]
        tstart = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        tkind = np.array([kind for _, kind, _, _ in specs], dtype=np.int64)
        tlayer = np.array([l for _, _, l, _ in specs], dtype=np.int64)
        g = np.empty(int(tstart[-1]))
        L = len(self.dims) - 1
        feeds_logits = L >= 2 and not self.hasbn[L - 2]
        mom, wmax = self._moments() if feeds_logits else (self._no_moments, self._no_moments)
        _k.dense_param_grad(tkind, tlayer, tstart, g, H, self.lam, self.dims, self.woff, self.boff,
                            self.aoff, self.hasbn, self.act, self.Wf, self.bf, self.gf, self.tf, self.maskf,
                            self.X0, self.labels, self.Zb, self.XNb, self.Ab, self.lgb, self.Eb, self.Sx,
                            mom, wmax, *self._input_csr(), self.bufZ, self.bufA, self.colv, self.flags)
        return {key: g[tstart[u]:tstart[u + 1]].reshape(shape) for u, (key, _, _, shape) in enumerate(specs)}


def _dense_input(network, x, key="W1"):
    _need(isinstance(x, np.ndarray) and x.ndim >= 2 and x.shape[0] >= 1 and x.dtype.kind in "biuf")
    X0 = np.ascontiguousarray(x.reshape(x.shape[0], -1), dtype=np.float64)
    _need(X0.shape[1] == _param(network, key).shape[0])
    return X0


def _layer_keys_match(network, expected):
    _need(list(network.layers.keys()) == expected)
    _need(type(network.last_layer).__name__ == "SoftmaxWithLoss")


def _act_code(layer):
    code = _ACTS.get(type(layer).__name__)
    _need(code is not None)
    return code


def _two_layer_net(network, x, t):
    _layer_keys_match(network, ["Affine1", "Relu1", "Affine2"])
    _act_code(network.layers["Relu1"])
    X0 = _dense_input(network, x)
    Ws = [_param(network, "W1"), _param(network, "W2")]
    bs = [_param(network, "b1"), _param(network, "b2")]
    labels = _labels(t, X0.shape[0], Ws[1].shape[1])
    chain = _DenseChain(X0, Ws, bs, [None, None], [None, None], [_k.ACT_RELU, _k.ACT_NONE],
                        [None, None], labels, 0.0)
    return chain.grads([("W1", 0, 0, Ws[0].shape), ("b1", 1, 0, bs[0].shape),
                        ("W2", 0, 1, Ws[1].shape), ("b2", 1, 1, bs[1].shape)])


def _multi_layer_net(network, x, t, extend):
    n_hidden = network.hidden_layer_num
    L = n_hidden + 1
    use_bn = extend and bool(network.use_batchnorm)
    use_dropout = extend and bool(network.use_dropout)
    expected = []
    for idx in range(1, L):
        expected.append("Affine%d" % idx)
        if use_bn:
            expected.append("BatchNorm%d" % idx)
        expected.append("Activation_function%d" % idx)
        if use_dropout:
            expected.append("Dropout%d" % idx)
    expected.append("Affine%d" % L)
    _layer_keys_match(network, expected)
    acts = [_act_code(network.layers["Activation_function%d" % idx]) for idx in range(1, L)] + [_k.ACT_NONE]
    X0 = _dense_input(network, x)
    n = X0.shape[0]
    Ws = [_param(network, "W%d" % idx) for idx in range(1, L + 1)]
    bs = [_param(network, "b%d" % idx) for idx in range(1, L + 1)]
    for a, b in zip(Ws[:-1], Ws[1:]):
        _need(a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[0])
    gammas = [_param(network, "gamma%d" % idx) if use_bn else None for idx in range(1, L)] + [None]
    betas = [_param(network, "beta%d" % idx) if use_bn else None for idx in range(1, L)] + [None]
    labels = _labels(t, n, Ws[-1].shape[1])
    lam = network.weight_decay_lambda
    masks = [None] * L
    if use_dropout:
        # one training forward's draws, in layer order (the only random calls of a forward)
        for idx in range(1, L):
            ratio = network.layers["Dropout%d" % idx].dropout_ratio
            masks[idx - 1] = np.random.rand(n, Ws[idx - 1].shape[1]) > ratio
    chain = _DenseChain(X0, Ws, bs, gammas, betas, acts, masks, labels, lam)
    specs = []
    for idx in range(1, L + 1):
        l = idx - 1
        specs += [("W%d" % idx, 0, l, Ws[l].shape), ("b%d" % idx, 1, l, bs[l].shape)]
        if use_bn and idx != L:
            specs += [("gamma%d" % idx, 2, l, gammas[l].shape), ("beta%d" % idx, 3, l, betas[l].shape)]
    return chain.grads(specs)


def _simple_convnet(network, x, t):
    _layer_keys_match(network, ["Conv1", "Relu1", "Pool1", "Affine1", "Relu2", "Affine2"])
    for key in ("Relu1", "Relu2"):
        _need(_act_code(network.layers[key]) == _k.ACT_RELU)
    conv, pool = network.layers["Conv1"], network.layers["Pool1"]
    stride, pad = int(conv.stride), int(conv.pad)
    pool_h, pool_w, pool_stride = int(pool.pool_h), int(pool.pool_w), int(pool.stride)
    _need(int(getattr(pool, "pad", 0)) == 0 and stride >= 1 and pad >= 0 and pool_stride >= 1)
    W1, b1 = _param(network, "W1"), _param(network, "b1")
    _need(W1.ndim == 4 and b1.shape == (W1.shape[0],))
    fn, ch, fh, fw = W1.shape
    _need(isinstance(x, np.ndarray) and x.ndim == 4 and x.shape[0] >= 1 and x.shape[1] == ch
          and x.dtype.kind in "biuf")
    n = x.shape[0]
    xpad = np.pad(np.asarray(x, dtype=np.float64), [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    oh = (x.shape[2] + 2 * pad - fh) // stride + 1
    ow = (x.shape[3] + 2 * pad - fw) // stride + 1
    _need(oh >= pool_h and ow >= pool_w)
    ph = (oh - pool_h) // pool_stride + 1
    pw = (ow - pool_w) // pool_stride + 1
    # the unperturbed convolution: patches (N, OH, OW, C, FH, FW) against the filters, one GEMM
    win = np.lib.stride_tricks.sliding_window_view(xpad, (fh, fw), axis=(2, 3))
    win = win[:, :, :oh * stride:stride, :ow * stride:stride]
    col = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, ch * fh * fw)
    cv = (col @ W1.reshape(fn, -1).T + b1).reshape(n, oh, ow, fn).transpose(0, 3, 1, 2)
    cv = np.ascontiguousarray(cv)
    pooled = np.empty((n, fn, ph, pw))
    _k.conv_relu_pool(cv, pool_h, pool_w, pool_stride, pooled)
    Ws = [_param(network, "W2"), _param(network, "W3")]
    bs = [_param(network, "b2"), _param(network, "b3")]
    _need(Ws[0].shape[0] == fn * ph * pw and Ws[0].shape[1] == Ws[1].shape[0])
    labels = _labels(t, n, Ws[1].shape[1])
    chain = _DenseChain(pooled.reshape(n, -1), Ws, bs, [None, None], [None, None],
                        [_k.ACT_RELU, _k.ACT_NONE], [None, None], labels, 0.0)
    n_slots = chain.bufZ.shape[0]
    dP = np.zeros((n_slots, ph * pw))
    conv_grads = []
    for kind, shape in ((0, W1.shape), (1, b1.shape)):
        g = np.empty(int(np.prod(shape)))
        _k.conv_param_grad(kind, g, H, xpad, W1, b1, stride, cv, pooled, pool_h, pool_w, pool_stride,
                           *chain.model(), chain.bufZ, chain.bufA, dP, chain.flags)
        conv_grads.append(g.reshape(shape))
    dense = chain.grads([("W2", 0, 0, Ws[0].shape), ("b2", 1, 0, bs[0].shape),
                         ("W3", 0, 1, Ws[1].shape), ("b3", 1, 1, bs[1].shape)])
    return {"W1": conv_grads[0], "b1": conv_grads[1], **dense}


def incremental_numerical_gradient(network, x, t):
    """The incremental numerical gradient of a supported network, or None where it does not apply.

    Parameters
    ----------
    network : TwoLayerNet, MultiLayerNet, MultiLayerNetExtend or SimpleConvNet
        (reference or fast; checked with isinstance against the reference classes)
    x : ndarray of shape (N, ...) for the dense nets, (N, C, H, W) for SimpleConvNet
    t : ndarray, one-hot (N, K) or labels (N,)

    Returns
    -------
    dict or None
        The reference's ``numerical_gradient`` keys -> float64 arrays of the
        parameters' shapes; None when the network or inputs are outside the model.
    """
    try:
        if isinstance(network, _RefTwoLayerNet):
            return _two_layer_net(network, x, t)
        if isinstance(network, _RefMultiLayerNetExtend):
            return _multi_layer_net(network, x, t, extend=True)
        if isinstance(network, _RefMultiLayerNet):
            return _multi_layer_net(network, x, t, extend=False)
        if isinstance(network, _RefSimpleConvNet):
            return _simple_convnet(network, x, t)
    except (_Unsupported, AttributeError, KeyError, TypeError):
        return None
    return None


def network_numerical_gradient(network, x, t):
    """``network.numerical_gradient(x, t)`` of the reference, computed incrementally (see the module notes).

    Raises
    ------
    TypeError
        If the network (or its inputs) is not one the incremental kernels model.
    """
    grads = incremental_numerical_gradient(network, x, t)
    if grads is None:
        raise TypeError("network_numerical_gradient supports TwoLayerNet, MultiLayerNet, "
                        "MultiLayerNetExtend and SimpleConvNet as the book builds them, with float64 "
                        f"parameters and one-hot or label targets; got {type(network).__name__}")
    return grads
