"""The printable certificate: one A4 page a holder can print or show, with the QR code a bank,
a landlord or a police officer scans to verify it (issue 14, point 3).

Pure: it takes the certificate's payload (the shape `document.Payload` signs), the QR text and
the verification URL, and returns PDF bytes; no AWS, no environment, no clock (the PDF's creation
date is the issue date), so the same certificate always renders to the same bytes and a response
can be cached.

Why these pieces:
- fpdf2 lays the page out and embeds the font as a subset of the glyphs used (a page is ~30 KB).
  It reads the CFF outlines of Noto CJK as they are (reportlab takes TrueType outlines only).
- segno makes the QR code (pure Python); it is drawn as vector squares, so it prints sharp at any
  size and needs no imaging step.
- The font, Noto Sans CJK SC (SIL OFL 1.1, which allows embedding), ships in `fonts/` as a subset
  of 28,000 ideographs (`fonts/README.md`): Chinese text is real text in the PDF, extractable and
  searchable. A character the font lacks is refused with the field that holds it, never printed
  as a blank box; the error never repeats the text (a name is personal data).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import segno
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos
from fpdf.fonts import FontFace, TTFFont

FONT_FILE = Path(__file__).parent / "fonts" / "NotoSansCJKsc-Regular-subset.otf"
_FONT = "NotoSansSC"
_CHINA = dt.timezone(dt.timedelta(hours=8))

# A4 in millimetres: the margins, the label column and the QR code's side
_MARGIN = 20.0
_LABEL_WIDTH = 50.0
_QR_SIDE = 60.0

#: what is printed and under which label; a value is a path into the payload
_ROWS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("证照类型", "Kind", ("kind",)),
    ("发证机关", "Issuing authority", ("authority", "zh")),
    ("办理事项", "Service", ("service",)),
    ("持证人", "Holder", ("holder", "name")),
    ("发证日期", "Issued on", ("issuedOn",)),
    ("有效期", "Validity", ("validFrom",)),
    ("审批决定编号", "Decision ID", ("decisionId",)),
    ("规则版本", "Rule-set version", ("ruleSetVersion",)),
)
#: fields that may be null: the holder when the service's form names none, the end of validity
#: when the certificate holds until revoked
_NULLABLE = {("holder", "name"), ("validUntil",)}
_REQUIRED = (
    ("title", "zh"),
    ("title", "en"),
    ("number",),
    *(path for _, _, path in _ROWS),
    ("authority", "en"),
    ("validUntil",),
)


class Unprintable(ValueError):
    """The certificate cannot be laid out: a field is missing, not text, or has a character the
    shipped font lacks. `field` names it (dotted path); the message never repeats its value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def render(document: Mapping[str, Any], qr_payload: str, verification_url: str) -> bytes:
    """The certificate as a one-page A4 PDF (two if its texts are very long: nothing is cut)."""
    texts = _texts(document)
    _require_text("qrPayload", qr_payload)
    _require_text("verificationUrl", verification_url)
    pdf = _page(texts["number"], _issued_at(texts["issuedOn"]))
    missing = [field for field, text in texts.items() if _lacks_glyphs(pdf, text)]
    if missing:
        raise Unprintable(missing[0], "has characters the certificate font does not have")

    _heading(pdf, texts)
    _fields(pdf, texts)
    _qr_block(pdf, qr_payload, verification_url)
    return bytes(pdf.output())


def _texts(document: Mapping[str, Any]) -> dict[str, str]:
    """Every printed text by its dotted field name; null where null is allowed."""
    texts: dict[str, str] = {}
    for path in _REQUIRED:
        field = ".".join(path)
        value: Any = document
        for key in path:
            if not isinstance(value, Mapping) or key not in value:
                raise Unprintable(field, "is missing")
            value = value[key]
        if value is None and path in _NULLABLE:
            continue
        _require_text(field, value)
        texts[field] = value
    return texts


