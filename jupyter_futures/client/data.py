"""Moving data between the client and the workers: ``gather`` and ``scatter``, worker connections."""
from __future__ import annotations

import asyncio
import logging
import queue
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, Callable

from ..protocol import messages, serialize
from ..protocol.comm import Comm
from ..protocol.connect import cached_connection, connect
from ..protocol.durations import parse_duration
from ..protocol.eventloop import sync
from .future import Future, FutureState
from .keys import data_key
from .options import check_direct, per_call_mode
from .payload import serialize_value
from .structure import find_futures, map_structure
from .table import FutureTable

logger = logging.getLogger("jupyter_futures.client")


class DataMovement:
    """The part of ``Client`` that fetches values from workers and puts data on them, and its
    connections to the workers."""

    # What this part uses of the rest of the Client:
    id: str
    timeout: float
    asynchronous: bool
    loop: asyncio.AbstractEventLoop
    scheduler_comm: Comm
    futures: FutureTable
    _token: str | None
    security: Any
    _worker_comms: dict[str, Comm]
    _worker_locks: dict[str, asyncio.Lock]
    _scheduler_info: dict
    _check_open: Callable[[], None]
    _on_batch: Callable[[Comm, list], None]
    _wait_done: Callable[[list[FutureState], float | None], None]
    _value_from_small: Callable[[FutureState], Any]
    loads: Callable[[serialize.Serialized], Any]

    async def _worker(self, address: str) -> Comm:
        return await cached_connection(self._worker_comms, self._worker_locks, address, self._connect_worker)

    async def _connect_worker(self, address: str) -> Comm:
        comm = await connect(address, self._token, timeout=self.timeout, security=self.security)
        comm.start(self._on_batch)  # workers also send task-finished notes
        comm.queue(messages.register_client(self.id, None))
        return comm

    def _meet_worker(self, address: str) -> None:
        """A finished task names a worker (on the loop thread): say hello if we never connected to it."""
        if address not in self._worker_locks:
            self._worker_locks[address] = asyncio.Lock()
            self.loop.create_task(self._connect_workers([address]))

    def worker_connection(self, address: str) -> Comm | None:
        """The open connection to the worker at ``address``; a blocking client connects now if need be,
        an asynchronous one has only those it made already (else None)."""
        comm = self._worker_comms.get(address)
        if comm is not None and not comm.closed:
            return comm
        if self.asynchronous:
            return None
        return sync(self.loop, self._worker, address)

    async def _connect_workers(self, addresses) -> None:
        """Connect to these workers so they can tell us directly when our tasks finish."""
        results = await asyncio.gather(*(self._worker(a) for a in addresses), return_exceptions=True)
        for address, result in zip(addresses, results):
            if isinstance(result, BaseException):
                logger.info("could not connect to worker %s: %s", address, result)

    async def _fetch_values(self, states: list[FutureState]) -> dict[str, Any]:
        """Values of finished keys: small ones from memory, others straight from the workers holding them."""
        out, remote = self._local_values(states)
        if remote:
            out.update(await self._fetch_remote(remote))
        return out

    def _local_values(self, states: list[FutureState]) -> tuple[dict[str, Any], list[FutureState]]:
        """({key: value} of the states whose value is here, the states whose value is on a worker)."""
        out: dict[str, Any] = {}
        remote: list[FutureState] = []
        for st in states:
            if st.has_value:
                out[st.key] = st.value
            elif st.small is not None:
                out[st.key] = self._value_from_small(st)
            else:
                remote.append(st)
        return out, remote

    async def _fetch_remote(self, remote: list[FutureState]) -> dict[str, Any]:
        """Values from the workers holding them, retried elsewhere or recomputed when a holder is gone."""
        out: dict[str, Any] = {}
        attempts = 0
        while remote:
            attempts += 1
            unknown = [st for st in remote if not st.who_has]  # e.g. scattered: the scheduler knows
            if unknown:
                await self._ask_holders(unknown)
            by_worker: dict[str, list[FutureState]] = defaultdict(list)
            for st in remote:
                by_worker[st.who_has[0] if st.who_has else ""].append(st)
            replies = await asyncio.gather(*(self._get_from(w, sts) for w, sts in by_worker.items()),
                                           return_exceptions=True)
            missing: list[FutureState] = []
            lacking: dict[str, list[str]] = {}  # worker -> keys it answered it does not have
            unreachable: set[str] = set()  # (the scheduler hears of it if it died)
            for (worker, sts), reply in zip(by_worker.items(), replies):
                if isinstance(reply, BaseException):
                    reply = {}
                    unreachable.add(worker)
                elif worker and len(reply) < len(sts):
                    lacking[worker] = [st.key for st in sts if st.key not in reply]
                for st in sts:
                    if st.key in reply:
                        out[st.key] = self.loads(reply[st.key])
                    else:
                        missing.append(st)
            if not missing:
                break
            if attempts >= 20:
                raise RuntimeError(f"could not fetch {[st.key for st in missing][:5]} from any worker after "
                                   f"{attempts} attempts: the workers holding them keep failing; see their logs")
            # A holder that lacks a key may have handed it on (rebalance, retire_workers): where is it now?
            await self._ask_holders(missing, skip=lambda st, w: w in unreachable or st.key in lacking.get(w, ()))
            gone = [st for st in missing if not st.who_has]
            for st in gone:  # to be recomputed; one the scheduler told otherwise meanwhile stays as told
                if st.status == "finished":
                    st.reset()
            for worker, keys in lacking.items():  # the scheduler's records stay true: nobody waits forever
                await self.scheduler_comm.request("data_missing", worker, keys)
            if gone:
                await self.futures.wait_async(gone, timeout=None)  # recomputed, or lost (raised here)
                for st in gone:
                    if st.status != "finished":
                        raise st.error()
                    if st.small is not None:
                        out[st.key] = self._value_from_small(st)
            remote = [st for st in missing if st.key not in out]
        return out

    async def _ask_holders(self, states: list[FutureState], skip: Callable | None = None) -> None:
        """Set each state's ``who_has`` to its holders as the scheduler knows them now (one request), but
        those ``skip(state, worker)`` rules out."""
        known = await self.scheduler_comm.request("who_has", [st.key for st in states])
        for st in states:
            holders = known.get(st.key, ())
            st.who_has = [w for w in holders if not skip(st, w)] if skip is not None else list(holders)

    async def _get_from(self, worker: str, states: list[FutureState]) -> dict:
        if not worker:
            return {}
        comm = await self._worker(worker)
        out: dict = {}
        keys = [st.key for st in states]
        while keys:  # a worker replies with a part of its memory limit at most, and names the keys left
            values, keys = await comm.request("get_data", keys)
            out.update(values)
        return out

    @per_call_mode
    def gather(self, futures: Any, errors: str = "raise", direct: bool | None = None) -> Any:
        """Values of futures in any nested list/tuple/dict/set structure, in the same structure."""
        if errors not in ("raise", "skip"):
            raise ValueError(f"gather(errors={errors!r}): use 'raise' or 'skip'")
        check_direct("gather", direct)
        if hasattr(futures, "__next__"):
            return (self.gather(f, errors=errors) for f in futures)
        self._check_open()
        states = [f.state for f in find_futures(futures)]
        if self.asynchronous:
            return self._gather_async(futures, states, errors)
        self._wait_done(states, None)
        finished, failed = _outcomes(states, errors)
        values, remote = self._local_values(finished)  # here, in this thread: no hop to the loop
        if remote:
            values.update(sync(self.loop, self._fetch_remote, remote))
        return _fill(futures, values, failed)

    async def _gather_async(self, futures: Any, states: list[FutureState], errors: str) -> Any:
        await self.futures.wait_async(states)
        finished, failed = _outcomes(states, errors)
        return _fill(futures, await self._fetch_values(finished), failed)

    @per_call_mode
    def scatter(self, data: Any, workers: Any = None, broadcast: bool = False, direct: bool | None = None,
                hash: bool = True, timeout: float | None = None) -> Any:
        """Send data to workers; returns futures in the same shape, as dask's: a list, tuple, set, frozenset,
        namedtuple or range gives one future per element (a range: a list), a dict one per value under its
        key, anything else (a string, bytes, an array, a subclass of those collections) one future."""
        check_direct("scatter", direct)
        if isinstance(data, (Iterator, queue.Queue)):
            raise TypeError(f"scatter() takes a list, tuple, set, dict or one object, not an iterator or a queue "
                            f"({type(data).__name__}), as dask's: scatter list(...) of it")
        timeout = parse_duration(timeout)
        self._check_open()
        values, names, shape = scatter_items(data)
        if isinstance(workers, str):
            workers = [workers]
        sers = [serialize_value(v) for v in values]

        async def _run():
            targets = await self._scatter_targets(workers)
            # Values go out under keys nothing else uses. A named or hashed key may be one released a
            # moment ago, whose "free" is still on its way from the scheduler to the worker: the
            # scheduler gives the values their keys, on its own connection to the worker, after it.
            keys = [data_key(v, False) for v in values]
            hashing = None
            if names is None and hash:
                # Hash on other threads while the data is already on its way.
                hashing = asyncio.get_running_loop().run_in_executor(
                    None, lambda: [data_key(v, True, ser) for v, ser in zip(values, sers)])
            placement: dict[str, dict] = defaultdict(dict)
            for i, (k, ser) in enumerate(zip(keys, sers)):
                for w in (targets if broadcast else [targets[i % len(targets)]]):
                    placement[w][k] = ser
            comms = {w: await self._worker(w) for w in placement}
            sent = await asyncio.gather(*(comms[w].request("put_data", items) for w, items in placement.items()))
            final = names if names is not None else (await hashing if hashing is not None else keys)
            # Held before the scheduler hears of them: a release of the same keys, pending since their
            # old futures were dropped, is then not sent after this.
            futures = [Future(k, self) for k in final]
            renames = {old: new for old, new in zip(keys, final) if old != new}
            await asyncio.gather(*(self.scheduler_comm.request(
                "update_data", w, {renames.get(k, k): fact for k, fact in sizes.items()},
                {k: renames[k] for k in sizes if k in renames}) for w, sizes in zip(placement, sent)))
            facts = {renames.get(k, k): fact for sizes in sent for k, fact in sizes.items()}  # (nbytes, type)
            for f in futures:
                f.state.nbytes, f.state.type_name = facts[f.key]
                f.state.set_status("finished")
            return shape(futures)

        if self.asynchronous:
            return _run()
        return sync(self.loop, _run, timeout=timeout)

    async def _scatter_targets(self, workers: list | None) -> list[str]:
        """Workers to scatter to, least loaded first."""
        info = await self.scheduler_comm.request("identity")
        self._scheduler_info = info
        targets = list(info["workers"])
        if workers:
            wanted = set(workers)
            targets = [a for a, w in info["workers"].items() if a in wanted or w["name"] in wanted]
            if not targets:
                raise ValueError(f"scatter(workers={workers!r}): no such workers; have {list(info['workers'])}")
        if not targets:
            raise RuntimeError("scatter(): the cluster has no workers; wait for workers or scale the cluster up")
        return sorted(targets, key=lambda a: info["workers"][a]["nbytes"])


