"""One frame-count path: a header that over-states the length is recounted everywhere.

The file: a valid 8-frame Matroska (MPEG-4 video + MP3 44.1 kHz audio)
written with PyAV; its duration (the audio runs a little longer) suggests 9
frames, so frame 8 of the header's count does not exist.
"""
import numpy as np
import pytest

from actionzoo.data import (
    ClipLoader,
    DenseClipSampler,
    FrameCountError,
    SegmentSampler,
    VideoReader,
    read_flow_stacks,
    read_sampled,
    video_info,
)
from actionzoo.data.encode import write_video
from tests.data.media import coded_frames, decode_indices, tone

FRAMES = 8


@pytest.fixture
def short_mkv(tmp_path):
    path = write_video(str(tmp_path / "short.mkv"), coded_frames(FRAMES), 25, codec="mpeg4",
                       audio=tone(FRAMES / 25, sr=44100), sample_rate=44100,
                       audio_codec="libmp3lame", bit_rate=2_000_000)
    info = video_info(path)
    assert (info.num_frames, info.frame_count_source) == (FRAMES + 1, "duration")
    assert video_info(path, exact=True).num_frames == FRAMES
    return path


def test_reading_past_the_real_end_raises_with_the_decoded_count(short_mkv):
    with VideoReader(short_mkv) as reader, pytest.raises(FrameCountError) as err:
        reader.read([FRAMES])
    assert err.value.decoded == FRAMES and isinstance(err.value, ValueError)


def test_read_sampled_recounts_and_resamples_once(short_mkv):
    sampler = SegmentSampler(3, mode="test")
    calls = []
    with VideoReader(short_mkv) as reader:
        def sample():
            calls.append(reader.info.num_frames)
            return sampler.sample(reader.info.num_frames)

        indices, frames = read_sampled(reader, sample, lambda idx: reader.read(idx.ravel()))
    assert calls == [FRAMES + 1]  # [[1, 4, 7]] of 9 frames exist: no recount
    np.testing.assert_array_equal(decode_indices(frames), indices.ravel())

    calls.clear()
    with VideoReader(short_mkv) as reader:
        def last_frame():
            calls.append(reader.info.num_frames)
            return np.array([[reader.info.num_frames - 1]])

        indices, frames = read_sampled(reader, last_frame, lambda idx: reader.read(idx.ravel()))
        assert reader.info.num_frames == FRAMES and reader.info.frame_count_source == "decoded"
    assert calls == [FRAMES + 1, FRAMES]
    assert indices.tolist() == [[FRAMES - 1]] and decode_indices(frames).tolist() == [FRAMES - 1]


def test_read_sampled_does_not_hide_a_second_failure(short_mkv):
    with VideoReader(short_mkv) as reader, pytest.raises(FrameCountError):
        read_sampled(reader, lambda: np.array([[FRAMES + 5]]), lambda idx: reader.read(idx.ravel()))


def test_loader_and_flow_stacks_use_the_real_count(short_mkv):
    loader = ClipLoader(DenseClipSampler(FRAMES + 1, mode="test", short="error"),
                        modalities=("rgb",), frame_size=32)
    with pytest.raises(ValueError, match="video has 8 frames but a clip spans 9 frames"):
        loader(short_mkv)  # the recount reached the sampler
    clip = ClipLoader(SegmentSampler(FRAMES + 1, mode="test"), modalities=("rgb", "flow"),
                      flow_length=2, flow_method="farneback", frame_size=32)(short_mkv)
    assert clip["indices"].max() == FRAMES - 1
    with VideoReader(short_mkv) as reader:
        stacks = read_flow_stacks(reader, [FRAMES - 1], length=4, method="farneback")
        assert reader.info.num_frames == FRAMES
    assert stacks.shape == (1, 48, 64, 8)


def test_cli_predict_recounts(short_mkv, capsys):
    """``actionzoo predict`` samples through the same loader (10 looped clips hit frame 8)."""
    import json

    from actionzoo.cli import main
    from actionzoo.weights import pretrained_info

    info = pretrained_info("corrnet26.demo")
    sampler = info.preprocessing.loader().sampler
    assert sampler.sample(FRAMES + 1).max() == FRAMES  # the header's count asks for frame 8
    code = main(["predict", short_mkv, "--weights", "corrnet26.demo", "--json", "-q"])
    out = capsys.readouterr().out
    assert code == 0
    (result,) = json.loads(out)
    assert result["video"] == short_mkv and result["predictions"][0]["label"] in info.classes
