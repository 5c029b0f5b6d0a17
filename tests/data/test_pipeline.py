"""tf.data pipelines over real encoded files: content, determinism, modalities, bad input."""
import os
import warnings

import numpy as np
import pytest
import tensorflow as tf

from actionzoo.data import (
    AdaptiveSampler,
    ClipLoader,
    Compose,
    DataError,
    DenseClipSampler,
    RandomHorizontalFlip,
    SegmentSampler,
    SkipLog,
    UniformClipSampler,
    check_files,
    dequantize_flow,
    eval_transform,
    make_dataset,
    train_transform,
)
from actionzoo.data.encode import write_video
from tests.data.media import decode_indices, tone

pytestmark = pytest.mark.timeout(300)


def collect(ds):
    return [tuple(t.numpy() for t in element) if isinstance(element, tuple) else element
            for element in ds]


def test_rgb_clips_contain_the_sampled_frames(videos):
    paths, labels = videos
    sampler = DenseClipSampler(8, stride=2, mode="test")
    ds = make_dataset(paths, labels, ClipLoader(sampler, frame_size=(48, 64)), batch_size=3)
    batches = collect(ds)
    assert [b[0].shape for b in batches] == [(3, 8, 48, 64, 3), (1, 8, 48, 64, 3)]
    clips = np.concatenate([b[0] for b in batches])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), labels)
    assert clips.dtype == np.uint8
    for clip, n in zip(clips, [30, 40, 20, 25], strict=True):
        np.testing.assert_array_equal(decode_indices(clip), sampler.sample(n)[0])


def test_same_seed_same_batches_and_epochs_differ(videos):
    paths, labels = videos

    def make(seed):
        loader = ClipLoader(DenseClipSampler(4, mode="train"), train_transform(32, short_side=40))
        return make_dataset(paths, labels, loader, batch_size=2, shuffle=True, seed=seed)

    ds = make(7)
    epoch1, epoch2 = collect(ds), collect(ds)
    again = collect(make(7))
    for a, b in zip(epoch1, again, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(epoch1, epoch2, strict=True))
    assert sorted(np.concatenate([b[1] for b in epoch1]).tolist()) == sorted(labels.tolist())


def test_unlabelled_dataset_yields_features_only(videos):
    paths, _ = videos
    ds = make_dataset(paths, None, ClipLoader(SegmentSampler(3, mode="test"), frame_size=24),
                      batch_size=4)
    batch = next(iter(ds))
    assert isinstance(batch, tf.Tensor) and batch.shape == (4, 3, 24, 24, 3)


def test_bad_file_raises_error_naming_it(videos, tmp_path):
    paths, labels = videos
    bad = tmp_path / "garbage.avi"
    bad.write_bytes(b"\x00not a video" * 100)
    ds = make_dataset(paths[:2] + [os.fspath(bad)], [0, 1, 2],
                      ClipLoader(DenseClipSampler(4, mode="test"), frame_size=24), batch_size=1)
    with pytest.raises(tf.errors.OpError, match="garbage.avi"):
        collect(ds)


def test_skip_warns_records_and_keeps_the_rest(videos, tmp_path):
    paths, labels = videos
    bad = tmp_path / "garbage.avi"
    bad.write_bytes(b"\x00not a video" * 100)
    missing = os.fspath(tmp_path / "missing.mp4")
    mixed = [paths[0], os.fspath(bad), paths[1], missing]
    log = SkipLog()
    ds = make_dataset(mixed, [0, 1, 2, 3], ClipLoader(DenseClipSampler(4, mode="test"),
                                                      frame_size=24),
                      batch_size=8, on_error="skip", skip_log=log)
    with pytest.warns(UserWarning, match="skipping .*(garbage.avi|missing.mp4)"):
        batches = collect(ds)
    assert len(batches) == 1 and batches[0][0].shape[0] == 2
    np.testing.assert_array_equal(batches[0][1], [0, 2])
    skipped = [(item.index, os.path.basename(item.path)) for item in log]
    assert skipped == [(1, "garbage.avi"), (3, "missing.mp4")]
    assert ds.skip_log is log
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        collect(ds)  # second epoch: the log already has them, no duplicates
    assert len(log) == 2


