from django.urls import path

from . import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list_view, name="list"),
    path("new/", views.customer_create_view, name="create"),
    path("reassign/", views.reassign_view, name="reassign"),
    path("<int:pk>/", views.customer_detail_view, name="detail"),
    path("<int:pk>/edit/", views.customer_edit_view, name="edit"),
    path("<int:pk>/activities/", views.activity_add_view, name="activity_add"),
    path("<int:pk>/consent/", views.consent_set_view, name="consent_set"),
    path("<int:pk>/confidential/", views.confidential_note_add_view, name="confidential_add"),
    path("<int:pk>/products/", views.owned_product_add_view, name="product_add"),
    path("<int:pk>/purchases/", views.purchase_add_view, name="purchase_add"),
]

# Personal dates and testimonials on the customer page.
urlpatterns += [
    path("<int:pk>/dates/", views.personal_date_add_view, name="date_add"),
    path("<int:pk>/dates/<int:date_id>/remove/", views.personal_date_remove_view, name="date_remove"),
    path("<int:pk>/testimonials/", views.testimonial_add_view, name="testimonial_add"),
    path(
        "<int:pk>/testimonials/<int:testimonial_id>/consent/",
        views.testimonial_consent_view,
        name="testimonial_consent",
    ),
]

# Duplicates, merge and PIPL requests (views_admin).
from . import views_admin  # noqa: E402

urlpatterns += [
    path("duplicates/", views_admin.duplicates_view, name="duplicates"),
    path("merge/", views_admin.merge_view, name="merge"),
    path("<int:pk>/privacy/export/", views_admin.privacy_export_view, name="privacy_export"),
    path("<int:pk>/privacy/erase/", views_admin.privacy_erase_view, name="privacy_erase"),
]

# Import and export (views_io).
from . import views_io  # noqa: E402

urlpatterns += [
    path("import/", views_io.import_view, name="import"),
    path("import/<int:pk>/", views_io.import_status_view, name="import_status"),
    path("import/<int:pk>/errors.csv", views_io.import_errors_view, name="import_errors"),
    path("export/", views_io.export_view, name="export"),
]
