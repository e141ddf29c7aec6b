"""What the audit API shows of a record: personal data masked wherever it appears."""

from __future__ import annotations

from miaopi_platform.audit.masking import Redactor
from miaopi_platform.catalogue.services import find

APPLICATION = {
    "idNumber": "440306194103150218",
    "name": "陈秀英",
    "district": "BAOAN",
    "bankCardNumber": "6222020200000000014",
    "bankName": "中国工商银行",
    "phone": "13800138000",
}


def test_personal_values_are_masked_in_the_form_evidence_trace_and_comments() -> None:
    # Given an elderly-allowance record's application
    redact = Redactor(find("elderly-allowance"), APPLICATION)
    # When its parts are shown
    form = redact.application()
    evidence = redact.value({"holderIdNumber": "440304198001010877", "holderName": "陈小明"})
    population = redact.value({"name": "陈秀英", "hukouCity": "深圳市", "alive": True})
    trace = redact.trace_values({"app.idNumber": APPLICATION["idNumber"], "app.district": "BAOAN"})
    comment = redact.text("called 13800138000; card 6222020200000000014 is 陈秀英's own")
    # Then every personal value is masked, by its kind where it has one, and the rest stays
    assert form["idNumber"] == "440*************18" and form["name"] == "陈**"
    assert form["district"] == "BAOAN" and form["bankName"] == "中国工商银行"
    assert evidence == {"holderIdNumber": "440*************77", "holderName": "陈**"}
    assert population == {"name": "陈**", "hukouCity": "深圳市", "alive": True}
    assert trace == {"app.idNumber": "440*************18", "app.district": "BAOAN"}
    assert comment == "called 138****8000; card 6222***********0014 is 陈**'s own"
