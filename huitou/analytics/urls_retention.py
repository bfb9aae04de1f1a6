"""The retention calculator, mounted at ``/analytics/retention/`` in the ``analytics`` namespace."""

from django.urls import path

from . import views_retention

urlpatterns = [
    path("", views_retention.retention_view, name="retention"),
]
