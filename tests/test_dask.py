"""vance_filters.dask on a real LocalCluster (2 worker processes) against the emulator over loopback.

One cluster for the module; the workers get the emulator's token and URL through their own
environment (the nanny's ``env``), never through the tasks.
"""

from __future__ import annotations

import io
import os
import pickle
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

dask = pytest.importorskip("dask", reason="the dask extra is not installed (pip install 'vance-filters[dask]')")
distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")

import cloudpickle
import dask.bag as db

import vance_filters as vf
import vance_filters.dask as vfd
from vance_filters import errors as E
from vance_filters.cli import FEATURE_FILTERS
from vance_filters.testing import Emulator, sample_image

pytestmark = pytest.mark.dask


@pytest.fixture(scope="module")
def emu() -> Emulator:
    with Emulator(workers=8) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def cluster(emu: Emulator) -> distributed.Client:
    env = {"VANCE_API_TOKEN": emu.api_token, "VANCE_API_BASE": emu.url}
    with distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=2,
        host="127.0.0.1",
        dashboard_address=None,
        env=env,
    ) as lc, distributed.Client(lc) as dask_client:
        yield dask_client


@pytest.fixture
def fresh(emu: Emulator, cluster: distributed.Client) -> Emulator:
    """The module emulator, reset (ledger, uploads, jobs, faults) for this test."""
    emu.reset()
    emu.configure(job_duration=0.0, workers=8)
    return emu


def caller(emu: Emulator, **settings: object) -> vf.Client:
    """The caller's client: its token stays here, its settings travel."""
    return vf.Client(emu.api_token, emu.url, backoff_base=0.01, backoff_max=0.05, **settings)


def arrays(n: int, size: tuple[int, int] = (12, 8)) -> list[np.ndarray]:
    return [np.full((size[1], size[0], 3), (i * 7) % 256, np.uint8) for i in range(n)]


def charged_images(emu: Emulator) -> list[bytes]:
    """The uploaded bytes behind every charge of the ledger, in charge order."""
    return [emu.uploads[emu.jobs[trans_id].uid].data for trans_id, _ in emu.charges]


# -- import and pickling ----------------------------------------------------------------------


