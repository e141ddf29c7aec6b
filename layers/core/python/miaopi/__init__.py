"""miaopi decision core: service definitions and rules as data, and the pure engine that decides.

Pure domain code: no boto3, no environment, no events. Everything here takes models and returns
models, so the code that decides is the easiest code in the repository to test.
"""

from miaopi.engine import decide
from miaopi.model import (
    Decision,
    EvidenceItem,
    EvidenceStatus,
    Outcome,
    Reason,
    RuleResult,
    RuleSet,
    ServiceDefinition,
    TraceEntry,
)

__all__ = [
    "Decision",
    "EvidenceItem",
    "EvidenceStatus",
    "Outcome",
    "Reason",
    "RuleResult",
    "RuleSet",
    "ServiceDefinition",
    "TraceEntry",
    "decide",
]
