"""The ``local`` platform: processes on this machine behind a built-in weighted HTTP router."""
