"""``python -m infinitenature ...``: the same as the ``infinitenature`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
