"""``WorkerPlugin``, ``SchedulerPlugin`` and ``Client.register_plugin``, on real clusters, as in dask."""
import os

import pytest

from jupyter_futures import Client, SchedulerPlugin, WorkerPlugin, wait
from procs import TIMEOUT, wait_until


def inc(x):
    return x + 1


def fail(x):
    raise ValueError("task failed")


class Marker(WorkerPlugin):
    """Writes ``<folder>/<event>-<pid>`` on setup and teardown; setup returns a value (ignored)."""

    def __init__(self, folder, name="marker"):
        self.folder = folder
        self.name = name
        self.worker_address = None

    def setup(self, worker):
        self.worker_address = worker.address
        open(os.path.join(self.folder, f"setup-{os.getpid()}"), "w").close()
        return "ignored"

    def teardown(self, worker):
        open(os.path.join(self.folder, f"teardown-{os.getpid()}"), "w").close()


def marks(folder, event):
    return sorted(n for n in os.listdir(folder) if n.startswith(event + "-"))


class Moves(WorkerPlugin):
    name = "moves"

    def setup(self, worker):
        self.moves = []

    def transition(self, key, start, finish, **kwargs):
        self.moves.append((key, start, finish))


class Raising(WorkerPlugin):
    name = "raising"

    def transition(self, key, start, finish, **kwargs):
        raise RuntimeError("a broken plugin")


class BadSetup(WorkerPlugin):
    name = "bad-setup"

    def setup(self, worker):
        raise ValueError("setup refused")


class Counter(SchedulerPlugin):
    name = "counter"

    def __init__(self):
        self.moves, self.added, self.removed, self.clients = [], [], [], []
        self.scheduler_type = None

    async def start(self, scheduler):
        self.scheduler_type = type(scheduler).__name__

    def transition(self, key, start, finish, *args, stimulus_id=None, **kwargs):
        self.moves.append((key, start, finish, stimulus_id))

    def add_worker(self, scheduler, worker):
        self.added.append(worker)

    def remove_worker(self, scheduler, worker, *, stimulus_id=None, **kwargs):
        self.removed.append(worker)

    def add_client(self, scheduler, client):
        self.clients.append(client)


class BrokenHooks(SchedulerPlugin):
    name = "broken"

    def transition(self, key, start, finish, *args, **kwargs):
        raise RuntimeError("a broken plugin")

    def add_worker(self, scheduler, worker):
        raise RuntimeError("a broken plugin")


class FailsToStart(SchedulerPlugin):
    name = "fails-to-start"

    def start(self, scheduler):
        raise ValueError("start refused")


class ClosingMark(SchedulerPlugin):
    name = "closing-mark"

    def __init__(self, path):
        self.path = path

    async def close(self):
        open(self.path, "w").close()


def plugin_attr(name, attr, dask_worker=None):
    return getattr(dask_worker.plugins[name], attr)


class SetsEnvironment(WorkerPlugin):
    name = "sets-environment"

    def setup(self, worker):
        os.environ["JF_TEST_PLUGIN"] = "set up"


def read_environment():
    return os.environ.get("JF_TEST_PLUGIN")


@pytest.fixture
def own_client():
    with Client(n_workers=2, threads_per_worker=1) as c:
        yield c


# -- worker plugins ---------------------------------------------------------------------------------------
def test_setup_runs_on_every_worker_and_on_a_worker_that_joins_later(own_client, tmp_path):
    replies = own_client.register_plugin(Marker(str(tmp_path)))
    workers = set(own_client.scheduler_info()["workers"])
    assert replies == {w: {"status": "OK"} for w in workers}
    assert len(marks(tmp_path, "setup")) == 2
    assert own_client.run(plugin_attr, "marker", "worker_address") == {w: w for w in workers}
    own_client.cluster.scale(3)
    own_client.wait_for_workers(3, timeout=TIMEOUT)
    assert wait_until(lambda: len(marks(tmp_path, "setup")) == 3)
    everyone = set(own_client.scheduler_info()["workers"])
    assert own_client.run(plugin_attr, "marker", "worker_address") == {w: w for w in everyone}


