"""Platform drivers: one package per platform, each implementing the same driver primitives."""
