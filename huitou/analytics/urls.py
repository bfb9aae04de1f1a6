"""Pages of the analytics app, mounted at ``/analytics/``."""

from django.urls import path

from . import views

app_name = "analytics"

urlpatterns = [
    path("segments/", views.segments_view, name="segments"),
]
