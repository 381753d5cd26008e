"""Platform drivers, one package each, all behind ``uno.deployment.ports.platforms``."""
