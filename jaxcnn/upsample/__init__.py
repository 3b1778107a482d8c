"""Upsampling with PyTorch semantics on NHWC arrays.

* ``interpolate``: nearest, nearest-exact, bilinear, bicubic with torch's index rules;
* ``max_pool_with_indices`` / ``max_unpool``: torch flat indices;
* ``conv_transpose`` / ``ConvTranspose``: the input-gradient of a conv, torch's arguments;
* ``pixel_shuffle`` / ``pixel_unshuffle`` / ``SubPixelConv`` / ``icnr``: torch channel order.
"""

from jaxcnn.upsample.imresize import imresize, resize_matrix
from jaxcnn.upsample.interpolate import interpolate
from jaxcnn.upsample.subpixel import SubPixelConv, icnr, pixel_shuffle, pixel_unshuffle
from jaxcnn.upsample.transposed import ConvTranspose, conv_transpose
from jaxcnn.upsample.unpool import max_pool_with_indices, max_unpool

__all__ = [
    "imresize",
    "resize_matrix",
    "interpolate",
    "max_pool_with_indices",
    "max_unpool",
    "conv_transpose",
    "ConvTranspose",
    "pixel_shuffle",
    "pixel_unshuffle",
    "icnr",
    "SubPixelConv",
]
