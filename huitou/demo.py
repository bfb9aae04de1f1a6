"""The demo organisation: a Guangdong dealer group with 3 years of customers, cars and service visits.

``demo_load`` builds it reproducibly from a seed and writes rows as plain tuples in bulk —
PostgreSQL ``COPY`` or SQLite ``executemany`` inside one transaction — never one query per row.

- Below ``LITE_FROM`` customers (the demo, the tests): ``_Generator`` draws every customer from its
  own ``random.Random`` stream, so customer *i* has the same name, phone and cars whatever the size
  of the set, with the full archive (timeline, purchase lines, audit rows, FORM notes, tags...).
- From ``LITE_FROM`` on (the benchmark scale set): ``_ScaleGenerator`` draws 20,000 customers at a
  time with numpy — customers, vehicles, purchases, consents, one timeline entry per car and the
  search keys — and on PostgreSQL builds the secondary indexes once at the end (``_bulk_mode``).

Why not ``bulk_create``: it overwrites ``created_at`` with "now" (``auto_now_add``), which would
make a customer met three years ago look new, and it is 5–10× slower than ``COPY`` at scale.
"""

from __future__ import annotations

import datetime as dt
import random
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from django.db import connection, models, transaction
from django.utils import timezone

from huitou.core.text import customer_keys

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation, User

DEMO_SLUG = "demo"
DEMO_NAME = "华南汽车集团"
LITE_FROM = 100_000
HISTORY_YEARS = 3

# Demo data, not secrets: printed by ``huitou demo`` so anyone can log in.
PASSWORDS = {
    "owner": "demo-owner",
    "manager": "demo-manager",
    "rep": "demo-rep",
    "dcrc": "demo-dcrc",
    "aftersales": "demo-service",
}


@dataclass(frozen=True)
class StoreSpec:
    code: str
    name: str
    city: str
    address: str
    lat: float
    lng: float
    short: str
    plate_prefixes: tuple[str, ...]
    districts: tuple[str, ...]
    manager: str
    reps: tuple[str, ...]
    weight: float


STORES = (
    StoreSpec(
        "GZTH",
        "广州天河店",
        "广州市",
        "天河区黄埔大道西388号",
        23.1330,
        113.3240,
        "th",
        ("粤A", "粤A", "粤A", "粤B"),
        ("天河区", "越秀区", "海珠区", "白云区", "黄埔区"),
        "李建华",
        ("王磊", "刘洋", "张静", "陈晓东", "杨帆", "赵丽", "黄俊杰"),
        0.40,
    ),
    StoreSpec(
        "GZPY",
        "广州番禺店",
        "广州市",
        "番禺区市桥街光明北路88号",
        22.9380,
        113.3840,
        "py",
        ("粤A", "粤A", "粤A", "粤T"),
        ("番禺区", "海珠区", "南沙区"),
        "黄伟明",
        ("周敏", "吴强", "徐婷", "孙浩", "马俊", "朱玲", "胡斌"),
        0.33,
    ),
    StoreSpec(
        "FSCC",
        "佛山禅城店",
        "佛山市",
        "禅城区季华五路21号",
        23.0210,
        113.1140,
        "fs",
        ("粤E", "粤E", "粤E", "粤X"),
        ("禅城区", "南海区", "顺德区"),
        "梁国栋",
        ("郭敏华", "林志伟", "何雪", "高峰", "罗晶", "郑凯"),
        0.27,
    ),
)
OWNER_NAME = "陈志强"
DCRC_NAMES = ("周晓燕", "吴静")
SERVICE_STAFF = (("service1", "郑海涛", "GZTH"), ("service2", "何丽娟", "GZPY"))

# (sku, name, category, price in yuan)
CAR_MODELS = (
    ("CAM-20G", "凯美瑞 2.0G 豪华版", "轿车", 199_800),
    ("CAM-25HQ", "凯美瑞 2.5HQ 旗舰版", "轿车", 259_800),
    ("LEV-12T", "雷凌 1.2T 进取版", "轿车", 121_800),
    ("COR-15", "卡罗拉 1.5L 精英版", "轿车", 129_800),
    ("AVA-25", "亚洲龙 2.5L 豪华版", "轿车", 229_800),
    ("RAV-20", "RAV4荣放 2.0L 风尚版", "SUV", 179_800),
    ("RAV-25E", "RAV4荣放 双擎 四驱", "SUV", 239_800),
    ("HLD-25E", "汉兰达 2.5L 双擎 7座", "SUV", 299_800),
    ("SEN-25E", "赛那 2.5L 双擎 MPV", "MPV", 369_800),
    ("GRA-35", "格瑞维亚 2.5L 尊贵版", "MPV", 449_800),
    ("BZ4X-615", "bZ4X 615km 长续航", "新能源", 199_800),
)
CAR_WEIGHTS = (12, 6, 14, 16, 7, 13, 6, 8, 4, 2, 6)
# (sku, name, category, low, high): service prices are drawn per visit.
SERVICES = (
    ("SVC-FIRST", "首保", "保养", 300, 600),
    ("SVC-MAINT", "常规保养", "保养", 450, 1500),
    ("SVC-BODY", "钣喷", "钣喷", 1500, 3000),
    ("SVC-INS", "保险续保", "保险", 3500, 8500),
    ("SVC-ACC", "精品加装", "精品", 300, 2500),
)
TAGS = ("车主俱乐部", "老客户", "团购", "自驾游爱好者", "家庭用户", "网约车司机", "企业客户", "转介绍达人")

# Weighted by frequency in the Chinese population (per mille, rounded).
SURNAMES = (
    ("王", 73),
    ("李", 72),
    ("张", 69),
    ("刘", 54),
    ("陈", 54),
    ("杨", 31),
    ("黄", 23),
    ("赵", 22),
    ("吴", 21),
    ("周", 21),
    ("徐", 17),
    ("孙", 15),
    ("马", 15),
    ("朱", 14),
    ("胡", 13),
    ("郭", 12),
    ("何", 12),
    ("林", 12),
    ("罗", 11),
    ("高", 11),
    ("郑", 10),
    ("梁", 10),
    ("谢", 8),
    ("宋", 8),
    ("唐", 8),
    ("许", 7),
    ("邓", 7),
    ("冯", 7),
    ("韩", 7),
    ("曹", 6),
    ("曾", 6),
    ("彭", 6),
    ("萧", 5),
    ("蔡", 5),
    ("潘", 5),
    ("田", 5),
    ("董", 5),
    ("袁", 5),
    ("于", 5),
    ("余", 5),
    ("叶", 5),
    ("蒋", 5),
    ("杜", 4),
    ("苏", 4),
    ("魏", 4),
    ("程", 4),
    ("吕", 4),
    ("丁", 4),
    ("沈", 4),
    ("任", 4),
    ("姚", 3),
    ("卢", 3),
    ("钟", 3),
    ("欧阳", 1),
    ("司徒", 1),
)
MALE_GIVEN = tuple("伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林峰建国志文东海亮成荣新锋斌晨阳")
FEMALE_GIVEN = tuple("芳娜敏静丽艳娟霞秀玲桂英红梅琳燕萍雪慧颖洁晶婷倩璐莹欣怡佳琪月玉兰丹薇蓉")
MALE_PAIRS = (
    "志强",
    "建华",
    "伟明",
    "国栋",
    "俊杰",
    "家豪",
    "子轩",
    "浩然",
    "文博",
    "宇航",
    "晓东",
    "志伟",
    "建军",
    "海涛",
    "永明",
    "振华",
    "嘉俊",
    "锦荣",
    "卓明",
    "耀文",
)
FEMALE_PAIRS = (
    "秀英",
    "丽娟",
    "晓燕",
    "美玲",
    "雅婷",
    "欣怡",
    "思琪",
    "佳慧",
    "婉婷",
    "淑芬",
    "慧敏",
    "嘉欣",
    "诗琪",
    "雪梅",
    "晓丽",
    "翠兰",
    "凤仪",
    "咏诗",
    "宝仪",
    "颖欣",
)
# 号段 (number blocks) in common use; every one is valid for ``normalize_phone``.
MOBILE_PREFIXES = (
    *(str(p) for p in range(130, 140)),
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    *(str(p) for p in range(180, 190)),
    "166",
    "173",
    "175",
    "176",
    "177",
    "198",
    "199",
)
COMPANY_WORDS = (
    "恒达",
    "顺丰",
    "宏图",
    "金盛",
    "华通",
    "安捷",
    "粤海",
    "明珠",
    "德诚",
    "鸿运",
    "嘉信",
    "联邦",
)
COMPANY_KINDS = ("物流", "贸易", "建材", "电子", "餐饮管理", "科技", "汽车租赁", "装饰工程", "医疗器械")
ROADS = (
    "中山大道",
    "天河路",
    "体育西路",
    "环市东路",
    "工业大道",
    "迎宾路",
    "汾江中路",
    "桂城南海大道",
    "广州大道南",
)
JOB_TITLES = ("经理", "工程师", "教师", "医生", "个体户", "公务员", "设计师", "会计", "销售总监", "")
PERSONALITY = (
    "爽快，决策快",
    "谨慎，喜欢比较",
    "健谈，朋友多",
    "重视细节，讲究服务",
    "话不多，信任老朋友",
    "精打细算",
)
PREFERENCES = (
    "喜欢白色车身，关注油耗",
    "偏好SUV，周末常带家人出游",
    "看重安全配置",
    "喜欢科技配置，关注车机",
    "注重保值率",
    "要求保养预约在周末",
)
SPECIAL_NEEDS = ("需要儿童安全座椅", "腿脚不便，希望上门取送车", "只接受微信联系", "工作日白天不方便接电话")
FORM_F = ("已婚，一儿一女", "已婚，孩子读小学", "单身，与父母同住", "已婚，太太是老师", "三代同堂")
FORM_O = ("外贸公司业务经理", "医院医生", "自己开餐馆", "IT工程师", "中学教师", "建材店老板", "公务员")
FORM_R = ("周末钓鱼", "自驾游", "羽毛球", "摄影", "喝茶、收藏茶叶", "跑步、马拉松", "带孩子学游泳")
FORM_M = ("收入稳定，倾向全款", "偏好低首付分期", "对价格敏感", "有置换需求", "公司报销用车")
CAMPAIGNS = ("2024广州车展", "抖音直播团购", "老带新活动月", "国庆购车节", "汽车下乡巡展", "五一试驾节")
ONLINE = ("汽车之家线索", "懂车帝线索", "官网预约试驾", "易车网线索")
LOST_REASONS = (
    "转投竞品：对方报价更低",
    "对售后服务不满意，改去别家保养",
    "搬迁外地",
    "车辆已出售，暂无购车计划",
    "保养改去路边快修店",
)
GIFTS = ("车载香薰", "定制脚垫", "行车记录仪", "保温杯", "中秋月饼礼盒", "洗车卡10次", "雨伞", "车载充电器")
TESTIMONIALS = (
    "从看车到提车都很顺利，销售顾问很专业，推荐给朋友了。",
    "保养预约方便，等候区舒服，师傅讲解得很清楚。",
    "油耗比想象中低，一家人出游很舒服。",
    "服务很贴心，交车仪式让全家都很开心。",
)
CONFIDENTIAL = (
    "客户透露正在比较竞品报价，注意跟进。",
    "客户与前任销售有过纠纷，沟通时注意语气。",
    "客户家庭近期有变故，暂缓推销。",
    "客户是本地商会会长，可重点维护转介绍。",
)
VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O, Q
VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
PLATE_CHARS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def vin_check_digit(vin: str) -> str:
    """ISO 3779 check digit (position 9) of a 17-character VIN."""
    total = sum(VIN_VALUES[c] * w for c, w in zip(vin, VIN_WEIGHTS, strict=True))
    rest = total % 11
    return "X" if rest == 10 else str(rest)


