"""Work spread over processes the same way everywhere (dataset build, rendering, detection): each process makes its
state once (``make(*args)``: a body model, a renderer, a detector; these are not shared between processes), then
``work(state, item)`` runs per item. With one worker everything runs here, in order."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from hipart.errors import HipartError

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

_STATE: Any = None  # the worker process's state, made by its initializer


def threads_per_worker(workers: int) -> int | None:
    """Intra-op threads for each of ``workers`` processes sharing this machine's cores (None: leave as is)."""
    return max(1, (os.cpu_count() or 1) // workers) if workers > 1 else None


def _init(make: Callable[..., Any], args: tuple) -> None:
    global _STATE
    _STATE = make(*args)


def _call(work: Callable[[Any, Any], Iterable[Any]], item: Any) -> list[Any]:
    return list(work(_STATE, item))


def parallel_map(make: Callable[..., S], args: tuple, work: Callable[[S, T], Iterable[R]], items: Sequence[T],
                 workers: int = 1) -> Iterator[R]:
    """Every result of ``work(state, item)`` (an iterable per item) for every item: here, in order and as each is
    produced, with one worker; else in ``workers`` spawned processes, item by item in completion order. ``make``
    and ``work`` must be module-level functions (they are pickled). When an item fails, or the caller stops
    reading, the items not started are cancelled."""
    if workers < 1:
        raise HipartError(f"--workers must be at least 1, got {workers}")
    if workers == 1:
        state = make(*args)
        for item in items:
            yield from work(state, item)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init,
                             initargs=(make, args)) as pool:
        futures = [pool.submit(_call, work, item) for item in items]
        try:
            for future in as_completed(futures):
                yield from future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
