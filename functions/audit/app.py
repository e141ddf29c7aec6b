"""The auditors' API: decisions, one decision in full, statistics, chain verification, replay
and what-if. Read-only: its role may only GetItem, BatchGetItem and Query (template.yaml)."""

from miaopi_platform.audit import routes as audit
from miaopi_platform.aws.http import api_handler, make_resolver
from miaopi_platform.aws.settings import Settings
from miaopi_platform.wiring import Dependencies

dependencies = Dependencies(Settings.from_env())
# each service's rules are compiled when a record of it first comes (catalogue.find): a
# city's hundreds are not all compiled at cold start
app = make_resolver()
app.include_router(audit.router)
lambda_handler = api_handler(app, deps=dependencies)