def _vin(index: int, year: int, rng: random.Random) -> str:
    """Unique per ``index`` within the organisation: plant letter and serial come from it."""
    wmi = _pick(rng, ("LVG", "LFM", "LVG", "LTV"))
    vds = "".join(_pick(rng, VIN_CHARS) for _ in range(5))
    year_code = "ABCDEFGHJKLMNPRSTVWXY123456789"[(year - 2010) % 30]
    plant = "ABCDEFGHJKLMNPRSTUVWXYZ"[index // 1_000_000 % 23]
    body = f"{wmi}{vds}0{year_code}{plant}{index % 1_000_000:06d}"
    return body[:8] + vin_check_digit(body) + body[9:]


def _plate(index: int, prefix: str, new_energy: bool) -> str:
    """Unique tail per ``index`` (up to 24 × 34⁴ vehicles), scattered so neighbours look unrelated."""
    n = (index * 7_919_261 + 1_234_567) % (24 * 34**4)
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    head, n = letters[n % 24], n // 24
    tail = ""
    for _ in range(4):
        tail += PLATE_CHARS[n % 34]
        n //= 34
    if new_energy:
        return f"{prefix}D{head}{tail}"
    return f"{prefix}{head}{tail}"


@dataclass
class _Table:
    """Rows for one table, written in bulk; columns not generated take the model's default."""

    model: type[models.Model]
    columns: tuple[str, ...]
    tail: tuple[Any, ...] = ()
    all_columns: tuple[str, ...] = ()
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    written: int = 0
    next_id: int = 1

    def __post_init__(self) -> None:
        given = set(self.columns)
        extra_cols, extra_vals = [], []
        for f in self.model._meta.concrete_fields:
            if f.attname in given or (f.primary_key and isinstance(f, models.AutoField)):
                continue
            if isinstance(f, models.GeneratedField):  # the database computes it
                continue
            default = f.get_default()
            if default is None and not f.null:
                raise ValueError(f"{self.model.__name__}.{f.attname} needs a value in the demo generator")
            extra_cols.append(f.attname)
            extra_vals.append(default)
        self.all_columns = (*self.columns, *extra_cols)
        self.tail = tuple(extra_vals)

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)


class _Writer:
    """COPY on PostgreSQL, executemany on SQLite; both inside the caller's transaction."""

    def __init__(self) -> None:
        self.postgres = connection.vendor == "postgresql"
        # Datetimes are generated as naive UTC strings; PostgreSQL needs to be told they are UTC.
        self.tz = "+00" if self.postgres else ""
        self.tables: dict[str, _Table] = {}

    def table(self, model: type[models.Model], columns: Sequence[str]) -> _Table:
        t = _Table(model, tuple(columns))
        self.tables[model._meta.db_table] = t
        return t

    def flush(self) -> None:
        for name, t in self.tables.items():
            if not t.rows:
                continue
            qn = connection.ops.quote_name
            cols = ", ".join(qn(c) for c in t.all_columns)
            tail = t.tail
            if self.postgres:
                raw = connection.connection
                with raw.cursor() as cur, cur.copy(f"COPY {qn(name)} ({cols}) FROM STDIN") as copy:
                    for row in t.rows:
                        copy.write_row(row + tail)
            else:
                marks = ", ".join(["%s"] * len(t.all_columns))
                with connection.cursor() as cur:
                    sql = f"INSERT INTO {qn(name)} ({cols}) VALUES ({marks})"  # noqa: S608 - quoted names
                    cur.executemany(sql, [r + tail for r in t.rows])
            t.written += len(t.rows)
            t.rows.clear()


def _next_id(model: type[models.Model]) -> int:
    top = model._default_manager.aggregate(m=models.Max("pk"))["m"]
    return int(top or 0) + 1


def _reset_sequences(model_list: Iterable[type[models.Model]]) -> None:
    from django.core.management.color import no_style

    statements = connection.ops.sequence_reset_sql(no_style(), list(model_list))
    if statements:
        with connection.cursor() as cur:
            for sql in statements:
                cur.execute(sql)


# --- the people -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Staff:
    reps: dict[str, list[int]]  # store code → rep ids
    store_ids: dict[str, int]
    service_by_store: dict[str, int]
    dcrc_ids: list[int]
    owner_id: int
    logins: list[dict[str, str]]


