"""Entry script of the frozen app (build.spec): the same ``captioner`` command as the installed one.

It lives outside ``desktop/`` on purpose: PyInstaller puts the entry script's folder on the
module path, and from inside the package ``desktop/settings.py`` would also be importable as a
top-level ``settings`` (and so on for every module).
"""

import sys

from desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
