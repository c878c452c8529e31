"""The GDPR report: the Art. 30 record and its gaps, judged at a given day from legal's read model.

Every gap names its kind, what it is about, how to close it, and the ids of the events it comes from, so an
auditor can trace it (`vsmesh trace ID`). Gaps are recomputed on every read: recording the missing fact
removes the gap from the next report, and a date that passes adds one, without any event.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.hubs.core.queries import rows
from vsmesh.hubs.legal.tables import agents_seen, ai_systems, dpas, processing, services, vendor_spend, vendors

# EU member states plus the EEA (Iceland, Liechtenstein, Norway): transfers there need no mechanism.
EEA = frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split())
DPA_DONE = ("signed", "not-required")


def _gap(kind: str, about: str, message: str, fix: str, events: list[str | None]) -> dict[str, Any]:
    return {"kind": kind, "about": about, "message": message, "fix": fix, "events": [e for e in events if e]}


async def register(conn: AsyncConnection) -> dict[str, list[dict[str, Any]]]:
    """The registers as recorded: vendors (with their DPAs), processing activities, AI systems."""
    found = await rows(conn, sa.select(vendors).order_by(vendors.c.vendor))
    signed = await rows(conn, sa.select(dpas).order_by(dpas.c.signed_on))
    for v in found:
        own = [d for d in signed if d["vendor"] == v["vendor"]]
        if own:  # a recorded DPA signs, whatever the vendor row said
            v["dpa_status"], v["dpa_signed_on"], v["dpa_event_id"] = "signed", own[-1]["signed_on"], own[-1]["event_id"]
    return {
        "vendors": found,
        "processing": await rows(conn, sa.select(processing).order_by(processing.c.activity)),
        "ai_systems": await rows(conn, sa.select(ai_systems).order_by(ai_systems.c.actor)),
    }


def vendor_gaps(vendor: dict[str, Any], today: dt.date) -> list[dict[str, Any]]:
    v, ev = vendor["vendor"], [vendor["event_id"]]
    gaps = []
    if vendor["personal_data"] and vendor["dpa_status"] not in DPA_DONE:
        gaps.append(_gap("no-dpa", f"vendor/{v}", f"{v} processes personal data without a DPA ({vendor['dpa_status']})",
                         f"vsmesh legal record-dpa {v} --signed-on YYYY-MM-DD", ev))  # fmt: skip
    outside = vendor["location"] and vendor["location"] not in EEA
    if vendor["personal_data"] and outside and vendor["transfer_mechanism"] in (None, "none"):
        gaps.append(_gap("no-transfer-mechanism", f"vendor/{v}",
                         f"{v} processes personal data in {vendor['location']} (outside the EU/EEA) without a "
                         "transfer mechanism",
                         "record the vendor with transfer_mechanism adequacy or scc", ev))  # fmt: skip
    if vendor["review_by"] and vendor["review_by"] < today:
        gaps.append(_gap("review-overdue", f"vendor/{v}", f"{v}'s review was due on {vendor['review_by']}",
                         "review the vendor and record it with a new review_by", ev))  # fmt: skip
    return gaps


async def gaps(conn: AsyncConnection, record: dict[str, list[dict[str, Any]]], today: dt.date) -> list[dict[str, Any]]:
    found = [g for v in record["vendors"] for g in vendor_gaps(v, today)]
    covered = {s for p in record["processing"] for s in p["services"] or []}
    for s in await rows(conn, sa.select(services).where(services.c.personal_data).order_by(services.c.service)):
        if s["service"] not in covered:
            found.append(_gap("service-not-covered", f"service/{s['service']}",
                              f"ops service {s['service']} handles personal data but no processing record covers it",
                              f"record a processing activity with services: [{s['service']}]",
                              [s["event_id"], s["cause_event_id"]]))  # fmt: skip
    registered = {a["actor"] for a in record["ai_systems"]}
    seen = await rows(conn, sa.select(agents_seen).order_by(agents_seen.c.actor, agents_seen.c.hub))
    for actor in sorted({a["actor"] for a in seen} - registered):
        events = [x for a in seen if a["actor"] == actor for x in (a["event_id"], a["cause_event_id"])]
        found.append(_gap("agent-not-registered", f"ai-system/{actor}",
                          f"agent {actor} acts on the mesh without an AI-register entry",
                          f"vsmesh legal register-ai {actor} --owner … --purpose …", events))  # fmt: skip
    known = {v["vendor"].lower() for v in record["vendors"]} | {
        a for v in record["vendors"] for a in (v["aliases"] or [])
    }
    spend = await rows(conn, sa.select(vendor_spend).order_by(vendor_spend.c.vendor, vendor_spend.c.seen_at))
    for vendor in sorted({s["vendor"] for s in spend} - known):
        events = [x for s in spend if s["vendor"] == vendor for x in (s["event_id"], s["cause_event_id"])][:10]
        found.append(_gap("vendor-not-reviewed", f"vendor/{vendor}",
                          f"fin-hub pays {vendor}, which the vendor register does not know",
                          f"record {vendor} in the vendor register (or add it as an alias)", events))  # fmt: skip
    return found


async def gdpr_report(conn: AsyncConnection, today: dt.date) -> dict[str, Any]:
    record = await register(conn)
    found = await gaps(conn, record, today)
    return {"hub": "legal-hub", "as_of": today, **record, "gaps": found, "gap_count": len(found)}


def _list(values: list[str] | None) -> str:
    return ", ".join(values or []) or "—"


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown for a person (or an auditor's file)."""
    lines = [f"# GDPR record of processing (Art. 30) — as of {report['as_of']}", "", "## Processing activities", ""]
    for p in report["processing"]:
        lines.append(f"- **{p['activity']}**: {p['purpose']} (legal basis: {p['legal_basis']}); data subjects: "
                     f"{_list(p['data_subjects'])}; data: {_list(p['data_categories'])}; recipients: "
                     f"{_list(p['recipients'])}; retention: {p['retention'] or '—'}; services: "
                     f"{_list(p['services'])}")  # fmt: skip
    lines += ["", "## Vendors (TPSC)", "",
              "| vendor | service | personal data | location | DPA | transfer | review by |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for v in report["vendors"]:
        lines.append(f"| {v['vendor']} | {v['service'] or ''} | {'yes' if v['personal_data'] else 'no'} | "
                     f"{v['location'] or ''} | {v['dpa_status']} | {v['transfer_mechanism'] or ''} | "
                     f"{v['review_by'] or ''} |")  # fmt: skip
    lines += ["", "## AI systems (AI Act)", ""]
    lines += [f"- **{a['actor']}** ({a['risk_class']}): {a['purpose']}; owner {a['owner']}; oversight: "
              f"{a['human_oversight'] or '—'}" for a in report["ai_systems"]]  # fmt: skip
    lines += ["", f"## Gaps ({report['gap_count']})", ""]
    lines += [f"- **{g['kind']}** {g['about']}: {g['message']}. Fix: {g['fix']}. Events: {', '.join(g['events'])}"
              for g in report["gaps"]] or ["- none"]  # fmt: skip
    return "\n".join(lines) + "\n"
