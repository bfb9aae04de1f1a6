from huitou.core.text import customer_keys, name_keys, query_name_keys


def test_name_keys_are_bigrams_and_first_char():
    assert name_keys("张伟明") == {"n:张", "n:张伟", "n:伟明"}


def test_query_keys_single_and_multi():
    assert query_name_keys("张") == ["n:张"]
    assert query_name_keys("伟明") == ["n:伟明"]
    assert query_name_keys("张伟明") == ["n:伟明", "n:张伟"]


def test_customer_keys_cover_phone_plate_vin():
    keys = customer_keys(
        name="李娜", phones=["+8613812345678"], plates=["粤B·12345"], vins=["LSVAB2BJ012345678"]
    )
    assert {"p:5678", "c:粤B12345", "c:12345", "v:345678", "n:李娜", "n:李"} <= keys
