from django.contrib import admin

from .models import Absence, ContactRule, CustomerRequest, Gift, Message, PlanRun, ProductNotice, Task


@admin.register(ContactRule)
class ContactRuleAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "organisation",
        "trigger",
        "offset_days",
        "channel",
        "purpose",
        "priority",
        "active",
    )
    list_filter = ("trigger", "channel", "purpose", "active")
    search_fields = ("code", "name")


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("title", "customer", "assignee", "kind", "due_on", "status", "outcome")
    list_filter = ("status", "kind", "purpose")
    raw_id_fields = ("customer", "assignee", "completed_by", "escalated_to", "parent", "rule", "gift")
    date_hierarchy = "due_on"
    show_full_result_count = False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "channel", "purpose", "status", "scheduled_for", "sent_at")
    list_filter = ("status", "channel", "purpose")
    raw_id_fields = ("customer", "rule", "batch", "created_by")
    show_full_result_count = False


admin.site.register(Gift)
admin.site.register(ProductNotice, raw_id_fields=("product", "created_by"))
admin.site.register(Absence, raw_id_fields=("user", "delegate"))
admin.site.register(CustomerRequest, raw_id_fields=("customer", "owner", "logged_by"))
admin.site.register(PlanRun)
