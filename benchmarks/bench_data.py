"""Input data and cheap correctness checks shared by all engines' workloads."""

import numpy as np

from bench_config import MIB


def make_array(mib):
    """Return a float64 array of ``mib`` MiB."""
    return np.arange(mib * MIB // 8, dtype=np.float64)


def check_plus_one(arr, out):
    """Cheaply verify ``out == arr + 1`` on a strided sample and the last item."""
    assert out.shape == arr.shape and out.dtype == arr.dtype
    assert np.array_equal(out[::4099], arr[::4099] + 1)
    assert out[-1] == arr[-1] + 1


def tree_expected(leaves):
    """Return the root of the tree reduction: sum(i + 1 for i in range(leaves))."""
    return leaves * (leaves + 1) // 2
