"""Pure rules: no I/O, no clock, no framework imports (tests/test_architecture.py)."""
