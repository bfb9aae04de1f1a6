"""Account reports, mounted at ``/reports/``."""

from django.urls import URLPattern, URLResolver, path

from . import views

app_name = "reports"

urlpatterns: list[URLPattern | URLResolver] = [
    path("accounts/", views.accounts_view, name="accounts"),
    path("accounts/<int:customer_id>/", views.account_view, name="account"),
    path("accounts/<int:customer_id>/wallet/", views.wallet_set_view, name="wallet_set"),
    path("receivables/", views.receivables_view, name="receivables"),
    path("funnel/", views.funnel_view, name="funnel"),
]
