"""The AWS Marketplace licence check: RegisterUsage once at start (startup step 7).

A paid container product must call ``RegisterUsage`` with its product code when a task
starts; AWS answers with a signed token when the customer is entitled, or an error that
says why not. The task then exits 77 (contract.EXIT_NOPERM) with AWS's reason. When
``MARKETPLACE_PRODUCT_CODE`` is unset (local runs, tests, a build outside Marketplace)
licensing is off and that is logged.

Only the outcome is kept for /health; the signed token is never stored or logged.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
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
# Throttling is retried with capped exponential backoff and full jitter, so replicas that
# start together spread out. 6 attempts wait at most about 1+2+4+8+8 = 23 s in all,
# well inside the startup probe's budget.
MAX_ATTEMPTS = 6
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 8.0
THROTTLING_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
# Our retry loop is the only one: botocore's own retries would hide attempts from the log
# and multiply the wait. Passed to AioConfig when the client is made (imported lazily).
_CLIENT_CONFIG: dict[str, Any] = {
    "retries": {"total_max_attempts": 1, "mode": "standard"},
    "connect_timeout": 5,
    "read_timeout": 10,
}


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


def _backoff(attempt: int, first: float, cap: float) -> float:
    """Full-jitter delay before retry number ``attempt`` (1-based)."""
    return random.uniform(0, min(cap, first * 2 ** (attempt - 1)))  # noqa: S311 - jitter, not crypto


def _aws_reason(error: ClientError) -> tuple[str, str]:
    details = error.response.get("Error", {})
    code = details.get("Code") or "UnknownError"
    message = details.get("Message") or str(error)
    return code, message


async def check_licence(
    settings: LicenceSettings,
    *,
    session: aioboto3.Session | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    first_backoff: float = FIRST_BACKOFF,
    max_backoff: float = MAX_BACKOFF,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> LicenceStatus:
    """Startup step 7: register this task's usage with AWS Marketplace, or say it is off.

    Calls RegisterUsage(ProductCode, PublicKeyVersion=1) in the task's own region
    (AWS_REGION). Throttling is retried with backoff; any other error, and throttling
    that outlasts ``max_attempts``, raises LicenceError carrying AWS's error code and
    message.
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
    attempt = 0
    try:
        async with session.client(
            "meteringmarketplace", region_name=region, config=AioConfig(**_CLIENT_CONFIG)
        ) as client:
            while True:
                attempt += 1
                try:
                    await client.register_usage(
                        ProductCode=product_code, PublicKeyVersion=PUBLIC_KEY_VERSION
                    )
                    break
                except ClientError as exc:
                    code, message = _aws_reason(exc)
                    if code not in THROTTLING_CODES:
                        raise LicenceError(
                            f"RegisterUsage refused for product {product_code} in {region}: "
                            f"{code}: {message}",
                            aws_code=code,
                        ) from None
                    if attempt >= max_attempts:
                        raise LicenceError(
                            f"RegisterUsage still throttled after {attempt} attempts for "
                            f"product {product_code} in {region}: {code}: {message}",
                            aws_code=code,
                        ) from None
                    delay = _backoff(attempt, first_backoff, max_backoff)
                    log.warning(
                        "RegisterUsage throttled (attempt %d of %d), retrying in %.2fs: %s",
                        attempt,
                        max_attempts,
                        delay,
                        message,
                    )
                    await sleep(delay)
    except BotoCoreError as exc:
        # No credentials, no endpoint, a timeout: AWS could not be asked, so there is no
        # entitlement to run on either.
        raise LicenceError(
            f"RegisterUsage could not be called for product {product_code} in {region}: {exc}",
            aws_code=type(exc).__name__,
        ) from None
    status = LicenceStatus("registered", product_code, region, attempt, datetime.now(UTC))
    log.info(
        "licence registered for product %s in %s (%d attempt(s), %.0f ms)",
        product_code,
        region,
        attempt,
        (time.perf_counter() - started) * 1000,
    )
    return status
