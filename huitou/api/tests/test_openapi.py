"""The schema at /api/v1/openapi.json and the docs page, which must work with no internet."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

EXPECTED = {
    "/api/v1/me": {"get"},
    "/api/v1/policy": {"get", "put"},
    "/api/v1/customers": {"get", "post"},
    "/api/v1/customers/reassign": {"post"},
    "/api/v1/customers/{customer_id}": {"get", "patch"},
    "/api/v1/customers/{customer_id}/timeline": {"get"},
    "/api/v1/customers/{customer_id}/activities": {"post"},
    "/api/v1/customers/{customer_id}/history": {"get"},
    "/api/v1/customers/{customer_id}/consents": {"post"},
    "/api/v1/customers/{customer_id}/owned-products": {"post"},
    "/api/v1/customers/{customer_id}/purchases": {"post"},
    "/api/v1/customers/{customer_id}/confidential-notes": {"post"},
    "/api/v1/customers/{customer_id}/personal-dates": {"post"},
    "/api/v1/customers/{customer_id}/personal-dates/{date_id}": {"delete"},
    "/api/v1/customers/{customer_id}/testimonials": {"post"},
    "/api/v1/customers/{customer_id}/testimonials/{testimonial_id}/consent": {"post"},
    "/api/v1/outbox/messages": {"get"},
    "/api/v1/outbox/messages/{message_id}": {"get"},
    "/api/v1/outbox/messages/{message_id}/cancel": {"post"},
    "/api/v1/outbox/messages/{message_id}/retry": {"post"},
    "/api/v1/outbox/batches": {"get", "post"},
    "/api/v1/outbox/batches/{batch_id}/pdf": {"get"},
    "/api/v1/plan/tasks": {"get", "post"},
    "/api/v1/plan/tasks/{task_id}": {"get"},
    "/api/v1/plan/tasks/{task_id}/outcome": {"post"},
    "/api/v1/plan/tasks/{task_id}/reschedule": {"post"},
    "/api/v1/plan/gifts": {"get", "post"},
    "/api/v1/plan/route": {"get"},
    "/api/v1/plan-admin/rules": {"get", "post"},
    "/api/v1/plan-admin/rules/{rule_id}": {"get", "patch"},
    "/api/v1/plan-admin/compliance": {"get"},
    "/api/v1/plan-admin/compliance/tasks": {"get"},
    "/api/v1/plan-admin/requests": {"get", "post"},
    "/api/v1/plan-admin/requests/{request_id}/acknowledge": {"post"},
    "/api/v1/plan-admin/requests/{request_id}/answer": {"post"},
    "/api/v1/plan-admin/requests/breaches": {"get"},
    "/api/v1/plan-admin/absences": {"get", "post"},
    "/api/v1/plan-admin/notices": {"get", "post"},
    "/api/v1/analytics/segments": {"get"},
    "/api/v1/analytics/risk": {"get"},
    "/api/v1/analytics/risk/customers/{customer_id}": {"get"},
    "/api/v1/analytics/risk/customers/{customer_id}/winback": {"post"},
    "/api/v1/analytics/risk/customers/{customer_id}/lost": {"post"},
    "/api/v1/analytics/risk/saves": {"get"},
    "/api/v1/analytics/retention": {"get"},
    "/api/v1/referrals": {"get", "post"},
    "/api/v1/referrals/{referral_id}": {"get"},
    "/api/v1/referrals/{referral_id}/audit": {"post"},
    "/api/v1/referrals/{referral_id}/advance": {"post"},
    "/api/v1/referrals/{referral_id}/convert": {"post"},
    "/api/v1/referrals/{referral_id}/win": {"post"},
    "/api/v1/referrals/{referral_id}/lose": {"post"},
    "/api/v1/referrals/{referral_id}/review": {"post"},
    "/api/v1/referrals/bulk": {"post"},
    "/api/v1/referrals/links": {"post"},
    "/api/v1/referrals/vouchers": {"get"},
    "/api/v1/referrals/vouchers/statistics": {"get"},
    "/api/v1/referrals/vouchers/{voucher_id}": {"get"},
    "/api/v1/referrals/vouchers/redeem": {"post"},
    "/api/v1/referrals/vouchers/{voucher_id}/void": {"post"},
    "/api/v1/referrals/insights/scorecard": {"get"},
    "/api/v1/referrals/insights/viral": {"get"},
    "/api/v1/referrals/insights/curve": {"get"},
    "/api/v1/referrals/insights/funnel": {"get"},
    "/api/v1/referrals/insights/base-customers": {"get"},
    "/api/v1/referrals/insights/chains/{customer_id}": {"get"},
    "/api/v1/referrals/insights/referrers/{customer_id}": {"get", "put"},
    "/api/v1/feedback/templates": {"get"},
    "/api/v1/feedback/templates/{template_id}": {"get"},
    "/api/v1/feedback/invitations/phone": {"get"},
    "/api/v1/feedback/invitations/{invitation_id}/phone-response": {"post"},
    "/api/v1/feedback/responses": {"get"},
    "/api/v1/feedback/responses/{response_id}": {"get"},
    "/api/v1/feedback/tickets": {"get", "post"},
    "/api/v1/feedback/tickets/{ticket_id}": {"get"},
    "/api/v1/feedback/tickets/{ticket_id}/reply": {"post"},
    "/api/v1/feedback/tickets/{ticket_id}/resolve": {"post"},
    "/api/v1/feedback/tickets/{ticket_id}/notes": {"post"},
    "/api/v1/feedback/tickets/{ticket_id}/assign": {"post"},
    "/api/v1/feedback/tickets/{ticket_id}/supervisor-reply": {"put"},
    "/api/v1/feedback/tickets/{ticket_id}/close": {"post"},
    "/api/v1/feedback/tickets/{ticket_id}/reopen": {"post"},
    "/api/v1/feedback/tickets/{ticket_id}/concessions": {"post"},
    "/api/v1/feedback/concessions/pending": {"get"},
    "/api/v1/feedback/concessions/{concession_id}/approve": {"post"},
    "/api/v1/feedback/concessions/{concession_id}/reject": {"post"},
    "/api/v1/feedback/concessions/{concession_id}/offer": {"post"},
    "/api/v1/feedback/customers/{customer_id}/value-added-services": {"get", "post"},
    "/api/v1/feedback/cvp": {"get"},
    "/api/v1/feedback/cvp/award": {"get"},
    "/api/v1/feedback/quadrants": {"get"},
    "/api/v1/feedback/trend": {"get"},
    "/api/v1/feedback/gaming": {"get"},
    "/api/v1/analytics/qualify": {"get"},
    "/api/v1/analytics/qualify/customers/{customer_id}": {"get", "put"},
    "/api/v1/analytics/qualify/time": {"get"},
    "/api/v1/analytics/costs": {"get"},
    "/api/v1/analytics/costs/customers/{customer_id}": {"get"},
    "/api/v1/analytics/value": {"get"},
    "/api/v1/analytics/value/customers": {"get"},
    "/api/v1/analytics/value/customers/{customer_id}": {"get"},
    "/api/v1/dashboards/home": {"get"},
    "/api/v1/dashboards/home/{key}": {"get"},
    "/api/v1/dashboards/scorecard": {"get"},
    "/api/v1/reports/accounts": {"get"},
    "/api/v1/reports/accounts/{customer_id}": {"get"},
    "/api/v1/reports/accounts/{customer_id}/wallet": {"get"},
    "/api/v1/reports/accounts/{customer_id}/wallet/{year}": {"put"},
    "/api/v1/reports/receivables": {"get"},
    "/api/v1/reports/funnel": {"get"},
    "/api/v1/reports/promotions": {"get", "post"},
    "/api/v1/reports/promotions/{promotion_id}": {"put"},
    "/api/v1/reports/accounts/{customer_id}/stock-checks": {"get", "post"},
    "/api/v1/reports/promotions/{promotion_id}/purchases": {"post"},
    "/api/v1/reports/promotion-purchases/{purchase_id}": {"delete"},
}


def test_schema_lists_every_path_and_method():
    schema = Client().get("/api/v1/openapi.json").json()

    assert {path: set(ops) for path, ops in schema["paths"].items()} == EXPECTED


def test_schema_declares_bearer_and_session_auth():
    schema = Client().get("/api/v1/openapi.json").json()

    schemes = schema["components"]["securitySchemes"]
    assert schemes["BearerTokenAuth"] == {"type": "http", "scheme": "bearer"}
    assert schemes["SessionCsrfAuth"]["in"] == "cookie"


def test_every_operation_documents_its_error_responses():
    schema = Client().get("/api/v1/openapi.json").json()

    missing = [
        (path, method)
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
        if not {"401", "403", "404", "422"} <= set(op["responses"])
    ]
    assert missing == []


def test_docs_page_loads_no_asset_from_another_host():
    html = Client().get("/api/v1/docs").content.decode()

    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert re.findall(r'(?:src|href)="(https?:)?//', html) == []
