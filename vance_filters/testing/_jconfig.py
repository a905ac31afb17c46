"""jconfig parsing and validation, through the documented feature table."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._features import CONTROLNETS, FEATURES, out_params_problems
from ._records import Step
from ._wire import ApiError


@dataclass(frozen=True)
class ParsedJConfig:
    """A jconfig the service accepts."""

    raw: dict[str, Any]
    steps: tuple[Step, ...]
    name: str

    def cost(self, billing: str = "sum") -> float:
        """Credits a download costs: every step's price (``"sum"``) or the dearest (``"max"``)."""
        prices = [FEATURES[s.module].cost for s in self.steps]
        return float(max(prices) if billing == "max" else sum(prices))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load(value: Any) -> dict[str, Any]:
    """The jconfig as an object: JSON text (a UTF-8 BOM is fine) or an object already."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise ApiError(10013, "jconfig must be JSON text")
    text = value.lstrip("\ufeff").lstrip("\u00ef\u00bb\u00bf").strip()
    try:
        parsed = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ApiError(10013, f"jconfig is not valid JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise ApiError(10001, "jconfig must be a JSON object")
    return parsed


def _as_dict(value: Any, what: str) -> dict[str, Any]:
    # PHP encodes an empty object as [], so accept [] (and null) as {}.
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise ApiError(10001, f"{what} must be an object")
    return value


def _step(item: Any, fallback_name: Any) -> Step:
    if not isinstance(item, dict):
        raise ApiError(10001, "each step of jconfig.config must be an object")
    module = item.get("module")
    feature = FEATURES.get(module) if isinstance(module, str) else None
    if feature is None:
        raise ApiError(10001, f"module={module!r} is not a known module")
    params = _as_dict(item.get("module_params"), "module_params")
    out = _as_dict(item.get("out_params"), "out_params")
    problems = feature.problems(params) + out_params_problems(out)
    if problems:
        raise ApiError(10001, "; ".join(problems))
    name = fallback_name if isinstance(fallback_name, str) else None
    return Step(name, str(module), dict(params), dict(out))


def _check_controlnets(entries: Any, known_uid: Callable[[str], bool]) -> None:
    if not isinstance(entries, list) or not entries:
        raise ApiError(10001, "img2anime needs cn_configs: a list of {image_uid, cn_name}")
    for entry in entries:
        if not isinstance(entry, dict):
            raise ApiError(10001, "each cn_configs entry must be an object")
        uid = entry.get("image_uid")
        if not isinstance(uid, str) or not known_uid(uid):
            raise ApiError(10001, f"cn_configs image_uid={uid!r} is not an uploaded file")
        if entry.get("cn_name") not in CONTROLNETS:
            raise ApiError(
                10001,
                f"cn_name={entry.get('cn_name')!r} is not allowed: expected one of "
                + ", ".join(CONTROLNETS),
            )


#: Modules the vendor allows only as the last step of a workflow ("Enlarge and Background
#: remove can only be the last step of workflow").
LAST_ONLY = ("enlarge", "enlarge3", "matting")


def _check_workflow(steps: list[Step]) -> None:
    """The vendor's workflow rules for a multi-step jconfig (a single step passes)."""
    if len(steps) < 2:
        return
    for index, step in enumerate(steps[:-1], start=1):
        if step.out_params:
            raise ApiError(
                10013,
                f"step {index} ({step.module}) has out_params: the out_params should be added "
                "to the last step of the workflow",
            )
        if step.module in LAST_ONLY:
            raise ApiError(
                10013,
                f"step {index} is {step.module}: Enlarge and Background remove can only be the "
                "last step of workflow",
            )


def parse(value: Any, *, known_uid: Callable[[str], bool]) -> ParsedJConfig:
    """Parse and validate a jconfig in any of its three shapes.

    Raises ApiError 10013 when it is not JSON and 10001 when it is not a valid config.
    """
    raw = load(value)
    config = raw.get("config")
    top_name = raw.get("name", raw.get("job"))
    if isinstance(config, dict):
        steps = [_step(config, top_name)]
        cn_sources = [raw.get("cn_configs")]
    elif isinstance(config, list) and config:
        steps = []
        cn_sources = []
        for item in config:
            if not isinstance(item, dict) or not isinstance(item.get("config"), dict):
                raise ApiError(10001, "each item of a multi-step config needs a config object")
            steps.append(_step(item["config"], item.get("name", item.get("job"))))
            cn_sources.append(item.get("cn_configs", raw.get("cn_configs")))
    else:
        raise ApiError(10001, "jconfig needs a config object (or a non-empty list of steps)")
    _check_workflow(steps)
    for step, cn in zip(steps, cn_sources):
        if step.module == "img2anime":
            _check_controlnets(cn, known_uid)
    name = top_name if isinstance(top_name, str) and top_name else (steps[0].name or steps[0].module)
    return ParsedJConfig(raw, tuple(steps), name)
