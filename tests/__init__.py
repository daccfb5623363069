"""Repository-level tests (a package, so that pytest gives its modules unique names)."""
