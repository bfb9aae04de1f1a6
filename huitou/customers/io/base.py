"""What every import kind shares: the run context, header mapping, owner/store lookups."""

from __future__ import annotations

import datetime as dt
import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from huitou.accounts import permissions

from .errors import ImportFileError
from .layout import Layout
from .result import ImportResult

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation, User


@dataclass
class Context:
    organisation: Organisation
    actor: User | None
    dry_run: bool
    filename: str
    now: dt.datetime
    region: str
    result: ImportResult
    users: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # username -> (id, store)
    assignable: set[int] | None = None  # None: anyone in the organisation
    stores: dict[str, int] = field(default_factory=dict)  # code -> id

    @property
    def org_id(self) -> int:
        return int(self.organisation.pk)

    @property
    def user_id(self) -> int | None:
        return self.actor.pk if self.actor is not None else None

    @property
    def reason(self) -> str:
        return f"import {self.filename}"[:100]

    def load_people(self) -> None:
        """Users and stores of the organisation, once per import: a few hundred rows at most."""
        from huitou.accounts.models import Store, User
        from huitou.customers.selectors import users_in_scope

        for pk, username, store_id in User.objects.filter(
            organisation_id=self.org_id, is_active=True, left_at__isnull=True
        ).values_list("pk", "username", "store_id"):
            self.users[username.lower()] = (pk, store_id)
        self.stores = {
            code.lower(): pk
            for pk, code in Store.objects.filter(organisation_id=self.org_id).values_list("pk", "code")
        }
        if self.actor is not None and self.actor.role != permissions.OWNER:
            self.assignable = set(users_in_scope(self.actor).values_list("pk", flat=True))

    def user(self, username: str) -> tuple[int | None, int | None, str | None]:
        """(user id, their store id, error)."""
        if not username:
            return None, None, None
        found = self.users.get(username.lower())
        if found is None:
            return None, None, f"unknown user {username!r}"
        if self.assignable is not None and found[0] not in self.assignable:
            return None, None, f"user {username!r} is outside your scope"
        return found[0], found[1], None

    def store(self, code: str) -> tuple[int | None, str | None]:
        if not code:
            return None, None
        found = self.stores.get(code.lower())
        if found is None:
            return None, f"unknown store {code!r}"
        return found, None


def _header_key(name: str) -> str:
    text = unicodedata.normalize("NFKC", name or "").strip().lstrip("\ufeff").strip()
    return text.lower().replace(" ", "_").replace("-", "_")


def map_header(layout: Layout, header: list[str]) -> dict[str, int]:
    """Column name -> position; refuses unknown, repeated and missing required columns."""
    known = {c: c for c in layout.columns}
    known.update({_header_key(k): v for k, v in layout.aliases.items()})
    positions: dict[str, int] = {}
    unknown: list[str] = []
    for idx, raw in enumerate(header):
        key = _header_key(raw)
        if not key:
            continue
        column = known.get(key)
        if column is None:
            unknown.append(raw.strip())
            continue
        if column in positions:
            raise ImportFileError(f"column {column!r} appears twice in the header")
        positions[column] = idx
    if unknown:
        raise ImportFileError(
            f"unknown column(s) for {layout.kind}: {', '.join(unknown)}; see docs/IMPORT.md for the layout"
        )
    missing = [c for c in layout.required_columns if c not in positions]
    if missing:
        raise ImportFileError(f"missing required column(s) for {layout.kind}: {', '.join(missing)}")
    for group in layout.one_of:
        if not any(c in positions for c in group):
            raise ImportFileError(f"the file needs one of the columns: {' or '.join(group)}")
    return positions


class Engine(ABC):
    """One import kind. ``process`` takes a chunk of (line, cells) and records the outcome."""

    def __init__(self, ctx: Context, positions: dict[str, int]):
        self.ctx = ctx
        self.positions = positions

    def prepare(self, batch: list[tuple[int, list[str]]]) -> Any:
        """The part of a chunk's work that needs no database (parsing, validation). Runs on the
        import's reader thread, one chunk ahead of ``process``: it must not touch the database
        nor state that ``process`` changes."""
        return batch

    @abstractmethod
    def process(self, batch: Any) -> None: ...

    def close(self) -> None:  # noqa: B027 - most engines set nothing up
        """Drop whatever the engine set up (staging tables)."""

    def cell(self, cells: list[str], column: str) -> str:
        idx = self.positions.get(column)
        if idx is None or idx >= len(cells):
            return ""
        return cells[idx]
