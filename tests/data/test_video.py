"""Decoding real encoded files: metadata, frame-accurate reads, seeking, bad input."""
import os

import av
import numpy as np
import pytest

from actionzoo.data import DecodeError, FrameCountError, VideoReader, read_video, video_info
from actionzoo.data.encode import write_video
from tests.data.media import CONTAINERS, coded_frames, decode_indices


@pytest.mark.parametrize("ext", CONTAINERS)
@pytest.mark.parametrize("audio", [True, False])
def test_info_and_full_read_every_container(make_video, ext, audio):
    path = make_video("clip" + ext, n=30, audio=audio)
    info = video_info(path)
    assert info.num_frames == 30
    assert info.fps == pytest.approx(25.0)
    assert (info.height, info.width) == (48, 64)
    assert info.has_audio is audio
    assert info.duration == pytest.approx(1.2)
    frames = read_video(path)
    assert frames.dtype == np.uint8 and frames.shape == (30, 48, 64, 3)
    np.testing.assert_array_equal(decode_indices(frames), np.arange(30))


@pytest.mark.parametrize("ext", CONTAINERS)
def test_indexed_read_returns_requested_frames_in_order(make_video, ext):
    path = make_video("clip" + ext, n=40, audio=False)
    wanted = [39, 0, 7, 7, 20, 1]
    frames = read_video(path, wanted)
    np.testing.assert_array_equal(decode_indices(frames), wanted)


@pytest.mark.parametrize("ext,kwargs", [
    (".avi", {}),
    (".avi", {"max_b_frames": 2, "gop_size": 12}),  # AVI + B-frames: seeks can overshoot
    (".mp4", {"gop_size": 25}),
    (".webm", {"gop_size": 25}),
])
def test_sparse_read_of_long_video_seeks_and_is_exact(make_video, ext, kwargs):
    path = make_video("long" + ext, n=250, audio=False, **kwargs)
    wanted = [3, 120, 121, 249, 60, 200]
    with VideoReader(path) as reader:
        seeks = []
        original = reader._seek
        reader._seek = lambda index: seeks.append(index) or original(index)
        frames = reader.read(wanted)
    np.testing.assert_array_equal(decode_indices(frames), wanted)
    assert seeks, "far-apart indices should trigger a seek"


def test_short_side_resize(make_video):
    path = make_video("clip.mp4", n=5, audio=False)
    frames = read_video(path, [0, 4], short_side=24)
    assert frames.shape == (2, 24, 32, 3)


