"""Chaos: a worker is SIGKILLed every 2 s while a job of thousands of dependent tasks runs. Every
result must come back, correct, and the cluster must end with all its workers."""
import os
import random
import signal
import threading
import time

from jupyter_futures import Client, wait
from procs import TIMEOUT

KILL_EVERY = 2.0  # seconds, as in the chaos run
WIDTH = 400  # tasks per layer
LAYERS = 5  # 2,000 tasks, each but the first layer with two inputs from the layer before


def slow_inc(x):
    time.sleep(0.01)
    return x + 1


def slow_add(a, b):
    time.sleep(0.01)
    return a + b


def expected_layers():
    layer = [i + 1 for i in range(WIDTH)]
    layers = [layer]
    for _ in range(LAYERS - 1):
        layer = [layer[i] + layer[(i + 1) % WIDTH] for i in range(WIDTH)]
        layers.append(layer)
    return layers


def kill_a_worker_every(client, period, stop, killed):
    rng = random.Random(11)
    while not stop.wait(period):
        pids = [w["pid"] for w in client.scheduler_info()["workers"].values()]
        if pids:
            pid = rng.choice(pids)
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass


def test_every_result_is_correct_while_a_worker_is_killed_every_two_seconds():
    with Client(n_workers=3, threads_per_worker=1) as client:
        client.wait_for_workers(3, timeout=TIMEOUT)
        layer = client.map(slow_inc, range(WIDTH), pure=False)
        layers = [layer]
        for _ in range(LAYERS - 1):
            layer = [client.submit(slow_add, layer[i], layer[(i + 1) % WIDTH], pure=False) for i in range(WIDTH)]
            layers.append(layer)
        stop, killed = threading.Event(), []
        killer = threading.Thread(target=kill_a_worker_every, args=(client, KILL_EVERY, stop, killed))
        killer.start()
        try:
            done, not_done = wait([f for layer in layers for f in layer], timeout=120)
        finally:
            stop.set()
            killer.join()
        assert not not_done, f"{len(not_done)} of {WIDTH * LAYERS} tasks never finished"
        assert [client.gather(layer) for layer in layers] == expected_layers()
        assert len(killed) >= 2, "the job ended before the kills began: make it longer"
        client.wait_for_workers(3, timeout=TIMEOUT)  # the nannies brought every worker back
        assert client.submit(slow_inc, 41).result(timeout=TIMEOUT) == 42
