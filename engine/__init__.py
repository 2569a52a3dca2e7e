"""CNN Explorer engine: numpy + Numba, no Qt.

The functional API works on NCHW arrays (float32 or float64 in, same dtype out)::

    y = conv2d_forward(x, w, b, stride=1, padding=0)
    dx, dw, db = conv2d_backward(dout, x, w, stride=1, padding=0)
    y, argmax = max_pool2d_forward(x, size=2, stride=2)
    dx = max_pool2d_backward(dout, argmax, input_shape)
    y = avg_pool2d_forward(x, size=2, stride=2)
    dx = avg_pool2d_backward(dout, input_shape, size=2, stride=2)
"""

from .geometry import GeometryError, as_pair, check_conv, check_pool, output_size, output_size_formula

__all__ = [
    "GeometryError",
    "as_pair",
    "check_conv",
    "check_pool",
    "output_size",
    "output_size_formula",
]
