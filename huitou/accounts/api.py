"""JSON endpoints about the caller and the organisation's policy."""

from typing import Any

from ninja import Field, Router, Schema
from pydantic import ConfigDict

from huitou.accounts import permissions, services
from huitou.api.schemas import ERROR_RESPONSES
from huitou.core.errors import PermissionDenied
from huitou.core.http import AuthedRequest

from .policy import OrgPolicy

router = Router(tags=["accounts"])


class StoreOut(Schema):
    id: int
    code: str
    name: str


class OrganisationOut(Schema):
    id: int
    slug: str
    name: str
    kind: str


class MeOut(Schema):
    id: int
    username: str
    display_name: str
    role: str
    role_label: str
    store: StoreOut | None
    team_id: int | None
    organisation: OrganisationOut
    sees_full_phone: bool


class PolicyOut(Schema):
    version: int = Field(description="Send it back with PUT; a stale one is refused")
    policy: OrgPolicy


class PolicyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(..., ge=1)
    policy: dict[str, Any] = Field(description="The whole policy document; missing keys take defaults")


def _require_owner(request: AuthedRequest) -> None:
    if request.user.role != permissions.OWNER:
        raise PermissionDenied("only the owner reads and sets policy")


@router.get("/me", response={200: MeOut, **ERROR_RESPONSES}, summary="Who am I")
def me(request: AuthedRequest) -> Any:
    user = request.user
    return MeOut(
        id=user.pk,
        username=user.username,
        display_name=user.label,
        role=user.role,
        role_label=str(user.get_role_display()),
        store=StoreOut.model_validate(user.store) if user.store else None,
        team_id=user.team_id,
        organisation=OrganisationOut.model_validate(user.organisation),
        sees_full_phone=permissions.sees_full_phone(user),
    )


@router.get("/policy", response={200: PolicyOut, **ERROR_RESPONSES}, summary="Organisation policy")
def policy_get(request: AuthedRequest) -> Any:
    _require_owner(request)
    org = request.user.organisation
    assert org is not None  # every authenticated API caller is an active member
    return PolicyOut(version=org.policy_version, policy=org.policy)


@router.put("/policy", response={200: PolicyOut, **ERROR_RESPONSES}, summary="Replace the policy")
def policy_put(request: AuthedRequest, payload: PolicyIn) -> Any:
    policy = services.policy_update(actor=request.user, data=payload.policy, version=payload.version)
    return PolicyOut(version=payload.version + 1, policy=policy)
