"""The runway arithmetic on known numbers: the one part tested as a Python function, because it is pure."""

import datetime as dt
from decimal import Decimal as D

from vsmesh.hubs.fin.runway import Commitment, period_months, project_runway, variable_monthly

NOV = dt.date(2026, 11, 15)


def test_steady_burn_divides_the_balance():
    # 12 000 at 1 000 variable + 1 000 salary a month lasts exactly six months.
    r = project_runway(D("12000"), D("1000"), [Commitment(D("1000"))], NOV)
    assert (r.months, r.monthly_burn, r.committed_monthly) == (D("6.00"), D("2000"), D("1000"))


def test_a_commitment_that_ends_lengthens_the_runway():
    # Two months at 2 000 (8 000 left), then 1 000 a month: 2 + 8 = 10 months.
    contract = Commitment(D("1000"), starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2026, 12, 31))
    assert project_runway(D("12000"), D("1000"), [contract], NOV).months == D("10.00")


def test_cadences_and_one_off_payments():
    # Quarterly 300 is 100 a month, yearly 1 200 is 100; a once-off 500 falls in January only.
    promised = [
        Commitment(D("300"), "quarterly"),
        Commitment(D("1200"), "yearly"),
        Commitment(D("500"), "once", starts_on=dt.date(2027, 1, 10)),
        Commitment(D("999"), "monthly", starts_on=dt.date(2027, 6, 1)),  # not due yet in November
    ]
    r = project_runway(D("1000"), D("0"), promised, NOV)
    # Nov 200, Dec 200 (600 left), Jan 700 > 600: 2 + 600/700 = 2.857… → 2.85 (rounded down).
    assert (r.months, r.committed_monthly) == (D("2.85"), D("200"))


def test_no_burn_outlasts_the_horizon_and_no_money_lasts_nothing():
    assert project_runway(D("100"), D("0"), [], NOV).months is None
    assert project_runway(D("0"), D("50"), [], NOV).months == D("0")
    assert project_runway(D("-10"), D("50"), [], NOV).months == D("0")


def test_variable_burn_averages_the_latest_months_with_spend():
    spend = {"2026-07": D("900"), "2026-09": D("300"), "2026-10": D("600"), "2026-11": D("0.30"), "2026-12": D("5")}
    # Up to November: Sep, Oct, Nov (July is older than the three latest; December is after as_of).
    assert variable_monthly(spend, NOV) == (D("300") + D("600") + D("0.30")) / 3
    assert variable_monthly({}, NOV) == D("0")


def test_periods_name_their_months():
    assert period_months("2026-11") == ["2026-11"]
    assert period_months("2026-q4") == ["2026-10", "2026-11", "2026-12"]
    assert len(period_months("2026")) == 12
    assert period_months("autumn") == []
