"""Each role's home page, mounted at ``/``."""

from django.urls import path
from django.views.generic import RedirectView

app_name = "dashboards"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="followups:today", permanent=False), name="home"),
]
