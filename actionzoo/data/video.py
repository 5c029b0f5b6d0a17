"""Video decoding with PyAV: container metadata and frame-accurate reads.

Frame indices are *time based*: index ``i`` is the frame shown at
``i / fps`` seconds after the first frame. For constant-frame-rate files
(UCF101, HMDB51 and almost every camera file) this is simply the i-th
decoded frame. Variable-frame-rate files are resampled to their average
frame rate by holding the most recent frame (sample and hold), so index
arithmetic (segments, strides, audio alignment) stays valid.

Reading a few frames of a long video seeks to the nearest key frame before
each far-away index instead of decoding everything in between.

Damaged files are decoded as FFmpeg does: a packet the decoder rejects is
skipped and counted (:func:`decode_concealed`), the frames around it are
kept (the hole is held by the previous frame), and a file is an error only
when its stream yields no frame at all.
"""
from __future__ import annotations

import itertools
import os
from collections import deque
from dataclasses import dataclass, replace

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from .errors import DecodeError, FrameCountError, MissingFileError, NotAFileError, warn_concealed

__all__ = ["VideoInfo", "VideoReader", "decode_concealed", "read_video", "video_info"]

#: Seek instead of decoding forward when the next wanted frame is further
#: ahead than this many frames.
SEEK_THRESHOLD = 48


@dataclass(frozen=True)
class VideoInfo:
    """Metadata of a video file.

    Attributes
    ----------
    path : str
        The file.
    num_frames : int
        Number of frames (see ``frame_count_source`` for how it was found).
    fps : float
        Average frame rate.
    duration : float
        ``num_frames / fps`` in seconds.
    width, height : int
        Frame size of the first decoded frame.
    codec : str
        Video codec name (e.g. ``"mpeg4"``, ``"h264"``).
    has_audio : bool
        Whether the container holds an audio stream.
    frame_count_source : {"header", "duration", "decoded"}
        ``"header"``: frame count stored in the container; ``"duration"``:
        derived from the stream duration and frame rate (Matroska/WebM);
        ``"decoded"``: counted by decoding (no usable header, or
        ``exact=True``, or the header over-stated the length).
    skipped_packets : int, default 0
        Undecodable video packets skipped while reading the stream: over the
        whole stream when ``frame_count_source == "decoded"``, otherwise
        over the packets decoded to find the first frame.
    """

    path: str
    num_frames: int
    fps: float
    duration: float
    width: int
    height: int
    codec: str
    has_audio: bool
    frame_count_source: str
    skipped_packets: int = 0


