"""Who may talk to a cluster: the token handshake, and what happens to everyone else.

Most tests run a ``Scheduler`` in-process on an asyncio loop (``asyncio.run``)
and poke at it with raw sockets; ``caplog`` sees what it logs. The token-file
tests run the real ``jupyter-futures scheduler`` command.
"""
import asyncio
import logging
import os
import pickle
import stat
import struct
import time

import pytest

import jupyter_futures
from jupyter_futures import AuthenticationError, Client
from jupyter_futures.protocol import auth, messages
from jupyter_futures.protocol import comm as comm_module
from jupyter_futures.protocol import connect as connect_module
from jupyter_futures.protocol.address import parse_address
from jupyter_futures.protocol.connect import connect
from jupyter_futures.scheduler.server import Scheduler
from jupyter_futures.worker.server import Worker
from procs import TIMEOUT, clean_env, start_scheduler, stop

TOKEN = "s3cret-" + "0" * 57


def inc(x):
    return x + 1


# --------------------------------------------------------------------------- helpers


def run(coro, timeout=TIMEOUT):
    """Run ``coro`` on a fresh loop, bounded."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


async def start_scheduler_here(token=TOKEN) -> Scheduler:
    return await Scheduler("127.0.0.1", 0, token).start()


async def open_raw(scheduler):
    host, port = parse_address(scheduler.address)
    reader, writer = await asyncio.open_connection(host, port)
    return reader, writer, writer.get_extra_info("sockname")[1]


async def read_until_closed(reader, timeout=5.0) -> bytes:
    """Everything the server sends until it closes the connection (an RST counts as closed)."""
    data = b""
    try:
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(4096):
                data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    except TimeoutError:
        raise AssertionError(f"the server kept the connection open for {timeout} s (got {data!r})") from None
    return data


async def assert_still_serves(scheduler, token=TOKEN):
    """A legitimate worker and client can still join and run a task."""
    worker = await Worker(scheduler.address, token, nthreads=1).start()
    client = await Client(scheduler.address, asynchronous=True, token=token, set_as_default=False)
    try:
        await client.wait_for_workers(1, timeout=TIMEOUT)
        assert await client.submit(inc, 41) == 42
        info = await client.scheduler_info()
        assert list(info["workers"]) == [worker.address]
    finally:
        await client.close()
        await worker.close()


def refusals(caplog, port):
    return [r.getMessage() for r in caplog.records
            if "refused a connection" in r.getMessage() and f"127.0.0.1:{port}" in r.getMessage()]


class Evil:
    """Unpickling this creates ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def evil_frame(path) -> bytes:
    """A well-formed frame (one part) whose pickle creates ``path`` when loaded."""
    payload = pickle.dumps([messages.register_client(Evil(path), None)], protocol=5)
    return struct.pack("!IQ", 1, len(payload)) + payload


class PickleSpy:
    """Stands in for the ``pickle`` module inside ``protocol.comm``: counts ``loads``."""

    def __init__(self):
        self.loads_calls = 0

    def loads(self, *args, **kwargs):
        self.loads_calls += 1
        return pickle.loads(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(pickle, name)


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger="jupyter_futures")
    return caplog


# --------------------------------------------------------------------------- garbage


HTTP_GET = b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"


@pytest.mark.parametrize("garbage", [HTTP_GET, os.urandom(300), b"\x00" * 4096],
                         ids=["http-get", "random-bytes", "zeros"])
def test_garbage_is_refused_and_logged(logs, garbage):
    async def main():
        scheduler = await start_scheduler_here()
        try:
            reader, writer, port = await open_raw(scheduler)
            writer.write(garbage)
            await writer.drain()
            data = await read_until_closed(reader)
            writer.close()
            # The server said hello (magic + nonce) and nothing more, then closed.
            assert data == b"" or (len(data) == auth.HELLO_SIZE and data.startswith(auth.MAGIC)), data
            assert scheduler.listener.refused == 1
            assert not scheduler.client_comms and not scheduler.worker_comms
            [message] = refusals(logs, port)
            assert "malformed handshake" in message
            await assert_still_serves(scheduler)
        finally:
            await scheduler.close()
    run(main())


