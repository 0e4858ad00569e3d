"""NumPy 2's promotion of Python scalars (NEP 50), written out so that NumPy 1 computes the same.

Under NumPy 2 a Python ``int`` or ``float`` in arithmetic with a NumPy float32
scalar (``np.sum(...)`` of a float32 array) takes the scalar's dtype: the
book's ``-np.sum(...) / batch_size`` stays float32. NumPy 1 (value-based
casting) turns the Python number into a float64 when the other operand is a
NumPy scalar, not an array, and the result widens to float64. Converting the
Python number first gives NumPy 2's result, bitwise, under both; a float64
operand is unchanged (docs/deviations.md, entry 17: nothing widens a float32 network).
"""
import numpy as np


def weak(value, like):
    """value in ``like``'s floating dtype where value is a Python int or float; value itself otherwise.

    Parameters
    ----------
    value : the Python scalar of an operation with ``like`` (a NumPy scalar or
        array); a NumPy scalar or array is returned as it is, as NumPy 2 would
        promote it by its own dtype
    like : the NumPy operand whose dtype NumPy 2 gives the result
    """
    dtype = getattr(like, "dtype", None)
    if dtype is not None and dtype.kind == "f" and isinstance(value, (int, float)) and not isinstance(value, np.generic):
        return dtype.type(value)
    return value
