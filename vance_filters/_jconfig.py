"""A job's configuration (jconfig) as the client sends it and the cache keys it.

A jconfig is a dict, or JSON text (a UTF-8 BOM is ignored); text that is not a
JSON object is kept as it is, for the server to judge. In ``cn_configs`` an
``image_uid`` of None or :data:`UID_PLACEHOLDER` stands for "this job's own
upload": the client fills in the uid when it sends the job, the cache writes
the placeholder so that the same job keys the same whatever the upload's uid.
"""

from __future__ import annotations

import json
from typing import Any, Union

__all__ = ["UID_PLACEHOLDER", "JConfig", "canonical", "parse", "text", "with_uid"]

JConfig = Union[dict[str, Any], str]  # noqa: UP007

#: Stands for "the uid of this job's own upload" in ``cn_configs``.
UID_PLACEHOLDER = "<uid_from_upload>"


def parse(jconfig: Any) -> dict[str, Any] | str:
    """A dict (for dicts and JSON object text), or the text as given (the server judges it).

    Examples
    --------
    >>> parse('\\ufeff{"name": "denoise"}'), parse("not json")
    ({'name': 'denoise'}, 'not json')
    """
    if isinstance(jconfig, dict):
        return jconfig
    if isinstance(jconfig, (bytes, bytearray)):
        jconfig = bytes(jconfig).decode("utf-8-sig")
    if not isinstance(jconfig, str):
        raise TypeError(
            f"jconfig={type(jconfig).__name__} is not supported: pass a dict or a JSON string"
        )
    try:
        value = json.loads(jconfig.lstrip("\ufeff"))
    except ValueError:
        return jconfig
    return value if isinstance(value, dict) else jconfig


def text(jconfig: Any) -> str:
    """The jconfig as the text sent in the ``jconfig`` form field.

    Examples
    --------
    >>> text({"name": "denoise"})
    '{"name": "denoise"}'
    """
    if isinstance(jconfig, dict):
        return json.dumps(jconfig, ensure_ascii=False)
    if isinstance(jconfig, (bytes, bytearray)):
        return bytes(jconfig).decode("utf-8-sig")
    if isinstance(jconfig, str):
        return jconfig
    raise TypeError(f"jconfig={type(jconfig).__name__} is not supported: pass a dict or a JSON string")


def with_uid(jconfig: Any, uid: str) -> Any:
    """A copy of ``jconfig`` with every own-upload ``image_uid`` (None or the placeholder) set to ``uid``.

    Examples
    --------
    >>> with_uid({"cn_configs": [{"image_uid": None}, {"image_uid": "other"}]}, "u1")
    {'cn_configs': [{'image_uid': 'u1'}, {'image_uid': 'other'}]}
    """
    if not isinstance(jconfig, dict):
        return jconfig
    out = dict(jconfig)
    if isinstance(out.get("cn_configs"), list):
        out["cn_configs"] = [
            {**cn, "image_uid": uid}
            if isinstance(cn, dict) and cn.get("image_uid") in (None, UID_PLACEHOLDER)
            else cn
            for cn in out["cn_configs"]
        ]
    if isinstance(out.get("config"), list):
        out["config"] = [with_uid(step, uid) for step in out["config"]]
    return out


def canonical(jconfig: JConfig) -> str:
    """The canonical JSON text of a jconfig: sorted keys, no spaces.

    A JSON string is parsed first (a UTF-8 BOM is ignored); text that is not
    JSON is used as it is. ``image_uid`` placeholders (None or
    ``"<uid_from_upload>"``) compare equal.

    Examples
    --------
    >>> canonical({"name": "denoise", "config": {"module": "denoise"}})
    '{"config":{"module":"denoise"},"name":"denoise"}'
    >>> canonical('\\ufeff{"b": 1, "a": 2}')
    '{"a":2,"b":1}'
    """
    value: Any = jconfig
    if isinstance(jconfig, str):
        try:
            value = json.loads(jconfig.lstrip("\ufeff"))
        except ValueError:
            return jconfig
    return json.dumps(
        with_uid(value, UID_PLACEHOLDER), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
