"""Export in exactly the import layout, streamed in id-ordered batches (bounded memory).

Text cells that a spreadsheet would run as a formula (starting with = + - @ tab or CR) get a
leading apostrophe, which the importer takes off again. Chinese mobile numbers are written in
national form (13812345678), which spreadsheets do not read as a formula; others keep E.164 behind
the apostrophe.
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db.models import Model, QuerySet

from huitou.accounts import permissions
from huitou.core.phones import display_phone, mask_phone

from ..models import Consent, Customer, OwnedProduct, Product, Purchase
from .cells import protect
from .errors import ImportFileError
from .layout import LAYOUTS, canonical_kind

if TYPE_CHECKING:
    from huitou.accounts.models import User

BATCH = 5_000
# Columns written as numbers or dates in xlsx; never formula-protected.
_NUMERIC = {
    "birthday_lunar_month",
    "birthday_lunar_day",
    "price",
    "amount",
    "margin",
    "paid_amount",
    "mileage_km",
}


def _batches(qs: QuerySet[Any], fields: Sequence[str]) -> Iterator[list[tuple[Any, ...]]]:
    """Keyset pagination by id: each batch is one indexed query, whatever the table size."""
    last = 0
    while True:
        rows = list(qs.filter(pk__gt=last).order_by("pk").values_list("pk", *fields)[:BATCH])
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _yes_no(value: bool | None) -> str:
    if value is None:
        return ""
    return "yes" if value else "no"


class _Phone:
    def __init__(self, actor: User | None):
        self.full = actor is None or permissions.sees_full_phone(actor)

    def __call__(self, e164: str | None) -> str:
        if not e164:
            return ""
        return display_phone(e164) if self.full else mask_phone(e164)


def _customer_rows(org_id: int, actor: User | None) -> Iterator[dict[str, Any]]:
    layout = LAYOUTS["customers"]
    qs: QuerySet[Customer] = Customer.objects.filter(organisation_id=org_id).exclude(
        status=Customer.Status.ERASED
    )
    if actor is not None:
        qs = qs.filter(permissions.customer_scope(actor))
    direct = [
        c
        for c in layout.columns
        if c not in {"referred_by_external_id", "owner_username", "store_code", "tags"}
        and not c.startswith("consent_")
    ]
    fields = [*direct, "referred_by__external_id", "owner__username", "store__code"]
    phone = _Phone(actor)
    through = Customer.tags.through
    for batch in _batches(qs, fields):
        ids = [r[0] for r in batch]
        tags: dict[int, list[str]] = {}
        for cid, name in through.objects.filter(customer_id__in=ids).values_list("customer_id", "tag__name"):
            tags.setdefault(cid, []).append(name)
        consents: dict[tuple[int, str], bool] = {
            (cid, ch): granted
            for cid, ch, granted in Consent.objects.filter(customer_id__in=ids).values_list(
                "customer_id", "channel", "granted"
            )
        }
        for r in batch:
            row = dict(zip(direct, r[1 : 1 + len(direct)], strict=True))
            row["phone"] = phone(row["phone"])
            row["birthday_lunar_leap"] = _yes_no(row["birthday_lunar_leap"])
            row["referred_by_external_id"], row["owner_username"], row["store_code"] = r[1 + len(direct) :]
            row["tags"] = ";".join(sorted(tags.get(r[0], [])))
            for channel in Consent.Channel.values:
                row[f"consent_{channel}"] = _yes_no(consents.get((r[0], channel)))
            yield row


def _simple_rows(
    qs: QuerySet[Any], columns: Sequence[str], source: dict[str, str], actor: User | None
) -> Iterator[dict[str, Any]]:
    phone = _Phone(actor)
    fields = [source.get(c, c) for c in columns]
    for batch in _batches(qs, fields):
        for r in batch:
            row = dict(zip(columns, r[1:], strict=True))
            if "customer_phone" in row:
                row["customer_phone"] = phone(row["customer_phone"])
            yield row


def _rows_for(kind: str, org_id: int, actor: User | None) -> Iterator[dict[str, Any]]:
    columns = LAYOUTS[kind].columns
    scope: dict[str, Any] = {"organisation_id": org_id}
    if kind == "customers":
        return _customer_rows(org_id, actor)
    if kind == "products":
        return _simple_rows(Product.objects.filter(**scope), columns, {}, actor)
    customer_cols = {"customer_external_id": "customer__external_id", "customer_phone": "customer__phone"}
    model: type[Model] = OwnedProduct if kind == "owned_products" else Purchase
    qs = model._default_manager.filter(**scope)
    if actor is not None:
        qs = qs.filter(permissions.customer_scope(actor, prefix="customer__"))
    if kind == "owned_products":
        return _simple_rows(qs, columns, {**customer_cols, "sku": "product__sku"}, actor)
    return _simple_rows(
        qs, columns, {**customer_cols, "store_code": "store__code", "rep_username": "rep__username"}, actor
    )


def _csv_cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _yes_no(value)
    if isinstance(value, dt.date | Decimal | int):
        return str(value)
    return protect(str(value)) if column not in _NUMERIC else str(value)


def _xlsx_cell(column: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return _yes_no(value)
    if isinstance(value, dt.date | Decimal | int):
        return value
    return protect(str(value))


def export_file(
    *,
    kind: str,
    path: Path,
    progress: bool = False,
    organisation_slug: str | None = None,
    actor: User | None = None,
) -> int:
    """Write every row of ``kind`` the actor may see (the whole organisation from the CLI) to
    ``path`` (.csv or .xlsx) and return how many rows were written."""
    from tqdm import tqdm

    from .importer import resolve_organisation

    kind = canonical_kind(kind)
    if kind not in LAYOUTS:
        raise ImportFileError(f"unknown export kind {kind!r}; use one of: {', '.join(LAYOUTS)}")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".xlsx"}:
        raise ImportFileError(f"unknown file type {suffix or '(none)'!r}: use .csv or .xlsx")
    if actor is not None and not permissions.can_import(actor):
        raise permissions_error()
    organisation = resolve_organisation(organisation_slug, actor)
    columns = LAYOUTS[kind].columns
    rows = _rows_for(kind, int(organisation.pk), actor)
    count = 0
    bar = tqdm(unit=" rows", desc=f"export {kind}", file=sys.stderr, disable=not progress)
    try:
        if suffix == ".csv":
            # BOM so that Excel opens the Chinese text as UTF-8.
            with path.open("w", encoding="utf-8-sig", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(columns)
                for row in rows:
                    writer.writerow([_csv_cell(c, row[c]) for c in columns])
                    count += 1
                    if count % BATCH == 0:
                        bar.update(BATCH)
        else:
            from openpyxl import Workbook

            wb = Workbook(write_only=True)
            ws = wb.create_sheet(kind)
            ws.append(list(columns))
            for row in rows:
                ws.append([_xlsx_cell(c, row[c]) for c in columns])
                count += 1
                if count % BATCH == 0:
                    bar.update(BATCH)
            wb.save(path)
    except OSError as exc:
        raise ImportFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        bar.update(count % BATCH)
        bar.close()
    return count


def permissions_error() -> Exception:
    from huitou.core.errors import PermissionDenied

    return PermissionDenied("only the owner and managers export data")
