"""Frames, batching, out-of-band buffers, RPC and tracebacks over a real loopback socket."""
import asyncio
import traceback

import numpy as np
import pytest

from jupyter_futures.protocol import serialize
from jupyter_futures.protocol.address import parse_address
from jupyter_futures.protocol.comm import Comm, CommClosedError
from jupyter_futures.protocol.connect import Listener, connect
from jupyter_futures.protocol.tracebacks import dump_traceback, rebuild_traceback

TOKEN = "t" * 64


async def pair():
    """A connected (client comm, server comm) pair on loopback."""
    accepted: asyncio.Queue = asyncio.Queue()
    listener = Listener("127.0.0.1", 0, TOKEN, accepted.put_nowait)
    await listener.start()
    client = await connect(f"tcp://127.0.0.1:{listener.port}", TOKEN)
    server = await asyncio.wait_for(accepted.get(), 5)
    return listener, client, server


def collect(comm: Comm) -> asyncio.Queue:
    q: asyncio.Queue = asyncio.Queue()
    comm.start(lambda c, msgs: [q.put_nowait(m) for m in msgs])
    return q


def test_messages_sent_in_one_turn_arrive_as_one_batch_in_order():
    async def main():
        listener, client, server = await pair()
        batches = []
        done = asyncio.Event()

        def on(c, msgs):
            batches.append(msgs)
            if sum(map(len, batches)) == 10_000:
                done.set()
        server.start(on)
        client.start(lambda c, m: None)
        for i in range(10_000):
            client.queue(("m", i))
        await asyncio.wait_for(done.wait(), 10)
        assert [m[1] for b in batches for m in b] == list(range(10_000))
        assert len(batches) == 1
        client.close(), server.close(), listener.stop()
    asyncio.run(main())


def test_large_numpy_buffers_arrive_intact_out_of_band():
    async def main():
        listener, client, server = await pair()
        q = collect(server)
        client.start(lambda c, m: None)
        arr = np.arange(4_000_000, dtype="float64")  # 32 MB
        ser = serialize.dumps(arr)
        assert len(ser.header) < 1000, "the array's bytes are not inside the pickle stream"
        client.queue(("data", ser, "small"))
        msg = await asyncio.wait_for(q.get(), 20)
        got = serialize.loads(msg[1])
        assert msg[2] == "small"
        assert np.array_equal(got, arr)
        client.close(), server.close(), listener.stop()
    asyncio.run(main())


def test_rpc_returns_values_and_reraises_errors():
    async def main():
        listener, client, server = await pair()

        def boom(comm, x):
            raise ValueError(f"bad {x}")
        server.serve_rpc({"double": lambda comm, x: 2 * x, "boom": boom})
        server.start(lambda c, msgs: [c.handle_rpc_message(m) for m in msgs])
        client.start(lambda c, msgs: [c.handle_rpc_message(m) for m in msgs])
        assert await client.request("double", 21) == 42
        with pytest.raises(ValueError, match="bad 3"):
            await client.request("boom", 3)
        server.serve_rpc({"hang": lambda comm: asyncio.Event().wait()})
        pending = asyncio.ensure_future(client.request("hang"))
        await asyncio.sleep(0)
        server.close()
        with pytest.raises(CommClosedError):
            await asyncio.wait_for(pending, 5)
        with pytest.raises(CommClosedError):
            await client.request("double", 1)
        listener.stop()
    asyncio.run(main())


def test_parse_address_accepts_both_forms_and_rejects_others():
    assert parse_address("tcp://10.0.0.5:8786") == ("10.0.0.5", 8786)
    assert parse_address("localhost:8786") == ("localhost", 8786)
    with pytest.raises(ValueError, match="tcp://host:port"):
        parse_address("no-port")
    with pytest.raises(ValueError, match="scheme"):
        parse_address("udp://h:1")


def test_connect_to_a_server_of_another_kind_names_the_address_and_the_fix():
    """A port where something else speaks first (an SSH server, say) is refused with the address in the error."""
    async def main():
        async def speak_first(reader, writer):
            writer.write(b"SSH-2.0-OpenSSH_9.6\r\n" + b" " * 64)
            await writer.drain()
            await reader.read()
            writer.close()
        server = await asyncio.start_server(speak_first, "127.0.0.1", 0)
        address = f"tcp://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            with pytest.raises(ConnectionError, match=f"{address}: the peer is not a jupyter_futures server "
                                                      r"\(bad greeting\): check the port"):
                await connect(address, TOKEN, timeout=2)
        finally:
            server.close()
            await server.wait_closed()
    asyncio.run(main())


def test_connect_to_closed_port_says_nothing_listens():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()

    async def main():
        with pytest.raises(OSError, match="nothing listens"):
            await connect(f"tcp://127.0.0.1:{port}", TOKEN, timeout=2)
    asyncio.run(main())


def test_rebuilt_traceback_shows_remote_frames():
    def might_fail():
        raise ValueError("Negative value")
    try:
        might_fail()
    except ValueError as exc:
        records = dump_traceback(exc.__traceback__)
    remote = [("/remote/site.py", 7, "remote_fn", "x = compute(y)")] + records
    text = "".join(traceback.format_tb(rebuild_traceback(remote)))
    assert "remote_fn" in text and "x = compute(y)" in text
    assert "might_fail" in text and 'raise ValueError("Negative value")' in text
    assert "^^^" not in text
