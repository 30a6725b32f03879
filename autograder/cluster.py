"""Run gradings on Dask: a LocalCluster for ``-j N`` on one machine, or a cluster by address.

    for key, result, error in run_on_dask(jobs, workers=2):                 # this machine
    for key, result, error in run_on_dask(jobs, address="tcp://head:8786"):   # a cluster

A job is ``(key, args)`` for ``grade_remote(*args)``; results come back as they finish.
Workers of a cluster need this course repository (the same commit) and its environment:
start them with ``dask worker tcp://head:8786 --nthreads 1``, adding ``--resources GPU=1``
on machines with a GPU. Gradings on CUDA ask for that resource, so the scheduler sends them
only there. A worker that dies mid-submission (killed, out of memory, its machine gone)
costs a retry, not a result: the scheduler hands its task to another worker, up to
``distributed.scheduler.allowed-failures`` times (dask's default: 3).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


class ClusterError(RuntimeError):
    pass


@contextlib.contextmanager
def local_cluster(workers: int, *, gpu: bool = False) -> Iterator[str]:
    """A Dask LocalCluster of ``workers`` single-threaded worker processes; yields its address."""
    from distributed import LocalCluster
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      resources={"GPU": 1} if gpu else None) as cluster:
        yield cluster.scheduler_address


def _gpu_workers(client) -> int:
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    return sum(1 for worker in workers if worker.get("resources", {}).get("GPU", 0) >= 1)


def run_on_dask(jobs: list[tuple[str, tuple]], func: Callable, *, address: str | None = None, workers: int = 2,
                gpu: bool = False) -> Iterator[tuple[str, dict | None, str | None]]:
    """Yield ``(key, func(*args), None)`` or ``(key, None, why it failed)`` per job, as each finishes."""
    from distributed import Client, as_completed

    with contextlib.ExitStack() as stack:
        if address is None:
            address = stack.enter_context(local_cluster(workers, gpu=gpu))
        client = stack.enter_context(Client(address, timeout="30s"))
        if gpu and _gpu_workers(client) == 0:
            raise ClusterError(f"the cluster at {address} has no worker with a GPU resource; "
                               "start GPU workers with: dask worker ADDRESS --nthreads 1 --resources GPU=1")
        resources = {"GPU": 1} if gpu else None
        futures = {client.submit(func, *args, key=key, resources=resources): key for key, args in jobs}
        for future in as_completed(futures):
            try:
                yield futures[future], future.result(), None
            except Exception as exc:  # noqa: BLE001 - one failed grading must not stop the class
                yield futures[future], None, f"{type(exc).__name__}: {str(exc)[:300]}"
