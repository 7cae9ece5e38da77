"""The printable form of a sealed document: an A4 page in Chinese, with the issuer's seal mark
and, on a certificate, a QR code of its public verification URL (with its verification code).

The page is a rendering, not the document: what the seal covers is the registry's content
(shared.certificates), and the QR code leads anyone holding the paper to the registry's answer.
The seal drawn here shows whose seal it is (the issuing office's full name along its ring) and
a short fingerprint of the signature, so a clerk can compare a paper with the registry at a
glance. What a person reads carries no key id and no machine address: the seal's key id stays
in the registry, where verification checks it, and the verification URL in the QR code. A
reprint says so (补打, with its print number), so a second paper is told from the first.

The page is the official document in Chinese whatever language the printing clerk reads: its
texts are written here in Chinese, not translated per request.

Text is set in Noto CJK (Debian's fonts-noto-cjk, an OpenType/CFF collection), embedded as a
subset with its Unicode map, so the PDF's text can be searched and extracted. fpdf2 embeds
CFF-flavoured OpenType fonts (reportlab embeds TrueType outlines only).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import date

import segno
from fpdf import FPDF

from shared.crypto.sm import sm3
from shared.fonts import cjk_font

SEAL_RED = (200, 16, 32)
# Where the seal mark sits on the page (millimetres from the top left), and its outer radius.
SEAL_CENTRE = (160.0, 222.0)
SEAL_RADIUS = 24.0


@dataclass(frozen=True)
class PrintableDocument:
    """What the page shows; every value from the registry's sealed content."""

    kind: str  # certificate | rejection_notice
    number: str
    item_code: str
    item_name: str
    holder_name: str
    issuer_locality: str
    issuer_name: str  # the locality's name (shared.reference.localities)
    issuer_department: str
    issued_on: date
    valid_until: date | None
    reason: str | None
    seal_signature: bytes
    # What the QR code carries; None for a rejection notice (not publicly verifiable).
    verify_url: str | None
    # Which print of the document this is: 1 the first, 2 the first reprint (补打), ...
    print_number: int = 1

    @property
    def issuer(self) -> str:
        """The issuing office's full name (合肥市公安局)."""
        return f"{self.issuer_name}{self.issuer_department}"


def seal_fingerprint(signature: bytes) -> str:
    """A short fingerprint of a seal's signature (SM3, first 8 bytes in hex), printed under the
    seal mark to compare a paper with the registry."""
    return sm3(signature)[:8].hex()


def _qr_png(url: str) -> io.BytesIO:
    png = io.BytesIO()
    segno.make(url, error="m", micro=False).save(png, kind="png", scale=8, border=4)
    png.seek(0)
    return png


def _date(value: date) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


class _Page(FPDF):
    FONT = "cjk"


def _field(pdf: _Page, label: str, value: str, *, x: float, width: float) -> None:
    pdf.set_x(x)
    pdf.set_font(_Page.FONT, size=12)
    pdf.set_text_color(90, 90, 90)
    pdf.cell(30, 10, label)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(_Page.FONT, size=14)
    pdf.multi_cell(width - 30, 10, value, new_x="LMARGIN", new_y="NEXT")


def _seal_mark(pdf: _Page, document: PrintableDocument) -> None:
    """A red round seal: the issuing office's full name along the upper arc, a star, "电子印章",
    and below the ring the signature's fingerprint."""
    (cx, cy), radius = SEAL_CENTRE, SEAL_RADIUS
    pdf.set_draw_color(*SEAL_RED)
    pdf.set_text_color(*SEAL_RED)
    pdf.set_line_width(1.2)
    pdf.circle(x=cx, y=cy, radius=radius)
    pdf.set_line_width(0.3)
    pdf.circle(x=cx, y=cy, radius=radius - 2.0)

    star = []
    for point in range(10):
        angle = math.radians(-90 + point * 36)
        reach = 6.0 if point % 2 == 0 else 2.4
        star.append((cx + reach * math.cos(angle), cy + reach * math.sin(angle)))
    pdf.set_fill_color(*SEAL_RED)
    pdf.polygon(star, style="F")

    _ring_text(pdf, document.issuer, cx=cx, cy=cy, ring=radius - 7.0)
    pdf.set_font(_Page.FONT, size=9)
    label = "电子印章"
    pdf.text(cx - pdf.get_string_width(label) / 2, cy + 13.0, label)

    pdf.set_font(_Page.FONT, size=7)
    line = f"签名指纹 {seal_fingerprint(document.seal_signature)}"
    pdf.text(cx - pdf.get_string_width(line) / 2, cy + radius + 5.0, line)
    pdf.set_text_color(0, 0, 0)
    pdf.set_draw_color(0, 0, 0)


