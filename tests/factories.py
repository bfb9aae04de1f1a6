"""Factories shared by every app's tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from huitou.accounts.models import Organisation, Store, Team, User
from huitou.customers.models import Customer, OwnedProduct, Product, Purchase


class OrganisationFactory(DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"测试集团{n}")
    slug = factory.Sequence(lambda n: f"org{n}")


class StoreFactory(DjangoModelFactory):
    class Meta:
        model = Store

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"第{n}店")
    code = factory.Sequence(lambda n: f"S{n}")


class TeamFactory(DjangoModelFactory):
    class Meta:
        model = Team

    store = factory.SubFactory(StoreFactory)
    organisation = factory.SelfAttribute("store.organisation")
    name = factory.Sequence(lambda n: f"销售{n}组")


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = User.Role.REP
    organisation = factory.SubFactory(OrganisationFactory)
    password = factory.PostGenerationMethodCall("set_password", "pw-12345678")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def _phone(n: int) -> str:
    return f"+86138{n % 100000000:08d}"


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer

    organisation = factory.SelfAttribute("owner.organisation")
    owner = factory.SubFactory(UserFactory)
    store = factory.SelfAttribute("owner.store")
    name = factory.Sequence(lambda n: f"客户{n}")
    phone = factory.Sequence(_phone)
    status = Customer.Status.ACTIVE


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product

    organisation = factory.SubFactory(OrganisationFactory)
    sku = factory.Sequence(lambda n: f"SKU{n}")
    name = factory.Sequence(lambda n: f"车型{n}")
    kind = Product.Kind.VEHICLE
    price = Decimal("150000.00")


class OwnedProductFactory(DjangoModelFactory):
    class Meta:
        model = OwnedProduct

    customer = factory.SubFactory(CustomerFactory)
    organisation = factory.SelfAttribute("customer.organisation")
    vin = factory.Sequence(lambda n: f"LSVAB2BJ0{n:08d}")
    plate = factory.Sequence(lambda n: f"粤B{n:05d}")
    delivered_on = dt.date(2025, 5, 1)


class PurchaseFactory(DjangoModelFactory):
    class Meta:
        model = Purchase

    customer = factory.SubFactory(CustomerFactory)
    organisation = factory.SelfAttribute("customer.organisation")
    ordered_on = dt.date(2025, 5, 1)
    amount = Decimal("150000.00")
    margin = Decimal("9000.00")


# Contact plan (huitou.followups).
from huitou.followups.models import Channel, ContactRule, Gift, Message, Purpose, Task, Trigger  # noqa: E402


class ContactRuleFactory(DjangoModelFactory):
    class Meta:
        model = ContactRule

    organisation = factory.SubFactory(OrganisationFactory)
    code = factory.Sequence(lambda n: f"rule-{n}")
    name = factory.Sequence(lambda n: f"Rule {n}")
    trigger = Trigger.DELIVERED
    offset_days = 7
    channel = Channel.CALL
    purpose = Purpose.SERVICE
    priority = 50


class GiftFactory(DjangoModelFactory):
    class Meta:
        model = Gift

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"礼品{n}")
    value = Decimal("50.00")


class TaskFactory(DjangoModelFactory):
    class Meta:
        model = Task

    customer = factory.SubFactory(CustomerFactory)
    organisation = factory.SelfAttribute("customer.organisation")
    assignee = factory.SelfAttribute("customer.owner")
    kind = Channel.CALL
    purpose = Purpose.SERVICE
    title = factory.Sequence(lambda n: f"回访 {n}")
    due_on = dt.date(2026, 11, 23)


class MessageFactory(DjangoModelFactory):
    class Meta:
        model = Message

    customer = factory.SubFactory(CustomerFactory)
    organisation = factory.SelfAttribute("customer.organisation")
    channel = Channel.SMS
    purpose = Purpose.MARKETING
    to = factory.SelfAttribute("customer.phone")
    body = "生日快乐"
    idempotency_key = factory.Sequence(lambda n: f"test-{n}")
    scheduled_for = factory.LazyFunction(lambda: dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC))
