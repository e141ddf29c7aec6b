"""Signed certificates: anyone verifies one (no sign-in), the holder downloads their own."""

from miaopi_platform.aws.http import api_handler, make_resolver
from miaopi_platform.aws.settings import Settings
from miaopi_platform.certificates import routes as certificates
from miaopi_platform.wiring import Dependencies

dependencies = Dependencies(Settings.from_env())
app = make_resolver()
app.include_router(certificates.router)
lambda_handler = api_handler(app, deps=dependencies)
