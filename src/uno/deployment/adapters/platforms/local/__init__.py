"""The ``local`` platform: replicas as processes on this machine behind a built-in router."""
