"""Email over SMTP (aiosmtplib): STARTTLS, implicit TLS or plain, with a login when the receiver names one.

A 5xx answer (a refused login, a refused recipient) is parked at once with the server's words; a 4xx answer,
a timeout or a refused connection is retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage

from vsmesh.durations import parse_duration
from vsmesh.events.schemas.notification import EmailReceiver
from vsmesh.notify.message import DELIVERED, Message, Outcome, failed
from vsmesh.notify.secrets import resolve


def mail(receiver: EmailReceiver, message: Message) -> EmailMessage:
    out = EmailMessage()
    out["From"] = receiver.sender
    out["To"] = ", ".join(receiver.to)
    out["Subject"] = message.title
    out["Message-ID"] = f"<{message.notification_id}@vsmesh>"  # a redelivery is the same message
    out["X-Vsmesh-Notification"] = message.notification_id
    out.set_content(message.text)
    out.add_attachment(message.body, maintype="application", subtype="json", filename="events.json")
    return out


async def send_mail(receiver: EmailReceiver, message: Message, environ: Mapping[str, str]) -> Outcome:
    import aiosmtplib

    password = resolve(receiver.password, environ) if receiver.password else None
    where = f"{receiver.host}:{receiver.port}"
    try:
        await aiosmtplib.send(
            mail(receiver, message),
            hostname=receiver.host,
            port=receiver.port,
            username=receiver.username,
            password=password,
            use_tls=receiver.tls == "implicit",
            start_tls=receiver.tls == "starttls",
            cert_bundle=receiver.ca_file,
            timeout=parse_duration(receiver.timeout),
        )
    except aiosmtplib.SMTPResponseException as e:
        return failed(f"SMTP {e.code} from {where}: {e.message}", permanent=e.code >= 500)
    except (aiosmtplib.SMTPException, OSError) as e:
        return failed(f"{type(e).__name__} sending to {where}: {e}")
    return DELIVERED
