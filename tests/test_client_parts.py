"""The client's parts without a cluster: the FutureTable (states, handles, task events, waiting), the
Outbox (order, releases), the hooks the notebook layer plugs in, and dask's options taken one way only."""
from __future__ import annotations

import threading
import time

import pytest

from jupyter_futures.client import hooks
from jupyter_futures.client.options import check_direct
from jupyter_futures.client.outbox import Outbox
from jupyter_futures.client.table import FutureTable
from jupyter_futures.protocol import messages

W1, W2 = "tcp://127.0.0.1:1", "tcp://127.0.0.1:2"


def finished(key: str, worker: str = W1) -> tuple:
    return messages.task_finished(key, "int", 28, [worker], b"small", 1.0, 2.0)


def apply(table: FutureTable, msgs: list) -> tuple[list, list]:
    """(states touched, other messages) of one batch."""
    others: list = []
    return table.apply(msgs, others.append), others


class FakeComm:
    closed = False

    def __init__(self):
        self.frames: list[list] = []

    def write_now(self, msgs):
        self.frames.append(list(msgs))


def blocked(target, *args) -> tuple[threading.Thread, list]:
    """Run ``target(*args)`` in a thread; its return value lands in the list."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(target(*args)), daemon=True)
    t.start()
    return t, out


# -- handles and releases ------------------------------------------------------------------------------

def test_handles_of_one_key_share_its_state_and_the_last_one_dropped_releases_it():
    table = FutureTable()
    a, b = table.hold("x"), table.hold("x")
    assert a is b and table.get("x") is a and "x" in table and len(table) == 1
    table.drop("x")
    assert table.drops_pending() and table.settle_drops() == [] and not table.drops_pending()
    table.drop("x")
    assert table.settle_drops() == ["x"]
    assert table.forget(["x"]) == ["x"] and table.get("x") is None and not table.holds(a)


def test_a_key_held_again_before_its_release_leaves_keeps_its_state():
    table = FutureTable()
    st = table.hold("x")
    table.drop("x")
    assert table.settle_drops() == ["x"]
    assert table.hold("x") is st  # a new submit of the key, before the release went out
    assert table.forget(["x"]) == [] and table.holds(st)


def test_the_outbox_folds_releases_and_drops_keys_held_again():
    table = FutureTable()
    outbox = Outbox(loop=None, futures=table)
    outbox.open(FakeComm())
    outbox.loop_ident = -1  # every thread here is a user thread: each send writes at once
    comm = outbox.comm
    for key in ("a", "b", "c"):
        table.hold(key)
    outbox.send(messages.update_graph(["a", "b", "c"]))
    for key in ("a", "b", "c"):
        table.drop(key)
    table.hold("c")  # held again before the flush: not released
    outbox.send_later(messages.coord_ref("queue", "q", -1))
    outbox.flush()
    assert comm.frames[-1] == [messages.release_keys(["a", "b"]), messages.coord_ref("queue", "q", -1)]
    assert table.get("a") is None and table.get("c") is not None
    assert not outbox.pending()


def test_a_closed_connection_drops_what_waits_to_be_sent():
    table = FutureTable()
    outbox = Outbox(loop=None, futures=table)
    comm = FakeComm()
    comm.closed = True
    outbox.open(comm)
    outbox.loop_ident = -1
    outbox.send(messages.want_keys(["x"]))
    assert comm.frames == [] and not outbox.pending()


# -- task events ---------------------------------------------------------------------------------------

def test_task_events_change_states_in_order_and_other_messages_pass_through():
    seen: list = []
    met: list = []
    table = FutureTable(on_new_worker=met.append)
    table.subscribe(seen.append)
    x, y = table.hold("x"), table.hold("y")
    output = messages.task_output("x", W1, "stdout", "hi\n")
    touched, others = apply(table, [messages.task_running("x", W1), output,
                                    finished("x"), ("rpc-reply", 1, True, None), finished("y", W2),
                                    finished("y", W2), messages.task_finished("unknown", "int", 1, [W1], None, 1, 2)])
    assert [st.key for st in touched] == ["x", "y"] and seen == [touched]
    assert others == [output, ("rpc-reply", 1, True, None)]
    assert x.status == "finished" and x.worker == W1 and x.type_name == "int" and x.nbytes == 28
    assert x.who_has == [W1] and x.small == b"small" and x.ran == (1.0, 2.0) and y.done()
    assert met == [W1, W2]  # each holder once, however many results name it


def test_an_error_reported_again_is_not_the_one_cached():
    table = FutureTable()
    st = table.hold("x")
    apply(table, [messages.task_erred("x", "first", None, W1, None, None)])
    assert str(st.error()) == "first"
    apply(table, [messages.task_erred("x", "second", None, "", None, None)])
    assert str(st.error()) == "second" and st.worker == W1


def test_a_restart_cancels_finished_results_too():
    table = FutureTable()
    done, pending = table.hold("done"), table.hold("pending")
    apply(table, [finished("done")])
    done.value, done.has_value = 3, True
    apply(table, [messages.task_cancelled("done", False), messages.task_cancelled("pending", False)])
    assert done.status == "finished" and pending.status == "cancelled"  # a plain cancel: the result stays
    apply(table, [messages.task_cancelled("done", True)])
    assert done.status == "cancelled" and not done.has_value and done.value is None


def test_cancel_forgets_the_keys_and_fail_ends_what_is_unfinished():
    seen: list = []
    table = FutureTable()
    table.subscribe(seen.append)
    a, b, c = table.hold("a"), table.hold("b"), table.hold("c")
    apply(table, [finished("c")])
    table.cancel([a])
    assert a.status == "cancelled" and table.get("a") is None and seen[-1] == [a]
    table.fail(lambda key: ConnectionError(f"{key}: gone"))
    assert b.status == "error" and "b: gone" in str(b.error()) and c.status == "finished"
    assert seen[-1] == [b]


# -- waiting -------------------------------------------------------------------------------------------

def test_a_waiter_wakes_at_the_end_of_its_own_state_only():
    table = FutureTable()
    mine, other = table.hold("mine"), table.hold("other")
    t, out = blocked(table.wait, [mine])
    deadline = time.monotonic() + 5
    while not mine.waiters and time.monotonic() < deadline:
        time.sleep(0.001)
    apply(table, [finished("other")])  # another task's end: the waiter sleeps on
    t.join(0.1)
    assert t.is_alive() and other.waiters is None and len(mine.waiters) == 1
    apply(table, [finished("mine")])
    t.join(5)
    assert out == [True] and mine.waiters is None


def test_wait_times_out_and_leaves_nothing_registered():
    table = FutureTable()
    st = table.hold("x")
    assert table.wait([st], timeout=0.05) is False
    assert not st.waiters
    assert table.wait([], timeout=0) is True
    apply(table, [finished("x")])
    assert table.wait([st], timeout=0) is True


def test_wait_any_returns_at_the_first_end():
    table = FutureTable()
    a, b = table.hold("a"), table.hold("b")
    assert table.wait_any([a, b], timeout=0.02) is False and not a.waiters and not b.waiters
    t, out = blocked(table.wait_any, [a, b])
    time.sleep(0.05)
    apply(table, [finished("b"), finished("a")])  # both release the one lock: the second is a no-op
    t.join(5)
    assert out == [True] and not a.waiters and not b.waiters
    assert table.wait_any([a], timeout=0) is True and table.wait_any([]) is True


# -- hooks and options ---------------------------------------------------------------------------------

def test_a_display_nothing_plugged_into_is_the_repr():
    assert hooks.display("nothing-plugged-in", 42) == {"text/plain": "42"}


def test_dask_options_taken_one_way_only_are_refused_with_the_fix():
    check_direct("gather", None)
    check_direct("gather", True)
    with pytest.raises(ValueError, match=r"scatter\(direct=False\): .*leave out direct="):
        check_direct("scatter", False)
