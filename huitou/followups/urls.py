"""Pages of the contact plan. Each area keeps its own list of routes."""

from .outbox.urls import urlpatterns as outbox_patterns
from .urls_manage import urlpatterns as manage_patterns
from .urls_work import urlpatterns as work_patterns

app_name = "followups"

urlpatterns = work_patterns + manage_patterns + outbox_patterns
