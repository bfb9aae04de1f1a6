"""The sender: claiming, double-send prevention, back-off, stale claims, quiet hours, consent at
send time, opt-out suffix, the Aliyun and Tencent SDK requests (network patched out), e-mail."""

from __future__ import annotations

import datetime as dt
import json
import smtplib
from email.utils import formataddr
from unittest import mock

import pytest
from alibabacloud_dysmsapi20170525 import models as aliyun_models
from alibabacloud_dysmsapi20170525.client import Client as AliyunClient
from alibabacloud_tea_openapi import exceptions as aliyun_exceptions
from django.core import mail
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.sms.v20210111 import models as tencent_models
from tencentcloud.sms.v20210111.sms_client import SmsClient

from huitou.followups.models import Message
from huitou.followups.outbox import services, tasks
from huitou.followups.outbox.providers import FileProvider, SendError, TencentProvider
from tests.factories import MessageFactory

from .test_outbox_support import at, customer_of, grant, no_quiet_hours, outbox_conf, queue, sms_lines

__all__ = ["no_quiet_hours", "outbox_conf"]
pytestmark = pytest.mark.django_db
NOW = at(10, 5)


def _sms(org_world, **kwargs):
    c = kwargs.pop("customer", None) or customer_of(org_world.rep1, phone="+8613800138000")
    return queue(c, **kwargs)


# --- claiming and sending ---------------------------------------------------------------------


def test_due_sms_is_sent_and_the_rest_waits(org_world, outbox_conf):
    due = _sms(org_world, body="保养提醒")
    later = _sms(org_world, scheduled_for=at(11))
    letter = _sms(org_world, channel="letter", customer=customer_of(org_world.rep1, address="天河路1号"))
    summary = services.outbox_send_due(now=NOW)
    assert summary.outcomes == {"sent": 1}
    due.refresh_from_db()
    assert (due.status, due.provider, due.provider_message_id, due.sent_at, due.attempts) == (
        "sent",
        "file",
        f"file-{due.idempotency_key}",
        NOW,
        1,
    )
    assert [
        (line["phone"], line["text"], line["out_id"], line["sign_name"]) for line in sms_lines(outbox_conf)
    ] == [("+8613800138000", "保养提醒", due.idempotency_key, "华南汽车")]
    assert Message.objects.get(pk=later.pk).status == "queued"
    assert Message.objects.get(pk=letter.pk).status == "queued"  # waits for a print batch


def test_rows_inserted_by_the_plan_are_sent_too(org_world, outbox_conf):
    c = customer_of(org_world.rep1, phone="+8613800138009")
    m = MessageFactory(
        customer=c, purpose="service", to="", scheduled_for=at(9), idempotency_key="plan:1:2:x"
    )
    services.outbox_send_due(now=NOW)
    m.refresh_from_db()
    assert m.status == "sent"
    assert sms_lines(outbox_conf)[0]["phone"] == "+8613800138009"  # address read from the customer


def test_two_claims_of_one_message_give_one_send(org_world, outbox_conf):
    m = _sms(org_world)
    assert services.message_claim(message_id=m.pk, now=NOW) is True
    assert services.message_claim(message_id=m.pk, now=NOW) is False
    # The second worker's run finds nothing to send while the first one holds the claim.
    assert services.outbox_send_due(now=NOW).outcomes == {}
    assert sms_lines(outbox_conf) == []


def test_a_worker_that_loses_the_race_sends_nothing(org_world, outbox_conf):
    m = _sms(org_world)
    real_claim = services.message_claim

    def rival_first(*, message_id, now):
        # Another worker claims and sends the message between our SELECT and our UPDATE.
        assert real_claim(message_id=message_id, now=now) is True
        assert services._send_claimed(message_id, now) == "sent"
        return real_claim(message_id=message_id, now=now)

    with mock.patch.object(services, "message_claim", side_effect=rival_first):
        summary = services.outbox_send_due(now=NOW)
    assert summary.outcomes == {"skipped": 1}
    assert len(sms_lines(outbox_conf)) == 1
    assert Message.objects.get(pk=m.pk).attempts == 1


def test_message_send_twice_sends_once(org_world, outbox_conf):
    m = _sms(org_world)
    assert services.message_send(message_id=m.pk, now=NOW) == "sent"
    assert services.message_send(message_id=m.pk, now=NOW) == "skipped"
    assert len(sms_lines(outbox_conf)) == 1


# --- back-off -------------------------------------------------------------------------------------


