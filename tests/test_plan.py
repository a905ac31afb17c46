"""The plan: what a run would send and cost, said before anything is sent, and then spent exactly."""

from __future__ import annotations

import io
import json
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import vance_filters as vf
from vance_filters import cli
from vance_filters.testing import Emulator


def gif(frames: list[tuple[int, int, int]], size: tuple[int, int] = (20, 10)) -> bytes:
    pictures = [Image.new("RGB", size, color) for color in frames]
    buf = io.BytesIO()
    pictures[0].save(buf, "GIF", save_all=True, append_images=pictures[1:], duration=50, loop=0)
    return buf.getvalue()


def photo(seed: int, size: tuple[int, int] = (12, 8)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)


def planned(emu: Emulator, client: vf.Client, flt: vf.Filter, images: list[Any], **kw: Any) -> vf.Plan:
    """The plan, checking it made no request but the balance check."""
    before, points = emu.request_count(), emu.request_count("point")
    result = vf.plan(flt, images, client=client, **kw)
    assert emu.request_count() - before == emu.request_count("point") - points == 1
    return result


def run(flt: vf.Filter, images: list[Any], client: vf.Client) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        list(vf.map(flt, images, client=client, concurrency=2))


# A case: the filter, the inputs, what to run before planning (to fill the cache), the credits predicted.
Case = tuple[vf.Filter, Callable[[], list[Any]], Callable[[vf.Client], None], float]

