"""Training beyond one process: ``distribution``, ``checkpoint_dir`` and a Dask search.

The two-worker test runs a real ``MultiWorkerMirroredStrategy`` on
127.0.0.1: two Python processes (``distributed_worker.py``), each with its
own ``TF_CONFIG``. Every wait has a timeout and every process is killed in a
``finally``, so a hung collective fails the test instead of hanging the suite.
"""
import json
import os
import pickle
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from sklearn.base import clone

from actionzoo import CorrNetFusion, EmbeddingAnomalyDetector

WORKER = os.path.join(os.path.dirname(__file__), "distributed_worker.py")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def start_workers(out_dir, checkpoint_dir, epochs, exit_after):
    """Two worker processes of one MultiWorkerMirroredStrategy cluster."""
    ports = free_ports(2)
    procs = []
    for index in range(2):
        env = dict(os.environ)
        env.update({
            "TF_CONFIG": json.dumps({
                "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                "task": {"type": "worker", "index": index}}),
            "PYTHONPATH": os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")])),
            "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
            # two processes share the machine's cores
            "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
        })
        log = open(os.path.join(out_dir, f"log-{index}.txt"), "ab")
        procs.append(subprocess.Popen(
            [sys.executable, WORKER, out_dir, checkpoint_dir, str(epochs),
             str(exit_after if index == 1 else -1)],
            env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
    return procs


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=30)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def log_tail(out_dir, index):
    with open(os.path.join(out_dir, f"log-{index}.txt"), "rb") as f:
        return f.read()[-3000:].decode(errors="replace")


def epochs_run(out_dir, index):
    path = os.path.join(out_dir, f"epochs-{index}.txt")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [int(line) for line in f.read().split()]


@pytest.mark.timeout(420)
def test_two_workers_resume_after_a_killed_worker_and_end_identical(tmp_path):
    """Worker 1 dies after epoch 0 of 3; both restart and run epochs 1, 2 only.

    Checks: the restarted fit resumes (epochs run = [1, 2], history of 2
    epochs) instead of starting over; both workers end with identical
    weights (BatchNorm statistics included) and predictions; the pickled
    estimator unpickles in this process, which has no TF_CONFIG, and
    predicts the same.
    """
    out_dir, ckpt = str(tmp_path / "out"), str(tmp_path / "ckpt")
    os.makedirs(out_dir)
    procs = start_workers(out_dir, ckpt, epochs=3, exit_after=0)
    try:
        try:
            assert procs[1].wait(timeout=240) == 3, log_tail(out_dir, 1)
        except subprocess.TimeoutExpired as err:
            raise AssertionError("worker 1 did not reach its exit:\n"
                                 + log_tail(out_dir, 1)) from err
        # worker 0 finished epoch 0 too (its backup is written before its log line)
        wait_for(lambda: epochs_run(out_dir, 0) == [0], 60, "worker 0's epoch 0")
    finally:
        stop(procs)  # worker 0 is blocked in epoch 1's all-reduce: kill it
    for index in range(2):
        with open(os.path.join(ckpt, f"worker-{index}", "training_metadata.json")) as f:
            assert json.load(f)["epoch"] == 1  # epochs completed
        os.remove(os.path.join(out_dir, f"epochs-{index}.txt"))

    procs = start_workers(out_dir, ckpt, epochs=3, exit_after=-1)
    try:
        for index, p in enumerate(procs):
            try:
                assert p.wait(timeout=240) == 0, log_tail(out_dir, index)
            except subprocess.TimeoutExpired as err:
                raise AssertionError(f"worker {index} hung:\n"
                                     + log_tail(out_dir, index)) from err
    finally:
        stop(procs)

    for index in range(2):
        assert epochs_run(out_dir, index) == [1, 2], "the restarted fit did not resume"
        with open(os.path.join(out_dir, f"history-{index}.json")) as f:
            assert len(json.load(f)["loss"]) == 2
        # the backup is removed once the fit completes
        assert not os.path.exists(os.path.join(ckpt, f"worker-{index}",
                                               "training_metadata.json"))
    w0, w1 = (np.load(os.path.join(out_dir, f"weights-{i}.npz")) for i in range(2))
    assert len(w0.files) == len(w1.files) > 0
    for key in w0.files:
        np.testing.assert_array_equal(w0[key], w1[key], err_msg=key)
    p0, p1 = (np.load(os.path.join(out_dir, f"proba-{i}.npy")) for i in range(2))
    np.testing.assert_array_equal(p0, p1)

    from tests.estimators.distributed_worker import tiny_clips
    with open(os.path.join(out_dir, "model-0.pkl"), "rb") as f:
        clf = pickle.load(f)
    assert clf.distribution == "multi_worker_mirrored"
    np.testing.assert_allclose(clf.predict_proba(tiny_clips()[0]), p0, atol=1e-6)


# ------------------------------------------------------------ in-process
def fusion_data(n=40, c=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, size=n)
    return rng.normal(size=(n, 2, c)) + 3 * np.eye(c)[y][:, None, :], y


def tiny_fusion(**params):
    return CorrNetFusion(**{"hidden_units": (16, 16), "epochs": 3, "batch_size": 8,
                            "random_state": 0, **params})


def test_clone_shares_a_strategy_object_and_pickle_keeps_its_name():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    clf = tiny_fusion(distribution=strategy)
    twin = clone(clf)
    assert twin.distribution is strategy  # not deep-copied: a process resource
    assert clone(tiny_fusion(distribution="mirrored")).distribution == "mirrored"
    data = pickle.dumps(clf)
    assert b"tensorflow.python.distribute" not in data
    assert pickle.loads(data).distribution == "mirrored"
    assert clf.distribution is strategy  # pickling did not touch the estimator


def test_fitted_state_pickles_the_same_whichever_strategy_trained_it():
    X, y = fusion_data()
    plain = tiny_fusion().fit(X, y)
    mirrored = tiny_fusion(distribution=tf.distribute.MirroredStrategy(["/cpu:0"])).fit(X, y)
    # one replica: the same training up to float summation order
    np.testing.assert_allclose(mirrored.predict_proba(X), plain.predict_proba(X), atol=5e-3)
    a, b = (pickle.loads(pickle.dumps(est)) for est in (plain, mirrored))
    assert sorted(vars(a)) == sorted(vars(b))
    fitted = [k for k in vars(a) if k.endswith("_")]
    assert {k: type(getattr(a, k)) for k in fitted} == {k: type(getattr(b, k)) for k in fitted}
    assert a.model_.get_config() == b.model_.get_config()
    assert b.distribution == "mirrored"
    np.testing.assert_array_equal(b.predict_proba(X), mirrored.predict_proba(X))


def test_invalid_distribution_is_rejected():
    X, y = fusion_data()
    with pytest.raises(ValueError, match="distribution"):
        tiny_fusion(distribution="tpu").fit(X, y)


def test_multi_worker_training_needs_an_int_random_state(monkeypatch):
    import actionzoo.estimators._base as base
    monkeypatch.setattr(base, "num_workers", lambda strategy: 2)
    X, y = fusion_data()
    with pytest.raises(ValueError, match="int random_state"):
        tiny_fusion(distribution="mirrored").set_params(random_state=None).fit(X, y)


class Interrupt(Exception):
    pass


def test_checkpoint_dir_resumes_an_interrupted_fit(tmp_path):
    import keras

    class StopAt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise Interrupt

    X, y = fusion_data()
    ckpt = tmp_path / "ckpt"
    clf = tiny_fusion(epochs=4, checkpoint_dir=str(ckpt), callbacks=[StopAt()])
    with pytest.raises(Interrupt):
        clf.fit(X, y)
    assert (ckpt / "training_metadata.json").exists()
    clf.set_params(callbacks=[]).fit(X, y)
    assert len(clf.history_["loss"]) == 2  # epochs 2 and 3 only
    assert not (ckpt / "training_metadata.json").exists()
    clf.fit(X, y)  # the backup is gone: a new fit starts over
    assert len(clf.history_["loss"]) == 4


def test_anomaly_detector_trains_under_a_strategy():
    X, _ = fusion_data()
    det = EmbeddingAnomalyDetector(encoding_dim=2, hidden_units=(8,), epochs=2, random_state=0,
                                   distribution="mirrored").fit(X.reshape(len(X), -1))
    assert len(det.history_["loss"]) == 2
    assert det.predict(X.reshape(len(X), -1)).shape == (len(X),)


# ------------------------------------------------------------------ Dask
def worker_rss_mib(client):
    import psutil

    def rss():
        return psutil.Process().memory_info().rss / 2**20
    return client.run(rss)


@pytest.mark.timeout(300)
def test_grid_search_on_a_dask_cluster_matches_serial_and_does_not_grow_memory():
    """GridSearchCV over CorrNetFusion fusion settings through joblib's Dask
    backend on a two-process LocalCluster: the scores of ``n_jobs=1``, and
    the workers' resident memory grows by less than 10 MiB per fit over the
    search's 20 fits.

    Dask's statistical profiler is switched off in the workers: it samples
    the running task's stack every 10 ms and keeps the samples, which for
    Keras' deep fit stacks grew each worker by ~9-14 MiB per 20-fit search
    (measured 2026-11-21; a shallow sklearn MLPClassifier search: 0-4 MiB).
    That is the cluster's monitoring, not the estimators' memory.
    """
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    import joblib
    from sklearn.model_selection import GridSearchCV

    X, y = fusion_data(n=40)
    grid = {"fusion": ["sum", "avg"], "entropy_threshold": [None, 1.0]}  # 4 x 5 folds = 20 fits
    estimator = tiny_fusion(epochs=2)

    with dask.config.set({"distributed.worker.profile.enabled": False}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"):
            # warm-up: every candidate once, so first-use allocations (imports,
            # the entropy gate's code paths) are not counted as growth
            GridSearchCV(estimator, grid, cv=2, refit=False).fit(X, y)
            before = worker_rss_mib(client)
            on_dask = GridSearchCV(estimator, grid, cv=5, refit=False).fit(X, y)
            after = worker_rss_mib(client)
    assert sum(on_dask.cv_results_["mean_fit_time"] > 0) == 4
    # the same scores as a serial search (one candidate: each costs 5 fits)
    serial = GridSearchCV(estimator, {"fusion": ["avg"], "entropy_threshold": [1.0]},
                          cv=5, refit=False).fit(X, y)
    row = on_dask.cv_results_["params"].index({"fusion": "avg", "entropy_threshold": 1.0})
    for fold in range(5):
        key = f"split{fold}_test_score"
        assert on_dask.cv_results_[key][row] == pytest.approx(serial.cv_results_[key][0])
    growth = {w: round(after[w] - before[w], 1) for w in before}
    print(f"worker RSS growth over 20 fits (MiB): {growth}")
    # Every fit is traced (tf.function) and each trace leaves a few MiB that
    # Python does not return to the OS (49.5 and 55.5 MiB per worker over these
    # 20 fits when measured on 2026-12-04); the training function releases the
    # traced graphs themselves. Bound: 10 MiB per fit on average over the 20 fits
    # (the goal for repeated fits is 25 MiB per fit).
    assert sum(growth.values()) / 20 < 10, growth