def test_temporary_errors_back_off_exponentially_then_fail(org_world, outbox_conf):
    m = _sms(org_world)
    delays, now = [], NOW
    with mock.patch.object(
        FileProvider, "send", side_effect=SendError("busy", code="Throttling", temporary=True)
    ):
        for _ in range(3):
            assert services.outbox_send_due(now=now).outcomes == {"retry": 1}
            m.refresh_from_db()
            assert m.status == "queued"
            delays.append((m.next_attempt_at - now).total_seconds())
            # Not before its time.
            assert services.outbox_send_due(now=m.next_attempt_at - dt.timedelta(seconds=1)).outcomes == {}
            now = m.next_attempt_at
        assert services.outbox_send_due(now=now).outcomes == {"failed": 1}
    m.refresh_from_db()
    assert delays == [60, 120, 240]
    assert (m.status, m.attempts, m.next_attempt_at, m.last_error) == ("failed", 4, None, "Throttling: busy")


def test_retry_delay_is_capped(outbox_conf):
    assert [services.retry_delay(n).total_seconds() for n in (1, 2, 3, 6, 7, 20)] == [
        60,
        120,
        240,
        1920,
        3600,
        3600,
    ]


def test_a_permanent_error_fails_at_once(org_world, outbox_conf):
    m = _sms(org_world)
    with mock.patch.object(
        FileProvider, "send", side_effect=SendError("bad number", code="x", temporary=False)
    ):
        assert services.outbox_send_due(now=NOW).outcomes == {"failed": 1}
    m.refresh_from_db()
    assert (m.status, m.attempts, m.last_error) == ("failed", 1, "x: bad number")


def test_an_unexpected_exception_keeps_the_message_for_later(org_world, outbox_conf):
    m = _sms(org_world)
    with mock.patch.object(FileProvider, "send", side_effect=RuntimeError("boom")):
        assert services.outbox_send_due(now=NOW).outcomes == {"retry": 1}
    m.refresh_from_db()
    assert (m.status, m.next_attempt_at, m.last_error) == (
        "queued",
        NOW + dt.timedelta(seconds=60),
        "RuntimeError: boom",
    )


# --- stale claims -----------------------------------------------------------------------------


def test_a_crashed_workers_message_is_retried_after_the_timeout(org_world, outbox_conf):
    m = _sms(org_world)
    assert services.message_claim(message_id=m.pk, now=NOW)  # then the worker dies
    assert services.outbox_send_due(now=NOW + dt.timedelta(seconds=599)).outcomes == {}
    assert Message.objects.get(pk=m.pk).status == "sending"
    summary = services.outbox_send_due(now=NOW + dt.timedelta(seconds=600))
    assert (summary.recovered, summary.outcomes) == (1, {"sent": 1})
    m.refresh_from_db()
    assert (m.status, m.attempts) == ("sent", 2)


def test_a_stale_message_out_of_attempts_fails(org_world, outbox_conf):
    m = MessageFactory(
        customer=customer_of(org_world.rep1),
        purpose="service",
        status="sending",
        attempts=4,
        next_attempt_at=NOW - dt.timedelta(seconds=1),
    )
    assert services.outbox_send_due(now=NOW).recovered == 1
    m.refresh_from_db()
    assert (m.status, m.last_error) == ("failed", "the worker stopped while sending")
    assert sms_lines(outbox_conf) == []


# --- quiet hours at send time -------------------------------------------------------------------


def test_nothing_is_sent_during_quiet_hours(org_world, outbox_conf):
    m = _sms(org_world)  # 10:00, but the worker was down all day
    assert services.outbox_send_due(now=at(22, 0)).outcomes == {}
    assert services.message_send(message_id=m.pk, now=at(22, 0)) == "deferred"
    m.refresh_from_db()
    assert (m.status, m.next_attempt_at, m.attempts) == ("queued", at(8, 30, day=24), 0)
    assert services.outbox_send_due(now=at(8, 30, day=24)).outcomes == {"sent": 1}


# --- consent at send time, opt-out suffix ---------------------------------------------------------


def test_marketing_opted_out_after_queueing_is_suppressed_not_sent(org_world, outbox_conf):
    c = customer_of(org_world.rep1)
    grant(c, "sms")
    m = queue(c, purpose="marketing")
    c.consents.filter(channel="sms").update(granted=False)
    assert services.outbox_send_due(now=NOW).outcomes == {"suppressed": 1}
    m.refresh_from_db()
    assert (m.status, m.last_error) == ("suppressed", "opted out of sms")
    assert sms_lines(outbox_conf) == []


