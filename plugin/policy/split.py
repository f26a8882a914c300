"""The settlement split: how one dual-channel pharmacy settlement divides between the funds, the personal account
and cash. Implements docs/policies.md §3, steps 1–12, exactly; the step numbers below are that page's.

The same function gives the plug-in's local estimate, ``rxlane policy quote`` and the sandbox's insurer answer, so
a difference between estimate and insurer can only come from a different policy or different year-to-date figures.
Pure: values in, values out; no clock, no I/O. Inputs are trusted to be validated (``QuoteRequest.from_mapping``,
``plugin.policy.load``); this module does only the arithmetic and the refusals the policy itself decides.

Rounding: ROUND_HALF_UP to the fen at every product or quotient (steps 1, 3, 4, 8, 9). Differences and sums of
fen amounts are exact, so the invariants hold to the fen:
    fund_pay_sumamt + acct_pay + psn_cash_pay == medfee_sumamt
    fund_pay_sumamt == hifp_pay + hifmi_pay + hifob_pay + maf_pay + oth_pay
"""
from __future__ import annotations

from decimal import Decimal

from plugin.errors import REASONS, InvalidInput, RxlaneError, reason
from plugin.money import ZERO, fen, wire
from plugin.policy.model import Policy, QuoteLine, QuoteRequest, Split, SplitLine

__all__ = ["split"]


def split(policy: Policy, request: QuoteRequest) -> Split:
    """Divide one settlement (docs/policies.md §3). Raises ``InvalidInput`` for an insutype, category or hospital level
    the policy does not know, and ``RxlaneError("PRICE_ABOVE_STANDARD")`` under ``price_above_standard = "reject"``.
    """
    ratio = policy.ratio.get(request.insutype)
    if ratio is None:
        raise InvalidInput(f"insutype: the {policy.region} policy has no ratio for insutype {request.insutype!r} "
                           f"(known: {', '.join(policy.ratio)})", field="insutype")
    lines, medfee, fulamt, overlmt, preselfpay, inscp = _price_lines(policy, request.lines)
    applied = _deductible_applied(policy, request, inscp)                                   # step 6
    base = inscp - applied                                                                  # step 7
    hifp, capped = _basic_fund(policy, request, base, ratio)                                # step 8
    hifob, hifmi = _supplementary(policy, request, base, applied, hifp, ratio, capped)      # step 9
    fund = hifp + hifob + hifmi                                                             # step 10
    psn_part = medfee - fund
    acct = ZERO                                                                             # step 11
    if request.acct_used:
        payable = psn_part if policy.account_covers == "all" else psn_part - fulamt - overlmt
        acct = min(payable, request.balc)
        if acct < 0:
            acct = ZERO
    return Split(
        medfee_sumamt=medfee, fulamt_ownpay_amt=fulamt, overlmt_selfpay=overlmt, preselfpay_amt=preselfpay,
        inscp_scp_amt=inscp, act_pay_dedc=applied, hifp_pay=hifp, hifmi_pay=hifmi, hifob_pay=hifob,
        maf_pay=ZERO, oth_pay=ZERO, fund_pay_sumamt=fund, psn_part_amt=psn_part, acct_pay=acct,
        psn_cash_pay=psn_part - acct,                                                       # step 12
        balc=request.balc - acct, lines=lines)


def _price_lines(policy: Policy, quote_lines):
    """Steps 1–5 per line, and the totals over the lines."""
    categories = policy.categories
    reject = policy.price_above_standard == "reject"
    lines: list[SplitLine] = []
    medfee = fulamt = overlmt = preselfpay = inscp = ZERO
    for i, line in enumerate(quote_lines):
        rule = categories.get(line.category)
        if rule is None and (not line.eligible or line.donated):
            # outside insurance whatever its category (a drug not on the list has none): wholly self-paid
            total = fen(line.price * line.qty)
            medfee += total
            fulamt += total
            lines.append(SplitLine(line.med_list_codg, False, _self_pay_reasons(line, True, i),
                                   total, total, ZERO, ZERO, ZERO))
            continue
        if rule is None:
            raise InvalidInput(f"lines[{i}].category: the {policy.region} policy has no category "
                               f"{line.category!r} (known: {', '.join(categories)})", field=f"lines[{i}].category")
        total = fen(line.price * line.qty)                                                  # step 1
        medfee += total
        if not line.eligible or line.donated or not rule.pharmacy:
            # step 3: not eligible, donated (吉医保发〔2023〕29号 §二) or an excluded category (赣医保发〔2022〕2号
            # §二(三)1 class C): wholly self-paid, and never refused for its price — the fund pays none of it.
            fulamt += total
            lines.append(SplitLine(line.med_list_codg, False, _self_pay_reasons(line, rule.pharmacy, i),
                                   total, total, ZERO, ZERO, ZERO))
            continue
        price, standard = line.price, line.payment_standard
        if price > standard:
            if reject:
                # 渝医保发〔2021〕12号 §五(一): "不得以超过国家谈判约定的支付标准销售"
                raise RxlaneError("PRICE_ABOVE_STANDARD", details={
                    "med_list_codg": line.med_list_codg, "price": wire(price),
                    "payment_standard": wire(standard)})
            covered = fen(standard * line.qty)                                              # step 3
            # step 2 as the remainder, so line_total = covered + overlmt holds to the fen even when both
            # products land on a half fen (p=1.02, s=1.01, q=0.25).
            over = total - covered
        else:
            covered, over = total, ZERO
        pre = fen(covered * rule.prepay_ratio)                                              # step 4
        in_scope = covered - pre                                                             # step 5
        overlmt += over
        preselfpay += pre
        inscp += in_scope
        lines.append(SplitLine(line.med_list_codg, True, [], total, ZERO, over, pre, in_scope))
    return lines, medfee, fulamt, overlmt, preselfpay, inscp


