"""What every xlsx download shares: the content type, formula-safe text cells, a write-only
workbook (rows are appended, never held), and the response that streams it from a temporary file."""

from __future__ import annotations

import tempfile
from typing import Any

from django.http import FileResponse

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def cell(value: Any) -> Any:
    # A name starting like a formula must stay text in Excel.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def workbook() -> Any:
    from openpyxl import Workbook

    return Workbook(write_only=True)


def respond(book: Any, name: str) -> FileResponse:
    """``book`` saved to a temporary file that the response streams (and closes) as ``name``."""
    handle = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - closed by FileResponse
    book.save(handle)
    handle.seek(0)
    return FileResponse(handle, as_attachment=True, filename=name, content_type=XLSX)
