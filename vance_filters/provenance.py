"""Where an output came from: the jobs, settings and inputs behind a file, as XMP inside it.

Every job the library runs is reported to the :func:`recording` in force
(a context variable, so threads of :func:`vance_filters.map` and the frames of
an animation report to the caller's recording): its ``trans_id`` (None for a
result served from the cache), the SHA-256 of the uploaded bytes (the input of
the result cache's key), the jconfig, the service and the credits it cost.
:class:`Provenance` gathers the jobs behind one output and is written into the
file as XMP (:func:`embed`): PNG ``iTXt`` ``XML:com.adobe.xmp``, JPEG ``APP1``,
WebP ``XMP`` chunk, readable by exiftool and Pillow's ``Image.getxmp()``, with
the IPTC digital source type for AI-edited media. :func:`read` gives it back.
The API token is never part of it.

The command line, :func:`vance_filters.dask.map` (``output_dir``) and
:func:`save` write it; a PIL result carries its record in
``info["vance_provenance"]``, so ``vf.save(result, path)`` needs nothing else.

Examples
--------
>>> import numpy as np, vance_filters as vf
>>> from vance_filters.testing import Emulator
>>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
...     with vf.provenance.recording() as recorder:
...         out = vf.enlarge(np.zeros((4, 4, 3), np.uint8), scale=2, client=client)
>>> record = recorder.provenance()
>>> len(record.trans_ids), record.credits, record.jconfig["name"]
(1, 1.0, 'enlarge3')
>>> read(embed(_tiny_png(), record)).trans_ids == record.trans_ids
True
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime
import hashlib
import io
import json
import os
import struct
import threading
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from . import _xmp
from ._cache import canonical_jconfig
from ._sniff import image_format

__all__ = [
    "CARRIERS",
    "DIGITAL_SOURCE_TYPE",
    "INFO_KEY",
    "NAMESPACE",
    "JobRecord",
    "Provenance",
    "Recorder",
    "embed",
    "read",
    "recording",
    "save",
]

#: IPTC's digital source type for media edited with a trained algorithm.
DIGITAL_SOURCE_TYPE = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
)
#: The XMP namespace of the vance fields.
NAMESPACE = "https://github.com/vance-filters/ns/1.0/"
#: The key of a PIL result's ``info`` that holds its :class:`Provenance`.
INFO_KEY = "vance_provenance"
#: The containers a record is written into (others are written without one).
CARRIERS = ("png", "jpeg", "webp")

_IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_X = "adobe:ns:meta/"
_MAX_XMP_BYTES = 2 * 1024 * 1024  # what read() accepts


@dataclass(frozen=True)
class JobRecord:
    """One job behind an output.

    Attributes
    ----------
    trans_id : str or None
        The service's job id; None when the result came from the cache
        without one.
    cached : bool
        The result came from the cache (no credit charged).
    upload_sha256 : str
        SHA-256 of the bytes uploaded (the result cache's key is built from it).
    jconfig : dict or str
        The job's configuration.
    credits : float
        Credits charged: 0 for a cache hit, the filter's cost otherwise.
    service : str
        The service's base URL.
    filter : str
        The filter, as its repr.
    input_sha256 : str or None
        SHA-256 of the caller's input file bytes, when the input was bytes or a path.
    spec : dict or None
        The filter as data (:func:`filter_spec`), to build it again; None for a raw jconfig.
    """

    trans_id: str | None
    cached: bool
    upload_sha256: str
    jconfig: Any
    credits: float
    service: str
    filter: str
    input_sha256: str | None = None
    spec: Any = None


@dataclass(frozen=True)
class Provenance:
    """What made one output file: its jobs, settings and input.

    Attributes
    ----------
    jobs : tuple of JobRecord
        The jobs, in order (several for the frames of an animation).
    jconfig : dict or str
        The settings sent (the first job's jconfig).
    filter : str
        The filter, as its repr (e.g. ``Enlarge(scale=2, ...)``).
    service : str
        The service's base URL (never the token).
    input_sha256 : str or None
        SHA-256 of the input file's bytes, when known.
    library : str
        ``vance-filters <version>``.
    created : str
        When the record was made (UTC, ISO 8601).
    digital_source_type : str
        The IPTC digital source type (:data:`DIGITAL_SOURCE_TYPE`).
    spec : dict or None
        The filter as data (:func:`filter_spec`); None for a raw jconfig.
    """

    jobs: tuple[JobRecord, ...]
    jconfig: Any
    filter: str
    service: str
    input_sha256: str | None = None
    library: str = field(default_factory=lambda: f"vance-filters {_version()}")
    created: str = field(default_factory=lambda: now())
    digital_source_type: str = DIGITAL_SOURCE_TYPE
    spec: Any = None

    @property
    def trans_ids(self) -> list[str]:
        """The service's job ids (jobs answered from the cache without one are left out)."""
        return [job.trans_id for job in self.jobs if job.trans_id]

    @property
    def credits(self) -> float:
        """The credits charged for this output (0 when every job came from the cache)."""
        return float(sum(job.credits for job in self.jobs))

    def same_settings(self, jconfig: Any) -> bool:
        """True when this output was made with ``jconfig`` (compared canonically)."""
        try:
            return canonical_jconfig(self.jconfig) == canonical_jconfig(jconfig)
        except (TypeError, ValueError):
            return False

    def as_json(self) -> dict[str, Any]:
        """The record as plain JSON values."""
        return {
            "filter": self.filter,
            "filter_spec": self.spec,
            "jconfig": self.jconfig,
            "service": self.service,
            "trans_ids": self.trans_ids,
            "credits": self.credits,
            "input_sha256": self.input_sha256,
            "library": self.library,
            "created": self.created,
            "digital_source_type": self.digital_source_type,
            "jobs": [
                {
                    "trans_id": job.trans_id,
                    "cached": job.cached,
                    "upload_sha256": job.upload_sha256,
                    "credits": job.credits,
                }
                for job in self.jobs
            ],
        }

    def to_xmp(self) -> bytes:
        """The record as an XMP packet (UTF-8)."""
        def el(name: str, value: object, indent: str = "   ") -> str:
            return f"{indent}<vance:{name}>{escape(str(value))}</vance:{name}>\n"

        jconfig = self.jconfig if isinstance(self.jconfig, str) else canonical_jconfig(self.jconfig)
        body = (
            f"   <Iptc4xmpExt:DigitalSourceType>{escape(self.digital_source_type)}"
            "</Iptc4xmpExt:DigitalSourceType>\n"
        )
        body += el("Library", self.library) + el("Service", self.service)
        body += el("Filter", self.filter) + el("JConfig", jconfig)
        if self.spec is not None:
            body += el("FilterSpec", json.dumps(self.spec, sort_keys=True, separators=(",", ":")))
        if self.input_sha256:
            body += el("InputSHA256", self.input_sha256)
        body += el("Credits", _number(self.credits)) + el("Created", self.created)
        ids = "".join(f"     <rdf:li>{escape(t)}</rdf:li>\n" for t in self.trans_ids)
        body += f"   <vance:TransIds>\n    <rdf:Seq>\n{ids}    </rdf:Seq>\n   </vance:TransIds>\n"
        jobs = ""
        for job in self.jobs:
            inner = el("TransId", job.trans_id, "      ") if job.trans_id else ""
            inner += el("Cached", "True" if job.cached else "False", "      ")
            inner += el("UploadSHA256", job.upload_sha256, "      ")
            inner += el("Credits", _number(job.credits), "      ")
            jobs += f'     <rdf:li rdf:parseType="Resource">\n{inner}     </rdf:li>\n'
        body += f"   <vance:Jobs>\n    <rdf:Seq>\n{jobs}    </rdf:Seq>\n   </vance:Jobs>\n"
        text = (
            '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
            f'<x:xmpmeta xmlns:x="{_X}" x:xmptk="{escape(self.library)}">\n'
            f' <rdf:RDF xmlns:rdf="{_RDF}">\n'
            f'  <rdf:Description rdf:about="" xmlns:Iptc4xmpExt="{_IPTC_EXT}" '
            f'xmlns:vance="{NAMESPACE}">\n{body}  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n'
            '<?xpacket end="w"?>'
        )
        return text.encode("utf-8")

    @classmethod
    def from_xmp(cls, packet: bytes) -> Provenance | None:
        """The record in an XMP packet, or None when it holds none (or cannot be read)."""
        if len(packet) > _MAX_XMP_BYTES or b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
            return None  # no entity expansion from a file of unknown origin
        try:
            root = ET.fromstring(packet)
        except ET.ParseError:
            return None
        v = f"{{{NAMESPACE}}}"
        for desc in root.iter(f"{{{_RDF}}}Description"):
            if desc.find(f"{v}JConfig") is None:
                continue

            def text(node: ET.Element, name: str) -> str | None:
                found = node.find(f"{v}{name}")
                return None if found is None else (found.text or "")

            jobs = []
            for li in desc.iterfind(f"{v}Jobs/{{{_RDF}}}Seq/{{{_RDF}}}li"):
                jobs.append(
                    JobRecord(
                        trans_id=text(li, "TransId"),
                        cached=text(li, "Cached") == "True",
                        upload_sha256=text(li, "UploadSHA256") or "",
                        jconfig=None,
                        credits=_float(text(li, "Credits")),
                        service=text(desc, "Service") or "",
                        filter=text(desc, "Filter") or "",
                    )
                )
            raw = text(desc, "JConfig") or ""
            try:
                jconfig: Any = json.loads(raw)
            except ValueError:
                jconfig = raw
            try:
                spec = json.loads(text(desc, "FilterSpec") or "null")
            except ValueError:
                spec = None
            jobs = [dataclasses.replace(job, jconfig=jconfig, spec=spec) for job in jobs]
            source = desc.find(f"{{{_IPTC_EXT}}}DigitalSourceType")
            return cls(
                jobs=tuple(jobs),
                jconfig=jconfig,
                filter=text(desc, "Filter") or "",
                service=text(desc, "Service") or "",
                input_sha256=text(desc, "InputSHA256"),
                library=text(desc, "Library") or "",
                created=text(desc, "Created") or "",
                digital_source_type=(source.text or "") if source is not None else "",
                spec=spec,
            )
        return None

    @classmethod
    def from_json(cls, data: Any) -> Provenance | None:
        """The record :meth:`as_json` made (a video's container carries it so), or None if malformed.

        Examples
        --------
        >>> record = Provenance(jobs=(), jconfig={"name": "x"}, filter="F()", service="s")
        >>> Provenance.from_json(record.as_json()) == record
        True
        """
        try:
            jobs = tuple(
                JobRecord(
                    trans_id=job.get("trans_id"),
                    cached=bool(job.get("cached")),
                    upload_sha256=str(job.get("upload_sha256") or ""),
                    jconfig=data["jconfig"],
                    credits=float(job.get("credits") or 0),
                    service=str(data.get("service") or ""),
                    filter=str(data.get("filter") or ""),
                    spec=data.get("filter_spec"),
                )
                for job in data.get("jobs") or ()
            )
            return cls(
                jobs=jobs,
                jconfig=data["jconfig"],
                filter=str(data.get("filter") or ""),
                service=str(data.get("service") or ""),
                input_sha256=data.get("input_sha256"),
                library=str(data.get("library") or ""),
                created=str(data.get("created") or ""),
                digital_source_type=str(data.get("digital_source_type") or ""),
                spec=data.get("filter_spec"),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None

    def describe(self) -> str:
        """One line: the filter and the jobs, e.g. for a conflict message."""
        return self.filter or str(self.jconfig)


def now() -> str:
    """The current UTC time, ISO 8601 to the second (a record's ``created``)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace(
        "+00:00", "Z"
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _float(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


def _version() -> str:
    from . import __version__

    return __version__


# --------------------------------------------------------------------------- recording


class Recorder:
    """The jobs reported while a :func:`recording` is in force."""

    def __init__(self) -> None:
        self.jobs: list[JobRecord] = []
        self._lock = threading.Lock()

    def add(self, job: JobRecord) -> None:
        """Keep ``job`` (thread-safe)."""
        with self._lock:
            self.jobs.append(job)

    def provenance(self, *, input_sha256: str | None = None) -> Provenance | None:
        """The record of the jobs reported so far; None when there were none.

        ``input_sha256`` (the input file's digest) defaults to the one the jobs
        share, when the input reached the filter as bytes or a path.
        """
        with self._lock:
            jobs = tuple(self.jobs)
        if not jobs:
            return None
        if input_sha256 is None:
            digests = {job.input_sha256 for job in jobs}
            input_sha256 = digests.pop() if len(digests) == 1 else None
        first = jobs[0]
        return Provenance(
            jobs=jobs,
            jconfig=first.jconfig,
            filter=first.filter,
            service=first.service,
            input_sha256=input_sha256,
            spec=first.spec,
        )


_current: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar(
    "vance_filters_provenance", default=None
)


@contextlib.contextmanager
def recording() -> Iterator[Recorder]:
    """Collect the jobs run inside the ``with`` block (this thread, and the batches it starts).

    A recording inside another passes its jobs on to the outer one when it ends.

    Examples
    --------
    >>> with recording() as recorder:
    ...     pass
    >>> recorder.provenance() is None
    True
    """
    recorder = Recorder()
    outer = _current.get()
    token = _current.set(recorder)
    try:
        yield recorder
    finally:
        _current.reset(token)
        if outer is not None:
            for job in recorder.jobs:
                outer.add(job)


def report(job: JobRecord) -> None:
    """Report ``job`` to the recording in force (if any)."""
    recorder = _current.get()
    if recorder is not None:
        recorder.add(job)


def report_job(
    flt: Any, result: Any, upload: bytes, jconfig: Any, service: str, image: Any = None
) -> None:
    """Report a job :meth:`Client.run_job` answered (``result`` is its ``JobResult``)."""
    if _current.get() is None:
        return
    report(
        JobRecord(
            trans_id=result.trans_id,
            cached=bool(result.cached),
            upload_sha256=hashlib.sha256(upload).hexdigest(),
            jconfig=jconfig,
            credits=0.0 if result.cached else float(flt.cost),
            service=service,
            filter=repr(flt),
            input_sha256=input_digest(image),
            spec=filter_spec(flt),
        )
    )


def filter_spec(flt: Any) -> dict[str, Any] | None:
    """A filter or pipeline as JSON data: ``{"steps": [{"filter": name, "params": {...}}]}``.

    None for anything that is not made of the library's feature filters.

    Examples
    --------
    >>> import vance_filters as vf
    >>> filter_spec(vf.Denoise(sharpen=10))["steps"][0]["params"]["sharpen"]
    10
    """
    try:
        steps = flt.steps()
        out = []
        for step in steps:
            params = {
                f.name: _jsonable(getattr(step, f.name))
                for f in dataclasses.fields(step)
                if f.init
            }
            out.append({"filter": type(step).__name__, "params": params})
    except (AttributeError, TypeError, NotImplementedError):
        return None
    return {"steps": out}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def input_digest(image: Any) -> str | None:
    """SHA-256 of an input given as bytes or a path; None for images in memory."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return hashlib.sha256(bytes(image)).hexdigest()
    if isinstance(image, (str, os.PathLike)):
        digest = hashlib.sha256()
        try:
            with open(image, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            return None
        return digest.hexdigest()
    return None


# The jobs behind results the client's memo answers (which makes no job at all).
_REMEMBERED: OrderedDict[tuple[int, str], tuple[JobRecord, ...]] = OrderedDict()
_REMEMBERED_MAX = 65536
_remembered_lock = threading.Lock()


def remember(client: Any, key: str, recorder: Recorder) -> None:
    """Keep the jobs behind a memoised result, to report again on a memo hit."""
    with _remembered_lock:
        _REMEMBERED[(id(client), key)] = tuple(recorder.jobs)
        _REMEMBERED.move_to_end((id(client), key))
        while len(_REMEMBERED) > _REMEMBERED_MAX:
            _REMEMBERED.popitem(last=False)


def recall(client: Any, key: str) -> None:
    """Report the jobs behind a memoised result again, as cache hits (nothing charged)."""
    with _remembered_lock:
        jobs = _REMEMBERED.get((id(client), key), ())
    for job in jobs:
        report(dataclasses.replace(job, cached=True, credits=0.0))


def attach(result: Any, recorder: Recorder) -> Any:
    """Put the record in a PIL result's ``info`` (other kinds are returned as they are)."""
    info = getattr(result, "info", None)
    if isinstance(info, dict) and hasattr(result, "getbands"):
        record = recorder.provenance()
        if record is not None:
            info[INFO_KEY] = record
    return result


# --------------------------------------------------------------------------- files


def embed(data: bytes, record: Provenance) -> bytes:
    """``data`` (a PNG, JPEG or WebP file) with ``record`` as its XMP; the pixels untouched.

    An XMP packet the file held is replaced; EXIF and ICC are kept.

    Raises
    ------
    ValueError
        The bytes are not PNG, JPEG or WebP, or the record is too large for a JPEG segment.
    """
    return _xmp.embed_packet(data, record.to_xmp())


def xmp_packet(data: bytes) -> bytes | None:
    """The XMP packet of a PNG, JPEG or WebP file's bytes, or None."""
    return _xmp.packet_of(data)


def read(file: bytes | str | os.PathLike[str]) -> Provenance | None:
    """The provenance record of a file (its bytes or its path), or None if it holds none.

    Raises
    ------
    OSError
        The path cannot be read.
    """
    data = bytes(file) if isinstance(file, (bytes, bytearray, memoryview)) else without_image_data(file)
    packet = xmp_packet(data)
    return None if packet is None else Provenance.from_xmp(packet)


def without_image_data(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes; a PNG's without its IDAT chunks (skipped, not read: a streamed
    result may be bigger than memory), which is all its record needs."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        if head != b"\x89PNG\r\n\x1a\n":
            return head + fh.read()
        kept = [head]
        while True:
            header = fh.read(8)
            if len(header) < 8:
                break
            (length,) = struct.unpack(">I", header[:4])
            if header[4:] == b"IDAT":
                fh.seek(length + 4, os.SEEK_CUR)
                continue
            body = fh.read(length + 4)
            kept.append(header + body)
            if header[4:] == b"IEND" or len(body) < length + 4:
                break
        return b"".join(kept)


def _tiny_png() -> bytes:
    """A 1x1 PNG (for the examples)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, "PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------- vf.save


def save(
    result: Any,
    path: str | os.PathLike[str],
    *,
    provenance: Provenance | Recorder | None = None,
    quality: int | None = None,
) -> Path:
    """Write a result to ``path`` with its provenance record.

    Parameters
    ----------
    result : PIL.Image.Image, numpy.ndarray or bytes
        A filter's result. Bytes are written as they are (the record added);
        an image or array is encoded in the format the suffix names (PNG,
        JPEG, WebP; others through Pillow, without a record), EXIF and ICC kept.
    path : str or os.PathLike
        Where to write (atomically: temp file and rename).
    provenance : Provenance or Recorder, optional
        The record; a PIL result carries its own (``info["vance_provenance"]``),
        bytes and arrays need the :class:`Recorder` of a :func:`recording`
        around the call that made them.
    quality : int, optional
        JPEG / WebP quality when an image is encoded (default 95, WebP lossless).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        No record given nor carried, or a format that cannot be written.

    Examples
    --------
    >>> import tempfile, numpy as np, vance_filters as vf
    >>> from vance_filters.testing import Emulator
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = vf.enlarge(vf.imaging.to_pil(np.zeros((4, 4, 3), np.uint8)), scale=2, client=client)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     written = vf.save(out, folder + "/out.webp")
    ...     vf.provenance.read(written).credits
    1.0
    """
    from ._outputs import write_atomic

    target = Path(path)
    record = provenance.provenance() if isinstance(provenance, Recorder) else provenance
    if record is None:
        carried = getattr(result, "info", {}).get(INFO_KEY) if hasattr(result, "info") else None
        record = carried if isinstance(carried, Provenance) else None
    if record is None:
        raise ValueError(
            "save(): no provenance record: a PIL result carries its own; for bytes or arrays "
            "run the filter inside `with vf.provenance.recording() as rec:` and pass provenance=rec"
        )
    if isinstance(result, (bytes, bytearray, memoryview)):
        data = bytes(result)
    else:
        data = _encode(result, target, quality)
    if image_format(data) in CARRIERS:
        data = embed(data, record)
    write_atomic(target, data)
    return target


def _encode(result: Any, target: Path, quality: int | None) -> bytes:
    from PIL import Image

    from . import imaging

    image = result if isinstance(result, Image.Image) else imaging.to_pil(result)
    fmt = Image.registered_extensions().get(target.suffix.lower())
    if fmt is None:
        raise ValueError(f"save(): {target.name!r}: the suffix names no image format Pillow writes")
    options: dict[str, Any] = {}
    for key in ("exif", "icc_profile", "dpi"):
        if image.info.get(key) is not None:
            options[key] = image.info[key]
    if fmt == "JPEG":
        image = image if image.mode in ("L", "RGB", "CMYK") else image.convert("RGB")
        options["quality"] = quality or 95
    elif fmt == "WEBP":
        options.update({"quality": quality} if quality else {"lossless": True})
    if getattr(image, "n_frames", 1) > 1 and fmt in ("PNG", "WEBP", "GIF", "TIFF"):
        options["save_all"] = True  # every frame (JPEG holds one: the current frame)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()