def _self_pay_reasons(line: QuoteLine, pharmacy: bool, index: int) -> list[dict]:
    """Why a line is wholly self-paid: the caller's 三定 findings first, then what the policy itself decides."""
    codes: list[str] = []
    if not line.eligible:
        codes.extend(line.reasons or ("NOT_ELIGIBLE",))
    if not pharmacy:
        codes.append("CATEGORY_EXCLUDED")
    if line.donated:
        codes.append("DONATED_SUPPLY")
    for j, code in enumerate(codes):
        if code not in REASONS:
            raise InvalidInput(f"lines[{index}].reasons[{j}]: unknown reason code {code!r}",
                               field=f"lines[{index}].reasons[{j}]")
    return [reason(code) for code in dict.fromkeys(codes)]


def _deductible_applied(policy: Policy, request: QuoteRequest, inscp: Decimal) -> Decimal:
    """Step 6: the part of this year's 起付线 not yet paid, up to the in-scope amount."""
    if inscp <= 0:
        # Nothing in scope (e.g. a wholly self-paid sale of a patient without a filing): no deductible to apply,
        # so a missing hospital level must not block the sale.
        return ZERO
    deductible = policy.deductible
    amount = deductible.amount
    if deductible.by_level is not None:
        # 渝医保发〔2021〕12号 §二(四): the designated hospital's outpatient special-disease deductible, by level
        if request.hosp_lv is None:
            raise InvalidInput(f"hosp_lv: the {policy.region} deductible depends on the filing hospital's level "
                               f"(one of {', '.join(deductible.by_level)}); hosp_lv is required", field="hosp_lv")
        level_amount = deductible.by_level.get(str(request.hosp_lv))
        if level_amount is None:
            raise InvalidInput(f"hosp_lv: the {policy.region} policy has no deductible for hospital level "
                               f"{request.hosp_lv!r} (known: {', '.join(deductible.by_level)})", field="hosp_lv")
        amount = level_amount
    remaining = amount - request.ytd.deductible_paid
    if remaining <= 0:
        return ZERO
    return min(inscp, remaining)


def _basic_fund(policy: Policy, request: QuoteRequest, base: Decimal, ratio: Decimal) -> tuple[Decimal, bool]:
    """Step 8: 统筹 share, capped by what is left of the annual basic-fund limit; also says whether it was capped."""
    full = fen(base * ratio)
    room = policy.annual_cap[request.insutype] - request.ytd.fund_paid
    if room < 0:
        room = ZERO
    if full > room:
        return room, True
    return full, False


def _supplementary(policy: Policy, request: QuoteRequest, base: Decimal, applied: Decimal, hifp: Decimal,
                   ratio: Decimal, capped: bool) -> tuple[Decimal, Decimal]:
    """Step 9: the tier above basic cover → (hifob_pay, hifmi_pay)."""
    tier = policy.supplementary.get(request.insutype)
    if tier is None:
        return ZERO, ZERO
    room = tier.cap - request.ytd.supplementary_paid
    if room <= 0:
        return ZERO, ZERO
    if tier.kind == "after_fund_cap":
        # 大额医保 (渝医保发〔2021〕12号 §二(五)1): only the part of base the capped basic fund left uncovered
        if not capped:
            return ZERO, ZERO
        over = base - (fen(hifp / ratio) if hifp else ZERO)
        if over <= 0:
            return ZERO, ZERO
        # never more than basic cover left of base: the fund pays at most the in-scope amount
        return min(fen(over * tier.ratio), room, base - hifp), ZERO
    # 大病保险 (渝医保发〔2021〕12号 §二(五)2): the in-scope personal share above the year's threshold; the
    # 先行自付 pre-pay is outside policy scope and does not count towards it.
    own = applied + (base - hifp)
    before = request.ytd.selfpay
    over = before + own - max(tier.threshold or ZERO, before)
    if over <= 0:
        return ZERO, ZERO
    return ZERO, min(fen(over * tier.ratio), room, own)
