"""Every VanceAI feature as a frozen, validated, composable filter.

A filter holds the documented parameters of one feature, checked when it is
built, and knows the exact ``jconfig`` it sends. It is used three ways, all
sharing one code path::

    vf.enlarge(img, scale=4)                # the function
    vf.Enlarge(scale=4).apply(img)          # the filter object
    img.filter(vf.Enlarge(scale=4))         # Pillow's filter protocol

``a | b`` builds a :class:`Pipeline` that the service runs as ONE job (the
multi-step jconfig form): one upload, one transform, one download.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, overload

import numpy as np
from PIL import Image, ImageColor, ImageFilter

from . import _apply
from ._choices import OnLimit, UploadFormat, check_choice
from ._defaults import default_client
from ._features import ANIME_STRENGTH, ANIME_STYLES, CONTROLNETS, FEATURES, Feature
from ._warn import user_stacklevel
from .errors import ConfigError
from .frames import FramesOption

if TYPE_CHECKING:
    from .client import Client

__all__ = [
    "Animegan",
    "Cartoonize",
    "Colorize",
    "Denoise",
    "EnhanceFaces",
    "Enlarge",
    "Filter",
    "Pipeline",
    "Recolor",
    "RemoveBackground",
    "Repair",
    "Restore",
    "Sharpen",
    "ToAnime",
    "UpscaleAnime",
]

ImageT = TypeVar("ImageT", Image.Image, np.ndarray, bytes)

_OUTPUT_OPTIONS = ("format", "quality", "dpi", "background")


class Filter(ImageFilter.MultibandFilter):
    """Base of every VanceAI filter and of :class:`Pipeline`.

    A filter is immutable, hashable and picklable. It is a Pillow
    ``MultibandFilter``, so ``img.filter(f)`` works and may change the size.

    Examples
    --------
    >>> import vance_filters as vf
    >>> f = vf.Sharpen() | vf.EnhanceFaces()
    >>> f.cost, f.scale
    (3, 1)
    """

    def to_jconfig(self) -> dict[str, Any]:
        """The exact jconfig JSON object sent to ``/transform``."""
        raise NotImplementedError

    def steps(self) -> tuple[FeatureFilter, ...]:
        """The feature steps this filter runs, in order."""
        raise NotImplementedError

    @property
    def cost(self) -> int:
        """Credits one result may cost: the sum of every step's price.

        The service bills a downloaded result by its feature: 1 credit, 2 for
        the sharpener. How a multi-step job is billed is not documented now (an
        older version of the vendor's documentation billed every step), so a
        pipeline is priced as the sum of its steps: budget guards such as
        ``max_credits`` and the CLI's estimate never under-count.

        Examples
        --------
        >>> import vance_filters as vf
        >>> vf.Denoise().cost, vf.Sharpen().cost, (vf.Sharpen() | vf.EnhanceFaces()).cost
        (1, 2, 3)
        """
        return sum(step.feature.cost for step in self.steps())

    @property
    def scale(self) -> int:
        """How many times larger than the input the result is."""
        factor = 1
        for step in self.steps():
            factor *= step.step_scale
        return factor

    @property
    def output(self) -> Literal["same", "rgb", "rgba"]:
        """What the result's channels are: the input's, RGB, or RGBA."""
        steps = self.steps()
        last = steps[-1].step_output
        if last == "rgba":
            return "rgba"
        if any(s.step_output == "rgb" for s in steps):
            return "rgb"
        return "same"

    @property
    def out_format(self) -> str | None:
        """The output format asked for (``"jpg"``/``"png"``), if any."""
        return self.steps()[-1].format

    @property
    def out_quality(self) -> int | None:
        """The output JPEG quality asked for, if any."""
        return self.steps()[-1].quality

    @property
    def out_dpi(self) -> int | None:
        """The output DPI asked for, if any."""
        return self.steps()[-1].dpi

    def __or__(self, other: Filter) -> Pipeline:
        if not isinstance(other, Filter):
            return NotImplemented
        return Pipeline(*self.steps(), *other.steps())

    @overload
    def apply(
        self,
        image: ImageT,
        *,
        client: Client | None = ...,
        on_limit: OnLimit = ...,
        upload_format: UploadFormat = ...,
        frames: FramesOption = ...,
        max_credits: float | None = ...,
    ) -> ImageT: ...

    @overload
    def apply(
        self,
        image: str | os.PathLike[str],
        *,
        client: Client | None = ...,
        on_limit: OnLimit = ...,
        upload_format: UploadFormat = ...,
        frames: FramesOption = ...,
        max_credits: float | None = ...,
    ) -> Image.Image: ...

    def apply(
        self,
        image: Any,
        *,
        client: Client | None = None,
        on_limit: OnLimit = "downscale",
        upload_format: UploadFormat = "auto",
        frames: FramesOption = "all",
        max_credits: float | None = None,
    ) -> Any:
        """Run this filter on ``image`` and return the same kind of image.

        Parameters
        ----------
        image : PIL.Image.Image, numpy.ndarray, bytes, str or os.PathLike
            The image: a PIL image in any mode, an array ``(M, N[, C])`` of
            uint8, uint16, bool or float in [0, 1], the bytes of an image
            file, or a path to one. Multi-frame inputs (an animated GIF,
            APNG or WebP, a multi-page TIFF, a stack ``(T, M, N, C)``) run
            on every frame (:mod:`vance_filters.frames`).
        client : Client, optional
            The client to use; by default one built from ``VANCE_API_TOKEN``
            and ``VANCE_API_BASE`` on first use.
        on_limit : {"downscale", "raise", "tile"}
            What to do with an image over the service's 10 MB / 34 MP limits
            even as JPEG: downscale it (with a ``DownscaleWarning``; the result
            is resized back to the promised size), raise
            ``LimitExceededError`` before any upload, or process it at full
            resolution in overlapping tiles (:mod:`vance_filters.tiles`; one
            result per tile, plus one for a feature that looks at the whole image).
        upload_format : {"auto", "png", "jpeg"}
            How the upload is encoded: lossless PNG when it fits, else JPEG
            ("auto"), or forced.
        frames : {"all", "first"} or bool
            ``"all"`` (default): every frame of a multi-frame input, each
            distinct frame sent once. ``True``: the same, and a 3-D array is
            a stack ``(T, M, N)`` rather than one ``(M, N, C)`` picture.
            ``"first"`` (or False): one frame only, the old behaviour: the
            first of a file or stack, the current one of a PIL image.
        max_credits : float, optional
            Refuse (``CreditLimitError``, before any upload) a call that could
            cost more: distinct frames x ``cost``, or more than the balance.

        Returns
        -------
        PIL.Image.Image, numpy.ndarray or bytes
            The result, of the input's kind: PIL for PIL and paths, an array
            of the same dtype, range and layout, or bytes in the input's
            container format (or ``format=`` when given). A multi-frame input
            gives every frame back: bytes in the same container, a
            multi-frame PIL image (``n_frames``, ``seek``) for PIL and paths,
            a stack for a stack; durations, loop count and transparency kept.

        Raises
        ------
        InputError
            The image is unusable (raised before any request).
        CreditLimitError
            The call could cost more than ``max_credits`` or the balance.
        VanceError
            A typed error from the service or the transport.

        Examples
        --------
        >>> import numpy as np, vance_filters as vf
        >>> from vance_filters.testing import Emulator
        >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
        ...     out = vf.Enlarge(scale=2).apply(np.zeros((8, 10, 3), np.uint8), client=client)
        ...     stack = vf.Enlarge(scale=2).apply(np.zeros((4, 8, 10, 3), np.uint8), client=client)
        >>> out.shape, out.dtype, stack.shape
        ((16, 20, 3), dtype('uint8'), (4, 16, 20, 3))
        """
        return _apply.run(
            self,
            image,
            client=client,
            on_limit=on_limit,
            upload_format=upload_format,
            frames=frames,
            max_credits=max_credits,
        )

    async def apply_async(
        self,
        image: Any,
        *,
        client: Client | None = None,
        on_limit: OnLimit = "downscale",
        upload_format: UploadFormat = "auto",
    ) -> Any:
        """Await :meth:`apply` without blocking the event loop (it runs on ``client.submit``).

        Cancelling the awaiting task stops the waiting; a job already under
        way finishes in the background and lands in the result cache.

        Examples
        --------
        >>> import asyncio, numpy as np, vance_filters as vf
        >>> from vance_filters.testing import Emulator
        >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
        ...     out = asyncio.run(vf.Enlarge(scale=2).apply_async(np.zeros((4, 5), np.uint8), client=client))
        >>> out.shape
        (8, 10)
        """
        import asyncio  # only this door needs it

        client = client if client is not None else default_client()
        future = client.submit(image, self, on_limit=on_limit, upload_format=upload_format)
        # Cancelling the awaiting task cancels the Future: a job that has not started never
        # starts; one that has runs to its end in its thread and lands in the cache.
        return await asyncio.wrap_future(future)

    def filter(self, image: Any) -> Any:
        """Pillow's filter protocol: ``img.filter(f)`` calls this with the core image.

        Pillow hands over the core of the current frame only, so this door is
        single-frame by nature: for every frame of an animation, use
        ``f.apply(img)`` or the function.
        """
        pil = Image.Image()._new(image)
        if image.mode in ("P", "PA"):
            pil.putpalette(image.getpalette("RGB"))
        result = self.apply(pil)
        result.load()
        return result.im


def _color(value: Any) -> tuple[int, int, int]:
    if isinstance(value, str):
        try:
            rgb = ImageColor.getrgb(value)
        except ValueError:
            raise ConfigError(
                f"background={value!r} is not a colour: use (r, g, b) with 0-255 values, "
                "'#rrggbb' or a CSS colour name"
            ) from None
        return (int(rgb[0]), int(rgb[1]), int(rgb[2]))
    if (
        isinstance(value, (tuple, list))
        and len(value) == 3
        and all(isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in value)
        and all(0 <= int(c) <= 255 for c in value)
    ):
        return (int(value[0]), int(value[1]), int(value[2]))
    raise ConfigError(
        f"background={value!r} is not a colour: use (r, g, b) with 0-255 values, "
        "'#rrggbb' or a CSS colour name"
    )


@dataclass(frozen=True, kw_only=True, repr=False)
class FeatureFilter(Filter):
    """One feature of the service, with the output options every feature takes.

    Parameters
    ----------
    format : {"jpg", "png"}, optional
        Output format of the result (``out_params.format``).
    quality : int, optional
        JPEG quality 0-100 (``out_params.compress.quality``).
    dpi : int, optional
        DPI written into the result, 0-2000 (``out_params.dpi``).
    background : (r, g, b) or str, optional
        A solid background colour (``out_params.bg_composed``), for removed
        backgrounds; the result is then RGB.
    """

    format: str | None = None
    quality: int | None = None
    dpi: int | None = None
    background: tuple[int, int, int] | str | None = None

    module: ClassVar[str] = ""

    def __post_init__(self) -> None:
        self._check_output_options()
        self._check()
        self._normalise()
        problems = self.feature.problems(self.module_params())
        if problems:
            raise ConfigError(f"{type(self).__name__}: " + "; ".join(problems))

    # -- construction helpers ------------------------------------------------

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def _normalise(self) -> None:
        """Accept numpy scalars and ints for floats; keep bools strict."""
        names = {p.name: p for p in self.feature.params}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            param = names.get(field.name)
            if isinstance(value, bool) or value is None:
                continue
            if param is not None and param.kind is float and isinstance(value, numbers.Real):
                self._set(field.name, float(value))
            elif isinstance(value, numbers.Integral) and not isinstance(value, int):
                self._set(field.name, int(value))

    def _check_output_options(self) -> None:
        name = type(self).__name__
        if self.format is not None:
            fmt = self.format.lower() if isinstance(self.format, str) else self.format
            if fmt == "jpeg":
                fmt = "jpg"
            if fmt not in ("jpg", "png"):
                raise ConfigError(f"{name}: format={self.format!r} is not allowed: expected 'jpg' or 'png'")
            self._set("format", fmt)
        if self.quality is not None and not (
            isinstance(self.quality, int) and not isinstance(self.quality, bool) and 0 <= self.quality <= 100
        ):
            raise ConfigError(f"{name}: quality={self.quality!r} is not allowed: expected an integer from 0 to 100")
        if self.dpi is not None and not (
            isinstance(self.dpi, int) and not isinstance(self.dpi, bool) and 0 <= self.dpi <= 2000
        ):
            raise ConfigError(f"{name}: dpi={self.dpi!r} is not allowed: expected an integer from 0 to 2000")
        if self.background is not None:
            self._set("background", _color(self.background))

    def _check(self) -> None:
        """Checks of one feature beyond the table's ranges (override)."""

    # -- what is sent --------------------------------------------------------

    @property
    def feature(self) -> Feature:
        """The documented feature this filter runs."""
        return FEATURES[self.module]

    def module_params(self) -> dict[str, Any]:
        """The ``module_params`` object of this step: the model, then each documented parameter.

        Optional parameters (documented default None) are left out while None.
        Filters whose model depends on a parameter override this.
        """
        params: dict[str, Any] = {"model_name": self.feature.models[0]}
        for param in self.feature.params:
            if not hasattr(self, param.name):
                continue
            value = getattr(self, param.name)
            if value is None and param.default is None:
                continue
            params[param.name] = value
        return params

    def out_params(self) -> dict[str, Any]:
        """The ``out_params`` object of this step (empty when none is set)."""
        out: dict[str, Any] = {}
        if self.format is not None:
            out["format"] = self.format
        if self.quality is not None:
            out["compress"] = {"quality": self.quality}
        if self.dpi is not None:
            out["dpi"] = self.dpi
        if self.background is not None:
            assert isinstance(self.background, tuple)  # normalised in __post_init__
            r, g, b = self.background
            out["bg_composed"] = {"bg_color": {"r": r, "g": g, "b": b}}
        return out

    def has_output_options(self) -> bool:
        """True when any output option is set."""
        return any(getattr(self, name) is not None for name in _OUTPUT_OPTIONS)

    def step(self) -> dict[str, Any]:
        """This filter as one step of a multi-step jconfig."""
        config: dict[str, Any] = {"module": self.module, "module_params": self.module_params()}
        out = self.out_params()
        if out:
            config["out_params"] = out
        return {"name": self.feature.name, "config": config}

    def cn_configs(self) -> list[dict[str, str]]:
        """Top-level ControlNet entries this step needs (img2anime only)."""
        return []

    def to_jconfig(self) -> dict[str, Any]:
        """The exact jconfig sent for this filter alone.

        Examples
        --------
        >>> import vance_filters as vf
        >>> vf.Repair().to_jconfig()
        {'name': 'crease_repair', 'config': {'module': 'crease_repair', 'module_params': {'model_name': 'CreaseRepairStable'}}}
        """
        step = self.step()
        jconfig: dict[str, Any] = {self.feature.name_key: step["name"], "config": step["config"]}
        if self.cn_configs():
            jconfig["cn_configs"] = self.cn_configs()
        return jconfig

    def steps(self) -> tuple[FeatureFilter, ...]:
        return (self,)

    @property
    def step_scale(self) -> int:
        """The size factor of this step alone."""
        return self.feature.scale_of(self.module_params())

    @property
    def step_output(self) -> Literal["same", "rgb", "rgba"]:
        """The channel kind this step alone produces."""
        if self.background is not None:  # composed onto a solid colour: no alpha left
            return "rgb"
        return self.feature.output

    def __repr__(self) -> str:
        parts = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            parts.append(f"{field.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


# ---------------------------------------------------------------------------
# The features
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, repr=False)
class Enlarge(FeatureFilter):
    """AI Image Enlarger (``enlarge3``): upscale 2x, 4x, 6x or 8x.

    Parameters
    ----------
    scale : {2, 4, 6, 8}
        Enlargement factor; 2 uses the 2x model, 4/6/8 the 4x model.
    suppress_noise : int
        0-100, default 40.
    remove_blur : int
        0-100, default 60.

    Examples
    --------
    >>> import vance_filters as vf
    >>> vf.Enlarge(scale=4).to_jconfig()["config"]["module_params"]["model_name"]
    'EnlargeStandard_4x_Stable'
    """

    scale: int = 2  # type: ignore[assignment]
    suppress_noise: int = 40
    remove_blur: int = 60

    module: ClassVar[str] = "enlarge3"

    def module_params(self) -> dict[str, Any]:
        model = "EnlargeStandard_2x_Stable" if self.scale == 2 else "EnlargeStandard_4x_Stable"
        return {
            "model_name": model,
            "suppress_noise": self.suppress_noise,
            "remove_blur": self.remove_blur,
            "scale": self.scale,
        }


@dataclass(frozen=True, kw_only=True, repr=False)
class Denoise(FeatureFilter):
    """AI Image Denoiser: removes grain and noise.

    Parameters
    ----------
    remove_noise : int
        0-100, default 75.
    sharpen : int
        0-100, default 75.
    auto_params : bool
        Let the service pick both values (they are then ignored). Default False.

    Examples
    --------
    >>> import vance_filters as vf
    >>> vf.Denoise(remove_noise=50)
    Denoise(remove_noise=50, sharpen=75, auto_params=False)
    """

    remove_noise: int = 75
    sharpen: int = 75
    auto_params: bool = False

    module: ClassVar[str] = "denoise"


@dataclass(frozen=True, kw_only=True, repr=False)
class Sharpen(FeatureFilter):
    """AI Image Sharpener (``sharpen3``). Costs 2 credits.

    Parameters
    ----------
    remove_blur, suppress_noise, remove_artifacts : float
        0.0-1.0, default 0.5 each.
    autoparams : bool
        Let the service pick the three values. Default False.
    automodel : bool
        Let the service pick the best model. Default True.
    blur_type : int, optional
        The ``blur_type`` of the vendor's multi-step example (1); omitted when None.

    Examples
    --------
    >>> import vance_filters as vf
    >>> vf.Sharpen(remove_blur=0.8).cost
    2
    """

    remove_blur: float = 0.5
    suppress_noise: float = 0.5
    remove_artifacts: float = 0.5
    autoparams: bool = False
    automodel: bool = True
    blur_type: int | None = None

    module: ClassVar[str] = "sharpen3"


@dataclass(frozen=True, kw_only=True, repr=False)
class RemoveBackground(FeatureFilter):
    """AI Background Remover (``matting``): the result gains an alpha channel.

    With ``background=`` the cut-out is composed onto that solid colour and the
    result is RGB.

    Examples
    --------
    >>> import vance_filters as vf
    >>> vf.RemoveBackground().output, vf.RemoveBackground(background="white").output
    ('rgba', 'rgb')
    """

    module: ClassVar[str] = "matting"


@dataclass(frozen=True, kw_only=True, repr=False)
class UpscaleAnime(FeatureFilter):
    """AI Anime Upscaler: AnimeSharp (2x, 4x, 8x) or Real-ESRGAN (1x, 2x, 4x, 6x, 8x).

    Parameters
    ----------
    scale : int
        The factor; 1 (Real-ESRGAN only) enhances without enlarging.
    model : {"animesharp", "real_esrgan"}
        Which model to use. Default "animesharp".

    Examples
    --------
    >>> import vance_filters as vf
    >>> vf.UpscaleAnime(scale=6, model="real_esrgan").to_jconfig()["config"]["module_params"]
    {'model_name': 'RealEsrganStable', 'scale': '6x'}
    """

    scale: int = 2  # type: ignore[assignment]
    model: str = "animesharp"

    module: ClassVar[str] = "chainner"
    #: The models: name -> (module, allowed scales).
    MODELS: ClassVar[dict[str, tuple[str, tuple[int, ...]]]] = {
        "animesharp": ("chainner", (2, 4, 8)),
        "real_esrgan": ("real_esrgan", (1, 2, 4, 6, 8)),
    }

    def _check(self) -> None:
        if not isinstance(self.model, str) or self.model not in self.MODELS:
            raise ConfigError(
                f"UpscaleAnime: model={self.model!r} is not allowed: expected 'animesharp' or 'real_esrgan'"
            )
        allowed = self.MODELS[self.model][1]
        if isinstance(self.scale, bool) or self.scale not in allowed:
            other = [m for m, (_, s) in self.MODELS.items() if self.scale in s and m != self.model]
            hint = f"; model={other[0]!r} supports it" if other else ""
            raise ConfigError(
                f"UpscaleAnime: scale={self.scale!r} is not allowed with model={self.model!r}: "
                f"expected one of {', '.join(map(str, allowed))}{hint}"
            )

    @property
    def feature(self) -> Feature:
        return FEATURES[self.MODELS[self.model][0]]

    def step(self) -> dict[str, Any]:
        step = super().step()
        step["config"]["module"] = self.feature.module
        return step

    def module_params(self) -> dict[str, Any]:
        return {"model_name": self.feature.models[0], "scale": f"{self.scale}x"}


@dataclass(frozen=True, kw_only=True, repr=False)
class Repair(FeatureFilter):
    """AI Photo Restorer - Fix (``crease_repair``): scratches, creases, spots.

    Examples
    --------
    >>> import vance_filters as vf
    >>> vf.Repair().cost
    1
    """

    module: ClassVar[str] = "crease_repair"


@dataclass(frozen=True, kw_only=True, repr=False)
class Restore(FeatureFilter):
    """AI Photo Restorer - Enhance (``img2sr``), for very blurry photos only.

    Parameters
    ----------
    face_enhancer : bool
        Also enhance faces (CodeFormer). Default True.
    strength : float
        0.80-1.00, default 0.9.

    Examples
    --------
    >>> import vance_filters as vf
    >>> vf.Restore(strength=0.85)
    Restore(face_enhancer=True, strength=0.85)
    """

    face_enhancer: bool = True
    strength: float = 0.9

    module: ClassVar[str] = "img2sr"


@dataclass(frozen=True, kw_only=True, repr=False)
class Cartoonize(FeatureFilter):
    """Toongineer Cartoonizer. Deprecated by the vendor: prefer :class:`ToAnime`.

    Examples
    --------
    >>> import warnings, vance_filters as vf
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     _ = vf.Cartoonize()
    >>> seen[0].category.__name__
    'DeprecationWarning'
    """

    module: ClassVar[str] = "cartoonize"

    def _check(self) -> None:
        warnings.warn(
            "The Toongineer Cartoonizer is deprecated by VanceAI; use vf.ToAnime() (img2anime) instead",
            DeprecationWarning,
            stacklevel=user_stacklevel(),
        )


@dataclass(frozen=True, kw_only=True, repr=False)
class ToAnime(FeatureFilter):
    """AI Image Cartoonizer (``img2anime``, Stable Diffusion) in one of 12 styles.

    Parameters
    ----------
    style : str
        ``style1`` .. ``style6``, ``us_comic_boy``, ``us_comic_girl``,
        ``disney_boy``, ``disney_girl``, ``Ghibli_boy``, ``Ghibli_girl``.
    prompt : str
        English words describing the photo, ASCII, at most 140 characters.
    overwrite : bool
        Use only your prompt. Default False.
    look : {"cartoon", "realistic"}
        Picks the vendor's recommended ControlNets and denoising strength for
        the style ("more cartoonish" 0.75 / "more realistic" 0.65).
    denoising_strength : float, optional
        0.00-1.00; default from ``look``.
    controlnets : sequence of str, optional
        ControlNet names (``cartoon_tile``, ``cartoon_lineart``, ...); default
        from the style and ``look``. The image_uid of each is this job's own
        upload, filled in by the library.

    Examples
    --------
    >>> import vance_filters as vf
    >>> f = vf.ToAnime(style="disney_girl", look="realistic")
    >>> f.controlnets, f.denoising_strength
    (('more_real_lineart',), 0.65)
    """

    style: str = "style1"
    prompt: str = ""
    overwrite: bool = False
    look: str = "cartoon"
    denoising_strength: float | None = None
    controlnets: tuple[str, ...] | None = None

    module: ClassVar[str] = "img2anime"

    def _check(self) -> None:
        check_choice("ToAnime: look", self.look, ("cartoon", "realistic"))
        if not isinstance(self.style, str) or self.style not in ANIME_STYLES:
            raise ConfigError(
                f"ToAnime: style={self.style!r} is not allowed: expected one of "
                + ", ".join(repr(s) for s in ANIME_STYLES)
            )
        if self.denoising_strength is None:
            self._set("denoising_strength", ANIME_STRENGTH[self.look])
        if self.controlnets is None:
            cartoon, realistic = ANIME_STYLES[self.style]
            self._set("controlnets", cartoon if self.look == "cartoon" else realistic)
        if isinstance(self.controlnets, str):
            self._set("controlnets", (self.controlnets,))
        names: tuple[Any, ...]
        try:
            names = tuple(self.controlnets)  # type: ignore[arg-type]
        except TypeError:
            names = (self.controlnets,)
        bad = [n for n in names if not isinstance(n, str) or n not in CONTROLNETS]
        if not names or bad:
            raise ConfigError(
                f"ToAnime: controlnets={names!r} is not allowed: expected one or more of "
                + ", ".join(repr(c) for c in CONTROLNETS)
            )
        self._set("controlnets", names)

    def module_params(self) -> dict[str, Any]:
        return {
            "model_name": self.style,
            "prompt": self.prompt,
            "overwrite": self.overwrite,
            "denoising_strength": self.denoising_strength,
        }

    def cn_configs(self) -> list[dict[str, str]]:
        return [
            {"image_uid": "<uid_from_upload>", "cn_name": name}
            for name in self.controlnets or ()
        ]


@dataclass(frozen=True, kw_only=True, repr=False)
class Animegan(FeatureFilter):
    """VancePortrait (AnimeGANv2): a portrait to anime.

    Parameters
    ----------
    single_face : bool
        Convert only the face. Default True.

    Examples
    --------
    >>> import vance_filters as vf
    >>> list(vf.Animegan().to_jconfig())
    ['job', 'config']
    """

    single_face: bool = True

    module: ClassVar[str] = "animegan2"


@dataclass(frozen=True, kw_only=True, repr=False)
class Recolor(FeatureFilter):
    """AI Photo Colorizer (Recolor, Stable Diffusion): gray in, RGB out.

    Parameters
    ----------
    prompt : str
        Colours you want ("blue skirt, black hair").
    negative_prompt : str
        Colours you don't want.

    Examples
    --------
    >>> import vance_filters as vf
    >>> vf.Recolor(prompt="blue skirt").output
    'rgb'
    """

    prompt: str = ""
    negative_prompt: str = ""

    module: ClassVar[str] = "sd_recolor"


@dataclass(frozen=True, kw_only=True, repr=False)
class Colorize(FeatureFilter):
    """AI Photo Colorizer (DeOldify): gray in, RGB out.

    Parameters
    ----------
    render_factor : int
        10-70, default 30.

    Examples
    --------
    >>> import vance_filters as vf
    >>> vf.Colorize(render_factor=45)
    Colorize(render_factor=45)
    """

    render_factor: int = 30

    module: ClassVar[str] = "deoldify2"


@dataclass(frozen=True, kw_only=True, repr=False)
class EnhanceFaces(FeatureFilter):
    """Face enhancement (CodeFormer).

    Examples
    --------
    >>> import vance_filters as vf
    >>> vf.EnhanceFaces().to_jconfig()["name"]
    'CodeFormer'
    """

    module: ClassVar[str] = "CodeFormer"


#: Steps that the service only accepts last in a multi-step job.
_LAST_ONLY = (Enlarge, RemoveBackground)


class Pipeline(Filter):
    """Several filters run by the service as ONE job, in order.

    Build it with ``|`` or from filters; a pipeline is itself a filter and
    costs one upload, one transform and one download.

    Raises
    ------
    ConfigError
        Output options on a step other than the last, or ``Enlarge`` /
        ``RemoveBackground`` anywhere but last, or no step at all.

    Examples
    --------
    >>> import vance_filters as vf
    >>> p = vf.Sharpen(autoparams=True) | vf.EnhanceFaces(quality=80)
    >>> p
    Pipeline(Sharpen(remove_blur=0.5, suppress_noise=0.5, remove_artifacts=0.5, autoparams=True, automodel=True), EnhanceFaces(quality=80))
    >>> p.to_jconfig()["name"]
    'va_sharpen_standard'
    """

    __slots__ = ("_steps",)

    def __init__(self, *steps: Filter) -> None:
        flat: list[FeatureFilter] = []
        for step in steps:
            if not isinstance(step, Filter):
                raise ConfigError(f"Pipeline: {step!r} is not a vance_filters filter")
            flat.extend(step.steps())
        if not flat:
            raise ConfigError("Pipeline: needs at least one filter")
        for position, step in enumerate(flat[:-1], start=1):
            if step.has_output_options():
                raise ConfigError(
                    f"Pipeline: step {position} ({step!r}) sets output options; the service "
                    "applies format / quality / dpi / background on the last step only: "
                    "set them on the last filter"
                )
            if isinstance(step, _LAST_ONLY):
                raise ConfigError(
                    f"Pipeline: {type(step).__name__} must be the last step of a pipeline "
                    f"(it is step {position} of {len(flat)})"
                )
        anime = [s for s in flat if s.cn_configs()]
        if len(anime) > 1:
            raise ConfigError("Pipeline: at most one ToAnime step per pipeline")
        self._steps: tuple[FeatureFilter, ...] = tuple(flat)

    def steps(self) -> tuple[FeatureFilter, ...]:
        return self._steps

    def to_jconfig(self) -> dict[str, Any]:
        """The multi-step jconfig: ``{"config": [steps...], "name": <first step>}``."""
        steps = [s.step() for s in self._steps]
        jconfig: dict[str, Any] = {"config": steps, "name": steps[0]["name"]}
        for s in self._steps:
            if s.cn_configs():
                jconfig["cn_configs"] = s.cn_configs()
        return jconfig

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pipeline):
            return NotImplemented
        return self._steps == other._steps

    def __hash__(self) -> int:
        return hash(self._steps)

    def __len__(self) -> int:
        return len(self._steps)

    def __repr__(self) -> str:
        return f"Pipeline({', '.join(repr(s) for s in self._steps)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Pipeline, self._steps)
