"""Outbox routes, mounted under /plan/ (namespace ``followups``)."""

from django.urls import URLPattern, path

from . import views

urlpatterns: list[URLPattern] = [
    path("outbox/", views.outbox_list_view, name="outbox"),
    path("outbox/<int:pk>/cancel/", views.message_cancel_view, name="outbox_cancel"),
    path("outbox/<int:pk>/retry/", views.message_retry_view, name="outbox_retry"),
    path("outbox/print/", views.print_view, name="outbox_print"),
    path("outbox/print/<int:pk>/pdf/", views.print_pdf_view, name="outbox_print_pdf"),
    path("outbox/hooks/<str:provider>/<str:kind>/", views.webhook_view, name="outbox_hook"),
    path(
        "outbox/hooks/<str:provider>/<str:kind>/<str:secret>/", views.webhook_view, name="outbox_hook_secret"
    ),
    path("u/<str:token>/", views.unsubscribe_view, name="unsubscribe"),
]
