"""Each role's home page, mounted at ``/``, and the unified rep scorecard."""

from django.urls import path

from . import views

app_name = "dashboards"

urlpatterns = [
    path("", views.home_view, name="home"),
    path("home/<slug:key>/", views.section_view, name="section"),
    path("scorecard/", views.scorecard_view, name="scorecard"),
]
