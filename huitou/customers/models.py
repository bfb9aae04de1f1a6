"""The customer archive (DOMAIN §1): customers, contact points, consent, products, purchases, timeline."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from huitou.core.models import TimeStampedModel


class Calendar(models.TextChoices):
    SOLAR = "solar", _("Solar (Gregorian)")
    LUNAR = "lunar", _("Lunar")


class Tag(models.Model):
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(_("name"), max_length=40)

    class Meta:
        verbose_name = _("tag")
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="tag_name_unique")]

    def __str__(self) -> str:
        return self.name


class Customer(TimeStampedModel):
    class Kind(models.TextChoices):
        PERSON = "person", _("Person")
        COMPANY = "company", _("Company")

    class Gender(models.TextChoices):
        UNKNOWN = "", _("Unknown")
        MALE = "m", _("Male")
        FEMALE = "f", _("Female")

    class Source(models.TextChoices):
        WALK_IN = "walk_in", _("Walk-in")
        REFERRAL = "referral", _("Referral")
        CAMPAIGN = "campaign", _("Campaign")
        PHONE = "phone", _("Phone enquiry")
        ONLINE = "online", _("Online")
        EVENT = "event", _("Event / exhibition")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        PROSPECT = "prospect", _("Prospect")
        ACTIVE = "active", _("Customer")
        LOST = "lost", _("Lost")
        ERASED = "erased", _("Erased (anonymised)")

    class Tier(models.TextChoices):
        NONE = "", _("Not tiered")
        GOLD = "gold", _("Gold")
        SILVER = "silver", _("Silver")
        BRONZE = "bronze", _("Bronze")

    class Type(models.TextChoices):
        NONE = "", _("Not set")
        PROFIT = "profit", _("Profit type")
        VOLUME = "volume", _("Volume type")
        RELATIONSHIP = "relationship", _("Relationship type")
        STRATEGIC = "strategic", _("Strategic type")

    # FK indexes that a composite index below already leads with are switched off: every index
    # is paid on each insert, and an import writes a million rows (LIMITS.md, bench/REPORT.md).
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    external_id = models.CharField(_("external id"), max_length=64, null=True, blank=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(_("name"), max_length=120)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, blank=True, default="")
    company = models.CharField(_("company / employer"), max_length=120, blank=True)
    title = models.CharField(_("job title"), max_length=64, blank=True)
    phone = models.CharField(_("mobile phone"), max_length=20, blank=True)
    wechat = models.CharField(_("WeChat"), max_length=64, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    province = models.CharField(_("province"), max_length=32, blank=True)
    city = models.CharField(_("city"), max_length=32, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)

    birthday = models.DateField(_("birthday (solar)"), null=True, blank=True)
    birthday_calendar = models.CharField(
        _("birthday calendar"), max_length=5, choices=Calendar.choices, default=Calendar.SOLAR
    )
    birthday_lunar_month = models.PositiveSmallIntegerField(_("lunar birthday month"), null=True, blank=True)
    birthday_lunar_day = models.PositiveSmallIntegerField(_("lunar birthday day"), null=True, blank=True)
    birthday_lunar_leap = models.BooleanField(_("leap month"), default=False)

    personality = models.TextField(_("personality"), blank=True)
    preferences = models.TextField(_("preferences"), blank=True)
    special_needs = models.TextField(_("special needs"), blank=True)
    form_family = models.TextField(_("family (F)"), blank=True)
    form_occupation = models.TextField(_("occupation (O)"), blank=True)
    form_recreation = models.TextField(_("recreation (R)"), blank=True)
    form_money = models.TextField(_("money (M)"), blank=True)

    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.WALK_IN)
    source_detail = models.CharField(_("campaign / source detail"), max_length=120, blank=True)
    referred_by = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("referred by"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="customers",
        verbose_name=_("owner rep"),
    )
    store = models.ForeignKey(
        "accounts.Store",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="customers",
        verbose_name=_("store"),
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers", verbose_name=_("tags"))

    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    tier = models.CharField(_("value tier"), max_length=6, choices=Tier.choices, blank=True, default="")
    customer_type = models.CharField(
        _("customer type"), max_length=12, choices=Type.choices, blank=True, default=""
    )
    lost_reason = models.CharField(_("lost reason"), max_length=255, blank=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_from"
    )
    anonymised_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    # History is looked up by customer id only; indexes copied from the live table would double the
    # write cost of every change and import.
    history = HistoricalRecords(
        user_db_constraint=False,
        excluded_fields=["updated_at"],
        no_db_index=["organisation", "owner", "store", "referred_by", "merged_into", "external_id"],
    )

    class Meta:
        verbose_name = _("customer")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "external_id"], name="customer_external_id_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["organisation", "id"], name="cust_org_id_idx"),
            models.Index(fields=["owner", "id"], name="cust_owner_id_idx"),
            models.Index(fields=["store", "id"], name="cust_store_id_idx"),
            models.Index(fields=["organisation", "name"], name="cust_org_name_idx"),
            models.Index(fields=["organisation", "status", "id"], name="cust_org_status_idx"),
            models.Index(fields=["organisation", "tier", "id"], name="cust_org_tier_idx"),
            models.Index(fields=["organisation", "customer_type", "id"], name="cust_org_type_idx"),
            models.Index(fields=["organisation", "source", "id"], name="cust_org_source_idx"),
            models.Index(fields=["organisation", "updated_at"], name="cust_org_updated_idx"),
            # New prospects per period (the sales funnel of the account reports).
            models.Index(fields=["organisation", "created_at"], name="cust_org_created_idx"),
            models.Index(fields=["name", "birthday"], name="cust_name_birthday_idx"),
            models.Index(fields=["phone"], name="cust_phone_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class CustomerSearchKey(models.Model):
    """Exact-match search keys (see ``huitou.core.text``); rebuilt by the services on every write."""

    # A derived table, rebuilt from the customer by the services: no database-level constraint, so
    # an import does not pay a deferred foreign-key check for each of a customer's keys (Django
    # still cascades deletes).
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="search_keys", db_index=False, db_constraint=False
    )
    key = models.CharField(max_length=24)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "customer"], name="search_key_unique")]
        indexes = [models.Index(fields=["customer"], name="search_key_customer_idx")]


class CustomerPhone(models.Model):
    """Further numbers beyond the primary one kept on the customer."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="phones", db_index=False)
    number = models.CharField(_("number"), max_length=20)
    label = models.CharField(_("label"), max_length=32, blank=True)
    history = HistoricalRecords(user_db_constraint=False, no_db_index=["number"])

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "number"], name="customer_phone_unique")]
        indexes = [models.Index(fields=["number"], name="customer_phone_number_idx")]


