"""Cost-to-serve pages (best and worst customers), mounted at ``/analytics/costs/``."""

from django.urls import path

from . import views_costs as v

urlpatterns = [
    path("", v.costs_view, name="costs"),
]