CASES: dict[str, Case] = {
    "fresh": (vf.Enlarge(scale=2), lambda: [photo(1), photo(2)], lambda c: None, 2.0),
    "cached": (
        vf.Enlarge(scale=2),
        lambda: [photo(1), photo(2)],
        lambda c: run(vf.Enlarge(scale=2), [photo(1)], c),
        1.0,
    ),
    "multi-step": (vf.Denoise() | vf.Enlarge(scale=2), lambda: [photo(3)], lambda c: None, 2.0),
    "repeated input": (vf.Sharpen(), lambda: [photo(4), photo(4)], lambda c: None, 2.0),
    "multi-frame": (
        vf.Enlarge(scale=2),
        lambda: [gif([(200, 0, 0), (0, 200, 0), (200, 0, 0), (0, 0, 200)])],
        lambda c: None,
        3.0,
    ),
    "multi-frame, a frame cached": (
        vf.Enlarge(scale=2),
        lambda: [gif([(200, 0, 0), (0, 200, 0), (200, 0, 0)])],
        lambda c: run(vf.Enlarge(scale=2), [gif([(200, 0, 0), (0, 0, 9)])], c),
        1.0,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_plan_predicts_the_ledger(emu: Emulator, name: str) -> None:
    flt, images, before, predicted = CASES[name]
    with vf.Client(emu.api_token, emu.url, poll_interval=0.1) as client:
        before(client)
        spent = emu.credits_used
        plan = planned(emu, client, flt, images())
        assert plan.credits == predicted
        run(flt, images(), client)
    assert emu.credits_used - spent == plan.credits
    assert plan.balance == 500 - spent and plan.enough


def test_a_cached_image_predicts_nothing_and_a_repeat_frame_nothing(emu: Emulator) -> None:
    animation = gif([(200, 0, 0), (0, 200, 0), (200, 0, 0), (0, 200, 0)])
    with vf.Client(emu.api_token, emu.url, poll_interval=0.1) as client:
        first = planned(emu, client, vf.Enlarge(scale=2), [animation])
        row = first[0]
        assert (row.frames, row.distinct, row.status, row.credits) == (4, 2, "send", 2.0)
        vf.Enlarge(scale=2).apply(animation, client=client)
        again = planned(emu, client, vf.Enlarge(scale=2), [animation])
    assert again[0].status == "cached" and again.credits == 0 and again.uploads == 0
    assert emu.credits_used == 2


def test_an_image_over_the_limits_is_planned_downscaled_as_the_run_sends_it(emu: Emulator) -> None:
    big = np.zeros((5000, 7000), np.uint8)  # 35 MP: over the 34 MP limit
    with vf.Client(emu.api_token, emu.url, poll_interval=0.1) as client:
        plan = planned(emu, client, vf.Denoise(), [big])
        (upload,) = plan[0].uploads
        assert upload.original == (7000, 5000) and upload.downscale > 1
        assert upload.pixels <= 34_000_000 and upload.format == "png"
        with pytest.warns(vf.DownscaleWarning):
            out = vf.Denoise().apply(big, client=client)
    (record,) = emu.uploads.values()
    assert (record.width, record.height) == upload.size and out.shape == big.shape
    assert emu.credits_used == plan.credits == 1


def test_refused_inputs_are_rows_with_an_error_and_cost_nothing(emu: Emulator) -> None:
    with vf.Client(emu.api_token, emu.url) as client:
        plan = vf.plan(vf.Denoise(), [b"not an image", photo(5)], client=client, check_balance=False)
    assert emu.request_count() == 0  # without the balance check: no request at all
    assert [row.status for row in plan] == ["error", "send"] and "InputError" in (plan[0].error or "")
    assert plan.credits == 1 and plan.balance is None and plan.enough is None


def test_on_limit_raise_plans_an_image_over_the_limits_as_refused(emu: Emulator) -> None:
    big = np.zeros((5000, 7000), np.uint8)
    with vf.Client(emu.api_token, emu.url) as client:
        plan = vf.plan(vf.Denoise(), [big], client=client, on_limit="raise", check_balance=False)
        with pytest.raises(vf.LimitExceededError):
            vf.Denoise().apply(big, client=client, on_limit="raise")
    assert plan[0].status == "error" and "LimitExceededError" in (plan[0].error or "")
    assert plan.credits == 0 and emu.request_count() == 0


def test_the_plan_reads_and_serialises(emu: Emulator) -> None:
    with vf.Client(emu.api_token, emu.url) as client:
        emu_balance = emu.balance
        plan = vf.plan(vf.Sharpen(), photo(6), client=client)  # one image, not a list
    text = str(plan)
    assert "Sharpen" in text and "#0: PNG, 12x8" in text and "2 credits" in text
    assert f"balance {emu_balance:g} (enough)" in text
    data = json.loads(json.dumps(plan.as_json()))
    assert data["totals"]["credits"] == 2 and data["rows"][0]["uploads"][0]["format"] == "png"
    assert data["rows"][0]["pixels"] == 96


def test_a_plan_over_the_balance_says_so() -> None:
    with Emulator(credits=3) as small, vf.Client(small.api_token, small.url) as client:
        plan = vf.plan(vf.Sharpen(), [photo(7), photo(8)], client=client)
    assert plan.credits == 4 and plan.balance == 3 and plan.enough is False
    assert "balance 3 (NOT enough" in str(plan)


def test_plan_checks_its_options() -> None:
    with pytest.raises(vf.ConfigError, match="on_limit"):
        vf.plan(vf.Denoise(), [photo(1)], on_limit="crop", check_balance=False)  # type: ignore[arg-type]


# -- the command line -----------------------------------------------------------------------


@pytest.fixture
def cli_emu(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    monkeypatch.setenv("VANCE_API_TOKEN", emu.api_token)
    monkeypatch.setenv("VANCE_API_BASE", emu.url)
    yield emu


def main(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = cli.main([os.fspath(a) if isinstance(a, Path) else str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_dry_run_prints_the_plan_and_sends_nothing(
    cli_emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "x.png"
    Image.fromarray(photo(9)).save(source)
    out_dir = tmp_path / "out"
    code, out, _ = main(capsys, "enlarge", source, "--scale", "2", "-o", out_dir, "--dry-run")
    assert code == 0 and not out_dir.exists()
    assert cli_emu.request_count() == cli_emu.request_count("point") == 1
    assert f"{source}: PNG, 12x8" in out and "total: 1 credit" in out
    code, out, _ = main(capsys, "enlarge", source, "--scale", "2", "-o", out_dir, "--dry-run", "--json")
    data = json.loads(out)
    assert code == 0 and data["dry_run"] and data["totals"]["credits"] == 1
    assert data["rows"][0]["uploads"][0]["size"] == [12, 8]
    assert cli_emu.request_count("upload") == cli_emu.request_count("transform") == 0
    assert main(capsys, "enlarge", source, "--scale", "2", "-o", out_dir)[0] == 0
    assert cli_emu.credits_used == 1
    code, out, _ = main(capsys, "enlarge", source, "--scale", "2", "-o", out_dir, "--dry-run", "--json")
    assert json.loads(out)["rows"][0]["status"] == "skipped" and json.loads(out)["totals"]["credits"] == 0


def test_dry_run_of_a_job_file(cli_emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "x.png"
    Image.fromarray(photo(10)).save(source)
    config = tmp_path / "job.json"
    config.write_text(json.dumps({
        "name": "img_denoise",
        "config": {"module": "denoise", "module_params": {"model_name": "DenoiseStable"}},
    }))
    code, out, _ = main(capsys, "run", "--config", config, source, "-o", tmp_path / "out", "--dry-run", "--json")
    data = json.loads(out)
    assert code == 0 and data["totals"]["credits"] == 1 and data["rows"][0]["uploads"][0]["format"] == "png"
    assert cli_emu.request_count() == 1
    assert main(capsys, "run", "--config", config, source, "-o", tmp_path / "out")[0] == 0
    assert cli_emu.credits_used == data["totals"]["credits"]


def test_a_job_under_way_is_planned_as_resumed_and_charged_once(emu: Emulator, tmp_path: Path) -> None:
    from vance_filters import imaging
    from vance_filters._cache import cache_key
    from vance_filters.journal import JOURNAL_FOLDER, Journal

    emu.configure(transform_wait=0.0, job_duration=0.3)
    image, flt = photo(11), vf.Enlarge(scale=2)
    with vf.Client(emu.api_token, emu.url, cache_dir=tmp_path, poll_interval=0.1) as client:
        data = imaging.prepare(image).data  # what the run uploads
        job = client.transform(client.upload(data).uid, flt.to_jconfig())  # an interrupted run's job
        assert client.cache is not None
        Journal(tmp_path / JOURNAL_FOLDER).put(client.cache.scoped(cache_key(data, flt.to_jconfig())), job.trans_id)
        plan = planned(emu, client, flt, [image])
        assert plan[0].status == "resume" and plan[0].uploads[0].pending == job.trans_id
        assert plan.credits == 1 and plan.uploads == 0 and "resumes a job under way" in str(plan)
        run(flt, [image], client)
    assert emu.charges == [(job.trans_id, 1.0)] and emu.request_count("transform") == 1


def test_dry_run_says_when_max_credits_would_refuse_the_run(
    cli_emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(2):
        Image.fromarray(photo(20 + n)).save(tmp_path / f"{n}.png")
    code, out, err = main(capsys, "sharpen", tmp_path / "0.png", tmp_path / "1.png", "-o", tmp_path / "out",
                          "--dry-run", "--max-credits", "3")
    assert code == 0 and "total: 4 credits" in out and "--max-credits=3: the run would refuse" in err
    assert cli_emu.request_count("upload") == 0
