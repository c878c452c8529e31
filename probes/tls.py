"""`tls` probes: a handshake, the certificate's chain validity, issuer, expiry and whether it names the host.

Two handshakes when the first fails verification: the verifying one says what is wrong, the second one
(without verification) reads the certificate anyway, so an expired or wrong-host certificate still shows
its expiry and names.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import ssl
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from vsmesh.probes.model import TlsProbe
from vsmesh.probes.observation import Observation, failed

HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH: the chain is fine, the name is not


def certificate_facts(der: bytes, hostname: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Expiry, seconds left, issuer, subject and whether `hostname` is among the certificate's names."""
    cert = x509.load_der_x509_certificate(der)
    expires = cert.not_valid_after_utc
    left = (expires - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return {
        "expires_at": expires,
        "seconds_left": round(left, 1),
        "issuer": cert.issuer.rfc4514_string(),
        "subject": cert.subject.rfc4514_string(),
        "hostname_match": name_matches(_names(cert), hostname),
    }


def _names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return []
    return [*san.get_values_for_type(x509.DNSName), *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))]


def name_matches(names: list[str], hostname: str) -> bool:
    """RFC 6125: an exact name, an IP address, or a wildcard in the leftmost label only."""
    host = hostname.lower().rstrip(".")
    if _is_ip(host):
        return any(ipaddress.ip_address(n) == ipaddress.ip_address(host) for n in names if _is_ip(n))
    for name in (n.lower().rstrip(".") for n in names):
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def verifying_context(ca_file: Path | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def _reading_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only to read a certificate that failed verification, never to trust it
    return context


async def _peer_certificate(host: str, port: int, context: ssl.SSLContext, name: str) -> bytes:
    _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=name)
    try:
        return writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def observe(probe: TlsProbe) -> Observation:
    name = probe.server_name or probe.host
    problem = None
    chain_valid = True
    try:
        der = await _peer_certificate(probe.host, probe.port, verifying_context(probe.ca_file), name)
    except ssl.SSLCertVerificationError as e:
        problem = f"certificate not trusted: {e.verify_message}"
        chain_valid = e.verify_code == HOSTNAME_MISMATCH
        try:
            der = await _peer_certificate(probe.host, probe.port, _reading_context(), name)
        except (OSError, ssl.SSLError) as again:
            return failed(f"{problem}; and cannot read it: {again}")
    except ssl.SSLError as e:
        return failed(f"TLS handshake with {probe.host}:{probe.port} failed: {e.reason or e}")
    except OSError as e:
        return failed(f"cannot connect to {probe.host}:{probe.port}: {e.strerror or e}")
    facts = certificate_facts(der, name)
    return Observation(
        {
            "CONNECTED": True,
            "CERTIFICATE_EXPIRATION": facts["seconds_left"],
            "CERTIFICATE_VALID": chain_valid and facts["seconds_left"] > 0,
            "CERTIFICATE_ISSUER": facts["issuer"],
            "HOSTNAME_MATCH": facts["hostname_match"],
        },
        error=problem,
        detail={"tls_expires_at": facts["expires_at"], "issuer": facts["issuer"], "subject": facts["subject"]},
    )
