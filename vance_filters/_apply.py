"""Running one filter on one image: the code path the function, the filter object and
Pillow's ``img.filter`` share.

Prepare the upload (within the service's limits), run the job through the
client's cache, decode and restore the caller's kind of image; hand multi-frame
inputs to :mod:`vance_filters.frames` and ``on_limit="tile"`` to
:mod:`vance_filters.tiles`; record the jobs behind every result for its
provenance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _budget, imaging
from . import frames as _frames
from . import provenance as _provenance
from ._choices import (
    ON_LIMIT,
    UPLOAD_FORMATS,
    OnLimit,
    UploadFormat,
    check_choice,
    check_max_credits,
)
from ._defaults import default_client
from ._memo import memo_for
from .errors import ResultDecodeError, ResultTooLargeError, VanceError
from .frames import FramesOption

if TYPE_CHECKING:
    from .client import Client
    from .filters import Filter

__all__ = ["run"]


def run(
    flt: Filter,
    image: Any,
    *,
    client: Client | None,
    on_limit: OnLimit,
    upload_format: UploadFormat,
    frames: FramesOption = "all",
    max_credits: float | None = None,
) -> Any:
    """Prepare, run the job (through the cache), and restore the caller's kind of image.

    A multi-frame input goes to :func:`vance_filters.frames.run` (every frame,
    through the batch layer) unless ``frames="first"``.

    A repeat of a finished call is answered from the client's memo of decoded
    results (``_memo``): one hash of the input, no encode, request or decode.
    A paid result is never lost and a bad one never sticks:

    - The result may claim at most 4x the pixels promised for it (at least
      4 MP, at most ``imaging.MAX_RESULT_PIXELS``, read at each call so it can
      be adjusted); a larger claim is refused undecoded (``ResultTooLargeError``
      with the trans_id; the bytes stay cached: they are what the service sent).
    - A fresh download that does not decode is downloaded again by trans_id
      (free); if that copy decodes it replaces the cached one. Otherwise the
      first error is raised, naming the trans_id; the raw bytes stay cached.
    - A cache hit that does not decode is dropped from the cache, so the next
      call runs the job again instead of failing for ever.
    """
    check_choice("on_limit", on_limit, ON_LIMIT)
    check_choice("upload_format", upload_format, UPLOAD_FORMATS)
    _frames.check_frames(frames)
    check_max_credits(max_credits)
    client = client if client is not None else default_client()
    with _provenance.recording() as recorder:  # the jobs behind this result, for its provenance
        out = _run_recorded(flt, image, client=client, recorder=recorder, on_limit=on_limit,
                            upload_format=upload_format, frames=frames, max_credits=max_credits)
    return _provenance.attach(out, recorder)


def _run_recorded(
    flt: Filter,
    image: Any,
    *,
    client: Client,
    recorder: _provenance.Recorder,
    on_limit: OnLimit,
    upload_format: UploadFormat,
    frames: FramesOption,
    max_credits: float | None,
) -> Any:
    if _frames.is_multiframe(image, frames=frames):
        if frames is True or frames == "all":
            return _frames.run(
                flt,
                image,
                frames=frames,
                max_credits=max_credits,
                client=client,
                on_limit=on_limit,
                upload_format=upload_format,
            )
        image = image[0]  # frames="first" on a stack (T, H, W, C): its first frame
    if on_limit == "tile":
        from . import tiles  # tiles runs through batch, which imports this module

        return tiles.apply(flt, image, client=client, upload_format=upload_format, max_credits=max_credits)
    if max_credits is not None:
        _budget.check(
            float(flt.cost),
            max_credits=max_credits,
            client=client,
            what="this call of 1 image",
            per_result=flt.cost,
            fewer="a cheaper filter",
        )
    jconfig = flt.to_jconfig()
    memo = memo_for(client)
    memo_key = memo.key(image, jconfig, (on_limit, upload_format)) if memo is not None else None
    if memo is not None and memo_key is not None:
        remembered = memo.get(memo_key)
        if remembered is not None:
            _provenance.recall(client, memo_key)  # the jobs behind it, now as cache hits
            return remembered
    out = _run_job(flt, image, client=client, jconfig=jconfig, on_limit=on_limit, upload_format=upload_format)
    if memo is not None and memo_key is not None:
        memo.put(memo_key, out)
        _provenance.remember(client, memo_key, recorder)
    return out


def _run_job(
    flt: Filter,
    image: Any,
    *,
    client: Client,
    jconfig: dict[str, Any],
    on_limit: OnLimit,
    upload_format: UploadFormat,
) -> Any:
    # "tile" never gets here (_run_recorded hands it to vance_filters.tiles).
    prepared = imaging.prepare(
        image, upload_format=upload_format, on_limit="raise" if on_limit == "raise" else "downscale"
    )
    width, height = imaging.promised_size(prepared, flt.scale)
    pixel_limit = min(imaging.MAX_RESULT_PIXELS, max(4 * width * height, 4_000_000))
    background = getattr(flt.steps()[-1], "background", None)  # (r, g, b) once normalised

    def restore(data: bytes, trans_id: str | None) -> Any:
        return imaging.restore(
            data,
            prepared,
            scale=flt.scale,
            output=flt.output,
            out_format=flt.out_format,
            dpi=flt.out_dpi,
            quality=flt.out_quality,
            trans_id=trans_id,
            max_result_pixels=pixel_limit,
            background=background,
        )

    def scrubbed(error: ResultDecodeError) -> ResultDecodeError:
        # The message quotes the result's first bytes, which a hostile server may fill
        # with the token it was sent.
        error.message = client.redact(error.message)
        error.args = (error.message,)
        return error

    result = client.run_job(prepared.data, jconfig, filename=prepared.filename)
    _provenance.report_job(flt, result, prepared.data, jconfig, client.base_url, image)
    try:
        return restore(result.data, result.trans_id)
    except ResultTooLargeError as exc:
        exc.hint = (
            f"This filter promised a {width}x{height} result; a result claiming over "
            f"{pixel_limit} pixels is refused (imaging.MAX_RESULT_PIXELS caps the limit). "
            "The raw bytes stay cached and client.download(trans_id) fetches them free"
        )
        raise
    except ResultDecodeError as exc:
        failure = scrubbed(exc)
    if result.cached or result.trans_id is None:
        client.forget(prepared.data, jconfig)
        failure.hint = (
            "The cached copy of this result was unreadable and has been dropped: "
            "call again to run the job anew"
        )
        raise failure
    try:
        again = client.redownload(result.trans_id, prepared.data, jconfig)
    except VanceError:
        raise failure from None
    if again == result.data:
        raise failure
    try:
        return restore(again, result.trans_id)
    except ResultDecodeError:
        raise failure from None
