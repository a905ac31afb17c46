"""The provenance record of a video output: a JSON tag in its container's metadata."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import provenance as _provenance
from ._video_io import load_av, open_container

__all__ = ["NOT_COPIED", "RECORD_KEY", "VideoRecord", "muxer_options", "record_of", "restamp"]

#: The container metadata tag that holds an output's provenance record (JSON): written by
#: :func:`process` into .mp4 .mov (as a custom metadata key) .mkv .webm (as a tag).
RECORD_KEY = "vance_filters_provenance"
#: Container tags not carried over: the input's record, and what the muxer writes itself
#: (with every key written, MP4 would otherwise keep the input's brands as custom tags).
NOT_COPIED = frozenset({RECORD_KEY, "major_brand", "minor_version", "compatible_brands", "encoder"})


@dataclass(frozen=True)
class VideoRecord:
    """What made a video output: the filter's record and the video settings.

    Attributes
    ----------
    provenance : Provenance
        The filter, its jconfig and spec, the service, the library, when (the jobs are
        not listed: the container's metadata is written before the first frame).
    settings : dict
        :func:`settings`: the encoder, its crf, the near-repeat measure and the upload format.
    frames, distinct : int
        Frames in the clip and pictures sent.
    credits : float
        What the run was planned to spend (cached pictures free).
    kept : tuple of int
        Frames whose job failed and whose original picture was kept (``on_error="keep"``).
    """

    provenance: _provenance.Provenance
    settings: dict[str, Any]
    frames: int = 0
    distinct: int = 0
    credits: float = 0.0
    kept: tuple[int, ...] = ()

    def same_settings(self, jconfig: Any, video_settings: dict[str, Any]) -> bool:
        """True when this output was made with ``jconfig`` and these video settings."""
        return self.provenance.same_settings(jconfig) and self.settings == video_settings

    def as_json(self) -> dict[str, Any]:
        """The record as plain JSON values."""
        return {
            **self.provenance.as_json(),
            "video": self.settings,
            "frames": self.frames,
            "distinct": self.distinct,
            "planned_credits": self.credits,
            "kept_frames": list(self.kept),
        }

    def to_json(self) -> str:
        """The record as the JSON text of the container's tag."""
        return json.dumps(self.as_json(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> VideoRecord | None:
        """The record in a tag's text, or None if it holds none."""
        try:
            data = json.loads(text)
            record = _provenance.Provenance.from_json(data)
            if record is None or not isinstance(data.get("video"), dict):
                return None
            return cls(
                provenance=record,
                settings=data["video"],
                frames=int(data.get("frames") or 0),
                distinct=int(data.get("distinct") or 0),
                credits=float(data.get("planned_credits") or 0),
                kept=tuple(int(k) for k in data.get("kept_frames") or ()),
            )
        except (AttributeError, TypeError, ValueError):
            return None


def record_of(path: str | os.PathLike[str]) -> VideoRecord | None:
    """The provenance record :func:`process` wrote into a video, or None if it holds none.

    Raises
    ------
    InputError
        PyAV is missing, or the file is not a video it can read.

    Examples
    --------
    >>> record_of("out.mp4").settings["crf"]  # doctest: +SKIP
    18
    """
    av = load_av()
    with open_container(av, path) as container:
        tags = {str(key).lower(): value for key, value in container.metadata.items()}
    text = tags.get(RECORD_KEY)
    return None if not isinstance(text, str) else VideoRecord.from_json(text)


def muxer_options(path: Path) -> dict[str, str]:
    # MP4 and MOV keep only their standard tags unless told to write every key.
    return {"movflags": "use_metadata_tags"} if path.suffix.lower() in (".mp4", ".mov") else {}


def restamp(av: Any, path: Path, record: str) -> None:
    """Rewrite the record of the video at ``path``: every packet copied (no re-encode)."""
    again = path.with_name(f".{path.stem}.stamp{path.suffix}")
    try:
        with (
            open_container(av, path) as inp,
            open_container(av, again, "w", options=muxer_options(again)) as out,
        ):
            out.metadata.update(inp.metadata)
            out.metadata[RECORD_KEY] = record
            streams = {}
            for stream in inp.streams:
                streams[stream.index] = out.add_stream_from_template(stream)
                streams[stream.index].metadata.update(stream.metadata)
            for packet in inp.demux():
                if (
                    packet.size
                ):  # not the demuxer's closing empty packet (Matroska video has no dts)
                    packet.stream = streams[packet.stream.index]
                    out.mux(packet)
        os.replace(again, path)
    finally:
        if again.exists():
            again.unlink()
