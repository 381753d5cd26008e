"""The pipeline engine: what tasks do (actions), how pipelines run, the default template."""
