"""Pages of the analytics app, mounted at ``/analytics/``; each part has its own URL module."""

from django.urls import include, path

from . import views

app_name = "analytics"

urlpatterns = [
    path("segments/", views.segments_view, name="segments"),
    path("risk/", include("huitou.analytics.urls_risk")),
    path("retention/", include("huitou.analytics.urls_retention")),
    path("value/", include("huitou.analytics.urls_value")),
    path("qualify/", include("huitou.analytics.urls_qualify")),
    path("costs/", include("huitou.analytics.urls_costs")),
]
