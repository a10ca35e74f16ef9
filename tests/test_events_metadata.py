"""dask's events, metadata and forwarded logging: ``log_event``, ``get_events``, ``subscribe_topic``,
``unsubscribe_topic``, ``Worker.log_event``, ``set_metadata``, ``get_metadata``, ``forward_logging``.

The first tests check the scheduler's stores (scheduler/events.py) and the plain-data check
(protocol/events.py) without sockets; the rest run on the shared 2-worker cluster (conftest's
``client``). An event a worker logs reaches the scheduler by its own path, so tests wait for it
(``wait_until``). To show that something did *not* arrive, a later marker event on the same path is
awaited: events of one sender reach a subscriber in the order they were logged.
"""
import asyncio
import logging
import threading
import uuid

import pytest

from jupyter_futures import Client, get_worker
from jupyter_futures.protocol import messages
from jupyter_futures.protocol.events import check_plain, check_topics, plain_problem
from jupyter_futures.scheduler.events import EventLog, ForwardedLoggers, Metadata

from procs import TIMEOUT, wait_until

pytestmark = pytest.mark.timeout(120)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- the scheduler's stores, without sockets -------------------------------------------------------
def test_an_event_log_keeps_the_newest_events_of_each_topic_up_to_its_length():
    log = EventLog(maxlen=3)
    for i in range(5):
        log.publish(["a"], i, now=float(i))
    log.publish(["b"], "x", now=9.0)
    assert log.events("a") == ((2.0, 2), (3.0, 3), (4.0, 4))
    assert log.events("b") == ((9.0, "x"),)


def test_an_event_logged_under_several_topics_is_recorded_under_each():
    log = EventLog(maxlen=10)
    log.publish(["a", "b"], {"n": 1}, now=1.0)
    assert log.events("a") == log.events("b") == ((1.0, {"n": 1}),)


def test_events_without_a_topic_are_those_of_every_topic_that_has_some():
    log = EventLog(maxlen=10)
    assert log.events("never") == ()
    log.publish(["a"], 1, now=1.0)
    log.publish(["b"], 2, now=2.0)
    assert log.events() == {"a": ((1.0, 1),), "b": ((2.0, 2),)}


def test_subscribers_are_told_only_of_their_topics_and_not_after_unsubscribing():
    log = EventLog(maxlen=10)
    log.subscribe("client-1", "a")
    log.subscribe("client-1", "a")  # twice is once
    log.subscribe("client-2", "b")
    assert log.publish(["a", "b"], "m", now=1.0) == [("client-1", "a", (1.0, "m")), ("client-2", "b", (1.0, "m"))]
    log.unsubscribe("client-1", "a")
    assert log.publish(["a"], "n", now=2.0) == []


def test_a_client_that_leaves_loses_every_subscription():
    log = EventLog(maxlen=10)
    log.subscribe("client-1", "a")
    log.subscribe("client-1", "b")
    log.subscribe("client-2", "b")
    log.subscriber_gone("client-1")
    assert log.publish(["a", "b"], "m", now=1.0) == [("client-2", "b", (1.0, "m"))]


def test_the_event_log_length_comes_from_the_environment(monkeypatch):
    assert EventLog().maxlen == 1000  # dask's distributed.admin.low-level-log-length
    monkeypatch.setenv("JUPYTER_FUTURES_EVENT_LOG_LENGTH", "2")
    assert EventLog().maxlen == 2
    monkeypatch.setenv("JUPYTER_FUTURES_EVENT_LOG_LENGTH", "lots")
    with pytest.raises(ValueError, match="JUPYTER_FUTURES_EVENT_LOG_LENGTH='lots'.*e.g."):
        EventLog()


def test_metadata_paths_make_nested_dicts_on_demand_as_in_dasks_docstring():
    md = Metadata()
    md.set(["x", "y"], 123)
    assert md.get(["x"]) == {"y": 123}
    md.set(["x", "w", "z"], 456)
    assert md.get(["x"]) == {"y": 123, "w": {"z": 456}}
    assert md.get(["x", "w"]) == {"z": 456}
    assert md.get([]) == {"x": {"y": 123, "w": {"z": 456}}}


def test_metadata_replaces_a_plain_value_on_the_way_by_a_dict():
    md = Metadata()
    md.set(["a"], 1)
    md.set(["a", "b"], 2)
    assert md.get(["a"]) == {"b": 2}


