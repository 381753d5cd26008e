"""Deployment strategies (recreate, rolling, blue-green, canary): plain async functions
written once over the platform driver primitives of ``uno.deployment.ports.platforms``."""
