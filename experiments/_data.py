"""Data the video experiments train on, built from the library's demo generator."""
import numpy as np


def direction_split(root, groups=30, size=(96, 72), num_frames=48):
    """The four direction classes of the demo data (MoveLeft/Right/Up/Down), split 1.

    ``groups`` groups of 2 clips per class; every group has its own background,
    shared by all four classes, so only the motion tells the class. With 30
    groups: 160 training and 80 test videos from disjoint groups. Returns
    ``X_train, y_train, X_test, y_test`` (X: arrays of paths).
    """
    from actionzoo.data import load_ucf101, make_synthetic_dataset

    make_synthetic_dataset(root, num_classes=4, groups=groups, clips_per_group=2,
                           num_frames=num_frames, width=size[0], height=size[1], seed=0,
                           verbose=0)
    train, test = load_ucf101(root, 1, "train"), load_ucf101(root, 1, "test")
    return (np.array(train.paths, dtype=object), train.labels,
            np.array(test.paths, dtype=object), test.labels)


def shape_images(n, size=64, seed=0):
    """Images to pre-train a small 2D teacher on, drawn here (a stand-in for ImageNet).

    Each image: 1-4 shapes (circle, square, triangle; random colour, size,
    angle and place) on a smooth random texture; the target is how many shapes
    (0-3 for 1-4). No demo video and no motion label is used.
    """
    import cv2

    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.uint8)
    counts = rng.integers(1, 5, n)
    for image, count in zip(images, counts, strict=True):
        texture = cv2.resize(rng.uniform(-40, 40, (4, 4, 3)).astype(np.float32), (size, size),
                             interpolation=cv2.INTER_CUBIC)
        image[:] = np.clip(rng.integers(20, 235, 3) + texture, 0, 255)
        for _ in range(count):
            corners, scale = ((20, 1.0), (4, 1.2), (3, 1.3))[rng.integers(3)]
            radius = rng.uniform(4, 10) * scale * size / 64
            angles = rng.uniform(0, 2 * np.pi) + np.arange(corners) * 2 * np.pi / corners
            outline = rng.uniform(0.1, 0.9, 2) * size + radius * np.stack(
                [np.cos(angles), np.sin(angles)], -1)
            cv2.fillPoly(image, [np.round(outline * 16).astype(np.int32)],
                         tuple(int(c) for c in rng.integers(0, 256, 3)), lineType=cv2.LINE_AA,
                         shift=4)
    return images, counts - 1


def shape_teacher(size=64, n_images=4000, epochs=12):
    """A small 2D conv net (seed 1) trained to count the shapes of :func:`shape_images`.

    Returns the teacher (frame -> pooled features, without the count head) and
    its accuracy on 500 new images (chance 0.25).
    """
    import keras

    keras.utils.set_random_seed(1)
    frames = keras.Input((size, size, 3))
    x = frames
    for filters in (16, 32, 64):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    teacher = keras.Model(frames, keras.layers.GlobalAveragePooling2D()(x), name="teacher")
    classifier = keras.Model(teacher.input, keras.layers.Dense(4)(teacher.output))
    classifier.compile(keras.optimizers.Adam(2e-3),
                       keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       metrics=["accuracy"])

    def normalise(images):  # the default teacher input of STCNet.transfer_from_2d
        return (images.astype("float32") / 255.0 - 0.45) / 0.225

    images, counts = shape_images(n_images, size, seed=0)
    classifier.fit(normalise(images), counts, epochs=epochs, batch_size=64, verbose=0)
    held_out, held_out_counts = shape_images(500, size, seed=1)
    accuracy = classifier.evaluate(normalise(held_out), held_out_counts, verbose=0)[1]
    return teacher, float(accuracy)
