"""Fuzz: random and mutated input at a real cluster's scheduler port and at a worker's port, from peers
without the token and from peers that completed the handshake. Afterwards the same cluster runs a job
correctly and no process died or restarted.

The seed is printed (and can be set with ``JF_FUZZ_SEED``), as is the number of inputs tried.
"""
import os
import pickle
import random
import socket
import struct

import pytest

from jupyter_futures import Client
from jupyter_futures.protocol import auth, messages
from jupyter_futures.protocol.address import parse_address

from procs import TIMEOUT, alive, wait_until
from wire import authenticated_socket, closed_by_peer, frame

UNAUTHENTICATED = 600  # connections with garbage instead of the handshake
SESSIONS = 160  # authenticated connections
MESSAGES_PER_SESSION = 24  # well-formed frames of bad messages, then one malformed frame

OPS = [v for k, v in vars(messages).items() if k.isupper() and isinstance(v, str)]
# Requests whose effect is the cluster's to have (stop it, run code, resize it) are left out: an
# authenticated peer may ask for them by design. Every other request is fair game.
RPCS = ["who_has", "has_what", "processing", "nthreads", "identity", "ping", "cluster_info", "task_stream",
        "story", "dashboard_query", "cancel", "get_data", "keys", "put_data", "rename_data", "no_such_rpc"]


