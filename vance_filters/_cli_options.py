"""Command-line options generated from the feature filters' dataclasses.

:func:`filter_options` turns each field of a filter into an :class:`_Option`
(flag, type, metavar, help text): the range or choices come from the documented
feature table (``_features.Param``), the default from the dataclass field and
the description from the class docstring. :func:`_add_option` adds one to an
argparse group. The CLI builds every feature subcommand from these.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

from . import filters as _filters
from ._features import (
    ANIME_STRENGTH,
    ANIME_STYLES,
    CONTROLNETS,
    DPI_RANGE,
    FEATURES,
    OUTPUT_FORMATS,
    QUALITY_RANGE,
    Param,
)

__all__ = ["filter_options"]

#: The output options every feature filter takes (grouped apart in --help).
_OUTPUT_OPTIONS = ("format", "quality", "dpi", "background")
#: Flags of the batch options; a filter field with the same name gets another flag.
_BATCH_FLAGS = frozenset(
    {
        "--output-dir",
        "--concurrency",
        "--overwrite",
        "--max-credits",
        "--on-limit",
        "--json",
        "--quiet",
    }
)
#: Readable flags for fields whose own name is taken by a batch option.
_RENAMED_FLAGS = {("ToAnime", "overwrite"): "--prompt-overwrite"}


def _colour(text: str) -> tuple[int, int, int] | str:
    """``R,G,B`` becomes a tuple; anything else is left for the filter to judge."""
    parts = text.split(",")
    if len(parts) == 3:
        try:
            return (int(parts[0]), int(parts[1]), int(parts[2]))
        except ValueError:
            pass
    return text


@dataclass(frozen=True)
class _Option:
    """One command-line option derived from a filter's dataclass field."""

    name: str  # the dataclass field
    kind: str  # "bool", "int", "float", "str", "list", "colour"
    default: Any  # the dataclass default (None: computed or unset)
    allowed: str  # the documented range or set, for --help ("" when free)
    doc: str  # the field's description from the class docstring
    metavar: str | None = None
    owner: str = ""  # the filter class's name
    default_text: str = ""  # shown when the default is None

    @property
    def flag(self) -> str:
        flag = "--" + self.name.replace("_", "-")
        if flag in _BATCH_FLAGS:
            return _RENAMED_FLAGS.get((self.owner, self.name), f"--param-{flag[2:]}")
        return flag

    def help(self) -> str:
        parts = []
        if self.allowed and self.allowed not in self.doc:
            parts.append(self.allowed)
        if self.default is not None and not (self.kind == "str" and self.default == ""):
            shown = self.default
            if isinstance(shown, tuple):
                shown = " ".join(map(str, shown))
            parts.append(f"default: {shown}")
        elif self.kind == "str" and self.default == "":
            parts.append("default: empty")
        elif self.default_text:
            parts.append(f"default: {self.default_text}")
        text = self.doc
        if parts:
            text = f"{text} [{'; '.join(parts)}]" if text else "; ".join(parts)
        return text.replace("%", "%%")


