"""Execute the notebooks in place on the demo zoos, so that they are committed with their
outputs (`make notebooks`). Figures are kept as plotly JSON (the `plotly_mimetype` renderer),
which JupyterLab and VS Code draw, without a copy of plotly.js in every notebook.

`python notebooks/execute.py [NAME ...]`; each notebook builds the models it needs if they
are missing (`INTERP_BUILD`), as when it is run by hand.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
TAGS = {"vision": "vision-demo"}  # every other notebook reads the NLI `demo` zoo
MAX_BYTES = 2 * 2**20


def execute(name: str) -> tuple[float, int]:
    """Run one notebook from a clean state and write it back; (seconds, bytes)."""
    path = HERE / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    os.environ["INTERP_TAGS"] = TAGS.get(name, "demo")
    os.environ["PLOTLY_RENDERER"] = "plotly_mimetype"
    started = time.perf_counter()
    NotebookClient(
        notebook, timeout=1200, kernel_name="python3", resources={"metadata": {"path": HERE}}
    ).execute()
    seconds = time.perf_counter() - started
    nbformat.write(notebook, path)
    return seconds, path.stat().st_size


def main(names: list[str]) -> int:
    names = names or sorted(p.stem for p in HERE.glob("*.ipynb"))
    too_large = []
    for name in names:
        seconds, size = execute(name)
        print(f"{name}.ipynb: {seconds:.0f} s, {size / 2**20:.2f} MB")
        if size > MAX_BYTES:
            too_large.append(name)
    if too_large:
        print(f"over {MAX_BYTES // 2**20} MB: {', '.join(too_large)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
