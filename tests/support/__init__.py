"""Helpers shared by the test folders (importable, unlike conftest.py)."""
