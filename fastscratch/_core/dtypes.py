"""Which dtypes the kernels run on: the one table every wrapper consults.

The kernels are compiled for float32 and float64. Numba has no float16
arithmetic on the CPU (a float16 array reaching a kernel raises
``NotImplementedError: float16``), so a wrapper passes a kernel only arrays of
these dtypes. Every other dtype the reference accepts (float16, longdouble,
integer and bool where the layer keeps them) runs the reference's NumPy
expressions after the wrapper's checks, so it gets the reference's values and
dtypes by construction.
"""
import numpy as np

#: The dtypes the kernels are compiled for.
KERNEL_DTYPES = frozenset({np.dtype(np.float32), np.dtype(np.float64)})
#: The same table as ``dtype.char`` codes, for the hot paths' cheap test ``x.dtype.char in KERNEL_CHARS``.
KERNEL_CHARS = "".join(sorted(dt.char for dt in KERNEL_DTYPES))
