"""The commerce state machine (docs/commerce.md): pure, deterministic, no I/O."""