def test_import_vance_filters_never_imports_dask() -> None:
    code = (
        "import sys, vance_filters, vance_filters.aio\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def all_filters() -> list[vf.Filter]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        made: list[vf.Filter] = [cls() for cls in FEATURE_FILTERS]
    made.append(vf.Enlarge(scale=4, suppress_noise=10, format="png", quality=80, dpi=300))
    made.append(vf.Sharpen() | vf.EnhanceFaces() | vf.Enlarge(scale=2, format="jpg"))
    return made


@pytest.mark.parametrize("flt", all_filters(), ids=repr)
def test_filters_and_pipelines_pickle_equal(flt: vf.Filter) -> None:
    back = pickle.loads(pickle.dumps(flt))
    assert back == flt and repr(back) == repr(flt) and back.to_jconfig() == flt.to_jconfig()


ERRORS = [
    getattr(E, name)
    for name in E.__all__
    if isinstance(getattr(E, name), type) and issubclass(getattr(E, name), E.VanceError)
]


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_pickles_with_its_fields(cls: type[E.VanceError]) -> None:
    err = cls("what went wrong", code=10010, endpoint="download", trans_id="t-123", hint="retry")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls and back == err and str(back) == str(err)
    assert (back.code, back.endpoint, back.trans_id, back.hint) == (10010, "download", "t-123", "retry")


def test_client_pickles_its_settings_without_token_session_or_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "9f1c2e7a5b3d4c6e8f0a1b2c3d4e5f60"
    client = vf.Client(token, "http://127.0.0.1:9/web_api/v1", timeout=7.5, max_retries=2,
                       cache_dir=tmp_path, pool_size=3)
    client.cache.put("ab" * 32, b"result")  # type: ignore[union-attr]
    blob = pickle.dumps(client)
    assert token.encode() not in blob and b"result" not in blob
    back = pickle.loads(blob)
    assert back.__getstate__() == client.__getstate__()
    assert (back.base_url, back.timeout, back.max_retries, back.pool_size) == (client.base_url, 7.5, 2, 3)
    assert back._transport.session is not client._transport.session
    assert back.cache.get("ab" * 32) is None  # no token: not the account that stored it
    monkeypatch.setenv("VANCE_API_TOKEN", token)  # a worker reads the same account's token
    assert back.cache.memory.get("ab" * 32) is None and back.cache.get("ab" * 32) == b"result"
    assert token.encode() in pickle.dumps(vf.Client(token, client.base_url, pickle_token=True))


def test_filter_and_error_come_back_equal_from_a_worker(cluster: distributed.Client) -> None:
    flt = vf.Sharpen(remove_blur=0.5) | vf.EnhanceFaces(format="png")
    err = E.InsufficientCreditsError("too few credits", endpoint="download", trans_id="t-9")
    future = cluster.submit(lambda f, e: (f, e, f.to_jconfig()), flt, err, pure=False)
    back_flt, back_err, jconfig = future.result(timeout=30)
    assert back_flt == flt and jconfig == flt.to_jconfig()
    assert back_err == err and back_err.code == 30004


@pytest.mark.parametrize(
    ("images", "options", "error"),
    [
        ("photo.jpg", {}, TypeError),
        ([], {"concurrency": 0}, vf.ConfigError),
        ([], {"npartitions": 0}, vf.ConfigError),
        ([], {"on_limit": "shrink"}, vf.ConfigError),
        ([], {"return_exceptions": "yes"}, vf.ConfigError),
        ([], {"flt": "denoise"}, TypeError),
        ([], {"output_dir": __file__}, ValueError),
    ],
)
def test_bad_arguments_are_refused_at_once(images: object, options: dict, error: type) -> None:
    client = vf.Client("t" * 32, "http://127.0.0.1:9/web_api/v1")
    flt = options.pop("flt", vf.Denoise())
    with pytest.raises(error):
        vfd.map(flt, images, client=client, **options)  # type: ignore[arg-type]


def test_an_empty_list_is_an_empty_bag() -> None:
    client = vf.Client("t" * 32, "http://127.0.0.1:9/web_api/v1")
    assert vfd.map(vf.Denoise(), [], client=client).compute(scheduler="sync") == []


# -- results -----------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_results_equal_local_ones_in_order(fresh: Emulator, cluster: distributed.Client, tmp_path: Path) -> None:
    inputs: list[object] = arrays(10)
    path = tmp_path / "photo.png"
    sample_image(size=(20, 14)).save(path)
    inputs[3] = path
    inputs[6] = (tmp_path / "photo.png").read_bytes()
    flt = vf.Enlarge(scale=2)
    with caller(fresh) as client:
        local = list(vf.map(flt, inputs, client=client))
        bag = vfd.map(flt, inputs, client=client, concurrency=3)
        assert bag.npartitions == 4
        remote = bag.compute()
    assert len(remote) == len(local) == 10
    for a, b in zip(remote, local):
        assert type(a) is type(b)
        assert np.array_equal(np.asarray(a), np.asarray(b)) if not isinstance(a, bytes) else a == b
    assert len(set(cluster.run(os.getpid).values())) == 2


@pytest.mark.timeout(60)
def test_a_bag_of_bytes_and_arrays(fresh: Emulator, cluster: distributed.Client) -> None:
    images = [sample_image(size=(16, 10 + i)) for i in range(6)]
    import io

    blobs = []
    for img in images:
        buf = io.BytesIO()
        img.save(buf, "PNG")
        blobs.append(buf.getvalue())
    bag = db.from_sequence(blobs + arrays(4), npartitions=3)
    with caller(fresh) as client:
        out = vfd.map(vf.Denoise(), bag, client=client).compute()
        local = list(vf.map(vf.Denoise(), blobs + arrays(4), client=client))
    assert [type(o) for o in out] == [bytes] * 6 + [np.ndarray] * 4
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(out[6:], local[6:]))
    assert out[:6] == local[:6]


@pytest.mark.timeout(60)
def test_images_overlap_inside_a_partition(fresh: Emulator, cluster: distributed.Client) -> None:
    fresh.configure(job_duration=0.5, workers=16)
    with caller(fresh) as client:
        bag = vfd.map(vf.Denoise(), arrays(8), client=client, concurrency=8, npartitions=1)
        start = time.perf_counter()
        out = bag.compute()
        elapsed = time.perf_counter() - start
    assert len(out) == 8
    assert elapsed < 8 * 0.5 / 2, f"one partition of 8 took {elapsed:.1f} s: not overlapping"


# -- errors, token, credits --------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_typed_error_crosses_intact(fresh: Emulator, cluster: distributed.Client) -> None:
    fresh.fail("transform", code=10001, msg="Illegal Parameter", times=100)
    with caller(fresh) as client, pytest.raises(vf.InvalidParameterError) as info:
        vfd.map(vf.Denoise(), arrays(2), client=client).compute()
    assert (info.value.code, info.value.endpoint) == (10001, "transform")
    assert "Illegal Parameter" in str(info.value)

    fresh.reset()
    fresh.fail_jobs(times=1)
    with caller(fresh) as client:
        out = vfd.map(vf.Denoise(), arrays(3), client=client, npartitions=1, concurrency=1,
                      return_exceptions=True).compute()
    assert isinstance(out[0], vf.JobFailedError) and out[0].trans_id in fresh.jobs
    assert out[0].code == 10014 and isinstance(out[1], np.ndarray)


