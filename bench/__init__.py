"""The benchmark (bench/run.py) and its parts; not shipped, not collected by pytest."""
