"""Repositories: rows in, domain objects out, over the unit of work's connection."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from payments.adapters import tables as t
from payments.domain.compliance import SenderDetails
from payments.domain.ledger import LedgerTransaction
from payments.domain.limits import Usage, VerificationTier
from payments.domain.money import Money
from payments.domain.quotes import Corridor, Fee, PayoutMethod, Quote
from payments.domain.recipients import LesothoBank, Recipient, Relationship
from payments.domain.transfers import Transfer, TransferState, Transition

# States whose amount still counts against a member's limits.
_RELEASED_STATES = ("FAILED", "CANCELLED", "REFUNDED")


class QuoteRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, quote: Quote, member_id: uuid.UUID | None) -> None:
        # A constant statement with parameters: compiled once, cached (no per-call cache key).
        await self.conn.execute(
            t.quotes.insert(),
            dict(
                id=quote.id,
                member_id=member_id,
                send_currency=quote.send_amount.currency,
                payout_method=quote.payout_method.value,
                send_amount=quote.send_amount.amount,
                fee=quote.fee.amount,
                receive_amount=quote.receive_amount.amount,
                receive_currency=quote.receive_amount.currency,
                rate=quote.rate,
                fee_fixed=quote.corridor.fee.fixed.amount,
                fee_percentage_bp=quote.corridor.fee.percentage_bp,
                created_at=quote.created_at,
                expires_at=quote.expires_at,
            ),
        )

    async def get(self, quote_id: uuid.UUID) -> tuple[Quote, uuid.UUID | None] | None:
        row = (
            await self.conn.execute(sa.select(t.quotes).where(t.quotes.c.id == quote_id))
        ).first()
        return (_quote(row._mapping), row.member_id) if row else None

    async def get_for_send(
        self, quote_id: uuid.UUID, recipient_id: uuid.UUID, member_id: uuid.UUID
    ) -> tuple[tuple[Quote, uuid.UUID | None] | None, Recipient | None, SenderDetails | None]:
        """The quote, the recipient and the sender's details a send needs, in one round trip
        (None for each one that is missing; no row at all without the quote)."""
        row = (
            await self.conn.execute(
                _FOR_SEND,
                {"quote_id": quote_id, "recipient_id": recipient_id, "member_id": member_id},
            )
        ).first()
        if row is None:
            return None, None, None
        m = row._mapping
        quote = {c: m[f"q_{c}"] for c in _QUOTE_KEYS}
        recipient = (
            _recipient({c: m[f"r_{c}"] for c in _RECIPIENT_KEYS}) if m["r_id"] is not None else None
        )
        sender = (
            SenderDetails(m["s_occupation"], m["s_address"], m["s_country"])
            if m["s_member_id"] is not None
            else None
        )
        return (_quote(quote), quote["member_id"]), recipient, sender

    async def for_member(self, member_id: uuid.UUID) -> list[Quote]:
        """Every quote the member asked for while signed in, oldest first."""
        rows = await self.conn.execute(
            sa.select(t.quotes)
            .where(t.quotes.c.member_id == member_id)
            .order_by(t.quotes.c.created_at, t.quotes.c.id)
        )
        return [_quote(row._mapping) for row in rows]


def _quote(m: Any) -> Quote:
    ccy = m["send_currency"]
    corridor = Corridor(
        send_currency=ccy,
        payout_method=PayoutMethod(m["payout_method"]),
        fee=Fee(Money(m["fee_fixed"], ccy), m["fee_percentage_bp"]),
        rate=Decimal(m["rate"]).normalize(),
    )
    return Quote(
        id=m["id"],
        corridor=corridor,
        send_amount=Money(m["send_amount"], ccy),
        fee=Money(m["fee"], ccy),
        receive_amount=Money(m["receive_amount"], m["receive_currency"]),
        created_at=m["created_at"],
        expires_at=m["expires_at"],
    )


# Built once (a constant statement: no per-call cache key): the quote row with the (live)
# recipient and the sender profile outer-joined.
_QUOTE_KEYS = tuple(c.key for c in t.quotes.c)
_RECIPIENT_KEYS = tuple(c.key for c in t.recipients.c)
_FOR_SEND = (
    sa.select(
        *(c.label(f"q_{c.key}") for c in t.quotes.c),
        *(c.label(f"r_{c.key}") for c in t.recipients.c),
        *(c.label(f"s_{c.key}") for c in t.sender_profiles.c),
    )
    .select_from(
        t.quotes.outerjoin(
            t.recipients,
            sa.and_(
                t.recipients.c.id == sa.bindparam("recipient_id"),
                t.recipients.c.removed_at.is_(None),
            ),
        ).outerjoin(t.sender_profiles, t.sender_profiles.c.member_id == sa.bindparam("member_id"))
    )
    .where(t.quotes.c.id == sa.bindparam("quote_id"))
)


def _recipient(m: Any) -> Recipient:
    return Recipient(
        id=m["id"],
        member_id=m["member_id"],
        name=m["name"],
        relationship=Relationship(m["relationship"]),
        payout_method=PayoutMethod(m["payout_method"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        mobile_number=m["mobile_number"],
        bank=LesothoBank(m["bank"]) if m["bank"] else None,
        account_number=m["account_number"],
        pickup_district=m["pickup_district"],
    )


def _recipient_values(r: Recipient) -> dict[str, Any]:
    return {
        "name": r.name,
        "relationship": r.relationship.value,
        "payout_method": r.payout_method.value,
        "mobile_number": r.mobile_number,
        "bank": r.bank.value if r.bank else None,
        "account_number": r.account_number,
        "pickup_district": r.pickup_district,
        "updated_at": r.updated_at,
    }


class RecipientRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, r: Recipient) -> None:
        await self.conn.execute(
            t.recipients.insert().values(
                id=r.id, member_id=r.member_id, created_at=r.created_at, **_recipient_values(r)
            )
        )

    async def update(self, r: Recipient) -> None:
        await self.conn.execute(
            t.recipients.update().where(t.recipients.c.id == r.id).values(**_recipient_values(r))
        )

    async def remove(self, recipient_id: uuid.UUID, at: datetime) -> None:
        await self.conn.execute(
            t.recipients.update().where(t.recipients.c.id == recipient_id).values(removed_at=at)
        )

    async def get(
        self, recipient_id: uuid.UUID, *, include_removed: bool = False
    ) -> Recipient | None:
        query = sa.select(t.recipients).where(t.recipients.c.id == recipient_id)
        if not include_removed:
            query = query.where(t.recipients.c.removed_at.is_(None))
        row = (await self.conn.execute(query)).first()
        return _recipient(row._mapping) if row else None

    async def get_many(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Recipient]:
        rows = await self.conn.execute(sa.select(t.recipients).where(t.recipients.c.id.in_(ids)))
        return {row.id: _recipient(row._mapping) for row in rows}

    async def for_member(self, member_id: uuid.UUID) -> list[Recipient]:
        rows = await self.conn.execute(
            sa.select(t.recipients)
            .where(t.recipients.c.member_id == member_id, t.recipients.c.removed_at.is_(None))
            .order_by(t.recipients.c.created_at, t.recipients.c.id)
        )
        return [_recipient(row._mapping) for row in rows]

    async def all_for_member(self, member_id: uuid.UUID) -> list[tuple[Recipient, datetime | None]]:
        """Every recipient the member saved, removed ones included, with when each was removed."""
        rows = await self.conn.execute(
            sa.select(t.recipients)
            .where(t.recipients.c.member_id == member_id)
            .order_by(t.recipients.c.created_at, t.recipients.c.id)
        )
        return [(_recipient(row._mapping), row.removed_at) for row in rows]


def _transfer(m: Any) -> Transfer:
    return Transfer(
        id=m["id"],
        sender_id=m["member_id"],
        recipient_id=m["recipient_id"],
        send_amount=Money(m["send_amount"], m["send_currency"]),
        fee=Money(m["fee"], m["send_currency"]),
        receive_amount=Money(m["receive_amount"], m["receive_currency"]),
        payout_method=PayoutMethod(m["payout_method"]),
        payout_partner=m["payout_partner"],
        payin_provider=m["payin_provider"],
        purpose=m["purpose"],
        reference=m["reference"],
        created_at=m["created_at"],
        state=TransferState(m["state"]),
        funds_received=m["funds_received"],
    )


class TransferRecord:
    """A stored transfer plus the columns the domain object does not carry."""

    __slots__ = (
        "dispatch_attempts",
        "funded_at",
        "paid_out_at",
        "quote_id",
        "rate",
        "sender",
        "transfer",
        "updated_at",
    )

    def __init__(self, m: Any) -> None:
        self.transfer = _transfer(m)
        self.quote_id: uuid.UUID = m["quote_id"]
        self.rate: Decimal = Decimal(m["rate"]).normalize()
        self.sender = SenderDetails(
            m["sender_occupation"], m["sender_address"], m["sender_country"]
        )
        self.updated_at: datetime = m["updated_at"]
        self.funded_at: datetime | None = m["funded_at"]
        self.paid_out_at: datetime | None = m["paid_out_at"]
        self.dispatch_attempts: int = m["dispatch_attempts"]


class TransferRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(
        self,
        transfer: Transfer,
        *,
        quote_id: uuid.UUID,
        rate: Decimal,
        sender: SenderDetails,
        dispatch_after: datetime | None,
    ) -> None:
        await self.conn.execute(
            t.transfers.insert(),
            dict(
                id=transfer.id,
                reference=transfer.reference,
                member_id=transfer.sender_id,
                recipient_id=transfer.recipient_id,
                quote_id=quote_id,
                state=transfer.state.value,
                send_amount=transfer.send_amount.amount,
                send_currency=transfer.send_amount.currency,
                fee=transfer.fee.amount,
                receive_amount=transfer.receive_amount.amount,
                receive_currency=transfer.receive_amount.currency,
                rate=rate,
                payout_method=transfer.payout_method.value,
                payout_partner=transfer.payout_partner,
                payin_provider=transfer.payin_provider,
                purpose=transfer.purpose,
                sender_occupation=sender.occupation,
                sender_address=sender.address,
                sender_country=sender.country,
                funds_received=transfer.funds_received,
                created_at=transfer.created_at,
                updated_at=transfer.created_at,
                dispatch_after=dispatch_after,
            ),
        )

    async def get(
        self, transfer_id: uuid.UUID, *, for_update: bool = False
    ) -> TransferRecord | None:
        query = sa.select(t.transfers).where(t.transfers.c.id == transfer_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return TransferRecord(row._mapping) if row else None

    async def get_many(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, TransferRecord]:
        rows = await self.conn.execute(sa.select(t.transfers).where(t.transfers.c.id.in_(ids)))
        return {row.id: TransferRecord(row._mapping) for row in rows}

    async def for_member(
        self, member_id: uuid.UUID, *, limit: int, before: tuple[datetime, uuid.UUID] | None
    ) -> list[TransferRecord]:
        query = sa.select(t.transfers).where(t.transfers.c.member_id == member_id)
        if before is not None:
            query = query.where(
                sa.tuple_(t.transfers.c.created_at, t.transfers.c.id) < sa.tuple_(*before)
            )
        query = query.order_by(t.transfers.c.created_at.desc(), t.transfers.c.id.desc()).limit(
            limit
        )
        return [TransferRecord(row._mapping) for row in await self.conn.execute(query)]

    async def save_state(
        self,
        transfer: Transfer,
        transitions: Sequence[Transition],
        *,
        dispatch_after: datetime | None,
        reset_attempts: bool = True,
    ) -> None:
        """Write the new state and the transitions that led to it (one history row each)."""
        if not transitions:
            return
        last = transitions[-1].at
        values: dict[str, Any] = {
            "state": transfer.state.value,
            "funds_received": transfer.funds_received,
            "updated_at": last,
            "dispatch_after": dispatch_after,
        }
        if reset_attempts:
            values["dispatch_attempts"] = 0
        targets = {tr.target for tr in transitions}
        if TransferState.FUNDED in targets:
            values["funded_at"] = last
        if TransferState.PAID_OUT in targets:
            values["paid_out_at"] = last
        await self.conn.execute(
            t.transfers.update().where(t.transfers.c.id == transfer.id).values(**values)
        )
        await self.conn.execute(
            t.transfer_transitions.insert(),
            [
                {
                    "transfer_id": transfer.id,
                    "source": tr.source.value,
                    "target": tr.target.value,
                    "cause": tr.cause,
                    "at": tr.at,
                }
                for tr in transitions
            ],
        )

    async def history(self, transfer_id: uuid.UUID) -> list[Transition]:
        rows = await self.conn.execute(
            sa.select(t.transfer_transitions)
            .where(t.transfer_transitions.c.transfer_id == transfer_id)
            .order_by(t.transfer_transitions.c.id)
        )
        return [
            Transition(TransferState(r.source), TransferState(r.target), r.cause, r.at)
            for r in rows
        ]

    async def all_for_member(self, member_id: uuid.UUID) -> list[TransferRecord]:
        """Every transfer the member sent, oldest first."""
        rows = await self.conn.execute(
            sa.select(t.transfers)
            .where(t.transfers.c.member_id == member_id)
            .order_by(t.transfers.c.created_at, t.transfers.c.id)
        )
        return [TransferRecord(row._mapping) for row in rows]

    async def histories_of_member(self, member_id: uuid.UUID) -> dict[uuid.UUID, list[Transition]]:
        """The transitions of all the member's transfers in one statement, oldest first each."""
        tt = t.transfer_transitions
        rows = await self.conn.execute(
            sa.select(tt)
            .join(t.transfers, t.transfers.c.id == tt.c.transfer_id)
            .where(t.transfers.c.member_id == member_id)
            .order_by(tt.c.id)
        )
        found: dict[uuid.UUID, list[Transition]] = defaultdict(list)
        for r in rows:
            found[r.transfer_id].append(
                Transition(TransferState(r.source), TransferState(r.target), r.cause, r.at)
            )
        return dict(found)

    async def usage(self, member_id: uuid.UUID, day: datetime, month: datetime) -> Usage:
        """Payout value of the member's live transfers since `day` and since `month`."""
        tr = t.transfers
        live = tr.c.state.not_in(_RELEASED_STATES)
        row = (
            await self.conn.execute(
                sa.select(
                    sa.func.coalesce(
                        sa.func.sum(tr.c.receive_amount).filter(tr.c.created_at >= day), 0
                    ),
                    sa.func.coalesce(sa.func.sum(tr.c.receive_amount), 0),
                ).where(tr.c.member_id == member_id, tr.c.created_at >= month, live)
            )
        ).one()
        return Usage(today=int(row[0]), this_month=int(row[1]))

    async def claim_for_dispatch(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[TransferRecord]:
        """Transfers waiting for a partner call, leased until `lease_until` so other replicas
        (and this one's next batch) skip them while the call is in flight. No lock is kept."""
        due = (
            sa.select(t.transfers.c.id)
            .where(t.transfers.c.dispatch_after <= now)
            .order_by(t.transfers.c.dispatch_after)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        rows = await self.conn.execute(
            t.transfers.update()
            .where(t.transfers.c.id.in_(due))
            .values(dispatch_after=lease_until)
            .returning(*t.transfers.c)
        )
        return [TransferRecord(row._mapping) for row in rows]

    async def lock_many(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, TransferRecord]:
        """Lock transfers in id order (a fixed order cannot deadlock with another batch)."""
        rows = await self.conn.execute(
            sa.select(t.transfers)
            .where(t.transfers.c.id.in_(ids))
            .order_by(t.transfers.c.id)
            .with_for_update()
        )
        return {row.id: TransferRecord(row._mapping) for row in rows}

    async def clear_dispatch(self, transfer_id: uuid.UUID) -> None:
        await self.conn.execute(
            t.transfers.update().where(t.transfers.c.id == transfer_id).values(dispatch_after=None)
        )

    async def postpone(self, transfer_id: uuid.UUID, until: datetime) -> None:
        await self.conn.execute(
            t.transfers.update()
            .where(t.transfers.c.id == transfer_id)
            .values(dispatch_after=until, dispatch_attempts=t.transfers.c.dispatch_attempts + 1)
        )


class IdempotencyRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def claim(
        self,
        member_id: uuid.UUID,
        key: str,
        request_hash: str,
        transfer_id: uuid.UUID,
        at: datetime,
    ) -> bool:
        """Claim the key for a new transfer. Waits for a concurrent claimant to finish; False when
        the key was already taken (the caller then reads the stored row)."""
        result = await self.conn.execute(
            pg_insert(t.idempotency_keys)
            .values(
                member_id=member_id,
                key=key,
                request_hash=request_hash,
                transfer_id=transfer_id,
                created_at=at,
            )
            .on_conflict_do_nothing()
            .returning(t.idempotency_keys.c.transfer_id)
        )
        return result.first() is not None

    async def get(self, member_id: uuid.UUID, key: str) -> tuple[str, uuid.UUID] | None:
        row = (
            await self.conn.execute(
                sa.select(
                    t.idempotency_keys.c.request_hash, t.idempotency_keys.c.transfer_id
                ).where(
                    t.idempotency_keys.c.member_id == member_id, t.idempotency_keys.c.key == key
                )
            )
        ).first()
        return (row[0], row[1]) if row else None

    async def for_member(self, member_id: uuid.UUID) -> list[IdempotencyKeyRecord]:
        """The keys the member sent remittances with, oldest first."""
        k = t.idempotency_keys
        rows = await self.conn.execute(
            sa.select(k.c.key, k.c.transfer_id, k.c.created_at)
            .where(k.c.member_id == member_id)
            .order_by(k.c.created_at, k.c.key)
        )
        return [IdempotencyKeyRecord(r.key, r.transfer_id, r.created_at) for r in rows]


@dataclass(frozen=True, slots=True)
class IdempotencyKeyRecord:
    key: str
    transfer_id: uuid.UUID
    created_at: datetime


# One ledger transaction, its entries and the running balances in one statement
# (data-modifying CTEs all run, in the statement's transaction). Balance rows are upserted
# in the order given, which the caller sorts.
_POST_ONE = sa.text(
    """
    WITH tx AS (
        INSERT INTO ledger_transactions (transfer_id, description, posted_at)
        VALUES (:transfer_id, :description, :posted_at)
        RETURNING id
    ), entries AS (
        INSERT INTO ledger_entries (transaction_id, account, currency, amount, posted_at)
        SELECT tx.id, e.account, e.currency, e.amount, CAST(:posted_at AS timestamptz)
        FROM tx, unnest(CAST(:e_accounts AS text[]), CAST(:e_currencies AS text[]),
                        CAST(:e_amounts AS bigint[])) AS e(account, currency, amount)
    )
    INSERT INTO account_balances (account, shard, currency, balance)
    SELECT b.account, CAST(:shard AS smallint), b.currency, b.balance
    FROM unnest(CAST(:b_accounts AS text[]), CAST(:b_currencies AS text[]),
                CAST(:b_amounts AS bigint[])) WITH ORDINALITY AS b(account, currency, balance, n)
    ORDER BY b.n
    ON CONFLICT (account, shard) DO UPDATE SET balance = account_balances.balance + EXCLUDED.balance
    """
).bindparams(
    sa.bindparam("transfer_id", type_=t.ledger_transactions.c.transfer_id.type),
    sa.bindparam("posted_at", type_=t.ledger_transactions.c.posted_at.type),
    sa.bindparam("shard", type_=sa.SmallInteger),
)


class LedgerRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def post(
        self,
        transactions: Sequence[LedgerTransaction],
        *,
        transfer_id: uuid.UUID | None,
        at: datetime,
    ) -> None:
        """Append balanced transactions and move the running balances in the same transaction."""
        if len(transactions) == 1:
            await self._post_one(transactions[0], transfer_id=transfer_id, at=at)
        else:
            await self.post_many([(transfer_id, transactions)], at=at)

    async def _post_one(
        self, tx: LedgerTransaction, *, transfer_id: uuid.UUID | None, at: datetime
    ) -> None:
        """The common case (one transaction, e.g. a webhook's move) in one round trip."""
        shard = (transfer_id.int if transfer_id else 0) % t.BALANCE_SHARDS
        moves: dict[tuple[str, str], int] = defaultdict(int)
        for entry in tx.entries:
            moves[(entry.account.key, entry.account.currency)] += entry.amount
        # Sorted like post_many: balance rows are always locked in the same order.
        balances = sorted((k, v) for k, v in moves.items() if v != 0)
        await self.conn.execute(
            _POST_ONE,
            {
                "transfer_id": transfer_id,
                "description": tx.description,
                "posted_at": at,
                "e_accounts": [e.account.key for e in tx.entries],
                "e_currencies": [e.account.currency for e in tx.entries],
                "e_amounts": [e.amount for e in tx.entries],
                "shard": shard,
                "b_accounts": [k[0] for k, _ in balances],
                "b_currencies": [k[1] for k, _ in balances],
                "b_amounts": [v for _, v in balances],
            },
        )

    async def post_many(
        self,
        batches: Sequence[tuple[uuid.UUID | None, Sequence[LedgerTransaction]]],
        *,
        at: datetime,
    ) -> None:
        """Post several transfers' transactions with one statement per table."""
        flat = [(tid, tx) for tid, txs in batches for tx in txs]
        if not flat:
            return
        ids = (
            (
                await self.conn.execute(
                    t.ledger_transactions.insert().returning(
                        t.ledger_transactions.c.id, sort_by_parameter_order=True
                    ),
                    [
                        {"transfer_id": tid, "description": tx.description, "posted_at": at}
                        for tid, tx in flat
                    ],
                )
            )
            .scalars()
            .all()
        )
        entries: list[dict[str, Any]] = []
        moves: dict[tuple[str, int, str], int] = defaultdict(int)
        for tx_id, (tid, tx) in zip(ids, flat, strict=True):
            shard = (tid.int if tid else 0) % t.BALANCE_SHARDS
            for entry in tx.entries:
                key = entry.account.key
                entries.append(
                    {
                        "transaction_id": tx_id,
                        "account": key,
                        "currency": entry.account.currency,
                        "amount": entry.amount,
                        "posted_at": at,
                    }
                )
                moves[(key, shard, entry.account.currency)] += entry.amount
        await self.conn.execute(t.ledger_entries.insert(), entries)
        # One statement, rows sorted: every transaction locks balance rows in the same order,
        # so concurrent postings cannot deadlock.
        rows = [
            {"account": key, "shard": shard, "currency": ccy, "balance": amount}
            for (key, shard, ccy), amount in sorted(moves.items())
            if amount != 0
        ]
        if rows:
            stmt = pg_insert(t.account_balances).values(rows)
            await self.conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[t.account_balances.c.account, t.account_balances.c.shard],
                    set_={"balance": t.account_balances.c.balance + stmt.excluded.balance},
                )
            )

    async def balances(self) -> dict[str, int]:
        rows = await self.conn.execute(
            sa.select(
                t.account_balances.c.account, sa.func.sum(t.account_balances.c.balance)
            ).group_by(t.account_balances.c.account)
        )
        return {r[0]: int(r[1]) for r in rows if int(r[1]) != 0}

    async def derived_balances(self) -> dict[str, int]:
        rows = await self.conn.execute(
            sa.select(t.ledger_entries.c.account, sa.func.sum(t.ledger_entries.c.amount)).group_by(
                t.ledger_entries.c.account
            )
        )
        return {r[0]: int(r[1]) for r in rows if int(r[1]) != 0}

    async def unbalanced_transactions(self) -> list[int]:
        rows = await self.conn.execute(
            sa.select(t.ledger_entries.c.transaction_id)
            .group_by(t.ledger_entries.c.transaction_id, t.ledger_entries.c.currency)
            .having(sa.func.sum(t.ledger_entries.c.amount) != 0)
        )
        return sorted({int(r[0]) for r in rows})

    async def counts(self) -> tuple[int, int]:
        tx = (
            await self.conn.execute(sa.select(sa.func.count()).select_from(t.ledger_transactions))
        ).scalar_one()
        en = (
            await self.conn.execute(sa.select(sa.func.count()).select_from(t.ledger_entries))
        ).scalar_one()
        return int(tx), int(en)

    async def movement(self, account: str, start: datetime, end: datetime) -> tuple[int, int]:
        """Sum and transfer count of an account's entries posted in [start, end)."""
        e = t.ledger_entries
        row = (
            await self.conn.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(e.c.amount), 0),
                    sa.func.count(sa.distinct(t.ledger_transactions.c.transfer_id)),
                )
                .select_from(e.join(t.ledger_transactions))
                .where(e.c.account == account, e.c.posted_at >= start, e.c.posted_at < end)
            )
        ).one()
        return int(row[0]), int(row[1])


