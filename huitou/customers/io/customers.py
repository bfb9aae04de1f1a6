"""Customer import: validation per row, then per chunk a handful of queries and bulk writes.

Per chunk of rows: one query for customers matched by external id, one by phone, one for
referrers, (when those columns are present) one for tags and one for consents; then staging
load, upsert, audit history, search keys, consents and tags in bulk.

Unlike a customer created on the form, an imported one gets no "Customer created" timeline
entry: the timeline lists touches with the customer, and the audit history already records the
import (who, when, which file). At a million rows those entries were also a fifth of the cost.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

from django.db import transaction
from django.db.models import BooleanField, Case, Value, When

from huitou.accounts import permissions
from huitou.core.text import customer_keys

from ..models import Consent, Customer, CustomerPhone, CustomerSearchKey, OwnedProduct, Tag
from . import cells, writers
from .base import Context, Engine
from .seen import SeenKeys

CONSENT_COLUMNS = {f"consent_{ch}": ch for ch in Consent.Channel.values}
# File column -> model attribute, where they differ.
RESOLVED = {
    "referred_by_external_id": "referred_by_id",
    "owner_username": "owner_id",
    "store_code": "store_id",
}
STAGING = "huitou_import_customer"
STAGING_CONSENT = "huitou_import_consent"


def _cleaners(region: str) -> dict[str, Callable[[str], Any]]:
    C = Customer
    return {
        "external_id": cells.optional_key(64),
        "name": cells.text(120, required=True),
        "kind": cells.choice(
            C.Kind.values, {"个人": "person", "公司": "company", "企业": "company"}, "person"
        ),
        "phone": cells.phone(region),
        "email": cells.email,
        "wechat": cells.text(64),
        "gender": cells.choice(
            C.Gender.values, {"男": "m", "女": "f", "male": "m", "female": "f", "未知": ""}, ""
        ),
        "birthday": cells.date(not_future=True),
        "birthday_calendar": cells.choice(
            ["solar", "lunar"], {"阳历": "solar", "公历": "solar", "农历": "lunar", "阴历": "lunar"}, "solar"
        ),
        "birthday_lunar_month": cells.integer(1, 12),
        "birthday_lunar_day": cells.integer(1, 30),
        "birthday_lunar_leap": cells.flag(blank=False),
        "company": cells.text(120),
        "title": cells.text(64),
        "province": cells.text(32),
        "city": cells.text(32),
        "address": cells.text(255),
        "source": cells.choice(
            C.Source.values,
            {
                "到店": "walk_in",
                "自然到店": "walk_in",
                "转介绍": "referral",
                "推荐": "referral",
                "活动": "campaign",
                "电话": "phone",
                "网络": "online",
                "车展": "event",
                "其他": "other",
            },
            "walk_in",
        ),
        "source_detail": cells.text(120),
        "referred_by_external_id": cells.text(64),
        "owner_username": cells.text(150),
        "store_code": cells.text(32),
        "status": cells.choice(
            [C.Status.PROSPECT, C.Status.ACTIVE, C.Status.LOST],
            {"潜在": "prospect", "潜客": "prospect", "客户": "active", "成交": "active", "流失": "lost"},
            "active",
        ),
        "tier": cells.choice(C.Tier.values, {"金牌": "gold", "银牌": "silver", "铜牌": "bronze"}, ""),
        "customer_type": cells.choice(
            C.Type.values,
            {"利润型": "profit", "数量型": "volume", "关系型": "relationship", "战略型": "strategic"},
            "",
        ),
        "tags": cells.tag_list,
        **{col: cells.flag(blank=None) for col in CONSENT_COLUMNS},
        "personality": cells.text(10_000),
        "preferences": cells.text(10_000),
        "special_needs": cells.text(10_000),
        "form_family": cells.text(10_000),
        "form_occupation": cells.text(10_000),
        "form_recreation": cells.text(10_000),
        "form_money": cells.text(10_000),
        "lost_reason": cells.text(255),
    }


class _Row:
    __slots__ = (
        "consents",
        "errors",
        "ext",
        "id",
        "is_new",
        "keys",
        "line",
        "match",
        "phone_key",
        "ref",
        "tags",
        "values",
    )

    def __init__(self, line: int):
        self.line = line
        self.values: dict[str, Any] = {}
        self.errors: list[tuple[str, str]] = []
        self.ext: str | None = None
        self.ref = ""
        self.tags: tuple[str, ...] | None = None
        self.consents: dict[str, bool] = {}
        self.phone_key = ""
        self.match: tuple[Any, ...] | None = None
        self.id: int | None = None
        self.is_new = True
        self.keys: tuple[str, ...] = ()  # search keys if the row turns out new (see prepare)


class CustomerEngine(Engine):
    def __init__(self, ctx: Context, positions: dict[str, int]):
        super().__init__(ctx, positions)
        cleaners = _cleaners(ctx.region)
        special = {"external_id", "tags", "referred_by_external_id", "owner_username", "store_code"}
        special |= set(CONSENT_COLUMNS)
        # Plain columns are cleaned in one tight loop; the rest below it.
        self.plain = [
            (col, positions[col], cleaners[col])
            for col in cleaners
            if col in positions and col not in special
        ]
        self.cleaners = cleaners
        self.consent_cols = [
            (col, ch, positions[col], cleaners[col])
            for col, ch in CONSENT_COLUMNS.items()
            if col in positions
        ]
        self.special_at = tuple(
            positions.get(c)
            for c in ("external_id", "owner_username", "store_code", "referred_by_external_id", "tags")
        )
        self.clean_ext = cleaners["external_id"]
        self.has_tags = "tags" in positions
        # Attributes a matched customer gets from the file (external_id is never overwritten).
        self.written = [c for c, _, _ in self.plain] + [RESOLVED[c] for c in RESOLVED if c in positions]
        self.fields = [f for f in Customer._meta.concrete_fields]
        self.insert_columns = [str(f.column) for f in self.fields]
        self.attnames = [f.attname for f in self.fields]
        self.defaults = {f.attname: f.get_default() for f in self.fields}
        self.defaults.update(organisation_id=ctx.org_id, version=1, created_at=ctx.now, updated_at=ctx.now)
        history_model = Customer.history.model  # type: ignore[attr-defined]
        self.tracked = [
            f.column for f in history_model._meta.concrete_fields if not f.name.startswith("history_")
        ]
        self.seen = SeenKeys()
        self._name_keys: dict[str, frozenset[str]] = {}
        self.scoped = ctx.actor is not None and ctx.actor.role != permissions.OWNER
        self.staged = False
        self._consents_now: dict[tuple[int, str], bool] = {}

    # -- parsing ---------------------------------------------------------------------------

    def _parse(self, line: int, row_cells: list[str]) -> _Row:
        row = _Row(line)
        values = row.values
        errors = row.errors
        width = len(row_cells)
        for col, idx, clean in self.plain:
            try:
                values[col] = clean(row_cells[idx] if idx < width else "")
            except cells.CellError as exc:
                errors.append((col, str(exc)))
        ext_at, owner_at, store_at, ref_at, tags_at = self.special_at
        if ext_at is not None and ext_at < width:
            try:
                row.ext = self.clean_ext(row_cells[ext_at])
            except cells.CellError as exc:
                errors.append(("external_id", str(exc)))
        if values.get("birthday_calendar") == "lunar" and (
            not values.get("birthday_lunar_month") or not values.get("birthday_lunar_day")
        ):
            for col in ("birthday_lunar_month", "birthday_lunar_day"):
                if not values.get(col) and not any(e[0] == col for e in errors):
                    errors.append((col, "required for a lunar birthday"))
        ctx = self.ctx
        if owner_at is not None:
            raw = row_cells[owner_at].strip() if owner_at < width else ""
            owner_id, owner_store, err = ctx.user(cells.unprotect(raw))
            if err:
                errors.append(("owner_username", err))
            values["owner_id"] = owner_id
            if store_at is None and owner_store:
                values["store_id"] = owner_store
        if store_at is not None:
            raw = row_cells[store_at].strip() if store_at < width else ""
            store_id, err = ctx.store(cells.unprotect(raw))
            if err:
                errors.append(("store_code", err))
            values["store_id"] = store_id
        if ref_at is not None:
            row.ref = cells.unprotect(row_cells[ref_at].strip()) if ref_at < width else ""
            if row.ref and row.ref == row.ext:
                errors.append(("referred_by_external_id", "a customer cannot refer themselves"))
        if tags_at is not None:
            try:
                row.tags = cells.tag_list(row_cells[tags_at] if tags_at < width else "")
            except cells.CellError as exc:
                errors.append(("tags", str(exc)))
        for col, channel, idx, clean in self.consent_cols:
            try:
                granted = clean(row_cells[idx] if idx < width else "")
            except cells.CellError as exc:
                errors.append((col, str(exc)))
                continue
            if granted is not None:
                row.consents[channel] = granted
        if row.ext is None and values.get("phone"):
            row.phone_key = "p:" + values["phone"]
        return row

    # -- per chunk -------------------------------------------------------------------------

    def prepare(self, batch: list[tuple[int, list[str]]]) -> list[_Row]:
        """Parse and validate a chunk, and work out the search keys each row gets if it is new.

        Runs on the reader thread while the database writes the previous chunk, so the keys
        cost nothing on the writing side. A new customer has no other phones, plates or VINs
        yet: its keys are those of its name and phone, as ``customer_keys`` makes them.
        """
        parse = self._parse
        rows = [parse(line, c) for line, c in batch]
        name_keys = self._name_keys
        for row in rows:
            if row.errors:
                continue
            name = row.values.get("name", "")
            keys = name_keys.get(name)
            if keys is None:
                if len(name_keys) > 200_000:  # names repeat a lot; a bounded cache is plenty
                    name_keys.clear()
                keys = name_keys[name] = frozenset(customer_keys(name=name, phones=[], plates=[], vins=[]))
            digits = row.values.get("phone", "").lstrip("+")
            row.keys = (
                (*keys, "p:" + digits[-4:])
                if len(digits) >= 4 and "p:" + digits[-4:] not in keys
                else tuple(keys)
            )
        return rows

    def process(self, rows: list[_Row]) -> None:
        ctx = self.ctx
        self._reject_duplicates(rows)
        good = [r for r in rows if not r.errors]
        self._match_existing(good)
        good = [r for r in good if not r.errors]
        self._resolve_referrers(good)
        good = [r for r in good if not r.errors]
        changes = self._classify(good)
        for row in rows:
            if row.errors:
                ctx.result.reject(row.line, row.errors)
        ctx.result.unchanged += len(good) - len(changes)
        ctx.result.created += sum(1 for r in changes if r.is_new)
        ctx.result.updated += sum(1 for r in changes if not r.is_new)
        if not ctx.dry_run and changes:
            with transaction.atomic():
                self._write(changes)
        self.seen.add({k: r.line for r in good for k in self._keys(r)})

    @staticmethod
    def _keys(row: _Row) -> list[str]:
        keys = []
        if row.ext is not None:
            keys.append("e:" + row.ext)
        if row.phone_key:
            keys.append(row.phone_key)
        return keys

    def _reject_duplicates(self, rows: list[_Row]) -> None:
        wanted = [k for r in rows if not r.errors for k in self._keys(r)]
        earlier = self.seen.earlier_lines(wanted)
        here: dict[str, int] = {}
        for row in rows:
            if row.errors:
                continue
            for key in self._keys(row):
                first = earlier.get(key) or here.get(key)
                if first is not None:
                    fname = "external_id" if key.startswith("e:") else "phone"
                    row.errors.append((fname, f"duplicate of line {first}"))
                    break
            if not row.errors:
                for key in self._keys(row):
                    here[key] = row.line

    def _scope_case(self) -> Case:
        assert self.ctx.actor is not None
        return Case(
            When(permissions.customer_scope(self.ctx.actor), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )

    def _match_existing(self, rows: list[_Row]) -> None:
        """Find each row's customer: by external id, else by phone (see docs/IMPORT.md)."""
        if not rows:
            return
        cols = ["pk", "external_id", *self.written]
        if "phone" not in cols:
            cols.append("phone")
        base = Customer.objects.filter(organisation_id=self.ctx.org_id).exclude(status=Customer.Status.ERASED)
        if self.scoped:
            base = base.annotate(_in_scope=self._scope_case())
            cols.append("_in_scope")
        exts = [r.ext for r in rows if r.ext is not None]
        by_ext: dict[str, tuple[Any, ...]] = {}
        if exts:
            by_ext = {
                m[1]: m
                for m in base.filter(writers.column_in(Customer, "external_id", exts)).values_list(*cols)
            }
        phones = {
            r.values["phone"]
            for r in rows
            if r.values.get("phone") and (r.ext is None or r.ext not in by_ext)
        }
        by_phone: dict[str, list[tuple[Any, ...]]] = {}
        if phones:
            phone_at = cols.index("phone")
            for m in base.filter(writers.column_in(Customer, "phone", list(phones))).values_list(*cols):
                by_phone.setdefault(m[phone_at], []).append(m)
        for row in rows:
            match = by_ext.get(row.ext) if row.ext is not None else None
            if match is None and row.values.get("phone"):
                found = by_phone.get(row.values["phone"], [])
                if row.ext is not None:
                    found = [m for m in found if m[1] is None]
                if len(found) > 1:
                    row.errors.append(("phone", "several customers have this phone; give their external_id"))
                    continue
                match = found[0] if found else None
            if match is not None and self.scoped and not match[-1]:
                row.errors.append(
                    (
                        "external_id" if row.ext else "phone",
                        "this customer belongs to someone outside your scope",
                    )
                )
                continue
            row.match = match

    def _resolve_referrers(self, rows: list[_Row]) -> None:
        refs = {r.ref for r in rows if r.ref}
        if not refs:
            return
        known = dict(
            Customer.objects.filter(
                writers.column_in(Customer, "external_id", list(refs)), organisation_id=self.ctx.org_id
            ).values_list("external_id", "pk")
        )
        earlier = self.seen.earlier_lines("e:" + r for r in refs if r not in known)
        here = {r.ext: r.line for r in rows if r.ext is not None}
        for row in rows:
            if not row.ref:
                continue
            if row.ref in known:
                row.values["referred_by_id"] = known[row.ref]
            elif ("e:" + row.ref) in earlier or here.get(row.ref, row.line) < row.line:
                row.values["referred_by_id"] = row.ref  # replaced by the new id in _write
            else:
                row.errors.append(
                    (
                        "referred_by_external_id",
                        f"unknown customer {row.ref!r} (not in the archive or earlier in the file)",
                    )
                )
        for row in rows:
            if "referred_by_external_id" in self.positions and not row.ref:
                row.values["referred_by_id"] = None

    def _classify(self, rows: list[_Row]) -> list[_Row]:
        """Rows that create or change a customer; unchanged ones are left out."""
        matched = [r for r in rows if r.match is not None]
        tags_now: dict[int, tuple[str, ...]] = {}
        consents_now: dict[tuple[int, str], bool] = {}
        ids = [r.match[0] for r in matched if r.match is not None]
        if ids and self.has_tags:
            through = Customer.tags.through
            for cid, name in through.objects.filter(customer_id__in=ids).values_list(
                "customer_id", "tag__name"
            ):
                tags_now[cid] = (*tags_now.get(cid, ()), name)
            tags_now = {k: tuple(sorted(v)) for k, v in tags_now.items()}
        if ids and self.consent_cols:
            for cid, channel, granted in Consent.objects.filter(customer_id__in=ids).values_list(
                "customer_id", "channel", "granted"
            ):
                consents_now[(cid, channel)] = granted
        self._consents_now = consents_now
        changes = []
        offset = 2  # pk, external_id come first in the matched tuple
        for row in rows:
            if row.match is None:
                changes.append(row)
                continue
            row.is_new = False
            row.id = row.match[0]
            changed = row.ext is not None and row.match[1] is None
            values = row.values
            for i, attname in enumerate(self.written):
                if attname in values and values[attname] != row.match[offset + i]:
                    changed = True
                    break
            if not changed and row.tags is not None and tags_now.get(row.id, ()) != row.tags:
                changed = True
            if not changed:
                for channel, granted in row.consents.items():
                    if consents_now.get((row.id, channel)) != granted:
                        changed = True
                        break
            if changed:
                row.consents = {
                    ch: g for ch, g in row.consents.items() if consents_now.get((row.id, ch)) != g
                }
                changes.append(row)
        return changes

    # -- writing ---------------------------------------------------------------------------

    def _ensure_staging(self) -> None:
        if self.staged:
            writers.staging_clear(STAGING)
            writers.staging_clear(STAGING_CONSENT)
            return
        writers.staging_create(STAGING, Customer._meta.db_table, [("is_new", "boolean")])
        writers.staging_create_columns(
            STAGING_CONSENT,
            [
                ("customer_id", "bigint"),
                ("channel", "varchar(8)"),
                ("granted", "boolean"),
                ("op", "varchar(1)"),
            ],
        )
        self.staged = True

    def close(self) -> None:
        if self.staged:
            writers.staging_drop(STAGING)
            writers.staging_drop(STAGING_CONSENT)
            self.staged = False

    def _write(self, rows: list[_Row]) -> None:
        ctx = self.ctx
        writers.bulk_transaction_settings()
        table = Customer._meta.db_table
        new_rows = [r for r in rows if r.is_new]
        for row, new_id in zip(new_rows, writers.allocate_ids(table, len(new_rows)), strict=True):
            row.id = new_id
        new_by_ext = {r.ext: r.id for r in new_rows if r.ext is not None}
        default_store = ctx.actor.store_id if ctx.actor is not None else None
        for row in rows:
            ref = row.values.get("referred_by_id")
            if isinstance(ref, str):
                row.values["referred_by_id"] = new_by_ext.get(ref)
        self._ensure_staging()
        attnames = self.attnames
        # Rows are built by position from one list of defaults: building a dict of all 40-odd
        # columns per row cost twice as much, on the writing side of the pipeline.
        at = {a: i for i, a in enumerate(attnames)}
        base = [*(self.defaults[a] for a in attnames), True]
        id_at, ext_at, store_at, new_at = at["id"], at["external_id"], at["store_id"], len(attnames)
        store_default = "store_code" not in self.positions

        def staged() -> Any:
            for row in rows:
                out = base.copy()
                for attname, value in row.values.items():
                    i = at.get(attname)
                    if i is not None:
                        out[i] = value
                out[id_at] = row.id
                # A blank external id in the file never clears the one on file.
                out[ext_at] = row.ext if row.ext is not None or row.match is None else row.match[1]
                if row.is_new and out[store_at] is None and store_default:
                    out[store_at] = default_store
                out[new_at] = row.is_new
                yield out

        writers.load_rows(STAGING, [*self.insert_columns, "is_new"], staged())
        columns = {f.attname: str(f.column) for f in self.fields}
        update_cols = [columns[a] for a in self.written]
        update_cols.append("external_id")
        writers.upsert_from_staging(
            table=table,
            has_updates=len(new_rows) < len(rows),
            # In name order, the inserts into the three indexes that start with the name walk
            # their leaf pages once per chunk instead of at random; this matters once the
            # table outgrows the server's buffer cache.
            order_by="name",
            staging=STAGING,
            insert_columns=self.insert_columns,
            update_columns=[*update_cols, "updated_at"],
            conflict=["organisation_id", "external_id"],
            version_column="version",
        )
        writers.history_from_staging(
            table=table,
            history_table=Customer.history.model._meta.db_table,  # type: ignore[attr-defined]
            staging=STAGING,
            tracked_columns=self.tracked,
            at=ctx.now,
            user_id=ctx.user_id,
            reason=ctx.reason,
        )
        self._write_search_keys(rows)
        self._write_consents(rows)
        if self.has_tags:
            self._write_tags(rows)

    def _write_search_keys(self, rows: list[_Row]) -> None:
        """Same keys as services.search_keys_rebuild, computed for the whole chunk at once."""
        touched = [r for r in rows if r.is_new or "name" in r.values or "phone" in r.values]
        old_ids = [r.id for r in touched if not r.is_new and r.id is not None]
        phones: dict[int, list[str]] = {}
        plates: dict[int, list[str]] = {}
        vins: dict[int, list[str]] = {}
        names: dict[int, tuple[str, str]] = {}
        if old_ids:
            for cid, name, phone in Customer.objects.filter(pk__in=old_ids).values_list(
                "pk", "name", "phone"
            ):
                names[cid] = (name, phone)
            for cid, number in CustomerPhone.objects.filter(customer_id__in=old_ids).values_list(
                "customer_id", "number"
            ):
                phones.setdefault(cid, []).append(number)
            for cid, plate, vin in OwnedProduct.objects.filter(customer_id__in=old_ids).values_list(
                "customer_id", "plate", "vin"
            ):
                if plate:
                    plates.setdefault(cid, []).append(plate)
                if vin:
                    vins.setdefault(cid, []).append(vin)
            writers.delete_where_in(CustomerSearchKey._meta.db_table, "customer_id", old_ids)

        def keys() -> Any:
            for row in touched:
                cid = row.id
                assert cid is not None
                if row.is_new:
                    for key in row.keys:
                        yield (cid, key)
                    continue
                name, phone = names.get(cid, ("", ""))
                extra, row_plates, row_vins = phones.get(cid, []), plates.get(cid, []), vins.get(cid, [])
                for key in customer_keys(
                    name=name, phones=[phone, *extra] if phone else extra, plates=row_plates, vins=row_vins
                ):
                    yield (cid, key)

        # Sorted by key, the rows reach the (key, customer) unique index in its order: each leaf
        # page is visited once per chunk, not once per key, which keeps the insert cheap once the
        # index no longer fits the server's buffer cache.
        ordered = sorted(keys(), key=itemgetter(1))
        writers.load_rows(CustomerSearchKey._meta.db_table, ["customer_id", "key"], ordered)

    def _write_consents(self, rows: list[_Row]) -> None:
        staged = []
        for row in rows:
            if not row.consents:
                continue
            existing = self._consents_now
            for channel, granted in row.consents.items():
                op = "~" if (row.id, channel) in existing else "+"
                staged.append((row.id, channel, granted, op))
        if not staged:
            return
        writers.load_rows(STAGING_CONSENT, ["customer_id", "channel", "granted", "op"], staged)
        writers.consents_from_staging(
            consent_table=Consent._meta.db_table,
            history_table=Consent.history.model._meta.db_table,  # type: ignore[attr-defined]
            staging=STAGING_CONSENT,
            at=self.ctx.now,
            user_id=self.ctx.user_id,
            reason=self.ctx.reason,
        )

    def _write_tags(self, rows: list[_Row]) -> None:
        tagged = [r for r in rows if r.tags is not None]
        names = {n for r in tagged for n in (r.tags or ())}
        org = self.ctx.org_id
        ids: dict[str, int] = {}
        if names:
            ids = dict(Tag.objects.filter(organisation_id=org, name__in=names).values_list("name", "pk"))
            missing = names - set(ids)
            if missing:
                Tag.objects.bulk_create(
                    [Tag(organisation_id=org, name=n) for n in missing], ignore_conflicts=True
                )
                ids = dict(Tag.objects.filter(organisation_id=org, name__in=names).values_list("name", "pk"))
        through = Customer.tags.through._meta.db_table
        writers.delete_where_in(through, "customer_id", [r.id for r in tagged if not r.is_new and r.id])
        writers.load_rows(
            through, ["customer_id", "tag_id"], [(r.id, ids[n]) for r in tagged for n in (r.tags or ())]
        )
