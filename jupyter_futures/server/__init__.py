"""The Jupyter server extension: cluster registry view, cluster manager, REST, live feed, worker kernels.

Loaded by jupyter_server through ``jupyter_futures._jupyter_server_extension_points``; see
``docs/jupyter-api.md`` for the API it serves.
"""
