"""``inferwire report``: everything about one run (or capture) into one folder.

The shell around the report modules: it reads the run, draws the plots once, and writes
``report.html`` (self-contained) with ``figures/*.png``, ``summary.md``, ``requests.har`` and
``annotated.pcapng``.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import InferwireError
from ..files import PRIVATE_DIR, make_private, open_private
from ..runfolder import SUMMARY
from .annotate import annotate_capture
from .har import write_har
from .html import figure_png, phase_table, write_html
from .run import Run, load_run


class _Steps:
    """A progress bar over the report's steps (tqdm), or nothing.  ``steps(name)`` starts a step
    (finishing the one before); ``close()`` finishes the last."""

    def __init__(self, total: int, enabled: bool):
        self.bar, self.started = None, False
        if enabled:
            from tqdm import tqdm  # deferred: tqdm is heavy to import
            self.bar = tqdm(total=total, desc="report", unit="step", leave=False)

    def __call__(self, what: str) -> None:
        if self.bar is not None:
            if self.started:
                self.bar.update(1)
            self.bar.set_postfix_str(what)
            self.started = True

    def close(self) -> None:
        if self.bar is not None:
            self.bar.update(1 if self.started else 0)
            self.bar.close()


def default_out(target: Path) -> Path:
    """A run folder's report goes into ``RUN/report``; a capture's into ``./<name>-report``."""
    return target / "report" if target.is_dir() else Path.cwd() / f"{target.stem}-report"


def build_report(target: str | os.PathLike, out: str | os.PathLike | None = None, *,
                 html: bool = True, har: bool = True, annotate: bool | None = None,
                 tls_keylog=None, decode_as=None, ignore_ports=(),
                 progress: bool = False) -> dict[str, Path]:
    """Write the report of ``target`` (a run folder or a capture file) into ``out`` (default:
    :func:`default_out`); return {what: path} of the files written.  ``annotate``: None = when
    there is a capture file, True = required.  Raises InferwireError when ``target`` cannot be
    read."""
    target = Path(target)
    run = load_run(target, tls_keylog=tls_keylog, decode_as=decode_as,
                   ignore_ports=ignore_ports, progress=progress)
    out_dir = Path(out) if out is not None else default_out(target)
    new_dir = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    if annotate is None:
        annotate = run.capture_path is not None
    steps = _Steps(1 + 2 * html + har + annotate, progress)
    written: dict[str, Path] = {}
    try:
        if html:     # the plots are drawn for the page (and kept as PNG files next to it)
            steps("plots")
            figures = _figures(run, out_dir, written)
        steps("summary")
        written[SUMMARY] = _summary(run, out_dir)
        if har:
            steps("HAR")
            written["har"] = out_dir / "requests.har"
            write_har(run, written["har"])
        if annotate:
            steps("annotated pcapng")
            _annotate(run, out_dir, written, progress)
        if html:
            steps("HTML")
            links = {label: p.relative_to(out_dir) for label, p in written.items()
                     if p.is_relative_to(out_dir)}
            written["html"] = write_html(run, out_dir / "report.html", figures, links)
    finally:
        steps.close()
        # what a report holds comes from the capture: owner-only, like the run folder
        make_private([out_dir] if new_dir else [*written.values(), out_dir / "figures"])
    return written


def _figures(run: Run, out_dir: Path, written: dict) -> dict:
    """Draw every plot once: PNG files in ``out/figures`` and PNG bytes for the page."""
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    figures = {}
    for name, fig in run.plot.available().items():
        if isinstance(fig, str):
            figures[name] = fig
            continue
        png = figure_png(fig)
        (fig_dir / f"{name}.png").write_bytes(png)
        written[f"figures/{name}.png"] = fig_dir / f"{name}.png"
        figures[name] = png
    return figures


def _annotate(run: Run, out_dir: Path, written: dict, progress: bool) -> None:
    if run.capture_path is None:
        raise InferwireError(f"{run.path}: no capture file to annotate")
    dst = out_dir / "annotated.pcapng"
    annotate_capture(run.capture_path, run.table(warmup=True), dst, progress=progress)
    written["annotated pcapng"] = dst


def _summary(run: Run, out_dir: Path) -> Path:
    """The run's own summary.md when it has one, else one made from the capture's tables."""
    dst = out_dir / SUMMARY
    own = run.path / SUMMARY if run.path.is_dir() else None
    if own is not None and own.is_file():
        if own.resolve() != dst.resolve():
            with open_private(dst, "wb") as f:
                f.write(own.read_bytes())
        return dst
    with open_private(dst, "w", encoding="utf-8") as f:
        f.write(capture_summary_md(run))
    return dst


def capture_summary_md(run: Run) -> str:
    """Markdown: the capture's facts and its phase percentiles per protocol (ms)."""
    lines = [f"# inferwire report `{run.name}`", "",
             f"- capture: `{run.capture_path or run.path}`",
             f"- {len(run.requests)} requests on {len(run.connections)} connections, "
             f"{len(run.warnings)} warnings"]
    if run.capture is not None:
        drops = {k: v for k, v in (run.capture.drops or {}).items() if v}
        lines.append(f"- capture drop counters: {drops or 'none in the file'}")
    table = phase_table(run)
    lines += ["", "## Phases seen on the wire (p50 / p90 / p99, ms)", "",
              "| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(False)]
    if run.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in run.warnings[:50]]
    return "\n".join(lines) + "\n"
