"""Write the docs pages generated from the code: python docs/generate.py.

- docs/data-dictionary.md  from scoresim.runs.columns (every column of every output)
- docs/scenario-reference.md  from the scenario schema (scoresim schema --markdown)

tests/test_columns.py and tests/test_docs.py fail when a page is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "src"))

from scoresim.runs.columns import dictionary_markdown  # noqa: E402
from scoresim.scenario.reference import reference_markdown  # noqa: E402

PAGES = {
    "data-dictionary.md": dictionary_markdown,
    "scenario-reference.md": reference_markdown,
}


def main() -> None:
    for name, make in PAGES.items():
        (HERE / name).write_text(make() + "\n")
        print(f"wrote docs/{name}")


if __name__ == "__main__":
    main()
