"""protocol/messages.py is the one list of wire messages: one constructor per op, handlers whose
parameters are the message's fields, and no message built by hand anywhere else."""
from __future__ import annotations

import ast
import inspect
import pathlib

import pytest

import jupyter_futures
from jupyter_futures.client import table as table_module
from jupyter_futures.client.client import message_handlers
from jupyter_futures.client.monitor import FeedMonitor
from jupyter_futures.client.output import TaskOutput
from jupyter_futures.protocol import messages
from jupyter_futures.scheduler.server import Scheduler
from jupyter_futures.worker.server import Worker
from jupyter_futures.worker.state import WorkerState
from jupyter_futures.worker.store import DataStore

PACKAGE = pathlib.Path(jupyter_futures.__file__).parent
OPS = {value for name, value in vars(messages).items() if name.isupper() and isinstance(value, str)}


class FakeComm:
    closed = False
    info: dict = {}
    peer = "fake"

    def queue(self, msg):
        pass


def test_every_op_has_one_constructor_building_a_message_of_one_length():
    assert set(messages.CONSTRUCTORS) == OPS
    assert len(set(map(id, messages.CONSTRUCTORS.values()))) == len(OPS)  # none shared by two ops
    for op, make in messages.CONSTRUCTORS.items():
        names = messages.fields(op)
        msg = make(*names)
        assert msg == (op, *names), op


def handler_tables() -> dict[str, dict]:
    scheduler = Scheduler()
    worker = Worker("tcp://127.0.0.1:1", "token")
    worker.state = WorkerState("tcp://127.0.0.1:2", DataStore(0))
    return {
        "scheduler: first message": scheduler._registration_handlers(FakeComm()),
        "scheduler: from a worker": scheduler._worker_handlers("tcp://127.0.0.1:2"),
        "scheduler: from a client": scheduler._client_handlers(FakeComm(), "client-a"),
        "scheduler: from a nanny": scheduler._nanny_handlers(),
        "worker: from the scheduler": worker._scheduler_handlers(),
        "worker: from a client": worker._peer_handlers(FakeComm()),
        "client: from the scheduler and workers": message_handlers(TaskOutput()),
        "monitor: from the scheduler": FeedMonitor("tcp://127.0.0.1:1").handlers,
    }


@pytest.mark.parametrize("name", list(handler_tables()))
def test_each_handler_takes_the_fields_of_its_message(name):
    table = handler_tables()[name]
    assert table and set(table) <= OPS, set(table) - OPS
    for op, handler in table.items():
        params = tuple(inspect.signature(handler).parameters)  # bound self and partial's arguments left out
        assert params == messages.fields(op), f"{name}: the handler of {op!r} takes {params}"


def test_the_scheduler_hears_every_op_workers_and_clients_send_it():
    tables = handler_tables()
    to_scheduler = {messages.REGISTER_WORKER, messages.STARTED, messages.FINISHED, messages.ERRED,
                    messages.MISSING_DATA, messages.STEAL_RESPONSE, messages.WORKER_OUTPUT, messages.SECEDED,
                    messages.TELL_CLIENTS, messages.METRICS, messages.REGISTER_CLIENT, messages.UPDATE_GRAPH,
                    messages.RELEASE_KEYS, messages.WANT_KEYS, messages.FIRE_AND_FORGET, messages.ANNOTATE_KEYS,
                    messages.COORD_REF, messages.QUEUE_PUT, messages.FEED_SUBSCRIBE, messages.FEED_UNSUBSCRIBE,
                    messages.REGISTER_MANAGER, messages.HEARTBEAT, messages.REGISTER_NANNY, messages.WORKER_WATCHED,
                    messages.WORKER_DIED, messages.RESCHEDULE, messages.LOG_EVENT, messages.SUBSCRIBE_TOPIC,
                    messages.UNSUBSCRIBE_TOPIC}
    heard = (set(tables["scheduler: first message"]) | set(tables["scheduler: from a worker"])
             | set(tables["scheduler: from a client"]) | set(tables["scheduler: from a nanny"]))
    assert heard == to_scheduler
    assert set(tables["worker: from the scheduler"]) == {messages.COMPUTE, messages.FREE, messages.STEAL,
                                                         messages.CLOSE, messages.RESTART, messages.REGISTERED,
                                                         messages.WORKER_PLUGINS, messages.FORWARD_LOGGING,
                                                         messages.UNFORWARD_LOGGING, messages.UPLOAD_FILE}


