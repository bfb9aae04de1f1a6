"""Import of the product catalogue, owned products and purchases.

These files are far smaller than customer files (a dealer has thousands of vehicles and purchases,
not millions of rows per load), so they go through the ORM's bulk operations with
django-simple-history's bulk helpers; still one query per lookup per chunk, never per row.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db import models, transaction
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from huitou.accounts import permissions
from huitou.core.text import plate_normalise

from ..models import Activity, Customer, OwnedProduct, Product, Purchase
from ..services import search_keys_rebuild
from . import cells
from .base import Context, Engine
from .seen import SeenKeys


class _Row:
    __slots__ = ("errors", "keys", "line", "refs", "values")

    def __init__(self, line: int):
        self.line = line
        self.values: dict[str, Any] = {}
        self.errors: list[tuple[str, str]] = []
        self.keys: list[tuple[str, str]] = []  # (field, key) in matching order
        self.refs: dict[str, str] = {}


class ModelEngine(Engine):
    model: type[models.Model]
    cleaners: dict[str, Callable[[str], Any]]

    def __init__(self, ctx: Context, positions: dict[str, int]):
        super().__init__(ctx, positions)
        self.seen = SeenKeys()
        self.plain = [(c, positions[c], f) for c, f in self.cleaners.items() if c in positions]
        self.written = [c for c, _, _ in self.plain if c not in self.not_written()]

    def not_written(self) -> set[str]:
        return set()

    def parse(self, line: int, row_cells: list[str]) -> _Row:
        row = _Row(line)
        width = len(row_cells)
        for col, idx, clean in self.plain:
            try:
                row.values[col] = clean(row_cells[idx] if idx < width else "")
            except cells.CellError as exc:
                row.errors.append((col, str(exc)))
        return row

    def resolve(self, rows: list[_Row]) -> None:
        """Per-chunk lookups of referenced objects; adds errors to rows that refer to nothing."""

    @abstractmethod
    def find_existing(self, rows: list[_Row]) -> dict[str, models.Model]:
        """Existing objects of the chunk by match key (the keys of ``_Row.keys``)."""

    def after_write(self, created: list[models.Model], updated: list[models.Model]) -> None:
        """Side effects a single write would have (timeline entries, search keys)."""

    def process(self, batch: list[tuple[int, list[str]]]) -> None:
        ctx = self.ctx
        rows = [self.parse(line, c) for line, c in batch]
        earlier = self.seen.earlier_lines(k for r in rows if not r.errors for _, k in r.keys)
        here: dict[str, int] = {}
        for row in rows:
            if row.errors:
                continue
            for fname, key in row.keys:
                first = earlier.get(key) or here.get(key)
                if first is not None:
                    row.errors.append((fname, f"duplicate of line {first}"))
                    break
            else:
                here.update({k: row.line for _, k in row.keys})
        good = [r for r in rows if not r.errors]
        self.resolve(good)
        good = [r for r in good if not r.errors]
        existing = self.find_existing(good) if good else {}
        creates: list[models.Model] = []
        updates: list[models.Model] = []
        for row in good:
            obj = next((existing[k] for _, k in row.keys if k in existing), None)
            if obj is None:
                creates.append(self.build(row))
                continue
            err = self.conflict(row, obj)
            if err:
                row.errors.append(err)
                continue
            changed = self.adopt(row, obj)
            for col in self.written:
                if getattr(obj, col) != row.values[col]:
                    setattr(obj, col, row.values[col])
                    changed = True
            if changed:
                updates.append(obj)
            else:
                ctx.result.unchanged += 1
        for row in rows:
            if row.errors:
                ctx.result.reject(row.line, row.errors)
        ctx.result.created += len(creates)
        ctx.result.updated += len(updates)
        self.seen.add({k: r.line for r in good if not r.errors for _, k in r.keys})
        if ctx.dry_run or not (creates or updates):
            return
        user = ctx.actor
        with transaction.atomic():
            if creates:
                bulk_create_with_history(
                    creates,
                    self.model,
                    batch_size=1000,
                    default_user=user,
                    default_change_reason=ctx.reason,
                    default_date=ctx.now,
                )
            if updates:
                bulk_update_with_history(
                    updates,
                    self.model,
                    self.update_fields(),
                    batch_size=1000,
                    default_user=user,
                    default_change_reason=ctx.reason,
                    default_date=ctx.now,
                )
            self.after_write(creates, updates)

    def build(self, row: _Row) -> models.Model:
        obj = self.model(organisation_id=self.ctx.org_id, **row.values)
        obj.updated_at = self.ctx.now  # type: ignore[attr-defined]
        return obj

    def conflict(self, row: _Row, obj: models.Model) -> tuple[str, str] | None:
        return None

    def adopt(self, row: _Row, obj: models.Model) -> bool:
        """Take over identifiers the file adds to a matched object; True if it changed."""
        return False

    def update_fields(self) -> list[str]:
        return [*self.written, "updated_at"]

    # Shared lookups --------------------------------------------------------------------------

    def customers_for(self, rows: list[_Row]) -> None:
        """Set ``customer_id`` from customer_external_id or customer_phone, within the actor's scope."""
        ctx = self.ctx
        qs = Customer.objects.filter(organisation_id=ctx.org_id).exclude(status=Customer.Status.ERASED)
        if ctx.actor is not None:
            qs = qs.filter(permissions.customer_scope(ctx.actor))
        exts = {r.refs["customer_external_id"] for r in rows if r.refs.get("customer_external_id")}
        phones = {r.refs["customer_phone"] for r in rows if r.refs.get("customer_phone")}
        by_ext: dict[str, tuple[int, int | None, int | None]] = {}
        by_phone: dict[str, list[tuple[int, int | None, int | None]]] = {}
        if exts:
            for pk, ext, store, owner in qs.filter(external_id__in=exts).values_list(
                "pk", "external_id", "store_id", "owner_id"
            ):
                by_ext[str(ext)] = (pk, store, owner)
        if phones:
            for pk, number, store, owner in qs.filter(phone__in=phones).values_list(
                "pk", "phone", "store_id", "owner_id"
            ):
                by_phone.setdefault(number, []).append((pk, store, owner))
        for row in rows:
            ext, phone = row.refs.get("customer_external_id"), row.refs.get("customer_phone")
            if ext:
                found = by_ext.get(ext)
                if found is None:
                    row.errors.append(("customer_external_id", f"unknown customer {ext!r}"))
                    continue
            elif phone:
                matches = by_phone.get(phone, [])
                if not matches:
                    row.errors.append(("customer_phone", "no customer has this phone"))
                    continue
                if len(matches) > 1:
                    row.errors.append(
                        ("customer_phone", "several customers have this phone; give customer_external_id")
                    )
                    continue
                found = matches[0]
            else:
                row.errors.append(("customer_external_id", "required (or customer_phone)"))
                continue
            row.values["customer_id"] = found[0]
            row.refs["_customer_store"] = str(found[1] or "")
            row.refs["_customer_owner"] = str(found[2] or "")

    def customer_refs(self, row: _Row, row_cells: list[str]) -> None:
        ext = cells.unprotect(self.cell(row_cells, "customer_external_id").strip())
        if ext:
            row.refs["customer_external_id"] = ext
            return
        raw_phone = self.cell(row_cells, "customer_phone")
        if raw_phone.strip():
            try:
                row.refs["customer_phone"] = cells.phone(self.ctx.region)(raw_phone)
            except cells.CellError as exc:
                row.errors.append(("customer_phone", str(exc)))

    def products_for(self, rows: list[_Row]) -> None:
        skus = {r.refs["sku"] for r in rows if r.refs.get("sku")}
        known = {}
        if skus:
            known = dict(
                Product.objects.filter(organisation_id=self.ctx.org_id, sku__in=skus).values_list("sku", "pk")
            )
        for row in rows:
            sku = row.refs.get("sku")
            if sku is None:
                continue
            if sku and sku not in known:
                row.errors.append(("sku", f"unknown product {sku!r}"))
                continue
            row.values["product_id"] = known.get(sku) if sku else None


