"""The Jupyter server extension: cluster manager, REST handlers, dashboard proxy."""
