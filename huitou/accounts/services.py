"""Writes about people: users, roles, tokens, policy."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone
from pydantic import ValidationError as PydanticValidationError

from huitou.core.errors import PermissionDenied, ValidationFailed

from .models import ApiToken, Organisation, Store, User
from .policy import OrgPolicy

ROLES = {r.value for r in User.Role}


def organisation_resolve(slug: str | None) -> Organisation:
    qs = Organisation.objects.all()
    if slug:
        qs = qs.filter(slug=slug)
    orgs = list(qs[:2])
    if len(orgs) != 1:
        raise ValidationFailed(
            {"org": ["name the organisation with --org" if orgs else "no such organisation"]}
        )
    return orgs[0]


@transaction.atomic
def user_create(
    *,
    username: str,
    role: str,
    store_code: str | None = None,
    password: str | None = None,
    organisation_slug: str | None = None,
    display_name: str = "",
) -> tuple[User, str]:
    if role not in ROLES:
        raise ValidationFailed({"role": [f"unknown role {role!r}; one of {', '.join(sorted(ROLES))}"]})
    if User.objects.filter(username=username).exists():
        raise ValidationFailed({"username": [f"{username!r} is taken"]})
    org = organisation_resolve(organisation_slug)
    store = None
    if store_code:
        store = Store.objects.filter(organisation=org, code=store_code).first()
        if store is None:
            raise ValidationFailed({"store": [f"no store with code {store_code!r}"]})
    password = password or secrets.token_urlsafe(9)
    user = User(username=username, role=role, organisation=org, store=store, display_name=display_name)
    user.set_password(password)
    user.save()
    return user, password


def api_token_create(*, user: User, name: str = "default") -> str:
    """Create a token and return it; only its hash is kept."""
    key = ApiToken.generate_key()
    ApiToken.objects.create(user=user, name=name, prefix=key[3:11], key_hash=ApiToken.hash_key(key))
    return key


def api_token_revoke(*, user: User, token_id: int) -> None:
    ApiToken.objects.filter(user=user, pk=token_id, revoked_at__isnull=True).update(revoked_at=timezone.now())


@transaction.atomic
def policy_update(*, actor: User, data: dict[str, Any], version: int) -> OrgPolicy:
    """Replace the organisation's policy after validating every field; refuses a stale version."""
    if actor.role != User.Role.OWNER:
        raise PermissionDenied("only the owner sets policy")
    if actor.organisation_id is None:
        raise PermissionDenied("no organisation")
    org = Organisation.objects.select_for_update().get(pk=actor.organisation_id)
    if org.policy_version != version:
        raise ValidationFailed({"__all__": ["policy was changed by someone else; reload"]})
    try:
        policy = OrgPolicy.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationFailed(
            {".".join(str(p) for p in e["loc"]): [e["msg"]] for e in exc.errors()}
        ) from exc
    org.policy_data = policy.model_dump(mode="json")
    org.policy_version = version + 1
    org.save(update_fields=["policy_data", "policy_version", "updated_at"])
    return policy
