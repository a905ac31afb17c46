"""Filters: parameters validated at construction, jconfig exactly as documented."""

from __future__ import annotations

import dataclasses
import inspect
import json
import pickle
import warnings

import pytest

import vance_filters as vf
from vance_filters._features import FEATURES
from vance_filters.filters import FeatureFilter

# The vendor's own config examples (vanceai-api-docs.txt), verbatim.
DOC_EXAMPLES = {
    "enlarge3": (
        lambda: vf.Enlarge(scale=2),
        """{"name": "enlarge3", "config": {"module": "enlarge3", "module_params": {
            "model_name": "EnlargeStandard_2x_Stable", "suppress_noise": 40, "remove_blur": 60,
            "scale": 2}}}""",
    ),
    "denoise": (
        lambda: vf.Denoise(auto_params=True),
        """{"name": "denoise", "config": {"module": "denoise", "module_params": {
            "model_name": "DenoiseStable", "auto_params": true, "remove_noise": 75,
            "sharpen" : 75}}}""",
    ),
    "sharpen3": (
        lambda: vf.Sharpen(autoparams=True, automodel=True),
        """{"name":"va_sharpen_standard", "config":{"module":"sharpen3", "module_params":{
            "model_name":"SharpenGeneralStable", "remove_blur":0.5, "suppress_noise":0.5,
            "remove_artifacts":0.5, "autoparams":true, "automodel":true}}}""",
    ),
    "matting": (
        lambda: vf.RemoveBackground(),
        """{"name": "matting", "config": {"module": "matting", "module_params": {
            "model_name": "MattingStable"}}}""",
    ),
    "chainner": (
        lambda: vf.UpscaleAnime(scale=2),
        """{"name": "chainner", "config": {"module": "chainner", "module_params": {
            "model_name": "Anime_4x_AnimeSharp", "scale": "2x"}}}""",
    ),
    "real_esrgan": (
        lambda: vf.UpscaleAnime(scale=2, model="real_esrgan"),
        """{"name":"real_esrgan", "config": {"module":"real_esrgan", "module_params": {
            "model_name": "RealEsrganStable", "scale": "2x"}}}""",
    ),
    "crease_repair": (
        lambda: vf.Repair(),
        """{"name": "crease_repair", "config": {"module": "crease_repair", "module_params": {
            "model_name": "CreaseRepairStable"}}}""",
    ),
    "img2sr": (
        lambda: vf.Restore(),
        """{"name": "img2sr", "config": {"module": "img2sr", "module_params": {
            "model_name": "style_sr_512", "face_enhancer": true, "strength": 0.9}}}""",
    ),
    "cartoonize": (
        lambda: vf.Cartoonize(),
        """{"name": "cartoonize", "config": {"module": "cartoonize", "module_params": {
            "model_name": "CartoonizeStable"}}}""",
    ),
    "img2anime": (
        lambda: vf.ToAnime(style="style1", controlnets=("cartoon_tile", "cartoon_lineart")),
        """{"name":"img2anime", "config":{"module":"img2anime", "module_params":{
            "model_name":"style1", "prompt":"", "overwrite": false, "denoising_strength": 0.75}},
           "cn_configs": [{"image_uid": "<uid_from_upload>", "cn_name": "cartoon_tile"},
                          {"image_uid": "<uid_from_upload>", "cn_name": "cartoon_lineart"}]}""",
    ),
    "animegan2": (
        lambda: vf.Animegan(),
        """{"job": "animegan", "config": {"module": "animegan2", "module_params": {
            "model_name": "Animegan2Stable", "single_face": true}}}""",
    ),
    "sd_recolor": (
        lambda: vf.Recolor(),
        """{"name": "recolor", "config": {"module": "sd_recolor", "module_params": {
            "model_name": "sd_recolor", "prompt": "", "negative_prompt": ""}}}""",
    ),
    "deoldify2": (
        lambda: vf.Colorize(),
        """{"name": "colorize", "config": {"module": "deoldify2", "module_params": {
            "model_name": "DeoldifyArtistic", "render_factor": 30}}}""",
    ),
}