def _people(org: Organisation) -> _Staff:
    from django.contrib.auth.hashers import make_password

    from huitou.accounts.models import Store, Team, User

    hashes = {role: make_password(pw) for role, pw in PASSWORDS.items()}
    stores: dict[str, Store] = {}
    for spec in STORES:
        store, _ = Store.objects.update_or_create(
            organisation=org,
            code=spec.code,
            defaults={"name": spec.name, "city": spec.city, "address": spec.address},
        )
        stores[spec.code] = store

    # (username, role, display name, store code, team number)
    people: list[tuple[str, str, str, str | None, int | None]] = [("owner", "owner", OWNER_NAME, None, None)]
    for spec in STORES:
        people.append((f"manager_{spec.short}", "manager", spec.manager, spec.code, None))
        half = (len(spec.reps) + 1) // 2
        for i, name in enumerate(spec.reps, start=1):
            people.append((f"rep_{spec.short}{i}", "rep", name, spec.code, 1 if i <= half else 2))
    for i, name in enumerate(DCRC_NAMES, start=1):
        people.append((f"dcrc{i}", "dcrc", name, None, None))
    for username, name, code in SERVICE_STAFF:
        people.append((username, "aftersales", name, code, None))

    existing = {u.username: u for u in User.objects.filter(username__in=[p[0] for p in people])}
    foreign = sorted(n for n, u in existing.items() if u.organisation_id not in (None, org.pk))
    if foreign:
        raise RuntimeError(f"demo usernames already used by another organisation: {', '.join(foreign)}")
    users: dict[str, User] = {}
    for username, role, name, store_code, _team in people:
        user = existing.get(username) or User(username=username)
        user.organisation = org
        user.role = role
        user.display_name = name
        user.store = stores[store_code] if store_code else None
        user.team = None
        user.password = hashes[role]
        user.is_active = True
        user.left_at = None
        users[username] = user
    fresh = [u for n, u in users.items() if n not in existing]
    User.objects.bulk_create(fresh)
    fields = ["organisation", "role", "display_name", "store", "team", "password", "is_active", "left_at"]
    User.objects.bulk_update([u for n, u in users.items() if n in existing], fields)

    for spec in STORES:
        manager = users[f"manager_{spec.short}"]
        for number in (1, 2):
            team, _ = Team.objects.update_or_create(
                organisation=org,
                store=stores[spec.code],
                name=f"{spec.name[2:4]}销售{'一二'[number - 1]}组",
                defaults={"manager": manager},
            )
            for username, role, _name, store_code, team_no in people:
                if role == "rep" and store_code == spec.code and team_no == number:
                    users[username].team = team
    User.objects.bulk_update([u for u in users.values() if u.role == "rep"], ["team"])

    def first(role: str) -> User:
        return next(u for u in users.values() if u.role == role)

    rep = first("rep")
    manager = first("manager")
    logins = [
        {
            "username": "owner",
            "password": PASSWORDS["owner"],
            "role": "owner",
            "note": f"{OWNER_NAME}: whole group",
        },
        {
            "username": manager.username,
            "password": PASSWORDS["manager"],
            "role": "manager",
            "note": f"{manager.display_name}, {STORES[0].name} (also manager_py, manager_fs)",
        },
        {
            "username": rep.username,
            "password": PASSWORDS["rep"],
            "role": "rep",
            "note": f"{rep.display_name}, {STORES[0].name} (rep_th1-7, rep_py1-7, rep_fs1-6)",
        },
        {
            "username": "dcrc1",
            "password": PASSWORDS["dcrc"],
            "role": "dcrc",
            "note": f"{DCRC_NAMES[0]} (also dcrc2)",
        },
        {
            "username": "service1",
            "password": PASSWORDS["aftersales"],
            "role": "aftersales",
            "note": f"{SERVICE_STAFF[0][1]}, {STORES[0].name} (also service2)",
        },
    ]
    service = {code: users[u].pk for u, _n, code in SERVICE_STAFF}
    return _Staff(
        reps={s.code: [users[f"rep_{s.short}{i}"].pk for i in range(1, len(s.reps) + 1)] for s in STORES},
        store_ids={code: s.pk for code, s in stores.items()},
        service_by_store={s.code: service.get(s.code, service["GZPY"]) for s in STORES},
        dcrc_ids=[users["dcrc1"].pk, users["dcrc2"].pk],
        owner_id=users["owner"].pk,
        logins=logins,
    )


# --- wiping the archive of the demo organisation ---------------------------------------------------


def _referencing(model: type[models.Model]) -> list[tuple[type[models.Model], str]]:
    """Every (model, column) holding a foreign key to ``model``, hidden (history) relations included."""
    from django.apps import apps

    out = []
    for other in apps.get_models(include_auto_created=True):
        for f in other._meta.concrete_fields:
            if (
                f.is_relation
                and f.remote_field is not None
                and f.remote_field.model is model
                and other is not model
            ):
                out.append((other, str(f.column)))
    return out


def _purge(
    model: type[models.Model],
    where: str,
    params: list[Any],
    tables: set[str],
    path: tuple[type[models.Model], ...] = (),
) -> None:
    """Delete rows of ``model`` matching ``where`` and, first, every row that refers to them.

    Foreign keys are checked at commit (Django declares them deferrable on both databases) and the
    wipe is one transaction, so a cycle of references (an invitation's response opens a ticket whose
    follow-up is another invitation) is cut where it comes back to a model already on the path:
    those rows belong to the organisation too and go with their own table's purge.
    """
    if len(path) > 8:
        raise RuntimeError(f"foreign keys nest too deep under {model.__name__}")
    if model._meta.db_table not in tables:
        return  # a model whose migration has not run here holds no rows
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    pk = qn(str(model._meta.pk.column))
    for other, column in _referencing(model):
        if other._meta.app_label == "accounts" or other in path:
            continue
        sub = f"{qn(column)} IN (SELECT {pk} FROM {table} WHERE {where})"  # noqa: S608 - quoted names
        _purge(other, sub, params, tables, (*path, model))
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {table} WHERE {where}", params)  # noqa: S608 - identifiers are quoted names


def _purge_archive(org_id: int) -> None:
    """Remove every non-people row of the organisation: customers and all that hangs off them."""
    from django.apps import apps

    from huitou.accounts.models import Organisation

    qn = connection.ops.quote_name
    tables = set(connection.introspection.table_names())
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label == "accounts":
            continue
        for f in model._meta.concrete_fields:
            if f.is_relation and f.remote_field is not None and f.remote_field.model is Organisation:
                _purge(model, f"{qn(str(f.column))} = %s", [org_id], tables)


# --- the archive ------------------------------------------------------------------------------------


def _ri(rng: random.Random, low: int, high: int) -> int:
    """``randint`` without its pure-Python overhead (this runs tens of millions of times at scale)."""
    return low + int(rng.random() * (high - low + 1))


def _pick(rng: random.Random, seq: Sequence[Any]) -> Any:
    return seq[int(rng.random() * len(seq))]


def _cols(names: str) -> tuple[str, ...]:
    return tuple(names.split())


def _days(d: dt.date) -> int:
    return d.toordinal()


def _iso(ordinal: int) -> str:
    return dt.date.fromordinal(ordinal).isoformat()


def _money(yuan: float) -> str:
    return f"{yuan:.2f}"


@dataclass
class _Catalogue:
    cars: list[tuple[int, str, int]]  # id, name, price
    services: dict[str, tuple[int, str, int, int]]  # sku → id, name, low, high
    tags: list[int]


def _catalogue(org: Organisation) -> _Catalogue:
    from huitou.customers.models import Product, Tag

    products = [
        Product(organisation=org, sku=sku, name=name, kind=Product.Kind.VEHICLE, category=cat, price=price)
        for sku, name, cat, price in CAR_MODELS
    ] + [
        Product(organisation=org, sku=sku, name=name, kind=Product.Kind.SERVICE, category=cat, price=low)
        for sku, name, cat, low, _high in SERVICES
    ]
    Product.objects.bulk_create(products)
    by_sku = {p.sku: p for p in Product.objects.filter(organisation=org)}
    tags = Tag.objects.bulk_create([Tag(organisation=org, name=n) for n in TAGS])
    tag_ids = [
        t.pk for t in Tag.objects.filter(organisation=org, name__in=[t.name for t in tags]).order_by("pk")
    ]
    return _Catalogue(
        cars=[(by_sku[sku].pk, name, price) for sku, name, _c, price in CAR_MODELS],
        services={sku: (by_sku[sku].pk, name, low, high) for sku, name, _c, low, high in SERVICES},
        tags=tag_ids,
    )


_SURNAME_LIST = [s for s, _w in SURNAMES]
_SURNAME_CUM = list(accumulate(w for _s, w in SURNAMES))
_CAR_CUM = list(accumulate(CAR_WEIGHTS))
_STORE_CUM = list(accumulate(s.weight for s in STORES))


def person_name(rng: random.Random) -> tuple[str, str]:
    """A plausible Chinese name and its gender ("m"/"f")."""
    surname = rng.choices(_SURNAME_LIST, cum_weights=_SURNAME_CUM)[0]
    gender = "m" if rng.random() < 0.56 else "f"  # car buyers skew male
    if rng.random() < 0.35:
        given = _pick(rng, MALE_GIVEN if gender == "m" else FEMALE_GIVEN)
    elif rng.random() < 0.5:
        given = _pick(rng, MALE_PAIRS if gender == "m" else FEMALE_PAIRS)
    else:
        pool = MALE_GIVEN if gender == "m" else FEMALE_GIVEN
        given = _pick(rng, pool) + _pick(rng, pool)
    return surname + given, gender


def mobile(rng: random.Random) -> str:
    return f"+86{_pick(rng, MOBILE_PREFIXES)}{int(rng.random() * 100_000_000):08d}"


