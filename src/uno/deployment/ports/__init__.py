"""Protocols the core needs from the outside world. No implementations live here."""
