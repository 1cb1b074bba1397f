"""``python -m desktop …`` = ``captioner …`` (handy where the console script is not installed)."""

import sys

from desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
