"""Training a grid's cells side by side, each in its own worker process (`runtime.cells`).

A grid of small models does not keep a CPU busy: one cell's step is many small operations, and torch's
threads wait on each other between them. On this project's 2-core machine two cells on one thread each
trained crnn-mel at 0.114 s per step between them, against 0.158 s for one cell on two threads
(benchmarks/grid.py times the whole default run). Each worker loads the grid's data once (the speech
regions come from the cache the parent's setup filled) and trains the cells it is handed; a cell's
folder is written by `pipeline.run_cell` exactly as in a one-at-a-time run, metrics.json last, so a
run killed at any moment resumes the same way. Resources (latency, throughput) are measured afterwards
by the parent, one cell at a time, so that no timing is taken beside another cell's training.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from . import config as C
from .errors import VoxprintError
from .rundir import Cell
from .schema import _cores as cores  # the CPU cores this process may run on: the count the server's limits use

log = logging.getLogger(__name__)

_GRID: dict = {}  # a worker's loaded grid data, built once by _start_worker


def _uses_accelerator(rt: C.RuntimeConfig) -> bool:
    if rt.accelerator == "cpu":
        return False
    if rt.accelerator != "auto":
        return True
    import torch

    return torch.cuda.is_available()


def plan(cfg: C.Config, todo: int) -> tuple[int, int | None]:
    """(worker processes, torch threads per worker) for training `todo` cells. runtime.cells 0 (auto):
    on a CPU one cell per core, one thread each (runtime.threads, when set, gives each worker that many);
    with a GPU or another accelerator one cell at a time, as Lightning places it. 1 worker means the
    cells train in this process."""
    rt = cfg.runtime
    if rt.cells:
        n = rt.cells
    else:
        n = 1 if _uses_accelerator(rt) else cores()
    n = max(1, min(n, todo))
    if n == 1:
        return 1, rt.threads
    return n, rt.threads or max(1, cores() // n)


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the run's process dies (kill -9 included), so that a
    resumed run never trains a cell beside an orphan still writing the same folder."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _start_worker(load: Callable, cfg: C.Config, threads: int | None, level: int) -> None:
    from .log import setup

    _die_with_parent()
    setup(level)
    if threads:
        import torch

        torch.set_num_threads(threads)
    _GRID["data"] = load(cfg)


def _train_one(train: Callable, cfg: C.Config, cell: Cell, out: Path) -> dict:
    try:
        return train(cfg, cell, out, _GRID["data"])
    except VoxprintError as e:  # one line for the user, and an exception that pickles back whatever its class
        raise VoxprintError(f"{cell.name}: {e}") from None


def train_side_by_side(cfg: C.Config, todo: list[Cell], out: Path, workers: int, threads: int | None,
                       load: Callable, train: Callable, done: Callable[[Cell, dict], None]) -> None:
    """Train `todo` in `workers` processes; `done(cell, metrics)` as each finishes (in finishing order).
    `load(cfg)` -> the grid's data, once per worker; `train(cfg, cell, out, data)` -> a cell's metrics.
    Both are module-level functions (pickled by name): pipeline.worker_data and pipeline.run_cell."""
    import copy
    import multiprocessing

    cfg = copy.deepcopy(cfg)
    cfg.runtime.threads = threads  # train() sets each worker's torch threads from it
    log.info(f"training {len(todo)} cells side by side: {workers} processes, {threads} torch thread(s) each")
    # spawn, not fork: a forked copy of a process whose torch/OpenMP threads have started can hang
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_start_worker,
                             initargs=(load, cfg, threads, logging.getLogger().getEffectiveLevel())) as pool:
        futures = {pool.submit(_train_one, train, cfg, cell, out): cell for cell in todo}
        try:
            for f in as_completed(futures):
                done(futures[f], f.result())
        except BaseException:
            for f in futures:
                f.cancel()
            raise
