"""Name → object registries, so a new model, loss or metric is one decorated definition."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Generic, TypeVar

from ganforge.errors import GanforgeError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._items[name] = item
            return item

        return add

    def get(self, name: str) -> T:
        if name not in self._items:
            raise GanforgeError(unknown_choice_message(self.kind, name, self.names()))
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def values(self) -> list[T]:
        """The registered objects in registration order."""
        return list(self._items.values())

    def __contains__(self, name: str) -> bool:
        return name in self._items


def unknown_choice_message(kind: str, name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {kind} '{name}'{hint}; choose one of: {', '.join(choices)}"