def test_metadata_inside_a_list_is_addressed_by_position():
    md = Metadata()
    md.set(["a"], [10, {"k": 1}])
    md.set(["a", 1, "k"], 2)
    md.set(["a", 0], 11)
    assert md.get(["a"]) == [11, {"k": 2}]
    with pytest.raises(TypeError, match=r"a list of 2 items: 'k' is not a position"):
        md.set(["a", "k"], 0)


def test_missing_metadata_is_a_key_error_naming_the_key_unless_a_default_is_given():
    md = Metadata()
    md.set(["a", "b"], 1)
    with pytest.raises(KeyError, match="no metadata 'c' under \\['a'\\]"):
        md.get(["a", "c"])
    with pytest.raises(KeyError):
        md.get(["a", "b", "c"])  # 1 holds nothing
    assert md.get(["zz"], default=None) is None
    assert md.lookup(["a", "b"]) == (True, 1)
    assert md.lookup(["a", "zz"]) == (False, None)
    with pytest.raises(ValueError, match="needs a key"):
        md.set([], 1)


def test_forwarded_loggers_say_what_a_joining_worker_must_be_told():
    fl = ForwardedLoggers()
    assert fl.add("app", logging.INFO, "t-app") == messages.forward_logging("app", logging.INFO, "t-app")
    fl.add(None, logging.ERROR, "t-root")
    fl.add("app", logging.DEBUG, "t-app")  # a second request for a logger replaces the first
    assert fl.messages() == [messages.forward_logging("app", logging.DEBUG, "t-app"),
                             messages.forward_logging(None, logging.ERROR, "t-root")]
    assert fl.remove("app") == messages.unforward_logging("app")
    with pytest.raises(ValueError, match="logger 'app' is not forwarded"):
        fl.remove("app")


def test_plain_data_is_what_msgpack_could_carry_and_the_error_names_the_bad_part():
    assert plain_problem({"a": [1, 2.5, "s", b"b", None, True, (1, 2)]}) is None
    assert plain_problem({"a": [1, {2}]}) == "msg['a'][1] is a set"
    assert plain_problem({1: "x"}) == "msg has a key 1 of type int"
    assert plain_problem({1: "x", (1, "a"): 2}, str_keys=False) is None
    with pytest.raises(TypeError, match=r"log_event: msg must be msgpack serializable.*msg\[0\] is a .*Metadata"):
        check_plain([Metadata()], "log_event")
    assert check_topics("a", "log_event") == ["a"]
    assert check_topics(("a", "b"), "log_event") == ["a", "b"]
    with pytest.raises(TypeError, match="topic must be a str or a non-empty list of str, got int"):
        check_topics(3, "log_event")


# -- metadata on a cluster -------------------------------------------------------------------------
def test_metadata_set_by_one_path_is_read_by_another(client):
    root = unique("md")
    client.set_metadata([root, "y"], 123)
    client.set_metadata([root, "w", "z"], 456)
    assert client.get_metadata(root) == {"y": 123, "w": {"z": 456}}
    assert client.get_metadata([root, "w"]) == {"z": 456}
    assert client.get_metadata((root, "w", "z")) == 456  # a tuple is a path too, for get (dask's rule)
    client.set_metadata(root, "plain")
    assert client.get_metadata(root) == "plain"


def test_missing_metadata_raises_key_error_or_returns_the_default(client):
    missing = unique("missing")
    with pytest.raises(KeyError, match=missing):
        client.get_metadata(missing)
    sentinel = object()  # any default: it never leaves this process
    assert client.get_metadata([missing, "x"], default=sentinel) is sentinel
    assert client.get_metadata(missing, None) is None


def test_metadata_must_be_plain_data_and_its_keys_plain_scalars(client):
    with pytest.raises(TypeError, match=r"set_metadata: value must be msgpack serializable.*value\['a'\] is a "
                                        r"threading.Event"):
        client.set_metadata(unique("md"), {"a": threading.Event()})
    with pytest.raises(TypeError, match="get_metadata: key .* is a list"):
        client.get_metadata([["nested", "list"]])
    with pytest.raises(ValueError, match="give a key"):
        client.set_metadata([], 1)


def test_metadata_is_shared_with_tasks(client):
    key = unique("md")
    client.set_metadata([key, "n"], 7)

    def read(key):
        from jupyter_futures import get_client

        return get_client().get_metadata([key, "n"])
    assert client.submit(read, key).result(timeout=TIMEOUT) == 7