class ProductEngine(ModelEngine):
    model = Product
    cleaners = {
        "sku": cells.text(64, required=True),
        "name": cells.text(120, required=True),
        "kind": cells.choice(
            Product.Kind.values,
            {"整车": "vehicle", "车辆": "vehicle", "商品": "item", "服务": "service"},
            "item",
        ),
        "category": cells.text(64),
        "price": cells.money(),
        "usage_notes": cells.text(10_000),
    }

    def not_written(self) -> set[str]:
        return {"sku"}

    def parse(self, line: int, row_cells: list[str]) -> _Row:
        row = super().parse(line, row_cells)
        if row.values.get("sku"):
            row.keys.append(("sku", "s:" + row.values["sku"]))
        return row

    def find_existing(self, rows: list[_Row]) -> dict[str, models.Model]:
        skus = [r.values["sku"] for r in rows]
        return {
            "s:" + p.sku: p  # type: ignore[misc]
            for p in Product.objects.filter(organisation_id=self.ctx.org_id, sku__in=skus)
        }


class OwnedProductEngine(ModelEngine):
    model = OwnedProduct
    cleaners = {
        "external_id": cells.optional_key(64),
        "description": cells.text(120),
        "vin": cells.vin,
        "plate": cells.text(16),
        "delivered_on": cells.date(),
        "mileage_km": cells.integer(0, 10_000_000),
        "mileage_on": cells.date(),
        "insurance_expires_on": cells.date(),
        "usage": cells.text(120),
    }

    def __init__(self, ctx: Context, positions: dict[str, int]):
        super().__init__(ctx, positions)
        if "sku" in positions:
            self.written.append("product_id")
        self.written.append("customer_id")

    def not_written(self) -> set[str]:
        return {"external_id"}

    def parse(self, line: int, row_cells: list[str]) -> _Row:
        row = super().parse(line, row_cells)
        if row.values.get("plate"):
            row.values["plate"] = plate_normalise(row.values["plate"])
        self.customer_refs(row, row_cells)
        if "sku" in self.positions:
            row.refs["sku"] = cells.unprotect(self.cell(row_cells, "sku").strip())
        ext, vin = row.values.get("external_id"), row.values.get("vin")
        if ext:
            row.keys.append(("external_id", "e:" + ext))
        if vin:
            row.keys.append(("vin", "v:" + vin))
        if not row.keys and not row.errors:
            row.errors.append(("vin", "give an external_id or a VIN, so that the row can be matched again"))
        return row

    def resolve(self, rows: list[_Row]) -> None:
        self.customers_for(rows)
        self.products_for([r for r in rows if not r.errors])

    def find_existing(self, rows: list[_Row]) -> dict[str, models.Model]:
        exts = [r.values["external_id"] for r in rows if r.values.get("external_id")]
        vins = [r.values["vin"] for r in rows if r.values.get("vin")]
        found: dict[Any, models.Model] = {}
        qs = OwnedProduct.objects.filter(organisation_id=self.ctx.org_id)
        if exts:
            found.update({"e:" + o.external_id: o for o in qs.filter(external_id__in=exts)})  # type: ignore[operator]
        if vins:
            found.update({"v:" + o.vin: o for o in qs.filter(vin__in=vins)})  # type: ignore[operator]
        return found

    def conflict(self, row: _Row, obj: models.Model) -> tuple[str, str] | None:
        ext = row.values.get("external_id")
        theirs = getattr(obj, "external_id", None)
        if ext and theirs and ext != theirs:
            return ("vin", f"this VIN is already registered under external id {theirs!r}")
        return None

    def adopt(self, row: _Row, obj: models.Model) -> bool:
        ext = row.values.get("external_id")
        if ext and not getattr(obj, "external_id", None):
            obj.external_id = ext  # type: ignore[attr-defined]
            return True
        return False

    def update_fields(self) -> list[str]:
        return [*self.written, "external_id", "updated_at"]

    def after_write(self, created: list[models.Model], updated: list[models.Model]) -> None:
        search_keys_rebuild(customer_ids={o.customer_id for o in [*created, *updated]})  # type: ignore[attr-defined]


