"""quotes, recipients, transfers, ledger, limits, webhooks, outbox and inbox

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 10:16:54.151416
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Hand-checked autogenerate output.
    op.create_table('account_balances',
    sa.Column('account', sa.Text(), nullable=False),
    sa.Column('shard', sa.SmallInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('account', 'shard', name=op.f('pk_account_balances'))
    )
    op.create_table('idempotency_keys',
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('request_hash', sa.Text(), nullable=False),
    sa.Column('transfer_id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('member_id', 'key', name=op.f('pk_idempotency_keys'))
    )
    op.create_table('inbox',
    sa.Column('consumer', sa.Text(), nullable=False),
    sa.Column('event_id', sa.Text(), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('consumer', 'event_id', name='pk_inbox')
    )
    op.create_table('ledger_transactions',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('transfer_id', sa.UUID(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_transactions'))
    )
    op.create_index(op.f('ix_ledger_transactions_transfer_id'), 'ledger_transactions', ['transfer_id'], unique=False)
    op.create_table('member_limits',
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('tier', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_member_limits'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('key', sa.Text(), nullable=True),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('headers', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('event_id', name=op.f('uq_outbox_event_id'))
    )
    op.create_index('ix_outbox_unsent', 'outbox', ['id'], unique=False, postgresql_where=sa.text('sent_at IS NULL'))
    op.create_table('quotes',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=True),
    sa.Column('send_currency', sa.String(length=3), nullable=False),
    sa.Column('payout_method', sa.Text(), nullable=False),
    sa.Column('send_amount', sa.BigInteger(), nullable=False),
    sa.Column('fee', sa.BigInteger(), nullable=False),
    sa.Column('receive_amount', sa.BigInteger(), nullable=False),
    sa.Column('receive_currency', sa.String(length=3), nullable=False),
    sa.Column('rate', sa.Numeric(precision=20, scale=10), nullable=False),
    sa.Column('fee_fixed', sa.BigInteger(), nullable=False),
    sa.Column('fee_percentage_bp', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('send_amount > 0 AND fee >= 0 AND receive_amount > 0', name=op.f('ck_quotes_amounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quotes'))
    )
    op.create_table('recipients',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('relationship', sa.Text(), nullable=False),
    sa.Column('payout_method', sa.Text(), nullable=False),
    sa.Column('mobile_number', sa.Text(), nullable=True),
    sa.Column('bank', sa.Text(), nullable=True),
    sa.Column('account_number', sa.Text(), nullable=True),
    sa.Column('pickup_district', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recipients'))
    )
    op.create_index('ix_recipients_member', 'recipients', ['member_id', 'created_at'], unique=False)
    op.create_table('sender_profiles',
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('occupation', sa.Text(), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_sender_profiles'))
    )
    op.create_table('webhook_deliveries',
    sa.Column('partner', sa.Text(), nullable=False),
    sa.Column('delivery_id', sa.Text(), nullable=False),
    sa.Column('transfer_id', sa.UUID(), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resulting_state', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('partner', 'delivery_id', name=op.f('pk_webhook_deliveries'))
    )
    op.create_index('ix_webhook_deliveries_partner_received', 'webhook_deliveries', ['partner', 'received_at'], unique=False)
    op.create_index(op.f('ix_webhook_deliveries_transfer_id'), 'webhook_deliveries', ['transfer_id'], unique=False)
    op.create_table('ledger_entries',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('transaction_id', sa.BigInteger(), nullable=False),
    sa.Column('account', sa.Text(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount <> 0', name=op.f('ck_ledger_entries_nonzero')),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transactions.id'], name=op.f('fk_ledger_entries_transaction_id_ledger_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries'))
    )
    op.create_index('ix_ledger_entries_account_posted', 'ledger_entries', ['account', 'posted_at'], unique=False)
    op.create_index(op.f('ix_ledger_entries_transaction_id'), 'ledger_entries', ['transaction_id'], unique=False)
    op.create_table('transfers',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('reference', sa.Text(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('recipient_id', sa.UUID(), nullable=False),
    sa.Column('quote_id', sa.UUID(), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('send_amount', sa.BigInteger(), nullable=False),
    sa.Column('send_currency', sa.String(length=3), nullable=False),
    sa.Column('fee', sa.BigInteger(), nullable=False),
    sa.Column('receive_amount', sa.BigInteger(), nullable=False),
    sa.Column('receive_currency', sa.String(length=3), nullable=False),
    sa.Column('rate', sa.Numeric(precision=20, scale=10), nullable=False),
    sa.Column('payout_method', sa.Text(), nullable=False),
    sa.Column('payout_partner', sa.Text(), nullable=False),
    sa.Column('payin_provider', sa.Text(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('sender_occupation', sa.Text(), nullable=False),
    sa.Column('sender_address', sa.Text(), nullable=False),
    sa.Column('sender_country', sa.String(length=2), nullable=False),
    sa.Column('funds_received', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('funded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dispatch_after', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dispatch_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.CheckConstraint("state IN ('CREATED', 'AWAITING_FUNDS', 'FUNDED', 'PAYOUT_PENDING', 'PAID_OUT', 'FAILED', 'CANCELLED', 'REFUNDED', 'REVERSED')", name=op.f('ck_transfers_state')),
    sa.CheckConstraint('send_amount > 0 AND fee >= 0 AND receive_amount > 0', name=op.f('ck_transfers_amounts')),
    sa.ForeignKeyConstraint(['quote_id'], ['quotes.id'], name=op.f('fk_transfers_quote_id_quotes')),
    sa.ForeignKeyConstraint(['recipient_id'], ['recipients.id'], name=op.f('fk_transfers_recipient_id_recipients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfers')),
    sa.UniqueConstraint('quote_id', name=op.f('uq_transfers_quote_id')),
    sa.UniqueConstraint('reference', name=op.f('uq_transfers_reference'))
    )
    op.create_index('ix_transfers_dispatch', 'transfers', ['dispatch_after'], unique=False, postgresql_where=sa.text('dispatch_after IS NOT NULL'))
    op.create_index('ix_transfers_member_created', 'transfers', ['member_id', 'created_at'], unique=False)
    op.create_table('transfer_transitions',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('transfer_id', sa.UUID(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('cause', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_transfer_transitions_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_transitions'))
    )
    op.create_index(op.f('ix_transfer_transitions_transfer_id'), 'transfer_transitions', ['transfer_id'], unique=False)
    # The ledger is append-only: corrections are new reversing transactions, never edits.
    op.execute(
        """
        CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
        END;
        $$
        """
    )
    for table in ("ledger_transactions", "ledger_entries", "transfer_transitions"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_append_only()"
        )


def downgrade() -> None:
    for table in ("ledger_transactions", "ledger_entries", "transfer_transitions"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute("DROP FUNCTION IF EXISTS ledger_is_append_only()")
    op.drop_index(op.f('ix_transfer_transitions_transfer_id'), table_name='transfer_transitions')
    op.drop_table('transfer_transitions')
    op.drop_index('ix_transfers_member_created', table_name='transfers')
    op.drop_index('ix_transfers_dispatch', table_name='transfers', postgresql_where=sa.text('dispatch_after IS NOT NULL'))
    op.drop_table('transfers')
    op.drop_index(op.f('ix_ledger_entries_transaction_id'), table_name='ledger_entries')
    op.drop_index('ix_ledger_entries_account_posted', table_name='ledger_entries')
    op.drop_table('ledger_entries')
    op.drop_index(op.f('ix_webhook_deliveries_transfer_id'), table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_partner_received', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_table('sender_profiles')
    op.drop_index('ix_recipients_member', table_name='recipients')
    op.drop_table('recipients')
    op.drop_table('quotes')
    op.drop_index('ix_outbox_unsent', table_name='outbox', postgresql_where=sa.text('sent_at IS NULL'))
    op.drop_table('outbox')
    op.drop_table('member_limits')
    op.drop_index(op.f('ix_ledger_transactions_transfer_id'), table_name='ledger_transactions')
    op.drop_table('ledger_transactions')
    op.drop_table('inbox')
    op.drop_table('idempotency_keys')
    op.drop_table('account_balances')
