"""Write the docs pages generated from the code: python docs/generate.py.

- docs/data-dictionary.md  from scoresim.runs.columns (every column of every output)
- docs/scenario-reference.md  from the scenario schema (scoresim schema --markdown)
- docs/cli.md  from the command line's own help (every command, argument and option)

tests/test_columns.py and tests/test_docs.py fail when a page is stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "src"))

from scoresim.runs.columns import dictionary_markdown  # noqa: E402
from scoresim.scenario.reference import reference_markdown  # noqa: E402


def cli_markdown() -> str:
    """Every command with its help, arguments and options, as `scoresim CMD --help` says."""
    import click
    import typer

    from scoresim.cli import app

    group = typer.main.get_command(app)
    out = ["# Command line", "",
           "Every command, argument and option of `scoresim`, generated from the command "
           "line's own help (`scoresim COMMAND --help` prints the same). The command line "
           "only parses, calls the [Python API](api.md) and prints: everything here can be "
           "done from Python. Bad input ends with one line naming the file, the field and the "
           "line, and exit code 2. Tables fit 80 columns; `--csv` and `--json` print the same "
           "data for other tools; `-q` leaves only the results. `SCORESIM_SCALE` (a factor in "
           "(0, 1]) multiplies the people of every run, sweep member and calibration run the "
           "command line starts.", "",
           "```", "scoresim --version", "scoresim COMMAND --help", "```", ""]
    for name in sorted(group.commands):
        cmd = group.commands[name]
        ctx = click.Context(cmd, info_name=f"scoresim {name}")
        usage = re.sub(r"[{\[]([a-z_]+)[}\]]", lambda m: m.group(0)[0].replace("{", "")
                       + m.group(1).upper() + m.group(0)[-1].replace("}", ""),
                       cmd.get_usage(ctx).replace("Usage: ", ""))
        out += [f"## `scoresim {name}`", "", " ".join((cmd.help or "").split()), "", "```",
                usage, "```", ""]
        rows = []
        for param in cmd.params:
            if param.name == "help":
                continue
            if isinstance(param, click.Argument):
                what = param.human_readable_name
                help_text = getattr(param, "help", "") or ""
            else:
                what = ", ".join(param.opts + param.secondary_opts)
                help_text = param.help or ""
            default = param.default
            if isinstance(default, bool) and not default:
                default = ""
            elif default is None or default == () or callable(default):
                default = ""
            rows.append((what, " ".join(help_text.split()), str(default)))
        if rows:
            out += ["| argument or option | what | default |", "| --- | --- | --- |"]
            out += [f"| `{w}` | {h.replace('|', '/') or ' '} | {d or ' '} |" for w, h, d in rows]
            out.append("")
    return "\n".join(out)


PAGES = {
    "data-dictionary.md": dictionary_markdown,
    "scenario-reference.md": reference_markdown,
    "cli.md": cli_markdown,
}


def main() -> None:
    for name, make in PAGES.items():
        (HERE / name).write_text(make() + "\n")
        print(f"wrote docs/{name}")


if __name__ == "__main__":
    main()
