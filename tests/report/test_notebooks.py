"""The notebooks run top to bottom on the shipped samples (nbclient, a real Jupyter kernel)."""
from __future__ import annotations


import nbformat
import pytest
from nbclient import NotebookClient

from report.data import NOTEBOOKS

#: notebook -> how many figures it must show
NOTEBOOK_FIGURES = {"phases.ipynb": 5, "locust_history.ipynb": 2, "experiments.ipynb": 3}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(NOTEBOOK_FIGURES))
def test_notebook_runs(name, tmp_path, monkeypatch):
    # the experiments notebook reads ../results when there are runs: make it use the samples
    monkeypatch.setenv("INFERWIRE_SWEEP_DIR", str(tmp_path / "no-results"))
    for var in ("INFERWIRE_SOURCE", "INFERWIRE_KEYLOG", "INFERWIRE_LOCUST_HISTORY"):
        monkeypatch.delenv(var, raising=False)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    stderr = [o["text"] for o in outputs if o.get("name") == "stderr"]
    assert not stderr, stderr
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) == NOTEBOOK_FIGURES[name]


def test_notebooks_are_stored_without_outputs():
    """Outputs would go stale and bloat the repository: the notebooks ship clean."""
    for name in NOTEBOOK_FIGURES:
        path = NOTEBOOKS / name
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name
