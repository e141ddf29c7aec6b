"""The reviewers' API: the manual-review queue, one task, and its decision."""

from miaopi_platform.aws.http import api_handler, make_resolver
from miaopi_platform.aws.settings import Settings
from miaopi_platform.catalogue.services import all_services
from miaopi_platform.review import routes as reviews
from miaopi_platform.wiring import Dependencies

dependencies = Dependencies(Settings.from_env())
all_services()  # every service's rules compiled once, at cold start
app = make_resolver()
app.include_router(reviews.router)
lambda_handler = api_handler(app, deps=dependencies)
