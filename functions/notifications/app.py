"""An applicant reads their inbox and marks notifications read."""

from miaopi_platform.aws.http import api_handler, make_resolver
from miaopi_platform.aws.settings import Settings
from miaopi_platform.outcomes import routes as notifications
from miaopi_platform.wiring import Dependencies

dependencies = Dependencies(Settings.from_env())
app = make_resolver()
app.include_router(notifications.router)
lambda_handler = api_handler(app, deps=dependencies)
