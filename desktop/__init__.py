"""Desktop runtime of the offline captioner: LiteRT only, never TensorFlow.

The errors live here so every module (and every caller) shares one hierarchy without
importing the interpreter.
"""

from __future__ import annotations


class CaptionerError(Exception):
    """Base of every error the runtime reports to a user."""


class BundleError(CaptionerError):
    """The model bundle cannot be used (missing file, checksum, version, bad manifest)."""


class PhotoError(CaptionerError):
    """One photo cannot be read; the message names the file and the reason."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


__all__ = ["BundleError", "CaptionerError", "PhotoError"]
