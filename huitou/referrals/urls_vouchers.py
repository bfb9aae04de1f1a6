"""Routes of the voucher pages (``views_vouchers``), under /referrals/vouchers/."""

from django.urls import URLPattern, path

from . import views_vouchers as v

urlpatterns: list[URLPattern] = [
    path("", v.vouchers_view, name="vouchers"),
    path("desk/", v.voucher_desk_view, name="voucher_desk"),
    path("statistics/", v.voucher_stats_view, name="voucher_stats"),
    path("<int:pk>/", v.voucher_detail_view, name="voucher_detail"),
    path("<int:pk>/qr.svg", v.voucher_qr_view, name="voucher_qr"),
    path("<int:pk>/void/", v.voucher_void_view, name="voucher_void"),
]
