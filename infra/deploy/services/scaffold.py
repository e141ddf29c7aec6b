"""A new service's data skeleton (`make new-service`), and a synthetic catalogue of N services
(the seeds plus copies of them, outside the published rules) to prove the template's shape."""

from __future__ import annotations

import json
import os
import re
import shutil
import string
from collections.abc import Mapping
from pathlib import Path

import yaml
from miaopi import compiled
from miaopi.files import AuthorityId, ServiceId
from miaopi.loader import load_service
from pydantic import TypeAdapter, ValidationError

from infra.deploy.services.generate import RULES_LAYER, RULES_PACKAGE, TEMPLATE, Layout, generate
from infra.deploy.services.stacks import read_services

_SKELETON_SERVICE = """\
# $id: written by `make new-service`. Replace every TODO with the published rules; the
# rule-coverage gate (make test) names what the cases do not cover yet.
id: $id
name: {zh: $name_zh, en: $name_en}
authority: {zh: $authority_zh, en: $authority_en}
authorityId: $authority_id
description:
  zh: TODO 一句话说明谁可以申请、得到什么。
  en: TODO who may apply and what they receive, in one sentence.
slaWorkingDays: 2
certificate:
  kind: APPROVAL
  title: {zh: $approval_zh, en: $approval_en}
  prefix: $prefix
  holderName: name
subject: app.idNumber

form:
  fields:
    idNumber:
      type: identifier
      kinds: [cn.ric]
      title: {zh: 身份证号码, en: Resident ID number}
      personal: true
    name:
      type: string
      maxLength: 50
      title: {zh: 姓名, en: Name}
      personal: true

evidence:
  population:
    source: population-register
    title: {zh: 市人口库, en: Population register}
    key: app.idNumber
    attributes:
      name: {type: string}
      alive: {type: boolean}

applicants:
  - capacity: SELF
    identifier: app.idNumber

grant:
  uniqueBy: [app.idNumber]
  title: {zh: 每人一次, en: Once per person}
"""

_SKELETON_RULES = """\
version: "$year.1"
effectiveFrom: $date
title:
  zh: $rules_zh
  en: $rules_en

rules:
  - id: $rule_prefix-ALIVE
    title: {zh: 申请人健在, en: The applicant is alive}
    reason:
      zh: 人口库显示申请人已死亡。
      en: The population register records the applicant as deceased.
    remedy:
      zh: 如记录有误，请到户籍派出所更正。
      en: If the record is wrong, have it corrected at the hukou police station.
    legalBasis: {citation: TODO the regulation and its article, illustrative: true}
    condition: ev.population.alive == true
    onFail: REJECT

  - id: $rule_prefix-ONCE
    title: {zh: 未重复申请, en: Not applied for already}
    reason:
      zh: 申请人已有有效或正在办理的同一事项。
      en: The applicant already holds, or is being decided for, this service.
    remedy:
      zh: 请勿重复申请。
      en: Do not apply twice.
    legalBasis: {citation: TODO the regulation and its article, illustrative: true}
    condition: ev.grant == null
    onFail: REJECT
"""

_SKELETON_CASES = """\
# Rule tests as data: every case starts from the base and changes only what its name says.
base:
  date: $date
  application:
    idNumber: "440306194103150218"
    name: 测试
  evidence:
    population: {name: 测试, alive: true}
    grant: null

cases:
  - name: clean approval
    expect: {outcome: APPROVED}
"""


def new_service(
    service_id: str,
    authority_id: str,
    *,
    services_dir: Path,
    names: Mapping[str, str],
    today: str,
) -> Path:
    """A new service's folder in the rules layer: a skeleton that loads (checked before it is
    kept: nothing is left behind when it does not), with TODOs, compiled as `make rules` would."""
    for what, value, kind in (("ID", service_id, _ID), ("AUTHORITY", authority_id, _AUTHORITY)):
        try:
            kind.validate_python(value)
        except ValidationError:
            raise SystemExit(
                f"{what}={value!r}: lower-case words joined by '-' (e.g. pet-licence)"
            ) from None
    folder = services_dir / service_id
    if folder.exists():
        raise SystemExit(f"{folder} exists already")
    known = read_services(services_dir)
    authority = next((s for s in known if s.authority_id == authority_id), None)
    words = service_id.split("-")
    initials = "".join(w[0] for w in words).upper()
    texts = {
        "name_zh": names.get("name_zh") or f"TODO {service_id}",
        "name_en": names.get("name_en") or " ".join(words).capitalize(),
        "authority_zh": names.get("authority_zh")
        or (authority.authority_zh if authority else f"TODO {authority_id}"),
        "authority_en": names.get("authority_en")
        or (authority.authority_en if authority else f"TODO {authority_id}"),
    }
    texts |= {
        "approval_zh": f"{texts['name_zh']}核准通知",
        "approval_en": f"{texts['name_en']} approval",
        "rules_zh": f"{texts['name_zh']}秒批规则",
        "rules_en": f"{texts['name_en']} instant-approval rules",
    }
    values = {
        "id": service_id,
        "authority_id": authority_id,
        # quoted: a name may hold a comma, a colon or a brace
        **{k: json.dumps(v, ensure_ascii=False) for k, v in texts.items()},
        "prefix": _free_prefix(initials, services_dir),
        "rule_prefix": initials[:4],
        "date": today,
        "year": today[:4],
    }
    try:
        (folder / "rulesets").mkdir(parents=True)
        for name, skeleton in (
            ("service.yaml", _SKELETON_SERVICE),
            (f"rulesets/{today}.yaml", _SKELETON_RULES),
            ("cases.yaml", _SKELETON_CASES),
        ):
            (folder / name).write_text(string.Template(skeleton).substitute(values), "utf-8")
        load_service(folder)  # as every function will: a skeleton that does not load is not kept
        # as `make rules` compiles every service: the function loads this, not the YAML
        (folder / compiled.COMPILED_FILE).write_text(compiled.compile_service(folder), "utf-8")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


