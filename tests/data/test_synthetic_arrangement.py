"""The event-arrangement data: layout, class-independent marginals, and each stream blind to
the other stream's event, measured on the encoded videos."""
import json
import os

import numpy as np
import pytest

from actionzoo.data import (
    DataError,
    compute_flow,
    load_folder,
    load_ucf101,
    make_arrangement_dataset,
    needs_generation,
    read_video,
    render_arrangement,
)

K, L = 4, 8
SMALL = dict(n_segments=K, segment_frames=L, groups=3, clips_per_group=4, width=32, height=32,
             verbose=0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("arrangement")
    return root, make_arrangement_dataset(root, seed=1, n_jobs=1, **SMALL)


def _frames(root, rel):
    return read_video(os.path.join(root, rel))


def test_ucf101_layout_labels_splits_and_record(dataset):
    root, info = dataset
    assert info["classes"] == ["Lag1", "Lag2", "Lag3"]
    assert len(info["paths"]) == 3 * 3 * 4 and info["paths"][0] == "Lag1/v_Lag1_g01_c01.avi"
    assert np.bincount(info["labels"]).tolist() == [12, 12, 12]
    for split in (1, 2, 3):
        train, test = load_ucf101(root, split, "train"), load_ucf101(root, split, "test")
        assert len(train) == 24 and len(test) == 12 and test.classes == info["classes"]
        assert not {p.split("_g")[1][:2] for p in train.paths} & {
            p.split("_g")[1][:2] for p in test.paths}
    with pytest.warns(UserWarning, match="ucfTrainTestlist"):  # the split files' folder
        assert len(load_folder(root)) == 36
    frames = _frames(root, info["paths"][0])
    assert frames.shape == (K * L, 32, 32, 3) and frames.dtype == np.uint8
    record = json.loads((root / "generation.json").read_text())
    assert record["kind"] == "event_arrangement" and record["n_segments"] == K
    assert record["seed"] == 1 and record["segment_frames"] == L


def test_class_is_the_lag_and_the_event_segments_do_not_depend_on_the_class(dataset):
    _, info = dataset
    a, m, y = (np.asarray(info[k]) for k in ("appearance_segment", "motion_segment", "labels"))
    np.testing.assert_array_equal((m - a) % K, y + 1)
    for label in range(3):
        # 12 videos per class over 4 segments: each segment exactly 3 times, for both events
        assert np.bincount(a[y == label], minlength=K).tolist() == [3] * K
        assert np.bincount(m[y == label], minlength=K).tolist() == [3] * K


def _segment(frames, s):
    return frames[s * L:(s + 1) * L]


def test_rgb_frames_show_the_disc_but_carry_no_trace_of_the_motion(dataset):
    root, info = dataset
    for rel, a, m in list(zip(info["paths"], info["appearance_segment"],
                              info["motion_segment"], strict=True))[:6]:
        frames = _frames(root, rel).astype(np.int16)
        static = next(s for s in range(K) if s not in (a, m))
        reference = np.sort(_segment(frames, static)[0].ravel())
        for frame in _segment(frames, m):  # moving frames: the same pixels, shifted
            np.testing.assert_array_equal(np.sort(frame.ravel()), reference)
        # the disc is a visible colour change (grey frames have R = G = B)
        def colourfulness(frame):
            return (frame.max(axis=-1) - frame.min(axis=-1)).max()
        assert colourfulness(_segment(frames, a)[L // 2]) > 20
        assert colourfulness(_segment(frames, static)[0]) <= 2


def test_optical_flow_sees_the_motion_but_not_the_disc(dataset):
    root, info = dataset
    for rel, a, m in list(zip(info["paths"], info["appearance_segment"],
                              info["motion_segment"], strict=True))[:6]:
        magnitude = np.linalg.norm(compute_flow(_frames(root, rel), method="farneback"),
                                   axis=-1).mean(axis=(1, 2))  # per transition t -> t + 1
        static = next(s for s in range(K) if s not in (a, m))
        # the disc's segment, with its onset and offset transitions
        around_disc = magnitude[max(a * L - 1, 0):(a + 1) * L]
        assert around_disc.max() < 0.05, around_disc
        assert magnitude[static * L:(static + 1) * L - 1].max() < 0.05
        assert magnitude[m * L:(m + 1) * L - 1].min() > 0.5  # speed 1 pixel per frame


def test_render_is_deterministic_and_the_grey_image_ignores_the_disc():
    one = render_arrangement(3, 4, 0, 2, np.random.default_rng(5), width=16, height=16)
    two = render_arrangement(3, 4, 0, 2, np.random.default_rng(5), width=16, height=16)
    np.testing.assert_array_equal(one, two)
    grey = one @ np.array([0.299, 0.587, 0.114])
    assert np.abs(grey[0] - grey[4]).max() < 1.5 and np.abs(one[0] - one[4].astype(int)).max() > 10


@pytest.mark.parametrize("bad, message", [
    (dict(n_segments=2), "n_segments must be >= 3"),
    (dict(segment_frames=1), "segment_frames must be >= 2"),
    (dict(groups=2), "groups must be >= 3"),
    (dict(clips_per_group=0), "clips_per_group must be >= 1"),
    (dict(width=4), "width and height must be >= 8"),
    (dict(speed=0), "speed must be a positive whole number"),
])
def test_bad_parameters_are_named(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        make_arrangement_dataset(tmp_path, **{**SMALL, **bad})


def test_bad_event_segments_are_named():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="different segments"):
        render_arrangement(4, 4, 1, 1, rng)
    with pytest.raises(ValueError, match="motion_segment must be in 0..3"):
        render_arrangement(4, 4, 1, 4, rng)


def test_a_folder_of_other_parameters_is_refused(dataset):
    root, _ = dataset
    with pytest.raises(DataError, match="generated with"):
        make_arrangement_dataset(root, seed=2, **SMALL)
    with pytest.raises(DataError, match="unreadable generation record"):
        needs_generation(root, num_classes=4)  # the demo's check names the other record
