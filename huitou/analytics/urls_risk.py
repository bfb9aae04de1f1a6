"""Crisis-signal pages, mounted at ``/analytics/risk/`` in the ``analytics`` namespace."""

from django.urls import path

from . import views_risk as v

urlpatterns = [
    path("", v.risk_list_view, name="risk_list"),
    path("customer/<int:customer_id>/", v.risk_customer_view, name="risk_customer"),
    path("customer/<int:customer_id>/winback/", v.risk_winback_view, name="risk_winback"),
    path("customer/<int:customer_id>/lost/", v.risk_lost_view, name="risk_lost"),
]