# -- events on a cluster ---------------------------------------------------------------------------
def test_logged_events_come_back_in_order_as_time_and_message_pairs(client):
    topic, other = unique("topic"), unique("other")
    client.log_event(topic, {"n": 1})
    client.log_event([topic, other], [1, "two"])
    events = client.get_events(topic)
    assert isinstance(events, tuple)
    assert [msg for _, msg in events] == [{"n": 1}, [1, "two"]]
    assert events[0][0] <= events[1][0]
    assert client.get_events(other) == (events[1],)
    everything = client.get_events()
    assert everything[topic] == events and everything[other] == (events[1],)
    assert client.get_events(unique("never")) == ()


def test_an_event_that_is_not_plain_data_is_refused_before_it_leaves(client):
    topic = unique("topic")
    with pytest.raises(TypeError, match=r"log_event: msg must be msgpack serializable.*msg\['a'\] is a set"):
        client.log_event(topic, {"a": {1}})
    with pytest.raises(TypeError, match="topic must be a str"):
        client.log_event(7, "msg")
    assert client.get_events(topic) == ()


def test_a_topic_keeps_the_newest_events_of_its_length(client):
    topic = unique("topic")
    for i in range(1005):
        client.log_event(topic, i)
    events = client.get_events(topic)
    assert [msg for _, msg in events] == list(range(5, 1005))


def test_a_subscribed_handler_gets_each_new_event_until_unsubscribed(client):
    topic, marker = unique("topic"), unique("marker")
    got, marks = [], []
    client.log_event(topic, "before")  # events logged before subscribing are not replayed
    client.subscribe_topic(topic, got.append)
    client.subscribe_topic(marker, marks.append)
    client.log_event(topic, "one")
    client.log_event(topic, {"two": 2})
    assert wait_until(lambda: len(got) == 2)
    assert [msg for _, msg in got] == ["one", {"two": 2}]
    assert [event for event in client.get_events(topic)][1:] == got  # the same (time, msg) pairs
    client.unsubscribe_topic(topic)
    client.log_event(topic, "after")
    client.log_event(marker, "done")
    assert wait_until(lambda: marks)
    assert [msg for _, msg in got] == ["one", {"two": 2}]
    with pytest.raises(ValueError, match=f"No event handler known for topic {topic}"):
        client.unsubscribe_topic(topic)
    client.unsubscribe_topic(marker)


def test_a_second_handler_replaces_the_first_and_a_coroutine_handler_is_awaited(client):
    topic = unique("topic")
    first, second = [], []
    client.subscribe_topic(topic, first.append)

    async def handler(event):
        await asyncio.sleep(0)
        second.append(event[1])
    client.subscribe_topic(topic, handler)
    client.log_event(topic, "x")
    assert wait_until(lambda: second == ["x"])
    assert first == []
    client.unsubscribe_topic(topic)
    with pytest.raises(TypeError, match="handler must be a callable"):
        client.subscribe_topic(topic, "not callable")


def test_a_task_logs_events_through_its_worker_and_dict_messages_name_the_worker(client):
    topic = unique("topic")
    got = []
    client.subscribe_topic(topic, got.append)

    def task(topic):
        worker = get_worker()
        worker.log_event(topic, {"step": 1})
        worker.log_event([topic], "plain")
        return worker.address
    address = client.submit(task, topic).result(timeout=TIMEOUT)
    assert wait_until(lambda: len(got) == 2)
    assert [msg for _, msg in got] == [{"step": 1, "worker": address}, "plain"]
    assert client.get_events(topic) == tuple(got)
    client.unsubscribe_topic(topic)


def test_a_task_logging_an_event_that_is_not_plain_data_fails_with_the_reason(client):
    def task():
        get_worker().log_event("t", object())
    with pytest.raises(TypeError, match="msg must be msgpack serializable.*msg is a object"):
        client.submit(task).result(timeout=TIMEOUT)


# -- forwarded logging -----------------------------------------------------------------------------
class Records(logging.Handler):
    """Keeps the records a client-side logger handles."""

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def forwarded(client):
    """A fresh logger name, forwarded from the workers, with a handler collecting what the client re-emits."""
    name = unique("jf.test.forwarded")
    records = Records()
    logging.getLogger(name).addHandler(records)
    yield name, records
    logging.getLogger(name).removeHandler(records)


