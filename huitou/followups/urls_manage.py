"""Routes of the plan-management pages (``views_manage``), under /plan/ in the ``followups`` namespace."""

from django.urls import URLPattern, path

from . import views_manage as v

urlpatterns: list[URLPattern] = [
    path("rules/", v.rules_view, name="rules"),
    path("rules/new/", v.rule_create_view, name="rule_new"),
    path("rules/preview/", v.rule_preview_view, name="rule_preview"),
    path("rules/<int:pk>/", v.rule_edit_view, name="rule_edit"),
    path("rules/<int:pk>/active/", v.rule_active_view, name="rule_active"),
    path("compliance/", v.compliance_view, name="compliance"),
    path("tasks/", v.task_report_view, name="task_report"),
    path("requests/", v.requests_view, name="requests"),
    path("requests/log/", v.request_log_view, name="request_log"),
    path("requests/customers/", v.request_customers_view, name="request_customers"),
    path("requests/report/", v.request_report_view, name="request_report"),
    path("requests/<int:pk>/acknowledge/", v.request_ack_view, name="request_ack"),
    path("requests/<int:pk>/answer/", v.request_answer_view, name="request_answer"),
    path("absences/", v.absences_view, name="absences"),
    path("absences/<int:pk>/delete/", v.absence_delete_view, name="absence_delete"),
    path("notices/", v.notices_view, name="notices"),
]
