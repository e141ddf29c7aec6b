"""Application forms: a service's form definition becomes a pydantic model at load.

The model validates and normalizes submissions (identifiers with their check digits, enums,
dates, exact decimals, text without control or bidi characters) and publishes the form as JSON
Schema. Validation errors name the field and what it expects (field_errors.py), never the
submitted value.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    create_model,
)
from pydantic_core import PydanticCustomError

from miaopi import identifiers
from miaopi.errors import ApplicationInvalid, FieldError
from miaopi.field_errors import field_errors
from miaopi.files import Form, FormField
from miaopi.inputs import ONE_LINE, IsoDate


def _identifier(kinds: tuple[str, ...]) -> Any:
    def check(value: str) -> str:
        try:
            return identifiers.normalize(kinds, value)
        except identifiers.IdentifierInvalid as exc:
            raise PydanticCustomError(exc.code, str(exc)) from None

    return AfterValidator(check)


def _annotation(name: str, spec: FormField, path: str) -> Any:
    extra: dict[str, Any] = {"x-title-zh": spec.title.zh}
    if spec.personal:
        extra["x-personal"] = True
    base: Any
    description = None
    if spec.type == "string":
        base = Annotated[
            str,
            StringConstraints(
                strip_whitespace=True,
                min_length=spec.min_length if spec.min_length is not None else 1,
                max_length=spec.max_length or 200,
                pattern=spec.pattern,
            ),
            ONE_LINE,
        ]
    elif spec.type == "enum":
        base = Literal[tuple(spec.values or ())]
    elif spec.type == "date":
        base = IsoDate
    elif spec.type == "decimal":
        base = Annotated[Decimal, Field(ge=spec.minimum, le=spec.maximum, decimal_places=2)]
    elif spec.type == "integer":
        base = Annotated[int, Field(strict=True, ge=spec.minimum, le=spec.maximum)]
    elif spec.type == "boolean":
        base = Annotated[bool, Field(strict=True)]
    elif spec.type == "identifier":
        kinds = tuple(spec.kinds or ())
        extra["x-identifier-kinds"] = list(kinds)
        description = " Or: ".join(identifiers.KINDS[kind].rule for kind in kinds)
        base = Annotated[str, StringConstraints(max_length=40), _identifier(kinds)]
    else:
        base = build_model(f"{path}_{name}", Form(fields=spec.fields or {}))
    field = Field(title=spec.title.en, description=description, json_schema_extra=extra)
    if spec.required:
        return (base, field)
    field = Field(
        default=None, title=spec.title.en, description=description, json_schema_extra=extra
    )
    return (base | None, field)


def build_model(name: str, form: Form) -> type[BaseModel]:
    fields = {key: _annotation(key, spec, name) for key, spec in form.fields.items()}
    model: type[BaseModel] = create_model(
        name,
        __config__=ConfigDict(extra="forbid", str_strip_whitespace=True),
        **fields,
    )
    return model


def normalize(model: type[BaseModel], payload: Any) -> dict[str, Any]:
    """Validate a submission; the normalized application is plain JSON (decimals as strings)."""
    if not isinstance(payload, dict):
        raise ApplicationInvalid([FieldError("(body)", "type", "(body): expected a JSON object")])
    try:
        return model.model_validate(payload).model_dump(mode="json")
    except ValidationError as exc:
        raise ApplicationInvalid(
            field_errors(exc.errors(include_input=False, include_url=False))
        ) from None


def json_schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema["title"] = title
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def form_paths(form: Form, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], FormField]:
    """Every field of a form by its path, nested objects included."""
    out: dict[tuple[str, ...], FormField] = {}
    for key, spec in form.fields.items():
        out[(*prefix, key)] = spec
        if spec.type == "object" and spec.fields:
            out |= form_paths(Form(fields=spec.fields), (*prefix, key))
    return out
