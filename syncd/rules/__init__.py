"""Rules: turn a client's normalized entries into published lines (pure, no I/O)."""
