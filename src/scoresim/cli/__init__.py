"""The `scoresim` command: thin wrappers that parse, call the Python API and print.

Each command group lives in its own module and registers itself on `app`.
Bad input ends with a one-line message and exit code 2, never a traceback.
"""

from scoresim.cli import run_commands  # noqa: F401,I001  (registers commands)
from scoresim.cli.common import app
from scoresim.cli import sweep_commands  # noqa: F401,E402  (sweep, runs, query)
from scoresim.cli import report_commands  # noqa: F401,E402  (report, explain)
from scoresim.cli import resume_commands  # noqa: F401,E402  (resume)
from scoresim.cli import calibrate_commands  # noqa: F401,E402  (calibrate)
from scoresim.cli import sensitivity_commands  # noqa: F401,E402  (sensitivity)

__all__ = ["app"]
