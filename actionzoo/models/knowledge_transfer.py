"""Frame/clip correspondence network for 2D -> 3D knowledge transfer (Diba et al., Sec. 3.2)."""
import keras
import numpy as np


def _check_vector_output(model, role):
    # model.outputs, not model.output: a keras.Sequential has no .output
    # until it is called, even when built from a keras.Input.
    shape = tuple(model.outputs[0].shape)
    if len(shape) != 2:
        raise ValueError(f"the {role} must output a feature vector (batch, d), got {shape}; "
                         "build it without its classifier (e.g. include_top=False)")


def frame_clip_correspondence(teacher, student, n_frames=None, feature_units=1024,
                              hidden_units=(512, 128), name="frame_clip_correspondence"):
    """Build the image-video correspondence network of paper Fig. 2.

    Two inputs: ``frames`` ``(batch, n_frames, H, W, C)``, fed one by one to
    the 2D ``teacher`` whose features are averaged over the frames, and
    ``clip`` ``(batch, T, H, W, C)``, fed to the 3D ``student``. Each side
    gets a fully connected ReLU layer of ``feature_units`` (paper: 1024,
    "we add a fully-connected layer after the last block"; layers
    ``"teacher_fc"`` and ``"student_fc"``), the two are concatenated
    (1024 + 1024 = the paper's 2048-d layer) and passed through ReLU layers
    ``hidden_units`` (paper: fc1 512, fc2 128; layers ``"fc1"``, ``"fc2"``)
    to 2 logits (``"match"``; the paper's 2-way softmax: index 1 = the frames
    and the clip come from the same time stamp of the same video).

    The teacher is frozen (``teacher.trainable = False``, so its
    BatchNormalization layers also run in inference mode); the student is
    used as is, so training this network updates the ``student`` model
    itself, which then serves as the initialisation for fine-tuning. Frames
    reach the teacher unchanged: apply the teacher's own preprocessing
    before.

    Parameters
    ----------
    teacher : keras.Model
        2D network, frame ``(H, W, C)`` -> feature vector (e.g.
        ``keras.applications.ResNet50(include_top=False, pooling="avg")``).
    student : keras.Model
        3D network, clip -> feature vector (e.g.
        ``resnet3d(..., include_top=False)``).
    n_frames : int, optional
        Frames per sample for the teacher; defaults to the student's clip
        length (paper: 16).
    feature_units : int or None, default=1024
        Width of the per-side fc layers; ``None`` concatenates the raw
        features.
    hidden_units : sequence of int, default=(512, 128)
    name : str

    Returns
    -------
    keras.Model
        Inputs ``[frames, clip]``, output ``(batch, 2)`` logits.

    Examples
    --------
    >>> import keras
    >>> from actionzoo.models.resnet3d import resnet3d
    >>> teacher = keras.applications.ResNet50(weights=None, include_top=False,
    ...                                       pooling="avg", input_shape=(32, 32, 3))
    >>> student = resnet3d(depth=18, clip_length=4, input_size=32, width=0.125,
    ...                    include_top=False)
    >>> model = frame_clip_correspondence(teacher, student)
    >>> [tuple(t.shape) for t in model.inputs], tuple(model.output.shape)
    ([(None, 4, 32, 32, 3), (None, 4, 32, 32, 3)], (None, 2))
    """
    _check_vector_output(teacher, "teacher")
    _check_vector_output(student, "student")
    clip_shape = tuple(student.input_shape[1:])
    frame_shape = tuple(teacher.input_shape[1:])
    if len(clip_shape) != 4 or len(frame_shape) != 3:
        raise ValueError(f"teacher must take frames (H, W, C) and student clips (T, H, W, C); got "
                         f"{frame_shape} and {clip_shape}")
    frame_shape = tuple(f if f is not None else c
                        for f, c in zip(frame_shape, clip_shape[1:], strict=True))
    n_frames = clip_shape[0] if n_frames is None else int(n_frames)

    teacher.trainable = False
    frames = keras.Input((n_frames,) + frame_shape, name="frames")
    clip = keras.Input(clip_shape, name="clip")
    per_frame = keras.layers.TimeDistributed(teacher, name="teacher")(frames)
    frame_features = keras.layers.GlobalAveragePooling1D(name="frame_average")(per_frame)
    clip_features = student(clip)
    if feature_units is not None:
        frame_features = keras.layers.Dense(feature_units, activation="relu",
                                            name="teacher_fc")(frame_features)
        clip_features = keras.layers.Dense(feature_units, activation="relu",
                                           name="student_fc")(clip_features)
    x = keras.layers.Concatenate(name="concat")([frame_features, clip_features])
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(int(units), activation="relu", name=f"fc{i + 1}")(x)
    logits = keras.layers.Dense(2, name="match")(x)
    return keras.Model([frames, clip], logits, name=name)


def correspondence_pairs(clips, video_ids=None, random_state=None):
    """Positive and negative (frames, clip) pairs for the correspondence task.

    Paper Sec. 3.2: frames and a clip from the same time stamp of the same
    video are a positive pair; frames and a clip from two different videos
    are a negative pair. Each clip appears twice: with its own frames
    (label 1) and with the frames of a randomly drawn clip of another video
    (label 0). The pairs are shuffled.

    Parameters
    ----------
    clips : array of shape (n, T, H, W, C)
        One clip per row; its frames are the teacher's frames.
    video_ids : array of shape (n,), optional
        Source video of each clip; default: every clip its own video.
    random_state : int or numpy.random.Generator, optional

    Returns
    -------
    frames, clips, labels : arrays of shape (2n, T, H, W, C), (2n, T, H, W, C), (2n,)
        Inputs ``[frames, clips]`` and targets of
        :func:`frame_clip_correspondence`.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(3)[:, None, None, None, None] * np.ones((3, 2, 1, 1, 1))
    >>> frames, clips, labels = correspondence_pairs(x, random_state=0)
    >>> frames.shape, int(labels.sum())
    ((6, 2, 1, 1, 1), 3)
    >>> bool(np.all((frames == clips).all(axis=(1, 2, 3, 4)) == (labels == 1)))
    True
    """
    clips = np.asarray(clips)
    if clips.ndim != 5:
        raise ValueError(f"clips must have shape (n, T, H, W, C), got {clips.shape}")
    n = len(clips)
    video_ids = np.arange(n) if video_ids is None else np.asarray(video_ids)
    if video_ids.shape != (n,):
        raise ValueError(f"video_ids must have shape ({n},), got {video_ids.shape}")
    if len(np.unique(video_ids)) < 2:
        raise ValueError("negative pairs need clips of at least two different videos")
    rng = np.random.default_rng(random_state)
    partners = np.empty(n, dtype=int)
    for i in range(n):
        partners[i] = rng.choice(np.flatnonzero(video_ids != video_ids[i]))
    frames = np.concatenate([clips, clips[partners]])
    labels = np.concatenate([np.ones(n, "int64"), np.zeros(n, "int64")])
    order = rng.permutation(2 * n)
    return frames[order], np.concatenate([clips, clips])[order], labels[order]