def log_in_task(name, level, text, marker=None):
    """A task body: log ``text`` on logger ``name``, then (optionally) an event on ``marker``."""
    logging.getLogger(name).log(level, "%s from %s", text, "a task")
    if marker:
        get_worker().log_event(marker, "done")
    return get_worker().address


def test_records_logged_in_tasks_are_re_emitted_on_the_clients_logger(client, forwarded):
    name, records = forwarded
    told = client.forward_logging(name)
    assert told == {address: {"status": "OK"} for address in client.scheduler_info()["workers"]}
    address = client.submit(log_in_task, f"{name}.child", logging.ERROR, "boom").result(timeout=TIMEOUT)
    assert wait_until(lambda: records.records)
    record = records.records[0]
    assert (record.name, record.levelname, record.getMessage()) == (f"{name}.child", "ERROR", "boom from a task")
    assert record.worker == address
    assert record.args is None and record.funcName == "log_in_task"
    client.unforward_logging(name)


def test_forwarding_at_a_level_leaves_the_records_below_it(client, forwarded):
    name, records = forwarded
    client.forward_logging(name, level="ERROR")

    def task(name):
        logger = logging.getLogger(name)
        logger.warning("below")
        logger.error("at")
        logger.critical("above")
    client.submit(task, name).result(timeout=TIMEOUT)
    assert wait_until(lambda: len(records.records) == 2)
    assert [r.getMessage() for r in records.records] == ["at", "above"]
    client.unforward_logging(name)
    with pytest.raises(ValueError, match="not a logging level"):
        client.forward_logging(name, level="LOUD")


def test_after_unforward_logging_records_stay_on_the_workers(client, forwarded):
    name, records = forwarded
    marker = unique("marker")
    marks = []
    client.subscribe_topic(marker, marks.append)
    client.forward_logging(name)
    client.unforward_logging(name)
    client.submit(log_in_task, name, logging.ERROR, "unseen", marker).result(timeout=TIMEOUT)
    assert wait_until(lambda: marks)
    assert records.records == []
    client.unsubscribe_topic(marker)
    with pytest.raises(ValueError, match="No event handler known for topic"):
        client.unforward_logging(name)


def test_an_exceptions_traceback_is_forwarded_as_text(client, forwarded):
    name, records = forwarded
    client.forward_logging(name)

    def task(name):
        try:
            1 / 0
        except ZeroDivisionError:
            logging.getLogger(name).exception("failed")
    client.submit(task, name).result(timeout=TIMEOUT)
    assert wait_until(lambda: records.records)
    record = records.records[0]
    assert record.exc_info is None and "ZeroDivisionError: division by zero" in record.exc_text
    client.unforward_logging(name)


def test_an_asynchronous_client_awaits_events_and_metadata(client):
    address = client.scheduler_address
    topic, key = unique("topic"), unique("md")

    async def main():
        async with Client(address, asynchronous=True) as c:
            arrived = asyncio.Event()
            got = []

            def handler(event):
                got.append(event[1])
                arrived.set()
            c.subscribe_topic(topic, handler)
            assert await c.log_event(topic, "x") is None
            await asyncio.wait_for(arrived.wait(), TIMEOUT)
            assert got == ["x"]
            assert [msg for _, msg in await c.get_events(topic)] == ["x"]
            c.unsubscribe_topic(topic)
            await c.set_metadata([key, "a"], 1)
            assert await c.get_metadata(key) == {"a": 1}
            assert await c.get_metadata([key, "b"], default="none") == "none"
            with pytest.raises(KeyError):
                await c.get_metadata([key, "b"])
    asyncio.run(asyncio.wait_for(main(), TIMEOUT * 2))
    assert client.get_metadata([key, "a"]) == 1


def test_workers_that_join_later_forward_too(client, forwarded):
    """Last in the module: it restarts the workers."""
    name, records = forwarded
    client.forward_logging(name)
    before = set(client.scheduler_info()["workers"])
    client.restart()
    assert not before & set(client.scheduler_info()["workers"])
    address = client.submit(log_in_task, name, logging.ERROR, "after restart").result(timeout=TIMEOUT)
    assert wait_until(lambda: records.records)
    assert records.records[0].getMessage() == "after restart from a task"
    assert records.records[0].worker == address
    client.unforward_logging(name)

