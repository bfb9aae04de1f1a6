"""The file layout of each import kind: columns, Chinese header aliases, required columns.

docs/IMPORT.md describes the same layout for people; export writes exactly these columns in this
order, so an exported file imports back unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("customers", "products", "purchases", "owned_products")
# The CLI calls owned products "products" only for the catalogue; the vehicle list has its own kind.
KIND_ALIASES = {"owned": "owned_products", "vehicles": "owned_products"}


@dataclass(frozen=True)
class Layout:
    kind: str
    columns: tuple[str, ...]
    required_columns: tuple[str, ...]
    # One of these columns must be present (e.g. the customer of a purchase).
    one_of: tuple[tuple[str, ...], ...]
    aliases: dict[str, str]


_COMMON_ALIASES = {
    "外部编号": "external_id",
    "外部id": "external_id",
    "编号": "external_id",
    "备注": "note",
}

CUSTOMERS = Layout(
    kind="customers",
    columns=(
        "external_id",
        "name",
        "kind",
        "phone",
        "email",
        "wechat",
        "gender",
        "birthday",
        "birthday_calendar",
        "birthday_lunar_month",
        "birthday_lunar_day",
        "birthday_lunar_leap",
        "company",
        "title",
        "province",
        "city",
        "address",
        "source",
        "source_detail",
        "referred_by_external_id",
        "owner_username",
        "store_code",
        "status",
        "tier",
        "customer_type",
        "tags",
        "consent_sms",
        "consent_email",
        "consent_phone",
        "consent_wechat",
        "consent_letter",
        "personality",
        "preferences",
        "special_needs",
        "form_family",
        "form_occupation",
        "form_recreation",
        "form_money",
        "lost_reason",
    ),
    required_columns=("name",),
    one_of=(),
    aliases={
        **_COMMON_ALIASES,
        "客户编号": "external_id",
        "姓名": "name",
        "客户姓名": "name",
        "名称": "name",
        "类型": "kind",
        "客户类别": "kind",
        "手机": "phone",
        "手机号": "phone",
        "手机号码": "phone",
        "电话": "phone",
        "邮箱": "email",
        "电子邮件": "email",
        "微信": "wechat",
        "微信号": "wechat",
        "性别": "gender",
        "生日": "birthday",
        "出生日期": "birthday",
        "生日历法": "birthday_calendar",
        "农历生日月": "birthday_lunar_month",
        "农历生日日": "birthday_lunar_day",
        "农历闰月": "birthday_lunar_leap",
        "公司": "company",
        "单位": "company",
        "职务": "title",
        "职位": "title",
        "省份": "province",
        "省": "province",
        "城市": "city",
        "市": "city",
        "地址": "address",
        "来源": "source",
        "客户来源": "source",
        "来源详情": "source_detail",
        "推荐人编号": "referred_by_external_id",
        "负责人": "owner_username",
        "销售顾问": "owner_username",
        "门店": "store_code",
        "门店代码": "store_code",
        "状态": "status",
        "等级": "tier",
        "客户等级": "tier",
        "客户类型": "customer_type",
        "标签": "tags",
        "短信许可": "consent_sms",
        "邮件许可": "consent_email",
        "电话许可": "consent_phone",
        "微信许可": "consent_wechat",
        "信函许可": "consent_letter",
        "性格": "personality",
        "偏好": "preferences",
        "特殊需求": "special_needs",
        "家庭": "form_family",
        "职业": "form_occupation",
        "休闲": "form_recreation",
        "财务": "form_money",
        "流失原因": "lost_reason",
    },
)

PRODUCTS = Layout(
    kind="products",
    columns=("sku", "name", "kind", "category", "price", "usage_notes"),
    required_columns=("sku", "name"),
    one_of=(),
    aliases={
        "型号": "sku",
        "产品编码": "sku",
        "车型代码": "sku",
        "名称": "name",
        "产品名称": "name",
        "类型": "kind",
        "类别": "category",
        "分类": "category",
        "价格": "price",
        "用途说明": "usage_notes",
        "使用说明": "usage_notes",
    },
)

PURCHASES = Layout(
    kind="purchases",
    columns=(
        "external_id",
        "customer_external_id",
        "customer_phone",
        "ordered_on",
        "kind",
        "amount",
        "margin",
        "payment_due_on",
        "paid_amount",
        "paid_on",
        "promised_on",
        "shipped_on",
        "arrives_on",
        "store_code",
        "rep_username",
        "note",
    ),
    required_columns=("external_id", "ordered_on", "amount"),
    one_of=(("customer_external_id", "customer_phone"),),
    aliases={
        **_COMMON_ALIASES,
        "订单号": "external_id",
        "客户编号": "customer_external_id",
        "客户手机": "customer_phone",
        "手机": "customer_phone",
        "日期": "ordered_on",
        "下单日期": "ordered_on",
        "购买类型": "kind",
        "类型": "kind",
        "金额": "amount",
        "毛利": "margin",
        "应付日期": "payment_due_on",
        "已付金额": "paid_amount",
        "付款日期": "paid_on",
        "承诺交付日期": "promised_on",
        "发货日期": "shipped_on",
        "预计到达日期": "arrives_on",
        "到货日期": "arrives_on",
        "门店": "store_code",
        "门店代码": "store_code",
        "销售顾问": "rep_username",
    },
)

OWNED_PRODUCTS = Layout(
    kind="owned_products",
    columns=(
        "external_id",
        "customer_external_id",
        "customer_phone",
        "sku",
        "description",
        "vin",
        "plate",
        "delivered_on",
        "mileage_km",
        "mileage_on",
        "insurance_expires_on",
        "usage",
    ),
    required_columns=(),
    one_of=(("customer_external_id", "customer_phone"),),
    aliases={
        **_COMMON_ALIASES,
        "客户编号": "customer_external_id",
        "客户手机": "customer_phone",
        "手机": "customer_phone",
        "型号": "sku",
        "车型代码": "sku",
        "描述": "description",
        "车型": "description",
        "车架号": "vin",
        "VIN码": "vin",
        "车牌": "plate",
        "车牌号": "plate",
        "交车日期": "delivered_on",
        "里程": "mileage_km",
        "里程数": "mileage_km",
        "里程日期": "mileage_on",
        "保险到期日": "insurance_expires_on",
        "用途": "usage",
    },
)

LAYOUTS = {layout.kind: layout for layout in (CUSTOMERS, PRODUCTS, PURCHASES, OWNED_PRODUCTS)}


def canonical_kind(kind: str) -> str:
    return KIND_ALIASES.get(kind, kind)
