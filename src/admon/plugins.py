"""The one shape of every plugin point: a name -> object registry with an entry-point group.

Detectors, forecasters, post-rules and transforms each have one :class:`Registry`.
Built-in entries register themselves with the :meth:`Registry.register` decorator
when their module is imported; the registry imports those modules (``builtin_modules``)
and the installed packages' entry points (``group``) on the first lookup, so importing
admon stays cheap and a plugin needs no code in admon, only an entry point::

    # a plugin package's pyproject.toml
    [project.entry-points."admon.detectors"]
    my_detector = "my_package.detectors:MyDetector"

An entry point names either the object itself (registered under the entry point's
name) or a module whose import registers its objects with the decorator.

>>> class Shape:
...     name = ""
>>> shapes = Registry("shape", "admon.example_shapes", base=Shape)
>>> @shapes.register("square")
... class Square(Shape):
...     pass
>>> shapes.get("square") is Square, Square.name, shapes.names()
(True, 'square', ['square'])
>>> shapes.get("circle")
Traceback (most recent call last):
...
admon.errors.ConfigError: unknown shape 'circle'; available shapes: square
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, Generic, TypeVar

from admon.errors import ConfigError

T = TypeVar("T")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Registry(Generic[T]):
    """Name -> object (usually a class) of one plugin point, loaded lazily.

    ``kind`` names the plugin point in messages ("detector"); ``group`` is its
    entry-point group ("admon.detectors"); ``base``, if given, is the class every
    registered class must subclass; ``builtin_modules`` are imported on first use.
    A registered class gets its registered name as its ``name`` attribute.
    """

    def __init__(self, kind: str, group: str, *, base: type | None = None,
                 builtin_modules: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.group = group
        self.base = base
        self.builtin_modules = builtin_modules
        self._items: dict[str, T] = {}
        self._loaded = False

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.group!r}, {len(self._items)} registered)"

    # ------------------------------------------------------------------ writing
    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding a class (or function) to the registry under ``name``."""
        self._check_name(name)

        def decorate(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorate

    def add(self, name: str, obj: T) -> T:
        """Register ``obj`` as ``name``; re-registering the same class (a notebook re-run) replaces it."""
        self._check_name(name)
        if self.base is not None and not (isinstance(obj, type) and issubclass(obj, self.base)):
            raise ConfigError(f"{self.kind} {name!r} must be a {self.base.__name__} subclass, got {obj!r}")
        existing = self._items.get(name)
        if existing is not None and _qualname(existing) != _qualname(obj):
            raise ConfigError(
                f"{self.kind} name {name!r} is already used by {_qualname(existing)}; choose another name"
            )
        if isinstance(obj, type):
            obj.name = name  # type: ignore[attr-defined]
        self._items[name] = obj
        return obj

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests and notebooks)."""
        self._items.pop(name, None)

    # ------------------------------------------------------------------ reading
    def get(self, name: str) -> T:
        """The object registered as ``name``; a ConfigError listing the known names otherwise."""
        self.load()
        try:
            return self._items[name]
        except (KeyError, TypeError):
            known = ", ".join(sorted(self._items)) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r}; available {self.kind}s: {known}") from None

    def names(self) -> list[str]:
        """Sorted names of every registered object."""
        self.load()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        """``(name, object)`` pairs, sorted by name."""
        self.load()
        return iter(sorted(self._items.items()))

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._items

    def refresh(self) -> None:
        """Look at the installed entry points again (a plugin installed into a running process)."""
        self._loaded = False
        self.load()

    def load(self) -> None:
        """Import the built-in modules and the entry points of ``group`` (once)."""
        if self._loaded:
            return
        self._loaded = True  # first, so a module that looks names up while it registers does not recurse
        try:
            self._import_all()
        except Exception:
            self._loaded = False  # the next lookup tries again and reports the error again
            raise

    def _import_all(self) -> None:
        for module in self.builtin_modules:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:  # a real missing dependency inside the module: report it
                    raise
        for ep in entry_points(group=self.group):
            try:
                obj = ep.load()
            except Exception as exc:
                raise ConfigError(
                    f"{self.kind} plugin {ep.name!r} ({ep.value}) of entry-point group {self.group!r} "
                    f"failed to load: {exc}; fix or uninstall the package that declares it"
                ) from exc
            # a module registered its objects when it was imported; an object registers here
            if not isinstance(obj, ModuleType) and ep.name not in self._items:
                self.add(ep.name, obj)

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{self.kind} name {name!r} must be lower_snake_case, e.g. 'my_{self.kind}'")


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
