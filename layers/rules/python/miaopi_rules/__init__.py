"""The rules layer: service definitions, dated rule sets and their cases, as data only.

A new rule version is a new file here, published as a new immutable layer version.
"""

from pathlib import Path

SERVICES_DIR = Path(__file__).parent / "services"
#: the official working-day calendar, one file per year (calendar/README.md)
CALENDAR_DIR = Path(__file__).parent / "calendar"
