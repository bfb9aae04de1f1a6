"""Lead-qualification pages, mounted at ``/analytics/qualify/`` in the ``analytics`` namespace."""

from django.urls import path

from . import views_qualify as v

urlpatterns = [
    path("", v.qualify_list_view, name="qualify_list"),
    path("time/", v.qualify_time_view, name="qualify_time"),
    path("customer/<int:customer_id>/", v.qualify_customer_view, name="qualify_customer"),
]
