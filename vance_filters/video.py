"""Video: a clip in, the same clip enhanced out, sound and timing untouched.

``vance_filters.video.process(filter, "in.mp4", "out.mp4")`` decodes the clip
with PyAV (FFmpeg's libraries, the optional extra ``vance-filters[video]``),
runs every distinct picture through :func:`vance_filters.batch.map` (a bounded
window of frames in flight, results in order) and encodes the results as a
stream: no folder of frame files, memory bounded by the window, whatever the
clip's length.

Only the picture changes:

- every frame keeps its presentation timestamp (variable frame rate
  included): the video is encoded in the input's time base and each output
  frame carries its input frame's ``pts``;
- audio and subtitle streams are copied packet for packet (remuxed, never
  re-encoded); the container's and the streams' metadata and the video's
  rotation (display matrix) are kept;
- the video codec is ``libx264`` (``libvpx-vp9`` for .webm) at ``crf=18``
  (visually lossless), settable.

Frames go up as JPEG q95 with the chroma halved (a decoded video frame is
already lossy and its chroma already halved; ``upload_format="png"`` sends
them losslessly), and a JPEG result is decoded by FFmpeg straight to the
encoder's YUV on two threads of its own, beside the main thread's decoding and
encoding: no RGB copy of the large result is made. Every output carries a
provenance record (:class:`VideoRecord`, read by :func:`record_of`) in a
metadata tag of its container.

Duplicates are processed once. A frame whose picture matches the last one
sent is a *repeat* and reuses its result: the measure is the largest
difference between the two frames' means over ``block x block`` pixel
blocks, in levels of 0-255 (codec noise averages out in a block, while any
change a viewer would see — a stroke, a digit — moves some block's mean far
more); a frame differing by more than ``threshold`` is sent. Every frame is
compared with the picture that was sent, not with its neighbour, so a slow
fade never drifts into one result. Exact repeats elsewhere in the clip cost
nothing either: the same upload bytes hit the client's cache.

A run is planned first (:func:`plan`: frames, distinct frames, credits, the
balance), refused before anything is sent if it could cost more than
``max_credits`` or the balance, and resumable: with a disk cache (the CLI's
default) a killed run, rerun, finds every paid result in the cache and every
job under way in the job journal, so it pays nothing twice; the output is
written to a temporary file beside the target and renamed at the end, so a
killed run never leaves a truncated clip under the output's name.

A frame whose job fails stops the run with a :class:`VideoFrameError` naming
the frame and its time; with ``on_error="keep"`` the original frame (resized
to the output's size) takes its place and the report lists it. The output
always has every frame.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import _budget
from . import provenance as _provenance
from ._video_io import (
    Paid,
    decoded_result,
    fit,
    frame_job,
    load_av,
    open_container,
    rgb,
    upload_file,
)
from ._video_record import NOT_COPIED, RECORD_KEY, VideoRecord, muxer_options, record_of, restamp
from ._warn import user_stacklevel
from .errors import ConfigError, InputError, ResultDecodeError, ResultTooLargeError, VanceError

if TYPE_CHECKING:
    from .client import Client
    from .filters import Filter

__all__ = [
    "DEFAULT_BLOCK",
    "DEFAULT_THRESHOLD",
    "DEFAULT_UPLOAD_FORMAT",
    "FLICKERING",
    "RECORD_KEY",
    "VIDEO_SUFFIXES",
    "FlickerWarning",
    "KeptFrame",
    "VideoFrameError",
    "VideoPlan",
    "VideoRecord",
    "VideoReport",
    "default_codec",
    "is_video",
    "plan",
    "process",
    "record_of",
    "settings",
]

#: The containers a video input may come in (and its output goes out in).
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm")
#: Features whose result on a frame does not depend on its neighbours in a way that is stable:
#: each frame is restyled on its own, so the clip flickers.
FLICKERING = ("ToAnime", "Animegan", "Cartoonize", "Recolor")
#: Default near-repeat measure: the largest block-mean difference (levels of 0-255) below
#: which a frame reuses the last result.
DEFAULT_THRESHOLD = 10.0
#: Default block size (pixels) of the near-repeat measure.
DEFAULT_BLOCK = 4
#: Results converted to encoder frames ahead of the encoder, at most.
_CONVERTING = 4
OnError = Literal["raise", "keep"]
#: How frames are uploaded: JPEG q95 by default (a decoded video frame is already lossy, and
#: a JPEG is several times faster to encode and to send than a PNG of the same frame).
VideoUploadFormat = Literal["jpeg", "png", "auto"]
DEFAULT_UPLOAD_FORMAT: VideoUploadFormat = "jpeg"


class FlickerWarning(UserWarning):
    """The feature restyles each frame on its own: the video will flicker."""


class VideoFrameError(VanceError):
    """A frame of a video could not be processed; the run stopped.

    Attributes
    ----------
    frame : int
        The frame's index (0 is the first frame shown).
    time : float
        Its presentation time in seconds.
    """

    def __init__(self, message: str, *, frame: int, time: float) -> None:
        super().__init__(message, hint="rerun to resume, or pass on_error='keep' (--on-error keep)")
        self.frame = frame
        self.time = time


def is_video(path: Any) -> bool:
    """Whether ``path`` names a video file by its suffix (.mp4 .mov .mkv .webm).

    Examples
    --------
    >>> is_video("clip.MP4"), is_video("photo.png"), is_video(b"data")
    (True, False, False)
    """
    return isinstance(path, (str, os.PathLike)) and Path(os.fspath(path)).suffix.lower() in VIDEO_SUFFIXES


def _check(
    threshold: float, block: int, on_error: str, crf: int | None = None, upload_format: str = "jpeg"
) -> None:
    if upload_format not in ("jpeg", "png", "auto"):
        raise ConfigError(
            f"upload_format={upload_format!r} is not allowed: expected 'jpeg', 'png' or 'auto'"
        )
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not (
        0 <= threshold <= 255
    ):
        raise ConfigError(f"threshold={threshold!r} is not allowed: expected a number in 0..255")
    if not isinstance(block, int) or isinstance(block, bool) or block < 1:
        raise ConfigError(f"block={block!r} is not allowed: expected an integer >= 1")
    if on_error not in ("raise", "keep"):
        raise ConfigError(f"on_error={on_error!r} is not allowed: expected 'raise' or 'keep'")
    if crf is not None and (not isinstance(crf, int) or isinstance(crf, bool) or not 0 <= crf <= 63):
        raise ConfigError(f"crf={crf!r} is not allowed: expected an integer in 0..63")


def _signature(picture: np.ndarray, block: int) -> np.ndarray:
    """The picture's means over ``block x block`` blocks (float32), the near-repeat measure's input.

    Summed in integers, a row of blocks at a time (no float copy of the whole picture).
    """
    height, width = picture.shape[:2]
    b_h, b_w = min(block, height), min(block, width)
    rows_n, cols_n = height // b_h, width // b_w
    wide: type[np.unsignedinteger[Any]] = np.uint16 if b_h * b_w * 255 < 65536 else np.uint32
    rows: np.ndarray[Any, Any] = picture[0 : rows_n * b_h : b_h, : cols_n * b_w].astype(wide)
    for offset in range(1, b_h):
        rows += picture[offset : rows_n * b_h : b_h, : cols_n * b_w]
    blocks = rows.reshape(rows_n, cols_n, b_w, -1)
    sums: np.ndarray[Any, Any] = blocks[:, :, 0].copy()
    for offset in range(1, b_w):
        sums += blocks[:, :, offset]
    return sums.astype(np.float32) / np.float32(b_h * b_w)


def _differs(a: np.ndarray, b: np.ndarray, threshold: float) -> bool:
    return a.shape != b.shape or float(np.abs(a - b).max()) > threshold


def _warn_flicker(flt: Filter) -> None:
    names = [type(step).__name__ for step in flt.steps()]
    found = [name for name in names if name in FLICKERING]
    if found:
        warnings.warn(
            f"{', '.join(found)} restyles each frame on its own: the video will flicker "
            "(consecutive frames get different strokes and colours)",
            FlickerWarning,
            stacklevel=user_stacklevel(),
        )


@dataclass
class _Frame:
    index: int
    pts: int | None
    time: float
    rep: int  # the number of the picture sent for it
    picture: np.ndarray | None  # the decoded frame, kept when on_error="keep" needs it


@dataclass(frozen=True)
class VideoPlan:
    """What processing a video would send and cost, before anything is sent.

    Attributes
    ----------
    frames : int
        Frames in the clip (all of them come out).
    distinct : int
        Pictures to process (frames that are not repeats of the last one sent).
    credits : float
        What the run spends: distinct pictures not already cached, times the filter's cost.
    worst : float
        ``distinct x cost``, with nothing cached.
    cached : int
        Distinct pictures whose result the client's cache already holds (or an earlier,
        identical picture of the clip gives).
    balance : float or None
        The account's balance, if it was read.
    """

    frames: int
    distinct: int
    credits: float
    worst: float
    cached: int
    balance: float | None
    size: tuple[int, int] = (0, 0)
    duration: float = 0.0
    rotation: int = 0

    def __str__(self) -> str:
        line = (
            f"video: {_budget.count(self.frames, 'frame')} ({self.duration:.2f} s, "
            f"{self.size[0]}x{self.size[1]}), {self.distinct} distinct, "
            f"{self.cached} cached; {_budget.count(self.credits, 'credit')}"
        )
        if self.worst != self.credits:
            line += f" (up to {self.worst:g} with nothing cached)"
        if self.balance is not None:
            verdict = "enough" if self.balance >= self.credits else "NOT enough"
            line += f"; balance {self.balance:g} ({verdict})"
        return line


@dataclass(frozen=True)
class KeptFrame:
    """A frame whose job failed and whose original picture was kept (``on_error="keep"``)."""

    frame: int
    time: float
    error: str


@dataclass
class VideoReport:
    """What :func:`process` did.

    Attributes
    ----------
    output : Path
        The clip written.
    frames : int
        Frames written (every input frame).
    distinct : int
        Pictures processed (the others reused a result).
    kept : list of KeptFrame
        Frames whose job failed and whose original was kept.
    """

    output: Path
    frames: int = 0
    distinct: int = 0
    kept: list[KeptFrame] = field(default_factory=list)


def _decoded(container: Any, stream: Any) -> Iterator[tuple[int | None, float, np.ndarray, Any]]:
    for frame in container.decode(stream):
        time = float(frame.pts * stream.time_base) if frame.pts is not None else float(frame.time or 0)
        yield frame.pts, time, frame.to_ndarray(format="rgb24"), frame


def plan(
    filter: Filter,
    source: str | os.PathLike[str],
    *,
    client: Client | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    block: int = DEFAULT_BLOCK,
    upload_format: VideoUploadFormat = DEFAULT_UPLOAD_FORMAT,
    check_balance: bool = True,
) -> VideoPlan:
    """Count a video's frames and distinct pictures and what processing it would cost.

    The clip is decoded once; every distinct picture is prepared as the run
    would upload it and looked up in the client's cache (and the job
    journal), so ``credits`` is what :func:`process` spends (a client without
    a cache finds nothing: every distinct picture is paid, and none is
    encoded here). Nothing is sent but the balance request
    (``check_balance=False``: nothing at all).

    Examples
    --------
    >>> import vance_filters as vf
    >>> plan(vf.Enlarge(), "no-such.mp4")  # doctest: +SKIP
    """
    from ._cache import cache_key
    from ._defaults import default_client

    _check(threshold, block, "raise", upload_format=upload_format)
    av = load_av()
    _warn_flicker(filter)
    client = client if client is not None else default_client()
    jconfig = filter.to_jconfig()
    lookup = client.cache is not None
    frames = distinct = cached = 0
    seen: set[str] = set()
    last: np.ndarray | None = None
    size = (0, 0)
    duration = 0.0
    rotation = 0
    with open_container(av, source) as container:
        stream = container.streams.video[0]
        for _pts, time, picture, frame in _decoded(container, stream):
            if frames == 0:
                size = (picture.shape[1], picture.shape[0])
                rotation = int(getattr(frame, "rotation", 0) or 0)
            frames += 1
            duration = max(duration, time)
            signature = _signature(picture, block)
            if last is not None and not _differs(signature, last, threshold):
                continue
            last = signature
            distinct += 1
            if not lookup:
                continue
            data = upload_file(picture, upload_format)[0]
            key = cache_key(data, jconfig)
            if key in seen or client.cached(data, jconfig):
                cached += 1
            seen.add(key)
    price = float(filter.cost)
    balance = client.credits().remaining if check_balance else None
    return VideoPlan(
        frames=frames,
        distinct=distinct,
        credits=(distinct - cached) * price,
        worst=distinct * price,
        cached=cached,
        balance=balance,
        size=size,
        duration=duration,
        rotation=rotation,
    )


def settings(
    *,
    video_codec: str | None = None,
    crf: int | None = 18,
    threshold: float = DEFAULT_THRESHOLD,
    block: int = DEFAULT_BLOCK,
    upload_format: str = DEFAULT_UPLOAD_FORMAT,
) -> dict[str, Any]:
    """The video options a record holds, beside the filter's jconfig: equal settings, same output.

    Examples
    --------
    >>> settings(crf=20)["crf"]
    20
    """
    return {
        "video_codec": video_codec or "libx264",
        "crf": crf,
        "threshold": float(threshold),
        "block": block,
        "upload_format": upload_format,
    }


def default_codec(output: str | os.PathLike[str]) -> str:
    """The video encoder an output gets by default: ``libvpx-vp9`` for .webm, else ``libx264``.

    Examples
    --------
    >>> default_codec("out.webm"), default_codec("out.MP4")
    ('libvpx-vp9', 'libx264')
    """
    return "libvpx-vp9" if Path(os.fspath(output)).suffix.lower() == ".webm" else "libx264"


def process(
    filter: Filter,
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    client: Client | None = None,
    max_credits: float | None = None,
    concurrency: int = 8,
    threshold: float = DEFAULT_THRESHOLD,
    block: int = DEFAULT_BLOCK,
    on_error: OnError = "raise",
    video_codec: str | None = None,
    crf: int | None = 18,
    upload_format: VideoUploadFormat = DEFAULT_UPLOAD_FORMAT,
    progress: bool = False,
    checked: VideoPlan | None = None,
) -> VideoReport:
    """Run ``filter`` on every frame of a video and write the same clip, enhanced.

    Parameters
    ----------
    filter : Filter
        Any filter or pipeline.
    source, output : path
        The input clip and the file to write (its suffix picks the container:
        .mp4 .mov .mkv .webm). The output is written beside itself and renamed
        when complete.
    client : Client, optional
        Default: the default client. Its cache (a disk cache makes a killed
        run resumable at no extra cost) holds every result.
    max_credits : float, optional
        Refuse (``CreditLimitError``) before anything is sent if the run
        would spend more (cached pictures are free), or more than the balance.
    concurrency : int
        Pictures in flight at once.
    threshold, block
        The near-repeat measure: a frame whose ``block x block`` means differ
        from the last picture sent by at most ``threshold`` levels (0-255)
        reuses its result; ``threshold=0`` merges only identical pictures.
    on_error : {"raise", "keep"}
        A failed picture stops the run with :class:`VideoFrameError`, or its
        frames keep their original pictures (listed in the report's ``kept``).
    video_codec : str, optional
        FFmpeg encoder of the output's video (default: ``libvpx-vp9`` for .webm,
        whose container takes no H.264, else ``libx264``).
    crf : int or None
        The encoder's constant rate factor (default 18; None: the encoder's default).
    upload_format : {"jpeg", "png", "auto"}
        How frames are uploaded: JPEG q95 (default: a decoded frame is already
        lossy, and JPEG is several times faster to encode, send and decode),
        lossless PNG, or ``"auto"`` as for images (PNG when it fits 10 MB).
    progress : bool
        Show a progress bar on stderr.
    checked : VideoPlan, optional
        A plan already made for this call (the CLI prints it first); default: made here.
        Making the plan warns (``FlickerWarning``) if the feature restyles each frame.

    Returns
    -------
    VideoReport

    Raises
    ------
    InputError
        PyAV is not installed, or the source is not a video it can read.
    CreditLimitError
        Over ``max_credits`` or the balance, before anything is sent.
    VideoFrameError
        A picture failed and ``on_error="raise"``.

    Examples
    --------
    >>> import vance_filters as vf
    >>> vf.video.process(vf.Enlarge(scale=2), "in.mp4", "out.mp4")  # doctest: +SKIP
    """
    from ._defaults import default_client
    from .batch import check_concurrency
    from .batch import map as batch_map

    _check(threshold, block, on_error, crf, upload_format)
    check_concurrency(concurrency)
    av = load_av()
    client = client if client is not None else default_client()
    planned = checked or plan(
        filter, source, client=client, threshold=threshold, block=block, upload_format=upload_format
    )
    _budget.check(
        planned.credits,
        max_credits=max_credits,
        client=client,
        what=(
            f"this video of {_budget.count(planned.frames, 'frame')} "
            f"({planned.distinct} distinct, {planned.cached} cached)"
        ),
        per_result=float(filter.cost),
        fewer="a shorter clip",
    )
    if planned.frames == 0:
        raise InputError(f"{os.fspath(source)}: the video has no frames")
    target = Path(os.fspath(output))
    video_codec = video_codec or default_codec(target)
    partial = target.with_name(f".{target.stem}.partial{target.suffix}")
    report = VideoReport(output=target, distinct=planned.distinct)
    client.ensure_pool(concurrency)
    stamp = VideoRecord(
        provenance=_provenance.Provenance(
            jobs=(), jconfig=filter.to_jconfig(), filter=repr(filter), service=client.base_url,
            spec=_provenance.filter_spec(filter),
        ),
        settings=settings(
            video_codec=video_codec, crf=crf, threshold=threshold, block=block, upload_format=upload_format
        ),
        frames=planned.frames,
        distinct=planned.distinct,
        credits=planned.credits,
    )  # fmt: skip
    try:
        with open_container(av, source) as inp, open_container(av, partial, "w", options=muxer_options(partial)) as out:
            out.metadata[RECORD_KEY] = stamp.to_json()
            _run(
                av, filter, inp, out, planned, report,
                client=client, concurrency=concurrency, threshold=threshold, block=block,
                on_error=on_error, video_codec=video_codec, crf=crf, progress=progress,
                batch_map=batch_map, upload_format=upload_format,
            )  # fmt: skip
        if report.kept:  # the record says which frames are originals: a rerun redoes them
            kept = dataclasses.replace(stamp, kept=tuple(k.frame for k in report.kept))
            restamp(av, partial, kept.to_json())
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()
    return report


def _failed(item: _Frame, error: BaseException) -> VideoFrameError:
    failed = VideoFrameError(
        f"frame {item.index} at {item.time:.3f} s failed: {type(error).__name__}: {error}",
        frame=item.index,
        time=item.time,
    )
    failed.__cause__ = error
    return failed


class _Counted:
    """An iterator that says its length (the progress bar's total)."""

    def __init__(self, items: Iterator[np.ndarray], length: int) -> None:
        self._items, self._length = items, length

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[np.ndarray]:
        return self._items


def _even(size: tuple[int, int]) -> tuple[int, int]:
    return (max(2, size[0] - size[0] % 2), max(2, size[1] - size[1] % 2))


def _run(
    av: Any,
    flt: Filter,
    inp: Any,
    out: Any,
    planned: VideoPlan,
    report: VideoReport,
    *,
    client: Client,
    concurrency: int,
    threshold: float,
    block: int,
    on_error: str,
    video_codec: str,
    crf: int | None,
    progress: bool,
    batch_map: Any,
    upload_format: str,
) -> None:
    istream = inp.streams.video[0]
    out.metadata.update({k: v for k, v in inp.metadata.items() if k.lower() not in NOT_COPIED})
    rate = istream.average_rate or istream.guessed_rate or Fraction(24)
    ostream = out.add_stream(video_codec, rate=rate)
    scale = float(flt.scale)
    width, height = planned.size
    size = _even((max(1, round(width * scale)), max(1, round(height * scale))))
    ostream.width, ostream.height = size
    ostream.pix_fmt = "yuv420p"
    ostream.time_base = istream.time_base
    ostream.codec_context.time_base = istream.time_base
    if crf is not None:  # libvpx: constant quality only with no bit rate target
        ostream.options = {"crf": str(crf), **({"b": "0"} if video_codec.startswith("libvpx") else {})}
    ostream.metadata.update(istream.metadata)
    if planned.rotation:
        ostream.set_display_rotation(planned.rotation)
    copied: dict[int, Any] = {}
    for stream in inp.streams:
        if stream is istream or stream.type not in ("audio", "subtitle", "data"):
            continue
        copied[stream.index] = out.add_stream_from_template(stream)
        copied[stream.index].metadata.update(stream.metadata)
    pending: collections.deque[_Frame] = collections.deque()
    keep = on_error == "keep"

    def pictures() -> Iterator[np.ndarray]:
        last: np.ndarray | None = None
        index = rep = -1
        for packet in inp.demux():
            target = copied.get(packet.stream.index)
            if target is not None:
                if packet.dts is not None:
                    packet.stream = target
                    out.mux(packet)
                continue
            if packet.stream is not istream:
                continue
            for frame in packet.decode():
                index += 1
                picture = frame.to_ndarray(format="rgb24")
                pts = frame.pts
                time = float(pts * istream.time_base) if pts is not None else float(frame.time or 0)
                signature = _signature(picture, block)
                new = last is None or _differs(signature, last, threshold)
                if new:
                    last, rep = signature, rep + 1
                pending.append(_Frame(index, pts, time, rep, picture if keep else None))
                if new:
                    yield picture

    # Results become encoder-ready frames (the output's size, yuv420p) on two threads of
    # their own, beside the main thread's decoding and encoding; a bounded number waits.
    results: dict[int, Future[Any] | BaseException] = {}
    converter = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vance-video")
    done = 0

    def to_frame(picture: Any) -> Any:
        frame = av.VideoFrame.from_ndarray(fit(rgb(picture), size), format="rgb24")
        return frame.reformat(format=ostream.pix_fmt)

    def from_result(paid: Paid) -> Any:
        try:
            return decoded_result(av, paid, size, ostream.pix_fmt)
        except ResultDecodeError as exc:
            if paid.trans_id and not isinstance(exc, ResultTooLargeError):
                try:  # damaged on the way: fetched again by trans_id (free), it replaces the cached copy
                    again = client.redownload(paid.trans_id, paid.upload, job.jconfig)
                    return decoded_result(av, Paid(again, paid.upload, paid.trans_id), size, ostream.pix_fmt)
                except VanceError:
                    pass
            client.forget(paid.upload, job.jconfig)  # a bad result must not stick in the cache
            return exc

    def drain(wait: bool) -> None:
        nonlocal done
        while pending and pending[0].rep in results:
            item = pending[0]
            result: Any = results[item.rep]
            if isinstance(result, Future):
                if not (wait or result.done()):
                    return
                result = results[item.rep] = result.result()
                if isinstance(result, BaseException) and not keep:
                    raise _failed(item, result)
            pending.popleft()
            if isinstance(result, BaseException):
                assert item.picture is not None
                frame = to_frame(item.picture)
                report.kept.append(KeptFrame(item.index, item.time, f"{type(result).__name__}: {result}"))
            else:
                frame = result
            frame.pts = item.pts
            frame.time_base = istream.time_base
            for packet in ostream.encode(frame):
                out.mux(packet)
            done += 1
            for old in [r for r in results if r < item.rep]:
                del results[old]

    job = frame_job(flt, upload_format)
    stream = batch_map(
        job, _Counted(pictures(), planned.distinct), concurrency=concurrency, progress=progress, return_exceptions=True,
        client=client,
    )  # fmt: skip
    try:
        for number, result in enumerate(stream):
            if isinstance(result, BaseException):
                if not keep:
                    raise _failed(next(item for item in pending if item.rep == number), result)
                results[number] = result
            else:
                results[number] = converter.submit(from_result, result)
            drain(wait=len(results) > _CONVERTING)
        drain(wait=True)
    finally:
        stream.close()
        converter.shutdown(wait=True, cancel_futures=True)
    for packet in ostream.encode():
        out.mux(packet)
    report.frames = done
    if done != planned.frames or pending:
        raise InputError(
            f"decoded {done + len(pending)} frames, planned {planned.frames}: the file changed during the run"
        )
