"""Insight pages of the referral system, under /referrals/insights/."""

from django.urls import path

from . import views_insights as views

urlpatterns = [
    path("", views.insights_view, name="insights"),
    path("scorecard/", views.scorecard_view, name="scorecard"),
    path("base-customers/", views.base_customers_view, name="base_customers"),
    path("customer/<int:customer_id>/", views.customer_panel_view, name="customer_panel"),
    path("customer/<int:customer_id>/type/", views.referrer_type_view, name="referrer_type"),
]
