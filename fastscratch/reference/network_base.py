"""What every network of the book shares, written once for the reference and the fast API.

A network class reads its layer classes from ``layer_lib`` and its numerical
gradient from ``numerical_gradient_fn``. The reference networks point them at
``fastscratch.reference``; the fast networks subclass them and point them at the
kernels' layers. Nothing else differs, so the two follow each other step by step.
"""
import numpy as np

from . import layers as _reference_layers
from . import params_io
from .gradient import numerical_gradient as _reference_numerical_gradient


def sum_of_squares(W):
    """np.sum(W ** 2): the sum in the book's weight decay, 0.5 * lambda * sum(W**2) per W."""
    return np.sum(W ** 2)


class NetworkBase:
    #: sum_of_squares(W) for the weight decay (the fast networks: a kernel, no W**2 array).
    sum_of_squares = staticmethod(sum_of_squares)
    #: Module holding Affine, Relu, Sigmoid, SoftmaxWithLoss, Dropout, BatchNormalization, Convolution, Pooling.
    layer_lib = _reference_layers
    #: numerical_gradient(f, x) used by the network's numerical_gradient method.
    numerical_gradient_fn = staticmethod(_reference_numerical_gradient)
    #: (parameter index, layer key) pairs whose W and b load_params rebinds; set by the conv nets.
    _weighted_layers = ()
    #: The dtype of the parameters (set from the constructor's ``dtype=``; float64 as in the book).
    dtype = np.dtype(np.float64)

    def _set_dtype(self, dtype):
        """Check and keep the network's dtype; the parameters drawn so far are cast to it.

        Weights are drawn in float64 exactly as the book draws them and then
        rounded, so a seeded float32 network starts from the float64 one's
        draws and leaves NumPy's generator where the book leaves it.
        """
        self.dtype = network_dtype(dtype)
        for key, val in self.params.items():
            self.params[key] = val.astype(self.dtype, copy=False)

    def _input(self, x):
        """x in the network's dtype (a real array of another dtype is converted; anything else as given).

        The network's dtype decides what its layers compute in: float64
        images fed to a float32 network are rounded once here, so nothing
        downstream widens. float32 images (the book's ``load_mnist``) fed to a
        float64 network whose first layer is a GEMM (Affine or Convolution, as in
        every network of the book) are passed on as they are: that GEMM widens
        them exactly, as NumPy's np.dot does, so the numbers are those of a
        widened copy, and the fast layers widen them in cache instead of copying
        the whole batch. Any other first layer gets the widened copy.
        """
        if isinstance(x, np.ndarray) and x.dtype != self.dtype and x.dtype.kind in "biuf":
            if x.dtype == np.float32 and self.dtype == np.float64 and self._first_layer_is_a_gemm():
                return x
            return x.astype(self.dtype)
        return x

    def _first_layer_is_a_gemm(self):
        layers = self._layer_sequence() if getattr(self, "layers", None) else []
        return bool(layers) and isinstance(layers[0], (_reference_layers.Affine, _reference_layers.Convolution))

    def _target(self, t):
        """A floating (one-hot) t in the network's dtype; labels and anything else as given."""
        if isinstance(t, np.ndarray) and t.dtype != self.dtype and t.dtype.kind == "f":
            return t.astype(self.dtype)
        return t

    def _layer_sequence(self):
        return list(self.layers.values()) if isinstance(self.layers, dict) else list(self.layers)

    def _forward(self, x):
        """x, in the network's dtype, through every layer's ``forward`` in order (the layer-based ``predict``)."""
        x = self._input(x)
        for layer in self._layer_sequence():
            x = layer.forward(x)
        return x

    def _backprop(self):
        """Backward through last_layer and every layer in reverse (forward must have run)."""
        dout = self.last_layer.backward(1)
        for layer in reversed(self._layer_sequence()):
            dout = layer.backward(dout)
        return dout

    def _layer_gradients(self):
        """{'W<i>': dW, 'b<i>': db} of each (i, layer key) in ``_weighted_layers`` (backward must have run)."""
        grads = {}
        for idx, key in self._weighted_layers:
            grads['W' + str(idx)] = self.layers[key].dW
            grads['b' + str(idx)] = self.layers[key].db
        return grads

    def save_params(self, file_name="params.pkl"):
        """Write self.params: the book's pickle, or ``.npz`` when file_name ends with .npz."""
        params_io.save_params(self.params, file_name)

    def load_params(self, file_name="params.pkl"):
        """Read parameters (never running code) in the network's dtype; rebind the layers' W, b, gamma, beta."""
        params = params_io.load_params(file_name)
        params_io.check_param_shapes(params, self.params, file_name)
        # the network's dtype decides (the book's float64 files load into a float32 network as float32)
        params = {key: val.astype(self.dtype, copy=False) for key, val in params.items()}
        # Layers hold the very arrays of self.params (W, b, gamma, beta): rebind every
        # attribute that held an old array to its new one, as the book's conv nets do for
        # W and b, so this works for every network (TwoLayerNet, MultiLayerNet, batch norm).
        key_of = {id(val): key for key, val in self.params.items()}
        for key, val in params.items():
            self.params[key] = val
        for layer in self._layer_sequence() + [self.last_layer]:
            for attr in ('W', 'b', 'gamma', 'beta'):
                key = key_of.get(id(getattr(layer, attr, None)))
                if key is not None:
                    setattr(layer, attr, self.params[key])


def network_dtype(dtype):
    """dtype as a NumPy floating dtype (float16, float32, float64, longdouble); TypeError otherwise."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a floating dtype such as np.float32; got {dtype!r}") from None
    if dt.kind != "f":
        raise TypeError(f"dtype must be a floating dtype such as np.float32 or np.float64; got {dt}")
    return dt


def batched_accuracy(network, x, t, batch_size=100):
    """The conv nets' accuracy: predict in full batches of batch_size, divide the hits by N.

    As in the book, a remainder of fewer than batch_size samples is not predicted.
    """
    if t.ndim != 1:
        t = np.argmax(t, axis=1)
    acc = 0.0
    for i in range(int(x.shape[0] / batch_size)):
        tx = x[i * batch_size:(i + 1) * batch_size]
        tt = t[i * batch_size:(i + 1) * batch_size]
        y = np.argmax(network.predict(tx, train_flg=False), axis=1)
        acc += np.sum(y == tt)
    return acc / x.shape[0]


def plain_accuracy(y, t):
    """Fraction of rows of scores y whose argmax equals t (labels or one-hot)."""
    y = np.argmax(y, axis=1)
    if t.ndim != 1:
        t = np.argmax(t, axis=1)
    return np.sum(y == t) / float(y.shape[0])