def scatter_items(data: Any) -> tuple[list, list[str] | None, Callable[[list[Future]], Any]]:
    """(the values to scatter, their keys when ``data`` names them, a function putting their futures in
    ``data``'s shape). As dask's ``scatter``, only these exact types are collections: a subclass of dict
    or list (a scikit-learn Bunch...) is one value, and keeps its type on the worker."""
    kind = type(data)
    if kind is range:
        return list(data), None, list
    if kind is dict:
        return list(data.values()), [str(k) for k in data], lambda futures: dict(zip(data, futures))
    if kind in (list, tuple, set, frozenset):
        return list(data), None, kind
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # a namedtuple: its own type, of futures
        return list(data), None, lambda futures: kind(*futures)
    return [data], None, lambda futures: futures[0]


def _outcomes(states: list[FutureState], errors: str) -> tuple[list[FutureState], set[str] | None]:
    """(the finished states, the keys of the others); raises the first error when ``errors="raise"``."""
    finished = [st for st in states if st.status == "finished"]
    if len(finished) == len(states):
        return finished, None
    failed = [st for st in states if st.status != "finished"]
    if errors == "raise":
        raise failed[0].error()
    return finished, {st.key for st in failed}


def _fill(futures: Any, values: dict[str, Any], failed: set[str] | None) -> Any:
    """``futures``' structure with values in place of futures; the ``failed`` ones left out (or None)."""
    if failed:
        return map_structure(futures, lambda f: values.get(f.key), skip_keys=failed)
    return map_structure(futures, lambda f: values[f.key])
