"""Print batches: which letters and cards go in, the merged PDF (one page each, Chinese text in an
embedded TrueType font), and who may see a batch."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from huitou.core.errors import NotFound, ValidationFailed
from huitou.followups.models import Message, PrintBatch
from huitou.followups.outbox import pdf, services

from .test_outbox_support import at, customer_of, grant, queue

pytestmark = pytest.mark.django_db
NOW = at(12)


def letter(owner, name="张伟", **kwargs):
    c = kwargs.pop("customer", None) or customer_of(
        owner, name=name, province="广东省", city="广州市", address="天河区天河路385号"
    )
    kwargs.setdefault("channel", "letter")
    kwargs.setdefault("purpose", "service")
    kwargs.setdefault("body", f"尊敬的{name}先生：\n\n感谢您选择我们，您的新车将于12月1日交付。")
    return queue(c, **kwargs)


def pages_of(data: bytes) -> PdfReader:
    assert data.startswith(b"%PDF-")
    return PdfReader(io.BytesIO(data))


def test_batch_takes_the_due_letters_and_cards_in_scope(org_world):
    w = org_world
    due_letter = letter(w.rep1)
    due_card = letter(w.rep1, name="李娜", channel="card", subject="生日快乐", body="祝您生日快乐！")
    future = letter(w.rep1, name="王芳", scheduled_for=at(9, day=30))
    others = letter(w.rep2, name="赵强")
    sms = queue(customer_of(w.rep1))
    batch = services.print_batch_create(actor=w.rep1, now=NOW)
    assert (batch.count, batch.created_by, batch.organisation) == (2, w.rep1, w.org)
    printed = Message.objects.filter(batch=batch)
    assert set(printed.values_list("pk", flat=True)) == {due_letter.pk, due_card.pk}
    assert set(printed.values_list("status", "provider", "sent_at")) == {("sent", "print", NOW)}
    for m in (future, others, sms):
        assert (Message.objects.get(pk=m.pk).status, Message.objects.get(pk=m.pk).batch) == ("queued", None)


def test_batch_by_channel_and_by_ids(org_world):
    w = org_world
    first, second = letter(w.rep1), letter(w.rep1, name="李娜")
    card = letter(w.rep1, name="王芳", channel="card")
    cards = services.print_batch_create(actor=w.manager1, channel="card", now=NOW)
    assert list(cards.messages.values_list("pk", flat=True)) == [card.pk]
    chosen = services.print_batch_create(actor=w.manager1, message_ids=[second.pk, card.pk], now=NOW)
    assert list(chosen.messages.values_list("pk", flat=True)) == [second.pk]
    assert Message.objects.get(pk=first.pk).status == "queued"


def test_marketing_letters_without_consent_are_suppressed_not_printed(org_world):
    w = org_world
    consenting = customer_of(w.rep1, name="张伟", address="天河路2号")
    grant(consenting, "letter")
    allowed = letter(w.rep1, customer=consenting, purpose="marketing")
    # Queued by the plan without a consent check: the batch checks again.
    refused = Message.objects.create(
        organisation=w.org,
        customer=customer_of(w.rep1, address="天河路1号"),
        channel="card",
        purpose="marketing",
        body="新春快乐",
        idempotency_key="plan-card-1",
        scheduled_for=at(9),
    )
    batch = services.print_batch_create(actor=w.owner, now=NOW)
    assert list(batch.messages.values_list("pk", flat=True)) == [allowed.pk]
    refused.refresh_from_db()
    assert (refused.status, refused.last_error, refused.batch) == (
        "suppressed",
        "no marketing consent for letter",
        None,
    )


def test_nothing_due_is_refused_and_no_batch_is_left(org_world):
    letter(org_world.rep1, scheduled_for=at(9, day=30))
    with pytest.raises(ValidationFailed):
        services.print_batch_create(actor=org_world.owner, now=NOW)
    assert not PrintBatch.objects.exists()


def test_after_sales_has_no_print_batches(org_world):
    letter(org_world.rep1)
    with pytest.raises(NotFound):
        services.print_batch_create(actor=org_world.aftersales, now=NOW)
    assert not PrintBatch.objects.exists()


def test_the_pdf_has_one_page_per_message_with_the_chinese_text(org_world):
    w = org_world
    letter(w.rep1, name="张伟")
    letter(
        w.rep1, name="欧阳娜娜", body="尊敬的欧阳女士：" + "感谢您一直以来的信任与支持。" * 200
    )  # shrinks to fit
    letter(w.rep1, name="李娜", channel="card", subject="生日快乐", body="祝您生日快乐，万事如意！")
    batch = services.print_batch_create(actor=w.rep1, now=NOW)
    reader = pages_of(services.print_batch_pdf(actor=w.rep1, batch_id=batch.pk))
    assert len(reader.pages) == 3
    texts = [page.extract_text() for page in reader.pages]
    assert "张伟" in texts[0] and "广东省广州市天河区天河路385号" in texts[0] and "12月1日交付" in texts[0]
    assert "欧阳娜娜" in texts[1]
    assert "李娜" in texts[2] and "生日快乐" in texts[2] and "万事如意" in texts[2]
    assert "天河店" in texts[0] and "rep1" in texts[0]  # signed by the rep and the store
    sizes = [(round(float(p.mediabox.width)), round(float(p.mediabox.height))) for p in reader.pages]
    assert sizes == [(595, 842), (595, 842), (595, 420)]  # A4 portrait, A5 landscape


def test_the_cjk_font_is_embedded_truetype(org_world):
    letter(org_world.rep1)
    batch = services.print_batch_create(actor=org_world.rep1, now=NOW)
    reader = pages_of(services.print_batch_pdf(actor=org_world.rep1, batch_id=batch.pk))
    fonts = [ref.get_object() for ref in reader.pages[0]["/Resources"]["/Font"].values()]
    # Every font on the page is a TrueType subset whose glyf outlines travel inside the PDF
    # (/FontFile2); no font is left for the printing machine to supply.
    # (reportlab's canvas also lists its base-14 default, Helvetica, which no text of ours uses.)
    cjk = [font for font in fonts if str(font["/BaseFont"]) != "/Helvetica"]
    assert cjk
    for font in cjk:
        descriptor = font["/FontDescriptor"].get_object()
        assert (font["/Subtype"], "/FontFile2" in descriptor) == ("/TrueType", True)
        assert "+" in str(font["/BaseFont"])  # subset tag, e.g. AAAAAA+WenQuanYiMicroHei-0


def test_the_font_comes_from_the_registry_package_or_the_system():
    path = pdf.font_path()
    assert path.suffix in {".ttc", ".ttf"} and path.is_file()


def test_a_missing_configured_font_is_a_loud_error(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.OUTBOX = {**settings.OUTBOX, "PDF_FONT": "/nonexistent/font.ttf"}
    with pytest.raises(ImproperlyConfigured):
        pdf.font_path()


def test_a_rep_sees_only_batches_with_their_customers(org_world):
    w = org_world
    letter(w.rep1)
    theirs = services.print_batch_create(actor=w.rep1, now=NOW)
    letter(w.rep2, name="赵强")
    mixed_owner = letter(w.rep1, name="钱多多")
    shared = services.print_batch_create(actor=w.manager1, now=NOW)
    with pytest.raises(NotFound):
        services.print_batch_pdf(actor=w.rep2, batch_id=theirs.pk)
    with pytest.raises(NotFound):
        services.print_batch_pdf(actor=w.other_owner, batch_id=theirs.pk)
    # In a shared batch a rep gets only their own customers' pages.
    reader = pages_of(services.print_batch_pdf(actor=w.rep1, batch_id=shared.pk))
    assert len(reader.pages) == 1
    assert "钱多多" in reader.pages[0].extract_text()
    assert shared.count == 2 and mixed_owner.pk in shared.messages.values_list("pk", flat=True)