def test_opt_out_suffix_only_on_marketing_sms(org_world, outbox_conf):
    c = customer_of(org_world.rep1)
    grant(c, "sms")
    queue(c, purpose="marketing", body="双十一保养八折", idempotency_key="a")
    queue(c, purpose="service", body="您的车辆保养到期", idempotency_key="b")
    queue(c, purpose="transactional", body="您的订单已发货", idempotency_key="c")
    services.outbox_send_due(now=NOW)
    texts = sorted(line["text"] for line in sms_lines(outbox_conf))
    assert texts == ["双十一保养八折 回T退订", "您的订单已发货", "您的车辆保养到期"]


def test_opt_out_suffix_is_configured_per_provider(org_world):
    c = customer_of(org_world.rep1)
    marketing = MessageFactory(customer=c, purpose="marketing", body="新车上市")
    service = MessageFactory(customer=c, purpose="service", body="保养提醒")
    assert services.sms_text(marketing, "拒收请回复R") == "新车上市 拒收请回复R"
    assert services.sms_text(service, "拒收请回复R") == "保养提醒"
    marketing.body = "新车上市 拒收请回复R"
    assert services.sms_text(marketing, "拒收请回复R") == "新车上市 拒收请回复R"  # not twice


# --- Aliyun ---------------------------------------------------------------------------------------


def _aliyun(settings, outbox_conf, **extra):
    settings.OUTBOX["SMS_PROVIDER"] = "aliyun"
    settings.OUTBOX["SMS_PROVIDERS"]["aliyun"].update(
        sign_name="华南汽车", access_key_id="ak", access_key_secret="sk", **extra
    )


def _aliyun_answer(code="OK", biz_id="900619746936498440^0", message="OK"):
    body = aliyun_models.SendSmsResponseBody(code=code, biz_id=biz_id, message=message, request_id="r1")
    return aliyun_models.SendSmsResponse(status_code=200, body=body)


def test_aliyun_request_fields_and_biz_id(org_world, outbox_conf, settings):
    _aliyun(settings, outbox_conf)
    m = _sms(org_world, template_code="SMS_154950909", params={"name": "张伟", "date": "11月23日"})
    with mock.patch.object(AliyunClient, "send_sms", return_value=_aliyun_answer()) as send:
        assert services.outbox_send_due(now=NOW).outcomes == {"sent": 1}
    request = send.call_args.args[0]
    assert isinstance(request, aliyun_models.SendSmsRequest)
    assert (request.phone_numbers, request.sign_name, request.template_code, request.out_id) == (
        "13800138000",
        "华南汽车",
        "SMS_154950909",
        m.idempotency_key,
    )
    assert json.loads(request.template_param) == {"name": "张伟", "date": "11月23日"}
    assert "张伟" in request.template_param  # sent as UTF-8, not \u escapes
    m.refresh_from_db()
    assert (m.status, m.provider, m.provider_message_id) == ("sent", "aliyun", "900619746936498440^0")


def test_aliyun_default_template_carries_the_text_with_the_suffix(org_world, outbox_conf, settings):
    _aliyun(settings, outbox_conf, default_template_code="SMS_000001", body_param="content")
    c = customer_of(org_world.rep1)
    grant(c, "sms")
    queue(c, purpose="marketing", body="冬季检测免费")
    with mock.patch.object(AliyunClient, "send_sms", return_value=_aliyun_answer()) as send:
        services.outbox_send_due(now=NOW)
    request = send.call_args.args[0]
    assert request.template_code == "SMS_000001"
    assert json.loads(request.template_param) == {"content": "冬季检测免费 回T退订"}


@pytest.mark.parametrize(
    ("answer", "status", "error"),
    [
        (
            _aliyun_answer(code="isv.BUSINESS_LIMIT_CONTROL", biz_id=None, message="触发流控"),
            "queued",
            "isv.BUSINESS_LIMIT_CONTROL: 触发流控",
        ),
        (
            _aliyun_answer(code="isp.SYSTEM_ERROR", biz_id=None, message="系统错误"),
            "queued",
            "isp.SYSTEM_ERROR: 系统错误",
        ),
        (
            _aliyun_answer(code="isv.MOBILE_NUMBER_ILLEGAL", biz_id=None, message="非法手机号"),
            "failed",
            "isv.MOBILE_NUMBER_ILLEGAL: 非法手机号",
        ),
        (
            aliyun_exceptions.ServerException(code="ServiceUnavailable", message="down", status_code=503),
            "queued",
            "ServiceUnavailable: down",
        ),
        (
            aliyun_exceptions.ThrottlingException(code="Throttling.User", message="slow down"),
            "queued",
            "Throttling.User: slow down",
        ),
        (
            aliyun_exceptions.ClientException(code="InvalidAccessKeyId.NotFound", message="bad key"),
            "failed",
            "InvalidAccessKeyId.NotFound: bad key",
        ),
        (ConnectionError("reset"), "queued", "ConnectionError: reset"),
    ],
)
def test_aliyun_errors_are_temporary_or_permanent(org_world, outbox_conf, settings, answer, status, error):
    _aliyun(settings, outbox_conf)
    m = _sms(org_world, template_code="SMS_1")
    kwargs = {"side_effect": answer} if isinstance(answer, Exception) else {"return_value": answer}
    with mock.patch.object(AliyunClient, "send_sms", **kwargs):
        services.outbox_send_due(now=NOW)
    m.refresh_from_db()
    assert (m.status, m.last_error, m.provider_message_id) == (status, error, "")


