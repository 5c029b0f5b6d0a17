"""The synthetic demo dataset: layout, real encoded files, motion-defined classes, determinism."""
import hashlib
import os

import numpy as np
import pytest

from actionzoo.data import compute_flow, read_audio, video_info
from actionzoo.data.datasets import load_ucf101
from actionzoo.data.synthetic import SYNTHETIC_CLASSES, make_synthetic_dataset, render_video

SMALL = dict(num_classes=4, groups=3, clips_per_group=2, num_frames=(12, 16), width=64, height=48,
             verbose=0)


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    info = make_synthetic_dataset(root, seed=3, n_jobs=1, **SMALL)
    return root, info


def test_ucf101_layout_and_splits(small_dataset):
    root, info = small_dataset
    assert info["classes"] == list(SYNTHETIC_CLASSES[:4])
    assert len(info["paths"]) == 4 * 3 * 2
    assert info["paths"][0] == "MoveLeft/v_MoveLeft_g01_c01.avi"
    for split in (1, 2, 3):
        train = load_ucf101(root, split=split, subset="train")
        test = load_ucf101(root, split=split, subset="test")
        assert len(train) + len(test) == 24 and len(test) == 8
        train_groups = {os.path.basename(p).split("_g")[1][:2] for p in train.paths}
        test_groups = {os.path.basename(p).split("_g")[1][:2] for p in test.paths}
        assert not train_groups & test_groups
        assert test.classes == info["classes"]


def test_videos_are_real_mpeg4_avi_with_and_without_audio(small_dataset):
    root, info = small_dataset
    flags = []
    for rel, has_audio in zip(info["paths"], info["has_audio"], strict=True):
        meta = video_info(os.path.join(root, rel))
        assert meta.codec == "mpeg4" and meta.fps == 25 and (meta.width, meta.height) == (64, 48)
        assert 12 <= meta.num_frames <= 16
        assert meta.has_audio == has_audio
        flags.append(has_audio)
    assert any(flags) and not all(flags)
    sound_rel = next(r for r, a in zip(info["paths"], info["has_audio"], strict=True)
                     if a and r.startswith("MoveLeft"))
    wave, ok = read_audio(os.path.join(root, sound_rel))
    assert ok and np.abs(wave).max() > 0.1  # MoveLeft carries beeps


def test_default_size_is_ucf_like(tmp_path):
    info = make_synthetic_dataset(tmp_path, num_classes=1, groups=3, clips_per_group=1,
                                  num_frames=10, verbose=0, n_jobs=1)
    meta = video_info(os.path.join(tmp_path, info["paths"][0]))
    assert (meta.width, meta.height, meta.fps, meta.codec) == (320, 240, 25.0, "mpeg4")


def test_deterministic_for_a_seed(tmp_path, small_dataset):
    root, info = small_dataset
    again = make_synthetic_dataset(tmp_path, seed=3, n_jobs=2, **SMALL)

    def digest(base, rel):
        return hashlib.sha256(open(os.path.join(base, rel), "rb").read()).hexdigest()

    assert again["has_audio"] == info["has_audio"]
    assert all(digest(root, r) == digest(tmp_path, r) for r in info["paths"])
    make_synthetic_dataset(tmp_path / "other", seed=4, **SMALL)
    assert any(digest(root, r) != digest(tmp_path / "other", r) for r in info["paths"])


@pytest.mark.parametrize("motion,axis,sign", [
    ("MoveLeft", 0, -1), ("MoveRight", 0, 1), ("MoveUp", 1, -1), ("MoveDown", 1, 1),
])
def test_classes_are_defined_by_motion(motion, axis, sign):
    rng = np.random.default_rng(0)
    frames = render_video(motion, 8, rng, width=128, height=96, num_shapes=(5, 5))
    flow = compute_flow(frames, "farneback")
    moving = np.linalg.norm(flow, axis=-1) > 0.5
    assert moving.any()
    assert np.sign(flow[..., axis][moving].mean()) == sign


def test_rotation_sense_differs():
    def curl(motion):
        frames = render_video(motion, 6, np.random.default_rng(1), width=128, height=96,
                              num_shapes=(6, 6))
        flow = compute_flow(frames, "farneback")
        ys, xs = np.mgrid[0:96, 0:128]
        rx, ry = xs - 64, ys - 48
        return float((rx * flow[..., 1] - ry * flow[..., 0]).mean())

    assert curl("RotateClockwise") > 0 > curl("RotateAnticlockwise")


def test_expand_vs_contract():
    def divergence(motion):
        frames = render_video(motion, 6, np.random.default_rng(2), width=128, height=96,
                              num_shapes=(6, 6))
        flow = compute_flow(frames, "farneback")
        ys, xs = np.mgrid[0:96, 0:128]
        return float(((xs - 64) * flow[..., 0] + (ys - 48) * flow[..., 1]).mean())

    assert divergence("Expand") > 0 > divergence("Contract")


def test_single_frame_does_not_reveal_the_class():
    """Frame statistics are drawn from the same distribution for every class."""
    means = {m: np.mean([render_video(m, 1, np.random.default_rng(s), width=64, height=48).mean()
                         for s in range(20)]) for m in ("MoveLeft", "MoveRight")}
    assert abs(means["MoveLeft"] - means["MoveRight"]) < 15


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="num_classes"):
        make_synthetic_dataset(tmp_path, num_classes=11, verbose=0)
    with pytest.raises(ValueError, match="groups"):
        make_synthetic_dataset(tmp_path, groups=2, verbose=0)
    with pytest.raises(ValueError, match="unknown motion"):
        render_video("Jump", 2, np.random.default_rng(0))


@pytest.mark.slow
def test_default_demo_dataset_is_a_few_hundred_videos_generated_quickly(tmp_path):
    """Default size: 240 UCF101-like videos; CPU cost (not wall time, the machine may be shared)."""
    import time

    start = time.process_time()
    info = make_synthetic_dataset(tmp_path, n_jobs=1, verbose=0)
    cpu = time.process_time() - start
    assert len(info["paths"]) == 240 and 0.4 < np.mean(info["has_audio"]) < 0.8
    assert cpu < 45, f"generation took {cpu:.1f} s of CPU"


def test_a_generated_dataset_records_its_parameters(small_dataset, tmp_path):
    import json

    from actionzoo.data import DataError, needs_generation
    from actionzoo.data.synthetic import GENERATION_FILE, generation_parameters

    root, _ = small_dataset
    params = {k: v for k, v in SMALL.items() if k != "verbose"}
    recorded = json.loads((root / GENERATION_FILE).read_text())
    assert recorded == generation_parameters(seed=3, **params)
    assert recorded["num_frames"] == [12, 16] and recorded["fps"] == 25
    assert needs_generation(tmp_path / "absent", seed=3, **params)
    assert needs_generation(tmp_path, seed=3, **params)  # empty folder
    assert not needs_generation(root, seed=3, **params)  # same parameters: reuse
    with pytest.raises(DataError, match=r"generated with num_classes=4, .*seed=3, not the "
                                        r"requested num_classes=3, .*seed=3; use another folder"):
        needs_generation(root, seed=3, **dict(params, num_classes=3))
    with pytest.raises(DataError, match=r"generated with .*seed=3, not the requested .*seed=0"):
        make_synthetic_dataset(root, seed=0, n_jobs=1, **SMALL)  # nothing overwritten
    assert json.loads((root / GENERATION_FILE).read_text()) == recorded
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match=r"holds files but no generation.json"):
        needs_generation(tmp_path, seed=3, **params)