def check_media_file(path):
    """Raise a clear error unless ``path`` is a readable, non-empty regular file.

    Raises
    ------
    MissingFileError
        No such file (a ``ValueError`` and a ``FileNotFoundError``).
    NotAFileError
        A directory.
    DecodeError
        An empty (0-byte) or unreadable file.

    Examples
    --------
    >>> check_media_file("missing.avi")
    Traceback (most recent call last):
    ...
    actionzoo.data.errors.MissingFileError: missing.avi: media file not found
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise MissingFileError(path, "media file not found")
    if os.path.isdir(path):
        raise NotAFileError(path, "is a directory, not a media file")
    if not os.path.isfile(path):  # FIFOs and devices could block the decoder forever
        raise DecodeError(path, "not a regular file")
    if not os.access(path, os.R_OK):
        raise DecodeError(path, "media file is not readable (permission denied)")
    if os.path.getsize(path) == 0:
        raise DecodeError(path, "empty file (0 bytes)")
    return path


def _open_container(path):
    """Open ``path`` with PyAV, turning failures into errors naming the file."""
    path = check_media_file(path)
    try:
        return av.open(path, metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise DecodeError(path, f"cannot open as a media container ({exc})") from None


def decode_concealed(container, stream, skipped):
    """Decoded frames of ``stream``, skipping packets the decoder rejects.

    This is FFmpeg's own policy for damaged input: a packet that fails to
    decode is dropped and decoding goes on with the next one; unreadable
    container data ends the stream (the decoder is flushed first).

    Parameters
    ----------
    container : av.container.InputContainer
    stream : av.stream.Stream
        A video or audio stream of ``container``.
    skipped : set
        Receives one key per skipped packet (its file position and decoding
        time stamp), so that decoding the same packet twice counts once.

    Yields
    ------
    av.VideoFrame or av.AudioFrame

    Examples
    --------
    >>> import av
    >>> skipped = set()
    >>> with av.open("damaged.avi") as container:  # doctest: +SKIP
    ...     frames = list(decode_concealed(container, container.streams.video[0], skipped))
    >>> len(frames), len(skipped)  # doctest: +SKIP
    (49, 1)
    """
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError:
            skipped.add(("container", stream.index))
            try:
                yield from stream.codec_context.decode(None)
            except av.error.FFmpegError:
                pass
            return
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            skipped.add((packet.pos, packet.dts))
            continue
        yield from frames


def _no_frames(path, skipped):
    detail = f" ({len(skipped)} undecodable packets skipped)" if skipped else ""
    return DecodeError(path, f"contains no decodable video frames{detail}")


class VideoReader:
    """Random access to the frames of one video file.

    Opening the reader validates the file (a container with a decodable
    video stream) and reads its metadata. Use it as a context manager, or
    call :meth:`close`.

    Parameters
    ----------
    path : str or path-like
        Video file in any container/codec FFmpeg understands (.avi with
        MPEG-4/Xvid, .mp4 with H.264, .mkv, .webm, ...).
    exact : bool, default False
        Count frames by decoding the whole stream instead of trusting the
        container header.

    Raises
    ------
    MissingFileError, NotAFileError
        No such file, or a directory.
    DecodeError
        Empty or unreadable file, no video stream, or no decodable frame
        (packets that fail to decode are skipped, see :func:`decode_concealed`).

    Examples
    --------
    >>> with VideoReader("v_Run_g01_c01.avi") as reader:  # doctest: +SKIP
    ...     print(reader.info.num_frames, reader.info.fps)
    ...     clip = reader.read([0, 8, 16], short_side=128)
    50 25.0
    >>> clip.shape  # doctest: +SKIP
    (3, 128, 171, 3)
    """

    def __init__(self, path, *, exact=False):
        self.path = os.fspath(path)
        self._reformatter = None
        self._skipped = set()
        self._container = _open_container(self.path)
        try:
            self._setup(exact)
        except BaseException:
            self._release()  # the error says what is wrong: no concealment warning
            raise

    # -- opening -----------------------------------------------------------
    def _setup(self, exact):
        container = self._container
        if not container.streams.video:
            raise DecodeError(self.path, "contains no video stream")
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1  # pipelines parallelise across videos
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        first = self._first_frame()
        if first is None:
            raise _no_frames(self.path, self._skipped)
        self._time_base = float(stream.time_base) if stream.time_base else None
        self._first_pts = first.pts if self._time_base else None
        self._can_seek = self._first_pts is not None
        if fps <= 0:
            raise DecodeError(self.path, "frame rate unknown in the container header")
        self._fps = fps
        self._held_first = first  # the probe's decoder continues right after it
        count, source = int(stream.frames or 0), "header"
        if count <= 0 and not exact:
            seconds = None
            if stream.duration is not None and self._time_base:
                seconds = stream.duration * self._time_base
            elif container.duration:
                seconds = container.duration / av.time_base
            if seconds:
                count, source = int(round(seconds * fps)), "duration"
        info = VideoInfo(
            path=self.path,
            num_frames=count,
            fps=fps,
            duration=count / fps,
            width=first.width,
            height=first.height,
            codec=stream.codec_context.name,
            has_audio=bool(container.streams.audio),
            frame_count_source=source,
            skipped_packets=len(self._skipped),
        )
        self.info = info
        if exact or count <= 0:
            self.count_frames()

    def _decode(self):
        return decode_concealed(self._container, self._container.streams.video[0], self._skipped)

    def _first_frame(self):
        self._probe = self._decode()
        return next(self._probe, None)

    def _decode_from_start(self):
        """Frame iterator from the first frame.

        The first call reuses the probe's decoder (no second open); later
        calls reopen the file, which is more reliable than seeking to 0.
        """
        if self._held_first is not None:
            first, self._held_first = self._held_first, None
            return itertools.chain([first], self._probe)
        self._container.close()
        self._container = _open_container(self.path)
        self._container.streams.video[0].codec_context.thread_count = 1
        return self._decode()

    # -- public ------------------------------------------------------------
    def count_frames(self):
        """Count the frames by decoding the stream and update :attr:`info`.

        Returns
        -------
        int
            Number of frames, as used by :meth:`read` (time-based indices).

        Examples
        --------
        >>> VideoReader("truncated.avi").count_frames()  # doctest: +SKIP
        31
        """
        last = -1
        for index, _ in self._iter_indexed():
            last = index
        if last < 0:
            raise _no_frames(self.path, self._skipped)
        self.info = replace(
            self.info, num_frames=last + 1, duration=(last + 1) / self._fps,
            frame_count_source="decoded", skipped_packets=len(self._skipped),
        )
        return last + 1

    def output_size(self, short_side=None):
        """Return ``(height, width)`` of frames read with ``short_side``."""
        return scaled_size(self.info.height, self.info.width, short_side)

    def read(self, indices=None, *, short_side=None):
        """Decode frames as RGB ``uint8``.

        Parameters
        ----------
        indices : array-like of int, optional
            Frame indices to return, in any order, repeats allowed. ``None``
            reads every frame up to the end of the stream.
        short_side : int, optional
            Resize (in the decoder's scaler) so the shorter side has this
            length, keeping the aspect ratio.

        Returns
        -------
        numpy.ndarray
            ``uint8`` array of shape ``(len(indices), H, W, 3)``. Grayscale
            and other pixel formats are converted to RGB.

        Raises
        ------
        FrameCountError
            An index lies beyond the last decodable frame; ``err.decoded``
            holds the real frame count.
        DecodeError
            The stream is corrupt.
        """
        height, width = self.output_size(short_side)
        # area averaging when shrinking: better anti-aliasing and cheaper than bilinear
        shrink = height * width < self.info.height * self.info.width
        interpolation = "AREA" if shrink else None
        cache = {}

        def convert(frame):
            key = id(frame)
            if key not in cache:
                cache[key] = (frame, self._to_rgb(frame, width, height, interpolation))
            return cache[key][1]

        if indices is None:
            arrays = [convert(frame) for _, frame in self._iter_indexed()]
            if not arrays:
                raise _no_frames(self.path, self._skipped)
            return np.stack(arrays)
        order = np.asarray(indices, dtype=np.int64).reshape(-1)
        if order.size == 0:
            return np.zeros((0, height, width, 3), np.uint8)
        if order.min() < 0:
            raise ValueError(f"{self.path}: negative frame index {int(order.min())}")
        found = {}
        for index, frame in self._iter_indexed(sorted(set(order.tolist()))):
            found[index] = convert(frame)
        return np.stack([found[i] for i in order.tolist()])

    def _to_rgb(self, frame, width, height, interpolation):
        """``frame`` as an RGB ``uint8`` array of ``(height, width)``.

        ``frame.to_ndarray(width=...)`` builds a new swscale context for
        every frame, and one with its own slice threads (``threads=0``,
        automatic): that setup costs more than the scaling itself, and the
        extra threads compete with the decoders a pipeline runs in parallel.
        One reformatter per reader keeps its context across frames (it is
        only rebuilt when the parameters change), single-threaded like the
        decoder; the pixels are identical.
        """
        if self._reformatter is None:
            self._reformatter = VideoReformatter()
        rgb = self._reformatter.reformat(frame, width, height, "rgb24",
                                         interpolation=interpolation, threads=1)
        return rgb.to_ndarray()

    @property
    def skipped_packets(self):
        """Undecodable video packets skipped so far by this reader."""
        return len(self._skipped)

    def close(self):
        """Release the file (and warn once if damaged packets were skipped)."""
        if self._release():
            warn_concealed(self.path, "video", len(self._skipped))

    def _release(self):
        container = getattr(self, "_container", None)
        if container is None:
            return False
        container.close()
        self._container = None
        return True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- decoding core -------------------------------------------------------
    def _index_of(self, frame, counter):
        if self._first_pts is None or frame.pts is None:
            return counter
        return int(round((frame.pts - self._first_pts) * self._time_base * self._fps))

    def _seek(self, index):
        """Seek to the key frame at or before ``index``; False on failure."""
        pts = self._first_pts + int(index / self._fps / self._time_base)
        try:
            self._container.seek(pts, stream=self._container.streams.video[0], backward=True)
        except av.error.FFmpegError:
            return False
        return True

    def _iter_indexed(self, wanted=None):
        """Yield ``(index, frame)`` for the sorted ``wanted`` indices (all if None).

        Timestamp holes are filled with the previous frame (sample and hold).
        Seeks forward over long gaps; if a seek lands after its target (AVI
        with B-frames can do that) it backs off, and finally falls back to
        decoding from the start.
        """
        frames = self._decode_from_start()
        pending = deque(wanted) if wanted is not None else None
        seekable = self._can_seek and pending is not None
        last, pos, counter = None, -1, -1
        seek_target, backoff = None, 0
        while True:
            for frame in frames:
                counter += 1
                k = self._index_of(frame, counter)
                if seek_target is not None:
                    if k > seek_target:  # overshot: retry further back
                        break
                    seek_target, backoff = None, 0
                if k <= pos:  # duplicate timestamp or re-decoded after a seek
                    continue
                if pending is None:
                    for hole in range(pos + 1, k):
                        yield hole, last if last is not None else frame
                    yield k, frame
                else:
                    while pending and pending[0] < k:
                        yield pending.popleft(), last if last is not None else frame
                    if pending and pending[0] == k:
                        yield pending.popleft(), frame
                    if not pending:
                        return
                last, pos = frame, k
                if seekable and pending[0] - k > SEEK_THRESHOLD:
                    seek_target = pending[0]
                    break
            else:  # end of stream
                if pending:
                    raise FrameCountError(self.path, pending[-1], pos + 1)
                return
            goal = seek_target - backoff
            backoff = max(2 * backoff, SEEK_THRESHOLD)
            if goal <= max(pos, 0) or not self._seek(goal):
                # seeking does not work for this file: decode forward from the start
                frames = self._decode_from_start()
                seekable, seek_target = False, None
                last, pos, counter = None, -1, -1
            else:
                frames = self._decode()


def video_info(path, *, exact=False):
    """Read the metadata of a video file.

    Frame count, frame rate and duration come from the container; when the
    header has no frame count the stream duration is used, and when neither
    is available (or ``exact=True``) the frames are counted by decoding.

    Parameters
    ----------
    path : str or path-like
        Video file.
    exact : bool, default False
        Always count by decoding (slow, but immune to lying headers).

    Returns
    -------
    VideoInfo

    Examples
    --------
    >>> info = video_info("v_Run_g01_c01.avi")  # doctest: +SKIP
    >>> info.num_frames, info.fps, info.width, info.height  # doctest: +SKIP
    (50, 25.0, 320, 240)
    """
    with VideoReader(path, exact=exact) as reader:
        return reader.info


def read_video(path, indices=None, *, short_side=None):
    """Decode frames of a video file as RGB ``uint8``.

    Parameters
    ----------
    path : str or path-like
        Video file.
    indices : array-like of int, optional
        Time-based frame indices (see module docstring); ``None`` reads all.
    short_side : int, optional
        Resize so the shorter side has this many pixels.

    Returns
    -------
    numpy.ndarray
        ``(T, H, W, 3)`` ``uint8``.

    Raises
    ------
    FrameCountError
        Index beyond the last decodable frame.
    MissingFileError, DecodeError
        Missing, empty or undecodable file.

    Examples
    --------
    >>> frames = read_video("v_Run_g01_c01.avi", [0, 10, 20])  # doctest: +SKIP
    >>> frames.shape, frames.dtype  # doctest: +SKIP
    ((3, 240, 320, 3), dtype('uint8'))
    """
    with VideoReader(path) as reader:
        return reader.read(indices, short_side=short_side)


def scaled_size(height, width, short_side=None):
    """``(height, width)`` after resizing the short side to ``short_side``."""
    if short_side is None:
        return height, width
    scale = float(short_side) / min(height, width)
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))
