"""Frame/clip correspondence network: structure, frozen teacher, trainable shared student."""
import keras
import numpy as np
import pytest
from keras import ops

from actionzoo.models.knowledge_transfer import frame_clip_correspondence
from actionzoo.models.resnet3d import resnet3d


def _teacher(size=16):
    inp = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(4, 3, name="t_conv")(inp)
    x = keras.layers.BatchNormalization(name="t_bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(x))
    return keras.Model(inp, x, name="teacher2d")


def _student(t=4, size=16, stc=True):
    return resnet3d(depth=18, stc=stc, clip_length=t, input_size=size, width=0.125,
                    include_top=False)


def _data(n=4, t=4, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, t, size, size, 3)).astype("float32") for _ in range(2)]


def test_structure_follows_the_paper_head():
    model = frame_clip_correspondence(_teacher(), _student(), feature_units=32)
    assert [tuple(t.shape) for t in model.inputs] == [(None, 4, 16, 16, 3)] * 2
    assert tuple(model.output.shape) == (None, 2)
    dense_names = ("teacher_fc", "student_fc", "fc1", "fc2", "match")
    assert [model.get_layer(n).units for n in dense_names] == [32, 32, 512, 128, 2]
    assert model.get_layer("concat").output.shape[-1] == 64


def test_teacher_features_are_averaged_over_frames():
    model = frame_clip_correspondence(_teacher(), _student(), n_frames=3, feature_units=None)
    frames, clip = _data()
    frames = frames[:, :3]
    out = ops.convert_to_numpy(model([frames, clip]))
    out_perm = ops.convert_to_numpy(model([frames[:, ::-1], clip]))
    np.testing.assert_allclose(out, out_perm, rtol=1e-5, atol=1e-6)
    other = frames.copy()
    other[:, 1] += 1.0
    assert not np.allclose(ops.convert_to_numpy(model([other, clip])), out, atol=1e-6)


def test_training_updates_the_student_only():
    teacher, student = _teacher(), _student()
    model = frame_clip_correspondence(teacher, student, feature_units=16, hidden_units=(8,))
    teacher_before = [w.numpy().copy() for w in teacher.weights]  # incl. BN moving statistics
    student_before = [w.numpy().copy() for w in student.trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(0.05), run_eagerly=True,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(_data(), np.array([1, 0, 1, 0]), epochs=1, verbose=0)
    for before, w in zip(teacher_before, teacher.weights, strict=True):
        np.testing.assert_array_equal(before, w.numpy())
    changed = [not np.allclose(b, w.numpy())
               for b, w in zip(student_before, student.trainable_weights, strict=True)]
    assert sum(changed) > len(changed) // 2


def test_sequential_teacher():
    """A keras.Sequential has no ``.output`` until called; it is a valid teacher."""
    teacher = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3),
                                keras.layers.GlobalAveragePooling2D()])
    model = frame_clip_correspondence(teacher, _student(), feature_units=8)
    assert tuple(model(_data(n=2)).shape) == (2, 2)


def test_models_must_output_vectors():
    with pytest.raises(ValueError, match="student must output a feature vector"):
        full = _student()
        truncated = keras.Model(full.input, full.get_layer("conv5_block2_out").output)
        frame_clip_correspondence(_teacher(), truncated)


def test_correspondence_pairs_follow_the_paper_definition():
    from actionzoo.models.knowledge_transfer import correspondence_pairs

    n = 6
    video_ids = np.array([0, 0, 1, 1, 2, 2])  # two clips (time stamps) per video
    clips = (np.arange(n, dtype="float32")[:, None, None, None, None]
             * np.ones((n, 2, 2, 2, 3), "float32"))
    frames, paired, labels = correspondence_pairs(clips, video_ids, random_state=0)
    assert frames.shape == paired.shape == (2 * n, 2, 2, 2, 3) and labels.shape == (2 * n,)
    frame_clip, clip_idx = frames[:, 0, 0, 0, 0].astype(int), paired[:, 0, 0, 0, 0].astype(int)
    assert sorted(clip_idx) == sorted(list(range(n)) * 2)  # each clip once positive, once negative
    positive = labels == 1
    assert positive.sum() == n
    # same video, same time stamp
    np.testing.assert_array_equal(frame_clip[positive], clip_idx[positive])
    assert np.all(video_ids[frame_clip[~positive]] != video_ids[clip_idx[~positive]])  # other video
    again = correspondence_pairs(clips, video_ids, random_state=0)
    for a, b in zip(again, (frames, paired, labels), strict=True):
        np.testing.assert_array_equal(a, b)


def test_correspondence_pairs_need_two_videos():
    from actionzoo.models.knowledge_transfer import correspondence_pairs

    with pytest.raises(ValueError, match="two different videos"):
        correspondence_pairs(np.zeros((3, 2, 2, 2, 3)), video_ids=[5, 5, 5])
    with pytest.raises(ValueError, match="shape"):
        correspondence_pairs(np.zeros((3, 2, 2, 3)))
