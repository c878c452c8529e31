"""`vsmesh fin …` against the running mesh: runway on known numbers, cost CSV imports and re-imports."""

import asyncio
import json
import uuid
from decimal import Decimal as D

from tests.currencies import unique_currency
from tests.hubs.fin.test_fin_contract import money, send
from vsmesh.bus.contract_client import ask

HUB = "fin-hub"


async def test_runway_command_prints_the_hubs_answer(nc, settings, cli, running_mesh):
    cur = unique_currency()
    wait = await send(
        nc,
        settings,
        [
            ("fin-balance-recorded", None, {"balance": money("4500", cur), "as_of": "2026-11-01"}),
            (
                "fin-commitment-recorded",
                None,
                {"kind": "contract", "amount": money("3000", cur), "cadence": "quarterly"},
            ),
        ],
    )
    await ask(nc, HUB, "get_runway", {"currency": cur, "wait_for_seq": wait})  # applied before the CLI asks
    result = await asyncio.to_thread(cli, "fin", "runway", "--json", "--currency", cur, "--as-of", "2026-11-15")
    assert result.exit_code == 0, result.output
    # A quarterly 3 000 contract is 1 000 a month: 4 500 lasts 4.5 months, under the 6-month threshold.
    answer = json.loads(result.stdout)
    assert (D(answer["months_remaining"]), answer["below_threshold"]) == (D("4.50"), True)
    human = await asyncio.to_thread(cli, "fin", "runway", "--currency", cur, "--as-of", "2026-11-15")
    assert "4.50 months" in human.output and f"1000.00 {cur}" in human.output


CSV = """date,amount,currency,vendor,domain,provider,model,tokens_in,tokens_out,description
2026-10-01,40.00,{cur},hetzner,{dom},,,,,VPS
2026-10-01,forty,{cur},hetzner,{dom},,,,,typo in the amount
2026-10-01,40.00,{cur},hetzner,{dom},,,,,VPS
2026-13-01,5,{cur},x,{dom},,,,,no such month
2026-10-02,0.0042,{cur},,{dom},anthropic,claude-sonnet,1200,300,
2026-10-02,1.00,{cur},,{dom},,gpt,10,10,no provider
"""


async def spent(nc, domain: str) -> D:
    [budget] = (await ask(nc, HUB, "get_budgets", {"domain": domain}))["budgets"]
    return D(budget["spent"])


async def test_import_reports_bad_rows_and_a_reimport_publishes_nothing(nc, settings, cli, tmp_path, running_mesh):
    cur, dom = unique_currency(), f"imp-{uuid.uuid4().hex[:6]}"
    await send(
        nc,
        settings,
        [("fin-budget-allocated", None, {"domain": dom, "period": "2026-Q4", "amount": money("1000", cur)})],
    )
    path = tmp_path / "costs.csv"
    path.write_text(CSV.format(cur=cur, dom=dom))

    first = await asyncio.to_thread(cli, "fin", "import-costs", str(path), "--json")
    # Bad rows are named by line and skipped; the import goes on and exits 2 to say so.
    assert first.exit_code == 2, first.output
    report = json.loads(first.output.strip().splitlines()[-1])
    assert [b["line"] for b in report["bad"]] == [3, 5, 7]
    assert "forty" in report["bad"][0]["reason"] and "provider" in report["bad"][2]["reason"]
    # Two identical VPS charges in one file are two charges; the token row is a token spend.
    assert (report["rows"], report["published"], report["already_imported"]) == (6, 3, 0)

    for _ in range(200):  # the hub applies the import within moments
        if await spent(nc, dom) == D("80.0042"):
            break
        await asyncio.sleep(0.05)
    assert await spent(nc, dom) == D("80.0042")

    # The same file again: the hub already has every row, nothing is published.
    again = await asyncio.to_thread(cli, "fin", "import-costs", str(path))
    assert again.exit_code == 2
    assert "6 rows, 0 published, 3 already imported, 3 bad" in again.output
    assert "line 3: amount 'forty' is not a number" in again.output

    # A later export that overlaps (a new row on top, old rows shifted) adds only the new row.
    later = tmp_path / "later.csv"
    lines = CSV.format(cur=cur, dom=dom).splitlines()
    later.write_text("\n".join([lines[0], f"2026-11-03,9.99,{cur},hetzner,{dom},,,,,snapshot", *lines[1:]]) + "\n")
    overlap = json.loads(
        (await asyncio.to_thread(cli, "fin", "import-costs", str(later), "--json")).output.splitlines()[-1]
    )
    assert (overlap["published"], overlap["already_imported"]) == (1, 3)