class PersonalDate(models.Model):
    class Kind(models.TextChoices):
        WEDDING = "wedding", _("Wedding day")
        CHILD_BIRTHDAY = "child_birthday", _("Child's birthday")
        SPOUSE_BIRTHDAY = "spouse_birthday", _("Spouse's birthday")
        COMPANY_ANNIVERSARY = "company_anniversary", _("Company anniversary")
        OTHER = "other", _("Other")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="personal_dates")
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    label = models.CharField(_("label"), max_length=64, blank=True)
    calendar = models.CharField(_("calendar"), max_length=5, choices=Calendar.choices, default=Calendar.SOLAR)
    date = models.DateField(_("date (solar)"), null=True, blank=True)
    lunar_month = models.PositiveSmallIntegerField(null=True, blank=True)
    lunar_day = models.PositiveSmallIntegerField(null=True, blank=True)
    lunar_leap = models.BooleanField(default=False)
    history = HistoricalRecords(user_db_constraint=False)


class Consent(models.Model):
    """Current marketing consent per channel. Its history table is the consent ledger."""

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        EMAIL = "email", _("E-mail")
        PHONE = "phone", _("Phone call")
        WECHAT = "wechat", _("WeChat")
        LETTER = "letter", _("Letter / card")

    class Source(models.TextChoices):
        FORM = "form", _("Signed form")
        VERBAL = "verbal", _("Verbal, recorded by staff")
        IMPORT = "import", _("Import")
        UNSUBSCRIBE_LINK = "unsubscribe_link", _("Unsubscribe link")
        SMS_REPLY = "sms_reply", _("SMS reply (退订)")
        API = "api", _("API")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents", db_index=False)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    granted = models.BooleanField(_("granted"))
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    recorded_at = models.DateTimeField(_("recorded at"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, db_index=False
    )
    history = HistoricalRecords(user_db_constraint=False, no_db_index=["customer", "recorded_by"])

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "channel"], name="consent_channel_unique")]