def _require_text(field: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise Unprintable(field, "must be non-empty text")


def _issued_at(issued_on: str) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(issued_on)
    except ValueError:
        raise Unprintable("issuedOn", "must be a date (YYYY-MM-DD)") from None
    return dt.datetime(day.year, day.month, day.day, tzinfo=_CHINA)


def _page(number: str, issued_at: dt.datetime) -> FPDF:
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(auto=True, margin=_MARGIN)
    pdf.set_creation_date(issued_at)
    pdf.set_lang("zh-CN")
    pdf.set_title(f"电子证照 Certificate {number}")
    pdf.set_creator("miaopi")
    pdf.add_font(_FONT, fname=str(FONT_FILE))
    pdf.set_font(_FONT, size=11)
    pdf.add_page()
    return pdf


def _lacks_glyphs(pdf: FPDF, text: str) -> bool:
    font = pdf.fonts[_FONT.lower()]
    assert isinstance(font, TTFFont)
    return any(ord(char) not in font.cmap for char in text if not char.isspace())


def _heading(pdf: FPDF, texts: Mapping[str, str]) -> None:
    # a double frame, as printed certificates have
    pdf.set_draw_color(150, 20, 20)
    pdf.set_line_width(0.8)
    pdf.rect(10, 10, pdf.w - 20, pdf.h - 20)
    pdf.set_line_width(0.3)
    pdf.rect(12.5, 12.5, pdf.w - 25, pdf.h - 25)
    pdf.set_draw_color(0)

    pdf.set_y(_MARGIN + 4)
    pdf.set_font(size=24)
    pdf.multi_cell(0, 11, texts["title.zh"], align=Align.C, **_NEXT_LINE)
    pdf.set_font(size=13)
    pdf.multi_cell(0, 7, texts["title.en"], align=Align.C, **_NEXT_LINE)
    pdf.ln(3)
    pdf.set_font(size=11)
    pdf.multi_cell(
        0, 6, f"证照编号 Certificate No.  {texts['number']}", align=Align.C, **_NEXT_LINE
    )
    pdf.ln(4)


def _fields(pdf: FPDF, texts: Mapping[str, str]) -> None:
    pdf.set_font(size=11)
    validity = f"{texts['validFrom']} 起 from · " + (
        f"至 {texts['validUntil']} until"
        if "validUntil" in texts
        else "长期有效（撤销前） until revoked"
    )
    shown = {
        **texts,
        "authority.zh": f"{texts['authority.zh']}\n{texts['authority.en']}",
        "holder.name": texts.get("holder.name", "—"),
        "validFrom": validity,
    }
    label_style = FontFace(color=(90, 90, 90), size_pt=9)
    with pdf.table(
        col_widths=(_LABEL_WIDTH, pdf.epw - _LABEL_WIDTH),
        first_row_as_headings=False,
        borders_layout="HORIZONTAL_LINES",
        line_height=5.5,
        padding=(1.6, 2),
        text_align=(Align.L, Align.L),
    ) as table:
        for zh, en, path in _ROWS:
            row = table.row()
            row.cell(f"{zh}  {en}", style=label_style)
            row.cell(shown[".".join(path)])
    pdf.ln(8)


def _qr_block(pdf: FPDF, qr_payload: str, verification_url: str) -> None:
    if pdf.y + _QR_SIDE + 30 > pdf.h - _MARGIN:
        pdf.add_page()
    qr = segno.make(qr_payload, error="m", micro=False)
    left, top = (pdf.w - _QR_SIDE) / 2, pdf.y
    _draw_qr(pdf, qr, left, top)
    pdf.set_y(top + _QR_SIDE + 2)
    pdf.set_font(size=10)
    pdf.multi_cell(
        0, 5.5, "扫码或访问以下网址核验 · Scan or visit to verify", align=Align.C, **_NEXT_LINE
    )
    pdf.set_font(size=9)
    pdf.multi_cell(0, 5, verification_url, align=Align.C, **_NEXT_LINE)
    pdf.ln(3)
    pdf.set_text_color(90, 90, 90)
    pdf.multi_cell(
        0,
        4.5,
        "本证照经电子签名，二维码含签名后的证照内容，可离线核验签名、在线核验状态。 "
        "This certificate is digitally signed: the QR code carries the signed certificate, "
        "whose signature can be checked offline and whose status online.",
        align=Align.C,
        **_NEXT_LINE,
    )
    pdf.set_text_color(0)


def _draw_qr(pdf: FPDF, qr: segno.QRCode, left: float, top: float) -> None:
    """Dark modules as filled squares, one rectangle per horizontal run; the quiet zone
    (4 modules) is part of the side."""
    border = 4
    module = _QR_SIDE / (qr.symbol_size(scale=1, border=border)[0])
    pdf.set_fill_color(0)
    for row_index, row in enumerate(qr.matrix):
        column = 0
        while column < len(row):
            if not row[column]:
                column += 1
                continue
            run = column
            while run < len(row) and row[run]:
                run += 1
            pdf.rect(
                left + (border + column) * module,
                top + (border + row_index) * module,
                (run - column) * module,
                module,
                style="F",
            )
            column = run


_NEXT_LINE: dict[str, Any] = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}
