"""One function per VanceAI feature: ``vf.enlarge(img, scale=4)`` and friends.

Each function builds the matching filter (validating every parameter before
any request) and applies it: the image comes back as the same kind it went in
(PIL, ndarray of the same dtype and layout, bytes in the same container, or
PIL for a path; every frame of an animation, multi-page TIFF or stack). See the filter classes in :mod:`vance_filters.filters` for
the parameters' ranges.

Each function's parameters are its filter's fields (a test checks that they
stay in step).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, overload

from PIL import Image

from .filters import (
    Animegan,
    Cartoonize,
    Colorize,
    Denoise,
    EnhanceFaces,
    Enlarge,
    ImageT,
    OnLimit,
    Recolor,
    RemoveBackground,
    Repair,
    Restore,
    Sharpen,
    ToAnime,
    UploadFormat,
    UpscaleAnime,
)
from .frames import FramesOption

if TYPE_CHECKING:
    from .client import Client

__all__ = [
    "enlarge",
    "denoise",
    "sharpen",
    "remove_background",
    "upscale_anime",
    "repair",
    "restore",
    "cartoonize",
    "to_anime",
    "animegan",
    "recolor",
    "colorize",
    "enhance_faces",
]


@overload
def enlarge(
    image: ImageT,
    scale: int = ...,
    *,
    suppress_noise: int = ...,
    remove_blur: int = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> ImageT: ...


@overload
def enlarge(
    image: str | os.PathLike[str],
    scale: int = ...,
    *,
    suppress_noise: int = ...,
    remove_blur: int = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> Image.Image: ...


def enlarge(
    image: Any,
    scale: int = 2,
    *,
    suppress_noise: int = 40,
    remove_blur: int = 60,
    format: str | None = None,
    quality: int | None = None,
    dpi: int | None = None,
    background: tuple[int, int, int] | str | None = None,
    client: Client | None = None,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
    frames: FramesOption = "all",
    max_credits: float | None = None,
) -> Any:
    """Enlarge the image 2x, 4x, 6x or 8x (AI Image Enlarger).

    Builds :class:`~vance_filters.filters.Enlarge` with the parameters given and
    applies it; see there for ranges, and :meth:`Filter.apply` for ``client``,
    ``on_limit``, ``upload_format``, ``frames`` and ``max_credits``. Output options (``format``, ``quality``,
    ``dpi``, ``background``) are those of every filter.

    Returns
    -------
    PIL.Image.Image, numpy.ndarray or bytes
        The result, of the input's kind.

    Examples
    --------
    >>> import vance_filters as vf
    >>> from vance_filters.testing import Emulator, sample_image
    >>> img = sample_image("photo", size=(32, 24))
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = vf.enlarge(img, scale=4, client=client)
    >>> type(out).__name__
    'Image'
    """
    return Enlarge(scale=scale, suppress_noise=suppress_noise, remove_blur=remove_blur, format=format, quality=quality, dpi=dpi, background=background).apply(
        image,
        client=client,
        on_limit=on_limit,
        upload_format=upload_format,
        frames=frames,
        max_credits=max_credits,
    )


@overload
def denoise(
    image: ImageT,
    *,
    remove_noise: int = ...,
    sharpen: int = ...,
    auto_params: bool = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> ImageT: ...


@overload
def denoise(
    image: str | os.PathLike[str],
    *,
    remove_noise: int = ...,
    sharpen: int = ...,
    auto_params: bool = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> Image.Image: ...


def denoise(
    image: Any,
    *,
    remove_noise: int = 75,
    sharpen: int = 75,
    auto_params: bool = False,
    format: str | None = None,
    quality: int | None = None,
    dpi: int | None = None,
    background: tuple[int, int, int] | str | None = None,
    client: Client | None = None,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
    frames: FramesOption = "all",
    max_credits: float | None = None,
) -> Any:
    """Remove grain and noise (AI Image Denoiser).

    Builds :class:`~vance_filters.filters.Denoise` with the parameters given and
    applies it; see there for ranges, and :meth:`Filter.apply` for ``client``,
    ``on_limit``, ``upload_format``, ``frames`` and ``max_credits``. Output options (``format``, ``quality``,
    ``dpi``, ``background``) are those of every filter.

    Returns
    -------
    PIL.Image.Image, numpy.ndarray or bytes
        The result, of the input's kind.

    Examples
    --------
    >>> import vance_filters as vf
    >>> from vance_filters.testing import Emulator, sample_image
    >>> img = sample_image("photo", size=(32, 24))
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = vf.denoise(img, remove_noise=60, client=client)
    >>> type(out).__name__
    'Image'
    """
    return Denoise(remove_noise=remove_noise, sharpen=sharpen, auto_params=auto_params, format=format, quality=quality, dpi=dpi, background=background).apply(
        image,
        client=client,
        on_limit=on_limit,
        upload_format=upload_format,
        frames=frames,
        max_credits=max_credits,
    )


@overload
def sharpen(
    image: ImageT,
    *,
    remove_blur: float = ...,
    suppress_noise: float = ...,
    remove_artifacts: float = ...,
    autoparams: bool = ...,
    automodel: bool = ...,
    blur_type: int | None = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> ImageT: ...


@overload
def sharpen(
    image: str | os.PathLike[str],
    *,
    remove_blur: float = ...,
    suppress_noise: float = ...,
    remove_artifacts: float = ...,
    autoparams: bool = ...,
    automodel: bool = ...,
    blur_type: int | None = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> Image.Image: ...


def sharpen(
    image: Any,
    *,
    remove_blur: float = 0.5,
    suppress_noise: float = 0.5,
    remove_artifacts: float = 0.5,
    autoparams: bool = False,
    automodel: bool = True,
    blur_type: int | None = None,
    format: str | None = None,
    quality: int | None = None,
    dpi: int | None = None,
    background: tuple[int, int, int] | str | None = None,
    client: Client | None = None,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
    frames: FramesOption = "all",
    max_credits: float | None = None,
) -> Any:
    """Sharpen a blurry photo (AI Image Sharpener, 2 credits).

    Builds :class:`~vance_filters.filters.Sharpen` with the parameters given and
    applies it; see there for ranges, and :meth:`Filter.apply` for ``client``,
    ``on_limit``, ``upload_format``, ``frames`` and ``max_credits``. Output options (``format``, ``quality``,
    ``dpi``, ``background``) are those of every filter.

    Returns
    -------
    PIL.Image.Image, numpy.ndarray or bytes
        The result, of the input's kind.

    Examples
    --------
    >>> import vance_filters as vf
    >>> from vance_filters.testing import Emulator, sample_image
    >>> img = sample_image("photo", size=(32, 24))
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = vf.sharpen(img, remove_blur=0.8, client=client)
    >>> type(out).__name__
    'Image'
    """
    return Sharpen(remove_blur=remove_blur, suppress_noise=suppress_noise, remove_artifacts=remove_artifacts, autoparams=autoparams, automodel=automodel, blur_type=blur_type, format=format, quality=quality, dpi=dpi, background=background).apply(
        image,
        client=client,
        on_limit=on_limit,
        upload_format=upload_format,
        frames=frames,
        max_credits=max_credits,
    )


@overload
def remove_background(
    image: ImageT,
    *,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> ImageT: ...


@overload
def remove_background(
    image: str | os.PathLike[str],
    *,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> Image.Image: ...


def remove_background(
    image: Any,
    *,
    format: str | None = None,
    quality: int | None = None,
    dpi: int | None = None,
    background: tuple[int, int, int] | str | None = None,
    client: Client | None = None,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
    frames: FramesOption = "all",
    max_credits: float | None = None,
) -> Any:
    """Cut out the subject: RGBA result, or RGB on ``background``.

    Builds :class:`~vance_filters.filters.RemoveBackground` with the parameters given and
    applies it; see there for ranges, and :meth:`Filter.apply` for ``client``,
    ``on_limit``, ``upload_format``, ``frames`` and ``max_credits``. Output options (``format``, ``quality``,
    ``dpi``, ``background``) are those of every filter.

    Returns
    -------
    PIL.Image.Image, numpy.ndarray or bytes
        The result, of the input's kind.

    Examples
    --------
    >>> import vance_filters as vf
    >>> from vance_filters.testing import Emulator, sample_image
    >>> img = sample_image("photo", size=(32, 24))
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = vf.remove_background(img, client=client)
    >>> type(out).__name__
    'Image'
    """
    return RemoveBackground(format=format, quality=quality, dpi=dpi, background=background).apply(
        image,
        client=client,
        on_limit=on_limit,
        upload_format=upload_format,
        frames=frames,
        max_credits=max_credits,
    )


@overload
def upscale_anime(
    image: ImageT,
    scale: int = ...,
    *,
    model: str = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> ImageT: ...


@overload
def upscale_anime(
    image: str | os.PathLike[str],
    scale: int = ...,
    *,
    model: str = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> Image.Image: ...


def upscale_anime(
    image: Any,
    scale: int = 2,
    *,
    model: str = "animesharp",
    format: str | None = None,
    quality: int | None = None,
    dpi: int | None = None,
    background: tuple[int, int, int] | str | None = None,
    client: Client | None = None,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
    frames: FramesOption = "all",
    max_credits: float | None = None,
) -> Any:
    """Upscale anime art with AnimeSharp or Real-ESRGAN.

    Builds :class:`~vance_filters.filters.UpscaleAnime` with the parameters given and
    applies it; see there for ranges, and :meth:`Filter.apply` for ``client``,
    ``on_limit``, ``upload_format``, ``frames`` and ``max_credits``. Output options (``format``, ``quality``,
    ``dpi``, ``background``) are those of every filter.

    Returns
    -------
    PIL.Image.Image, numpy.ndarray or bytes
        The result, of the input's kind.

    Examples
    --------
    >>> import vance_filters as vf
    >>> from vance_filters.testing import Emulator, sample_image
    >>> img = sample_image("photo", size=(32, 24))
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = vf.upscale_anime(img, scale=4, client=client)
    >>> type(out).__name__
    'Image'
    """
    return UpscaleAnime(scale=scale, model=model, format=format, quality=quality, dpi=dpi, background=background).apply(
        image,
        client=client,
        on_limit=on_limit,
        upload_format=upload_format,
        frames=frames,
        max_credits=max_credits,
    )


@overload
def repair(
    image: ImageT,
    *,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> ImageT: ...


@overload
def repair(
    image: str | os.PathLike[str],
    *,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> Image.Image: ...


def repair(
    image: Any,
    *,
    format: str | None = None,
    quality: int | None = None,
    dpi: int | None = None,
    background: tuple[int, int, int] | str | None = None,
    client: Client | None = None,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
    frames: FramesOption = "all",
    max_credits: float | None = None,
) -> Any:
    """Fix scratches, creases and spots (Photo Restorer - Fix).

    Builds :class:`~vance_filters.filters.Repair` with the parameters given and
    applies it; see there for ranges, and :meth:`Filter.apply` for ``client``,
    ``on_limit``, ``upload_format``, ``frames`` and ``max_credits``. Output options (``format``, ``quality``,
    ``dpi``, ``background``) are those of every filter.

    Returns
    -------
    PIL.Image.Image, numpy.ndarray or bytes
        The result, of the input's kind.

    Examples
    --------
    >>> import vance_filters as vf
    >>> from vance_filters.testing import Emulator, sample_image
    >>> img = sample_image("photo", size=(32, 24))
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = vf.repair(img, client=client)
    >>> type(out).__name__
    'Image'
    """
    return Repair(format=format, quality=quality, dpi=dpi, background=background).apply(
        image,
        client=client,
        on_limit=on_limit,
        upload_format=upload_format,
        frames=frames,
        max_credits=max_credits,
    )


@overload
def restore(
    image: ImageT,
    *,
    face_enhancer: bool = ...,
    strength: float = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> ImageT: ...


@overload
def restore(
    image: str | os.PathLike[str],
    *,
    face_enhancer: bool = ...,
    strength: float = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> Image.Image: ...


def restore(
    image: Any,
    *,
    face_enhancer: bool = True,
    strength: float = 0.9,
    format: str | None = None,
    quality: int | None = None,
    dpi: int | None = None,
    background: tuple[int, int, int] | str | None = None,
    client: Client | None = None,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
    frames: FramesOption = "all",
    max_credits: float | None = None,
) -> Any:
    """Restore a very blurry photo (Photo Restorer - Enhance).

    Builds :class:`~vance_filters.filters.Restore` with the parameters given and
    applies it; see there for ranges, and :meth:`Filter.apply` for ``client``,
    ``on_limit``, ``upload_format``, ``frames`` and ``max_credits``. Output options (``format``, ``quality``,
    ``dpi``, ``background``) are those of every filter.

    Returns
    -------
    PIL.Image.Image, numpy.ndarray or bytes
        The result, of the input's kind.

    Examples
    --------
    >>> import vance_filters as vf
    >>> from vance_filters.testing import Emulator, sample_image
    >>> img = sample_image("photo", size=(32, 24))
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = vf.restore(img, strength=0.85, client=client)
    >>> type(out).__name__
    'Image'
    """
    return Restore(face_enhancer=face_enhancer, strength=strength, format=format, quality=quality, dpi=dpi, background=background).apply(
        image,
        client=client,
        on_limit=on_limit,
        upload_format=upload_format,
        frames=frames,
        max_credits=max_credits,
    )


@overload
def cartoonize(
    image: ImageT,
    *,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> ImageT: ...


@overload
def cartoonize(
    image: str | os.PathLike[str],
    *,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> Image.Image: ...


def cartoonize(
    image: Any,
    *,
    format: str | None = None,
    quality: int | None = None,
    dpi: int | None = None,
    background: tuple[int, int, int] | str | None = None,
    client: Client | None = None,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
    frames: FramesOption = "all",
    max_credits: float | None = None,
) -> Any:
    """Cartoonize (Toongineer, deprecated by the vendor: prefer ``to_anime``).

    Builds :class:`~vance_filters.filters.Cartoonize` with the parameters given and
    applies it; see there for ranges, and :meth:`Filter.apply` for ``client``,
    ``on_limit``, ``upload_format``, ``frames`` and ``max_credits``. Output options (``format``, ``quality``,
    ``dpi``, ``background``) are those of every filter.

    Returns
    -------
    PIL.Image.Image, numpy.ndarray or bytes
        The result, of the input's kind.

    Examples
    --------
    >>> import vance_filters as vf
    >>> from vance_filters.testing import Emulator, sample_image
    >>> img = sample_image("photo", size=(32, 24))
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = vf.cartoonize(img, client=client)
    >>> type(out).__name__
    'Image'
    """
    return Cartoonize(format=format, quality=quality, dpi=dpi, background=background).apply(
        image,
        client=client,
        on_limit=on_limit,
        upload_format=upload_format,
        frames=frames,
        max_credits=max_credits,
    )


@overload
def to_anime(
    image: ImageT,
    *,
    style: str = ...,
    prompt: str = ...,
    overwrite: bool = ...,
    look: str = ...,
    denoising_strength: float | None = ...,
    controlnets: tuple[str, ...] | None = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> ImageT: ...


@overload
def to_anime(
    image: str | os.PathLike[str],
    *,
    style: str = ...,
    prompt: str = ...,
    overwrite: bool = ...,
    look: str = ...,
    denoising_strength: float | None = ...,
    controlnets: tuple[str, ...] | None = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> Image.Image: ...


def to_anime(
    image: Any,
    *,
    style: str = "style1",
    prompt: str = "",
    overwrite: bool = False,
    look: str = "cartoon",
    denoising_strength: float | None = None,
    controlnets: tuple[str, ...] | None = None,
    format: str | None = None,
    quality: int | None = None,
    dpi: int | None = None,
    background: tuple[int, int, int] | str | None = None,
    client: Client | None = None,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
    frames: FramesOption = "all",
    max_credits: float | None = None,
) -> Any:
    """Turn a photo into a cartoon in one of 12 styles (img2anime).

    Builds :class:`~vance_filters.filters.ToAnime` with the parameters given and
    applies it; see there for ranges, and :meth:`Filter.apply` for ``client``,
    ``on_limit``, ``upload_format``, ``frames`` and ``max_credits``. Output options (``format``, ``quality``,
    ``dpi``, ``background``) are those of every filter.

    Returns
    -------
    PIL.Image.Image, numpy.ndarray or bytes
        The result, of the input's kind.

    Examples
    --------
    >>> import vance_filters as vf
    >>> from vance_filters.testing import Emulator, sample_image
    >>> img = sample_image("photo", size=(32, 24))
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = vf.to_anime(img, style="Ghibli_girl", client=client)
    >>> type(out).__name__
    'Image'
    """
    return ToAnime(style=style, prompt=prompt, overwrite=overwrite, look=look, denoising_strength=denoising_strength, controlnets=controlnets, format=format, quality=quality, dpi=dpi, background=background).apply(
        image,
        client=client,
        on_limit=on_limit,
        upload_format=upload_format,
        frames=frames,
        max_credits=max_credits,
    )


@overload
def animegan(
    image: ImageT,
    *,
    single_face: bool = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> ImageT: ...


@overload
def animegan(
    image: str | os.PathLike[str],
    *,
    single_face: bool = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> Image.Image: ...


def animegan(
    image: Any,
    *,
    single_face: bool = True,
    format: str | None = None,
    quality: int | None = None,
    dpi: int | None = None,
    background: tuple[int, int, int] | str | None = None,
    client: Client | None = None,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
    frames: FramesOption = "all",
    max_credits: float | None = None,
) -> Any:
    """Turn a portrait into anime (VancePortrait, AnimeGANv2).

    Builds :class:`~vance_filters.filters.Animegan` with the parameters given and
    applies it; see there for ranges, and :meth:`Filter.apply` for ``client``,
    ``on_limit``, ``upload_format``, ``frames`` and ``max_credits``. Output options (``format``, ``quality``,
    ``dpi``, ``background``) are those of every filter.

    Returns
    -------
    PIL.Image.Image, numpy.ndarray or bytes
        The result, of the input's kind.

    Examples
    --------
    >>> import vance_filters as vf
    >>> from vance_filters.testing import Emulator, sample_image
    >>> img = sample_image("photo", size=(32, 24))
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = vf.animegan(img, client=client)
    >>> type(out).__name__
    'Image'
    """
    return Animegan(single_face=single_face, format=format, quality=quality, dpi=dpi, background=background).apply(
        image,
        client=client,
        on_limit=on_limit,
        upload_format=upload_format,
        frames=frames,
        max_credits=max_credits,
    )


@overload
def recolor(
    image: ImageT,
    *,
    prompt: str = ...,
    negative_prompt: str = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> ImageT: ...


@overload
def recolor(
    image: str | os.PathLike[str],
    *,
    prompt: str = ...,
    negative_prompt: str = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> Image.Image: ...


def recolor(
    image: Any,
    *,
    prompt: str = "",
    negative_prompt: str = "",
    format: str | None = None,
    quality: int | None = None,
    dpi: int | None = None,
    background: tuple[int, int, int] | str | None = None,
    client: Client | None = None,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
    frames: FramesOption = "all",
    max_credits: float | None = None,
) -> Any:
    """Colorize a gray photo guided by a prompt (Recolor): RGB result.

    Builds :class:`~vance_filters.filters.Recolor` with the parameters given and
    applies it; see there for ranges, and :meth:`Filter.apply` for ``client``,
    ``on_limit``, ``upload_format``, ``frames`` and ``max_credits``. Output options (``format``, ``quality``,
    ``dpi``, ``background``) are those of every filter.

    Returns
    -------
    PIL.Image.Image, numpy.ndarray or bytes
        The result, of the input's kind.

    Examples
    --------
    >>> import vance_filters as vf
    >>> from vance_filters.testing import Emulator, sample_image
    >>> img = sample_image("photo", size=(32, 24))
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = vf.recolor(img, prompt="blue skirt", client=client)
    >>> type(out).__name__
    'Image'
    """
    return Recolor(prompt=prompt, negative_prompt=negative_prompt, format=format, quality=quality, dpi=dpi, background=background).apply(
        image,
        client=client,
        on_limit=on_limit,
        upload_format=upload_format,
        frames=frames,
        max_credits=max_credits,
    )


@overload
def colorize(
    image: ImageT,
    *,
    render_factor: int = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> ImageT: ...


@overload
def colorize(
    image: str | os.PathLike[str],
    *,
    render_factor: int = ...,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> Image.Image: ...


def colorize(
    image: Any,
    *,
    render_factor: int = 30,
    format: str | None = None,
    quality: int | None = None,
    dpi: int | None = None,
    background: tuple[int, int, int] | str | None = None,
    client: Client | None = None,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
    frames: FramesOption = "all",
    max_credits: float | None = None,
) -> Any:
    """Colorize a gray photo (DeOldify): RGB result.

    Builds :class:`~vance_filters.filters.Colorize` with the parameters given and
    applies it; see there for ranges, and :meth:`Filter.apply` for ``client``,
    ``on_limit``, ``upload_format``, ``frames`` and ``max_credits``. Output options (``format``, ``quality``,
    ``dpi``, ``background``) are those of every filter.

    Returns
    -------
    PIL.Image.Image, numpy.ndarray or bytes
        The result, of the input's kind.

    Examples
    --------
    >>> import vance_filters as vf
    >>> from vance_filters.testing import Emulator, sample_image
    >>> img = sample_image("photo", size=(32, 24))
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = vf.colorize(img, render_factor=40, client=client)
    >>> type(out).__name__
    'Image'
    """
    return Colorize(render_factor=render_factor, format=format, quality=quality, dpi=dpi, background=background).apply(
        image,
        client=client,
        on_limit=on_limit,
        upload_format=upload_format,
        frames=frames,
        max_credits=max_credits,
    )


@overload
def enhance_faces(
    image: ImageT,
    *,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> ImageT: ...


@overload
def enhance_faces(
    image: str | os.PathLike[str],
    *,
    format: str | None = ...,
    quality: int | None = ...,
    dpi: int | None = ...,
    background: tuple[int, int, int] | str | None = ...,
    client: Client | None = ...,
    on_limit: OnLimit = ...,
    upload_format: UploadFormat = ...,
    frames: FramesOption = ...,
    max_credits: float | None = ...,
) -> Image.Image: ...


def enhance_faces(
    image: Any,
    *,
    format: str | None = None,
    quality: int | None = None,
    dpi: int | None = None,
    background: tuple[int, int, int] | str | None = None,
    client: Client | None = None,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
    frames: FramesOption = "all",
    max_credits: float | None = None,
) -> Any:
    """Enhance faces (CodeFormer).

    Builds :class:`~vance_filters.filters.EnhanceFaces` with the parameters given and
    applies it; see there for ranges, and :meth:`Filter.apply` for ``client``,
    ``on_limit``, ``upload_format``, ``frames`` and ``max_credits``. Output options (``format``, ``quality``,
    ``dpi``, ``background``) are those of every filter.

    Returns
    -------
    PIL.Image.Image, numpy.ndarray or bytes
        The result, of the input's kind.

    Examples
    --------
    >>> import vance_filters as vf
    >>> from vance_filters.testing import Emulator, sample_image
    >>> img = sample_image("photo", size=(32, 24))
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = vf.enhance_faces(img, client=client)
    >>> type(out).__name__
    'Image'
    """
    return EnhanceFaces(format=format, quality=quality, dpi=dpi, background=background).apply(
        image,
        client=client,
        on_limit=on_limit,
        upload_format=upload_format,
        frames=frames,
        max_credits=max_credits,
    )
