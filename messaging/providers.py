"""Mainland China's SMS providers behind the gateway interface: Aliyun 短信服务 and Tencent Cloud SMS
(registered in `messaging.gateway.BACKENDS`; two of them make a failover pair there).

Both send only approved templates: the outbox row carries the template the text was recognised
as (`messaging.templates`), the adapter sends its code from SMS_TEMPLATES with the variables cut
to the provider's limit. Their SDKs are used as shipped, pointed at ALIYUN_SMS_ENDPOINT /
TENCENT_SMS_ENDPOINT (tests: a local fake server speaking their APIs).

Errors are classified as for Twilio (`GatewayError`): throttling and provider faults are
retryable and may go to the second provider; an invalid number is permanent everywhere, so it
fails visibly and is not handed to the other provider; a text with no approved template fails
visibly too (a person must register it).
"""

from __future__ import annotations

import json
import logging

import requests
import urllib3
from alibabacloud_dysmsapi20170525 import models as ali_models
from alibabacloud_dysmsapi20170525.client import Client as AliyunClient
from alibabacloud_tea_openapi import models as ali_openapi
from alibabacloud_tea_util import models as ali_util
from Tea.exceptions import TeaException, UnretryableException
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models as tc_models
from tencentcloud.sms.v20210111.sms_client import SmsClient

from messaging.gateway import BACKENDS, GatewayError, SendResult
from messaging.templates import Recognised, cut, load_map, variables_of

log = logging.getLogger("zaibao.sms")

# Aliyun SendSms answer codes (Code != "OK"). Throttling and the provider's own faults are worth
# another try (or the other provider); a bad number is not, anywhere.
ALIYUN_RETRYABLE = {"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "isp.SYSTEM_ERROR",
                    "isp.GATEWAY_ERROR", "Throttling.User", "Throttling", "ServiceUnavailable"}
ALIYUN_BAD_NUMBER = {"isv.MOBILE_NUMBER_ILLEGAL", "isv.MOBILE_COUNT_OVER_LIMIT", "isv.BLACK_KEY_CONTROL_LIMIT"}
# Tencent SendStatus / error codes, by prefix.
TENCENT_RETRYABLE = ("LimitExceeded.", "RequestLimitExceeded", "InternalError", "FailedOperation.JsonParseFail")
TENCENT_BAD_NUMBER = ("InvalidParameterValue.IncorrectPhoneNumber", "UnsupportedOperation.ContainDomestic",
                      "UnsupportedOperation.UnsupportedRegion")


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """`http://127.0.0.1:8099` → ("http", "127.0.0.1:8099"); a bare host means https."""
    for scheme in ("http", "https"):
        if endpoint.startswith(scheme + "://"):
            return scheme, endpoint[len(scheme) + 3:].rstrip("/")
    return "https", endpoint.rstrip("/")


class TemplateGateway:
    """What Aliyun and Tencent share: the template map and the cut of variables."""

    name = ""
    variable_limit_key = ""

    def __init__(self, config) -> None:
        self.config = config
        self.codes = load_map(config.get("SMS_TEMPLATES"))
        self.variable_limit = int(config[self.variable_limit_key])

    def template_code(self, template: Recognised | None, body: str) -> tuple[str, dict[str, str]]:
        if template is None:
            raise GatewayError(f"{self.name}: no SMS template matches this text: {body[:60]}",
                               retryable=False, failover=False)
        code = self.codes.get(template.name)
        if not code:
            raise GatewayError(f"{self.name}: template {template.name} has no code in SMS_TEMPLATES",
                               retryable=False, failover=True)
        # Providers refuse an empty variable ("变量内容不能为空"): an absent piece is sent as "-".
        return code, {k: cut(v, self.variable_limit) if v else "-" for k, v in template.params.items()}


