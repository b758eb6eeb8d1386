"""Exceptions mlnb raises on purpose: each says what was wrong and how to fix it."""

from __future__ import annotations


class MlnbError(Exception):
    """Base class for every error mlnb raises deliberately."""


class RegistryError(MlnbError):
    """The registry database or object store cannot be used (read-only, corrupt, locked...)."""


class WritesRefused(RegistryError):
    """The registry can be read but takes no writes: it is read-only, or it is damaged."""


class NotFoundError(MlnbError, LookupError):
    """A run, data version, model, monitor or pipeline that the caller named does not exist."""


class ValidationError(MlnbError, ValueError):
    """An argument has the wrong type, shape or value; the message names it."""


class IntegrityError(MlnbError):
    """A stored object does not match its recorded hash; it is refused rather than served."""


class UnsafeModelError(MlnbError):
    """A model artifact would need untrusted code or types to load; it is refused."""


class GateFailed(MlnbError):
    """A promotion gate rejected a candidate; ``result`` holds every check."""

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result
