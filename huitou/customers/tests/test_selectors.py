import pytest

from huitou.core.errors import NotFound
from huitou.customers import services
from huitou.customers.selectors import CustomerFilters, customer_360, customer_get, customer_list
from tests.factories import CustomerFactory


@pytest.fixture
def named(org_world):
    w = org_world
    for name, phone in [
        ("张伟", "13812340001"),
        ("张伟明", "13912345678"),
        ("王伟明", "13712349999"),
        ("李张", "13612340002"),
    ]:
        services.customer_create(actor=w.rep1, data={"name": name, "phone": phone})
    services.customer_create(actor=w.rep3, data={"name": "张伟", "phone": "13812340003"})
    return w


def names(page):
    return sorted(c.name for c in page.items)


def test_two_character_name_search(named):
    assert names(customer_list(named.rep1, CustomerFilters(q="张伟"))) == ["张伟", "张伟明"]
    assert names(customer_list(named.rep1, CustomerFilters(q="伟明"))) == ["张伟明", "王伟明"]


def test_single_character_is_a_surname_search(named):
    assert names(customer_list(named.rep1, CustomerFilters(q="张"))) == ["张伟", "张伟明"]


def test_three_character_search_requires_contiguous_match(named):
    services.customer_create(actor=named.rep1, data={"name": "张伟 伟明"})  # has both bigrams, not the string
    assert names(customer_list(named.rep1, CustomerFilters(q="张伟明"))) == ["张伟明"]


def test_phone_suffix_and_full_number(named):
    assert names(customer_list(named.rep1, CustomerFilters(q="5678"))) == ["张伟明"]
    assert names(customer_list(named.rep1, CustomerFilters(q="139 1234 5678"))) == ["张伟明"]


def test_search_respects_scope(named):
    assert names(customer_list(named.owner, CustomerFilters(q="张伟"))) == ["张伟", "张伟", "张伟明"]
    assert names(customer_list(named.rep3, CustomerFilters(q="张伟"))) == ["张伟"]
    assert names(customer_list(named.other_owner, CustomerFilters(q="张伟"))) == []


def test_pagination_counts(org_world):
    for i in range(7):
        CustomerFactory(owner=org_world.rep1, name=f"客户{i}")
    page = customer_list(org_world.rep1, CustomerFilters(sort="name"), page=2, size=3)
    assert [c.name for c in page.items] == ["客户3", "客户4", "客户5"]
    assert page.total == 7 and page.has_next and page.has_previous and not page.total_capped


def test_get_refuses_other_scope_and_guessed_ids(org_world):
    c = CustomerFactory(owner=org_world.rep2)
    with pytest.raises(NotFound):
        customer_get(org_world.rep1, c.pk)
    with pytest.raises(NotFound):
        customer_get(org_world.rep1, 987654321)
    assert customer_get(org_world.manager1, c.pk) == c


def test_360_hides_confidential_from_dcrc(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    services.confidential_note_add(actor=org_world.rep1, customer_id=c.pk, body="秘密")
    assert customer_360(org_world.dcrc, c.pk).confidential_notes is None
    assert [n.body for n in customer_360(org_world.manager1, c.pk).confidential_notes] == ["秘密"]


def test_count_is_free_on_a_last_page_and_cached_otherwise(org_world, django_assert_num_queries):
    for i in range(5):
        CustomerFactory(owner=org_world.rep1, name=f"客户{i}")
    rep = org_world.rep1
    _ = rep.organisation  # load it first: it is cached on the user
    with django_assert_num_queries(1):  # only the page: the total comes from its rows
        page = customer_list(rep, CustomerFilters(), size=10)
    assert page.total == 5 and not page.has_next
    first = customer_list(rep, CustomerFilters(), size=2)
    assert first.total == 5 and first.has_next
    services.customer_create(actor=rep, data={"name": "新来的"})
    again = customer_list(rep, CustomerFilters(sort="name"), size=2)  # other sort, same list
    assert again.total == 5  # the count is reused for a minute, not recomputed per page
    other = customer_list(rep, CustomerFilters(q="新来"), size=2)
    assert other.total == 1
