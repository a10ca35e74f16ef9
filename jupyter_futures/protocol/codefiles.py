"""A cloudpickle pickler that keeps the file name of the code it pickles by value.

cloudpickle pickles a function of a script's or notebook's ``__main__`` by value, code object included,
and renames the code's file ``<dynamic-code>`` (so that equal functions pickle equally wherever they
were defined). A remote traceback through such a function then names no file and shows no source line.
This pickler keeps ``co_filename`` when it is a file on disk (a script): the worker's traceback names
the script (and shows its line when the file is readable there), and the client, which has the file,
shows the source line either way. Code of a notebook cell (a name of no file) keeps cloudpickle's
renaming: its pickle, hence its tasks' keys, stays the same across kernel restarts, and the notebook
layer finds its cell by name (notebook/kernel.py).
"""
from __future__ import annotations

import functools
import os
import types
from collections import ChainMap

import cloudpickle
from cloudpickle import cloudpickle as _cp

_RENAMED = "<dynamic-code>"


def _code_reduce_keeping_file(code: types.CodeType):
    """cloudpickle's reduction of a code object, with the code's own file name put back."""
    make, args = _cp._code_reduce(code)
    if not _on_disk(code.co_filename):
        return make, args
    return make, tuple(code.co_filename if arg == _RENAMED else arg for arg in args)


@functools.lru_cache(maxsize=1024)
def _on_disk(filename: str) -> bool:
    return os.path.isfile(filename)


# Where this cloudpickle has no ``_code_reduce`` to build on, code keeps cloudpickle's renaming.
_OWN = {types.CodeType: _code_reduce_keeping_file} if hasattr(_cp, "_code_reduce") else {}


class Pickler(cloudpickle.Pickler):
    """``cloudpickle.Pickler`` whose code objects keep their file name."""

    # One level of lookups, as cloudpickle's own table (a lookup per pickled object of a type of no fast path).
    dispatch_table = ChainMap(_OWN, *cloudpickle.Pickler.dispatch_table.maps)
