"""The notebooks are stored with their outputs (notebooks/execute.py), free of stderr and timing
metadata; `make test` executes them (pytest --nbmake, SCALING_SMOKE=1)."""

import nbformat
import pytest
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_four_notebooks_exist():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_with_outputs_and_no_noise(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert any(cell.outputs for cell in code)
    for cell in code:
        assert "execution" not in cell.metadata, cell.source[:60]
        assert not [o for o in cell.outputs if o.get("name") == "stderr"], cell.source[:60]
    assert nb.metadata["kernelspec"]["name"] == "python3"
