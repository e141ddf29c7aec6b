"""The credit list for administrators: look up, list, repair (信用修复)."""

from miaopi_platform.aws.http import api_handler, make_resolver
from miaopi_platform.aws.settings import Settings
from miaopi_platform.credit import routes as credit
from miaopi_platform.wiring import Dependencies

dependencies = Dependencies(Settings.from_env())
app = make_resolver()
app.include_router(credit.router)
lambda_handler = api_handler(app, deps=dependencies)
