"""Print-ready PDF for letters (A4) and cards (A5 landscape), one page per message.

Chinese text must print the same on any machine, so the font is embedded (subset) in the PDF,
never referenced by name. reportlab embeds TrueType outlines (glyf) only, not CFF/OTF, so the font
is a TrueType collection: WenQuanYi Micro Hei (Apache-2.0 / GPL-3.0 with font exception).

Where the font comes from, first found wins:
1. ``settings.OUTBOX["PDF_FONT"]`` (env ``HUITOU_PDF_FONT``): any CJK .ttf/.ttc with glyf outlines;
2. the PyPI package ``paperang-p2-fonts-cjk``, which ships ``wqy-microhei.ttc`` (installs
   with pip, no root needed — the project's default);
3. Debian's ``fonts-wqy-microhei`` / ``fonts-wqy-zenhei`` under /usr/share/fonts.
None found is a loud configuration error, not a PDF of empty boxes.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone, translation
from django.utils.formats import date_format
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4, A5, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Frame, KeepInFrame, Paragraph, Spacer

from ..models import Channel

if TYPE_CHECKING:
    from reportlab.platypus import Flowable

    from ..models import Message

FONT_NAME = "HuitouCJK"
SYSTEM_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
_lock = threading.Lock()


def font_path() -> Path:
    configured = str(settings.OUTBOX.get("PDF_FONT") or "")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise ImproperlyConfigured(f"HUITOU_PDF_FONT points to a missing file: {configured}")
        return path
    try:
        import paperang_p2_fonts_cjk  # type: ignore[import-not-found,import-untyped,unused-ignore]

        packaged = Path(paperang_p2_fonts_cjk.__file__).parent / "fonts" / "wqy-microhei.ttc"
        if packaged.is_file():
            return packaged
    except ImportError:
        pass
    for candidate in SYSTEM_FONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise ImproperlyConfigured(
        "No CJK TrueType font for letters: pip install paperang-p2-fonts-cjk, or apt-get install "
        "fonts-wqy-microhei, or set HUITOU_PDF_FONT to a .ttf/.ttc file with TrueType outlines."
    )


@lru_cache(maxsize=1)
def font_name() -> str:
    """Register the embedded CJK font once per process and return its reportlab name."""
    with _lock:
        # The first face of a collection is the proportional one (the second is monospaced).
        font = TTFont(FONT_NAME, str(font_path()), subfontIndex=0)
        pdfmetrics.registerFont(font)
    return FONT_NAME


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font, fontSize=11.5, leading=19, wordWrap="CJK")
    return {
        "body": ParagraphStyle("body", parent=base, spaceAfter=9),
        "small": ParagraphStyle(
            "small", parent=base, fontSize=9.5, leading=14, textColor=colors.HexColor("#444444")
        ),
        "sender": ParagraphStyle("sender", parent=base, fontSize=12, leading=16),
        "date": ParagraphStyle("date", parent=base, fontSize=10.5, leading=14, alignment=TA_RIGHT),
        "recipient": ParagraphStyle("recipient", parent=base, fontSize=12, leading=18),
        "subject": ParagraphStyle("subject", parent=base, fontSize=15, leading=22, spaceAfter=8),
        "closing": ParagraphStyle("closing", parent=base, alignment=TA_RIGHT),
        "card_title": ParagraphStyle(
            "card_title",
            parent=base,
            fontSize=22,
            leading=30,
            alignment=TA_CENTER,
            textColor=colors.HexColor("#9b1c1c"),
            spaceAfter=10,
        ),
        "card_body": ParagraphStyle(
            "card_body", parent=base, fontSize=13, leading=22, alignment=TA_CENTER, spaceAfter=6
        ),
        "card_sign": ParagraphStyle("card_sign", parent=base, fontSize=11, leading=16, alignment=TA_RIGHT),
        "left": ParagraphStyle("left", parent=base, alignment=TA_LEFT),
    }


def _text(value: str) -> str:
    """Plain text as Paragraph markup: escaped, line breaks kept."""
    return "<br/>".join(escape(line) for line in value.strip().splitlines())


def _paragraphs(body: str, style: ParagraphStyle) -> list[Flowable]:
    blocks = [b for b in body.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return [Paragraph(_text(block), style) for block in blocks]


def _local_date(message: Message) -> dt.date:
    moment = message.sent_at or message.scheduled_for or timezone.now()
    return timezone.localtime(moment).date()


def _sender(message: Message) -> tuple[str, str]:
    """(who signs, where from): the customer's rep and store, else the organisation."""
    customer = message.customer
    rep = customer.owner.label if customer.owner_id and customer.owner else ""
    place = customer.store.name if customer.store_id and customer.store else message.organisation.name
    return rep, place


