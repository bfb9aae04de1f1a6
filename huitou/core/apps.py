from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "huitou.core"
    label = "core"