def test_a_joining_worker_sets_its_plugins_up_before_it_runs_a_task():
    with Client(n_workers=0, threads_per_worker=1) as c:
        assert c.register_plugin(SetsEnvironment()) == {}  # no worker yet
        future = c.submit(read_environment, pure=False)  # waits for a worker
        c.cluster.scale(1)
        assert future.result(timeout=TIMEOUT) == "set up"


def test_an_error_in_setup_is_raised_to_the_caller_and_the_workers_keep_working(client):
    with pytest.raises(ValueError, match="setup refused"):
        client.register_plugin(BadSetup())
    assert client.submit(inc, 1, pure=False).result(timeout=TIMEOUT) == 2
    client.unregister_worker_plugin("bad-setup")


def test_teardown_runs_on_every_worker_when_the_plugin_is_unregistered(client, tmp_path):
    client.register_plugin(Marker(str(tmp_path), name="gone"))
    replies = client.unregister_worker_plugin("gone")
    assert set(replies) == set(client.scheduler_info()["workers"])
    assert len(marks(tmp_path, "teardown")) == 2
    assert not any(client.run(lambda dask_worker: "gone" in dask_worker.plugins).values())


def test_teardown_runs_when_the_workers_close(tmp_path):
    with Client(n_workers=2, threads_per_worker=1) as c:
        c.register_plugin(Marker(str(tmp_path)))
    assert len(marks(tmp_path, "teardown")) == 2


def test_unregistering_a_plugin_nobody_registered_names_the_ones_there_are(client):
    with pytest.raises(ValueError, match="no worker plugin named 'nothing'"):
        client.unregister_worker_plugin("nothing")
    with pytest.raises(ValueError, match="no scheduler plugin named 'nothing'"):
        client.unregister_scheduler_plugin("nothing")


def test_the_same_name_replaces_the_plugin_unless_idempotent(client, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    client.register_plugin(Marker(str(first), name="twice"))
    assert client.register_plugin(Marker(str(second), name="twice"), idempotent=True) == {}
    assert marks(second, "setup") == []
    client.register_plugin(Marker(str(second), name="twice"))
    assert len(marks(first, "teardown")) == 2 and len(marks(second, "setup")) == 2
    client.unregister_worker_plugin("twice")


def test_transition_sees_each_move_of_a_task_on_its_worker_by_dasks_state_names(client):
    client.register_plugin(Moves())
    good = client.submit(inc, 10, pure=False)
    bad = client.submit(fail, 10, pure=False)
    wait([good, bad], timeout=TIMEOUT)
    seen = [m for moves in client.run(plugin_attr, "moves", "moves").values() for m in moves]
    assert [m[1:] for m in seen if m[0] == good.key] == [("released", "ready"), ("ready", "executing"),
                                                         ("executing", "memory")]
    assert (bad.key, "executing", "error") in seen
    client.unregister_worker_plugin("moves")


def test_a_plugin_that_raises_in_transition_breaks_nothing(client):
    client.register_plugin(Raising())
    assert client.submit(inc, 20, pure=False).result(timeout=TIMEOUT) == 21
    client.unregister_worker_plugin("raising")


def test_register_worker_callbacks_runs_the_function_on_every_worker(client, tmp_path):
    def touch(dask_worker):
        open(os.path.join(str(tmp_path), f"setup-{dask_worker.address.rsplit(':', 1)[1]}"), "w").close()
    client.register_worker_callbacks(touch)
    assert len(marks(tmp_path, "setup")) == 2


# -- scheduler plugins ------------------------------------------------------------------------------------
def test_a_scheduler_plugin_starts_with_the_scheduler_and_sees_moves_workers_and_clients(own_client):
    assert own_client.register_plugin(Counter()) is None
    future = own_client.submit(inc, 1, pure=False)
    assert future.result(timeout=TIMEOUT) == 2

    def moves_of(key):
        return lambda dask_scheduler: [m for m in dask_scheduler.plugins["counter"].moves if m[0] == key]
    moves = own_client.run_on_scheduler(moves_of(future.key))
    assert (future.key, "processing", "memory", "task-finished") in moves
    assert all(start != finish for _, start, finish, _ in moves)
    assert own_client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.plugins["counter"].scheduler_type) \
        == "Scheduler"
    with Client(own_client.scheduler_address) as other:
        assert wait_until(lambda: other.id in own_client.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler.plugins["counter"].clients))
    own_client.cluster.scale(3)
    own_client.wait_for_workers(3, timeout=TIMEOUT)
    new = own_client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.plugins["counter"].added)
    assert len(new) == 1 and new[0] in own_client.scheduler_info()["workers"]
    own_client.cluster.scale(2)
    assert wait_until(lambda: len(own_client.run_on_scheduler(
        lambda dask_scheduler: dask_scheduler.plugins["counter"].removed)) == 1)


