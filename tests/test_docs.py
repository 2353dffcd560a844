"""The documentation is current and complete: generated pages, sources, the ODD description.

`mkdocs build --strict` (in .ci/run) catches broken links and references; these
tests catch what it cannot: a generated page that no longer matches the code,
a `source:` that points outside the repository, a submodel or scenario section
that docs/model.md does not describe, and text meant for no reader.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from scoresim.scenario.schema import Scenario

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))
import generate  # noqa: E402  (docs/generate.py)

ODD_ELEMENTS = ["Purpose and patterns", "Entities, state variables and scales",
                "Process overview and scheduling", "Design concepts", "Initialisation",
                "Input data", "Submodels"]
DESIGN_CONCEPTS = ["Basic principles", "Emergence", "Adaptation", "objectives", "Learning",
                   "Prediction", "Sensing", "Interaction", "Stochasticity", "Collectives",
                   "Observation"]


@pytest.mark.parametrize("page", sorted(generate.PAGES))
def test_generated_pages_are_current(page: str) -> None:
    assert (DOCS / page).read_text() == generate.PAGES[page]() + "\n", \
        f"docs/{page} is stale: python docs/generate.py"


def _sources(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "source" and isinstance(v, str):
                yield ".".join(map(str, path)), v
            else:
                yield from _sources(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _sources(v, path + (i,))


def _builtin_files() -> list[Path]:
    src = ROOT / "src" / "scoresim"
    return sorted([*src.glob("scenario/builtin/*.yaml"),
                   *src.glob("studies/targets_builtin/*.yaml")])


def test_every_source_points_into_the_repository() -> None:
    bad = []
    for path in _builtin_files():
        for where, text in _sources(yaml.safe_load(path.read_text())):
            if re.search(r"FACTS\.md|REFERENCE_MODEL\.md|shared/", text):
                bad.append(f"{path.name}: {where}: {text[:80]}")
            for page in re.findall(r"docs/[a-z\-]+\.md", text):
                if not (ROOT / page).is_file():
                    bad.append(f"{path.name}: {where}: {page} does not exist")
    assert not bad, "\n".join(bad)


def test_every_builtin_default_cites_a_source_or_says_assumption() -> None:
    """Sections with a source field in the built-in scenarios (not the reference, which
    cites its specification in its header) are never left empty."""
    empty = []
    for path in _builtin_files():
        if path.stem in ("reference",):
            continue
        for where, text in _sources(yaml.safe_load(path.read_text())):
            if not text.strip():
                empty.append(f"{path.name}: {where}")
    assert not empty, "\n".join(empty)


def test_the_model_page_covers_every_odd_element() -> None:
    text = (DOCS / "model.md").read_text()
    headings = re.findall(r"^## \d\. (.+)$", text, re.M)
    assert headings == ODD_ELEMENTS
    concepts = text[text.index("## 4. Design concepts"):text.index("## 5.")]
    missing = [c for c in DESIGN_CONCEPTS if f"**{c}" not in concepts and c not in concepts]
    assert not missing, missing


def test_every_submodel_names_its_keys_and_its_source() -> None:
    text = (DOCS / "model.md").read_text()
    body = text[text.index("## 7. Submodels"):text.index("## References")]
    parts = re.split(r"^### ", body, flags=re.M)[1:]
    assert len(parts) >= 15
    for part in parts:
        title = part.splitlines()[0]
        assert "**Keys:**" in part, title
        assert "**Source:**" in part or "**What it does:**" in part and title == "Metrics", title
        if title != "Metrics":
            src = part[part.index("**Source:**"):]
            assert ("facts" in src or "assumption" in src or "reference model" in src
                    or "fiction" in src), title


def test_every_scenario_section_is_a_submodel_of_the_model_page() -> None:
    """A new top-level section of the schema needs its place in docs/model.md."""
    text = (DOCS / "model.md").read_text()
    keys = " ".join(re.findall(r"\*\*Keys:\*\*(.*?)(?=\n- \*\*)", text, re.S))
    plain = {"name", "description", "seed", "agents", "days", "records", "records_sample"}
    sections = [f for f in Scenario.model_fields if f not in plain]
    missing = [f for f in sections if f"`{f}" not in keys and f"{f}." not in keys]
    assert not missing, f"docs/model.md's submodels do not name: {missing}"


def test_no_text_meant_for_no_reader() -> None:
    pages = [*DOCS.glob("*.md"), ROOT / "README.md", ROOT / "BENCHMARKS.md"]
    bad = []
    for page in pages:
        text = page.read_text()
        for pattern in (r"PYTHONPATH=src", r"report to the lead", r"\bthe lead\b",
                        r"not rerun"):
            if re.search(pattern, text):
                bad.append(f"{page.name}: {pattern}")
    assert not bad, "\n".join(bad)


def test_the_nav_names_every_page() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.name for p in DOCS.glob("*.md")}
    missing = [p for p in pages if p not in nav]
    assert not missing, f"pages not in mkdocs.yml's nav: {missing}"


def test_every_schema_field_has_a_description() -> None:
    """The scenario reference is generated from the descriptions: a new field needs one."""
    from scoresim.scenario import reference

    missing = [f"{s or '(top level)'}.{f.name}" for s in reference.sections()
               for f in reference.fields(s) if not f.meaning]
    assert not missing, "fields without a description in schema.py: " + ", ".join(missing)


def test_schema_command_prints_a_section_and_refuses_an_unknown_one() -> None:
    from typer.testing import CliRunner

    from scoresim.cli import app

    result = CliRunner().invoke(app, ["schema", "channels.street_camera"])
    assert result.exit_code == 0, result.output
    assert "capture_probability: float (>= 0, <= 1); default 1" in result.output
    assert "camera: probability that a true event is captured on camera." in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    bad = CliRunner().invoke(app, ["schema", "no_such_section"])
    assert bad.exit_code == 2 and "no section 'no_such_section'" in bad.output
