"""Repository implementations: ``memory`` here; SQL backends follow the same contract."""
