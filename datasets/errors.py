"""The one error base of the workbench: every user-facing error says what is wrong and what to do.

``WorkbenchError(message, fix)`` carries both parts separately, so the app can show the message as an
error and the fix as advice, and the CLI can print them on one line. ``str(e)`` is the message followed
by the fix. Every error type of the project subclasses it (keeping ``ValueError`` / ``RuntimeError``
bases where callers catch those), e.g. :class:`datasets.upload.UploadError`,
:class:`datasets.store.StoreError`, :class:`datasets.build.BuildError`.

This module imports nothing from the project: ``analysis/`` and ``datasets/`` can both use it.
"""
from __future__ import annotations

__all__ = ["WorkbenchError"]


class WorkbenchError(Exception):
    """A problem the user can act on.

    Parameters
    ----------
    message : str
        What is wrong, naming the row, column, file or setting when there is one.
    fix : str or None
        What to do about it (``None`` when nothing specific is known).

    ``str(e)`` is ``message`` followed by ``fix`` (joined by :attr:`separator`, a space unless a
    subclass keeps another historical format).
    """

    separator = " "

    def __init__(self, message: object, fix: str | None = None):
        self.message = str(message)
        self.fix = fix
        super().__init__(self.message)

    def __str__(self) -> str:
        if self.fix:
            return f"{self.message}{self.separator}{self.fix}".strip()
        return self.message

    def to_dict(self) -> dict:
        """``{"error": type name, "message": ..., "fix": ...}`` (for ``--json`` output)."""
        return {"error": type(self).__name__, "message": self.message, "fix": self.fix}