MULTI_STEP_EXAMPLE = """{"config":[
  {"name":"va_sharpen_standard","config":{"module":"sharpen3","module_params":{
     "model_name":"SharpenGeneralStable","blur_type":1,"remove_blur":0.5,"suppress_noise":0.5,
     "remove_artifacts":0.5,"autoparams":true,"automodel":true}}},
  {"name":"CodeFormer","config":{"module":"CodeFormer","module_params":{
     "model_name":"CodeFormerStable"},"out_params":{"compress":{"quality":80}}}}],
  "name":"va_sharpen_standard"}"""

ALL_FILTERS = [
    vf.Enlarge(),
    vf.Denoise(),
    vf.Sharpen(),
    vf.RemoveBackground(),
    vf.UpscaleAnime(),
    vf.Repair(),
    vf.Restore(),
    vf.ToAnime(),
    vf.Animegan(),
    vf.Recolor(),
    vf.Colorize(),
    vf.EnhanceFaces(),
]


@pytest.mark.parametrize("module", sorted(DOC_EXAMPLES))
def test_jconfig_matches_the_documentation(module: str) -> None:
    make, documented = DOC_EXAMPLES[module]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        flt = make()
    assert flt.to_jconfig() == json.loads(documented)


def test_every_public_feature_has_a_documented_example_checked() -> None:
    public = {m for m, f in FEATURES.items() if f.public and m != "CodeFormer"}
    assert public <= set(DOC_EXAMPLES)


def test_pipeline_matches_the_documented_multi_step_example() -> None:
    pipeline = vf.Sharpen(blur_type=1, autoparams=True) | vf.EnhanceFaces(quality=80)
    assert pipeline.to_jconfig() == json.loads(MULTI_STEP_EXAMPLE)
    assert pipeline.cost == 3  # every step counts: 2 + 1


def test_jconfig_is_json_text_ready() -> None:
    for flt in ALL_FILTERS:
        assert json.loads(json.dumps(flt.to_jconfig())) == flt.to_jconfig()


@pytest.mark.parametrize(
    ("make", "param", "value"),
    [
        (vf.Enlarge, "scale", 3),
        (vf.Enlarge, "scale", "4"),
        (vf.Enlarge, "suppress_noise", 101),
        (vf.Enlarge, "suppress_noise", -1),
        (vf.Enlarge, "remove_blur", 50.5),
        (vf.Denoise, "remove_noise", 200),
        (vf.Denoise, "sharpen", -5),
        (vf.Denoise, "auto_params", "yes"),
        (vf.Sharpen, "remove_blur", 1.5),
        (vf.Sharpen, "suppress_noise", -0.1),
        (vf.Sharpen, "remove_artifacts", float("nan")),
        (vf.Sharpen, "autoparams", 1),
        (vf.UpscaleAnime, "scale", 6),
        (vf.UpscaleAnime, "scale", 1),
        (vf.UpscaleAnime, "model", "waifu2x"),
        (vf.Restore, "strength", 0.79),
        (vf.Restore, "strength", 1.01),
        (vf.Restore, "face_enhancer", None),
        (vf.ToAnime, "style", "style7"),
        (vf.ToAnime, "prompt", "x" * 141),
        (vf.ToAnime, "prompt", "café au lait"),
        (vf.ToAnime, "denoising_strength", 1.2),
        (vf.ToAnime, "controlnets", ("cartoon_sketch",)),
        (vf.ToAnime, "controlnets", ()),
        (vf.ToAnime, "look", "photo"),
        (vf.Animegan, "single_face", "no"),
        (vf.Colorize, "render_factor", 9),
        (vf.Colorize, "render_factor", 71),
        (vf.Enlarge, "format", "webp"),
        (vf.Denoise, "quality", 101),
        (vf.Denoise, "quality", -1),
        (vf.Denoise, "dpi", 2001),
        (vf.RemoveBackground, "background", (256, 0, 0)),
        (vf.RemoveBackground, "background", "not-a-colour"),
        (vf.RemoveBackground, "background", (1, 2)),
    ],
)
def test_out_of_range_parameters_raise_config_error_naming_them(make, param, value) -> None:
    with pytest.raises(vf.ConfigError) as info:
        make(**{param: value})
    assert param in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("make", "param", "value"),
    [
        (vf.Enlarge, "scale", 8),
        (vf.Enlarge, "suppress_noise", 0),
        (vf.Enlarge, "remove_blur", 100),
        (vf.Sharpen, "remove_blur", 1),
        (vf.Sharpen, "remove_artifacts", 0.0),
        (vf.UpscaleAnime, "scale", 8),
        (vf.Restore, "strength", 0.8),
        (vf.Restore, "strength", 1.0),
        (vf.ToAnime, "prompt", "x" * 140),
        (vf.Colorize, "render_factor", 10),
        (vf.Colorize, "render_factor", 70),
        (vf.Denoise, "dpi", 2000),
        (vf.Denoise, "quality", 0),
        (vf.Denoise, "format", "JPEG"),
    ],
)
def test_range_edges_are_accepted(make, param, value) -> None:
    flt = make(**{param: value})
    assert flt.feature.problems(flt.module_params()) == []


