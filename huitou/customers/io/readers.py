"""Open an import file and yield its rows as lists of strings, one at a time.

CSV is read through the csv module over a text stream; xlsx through openpyxl in read-only mode;
neither holds the file in memory. Encodings: UTF-8 with or without BOM, and GB18030 (a superset of
GBK and GB2312, what Chinese Excel writes when saving "CSV"). The whole file is checked to decode
before the first row is imported, so a file is never half-imported because of its encoding.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from .errors import ImportFileError

EXTENSIONS = (".csv", ".xlsx")
_SCAN_BLOCK = 1 << 20
csv.field_size_limit(1 << 20)


@dataclass
class OpenedFile:
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]  # (line number in the file, cells)
    encoding: str = ""
    approx_rows: int = 0
    _closers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for closer in self._closers:
            closer()


def _scan_decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as fh:
            while block := fh.read(_SCAN_BLOCK):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(4096)
    if not head.strip():
        raise ImportFileError("the file is empty")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head:
        raise ImportFileError("the file is UTF-16 encoded; save it as CSV UTF-8 (or GBK) and try again")
    if head.startswith(codecs.BOM_UTF8):
        if _scan_decodes(path, "utf-8-sig"):
            return "utf-8-sig"
        raise ImportFileError("the file starts with a UTF-8 mark but is not valid UTF-8")
    if _scan_decodes(path, "utf-8"):
        return "utf-8"
    if _scan_decodes(path, "gb18030"):
        return "gb18030"
    raise ImportFileError("the file is neither UTF-8 nor GBK/GB18030 encoded; save it as CSV UTF-8")


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as fh:
        while block := fh.read(_SCAN_BLOCK):
            count += block.count(b"\n")
    return count


def _open_csv(path: Path) -> OpenedFile:
    encoding = detect_encoding(path)
    fh: IO[str] = path.open("r", encoding=encoding, newline="")
    reader = csv.reader(fh)
    try:
        header = next(reader)
    except StopIteration as exc:
        fh.close()
        raise ImportFileError("the file is empty") from exc
    except csv.Error as exc:
        fh.close()
        raise ImportFileError(f"the file is not a readable CSV file: {exc}") from exc

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for cells in reader:
                if not cells or not any(cells):
                    continue  # blank lines people leave at the end of a sheet
                yield reader.line_num, cells
        except csv.Error as exc:
            raise ImportFileError(f"line {reader.line_num}: the CSV is malformed ({exc})") from exc

    return OpenedFile(
        header=header,
        rows=rows(),
        encoding=encoding,
        approx_rows=max(0, _count_lines(path) - 1),
        _closers=[fh.close],
    )


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        if value.hour == value.minute == value.second == 0:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return str(Decimal(repr(value)))
    return str(value)


def _open_xlsx(path: Path) -> OpenedFile:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged or disguised file
        raise ImportFileError(f"the file is not a readable .xlsx workbook ({type(exc).__name__})") from exc
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    try:
        first = next(it)
    except StopIteration as exc:
        wb.close()
        raise ImportFileError("the file is empty") from exc
    header = [_cell_text(v) for v in first]
    while header and not header[-1]:
        header.pop()
    width = len(header)

    def rows() -> Iterator[tuple[int, list[str]]]:
        line = 1
        for values in it:
            line += 1
            cells = [_cell_text(v) for v in values[:width]]
            if not any(cells):
                continue
            yield line, cells

    return OpenedFile(
        header=header,
        rows=rows(),
        encoding="xlsx",
        approx_rows=max(0, (ws.max_row or 1) - 1),
        _closers=[wb.close],
    )


def open_rows(path: Path) -> OpenedFile:
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        raise ImportFileError(f"unknown file type {suffix or '(none)'!r}: use .csv or .xlsx")
    if not path.is_file():
        raise ImportFileError(f"cannot read {path.name}: no such file")
    try:
        if path.stat().st_size == 0:
            raise ImportFileError("the file is empty")
        opened = _open_csv(path) if suffix == ".csv" else _open_xlsx(path)
    except OSError as exc:
        raise ImportFileError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    if not any(h.strip() for h in opened.header):
        opened.close()
        raise ImportFileError("the file is empty: the first line must name the columns")
    return opened
