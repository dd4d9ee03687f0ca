"""`python -m approval` — same as the `approval` console script."""

from approval.frontends.cli import console

if __name__ == "__main__":
    console()
