"""Decoding in worker processes: same outputs as in-process, bad input, crashes, no TensorFlow."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from actionzoo.data import (
    ClipLoader,
    DenseClipSampler,
    SegmentSampler,
    SkipLog,
    UniformClipSampler,
    eval_transform,
    make_dataset,
    train_transform,
)
from actionzoo.data.workers import ProcessLoader, decode_pool
from tests.data.media import coded_frames
from tests.data.worker_transforms import CrashOn

pytestmark = pytest.mark.timeout(300)


def collect(ds):
    return [tf.nest.map_structure(lambda t: t.numpy(), element) for element in ds]


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        tf.nest.map_structure(np.testing.assert_array_equal, x, y)


def test_workers_give_exactly_the_in_process_batches(videos):
    paths, labels = videos
    loader = ClipLoader(SegmentSampler(3, mode="train"), train_transform(32, short_side=40),
                        modalities=("rgb", "flow", "audio"), flow_length=2,
                        flow_method="farneback")
    kwargs = dict(batch_size=3, shuffle=True, seed=5, return_index=True)
    threads = collect(make_dataset(paths, labels, loader, **kwargs))
    processes = collect(make_dataset(paths, labels, loader, num_workers=2, **kwargs))
    assert_same(threads, processes)
    assert [b[0]["rgb"].shape[0] for b in processes] == [3, 1]
    assert sorted(np.concatenate([b[0]["index"] for b in processes]).tolist()) == [0, 1, 2, 3]
    assert processes[0][0]["flow"].shape == (3, 3, 32, 32, 4)


def test_drop_remainder_and_unlabelled_with_workers(videos):
    paths, labels = videos
    loader = ClipLoader(DenseClipSampler(4, mode="test"), eval_transform(24, 32))
    ds = make_dataset(paths, None, loader, batch_size=3, drop_remainder=True, num_workers=2)
    assert ds.element_spec.shape == (3, 4, 24, 24, 3)
    batches = collect(ds)
    assert len(batches) == 1
    reference = collect(make_dataset(paths, None, loader, batch_size=3, drop_remainder=True))
    assert_same(reference, batches)


def test_per_video_view_counts_with_workers(videos):
    paths, labels = videos
    loader = ClipLoader(UniformClipSampler(8, num_clips=None), frame_size=24)
    ds = make_dataset(paths, labels, loader, batch_size=1, num_workers=2)
    assert [x.shape[1] for x, _ in ds] == [3, 5, 2, 3]


def test_bad_files_raise_or_are_skipped_in_workers(videos, tmp_path):
    paths, labels = videos
    bad = tmp_path / "garbage.avi"
    bad.write_bytes(b"\x00not a video" * 100)
    mixed = [paths[0], os.fspath(bad), paths[1], os.fspath(tmp_path / "missing.mp4")]
    loader = ClipLoader(DenseClipSampler(4, mode="test"), frame_size=24)
    with pytest.raises(tf.errors.OpError, match="garbage.avi"):
        collect(make_dataset(mixed, [0, 1, 2, 3], loader, num_workers=2))
    log = SkipLog()
    ds = make_dataset(mixed, [0, 1, 2, 3], loader, batch_size=8, on_error="skip",
                      skip_log=log, num_workers=2)
    with pytest.warns(UserWarning, match="skipping"):
        (clips, y), = collect(ds)
    assert clips.shape[0] == 2 and y.tolist() == [0, 2]
    assert [(item.index, os.path.basename(item.path)) for item in log] == [
        (1, "garbage.avi"), (3, "missing.mp4")]
    assert "No such file" in log.items[1].error or "not found" in log.items[1].error


def test_a_worker_killed_by_a_file_is_replaced_and_only_that_file_reported(make_video):
    good = [make_video(f"ok{i}.avi", n=12, audio=False) for i in range(3)]
    killer = make_video("killer.avi", frames=coded_frames(12, height=40), audio=False)
    paths = [good[0], killer, good[1], good[2]]
    loader = ClipLoader(DenseClipSampler(4, mode="test"), CrashOn(marker=40),
                        frame_size=(40, 48))
    pids = decode_pool(1).pids
    with pytest.raises(tf.errors.OpError, match=r"killer.avi.*worker process died \(signal 9\)"):
        collect(make_dataset(paths, [0, 1, 2, 3], loader, num_workers=1))
    assert decode_pool(1).pids != pids  # replaced
    log = SkipLog()
    with pytest.warns(UserWarning, match="killer.avi"):
        (clips, y), = collect(make_dataset(paths, [0, 1, 2, 3], loader, on_error="skip",
                                           skip_log=log, num_workers=1))
    assert y.tolist() == [0, 2, 3]  # the chunk was retried file by file: the others survive
    assert [os.path.basename(item.path) for item in log] == ["killer.avi"]


def test_datasets_share_the_pool(videos):
    paths, labels = videos
    first = make_dataset(paths, labels, ClipLoader(DenseClipSampler(4), frame_size=24),
                         num_workers=2)
    collect(first)
    pids = decode_pool(2).pids
    collect(make_dataset(paths, labels, ClipLoader(SegmentSampler(2), frame_size=16),
                         num_workers=2))
    assert decode_pool(2).pids == pids and len(set(pids)) == 2


def test_loaders_that_cannot_go_to_a_worker_are_refused(videos):
    paths, labels = videos
    with pytest.raises(TypeError, match="pickle.*num_workers=0"):
        make_dataset(paths, labels, ClipLoader(DenseClipSampler(4),
                                               lambda clip, rng, modality: clip, frame_size=24),
                     num_workers=1)
    for bad in (-2, 1.5, True, "2"):
        with pytest.raises(ValueError, match="num_workers"):
            make_dataset(paths, labels, ClipLoader(DenseClipSampler(4), frame_size=24),
                         num_workers=bad)


def test_process_loader_matches_the_loader(videos):
    paths, _ = videos
    loader = ClipLoader(SegmentSampler(2, mode="train"), train_transform(32, short_side=40),
                        modalities=("rgb", "audio"))
    remote = ProcessLoader(loader, 2)
    for seed, path in enumerate(paths):
        here, there = loader(path, seed), remote(path, seed)
        assert set(there) == set(loader.output_spec())
        for key in there:
            np.testing.assert_array_equal(np.asarray(here[key]), there[key])
    with pytest.raises(FileNotFoundError):
        remote("/nonexistent/video.avi")


def test_workers_do_not_load_tensorflow():
    code = ("import sys, actionzoo.data, actionzoo.data.workers; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
