"""The backend protocol: one small interface that every array library sits behind.

A backend bundles an array namespace ``xp`` (array-api-compat's wrapped namespace, so
only the array API standard is used), one device, conversions to and from numpy, a
seeded random generator and synchronisation. Layer math in ``tfnn.nn`` sees only ``xp``.
"""

from __future__ import annotations

from typing import Any, Protocol


class BackendError(RuntimeError):
    """A backend cannot be used as asked; the message says what to do."""


class Generator(Protocol):
    """A seeded random generator that creates arrays on its backend's device."""

    def normal(self, shape: tuple[int, ...], dtype: Any = None) -> Any: ...
    def uniform(
        self, shape: tuple[int, ...], low: float = 0.0, high: float = 1.0, dtype: Any = None
    ) -> Any: ...
    def permutation(self, n: int) -> Any: ...


class Backend(Protocol):
    """What ``tfnn`` needs of an array library.

    Example::

        be = get_backend("numpy")
        a = be.asarray([[1.0, 2.0]], dtype=be.xp.float32)
        be.to_numpy(be.xp.sum(a))
    """

    name: str
    device: str
    xp: Any

    def asarray(self, x: Any, dtype: Any = None) -> Any: ...
    def to_numpy(self, a: Any) -> Any: ...
    def rng(self, seed: int) -> Generator: ...
    def synchronize(self) -> None: ...
