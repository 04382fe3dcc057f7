"""The findings: docs/findings.md, its figures and notebooks/findings.ipynb, from a sweep folder.

    inferwire findings SWEEP_DIR          # or: from inferwire.findings import generate
"""
from __future__ import annotations

import os
from pathlib import Path
from .notebook import write_notebook


def generate(sweep_dir, doc="docs/findings.md", notebook="notebooks/findings.ipynb") -> list[Path]:
    """Write the findings document (figures in a folder next to it named after it, e.g.
    docs/findings/), a copy of the sweep's points.csv there, and the notebook; returns the paths."""
    from . import answers as A  # deferred: findings.answers imports numpy, pandas
    from . import plots  # deferred: findings.plots imports numpy, pandas
    from .data import load_sweep  # deferred: findings.data imports numpy, pandas
    from .document import render  # deferred: findings.document imports numpy, pandas
    data = load_sweep(sweep_dir)
    doc, notebook = Path(doc), Path(notebook)
    assets = doc.with_suffix("")
    assets.mkdir(parents=True, exist_ok=True)
    written, figures = [], {}
    if not data.points.empty:
        made = {"phase_shares": plots.phase_shares(A.transport_table(data.points),
                                                   assets / "phase_shares.png"),
                "concurrency": plots.concurrency(A.concurrency_table(data.points),
                                                 assets / "concurrency.png"),
                "encodings": plots.encodings(A.encoding_table(data.points),
                                             assets / "encodings.png")}
        figures = {k: os.path.relpath(v, doc.parent) for k, v in made.items() if v}
        written += [v for v in made.values() if v]
        data.points.to_csv(assets / "points.csv", index=False)
        written.append(assets / "points.csv")
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(render(data, figures))
    written.insert(0, doc)
    written.append(write_notebook(data.sweep_dir, notebook))
    return written


__all__ = ["generate"]
