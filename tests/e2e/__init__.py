"""End-to-end tests: a real hub process and instrumented apps on the official clients."""

import pytest

# The comparisons live in a helper module: have pytest explain their failures as it does in tests.
pytest.register_assert_rewrite("tests.e2e.checks")
