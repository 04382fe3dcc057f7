"""Many captures (or capture runs) analyzed in parallel with Dask.

``analyze_many(paths)`` runs :func:`inferwire.analyze` once per item: in local worker processes
by default (Dask's multiprocessing scheduler: analysis is CPU-bound Python, so threads would
share one GIL), in threads with ``processes=False``, or on a running ``dask.distributed``
cluster when ``scheduler`` is its address (``tcp://host:8786``; every worker needs inferwire
installed and the capture paths readable).  Each item is analyzed exactly as the serial path
does it, so the results are the same.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import tempfile
import warnings
from typing import NamedTuple

from ..errors import InferwireError, InferwireWarning
from ..extras import require
from ..files import owned_tempdir
from ..runfolder.probe import with_run_probe
from .pipeline import analyze
from .workers import fork_is_safe


def analyze_many(paths, *, scheduler: str | None = None, processes: bool = True,
                 workers: int | None = None, connect_timeout_s: float = 10.0,
                 out: str | os.PathLike | None = None, **analyze_options) -> dict:
    """Analyze each item of ``paths`` on its own; return ``{item: Analysis or exception}``.

    An item is whatever :func:`inferwire.analyze` takes: a file, a directory (a run folder or
    a ring-buffer set), or a list of files (used as the key as a tuple).  A run folder's capture
    probe port (from its manifest) is left out, as :func:`with_run_probe` says.  A capture that cannot
    be analyzed maps to the exception it raised (e.g. a CaptureFormatError naming the file and
    offset) and the others still finish.  ``analyze_options`` (``ignore_ports``, ``decode_as``,
    ``tls_keylog``) apply to every item.  ``workers``: local processes/threads (default: one per
    CPU).  ``connect_timeout_s``: how long to try reaching ``scheduler``.  Keys keep the order of
    ``paths``.

    ``out``: a folder; each item's tables are written (:meth:`Analysis.save`) into its own
    subfolder (:func:`out_folders`): on a local pool by the worker that analyzed it, so the
    writing is shared out too; with ``scheduler``, by this process (a cluster's workers may not
    see the folder).  An item whose tables cannot be written maps to an InferwireError naming
    the file.
    """
    require("dask", "distributed", what="analyze_many (analysis on Dask)")
    import dask  # deferred: dask is optional (the parallel extra)

    items = [tuple(p) if isinstance(p, (list, tuple)) else p for p in paths]
    if len(set(map(_key, items))) != len(items):
        raise InferwireError("the same capture is listed twice in paths")
    folders = out_folders(items, out) if out is not None else {}
    if scheduler is not None:
        tasks = [dask.delayed(analyze_one, pure=False)(item, analyze_options) for item in items]
        results = _on_cluster(tasks, scheduler, connect_timeout_s)
        if folders:
            results = [saved(r, folders[item]) for item, r in zip(items, results)]
    else:
        pool = workers or os.cpu_count() or 1
        options = {"workers": inner_workers(pool, os.cpu_count() or 1), **analyze_options}
        with _spool_folder(processes) as spool:
            tasks = [dask.delayed(analyze_one, pure=False)(item, options, spool,
                                                           folders.get(item))
                     for item in items]
            # chunksize=1: one capture per dispatch (Dask batches 6 by default, which put a
            # short list of long tasks all on one worker)
            with dask.config.set({"multiprocessing.context": start_method()}):
                results = dask.compute(*tasks, scheduler="processes" if processes else "threads",
                                       num_workers=pool, chunksize=1)
            results = [unspool(r) for r in results]
    return dict(zip(items, results))


def inner_workers(pool: int, cpus: int) -> int | str:
    """The ``workers`` each capture's :func:`analyze` gets on a local pool of ``pool`` workers:
    the CPUs left to each (1 when the pool has one per CPU: a capture's own forks would only
    contend with the other captures' for the same cores), else ``"auto"``.  Measured on 8
    captures of 84 MB, 2 CPUs: Dask on 2 processes 1.45x one process with each capture forking
    its own workers, 1.62-1.64x with one each (benchmarks/bench_parallel.py)."""
    return "auto" if pool <= 1 else max(1, cpus // pool)


#: The spool folders' names: this, the process id, a random part (a killed process's folder is
#: removed by the next run: :func:`~inferwire.files.owned_tempdir`).
SPOOL_PREFIX = "inferwire-many-"


@contextlib.contextmanager
def _spool_folder(processes: bool):
    """A temporary folder (0700, removed after) for the workers' results, or None for threads
    or when none can be made (a full or missing temporary folder: the results then come
    through the pool's pipe)."""
    if not processes:
        yield None
        return
    try:
        folder = owned_tempdir(SPOOL_PREFIX)
    except OSError:
        yield None
        return
    try:
        yield str(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def start_method() -> str:
    """How the local pool's processes start: ``fork`` where that is safe (one thread, as
    :func:`~inferwire.analysis.workers.fork_is_safe` says), else ``spawn`` (Dask's default).
    A forked worker has inferwire imported already; a spawned one imports it again, which cost
    0.8 s of wall and 1.2 s of CPU for a pool of 2 here (benchmarks/bench_parallel.py)."""
    return "fork" if fork_is_safe() else "spawn"


def out_folders(items: list, out: str | os.PathLike) -> dict:
    """A distinct output folder in ``out`` per item: its file or directory name without the
    capture suffix, numbered when two items share one (``a``, ``a-2``)."""
    folders, taken = {}, set()
    for item in items:
        base = os.path.basename(os.path.normpath(os.fspath(item[0] if isinstance(item, tuple)
                                                           else item))) or "capture"
        for suffix in (".pcapng", ".pcap", ".cap"):
            if base.endswith(suffix) and len(base) > len(suffix):
                base = base[: -len(suffix)]
        name, n = base, 1
        while name in taken:            # (a capture may itself be called "a-2")
            n += 1
            name = f"{base}-{n}"
        taken.add(name)
        folders[item] = os.path.join(out, name)
    return folders


def saved(result, folder: str | None):
    """``result`` (an Analysis or an exception) with its tables written into ``folder`` (if
    given and it is an Analysis); a write failure (a full disk, a file in the folder's place) as
    an InferwireError naming what could not be written."""
    if folder is None or isinstance(result, BaseException):
        return result
    try:
        result.save(folder)
    except OSError as exc:
        return InferwireError(f"cannot write {exc.filename or folder}: {exc.strerror or exc}")
    return result


def analyze_one(item, options: dict, spool: str | None = None, folder: str | None = None):
    """One item's Analysis, or the exception it raised (the worker side of analyze_many).

    Warnings are not shown here (a worker's output is lost); they are in ``Analysis.warnings``.
    With ``folder``, its tables are written there first (:func:`saved`).  With ``spool`` (a
    local process pool's folder), the Analysis is pickled to a file there (0600) and a
    :class:`Spooled` naming it is returned instead: a result of ~100 MB through
    the pool's pipe kept both worker processes idle ~0.5 s per capture here, while Dask's
    parent read one result after the other; written to a file it costs a tenth of that.  A
    file that cannot be written (a full disk) sends the Analysis through the pipe after all.
    """
    path = list(item) if isinstance(item, tuple) else item
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InferwireWarning)
            result = analyze(path, **with_run_probe(path, options))
    except Exception as exc:          # one bad capture must not lose the others' results
        return exc
    result = saved(result, folder)
    if spool is None or isinstance(result, BaseException):
        return result
    return _spooled(result, spool)


class Spooled(NamedTuple):
    """A result left in a file by :func:`analyze_one` (read back by :func:`unspool`)."""
    path: str


def _spooled(result, spool: str):
    """``result`` pickled to a new file (mode 0600) in ``spool``, as a :class:`Spooled`; or
    ``result`` itself when the file cannot be written."""
    path = None
    try:
        fd, path = tempfile.mkstemp(dir=spool, suffix=".pickle")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(result, f, protocol=5)
    except Exception:               # a full disk; a result plain pickle cannot take
        # (cloudpickle, which Dask uses for the pipe, may)
        if path is not None:
            with contextlib.suppress(OSError):
                os.unlink(path)
        return result
    return Spooled(path)


def unspool(result):
    """``result`` as :func:`analyze_one` returned it, read back from its file if spooled (the
    file is removed)."""
    if not isinstance(result, Spooled):
        return result
    try:
        with open(result.path, "rb") as f:
            return pickle.load(f)
    finally:
        os.unlink(result.path)


def _on_cluster(tasks, address: str, timeout_s: float) -> list:
    """Run ``tasks`` on the dask.distributed scheduler at ``address``."""
    try:
        from distributed import Client  # deferred: distributed is optional (parallel)
    except ImportError as exc:
        raise InferwireError("--scheduler needs dask.distributed: pip install "
                             "'dask[distributed]'") from exc
    try:
        client = Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InferwireError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
    with client:
        return client.gather(client.compute(tasks))


def _key(item) -> str:
    if isinstance(item, tuple):
        return "\0".join(os.path.realpath(os.fspath(p)) for p in item)
    return os.path.realpath(os.fspath(item))
