"""The errors graphkd raises for input it refuses: one type to catch, a message that names the file or option.

Both subclass the built-in type they refine, so ``except ValueError`` and ``except FileNotFoundError`` in
user code keep working. This module imports only the standard library, because the NumPy-only predictor
raises them too.
"""
import json

__all__ = ["GraphkdError", "MissingFileError", "parse_json"]


class GraphkdError(ValueError):
    """Input graphkd refuses: a bad option, a graph that fails its checks, a damaged or foreign file."""


class MissingFileError(GraphkdError, FileNotFoundError):
    """A file or dataset graphkd needs is not where it was told to look."""


def parse_json(text: str | bytes, what: str):
    """``text`` parsed as JSON, or a :class:`GraphkdError` naming ``what`` (a file, or a field of one).

    Every JSON graphkd reads back goes through here: besides malformed text and bytes that are not UTF-8,
    Python's parser raises ``RecursionError`` on arrays or objects nested about a thousand deep, which no
    ``except ValueError`` catches."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise GraphkdError(f"{what} is not the JSON graphkd writes: it nests arrays or objects too deeply to "
                           "read") from exc
    except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise GraphkdError(f"{what} is not JSON ({exc})") from exc
