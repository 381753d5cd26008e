"""The ``uno-deploy`` command line."""
