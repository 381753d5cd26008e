"""Use cases: the configuration, pipeline and deployment services of the spec.

Every public method is ``async`` and returns a ``Result``; expected failures are
``Failure`` values with a precise ``ErrorCode``, never exceptions.
"""
