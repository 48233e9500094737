"""The errors graphkd raises for input it refuses: one type to catch, a message that names the file or option.

Both subclass the built-in type they refine, so ``except ValueError`` and ``except FileNotFoundError`` in
user code keep working. This module imports nothing, because the NumPy-only predictor raises them too.
"""

__all__ = ["GraphkdError", "MissingFileError"]


class GraphkdError(ValueError):
    """Input graphkd refuses: a bad option, a graph that fails its checks, a damaged or foreign file."""


class MissingFileError(GraphkdError, FileNotFoundError):
    """A file or dataset graphkd needs is not where it was told to look."""
