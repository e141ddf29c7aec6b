"""The government services' part of the stack, generated from the rules layer, so their number is
not bounded by one CloudFormation stack (`python -m infra.deploy.services`, `make services`).

A service is its folder in the rules layer (`service.yaml`: id, names, authority). From those
folders this writes:

- one nested application per authority, `infra/services/<authorityId>.yaml` (and
  `<authorityId>--2.yaml`, … beyond `SERVICES_PER_STACK` services): for each service its function
  (bound by `SERVICE_ID`), its log group and its errors alarm; the function's `live` alias is an
  output;
- beside each, `infra/services/invoke/<key>.yaml`: the permissions API Gateway invokes those
  aliases with, scoped to this stack's API (it takes the API's id and the aliases, after both
  exist: the API refers to the services' outputs, so they cannot refer back to it);
- in template.yaml, between the `>>> generated` and `<<< generated` lines: the nested
  applications (the root's tables, keys, layers and alarms passed in as parameters) and the
  API's submit routes (`POST /services/<id>/applications`, each integrating its service's alias;
  SAM merges every other function's `Api` events into the same definition).

The nested templates take the root's `Globals` with every reference to a root resource or
parameter turned into a parameter of the same name (`Ref X` -> X, `GetAtt X.Arn` -> XArn).

Modules: `stacks` (the services and their stacks), `nested` (a nested template and the root's
blocks), `yaml_out` (YAML with short-form intrinsics), `generate` (the files), `scaffold` (a new
service, a synthetic catalogue), `sizes` (resources per stack after the SAM transform).
"""

from infra.deploy.services.generate import (
    DEFAULT_LAYOUT,
    NESTED_DIR,
    ROOT,
    TEMPLATE,
    Layout,
    differences,
    generate,
    rendered,
)
from infra.deploy.services.scaffold import catalogue, new_service
from infra.deploy.services.sizes import MAX_RESOURCES, api_resources, sizes
from infra.deploy.services.stacks import (
    SERVICES_PER_STACK,
    Service,
    Stack,
    assign,
    existing_assignment,
    pascal,
    read_services,
)

__all__ = [
    "DEFAULT_LAYOUT",
    "MAX_RESOURCES",
    "NESTED_DIR",
    "ROOT",
    "SERVICES_PER_STACK",
    "TEMPLATE",
    "Layout",
    "Service",
    "Stack",
    "api_resources",
    "assign",
    "catalogue",
    "differences",
    "existing_assignment",
    "generate",
    "new_service",
    "pascal",
    "read_services",
    "rendered",
    "sizes",
]