def test_numpy_scalars_are_accepted_and_stored_as_python_numbers() -> None:
    np = pytest.importorskip("numpy")
    flt = vf.Enlarge(scale=np.int64(4), suppress_noise=np.int32(10))
    assert flt.to_jconfig()["config"]["module_params"]["scale"] == 4
    assert type(flt.scale) is int
    assert json.dumps(flt.to_jconfig())
    assert vf.Sharpen(remove_blur=np.float32(0.25)).remove_blur == 0.25


@pytest.mark.parametrize("scale", [2, 4, 6, 8])
def test_enlarge_picks_the_model_for_the_scale(scale: int) -> None:
    params = vf.Enlarge(scale=scale).to_jconfig()["config"]["module_params"]
    assert params["model_name"] == ("EnlargeStandard_2x_Stable" if scale == 2 else "EnlargeStandard_4x_Stable")
    assert params["scale"] == scale
    assert vf.Enlarge(scale=scale).scale == scale


def test_upscale_anime_error_suggests_the_other_model() -> None:
    with pytest.raises(vf.ConfigError, match="real_esrgan"):
        vf.UpscaleAnime(scale=6)


@pytest.mark.parametrize(
    ("style", "look", "names", "strength"),
    [
        ("style3", "cartoon", ("cartoon_tile",), 0.75),
        ("style3", "realistic", ("cartoon_lineart", "cartoon_tile"), 0.65),
        ("us_comic_girl", "cartoon", ("cartoon_normal",), 0.75),
        ("us_comic_boy", "realistic", ("cartoon_canny",), 0.65),
        ("disney_boy", "cartoon", ("more_cartoon_lineart",), 0.75),
        ("Ghibli_girl", "realistic", ("cartoon_normal_noforge",), 0.65),
    ],
)
def test_to_anime_defaults_follow_the_vendor_table(style, look, names, strength) -> None:
    flt = vf.ToAnime(style=style, look=look)
    assert flt.controlnets == names
    assert flt.denoising_strength == strength
    assert [c["cn_name"] for c in flt.to_jconfig()["cn_configs"]] == list(names)


def test_output_options_become_out_params() -> None:
    flt = vf.RemoveBackground(format="png", quality=90, dpi=300, background="#00ffff")
    assert flt.to_jconfig()["config"]["out_params"] == {
        "format": "png",
        "compress": {"quality": 90},
        "dpi": 300,
        "bg_composed": {"bg_color": {"r": 0, "g": 255, "b": 255}},
    }
    assert flt.output == "rgb"
    assert vf.RemoveBackground().output == "rgba"
    assert "out_params" not in vf.Denoise().to_jconfig()["config"]


