"""The JSON API under /api/v1/: one router per app, registered here.

To add an app's endpoints: write ``huitou/<app>/api.py`` with a ``router`` (thin endpoints calling
services and selectors, each with its own input/output schema, error codes from
``huitou.api.schemas.ERROR_RESPONSES``) and add it to ``ROUTERS`` below. Service errors
(``huitou.core.errors``) become 403/404/409/422 JSON responses without any code in the endpoint.
"""

from ninja import NinjaAPI

from huitou.accounts.api import router as accounts_router
from huitou.analytics.api import router as analytics_router
from huitou.customers.api import router as customers_router
from huitou.dashboards.api import router as dashboards_router
from huitou.feedback.api import router as feedback_router
from huitou.followups.api import router as plan_router
from huitou.followups.api_manage import router as plan_admin_router
from huitou.followups.outbox.api import router as outbox_router
from huitou.referrals.api import router as referrals_router
from huitou.reports.api import router as reports_router

from .auth import BearerTokenAuth, SessionCsrfAuth
from .errors import register_error_handlers

ROUTERS = [
    ("/", accounts_router),
    ("/customers", customers_router),
    ("/outbox", outbox_router),
    ("/plan", plan_router),
    ("/plan-admin", plan_admin_router),
    ("/analytics", analytics_router),
    ("/referrals", referrals_router),
    ("/feedback", feedback_router),
    ("/reports", reports_router),
    ("/dashboards", dashboards_router),
]

api = NinjaAPI(
    title="huitou API",
    version="1",
    description=(
        "Authenticate with `Authorization: Bearer ht_…` (a personal API token) or, from pages, with the "
        "session cookie plus the `X-CSRFToken` header."
    ),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    auth=[BearerTokenAuth(), SessionCsrfAuth()],
)
register_error_handlers(api)
for prefix, router in ROUTERS:
    api.add_router(prefix, router)