def junk(rng: random.Random, depth: int = 0):
    """A random plain value (what a confused peer might put in a field)."""
    kind = rng.randrange(9 if depth < 2 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([0, 1, -1, 2**31, 2**63, rng.randrange(-1000, 1000)])
    if kind == 2:
        return rng.random() * rng.choice([1, 1e9, -1])
    if kind == 3:
        return "".join(rng.choice("abc-_/:0129") for _ in range(rng.randrange(12)))
    if kind == 4:
        return rng.randbytes(rng.randrange(16))
    if kind == 5:
        return rng.choice([True, False, "tcp://127.0.0.1:1", "inc-1", ""])
    if kind == 6:
        return [junk(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 7:
        return tuple(junk(rng, depth + 1) for _ in range(rng.randrange(4)))
    return {junk(rng, 2) if rng.random() < 0.5 else str(i): junk(rng, depth + 1) for i in range(rng.randrange(3))}


def bad_message(rng: random.Random):
    """A message with a known op and any number of junk fields, an unknown op, a request with junk
    arguments or the wrong shape, or something that is not a message at all."""
    kind = rng.randrange(6)
    if kind <= 1:
        return (rng.choice(OPS), *(junk(rng) for _ in range(rng.randrange(6))))
    if kind == 2:
        return (rng.choice(["rpc", "rpc-reply"]), *(junk(rng) for _ in range(rng.randrange(5))))
    if kind == 3:
        return ("rpc", rng.randrange(1 << 30), rng.choice(RPCS), tuple(junk(rng) for _ in range(rng.randrange(4))))
    if kind == 4:
        return (junk(rng), *(junk(rng) for _ in range(rng.randrange(3))))
    return junk(rng)


def malformed_frame(rng: random.Random) -> bytes:
    """A frame broken at the framing or pickle level."""
    body = pickle.dumps([bad_message(rng)], protocol=5)
    kind = rng.randrange(7)
    if kind == 0:  # truncated: the peer leaves mid-frame
        data = struct.pack("!IQ", 1, len(body)) + body
        return data[:rng.randrange(len(data))]
    if kind == 1:  # a huge declared length
        return struct.pack("!IQ", 1, rng.choice([1 << 60, 2**64 - 1, 5 << 30]))
    if kind == 2:  # a bad part count
        return struct.pack("!I", rng.choice([0, 1 << 21, 2**32 - 1])) + body
    if kind == 3:  # flipped bytes in the pickle
        data = bytearray(body)
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return struct.pack("!IQ", 1, len(data)) + bytes(data)
    if kind == 4:  # not a pickle at all
        data = rng.randbytes(rng.randrange(1, 200))
        return struct.pack("!IQ", 1, len(data)) + data
    if kind == 5:  # out-of-band parts that the pickle does not use, or too few of them
        return struct.pack("!IQQ", 2, len(body), 3) + body + b"abc"
    return rng.randbytes(rng.randrange(1, 64))  # noise


def unauthenticated(address: str, rng: random.Random) -> None:
    sock = socket.create_connection(parse_address(address), timeout=TIMEOUT)
    try:
        choice = rng.randrange(3)
        if choice == 0:
            payload = rng.randbytes(rng.randrange(1, 300))
        elif choice == 1:  # the right shape, a wrong proof
            payload = auth.MAGIC + rng.randbytes(auth.REPLY_SIZE - len(auth.MAGIC))
        else:  # a frame before any handshake
            payload = frame([messages.register_client("intruder", None)])
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        closed_by_peer(sock)
    except OSError:
        pass
    finally:
        sock.close()


def session(address: str, token: str, rng: random.Random, first) -> int:
    """One authenticated connection: a first message, bad messages, one malformed frame; returns how
    many frames went out."""
    sock = authenticated_socket(address, token, timeout=TIMEOUT)  # a loaded machine may take seconds to answer
    frames = [frame([first])] if first is not None else []
    frames += [frame([bad_message(rng) for _ in range(rng.randrange(1, 4))]) for _ in range(MESSAGES_PER_SESSION)]
    frames.append(malformed_frame(rng))
    try:
        sock.sendall(b"".join(frames))
        sock.shutdown(socket.SHUT_WR)
        assert closed_by_peer(sock), f"{address} kept a connection open after its peer finished sending"
    except (BrokenPipeError, ConnectionResetError):
        pass  # it closed first: a malformed frame can make it stop reading before our sending ends
    finally:
        sock.close()
    return len(frames)


def inc(x):
    return x + 1


def add(a, b):
    return a + b


@pytest.fixture(scope="module")
def client():
    with Client(n_workers=2, threads_per_worker=1, memory_limit=0, set_as_default=False) as c:
        c.wait_for_workers(2, timeout=TIMEOUT)
        yield c


def test_fuzzed_frames_leave_the_cluster_working(client):
    seed = int(os.environ.get("JF_FUZZ_SEED") or random.randrange(1 << 32))
    rng = random.Random(seed)
    cluster = client.cluster
    scheduler = cluster.scheduler_address
    worker = sorted(client.scheduler_info()["workers"])[0]
    pids = {cluster.scheduler_proc.pid, *(n.pid for n in cluster.workers)}
    targets = [scheduler, worker]

    tried = 0
    for i in range(UNAUTHENTICATED):
        unauthenticated(targets[i % 2], rng)
        tried += 1
    for i in range(SESSIONS):
        address = targets[i % 2]
        roll = rng.random()
        if roll < 0.6:
            first = messages.register_client(f"fuzz-client-{i}", None)
        elif roll < 0.75 and address == scheduler:
            first = messages.register_worker(f"tcp://127.0.0.1:{1 + i}", 1, 0, f"fuzz-worker-{i}", 0, None)
        else:
            first = None
        tried += session(address, cluster.token, rng, first)
    print(f"\nfuzz (seed {seed}): {tried} inputs tried: {UNAUTHENTICATED} unauthenticated connections and "
          f"{tried - UNAUTHENTICATED} frames on {SESSIONS} authenticated connections, at the scheduler and a worker")

    assert all(alive(pid) for pid in pids), "a cluster process died"
    assert {cluster.scheduler_proc.pid, *(n.pid for n in cluster.workers)} == pids, "a worker was restarted"
    assert all(n.restarts == 0 for n in cluster.workers)
    # The peers that registered as workers are gone with their connections.
    assert wait_until(lambda: len(client.scheduler_info()["workers"]) == 2)
    futures = client.map(inc, range(100))
    assert client.gather(futures) == list(range(1, 101))
    total = client.submit(sum, futures)
    assert total.result(TIMEOUT) == sum(range(1, 101))
    a, b = sorted(client.scheduler_info()["workers"])
    assert client.submit(add, client.submit(inc, 1, workers=[a]), 2, workers=[b]).result(TIMEOUT) == 4
