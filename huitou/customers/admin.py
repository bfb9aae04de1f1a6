"""Django admin for the archive: a superuser's tool for inspection and repair, not a work screen.

Lists never count the whole table (1M customers) and every foreign key is a raw id, so no page
loads a million-row dropdown. Saves go through the model (the audit history records the
superuser as the author) and rebuild the search keys the services would. Customers are never
deleted here: erasure keeps the sales figures and is done on the customer's privacy page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from .models import (
    Activity,
    ConfidentialNote,
    Consent,
    Customer,
    CustomerPhone,
    OwnedProduct,
    PersonalDate,
    PrivacyRequest,
    Product,
    Purchase,
    PurchaseLine,
    Tag,
    Testimonial,
)
from .services import search_keys_rebuild


class BigTableAdmin(SimpleHistoryAdmin):
    show_full_result_count = False
    list_per_page = 50


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "organisation")
    list_filter = ("organisation",)
    search_fields = ("name",)


class CustomerPhoneInline(admin.TabularInline):
    model = CustomerPhone
    extra = 0


class PersonalDateInline(admin.TabularInline):
    model = PersonalDate
    extra = 0


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0
    raw_id_fields = ("recorded_by",)


@admin.register(Customer)
class CustomerAdmin(BigTableAdmin):
    list_display = ("id", "name", "phone", "status", "owner", "store", "organisation", "updated_at")
    list_filter = ("organisation", "status", "tier", "kind")
    list_select_related = ("owner", "store", "organisation")
    # Exact phone / external id only: a substring search cannot use an index at this size.
    search_fields = ("=phone", "=external_id", "=id")
    raw_id_fields = ("owner", "store", "referred_by", "merged_into")
    filter_horizontal = ("tags",)
    readonly_fields = ("version", "anonymised_at", "merged_into", "created_at", "updated_at")
    inlines = (CustomerPhoneInline, PersonalDateInline, ConsentInline)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            obj.version += 1
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        search_keys_rebuild(customer_ids=[form.instance.pk])

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Product)
class ProductAdmin(SimpleHistoryAdmin):
    list_display = ("sku", "name", "kind", "price", "active", "organisation")
    list_filter = ("organisation", "kind", "active")
    search_fields = ("=sku", "name")


@admin.register(OwnedProduct)
class OwnedProductAdmin(BigTableAdmin):
    list_display = ("id", "customer", "description", "vin", "plate", "delivered_on", "active")
    list_filter = ("organisation", "active")
    list_select_related = ("customer",)
    search_fields = ("=vin", "=plate", "=external_id")
    raw_id_fields = ("customer", "product")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        search_keys_rebuild(customer_ids=[obj.customer_id])


class PurchaseLineInline(admin.TabularInline):
    model = PurchaseLine
    extra = 0
    raw_id_fields = ("product",)


@admin.register(Purchase)
class PurchaseAdmin(BigTableAdmin):
    list_display = ("id", "customer", "ordered_on", "kind", "amount", "margin", "paid_amount", "rep")
    list_filter = ("organisation", "kind")
    list_select_related = ("customer", "rep")
    search_fields = ("=external_id", "=customer__id")
    raw_id_fields = ("customer", "store", "rep")
    date_hierarchy = "ordered_on"
    inlines = (PurchaseLineInline,)


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    show_full_result_count = False
    list_display = ("id", "customer", "kind", "occurred_at", "user", "subject")
    list_filter = ("organisation", "kind")
    list_select_related = ("customer", "user")
    search_fields = ("=customer__id",)
    raw_id_fields = ("customer", "user", "purchase")


@admin.register(Testimonial)
class TestimonialAdmin(SimpleHistoryAdmin):
    list_display = ("id", "customer", "product", "consent_given", "created_at")
    list_filter = ("consent_given",)
    raw_id_fields = ("customer", "product", "recorded_by")


@admin.register(ConfidentialNote)
class ConfidentialNoteAdmin(SimpleHistoryAdmin):
    list_display = ("id", "customer", "author", "created_at")
    raw_id_fields = ("customer", "author")


@admin.register(Consent)
class ConsentAdmin(SimpleHistoryAdmin):
    list_display = ("customer", "channel", "granted", "source", "recorded_at")
    list_filter = ("channel", "granted", "source")
    raw_id_fields = ("customer", "recorded_by")


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(admin.ModelAdmin):
    """The PIPL register: read-only, since it is evidence of what was done."""

    list_display = ("id", "kind", "customer", "requested_by", "done_at", "reason")
    list_filter = ("organisation", "kind")
    raw_id_fields = ("customer", "requested_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
