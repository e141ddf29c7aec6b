"""The auditors' access patterns on the decisions table: index names and the keys each record
carries for them. template.yaml declares the indexes; a test pins these names to it.

- a service's decisions of a period: byServiceDay, serviceDayShard (service#day#shard)
- by outcome: byOutcome, serviceOutcomeShard (service#outcome#shard)
- by rule-set version: byRuleSet, serviceRuleSetShard (service#version#shard)
- by decider (a reviewer, supervision): byDecider, deciderKey (sparse: not the rules' own)
- by applicant (the keyed hash of the subject's identifier): bySubject, subjectHash
- one hash chain in order (verification): byChain, chainId (= serviceDayShard; sparse), chainSeq
- an application's decisions in order ("why was this referred?"): byApplication, applicationId
All but byChain are sorted by decidedAt. Days are China dates (the application date's
calendar). Nothing here talks to AWS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from miaopi.workdays import CHINA

from miaopi_platform.records.items import IndexKeys

BY_SERVICE_DAY = "byServiceDay"
BY_OUTCOME = "byOutcome"
BY_RULE_SET = "byRuleSet"
BY_DECIDER = "byDecider"
BY_SUBJECT = "bySubject"
BY_CHAIN = "byChain"
BY_APPLICATION = "byApplication"

#: partition key attribute of each index (all sorted by decidedAt, except byChain by chainSeq)
PARTITION_KEYS = {
    BY_SERVICE_DAY: "serviceDayShard",
    BY_OUTCOME: "serviceOutcomeShard",
    BY_RULE_SET: "serviceRuleSetShard",
    BY_DECIDER: "deciderKey",
    BY_SUBJECT: "subjectHash",
    BY_CHAIN: "chainId",
    BY_APPLICATION: "applicationId",
}
SORT_KEYS = {index: "decidedAt" for index in PARTITION_KEYS} | {BY_CHAIN: "chainSeq"}

#: Write shards per service and day (and per service and outcome / rule-set version). Lambda
#: and DynamoDB scale out, but one partition key takes about 1,000 writes/s and one hash chain
#: is appended to one record at a time: four keys per service carry one service's busiest day.
#: A record's shard is fixed by its id. Changing this re-partitions only new days, and the
#: verification of older days would then need the old value: make it dated before changing it.
SHARDS = 4
#: the rules' own decider id; such decisions are not in byDecider (one key would take them all)
SYSTEM_DECIDER = "system"


def shard_of(decision_id: str) -> int:
    return int(hashlib.sha256(decision_id.encode()).hexdigest(), 16) % SHARDS


def china_day(decided_at: str) -> dt.date:
    """The China date of an ISO timestamp (decision records store UTC, `...Z`)."""
    moment = dt.datetime.fromisoformat(decided_at.replace("Z", "+00:00"))
    return moment.astimezone(CHINA).date()


def day_shard(service_id: str, day: dt.date, shard: int) -> str:
    """A byServiceDay partition, which is also the id of the hash chain of its records."""
    return f"{service_id}#{day.isoformat()}#{shard}"


def chain_of(record: Mapping[str, Any]) -> str:
    """The chain a decision record belongs to, from its content (any record-shaped mapping:
    the verification asks it of records that may be malformed)."""
    return day_shard(
        record["serviceId"], china_day(record["decidedAt"]), shard_of(record["decisionId"])
    )


def index_keys(record: Mapping[str, Any]) -> IndexKeys:
    """The attributes the auditors' indexes are keyed on, from the record's own content.
    They are content: the record's content hash covers them."""
    service, shard = record["serviceId"], shard_of(record["decisionId"])
    keys: IndexKeys = {
        "serviceDayShard": chain_of(record),
        "serviceOutcomeShard": f"{service}#{record['outcome']}#{shard}",
        "serviceRuleSetShard": f"{service}#{record['ruleSetVersion']}#{shard}",
    }
    decider = record.get("deciderId")
    if decider and decider != SYSTEM_DECIDER:
        keys["deciderKey"] = str(decider)
    return keys


def day_start(day: dt.date) -> str:
    """The first decidedAt value of a China day (UTC, as records store it)."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=CHINA).astimezone(dt.UTC)
    return start.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def day_end(day: dt.date) -> str:
    """The last decidedAt value of a China day (inclusive, millisecond precision)."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=CHINA)
    last = (end - dt.timedelta(milliseconds=1)).astimezone(dt.UTC)
    return last.isoformat(timespec="milliseconds").replace("+00:00", "Z")
