"""The service catalogue and the official working-day calendar, loaded once per execution
environment from the rules layer: each service from its compiled file (miaopi.compiled, no YAML
parsed at cold start) when that is current, else from its YAML."""

from __future__ import annotations

import re
from functools import cache

from miaopi import compiled
from miaopi.errors import UnknownService
from miaopi.files import SERVICE_ID_PATTERN
from miaopi.loader import SERVICE_FILE, load_calendar
from miaopi.model import ServiceDefinition
from miaopi.workdays import Calendar
from miaopi_rules import CALENDAR_DIR, SERVICES_DIR

#: a service's id, as its folder is named (nothing that could leave the rules layer's folder)
_SERVICE_ID = re.compile(SERVICE_ID_PATTERN)


@cache
def all_services() -> dict[str, ServiceDefinition]:
    return compiled.load_catalogue(SERVICES_DIR)


@cache
def one_service(service_id: str) -> ServiceDefinition:
    """Load only the service a function is bound to: a smaller cold start."""
    folder = SERVICES_DIR / service_id
    if not _SERVICE_ID.match(service_id) or not (folder / SERVICE_FILE).is_file():
        raise UnknownService(service_id)
    return compiled.load(folder)


def find(service_id: str) -> ServiceDefinition:
    """One service: from the whole catalogue when this environment has loaded it, else only
    that service (a city's hundreds of services are not all compiled for one request)."""
    if all_services.cache_info().currsize:
        service = all_services().get(service_id)
        if service is None:
            raise UnknownService(service_id)
        return service
    return one_service(service_id)


@cache
def official_calendar() -> Calendar:
    """The policy owners' calendar years (miaopi_rules/calendar), checked before the library."""
    return load_calendar(CALENDAR_DIR)
