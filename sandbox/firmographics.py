"""Deterministic company data for a contact's e-mail domain (like HubSpot's enrichment).

A few well-known example domains have fixed values; any other company domain gets
values derived from a hash of the domain, so the same address always enriches the
same way. Free-mail domains are not enriched.
"""

from __future__ import annotations

import hashlib

KNOWN: dict[str, dict[str, str]] = {
    "acme.example": {
        "company": "Acme Corp",
        "industry": "Software",
        "numberofemployees": "5000",
        "annualrevenue": "1200000000",
        "country": "United States",
    },
    "globex.example": {
        "company": "Globex Corporation",
        "industry": "Financial Services",
        "numberofemployees": "1200",
        "annualrevenue": "450000000",
        "country": "United Kingdom",
    },
    "initech.example": {
        "company": "Initech",
        "industry": "Software",
        "numberofemployees": "300",
        "annualrevenue": "40000000",
        "country": "United States",
    },
    "smallshop.example": {
        "company": "Small Shop",
        "industry": "Retail",
        "numberofemployees": "12",
        "annualrevenue": "900000",
        "country": "Canada",
    },
}
FREE_MAIL = {"gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "proton.me"}

_INDUSTRIES = ["Software", "Financial Services", "Retail", "Healthcare", "Manufacturing", "Education"]
_EMPLOYEES = [8, 45, 180, 750, 2500, 12000]
_COUNTRIES = ["United States", "Germany", "France", "United Kingdom", "Canada", "Japan"]
_TITLES = [
    "Marketing Manager",
    "VP Marketing",
    "Head of Growth",
    "Software Engineer",
    "Director of Operations",
    "CTO",
    "Sales Associate",
    "Marketing Coordinator",
]


def _pick(seed: str, options: list, salt: str):
    digest = hashlib.sha256(f"{salt}:{seed}".encode()).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


def enrich(email: str) -> dict[str, str]:
    """Firmographic properties for `email` (empty for free-mail or malformed addresses)."""
    domain = email.rpartition("@")[2].lower()
    if not domain or domain in FREE_MAIL:
        return {}
    if domain in KNOWN:
        company = dict(KNOWN[domain])
    else:
        employees = _pick(domain, _EMPLOYEES, "employees")
        company = {
            "company": domain.split(".")[0].replace("-", " ").title(),
            "industry": _pick(domain, _INDUSTRIES, "industry"),
            "numberofemployees": str(employees),
            "annualrevenue": str(employees * 150_000),
            "country": _pick(domain, _COUNTRIES, "country"),
        }
    company["jobtitle"] = _pick(email.lower(), _TITLES, "title")
    return company
