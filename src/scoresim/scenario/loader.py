"""Reading scenarios: built-in names or YAML files, overrides, and errors people can act on.

Scenario files are data. They are read with YAML's safe loader only (no tags,
no objects, nothing evaluated), and every error names the file, the field and,
where the YAML says it, the line.
"""

from __future__ import annotations

import copy
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from scoresim.scenario.schema import Scenario

BUILTIN_PACKAGE = "scoresim.scenario.builtin"
MAX_FILE_BYTES = 10 * 1024 * 1024


class ScenarioError(ValueError):
    """Bad scenario input: the message is meant for the person who wrote it."""

    def __init__(self, source: str, message: str, field: str | None = None, line: int | None = None):
        self.source, self.field, self.line, self.detail = source, field, line, message
        where = source
        if line is not None:
            where += f", line {line}"
        if field:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


def builtin_names() -> list[str]:
    files = resources.files(BUILTIN_PACKAGE).iterdir()
    return sorted(f.name[:-5] for f in files if f.name.endswith(".yaml"))


def builtin_text(name: str) -> str:
    if name not in builtin_names():
        raise ScenarioError(
            name, f"no such built-in scenario (known: {', '.join(builtin_names())})"
        )
    return resources.files(BUILTIN_PACKAGE).joinpath(f"{name}.yaml").read_text()


def read_yaml(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML safely, keeping the line of every key so errors can point at it."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(source, f"not valid YAML: {problem}", line=line) from None
    except (ValueError, RecursionError, UnicodeError) as exc:
        raise ScenarioError(source, f"not valid YAML: {exc}") from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _collect_lines(node, (), lines)
    return data, lines


def _collect_lines(node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else str(key)
            lines[path + (k,)] = key.start_mark.line + 1
            _collect_lines(value, path + (k,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[path + (i,)] = item.start_mark.line + 1
            _collect_lines(item, path + (i,), lines)


def parse_override(text: str) -> tuple[str, Any]:
    """`dotted.path=value` with value read as a YAML scalar, list or mapping."""
    if "=" not in text:
        raise ScenarioError("--set", f"expected dotted.path=value, got '{text}'")
    path, raw = text.split("=", 1)
    path = path.strip()
    if not re.fullmatch(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*", path):
        raise ScenarioError("--set", f"'{path}' is not a dotted path like scoring.points.jaywalking")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise ScenarioError("--set", f"value of '{path}' is not valid YAML: {raw!r}") from None
    return path, value


def apply_overrides(data: dict, overrides: dict[str, Any], source: str = "--set") -> dict:
    data = copy.deepcopy(data)
    for path, value in overrides.items():
        parts = path.split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            key: Any = int(part) if isinstance(node, list) and part.isdigit() else part
            try:
                nxt = node[key]
            except (KeyError, IndexError, TypeError):
                nxt = None
            if nxt is None:
                if isinstance(node, dict):
                    node[key] = nxt = {}
                else:
                    where = ".".join(parts[: i + 1])
                    raise ScenarioError(source, f"cannot set '{path}': '{where}' is not a mapping")
            node = nxt
        last: Any = parts[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise ScenarioError(source, f"cannot set '{path}': no list item {last}")
            last = int(last)
        elif not isinstance(node, dict):
            raise ScenarioError(source, f"cannot set '{path}': its parent is not a mapping")
        node[last] = value
    return data


def validate(data: Any, source: str, lines: dict[tuple, int] | None = None) -> Scenario:
    lines = lines or {}
    if not isinstance(data, dict):
        raise ScenarioError(source, "expected a mapping of scenario fields at the top level", line=1)
    _refuse_non_finite(data, (), source, lines)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        m = re.match(r"^([A-Za-z0-9_.\-]+): (.*)$", msg)
        if m and not loc:
            field_path = m.group(1)
            msg = m.group(2)
            loc = tuple(field_path.split("."))
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif "input" in err and err["type"].endswith("_type"):
            msg = f"{msg} (got {type(err['input']).__name__} {_short(err['input'])})"
        more = len(exc.errors()) - 1
        if more:
            msg += f" (and {more} more error{'s' if more > 1 else ''})"
        field = ".".join(str(p) for p in loc) or None
        return_line = _line_for(loc, lines)
        raise ScenarioError(source, msg, field=field, line=return_line) from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _line_for(loc: tuple, lines: dict[tuple, int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _refuse_non_finite(node: Any, path: tuple, source: str, lines: dict[tuple, int]) -> None:
    if isinstance(node, float) and not math.isfinite(node):
        field = ".".join(str(p) for p in path)
        raise ScenarioError(
            source, f"expected a finite number, got {node}", field=field, line=_line_for(path, lines)
        )
    if isinstance(node, dict):
        for k, v in node.items():
            if not isinstance(k, str):
                raise ScenarioError(
                    source,
                    f"field names must be text, got {_short(k)}",
                    field=".".join(str(p) for p in path) or None,
                    line=_line_for(path, lines),
                )
            _refuse_non_finite(v, path + (k,), source, lines)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _refuse_non_finite(v, path + (i,), source, lines)


def load_scenario(
    spec: str | Path | dict | Scenario, overrides: dict[str, Any] | None = None
) -> Scenario:
    """A built-in name, a YAML file, a dict or a Scenario, with dotted overrides applied."""
    overrides = overrides or {}
    if isinstance(spec, Scenario):
        if not overrides:
            return spec
        data, lines, source = spec.model_dump(mode="json"), {}, spec.name
    elif isinstance(spec, dict):
        data, lines, source = spec, {}, "<dict>"
    else:
        text, source = _read_source(str(spec))
        data, lines = read_yaml(text, source)
    if overrides:
        if not isinstance(data, dict):
            raise ScenarioError(source, "expected a mapping of scenario fields at the top level")
        data = apply_overrides(data, overrides)
        lines = {}  # overridden values have no line
    return validate(data, source, lines)


def _read_source(spec: str) -> tuple[str, str]:
    path = Path(spec)
    looks_like_file = path.suffix in (".yaml", ".yml") or "/" in spec or path.exists()
    if not looks_like_file:
        return builtin_text(spec), f"built-in scenario '{spec}'"
    if not path.is_file():
        raise ScenarioError(spec, "no such scenario file")
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioError(spec, f"file is larger than {MAX_FILE_BYTES // 2**20} MiB")
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(spec, f"cannot read: {exc.strerror}") from None
    try:
        return raw.decode("utf-8"), spec
    except UnicodeDecodeError as exc:
        raise ScenarioError(spec, f"not UTF-8 text (byte {exc.start})") from None


def resolved_yaml(scenario: Scenario) -> str:
    """The scenario with every default filled in, as YAML that `scoresim run` accepts."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
