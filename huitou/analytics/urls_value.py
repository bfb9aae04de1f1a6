"""Lifetime-value pages, mounted at ``/analytics/value/`` in the ``analytics`` namespace."""

from django.urls import path

from . import views_value as v

urlpatterns = [
    path("", v.value_report_view, name="value_report"),
    path("customer/<int:customer_id>/", v.value_customer_view, name="value_customer"),
]
