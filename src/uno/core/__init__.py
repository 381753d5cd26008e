"""Building blocks shared by every uno package: the Result pattern and error details."""

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success, UnwrapError

__all__ = ["ErrorCode", "ErrorDetails", "Failure", "Result", "Success", "UnwrapError"]