class _Generator:
    def __init__(
        self,
        *,
        org_id: int,
        staff: _Staff,
        cat: _Catalogue,
        writer: _Writer,
        seed: int,
        size: int,
        today: dt.date,
    ):
        from huitou.customers.models import (
            Activity,
            ConfidentialNote,
            Consent,
            Customer,
            CustomerSearchKey,
            OwnedProduct,
            PersonalDate,
            Purchase,
            PurchaseLine,
            Testimonial,
        )

        self.org_id, self.staff, self.cat, self.seed, self.size = org_id, staff, cat, seed, size
        self.tz = writer.tz
        self.today = _days(today)
        self.start = self.today - 365 * HISTORY_YEARS
        # Every date and time of day the timeline can hold, formatted once.
        self.iso_from = self.start - 400
        self.iso = [_iso(o) for o in range(self.iso_from, self.today + 800)]
        self.clock = [f"{h:02d}:{m:02d}:{sec:02d}" for h in range(24) for m in range(60) for sec in range(60)]
        self.earlier: dict[str, list[int]] = {s.code: [] for s in STORES}
        self.vehicles = 0
        w = writer
        self.customers = w.table(
            Customer,
            _cols(
                "id organisation_id kind name gender company title phone wechat email province city"
                " address latitude longitude birthday birthday_calendar birthday_lunar_month"
                " birthday_lunar_day personality preferences special_needs form_family form_occupation"
                " form_recreation form_money source source_detail referred_by_id owner_id store_id status"
                " lost_reason created_at updated_at"
            ),
        )
        hist = Customer.history.model  # type: ignore[attr-defined]
        cols = [c for c in self.customers.columns if c != "updated_at"]
        self.history = w.table(
            hist, [*cols, "history_date", "history_change_reason", "history_type", "history_user_id"]
        )
        self.tags = w.table(Customer.tags.through, ("id", "customer_id", "tag_id"))
        self.keys = w.table(CustomerSearchKey, ("id", "customer_id", "key"))
        self.consents = w.table(
            Consent, ("id", "customer_id", "channel", "granted", "source", "recorded_at", "recorded_by_id")
        )
        self.dates = w.table(
            PersonalDate,
            ("id", "customer_id", "kind", "label", "calendar", "date", "lunar_month", "lunar_day"),
        )
        self.owned = w.table(
            OwnedProduct,
            _cols(
                "id organisation_id customer_id product_id description vin plate delivered_on mileage_km"
                " mileage_on insurance_expires_on usage active created_at updated_at"
            ),
        )
        self.purchases = w.table(
            Purchase,
            _cols(
                "id organisation_id customer_id store_id rep_id ordered_on kind amount margin payment_due_on"
                " paid_amount paid_on note created_at updated_at"
            ),
        )
        self.lines = w.table(
            PurchaseLine,
            ("id", "purchase_id", "product_id", "description", "quantity", "unit_price", "amount"),
        )
        self.activities = w.table(
            Activity,
            _cols(
                "id organisation_id customer_id kind occurred_at user_id subject body gift_name"
                " purchase_id created_at"
            ),
        )
        self.testimonials = w.table(
            Testimonial,
            _cols(
                "id customer_id product_id text consent_given consent_at recorded_by_id created_at updated_at"
            ),
        )
        self.notes = w.table(
            ConfidentialNote, ("id", "customer_id", "author_id", "body", "created_at", "updated_at")
        )
        for t in w.tables.values():
            if t is not self.history:
                t.next_id = _next_id(t.model)

    def _id(self, table: _Table) -> int:
        value = table.next_id
        table.next_id = value + 1
        return value

    def _day(self, ordinal: int) -> str:
        return self.iso[ordinal - self.iso_from]

    def _ts(self, ordinal: int, rng: random.Random) -> str:
        # 09:00–19:59 Beijing time is 01:00–11:59 UTC on the same day.
        seconds = 3600 + int(rng.random() * 39_600)
        return f"{self.iso[ordinal - self.iso_from]} {self.clock[seconds]}{self.tz}"

    def customer(self, index: int) -> None:
        rng = random.Random(self.seed * 10_000_019 + index)
        today, start = self.today, self.start
        cid = self._id(self.customers)
        spec = STORES[min(len(STORES) - 1, _bisect(_STORE_CUM, rng.random()))]
        store_id = self.staff.store_ids[spec.code]
        owner_id = _pick(rng, self.staff.reps[spec.code])
        met = start + int((today - 10 - start) * (index + rng.random()) / max(1, self.size))
        roll = rng.random()
        status = "prospect" if roll < 0.09 else "lost" if roll < 0.12 else "active"
        is_company = rng.random() < 0.08
        phone = mobile(rng)

        birthday, calendar, lunar_m, lunar_d = None, "solar", None, None
        company = title = ""
        if is_company:
            words = _pick(rng, COMPANY_WORDS) + _pick(rng, COMPANY_WORDS)
            name = f"{spec.city[:2]}{words}{_pick(rng, COMPANY_KINDS)}有限公司"
            gender = ""
        else:
            name, gender = person_name(rng)
            if rng.random() < 0.10:
                # Lunar birthdays are kept as month/day: the solar date moves every year.
                calendar, lunar_m, lunar_d = "lunar", _ri(rng, 1, 12), _ri(rng, 1, 29)
            else:
                born = dt.date(_year(today) - _ri(rng, 23, 62), 1, 1).toordinal() + int(rng.random() * 365)
                birthday = _iso(born)
            title = _pick(rng, JOB_TITLES)
            if title and rng.random() < 0.5:
                company = f"{_pick(rng, COMPANY_WORDS)}{_pick(rng, COMPANY_KINDS)}公司"
        district = _pick(rng, spec.districts)
        road, number = _pick(rng, ROADS), _ri(rng, 1, 999)
        address = f"{district}{road}{number}号{_ri(rng, 1, 30)}栋{_ri(rng, 101, 3208)}室"
        lat = f"{spec.lat + rng.gauss(0, 0.035):.6f}"
        lng = f"{spec.lng + rng.gauss(0, 0.035):.6f}"
        wechat = f"wxid_{rng.getrandbits(40):010x}" if rng.random() < 0.5 else ""
        email = f"{_ri(rng, 10_000_000, 2_999_999_999)}@qq.com" if rng.random() < 0.2 else ""

        richness = rng.random()
        personality = _pick(rng, PERSONALITY) if richness < 0.25 else ""
        preferences = _pick(rng, PREFERENCES) if richness < 0.35 else ""
        special = _pick(rng, SPECIAL_NEEDS) if richness < 0.05 else ""
        form = ("", "", "", "")
        if not is_company and richness < 0.30:
            form = (_pick(rng, FORM_F), _pick(rng, FORM_O), _pick(rng, FORM_R), _pick(rng, FORM_M))

        src_roll = rng.random()
        referred_by = None
        source_detail = ""
        pool = self.earlier[spec.code]
        if src_roll < 0.20 and pool:
            source, referred_by = "referral", _pick(rng, pool)
        elif src_roll < 0.30:
            source, source_detail = "campaign", _pick(rng, CAMPAIGNS)
        elif src_roll < 0.37:
            source, source_detail = "online", _pick(rng, ONLINE)
        elif src_roll < 0.42:
            source, source_detail = "phone", "400热线"
        elif src_roll < 0.45:
            source, source_detail = "event", _pick(rng, CAMPAIGNS)
        else:
            source = "walk_in"
        lost_reason = _pick(rng, LOST_REASONS) if status == "lost" else ""
        created = self._ts(met, rng)
        self.customers.add(
            (
                cid,
                self.org_id,
                "company" if is_company else "person",
                name,
                gender,
                company,
                title,
                phone,
                wechat,
                email,
                "广东省",
                spec.city,
                address,
                lat,
                lng,
                birthday,
                calendar,
                lunar_m,
                lunar_d,
                personality,
                preferences,
                special,
                *form,
                source,
                source_detail,
                referred_by,
                owner_id,
                store_id,
                status,
                lost_reason,
                created,
                created,
            )
        )
        row = self.customers.rows[-1]
        self.history.add((*row[:-1], created, "demo data", "+", owner_id))

        # Timeline and products
        plates: list[str] = []
        vins: list[str] = []
        self._activity(
            cid, "visit", met, owner_id, "到店看车", f"客户到店了解车型，来源：{source_detail or source}", rng
        )
        if status != "prospect":
            n_cars = 2 if rng.random() < (0.5 if is_company else 0.2) else 1
            delivered = min(today - 3, met + _ri(rng, 3, 40))
            lost_on = today - _ri(rng, 60, 400) if status == "lost" else None
            # About one active customer in seven has quietly stopped coming to the workshop (a cheaper
            # garage, a move): the crisis signals and the retention figures need them. A separate
            # generator keeps every other draw of this customer as it was.
            drift_rng = random.Random(self.seed * 7_777_777 + index)
            # Owners differ: some come every 3 months, some once a year (mileage, habits).
            cadence = drift_rng.choice((100, 130, 160, 180, 200, 240, 300, 365))
            drifted_on = (
                today - _ri(drift_rng, 150, 480) if status == "active" and drift_rng.random() < 0.15 else None
            )
            for n in range(n_cars):
                if n == 1:
                    delivered = delivered + _ri(rng, 180, 900)
                    if delivered > today - 7:
                        break
                car_id, car_name, price = self.cat.cars[_bisect(_CAR_CUM, rng.random() * _CAR_CUM[-1])]
                kind = (
                    "first"
                    if n == 0
                    else ("expansion" if is_company or rng.random() < 0.4 else "replacement")
                )
                vehicle_index = self.vehicles
                self.vehicles += 1
                oid = self._id(self.owned)
                vin = _vin(vehicle_index, _year(delivered), rng)
                plate = _plate(vehicle_index, _pick(rng, spec.plate_prefixes), car_name.startswith("bZ"))
                vins.append(vin)
                plates.append(plate)
                km_per_day = rng.uniform(25, 70)
                end = min(today, lost_on or today, drifted_on or today)
                services = self._services(cid, store_id, spec.code, delivered, end, rng, cadence)
                mileage = int(km_per_day * (today - delivered))
                last_service = services[-1] if services else None
                anniversary = delivered + 365 * ((today - delivered) // 365 + 1)
                self.owned.add(
                    (
                        oid,
                        self.org_id,
                        cid,
                        car_id,
                        car_name,
                        vin,
                        plate,
                        self._day(delivered),
                        mileage,
                        self._day(last_service) if last_service else None,
                        self._day(anniversary),
                        "家用" if not is_company else "商务用车",
                        not (n == 0 and kind == "replacement"),
                        self._ts(delivered, rng),
                        self._ts(last_service or delivered, rng),
                    )
                )
                ordered = delivered - _ri(rng, 7, 30)
                amount = round(price * rng.uniform(0.88, 0.98), -2)
                overdue = rng.random() < 0.02
                pid = self._purchase(
                    cid,
                    store_id,
                    owner_id,
                    ordered,
                    kind,
                    amount,
                    amount * rng.uniform(0.02, 0.07),
                    delivered,
                    overdue,
                    car_id,
                    car_name,
                    rng,
                )
                word = {"first": "首次购车", "replacement": "置换购车", "expansion": "增购"}[kind]
                self._activity(
                    cid, "purchase", ordered, owner_id, f"{word} {car_name} ¥{amount:,.0f}", "", rng, pid
                )
                self._activity(
                    cid,
                    "call",
                    delivered + _ri(rng, 1, 3),
                    owner_id,
                    "交车三日回访",
                    "询问用车情况，客户满意",
                    rng,
                )
                gift = _pick(rng, GIFTS)
                self._activity(
                    cid,
                    "gift",
                    delivered + _ri(rng, 4, 7),
                    owner_id,
                    "送交车照片，请客户推荐朋友",
                    "",
                    rng,
                    gift=gift,
                )
            if drifted_on is not None and drift_rng.random() < 0.4:
                self._activity(
                    cid,
                    "call",
                    min(today - 1, drifted_on + _ri(drift_rng, 30, 120)),
                    owner_id,
                    "保养提醒回访",
                    "客户说最近在竞争对手的店做保养，价格更便宜",
                    drift_rng,
                )
            for day in range(met + _ri(rng, 90, 200), today, _ri(rng, 120, 240)):
                kind_roll = rng.random()
                if kind_roll < 0.5:
                    self._activity(cid, "call", day, owner_id, "定期电话回访", "", rng)
                elif kind_roll < 0.8:
                    self._activity(cid, "sms", day, owner_id, "节日问候短信", "", rng)
                elif kind_roll < 0.9:
                    self._activity(
                        cid, "survey", day, _pick(rng, self.staff.dcrc_ids), "满意度回访", "非常满意", rng
                    )
                elif kind_roll < 0.95:
                    self._activity(cid, "visit", day, owner_id, "上门拜访", "", rng)
                else:
                    self._activity(
                        cid,
                        "complaint",
                        day,
                        owner_id,
                        "客户抱怨保养等候时间长",
                        "已致歉并安排专人跟进",
                        rng,
                    )
            if rng.random() < 0.03:
                tid = self._id(self.testimonials)
                at = self._ts(min(today - 1, delivered + 7), rng)
                self.testimonials.add(
                    (tid, cid, car_id, _pick(rng, TESTIMONIALS), True, at, owner_id, at, at)
                )
            self.earlier[spec.code].append(cid)
        else:
            for day in sorted({min(today - 1, met + _ri(rng, 1, 60)) for _ in range(_ri(rng, 1, 3))}):
                self._activity(cid, "call", day, owner_id, "跟进意向", "客户仍在比较车型", rng)

        if rng.random() < 0.03:
            nid = self._id(self.notes)
            at = self._ts(min(today - 1, met + 30), rng)
            self.notes.add((nid, cid, owner_id, _pick(rng, CONFIDENTIAL), at, at))
        if rng.random() < 0.4:
            for tag_id in rng.sample(self.cat.tags, _ri(rng, 1, 2)):
                self.tags.add((self._id(self.tags), cid, tag_id))
        for channel, share in (("sms", 0.92), ("phone", 0.95), ("wechat", 0.7)):
            if channel == "wechat" and not wechat:
                continue
            granted = rng.random() < share
            at = self._ts(met if granted else min(today - 1, met + _ri(rng, 30, 500)), rng)
            source = "form" if granted else ("sms_reply" if channel == "sms" else "verbal")
            self.consents.add((self._id(self.consents), cid, channel, granted, source, at, owner_id))
        if not is_company and rng.random() < 0.15:
            wedding = _days(
                dt.date(max(1970, _year(today) - _ri(rng, 1, 30)), _ri(rng, 1, 12), _ri(rng, 1, 28))
            )
            self.dates.add(
                (self._id(self.dates), cid, "wedding", "结婚纪念日", "solar", _iso(wedding), None, None)
            )
        elif is_company and rng.random() < 0.3:
            founded = _days(dt.date(_ri(rng, 1995, 2020), _ri(rng, 1, 12), _ri(rng, 1, 28)))
            self.dates.add(
                (
                    self._id(self.dates),
                    cid,
                    "company_anniversary",
                    "公司成立日",
                    "solar",
                    _iso(founded),
                    None,
                    None,
                )
            )
        for key in sorted(customer_keys(name=name, phones=[phone], plates=plates, vins=vins)):
            self.keys.add((self._id(self.keys), cid, key))

    def _services(
        self, cid: int, store_id: int, code: str, delivered: int, end: int, rng: random.Random, cadence: int
    ) -> list[int]:
        done: list[int] = []
        day = delivered + _ri(rng, 80, 110)
        first = True
        staff = self.staff.service_by_store[code]
        while day < end:
            if first:
                sku = "SVC-FIRST"
            else:
                roll = rng.random()
                sku = "SVC-BODY" if roll < 0.12 else "SVC-ACC" if roll < 0.2 else "SVC-MAINT"
            pid_, name, low, high = self.cat.services[sku]
            amount = round(rng.uniform(low, high), -1)
            pid = self._purchase(
                cid,
                store_id,
                None,
                day,
                "service",
                amount,
                amount * rng.uniform(0.3, 0.45),
                day,
                rng.random() < 0.01,
                pid_,
                name,
                rng,
            )
            self._activity(cid, "service", day, staff, f"{name} ¥{amount:,.0f}", "", rng, pid)
            done.append(day)
            first = False
            day += int(cadence * rng.uniform(0.8, 1.25))
        for year in range(1, (end - delivered) // 365 + 1):
            if rng.random() < 0.6:
                day = delivered + 365 * year - _ri(rng, 0, 20)
                pid_, name, low, high = self.cat.services["SVC-INS"]
                amount = round(rng.uniform(low, high), -1)
                pid = self._purchase(
                    cid,
                    store_id,
                    None,
                    day,
                    "service",
                    amount,
                    amount * rng.uniform(0.08, 0.12),
                    day,
                    False,
                    pid_,
                    name,
                    rng,
                )
                self._activity(cid, "service", day, staff, f"{name} ¥{amount:,.0f}", "", rng, pid)
        return done

    def _purchase(
        self,
        cid: int,
        store_id: int,
        rep_id: int | None,
        ordered: int,
        kind: str,
        amount: float,
        margin: float,
        due: int,
        overdue: bool,
        product_id: int,
        label: str,
        rng: random.Random,
    ) -> int:
        pid = self._id(self.purchases)
        if due > self.today:
            paid, paid_on = 0.0, None
        elif overdue:
            paid, paid_on = round(amount * _pick(rng, (0, 0.3, 0.5)), -1), None
        else:
            paid, paid_on = amount, self._day(min(self.today, due + _ri(rng, -3, 5)))
        at = self._ts(ordered, rng)
        self.purchases.add(
            (
                pid,
                self.org_id,
                cid,
                store_id,
                rep_id,
                self._day(ordered),
                kind,
                _money(amount),
                _money(margin),
                self._day(due),
                _money(paid),
                paid_on,
                label,
                at,
                at,
            )
        )
        self.lines.add((self._id(self.lines), pid, product_id, label, "1.00", _money(amount), _money(amount)))
        return pid

    def _activity(
        self,
        cid: int,
        kind: str,
        day: int,
        user_id: int | None,
        subject: str,
        body: str,
        rng: random.Random,
        purchase_id: int | None = None,
        gift: str = "",
    ) -> None:
        if day > self.today:
            return
        at = self._ts(day, rng)
        self.activities.add(
            (
                self._id(self.activities),
                self.org_id,
                cid,
                kind,
                at,
                user_id,
                subject,
                body,
                gift,
                purchase_id,
                at,
            )
        )


def _bisect(cum: Sequence[float], x: float) -> int:
    return min(len(cum) - 1, bisect_right(cum, x))


def _year(ordinal: int) -> int:
    return dt.date.fromordinal(ordinal).year


def demo_load(
    *,
    customers: int = 5000,
    seed: int = 42,
    progress: bool = True,
    today: dt.date | None = None,
    on_phase: Callable[[str, float], None] | None = None,
) -> list[dict[str, str]]:
    """Create or refresh the demo organisation and return one login per role.

    If the organisation already holds ``customers`` customers, only the people (and their demo
    passwords) are refreshed; otherwise its archive is wiped and regenerated from ``seed``.
    """
    import time

    from tqdm import tqdm

    from huitou.accounts.models import Organisation
    from huitou.customers.models import Customer

    def phase(name: str, started: float) -> None:
        if on_phase is not None:
            on_phase(name, time.perf_counter() - started)

    today = today or timezone.localdate()
    t0 = time.perf_counter()
    with transaction.atomic():
        org, _ = Organisation.objects.get_or_create(
            slug=DEMO_SLUG, defaults={"name": DEMO_NAME, "kind": Organisation.Kind.DEALER}
        )
        staff = _people(org)
        have = Customer.objects.filter(organisation=org).count()
        phase("people", t0)
        if have == customers:
            return _with_voucher_code(staff.logins, org)
        if have or _has_archive(org.pk):
            t = time.perf_counter()
            _purge_archive(org.pk)
            phase("wipe", t)
        t = time.perf_counter()
        cat = _catalogue(org)
        writer = _Writer()
        kwargs = {
            "org_id": org.pk,
            "staff": staff,
            "cat": cat,
            "writer": writer,
            "seed": seed,
            "today": today,
        }
        bar = tqdm(total=customers, desc="demo customers", unit="cust", disable=not progress)
        if customers >= LITE_FROM:
            scale = _ScaleGenerator(size=customers, **kwargs)  # type: ignore[arg-type]
            with _bulk_mode(list(writer.tables)):
                for begin in range(0, customers, scale.CHUNK):
                    end = min(customers, begin + scale.CHUNK)
                    scale.chunk(begin, end)
                    writer.flush()
                    bar.update(end - begin)
                bar.close()
                phase("archive", t)
                t = time.perf_counter()
            phase("indexes", t)
        else:
            gen = _Generator(size=customers, **kwargs)  # type: ignore[arg-type]
            for begin in range(0, customers, 1000):
                end = min(customers, begin + 1000)
                for i in range(begin, end):
                    gen.customer(i)
                writer.flush()
                bar.update(end - begin)
            bar.close()
            phase("archive", t)
        t = time.perf_counter()
        _reset_sequences(t.model for t in writer.tables.values())
        with connection.cursor() as cur:
            for table in writer.tables:
                cur.execute(f"ANALYZE {connection.ops.quote_name(table)}")
        phase("analyze", t)
        voucher_code = ""
        if customers < LITE_FROM:
            from huitou.analytics.nightly import nightly_run
            from huitou.analytics.services import segments_refresh
            from huitou.feedback.demo import feedback_demo
            from huitou.followups.demo import contact_plan_demo
            from huitou.referrals.demo import referral_demo
            from huitou.reports.demo import reports_demo

            # Tiers first, as the nightly segmentation sets them: the plan's gold visits read them.
            t = time.perf_counter()
            segments_refresh(organisation=org, as_of=today)
            phase("segments", t)
            # Referrals before the plan: its referral asks skip customers whose quota is met.
            t = time.perf_counter()
            voucher_code = referral_demo(organisation=org, today=today, seed=seed)
            phase("referrals", t)
            t = time.perf_counter()
            contact_plan_demo(organisation=org, today=today, seed=seed)
            phase("contact plan", t)
            t = time.perf_counter()
            feedback_demo(organisation=org, today=today, seed=seed)
            phase("feedback", t)
            t = time.perf_counter()
            reports_demo(organisation=org, today=today, seed=seed)  # wallet estimates, promotions
            phase("account reports", t)
            # The rest of the night's analytics, as the worker runs it (segments are done already):
            # lifetime value with the day's tiers, then the risk scores the at-risk lists read.
            t = time.perf_counter()
            nightly_run(organisation=org, as_of=today)
            phase("lifetime value and risk", t)
    if customers >= LITE_FROM and connection.vendor == "postgresql":
        # Outside the transaction (VACUUM cannot run in one): sets the visibility map, so searches
        # read the search-key index alone instead of fetching millions of fresh heap rows.
        t = time.perf_counter()
        with connection.cursor() as cur:
            for table in writer.tables:
                cur.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")
        phase("vacuum", t)
    return _with_voucher_code(staff.logins, org, voucher_code)


def _with_voucher_code(
    logins: list[dict[str, str]], org: Organisation, code: str | None = None
) -> list[dict[str, str]]:
    """The after-sales login's note names an outstanding voucher its desk can redeem."""
    from huitou.referrals.demo import demo_voucher_code

    code = code if code is not None else demo_voucher_code(org)
    if not code:
        return logins
    return [
        {**row, "note": f"{row.get('note', '')}; voucher to redeem at the desk: {code}"}
        if row["role"] == "aftersales"
        else row
        for row in logins
    ]


@contextmanager
def _bulk_mode(tables: list[str]) -> Iterator[None]:
    """PostgreSQL at scale: build secondary indexes once after the load, not row by row, and skip
    the foreign-key triggers (the generator's rows are consistent by construction).

    Both take locks that block other writers of these tables until the transaction ends: meant
    for building benchmark sets, which is what the scale path is for.
    """
    if connection.vendor != "postgresql":
        yield
        return
    from django.db import DatabaseError

    qn = connection.ops.quote_name
    with connection.cursor() as cur:
        try:
            with transaction.atomic():  # replica mode needs superuser; without it we only go slower
                cur.execute("SET LOCAL session_replication_role = replica")
        except DatabaseError:
            pass
        cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cur.execute(
            """
            SELECT t.relname, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid),
                   c.conname, pg_get_constraintdef(c.oid)
            FROM pg_index i
            JOIN pg_class t ON t.oid = i.indrelid
            LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.contype = 'u'
            WHERE t.relname = ANY(%s) AND NOT i.indisprimary AND t.relnamespace = 'public'::regnamespace
            """,
            [tables],
        )
        found = cur.fetchall()
        for table, index, _indexdef, constraint, _condef in found:
            if constraint:
                cur.execute(f"ALTER TABLE {qn(table)} DROP CONSTRAINT {qn(constraint)}")
            else:
                cur.execute(f"DROP INDEX {index}")
    yield
    with connection.cursor() as cur:
        for table, _index, indexdef, constraint, condef in found:
            if constraint:
                cur.execute(f"ALTER TABLE {qn(table)} ADD CONSTRAINT {qn(constraint)} {condef}")
            else:
                cur.execute(indexdef)
        cur.execute("SET LOCAL session_replication_role = origin")


def _has_archive(org_id: int) -> bool:
    from huitou.customers.models import Product

    return Product.objects.filter(organisation_id=org_id).exists()


# --- the scale set ----------------------------------------------------------------------------------


class _ScaleGenerator:
    """The benchmark set (``LITE_FROM`` customers and more), drawn in numpy a chunk at a time.

    Leaner than the demo: customers, vehicles, car purchases and service visits, insurance
    renewals, consents for SMS and phone, one timeline entry per car bought, and search keys.
    No purchase lines, audit rows, FORM notes, tags or personal dates.
    """

    CHUNK = 20_000

    def __init__(
        self,
        *,
        org_id: int,
        staff: _Staff,
        cat: _Catalogue,
        writer: _Writer,
        seed: int,
        size: int,
        today: dt.date,
    ):
        from huitou.customers.models import (
            Activity,
            Consent,
            Customer,
            CustomerSearchKey,
            OwnedProduct,
            Purchase,
        )

        self.org_id, self.staff, self.cat, self.seed, self.size = org_id, staff, cat, seed, size
        self.writer = writer
        self.tz = writer.tz
        self.today = _days(today)
        self.start = self.today - 365 * HISTORY_YEARS
        self.iso_from = dt.date(1940, 1, 1).toordinal()
        self.iso = [_iso(o) for o in range(self.iso_from, self.today + 800)]
        w = writer
        self.customers = w.table(
            Customer,
            _cols(
                "id organisation_id kind name gender phone province city address latitude longitude"
                " birthday birthday_calendar birthday_lunar_month birthday_lunar_day source source_detail"
                " referred_by_id owner_id store_id status lost_reason created_at updated_at"
            ),
        )
        self.keys = w.table(CustomerSearchKey, ("id", "customer_id", "key"))
        self.consents = w.table(Consent, ("id", "customer_id", "channel", "granted", "source", "recorded_at"))
        self.owned = w.table(
            OwnedProduct,
            _cols(
                "id organisation_id customer_id product_id description vin plate delivered_on mileage_km"
                " insurance_expires_on usage active created_at updated_at"
            ),
        )
        self.purchases = w.table(
            Purchase,
            _cols(
                "id organisation_id customer_id store_id rep_id ordered_on kind amount margin payment_due_on"
                " paid_amount paid_on note created_at updated_at"
            ),
        )
        self.activities = w.table(
            Activity,
            _cols("id organisation_id customer_id kind occurred_at user_id subject purchase_id created_at"),
        )
        for t in w.tables.values():
            t.next_id = _next_id(t.model)
        self.vehicles = 0

    def chunk(self, begin: int, end: int) -> None:
        import numpy as np

        rng = np.random.default_rng([self.seed, begin])
        n = end - begin
        today, start, iso, iso_from, tz = self.today, self.start, self.iso, self.iso_from, self.tz
        cid0 = self.customers.next_id
        cids = np.arange(cid0, cid0 + n)
        self.customers.next_id += n

        weights = np.array([s.weight for s in STORES])
        store = rng.choice(len(STORES), size=n, p=weights / weights.sum())
        rep_table = np.zeros((len(STORES), max(len(s.reps) for s in STORES)), dtype=np.int64)
        rep_count = np.array([len(s.reps) for s in STORES])
        for si, s in enumerate(STORES):
            rep_table[si, : len(s.reps)] = self.staff.reps[s.code]
        owner = rep_table[store, (rng.random(n) * rep_count[store]).astype(np.int64)]
        store_id = np.array([self.staff.store_ids[s.code] for s in STORES])[store]
        idx = np.arange(begin, end)
        met = start + ((today - 10 - start) * (idx + rng.random(n)) / self.size).astype(np.int64)
        roll = rng.random(n)
        status = np.where(roll < 0.09, 0, np.where(roll < 0.12, 2, 1))  # prospect, active, lost
        company = rng.random(n) < 0.08
        male = rng.random(n) < 0.56
        sur_w = np.array([w for _s, w in SURNAMES], dtype=float)
        surname = rng.choice(len(SURNAMES), size=n, p=sur_w / sur_w.sum())
        form = rng.random(n)
        g1 = rng.random(n)
        g2 = rng.random(n)
        names, genders = [], []
        for is_co, is_m, s_i, f, a, b, st in zip(
            company.tolist(),
            male.tolist(),
            surname.tolist(),
            form.tolist(),
            g1.tolist(),
            g2.tolist(),
            store.tolist(),
            strict=True,
        ):
            if is_co:
                names.append(
                    f"{STORES[st].city[:2]}{COMPANY_WORDS[int(a * 12)]}{COMPANY_WORDS[int(b * 12)]}"
                    f"{COMPANY_KINDS[int(f * 9)]}有限公司"
                )
                genders.append("")
                continue
            single, pairs = (MALE_GIVEN, MALE_PAIRS) if is_m else (FEMALE_GIVEN, FEMALE_PAIRS)
            if f < 0.35:
                given = single[int(a * len(single))]
            elif f < 0.675:
                given = pairs[int(a * len(pairs))]
            else:
                given = single[int(a * len(single))] + single[int(b * len(single))]
            names.append(SURNAMES[s_i][0] + given)
            genders.append("m" if is_m else "f")
        prefix = rng.integers(0, len(MOBILE_PREFIXES), n).tolist()
        number = rng.integers(0, 100_000_000, n).tolist()
        phones = [f"+86{MOBILE_PREFIXES[p]}{x:08d}" for p, x in zip(prefix, number, strict=True)]
        born = (today - rng.integers(23 * 365, 62 * 365, n)).tolist()
        lunar = (rng.random(n) < 0.10).tolist()
        lunar_m = rng.integers(1, 13, n).tolist()
        lunar_d = rng.integers(1, 30, n).tolist()
        lat = (np.array([s.lat for s in STORES])[store] + rng.normal(0, 0.035, n)).tolist()
        lng = (np.array([s.lng for s in STORES])[store] + rng.normal(0, 0.035, n)).tolist()
        road = rng.integers(0, len(ROADS), n).tolist()
        house = rng.integers(1, 1000, n).tolist()
        src = rng.random(n)
        earlier = (rng.random(n) * idx).astype(np.int64)  # an earlier customer of the set
        referral = (src < 0.20) & (idx > 0)
        referred = np.where(referral, cid0 - begin + earlier, 0).tolist()
        source = np.where(referral, 0, np.where(src < 0.30, 1, np.where(src < 0.37, 2, 3))).tolist()
        source_names = ("referral", "campaign", "online", "walk_in")
        lost_pick = rng.integers(0, len(LOST_REASONS), n).tolist()
        secs = (3600 + rng.integers(0, 39_600, n)).tolist()
        status_l, company_l, met_l, store_l = status.tolist(), company.tolist(), met.tolist(), store.tolist()
        owner_l, store_id_l, cid_l = owner.tolist(), store_id.tolist(), cids.tolist()
        status_names = ("prospect", "active", "lost")

        rows = self.customers.rows
        for i in range(n):
            st = STORES[store_l[i]]
            person = not company_l[i]
            created = f"{iso[met_l[i] - iso_from]} {_clock(secs[i])}{tz}"
            is_lunar = person and lunar[i]
            rows.append(
                (
                    cid_l[i],
                    self.org_id,
                    "person" if person else "company",
                    names[i],
                    genders[i],
                    phones[i],
                    "广东省",
                    st.city,
                    f"{st.districts[house[i] % len(st.districts)]}{ROADS[road[i]]}{house[i]}号",
                    f"{lat[i]:.6f}",
                    f"{lng[i]:.6f}",
                    iso[born[i] - iso_from] if person and not is_lunar else None,
                    "lunar" if is_lunar else "solar",
                    lunar_m[i] if is_lunar else None,
                    lunar_d[i] if is_lunar else None,
                    source_names[source[i]],
                    "",
                    referred[i] or None,
                    owner_l[i],
                    store_id_l[i],
                    status_names[status_l[i]],
                    LOST_REASONS[lost_pick[i]] if status_l[i] == 2 else "",
                    created,
                    created,
                )
            )
        granted_sms = (rng.random(n) < 0.92).tolist()
        granted_phone = (rng.random(n) < 0.95).tolist()
        crow = self.consents.rows
        consent_id = self.consents.next_id
        for i in range(n):
            at = f"{iso[met_l[i] - iso_from]} {_clock(secs[i])}{tz}"
            crow.append(
                (consent_id, cid_l[i], "sms", granted_sms[i], "form" if granted_sms[i] else "sms_reply", at)
            )
            crow.append(
                (
                    consent_id + 1,
                    cid_l[i],
                    "phone",
                    granted_phone[i],
                    "form" if granted_phone[i] else "verbal",
                    at,
                )
            )
            consent_id += 2
        self.consents.next_id = consent_id

        # Vehicles: one per buyer, a second for 20% of people and half the companies.
        buyer = status != 0
        second = buyer & (rng.random(n) < np.where(company, 0.5, 0.2))
        first_day = np.minimum(today - 3, met + rng.integers(3, 41, n))
        second_day = first_day + rng.integers(180, 901, n)
        second &= second_day <= today - 7
        owner_pos = np.concatenate([np.flatnonzero(buyer), np.flatnonzero(second)])
        delivered = np.concatenate([first_day[buyer], second_day[second]])
        nth = np.concatenate([np.zeros(buyer.sum(), dtype=np.int64), np.ones(second.sum(), dtype=np.int64)])
        order = np.lexsort((nth, owner_pos))
        owner_pos, delivered, nth = owner_pos[order], delivered[order], nth[order]
        v = len(owner_pos)
        car_w = np.array(CAR_WEIGHTS, dtype=float)
        model = rng.choice(len(CAR_MODELS), size=v, p=car_w / car_w.sum())
        price = np.array([c[2] for c in self.cat.cars])[model]
        amount = np.round(price * rng.uniform(0.88, 0.98, v), -2)
        margin = amount * rng.uniform(0.02, 0.07, v)
        ordered = delivered - rng.integers(7, 31, v)
        expansion = (rng.random(v) < 0.4) | company[owner_pos]
        kind = np.where(nth == 0, 0, np.where(expansion, 2, 1))  # first, replacement, expansion
        replaced = np.zeros(v, dtype=bool)
        replaced[:-1] = (nth[1:] == 1) & (kind[1:] == 1)  # the car before a replacement was traded in
        mileage = ((today - delivered) * rng.uniform(25, 70, v)).astype(np.int64)
        lost_on = np.where(status == 2, today - rng.integers(60, 401, n), today)
        last_day = lost_on[owner_pos]
        vehicle_no = np.arange(self.vehicles, self.vehicles + v)
        self.vehicles += v
        vins = _vins(vehicle_no, delivered, rng)
        pref_pick = rng.integers(0, 4, v).tolist()
        oid = np.arange(self.owned.next_id, self.owned.next_id + v)
        self.owned.next_id += v

        orow = self.owned.rows
        cust_plates: dict[int, list[str]] = {}
        cust_vins: dict[int, list[str]] = {}
        op_l, del_l, model_l = owner_pos.tolist(), delivered.tolist(), model.tolist()
        mil_l, rep_l, oid_l, vno_l = mileage.tolist(), replaced.tolist(), oid.tolist(), vehicle_no.tolist()
        for j in range(v):
            p = op_l[j]
            car_id, car_name, _price = self.cat.cars[model_l[j]]
            plate = _plate(
                vno_l[j], STORES[store_l[p]].plate_prefixes[pref_pick[j]], car_name.startswith("bZ")
            )
            cust_plates.setdefault(p, []).append(plate)
            cust_vins.setdefault(p, []).append(vins[j])
            d = del_l[j]
            at = f"{iso[d - iso_from]} {_clock(secs[p])}{tz}"
            orow.append(
                (
                    oid_l[j],
                    self.org_id,
                    cid_l[p],
                    car_id,
                    car_name,
                    vins[j],
                    plate,
                    iso[d - iso_from],
                    mil_l[j],
                    iso[d + 365 * ((today - d) // 365 + 1) - iso_from],
                    "商务用车" if company_l[p] else "家用",
                    not rep_l[j],
                    at,
                    at,
                )
            )

        # Purchases: the cars, then service visits every 150–210 days, then yearly insurance.
        kinds = ("first", "replacement", "expansion")
        overdue = rng.random(v) < 0.02
        car_rows = [
            (
                op_l[j],
                ordered_j,
                kinds[k],
                amount_j,
                margin_j,
                del_l[j],
                od,
                self.cat.cars[model_l[j]][0],
                self.cat.cars[model_l[j]][1],
                True,
            )
            for j, (ordered_j, k, amount_j, margin_j, od) in enumerate(
                zip(
                    ordered.tolist(),
                    kind.tolist(),
                    amount.tolist(),
                    margin.tolist(),
                    overdue.tolist(),
                    strict=True,
                )
            )
        ]
        steps = 8
        gaps = rng.integers(150, 211, (v, steps))
        gaps[:, 0] = rng.integers(80, 111, v)
        days = delivered[:, None] + np.cumsum(gaps, axis=1)
        # A traded-in car stops coming once the replacement is delivered.
        stop = last_day.copy()
        stop[:-1] = np.where(replaced[:-1], np.minimum(stop[:-1], delivered[1:]), stop[:-1])
        ok = days < stop[:, None]
        veh, step = np.nonzero(ok)
        sdays = days[veh, step]
        sroll = rng.random(len(veh))
        sku = np.where(step == 0, 0, np.where(sroll < 0.12, 2, np.where(sroll < 0.2, 4, 1)))
        svc = list(self.cat.services.values())  # FIRST, MAINT, BODY, INS, ACC in SERVICES order
        low = np.array([s[2] for s in svc], dtype=float)[sku]
        high = np.array([s[3] for s in svc], dtype=float)[sku]
        samount = np.round(low + (high - low) * rng.random(len(veh)), -1)
        smargin = samount * rng.uniform(0.3, 0.45, len(veh))
        years = np.arange(1, HISTORY_YEARS + 1)
        idays = delivered[:, None] + 365 * years[None, :] - rng.integers(0, 21, (v, HISTORY_YEARS))
        iok = (idays < stop[:, None]) & (rng.random((v, HISTORY_YEARS)) < 0.6)
        iveh, iyear = np.nonzero(iok)
        ins = svc[3]
        iamount = np.round(ins[2] + (ins[3] - ins[2]) * rng.random(len(iveh)), -1)
        service_rows = [
            (op_l[vj], d, "service", a, m, d, False, svc[s][0], svc[s][1], False)
            for vj, d, s, a, m in zip(
                veh.tolist(), sdays.tolist(), sku.tolist(), samount.tolist(), smargin.tolist(), strict=True
            )
        ] + [
            (op_l[vj], d, "service", a, a * 0.1, d, False, ins[0], ins[1], False)
            for vj, d, a in zip(iveh.tolist(), idays[iveh, iyear].tolist(), iamount.tolist(), strict=True)
        ]
        prow, arow = self.purchases.rows, self.activities.rows
        pid = self.purchases.next_id
        aid = self.activities.next_id
        late = (rng.integers(-3, 6, len(car_rows) + len(service_rows))).tolist()
        for k_i, (p, ordered_d, kind_s, amt, mrg, due, od, _prod, label, is_car) in enumerate(
            car_rows + service_rows
        ):
            if due > today:
                paid, paid_on = 0.0, None
            elif od:
                paid, paid_on = round(amt * 0.3, -1), None
            else:
                paid, paid_on = amt, iso[min(today, due + late[k_i]) - iso_from]
            at = f"{iso[ordered_d - iso_from]} {_clock(secs[p])}{tz}"
            prow.append(
                (
                    pid,
                    self.org_id,
                    cid_l[p],
                    store_id_l[p],
                    owner_l[p] if is_car else None,
                    iso[ordered_d - iso_from],
                    kind_s,
                    f"{amt:.2f}",
                    f"{mrg:.2f}",
                    iso[due - iso_from],
                    f"{paid:.2f}",
                    paid_on,
                    label,
                    at,
                    at,
                )
            )
            if is_car:
                arow.append(
                    (
                        aid,
                        self.org_id,
                        cid_l[p],
                        "purchase",
                        at,
                        owner_l[p],
                        f"购车 {label} ¥{amt:,.0f}",
                        pid,
                        at,
                    )
                )
                aid += 1
            pid += 1
        self.purchases.next_id, self.activities.next_id = pid, aid

        krow = self.keys.rows
        key_id = self.keys.next_id
        for i in range(n):
            for key in customer_keys(
                name=names[i], phones=[phones[i]], plates=cust_plates.get(i, []), vins=cust_vins.get(i, [])
            ):
                krow.append((key_id, cid_l[i], key))
                key_id += 1
        self.keys.next_id = key_id


_CLOCK = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]


def _clock(seconds: int) -> str:
    return _CLOCK[seconds]


def _vins(vehicle_no: Any, delivered: Any, rng: Any) -> list[str]:
    """VINs for a batch of vehicles, check digits computed in numpy (same scheme as ``_vin``)."""
    import numpy as np

    v = len(vehicle_no)
    wmi = np.array(["LVG", "LFM", "LVG", "LTV"])[rng.integers(0, 4, v)]
    vds_chars = np.array(list(VIN_CHARS))[rng.integers(0, len(VIN_CHARS), (v, 5))]
    vds = ["".join(r) for r in vds_chars.tolist()]
    years = np.array([dt.date.fromordinal(int(d)).year for d in delivered]) if v else np.array([], dtype=int)
    year_code = np.array(list("ABCDEFGHJKLMNPRSTVWXY123456789"))[(years - 2010) % 30]
    plant = np.array(list("ABCDEFGHJKLMNPRSTUVWXYZ"))[(np.asarray(vehicle_no) // 1_000_000) % 23]
    bodies = [
        f"{w}{d}0{y}{p}{s % 1_000_000:06d}"
        for w, d, y, p, s in zip(
            wmi.tolist(),
            vds,
            year_code.tolist(),
            plant.tolist(),
            np.asarray(vehicle_no).tolist(),
            strict=True,
        )
    ]
    if not bodies:
        return []
    table = np.zeros(256, dtype=np.int64)
    for ch, value in VIN_VALUES.items():
        table[ord(ch)] = value
    raw = np.frombuffer("".join(bodies).encode("ascii"), dtype=np.uint8).reshape(v, 17)
    rest = (table[raw] * np.array(VIN_WEIGHTS)).sum(axis=1) % 11
    check = np.where(rest == 10, "X", rest.astype(str)).tolist()
    return [b[:8] + c + b[9:] for b, c in zip(bodies, check, strict=True)]