@pytest.mark.parametrize("short_side,interpolation", [(24, "AREA"), (96, None)])
def test_resized_read_matches_pyav_to_ndarray(make_video, short_side, interpolation):
    """The reader's reused scaler gives the pixels of PyAV's per-frame to_ndarray(width=...)."""
    path = make_video("clip.avi", n=6, audio=False)
    with av.open(path) as container:
        expected = [frame.to_ndarray(format="rgb24", width=short_side * 4 // 3, height=short_side,
                                     interpolation=interpolation)
                    for frame in container.decode(video=0)]
    with VideoReader(path) as reader:
        frames = reader.read([0, 3, 5], short_side=short_side)
        assert (reader.read([1], short_side=short_side).shape
                == (1, short_side, short_side * 4 // 3, 3))
    np.testing.assert_array_equal(frames, np.stack([expected[i] for i in (0, 3, 5)]))


def test_grayscale_odd_sized_video_becomes_rgb(tmp_path):
    path = os.fspath(tmp_path / "gray.mkv")
    gray = np.stack([np.full((47, 63), 10 + 20 * i, np.uint8) for i in range(6)])
    write_video(path, gray, codec="ffv1", pix_fmt="gray")
    info = video_info(path)
    assert (info.height, info.width, info.num_frames) == (47, 63, 6)
    assert info.frame_count_source == "duration"
    frames = read_video(path)
    assert frames.shape == (6, 47, 63, 3)
    np.testing.assert_array_equal(frames[..., 0], frames[..., 2])
    np.testing.assert_array_equal(frames[:, 0, 0, 0], 10 + 20 * np.arange(6))


def test_exact_count_by_decoding(make_video):
    path = make_video("clip.webm", n=17, audio=False)
    info = video_info(path, exact=True)
    assert info.num_frames == 17 and info.frame_count_source == "decoded"


def test_missing_file_names_the_path(tmp_path):
    path = os.fspath(tmp_path / "nope.avi")
    with pytest.raises(FileNotFoundError, match="nope.avi"):
        read_video(path)


def test_directory_is_rejected(tmp_path):
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        video_info(tmp_path)


def test_corrupt_file_raises_decode_error_naming_file(tmp_path):
    path = tmp_path / "garbage.avi"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(DecodeError, match="garbage.avi") as err:
        read_video(path)
    assert err.value.path == os.fspath(path)


def test_file_cut_inside_header_raises_decode_error(make_video, tmp_path):
    path = make_video("full.avi", n=60, audio=False)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(open(path, "rb").read()[:1000])
    with pytest.raises(DecodeError, match="cut.avi"):
        read_video(cut, [0])


def test_empty_file_raises_decode_error(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(DecodeError, match="empty.mp4"):
        video_info(path)


def test_zero_frame_video_raises(tmp_path):
    path = os.fspath(tmp_path / "zero.avi")
    container = av.open(path, "w")
    stream = container.add_stream("mpeg4", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    container.start_encoding()  # header only, no packets
    container.close()
    assert os.path.getsize(path) > 0
    with pytest.raises(DecodeError, match="zero.avi.*no (decodable video frames|video stream)"):
        read_video(path)


def test_audio_only_file_has_no_video_stream(tmp_path):
    import soundfile as sf

    path = os.fspath(tmp_path / "sound.wav")
    sf.write(path, np.zeros(1600, np.float32), 16000)
    with pytest.raises(DecodeError, match="sound.wav: contains no video stream"):
        video_info(path)


@pytest.mark.parametrize("ext", [".avi", ".mkv"])
def test_truncated_file_reports_real_frame_count(make_video, tmp_path, ext):
    path = make_video("full" + ext, n=60, audio=False)
    data = open(path, "rb").read()
    cut = os.fspath(tmp_path / ("cut" + ext))
    with open(cut, "wb") as fh:
        fh.write(data[: int(len(data) * 0.7)])
    with VideoReader(cut) as reader:
        assert reader.info.num_frames == 60  # the header still claims 60
        with pytest.raises(FrameCountError, match="cut" + ext) as err:
            reader.read([59])
        decoded = err.value.decoded
        assert 0 < decoded < 60
        assert reader.count_frames() == decoded
        last = reader.read([decoded - 1])
    assert decode_indices(last)[0] == decoded - 1


def test_index_beyond_end_raises_frame_count_error(make_video):
    path = make_video("clip.mp4", n=10, audio=False)
    with pytest.raises(FrameCountError, match="frame 12 requested but only 10"):
        read_video(path, [12])
    with pytest.raises(ValueError, match="negative"):
        read_video(path, [-1])


def test_coded_frames_roundtrip_helper():
    np.testing.assert_array_equal(decode_indices(coded_frames(20)), np.arange(20))


def test_variable_frame_rate_is_resampled_by_timestamp(tmp_path):
    """Frames with irregular timestamps: indices follow time (sample and hold), reads stay
    consistent."""
    from fractions import Fraction

    path = os.fspath(tmp_path / "vfr.mkv")
    times_ms = [0, 40, 80, 200, 240, 400, 440, 480, 640, 680]
    container = av.open(path, "w")
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    stream.codec_context.time_base = Fraction(1, 1000)
    for frame, ms in zip(coded_frames(len(times_ms)), times_ms, strict=True):
        vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
        vf.pts, vf.time_base = ms, Fraction(1, 1000)
        for packet in stream.encode(vf):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    with VideoReader(path) as reader:
        frames = reader.read()
        fps = reader.info.fps
        codes = decode_indices(frames)
        assert len(codes) > len(times_ms)  # the gaps were filled
        assert np.all(np.diff(codes) >= 0)  # time never goes backwards
        for i, code in enumerate(codes):  # frame shown at i / fps is the latest one started by then
            assert times_ms[code] <= 1000 * i / fps + 1
        assert codes[-1] == len(times_ms) - 1
        subset = reader.read([len(codes) - 1, 0, 5])
    np.testing.assert_array_equal(subset, frames[[len(codes) - 1, 0, 5]])


def test_fifo_is_rejected_instead_of_blocking(tmp_path):
    path = os.fspath(tmp_path / "pipe.avi")
    os.mkfifo(path)
    with pytest.raises(DecodeError, match="pipe.avi: not a regular file"):
        video_info(path)
