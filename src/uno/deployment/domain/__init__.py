"""The domain: identifiers, enums, configuration models, profiles, pipelines and releases.

Pure Python with no I/O. It imports nothing from the project outside ``uno.core``;
pydantic is used here for validation only.
"""