_ID: TypeAdapter[str] = TypeAdapter(ServiceId)
_AUTHORITY: TypeAdapter[str] = TypeAdapter(AuthorityId)


def _free_prefix(initials: str, services_dir: Path) -> str:
    """A certificate number prefix (2-6 capitals) no other service prints: a verifier reading
    one knows the service."""
    taken = {
        str(((yaml.safe_load(p.read_text("utf-8")) or {}).get("certificate") or {}).get("prefix"))
        for p in services_dir.glob("*/service.yaml")
    }
    base = initials[:6] if len(initials) >= 2 else (initials + "SV")[:2]
    for letter in ("", *string.ascii_uppercase):
        candidate = base[: 6 - len(letter)] + letter
        if candidate not in taken:
            return candidate
    raise SystemExit("no free certificate prefix: set certificate.prefix in service.yaml by hand")


# ---------------------------------------------------------------- a synthetic catalogue


#: the synthetic authorities of a generated catalogue, and the share of copies each gets: one
#: large enough to need several nested stacks, as a city's busiest bureau would
_SYNTHETIC_AUTHORITIES = (
    ("synthetic-market", 0.30),
    ("synthetic-social", 0.14),
    ("synthetic-housing", 0.12),
    ("synthetic-health", 0.10),
    ("synthetic-education", 0.10),
    ("synthetic-transport", 0.09),
    ("synthetic-police", 0.08),
    ("synthetic-water", 0.07),
)
_HEADER_LINE = re.compile(r"^(id|authorityId|name|authority): .*$", re.M)
_PATH_KEYS = re.compile(r"^(?P<lead>\s+(?:CodeUri|ContentUri|DefinitionUri): )(?P<path>[^\s!#]+)$")


def catalogue(count: int, out: Path, *, template: Path = TEMPLATE) -> Layout:
    """A catalogue of `count` services under `out`: the seeds plus synthetic copies of them
    (ids `<seed>-copy-<n>`, each under a synthetic authority, names marked 合成/synthetic), its
    own rules layer (the seeds' calendar too), template.yaml (this one's, relative paths
    rebased, RulesLayer on the copy) and nested templates. Not the published rules."""
    seeds_dir = RULES_LAYER / RULES_PACKAGE / "services"
    seeds = read_services(seeds_dir)
    if count < len(seeds):
        raise SystemExit(f"a catalogue holds at least the {len(seeds)} seed services")
    if out.exists():
        shutil.rmtree(out)
    rules = out / "rules"
    shutil.copytree(
        RULES_LAYER / RULES_PACKAGE,
        rules / RULES_PACKAGE,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    services_dir = rules / RULES_PACKAGE / "services"
    copies = count - len(seeds)
    quota = [round(copies * share) for _, share in _SYNTHETIC_AUTHORITIES]
    quota[0] += copies - sum(quota)
    owners = [a for (a, _), n in zip(_SYNTHETIC_AUTHORITIES, quota, strict=True) for _ in range(n)]
    for n, authority in enumerate(owners, start=1):
        seed = seeds[(n - 1) % len(seeds)]
        new_id = f"{seed.id}-copy-{n:03d}"
        shutil.copytree(seeds_dir / seed.id, services_dir / new_id)
        path = services_dir / new_id / "service.yaml"
        header = {
            "id": new_id,
            "authorityId": authority,
            "name": _texts(f"{seed.name_zh}(合成副本 {n:03d})", f"{seed.name_en} (copy {n:03d})"),
            "authority": _texts(f"合成测试部门 {authority}", f"Synthetic authority {authority}"),
        }
        path.write_text(_with_header(path.read_text(encoding="utf-8"), header), encoding="utf-8")
    compiled.write_all(services_dir)  # the copies' own compiled files (ids, names, authority)
    (out / "services").mkdir(parents=True)
    root_text = template.read_text(encoding="utf-8")
    (out / "template.yaml").write_text(_rebased(root_text, template.parent, out), encoding="utf-8")
    layout = Layout(out / "template.yaml", services_dir, out / "services")
    generate(layout)
    return layout


def _texts(zh: str, en: str) -> str:
    return json.dumps({"zh": zh, "en": en}, ensure_ascii=False)  # JSON is YAML


def _with_header(text: str, header: Mapping[str, str]) -> str:
    """service.yaml with its id, names and authority lines replaced."""
    return _HEADER_LINE.sub(lambda m: f"{m.group(1)}: {header[m.group(1)]}", text)


def _rebased(text: str, source: Path, out: Path) -> str:
    """The template's relative paths as seen from `out`; the rules layer is out/rules."""
    lines = []
    for line in text.splitlines(keepends=True):
        found = _PATH_KEYS.match(line.rstrip("\n"))
        if found and not found.group("path").startswith(("s3://", "/")):
            target = (source / found.group("path")).resolve()
            if target == RULES_LAYER.resolve():
                target = out / "rules"
            new = os.path.relpath(target, out) + ("/" if found.group("path").endswith("/") else "")
            line = f"{found.group('lead')}{new}\n"
        lines.append(line)
    return "".join(lines)
