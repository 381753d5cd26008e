"""The HTTP API (FastAPI): ``create_app`` builds it, ``uno-deploy serve`` runs it."""

from uno.deployment.entrypoints.http.app import create_app

__all__ = ["create_app"]
