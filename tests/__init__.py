"""Tests of the model approval gate."""
