"""What auditors read of free text: personal data from the application and the evidence masked."""

from __future__ import annotations

from miaopi_platform.audit.masking import Redactor
from miaopi_platform.catalogue.services import find


def test_a_comment_quoting_evidence_names_and_odd_id_forms_is_masked() -> None:
    # Given an elderly-allowance record whose bank evidence names a different card holder
    service = find("elderly-allowance")
    application = {"idNumber": "440306194103150218", "name": "陈秀英", "district": "BAOAN"}
    evidence = {"bank": {"status": "FOUND", "record": {"holderName": "陈小明"}}}
    redactor = Redactor(service, application, evidence)
    # When a reviewer's comment quotes the holder, the applicant and an ID with a lower-case x
    text = redactor.text("card holder is 陈小明, not 陈秀英; his ID 44030619800101087x")
    # Then none of them appears in clear
    assert "陈小明" not in text and "陈秀英" not in text
    assert "44030619800101087x" not in text
    assert text.startswith("card holder is 陈")