def test_all_modalities_with_audio_flag(videos):
    paths, labels = videos
    loader = ClipLoader(SegmentSampler(3, mode="test"), eval_transform(32, 40),
                        modalities=("rgb", "flow", "audio"), flow_length=2,
                        flow_method="farneback", audio_examples=2)
    ds = make_dataset(paths, labels, loader, batch_size=4)
    features, y = next(iter(ds))
    assert features["rgb"].shape == (4, 3, 32, 32, 3)
    assert features["flow"].shape == (4, 3, 32, 32, 4) and features["flow"].dtype == tf.uint8
    assert features["audio"].shape == (4, 2, 96, 64) and features["audio"].dtype == tf.float32
    assert features["has_audio"].numpy().tolist() == [True, False, True, False]
    silent = features["audio"].numpy()[1]
    np.testing.assert_allclose(silent, np.log(0.01))
    assert features["audio"].numpy()[0].max() > np.log(0.01) + 1


def moving_square_video(tmp_path, name="square.avi", n=16):
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (16, 16, 3)).astype(np.uint8)
    frames = np.full((n, 64, 64, 3), 90, np.uint8)
    for t in range(n):
        frames[t, 24:40, 8 + 2 * t:24 + 2 * t] = texture
    return write_video(os.fspath(tmp_path / name), frames, bit_rate=4_000_000)


def test_flip_mirrors_rgb_and_negates_flow_together(tmp_path):
    path = moving_square_video(tmp_path)
    sampler = DenseClipSampler(4, mode="test")
    common = dict(modalities=("rgb", "flow"), frame_size=64, flow_length=1,
                  flow_method="farneback")
    plain = next(iter(make_dataset([path], None, ClipLoader(sampler, **common), batch_size=1)))
    flip = ClipLoader(sampler, Compose([RandomHorizontalFlip(1.0)]), **common)
    flipped = next(iter(make_dataset([path], None, flip, batch_size=1)))
    np.testing.assert_array_equal(flipped["rgb"].numpy(), plain["rgb"].numpy()[:, :, :, ::-1])
    fx_plain = dequantize_flow(plain["flow"].numpy()[0, :, 28:36, 20:30, 0])
    fx_flip = dequantize_flow(flipped["flow"].numpy()[0, :, 28:36, 34:44, 0])
    assert fx_plain.mean() > 1.0 and fx_flip.mean() < -1.0


def test_audio_windows_follow_the_sampled_clips(tmp_path):
    n, fps, sr = 100, 25, 22050
    audio = np.concatenate([tone(2.0, freq=500.0, sr=sr), tone(2.0, freq=3000.0, sr=sr)])
    frames = np.zeros((n, 48, 64, 3), np.uint8)
    path = write_video(os.fspath(tmp_path / "two_tones.mp4"), frames, fps, audio=audio,
                       sample_rate=sr)
    loader = ClipLoader(UniformClipSampler(8, num_clips=2), modalities=("audio",), audio_examples=1)
    out = loader(path)
    assert out["audio"].shape == (2, 1, 96, 64) and out["has_audio"]
    bands = out["audio"].mean(axis=(1, 2)).argmax(axis=-1)
    assert bands[0] < bands[1]  # first clip hears 500 Hz, last clip 3 kHz
    first_start, first_end = (out["indices"][0, 0]) / fps, (out["indices"][0, -1] + 1) / fps
    assert first_end <= 2.0 and first_start < 1.0


def test_lying_header_falls_back_to_decoded_count(make_video, tmp_path):
    full = make_video("full.avi", n=60, audio=False)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(open(full, "rb").read()[: int(os.path.getsize(full) * 0.7)])
    sampler = DenseClipSampler(8, mode="test")
    loader = ClipLoader(sampler, frame_size=(48, 64))
    out = loader(os.fspath(cut))
    decoded = int(out["indices"].max()) + 1
    assert decoded < 60
    np.testing.assert_array_equal(decode_indices(out["rgb"]), out["indices"][0])


def test_multi_view_test_batches(videos):
    paths, labels = videos
    loader = ClipLoader(UniformClipSampler(4, num_clips=3), eval_transform(32, 40, crops=3))
    ds = make_dataset(paths[:2], labels[:2], loader, batch_size=2)
    clips, y = next(iter(ds))
    assert clips.shape == (2, 9, 4, 32, 32, 3)


