import pytest

from huitou.accounts import permissions
from huitou.accounts.services import policy_update
from huitou.core.errors import PermissionDenied, ValidationFailed
from huitou.customers.selectors import customer_queryset
from tests.factories import CustomerFactory


@pytest.fixture
def people(org_world):
    w = org_world
    w.c_rep1 = CustomerFactory(owner=w.rep1, name="王小明")
    w.c_rep2 = CustomerFactory(owner=w.rep2, name="李娜")
    w.c_rep3 = CustomerFactory(owner=w.rep3, name="赵磊")
    w.c_other = CustomerFactory(owner=w.other_owner, name="钱多多")
    return w


def visible(user):
    return set(customer_queryset(user).values_list("name", flat=True))


def test_rep_sees_only_own(people):
    assert visible(people.rep1) == {"王小明"}
    assert visible(people.rep3) == {"赵磊"}


def test_manager_sees_store_and_teams(people):
    assert visible(people.manager1) == {"王小明", "李娜"}
    assert visible(people.manager2) == {"赵磊"}


def test_manager_limited_to_teams_when_policy_says_so(people):
    org = people.org
    org.policy_data = {"people": {"manager_sees_whole_store": False}}
    org.save()
    people.rep3.team = people.t1  # rep3 works in store 2 but in manager1's team
    people.rep3.save()
    people.manager1.refresh_from_db()
    assert visible(people.manager1) == {"王小明", "李娜", "赵磊"}
    people.rep1.team = None
    people.rep1.save()
    people.manager1.refresh_from_db()
    assert visible(people.manager1) == {"李娜", "赵磊"}


def test_owner_sees_whole_org_not_other_org(people):
    assert visible(people.owner) == {"王小明", "李娜", "赵磊"}
    assert visible(people.other_owner) == {"钱多多"}


def test_dcrc_whole_org_and_aftersales_own_store(people):
    assert visible(people.dcrc) == {"王小明", "李娜", "赵磊"}
    assert visible(people.aftersales) == {"王小明", "李娜"}


def test_departed_or_inactive_user_sees_nothing(people):
    from django.utils import timezone

    people.rep1.left_at = timezone.now()
    people.rep1.save()
    assert visible(people.rep1) == set()
    people.owner.is_active = False
    people.owner.save()
    assert visible(people.owner) == set()


def test_phone_masking_follows_policy(people):
    assert permissions.phone_for(people.owner, "+8613812345678") == "138****5678"
    assert permissions.phone_for(people.rep1, "+8613812345678") == "13812345678"
    org = people.org
    org.policy_data = {"archive": {"unmasked_phone_roles": ["owner"]}}
    org.save()
    people.owner.refresh_from_db()
    people.rep1.refresh_from_db()
    assert permissions.phone_for(people.owner, "+8613812345678") == "13812345678"
    assert permissions.phone_for(people.rep1, "+8613812345678") == "138****5678"


def test_confidential_notes_only_owner_rep_and_managers(people):
    c = people.c_rep1
    assert permissions.can_read_confidential(people.rep1, c)
    assert permissions.can_read_confidential(people.manager1, c)
    assert permissions.can_read_confidential(people.owner, c)
    assert not permissions.can_read_confidential(people.rep2, c)
    assert not permissions.can_read_confidential(people.dcrc, c)
    assert not permissions.can_read_confidential(people.aftersales, c)


def test_policy_update_owner_only_and_validated(people):
    owner = people.owner
    with pytest.raises(PermissionDenied):
        policy_update(actor=people.manager1, data={}, version=1)
    with pytest.raises(ValidationFailed) as exc:
        policy_update(actor=owner, data={"archive": {"testimonials_per_product_target": -3}}, version=1)
    assert "archive.testimonials_per_product_target" in exc.value.errors
    people.org.refresh_from_db()
    assert people.org.policy_version == 1 and people.org.policy_data == {}
    policy = policy_update(actor=owner, data={"archive": {"testimonials_per_product_target": 12}}, version=1)
    assert policy.archive.testimonials_per_product_target == 12
    people.org.refresh_from_db()
    assert people.org.policy.archive.testimonials_per_product_target == 12
    assert people.org.policy_version == 2
    with pytest.raises(ValidationFailed):
        policy_update(actor=owner, data={}, version=1)  # stale


def test_a_managers_scope_sits_on_the_customer_row(people):
    """The manager's arm is the owner among the team's ids, not a join through the owner's team:
    the statement names no user or team table, so the owner and store indexes can answer it."""
    sql = str(customer_queryset(people.manager1).query)
    assert "accounts_team" not in sql and "accounts_user" not in sql
    assert visible(people.manager1) == {"王小明", "李娜"}


def test_the_team_ids_are_read_once_per_user_object(people, django_assert_num_queries):
    manager = people.manager1
    with django_assert_num_queries(1):
        first = permissions.team_member_ids(manager)
        again = permissions.team_member_ids(manager)
    assert sorted(first) == sorted([people.rep1.pk, people.rep2.pk]) and again == first
