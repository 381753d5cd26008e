"""The ``local`` platform: version sets as supervised processes on this machine."""
