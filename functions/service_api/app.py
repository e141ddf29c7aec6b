"""One government service's submissions. The same code serves every service; template.yaml binds
each function to its service with SERVICE_ID, and the service's behaviour is its data."""

from miaopi_platform.applications import submit_route as submit
from miaopi_platform.aws.http import api_handler, make_resolver
from miaopi_platform.aws.observability import metrics
from miaopi_platform.aws.settings import Settings
from miaopi_platform.catalogue.services import one_service
from miaopi_platform.wiring import Dependencies

settings = Settings.from_env()
service = one_service(settings.service_id or "")  # rules compiled once, at cold start
dependencies = Dependencies(settings)
app = make_resolver()
app.include_router(submit.router)
metrics.set_default_dimensions(serviceId=service.id)
lambda_handler = api_handler(app, deps=dependencies, service=service)
