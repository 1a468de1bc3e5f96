"""Fuzzing the node's input surfaces: every malformed input gets its typed error.

``surfaces`` holds the six surfaces with their seeds and contracts,
``mutate`` the deterministic mutation engine, ``runner`` the loop that
counts and catches breaks and hangs; ``python -m tests.fuzz`` runs them
(docs/reliability.md, "Fuzzing").
"""
