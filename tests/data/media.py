"""Helpers for data tests: frames that carry their own index, tones."""

import numpy as np

BITS = 8
H, W = 48, 64


def coded_frames(n, height=H, width=W, bits=BITS):
    """Frames whose index is written as black/white vertical bars (robust to lossy codecs)."""
    frames = np.zeros((n, height, width, 3), np.uint8)
    bar = width // bits
    for i in range(n):
        for b in range(bits):
            if (i >> b) & 1:
                frames[i, :, b * bar:(b + 1) * bar] = 255
    return frames


def decode_indices(frames, bits=BITS):
    """Inverse of coded_frames for decoded (possibly resized) frames."""
    frames = np.asarray(frames, np.float32)
    bar = frames.shape[2] / bits
    out = []
    for f in frames:
        value = 0
        for b in range(bits):
            x0, x1 = int(b * bar + bar / 4), int((b + 1) * bar - bar / 4)
            if f[:, x0:x1].mean() > 128:
                value |= 1 << b
        out.append(value)
    return np.array(out)


def tone(seconds, freq=440.0, sr=22050, amp=0.4):
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


CONTAINERS = [".avi", ".mp4", ".mkv", ".webm"]


def packet_payloads(path, kind):
    """``[(offset, size, is_keyframe)]`` of the non-empty ``kind`` packets' payloads in the file."""
    import av

    data = open(path, "rb").read()
    out = []
    with av.open(path) as container:
        for packet in container.demux(getattr(container.streams, kind)[0]):
            if packet.size:
                offset = data.find(bytes(packet), packet.pos)
                assert offset >= 0, "packet payload not found in the file"
                out.append((offset, packet.size, packet.is_keyframe))
    return out


def damage(path, payloads, fraction=1 / 3, seed=0):
    """Overwrite the first ``fraction`` of each ``(offset, size, _)`` payload with random bytes."""
    rng = np.random.default_rng(seed)
    with open(path, "r+b") as f:
        for offset, size, _ in payloads:
            f.seek(offset)
            f.write(rng.integers(0, 256, max(4, int(size * fraction)), dtype=np.uint8).tobytes())
    return path
