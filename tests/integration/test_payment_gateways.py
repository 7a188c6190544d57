"""The gateway contract, proved on both backends: the offline sandbox and the real
``stripe`` SDK against localstripe. The same assertions hold for both."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from tests.localstripe_server import LocalStripe
from tests.stripe_fixtures import stripe_settings
from tillpoint.config import load_settings
from tillpoint.payments.gateway import (
    CreateIntent,
    GatewayRejected,
    IntentStatus,
    PaymentGateway,
    PaymentIntentResult,
    PaymentMethodDeclined,
    PaymentMethodNotFound,
    RecurringPrice,
    idempotency_key,
)
from tillpoint.payments.sandbox import SandboxGateway
from tillpoint.payments.stripe_gateway import StripeGateway

pytestmark = pytest.mark.stripe


@dataclass
class Kit:
    gateway: PaymentGateway
    ok_card: str
    decline_card: str
    attach_decline_card: str
    three_ds_card: Callable[[], Awaitable[str]]
    authenticate: Callable[[PaymentIntentResult, bool], Awaitable[None]]


def _sandbox_kit() -> Kit:
    gateway = SandboxGateway("whsec_sandbox_test")

    async def three_ds() -> str:
        return "pm_card_threeDSecure2Required"

    async def authenticate(intent: PaymentIntentResult, success: bool) -> None:
        await gateway.authenticate(intent.id, success=success)

    return Kit(
        gateway, "pm_card_visa", "pm_card_chargeDeclined", "pm_card_visa_chargeDeclined",
        three_ds, authenticate,
    )  # fmt: skip


def _stripe_kit(ls: LocalStripe) -> Kit:
    gateway = StripeGateway(load_settings(**stripe_settings(ls.url)))

    async def three_ds() -> str:
        # localstripe has no pm_card_threeDSecure2Required alias: make the 3DS test card.
        client = gateway._accounts["primary"].client
        pm = await client.v1.payment_methods.create_async(
            {
                "type": "card",
                "card": {
                    "number": "4000002500003155",
                    "exp_month": 12,
                    "exp_year": 2034,
                    "cvc": "123",
                },
            }
        )
        return str(pm.id)

    async def authenticate(intent: PaymentIntentResult, success: bool) -> None:
        assert intent.client_secret
        ls.authenticate(intent.id, intent.client_secret, success=success)

    return Kit(
        gateway, "pm_card_visa", "pm_card_chargeCustomerFail", "pm_card_visa_chargeDeclined",
        three_ds, authenticate,
    )  # fmt: skip


@pytest.fixture(params=["sandbox", "stripe"])
def kit(request: pytest.FixtureRequest) -> Kit:
    if request.param == "sandbox":
        return _sandbox_kit()
    return _stripe_kit(request.getfixturevalue("localstripe"))


def _intent(
    pm: str | None, *, amount: int = 2599, key: str = "k", confirm: bool = True
) -> CreateIntent:
    return CreateIntent(
        amount=amount,
        currency="USD",
        idempotency_key=idempotency_key(f"chk_{key}", 1, "pay"),
        metadata={"checkout_id": f"chk_{key}", "attempt": "1"},
        payment_method_id=pm,
        confirm=confirm,
    )


async def test_test_visa_succeeds_with_amount_currency_metadata_and_fingerprint(kit: Kit) -> None:
    result = await kit.gateway.create_payment_intent(_intent(kit.ok_card, key="visa"))
    assert result.status is IntentStatus.succeeded
    assert (result.amount, result.currency) == (2599, "USD")
    assert result.metadata["checkout_id"] == "chk_visa"
    assert result.card_fingerprint and result.card_last4 == "4242"
    assert result.client_secret and result.client_secret.startswith(result.id)
    assert result.decline_code is None and not result.declined
    again = await kit.gateway.retrieve_payment_intent(result.id)
    assert again.status is IntentStatus.succeeded


async def test_declined_card_is_a_result_with_decline_code_not_an_error(kit: Kit) -> None:
    result = await kit.gateway.create_payment_intent(_intent(kit.decline_card, key="dec"))
    assert result.status is IntentStatus.requires_payment_method
    assert result.declined
    assert result.decline_code in {"card_declined", "generic_decline"}
    assert result.decline_message


async def test_retry_after_decline_is_a_new_attempt_that_succeeds(kit: Kit) -> None:
    # Each attempt gets its own intent (idempotency key from checkout id + attempt number);
    # the declined one is canceled so it can never be charged later.
    first = await kit.gateway.create_payment_intent(_intent(kit.decline_card, key="retry"))
    assert first.declined
    canceled = await kit.gateway.cancel_payment_intent(first.id)
    assert canceled.status is IntentStatus.canceled
    second = await kit.gateway.create_payment_intent(
        CreateIntent(
            amount=2599,
            currency="USD",
            idempotency_key=idempotency_key("chk_retry", 2, "pay"),
            payment_method_id=kit.ok_card,
            confirm=True,
        )
    )
    assert second.id != first.id
    assert second.status is IntentStatus.succeeded
    assert second.decline_code is None


async def test_method_set_by_update_then_confirmed(kit: Kit) -> None:
    created = await kit.gateway.create_payment_intent(_intent(None, key="upd", confirm=False))
    confirmed = await kit.gateway.confirm_payment_intent(
        created.id, idempotency_key="chk_upd:1:pay", payment_method_id=kit.ok_card
    )
    assert confirmed.id == created.id
    assert confirmed.status is IntentStatus.succeeded


@pytest.mark.parametrize("success", [True, False])
async def test_three_d_secure_requires_action_then_completes_or_fails(
    kit: Kit, success: bool
) -> None:
    card = await kit.three_ds_card()
    pending = await kit.gateway.create_payment_intent(_intent(card, key=f"3ds{success}"))
    assert pending.status is IntentStatus.requires_action
    assert pending.next_action is not None
    await kit.authenticate(pending, success)
    after = await kit.gateway.retrieve_payment_intent(pending.id)
    if success:
        assert after.status is IntentStatus.succeeded
    else:
        assert after.status is IntentStatus.requires_payment_method
        assert after.decline_code == "payment_intent_authentication_failure"


async def test_intent_without_method_is_created_for_the_browser_then_updated(kit: Kit) -> None:
    created = await kit.gateway.create_payment_intent(_intent(None, key="pe", confirm=False))
    assert created.status is IntentStatus.requires_payment_method
    assert created.client_secret
    updated = await kit.gateway.update_payment_intent(created.id, amount=3100)
    assert updated.amount == 3100
    canceled = await kit.gateway.cancel_payment_intent(created.id)
    assert canceled.status is IntentStatus.canceled


async def test_refunds_partial_then_the_rest(kit: Kit) -> None:
    paid = await kit.gateway.create_payment_intent(_intent(kit.ok_card, amount=5000, key="ref"))
    part = await kit.gateway.refund(paid.id, amount=1200, idempotency_key="chk_ref:refund:1")
    assert (part.amount, part.currency, part.status) == (1200, "USD", "succeeded")
    assert part.payment_intent_id == paid.id
    rest = await kit.gateway.refund(paid.id, amount=3800, idempotency_key="chk_ref:refund:2")
    assert rest.amount == 3800
    assert rest.id != part.id


async def test_full_refund_without_amount_refunds_everything(kit: Kit) -> None:
    paid = await kit.gateway.create_payment_intent(_intent(kit.ok_card, amount=777, key="full"))
    refund = await kit.gateway.refund(paid.id, idempotency_key="chk_full:refund:1")
    assert refund.amount == 777


async def test_refund_of_a_failed_payment_is_refused(kit: Kit) -> None:
    failed = await kit.gateway.create_payment_intent(_intent(kit.decline_card, key="rf"))
    with pytest.raises(GatewayRejected):
        await kit.gateway.refund(failed.id, idempotency_key="chk_rf:refund:1")


async def test_saved_methods_attach_list_detach_and_setup_intent(kit: Kit) -> None:
    customer = await kit.gateway.create_customer(
        email="ada@example.com", name="Ada", idempotency_key="user_1", metadata={"user_id": "u1"}
    )
    setup = await kit.gateway.create_setup_intent(customer.id, idempotency_key="user_1:setup:1")
    assert setup.client_secret and setup.customer_id == customer.id
    assert await kit.gateway.list_payment_methods(customer.id) == []
    # localstripe turns pm_card_visa into a new object on every read, so save a real card.
    card = await kit.three_ds_card() if isinstance(kit.gateway, StripeGateway) else kit.ok_card
    saved = await kit.gateway.attach_payment_method(card, customer.id)
    assert saved.customer_id == customer.id and saved.last4 and saved.fingerprint
    listed = await kit.gateway.list_payment_methods(customer.id)
    assert [m.id for m in listed] == [saved.id]
    await kit.gateway.detach_payment_method(saved.id)
    assert await kit.gateway.list_payment_methods(customer.id) == []


async def test_saving_a_card_that_declines_on_attach_is_refused(kit: Kit) -> None:
    customer = await kit.gateway.create_customer(
        email="bo@example.com", name=None, idempotency_key="user_2", metadata={}
    )
    with pytest.raises(PaymentMethodDeclined) as err:
        await kit.gateway.attach_payment_method(kit.attach_decline_card, customer.id)
    assert err.value.status == 402


async def test_unknown_payment_method_is_rejected(kit: Kit) -> None:
    with pytest.raises(GatewayRejected):
        await kit.gateway.create_payment_intent(_intent("pm_does_not_exist", key="unk"))


async def test_subscription_for_recurring_lines(kit: Kit) -> None:
    customer = await kit.gateway.create_customer(
        email="sub@example.com", name=None, idempotency_key="user_sub", metadata={}
    )
    card = await kit.three_ds_card() if isinstance(kit.gateway, StripeGateway) else kit.ok_card
    if isinstance(kit.gateway, StripeGateway):
        # A card without 3-D Secure, saved to the customer first (as Stripe requires).
        client = kit.gateway._accounts["primary"].client
        pm = await client.v1.payment_methods.create_async(
            {
                "type": "card",
                "card": {
                    "number": "4242424242424242",
                    "exp_month": 12,
                    "exp_year": 2034,
                    "cvc": "123",
                },
            }
        )
        card = str(pm.id)
    await kit.gateway.attach_payment_method(card, customer.id)
    sub = await kit.gateway.create_subscription(
        customer.id,
        [RecurringPrice("Coffee club", 1500, "USD", "month")],
        payment_method_id=card,
        idempotency_key="chk_sub:1",
        metadata={"checkout_id": "chk_sub"},
    )
    assert sub.customer_id == customer.id
    assert sub.status == "active"
    assert sub.current_period_end


async def test_saving_an_unknown_payment_method_is_the_callers_error(kit: Kit) -> None:
    customer = await kit.gateway.create_customer(
        email="cy@example.com", name=None, idempotency_key="user_3", metadata={}
    )
    with pytest.raises(PaymentMethodNotFound) as err:
        await kit.gateway.attach_payment_method("pm_" + "0" * 40, customer.id)
    assert err.value.status == 422 and err.value.code == "payment_method_not_found"