# --- Tencent --------------------------------------------------------------------------------------


def _tencent(settings, **extra):
    settings.OUTBOX["SMS_PROVIDER"] = "tencent"
    settings.OUTBOX["SMS_PROVIDERS"]["tencent"].update(
        sign_name="华南汽车", secret_id="id", secret_key="key", sdk_app_id="1400006666", **extra
    )


def _tencent_answer(code="Ok", serial="2019:538884*******", message="send success"):
    response = tencent_models.SendSmsResponse()
    response._deserialize(
        {
            "SendStatusSet": [
                {
                    "SerialNo": serial,
                    "PhoneNumber": "+8613800138000",
                    "Fee": 1,
                    "SessionContext": "",
                    "Code": code,
                    "Message": message,
                    "IsoCode": "CN",
                }
            ],
            "RequestId": "a0aabda6",
        }
    )
    return response


def test_tencent_request_fields_and_serial_number(org_world, outbox_conf, settings):
    _tencent(settings)
    m = _sms(org_world, template_code="449739", params={"2": "11月23日", "1": "张伟", "10": "天河店"})
    with mock.patch.object(SmsClient, "SendSms", return_value=_tencent_answer()) as send:
        assert services.outbox_send_due(now=NOW).outcomes == {"sent": 1}
    request = send.call_args.args[0]
    assert isinstance(request, tencent_models.SendSmsRequest)
    assert (request.SmsSdkAppId, request.SignName, request.TemplateId, request.SessionContext) == (
        "1400006666",
        "华南汽车",
        "449739",
        m.idempotency_key,
    )
    assert request.PhoneNumberSet == ["+8613800138000"]
    assert request.TemplateParamSet == ["张伟", "11月23日", "天河店"]  # {1}, {2}, {10}
    m.refresh_from_db()
    assert (m.status, m.provider, m.provider_message_id) == ("sent", "tencent", "2019:538884*******")


def test_tencent_named_params_follow_the_configured_order(settings):
    provider = TencentProvider(name="tencent", config={"template_param_order": {"449739": ["name", "date"]}})
    assert provider.ordered_params("449739", {"date": "11月23日", "name": "张伟"}) == ["张伟", "11月23日"]
    assert provider.ordered_params("449739", ["a", "b"]) == ["a", "b"]


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (_tencent_answer(code="LimitExceeded.PhoneNumberOneHourLimit", serial=""), "queued"),
        (_tencent_answer(code="InvalidParameterValue.IncorrectPhoneNumber", serial=""), "failed"),
        (_tencent_answer(code="FailedOperation.TemplateIncorrectOrUnapproved", serial=""), "failed"),
        (TencentCloudSDKException("InternalError.Timeout", "timeout"), "queued"),
        (TencentCloudSDKException("ClientNetworkError", "unreachable"), "queued"),
        (TencentCloudSDKException("AuthFailure.SecretIdNotFound", "bad id"), "failed"),
    ],
)
def test_tencent_errors_are_temporary_or_permanent(org_world, outbox_conf, settings, answer, status):
    _tencent(settings)
    m = _sms(org_world, template_code="449739")
    kwargs = {"side_effect": answer} if isinstance(answer, Exception) else {"return_value": answer}
    with mock.patch.object(SmsClient, "SendSms", **kwargs):
        services.outbox_send_due(now=NOW)
    m.refresh_from_db()
    assert (m.status, m.provider_message_id) == (status, "")
    assert m.last_error.split(":")[0] in str(
        answer.code if isinstance(answer, Exception) else answer.SendStatusSet[0].Code
    )


def test_sms_without_a_template_and_without_a_default_fails(org_world, outbox_conf, settings):
    _tencent(settings)
    m = _sms(org_world)
    with mock.patch.object(SmsClient, "SendSms") as send:
        services.outbox_send_due(now=NOW)
    send.assert_not_called()
    m.refresh_from_db()
    assert (m.status, m.last_error) == (
        "failed",
        "no_template: the message has no SMS template id and no default template is set",
    )


