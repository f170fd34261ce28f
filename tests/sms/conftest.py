"""SMS tests: the outbox and the gateway adapter against a local stub gateway
(an HTTP server on 127.0.0.1 started here), never the network."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from relief_pwa.adapters.sms import SmsGateway
from relief_pwa.services import sms as sms_service
from relief_pwa.settings import Settings, load_settings
from tests.sms.stub_gateway import StubGateway

WEBHOOK_SECRET = "sms-webhook-secret-0123456789"


@pytest_asyncio.fixture()
async def gateway_stub() -> AsyncIterator[StubGateway]:
    stub = StubGateway()
    await stub.start()
    yield stub
    await stub.stop()


@pytest.fixture()
def sms_settings(gateway_stub: StubGateway, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with the gateway on; the channel choice reads them too."""
    settings = dataclasses.replace(
        load_settings(),
        sms_gateway_url=gateway_stub.url,
        sms_gateway_key=gateway_stub.key,
        sms_sender_id="阳光救助",
        sms_webhook_secret=WEBHOOK_SECRET,
        sms_timeout_seconds=0.3,
    )
    monkeypatch.setattr(sms_service, "current_settings", lambda: settings)
    return settings


@pytest_asyncio.fixture()
async def gateway(sms_settings: Settings) -> AsyncIterator[SmsGateway]:
    client = SmsGateway(
        sms_settings.sms_gateway_url,
        sms_settings.sms_gateway_key,
        sms_settings.sms_sender_id,
        timeout_seconds=sms_settings.sms_timeout_seconds,
    )
    yield client
    await client.aclose()