def _address(message: Message) -> str:
    from .services import postal_address

    return message.to or postal_address(message.customer)


def _letter(message: Message, styles: dict[str, ParagraphStyle], day: str) -> list[Flowable]:
    rep, place = _sender(message)
    story: list[Flowable] = [
        Paragraph(_text(message.organisation.name), styles["sender"]),
        Paragraph(_text(place), styles["small"]) if place != message.organisation.name else Spacer(1, 0),
        Paragraph(escape(day), styles["date"]),
        Spacer(1, 10 * mm),
        Paragraph(_text(message.customer.name), styles["recipient"]),
        Paragraph(_text(_address(message)), styles["small"]),
        Spacer(1, 12 * mm),
    ]
    if message.subject:
        story.append(Paragraph(_text(message.subject), styles["subject"]))
    story += _paragraphs(message.body, styles["body"])
    story.append(Spacer(1, 12 * mm))
    for line in (rep, place, day):
        if line:
            story.append(Paragraph(_text(line), styles["closing"]))
    return story


def _card(message: Message, styles: dict[str, ParagraphStyle], day: str) -> list[Flowable]:
    rep, place = _sender(message)
    story: list[Flowable] = []
    if message.subject:
        story.append(Paragraph(_text(message.subject), styles["card_title"]))
    story.append(Paragraph(_text(message.customer.name), styles["card_body"]))
    story.append(Spacer(1, 4 * mm))
    story += _paragraphs(message.body, styles["card_body"])
    story.append(Spacer(1, 8 * mm))
    sign = " · ".join(part for part in (rep, place) if part)
    if sign:
        story.append(Paragraph(_text(sign), styles["card_sign"]))
    story.append(Paragraph(escape(day), styles["card_sign"]))
    return story


def _card_border(canvas: Canvas, width: float, height: float) -> None:
    canvas.saveState()
    canvas.setStrokeColor(colors.HexColor("#9b1c1c"))
    canvas.setLineWidth(1.6)
    canvas.rect(8 * mm, 8 * mm, width - 16 * mm, height - 16 * mm)
    canvas.setLineWidth(0.5)
    canvas.rect(10 * mm, 10 * mm, width - 20 * mm, height - 20 * mm)
    canvas.restoreState()


def render_messages(messages: Iterable[Message]) -> bytes:
    """One merged PDF, a page per message: A4 portrait for letters, A5 landscape for cards.
    Long texts shrink to fit their page instead of spilling onto a second one."""
    font = font_name()
    styles = _styles(font)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle("huitou print batch")
    canvas.setCreator("huitou")
    pages = 0
    with translation.override(settings.LANGUAGE_CODE):
        for message in messages:
            day = date_format(_local_date(message), "DATE_FORMAT")
            if message.channel == Channel.CARD:
                width, height = landscape(A5)
                canvas.setPageSize((width, height))
                _card_border(canvas, width, height)
                margin = 18 * mm
                story = _card(message, styles, day)
            else:
                width, height = A4
                canvas.setPageSize((width, height))
                margin = 25 * mm
                story = _letter(message, styles, day)
            frame = Frame(margin, margin, width - 2 * margin, height - 2 * margin, showBoundary=0)
            frame.addFromList(
                [KeepInFrame(width - 2 * margin, height - 2 * margin, story, mode="shrink")], canvas
            )
            canvas.showPage()
            pages += 1
    if pages == 0:
        canvas.setPageSize(A4)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()
