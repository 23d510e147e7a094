"""The pure interpreter: replay, ids, fibers and decisions (no I/O)."""
