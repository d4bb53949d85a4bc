"""NumPy 2 compatibility for the field's evaluation libraries.

motmetrics 1.4.0 calls ``np.asfarray`` and older trackeval releases use the
aliases ``np.float`` / ``np.int`` / ``np.bool`` / ``np.object``; NumPy 2 removed
all of them.  Importing this module puts back equivalent definitions, only where
they are missing, so the libraries run unchanged.  Import it before
``motmetrics`` or ``trackeval``.
"""

from __future__ import annotations

import numpy as np


def _asfarray(a, dtype=float):  # the removed NumPy 1 function: an array of (at least) float type
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.inexact):
        dtype = np.dtype(float)
    return np.asarray(a, dtype=dtype)


def install() -> None:
    """Define the removed NumPy names the evaluation libraries still use (idempotent)."""
    defined = vars(np)  # not hasattr(): NumPy's module __getattr__ warns or raises for removed names
    if "asfarray" not in defined:
        np.asfarray = _asfarray
    # The builtins are exactly what these deprecated aliases used to be.
    for name, value in (("float", float), ("int", int), ("bool", bool), ("object", object)):
        if name not in defined:
            setattr(np, name, value)


install()
