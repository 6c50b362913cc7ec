"""The AWS Marketplace licence check: RegisterUsage once at start (startup step 7).

A paid container product must call ``RegisterUsage`` with its product code when a task
starts; AWS answers with a signed token when the customer is entitled, or an error that
says why not. The task then exits 77 (contract.EXIT_NOPERM) with AWS's reason. When
``MARKETPLACE_PRODUCT_CODE`` is unset (local runs, tests, a build outside Marketplace)
licensing is off and that is logged.

Only the outcome is kept for /health; the signed token is never stored or logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from service import contract

if TYPE_CHECKING:
    # Imported where RegisterUsage is called: aioboto3 (with aiobotocore, aiohttp and
    # botocore) costs ~0.35 s of CPU at every start, and licensing is off unless
    # MARKETPLACE_PRODUCT_CODE is set.
    import aioboto3
    from botocore.exceptions import ClientError

log = logging.getLogger(__name__)

HEALTH_COMPONENT = "marketplace_licence"
# The only public key version AWS Marketplace metering has published.
PUBLIC_KEY_VERSION = 1
# botocore's standard retry mode retries throttling (ThrottlingException and the other
# throttling codes), 5xx answers and connection errors with full-jitter exponential backoff,
# rand(0, 1) * 2 ** (retry - 1) seconds, so replicas that start together spread out
# (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html). 6 attempts
# wait at most 1+2+4+8+16 = 31 s in all, well inside the startup budget. Any other error is
# not retried. total_max_attempts counts the first call; botocore's max_attempts would not.
MAX_ATTEMPTS = 6
THROTTLING_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
_TIMEOUTS: dict[str, Any] = {"connect_timeout": 5, "read_timeout": 10}


def client_config(max_attempts: int) -> dict[str, Any]:
    """What AioConfig is given for the RegisterUsage client (aiobotocore is imported lazily)."""
    return {"retries": {"mode": "standard", "total_max_attempts": max_attempts}, **_TIMEOUTS}


class LicenceSettings(Protocol):
    """The two settings the check reads (service.config.Settings has them)."""

    @property
    def marketplace_product_code(self) -> str | None: ...

    @property
    def aws_region(self) -> str | None: ...


class LicenceError(Exception):
    """AWS Marketplace refused the licence (or could not be asked); the task must exit 77."""

    exit_code = contract.EXIT_NOPERM

    def __init__(self, reason: str, *, aws_code: str | None = None) -> None:
        super().__init__(reason)
        self.aws_code = aws_code


@dataclass(frozen=True, slots=True)
class LicenceStatus:
    """The outcome of the check, for /health. Holds no token."""

    licensing: Literal["off", "registered"]
    product_code: str | None
    region: str | None
    attempts: int
    checked_at: datetime

    # The probes read ``status`` and ``output`` like any other component's check.
    @property
    def status(self) -> Literal["pass"]:
        return "pass"

    @property
    def output(self) -> str:
        if self.licensing == "off":
            return f"licensing off ({contract.ENV_MARKETPLACE_PRODUCT_CODE} not set)"
        return (
            f"RegisterUsage accepted for product {self.product_code} in {self.region} "
            f"after {self.attempts} attempt(s) at {self.checked_at.isoformat()}"
        )


def _aws_reason(error: ClientError) -> tuple[str, str]:
    details = error.response.get("Error", {})
    code = details.get("Code") or "UnknownError"
    message = details.get("Message") or str(error)
    return code, message


def _attempts(response: Mapping[str, Any]) -> int:
    """How many calls botocore made: the first one and its retries."""
    retries = response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
    return 1 + (retries if isinstance(retries, int) else 0)


async def check_licence(
    settings: LicenceSettings,
    *,
    session: aioboto3.Session | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> LicenceStatus:
    """Startup step 7: register this task's usage with AWS Marketplace, or say it is off.

    Calls RegisterUsage(ProductCode, PublicKeyVersion=1) in the task's own region
    (AWS_REGION); botocore retries throttling with backoff (MAX_ATTEMPTS above). Any other
    error, and throttling that outlasts ``max_attempts``, raises LicenceError carrying
    AWS's error code and message.
    """
    product_code = settings.marketplace_product_code
    if not product_code:
        log.info(
            "licensing is off: %s is not set, RegisterUsage not called",
            contract.ENV_MARKETPLACE_PRODUCT_CODE,
        )
        return LicenceStatus("off", None, None, 0, datetime.now(UTC))
    # Only now: see the TYPE_CHECKING import above.
    import aioboto3  # noqa: PLC0415
    from aiobotocore.config import AioConfig  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    session = session or aioboto3.Session()
    region = settings.aws_region or session.region_name
    if not region:
        raise LicenceError(
            f"{contract.ENV_AWS_REGION} is not set: RegisterUsage must be called in the "
            "task's own region"
        )
    started = time.perf_counter()
    config = AioConfig(**client_config(max_attempts))
    try:
        async with session.client(
            "meteringmarketplace", region_name=region, config=config
        ) as client:
            response = await client.register_usage(
                ProductCode=product_code, PublicKeyVersion=PUBLIC_KEY_VERSION
            )
    except ClientError as exc:
        code, message = _aws_reason(exc)
        attempts = _attempts(exc.response)
        if code in THROTTLING_CODES:
            raise LicenceError(
                f"RegisterUsage still throttled after {attempts} attempts for "
                f"product {product_code} in {region}: {code}: {message}",
                aws_code=code,
            ) from None
        raise LicenceError(
            f"RegisterUsage refused for product {product_code} in {region}: {code}: {message}",
            aws_code=code,
        ) from None
    except BotoCoreError as exc:
        # No credentials, no endpoint, a timeout: AWS could not be asked, so there is no
        # entitlement to run on either.
        raise LicenceError(
            f"RegisterUsage could not be called for product {product_code} in {region}: {exc}",
            aws_code=type(exc).__name__,
        ) from None
    attempts = _attempts(response)
    status = LicenceStatus("registered", product_code, region, attempts, datetime.now(UTC))
    log.info(
        "licence registered for product %s in %s (%d attempt(s), %.0f ms)",
        product_code,
        region,
        attempts,
        (time.perf_counter() - started) * 1000,
    )
    return status
