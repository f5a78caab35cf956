"""The payments database schema: one ``MetaData`` with our tables and the kit's outbox/inbox.

Amounts are BIGINT minor units next to their ISO 4217 code; rates are NUMERIC (never float).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from kopano.outbox import inbox_table, outbox_table

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TZ = sa.DateTime(timezone=True)
ID = UUID(as_uuid=True)
CCY = sa.String(3)

quotes = sa.Table(
    "quotes",
    metadata,
    sa.Column("id", ID, primary_key=True),
    # Null for anonymous quotes: anyone may see a price before signing in.
    sa.Column("member_id", ID),
    sa.Column("send_currency", CCY, nullable=False),
    sa.Column("payout_method", sa.Text, nullable=False),
    sa.Column("send_amount", sa.BigInteger, nullable=False),
    sa.Column("fee", sa.BigInteger, nullable=False),
    sa.Column("receive_amount", sa.BigInteger, nullable=False),
    sa.Column("receive_currency", CCY, nullable=False),
    sa.Column("rate", sa.Numeric(20, 10), nullable=False),
    sa.Column("fee_fixed", sa.BigInteger, nullable=False),
    sa.Column("fee_percentage_bp", sa.Integer, nullable=False),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("expires_at", TZ, nullable=False),
    sa.CheckConstraint("send_amount > 0 AND fee >= 0 AND receive_amount > 0", name="amounts"),
)

recipients = sa.Table(
    "recipients",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("member_id", ID, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("relationship", sa.Text, nullable=False),
    sa.Column("payout_method", sa.Text, nullable=False),
    sa.Column("mobile_number", sa.Text),
    sa.Column("bank", sa.Text),
    sa.Column("account_number", sa.Text),
    sa.Column("pickup_district", sa.Text),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("updated_at", TZ, nullable=False),
    # Removed recipients stay for the transfers that reference them, hidden from lists.
    sa.Column("removed_at", TZ),
    sa.Index("ix_recipients_member", "member_id", "created_at"),
)

# States a transfer leaves by itself, through a partner or the dispatcher.
OPEN_STATES = ("CREATED", "AWAITING_FUNDS", "FUNDED", "PAYOUT_PENDING")
OPEN_STATES_SQL = "state IN ('CREATED', 'AWAITING_FUNDS', 'FUNDED', 'PAYOUT_PENDING')"

transfers = sa.Table(
    "transfers",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("reference", sa.Text, nullable=False, unique=True),
    sa.Column("member_id", ID, nullable=False),
    sa.Column("recipient_id", ID, sa.ForeignKey("recipients.id"), nullable=False),
    # One transfer per quote: a quote is a single-use price promise.
    sa.Column("quote_id", ID, sa.ForeignKey("quotes.id"), nullable=False, unique=True),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("send_amount", sa.BigInteger, nullable=False),
    sa.Column("send_currency", CCY, nullable=False),
    sa.Column("fee", sa.BigInteger, nullable=False),
    sa.Column("receive_amount", sa.BigInteger, nullable=False),
    sa.Column("receive_currency", CCY, nullable=False),
    sa.Column("rate", sa.Numeric(20, 10), nullable=False),
    sa.Column("payout_method", sa.Text, nullable=False),
    sa.Column("payout_partner", sa.Text, nullable=False),
    sa.Column("payin_provider", sa.Text, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("sender_occupation", sa.Text, nullable=False),
    sa.Column("sender_address", sa.Text, nullable=False),
    sa.Column("sender_country", sa.String(2), nullable=False),
    sa.Column("funds_received", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("updated_at", TZ, nullable=False),
    sa.Column("funded_at", TZ),
    sa.Column("paid_out_at", TZ),
    # The dispatcher's next attempt at calling a partner for this transfer (null: nothing to do).
    sa.Column("dispatch_after", TZ),
    sa.Column("dispatch_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint(
        "state IN ('CREATED', 'AWAITING_FUNDS', 'FUNDED', 'PAYOUT_PENDING', 'PAID_OUT', "
        "'FAILED', 'CANCELLED', 'REFUNDED', 'REVERSED')",
        name="state",
    ),
    sa.CheckConstraint("send_amount > 0 AND fee >= 0 AND receive_amount > 0", name="amounts"),
    # Limits sum a member's transfers per day and month.
    sa.Index("ix_transfers_member_created", "member_id", "created_at"),
    sa.Index(
        "ix_transfers_dispatch",
        "dispatch_after",
        postgresql_where=sa.text("dispatch_after IS NOT NULL"),
    ),
    # The transfer metrics count the unfinished transfers per state and find the longest
    # waiting (updated_at = when it entered its state) from this small index alone.
    sa.Index(
        "ix_transfers_open_state",
        "state",
        "updated_at",
        postgresql_where=sa.text(OPEN_STATES_SQL),
    ),
)

transfer_transitions = sa.Table(
    "transfer_transitions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("transfer_id", ID, sa.ForeignKey("transfers.id"), nullable=False, index=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("cause", sa.Text, nullable=False),
    sa.Column("at", TZ, nullable=False),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("member_id", ID, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    # SHA-256 of the request's canonical form: same key + different request is a conflict.
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("transfer_id", ID, nullable=False),
    sa.Column("created_at", TZ, nullable=False),
)

ledger_transactions = sa.Table(
    "ledger_transactions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("transfer_id", ID, index=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("posted_at", TZ, nullable=False),
)

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column(
        "transaction_id",
        sa.BigInteger,
        sa.ForeignKey("ledger_transactions.id"),
        nullable=False,
        index=True,
    ),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("currency", CCY, nullable=False),
    # Signed minor units: debit > 0, credit < 0.
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("posted_at", TZ, nullable=False),
    sa.CheckConstraint("amount <> 0", name="nonzero"),
    sa.Index("ix_ledger_entries_account_posted", "account", "posted_at"),
)

# Running balances, updated in the posting's transaction. Each account is split over a few
# shards (picked by transfer id) so concurrent postings to a hot account such as fee revenue
# do not all queue on one row; an account's balance is the sum of its shards.
BALANCE_SHARDS = 8

account_balances = sa.Table(
    "account_balances",
    metadata,
    sa.Column("account", sa.Text, primary_key=True),
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("currency", CCY, nullable=False),
    sa.Column("balance", sa.BigInteger, nullable=False),
)

# The verification-tier projection; its row is also the per-member lock that serialises sends.
member_limits = sa.Table(
    "member_limits",
    metadata,
    sa.Column("member_id", ID, primary_key=True),
    sa.Column("tier", sa.Text, nullable=False),
    sa.Column("updated_at", TZ, nullable=False),
    sa.Column("updated_by", sa.Text),
)

sender_profiles = sa.Table(
    "sender_profiles",
    metadata,
    sa.Column("member_id", ID, primary_key=True),
    sa.Column("occupation", sa.Text, nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("updated_at", TZ, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    # The partner's delivery id: a repeated delivery (or a replay) is recognised and ignored.
    sa.Column("partner", sa.Text, primary_key=True),
    sa.Column("delivery_id", sa.Text, primary_key=True),
    sa.Column("transfer_id", ID, index=True),
    sa.Column("outcome", sa.Text, nullable=False),
    # What the partner reported (reconciliation compares it with the ledger).
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", CCY, nullable=False),
    sa.Column("signed_at", TZ, nullable=False),
    sa.Column("received_at", TZ, nullable=False),
    # The state the transfer ended in after this delivery (unchanged for stale ones).
    sa.Column("resulting_state", sa.Text),
    sa.Index("ix_webhook_deliveries_partner_received", "partner", "received_at"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
