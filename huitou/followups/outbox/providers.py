"""SMS providers: one small class per gateway, all behind ``SmsProvider.send``.

Chinese gateways send only approved templates: an approved signature (签名), a template id and the
template's parameters. The outbox keeps the rendered text too, for the console and file providers
and for a configured "default template" whose single variable carries the whole text.

Each ``send`` returns the provider's message id or raises :class:`SendError` saying whether trying
again later can help (``temporary``) or not. The message's idempotency key travels as the
provider's own correlation field (Aliyun ``OutId``, Tencent ``SessionContext``), so a delivery
report can always be matched back, even to a send whose answer was lost.
"""

from __future__ import annotations

import json
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

logger = logging.getLogger("huitou.outbox")


class SendError(Exception):
    """A send that did not go out. ``temporary`` errors are retried with back-off."""

    def __init__(self, message: str, *, code: str = "", temporary: bool):
        self.code = code
        self.temporary = temporary
        super().__init__(f"{code}: {message}" if code else message)


@dataclass(frozen=True)
class SmsRequest:
    phone: str  # E.164
    text: str  # the rendered text, opt-out suffix included for marketing
    template_code: str
    params: Mapping[str, Any] | Sequence[Any]
    out_id: str  # the message's idempotency key
    marketing: bool
    unsubscribe_url: str = ""


@dataclass
class SmsProvider(ABC):
    """Base of every provider; ``config`` is this provider's block of ``settings.OUTBOX``."""

    name: str = "base"
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sign_name(self) -> str:
        return str(self.config.get("sign_name", ""))

    @property
    def opt_out_suffix(self) -> str:
        return str(self.config.get("opt_out_suffix", ""))

    @abstractmethod
    def send(self, request: SmsRequest) -> str:
        """Hand the SMS to the gateway; return the provider's message id or raise ``SendError``."""

    # -- helpers shared by the template gateways

    def _template(self, request: SmsRequest) -> tuple[str, Mapping[str, Any] | Sequence[Any]]:
        """The template id and parameters to send; a message without a template id goes through
        the configured default template, its text as the only variable."""
        if request.template_code:
            params: Any = request.params
            if isinstance(params, Mapping):
                params = dict(params)
                extra = str(self.config.get("unsubscribe_param", ""))
                if extra and request.marketing and request.unsubscribe_url:
                    params[extra] = request.unsubscribe_url
            return request.template_code, params
        default = str(self.config.get("default_template_code", ""))
        if not default:
            raise SendError(
                "the message has no SMS template id and no default template is set",
                code="no_template",
                temporary=False,
            )
        return default, {str(self.config.get("body_param", "content")): request.text}


def national_number(e164: str) -> str:
    """What Chinese gateways expect: the national number for +86, country code + number otherwise."""
    digits = e164.lstrip("+")
    return digits[2:] if e164.startswith("+86") else digits


class ConsoleProvider(SmsProvider):
    """Development: writes the SMS to the log and pretends it went out."""

    def send(self, request: SmsRequest) -> str:
        logger.warning("SMS to %s [%s] %s", request.phone, self.sign_name, request.text)
        return f"console-{request.out_id}"


class FileProvider(SmsProvider):
    """Demo and tests: appends one JSON line per SMS to a file under var/."""

    def send(self, request: SmsRequest) -> str:
        path = Path(str(self.config.get("path") or Path(settings.VAR_DIR) / "outbox" / "sms.jsonl"))
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {
                "at": timezone.now().isoformat(),
                "phone": request.phone,
                "sign_name": self.sign_name,
                "template_code": request.template_code,
                "params": request.params,
                "text": request.text,
                "out_id": request.out_id,
            },
            ensure_ascii=False,
        )
        # One write call in append mode: concurrent workers never interleave inside a line.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
        return f"file-{request.out_id}"


# Aliyun answers HTTP 200 with a Code; these are worth another try later. Everything else from the
# isv.* family is about the request itself (number, template, signature) and will not get better.
ALIYUN_TEMPORARY = frozenset(
    {
        "isp.SYSTEM_ERROR",
        "isp.GATEWAY_ERROR",
        "isv.BUSINESS_LIMIT_CONTROL",
        "isv.AMOUNT_NOT_ENOUGH",
        "isv.OUT_OF_SERVICE",
        "isv.DAY_LIMIT_CONTROL",
        "SignatureNonceUsed",
        "Throttling",
        "Throttling.User",
        "ServiceUnavailable",
        "InternalError",
    }
)


