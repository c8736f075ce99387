"""Values quoted in error messages, cut short: a 5 MB cfg value must not become a 5 MB message."""
from __future__ import annotations

from typing import Any

QUOTE_LIMIT = 80
"""Characters of a value's repr an error message quotes."""


def quoted(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)``, or its first `limit` characters and the full length if it is longer.

    Args:
        value: Anything; its repr is taken.
        limit: Characters kept.

    Returns:
        e.g. ``'aaaa...' (5000000 characters)``.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"
