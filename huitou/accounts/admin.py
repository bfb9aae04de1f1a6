"""Django admin for organisations and people: a superuser's tool (owners use the settings pages)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from pydantic import ValidationError

from .models import ApiToken, Organisation, Store, Team, User
from .policy import OrgPolicy


class OrganisationAdminForm(forms.ModelForm):
    class Meta:
        model = Organisation
        fields = ("name", "slug", "kind", "policy_data", "policy_version")

    def clean_policy_data(self) -> dict[str, Any]:
        # The same typed check as the settings page: a wrong value is refused with its field name.
        data = self.cleaned_data["policy_data"] or {}
        try:
            OrgPolicy.model_validate(data)
        except ValidationError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return dict(data)


class StoreInline(admin.TabularInline):
    model = Store
    extra = 0


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    form = OrganisationAdminForm
    list_display = ("name", "slug", "kind", "policy_version", "created_at")
    search_fields = ("name", "slug")
    inlines = (StoreInline,)


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "city", "organisation")
    list_filter = ("organisation",)
    search_fields = ("name", "code")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "store", "manager", "organisation")
    list_filter = ("organisation",)
    raw_id_fields = ("manager",)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "display_name", "role", "organisation", "store", "is_active", "left_at")
    list_filter = ("organisation", "role", "is_active", "is_superuser")
    search_fields = ("username", "display_name", "phone")
    raw_id_fields = ("team",)
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        (
            _("huitou"),
            {"fields": ("display_name", "phone", "organisation", "role", "store", "team", "left_at")},
        ),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        (_("huitou"), {"fields": ("organisation", "role", "store")}),
    )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created by their user (the key is shown once); here they can only be revoked."""

    list_display = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    readonly_fields = ("user", "name", "prefix", "key_hash", "created_at", "last_used_at")
    fields = (*readonly_fields, "revoked_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