class PurchaseEngine(ModelEngine):
    model = Purchase
    cleaners = {
        "external_id": cells.text(64, required=True),
        "ordered_on": cells.date(required=True),
        "kind": cells.choice(
            Purchase.Kind.values,
            {
                "首购": "first",
                "首次购买": "first",
                "换购": "replacement",
                "增购": "expansion",
                "维修保养": "service",
            },
            "first",
        ),
        "amount": cells.money(required=True),
        "margin": cells.money(negative=True, default=Decimal("0.00")),
        "payment_due_on": cells.date(),
        "paid_amount": cells.money(default=Decimal("0.00")),
        "paid_on": cells.date(),
        "promised_on": cells.date(),
        "shipped_on": cells.date(),
        "arrives_on": cells.date(),
        "note": cells.text(255),
    }

    def __init__(self, ctx: Context, positions: dict[str, int]):
        super().__init__(ctx, positions)
        self.written.append("customer_id")
        if "store_code" in positions:
            self.written.append("store_id")
        if "rep_username" in positions:
            self.written.append("rep_id")

    def not_written(self) -> set[str]:
        return {"external_id"}

    def parse(self, line: int, row_cells: list[str]) -> _Row:
        row = super().parse(line, row_cells)
        self.customer_refs(row, row_cells)
        if "store_code" in self.positions:
            store_id, err = self.ctx.store(cells.unprotect(self.cell(row_cells, "store_code").strip()))
            if err:
                row.errors.append(("store_code", err))
            row.values["store_id"] = store_id
        if "rep_username" in self.positions:
            rep_id, _, err = self.ctx.user(cells.unprotect(self.cell(row_cells, "rep_username").strip()))
            if err:
                row.errors.append(("rep_username", err))
            row.values["rep_id"] = rep_id
        if row.values.get("external_id"):
            row.keys.append(("external_id", "e:" + row.values["external_id"]))
        return row

    def resolve(self, rows: list[_Row]) -> None:
        self.customers_for(rows)

    def build(self, row: _Row) -> models.Model:
        # Like purchase_add: store and rep default to the customer's.
        if row.values.get("store_id") is None and row.refs.get("_customer_store"):
            row.values["store_id"] = int(row.refs["_customer_store"])
        if row.values.get("rep_id") is None and row.refs.get("_customer_owner"):
            row.values["rep_id"] = int(row.refs["_customer_owner"])
        return super().build(row)

    def find_existing(self, rows: list[_Row]) -> dict[str, models.Model]:
        exts = [r.values["external_id"] for r in rows]
        return {
            "e:" + p.external_id: p  # type: ignore[operator]
            for p in Purchase.objects.filter(organisation_id=self.ctx.org_id, external_id__in=exts)
        }

    def after_write(self, created: list[models.Model], updated: list[models.Model]) -> None:
        Activity.objects.bulk_create(
            [
                Activity(
                    organisation_id=self.ctx.org_id,
                    customer_id=p.customer_id,  # type: ignore[attr-defined]
                    kind=Activity.Kind.PURCHASE,
                    occurred_at=self.ctx.now,
                    user=self.ctx.actor,
                    subject=f"{p.get_kind_display()} ¥{p.amount}",  # type: ignore[attr-defined]
                    purchase=p,  # type: ignore[misc]
                )
                for p in created
            ],
            batch_size=1000,
        )
