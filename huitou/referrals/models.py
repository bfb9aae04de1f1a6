"""The referral system (一拓一, DOMAIN §5): referred people as leads, their audit, rewards, vouchers.

A ``Referral`` is one referred person: a lead linked to the customer who named them (never free
text). It moves submitted → verified → contacted → quoted → won | lost, or is rejected by the audit
or the fraud review. Every move is written to ``ReferralEvent``; every voucher change to
``VoucherEntry``. "Only once" rules are unique constraints: one live referral per person and
organisation (the first valid one wins), one reward per referral and beneficiary, one code per
voucher, and a voucher is redeemed by a conditional UPDATE so two desks cannot both redeem it.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from huitou.core.models import TimeStampedModel


class Stage(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    VERIFIED = "verified", _("Verified")
    CONTACTED = "contacted", _("Contacted / visited")
    QUOTED = "quoted", _("Test drive / quote")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")
    REJECTED = "rejected", _("Rejected")


# Stages in which a referral counts toward quotas and rep rewards: a DCRC agent verified it.
COUNTED_STAGES = (Stage.VERIFIED, Stage.CONTACTED, Stage.QUOTED, Stage.WON, Stage.LOST)
OPEN_STAGES = (Stage.SUBMITTED, Stage.VERIFIED, Stage.CONTACTED, Stage.QUOTED)


class Relation(models.TextChoices):
    FRIEND = "friend", _("Friend")
    FAMILY = "family", _("Family")
    COLLEAGUE = "colleague", _("Colleague")
    BUSINESS = "business", _("Business partner")
    OTHER = "other", pgettext_lazy("relation", "Other")


class Channel(models.TextChoices):
    DELIVERY = "delivery", _("Referral form at delivery")
    SELF_SERVICE = "self", _("Customer's own link")
    CALL = "call", _("Follow-up call")
    EVENT = "event", _("Event")
    CLUB = "club", _("Customer club")
    OTHER = "other", pgettext_lazy("channel", "Other")


class Flag(models.TextChoices):
    SELF_REFERRAL = "self_referral", _("Refers themselves")
    DUPLICATE = "duplicate", _("Already referred by someone else")
    EXISTING_CUSTOMER = "existing_customer", _("Already a customer")
    MONTHLY_CAP = "monthly_cap", _("Over the monthly cap")


class Review(models.TextChoices):
    NONE = "", _("Not needed")
    PENDING = "pending", _("Waiting for review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class AuditOutcome(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed: real prospect, agreed to be contacted")
    NO_ANSWER = "no_answer", _("No answer, try again")
    NOT_INTERESTED = "not_interested", _("Real, but not interested")
    FAKE = "fake", _("Not real (wrong number, made up, did not know the referrer)")


class Referral(models.Model):
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    referrer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="referrals_made",
        verbose_name=_("referrer"),
        db_index=False,
    )
    # The person referred, as given; ``customer`` is their archive record once they have one.
    name = models.CharField(_("name"), max_length=120)
    phone = models.CharField(_("mobile phone"), max_length=20)
    wechat = models.CharField(_("WeChat"), max_length=64, blank=True)
    city = models.CharField(_("city"), max_length=32, blank=True)
    relation = models.CharField(
        _("relation"), max_length=10, choices=Relation.choices, default=Relation.FRIEND
    )
    interest = models.CharField(_("interested in"), max_length=200, blank=True)
    product = models.ForeignKey(
        "customers.Product", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices, default=Channel.DELIVERY)
    event_name = models.CharField(_("event"), max_length=120, blank=True)
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referred_leads",
        verbose_name=_("customer record"),
        db_index=False,
    )

    stage = models.CharField(_("stage"), max_length=10, choices=Stage.choices, default=Stage.SUBMITTED)
    store = models.ForeignKey(
        "accounts.Store", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referral_leads",
        verbose_name=_("rep"),
        db_index=False,
    )
    submitted_at = models.DateTimeField(_("submitted"))
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    audit_outcome = models.CharField(
        _("audit outcome"), max_length=16, choices=AuditOutcome.choices, blank=True
    )
    audit_note = models.TextField(_("audit note"), blank=True)
    audit_attempts = models.PositiveSmallIntegerField(default=0)
    audited_at = models.DateTimeField(null=True, blank=True)
    audited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True)
    contacted_at = models.DateTimeField(_("contacted"), null=True, blank=True)
    quoted_at = models.DateTimeField(_("quoted"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    won_purchase = models.ForeignKey(
        "customers.Purchase", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    lost_reason = models.CharField(_("lost reason"), max_length=255, blank=True)

    # Fraud rules: the flags raised at submission; a flagged referral waits for a manager.
    flags = models.JSONField(_("flags"), default=list, blank=True)
    duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    review = models.CharField(_("review"), max_length=8, choices=Review.choices, blank=True, default="")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    review_note = models.TextField(_("review note"), blank=True)
    faked = models.BooleanField(_("faked"), default=False)
    # The delivery day of the sale this referral counts toward: the referrer's latest sale
    # (anyone's) delivered on or before the submission day, however long before (the quota
    # window is the policy's ``quota_days``, applied when reading). Set at submission and
    # recomputed (``referral_sale_days_refresh``) for referrers whose sales changed since.
    sale_day = models.DateField(_("counts toward the sale of"), null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("referral")
        constraints = [
            # The first valid referral of a person wins: one live claim per phone and organisation.
            # Later ones are stored with ``duplicate_of`` set (outside this constraint) and flagged.
            models.UniqueConstraint(
                fields=["organisation", "phone"],
                condition=Q(duplicate_of__isnull=True) & ~Q(stage="rejected"),
                name="referral_one_live_claim_per_phone",
            ),
            # The same referrer cannot enter the same person twice, whatever happened to the first.
            models.UniqueConstraint(fields=["referrer", "phone"], name="referral_once_per_referrer"),
        ]
        indexes = [
            models.Index(fields=["organisation", "stage", "submitted_at"], name="ref_org_stage_idx"),
            models.Index(fields=["organisation", "submitted_at"], name="ref_org_submitted_idx"),
            # the funnel reads these columns of a period's referrals index-only (PostgreSQL)
            models.Index(
                fields=["organisation", "submitted_at"],
                name="ref_funnel_cover_idx",
                include=["rep", "store", "stage", "verified_at", "contacted_at", "quoted_at", "id"],
            ),
            models.Index(fields=["organisation", "review", "submitted_at"], name="ref_org_review_idx"),
            # A rep's tabs and lists; the store and organisation ride along so that a manager's
            # count of the team's leads outside the store is an index-only scan (the heap visits
            # of a bitmap scan over every team lead took 450 ms at 1M referrals).
            models.Index(
                fields=["rep", "stage", "submitted_at"],
                name="ref_rep_stage_idx",
                include=["store", "organisation"],
            ),
            models.Index(fields=["store", "submitted_at"], name="ref_store_submitted_idx"),
            models.Index(fields=["referrer", "submitted_at"], name="ref_referrer_idx"),
            models.Index(fields=["customer"], name="ref_customer_idx"),
            models.Index(fields=["organisation", "phone"], name="ref_org_phone_idx"),
            # The scorecard and funnels count by the day a referral was verified or closed.
            models.Index(fields=["organisation", "verified_at"], name="ref_org_verified_idx"),
            models.Index(fields=["organisation", "closed_at"], name="ref_org_closed_idx"),
            # A store's pipeline tabs and lists (a manager's and store DCRC's scope).
            models.Index(
                fields=["store", "stage", "submitted_at"],
                name="ref_store_stage_idx",
                include=["organisation"],
            ),
            # The referral curve and quota reads by the sale a referral counts toward.
            models.Index(fields=["organisation", "sale_day"], name="ref_org_sale_day_idx"),
            # The scorecard's faked referrals by the day they were found (few rows).
            models.Index(
                fields=["organisation", "audited_at"], name="ref_org_faked_audit_idx", condition=Q(faked=True)
            ),
            models.Index(
                fields=["organisation", "reviewed_at"],
                name="ref_org_faked_review_idx",
                condition=Q(faked=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ← {self.referrer_id}"

    @property
    def counts(self) -> bool:
        """Verified by a DCRC audit and not waiting for (or refused by) a review."""
        return self.stage in COUNTED_STAGES and self.review in ("", Review.APPROVED)


class ReferralEvent(models.Model):
    """One stage change or audit of a referral. Never updated, never deleted."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(
        max_length=16
    )  # submit, audit, verify, contact, quote, win, lose, reject, review...
    from_stage = models.CharField(max_length=10, blank=True)
    to_stage = models.CharField(max_length=10, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["referral", "at"], name="refevent_referral_idx")]


