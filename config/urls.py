import os

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("", include("huitou.dashboards.urls")),
    path("accounts/", include("huitou.accounts.urls")),
    path("customers/", include("huitou.customers.urls")),
    path("plan/", include("huitou.followups.urls")),
    path("analytics/", include("huitou.analytics.urls")),
    path("referrals/", include("huitou.referrals.urls")),
    path("feedback/", include("huitou.feedback.urls")),
    path("reports/", include("huitou.reports.urls")),
    path("api/v1/", include("huitou.api.urls")),
]

# Benchmark baselines (bench/views.py); never mounted unless asked for.
if getattr(settings, "BENCH_VIEWS", os.environ.get("HUITOU_BENCH") == "1"):
    urlpatterns.append(path("bench/", include("bench.views")))
