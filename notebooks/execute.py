"""Execute notebooks in place and save them with their outputs, as committed (``make notebooks``).

    python notebooks/execute.py                       # all four
    python notebooks/execute.py notebooks/02_*.ipynb  # some

``SCALING_SMOKE=1`` unless set: figures from the committed ``results/``, training smoke-sized in
temporary directories (each notebook's first cell says what its saved outputs show). nbclient runs
each notebook from its own directory, as Jupyter does. The saved file keeps no timings (nbclient's
per-cell ``execution`` metadata) and the notebook's own metadata, not the executing Python's
version, so executing an unchanged notebook again changes only what its cells print.
"""

import copy
import os
import pathlib
import sys

import nbclient
import nbformat


def execute(path: pathlib.Path, timeout: int = 1800) -> None:
    """Run every cell of the notebook at ``path`` (an error stops it, nothing written) and save it."""
    nb = nbformat.read(path, as_version=4)
    metadata = copy.deepcopy(nb.metadata)
    nbclient.NotebookClient(nb, timeout=timeout, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    nb.metadata = metadata
    nbformat.write(nb, path)


def main(paths: list[str]) -> None:
    os.environ.setdefault("SCALING_SMOKE", "1")
    for path in paths or sorted(pathlib.Path(__file__).parent.glob("*.ipynb")):
        print(f"executing {path}", flush=True)
        execute(pathlib.Path(path))


if __name__ == "__main__":
    main(sys.argv[1:])
