"""Test utilities that ship with vlmplanner, for its own suite and for teams checking their setup."""
