"""Pages of the referral system under /referrals/, one module per part of it."""

from django.urls import include, path

app_name = "referrals"

urlpatterns = [
    path("", include("huitou.referrals.urls_pipeline")),
    path("vouchers/", include("huitou.referrals.urls_vouchers")),
    path("insights/", include("huitou.referrals.urls_insights")),
]
