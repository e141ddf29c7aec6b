"""The service catalogue and the official working-day calendar, loaded once per execution
environment from the rules layer: each service from its compiled file (miaopi.compiled, no YAML
parsed at cold start) when that is current, else from its YAML."""

from __future__ import annotations

from functools import cache

from miaopi import compiled
from miaopi.errors import UnknownService
from miaopi.loader import SERVICE_FILE, load_calendar
from miaopi.model import ServiceDefinition
from miaopi.workdays import Calendar
from miaopi_rules import CALENDAR_DIR, SERVICES_DIR


@cache
def all_services() -> dict[str, ServiceDefinition]:
    return compiled.load_catalogue(SERVICES_DIR)


@cache
def one_service(service_id: str) -> ServiceDefinition:
    """Load only the service a function is bound to: a smaller cold start."""
    folder = SERVICES_DIR / service_id
    if not (folder / SERVICE_FILE).is_file():
        raise UnknownService(service_id)
    return compiled.load(folder)


def find(service_id: str) -> ServiceDefinition:
    service = all_services().get(service_id)
    if service is None:
        raise UnknownService(service_id)
    return service


@cache
def official_calendar() -> Calendar:
    """The policy owners' calendar years (miaopi_rules/calendar), checked before the library."""
    return load_calendar(CALENDAR_DIR)