# --- e-mail ---------------------------------------------------------------------------------------


def test_marketing_email_has_a_list_unsubscribe_header_and_link(org_world, outbox_conf):
    c = customer_of(org_world.rep1, email="zhang@example.cn")
    grant(c, "email")
    m = queue(c, channel="email", purpose="marketing", subject="冬季关怀", body="免费检测\n欢迎到店")
    assert services.outbox_send_due(now=NOW).outcomes == {"sent": 1}
    [email] = mail.outbox
    # The signed token carries a timestamp, so read the link the message got rather than make one.
    url = email.extra_headers["List-Unsubscribe"].strip("<>")
    assert url.startswith("https://crm.example.cn/plan/u/")
    assert services.unsubscribe_read(url.rstrip("/").rsplit("/", 1)[-1]) == (c.pk, "email")
    assert (email.to, email.subject) == (["zhang@example.cn"], "冬季关怀")
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email.body.startswith("免费检测\n欢迎到店\n\n--\n")
    assert email.body.endswith(url)
    assert url in email.alternatives[0][0]
    assert email.from_email == formataddr(("华南汽车集团", "noreply@localhost"))
    m.refresh_from_db()
    assert (m.status, m.provider, m.provider_message_id) == (
        "sent",
        "email",
        email.extra_headers["Message-ID"],
    )


def test_service_email_has_no_unsubscribe(org_world, outbox_conf):
    c = customer_of(org_world.rep1, email="zhang@example.cn")
    queue(c, channel="email", purpose="service", subject="保养提醒", body="请按时保养")
    services.outbox_send_due(now=NOW)
    [email] = mail.outbox
    assert "List-Unsubscribe" not in email.extra_headers
    assert email.body == "请按时保养"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (smtplib.SMTPRecipientsRefused({"zhang@example.cn": (550, b"no such user")}), "failed"),
        (smtplib.SMTPDataError(451, b"try later"), "queued"),
        (smtplib.SMTPDataError(554, b"rejected"), "failed"),
        (smtplib.SMTPServerDisconnected("gone"), "queued"),
        (TimeoutError("timed out"), "queued"),
    ],
)
def test_email_errors_are_temporary_or_permanent(org_world, outbox_conf, error, status):
    c = customer_of(org_world.rep1, email="zhang@example.cn")
    m = queue(c, channel="email", purpose="service", body="x")
    with mock.patch("django.core.mail.EmailMultiAlternatives.send", side_effect=error):
        services.outbox_send_due(now=NOW)
    assert Message.objects.get(pk=m.pk).status == status


# --- Huey tasks -------------------------------------------------------------------------------------


def test_the_tasks_send_in_immediate_mode(org_world, outbox_conf, no_quiet_hours):
    now = dt.datetime.now(tz=dt.UTC)
    first = _sms(org_world, scheduled_for=now - dt.timedelta(minutes=5))
    second = _sms(org_world, scheduled_for=now - dt.timedelta(minutes=5))
    assert tasks.message_send_task(first.pk)() == "sent"
    assert tasks.outbox_send_due.call_local() == {"recovered": 0, "sent": 1}
    tasks.outbox_send_due()  # enqueued like the scheduler does: runs at once, finds nothing left
    assert {Message.objects.get(pk=m.pk).status for m in (first, second)} == {"sent"}
    assert len(sms_lines(outbox_conf)) == 2


# --- real concurrency (PostgreSQL: two connections racing for the same rows) ----------------------


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_send_each_message_once(org_world, outbox_conf):
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("needs a server database: SQLite serialises writers anyway")
    # Queued without the immediate send a due message gets on commit: these are due at the test's
    # NOW, which the real clock has passed since 2026-11-23, so they would be sent before the race.
    with mock.patch.object(services, "_enqueue_send"):
        messages = [_sms(org_world, idempotency_key=f"race-{i}") for i in range(20)]
    assert sms_lines(outbox_conf) == []
    start = threading.Barrier(2)
    results: list[dict[str, int]] = []

    def worker():
        try:
            start.wait()
            results.append(services.outbox_send_due(now=NOW).outcomes)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = sms_lines(outbox_conf)
    assert sorted(line["out_id"] for line in lines) == sorted(m.idempotency_key for m in messages)
    assert sum(r.get("sent", 0) for r in results) == 20
    assert set(Message.objects.values_list("status", "attempts")) == {("sent", 1)}
