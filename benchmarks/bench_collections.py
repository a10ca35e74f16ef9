"""dask collections of many small tasks, computed with ``dask.compute`` on whichever client is open
(jupyter_futures' or dask.distributed's): a dask.delayed workload and a dask.array workload."""

from bench_timing import median, result, warm_then_timed


def bench_dask_delayed(client, n, repeats):
    """``n`` delayed inc calls summed by one more; wall seconds (median) of ``dask.compute``."""
    import dask
    from dask import delayed

    from bench_tasks import inc

    def once():
        total = delayed(sum)([delayed(inc)(i) for i in range(n)])
        assert dask.compute(total)[0] == n * (n + 1) // 2

    first, times = warm_then_timed(once, repeats)
    return result(median(times), "s", seconds=times, n=n, first_round_seconds=first)


def bench_dask_array(client, side, chunk, repeats):
    """``(ones((side, side), chunks=chunk) + 1).sum()``: (side/chunk)^2 chunk tasks and a reduction
    tree; wall seconds (median) of ``.compute()``."""
    import dask.array as da

    def once():
        x = da.ones((side, side), chunks=(chunk, chunk))
        assert (x + 1).sum().compute() == 2 * side * side

    first, times = warm_then_timed(once, repeats)
    return result(median(times), "s", seconds=times, chunks=(side // chunk) ** 2, first_round_seconds=first)
