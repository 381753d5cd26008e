"""Deployment queues: procrastinate on PostgreSQL."""
