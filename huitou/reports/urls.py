"""Account reports, mounted at ``/reports/``."""

from django.urls import URLPattern, URLResolver, path

from . import views

app_name = "reports"

urlpatterns: list[URLPattern | URLResolver] = [
    path("accounts/", views.accounts_view, name="accounts"),
    path("accounts/<int:customer_id>/", views.account_view, name="account"),
    path("accounts/<int:customer_id>/wallet/", views.wallet_set_view, name="wallet_set"),
    path("accounts/<int:customer_id>/promotion-tag/", views.promotion_tag_view, name="promotion_tag"),
    path("accounts/<int:customer_id>/promotion-untag/", views.promotion_untag_view, name="promotion_untag"),
    path("accounts/<int:customer_id>/stock-checks/", views.stock_check_view, name="stock_check"),
    path("receivables/", views.receivables_view, name="receivables"),
    path("funnel/", views.funnel_view, name="funnel"),
    path("promotions/", views.promotions_view, name="promotions"),
    path("promotions/new/", views.promotion_create_view, name="promotion_create"),
    path("promotions/<int:promotion_id>/", views.promotion_view, name="promotion"),
    path("promotions/<int:promotion_id>/edit/", views.promotion_edit_view, name="promotion_edit"),
]
