"""The documented VanceAI feature table, as data.

One source of truth for the module names, model names, parameter ranges,
defaults, credit costs and output geometry of every feature. The filters
validate against it before a request is sent; the emulator validates the
same way the service does. It imports nothing else of the package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

OutputKind = Literal["same", "rgb", "rgba"]

#: ControlNet names img2anime accepts in ``cn_configs``.
CONTROLNETS = (
    "cartoon_tile",
    "cartoon_lineart",
    "cartoon_normal",
    "cartoon_canny",
    "more_cartoon_lineart",
    "more_real_lineart",
    "cartoon_normal_noforge",
)

#: img2anime styles with the vendor's recommended ControlNets
#: (``(more cartoonish, more realistic)``) and denoising strengths.
ANIME_STYLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    **{
        f"style{i}": (("cartoon_tile",), ("cartoon_lineart", "cartoon_tile"))
        for i in range(1, 7)
    },
    "us_comic_boy": (("cartoon_normal",), ("cartoon_canny",)),
    "us_comic_girl": (("cartoon_normal",), ("cartoon_canny",)),
    "disney_boy": (("more_cartoon_lineart",), ("more_real_lineart",)),
    "disney_girl": (("more_cartoon_lineart",), ("more_real_lineart",)),
    "Ghibli_boy": (("cartoon_normal_noforge",), ("cartoon_normal_noforge",)),
    "Ghibli_girl": (("cartoon_normal_noforge",), ("cartoon_normal_noforge",)),
}
#: The vendor's denoising strength for the "more cartoonish" / "more realistic" looks.
ANIME_STRENGTH = {"cartoon": 0.75, "realistic": 0.65}

#: Upload limits of the service.
MAX_UPLOAD_BYTES = 10 * 1000 * 1000
MAX_UPLOAD_PIXELS = 34_000_000
#: The documented DPI range for ``out_params``.
DPI_RANGE = (0, 2000)
#: The documented JPEG quality range for ``out_params.compress.quality``.
QUALITY_RANGE = (0, 100)
OUTPUT_FORMATS = ("jpg", "png")


@dataclass(frozen=True)
class Param:
    """One documented module parameter."""

    name: str
    kind: type
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    max_len: int | None = None
    ascii_only: bool = False
    doc: str = ""

    def allowed(self) -> str:
        """The allowed values, written for an error message."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind is bool:
            return "True or False"
        if self.kind is str:
            limits = []
            if self.max_len is not None:
                limits.append(f"at most {self.max_len} characters")
            if self.ascii_only:
                limits.append("ASCII (English) only")
            return "a string" + (" " + ", ".join(limits) if limits else "")
        kind = "an integer" if self.kind is int else "a number"
        return f"{kind} from {self.low:g} to {self.high:g}"

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed, or None when it is."""
        if self.kind is bool:
            ok = isinstance(value, bool)
        elif self.kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.kind is float:
            ok = (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
            )
        else:
            ok = isinstance(value, str)
        if ok and self.choices is not None:
            ok = value in self.choices
        elif ok and self.kind in (int, float):
            if self.low is not None and value < self.low:
                ok = False
            if self.high is not None and value > self.high:
                ok = False
        elif ok and self.kind is str:
            if self.max_len is not None and len(value) > self.max_len:
                ok = False
            if self.ascii_only and not value.isascii():
                ok = False
        if ok:
            return None
        return f"{self.name}={value!r} is not allowed: expected {self.allowed()}"


@dataclass(frozen=True)
class Feature:
    """One documented module of the service."""

    module: str
    name: str
    title: str
    models: tuple[str, ...]
    params: tuple[Param, ...] = ()
    name_key: Literal["name", "job"] = "name"
    cost: int = 1
    output: OutputKind = "same"
    deprecated: bool = False
    public: bool = True

    def param(self, name: str) -> Param:
        """The parameter called ``name``."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def scale_of(self, module_params: dict[str, Any]) -> int:
        """The factor by which this module enlarges an image (1 = same size)."""
        if "scale" not in {p.name for p in self.params}:
            return 1
        value = module_params.get("scale", self.param("scale").default)
        if isinstance(value, str):
            return int(value.rstrip("x"))
        return int(value)

    def problems(self, module_params: dict[str, Any]) -> list[str]:
        """Why ``module_params`` would be refused (empty when they are fine)."""
        found: list[str] = []
        model = module_params.get("model_name")
        if model is not None and model not in self.models:
            found.append(
                f"model_name={model!r} is not a {self.module} model: expected one of "
                + ", ".join(repr(m) for m in self.models)
            )
        for p in self.params:
            if p.name in module_params:
                problem = p.problem(module_params[p.name])
                if problem:
                    found.append(problem)
        if self.module == "enlarge3" and not found:
            scale = module_params.get("scale", 2)
            model = module_params.get("model_name", self.models[0])
            allowed = (2,) if "2x" in model else (4, 6, 8)
            if scale not in allowed:
                found.append(
                    f"scale={scale!r} does not fit model_name={model!r}: expected one of "
                    + ", ".join(str(a) for a in allowed)
                )
        return found


def _pct(name: str, default: int) -> Param:
    return Param(name, int, default, 0, 100, doc="0-100")


def _unit(name: str, default: float) -> Param:
    return Param(name, float, default, 0.0, 1.0, doc="0.00-1.00")


