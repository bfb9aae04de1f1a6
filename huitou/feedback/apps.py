from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FeedbackConfig(AppConfig):
    name = "huitou.feedback"
    label = "feedback"
    verbose_name = _("Satisfaction and complaints")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from huitou.customers.privacy import privacy_hook_register

        from .privacy import feedback_erase, feedback_personal_data

        privacy_hook_register(export=feedback_personal_data, erase=feedback_erase)