class AliyunProvider(SmsProvider):
    """Alibaba Cloud SMS (dysmsapi 2017-05-25) through its official SDK."""

    def client(self) -> Any:
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi import utils_models

        config = utils_models.Config(
            access_key_id=str(self.config.get("access_key_id", "")),
            access_key_secret=str(self.config.get("access_key_secret", "")),
            endpoint=str(self.config.get("endpoint", "dysmsapi.aliyuncs.com")),
            connect_timeout=5000,
            read_timeout=10000,
        )
        return Client(config)

    def send(self, request: SmsRequest) -> str:
        from alibabacloud_dysmsapi20170525 import models
        from alibabacloud_tea_openapi import exceptions

        template_code, params = self._template(request)
        if not isinstance(params, Mapping):
            params = {str(i + 1): v for i, v in enumerate(params)}
        sdk_request = models.SendSmsRequest(
            phone_numbers=national_number(request.phone),
            sign_name=self.sign_name,
            template_code=template_code,
            template_param=json.dumps(params, ensure_ascii=False),
            out_id=request.out_id,
        )
        try:
            response = self.client().send_sms(sdk_request)
        except (exceptions.ThrottlingException, exceptions.ServerException) as exc:
            raise SendError(str(exc.message or exc), code=str(exc.code or ""), temporary=True) from exc
        except exceptions.ClientException as exc:
            code = str(exc.code or "")
            raise SendError(str(exc.message or exc), code=code, temporary=code in ALIYUN_TEMPORARY) from exc
        except Exception as exc:  # network errors: the SDK gave up after its own retries
            raise SendError(str(exc), code=type(exc).__name__, temporary=True) from exc
        body = getattr(response, "body", None)
        code = str(getattr(body, "code", "") or "")
        if code == "OK" and getattr(body, "biz_id", None):
            return str(body.biz_id)  # type: ignore[union-attr]
        message = str(getattr(body, "message", "") or "no answer")
        temporary = code in ALIYUN_TEMPORARY or code.startswith("isp.") or not code
        raise SendError(message, code=code, temporary=temporary)


TENCENT_TEMPORARY_PREFIXES = (
    "InternalError",
    "LimitExceeded",
    "RequestLimitExceeded",
    "ClientNetworkError",
    "ServerNetworkError",
    "FailedOperation.InsufficientBalanceInSmsPackage",
    "FailedOperation.MarketingSendTimeConstraint",
    "UnauthorizedOperation.ServiceSuspendDueToArrears",
)
# Python exception names the SDK wraps when the connection itself fails.
TENCENT_NETWORK_ERRORS = frozenset(
    {"ConnectionError", "Timeout", "ReadTimeout", "ConnectTimeout", "SSLError"}
)


def tencent_temporary(code: str) -> bool:
    return code.startswith(TENCENT_TEMPORARY_PREFIXES) or code in TENCENT_NETWORK_ERRORS


class TencentProvider(SmsProvider):
    """Tencent Cloud SMS (API 2021-01-11) through its official SDK."""

    def client(self) -> Any:
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111.sms_client import SmsClient

        cred = credential.Credential(
            str(self.config.get("secret_id", "")), str(self.config.get("secret_key", ""))
        )
        http = HttpProfile(reqTimeout=10)
        return SmsClient(
            cred, str(self.config.get("region", "ap-guangzhou")), ClientProfile(httpProfile=http)
        )

    def ordered_params(self, template_code: str, params: Mapping[str, Any] | Sequence[Any]) -> list[str]:
        """Tencent takes the values as a list for {1}, {2}, …: a list is kept, numbered keys are
        sorted by number, named keys follow ``template_param_order`` (else their stored order)."""
        if not isinstance(params, Mapping):
            return [str(v) for v in params]
        keys = list(params)
        if keys and all(str(k).isdigit() for k in keys):
            keys.sort(key=lambda k: int(k))
        else:
            order = list((self.config.get("template_param_order") or {}).get(template_code, []))
            if order:
                keys = [k for k in order if k in params] + [k for k in keys if k not in order]
        return [str(params[k]) for k in keys]

    def send(self, request: SmsRequest) -> str:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
        from tencentcloud.sms.v20210111 import models

        template_code, params = self._template(request)
        sdk_request = models.SendSmsRequest()
        sdk_request.SmsSdkAppId = str(self.config.get("sdk_app_id", ""))
        sdk_request.SignName = self.sign_name
        sdk_request.TemplateId = template_code
        sdk_request.TemplateParamSet = self.ordered_params(template_code, params)
        sdk_request.PhoneNumberSet = [request.phone]
        sdk_request.SessionContext = request.out_id
        try:
            response = self.client().SendSms(sdk_request)
        except TencentCloudSDKException as exc:
            code = str(exc.code or "")
            raise SendError(str(exc.message or ""), code=code, temporary=tencent_temporary(code)) from exc
        except Exception as exc:
            raise SendError(str(exc), code=type(exc).__name__, temporary=True) from exc
        statuses = list(getattr(response, "SendStatusSet", None) or [])
        if not statuses:
            raise SendError("no send status in the answer", code="InternalError.NoStatus", temporary=True)
        status = statuses[0]
        code = str(status.Code or "")
        if code == "Ok" and status.SerialNo:
            return str(status.SerialNo)
        raise SendError(str(status.Message or ""), code=code, temporary=tencent_temporary(code))


PROVIDERS: dict[str, type[SmsProvider]] = {
    "console": ConsoleProvider,
    "file": FileProvider,
    "aliyun": AliyunProvider,
    "tencent": TencentProvider,
}


def sms_provider(name: str | None = None) -> SmsProvider:
    """The configured SMS provider (``settings.OUTBOX["SMS_PROVIDER"]``), or the one named."""
    outbox: dict[str, Any] = settings.OUTBOX
    chosen = name or str(outbox.get("SMS_PROVIDER", "console"))
    if chosen not in PROVIDERS:
        raise SendError(f"unknown SMS provider {chosen!r}", code="config", temporary=False)
    providers: dict[str, Any] = outbox.get("SMS_PROVIDERS") or {}
    config = dict(providers.get(chosen) or {})
    return PROVIDERS[chosen](name=chosen, config=config)
