from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Beyond this many, rejected rows are counted but their messages are not kept, so a file of a
# million bad rows cannot exhaust memory. docs/IMPORT.md says so.
MAX_KEPT_ERRORS = 50_000


@dataclass
class RowError:
    line: int
    field: str
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "error": self.error}


@dataclass
class ImportResult:
    kind: str
    filename: str
    dry_run: bool = False
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    errors_dropped: int = 0

    def reject(self, line: int, errors: list[tuple[str, str]]) -> None:
        self.rejected_rows += 1
        for fname, message in errors:
            if len(self.errors) < MAX_KEPT_ERRORS:
                self.errors.append(RowError(line, fname, message))
            else:
                self.errors_dropped += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "rejected": [e.as_dict() for e in self.errors],
        }

    def summary(self) -> str:
        verb = "would be " if self.dry_run else ""
        lines = [
            f"{self.filename}: {self.rows} rows read; {self.created} {verb}created, "
            f"{self.updated} {verb}updated, {self.unchanged} unchanged, {self.rejected_rows} rejected"
            + (" (dry run: nothing stored)" if self.dry_run else "")
        ]
        for err in self.errors[:20]:
            lines.append(f"  line {err.line}, {err.field}: {err.error}")
        more = len(self.errors) - 20 + self.errors_dropped
        if more > 0:
            lines.append(f"  ... and {more} more errors")
        return "\n".join(lines)