# --------------------------------------------------------------------------- wrong token


def test_wrong_token_is_refused_and_logged(logs):
    async def main():
        scheduler = await start_scheduler_here()
        try:
            t0 = time.monotonic()
            with pytest.raises(AuthenticationError, match="token"):
                await connect(scheduler.address, "wrong")
            assert time.monotonic() - t0 < 5, "refusing a wrong token should not wait for a timeout"
            assert scheduler.listener.refused == 1
            messages = [r.getMessage() for r in logs.records if "refused a connection" in r.getMessage()]
            assert len(messages) == 1 and "wrong cluster token" in messages[0], messages
            assert not scheduler.client_comms
            await assert_still_serves(scheduler)
        finally:
            await scheduler.close()
    run(main())


@pytest.mark.parametrize("how", ["wrong-token-then-frame", "frame-instead-of-handshake"])
def test_nothing_is_unpickled_before_authentication(logs, monkeypatch, tmp_path, how):
    # Control: this frame's pickle does create its file when loaded.
    control = tmp_path / "control"
    frame = evil_frame(control)
    pickle.loads(frame[12:])[0][1].close()
    assert control.exists()

    pwned = tmp_path / "pwned"
    spy = PickleSpy()
    monkeypatch.setattr(comm_module, "pickle", spy)

    async def main():
        scheduler = await start_scheduler_here()
        try:
            reader, writer, port = await open_raw(scheduler)
            hello = await asyncio.wait_for(reader.readexactly(auth.HELLO_SIZE), TIMEOUT)
            if how == "wrong-token-then-frame":
                reply, _, _ = auth.client_reply("wrong", hello)
                writer.write(reply + evil_frame(pwned))
            else:
                writer.write(evil_frame(pwned))
            await writer.drain()
            data = await read_until_closed(reader)
            writer.close()
            assert data == b"", f"the server answered an unauthenticated peer: {data!r}"
            assert not pwned.exists(), "the server unpickled data from an unauthenticated peer"
            assert spy.loads_calls == 0
            assert scheduler.listener.refused == 1
            assert len(refusals(logs, port)) == 1
            await assert_still_serves(scheduler)
            assert spy.loads_calls > 0  # the spy does see legitimate traffic
            assert not pwned.exists()
        finally:
            await scheduler.close()
    run(main())


