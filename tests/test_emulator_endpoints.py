"""The emulator's endpoints over real HTTP: envelopes, encodings, every error code."""

from __future__ import annotations

import io
import json
import re

import pytest
import requests
from PIL import Image

from vance_filters._features import MAX_UPLOAD_BYTES
from vance_filters.testing import Emulator, sample_image

ENLARGE = {"name": "enlarge3", "config": {"module": "enlarge3",
                                          "module_params": {"model_name": "EnlargeStandard_2x_Stable", "scale": 2}}}
HEX32 = re.compile(r"[0-9a-f]{32}")


def png(size: tuple[int, int] = (16, 12), fmt: str = "PNG", kind: str = "photo") -> bytes:
    buf = io.BytesIO()
    sample_image(kind, size=size).save(buf, fmt)
    return buf.getvalue()


def upload(emu: Emulator, data: bytes | None = None, name: str = "cat.png") -> str:
    r = requests.post(emu.url + "/upload", files={"file": (name, data or png())},
                      data={"api_token": emu.api_token}, timeout=10)
    assert r.json()["code"] == 200, r.text
    return r.json()["data"]["uid"]


def transform(emu: Emulator, uid: str, jconfig: object = ENLARGE, **extra: str) -> dict:
    text = jconfig if isinstance(jconfig, str) else json.dumps(jconfig)
    r = requests.post(emu.url + "/transform", data={"api_token": emu.api_token, "uid": uid,
                                                    "jconfig": text, **extra}, timeout=10)
    return r.json()


