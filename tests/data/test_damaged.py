"""Damaged real files: undecodable packets are skipped and counted, as FFmpeg does.

Each test writes a valid file with PyAV (MPEG-4 video and AC-3 48 kHz audio
in AVI, as many real collections hold), then overwrites the start of one
packet's payload with random bytes so that the decoder rejects that packet.
"""
import os
import shutil
import warnings

import numpy as np
import pytest

from actionzoo.data import (
    DataError,
    DecodeError,
    MissingFileError,
    NotAFileError,
    read_audio,
    read_flow_stacks,
    read_video,
    video_info,
)
from actionzoo.data.video import VideoReader
from tests.data.media import coded_frames, damage, decode_indices, packet_payloads, tone

N = 50


@pytest.fixture
def clean_avi(tmp_path):
    from actionzoo.data.encode import write_video

    return write_video(os.fspath(tmp_path / "clean.avi"), coded_frames(N), 25, codec="mpeg4",
                       audio=tone(N / 25, sr=48000), sample_rate=48000, audio_codec="ac3",
                       bit_rate=2_000_000, gop_size=10)


def _damaged_copy(clean, kind, choose, fraction=1 / 3):
    path = clean.replace("clean.avi", f"damaged-{kind}.avi")
    shutil.copy(clean, path)
    return damage(path, choose(packet_payloads(path, kind)), fraction)


def _middle_inter_packet(payloads):
    inter = [p for p in payloads if not p[2]]
    return [inter[len(inter) // 2]]


def _concealment_warnings(caught):
    return [str(w.message) for w in caught if "undecodable" in str(w.message)]


def test_one_bad_audio_packet_is_skipped_and_the_rest_decoded(clean_avi):
    path = _damaged_copy(clean_avi, "audio", lambda p: [p[len(p) // 2]])
    clean, _ = read_audio(clean_avi)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wave, has_audio = read_audio(path)
        read_audio(path)  # a second read does not warn again
    assert _concealment_warnings(caught) == [
        f"{path}: skipped 1 undecodable audio packet (decoded around the damage)"]
    assert has_audio
    # one AC-3 frame is 1536 samples at 48 kHz = 512 at 16 kHz
    assert len(clean) - 2 * 512 <= len(wave) < len(clean)
    # the first half (before the damaged packet) is the clean signal
    half = len(wave) // 3
    np.testing.assert_allclose(wave[:half], clean[:half], atol=1e-4)


def test_one_bad_video_packet_is_skipped_and_the_rest_decoded(clean_avi):
    path = _damaged_copy(clean_avi, "video", _middle_inter_packet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = read_video(path)
        info = video_info(path, exact=True)
    assert _concealment_warnings(caught) == [
        f"{path}: skipped 1 undecodable video packet (decoded around the damage)"]
    assert info.skipped_packets == 1 and info.num_frames == N
    assert video_info(clean_avi, exact=True).skipped_packets == 0
    assert frames.shape == (N, 48, 64, 3)
    decoded = decode_indices(frames)
    damaged_at = int(np.argmax(decoded != np.arange(N)))
    assert damaged_at > 0
    np.testing.assert_array_equal(decoded[:damaged_at], np.arange(damaged_at))
    # the lost frame is held by its predecessor; the next key frame (every 10) is exact again
    assert decoded[damaged_at] == damaged_at - 1
    next_key = (damaged_at // 10 + 1) * 10
    np.testing.assert_array_equal(decoded[next_key:], np.arange(next_key, N))
    # seeking reads and flow go through the same decoder
    with VideoReader(path) as reader:
        assert reader.read([2, N - 1]).shape[0] == 2
        stacks = read_flow_stacks(reader, [damaged_at], length=4, method="farneback")
    assert stacks.shape == (1, 48, 64, 8)


def test_a_stream_without_one_decodable_packet_is_an_error(clean_avi):
    no_audio = _damaged_copy(clean_avi, "audio", lambda p: p)
    with pytest.raises(DecodeError, match=r"damaged-audio.avi: audio stream has no decodable "
                                          r"packet \(\d+ undecodable packets skipped\)"):
        read_audio(no_audio)
    no_video = _damaged_copy(clean_avi, "video", lambda p: p, fraction=1.0)
    with pytest.raises(DecodeError, match=r"damaged-video.avi: contains no decodable video "
                                          r"frames \(\d+ undecodable packets skipped\)"):
        video_info(no_video)


def test_missing_empty_and_directory_inputs_are_named_as_such(tmp_path):
    missing = os.fspath(tmp_path / "gone.avi")
    for reader in (video_info, read_video, read_audio):
        with pytest.raises(MissingFileError, match="gone.avi: media file not found") as err:
            reader(missing)
        assert isinstance(err.value, ValueError) and isinstance(err.value, FileNotFoundError)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(DecodeError, match=r"empty.mp4: empty file \(0 bytes\)"):
        video_info(empty)
    with pytest.raises(NotAFileError, match="is a directory, not a media file"):
        read_audio(tmp_path)
    assert issubclass(NotAFileError, DataError)
