"""Reading scenarios: built-in names or YAML files, overrides, and errors people can act on.

Scenario files are data. They are read with YAML's safe loader only (no tags,
no objects, nothing evaluated), and every error names the file, the field and,
where the YAML says it, the line.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import os
import re
from collections.abc import Collection
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from scoresim.scenario.schema import Scenario
from scoresim.scenario.timeline import as_date, by_position

M = TypeVar("M", bound=BaseModel)

BUILTIN_PACKAGE = "scoresim.scenario.builtin"
# Limits far beyond any real scenario (pilot-city: 10 KB, about 300 values, 5 levels
# deep), there so that a malformed or hostile file fails within a second or two
# instead of hanging: PyYAML's pure-Python parser (the only one that can stop at a
# depth limit) reads some 20,000 values or 1 MB of plain text a second.
MAX_FILE_BYTES = 1024 * 1024
MAX_VALUES = 20_000
MAX_DEPTH = 32
# a dotted scenario path, as --set, sweeps and --param take it
DOTTED_PATH = re.compile(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*")


class ScenarioError(ValueError):
    """Bad scenario input: the message is meant for the person who wrote it.

    Field names and values come from the input, so they are shortened and their
    control characters escaped: a hostile file cannot flood or drive the terminal.
    """

    def __init__(self, source: str, message: str, field: str | None = None,
                 line: int | None = None):
        source, message = _printable(source, 300, keep_end=True), _printable(message, 500)
        field = _printable(field, 80) if field else field
        self.source, self.field, self.line, self.detail = source, field, line, message
        where = source
        if line is not None:
            where += f", line {line}"
        if field:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")

    def __reduce__(self):
        # rebuilt from its parts, so it survives pickling (sweeps run on Dask workers)
        return (self.__class__, (self.source, self.detail, self.field, self.line))


def _printable(text: str, limit: int, keep_end: bool = False) -> str:
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    if len(text) <= limit:
        return text
    return "..." + text[-(limit - 3):] if keep_end else text[: limit - 3] + "..."


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
    """Parse YAML safely, keeping the line of every key so errors can point at it.

    Only YAML's safe constructors run: a tag such as !!python/object is an error,
    never executed. The parsed tree is checked before anything is built from it,
    against what would make later steps hang or crash: aliases that refer to
    themselves or expand past MAX_VALUES values ("billion laughs"), nesting deeper
    than MAX_DEPTH, and duplicate keys (YAML would silently keep the last one, so
    a pasted block could override a value without anyone noticing).

    Other loaders (sweeps, calibration targets) use this too, so that every input
    file is read and reported the same way.
    """
    loader = None
    try:
        loader = _DepthLimitedLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines = _check_nodes(node, source)
        data = loader.construct_document(node)
    except ScenarioError:
        raise
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
        code = f" (character {exc.character:#x})" if isinstance(exc.character, int) else ""
        raise ScenarioError(source, f"not valid YAML: {exc.reason}{code}", line=line) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if isinstance(exc, _TooDeep):
            raise ScenarioError(source, problem, line=line) from None
        raise ScenarioError(source, f"not valid YAML: {problem}", line=line) from None
    except RecursionError:
        raise ScenarioError(source, f"nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeError, OverflowError) as exc:
        raise ScenarioError(source, f"not valid YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines


class _TooDeep(yaml.MarkedYAMLError):
    pass


_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
#: YAML 1.2's core schema for numbers, plus `_` between digits (1_000_000), which files
#: written for YAML 1.1 use. YAML 1.1, PyYAML's default, reads `1e-5` and `2e-5` as text
#: (its floats need a dot) and `010` as 8, `1:30` as 90.
_INT_12 = re.compile(r"^(?:[-+]?[0-9]+(?:_[0-9]+)*|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_12 = re.compile(r"""^(?:[-+]?(?:\.[0-9]+(?:_[0-9]+)*
    |[0-9]+(?:_[0-9]+)*(?:\.(?:[0-9]+(?:_[0-9]+)*)?)?)(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X)


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with numbers read as YAML 1.2 reads them.

    Every scenario, target, sweep (designs included) and `--set` value goes
    through `read_yaml`, hence through this loader: `rate: 1e-5` is the float
    0.00001, as any YAML 1.2 reader and JSON say, not the text '1e-5'.
    """

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:  # type: ignore[override]
        text = self.construct_scalar(node).replace("_", "")
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        if digits.startswith("0o"):
            return sign * int(digits[2:], 8)
        if digits.startswith("0x"):
            return sign * int(digits[2:], 16)
        return sign * int(digits, 10)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:  # type: ignore[override]
        text = self.construct_scalar(node).replace("_", "").lower()
        if text.endswith(".inf"):
            return -math.inf if text.startswith("-") else math.inf
        if text == ".nan":
            return math.nan
        return float(text)


Yaml12Loader.add_implicit_resolver(_INT, _INT_12, list("-+0123456789"))
Yaml12Loader.add_implicit_resolver(_FLOAT, _FLOAT_12, list("-+0123456789."))
Yaml12Loader.add_constructor(_INT, Yaml12Loader.construct_yaml_int)
Yaml12Loader.add_constructor(_FLOAT, Yaml12Loader.construct_yaml_float)


class _DepthLimitedLoader(Yaml12Loader):
    """The safe loader, stopping as soon as nesting passes MAX_DEPTH or values MAX_VALUES.

    PyYAML's scanner does work proportional to the nesting depth for every
    token, so a file of deeply nested brackets costs time quadratic in its
    size (80 KB of 400-deep lists took 9 s): composition stops at the limit
    before the rest of the file is scanned.
    """

    _depth = 0
    _nodes = 0

    def compose_node(self, parent, index):  # type: ignore[override]
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH + 1:
                raise _TooDeep(problem=f"nested deeper than {MAX_DEPTH} levels",
                               problem_mark=self.peek_event().start_mark)
            if self._nodes > MAX_VALUES:
                raise _TooDeep(problem=f"more than {MAX_VALUES:,} values; a scenario is far "
                               "smaller", problem_mark=self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_nodes(root: yaml.Node, source: str) -> dict[tuple, int]:
    """The line of every key path, walking aliases as often as they are used, without recursion."""
    lines: dict[tuple, int] = {}
    stack: list[tuple[yaml.Node, tuple]] = [(root, ())]
    visited = 0
    while stack:
        node, path = stack.pop()
        line = node.start_mark.line + 1
        visited += 1
        if visited > MAX_VALUES:
            raise ScenarioError(
                source, f"more than {MAX_VALUES:,} values once aliases are expanded; "
                "a scenario is far smaller (aliases nested in aliases?)", line=line,
            )
        if len(path) > MAX_DEPTH:
            raise ScenarioError(
                source, f"nested deeper than {MAX_DEPTH} levels (or an alias contains itself)",
                field=_dotted(path[:4]), line=line,
            )
        lines.setdefault(path, line)
        if isinstance(node, yaml.MappingNode):
            first_line: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    k = key.value
                    if key.tag != "tag:yaml.org,2002:merge":
                        here = key.start_mark.line + 1
                        if (key.tag, k) in first_line:
                            raise ScenarioError(
                                source,
                                f"duplicate key (first given on line {first_line[key.tag, k]})",
                                field=_dotted(path + (k,)), line=here,
                            )
                        first_line[key.tag, k] = here
                else:
                    k = f"<{key.id} as key>"
                lines[path + (k,)] = key.start_mark.line + 1
                stack.append((value, path + (k,)))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[path + (i,)] = item.start_mark.line + 1
                stack.append((item, path + (i,)))
    return lines


def parse_override(text: str) -> tuple[str, Any]:
    """`dotted.path=value` with value read as a YAML scalar, list or mapping."""
    if "=" not in text:
        raise ScenarioError("--set", f"expected dotted.path=value, got '{text}'")
    path, raw = text.split("=", 1)
    path = path.strip()
    if not DOTTED_PATH.fullmatch(path):
        raise ScenarioError("--set",
                            f"'{path}' is not a dotted path like scoring.points.jaywalking")
    value, _ = read_yaml(raw, f"--set {path}") if raw.strip() else (None, {})
    return path, value


def apply_overrides(data: dict, overrides: dict[str, Any], source: str = "--set") -> dict:
    data = copy.deepcopy(data)
    for path, value in overrides.items():
        named, why = by_position(data, path)  # timeline.<name>...: the entry of that name
        if why is not None:
            raise ScenarioError(source, f"cannot set '{path}': {why}")
        parts = named.split(".")
        node = data
        rest = _dotted_key(node, parts)
        if rest is not None:  # e.g. timeline.0.set.behaviours.x.rate: set's key is dotted
            node, parts = rest
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


def _dotted_key(node: Any, parts: list[str]) -> tuple[dict, list[str]] | None:
    """timeline.N.set.<dotted path>: a change's `set:` maps dotted paths to values, so the
    rest of the path after `set` is one key of that mapping (new or not)."""
    if len(parts) < 4 or parts[0] != "timeline" or parts[2] != "set" or not parts[1].isdigit():
        return None
    timeline = node.get("timeline") if isinstance(node, dict) else None
    if not isinstance(timeline, list) or int(parts[1]) >= len(timeline):
        return None
    change = timeline[int(parts[1])]
    if not isinstance(change, dict) or not isinstance(change.get("set"), dict):
        return None
    return change["set"], [".".join(parts[3:])]


def validate(data: Any, source: str, lines: dict[tuple, int] | None = None,
             overridden: Collection[str] = ()) -> Scenario:
    """A Scenario from parsed data, or a ScenarioError naming file, field and line."""
    return validate_model(Scenario, data, source, lines, overridden, what="scenario")


def validate_model(model: type[M], data: Any, source: str, lines: dict[tuple, int] | None = None,
                   overridden: Collection[str] = (), what: str = "scenario") -> M:
    """Validate parsed input against a schema model, with errors people can act on.

    Shared by every loader (scenarios, sweeps, targets) so all input errors read
    alike. `overridden` lists the dotted paths set by overrides: an error there
    says so and names no line, since the file's line would point at the wrong value.
    """
    lines = lines or {}
    if not isinstance(data, dict):
        raise ScenarioError(source, f"expected a mapping of {what} fields at the top level",
                            line=1 if lines else None)
    check_tree(data, source, lines)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source, lines, overridden) from None
    except RecursionError:
        raise ScenarioError(source, f"nested deeper than {MAX_DEPTH} levels") from None


def validation_error(exc: ValidationError, source: str, lines: dict[tuple, int] | None = None,
                     overridden: Collection[str] = ()) -> ScenarioError:
    """The first of pydantic's errors, phrased for the author of the file."""
    lines = lines or {}
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    m = re.match(r"^([A-Za-z0-9_.\-]+): (.*)$", msg, flags=re.DOTALL)
    if m and not loc:
        field_path = m.group(1)
        msg = m.group(2)
        loc = tuple(int(p) if p.isdigit() else p for p in field_path.split("."))
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif "input" in err and err["type"].endswith("_type"):
        msg = f"{msg} (got {type(err['input']).__name__} {_short(err['input'])})"
    more = len(exc.errors()) - 1
    if more:
        msg += f" (and {more} more error{'s' if more > 1 else ''})"
    line = _line_for(loc, lines)
    dotted = tuple(str(p) for p in loc)
    for path in overridden:
        parts = tuple(path.split("."))
        if dotted[: len(parts)] == parts:
            msg += f" (value set by an override of '{path}')"
            line = None
            break
    return ScenarioError(source, msg, field=_dotted(loc), line=line)


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except RecursionError:
        text = f"<deeply nested {type(value).__name__}>"
    return text if len(text) <= 40 else text[:37] + "..."


def _dotted(path: tuple) -> str | None:
    return ".".join(str(p) for p in path) or None


def _line_for(loc: tuple, lines: dict[tuple, int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
        # a key that is itself a dotted path (a timeline's set: behaviours.x.rate)
        for k in range(n - 1):
            joined = loc[:k] + (".".join(str(p) for p in loc[k:n]),)
            if joined in lines:
                return lines[joined]
    return None


def check_tree(data: Any, source: str, lines: dict[tuple, int] | None = None) -> None:
    """Refuse what the schema cannot see or should never get: non-text keys, NaN and
    infinities, nesting past MAX_DEPTH (a dict that contains itself), more than
    MAX_VALUES values. Iterative, so no input can exhaust the stack."""
    lines = lines or {}
    stack: list[tuple[Any, tuple]] = [(data, ())]
    visited = 0
    while stack:
        node, path = stack.pop()
        visited += 1
        if visited > MAX_VALUES:
            raise ScenarioError(source, f"more than {MAX_VALUES:,} values; a scenario is far "
                                "smaller")
        if len(path) > MAX_DEPTH:
            raise ScenarioError(source, f"nested deeper than {MAX_DEPTH} levels (or contains "
                                "itself)", field=_dotted(path[:4]))
        if isinstance(node, float) and not math.isfinite(node):
            raise ScenarioError(source, f"expected a finite number, got {node}",
                                field=_dotted(path), line=_line_for(path, lines))
        if isinstance(node, dict):
            for k, v in node.items():
                if not isinstance(k, str):
                    raise ScenarioError(source, f"field names must be text, got {_short(k)}",
                                        field=_dotted(path), line=_line_for(path, lines))
                stack.append((v, path + (k,)))
        elif isinstance(node, list | tuple):
            stack.extend((v, path + (i,)) for i, v in enumerate(node))


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
        check_tree(data, source)  # before overrides deep-copy it
    else:
        text, source = _read_source(str(spec))
        data, lines = read_yaml(text, source)
    if overrides:
        if not isinstance(data, dict):
            raise ScenarioError(source, "expected a mapping of scenario fields at the top level",
                                line=1 if lines else None)
        data = apply_overrides(data, overrides)
        if "days" in overrides:
            data = _cut_timeline(data)
    # an override by name (timeline.<name>...) is where pydantic's errors put it by position
    overridden = [by_position(data, p)[0] for p in overrides]
    return validate(data, source, lines, overridden=overridden)


def _cut_timeline(data: dict) -> dict:
    """A run shortened by an override of `days` leaves out the changes that would start
    after its end (a scenario's own file must still have every change within its days)."""
    timeline, days = data.get("timeline"), data.get("days")
    if not isinstance(timeline, list) or not isinstance(days, int):
        return data
    origin = as_date(data.get("origin"))

    def start(change: Any) -> int | None:
        if not isinstance(change, dict):
            return None
        if isinstance(change.get("day"), int):
            return change["day"]
        when = as_date(change.get("date"))
        if isinstance(when, dt.date) and isinstance(origin, dt.date):
            return (when - origin).days
        return None

    kept = [c for c in timeline if (d := start(c)) is None or d < days]
    return {**data, "timeline": kept} if len(kept) != len(timeline) else data
def names_a_file(spec: str, builtins: Collection[str] | None = None,
                 base: Path | None = None) -> bool:
    """Whether an argument means a file rather than a built-in name (scenarios, targets).

    A built-in name wins, unless the argument has a path separator or a .yaml/.yml
    suffix, or is an existing regular file: `scoresim run reference` runs the
    built-in even where a folder ./reference exists, `./reference` or
    `reference.yaml` reads a file, and a file named `reference` in the current
    folder is read as that file (it is what the user pointed at). Anything else
    that exists (a directory, a FIFO) is taken as meant for a file, so that
    reading it says what it is. `base` is the folder relative names are in.
    """
    builtins = builtin_names() if builtins is None else builtins
    separators = {"/"} | {s for s in (os.sep, os.altsep) if s}
    if Path(spec).suffix in (".yaml", ".yml") or any(s in spec for s in separators):
        return True
    path = Path(spec) if base is None else base / spec
    try:
        return path.is_file() or (spec not in builtins and path.exists())
    except OSError:
        return False


def _read_source(spec: str) -> tuple[str, str]:
    if not names_a_file(spec):
        return builtin_text(spec), f"built-in scenario '{spec}'"
    return read_text_file(spec, "scenario file"), spec


def read_text_file(spec: str | Path, what: str = "file", max_bytes: int = MAX_FILE_BYTES) -> str:
    """The text of a small UTF-8 input file, or a ScenarioError saying why not."""
    spec = str(spec)
    path = Path(spec)
    try:
        if path.is_dir():
            raise ScenarioError(spec, f"is a directory, not a {what}")
        if not path.exists():
            raise ScenarioError(spec, f"no such {what}")
        if not path.is_file():
            raise ScenarioError(spec, f"not a regular file (a {what} is a YAML file)")
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)  # bounded even if the file grows meanwhile
        if len(raw) > max_bytes:
            raise ScenarioError(spec, f"file is larger than {human_size(max_bytes)}; "
                                f"a {what} is a few KB")
    except OSError as exc:
        raise ScenarioError(spec, f"cannot read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ScenarioError(spec, f"not UTF-8 text (byte {exc.start})", line=line) from None


def human_size(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n / 2**10:g} KiB"


def resolved_yaml(scenario: Scenario) -> str:
    """The scenario with every default filled in, as YAML that `scoresim run` accepts."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