class ReferrerType(models.TextChoices):
    HONOUR = "honour", _("Honour-seeking")
    REWARD = "reward", _("Reward-seeking")
    FAVOUR = "favour", _("Favour-seeking")
    FRIEND = "friend", _("Friendship")


class ReferrerProfile(TimeStampedModel):
    """How a customer refers: their type (set by the rep) and behaviour that suggests one."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, related_name="referrer_profile"
    )
    referrer_type = models.CharField(
        _("referrer type"), max_length=8, choices=ReferrerType.choices, blank=True
    )
    refuses_rewards = models.BooleanField(_("refuses rewards"), default=False)
    asked_for_help = models.CharField(_("asked us for help with"), max_length=255, blank=True)
    note = models.TextField(_("note"), blank=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)

    class Meta:
        indexes = [models.Index(fields=["organisation", "referrer_type"], name="refprofile_org_type_idx")]


class ReferrerStats(models.Model):
    """What a referrer has brought, kept in step with their referrals in the same transaction as
    every submission, stage change and review (``services._event``), so the base-customer list
    ranks referrers from an index instead of aggregating every referral on each view.

    ``won`` and ``counted`` follow ``insights.WON`` / ``insights.COUNTED``; ``made`` counts every
    referral; ``last_referral_at`` is the latest submission.
    """

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, related_name="referrer_stats"
    )
    won = models.PositiveIntegerField(default=0)
    counted = models.PositiveIntegerField(default=0)
    made = models.PositiveIntegerField(default=0)
    last_referral_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                "organisation",
                F("won").desc(),
                F("counted").desc(),
                F("last_referral_at").desc(),
                "customer",
                name="refstats_rank_idx",
                condition=Q(counted__gt=0),
            ),
        ]


class Reward(models.Model):
    """A reward owed for a won referral: to the referrer (thanks) or to the referred (their offer).

    Held until ``release_on`` (the refund window after the sale); then a voucher is issued.
    """

    class Beneficiary(models.TextChoices):
        REFERRER = "referrer", _("Referrer")
        REFERRED = "referred", _("Referred customer")

    class Status(models.TextChoices):
        HELD = "held", _("Held (refund window)")
        ISSUED = "issued", _("Issued")
        CANCELLED = "cancelled", _("Cancelled")
        DECLINED = "declined", _("Declined by the customer")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="rewards")
    beneficiary = models.CharField(max_length=8, choices=Beneficiary.choices)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=20)
    value = models.DecimalField(_("value"), max_digits=10, decimal_places=2, default=Decimal("0"))
    status = models.CharField(_("status"), max_length=9, choices=Status.choices, default=Status.HELD)
    release_on = models.DateField(_("issue on"))
    created_at = models.DateTimeField(auto_now_add=True)
    voucher = models.OneToOneField(
        "Voucher", on_delete=models.SET_NULL, null=True, blank=True, related_name="reward"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["referral", "beneficiary"], name="reward_once_per_referral"),
        ]
        indexes = [models.Index(fields=["status", "release_on"], name="reward_status_release_idx")]


class Voucher(models.Model):
    class Kind(models.TextChoices):
        MAINTENANCE = "maintenance_voucher", _("Free maintenance")
        GIFT = "gift_voucher", _("Accessories gift (精品)")
        OFFER = "offer", _("Offer for the referred customer")

    class Status(models.TextChoices):
        ISSUED = "issued", _("Outstanding")
        REDEEMED = "redeemed", _("Redeemed")
        EXPIRED = "expired", _("Expired")
        VOID = "void", _("Void")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    code = models.CharField(_("code"), max_length=16, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    value = models.DecimalField(_("value"), max_digits=10, decimal_places=2)
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="vouchers",
        verbose_name=_("holder"),
        db_index=False,
    )
    referral = models.ForeignKey(
        Referral, on_delete=models.SET_NULL, null=True, blank=True, related_name="vouchers"
    )
    # Credited to this store and rep in the statistics table (the referrer's rep when issued).
    store = models.ForeignKey(
        "accounts.Store", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    status = models.CharField(_("status"), max_length=9, choices=Status.choices, default=Status.ISSUED)
    issued_at = models.DateTimeField(_("issued"))
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    expires_on = models.DateField(_("expires"))
    redeemed_at = models.DateTimeField(_("redeemed"), null=True, blank=True)
    redeemed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    redeemed_store = models.ForeignKey(
        "accounts.Store", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)  # expired or voided
    void_reason = models.CharField(_("reason"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("voucher")
        indexes = [
            models.Index(fields=["organisation", "issued_at"], name="voucher_org_issued_idx"),
            models.Index(fields=["organisation", "status", "expires_on"], name="voucher_org_status_idx"),
            models.Index(fields=["customer", "status"], name="voucher_customer_idx"),
            models.Index(fields=["store", "issued_at"], name="voucher_store_idx"),
            models.Index(fields=["rep", "issued_at"], name="voucher_rep_idx"),
        ]

    def __str__(self) -> str:
        return self.code


class VoucherEntry(models.Model):
    """The voucher ledger: one row per state change, never updated or deleted."""

    class Action(models.TextChoices):
        ISSUE = "issue", _("Issued")
        REDEEM = "redeem", _("Redeemed")
        EXPIRE = "expire", _("Expired")
        VOID = "void", _("Voided")
        REFUSED = "refused", _("Redemption refused")

    voucher = models.ForeignKey(Voucher, on_delete=models.PROTECT, related_name="entries")
    action = models.CharField(max_length=8, choices=Action.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    store = models.ForeignKey(
        "accounts.Store", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["voucher", "at"], name="ventry_voucher_idx"),
            models.Index(fields=["store", "at"], name="ventry_store_at_idx"),  # the desk's recent list
        ]


class ReferralLink(models.Model):
    """A self-service link handed to one referrer; the token carries its id and is signed."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    referrer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    submissions = models.PositiveIntegerField(default=0)