def test_short_videos_loop_in_the_pipeline(make_video):
    path = make_video("short.mp4", n=5, audio=False)
    clip = ClipLoader(DenseClipSampler(8, mode="test"), frame_size=(48, 64))(path)["rgb"]
    np.testing.assert_array_equal(decode_indices(clip), [0, 1, 2, 3, 4, 0, 1, 2])


def test_adaptive_sampler_in_pipeline(tmp_path):
    frames = np.full((40, 64, 64, 3), 90, np.uint8)
    texture = np.random.default_rng(0).integers(0, 255, (16, 16, 3)).astype(np.uint8)
    for t in range(40):
        x = 8 if t < 20 else 8 + 2 * (t - 20)  # still, then moving
        frames[t, 24:40, x:x + 16] = texture
    path = write_video(os.fspath(tmp_path / "late_motion.avi"), frames, bit_rate=4_000_000)
    loader = ClipLoader(AdaptiveSampler(num_samples=8, num_segments=2), frame_size=32,
                        flow_method="farneback")
    idx = loader(path)["indices"][0]
    assert (idx >= 20).sum() >= 6


def test_argument_validation(videos):
    paths, _ = videos
    sampler = DenseClipSampler(4)
    loader = ClipLoader(sampler, frame_size=24)
    with pytest.raises(TypeError, match="LabelEncoder"):
        make_dataset(paths, ["a", "b", "c", "d"], loader)
    with pytest.raises(ValueError, match="one label per path"):
        make_dataset(paths, [0, 1], loader)
    with pytest.raises(ValueError, match="on_error"):
        make_dataset(paths, None, loader, on_error="ignore")
    with pytest.raises(TypeError, match="single path"):
        make_dataset(paths[0], None, loader)
    for not_a_loader in (None, sampler):
        with pytest.raises(TypeError, match=r"loader must be .*ClipLoader\(DenseClipSampler"):
            make_dataset(paths, None, not_a_loader)
    with pytest.raises(ValueError, match="modalities"):
        ClipLoader(sampler, frame_size=24, modalities=("depth",))
    with pytest.raises(ValueError, match="frame_size"):
        ClipLoader(sampler)


def test_check_files_fails_fast_or_skips(videos, tmp_path):
    paths, _ = videos
    missing = os.fspath(tmp_path / "missing.avi")
    with pytest.raises(FileNotFoundError, match="missing.avi"):
        check_files(paths + [missing])
    log = SkipLog()
    with pytest.warns(UserWarning, match="missing.avi"):
        assert check_files(paths + [missing], on_error="skip", skip_log=log) == [0, 1, 2, 3]
    assert len(log) == 1
    assert issubclass(DataError, ValueError)


def test_grayscale_odd_sized_files_batch_with_normal_ones(make_video, tmp_path):
    gray = np.stack([np.full((47, 63), 10 * i, np.uint8) for i in range(12)])
    odd = write_video(os.fspath(tmp_path / "gray.mkv"), gray, codec="ffv1", pix_fmt="gray")
    normal = make_video("rgb.mp4", n=12, audio=False)
    loader = ClipLoader(DenseClipSampler(4, mode="train"), train_transform(32, short_side=40))
    ds = make_dataset([odd, normal], [0, 1], loader, batch_size=2, seed=0)
    clips, y = next(iter(ds))
    assert clips.shape == (2, 4, 32, 32, 3)
    first = clips.numpy()[0]
    np.testing.assert_array_equal(first[..., 0], first[..., 1])  # gray became RGB


def test_whole_track_audio_span(make_video):
    path = make_video("long_audio.avi", n=75, audio=True)  # 3 s
    loader = ClipLoader(SegmentSampler(3, mode="test"), modalities=("audio",),
                        audio_span="video", audio_examples=4)
    out = loader(path)
    assert out["audio"].shape == (4, 96, 64) and out["has_audio"]
    assert (out["audio"][:3].max(axis=(1, 2)) > np.log(0.01) + 1).all()  # 3 s of tone = 3 examples
    np.testing.assert_allclose(out["audio"][3], np.log(0.01))  # 4th is silence padding
    assert loader.output_spec()["audio"] == ((4, 96, 64), "float32")


