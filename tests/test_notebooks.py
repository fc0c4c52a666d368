"""Every notebook in notebooks/ runs top to bottom, in a fresh kernel, as a reader would run it."""

import asyncio
from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def executed() -> dict[str, nbformat.NotebookNode | Exception]:
    """Every notebook run at once, each in its own "python3" kernel with notebooks/ as working folder.

    A kernel spends most of its time importing TensorFlow and building models on one core,
    so running them together uses both cores of a small machine. notebook stem -> the
    executed notebook, or the error (a CellExecutionError names the failing cell).
    """
    async def execute(path: Path) -> nbformat.NotebookNode:
        notebook = nbformat.read(path, as_version=4)
        await nbclient.NotebookClient(notebook, kernel_name="python3", timeout=300,
                                      resources={"metadata": {"path": str(path.parent)}}).async_execute()
        return notebook

    async def execute_all() -> list:
        return await asyncio.gather(*map(execute, NOTEBOOKS), return_exceptions=True)

    return dict(zip((path.stem for path in NOTEBOOKS), asyncio.run(execute_all())))


def test_the_tagging_and_features_notebooks_are_there_without_outputs():
    assert {path.name for path in NOTEBOOKS} >= {"tagging.ipynb", "features.ipynb"}
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        assert all(not cell.outputs and cell.execution_count is None for cell in cells if cell.cell_type == "code"), \
            f"{path.name} is committed with outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_top_to_bottom_and_draws(executed, path):
    notebook = executed[path.stem]
    if isinstance(notebook, Exception):
        raise notebook
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert all(output.output_type != "error" for output in outputs)
    assert sum("image/png" in output.get("data", {}) for output in outputs) >= 3
