from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FollowupsConfig(AppConfig):
    name = "huitou.followups"
    label = "followups"
    verbose_name = _("Contact plan")
    default_auto_field = "django.db.models.BigAutoField"