def test_the_future_tables_branches_unpack_each_event_into_its_fields():
    """``FutureTable.apply`` keeps a chain of tests (its hot loop): each ``op == EVENT`` branch unpacks
    ``msg`` into names (or attributes) that are the event's fields."""
    source = inspect.getsource(table_module.FutureTable.apply)
    tree = ast.parse(inspect.cleandoc("\n" + source) if source.startswith(" ") else source)
    consts = {name: value for name, value in vars(table_module).items() if value in table_module.EVENTS}
    seen = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and isinstance(node.test.left, ast.Name)
                and node.test.left.id == "op" and isinstance(node.test.comparators[0], ast.Name)):
            op = consts[node.test.comparators[0].id]
            unpacks = [n for n in ast.walk(ast.Module(body=node.body, type_ignores=[]))
                       if isinstance(n, ast.Assign) and isinstance(n.value, ast.Name) and n.value.id == "msg"
                       and isinstance(n.targets[0], ast.Tuple)]
            assert unpacks, f"the {op!r} branch does not unpack msg"
            names = tuple(t.id if isinstance(t, ast.Name) else t.attr for t in unpacks[0].targets[0].elts)
            seen[op] = names[1:]
    assert set(seen) == set(table_module.EVENTS)
    for op, names in seen.items():
        assert names == messages.fields(op), op


def message_literals(source: str, where: str) -> list[str]:
    """Tuple literals of ``source`` (the text of file ``where``) that start with an op's name: messages built by hand. Tuples compared
    against (``status in ("finished", "error")``) and parallel assignments (``a, b = "op", x``) are not
    messages."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Tuple) and node.elts and isinstance(node.elts[0], ast.Constant)
                and node.elts[0].value in OPS):
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.Compare) and node in parent.comparators:
            continue
        if (isinstance(parent, ast.Assign) and parent.value is node and isinstance(parent.targets[0], ast.Tuple)
                and len(parent.targets[0].elts) == len(node.elts)):
            continue
        found.append(f"{where}:{node.lineno}: {ast.unparse(node)[:60]}")
    return found


def test_no_message_is_built_by_hand_outside_protocol_messages():
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) if path != PACKAGE / "protocol" / "messages.py"
             for hit in message_literals(path.read_text(), str(path.relative_to(PACKAGE.parent)))]
    assert not found, "build these with protocol/messages.py's constructors:\n" + "\n".join(found)


def test_the_scan_finds_a_message_built_by_hand():
    code = ('msg = ("task-finished", key, t, n, [w], s, 0, 1)\n'
            'comm.queue(("close",))\n'
            'ok = status in ("finished", "error")\n'
            'self.stimulus, self.when = "update-graph", now()\n')
    assert [hit.split(":")[1] for hit in message_literals(code, "sample.py")] == ["1", "2"]


def test_a_client_registering_without_info_is_still_accepted():
    """docs/jupyter-api.md: other clients may send the 2-field ``("register-client", id)``."""
    import asyncio

    from jupyter_futures.protocol.connect import connect

    async def main():
        scheduler = await Scheduler("127.0.0.1", 0, "t" * 64).start()
        try:
            comm = await connect(scheduler.address, "t" * 64)
            comm.start(lambda c, msgs: [c.handle_rpc_message(m) for m in msgs])
            comm.queue(("register-client", "old-client"))
            assert (await asyncio.wait_for(comm.request("identity"), 5))["id"] == scheduler.id
            assert scheduler.client_info["old-client"] == {"kernel_id": None, "notebook": None, "monitor": False}
            comm.close()
        finally:
            await scheduler.close()
    asyncio.run(main())
