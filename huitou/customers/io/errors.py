from __future__ import annotations

from huitou.core.errors import HuitouError


class ImportFileError(HuitouError):
    """The file as a whole cannot be imported (unreadable, wrong encoding, missing column...)."""