FEATURES: dict[str, Feature] = {
    f.module: f
    for f in (
        Feature(
            "enlarge3",
            "enlarge3",
            "Image Enlarger",
            ("EnlargeStandard_2x_Stable", "EnlargeStandard_4x_Stable"),
            (
                _pct("suppress_noise", 40),
                _pct("remove_blur", 60),
                Param("scale", int, 2, choices=(2, 4, 6, 8)),
            ),
        ),
        Feature(
            "enlarge",
            "enlarge",
            "Image Enlarger (legacy transform example)",
            ("EnlargeStable",),
            (
                _pct("suppress_noise", 40),
                _pct("remove_blur", 60),
                Param("scale", str, "2x", choices=("2x", "4x", "6x", "8x")),
            ),
            name_key="job",
            public=False,
        ),
        Feature(
            "denoise",
            "denoise",
            "Image Denoiser",
            ("DenoiseStable",),
            (
                Param("auto_params", bool, False),
                _pct("remove_noise", 75),
                _pct("sharpen", 75),
            ),
        ),
        Feature(
            "sharpen3",
            "va_sharpen_standard",
            "Image Sharpener",
            ("SharpenGeneralStable",),
            (
                _unit("remove_blur", 0.5),
                _unit("suppress_noise", 0.5),
                _unit("remove_artifacts", 0.5),
                Param("autoparams", bool, False),
                Param("automodel", bool, True),
                Param("blur_type", int, None, 0, 10),
            ),
            cost=2,
        ),
        Feature("matting", "matting", "Background Remover", ("MattingStable",), output="rgba"),
        Feature(
            "chainner",
            "chainner",
            "Anime Upscaler (AnimeSharp)",
            ("Anime_4x_AnimeSharp",),
            (Param("scale", str, "2x", choices=("2x", "4x", "8x")),),
        ),
        Feature(
            "real_esrgan",
            "real_esrgan",
            "Anime Upscaler (Real-ESRGAN)",
            ("RealEsrganStable",),
            (Param("scale", str, "2x", choices=("1x", "2x", "4x", "6x", "8x")),),
        ),
        Feature("crease_repair", "crease_repair", "Photo Restorer - Fix", ("CreaseRepairStable",)),
        Feature(
            "img2sr",
            "img2sr",
            "Photo Restorer - Enhance",
            ("style_sr_512",),
            (
                Param("face_enhancer", bool, True),
                Param("strength", float, 0.9, 0.8, 1.0, doc="0.80-1.00"),
            ),
        ),
        Feature(
            "cartoonize",
            "cartoonize",
            "Toongineer Cartoonizer",
            ("CartoonizeStable",),
            deprecated=True,
        ),
        Feature(
            "img2anime",
            "img2anime",
            "Image Cartoonizer",
            tuple(ANIME_STYLES),
            (
                Param("prompt", str, "", max_len=140, ascii_only=True),
                Param("overwrite", bool, False),
                _unit("denoising_strength", 0.75),
            ),
        ),
        Feature(
            "animegan2",
            "animegan",
            "VancePortrait (AnimeGANv2)",
            ("Animegan2Stable",),
            (Param("single_face", bool, True),),
            name_key="job",
        ),
        Feature(
            "sd_recolor",
            "recolor",
            "Photo Colorizer (Recolor)",
            ("sd_recolor",),
            (Param("prompt", str, ""), Param("negative_prompt", str, "")),
            output="rgb",
        ),
        Feature(
            "deoldify2",
            "colorize",
            "Photo Colorizer (DeOldify)",
            ("DeoldifyArtistic",),
            (Param("render_factor", int, 30, 10, 70, doc="10-70"),),
            output="rgb",
        ),
        Feature("CodeFormer", "CodeFormer", "Face enhancement", ("CodeFormerStable",)),
    )
}


def feature_for_module(module: str) -> Feature | None:
    """The feature whose ``module`` is given, or None."""
    return FEATURES.get(module)


def out_params_problems(out_params: Any) -> list[str]:
    """Why ``out_params`` would be refused (empty when they are fine)."""
    if out_params in (None, [], {}):
        return []
    if not isinstance(out_params, dict):
        return [f"out_params={out_params!r} must be an object"]
    found = []
    fmt = out_params.get("format")
    if fmt is not None and fmt not in OUTPUT_FORMATS:
        found.append(f"format={fmt!r} is not allowed: expected 'jpg' or 'png'")
    compress = out_params.get("compress")
    if compress is not None:
        quality = compress.get("quality") if isinstance(compress, dict) else None
        if not (isinstance(quality, int) and not isinstance(quality, bool)
                and QUALITY_RANGE[0] <= quality <= QUALITY_RANGE[1]):
            found.append(f"compress.quality={quality!r} is not allowed: expected an integer from 0 to 100")
    dpi = out_params.get("dpi")
    if dpi is not None and not (
        isinstance(dpi, int) and not isinstance(dpi, bool) and DPI_RANGE[0] <= dpi <= DPI_RANGE[1]
    ):
        found.append(f"dpi={dpi!r} is not allowed: expected an integer from 0 to 2000")
    composed = out_params.get("bg_composed")
    if composed is not None:
        color = composed.get("bg_color") if isinstance(composed, dict) else None
        if not (
            isinstance(color, dict)
            and all(
                isinstance(color.get(c), int) and 0 <= color[c] <= 255 for c in "rgb"
            )
        ):
            found.append(
                f"bg_composed={composed!r} is not allowed: expected "
                "{'bg_color': {'r': 0-255, 'g': 0-255, 'b': 0-255}}"
            )
    return found