def _docstring_params(cls: type) -> dict[str, str]:
    """Field descriptions from the numpydoc ``Parameters`` sections of ``cls`` and its bases."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        doc = inspect.cleandoc(klass.__dict__.get("__doc__") or "")
        match = re.search(
            r"^Parameters\n-+\n(.*?)(?:^\w[\w ]*\n-+\n|\Z)", doc, re.DOTALL | re.MULTILINE
        )
        if not match:
            continue
        names: list[str] = []
        lines: dict[str, list[str]] = {}
        for line in match.group(1).splitlines():
            if line and not line[0].isspace():
                names = [n.strip() for n in line.split(":")[0].split(",")]
                for n in names:
                    lines[n] = []
            elif names:
                for n in names:
                    lines[n].append(line.strip())
        for n, text in lines.items():
            found[n] = " ".join(t for t in text if t)
    return found


_RANGE_SENTENCE = re.compile(r"^\s*(?:[\d.]+\s*-\s*[\d.]+)?\s*[,;]?\s*(?:[Dd]efault\b.*)?$")


def _clean_doc(text: str, default: Any) -> str:
    """The description without the sentences that only restate the range or default."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text).replace("``", "").replace("`", "")
    sentences = re.split(r"(?<=\.)\s+(?=[A-Z0-9])", text)
    kept = []
    for sentence in sentences:
        if default is not None and _RANGE_SENTENCE.match(sentence):
            continue
        if default is not None:
            sentence = re.sub(r"\s*[Dd]efault [^\s]+\.?$", "", sentence)
        kept.append(sentence)
    return " ".join(s for s in kept if s.strip()).strip()


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _param_allowed(p: Param) -> str:
    if p.choices is not None:
        return "one of " + ", ".join(str(c) for c in p.choices)
    if p.kind in (int, float) and p.low is not None and p.high is not None:
        return p.doc or f"{_number(p.low)}-{_number(p.high)}"
    if p.kind is str:
        limits = []
        if p.max_len is not None:
            limits.append(f"at most {p.max_len} characters")
        if p.ascii_only:
            limits.append("English (ASCII) only")
        return ", ".join(limits)
    return ""


def _special_allowed(cls: type, name: str) -> str | None:
    """Sets that depend on another field, derived from the feature table."""
    if cls is _filters.UpscaleAnime:
        models = getattr(cls, "MODELS", {})
        if name == "model":
            return "one of " + ", ".join(models)
        if name == "scale":
            return "; ".join(
                f"{', '.join(map(str, scales))} with {model}"
                for model, (_, scales) in models.items()
            )
    if cls is _filters.ToAnime:
        if name == "style":
            return "one of " + ", ".join(ANIME_STYLES)
        if name == "look":
            return "one of " + ", ".join(ANIME_STRENGTH)
        if name == "controlnets":
            return "one or more of " + ", ".join(CONTROLNETS)
    return None


def _output_allowed(name: str) -> tuple[str, str, str, str]:
    """(kind, allowed, metavar, default text) of the output options every feature takes."""
    if name == "format":
        return (
            "str",
            "one of " + ", ".join(OUTPUT_FORMATS),
            "{" + ",".join(OUTPUT_FORMATS) + "}",
            "the input's format (PNG for a cut-out)",
        )
    if name == "quality":
        return "int", f"JPEG quality {QUALITY_RANGE[0]}-{QUALITY_RANGE[1]}", "Q", "the service's"
    if name == "dpi":
        return "int", f"{DPI_RANGE[0]}-{DPI_RANGE[1]}", "DPI", "the input's"
    return "colour", "#rrggbb, a CSS colour name or R,G,B", "COLOUR", "none (keep transparency)"


def _kind_of(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = args[0] if len(args) == 1 else annotation
    origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        return "list"
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    return "str"


def filter_options(cls: type[_filters.FeatureFilter]) -> list[_Option]:
    """The command-line options of a feature filter, derived from its fields.

    Each option's range comes from the documented feature table
    (``_features.Param``), its default from the dataclass field and its text
    from the class docstring.

    Examples
    --------
    >>> [o.flag for o in filter_options(_filters.Colorize)][:1]
    ['--render-factor']
    """
    hints = typing.get_type_hints(cls)
    docs = _docstring_params(cls)
    feature = FEATURES[cls.module]
    params = {p.name: p for p in feature.params}
    options: list[_Option] = []
    output: list[_Option] = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else None
        doc = _clean_doc(docs.get(f.name, ""), default)
        if f.name in _OUTPUT_OPTIONS:
            out_kind, out_allowed, out_metavar, shown = _output_allowed(f.name)
            output.append(
                _Option(f.name, out_kind, default, out_allowed, doc, out_metavar, cls.__name__, shown)
            )
            continue
        kind = _kind_of(hints.get(f.name, str))
        param = params.get(f.name)
        special = _special_allowed(cls, f.name)
        metavar: str | None = None
        if special is not None:
            allowed = special
        elif param is not None and param.kind.__name__ == kind:
            allowed = _param_allowed(param)
            if param.choices is not None:
                metavar = "{" + ",".join(str(c) for c in param.choices) + "}"
        else:
            allowed = ""
        if metavar is None and kind in ("int", "float"):
            metavar = "N" if kind == "int" else "X"
        elif metavar is None and kind in ("str", "list"):
            metavar = f.name.upper()
        if allowed.startswith("one of ") and set(re.findall(r"\w+", doc)) <= set(
            re.findall(r"\w+", allowed)
        ):
            doc = ""  # the description only lists the choices
        options.append(_Option(f.name, kind, default, allowed, doc, metavar, cls.__name__))
    return options + output


def _add_option(group: argparse._ArgumentGroup, option: _Option) -> None:
    common: dict[str, Any] = {
        "dest": option.name,
        "default": argparse.SUPPRESS,
        "help": option.help(),
    }
    if option.kind == "bool":
        group.add_argument(option.flag, action=argparse.BooleanOptionalAction, **common)
        return
    types_ = {"int": int, "float": float, "str": str, "list": str, "colour": _colour}
    common["type"] = types_[option.kind]
    common["metavar"] = option.metavar
    if option.kind == "list":
        common["nargs"] = "+"
    group.add_argument(option.flag, **common)