class Product(TimeStampedModel):
    class Kind(models.TextChoices):
        VEHICLE = "vehicle", _("Vehicle")
        ITEM = "item", _("Item")
        SERVICE = "service", _("Service")

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.PROTECT, related_name="+")
    sku = models.CharField(_("SKU / model code"), max_length=64)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.ITEM)
    category = models.CharField(_("category"), max_length=64, blank=True)
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2, null=True, blank=True)
    usage_notes = models.TextField(_("usage notes"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords(user_db_constraint=False, excluded_fields=["updated_at"])

    class Meta:
        verbose_name = _("product")
        constraints = [models.UniqueConstraint(fields=["organisation", "sku"], name="product_sku_unique")]

    def __str__(self) -> str:
        return self.name


class OwnedProduct(TimeStampedModel):
    """A product a customer owns (customer–product list); for a dealer, the vehicle."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="owned_products", db_index=False
    )
    product = models.ForeignKey(
        Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="owners", db_index=False
    )
    external_id = models.CharField(_("external id"), max_length=64, null=True, blank=True)
    description = models.CharField(_("description / model"), max_length=120, blank=True)
    vin = models.CharField(_("VIN"), max_length=17, null=True, blank=True)
    plate = models.CharField(_("plate"), max_length=16, blank=True)
    delivered_on = models.DateField(_("delivery date"), null=True, blank=True)
    mileage_km = models.PositiveIntegerField(_("mileage (km)"), null=True, blank=True)
    mileage_on = models.DateField(_("mileage read on"), null=True, blank=True)
    insurance_expires_on = models.DateField(_("insurance expires on"), null=True, blank=True)
    usage = models.CharField(_("use"), max_length=120, blank=True)
    active = models.BooleanField(_("still owned"), default=True)
    history = HistoricalRecords(
        user_db_constraint=False,
        excluded_fields=["updated_at"],
        no_db_index=["organisation", "customer", "product", "external_id", "vin"],
    )

    class Meta:
        verbose_name = _("owned product")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "vin"], name="owned_vin_unique"),
            models.UniqueConstraint(fields=["organisation", "external_id"], name="owned_external_id_unique"),
        ]
        indexes = [
            models.Index(fields=["customer", "delivered_on"], name="owned_customer_idx"),
            models.Index(fields=["product", "customer"], name="owned_product_idx"),
            models.Index(fields=["organisation", "delivered_on"], name="owned_delivered_idx"),
            # Partial: only cars with a known expiry pay for it (the plan's insurance reminders).
            models.Index(
                fields=["organisation", "insurance_expires_on"],
                name="owned_insurance_idx",
                condition=models.Q(insurance_expires_on__isnull=False),
            ),
            # Duplicate detection groups by plate along this index (customers.dedupe).
            models.Index(fields=["plate", "customer"], name="owned_plate_idx"),
            # Cars added or changed since a moment (the plan's maintenance state catches up from them).
            models.Index(fields=["organisation", "updated_at"], name="owned_org_updated_idx"),
        ]


class Purchase(TimeStampedModel):
    class Kind(models.TextChoices):
        FIRST = "first", _("First purchase")
        REPLACEMENT = "replacement", _("Replacement purchase")
        EXPANSION = "expansion", _("Expansion purchase")
        SERVICE = "service", _("Service / workshop visit")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="purchases", db_index=False)
    store = models.ForeignKey(
        "accounts.Store", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sales",
        db_index=False,
    )
    external_id = models.CharField(_("external id"), max_length=64, null=True, blank=True)
    ordered_on = models.DateField(_("date"))
    # Dates the contact plan reacts to: thank-you letter confirming the promised delivery,
    # ship-day notice, arrival check (DOMAIN §3).
    promised_on = models.DateField(_("promised delivery"), null=True, blank=True)
    shipped_on = models.DateField(_("shipped on"), null=True, blank=True)
    arrives_on = models.DateField(_("expected arrival"), null=True, blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.FIRST)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    margin = models.DecimalField(_("margin"), max_digits=14, decimal_places=2, default=Decimal("0"))
    payment_due_on = models.DateField(_("payment due"), null=True, blank=True)
    paid_amount = models.DecimalField(_("paid"), max_digits=14, decimal_places=2, default=Decimal("0"))
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    # The delivery day of a sale (the first of promised delivery, expected arrival and order date
    # that is set), kept by the database: the sales reports filter and group on it, and an
    # expression has neither statistics nor an index-only scan. Never written by the application.
    sale_day = models.GeneratedField(
        expression=Coalesce("promised_on", "arrives_on", "ordered_on"),
        output_field=models.DateField(),
        db_persist=True,
        verbose_name=_("delivery day"),
    )
    # What is still owed on the sale, kept by the database. The receivables filter on it
    # (``open_amount > 0``): a comparison of two columns has no statistics, so PostgreSQL guessed a
    # third of 10M sales open and scanned them all instead of the partial index (1.6 s); a column of
    # its own has a histogram. Never written by the application.
    open_amount = models.GeneratedField(
        expression=models.F("amount") - models.F("paid_amount"),
        output_field=models.DecimalField(max_digits=14, decimal_places=2),
        db_persist=True,
        verbose_name=_("open amount"),
    )
    history = HistoricalRecords(
        user_db_constraint=False,
        excluded_fields=["updated_at", "sale_day", "open_amount"],
        no_db_index=["organisation", "customer", "store", "rep", "external_id"],
    )

    class Meta:
        verbose_name = _("purchase")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "external_id"], name="purchase_external_id_unique"
            ),
        ]
        indexes = [
            # Covering for per-customer count / last day / sum (LIMITS.md: covering beats a walk).
            models.Index(fields=["customer", "ordered_on", "amount"], name="purchase_customer_day_idx"),
            # Receivables (account reports): only the sales not yet paid in full, which in a
            # healthy archive are a small share of the rows.
            models.Index(
                fields=["organisation", "payment_due_on"],
                name="purchase_open_idx",
                condition=models.Q(open_amount__gt=0),
                # The customer too: a scoped viewer's join to their customers stays index-only.
                include=["ordered_on", "amount", "paid_amount", "store", "rep", "customer"],
            ),
            # The same unpaid sales by customer: a rep's or a manager's receivables reach them
            # through their customers, and one account's ageing reads its own.
            models.Index(
                fields=["customer"],
                name="purchase_open_customer_idx",
                condition=models.Q(open_amount__gt=0),
                include=["payment_due_on", "ordered_on", "amount", "paid_amount", "store", "rep"],
            ),
            # Covering, so the reports that group a period's sales per customer (retention,
            # cost-to-serve's margin) read the index alone, not 10M rows of the table.
            models.Index(
                fields=["organisation", "ordered_on"],
                name="purchase_org_day_idx",
                include=["customer", "amount", "margin"],
            ),
            models.Index(fields=["rep", "ordered_on"], name="purchase_rep_day_idx"),
            # Partial, so imports of purchases without these dates pay nothing (the plan's cadences).
            models.Index(
                fields=["organisation", "shipped_on"],
                name="purchase_shipped_idx",
                condition=models.Q(shipped_on__isnull=False),
            ),
            models.Index(
                fields=["organisation", "arrives_on"],
                name="purchase_arrives_idx",
                condition=models.Q(arrives_on__isnull=False),
            ),
            # Workshop visits by day, covering the customer (the plan's service reminders read
            # every customer's last visit of the past months from it, index-only). Partial: sales
            # rows, most of an import, pay nothing.
            models.Index(
                fields=["organisation", "ordered_on", "customer"],
                name="purchase_service_day_idx",
                condition=models.Q(kind="service"),
            ),
            # Workshop visits recorded or changed since a moment (the plan's maintenance state
            # catches up from them).
            models.Index(
                fields=["organisation", "updated_at"],
                name="purchase_service_updated_idx",
                condition=models.Q(kind="service"),
            ),
            # Sales by delivery day (quotas, scorecard, viral coefficient, curve, the plan's
            # referral ask), covering what those reports group by (PostgreSQL; SQLite ignores
            # ``include``).
            models.Index(
                fields=["organisation", "sale_day"],
                name="purchase_sale_day_idx",
                include=["customer", "rep", "store"],
                condition=~models.Q(kind="service"),
            ),
        ]


class PurchaseLine(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    description = models.CharField(_("description"), max_length=120, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=10, decimal_places=2, default=Decimal("1"))
    unit_price = models.DecimalField(_("unit price"), max_digits=14, decimal_places=2)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)


class Activity(models.Model):
    """One touch on the customer's timeline."""

    class Kind(models.TextChoices):
        CALL = "call", _("Phone call")
        VISIT = "visit", _("Visit")
        LETTER = "letter", _("Letter / card")
        SMS = "sms", _("SMS")
        EMAIL = "email", _("E-mail")
        WECHAT = "wechat", _("WeChat")
        GIFT = "gift", _("Gift given")
        NOTE = "note", _("Note")
        COMPLAINT = "complaint", _("Complaint")
        SURVEY = "survey", _("Survey")
        REFERRAL = "referral", _("Referral")
        PURCHASE = "purchase", _("Purchase")
        SERVICE = "service", _("Workshop visit")
        SYSTEM = "system", _("System")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="activities", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    occurred_at = models.DateTimeField(_("when"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, db_index=False
    )
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("details"), blank=True)
    gift_name = models.CharField(_("gift"), max_length=120, blank=True)
    purchase = models.ForeignKey(Purchase, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        indexes = [
            models.Index(fields=["customer", "-occurred_at"], name="activity_timeline_idx"),
            models.Index(fields=["user", "-occurred_at"], name="activity_user_idx"),
            models.Index(fields=["customer", "kind", "gift_name"], name="activity_gift_idx"),
        ]


class Testimonial(TimeStampedModel):
    """客户见证: the customer's words about a product, usable only with their consent."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="testimonials")
    product = models.ForeignKey(
        Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="testimonials"
    )
    text = models.TextField(_("testimonial"))
    consent_given = models.BooleanField(_("customer consents to its use"), default=False)
    consent_at = models.DateTimeField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    history = HistoricalRecords(user_db_constraint=False, excluded_fields=["updated_at"])


class ConfidentialNote(TimeStampedModel):
    """Readable only by the owner rep, managers in scope and the owner (DOMAIN §1, §9)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="confidential_notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    body = models.TextField(_("note"))
    history = HistoricalRecords(user_db_constraint=False, excluded_fields=["updated_at"])


class PrivacyRequest(models.Model):
    """A PIPL request (export or erasure) and what was done about it."""

    class Kind(models.TextChoices):
        EXPORT = "export", _("Export of personal data")
        ERASE = "erase", _("Erasure / anonymisation")

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, related_name="privacy_requests"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    reason = models.CharField(max_length=255, blank=True)
    done_at = models.DateTimeField()


class ImportJob(models.Model):
    """One import started from the import page; the worker updates it as chunks complete."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    kind = models.CharField(_("kind"), max_length=16)
    file_path = models.CharField(max_length=500)
    original_name = models.CharField(_("file"), max_length=255)
    dry_run = models.BooleanField(_("dry run"), default=False)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    errors_path = models.CharField(max_length=500, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("import job")
        indexes = [models.Index(fields=["organisation", "-created_at"], name="import_job_org_idx")]

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.total_rows:
            return 0
        return min(99, int(100 * self.processed_rows / self.total_rows))