RING_SPAN = 240.0  # degrees of the ring the name may take, centred on the top
RING_FONT = 13.0  # points, for a short name; a longer one is set smaller to fit


def _ring_text(pdf: _Page, name: str, *, cx: float, cy: float, ring: float) -> None:
    """`name` along the upper arc of radius `ring`, each character upright towards the centre,
    spread over RING_SPAN as a seal's is; a long name's font shrunk until its characters no
    longer touch."""
    count = len(name)
    if count == 0:
        return
    step = min(45.0, RING_SPAN / count)  # degrees from one character to the next
    pitch = ring * math.radians(step)  # millimetres along the arc between characters
    pdf.set_font(_Page.FONT, size=RING_FONT)
    widest = max(pdf.get_string_width(character) for character in name)
    if widest > 0.9 * pitch:
        pdf.set_font(_Page.FONT, size=RING_FONT * 0.9 * pitch / widest)
    span = step * (count - 1)
    for position, character in enumerate(name):
        # Degrees clockwise from the top.
        along = -span / 2 + step * position
        theta = math.radians(along - 90)
        x, y = cx + ring * math.cos(theta), cy + ring * math.sin(theta)
        with pdf.rotation(-along, x, y):
            width = pdf.get_string_width(character)
            pdf.text(x - width / 2, y + 1.5, character)


def _reprint_mark(pdf: _Page, print_number: int) -> None:
    """补打 in the upper right corner of a second or later print, with its number."""
    mark = f"补打（第{print_number}次打印）"
    pdf.set_font(_Page.FONT, size=12)
    pdf.set_text_color(*SEAL_RED)
    pdf.text(190 - pdf.get_string_width(mark), 22, mark)
    pdf.set_text_color(0, 0, 0)


def render(document: PrintableDocument) -> bytes:
    """The document as an A4 PDF (FontMissing without a Chinese font). CPU-bound for about a
    second (the font is parsed and subset): call it from a worker thread."""
    face = cjk_font()
    pdf = _Page(orientation="portrait", unit="mm", format="A4")
    pdf.set_lang("zh-CN")
    pdf.set_title(f"{document.number} {document.item_name}")
    pdf.set_creator("Tongban delivery")
    pdf.set_auto_page_break(auto=False)
    pdf.add_font(_Page.FONT, "", str(face.path), collection_font_number=face.index)
    pdf.add_page()

    # A double frame, as a printed certificate has.
    pdf.set_draw_color(150, 30, 30)
    pdf.set_line_width(1.0)
    pdf.rect(10, 10, 190, 277)
    pdf.set_line_width(0.3)
    pdf.rect(13, 13, 184, 271)

    notice = document.kind == "rejection_notice"
    pdf.set_y(30)
    pdf.set_font(_Page.FONT, size=30)
    pdf.cell(
        0, 16, "不予许可决定书" if notice else "电子证照", align="C", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font(_Page.FONT, size=16)
    pdf.cell(0, 10, document.item_name, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(12)

    if document.print_number > 1:
        _reprint_mark(pdf, document.print_number)

    issuer = document.issuer
    fields = [
        ("申请人" if notice else "持证人", document.holder_name),
        ("事项名称", document.item_name),
        ("事项编码", document.item_code),
        ("决定机关" if notice else "发证机关", issuer),
        ("文书编号" if notice else "证照编号", document.number),
        ("决定日期" if notice else "发证日期", _date(document.issued_on)),
    ]
    if notice:
        fields.append(("不予许可理由", document.reason or ""))
    else:
        validity = _date(document.valid_until) if document.valid_until else "长期有效"
        fields.append(("有效期至", validity))
    for label, value in fields:
        _field(pdf, label, value, x=28, width=154)
        pdf.ln(2)

    if notice:
        pdf.ln(4)
        pdf.set_x(28)
        pdf.set_font(_Page.FONT, size=11)
        pdf.multi_cell(
            154,
            7,
            "如不服本决定，可以自收到本决定书之日起六十日内依法申请行政复议，"
            "或者在六个月内依法提起行政诉讼。",
        )

    # The issuer's seal, lower right; the verification QR code, lower left.
    pdf.set_font(_Page.FONT, size=12)
    pdf.text(104, 214, issuer)
    pdf.text(104, 222, _date(document.issued_on))
    _seal_mark(pdf, document)

    if document.verify_url is not None:
        pdf.image(_qr_png(document.verify_url), x=24, y=196, w=46, h=46)
        pdf.set_font(_Page.FONT, size=10)
        pdf.text(28, 247, "扫码核验真伪")
    return bytes(pdf.output())
