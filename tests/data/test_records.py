"""TFRecord cache: prepare once, read through the same sampling/transform path."""
import json
import os

import numpy as np
import pytest

from actionzoo.data import ClipLoader, DenseClipSampler, SegmentSampler, SkipLog, make_dataset
from actionzoo.data.records import make_record_dataset, prepare
from tests.data.media import decode_indices

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def videos(make_video):
    return [make_video("a.avi", n=20, audio=True), make_video("b.mp4", n=30, audio=False),
            make_video("c.webm", n=24, audio=True)], np.array([2, 0, 1])


def test_prepare_then_read_matches_sampled_frames(videos, tmp_path):
    paths, labels = videos
    out = tmp_path / "records"
    shards = prepare(paths, labels, out, modalities=("rgb", "flow", "audio"), short_side=None,
                     videos_per_shard=2, flow_method="farneback", verbose=0)
    assert len(shards) == 2 and all(os.path.getsize(s) > 0 for s in shards)
    manifest = json.load(open(out / "manifest.json"))
    assert manifest["videos"] == 3 and manifest["skipped"] == []
    sampler = DenseClipSampler(6, stride=2, mode="test")
    ds = make_record_dataset(out, sampler, modalities=("rgb", "flow", "audio"), frame_size=(48, 64),
                             flow_length=2, batch_size=3)
    features, y = next(iter(ds))
    assert y.numpy().tolist() == labels.tolist()
    assert features["rgb"].shape == (3, 6, 48, 64, 3)
    assert features["flow"].shape == (3, 6, 48, 64, 4)
    assert features["audio"].shape == (3, 1, 96, 64)
    assert features["has_audio"].numpy().tolist() == [True, False, True]
    for clip, n in zip(features["rgb"].numpy(), [20, 30, 24], strict=True):
        np.testing.assert_array_equal(decode_indices(clip), sampler.sample(n)[0])


def test_records_agree_with_direct_decoding(videos, tmp_path):
    paths, labels = videos
    prepare(paths, labels, tmp_path / "r", short_side=32, verbose=0)
    sampler = SegmentSampler(4, mode="test")
    loader = ClipLoader(sampler, short_side=32, frame_size=(32, 43))
    direct = next(iter(make_dataset(paths, labels, loader, batch_size=3)))[0]
    cached = next(iter(make_record_dataset(tmp_path / "r", sampler, short_side=32,
                                           frame_size=(32, 43), batch_size=3)))[0]
    diff = np.abs(direct.numpy().astype(int) - cached.numpy().astype(int))
    assert diff.mean() < 3  # JPEG round trip only


def test_prepare_skips_bad_files_and_records_them(videos, tmp_path):
    paths, labels = videos
    bad = tmp_path / "broken.avi"
    bad.write_bytes(b"junk" * 50)
    log = SkipLog()
    with pytest.warns(UserWarning, match="broken.avi"):
        prepare(paths + [os.fspath(bad)], np.r_[labels, 0], tmp_path / "r", on_error="skip",
                skip_log=log, verbose=0)
    manifest = json.load(open(tmp_path / "r" / "manifest.json"))
    assert manifest["videos"] == 3
    skipped = manifest["skipped"][0]
    assert skipped["path"].endswith("broken.avi") and skipped["index"] == 3
    with pytest.raises(Exception, match="broken.avi"):
        prepare([os.fspath(bad)], [0], tmp_path / "r2", verbose=0)


def test_shuffled_record_dataset_is_seeded(videos, tmp_path):
    paths, labels = videos
    prepare(paths, labels, tmp_path / "r", videos_per_shard=1, verbose=0)

    def labels_of(seed):
        ds = make_record_dataset(tmp_path / "r", DenseClipSampler(4), frame_size=24, batch_size=3,
                                 shuffle=True, seed=seed)
        return next(iter(ds))[1].numpy().tolist()

    assert labels_of(1) == labels_of(1)
    assert sorted(labels_of(1)) == [0, 1, 2]
    with pytest.raises(FileNotFoundError):
        make_record_dataset(tmp_path / "nothing-here", DenseClipSampler(4), frame_size=24)
