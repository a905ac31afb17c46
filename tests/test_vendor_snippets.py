"""The vendor's own Python snippets (vanceai-api-docs.txt) run against the emulator.

Each snippet is the vendor's text with its indentation restored, and only the host, the
token, the file paths and the ids swapped (``swap``). For /point and /points/record the
vendor gives curl only; their snippets are the one-to-one ``requests`` translation.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from vance_filters.testing import Emulator, sample_image

VENDOR_BASE = "https://api-service.vanceai.com/web_api/v1"
VENDOR_TOKEN = "1234567890abcdefg"

UPLOAD = """
# Requires "requests" to be installed (see python-requests.org)
import requests
response = requests.post(
    'https://api-service.vanceai.com/web_api/v1/upload',
    files={'file': open('/Users/vanceai/Downloads/cat.jpg', 'rb')},
    data={'api_token': '1234567890abcdefg'},
)
r = response.json()
if r['code'] == 200:
    print('uid:', r['data']['uid'])
"""

TRANSFORM = """
import requests
import json
json_path = "/Users/vanceai/Downloads/enlarge.json"
jparam={}
with open(json_path, 'rb') as f:
    jparam = json.load(f)
data={
    'api_token': '1234567890abcdefg',
    'uid': 'b0c5b210dd1a698d0554bca3d1bdd7b4',
    'jconfig': json.dumps(jparam),
    'webhook': 'https://your-domain/path/to/webhook'
}
response = requests.post(
    'https://api-service.vanceai.com/web_api/v1/transform',
    data)
r = response.json()
if r['code'] == 200:
    print('trans_id:', r['data']['trans_id'])
"""

# The dump ends the URL with a stray quote (''); the one change besides the swaps.
PROGRESS = """
remoteFileUrl = 'https://api-service.vanceai.com/web_api/v1/progress?trans_id=fe854a3b20237f70d1efb757b6aa0cc4&api_token=1234567890abcdefg'
response = requests.get(remoteFileUrl)
r = response.json()
if r['code'] == 200:
    print('status:', r['data']['status'])
"""

DOWNLOAD = """
remoteFileUrl = 'https://api-service.vanceai.com/web_api/v1/download?trans_id=fe854a3b20237f70d1efb757b6aa0cc4&api_token=1234567890abcdefg'
dst_path = '/path/to/save/demo.jpg'
response = requests.get(remoteFileUrl, stream=True)
f = open(dst_path, "wb")
for chunk in response.iter_content(chunk_size=512):
    if chunk:
        f.write(chunk)
