"""The commerce state machine (DESIGN.md section 7): pure, deterministic, no I/O."""
