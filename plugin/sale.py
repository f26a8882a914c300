"""A sale as typed values, and its state machine as one table that every state change consults.

    draft ──presettle──▶ presettled ──settle_sent──▶ settling ──answered──▶ settled ──refund_sent──▶ refunding
      │                                               │  ▲                   ▲  │                          │
      └─────────────────────settle_sent───────────────┘  │            adopted│  └──────answered──▶ refunded ◀┘
                                                        lost ─▶ in_doubt ──reversed──▶ reversed ──settle_sent──▶ …

The table ``TRANSITIONS`` is the whole truth (the drawing above is a summary; ``mermaid()`` draws the table, and
docs/architecture.md shows that drawing). A move that the table does not allow is refused with ``InvalidState`` —
or ``SettlementInDoubt`` while money may be moving — and the ledger applies every move as a conditional UPDATE
inside one transaction, so two requests racing for the same sale cannot both move it.

Money is ``Decimal``, flags are ``bool``; the ledger's TEXT and INTEGER columns are turned into these once, in
``plugin/store/sales.py``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from plugin.errors import InvalidState, RxlaneError, SettlementInDoubt
from plugin.policy.model import Split


class SaleState(StrEnum):
    DRAFT = "draft"
    PRESETTLED = "presettled"
    SETTLING = "settling"              # 2102 journaled and (maybe) sent; no answer recorded yet
    SETTLED = "settled"
    IN_DOUBT = "in_doubt"              # 2102 sent, answer lost: resolved by 2601, never by a second 2102
    REVERSED = "reversed"              # the in-doubt 2102 was reversed: nothing was charged; may settle again
    REFUNDING = "refunding"            # 2103 journaled and (maybe) sent
    REFUNDED = "refunded"
    REFUND_IN_DOUBT = "refund_in_doubt"  # 2103 sent, answer lost: 2601 of the 2103 puts it back to settled
    CANCELLED = "cancelled"            # abandoned before any settlement; its packs are free again


class SaleEvent(StrEnum):
    PRESETTLE = "presettle"            # 2101 answered
    EDIT = "edit"                      # packs added or removed
    SETTLE_SENT = "settle_sent"        # 2102 journaled, about to leave
    SETTLE_FAILED = "settle_failed"    # 2102 refused, or never left: back where the sale was
    ANSWERED = "answered"              # the 2102/2103 answer recorded
    LOST = "lost"                      # the answer of a journaled 2102/2103 will never come (timeout, crash)
    REVERSED = "reversed"              # 2601 of the unanswered message answered
    ADOPTED = "adopted"                # reconciliation found the insurer holding the in-doubt settlement
    REFUND_SENT = "refund_sent"        # 2103 journaled
    REFUND_FAILED = "refund_failed"    # 2103 refused or never left
    CANCEL = "cancel"
    SETTLE_LOCAL = "settle_local"      # every line sold outside insurance: nothing to send, settled here
    REFUND_LOCAL = "refund_local"      # refund of such a sale: nothing to cancel at the insurer


S, E = SaleState, SaleEvent


class _Previous:
    """Marker target: the state the sale held before the attempt that failed (kept by the caller)."""

    def __repr__(self) -> str:
        return "PREVIOUS"


PREVIOUS = _Previous()

#: (state, event) → next state. Every state change of a sale, recovery and reconciliation included, is one of these.
TRANSITIONS: dict[tuple[SaleState, SaleEvent], SaleState | _Previous] = {
    **{(s, E.PRESETTLE): S.PRESETTLED for s in (S.DRAFT, S.PRESETTLED, S.REVERSED)},
    **{(s, E.EDIT): s for s in (S.DRAFT, S.PRESETTLED, S.REVERSED)},
    **{(s, E.SETTLE_SENT): S.SETTLING for s in (S.DRAFT, S.PRESETTLED, S.REVERSED)},
    **{(s, E.CANCEL): S.CANCELLED for s in (S.DRAFT, S.PRESETTLED, S.REVERSED)},
    **{(s, E.SETTLE_LOCAL): S.SETTLED for s in (S.DRAFT, S.PRESETTLED, S.REVERSED)},
    (S.SETTLED, E.REFUND_LOCAL): S.REFUNDED,
    (S.SETTLING, E.SETTLE_FAILED): PREVIOUS,
    (S.SETTLING, E.ANSWERED): S.SETTLED,
    (S.SETTLING, E.LOST): S.IN_DOUBT,
    (S.IN_DOUBT, E.REVERSED): S.REVERSED,
    (S.IN_DOUBT, E.ADOPTED): S.SETTLED,
    (S.SETTLED, E.REFUND_SENT): S.REFUNDING,
    (S.REFUNDING, E.REFUND_FAILED): S.SETTLED,
    (S.REFUNDING, E.ANSWERED): S.REFUNDED,
    (S.REFUNDING, E.LOST): S.REFUND_IN_DOUBT,
    (S.REFUND_IN_DOUBT, E.REVERSED): S.SETTLED,
    (S.REFUND_IN_DOUBT, E.ANSWERED): S.REFUNDED,
}

#: States whose money may be moving: an action refused there is "in doubt", not merely the wrong state.
UNSETTLED_MONEY = frozenset({S.SETTLING, S.IN_DOUBT, S.REFUNDING, S.REFUND_IN_DOUBT})
#: States an in-doubt resolution works on.
IN_DOUBT_STATES = (S.IN_DOUBT, S.REFUND_IN_DOUBT)
#: States whose packs are released (no longer held by the sale).
RELEASING_STATES = (S.REFUNDED, S.CANCELLED)


def allowed_from(event: SaleEvent) -> tuple[SaleState, ...]:
    return tuple(s for (s, e) in TRANSITIONS if e is event)


def refusal(state: str, event: SaleEvent) -> RxlaneError:
    """The refusal for an event the table does not allow in ``state``."""
    if state in UNSETTLED_MONEY:
        return SettlementInDoubt(state=state)
    return InvalidState(state, _ACTIONS.get(event, event.value))


_ACTIONS = {E.PRESETTLE: "presettled", E.EDIT: "changed", E.SETTLE_SENT: "settled", E.REFUND_SENT: "refunded",
            E.CANCEL: "cancelled", E.SETTLE_LOCAL: "settled", E.REFUND_LOCAL: "refunded"}


def transition(state: str, event: SaleEvent, *, previous: str | None = None) -> SaleState:
    """The state after ``event`` in ``state``; raises the refusal when the table has no such move.
    ``previous`` is needed for the ``PREVIOUS`` moves (a failed attempt returns where the sale was)."""
    try:
        target = TRANSITIONS[(SaleState(state), event)]
    except (KeyError, ValueError):
        raise refusal(state, event) from None
    if isinstance(target, _Previous):
        if previous is None:
            raise ValueError(f"{event} from {state} needs the previous state")
        return SaleState(previous)
    return target


def mermaid() -> str:
    """The state table as a Mermaid state diagram (docs/architecture.md embeds this text; a test keeps it equal)."""
    rows = ["stateDiagram-v2", "    [*] --> draft"]
    for (state, event), target in TRANSITIONS.items():
        if target is state:
            continue   # edits keep the state: not drawn
        to = "previous" if isinstance(target, _Previous) else target.value
        rows.append(f"    {state.value} --> {to}: {event.value}")
    rows.append("    note right of previous: the state before the failed attempt")
    return "\n".join(rows)


@dataclass(frozen=True)
class OrderLine:
    """One line the POS asks for: the national list code, how much, at what unit price, the packs scanned so far."""
    med_list_codg: str
    qty: Decimal
    price: Decimal
    trace_codes: tuple[str, ...] = ()
    donated: bool = False
    lot: str = ""                # the batch the POS knows (生产批号, production and expiry dates, ISO); optional
    manu_date: str = ""
    expy_end: str = ""


@dataclass(frozen=True)
class Order:
    """A new sale as the POS asks for it (``POST /v1/sales``), as domain values."""
    patient_ref: str
    lines: tuple[OrderLine, ...]
    hi_rxno: str | None = None
    acct_used: bool = True
    confirm_selfpay: bool = False


@dataclass(frozen=True)
class SaleLine:
    line_no: int
    med_list_codg: str
    generic_name: str
    drug_name: str
    spec: str
    category: str
    qty: Decimal
    price: Decimal
    payment_standard: Decimal
    line_total: Decimal
    donated: bool
    trdn: bool                   # 拆零: the line sells part of one pack (trdn_flag)
    eligible: bool
    reasons: tuple[str, ...]
    unknown: tuple[str, ...] = ()      # rules the counter had no facts for: left to the insurer at settlement
    lot: str = ""                      # the batch as the POS gave it (the uploads' manu_lotnum, manu_date, expy_end)
    manu_date: str = ""
    expy_end: str = ""

    @property
    def insured(self) -> bool:
        """Sent to the insurer in 2101/2102: eligible and not donated. An ineligible line the pharmacist confirmed
        is sold wholly self-paid outside the insured purchase; a donated pack is never paid by the fund."""
        return self.eligible and not self.donated

    @property
    def packs_needed(self) -> int:
        """Pack codes the line needs: one per whole pack; a 拆零 line one code for its part of a pack."""
        return 1 if self.trdn else int(self.qty)


@dataclass(frozen=True)
class TraceCode:
    """One scanned pack on a sale line. ``qty`` is the part of the pack sold (1, or less for 拆零)."""
    sale_id: str
    line_no: int
    code: str
    raw: str
    kind: str
    expiry: date | None
    trdn: bool
    qty: Decimal
    released: bool
    created_at: str


@dataclass(frozen=True)
class Sale:
    """A sale as the ledger holds it. ``split`` is the insurer's answer (2102), ``estimate`` rxlane's own copy of
    the rules; ``presettle`` holds the 2101 answer and its estimate; ``rx`` the downloaded prescription. ``split`` is
    what the patient pays for the whole sale: the insurer's settlement of the insured lines plus the lines sold
    outside insurance; ``insurer`` is the insurer's settlement alone (what reconciliation compares)."""
    id: str
    state: SaleState
    created_at: str
    updated_at: str
    biz_date: str
    patient_ref: str
    psn_no: str
    insutype: str
    hi_rxno: str | None
    rx: dict[str, Any] | None
    acct_used: bool
    confirm_selfpay: bool
    medfee_sumamt: Decimal
    setl_id: str | None
    mdtrt_id: str | None
    settle_msgid: str | None
    setl_time: str | None
    presettle: dict[str, Any] | None
    split: Split | None
    estimate: Split | None
    mismatch: list[dict[str, Any]]
    refund: dict[str, Any] | None
    last_error: dict[str, Any] | None
    lines: tuple[SaleLine, ...] = field(default=())
    insurer: dict[str, Any] | None = None   # the insurer's own setlinfo amounts (the insured lines only)

    @property
    def editable(self) -> bool:
        return (self.state, SaleEvent.EDIT) in TRANSITIONS
