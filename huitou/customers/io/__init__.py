"""CSV and xlsx import and export of the archive. The layout is documented in docs/IMPORT.md."""

from .errors import ImportFileError
from .export import export_file
from .importer import import_file
from .result import ImportResult, RowError

__all__ = ["ImportFileError", "ImportResult", "RowError", "export_file", "import_file"]
