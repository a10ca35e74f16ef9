"""``jupyter-futures demo``: a short tour of the futures API on a local cluster, printed as it goes."""
from __future__ import annotations

import argparse
import time


def square(x: int) -> int:
    """x squared."""
    return x * x


def add(x: int, y: int) -> int:
    """x + y."""
    return x + y


def slow_identity(x: int, delay: float) -> int:
    """x, after ``delay`` seconds."""
    time.sleep(delay)
    return x


def might_fail(x: int) -> int:
    """x squared, or ValueError for a negative x."""
    if x < 0:
        raise ValueError("Negative value")
    return x * x


def count_byte(data: bytes, value: int) -> int:
    """How many times the byte ``value`` occurs in ``data``."""
    return data.count(bytes([value]))


def main(argv: list[str] | None = None) -> None:
    """Run the tour."""
    p = argparse.ArgumentParser(prog="jupyter-futures demo", description=__doc__)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    from jupyter_futures import Client, as_completed

    say = print
    t0 = time.perf_counter()
    with Client(n_workers=args.workers, threads_per_worker=args.threads) as client:
        info = client.scheduler_info()
        say(f"1. Client() started a scheduler and {len(info['workers'])} worker processes "
            f"in {time.perf_counter() - t0:.2f} s at {client.scheduler_address}")

        future = client.submit(add, 1, 2)
        say(f"2. submit(add, 1, 2) -> {future!r}")
        say(f"   .result() = {future.result()}  status: {future.status}")

        t = time.perf_counter()
        futures = client.map(square, range(10_000))
        results = client.gather(futures)
        say(f"3. map(square, range(10000)) + gather: sum = {sum(results)} "
            f"in {time.perf_counter() - t:.3f} s ({10_000 / (time.perf_counter() - t):,.0f} tasks/s)")

        a = client.submit(add, 1, 2)
        b = client.submit(add, a, 10)
        c = client.submit(add, b, 100)
        say(f"4. dependencies: add(add(add(1, 2), 10), 100) = {c.result()} "
            f"(inputs moved between workers directly)")

        data = bytes(range(256)) * 40_000
        scattered = client.scatter(data)
        counts = client.gather([client.submit(count_byte, scattered, v) for v in (0, 1, 255)])
        say(f"5. scatter(10 MB) once, 3 tasks read it where it is: byte counts = {counts}")

        bad = client.submit(might_fail, -5)
        try:
            bad.result()
        except ValueError as exc:
            say(f"6. an error comes back as itself: ValueError({exc}); status: {bad.status}")
            import traceback

            frames = traceback.format_tb(bad.traceback())
            say("   remote traceback, last frame:\n   " + frames[-1].strip().replace("\n", "\n   "))

        # One task per thread, so all start at once, each 0.25 s shorter than the one before:
        # the finishing order is the reverse of the submitting order, beyond any scheduling doubt.
        threads = min(sum(w["nthreads"] for w in info["workers"].values()), 4)
        delays = [0.25 * (threads - i) for i in range(threads)]
        order = [f.result() for f in as_completed(
            [client.submit(slow_identity, i, d) for i, d in enumerate(delays)])]
        say(f"7. as_completed yields in finishing order: tasks {list(range(threads))} sleeping {delays} s "
            f"(one per thread, all at once) came back as {order}")
        del futures, results
    say(f"Done in {time.perf_counter() - t0:.2f} s; the cluster is stopped.")


if __name__ == "__main__":
    main()
