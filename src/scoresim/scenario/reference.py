"""The scenario reference: every field of the schema, with its type, bounds, default and meaning.

Generated from the schema itself (schema.py: each field's annotation, its
bounds and its `description`), so it cannot drift from what the loader
accepts. `scoresim schema [SECTION]` prints it; the docs site includes it
(docs/scenario-reference.md is written by `reference_markdown()`).

A section is a dotted path through the schema, written as in a scenario file:
`responses`, `responses.chilling`, `channels.<name>` (any name: every channel
has the same fields), `sanctions.dishonest_list`.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from scoresim.scenario.schema import Scenario


@dataclass(frozen=True)
class FieldDoc:
    """One field of one section, as the reference shows it."""

    section: str
    name: str
    type: str
    default: str
    meaning: str
    required: bool


def _with_bounds(annotation: Any, metadata: list[Any]) -> str:
    """A type and its bounds; a text with a name pattern is a `name` (the schema's Name)."""
    if annotation is str and any(getattr(m, "pattern", None) for m in metadata):
        return "name"
    bounds = _bounds(metadata, "characters" if annotation is str else "items")
    return type_text(annotation) + (f" ({bounds})" if bounds else "")


def _bounds(metadata: list[Any], unit: str = "items") -> str:
    lo = hi = ""
    n_lo = n_hi = None
    for m in metadata:
        if isinstance(m, Ge):
            lo = f">= {_num(m.ge)}"
        elif isinstance(m, Gt):
            lo = f"> {_num(m.gt)}"
        elif isinstance(m, Le):
            hi = f"<= {_num(m.le)}"
        elif isinstance(m, Lt):
            hi = f"< {_num(m.lt)}"
        elif isinstance(m, MinLen):
            n_lo = m.min_length
        elif isinstance(m, MaxLen):
            n_hi = m.max_length
    parts = [p for p in (lo, hi) if p]
    if n_lo is not None or n_hi is not None:
        parts.append(f"{n_lo or 0} to {n_hi} {unit}" if n_hi is not None else
                     f"at least {n_lo} {unit}")
    return ", ".join(parts)


def _num(x: Any) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        x = int(x)
    if isinstance(x, int) and abs(x) >= 10**6:
        for base in (10, 2):
            e = round(__import__("math").log(abs(x), base))
            if base**e == abs(x):
                return f"{'-' if x < 0 else ''}{base}^{e}"
            if base**e - 1 == abs(x):
                return f"{base}^{e}-1"
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def type_text(annotation: Any) -> str:
    """A field's type in words a scenario author reads: `float (>= 0, <= 1)`, `list of ...`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        base, *meta = args
        metadata: list[Any] = []
        for m in meta:
            metadata.extend(m.metadata if isinstance(m, FieldInfo) else [m])
        return _with_bounds(base, metadata)
    if origin in (typing.Union, types.UnionType):
        kinds = [type_text(a) for a in args if a is not type(None)]
        text = " or ".join(kinds)
        return f"{text} or null" if type(None) in args else text
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (list, tuple):
        return f"list of {type_text(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of name to {type_text(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    if annotation is typing.Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def _default(info: FieldInfo) -> tuple[str, bool]:
    if info.is_required():
        return "required", True
    if info.default_factory is not None:
        value = info.default_factory()
    else:
        value = info.default
    if value is PydanticUndefined:
        return "required", True
    if value is None:
        return "null", False
    if isinstance(value, bool):
        return str(value).lower(), False
    if isinstance(value, BaseModel):
        return "(its defaults)", False
    if isinstance(value, dict | list) and not value:
        return "{}" if isinstance(value, dict) else "[]", False
    if isinstance(value, float | int):
        return _num(value), False
    if value == "":
        return '""', False
    return str(value), False


def _models_in(annotation: Any) -> list[tuple[str, type[BaseModel]]]:
    """The models a field holds, with the path step to reach one: '', '<name>' or '[]'."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _models_in(args[0])
    if origin in (typing.Union, types.UnionType):
        return [m for a in args for m in _models_in(a)]
    if origin is dict:
        return [(".<name>" + step, m) for step, m in _models_in(args[1])]
    if origin in (list, tuple) and args:
        return [("[]" + step, m) for step, m in _models_in(args[0])]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [("", annotation)]
    return []


def sections(root: type[BaseModel] = Scenario) -> dict[str, type[BaseModel]]:
    """Every section of the schema by its path, in the order a scenario file reads."""
    out: dict[str, type[BaseModel]] = {"": root}
    queue = [("", root)]
    while queue:
        path, model = queue.pop(0)
        for name, info in model.model_fields.items():
            for step, sub in _models_in(info.annotation):
                key = f"{path}.{name}{step}".lstrip(".")
                if key not in out:
                    out[key] = sub
                    queue.append((key, sub))
    return out


def fields(section: str = "", root: type[BaseModel] = Scenario) -> list[FieldDoc]:
    """The fields of one section (the top level for '')."""
    model = find_section(section, root)
    rows = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        text = _with_bounds(annotation, list(info.metadata))
        default, required = _default(info)
        meaning = (info.description or "").strip()
        held = _models_in(annotation)
        if not meaning and held and held[0][1].__doc__:
            meaning = " ".join(held[0][1].__doc__.split()).split(". ")[0].rstrip(".") + "."
        if name == "source" and not meaning:
            meaning = "Where the values come from: a source in docs/facts.md, or 'assumption'."
        rows.append(FieldDoc(section, name, text, default, meaning, required))
    return rows


def find_section(section: str, root: type[BaseModel] = Scenario) -> type[BaseModel]:
    """The model of a section path; names of mapping entries may be given as written."""
    known = sections(root)
    if section in known:
        return known[section]
    # `channels.street_camera` means `channels.<name>`
    parts = section.split(".")
    for key, model in known.items():
        kparts = key.split(".")
        if len(kparts) == len(parts) and all(
                k == p or k in ("<name>", "<name>[]") or k.rstrip("[]") == p.rstrip("[]")
                for k, p in zip(kparts, parts, strict=True)):
            return model
    raise KeyError(section)


def section_markdown(section: str, root: type[BaseModel] = Scenario, level: int = 3) -> str:
    """One section as Markdown: its heading, what it is for, a table of its fields."""
    model = find_section(section, root)
    title = section or "the scenario (top level)"
    doc = " ".join((model.__doc__ or "").split())
    lines = [f"{'#' * level} `{title}`" if section else f"{'#' * level} {title}", ""]
    if doc:
        lines += [doc, ""]
    lines += ["| field | type | default | meaning |", "| --- | --- | --- | --- |"]
    for f in fields(section, root):
        lines.append(f"| `{f.name}` | {_md(f.type)} | {_md(f.default)} | {_md(f.meaning)} |")
    return "\n".join(lines) + "\n"


def section_text(section: str, root: type[BaseModel] = Scenario, width: int = 80) -> str:
    """One section as plain text for a terminal: each field, its type and default, then
    its meaning, indented and wrapped to `width`."""
    import textwrap

    model = find_section(section, root)
    doc = " ".join((model.__doc__ or "").split())
    out = textwrap.wrap(f"{section or 'scenario (top level)'}: {doc}".rstrip(": "), width)
    out.append("")
    subsections = [k for k in sections(root) if k != section and
                   k.startswith(section + ".") if section] if section else []
    for f in fields(section, root):
        out += textwrap.wrap(f"{f.name}: {f.type}; default {f.default}", width,
                             initial_indent="  ", subsequent_indent="    ")
        if f.meaning:
            out += textwrap.wrap(f.meaning, width, initial_indent="      ",
                                 subsequent_indent="      ")
    if subsections:
        out += [""] + textwrap.wrap("sections inside it: " + ", ".join(subsections), width,
                                    initial_indent="  ", subsequent_indent="    ")
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;") or " "


def reference_markdown(root: type[BaseModel] = Scenario) -> str:
    """The whole scenario reference, every section, as Markdown."""
    parts = [
        "# Scenario reference\n",
        "Every field a scenario file may hold, generated from the schema "
        "(`src/scoresim/scenario/schema.py`) by `scoresim schema`; "
        "`scoresim schema SECTION` prints one section. A scenario is strict and "
        "closed: an unknown field, a string where a number belongs or a value out of "
        "its bounds is refused with the file, the field and the line. Names (of "
        "behaviours, channels, grades, levels ...) start with a letter and hold "
        "letters, digits, `_` and `-`, at most 64 characters. `<name>` in a section "
        "stands for any such name. Every `source` field says where its section's values "
        "come from ([the facts](facts.md), [the reference model](reference-model.md)) or "
        "that they are an assumption.\n",
    ]
    for section in sections(root):
        parts.append(section_markdown(section, root, level=2 if not section else 3))
    return "\n".join(parts)
