"""The transfer state machine and its ledger postings, including a hypothesis state machine."""

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from payments.domain.errors import IllegalTransition, UnbalancedTransaction
from payments.domain.ledger import (
    Account,
    AccountKind,
    LedgerTransaction,
    balances,
    credit,
    debit,
    is_consistent,
)
from payments.domain.money import Money
from payments.domain.quotes import PayoutMethod, default_corridor_book
from payments.domain.transfers import (
    ALLOWED,
    CANCELLABLE,
    PartnerOutcome,
    Transfer,
    TransferState,
    apply_partner_outcome,
)

S = TransferState
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
BOOK = default_corridor_book()


def new_transfer(send_minor: int = 100_000, currency: str = "ZAR") -> Transfer:
    quote = BOOK.quote(
        send_currency=currency,
        payout_method=PayoutMethod.MPESA,
        send_amount=Money(send_minor, currency),
        now=NOW,
    )
    return Transfer(
        id=uuid.uuid4(),
        sender_id=uuid.uuid4(),
        recipient_id=uuid.uuid4(),
        send_amount=quote.send_amount,
        fee=quote.fee,
        receive_amount=quote.receive_amount,
        payout_method=quote.payout_method,
        payout_partner="mpesa",
        payin_provider="payin",
        purpose="FAMILY_SUPPORT",
        reference="KPN-TEST",
        created_at=NOW,
    )


def customer_funds(postings: list[LedgerTransaction], currency: str) -> int:
    return balances(postings).get(Account(AccountKind.CUSTOMER_FUNDS, currency), 0)


def test_unbalanced_transaction_is_impossible() -> None:
    a = Account(AccountKind.FEE_REVENUE, "ZAR")
    b = Account(AccountKind.CUSTOMER_FUNDS, "ZAR")
    with pytest.raises(UnbalancedTransaction):
        LedgerTransaction("x", (debit(a, Money(100, "ZAR")), credit(b, Money(99, "ZAR"))))
    with pytest.raises(UnbalancedTransaction):
        debit(a, Money(100, "GBP"))


def test_account_key_round_trips() -> None:
    account = Account(AccountKind.PAYOUT_CLEARING, "LSL", "mpesa")
    assert account.key == "payout_clearing:mpesa:LSL"
    assert Account.from_key(account.key) == account
    assert Account.from_key("fee_revenue:ZAR") == Account(AccountKind.FEE_REVENUE, "ZAR")


def test_happy_path_leaves_only_fee_revenue_and_partner_obligations() -> None:
    transfer = new_transfer()
    postings = apply_partner_outcome(transfer, PartnerOutcome.PAYIN_COLLECTED, at=NOW)
    assert transfer.state is S.FUNDED
    posting = transfer.move_to(S.PAYOUT_PENDING, cause="payout instructed", at=NOW)
    assert posting is not None
    postings.append(posting)
    postings += apply_partner_outcome(transfer, PartnerOutcome.PAYOUT_CREDITED, at=NOW)
    assert transfer.state.value == "PAID_OUT"
    final = balances(postings)
    assert final[Account(AccountKind.PAYIN_CLEARING, "ZAR", "payin")] == 102_000
    assert final[Account(AccountKind.FEE_REVENUE, "ZAR")] == -2_000
    assert final[Account(AccountKind.PARTNER_PAYABLE, "LSL", "mpesa")] == -100_000
    assert Account(AccountKind.CUSTOMER_FUNDS, "ZAR") not in final
    assert [t.target for t in transfer.history] == [
        S.AWAITING_FUNDS,
        S.FUNDED,
        S.PAYOUT_PENDING,
        S.PAID_OUT,
    ]


def test_every_transition_outside_the_table_is_refused() -> None:
    for source, target in itertools.product(S, S):
        transfer = new_transfer()
        transfer.state = source
        transfer.funds_received = True
        if target in ALLOWED[source]:
            transfer.move_to(target, cause="test", at=NOW)
            assert transfer.state is target
        else:
            with pytest.raises(IllegalTransition):
                transfer.move_to(target, cause="test", at=NOW)
            assert transfer.state is source


def test_refund_needs_received_funds() -> None:
    transfer = new_transfer()
    transfer.move_to(S.CANCELLED, cause="sender", at=NOW)
    assert transfer.is_terminal
    with pytest.raises(IllegalTransition):
        transfer.move_to(S.REFUNDED, cause="sender", at=NOW)


def test_sender_cannot_cancel_once_payout_started() -> None:
    assert S.PAYOUT_PENDING not in CANCELLABLE
    assert S.CANCELLED not in ALLOWED[S.PAYOUT_PENDING]


def _deliver(outcomes: list[PartnerOutcome]) -> tuple[TransferState, dict[Account, int]]:
    transfer = new_transfer()
    postings = apply_partner_outcome(transfer, PartnerOutcome.PAYIN_COLLECTED, at=NOW)
    posting = transfer.move_to(S.PAYOUT_PENDING, cause="payout instructed", at=NOW)
    assert posting is not None
    postings.append(posting)
    for outcome in outcomes:
        postings += apply_partner_outcome(transfer, outcome, at=NOW)
    return transfer.state, balances(postings)


