"""Django admin for surveys and tickets: a superuser's tool to look things up. Work happens on the
pages, through the services (deadlines, events, approvals), so tickets and answers are read-only."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import Question, SurveyResponse, SurveyTemplate, Ticket


class QuestionInline(admin.TabularInline):
    model = Question
    extra = 0


@admin.register(SurveyTemplate)
class SurveyTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "organisation", "kind", "code", "active")
    list_filter = ("kind", "active")
    inlines = [QuestionInline]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdmin):
    list_display = ("id", "organisation", "customer", "status", "severity", "owner", "resolve_due_at")
    list_filter = ("status", "severity", "channel")
    raw_id_fields = ("customer", "purchase")
    show_full_result_count = False


@admin.register(SurveyResponse)
class SurveyResponseAdmin(ReadOnlyAdmin):
    list_display = ("id", "organisation", "kind", "customer", "rep", "overall", "audit", "submitted_at")
    list_filter = ("kind", "audit", "channel")
    raw_id_fields = ("customer", "invitation", "ticket")
    show_full_result_count = False