f.close()
"""

# curl -X GET "https://api-service.vanceai.com/web_api/v1/point?api_token=1234567890abcdefg"
POINT = """
import requests
response = requests.get("https://api-service.vanceai.com/web_api/v1/point?api_token=1234567890abcdefg")
r = response.json()
"""

# curl -X POST ".../points/record" -d 'api_token=1234567890abcdefg' -d 'page=1' -d 'limit=20'
POINTS_RECORD = """
import requests
response = requests.post(
    "https://api-service.vanceai.com/web_api/v1/points/record",
    data={'api_token': '1234567890abcdefg', 'page': '1', 'limit': '20'},
)
r = response.json()
"""

# The vendor's enlarge.json: the config of the transform example.
ENLARGE_JSON = """{
"job": "enlarge",
"config": {
"module": "enlarge",
"module_params": {
"model_name": "EnlargeStable",
"suppress_noise": 26,
"remove_blur": 26,
"scale": "2x"
},
"out_params": {}
}
}"""


def run(snippet: str, swaps: dict[str, str], namespace: dict | None = None) -> tuple[dict, str]:
    """Run a snippet with the swaps applied; its globals and what it printed.

    Pass the namespace of the snippets before it: the vendor's progress and download
    snippets use the ``requests`` their upload snippet imported, like one script.
    """
    for old, new in swaps.items():
        snippet = snippet.replace(old, new)
    namespace = {} if namespace is None else namespace
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet, "<vendor snippet>", "exec"), namespace)  # noqa: S102
    return namespace, out.getvalue()


@pytest.fixture
def swaps(vance_emulator: Emulator, tmp_path: Path) -> dict[str, str]:
    cat = tmp_path / "cat.jpg"
    sample_image("photo", size=(120, 120)).save(cat, "JPEG")  # the vendor's 1200x1200 cat, smaller
    (tmp_path / "enlarge.json").write_bytes(b"\xef\xbb\xbf" + ENLARGE_JSON.encode())  # with a BOM, as the PHP hints
    return {
        VENDOR_BASE: vance_emulator.url,
        VENDOR_TOKEN: vance_emulator.api_token,
        "/Users/vanceai/Downloads/cat.jpg": str(cat),
        "/Users/vanceai/Downloads/enlarge.json": str(tmp_path / "enlarge.json"),
        "/path/to/save/demo.jpg": str(tmp_path / "demo.jpg"),
        "https://your-domain/path/to/webhook": "https://127.0.0.1:9/path/to/webhook",
    }


def test_the_vendor_flow_upload_transform_progress_download(vance_emulator: Emulator, swaps: dict[str, str],
                                                           tmp_path: Path) -> None:
    emu = vance_emulator
    ns, printed = run(UPLOAD, swaps)
    r = ns["r"]
    assert set(r) == {"code", "cscode", "data", "ip"} and r["cscode"] == 200
    assert set(r["data"]) == {"uid", "name", "thumbnail", "w", "h", "filesize"}
    assert (r["data"]["w"], r["data"]["h"], r["data"]["name"]) == (120, 120, "cat.jpg")
    assert isinstance(r["data"]["filesize"], int)
    uid = r["data"]["uid"]
    assert printed == f"uid: {uid}\n"

    ns, printed = run(TRANSFORM, {**swaps, "b0c5b210dd1a698d0554bca3d1bdd7b4": uid})
    r = ns["r"]
    assert r["code"] == 200 and set(r["data"]) == {"trans_id", "status"}
    assert r["data"]["status"] == "webhook"  # the example gives a webhook
    trans_id = r["data"]["trans_id"]
    assert printed == f"trans_id: {trans_id}\n"
    assert emu.jobs[trans_id].jconfig == json.loads(ENLARGE_JSON)

    ids = {**swaps, "fe854a3b20237f70d1efb757b6aa0cc4": trans_id}
    for _ in range(200):
        ns, printed = run(PROGRESS, ids, ns)
        if ns["r"]["data"]["status"] == "finish":
            break
    r = ns["r"]
    assert printed == "status: finish\n"
    assert set(r["data"]) == {"status", "filesize"} and str(r["data"]["filesize"]).isdigit()

    run(DOWNLOAD, ids, ns)
    saved = (tmp_path / "demo.jpg").read_bytes()
    assert saved == emu.jobs[trans_id].result and len(saved) == int(r["data"]["filesize"])
    with Image.open(io.BytesIO(saved)) as img:
        assert img.format == "JPEG" and img.size == (240, 240)  # "enlarged by 200%"

    r = run(POINT, swaps)[0]["r"]
    assert r["code"] == 200 and r["data"] == {"max_num": "500.000", "used_num": "1.000"}

    r = run(POINTS_RECORD, swaps)[0]["r"]
    data = r["data"]
    assert set(data) == {"datas", "current_page", "last_page", "per_page", "total"}
    assert (data["current_page"], data["last_page"], data["per_page"], data["total"]) == (1, 1, 20, 1)
    (entry,) = data["datas"]
    assert set(entry) == {"point_type", "job", "info", "point", "balance", "created_at"}
    assert (entry["point_type"], entry["job"], entry["info"], entry["point"], entry["balance"]) == (
        "download", "enlarge", "cat.jpg", "1.000", "499.000")


def test_the_vendor_error_examples(vance_emulator: Emulator, swaps: dict[str, str]) -> None:
    no_token = {"data={'api_token': '1234567890abcdefg'},": "data={},", **swaps}
    ns, _ = run(UPLOAD, no_token)
    assert ns["r"] == {"code": 30001, "msg": {"api_token": ["The api token field is required."]}}
    r = run(PROGRESS, swaps, ns)[0]["r"]  # the doc's own trans_id is not a job here
    assert r["code"] == 10011 and isinstance(r["msg"], str)