class MemberRepository:
    """The tier projection (and per-member lock) and the sender profile."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def lock_tier(self, member_id: uuid.UUID) -> VerificationTier:
        """The member's tier, holding their limits row until commit: sends queue per member."""
        row = (
            await self.conn.execute(
                sa.select(t.member_limits.c.tier)
                .where(t.member_limits.c.member_id == member_id)
                .with_for_update()
            )
        ).first()
        return VerificationTier(row[0]) if row else VerificationTier.UNVERIFIED

    async def tier(self, member_id: uuid.UUID) -> VerificationTier:
        row = (
            await self.conn.execute(
                sa.select(t.member_limits.c.tier).where(t.member_limits.c.member_id == member_id)
            )
        ).first()
        return VerificationTier(row[0]) if row else VerificationTier.UNVERIFIED

    async def tier_set_at(self, member_id: uuid.UUID) -> tuple[VerificationTier, datetime] | None:
        """The stored tier and when it was set; None while the member has the default."""
        row = (
            await self.conn.execute(
                sa.select(t.member_limits.c.tier, t.member_limits.c.updated_at).where(
                    t.member_limits.c.member_id == member_id
                )
            )
        ).first()
        return (VerificationTier(row.tier), row.updated_at) if row else None

    async def set_tier(
        self, member_id: uuid.UUID, tier: VerificationTier, at: datetime, by: str
    ) -> None:
        stmt = pg_insert(t.member_limits).values(
            member_id=member_id, tier=tier.value, updated_at=at, updated_by=by
        )
        await self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.member_limits.c.member_id],
                set_={"tier": stmt.excluded.tier, "updated_at": at, "updated_by": by},
            )
        )

    async def sender_details(self, member_id: uuid.UUID) -> SenderDetails | None:
        found = await self.sender_details_updated_at(member_id)
        return found[0] if found else None

    async def sender_details_updated_at(
        self, member_id: uuid.UUID
    ) -> tuple[SenderDetails, datetime] | None:
        row = (
            await self.conn.execute(
                sa.select(t.sender_profiles).where(t.sender_profiles.c.member_id == member_id)
            )
        ).first()
        if row is None:
            return None
        return SenderDetails(row.occupation, row.address, row.country), row.updated_at

    async def save_sender_details(
        self, member_id: uuid.UUID, details: SenderDetails, at: datetime
    ) -> None:
        values = {
            "occupation": details.occupation,
            "address": details.address,
            "country": details.country,
            "updated_at": at,
        }
        stmt = pg_insert(t.sender_profiles).values(member_id=member_id, **values)
        await self.conn.execute(
            stmt.on_conflict_do_update(index_elements=[t.sender_profiles.c.member_id], set_=values)
        )


class WebhookRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def record(
        self,
        *,
        partner: str,
        delivery_id: str,
        transfer_id: uuid.UUID | None,
        outcome: str,
        amount: Money,
        signed_at: datetime,
        received_at: datetime,
        resulting_state: str | None = None,
    ) -> bool:
        """Remember a delivery; False when this delivery id was seen before (duplicate/replay)."""
        result = await self.conn.execute(
            pg_insert(t.webhook_deliveries)
            .values(
                partner=partner,
                delivery_id=delivery_id,
                transfer_id=transfer_id,
                outcome=outcome,
                amount=amount.amount,
                currency=amount.currency,
                signed_at=signed_at,
                received_at=received_at,
                resulting_state=resulting_state,
            )
            .on_conflict_do_nothing()
            .returning(t.webhook_deliveries.c.delivery_id)
        )
        return result.first() is not None

    async def reported(self, partner: str, start: datetime, end: datetime) -> tuple[int, int]:
        """Net payout value the partner reported in [start, end): credited minus returned.

        Each transfer counts once per outcome, however often the partner repeated it.
        """
        w = t.webhook_deliveries
        distinct = (
            sa.select(w.c.transfer_id, w.c.outcome, sa.func.max(w.c.amount).label("amount"))
            .where(
                w.c.partner == partner,
                w.c.received_at >= start,
                w.c.received_at < end,
                w.c.outcome.in_(("PAYOUT_CREDITED", "PAYOUT_RETURNED")),
            )
            .group_by(w.c.transfer_id, w.c.outcome)
            .subquery()
        )
        signed = sa.case(
            (distinct.c.outcome == "PAYOUT_CREDITED", distinct.c.amount), else_=-distinct.c.amount
        )
        row = (
            await self.conn.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(signed), 0),
                    sa.func.count(sa.distinct(distinct.c.transfer_id)),
                )
            )
        ).one()
        return int(row[0]), int(row[1])
