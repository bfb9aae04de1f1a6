"""Working the plan: Today, tasks, calendar and ICS feed, visit route, gifts (namespace ``followups``)."""

from django.urls import URLPattern, path

from . import views

urlpatterns: list[URLPattern] = [
    path("today/", views.today_view, name="today"),
    path("tasks/new/", views.task_create_view, name="task_create"),
    path("tasks/<int:pk>/outcome/", views.task_outcome_view, name="task_outcome"),
    path("tasks/<int:pk>/reschedule/", views.task_reschedule_view, name="task_reschedule"),
    path("tasks/<int:pk>/reassign/", views.task_reassign_view, name="task_reassign"),
    path("gift-warning/", views.gift_warning_view, name="gift_warning"),
    path("customer/<int:pk>/", views.customer_plan_view, name="customer_plan"),
    path("calendar/", views.calendar_view, name="calendar"),
    path("ics/<str:token>.ics", views.ics_feed_view, name="ics"),
    path("gifts/", views.gifts_view, name="gifts"),
    path("gifts/<int:pk>/active/", views.gift_active_view, name="gift_active"),
    path("route/", views.route_view, name="route"),
]
