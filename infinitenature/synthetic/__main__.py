"""``python -m infinitenature.synthetic OUT_DIR --num 16 --size 256``."""

import sys

from .sheet import main

if __name__ == "__main__":
    sys.exit(main())
