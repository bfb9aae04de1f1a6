"""Search keys for Chinese names, phone suffixes, plates and VINs.

``LIKE '%…%'`` cannot use an index, and trigram indexes are useless for the two-character terms
people type for Chinese names (LIMITS.md). Instead every customer gets a handful of exact keys
(character bigrams and the first character of the name, the phone's last four digits, plate and
VIN fragments), stored in an indexed table; a search is an exact lookup of the query's own keys.
"""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[\s\-_.·•,，。()（）]+")
MAX_KEY = 24


def normalise(text: str) -> str:
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", text or "")).lower()


def name_keys(name: str) -> set[str]:
    n = normalise(name)
    if not n:
        return set()
    keys = {"n:" + n[:1]}
    keys.update("n:" + n[i : i + 2] for i in range(len(n) - 1))
    return {k[:MAX_KEY] for k in keys}


def query_name_keys(query: str) -> list[str]:
    """Keys a name query must all match: the bigrams of the query, or its single character."""
    q = normalise(query)
    if len(q) == 1:
        return ["n:" + q]
    return sorted({("n:" + q[i : i + 2])[:MAX_KEY] for i in range(len(q) - 1)})


def plate_normalise(plate: str) -> str:
    return normalise(plate).upper()


def customer_keys(*, name: str, phones: list[str], plates: list[str], vins: list[str]) -> set[str]:
    keys = name_keys(name)
    for phone in phones:
        digits = phone.lstrip("+")
        if len(digits) >= 4:
            keys.add("p:" + digits[-4:])
    for plate in plates:
        p = plate_normalise(plate)
        if p:
            keys.add("c:" + p)
            if len(p) > 2:
                keys.add("c:" + p[2:])  # without province and city letter: 粤B·12345 → 12345
    for vin in vins:
        v = normalise(vin).upper()
        if len(v) >= 6:
            keys.add("v:" + v[-6:])
    return keys
