"""Everything that computes. Never imports Qt (tests/core/test_no_qt.py enforces it)."""