@pytest.mark.timeout(60)
def test_the_token_is_in_no_pickled_task(fresh: Emulator, cluster: distributed.Client) -> None:
    token = fresh.api_token.encode()
    with caller(fresh) as client:
        bag = vfd.map(vf.Enlarge(scale=2), arrays(4), client=client)
        graph = cloudpickle.dumps(dict(bag.__dask_graph__()))
        assert token not in graph and token not in cloudpickle.dumps(bag)
        assert len(bag.compute()) == 4  # the workers found it in their own environment
        leaky = vfd.map(vf.Enlarge(scale=2), arrays(1), client=caller(fresh, pickle_token=True))
        assert token in cloudpickle.dumps(dict(leaky.__dask_graph__()))  # the search does see it


def _forget_token() -> None:
    os.environ.pop("VANCE_API_TOKEN", None)


def _set_token(token: str) -> None:
    os.environ["VANCE_API_TOKEN"] = token


@pytest.mark.timeout(60)
def test_a_worker_without_token_names_the_variable_and_itself(fresh: Emulator, cluster: distributed.Client) -> None:
    cluster.run(_forget_token)
    try:
        with caller(fresh) as client, pytest.raises(vf.AuthenticationError) as info:
            vfd.map(vf.Denoise(), arrays(2), client=client, npartitions=1).compute()
    finally:
        cluster.run(_set_token, fresh.api_token)
    message = str(info.value)
    assert "VANCE_API_TOKEN" in message
    assert "Dask worker tcp://127.0.0.1:" in message and "host" in message
    assert fresh.request_count("upload") == 0


def test_max_credits_is_checked_before_anything_is_submitted(fresh: Emulator, cluster: distributed.Client) -> None:
    with caller(fresh) as client:
        with pytest.raises(vf.CreditLimitError, match="max_credits=5"):
            vfd.map(vf.Sharpen(), arrays(3), client=client, max_credits=5)
        with pytest.raises(vf.CreditLimitError, match="max_credits=2"):
            vfd.map(vf.Denoise(), db.from_sequence(arrays(3)), client=client, max_credits=2)
        assert fresh.request_count("upload") == 0
        assert len(vfd.map(vf.Sharpen(), arrays(3), client=client, max_credits=6).compute()) == 3


# -- output_dir --------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_output_dir_writes_each_result_and_a_rerun_uploads_nothing(
    fresh: Emulator, cluster: distributed.Client, tmp_path: Path
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "b").mkdir(parents=True)
    paths = []
    for i in range(5):
        path = src / f"img{i}.png"
        sample_image(size=(12 + i, 10)).save(path)
        paths.append(path)
    twin = src / "b" / "img0.jpg"  # same stem: named like the CLI does
    sample_image(size=(9, 9)).convert("RGB").save(twin, quality=90)
    paths.append(twin)
    flt = vf.Enlarge(scale=2)
    with caller(fresh) as client:
        written = vfd.map(flt, paths, output_dir=out, client=client, concurrency=2).compute()
        assert len(fresh.charges) == 6
        expected = [flt.apply(p.read_bytes(), client=client) for p in paths]
    assert written == [str(out / f"img{i}.png") for i in range(5)] + [str(out / "img0-b.jpg")]
    for w, data in zip(written, expected, strict=True):  # the result's pixels, and its record
        assert np.array_equal(np.asarray(Image.open(w)), np.asarray(Image.open(io.BytesIO(data))))
        record = vf.provenance.read(w)
        assert record is not None and record.same_settings(flt.to_jconfig()) and record.credits == 1
    assert sorted(os.listdir(out)) == sorted(Path(w).name for w in written)  # no temp files left

    fresh.reset()
    with caller(fresh) as client:
        again = vfd.map(flt, paths, output_dir=out, client=client, max_credits=0).compute()
    assert again == written
    assert fresh.request_count("upload") == 0 and fresh.request_count() == fresh.request_count("point") == 1

    Path(written[2]).unlink()
    with caller(fresh) as client:
        third = vfd.map(flt, paths, output_dir=out, client=client).compute()
    assert third == written and fresh.request_count("upload") == 1


