"""The uno namespace: ``uno.core`` (results and errors) and ``uno.deployment``."""