def test_upload_envelope_and_record(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    data = png((21, 13))
    r = requests.post(emu.url + "/upload", files={"file": ("holiday.png", data)},
                      data={"api_token": emu.api_token, "job": "ai"}, timeout=10)
    body = r.json()
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert set(body) == {"code", "cscode", "data", "ip"} and body["cscode"] == 200
    assert body["ip"] == "127.0.0.1"
    d = body["data"]
    assert HEX32.fullmatch(d["uid"])
    assert (d["name"], d["thumbnail"], d["w"], d["h"], d["filesize"]) == ("holiday.png", "", 21, 13, len(data))
    rec = emu.uploads[d["uid"]]
    assert (rec.name, rec.data, rec.width, rec.height, rec.format) == ("holiday.png", data, 21, 13, "png")
    last = emu.requests[-1]
    assert (last.method, last.endpoint, last.status, last.code) == ("POST", "upload", 200, None)
    assert last.params == {"job": "ai", "file": "holiday.png"}


def test_upload_jpeg_by_bytes_and_default_name(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    uid = upload(emu, png(fmt="JPEG"), name="")
    rec = emu.uploads[uid]
    assert rec.format == "jpeg" and rec.name == "image.jpg"


@pytest.mark.parametrize("data", [b"GIF89a not a picture", b"\xff\xd8\xff" + b"\x00" * 40,
                                  b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b""])
def test_upload_non_image_bytes_named_jpg_is_10001(vance_emulator: Emulator, data: bytes) -> None:
    r = requests.post(vance_emulator.url + "/upload", files={"file": ("cat.jpg", data)},
                      data={"api_token": vance_emulator.api_token}, timeout=10)
    assert r.json()["code"] == 10001
    assert vance_emulator.uploads == {}


def test_upload_corrupt_png_body_is_10001(vance_emulator: Emulator) -> None:
    data = bytearray(png())
    data[40:60] = b"\x00" * 20  # break the IDAT checksum, keep the header
    r = requests.post(vance_emulator.url + "/upload", files={"file": ("x.png", bytes(data))},
                      data={"api_token": vance_emulator.api_token}, timeout=10)
    assert r.json()["code"] == 10001


def test_upload_over_the_pixel_limit_is_10012_without_decoding(vance_emulator: Emulator) -> None:
    # 6000 x 6000 = 36 MP of zeros: a tiny file over the 34 MP limit.
    buf = io.BytesIO()
    Image.new("L", (6000, 6000)).save(buf, "PNG")
    r = requests.post(vance_emulator.url + "/upload", files={"file": ("big.png", buf.getvalue())},
                      data={"api_token": vance_emulator.api_token}, timeout=10)
    assert r.json()["code"] == 10012


def test_upload_header_claiming_huge_jpeg_is_10012(vance_emulator: Emulator) -> None:
    data = bytearray(png((8, 8), fmt="JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (40000).to_bytes(2, "big") + (40000).to_bytes(2, "big")
    r = requests.post(vance_emulator.url + "/upload", files={"file": ("x.jpg", bytes(data))},
                      data={"api_token": vance_emulator.api_token}, timeout=10)
    assert r.json()["code"] == 10012


@pytest.mark.parametrize("extra", [1, 2_000_000])
def test_upload_over_10_mb_is_10012(vance_emulator: Emulator, extra: int) -> None:
    data = png() + b"\x00" * (MAX_UPLOAD_BYTES - len(png()) + extra)
    r = requests.post(vance_emulator.url + "/upload", files={"file": ("x.png", data)},
                      data={"api_token": vance_emulator.api_token}, timeout=20)
    assert r.json()["code"] == 10012


def test_upload_exactly_10_mb_is_accepted(vance_emulator: Emulator) -> None:
    data = png()
    data += b"\x00" * (MAX_UPLOAD_BYTES - len(data))  # trailing bytes after IEND
    uid = upload(vance_emulator, data)
    assert vance_emulator.uploads[uid].data == data


def test_missing_fields_are_laravel_field_errors(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    r = requests.post(emu.url + "/upload", data={"api_token": emu.api_token}, timeout=10)
    assert r.json() == {"code": 10001, "msg": {"file": ["The file field is required."]}}
    r = requests.post(emu.url + "/transform", data={"api_token": emu.api_token}, timeout=10)
    assert r.json() == {"code": 10001, "msg": {"uid": ["The uid field is required."]}}
    r = requests.post(emu.url + "/transform", data={"api_token": emu.api_token, "uid": "x"}, timeout=10)
    assert r.json() == {"code": 10001, "msg": {"jconfig": ["The jconfig field is required."]}}
    for endpoint in ("progress", "download"):
        r = requests.post(f"{emu.url}/{endpoint}", data={"api_token": emu.api_token}, timeout=10)
        assert r.json() == {"code": 10001, "msg": {"trans_id": ["The trans id field is required."]}}


ALL = [("POST", "upload"), ("POST", "transform"), ("GET", "progress"), ("POST", "progress"),
       ("GET", "download"), ("POST", "download"), ("GET", "point"), ("GET", "points/record"),
       ("POST", "points/record")]


@pytest.mark.parametrize(("method", "endpoint"), ALL)
def test_missing_token_is_30001_with_the_field_dict(vance_emulator: Emulator, method: str, endpoint: str) -> None:
    r = requests.request(method, f"{vance_emulator.url}/{endpoint}", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"code": 30001, "msg": {"api_token": ["The api token field is required."]}}
    assert vance_emulator.requests[-1].code == 30001


@pytest.mark.parametrize(("method", "endpoint"), ALL)
def test_wrong_token_is_30001(vance_emulator: Emulator, method: str, endpoint: str) -> None:
    key = "params" if method == "GET" else "data"
    r = requests.request(method, f"{vance_emulator.url}/{endpoint}", timeout=10,
                         **{key: {"api_token": "wrong" + vance_emulator.api_token}})
    body = r.json()
    assert body["code"] == 30001 and isinstance(body["msg"], str)
    assert vance_emulator.api_token not in r.text


def test_empty_token_counts_as_missing(vance_emulator: Emulator) -> None:
    r = requests.get(vance_emulator.url + "/point", params={"api_token": ""}, timeout=10)
    assert r.json()["msg"] == {"api_token": ["The api token field is required."]}


@pytest.mark.parametrize("encoding", ["query", "form", "multipart", "json"])
def test_every_request_encoding_authenticates(vance_emulator: Emulator, encoding: str) -> None:
    emu = vance_emulator
    fields = {"api_token": emu.api_token, "page": "1", "limit": "5"}
    url = emu.url + "/points/record"
    r = {
        "query": lambda: requests.get(url, params=fields, timeout=10),
        "form": lambda: requests.post(url, data=fields, timeout=10),
        "multipart": lambda: requests.post(url, files={k: (None, v) for k, v in fields.items()}, timeout=10),
        "json": lambda: requests.post(url, json={**fields, "limit": 5}, timeout=10),
    }[encoding]()
    assert r.json()["code"] == 200 and r.json()["data"]["per_page"] == 5
    assert emu.requests[-1].params["limit"] in ("5", 5)
    assert "api_token" not in emu.requests[-1].params


def test_get_reads_a_json_body_but_never_a_form_body(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    assert requests.get(emu.url + "/point", json={"api_token": emu.api_token}, timeout=10).json()["code"] == 200
    r = requests.get(emu.url + "/point", data={"api_token": emu.api_token}, timeout=10)
    assert r.json() == {"code": 30001, "msg": {"api_token": ["The api token field is required."]}}


def test_json_body_with_a_non_object_or_bad_json_reads_nothing(vance_emulator: Emulator) -> None:
    url = vance_emulator.url + "/point"
    for raw in (b"[1, 2]", b"{not json"):
        r = requests.get(url, data=raw, headers={"Content-Type": "application/json"}, timeout=10)
        assert r.json()["code"] == 30001


def test_body_wins_over_query_for_post(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    r = requests.post(emu.url + "/points/record", params={"api_token": "bad", "limit": "3"},
                      data={"api_token": emu.api_token}, timeout=10)
    assert r.json()["code"] == 200 and r.json()["data"]["per_page"] == 3


@pytest.mark.parametrize(("method", "endpoint"), [("POST", "point"), ("GET", "upload"), ("GET", "transform"),
                                                  ("PUT", "progress"), ("DELETE", "download")])
def test_wrong_method_is_405(vance_emulator: Emulator, method: str, endpoint: str) -> None:
    r = requests.request(method, f"{vance_emulator.url}/{endpoint}", timeout=10,
                         params={"api_token": vance_emulator.api_token})
    assert r.status_code == 405 and "Allow" in r.headers


def test_unknown_path_is_404(vance_emulator: Emulator) -> None:
    r = requests.get(vance_emulator.url + "/nope", params={"api_token": vance_emulator.api_token}, timeout=10)
    assert r.status_code == 404
    assert vance_emulator.requests[-1].endpoint == "nope"
    base = vance_emulator.url.rsplit("/web_api", 1)[0]
    assert requests.get(base + "/elsewhere", timeout=10).status_code == 404


def test_transform_progress_download_point_record(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    uid = upload(emu)
    body = transform(emu, uid)
    assert body["code"] == 200 and set(body["data"]) == {"trans_id", "status"}
    tid = body["data"]["trans_id"]
    assert HEX32.fullmatch(tid) and body["data"]["status"] == "finish"
    p = requests.get(emu.url + "/progress", params={"api_token": emu.api_token, "trans_id": tid}, timeout=10).json()
    # filesize: a number by default (what the real service sends); filesize="string" for the documented form
    assert p["data"]["status"] == "finish" and isinstance(p["data"]["filesize"], int)
    emu.configure(filesize="string")
    p = requests.get(emu.url + "/progress", params={"api_token": emu.api_token, "trans_id": tid}, timeout=10).json()
    assert re.fullmatch(r"\d+", p["data"]["filesize"])
    r = requests.get(emu.url + "/download", params={"api_token": emu.api_token, "trans_id": tid}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    assert r.headers["Content-Disposition"] == 'attachment; filename="cat_enlarge3.png"'
    assert int(r.headers["Content-Length"]) == len(r.content) == int(p["data"]["filesize"])
    assert r.content == emu.jobs[tid].result
    point = requests.get(emu.url + "/point", params={"api_token": emu.api_token}, timeout=10).json()["data"]
    assert point == {"max_num": "500.000", "used_num": "1.000"}


def test_unknown_uid_and_trans_id_are_10011(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    assert transform(emu, "0" * 32)["code"] == 10011
    for endpoint in ("progress", "download"):
        r = requests.post(f"{emu.url}/{endpoint}", data={"api_token": emu.api_token, "trans_id": "f" * 32}, timeout=10)
        assert r.json()["code"] == 10011 and r.headers["Content-Type"] == "application/json"


def test_unfinished_download_is_10011_json(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    emu.stall_jobs(1, status="process")
    tid = transform(emu, upload(emu))["data"]["trans_id"]
    r = requests.post(emu.url + "/download", data={"api_token": emu.api_token, "trans_id": tid}, timeout=10)
    assert r.json()["code"] == 10011 and r.headers["Content-Type"] == "application/json"
    assert emu.charges == []


def test_jconfig_parse_errors_are_10013_and_bom_is_fine(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    uid = upload(emu)
    for text in ("{not json", "{'single': 'quotes'}", '{"config": NaN}'):
        assert transform(emu, uid, text)["code"] == 10013
    bom = "\ufeff" + json.dumps(ENLARGE)
    assert transform(emu, uid, bom)["data"]["status"] == "finish"
    # the PHP example trims the BOM bytes; a client that forgets sends them as UTF-8
    r = requests.post(emu.url + "/transform", timeout=10, data={
        "api_token": emu.api_token, "uid": uid, "jconfig": b"\xef\xbb\xbf" + json.dumps(ENLARGE).encode()})
    assert r.json()["code"] == 200


def test_jconfig_as_an_object_in_a_json_body(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    uid = upload(emu)
    r = requests.post(emu.url + "/transform", json={"api_token": emu.api_token, "uid": uid, "jconfig": ENLARGE},
                      timeout=10)
    assert r.json()["data"]["status"] == "finish"
    r = requests.post(emu.url + "/transform", json={"api_token": emu.api_token, "uid": uid, "jconfig": [1]},
                      timeout=10)
    assert r.json()["code"] == 10013


def step(module: str, **params: object) -> dict:
    return {"name": module, "config": {"module": module, "module_params": params}}


@pytest.mark.parametrize(
    "jconfig",
    [
        [1, 2],
        {"name": "x"},
        {"config": []},
        {"config": "enlarge3"},
        {"config": [1]},
        {"config": [{"name": "a"}]},
        {"config": {"module": "nope"}},
        {"config": {"module": "enlarge3", "module_params": "scale=2"}},
        step("enlarge3", scale=3),
        step("enlarge3", model_name="EnlargeStandard_2x_Stable", scale=4),
        step("enlarge3", model_name="EnlargeStable"),
        step("denoise", remove_noise=101),
        step("sharpen3", remove_blur=1.5),
        step("real_esrgan", scale=2),
        step("img2sr", strength=0.5),
        step("deoldify2", render_factor=9),
        {"name": "matting", "config": {"module": "matting", "out_params": {"format": "gif"}}},
        {"name": "matting", "config": {"module": "matting", "out_params": {"compress": {"quality": 101}}}},
        {"name": "matting", "config": {"module": "matting", "out_params": {"dpi": -1}}},
        {"name": "matting", "config": {"module": "matting", "out_params": {"bg_composed": {"bg_color": {"r": 300}}}}},
        {"name": "matting", "config": {"module": "matting", "out_params": "png"}},
        {"config": [step("sharpen3"), step("CodeFormer", model_name="nope")], "name": "va_sharpen_standard"},
    ],
)
def test_bad_configs_are_10001(vance_emulator: Emulator, jconfig: object) -> None:
    emu = vance_emulator
    body = transform(emu, upload(emu), jconfig)
    assert body["code"] == 10001, body
    assert emu.jobs == {}


@pytest.mark.parametrize(
    ("cn_configs", "ok"),
    [
        (None, False),
        ([], False),
        (["cartoon_tile"], False),
        ([{"image_uid": "0" * 32, "cn_name": "cartoon_tile"}], False),
        ([{"image_uid": "UID", "cn_name": "not_a_controlnet"}], False),
        ([{"image_uid": "UID", "cn_name": "cartoon_tile"}], True),
        ([{"image_uid": "UID", "cn_name": "cartoon_lineart"}, {"image_uid": "UID", "cn_name": "cartoon_tile"}], True),
    ],
)
def test_img2anime_controlnets(vance_emulator: Emulator, cn_configs: list | None, ok: bool) -> None:
    emu = vance_emulator
    uid = upload(emu)
    jconfig: dict = step("img2anime", model_name="style1")
    if cn_configs is not None:
        jconfig["cn_configs"] = [
            {**c, "image_uid": uid} if isinstance(c, dict) and c["image_uid"] == "UID" else c for c in cn_configs
        ]
    body = transform(emu, uid, jconfig)
    assert (body["code"] == 200) is ok, body
    if not ok:
        assert body["code"] == 10001


def test_webhook_must_be_a_url(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    assert transform(emu, upload(emu), webhook="ftp://x/y")["code"] == 10001


@pytest.mark.parametrize(("page", "limit"), [("0", "20"), ("x", "20"), ("1", "0"), ("1", "2.5")])
def test_bad_pagination_is_10001(vance_emulator: Emulator, page: str, limit: str) -> None:
    emu = vance_emulator
    r = requests.post(emu.url + "/points/record", data={"api_token": emu.api_token, "page": page, "limit": limit},
                      timeout=10)
    assert r.json()["code"] == 10001 and isinstance(r.json()["msg"], dict)


@pytest.mark.parametrize("status", [200, 400, 500])
def test_error_status_sets_the_http_status_of_api_errors(status: int) -> None:
    with Emulator(error_status=status) as emu:
        r = requests.get(emu.url + "/point", timeout=10)
        assert (r.status_code, r.json()["code"]) == (status, 30001)
        ok = requests.get(emu.url + "/point", params={"api_token": emu.api_token}, timeout=10)
        assert ok.status_code == 200


def test_custom_token(vance_emulator_session: Emulator) -> None:
    with Emulator(api_token="my-token") as emu:
        assert emu.api_token == "my-token"
        assert requests.get(emu.url + "/point", params={"api_token": "my-token"}, timeout=10).json()["code"] == 200
    assert HEX32.fullmatch(vance_emulator_session.api_token)
