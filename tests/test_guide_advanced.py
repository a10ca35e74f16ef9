"""The advanced examples of the user guide (SPEC-futures-guide.md), run against jupyter_futures.

Sections: "Dynamic Task Submission", "Advanced Coordination" (Queue, Lock, Event,
Variable), "Actors" and the debugging section's ``future.traceback()``.

The guide's code lives in a notebook: its functions use the notebook's global
``client`` and global primitives (``queue = Queue()``), and they travel to the
workers by value. This module behaves the same way: it registers itself with
cloudpickle as pickled *by value*, keeps a global ``client`` (set by the fixture),
and the tests bind the guide's globals (``queue``, ``lock``...) before submitting.
The functions the guide leaves abstract (``process``, ``split``, ``combine``,
``shared_resource``) are small and deterministic.
"""
import os
import sys
import time
import traceback

import cloudpickle
import pytest

from jupyter_futures import Client, Event, Lock, Queue, Variable

TIMEOUT = 30  # seconds; any wait longer than this is a bug, not a slow machine

pytestmark = pytest.mark.timeout(120)

# Functions of this module travel by value, like a notebook's (``__main__``) functions.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

client = None  # the notebook's global ``client``; set by the fixture below
queue = lock = event = var = shared_resource = None  # the guide's global primitives, bound per test


@pytest.fixture(scope="module", autouse=True)
def notebook_client():
    """``client = Client()`` at the top of the notebook: 2 workers x 1 thread."""
    global client
    with Client(n_workers=2, threads_per_worker=1) as c:
        client = c
        try:
            yield c
        finally:
            client = None


# --------------------------------------------------------------------------- Dynamic Task Submission


def process(data):
    return sum(x * x for x in data)


def split(data):
    half = len(data) // 2
    return data[:half], data[half:]


def combine(left, right):
    return left + right


def recursive_compute(data, depth):
    if depth == 0:
        return process(data)
    # Split and recurse
    left, right = split(data)
    left_future = client.submit(recursive_compute, left, depth - 1)
    right_future = client.submit(recursive_compute, right, depth - 1)
    # Combine results
    return combine(left_future.result(), right_future.result())


def test_dynamic_task_submission():
    """Common Patterns / Dynamic Task Submission: tasks use the notebook's ``client``; depth 5 on 2x1."""
    assert sorted(client.nthreads().values()) == [1, 1]
    initial_data = list(range(100))
    # Start computation
    result_future = client.submit(recursive_compute, initial_data, 5)
    result = result_future.result(timeout=TIMEOUT)
    assert result == process(initial_data)
    # 2**6 - 1 tasks ran, each on one of the two single-thread workers.
    assert result_future.status == "finished"


# --------------------------------------------------------------------------- Advanced Coordination: Queue


def producer():
    for i in range(10):
        queue.put(i)


def consumer():
    results = []
    for _ in range(10):
        results.append(queue.get())
    return results


def test_queue_producer_consumer():
    """Advanced Coordination / Queues, verbatim: the producer's future is not kept."""
    global queue
    queue = Queue()
    # Submit tasks
    client.submit(producer)
    result_future = client.submit(consumer)
    try:
        results = result_future.result(timeout=10)
    finally:
        if not result_future.done():  # unblock the consumer so it does not outlive the test
            for _ in range(10):
                queue.put(None)
    assert results == list(range(10))


# --------------------------------------------------------------------------- Advanced Coordination: Lock


class SharedResource:
    """A file that every update appends an ``enter`` and an ``exit`` line to, with some work between."""

    def __init__(self, path):
        self.path = path

    def update(self):
        with open(self.path, "a") as f:
            f.write(f"enter {os.getpid()} {time.monotonic()}\n")
        with open(self.path) as f:  # some work while inside: read everything written so far
            seen = len(f.readlines())
        time.sleep(0.01)  # simulated work: another holder would write in between
        with open(self.path, "a") as f:
            f.write(f"exit {os.getpid()} {time.monotonic()} {seen}\n")


def critical_section():
    with lock:
        # Only one task executes this at a time
        shared_resource.update()


