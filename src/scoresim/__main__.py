"""`python -m scoresim` is the `scoresim` command."""

from scoresim.cli import app

app()
