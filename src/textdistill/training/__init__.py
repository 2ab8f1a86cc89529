"""Training students (needs the ``train`` extra: torch). ``config`` is torch-free; the rest imports torch."""
