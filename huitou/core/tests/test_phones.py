import random

import phonenumbers
import pytest

from huitou.core.phones import InvalidPhone, display_phone, mask_phone, normalize_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "+8613812345678"),
        ("138 1234 5678", "+8613812345678"),
        ("+86 138-1234-5678", "+8613812345678"),
        ("008613812345678", "+8613812345678"),
        ("020-38881234", "+862038881234"),
    ],
)
def test_normalize_phone_to_e164(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "12345", "10012345678", "abc", "1381234567"])
def test_normalize_phone_rejects(raw):
    with pytest.raises(InvalidPhone):
        normalize_phone(raw)


def test_fast_path_agrees_with_phonenumbers_on_random_mobiles():
    rng = random.Random(7)
    for _ in range(3000):
        national = "1" + "".join(rng.choice("0123456789") for _ in range(10))
        try:
            expected = phonenumbers.is_valid_number(phonenumbers.parse(national, "CN"))
        except phonenumbers.NumberParseException:
            expected = False
        try:
            normalize_phone(national)
            got = True
        except InvalidPhone:
            got = False
        assert got == expected, national


def test_mask_and_display():
    assert mask_phone("+8613812345678") == "138****5678"
    assert display_phone("+8613812345678") == "13812345678"
    assert mask_phone("") == ""
