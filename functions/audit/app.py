"""The auditors' API: decisions, one decision in full, statistics, chain verification, replay
and what-if. Read-only: its role may only GetItem, BatchGetItem and Query (template.yaml)."""

from miaopi_platform.audit import routes as audit
from miaopi_platform.aws.http import api_handler, make_resolver
from miaopi_platform.aws.settings import Settings
from miaopi_platform.catalogue.services import all_services
from miaopi_platform.wiring import Dependencies

dependencies = Dependencies(Settings.from_env())
all_services()  # every service's rules (every version) compiled once, at cold start
app = make_resolver()
app.include_router(audit.router)
lambda_handler = api_handler(app, deps=dependencies)
