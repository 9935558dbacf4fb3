"""Where credentialed clinical data may be sent: loopback, private networks, or hosts the user lists.

MedNLI, Problem Summary, MeDiSumQA and MeDiSumCode derive from MIMIC under PhysioNet's credentialed
data use agreement, which forbids sharing the data with third parties, online services included.
A task marks itself `credentialed = True` (users' own tasks too). Before the first request of a run
that includes such a task, every endpoint's host must be

- loopback (127.0.0.0/8, ::1, `localhost`), or
- on a private network (10/8, 172.16/12, 192.168/16, fc00::/7, link-local): every address its name
  resolves to now, so a name like `tgi` in a compose network passes and a public name does not, or
- listed by the user with `--clue-allow-host` / `clue_allow_host`, which states `ATTESTATION`.

Otherwise the run is refused with one message, before any request (discovery included). The decision
for each host is recorded in the report's manifest. Public tasks (MeQSum, LongHealth) go anywhere.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from clue_checks.endpoint.types import EndpointUnavailable

ATTESTATION = (
    "Listing a host attests that sending credentialed (PhysioNet) data to it is allowed by the data use "
    "agreement: it is run by you or your institution, or it is a service with verified zero data retention, "
    "no use of the data for training and no human review of it.")
AGREEMENT = ("PhysioNet's credentialed data use agreement forbids sending this data to third-party online "
             "services (https://physionet.org/about/licenses/physionet-credentialed-health-data-license-150/)")

Resolve = Callable[[str], list[str]]


class EgressRefused(EndpointUnavailable):
    """Credentialed data would go to a host that is neither local, private nor listed. One line."""

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class HostDecision:
    url: str  # secrets removed
    host: str
    allowed_by: str | None  # "loopback", "private network", "listed (--clue-allow-host)", or None: refused

    def as_dict(self) -> dict[str, str | None]:
        return {"url": self.url, "host": self.host, "allowed_by": self.allowed_by}


def resolve_host(host: str) -> list[str]:
    """Every address `host` resolves to now (a local lookup; nothing is sent to the host)."""
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, None)})
    except (OSError, UnicodeError):
        return []


def _kind(address: str) -> str | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if ip.is_loopback:
        return "loopback"
    if ip.is_private or ip.is_link_local:
        return "private network"
    return None


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def decide(url: str, allowed_hosts: Iterable[str], *, resolve: Resolve = resolve_host,
           shown: Callable[[str], str] = lambda u: u) -> HostDecision:
    """Why `url`'s host may receive credentialed data, or `allowed_by=None` when it may not."""
    host = host_of(url)
    listed = {h.strip().lower().rstrip(".") for h in allowed_hosts if h.strip()}
    if host in listed:
        return HostDecision(shown(url), host, "listed (--clue-allow-host)")
    if host == "localhost" or host.endswith(".localhost"):
        return HostDecision(shown(url), host, "loopback")
    literal = _kind(host)
    if literal is not None:
        return HostDecision(shown(url), host, literal)
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return HostDecision(shown(url), host, None)  # a public address
    except ValueError:
        pass
    kinds = {_kind(address) for address in resolve(host)} if host else set()
    if kinds and None not in kinds:
        return HostDecision(shown(url), host, "private network" if "private network" in kinds else "loopback")
    return HostDecision(shown(url), host, None)


def check(urls: Sequence[str], credentialed_tasks: Sequence[str], allowed_hosts: Iterable[str], *,
          resolve: Resolve = resolve_host, shown: Callable[[str], str] = lambda u: u) -> list[HostDecision]:
    """The decision for every endpoint when a credentialed task is in the run; raises EgressRefused
    (one line: the tasks, the host, the agreement and the fix) when one may not receive the data."""
    if not credentialed_tasks:
        return []
    allowed = list(allowed_hosts)
    decisions = [decide(url, allowed, resolve=resolve, shown=shown) for url in urls]
    refused = [d for d in decisions if d.allowed_by is None]
    if refused:
        hosts = ", ".join(sorted({d.host or d.url for d in refused}))
        raise EgressRefused(
            f"not sending {', '.join(credentialed_tasks)} to {hosts}: these tasks hold MIMIC-derived data, and "
            f"{hosts} is neither this machine nor a private network. {AGREEMENT}. Run them against a locally "
            f"deployed model, run only public tasks (--clue-tasks=meqsum,longhealth-t1,longhealth-t2,longhealth-t3), or, "
            f"for a host verified to keep no data, use no data for training and let no one review it, allow it "
            f"with --clue-allow-host={refused[0].host} (ini: clue_allow_host); see docs/privacy-and-faults.md",
            url=refused[0].url, kind="refused")
    return decisions


def manifest_entry(decisions: Sequence[HostDecision], credentialed_tasks: Sequence[str],
                   allowed_hosts: Iterable[str]) -> dict[str, object]:
    """What the manifest records: which credentialed tasks went where, and on what grounds."""
    listed = sorted({h.strip().lower() for h in allowed_hosts if h.strip()})
    return {
        "egress.credentialed_tasks": list(credentialed_tasks),
        "egress.endpoints": [d.as_dict() for d in decisions],
        "egress.allowed_hosts": listed,
        "egress.attestation": ATTESTATION if any(d.allowed_by and d.allowed_by.startswith("listed")
                                                 for d in decisions) else None,
    }
