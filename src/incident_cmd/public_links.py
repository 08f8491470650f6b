"""Addresses of the public pages that messages link to."""

from incident_cmd.config import get_settings


def status_url(incident_number: str | None) -> str:
    """The public status page of an incident, or the status page itself."""
    base = get_settings().public_base_url.rstrip("/")
    return f"{base}/status/{incident_number}" if incident_number else f"{base}/status"