def _never_connected(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
            return True
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return True
        reason = getattr(exc, "reason", None)
        if isinstance(reason, urllib3.exceptions.NewConnectionError):
            return True
        exc = exc.__cause__ or exc.__context__ or (exc.args[0] if exc.args and isinstance(exc.args[0],
                                                                                          BaseException) else None)
    return False


class AliyunGateway(TemplateGateway):
    """`SendSms` through `alibabacloud-dysmsapi20170525`."""

    name = "aliyun"
    variable_limit_key = "ALIYUN_VARIABLE_MAX_CHARS"

    def __init__(self, config) -> None:
        super().__init__(config)
        scheme, host = split_endpoint(config["ALIYUN_SMS_ENDPOINT"])
        timeout_ms = int(float(config["SMS_TIMEOUT_SECONDS"]) * 1000)
        self.client = AliyunClient(ali_openapi.Config(
            access_key_id=config["ALIYUN_ACCESS_KEY_ID"], access_key_secret=config["ALIYUN_ACCESS_KEY_SECRET"],
            endpoint=host, protocol=scheme, read_timeout=timeout_ms, connect_timeout=min(timeout_ms, 5000)))
        # No retries inside the SDK: the outbox decides (a retried SendSms may send twice).
        self.runtime = ali_util.RuntimeOptions(autoretry=False, max_attempts=1, read_timeout=timeout_ms,
                                               connect_timeout=min(timeout_ms, 5000))

    @staticmethod
    def phone(to: str) -> str:
        """Aliyun takes mainland numbers without +86, others with their country code and no '+'."""
        return to[3:] if to.startswith("+86") else to.lstrip("+")

    def send(self, to: str, body: str, template: Recognised | None = None) -> SendResult:
        code, params = self.template_code(template, body)
        request = ali_models.SendSmsRequest(
            phone_numbers=self.phone(to), sign_name=self.config["ALIYUN_SIGN_NAME"], template_code=code,
            template_param=json.dumps(params, ensure_ascii=False) if params else None)
        try:
            answer = self.client.send_sms_with_options(request, self.runtime).body
        except UnretryableException as exc:  # the network: refused, reset, timed out
            inner = getattr(exc, "inner_exception", None)
            raise GatewayError(f"aliyun: network error: {inner or exc}", retryable=True,
                               ambiguous=not _never_connected(inner)) from exc
        except TeaException as exc:  # an HTTP error answer (throttled, 5xx, refused request)
            status = getattr(exc, "statusCode", None) or 0
            retryable = status >= 500 or status == 429 or "Throttling" in str(exc.code or "")
            raise GatewayError(f"aliyun {status} {exc.code}: {exc.message}", retryable=retryable,
                               status=status or None) from exc
        if answer.code == "OK":
            return SendResult(sid=f"aliyun:{answer.biz_id}", status="sent", provider=self.name)
        bad_number = answer.code in ALIYUN_BAD_NUMBER
        raise GatewayError(f"aliyun {answer.code}: {answer.message}", retryable=answer.code in ALIYUN_RETRYABLE,
                           failover=not bad_number)


class TencentGateway(TemplateGateway):
    """`SendSms` (API 2021-01-11) through `tencentcloud-sdk-python-sms`."""

    name = "tencent"
    variable_limit_key = "TENCENT_VARIABLE_MAX_CHARS"

    def __init__(self, config) -> None:
        super().__init__(config)
        scheme, host = split_endpoint(config["TENCENT_SMS_ENDPOINT"])
        http = HttpProfile(endpoint=host, reqTimeout=max(1, int(float(config["SMS_TIMEOUT_SECONDS"]))))
        http.scheme = scheme
        self.client = SmsClient(credential.Credential(config["TENCENT_SECRET_ID"], config["TENCENT_SECRET_KEY"]),
                                config["TENCENT_REGION"], ClientProfile(httpProfile=http))

    def send(self, to: str, body: str, template: Recognised | None = None) -> SendResult:
        code, params = self.template_code(template, body)
        ordered = [params.get(v, "") for v in variables_of(template.name)]  # Tencent's {1}, {2}, … in order
        request = tc_models.SendSmsRequest()
        request.PhoneNumberSet = [to]
        request.SmsSdkAppId = self.config["TENCENT_SMS_APP_ID"]
        request.SignName = self.config["TENCENT_SIGN_NAME"]
        request.TemplateId = code
        request.TemplateParamSet = ordered
        try:
            answer = self.client.SendSms(request)
        except TencentCloudSDKException as exc:
            err = exc.get_code() or ""
            if err == "ClientNetworkError":
                text = str(exc.get_message())
                never = "NewConnectionError" in text or "Connection refused" in text or "ConnectTimeout" in text
                raise GatewayError(f"tencent: network error: {text[:300]}", retryable=True,
                                   ambiguous=not never) from exc
            raise GatewayError(f"tencent {err}: {exc.get_message()}", retryable=err.startswith(TENCENT_RETRYABLE),
                               failover=not err.startswith(TENCENT_BAD_NUMBER)) from exc
        status = (answer.SendStatusSet or [None])[0]
        if status is not None and status.Code == "Ok":
            return SendResult(sid=f"tencent:{status.SerialNo}", status="sent", provider=self.name)
        err = status.Code if status is not None else "NoStatus"
        message = status.Message if status is not None else "no SendStatus in the answer"
        raise GatewayError(f"tencent {err}: {message}", retryable=err.startswith(TENCENT_RETRYABLE),
                           failover=not err.startswith(TENCENT_BAD_NUMBER))


BACKENDS["aliyun"] = AliyunGateway
BACKENDS["tencent"] = TencentGateway