@pytest.mark.parametrize(
    "deliveries",
    [
        [PartnerOutcome.PAYOUT_RETURNED, PartnerOutcome.PAYOUT_CREDITED],
        [
            PartnerOutcome.PAYOUT_CREDITED,
            PartnerOutcome.PAYOUT_CREDITED,
            PartnerOutcome.PAYOUT_RETURNED,
        ],
        [
            PartnerOutcome.PAYOUT_RETURNED,
            PartnerOutcome.PAYOUT_RETURNED,
            PartnerOutcome.PAYOUT_CREDITED,
        ],
        [
            PartnerOutcome.PAYIN_COLLECTED,
            PartnerOutcome.PAYOUT_CREDITED,
            PartnerOutcome.PAYOUT_RETURNED,
        ],
    ],
)
def test_duplicated_and_reordered_webhooks_end_as_in_order_delivery(
    deliveries: list[PartnerOutcome],
) -> None:
    in_order = _deliver([PartnerOutcome.PAYOUT_CREDITED, PartnerOutcome.PAYOUT_RETURNED])
    assert in_order[0] is S.REVERSED
    assert _deliver(deliveries) == in_order


def test_bounce_after_payout_returns_the_money_to_customer_funds() -> None:
    state, final = _deliver([PartnerOutcome.PAYOUT_CREDITED, PartnerOutcome.PAYOUT_RETURNED])
    assert state is S.REVERSED
    assert final[Account(AccountKind.CUSTOMER_FUNDS, "ZAR")] == -100_000
    assert Account(AccountKind.PARTNER_PAYABLE, "LSL", "mpesa") not in final


def test_funds_arriving_after_cancellation_are_refunded() -> None:
    transfer = new_transfer()
    transfer.move_to(S.CANCELLED, cause="sender", at=NOW)
    postings = apply_partner_outcome(transfer, PartnerOutcome.PAYIN_COLLECTED, at=NOW)
    assert transfer.state is S.REFUNDED
    assert balances(postings) == {}


class RemittanceLedger(RuleBasedStateMachine):
    """Random quotes, sends, webhooks, cancels and bounces; the books must always balance."""

    def __init__(self) -> None:
        super().__init__()
        self.transfers: list[Transfer] = []
        self.postings: dict[uuid.UUID, list[LedgerTransaction]] = {}
        self.running_balances: dict[Account, int] = {}
        self.clock = NOW

    def _post(self, transfer: Transfer, transactions: list[LedgerTransaction]) -> None:
        for transaction in transactions:
            self.postings[transfer.id].append(transaction)
            for entry in transaction.entries:
                self.running_balances[entry.account] = (
                    self.running_balances.get(entry.account, 0) + entry.amount
                )

    @rule(
        amount=st.integers(min_value=1, max_value=5_000_000),
        currency=st.sampled_from(["ZAR", "BWP", "GBP", "USD", "EUR"]),
    )
    def send(self, amount: int, currency: str) -> None:
        transfer = new_transfer(amount, currency)
        self.transfers.append(transfer)
        self.postings[transfer.id] = []

    @precondition(lambda self: self.transfers)
    @rule(data=st.data(), outcome=st.sampled_from(PartnerOutcome))
    def webhook(self, data: st.DataObject, outcome: PartnerOutcome) -> None:
        transfer = data.draw(st.sampled_from(self.transfers))
        self.clock += timedelta(seconds=1)
        self._post(transfer, apply_partner_outcome(transfer, outcome, at=self.clock))

    @precondition(lambda self: self.transfers)
    @rule(data=st.data(), wanted=st.sampled_from(TransferState))
    def service_action(self, data: st.DataObject, wanted: TransferState) -> None:
        """Cancels, payout starts and refunds, legal or not: illegal ones change nothing."""
        transfer = data.draw(st.sampled_from(self.transfers))
        before = (transfer.state, len(self.postings[transfer.id]))
        try:
            posting = transfer.move_to(wanted, cause="service", at=self.clock)
        except IllegalTransition:
            assert (transfer.state, len(self.postings[transfer.id])) == before
            return
        self._post(transfer, [posting] if posting else [])

    @invariant()
    def books_balance_and_balances_match_entries(self) -> None:
        everything = [t for ts in self.postings.values() for t in ts]
        for transaction in everything:
            assert all(total == 0 for total in transaction.totals_by_currency().values())
        assert is_consistent(everything, self.running_balances)

    @invariant()
    def customer_funds_held_exactly_while_the_transfer_holds_them(self) -> None:
        for transfer in self.transfers:
            held = -customer_funds(self.postings[transfer.id], transfer.send_amount.currency)
            holds_money = transfer.funds_received and transfer.state in (
                S.FUNDED,
                S.CANCELLED,
                S.FAILED,
                S.REVERSED,
            )
            assert held == (transfer.send_amount.amount if holds_money else 0)


TestRemittanceLedger = RemittanceLedger.TestCase
TestRemittanceLedger.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