@pytest.mark.timeout(60)
def test_output_dir_names_bag_elements_by_content(fresh: Emulator, cluster: distributed.Client, tmp_path: Path) -> None:
    bag = db.from_sequence(arrays(3), npartitions=2)
    with caller(fresh) as client:
        first = vfd.map(vf.Denoise(), bag, output_dir=tmp_path, client=client).compute()
        assert all(p.endswith(".png") and Path(p).parent == tmp_path for p in first)
        assert len(set(first)) == 3
        fresh.reset()
        assert vfd.map(vf.Denoise(), bag, output_dir=tmp_path, client=client).compute() == first
    assert fresh.request_count() == 0
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(first[1])), np.full((8, 12, 3), 7, np.uint8))


# -- a worker dies mid-batch (keep last: the cluster restarts a worker) ---------------------------


@pytest.mark.timeout(90)
def test_a_killed_worker_is_retried_and_nothing_is_paid_twice(
    fresh: Emulator, cluster: distributed.Client, tmp_path: Path
) -> None:
    fresh.configure(job_duration=0.5, workers=8)
    cache = tmp_path / "shared-cache"
    inputs = arrays(6)
    with caller(fresh, cache_dir=cache) as client:
        future = cluster.compute(vfd.map(vf.Denoise(), inputs, client=client, concurrency=2, npartitions=1))
        deadline = time.monotonic() + 30
        while len(list(cache.glob("*/*.bin"))) < 2:  # two results paid for and cached...
            assert time.monotonic() < deadline, "no result was cached"
            time.sleep(0.01)
        paid_before = [bytes(b) for b in charged_images(fresh)]
        busy = [addr for addr, keys in cluster.processing().items() if keys]
        assert len(busy) == 1
        pid = cluster.run(os.getpid, workers=busy)[busy[0]]
        os.kill(pid, signal.SIGKILL)  # ...then the worker doing the batch dies
        out = future.result(timeout=60)
    assert len(paid_before) >= 2
    assert [int(o.mean()) for o in out] == [int(i.mean()) for i in inputs]
    paid = charged_images(fresh)
    assert len(paid) == len(set(paid)) == 6, "a result was paid for twice"
    uploads = [u.data for u in fresh.uploads.values()]
    for data in paid_before:  # the re-run task found these in the shared cache
        assert uploads.count(data) == 1
    cluster.wait_for_workers(2, timeout=60)


# -- the partition code in this process (the synchronous scheduler; also what coverage sees) -------


def test_in_process_partitions_write_pil_and_array_results(vance_emulator: Emulator, tmp_path: Path) -> None:
    from PIL import Image

    images = [sample_image(size=(10, 6)), np.zeros((6, 10), np.uint16), tmp_path / "missing.png"]
    with vf.Client(vance_emulator.api_token, vance_emulator.url) as client:
        bag = vfd.map(vf.Denoise(format="jpg", quality=90), images, output_dir=tmp_path / "out",
                      client=client, return_exceptions=True)
        written = bag.compute(scheduler="sync")
        plain = vfd.map(vf.Denoise(), db.from_sequence(images[:2]), client=client).compute(scheduler="sync")
    assert [Path(p).suffix for p in written[:2]] == [".jpg", ".jpg"]
    assert all(Image.open(p).size == (10, 6) for p in written[:2])
    assert isinstance(written[2], vf.InputError)  # a missing file fails in its place
    assert isinstance(plain[0], Image.Image) and plain[1].dtype == np.uint16


def test_in_process_bag_outputs_are_named_and_skipped(vance_emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "cat.jpg"
    sample_image(size=(10, 6)).convert("RGB").save(path, quality=90)
    bag = db.from_sequence([path, png(sample_image(size=(7, 5))), sample_image(size=(8, 8))], npartitions=2)
    out = tmp_path / "out"
    with vf.Client(vance_emulator.api_token, vance_emulator.url) as client:
        first = vfd.map(vf.RemoveBackground(), bag, output_dir=out, client=client).compute(scheduler="sync")
        # a cut-out has alpha: the JPEG input's result is written as what it is, a PNG
        assert Path(first[0]).name == "cat.png"
        assert [Path(p).suffix for p in first] == [".png"] * 3
        uploads = vance_emulator.request_count("upload")
        again = vfd.map(vf.RemoveBackground(), bag, output_dir=out, client=client).compute(scheduler="sync")
    assert again == first and vance_emulator.request_count("upload") == uploads


def png(img: object) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, "PNG")  # type: ignore[attr-defined]
    return buf.getvalue()


def test_no_token_in_this_process_names_the_variable(vance_emulator: Emulator) -> None:
    with vf.Client(base_url=vance_emulator.url) as client, pytest.raises(vf.AuthenticationError) as info:
        vfd.map(vf.Denoise(), [np.zeros((4, 4), np.uint8)], client=client).compute(scheduler="sync")
    assert "VANCE_API_TOKEN" in str(info.value) and f"process {os.getpid()} on host" in str(info.value)
