import os

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # Everyone starts the day on their plan; dashboards per role come with the analytics.
    path("", RedirectView.as_view(pattern_name="followups:today", permanent=False)),
    path("accounts/", include("huitou.accounts.urls")),
    path("customers/", include("huitou.customers.urls")),
    path("plan/", include("huitou.followups.urls")),
    path("analytics/", include("huitou.analytics.urls")),
    path("referrals/", include("huitou.referrals.urls")),
    path("feedback/", include("huitou.feedback.urls")),
    path("api/v1/", include("huitou.api.urls")),
]

# Benchmark baselines (bench/views.py); never mounted unless asked for.
if getattr(settings, "BENCH_VIEWS", os.environ.get("HUITOU_BENCH") == "1"):
    urlpatterns.append(path("bench/", include("bench.views")))