def test_pipeline_rules_are_enforced() -> None:
    with pytest.raises(vf.ConfigError, match="last step"):
        vf.Denoise(format="png") | vf.EnhanceFaces()
    with pytest.raises(vf.ConfigError, match="Enlarge must be the last step"):
        vf.Enlarge() | vf.Denoise()
    with pytest.raises(vf.ConfigError, match="RemoveBackground must be the last step"):
        vf.RemoveBackground() | vf.Denoise()
    with pytest.raises(vf.ConfigError):
        vf.Pipeline()
    with pytest.raises(vf.ConfigError):
        vf.Pipeline(vf.Denoise(), "sharpen")  # type: ignore[arg-type]


def test_pipeline_flattens_and_derives_geometry_and_cost() -> None:
    p = vf.Denoise() | (vf.Colorize() | vf.Enlarge(scale=4))
    assert len(p) == 3
    assert [s["name"] for s in p.to_jconfig()["config"]] == ["denoise", "colorize", "enlarge3"]
    assert p.to_jconfig()["name"] == "denoise"
    assert (p.scale, p.output, p.cost) == (4, "rgb", 3)
    assert (vf.Sharpen() | vf.RemoveBackground()).output == "rgba"
    assert vf.Pipeline(vf.Denoise(), vf.Sharpen()) == vf.Denoise() | vf.Sharpen()


@pytest.mark.parametrize("flt", ALL_FILTERS + [vf.Sharpen() | vf.EnhanceFaces(format="png")], ids=repr)
def test_filters_are_immutable_hashable_picklable_and_readable(flt) -> None:
    assert pickle.loads(pickle.dumps(flt)) == flt
    assert hash(pickle.loads(pickle.dumps(flt))) == hash(flt)
    assert repr(flt).startswith(type(flt).__name__ + "(")
    assert not callable(flt)  # Pillow would call it with no arguments
    if isinstance(flt, FeatureFilter):
        with pytest.raises(dataclasses.FrozenInstanceError):
            flt.format = "png"  # type: ignore[misc]


def test_repr_shows_parameters() -> None:
    assert repr(vf.Enlarge(scale=4)) == "Enlarge(scale=4, suppress_noise=40, remove_blur=60)"
    assert repr(vf.Denoise(dpi=300)) == "Denoise(dpi=300, remove_noise=75, sharpen=75, auto_params=False)"


def test_cartoonize_warns_at_the_callers_line() -> None:
    with pytest.warns(DeprecationWarning, match="ToAnime") as record:
        vf.Cartoonize()
    assert record[0].filename == __file__


@pytest.mark.parametrize(
    ("function", "cls"),
    [
        (vf.enlarge, vf.Enlarge),
        (vf.denoise, vf.Denoise),
        (vf.sharpen, vf.Sharpen),
        (vf.remove_background, vf.RemoveBackground),
        (vf.upscale_anime, vf.UpscaleAnime),
        (vf.repair, vf.Repair),
        (vf.restore, vf.Restore),
        (vf.cartoonize, vf.Cartoonize),
        (vf.to_anime, vf.ToAnime),
        (vf.animegan, vf.Animegan),
        (vf.recolor, vf.Recolor),
        (vf.colorize, vf.Colorize),
        (vf.enhance_faces, vf.EnhanceFaces),
    ],
)
def test_functions_take_exactly_their_filters_parameters(function, cls) -> None:
    params = inspect.signature(function).parameters
    fields = {f.name: f.default for f in dataclasses.fields(cls)}
    apply = inspect.signature(vf.Filter.apply).parameters
    call_options = set(apply) - {"self", "image"}
    assert {"client", "on_limit", "upload_format", "frames", "max_credits"} <= call_options
    assert set(params) - {"image"} - call_options == set(fields)
    for name, default in fields.items():
        assert params[name].default == default, name
    for name in call_options:  # the call's own options, with the same defaults as apply's
        assert params[name].default == apply[name].default, name
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name