def test_client_refuses_a_server_without_the_token():
    """Mutual authentication: a server that cannot prove it holds the token gets no pickles."""
    received = []
    done = asyncio.Event()

    async def impostor(reader, writer):
        hello, _ = auth.server_hello()
        writer.write(hello)
        received.append(await reader.readexactly(auth.REPLY_SIZE))
        writer.write(os.urandom(auth.MAC_SIZE))  # a made-up proof
        await writer.drain()
        try:
            received.append(await asyncio.wait_for(reader.read(1 << 16), 5))
        finally:
            writer.close()
            done.set()

    async def main():
        server = await asyncio.start_server(impostor, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(AuthenticationError, match="does not hold"):
                await connect(f"tcp://127.0.0.1:{port}", TOKEN)
            await asyncio.wait_for(done.wait(), TIMEOUT)
        finally:
            server.close()
            await server.wait_closed()
        assert TOKEN.encode() not in received[0]
        assert received[1] == b"", "the client sent data to a server that failed to authenticate"
    run(main())


# --------------------------------------------------------------------------- silence


@pytest.mark.parametrize("sends", [b"", b"GET / HTTP/1.1\r\n\r\n"], ids=["silent", "short-request"])
def test_silent_connection_dropped_after_handshake_timeout(logs, monkeypatch, sends):
    monkeypatch.setattr(connect_module, "HANDSHAKE_TIMEOUT", 0.5)

    async def main():
        scheduler = await start_scheduler_here()
        try:
            reader, writer, port = await open_raw(scheduler)
            t0 = time.monotonic()
            if sends:
                writer.write(sends)
                await writer.drain()
            data = await read_until_closed(reader, timeout=5)
            elapsed = time.monotonic() - t0
            writer.close()
            assert data.startswith(auth.MAGIC) and len(data) == auth.HELLO_SIZE
            assert 0.4 <= elapsed < 3, elapsed
            [message] = refusals(logs, port)
            assert "handshake timed out" in message
            assert scheduler.listener.refused == 1
            assert not scheduler.listener._handshakes
            await assert_still_serves(scheduler)
        finally:
            await scheduler.close()
    run(main())


def test_authenticated_peer_that_does_not_register_is_closed(logs):
    async def main():
        scheduler = await start_scheduler_here()
        try:
            comm = await connect(scheduler.address, TOKEN)
            comm.start(lambda c, msgs: None)
            comm.queue(("hello", "i am not a client"))
            await asyncio.wait_for(comm.wait_closed(), 5)
            assert not scheduler.client_comms and not scheduler.worker_comms
            assert any("did not register" in r.getMessage() for r in logs.records)
            await assert_still_serves(scheduler)
        finally:
            await scheduler.close()
    run(main())


# --------------------------------------------------------------------------- token file


@pytest.mark.parametrize("where", ["--token-file", "env"])
def test_cli_scheduler_writes_token_file_0600(tmp_path, where):
    path = tmp_path / "private" / "token"  # the directory does not exist yet
    if where == "--token-file":
        proc, info = start_scheduler(tmp_path, "--token-file", str(path), env=clean_env(HOME=str(tmp_path)))
    else:
        proc, info = start_scheduler(tmp_path, env=clean_env(HOME=str(tmp_path), JUPYTER_FUTURES_TOKEN_FILE=str(path)))
    try:
        assert info["token_file"] == str(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        token = path.read_text().strip()
        assert len(token) >= 32
        with Client(info["address"], token=token, set_as_default=False) as c:
            assert c.scheduler_info()["address"] == info["address"]
    finally:
        assert stop(proc) == 0


def test_existing_token_file_is_made_private(tmp_path):
    path = tmp_path / "token"
    path.write_text("old token, world readable")
    os.chmod(path, 0o644)
    proc, info = start_scheduler(tmp_path, "--token-file", str(path), env=clean_env(HOME=str(tmp_path)))
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert "old token" not in path.read_text()
    finally:
        assert stop(proc) == 0


def test_cli_scheduler_with_token_in_env_writes_no_file(tmp_path):
    env = clean_env(HOME=str(tmp_path), JUPYTER_FUTURES_TOKEN=TOKEN)
    proc, info = start_scheduler(tmp_path, env=env)
    try:
        assert info["token_file"] is None
        assert not (tmp_path / ".jupyter_futures").exists()
        with Client(info["address"], token=TOKEN, set_as_default=False) as c:
            assert c.scheduler_info()["workers"] == {}
    finally:
        assert stop(proc) == 0


# --------------------------------------------------------------------------- clients without the token


@pytest.fixture
def cli_scheduler(tmp_path):
    # Its registry record (which holds the token for clients of this user on this machine) goes to a
    # folder of its own: the client here plays one on another machine.
    proc, info = start_scheduler(tmp_path, "--token-file", str(tmp_path / "token"),
                                 env=clean_env(HOME=str(tmp_path),
                                               JUPYTER_FUTURES_REGISTRY=str(tmp_path / "scheduler-registry")))
    yield info
    assert stop(proc) == 0


@pytest.mark.parametrize("token_file", ["missing", "empty"])
def test_client_without_token_gets_clear_error(cli_scheduler, tmp_path, monkeypatch, token_file):
    path = tmp_path / "no-such-dir" / "token"
    if token_file == "empty":
        path = tmp_path / "empty-token"
        path.write_text("")
    monkeypatch.delenv("JUPYTER_FUTURES_TOKEN", raising=False)
    monkeypatch.setenv("JUPYTER_FUTURES_TOKEN_FILE", str(path))
    with pytest.raises(AuthenticationError) as info:
        Client(cli_scheduler["address"], set_as_default=False)
    message = str(info.value)
    assert "JUPYTER_FUTURES_TOKEN" in message and str(path) in message and "token=" in message
    assert info.type is jupyter_futures.AuthenticationError


def test_a_closed_local_clusters_token_is_forgotten(tmp_path, monkeypatch):
    """Its port may serve another cluster next: a client there must not offer the old token."""
    monkeypatch.delenv("JUPYTER_FUTURES_TOKEN", raising=False)
    monkeypatch.setenv("JUPYTER_FUTURES_TOKEN_FILE", str(tmp_path / "no-token"))
    with Client(n_workers=0) as client:
        address = client.scheduler_address
        assert auth.find_token(None, address) == client.cluster.token
    with pytest.raises(AuthenticationError, match="no cluster token"):
        auth.find_token(None, address)


def test_client_with_wrong_token_gets_clear_error(cli_scheduler):
    with pytest.raises(AuthenticationError, match="wrong cluster token"):
        Client(cli_scheduler["address"], token="wrong", set_as_default=False, timeout=5)


def test_client_finds_token_in_env_and_file(cli_scheduler, tmp_path, monkeypatch):
    token = (tmp_path / "token").read_text().strip()
    monkeypatch.delenv("JUPYTER_FUTURES_TOKEN_FILE", raising=False)
    monkeypatch.setenv("JUPYTER_FUTURES_TOKEN", token)
    with Client(cli_scheduler["address"], set_as_default=False) as c:
        assert c.scheduler_info()["address"] == cli_scheduler["address"]
    monkeypatch.delenv("JUPYTER_FUTURES_TOKEN")
    monkeypatch.setenv("JUPYTER_FUTURES_TOKEN_FILE", str(tmp_path / "token"))
    with Client(cli_scheduler["address"], set_as_default=False) as c:
        assert c.scheduler_info()["address"] == cli_scheduler["address"]


def test_worker_port_requires_the_token_too(logs, tmp_path):
    """Peers fetch data from a worker's own port: it is guarded by the same handshake."""
    pwned = tmp_path / "pwned"

    async def main():
        scheduler = await start_scheduler_here()
        worker = await Worker(scheduler.address, TOKEN, nthreads=1).start()
        try:
            with pytest.raises(AuthenticationError):
                await connect(worker.address, "wrong")
            host, port = parse_address(worker.address)
            reader, writer = await asyncio.open_connection(host, port)
            await asyncio.wait_for(reader.readexactly(auth.HELLO_SIZE), TIMEOUT)
            writer.write(evil_frame(pwned))
            await writer.drain()
            assert await read_until_closed(reader) == b""
            writer.close()
            assert worker.listener.refused == 2
            assert not pwned.exists()
            # With the token, a peer gets served.
            peer = await connect(worker.address, TOKEN)
            peer.start(lambda c, msgs: [c.handle_rpc_message(m) for m in msgs])
            assert await asyncio.wait_for(peer.request("ping"), TIMEOUT) == "pong"
            peer.close()
        finally:
            await worker.close()
            await scheduler.close()
    run(main())


def test_token_is_never_readable_by_others_while_written(tmp_path, monkeypatch):
    """Even over an existing world-readable file, the new token is written only once the file is private."""
    path = tmp_path / "token"
    path.write_text("old")
    os.chmod(path, 0o644)
    modes = []
    real_write = os.write
    real_fdopen = os.fdopen

    class Watched:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            modes.append(stat.S_IMODE(os.fstat(self.f.fileno()).st_mode))
            return self.f.write(data)

        def __enter__(self):
            self.f.__enter__()
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

        def __getattr__(self, name):
            return getattr(self.f, name)

    def watched_write(fd, data):
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(os, "fdopen", lambda *a, **k: Watched(real_fdopen(*a, **k)))
    monkeypatch.setattr(os, "write", watched_write)
    auth.write_token_file(TOKEN, str(path))
    monkeypatch.undo()
    assert path.read_text() == TOKEN
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert modes, "the token was written by a route this test does not watch"
    assert all(m & 0o077 == 0 for m in modes), \
        f"the token was written while the file had mode {oct(max(modes))} (readable by others)"
