"""Grading on Dask: a cluster by address (a LocalCluster here), GPU routing, a worker killed mid-submission."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import nbformat
import pytest

from autograder.classroom import from_submitted, grade_class
from autograder.cluster import ClusterError, run_on_dask
from autograder.processes import stop
from reglab.examples import examples

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster():
    from distributed import LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


@pytest.fixture
def gpu_worker(cluster):
    """A second worker that declares a GPU, started the way a TA starts one on a GPU machine."""
    from distributed import Client
    dask = shutil.which("dask", path=os.path.dirname(sys.executable))
    worker = subprocess.Popen([dask, "worker", cluster.scheduler_address, "--nthreads", "1", "--resources", "GPU=1",
                               "--name", "gpu-box", "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Client(cluster.scheduler_address) as client:
            client.wait_for_workers(2, timeout=60)
            info = client.scheduler_info()["workers"]
            yield next(address for address, w in info.items() if w.get("name") == "gpu-box")
    finally:
        stop(worker)


def test_gpu_gradings_go_only_to_workers_that_declare_a_gpu(cluster, gpu_worker):
    from distributed import Client
    jobs = [(f"job-{i}", ()) for i in range(6)]          # os.getpid: which worker process ran it
    results = list(run_on_dask(jobs, os.getpid, address=cluster.scheduler_address, gpu=True))
    assert len(results) == 6 and all(error is None for _, _, error in results)
    with Client(cluster.scheduler_address) as client:
        gpu_pid = client.run(os.getpid, workers=[gpu_worker])[gpu_worker]
    assert {pid for _, pid, _ in results} == {gpu_pid}


def test_gpu_gradings_on_a_cluster_without_a_gpu_worker_stop_with_how_to_add_one(cluster):
    with pytest.raises(ClusterError, match="--resources GPU=1"):
        list(run_on_dask([("job", ())], os.getpid, address=cluster.scheduler_address, gpu=True))


def test_a_worker_killed_mid_submission_costs_a_retry_not_a_result(tmp_path, course, lab06b):
    from distributed import Client, LocalCluster
    submitted = tmp_path / "submitted"
    expected = {"reference": 14, "blank": 0, "biased_running_var": 12}
    for example in examples(lab06b):
        if example.name in expected:
            folder = submitted / example.name / lab06b.id
            folder.mkdir(parents=True)
            nbformat.write(example.notebook, folder / f"{lab06b.id}.ipynb")
    found, _ = from_submitted(submitted, lab06b)
    killed = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local, \
            Client(local.scheduler_address) as watcher:

        def kill_a_busy_worker():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not killed:
                busy = [address for address, keys in watcher.processing().items() if keys]
                if busy:
                    time.sleep(1.5)                                    # well into its grading
                    pid = watcher.run(os.getpid, workers=[busy[0]])[busy[0]]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(busy[0])
                time.sleep(0.1)

        assassin = threading.Thread(target=kill_a_busy_worker, daemon=True)
        assassin.start()
        run = grade_class(lab06b, course, found, tmp_path / "grades", dask_address=local.scheduler_address,
                          progress=False)
        assassin.join()
    assert killed, "no worker was busy long enough to be killed"
    assert not run.failed and sorted(run.graded) == sorted(s.student for s in found)
    points = {p.stem: json.loads(p.read_text())["points"] for p in (tmp_path / "grades").glob("*.json")}
    assert points == expected
