"""The printable certificate: what a holder prints is what a verifier reads and scans."""

from __future__ import annotations

import copy
from typing import Any

import pypdfium2 as pdfium
import pytest
import zxingcpp
from miaopi_platform.certificates.pdf import Unprintable, render

URL = "https://api.miaopi.example/v1/certificates/GLJT20261130000123"
# as long as a signed certificate's QR text: the payload (base64url JSON) and a signature
QR = "MPC1." + "eyJudW1iZXIiOiJHTEpUMjAyNjExMzAwMDAxMjMiLCJraW5kIjoi5Zyw" * 16 + ".MEUCIQD-sig_x"


def certificate() -> dict[str, Any]:
    return {
        "format": "miaopi-certificate/1",
        "number": "GLJT20261130000123",
        "kind": "高龄津贴资格确认",
        "title": {"zh": "深圳市高龄老人津贴资格证明", "en": "Elderly Allowance Certificate"},
        "authority": {"id": "sz-mz", "zh": "深圳市民政局", "en": "Shenzhen Civil Affairs Bureau"},
        "service": "elderly-allowance",
        "holder": {"name": "张*喆", "idHash": "ab" * 32},
        "issuedOn": "2026-11-30",
        "validFrom": "2026-11-30",
        "validUntil": None,
        "decisionId": "dec-01JABCDEF0123456789",
        "ruleSetVersion": "2026.11.1",
        "ruleSetHash": "c" * 64,
        "keyId": "key-1",
        "algorithm": "ECDSA_SHA_256",
    }


def page_text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    return "\n".join(page.get_textpage().get_text_bounded() for page in document)


def test_the_chinese_title_authority_number_and_url_are_real_text_in_the_pdf() -> None:
    # Given a certificate of a Shenzhen authority for a holder with a name outside GB 2312
    document = certificate()

    # When it is rendered
    pdf = render(document, QR, URL)

    # Then a PDF reader extracts the Chinese as written, not as blank boxes or lookalikes
    text = page_text(pdf)
    assert pdf.startswith(b"%PDF-")
    for printed in ("深圳市高龄老人津贴资格证明", "深圳市民政局", "Shenzhen Civil Affairs Bureau"):
        assert printed in text
    assert "GLJT20261130000123" in text
    assert URL in text.replace("\r\n", "").replace("\n", "")
    assert "张*喆" in text
    assert "长期有效" in text  # no end date: valid until revoked
    assert len(pdfium.PdfDocument(pdf)) == 1


def test_the_qr_code_on_the_printed_page_scans_to_the_payload() -> None:
    # Given a rendered certificate
    pdf = render(certificate(), QR, URL)

    # When its page is printed at 150 dpi (rasterized) and scanned
    page = pdfium.PdfDocument(pdf)[0]
    image = page.render(scale=150 / 72).to_pil()
    codes = zxingcpp.read_barcodes(image)

    # Then exactly one QR code is found, and it carries the payload unchanged
    assert [code.format for code in codes] == [zxingcpp.BarcodeFormat.QRCode]
    assert codes[0].text == QR


def test_a_long_authority_name_wraps_inside_the_page() -> None:
    # Given an authority whose names are far wider than the value column
    document = certificate()
    long_zh = "深圳市前海深港现代服务业合作区管理局与深圳市市场监督管理局前海分局联合审批办公室"
    document["authority"] = {
        "id": "qh",
        "zh": long_zh,
        "en": "Qianhai Shenzhen-Hong Kong Modern Service Industry Cooperation Zone Authority",
    }

    # When it is rendered
    pdf = render(document, QR, URL)

    # Then every character of it is on the page, within the margins, over several lines
    page = pdfium.PdfDocument(pdf)[0]
    width, _ = page.get_size()
    textpage = page.get_textpage()
    text = textpage.get_text_range()
    start = text.index(long_zh[:8])
    end = start + len(long_zh) + 4  # the line breaks pdfium reports between the lines
    boxes = [textpage.get_charbox(i) for i in range(start, end) if text[i] in long_zh]
    margin = 20 / 25.4 * 72
    assert min(box[0] for box in boxes) >= margin - 1
    assert max(box[2] for box in boxes) <= width - margin + 1
    assert len({round(box[1]) for box in boxes}) >= 2  # wrapped onto a second line
    assert long_zh in text.replace("\r\n", "")
    assert "Cooperation Zone Authority" in page_text(pdf).replace("\r\n", " ")


def test_a_certificate_with_an_end_of_validity_prints_it() -> None:
    # Given a certificate valid until a date
    document = certificate()
    document["validUntil"] = "2031-11-29"

    # When it is rendered
    text = page_text(render(document, QR, URL))

    # Then the end date is printed and "valid until revoked" is not
    assert "2031-11-29" in text
    assert "长期有效" not in text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("number"), "number"),
        (lambda d: d["title"].pop("zh"), "title.zh"),
        (lambda d: d["authority"].pop("en"), "authority.en"),
        (lambda d: d.update(holder="张三"), "holder.name"),
        (lambda d: d.update(issuedOn="30/11/2026"), "issuedOn"),
        (lambda d: d.update(kind=""), "kind"),
        (lambda d: d.update(decisionId=12), "decisionId"),
    ],
)
def test_a_missing_or_malformed_field_is_named_in_a_clear_error(change: Any, field: str) -> None:
    # Given a certificate with one field missing or not text
    document = copy.deepcopy(certificate())
    change(document)

    # When it is rendered, Then the error names the field
    with pytest.raises(Unprintable) as error:
        render(document, QR, URL)
    assert error.value.field == field
    assert field in str(error.value)


def test_a_holder_name_the_font_cannot_print_is_refused_without_repeating_it() -> None:
    # Given a holder whose name has a character outside the shipped font (CJK Extension B)
    document = certificate()
    document["holder"]["name"] = "王*\U00020000"

    # When it is rendered, Then it is refused, naming the field but not the name
    with pytest.raises(Unprintable) as error:
        render(document, QR, URL)
    assert error.value.field == "holder.name"
    assert "王" not in str(error.value)


def test_an_empty_qr_payload_or_url_is_refused() -> None:
    # Given a good certificate, When the QR text or the URL is empty, Then it is refused
    with pytest.raises(Unprintable, match="qrPayload"):
        render(certificate(), "", URL)
    with pytest.raises(Unprintable, match="verificationUrl"):
        render(certificate(), QR, " ")


def test_the_same_certificate_renders_to_the_same_bytes() -> None:
    # Given one certificate, When it is rendered twice, Then the PDFs are identical (cacheable)
    assert render(certificate(), QR, URL) == render(certificate(), QR, URL)
