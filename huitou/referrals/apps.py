from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReferralsConfig(AppConfig):
    name = "huitou.referrals"
    label = "referrals"
    verbose_name = _("Referrals")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from huitou.customers.privacy import privacy_hook_register

        from .privacy import referrals_erase, referrals_personal_data

        privacy_hook_register(export=referrals_personal_data, erase=referrals_erase)
