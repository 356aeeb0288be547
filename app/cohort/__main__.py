"""``python -m app.cohort run ...`` and ``spark-submit app/cohort/__main__.py run ...``: ``carepath cohort``."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main(["cohort", *sys.argv[1:]]))
