"""`dns` probes: a question to a named server (dnspython), or A/AAAA through the system's resolver."""

from __future__ import annotations

import asyncio
import socket
import time

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

from vsmesh.probes.model import DnsProbe
from vsmesh.probes.observation import Observation, failed


async def _ask_server(probe: DnsProbe) -> Observation:
    question = dns.message.make_query(probe.query, dns.rdatatype.from_text(probe.record))
    try:
        reply = await dns.asyncquery.udp(question, probe.server, port=probe.port, timeout=probe.timeout)
    except dns.exception.Timeout:
        return failed(f"DNS server {probe.server}:{probe.port} did not answer within {probe.timeout:g} s")
    except OSError as e:
        return failed(f"cannot ask DNS server {probe.server}:{probe.port}: {e.strerror or e}")
    answers = sorted(
        item.to_text().strip('"')
        for rrset in reply.answer
        if rrset.rdtype == question.question[0].rdtype
        for item in rrset
    )
    return Observation({"CONNECTED": True, "DNS_ANSWER": answers, "DNS_RCODE": dns.rcode.to_text(reply.rcode())})


async def _ask_system(probe: DnsProbe) -> Observation:
    if probe.record not in ("A", "AAAA"):
        return failed(f"the system resolver answers A and AAAA only; name a `server:` for {probe.record}")
    family = socket.AF_INET if probe.record == "A" else socket.AF_INET6
    try:
        found = await asyncio.get_running_loop().getaddrinfo(probe.query, None, family=family, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        return Observation({"CONNECTED": True, "DNS_ANSWER": [], "DNS_RCODE": "NXDOMAIN"}, error=str(e.strerror))
    answers = sorted({addr[4][0] for addr in found})
    return Observation({"CONNECTED": True, "DNS_ANSWER": answers, "DNS_RCODE": "NOERROR"})


async def observe(probe: DnsProbe) -> Observation:
    started = time.perf_counter()
    seen = await (_ask_server(probe) if probe.server else _ask_system(probe))
    if seen.values.get("CONNECTED"):
        seen.values["RESPONSE_TIME"] = round((time.perf_counter() - started) * 1000, 2)
    return seen
