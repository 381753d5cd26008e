"""Deployment strategies (recreate, rolling, blue-green, canary) over platform driver primitives.

Empty until the platform drivers exist; listed so the layer order is fixed from the start.
"""