def test_flow_cache_gives_the_same_stacks_and_is_reused(tmp_path):
    path = moving_square_video(tmp_path, n=12)
    sampler = SegmentSampler(3, mode="test")
    kwargs = dict(modalities=("flow",), frame_size=64, flow_length=4, flow_method="farneback")
    direct = ClipLoader(sampler, **kwargs)(path)["flow"]
    cached_loader = ClipLoader(sampler, flow_cache=tmp_path / "cache", **kwargs)
    first = cached_loader(path)["flow"]
    entries = os.listdir(tmp_path / "cache")
    second = cached_loader(path)["flow"]
    np.testing.assert_array_equal(first, direct)
    np.testing.assert_array_equal(second, direct)
    assert len(entries) == 1 and os.listdir(tmp_path / "cache") == entries


def test_audio_only_dataset(videos):
    paths, labels = videos
    loader = ClipLoader(UniformClipSampler(4, num_clips=2), modalities=("audio",),
                        audio_examples=1)
    ds = make_dataset(paths, labels, loader, batch_size=4)
    features, y = next(iter(ds))
    assert set(features) == {"audio", "has_audio"}
    assert features["audio"].shape == (4, 2, 1, 96, 64)
    assert features["has_audio"].numpy().tolist() == [True, False, True, False]


def test_non_overlapping_clips_have_per_video_view_counts(videos):
    paths, labels = videos  # 30, 40, 20, 25 frames
    sampler = UniformClipSampler(8, num_clips=None)
    with pytest.raises(ValueError, match="batch_size=1"):
        make_dataset(paths, labels, ClipLoader(sampler, frame_size=24), batch_size=2)
    loader = ClipLoader(sampler, frame_size=(48, 64), modalities=("rgb", "audio"))
    ds = make_dataset(paths, labels, loader, batch_size=1)
    shapes, firsts = [], []
    for features, _ in ds:
        shapes.append(features["rgb"].shape[1])
        firsts.append(decode_indices(features["rgb"].numpy()[0, :, 0]).tolist())
        assert features["audio"].shape[1] == features["rgb"].shape[1]
    assert shapes == [3, 5, 2, 3]
    assert firsts[1] == [0, 8, 16, 24, 32]


def test_decoders_run_concurrently_in_a_private_pool():
    """Two decoding calls are in flight at once by default (no autotune ramp-up, no shared pool)."""
    import threading

    from actionzoo.data.pipeline import build_pipeline, default_parallel_calls, load_each

    both = threading.Barrier(2, timeout=60)
    met = []

    def load(item, seed):
        if int(item) < 2:  # the first two calls must overlap, or the barrier breaks
            both.wait()
            met.append(int(item))
        return {"rgb": np.zeros((1, 2, 2, 3), np.uint8)}, 0, "x"

    spec = {"rgb": ((1, 2, 2, 3), "uint8")}
    ds = build_pipeline(tf.data.Dataset.range(4), load_each(load, spec), spec, batch_size=4)
    assert ds.options().threading.private_threadpool_size == default_parallel_calls() + 2
    # fixed parallelism: no autotuning, whose thread delayed every iterator's deletion
    assert ds.options().autotune.enabled is False
    tuned = build_pipeline(tf.data.Dataset.range(4), load_each(load, spec), spec,
                           num_parallel_calls=tf.data.AUTOTUNE)
    assert tuned.options().autotune.enabled is True
    assert default_parallel_calls() >= 2
    (clips, labels), = list(ds)
    assert clips.shape == (4, 1, 2, 2, 3) and sorted(met) == [0, 1]


def test_auto_workers_are_processes_on_several_cores(monkeypatch):
    from actionzoo.data import pipeline
    monkeypatch.setattr(pipeline, "usable_cores", lambda: 4)
    assert pipeline._as_num_workers("auto") == 4
    monkeypatch.setattr(pipeline, "usable_cores", lambda: 1)
    assert pipeline._as_num_workers("auto") == 0
    with pytest.raises(ValueError, match="'auto' or an int"):
        pipeline._as_num_workers("many")
