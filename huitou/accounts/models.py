from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from huitou.core.models import TimeStampedModel

from .policy import OrgPolicy


class Organisation(TimeStampedModel):
    class Kind(models.TextChoices):
        DEALER = "dealer", _("Car dealer (4S)")
        DISTRIBUTOR = "distributor", _("B2B distributor")
        RETAIL = "retail", _("Retail shop")

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.DEALER)
    policy_data = models.JSONField(default=dict, blank=True)
    policy_version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("organisation")

    def __str__(self) -> str:
        return self.name

    @property
    def policy(self) -> OrgPolicy:
        return OrgPolicy.model_validate(self.policy_data or {})


class Store(TimeStampedModel):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="stores")
    name = models.CharField(_("name"), max_length=120)
    code = models.CharField(_("code"), max_length=32)
    city = models.CharField(_("city"), max_length=64, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("store")
        constraints = [models.UniqueConstraint(fields=["organisation", "code"], name="store_code_unique")]

    def __str__(self) -> str:
        return self.name


class Team(TimeStampedModel):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="teams")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(_("name"), max_length=120)
    manager = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="managed_teams"
    )

    class Meta:
        verbose_name = _("team")

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        MANAGER = "manager", _("Manager")
        REP = "rep", _("Sales representative")
        DCRC = "dcrc", _("Customer-relations agent (DCRC)")
        AFTERSALES = "aftersales", _("After-sales staff")

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="users", null=True, blank=True
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.REP)
    store = models.ForeignKey(Store, on_delete=models.SET_NULL, null=True, blank=True, related_name="users")
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="members")
    display_name = models.CharField(_("display name"), max_length=64, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)

    class Meta:
        verbose_name = _("user")
        indexes = [models.Index(fields=["organisation", "role"], name="user_org_role_idx")]

    def __str__(self) -> str:
        return self.display_name or self.username

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        self.__dict__.pop("_team_member_ids", None)  # permissions.team_member_ids reads it afresh

    @property
    def label(self) -> str:
        return self.display_name or self.username


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only a hash is stored; the token is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=64, default="default")
    prefix = models.CharField(max_length=8, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @staticmethod
    def generate_key() -> str:
        return "ht_" + secrets.token_urlsafe(32)
