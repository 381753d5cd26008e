"""Adapters: the only modules that talk to the outside world. Only ``bootstrap`` imports them."""
