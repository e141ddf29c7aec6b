"""Domain errors: small classes, mapped to HTTP in one place by the platform layer."""

from __future__ import annotations

from dataclasses import dataclass, field


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class RuleLoadError(DomainError):
    """A service or rule file is wrong. Names the file, the rule (or key) and the reason."""

    def __init__(self, file: str, where: str, reason: str) -> None:
        self.file = file
        self.where = where
        self.reason = reason
        super().__init__(f"{file}: {where}: {reason}")


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid field of an application. Never carries the submitted value (personal data)."""

    field: str
    code: str
    message: str


@dataclass
class ApplicationInvalid(DomainError):
    """The application form failed validation; one entry per field."""

    errors: list[FieldError] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{e.field}: {e.code}" for e in self.errors)


class UnknownService(DomainError):
    def __init__(self, service_id: str) -> None:
        self.service_id = service_id
        super().__init__(f"unknown service: {service_id}")


class NoRuleSetInForce(DomainError):
    def __init__(self, service_id: str, on: str) -> None:
        self.service_id = service_id
        self.on = on
        super().__init__(f"no rule set of {service_id} is in force on {on}")
