"""The ``digitalocean`` platform (App Platform): settings, honoured-settings declaration and app spec.

What is here is pure data, checked against DigitalOcean's own OpenAPI description (the
tests validate every app spec against the vendored ``AppSpec`` schema): the settings
(``options``), what each configuration setting becomes (``honoured``), the app spec a
deploy would send (``resources``) and ``render``'s document (``rendering``). The driver
that sends it with the official ``pydo`` client (extra ``digitalocean``) is not built yet,
so the platform is not registered: a configuration for it is still refused with "no
platform driver is installed for 'digitalocean'", before anything changes.
"""
