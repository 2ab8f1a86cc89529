"""Training students (needs the ``train`` extra: torch)."""
