"""vf.compare: the side-by-side before / after board shown in notebooks and reports."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import vance_filters as vf
from vance_filters.testing import sample_image

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 160, 0)


def solid(size: tuple[int, int], color: tuple[int, int, int], mode: str = "RGB") -> Image.Image:
    return Image.new("RGB", size, color).convert(mode)


def span(board: Image.Image, color: tuple[int, int, int], tol: int = 12) -> tuple[int, int, int, int]:
    """(left, top, right, bottom), exclusive, of the pixels of ``color`` on the board."""
    pixels = np.asarray(board).astype(int)
    mask = (np.abs(pixels - np.array(color)) <= tol).all(axis=2)
    assert mask.any(), f"no {color} pixels on the board"
    # Rows / columns mostly of that colour: stray anti-aliased label pixels don't count.
    row_counts = mask.sum(axis=1)
    rows = np.flatnonzero(row_counts >= row_counts.max() / 2)
    col_counts = mask[rows].sum(axis=0)
    cols = np.flatnonzero(col_counts >= col_counts.max() / 2)
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def changed(a: Image.Image, b: Image.Image) -> np.ndarray:
    assert a.size == b.size
    return (np.asarray(a) != np.asarray(b)).any(axis=2)


# --------------------------------------------------------------------------- sizes


def test_returns_an_rgb_pil_image_that_jupyter_can_show() -> None:
    board = vf.compare(solid((40, 30), RED), solid((40, 30), BLUE))
    assert isinstance(board, Image.Image)
    assert board.mode == "RGB"
    assert board._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"  # what Jupyter displays inline


def test_images_sit_side_by_side_in_order_at_one_height() -> None:
    board = vf.compare(solid((40, 30), RED), solid((80, 120), BLUE))
    red, blue = span(board, RED), span(board, BLUE)
    assert red[2] <= blue[0], "the first image is left of the second"
    assert (red[1], red[3]) == (blue[1], blue[3]), "both tiles share one top and one height"
    assert blue[3] - blue[1] == 120, "default height: the tallest image's"
    assert red[2] - red[0] == 160, "the smaller image is scaled up keeping its aspect ratio"
    assert board.height > 120 and board.width > 160 + 80


@pytest.mark.parametrize("height", [16, 50, 333])
def test_height_scales_every_tile_and_keeps_aspect(height: int) -> None:
    board = vf.compare(solid((40, 30), RED), solid((30, 60), BLUE), height=height)
    red, blue = span(board, RED), span(board, BLUE)
    assert red[3] - red[1] == blue[3] - blue[1] == height
    assert red[2] - red[0] == round(40 * height / 30)
    assert blue[2] - blue[0] == round(30 * height / 60)


def test_default_height_is_capped_for_big_images() -> None:
    big = solid((700, 600), RED)
    board = vf.compare(big, solid((70, 60), BLUE))
    red = span(board, RED)
    assert red[3] - red[1] == 512
    assert np.array_equal(np.asarray(board), np.asarray(vf.compare(big, solid((70, 60), BLUE), height=512)))


def test_more_than_two_images() -> None:
    board = vf.compare(solid((20, 20), RED), solid((20, 20), GREEN), solid((20, 20), BLUE))
    r, g, b = span(board, RED), span(board, GREEN), span(board, BLUE)
    assert r[2] <= g[0] and g[2] <= b[0]


def test_background_colour_fills_the_canvas_around_the_tiles() -> None:
    board = vf.compare(solid((30, 30), RED), solid((30, 30), BLUE), background=(10, 200, 30))
    assert board.getpixel((0, 0)) == (10, 200, 30)
    assert board.getpixel((0, board.height - 1)) == (10, 200, 30)
    assert board.getpixel((board.width - 1, board.height // 2)) == (10, 200, 30)


# --------------------------------------------------------------------------- labels


def test_default_labels_are_before_and_after_for_two_images() -> None:
    a, b = solid((40, 30), RED), solid((40, 30), BLUE)
    default = vf.compare(a, b)
    assert np.array_equal(np.asarray(default), np.asarray(vf.compare(a, b, labels=["before", "after"])))
    assert not np.array_equal(np.asarray(default), np.asarray(vf.compare(a, b, labels=["after", "before"])))


def test_default_labels_are_numbers_for_more_images() -> None:
    images = [solid((40, 30), c) for c in (RED, GREEN, BLUE)]
    default = vf.compare(*images)
    assert np.array_equal(np.asarray(default), np.asarray(vf.compare(*images, labels=["1", "2", "3"])))


def test_labels_are_drawn_above_the_pictures() -> None:
    a, b = solid((120, 90), RED), solid((120, 90), BLUE)
    diff = changed(vf.compare(a, b, labels=["before", "after"]), vf.compare(a, b, labels=["original", "after"]))
    top = span(vf.compare(a, b), RED)[1]
    assert diff.any(), "the label text shows on the board"
    assert not diff[top:].any(), "a label never covers the pictures"


def test_labels_carry_each_images_original_size() -> None:
    # Both solid tiles look the same once scaled to one height; only the "40x30" / "80x60" differs.
    small, large = solid((40, 30), RED), solid((80, 60), RED)
    other = solid((80, 60), BLUE)
    diff = changed(vf.compare(small, other, height=60), vf.compare(large, other, height=60))
    top = span(vf.compare(large, other, height=60), RED)[1]
    assert diff[:top].any(), "the size in the label follows the image"
    assert not diff[top:].any()


def test_a_label_stays_above_its_own_picture() -> None:
    a, b = solid((40, 30), RED), solid((40, 30), BLUE)
    diff = changed(vf.compare(a, b, labels=["before", "after"]), vf.compare(a, b, labels=["before!!", "after"]))
    blue_left = span(vf.compare(a, b), BLUE)[0]
    assert diff.any()
    assert not diff[:, blue_left:].any(), "the first label spills over the second image's label"


# --------------------------------------------------------------------------- modes


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "CMYK", "I;16", "RGBA", "LA"])
def test_opaque_images_of_every_mode_show_their_colours(mode: str) -> None:
    colour = (90, 90, 90) if mode in ("L", "I;16", "LA") else (204, 51, 51)  # web-safe, so "P" keeps it exactly
    img = solid((40, 30), colour, mode if mode != "I;16" else "L")
    if mode == "I;16":
        img = Image.fromarray(np.full((30, 40), 90 * 257, np.uint16))
    board = vf.compare(img, solid((40, 30), BLUE))
    left, top, right, bottom = span(board, colour, tol=3)
    assert (right - left, bottom - top) == (40, 30)


def test_transparent_pixels_show_a_checkerboard() -> None:
    clear = Image.new("RGBA", (64, 48), (255, 0, 0, 0))
    board = vf.compare(clear, solid((64, 48), BLUE))
    left, top = span(board, BLUE)[0] - 8 - 64, span(board, BLUE)[1]
    tile = np.asarray(board)[top : top + 48, left : left + 64]
    assert not (np.abs(tile.astype(int) - RED) <= 12).all(axis=2).any(), "fully transparent red is invisible"
    assert (tile[..., 0] == tile[..., 1]).all() and (tile[..., 1] == tile[..., 2]).all(), "grey squares"
    levels = np.unique(tile[..., 0])
    assert len(levels) == 2, f"a two-tone checkerboard, got levels {levels}"
    # neighbouring squares alternate: a row crosses both tones
    assert len(np.unique(tile[0, :, 0])) == 2 and len(np.unique(tile[:, 0, 0])) == 2


def test_half_transparent_pixels_are_blended_over_the_checkerboard() -> None:
    half = Image.new("RGBA", (64, 48), (255, 0, 0, 128))
    opaque = Image.new("RGBA", (64, 48), (255, 0, 0, 255))
    board_half = np.asarray(vf.compare(half, solid((64, 48), BLUE)))
    board_opaque = np.asarray(vf.compare(opaque, solid((64, 48), BLUE)))
    red = span(Image.fromarray(board_opaque), RED)
    assert red[2] - red[0] == 64, "an opaque RGBA image shows no checkerboard"
    tile = board_half[red[1] : red[3], red[0] : red[2]].astype(int)
    assert (tile[..., 0] > tile[..., 1] + 60).all(), "reddish everywhere"
    assert len(np.unique(tile[..., 1])) == 2, "the checkerboard shows through"


def test_palette_transparency_shows_the_checkerboard_too() -> None:
    img = Image.new("P", (32, 32), 0)
    img.putpalette([255, 0, 0] + [0, 0, 0] * 255)
    img.info["transparency"] = 0
    board = vf.compare(img, solid((32, 32), BLUE))
    assert not (np.abs(np.asarray(board).astype(int) - RED) <= 12).all(axis=2).any()


# --------------------------------------------------------------------------- input kinds


def test_arrays_bytes_and_paths_give_the_same_board_as_pil(tmp_path) -> None:
    img = sample_image("photo", size=(48, 36))
    other = sample_image("anime", size=(48, 36))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    path = tmp_path / "photo.png"
    img.save(path)
    expected = np.asarray(vf.compare(img, other))
    arr8 = np.asarray(img)
    for kind in (arr8, arr8.astype(np.float32) / 255, arr8.astype(np.uint16) * 257, buffer.getvalue(), path, str(path)):
        board = vf.compare(kind, other)
        assert np.array_equal(np.asarray(board), expected), type(kind).__name__


def test_gray_array_and_alpha_array() -> None:
    gray = np.full((30, 40), 90, np.uint8)
    rgba = np.zeros((30, 40, 4), np.uint8)  # fully transparent
    board = vf.compare(gray, rgba, labels=["gray", "clear"])
    g = span(board, (90, 90, 90), tol=0)
    assert (g[2] - g[0], g[3] - g[1]) == (40, 30)
    assert len(np.unique(np.asarray(board)[g[1] : g[3], g[2] + 8 : g[2] + 48, 0])) == 2


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("count", [0, 1])
def test_needs_two_images(count: int) -> None:
    with pytest.raises(vf.ConfigError, match="at least two images"):
        vf.compare(*[solid((4, 4), RED)] * count)


def test_config_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        vf.compare(solid((4, 4), RED))


@pytest.mark.parametrize("labels", [["only one"], ["a", "b", "c"], []])
def test_one_label_per_image(labels: list[str]) -> None:
    with pytest.raises(vf.ConfigError, match=r"labels=.*one label per image \(2\)"):
        vf.compare(solid((4, 4), RED), solid((4, 4), BLUE), labels=labels)


@pytest.mark.parametrize("height", [0, -5, 2.5, "100"])
def test_height_must_be_a_positive_integer(height: object) -> None:
    with pytest.raises(vf.ConfigError, match=rf"height={height!r}.*positive integer"):
        vf.compare(solid((4, 4), RED), solid((4, 4), BLUE), height=height)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [b"not an image", np.zeros((0, 5, 3), np.uint8), np.full((4, 4), np.nan, np.float32), "/nonexistent/x.png"],
    ids=["bytes", "empty-array", "nan", "missing-path"],
)
def test_unusable_images_raise_input_error(bad: object) -> None:
    with pytest.raises(vf.InputError):
        vf.compare(solid((4, 4), RED), bad)


@pytest.mark.parametrize(("kwargs", "name"), [({"labels": "ab"}, "labels"), ({"height": True}, "height")])
def test_misleading_options_are_refused(kwargs: dict, name: str) -> None:
    with pytest.raises(vf.ConfigError, match=name):
        vf.compare(solid((4, 3), RED), solid((4, 3), BLUE), **kwargs)


def test_numpy_integer_height_is_accepted() -> None:
    assert vf.compare(solid((4, 3), RED), solid((4, 3), BLUE), height=np.int64(30)).height == 30 + 36
