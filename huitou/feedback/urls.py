"""Routes of the feedback pages, under /feedback/ in the ``feedback`` namespace."""

from django.urls import URLPattern, path
from django.views.generic import RedirectView

from . import views as v
from . import views_public

app_name = "feedback"

urlpatterns: list[URLPattern] = [
    path("", RedirectView.as_view(pattern_name="feedback:tickets", permanent=False), name="home"),
    # The customer's survey form (no login).
    path("s/<str:token>/", views_public.survey_view, name="survey_public"),
    # Tickets.
    path("tickets/", v.ticket_list_view, name="tickets"),
    path("tickets/new/", v.ticket_create_view, name="ticket_new"),
    path("tickets/<int:pk>/", v.ticket_detail_view, name="ticket_detail"),
    path("tickets/<int:pk>/reply/", v.ticket_reply_view, name="ticket_reply"),
    path("tickets/<int:pk>/resolve/", v.ticket_resolve_view, name="ticket_resolve"),
    path("tickets/<int:pk>/note/", v.ticket_note_view, name="ticket_note"),
    path("tickets/<int:pk>/assign/", v.ticket_assign_view, name="ticket_assign"),
    path("tickets/<int:pk>/supervisor-reply/", v.supervisor_reply_view, name="ticket_supervisor"),
    path("tickets/<int:pk>/close/", v.ticket_close_view, name="ticket_close"),
    path("tickets/<int:pk>/reopen/", v.ticket_reopen_view, name="ticket_reopen"),
    path("tickets/<int:pk>/concessions/", v.concession_add_view, name="concession_add"),
    path("concessions/<int:pk>/", v.concession_decide_view, name="concession_decide"),
    # Surveys.
    path("surveys/", v.template_list_view, name="templates"),
    path("surveys/<int:pk>/", v.template_edit_view, name="template_edit"),
    path("surveys/<int:pk>/questions/", v.question_add_view, name="question_add"),
    path("surveys/<int:pk>/questions/<int:question_id>/", v.question_update_view, name="question_update"),
    path("phone/", v.phone_queue_view, name="phone"),
    path("phone/<int:pk>/", v.phone_entry_view, name="phone_entry"),
    path("phone/purchase/<int:purchase_id>/", v.phone_for_purchase_view, name="phone_purchase"),
    path("answers/", v.response_list_view, name="responses"),
    path("answers/<int:pk>/", v.response_detail_view, name="response_detail"),
    # Measures.
    path("cvp/", v.cvp_view, name="cvp"),
    path("quadrants/", v.quadrant_view, name="quadrants"),
    path("trend/", v.trend_view, name="trend"),
    path("gaming/", v.gaming_view, name="gaming"),
    # The block on the customer page.
    path("customer/<int:customer_id>/", v.customer_card_view, name="customer_card"),
    path("customer/<int:customer_id>/services/", v.value_added_add_view, name="value_added_add"),
]