def test_a_scheduler_plugin_whose_start_raises_is_refused_with_its_error(client):
    with pytest.raises(ValueError, match="start refused"):
        client.register_plugin(FailsToStart())
    assert "fails-to-start" not in client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.plugins))


def test_a_scheduler_plugin_that_raises_in_its_hooks_breaks_nothing(own_client):
    own_client.register_plugin(BrokenHooks())
    assert own_client.submit(inc, 3, pure=False).result(timeout=TIMEOUT) == 4
    own_client.cluster.scale(3)
    own_client.wait_for_workers(3, timeout=TIMEOUT)
    assert own_client.map(inc, range(6), pure=False)[5].result(timeout=TIMEOUT) == 6
    own_client.unregister_scheduler_plugin("broken")
    assert "broken" not in own_client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.plugins))


def test_a_scheduler_plugin_is_closed_with_the_scheduler(tmp_path):
    path = tmp_path / "closed"
    with Client(n_workers=1, threads_per_worker=1) as c:
        c.register_plugin(ClosingMark(str(path)))
    assert wait_until(path.exists)


# -- bad input --------------------------------------------------------------------------------------------
def test_a_plugin_class_or_a_plain_object_is_refused_with_the_fix(client):
    with pytest.raises(TypeError, match=r"pass Moves\(\)"):
        client.register_plugin(Moves)
    with pytest.raises(TypeError, match="subclass one of them"):
        client.register_plugin(object())
    with pytest.raises(TypeError, match="idempotent"):
        client.register_plugin(Moves(), idempotent="yes")


# -- the state machines hand their moves to a list, and nothing else ---------------------------------------
def test_watching_the_schedulers_moves_hands_each_record_to_the_list_until_stopped():
    from jupyter_futures.scheduler.state import SchedulerState

    s = SchedulerState()
    s.add_worker("w1", 1)
    sink = []
    s.watch_moves(sink)
    s.update_graph("c", [("t", "tok", b"f", b"a", (), None)])
    assert [r[:4] for r in sink] == [("t", "update-graph", "released", "processing")]
    assert list(s.story.records)[-1] == sink[-1]
    s.watch_moves(None)
    s.task_finished("w1", "t", 8, "int", None, 0.0, 1.0)
    assert len(sink) == 1 and list(s.story.records)[-1][3] == "memory"


def test_watching_the_workers_moves_hands_each_record_to_the_list_until_stopped():
    from jupyter_futures.worker.state import WorkerState
    from jupyter_futures.worker.store import DataStore

    w = WorkerState("tcp://me:1", DataStore())
    sink = []
    w.watch_moves(sink)
    w.compute("a", "tok", b"f", b"args", {}, (0, 0), None)
    assert [r[:4] for r in sink] == [("a", "compute", "new", "ready")]
    w.watch_moves(None)
    w.free(["a"])
    assert len(sink) == 1 and list(w.story.records)[-1][2:4] == ("ready", "cancelled")
