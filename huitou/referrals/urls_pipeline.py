"""Pages of the lead pipeline (mounted at /referrals/ in the ``referrals`` namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.pipeline_view, name="pipeline"),
    path("stages/", views.stage_counts_view, name="stage_counts"),
    path("<int:pk>/", views.detail_view, name="detail"),
    path("<int:pk>/audit/", views.audit_view, name="audit"),
    path("<int:pk>/advance/", views.advance_view, name="advance"),
    path("<int:pk>/convert/", views.convert_view, name="convert"),
    path("<int:pk>/win/", views.win_view, name="win"),
    path("<int:pk>/lose/", views.lose_view, name="lose"),
    path("<int:pk>/review/", views.review_view, name="review"),
    path("capture/", views.capture_view, name="capture"),
    path("capture/referrers/", views.referrer_search_view, name="referrer_search"),
    path("capture/<int:customer_id>/print/", views.capture_print_view, name="capture_print"),
    path("links/<int:customer_id>/", views.link_create_view, name="link_create"),
    path("link/<int:link_id>/", views.link_detail_view, name="link_detail"),
    path("link/<int:link_id>/sms/", views.link_sms_view, name="link_sms"),
    path("link/<int:link_id>/revoke/", views.link_revoke_view, name="link_revoke"),
    path("r/<str:token>/", views.public_view, name="public"),
    path("bulk/", views.bulk_view, name="bulk"),
    path("audit/", views.audit_queue_view, name="audit_queue"),
    path("review/", views.review_queue_view, name="review_queue"),
]
