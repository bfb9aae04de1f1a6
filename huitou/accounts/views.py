"""Account pages: organisation settings (owner only) and the profile with API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from huitou.accounts import permissions
from huitou.core.errors import PermissionDenied, ValidationFailed
from huitou.core.http import AuthedRequest

from . import services
from .forms import ApiTokenForm, PolicyForm


@login_required
@require_http_methods(["GET", "POST"])
def settings_view(request: AuthedRequest) -> HttpResponse:
    user = request.user
    if not permissions.can_manage_people(user) or not permissions.is_active_member(user):
        raise DjangoPermissionDenied
    org = user.organisation
    assert org is not None  # is_active_member guarantees it
    form = PolicyForm(request.POST or None, policy=org.policy, version=org.policy_version)
    if request.method == "POST" and form.is_valid():
        payload = form.policy_payload()
        if not form.errors:
            try:
                services.policy_update(actor=user, data=payload, version=form.cleaned_data["version"])
            except ValidationFailed as exc:
                form.add_service_errors(exc)
            except PermissionDenied as exc:
                raise DjangoPermissionDenied from exc
            else:
                messages.success(request, _("Settings saved."))
                return redirect("accounts:settings")
    return render(request, "accounts/settings.html", {"form": form, "org": org})


@login_required
@require_http_methods(["GET", "POST"])
def profile_view(request: AuthedRequest) -> HttpResponse:
    user = request.user
    form = ApiTokenForm(request.POST if request.POST.get("action") == "create" else None)
    new_token = ""
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "create" and form.is_valid():
            # Rendered, not redirected: the token exists in clear only in this one response.
            new_token = services.api_token_create(user=user, name=form.cleaned_data["name"])
            form = ApiTokenForm()
        elif action == "revoke":
            try:
                token_id = int(request.POST.get("token_id", ""))
            except ValueError:
                token_id = 0
            services.api_token_revoke(user=user, token_id=token_id)
            messages.success(request, _("Token revoked."))
            return redirect("accounts:profile")
    # The user's own tokens only: the related manager is the scope.
    tokens = user.api_tokens.filter(revoked_at__isnull=True).order_by("-created_at")
    response = render(
        request, "accounts/profile.html", {"form": form, "tokens": tokens, "new_token": new_token}
    )
    if new_token:
        response["Cache-Control"] = "no-store"
    return response
