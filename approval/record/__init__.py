"""The approval record: build and validate it, check it agrees with itself, compare two."""
