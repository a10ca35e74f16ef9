"""Task functions are pickled once and again only when what they capture may have changed.

Functions here are defined as a notebook defines them: in a namespace whose ``__name__``
is ``__main__``, so cloudpickle sends them by value, with their globals.
"""
import functools
import math
import subprocess
import sys
import textwrap
import types

import cloudpickle

from jupyter_futures.client.functions import serialize_function
from jupyter_futures.protocol import serialize

from procs import PYTHON, clean_env


def notebook(source: str) -> dict:
    """Run ``source`` as a notebook cell runs: its functions belong to ``__main__``."""
    namespace = {"__name__": "__main__"}
    exec(textwrap.dedent(source), namespace)
    return namespace


def run_pickled(func, *args):
    """Call ``func`` as a worker would: from its pickle."""
    _, ser = serialize_function(func)
    return serialize.loads(ser)(*args)


def test_a_rebound_global_is_seen_by_the_next_call():
    ns = notebook("""
        SCALE = 2
        def scale(x):
            return x * SCALE
    """)
    first = serialize_function(ns["scale"])
    assert serialize_function(ns["scale"])[0] == first[0]
    assert run_pickled(ns["scale"], 10) == 20
    ns["SCALE"] = 5
    assert serialize_function(ns["scale"])[0] != first[0]
    assert run_pickled(ns["scale"], 10) == 50


def test_an_unchanged_function_is_not_pickled_again():
    """The same Serialized object comes back while nothing it captures changed."""
    ns = notebook("""
        import math
        OFFSET = 1.5
        def helper(x):
            return math.floor(x + OFFSET)
        def outer(xs, *, twice=False):
            return [helper(x) * (2 if twice else 1) for x in xs]
    """)
    assert serialize_function(ns["outer"])[1] is serialize_function(ns["outer"])[1]
    assert run_pickled(ns["outer"], [1, 2]) == [2, 3]


def test_a_redefined_helper_is_seen_through_the_function_that_calls_it():
    ns = notebook("""
        def helper(x):
            return x + 1
        def outer(x):
            return helper(x)
    """)
    assert run_pickled(ns["outer"], 1) == 2
    exec("def helper(x):\n    return x - 1\n", ns)
    assert run_pickled(ns["outer"], 1) == 0


def test_mutable_captures_are_pickled_every_time():
    """A list mutated in place keeps its identity: only pickling again sees the change."""
    ns = notebook("""
        data = [1, 2]
        def total():
            return sum(data)
        def with_default(extra=[]):
            return len(extra)
        def make_counter():
            seen = {}
            def count(k):
                return seen.get(k, 0)
            return count, seen
    """)
    assert run_pickled(ns["total"]) == 3
    ns["data"].append(10)
    assert run_pickled(ns["total"]) == 13
    ns["with_default"].__defaults__[0].append(1)
    assert run_pickled(ns["with_default"]) == 1
    count, seen = ns["make_counter"]()
    assert run_pickled(count, "a") == 0
    seen["a"] = 4
    assert run_pickled(count, "a") == 4


def test_a_rebound_closure_cell_is_seen():
    ns = notebook("""
        def make():
            factor = 2
            def f(x):
                return x * factor
            def set_factor(v):
                nonlocal factor
                factor = v
            return f, set_factor
    """)
    f, set_factor = ns["make"]()
    assert run_pickled(f, 3) == 6
    set_factor(7)
    assert run_pickled(f, 3) == 21


def test_a_new_object_at_a_freed_objects_address_is_still_new():
    """``x = x + 1`` twice: the second float may land where the first one was freed; it is still seen."""
    ns = notebook("""
        x = 0.5 * 3
        def f():
            return x
    """)
    assert run_pickled(ns["f"]) == 1.5
    ns["x"] = ns["x"] + 1
    ns["x"] = ns["x"] + 1
    assert run_pickled(ns["f"]) == 3.5


class Model:
    """A callable instance from an importable module: its pickle carries its state."""

    def __init__(self, w):
        self.w = w

    def __call__(self, x):
        return self.w * x

    def predict(self, x):
        return self.w * x


def scale_all(xs, k):
    return [k * x for x in xs]


def test_callables_with_state_are_pickled_every_time():
    model = Model(5)
    assert run_pickled(model, 10) == 50 and run_pickled(model.predict, 10) == 50
    model.w = 7
    assert run_pickled(model, 10) == 70 and run_pickled(model.predict, 10) == 70
    xs = [1, 2]
    part = functools.partial(scale_all, xs)
    assert run_pickled(part, 2) == [2, 4]
    xs.append(3)
    assert run_pickled(part, 2) == [2, 4, 6]


def test_a_module_pickled_by_value_is_checked_like_a_mutable_global():
    module = types.ModuleType("jf_by_value_module")
    module.THRESHOLD = 1
    sys.modules[module.__name__] = module
    cloudpickle.register_pickle_by_value(module)
    try:
        ns = notebook("""
            import jf_by_value_module
            def f():
                return jf_by_value_module.THRESHOLD
        """)
        assert run_pickled(ns["f"]) == 1
        module.THRESHOLD = 2
        assert run_pickled(ns["f"]) == 2
    finally:
        cloudpickle.unregister_pickle_by_value(module)
        del sys.modules[module.__name__]


def test_a_changed_docstring_or_name_is_sent():
    ns = notebook("""
        def f():
            return f.__doc__
    """)
    ns["f"].__doc__ = "one"
    assert run_pickled(ns["f"]) == "one"
    ns["f"].__doc__ = "two"
    assert run_pickled(ns["f"]) == "two"
    before = serialize_function(ns["f"])[0]
    ns["f"].__name__ = "renamed"
    assert serialize_function(ns["f"])[0] != before


def test_module_functions_are_pickled_by_reference_once():
    token, ser = serialize_function(math.sqrt)
    assert serialize_function(math.sqrt)[1] is ser
    assert cloudpickle.loads(serialize.to_bytes(ser).header) is math.sqrt


def test_a_script_sees_its_rebound_globals_on_a_real_cluster(tmp_path):
    """End to end, a ``__main__`` script: rebinding and in-place mutation between submits reach the workers."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        from jupyter_futures import Client
        SCALE = 2
        items = [1]
        def scale(x):
            return x * SCALE
        def plus_items(x):
            return x + sum(items)
        if __name__ == "__main__":
            with Client(n_workers=1, threads_per_worker=1) as client:
                out = [client.submit(scale, 10).result(timeout=30), client.submit(plus_items, 10).result(timeout=30)]
                SCALE = 3
                items.append(100)
                out += [client.submit(scale, 10).result(timeout=30), client.submit(plus_items, 10).result(timeout=30)]
                print(*out)
    """))
    r = subprocess.run([PYTHON, str(script)], capture_output=True, text=True, timeout=120, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["20", "11", "30", "111"]
