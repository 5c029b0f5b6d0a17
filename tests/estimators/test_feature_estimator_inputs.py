"""Inputs of the feature estimators as the data layer reports them.

A valid 8-frame Matroska (MPEG-4 + MP3) whose duration suggests 9 frames:
TwoStreamFeatures and MultiStreamGRU sample through the data layer's one
frame-count path and recount and resample instead of asking for the missing
frame 8. Missing files and directories are named together in one ``ValueError``, as
the clip estimators report bad files.
"""
import numpy as np
import pytest

from actionzoo import MultiStreamGRU, TwoStreamFeatures
from actionzoo.data import SegmentSampler, video_info
from actionzoo.data.encode import write_video
from tests.data.media import coded_frames, tone
from tests.estimators.demo_videos import tiny_audio_backbone, tiny_image_backbone


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("short")
    paths = []
    for i, n in enumerate((8, 12)):
        paths.append(write_video(str(root / f"v{i}.mkv"), coded_frames(n), 25, codec="mpeg4",
                                 audio=tone(n / 25, sr=44100), sample_rate=44100,
                                 audio_codec="libmp3lame", bit_rate=2_000_000))
    assert video_info(paths[0]).num_frames == 9 and video_info(paths[0], exact=True).num_frames == 8
    return paths


def test_two_stream_features_recount_an_overstated_header(videos, tmp_path):
    est = TwoStreamFeatures(n_segments=9, appearance_backbone=tiny_image_backbone(3),
                            motion_backbone=tiny_image_backbone(20), backbone_weights=None,
                            frame_size=32, random_state=0, cache_dir=str(tmp_path))
    out = est.fit(videos).transform(videos)
    assert out.shape == (2, 2, 9, 8) and np.isfinite(out).all()
    # 9 segments of the real 8 frames repeat one frame (9 header frames would not)
    assert np.diff(SegmentSampler(9, mode="test").sample(9)[0]).min() == 1
    centres = SegmentSampler(9, mode="test").sample(8)[0]
    (twice,) = np.flatnonzero(np.diff(centres) == 0)
    np.testing.assert_allclose(out[0, 0, twice], out[0, 0, twice + 1], rtol=1e-6)
    assert not np.allclose(out[1, 0, twice], out[1, 0, twice + 1])
    train = est.fit_transform(videos)
    assert train.shape == (2, 2, 9, 8) and np.isfinite(train).all()


def test_multi_stream_gru_recounts_an_overstated_header(videos):
    """Without a cache the temporal stream reads flow stacks from the needed frames only."""
    est = MultiStreamGRU(spatial_backbone=tiny_image_backbone(3), spatial_weights=None,
                         temporal_backbone=tiny_image_backbone(20),
                         audio_backbone=tiny_audio_backbone(), frame_size=32, max_length=9,
                         units=4, epochs=1, batch_size=2, optimizer="adam", random_state=0)
    est.fit(videos, [0, 1])
    proba = est.predict_proba(videos)
    assert proba.shape == (2, 2) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("estimator", [TwoStreamFeatures, MultiStreamGRU])
def test_missing_files_and_directories_are_value_errors(estimator, videos, tmp_path):
    """Both named in one ValueError, as the clip estimators report bad files."""
    gone = str(tmp_path / "gone.avi")
    with pytest.raises(ValueError, match=r"2 of 3 video files .*gone.avi.*media file not found"
                                         r".*is a directory, not a media file"):
        estimator().fit([videos[0], gone, str(tmp_path)], [0, 1, 0])
