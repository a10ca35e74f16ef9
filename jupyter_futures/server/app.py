"""The Jupyter server extension (``ExtensionApp``): cluster manager, REST, live feed, worker kernels."""
from __future__ import annotations

import os
from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, List, Unicode

from .. import __version__
from ..protocol import registry
from .handlers import handlers
from .hub import FeedHub
from .kernels import WorkerKernels
from .manager import ClusterManager
from .profiles import DEFAULT_PROFILES


class FuturesExtension(ExtensionApp):
    """Lists every jupyter_futures cluster of this machine, starts and manages clusters as processes of
    their own, relays their live state to JupyterLab, and opens consoles on workers."""

    name = "jupyter_futures"
    version = __version__

    stop_clusters_on_exit = Bool(True, config=True,
                                 help="Stop the clusters this server started when it stops. With False they "
                                      "keep running and are listed again after a restart.")
    profiles = List(Dict(), default_value=DEFAULT_PROFILES, config=True,
                    help='Named option sets for new clusters: [{"name", "description", "options": {"workers", '
                         '"threads_per_worker", "memory_limit", "env"}}]; the first is the default.')
    follow_selection = Bool(True, config=True,
                            help="Client() with no address in this server's kernels joins the cluster selected "
                                 "in the sidebar (when one is).")
    worker_kernels = Bool(True, config=True,
                          help="Show worker kernels (opened on request from the sidebar or "
                               "client.open_worker_kernel) in JupyterLab, through the server's external kernels.")
    worker_kernel_dir = Unicode("", config=True,
                                help="Folder for worker kernels' connection files (default: "
                                     "{runtime_dir}/jupyter_futures/external_kernels).")

    def all_profiles(self) -> list[dict]:
        """The configured profiles (at least the default one)."""
        return list(self.profiles) or list(DEFAULT_PROFILES)

    def initialize_settings(self) -> None:
        """Make the manager, the feed hub and the worker-kernel folder, and tell future kernels where
        the registry is."""
        runtime = Path(self.serverapp.runtime_dir)
        self.manager = ClusterManager(runtime / "jupyter_futures" / "logs")
        self.hub = FeedHub(self.manager)
        kernel_manager = self._kernel_manager()  # first: it may tell us the folder the server scans
        self.kernels = WorkerKernels(self.manager, self._worker_kernel_dir(runtime), kernel_manager)
        # Kernels inherit the server's environment: this is how they find the registry and the selection.
        os.environ[registry.REGISTRY_ENV] = str(registry.registry_dir())
        os.environ["JUPYTER_FUTURES_KERNEL_DIR"] = str(self.kernels.connection_dir)
        if self.follow_selection:
            os.environ[registry.FOLLOW_SELECTION_ENV] = "1"
        self.settings.update({
            "jupyter_futures_manager": self.manager, "jupyter_futures_hub": self.hub,
            "jupyter_futures_worker_kernels": self.kernels, "jupyter_futures_profiles": self.all_profiles,
        })
        self.log.info("jupyter_futures %s: cluster registry %s", __version__, registry.registry_dir())

    def _worker_kernel_dir(self, runtime: Path) -> Path:
        return Path(self.worker_kernel_dir or runtime / "jupyter_futures" / "external_kernels")

    def _kernel_manager(self):
        """The server's kernel manager, told to scan our folder for worker kernels (unless the server
        already scans a folder of its own: then worker kernels are written there)."""
        km = getattr(self.serverapp, "kernel_manager", None)
        if km is None or not self.worker_kernels or not hasattr(km, "external_connection_dir"):
            return None
        if km.external_connection_dir is None:
            km.external_connection_dir = str(self._worker_kernel_dir(Path(self.serverapp.runtime_dir)))
        else:
            self.worker_kernel_dir = km.external_connection_dir
        return km

    def initialize_handlers(self) -> None:
        """The REST and websocket routes."""
        self.handlers.extend(handlers())

    def current_activity(self):
        """The clusters this server started, while any runs: an idle-culling server stays up for them."""
        return [r["id"] for r in self.manager.made_here()] or None

    async def stop_extension(self) -> None:
        """Stop the clusters this server started (unless ``stop_clusters_on_exit`` is False)."""
        self.hub.close()
        await self.manager.close(self.stop_clusters_on_exit)
