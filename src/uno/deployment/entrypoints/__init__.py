"""Entry points: the CLI (and, later, the HTTP API). Thin: parse, call a service, print."""