def test_lock_critical_section(tmp_path):
    """Advanced Coordination / Locks: 8 tasks on 2 workers update one file, one at a time."""
    global lock, shared_resource
    lock = Lock()
    shared_resource = SharedResource(str(tmp_path / "resource.log"))
    futures = [client.submit(critical_section, pure=False) for _ in range(8)]
    assert client.gather(futures) == [None] * 8

    lines = (tmp_path / "resource.log").read_text().splitlines()
    assert len(lines) == 16
    # Strictly alternating enter/exit, each pair from one process: no update ran inside another.
    for i in range(0, 16, 2):
        enter, exit_ = lines[i].split(), lines[i + 1].split()
        assert enter[0] == "enter" and exit_[0] == "exit", lines
        assert enter[1] == exit_[1], lines
        assert int(exit_[3]) == i + 1, lines  # it saw exactly the lines written before it, plus its own
    pids = {line.split()[1] for line in lines}
    assert len(pids) == 2, "both workers should have taken part"
    assert lock.locked() is False


# --------------------------------------------------------------------------- Advanced Coordination: Event

SETTER_DELAY = 0.5  # the guide sleeps 5 s


def waiter():
    event.wait()  # Blocks until event is set
    return "Event occurred"


def setter():
    time.sleep(SETTER_DELAY)
    event.set()


def test_event_waiter_setter():
    """Advanced Coordination / Events: the waiter blocks until the setter sets the event."""
    global event
    event = Event()
    # Start both tasks
    t0 = time.monotonic()
    wait_future = client.submit(waiter)
    set_future = client.submit(setter)
    result = wait_future.result(timeout=TIMEOUT)  # Waits for setter to complete
    assert result == "Event occurred"
    assert time.monotonic() - t0 >= SETTER_DELAY
    assert set_future.result(timeout=TIMEOUT) is None
    assert event.is_set()


# --------------------------------------------------------------------------- Advanced Coordination: Variable


def reader():
    return var.get()


def test_variable(capsys):
    """Advanced Coordination / Variables: ``Variable('my-var')`` set to 42, read by a task."""
    global var
    var = Variable("my-var")
    # Set value
    var.set(42)
    # Get value from tasks
    future = client.submit(reader)
    print(future.result(timeout=TIMEOUT))  # 42
    assert capsys.readouterr().out == "42\n"
    assert Variable("my-var").get(timeout=TIMEOUT) == 42


# --------------------------------------------------------------------------- Actors


class Counter:
    def __init__(self):
        self.count = 0

    def increment(self):
        self.count += 1
        return self.count

    def get_count(self):
        return self.count


def test_actor_counter(capsys):
    """Actors / Creating Actors: two increments, then ``get_count()`` gives 2."""
    # Create actor on worker
    counter = client.submit(Counter, actor=True).result(timeout=TIMEOUT)
    # Call methods
    future1 = counter.increment()
    future2 = counter.increment()
    result = counter.get_count().result(timeout=TIMEOUT)
    print(result)  # 2
    assert capsys.readouterr().out == "2\n"
    assert (future1.result(timeout=TIMEOUT), future2.result(timeout=TIMEOUT)) == (1, 2)
    assert counter.count == 2


# --------------------------------------------------------------------------- Debugging Tips


def parse_record(record):
    if "=" not in record:
        raise ValueError(f"bad record {record!r}")
    return record.split("=", 1)


def load_records(records):
    parsed = [client.submit(parse_record, r) for r in records]
    return dict(f.result() for f in parsed)


def test_debugging_check_status_and_traceback(capsys):
    """Debugging Tips / Check Task Status: status, done() and the traceback of a nested task's error."""
    future = client.submit(load_records, ["a=1", "oops", "b=2"])
    # Inspect future
    with pytest.raises(ValueError, match="bad record 'oops'"):
        future.result(timeout=TIMEOUT)
    print(future.status)
    print(future.done())
    # Get traceback on error
    try:
        future.result()
    except Exception:
        print(future.traceback())
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["error", "True"]
    assert out[2].startswith("<traceback object")

    text = "".join(traceback.format_tb(future.traceback()))
    # The frames of the task that raised (parse_record, inside a task submitted by load_records).
    assert "parse_record" in text
    assert "load_records" in text
    assert text.index("load_records") < text.index("parse_record")
    assert type(future.exception(timeout=TIMEOUT)) is ValueError


# --------------------------------------------------------------------------- notebook globals


def queue_name():
    return queue.name


def test_rebound_global_is_seen_by_tasks():
    """A notebook cell run again (``queue = Queue()``) gives tasks the new queue, not the first one."""
    global queue
    names = []
    for _ in range(2):
        queue = Queue()
        names.append((queue.name, client.submit(queue_name, pure=False).result(timeout=TIMEOUT)))
    assert names[0][0] != names[1][0]
    assert [seen for _, seen in names] == [mine for mine, _ in names]
