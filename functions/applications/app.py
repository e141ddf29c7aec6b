"""An applicant reads their own applications."""

from miaopi_platform.applications import routes as applications
from miaopi_platform.aws.http import api_handler, make_resolver
from miaopi_platform.aws.settings import Settings
from miaopi_platform.wiring import Dependencies

dependencies = Dependencies(Settings.from_env())
app = make_resolver()
app.include_router(applications.router)
lambda_handler = api_handler(app, deps=dependencies)
