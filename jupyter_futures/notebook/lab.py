"""Open JupyterLab on the quickstart notebook: ``python -m jupyter_futures.notebook.lab [NOTEBOOK] [lab options]``.

(Meant to back a ``jupyter-futures lab`` subcommand.) With no notebook it opens
``notebooks/quickstart.ipynb`` of this checkout, whose first cell starts a local cluster.
As root it adds ``--allow-root``, which JupyterLab otherwise demands.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "notebooks" / "quickstart.ipynb"


def build_command(argv: list[str]) -> tuple[str, list[str]]:
    """(directory to run in, command) for ``jupyter lab`` with these arguments."""
    args = list(argv)
    # A notebook or folder to open; "--port 8888" gives a bare word that is neither.
    notebooks = [a for a in args if not a.startswith("-") and (a.endswith(".ipynb") or os.path.exists(a))]
    cwd = os.getcwd()
    if not notebooks and QUICKSTART.exists():
        cwd = str(REPO)
        args.insert(0, str(QUICKSTART.relative_to(REPO)))
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in args:
        args.append("--allow-root")
    return cwd, [sys.executable, "-m", "jupyterlab", *args]


def main(argv: list[str] | None = None) -> None:
    """Replace this process with JupyterLab."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        sys.exit("JupyterLab is not installed: bash .ci/setup-venv notebook (or pip install 'jupyter_futures[notebook]')")
    cwd, cmd = build_command(argv)
    os.chdir(cwd)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
