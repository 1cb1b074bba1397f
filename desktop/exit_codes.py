"""The process exit codes, one definition for ``captioner caption|merge|…`` (desktop/cli.py)
and the window's scripted runs (``captioner gui --exit-when-done``, desktop/gui/scripted.py),
so a script reads the same number from both."""

from __future__ import annotations

EXIT_OK = 0  # everything asked for was done
EXIT_FAILED = 1  # some photos (or inputs) failed; the others are done and written
EXIT_USAGE = 2  # a usage error, or nothing could be done: an unusable model, an unsaved file
EXIT_INTERRUPTED = 130  # Ctrl+C (128 + SIGINT); what was done so far is written
