"""Cell cleaners: text from a file cell to a database value, or CellError with the reason.

Cheap on purpose: each runs once per cell of up to a million rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from huitou.core.phones import InvalidPhone, normalize_phone


class CellError(ValueError):
    pass


Cleaner = Callable[[str], Any]

_DATE_SEP = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]00:00(?::00)?)?$")
_DATE_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TRUE = {"1", "y", "yes", "true", "t", "是", "同意", "允许", "√", "x"}
_FALSE = {"0", "n", "no", "false", "f", "否", "不同意", "拒绝", "退订"}
# Export protects text cells against formula injection with a leading apostrophe; Excel hides it
# too, so one leading apostrophe is always taken off on import.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def unprotect(raw: str) -> str:
    return raw[1:] if raw[:1] == "'" else raw


def protect(text: str) -> str:
    if text and (text[0] in FORMULA_START or text[0] == "'"):
        return "'" + text
    return text


def text(max_len: int, *, required: bool = False) -> Cleaner:
    def clean(raw: str) -> str:
        value = raw.strip()
        if value[:1] == "'":
            value = value[1:].strip()
        if not value:
            if required:
                raise CellError("required")
            return ""
        if len(value) > max_len:
            raise CellError(f"too long ({len(value)} characters, at most {max_len})")
        return value

    return clean


def optional_key(max_len: int) -> Cleaner:
    """An identifier that is NULL when blank (external ids, VINs), so blanks never collide."""
    inner = text(max_len)

    def clean(raw: str) -> str | None:
        return inner(raw) or None

    return clean


def choice(values: Iterable[str], aliases: dict[str, str], default: str) -> Cleaner:
    table = {v.lower(): v for v in values}
    table.update({k.lower(): v for k, v in aliases.items()})
    allowed = ", ".join(v for v in values if v)

    def clean(raw: str) -> str:
        key = raw.strip().lower()
        if not key:
            return default
        try:
            return table[key]
        except KeyError:
            raise CellError(f"unknown value {raw.strip()!r}; use one of: {allowed}") from None

    return clean


def parse_date(raw: str) -> dt.date | None:
    value = raw.strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        pass
    m = _DATE_SEP.match(value) or _DATE_COMPACT.match(value)
    if m is None:
        raise CellError(f"not a date {value!r}; use YYYY-MM-DD")
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise CellError(f"impossible date {value!r}") from None


def date(*, required: bool = False, not_future: bool = False) -> Cleaner:
    # A cleaner lives for one import, so "today" is read once, not once per cell.
    today = dt.date.today()

    def clean(raw: str) -> dt.date | None:
        value = parse_date(raw)
        if value is None and required:
            raise CellError("required")
        if not_future and value is not None and value > today:
            raise CellError(f"date {value.isoformat()} is in the future")
        return value

    return clean


def integer(lo: int, hi: int) -> Cleaner:
    def clean(raw: str) -> int | None:
        value = raw.strip().replace(",", "")
        if not value:
            return None
        try:
            number = int(value)
        except ValueError:
            try:
                as_dec = Decimal(value)
            except InvalidOperation:
                raise CellError(f"not a whole number {raw.strip()!r}") from None
            if as_dec != as_dec.to_integral_value():
                raise CellError(f"not a whole number {raw.strip()!r}") from None
            number = int(as_dec)
        if not lo <= number <= hi:
            raise CellError(f"{number} is out of range {lo}–{hi}")
        return number

    return clean


def money(*, required: bool = False, negative: bool = False, default: Decimal | None = None) -> Cleaner:
    def clean(raw: str) -> Decimal | None:
        value = raw.strip().replace(",", "").replace("¥", "").replace("￥", "")
        if not value:
            if required:
                raise CellError("required")
            return default
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise CellError(f"not an amount {raw.strip()!r}") from None
        if not number.is_finite() or abs(number) >= Decimal("1e12"):
            raise CellError(f"not an amount {raw.strip()!r}")
        if number < 0 and not negative:
            raise CellError("must not be negative")
        return number.quantize(Decimal("0.01"))

    return clean


def flag(*, blank: bool | None) -> Cleaner:
    def clean(raw: str) -> bool | None:
        key = raw.strip().lower()
        if not key:
            return blank
        if key in _TRUE:
            return True
        if key in _FALSE:
            return False
        raise CellError(f"unknown value {raw.strip()!r}; use yes or no")

    return clean


def email(raw: str) -> str:
    value = unprotect(raw.strip()).strip()
    if not value:
        return ""
    if len(value) > 254 or not _EMAIL.match(value):
        raise CellError(f"not an e-mail address {value!r}")
    return value


def phone(region: str) -> Cleaner:
    def clean(raw: str) -> str:
        value = raw.strip()
        if not value:
            return ""
        if value[0] == "'":
            value = value[1:]
        try:
            return normalize_phone(value, region)
        except InvalidPhone:
            raise CellError(f"malformed phone number {value!r}") from None

    return clean


def tag_list(raw: str) -> tuple[str, ...] | None:
    if not raw:
        return ()
    value = unprotect(raw.strip())
    names = sorted({t.strip() for t in value.replace("；", ";").split(";") if t.strip()})
    for name in names:
        if len(name) > 40:
            raise CellError(f"tag {name!r} is too long (at most 40 characters)")
    return tuple(names)


def vin(raw: str) -> str | None:
    value = unprotect(raw.strip()).replace(" ", "").upper()
    if not value:
        return None
    if len(value) != 17 or not value.isalnum() or not value.isascii():
        raise CellError(f"a VIN has 17 letters and digits, not {value!r}")
    return value
