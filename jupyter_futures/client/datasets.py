"""Published datasets, as dask's ``publish_dataset``: named values (futures inside them included) kept
by the scheduler for every client, after their publisher left too, until unpublished."""
from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Callable, Iterator

from ..protocol import serialize
from ..protocol.comm import Comm
from .coordination import pack_value

_NO_DEFAULT = object()


class PublishedDatasets:
    """Mixin of ``Client``: ``publish_dataset``, ``get_dataset``, ``list_datasets``, ``unpublish_dataset``,
    ``datasets``."""

    # What this part uses of the rest of the Client:
    asynchronous: bool
    scheduler_comm: Comm | None
    request: Callable[..., Any]
    sync: Callable[..., Any]
    loads: Callable[[serialize.Serialized], Any]

    def publish_dataset(self, *args: Any, name: str | None = None, override: bool = False, **kwargs: Any):
        """Publish ``publish_dataset(x=future, ...)``, or ``publish_dataset(value, name="x")``. A name taken
        already is a KeyError unless ``override=True``."""
        if args:
            if name is None or len(args) != 1:
                raise ValueError("publish_dataset(value, name='x') publishes one value under a name; "
                                 "or give names as keywords: publish_dataset(x=value)")
            kwargs = {name: args[0], **kwargs}
        packed = [pack_value(value) for value in kwargs.values()]
        # request() sends what this client queued first: the futures' submissions come before.
        return self.request("dataset_publish", list(kwargs), [p[0] for p in packed], [p[1] for p in packed],
                             override)

    def get_dataset(self, name: str, default: Any = _NO_DEFAULT) -> Any:
        """The value published as ``name``: KeyError if there is none (or ``default``, if given)."""
        async def _get():
            try:
                blob = await self.scheduler_comm.request("dataset_get", name)
            except KeyError:
                if default is _NO_DEFAULT:
                    raise
                return default
            return self.loads(blob)
        return self.sync(_get)

    def list_datasets(self) -> Any:
        """The published names, sorted."""
        return self.request("dataset_names")

    def unpublish_dataset(self, name: str) -> Any:
        """Remove ``name`` (KeyError if it is not published); its futures may then be freed."""
        return self.request("dataset_unpublish", name)

    @property
    def datasets(self) -> Datasets:
        """The published datasets as a mapping (blocking clients only)."""
        if self.asynchronous:
            raise TypeError("client.datasets is for blocking clients; in async code use "
                            "`await client.get_dataset(name)`, `publish_dataset`, `list_datasets`, `unpublish_dataset`")
        return Datasets(self)


class Datasets(MutableMapping):
    """``client.datasets``: ``client.datasets["x"] = future``, ``client.datasets["x"]``, ``del``, ``list``."""

    def __init__(self, client: Any):
        self._client = client

    def __getitem__(self, name: str) -> Any:
        return self._client.get_dataset(name)

    def __setitem__(self, name: str, value: Any) -> None:
        self._client.publish_dataset(value, name=name)

    def __delitem__(self, name: str) -> None:
        self._client.unpublish_dataset(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._client.list_datasets())

    def __len__(self) -> int:
        return len(self._client.list_datasets())
