"""`python -m approval` — same as the `approval` console script."""

import sys

from approval.cli import main

if __name__ == "__main__":
    sys.exit(main())
