"""Import and export of customers, owned products and purchases (docs/IMPORT.md)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from django.utils import timezone

from huitou.cli import main as cli_main
from huitou.customers import selectors
from huitou.customers.io import ImportFileError, export_file, import_file
from huitou.customers.models import Activity, Consent, Customer, CustomerSearchKey, OwnedProduct, Purchase
from tests.factories import CustomerFactory, ProductFactory

HEADER = "external_id,name,phone,birthday,owner_username,store_code,tier,consent_sms,tags\n"


def write(tmp_path: Path, text: str, name: str = "customers.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def run(path: Path, **kw):
    kw.setdefault("kind", "customers")
    kw.setdefault("organisation_slug", "huanan")
    return import_file(path=path, **kw)


GOOD = (
    HEADER
    + "C1,王小明,13812345678,1985-03-02,rep1,TH,gold,yes,VIP;车主\n"
    + "C2,李娜,139 1234 5679,,rep3,PY,,no,\n"
)


# -- customers: happy path --------------------------------------------------------------------


def test_import_creates_customers_with_their_fields(org_world, tmp_path):
    result = run(write(tmp_path, GOOD))
    assert (result.created, result.updated, result.errors) == (2, 0, [])
    c = Customer.objects.get(external_id="C1")
    assert (c.name, c.phone, str(c.birthday), c.owner_id, c.store_id, c.tier) == (
        "王小明",
        "+8613812345678",
        "1985-03-02",
        org_world.rep1.pk,
        org_world.s1.pk,
        "gold",
    )
    assert sorted(c.tags.values_list("name", flat=True)) == ["VIP", "车主"]


def test_imported_customers_are_found_by_name_fragment_and_phone_suffix(org_world, tmp_path):
    run(write(tmp_path, GOOD))
    by_name = selectors.customer_list(org_world.owner, selectors.CustomerFilters(q="小明"))
    by_phone = selectors.customer_list(org_world.owner, selectors.CustomerFilters(q="5679"))
    assert [c.external_id for c in by_name.items] == ["C1"]
    assert [c.external_id for c in by_phone.items] == ["C2"]


def test_imported_customer_gets_a_history_row(org_world, tmp_path):
    run(write(tmp_path, GOOD), actor=org_world.owner)
    c = Customer.objects.get(external_id="C1")
    history = list(c.history.values_list("history_type", "history_user_id", "history_change_reason", "name"))
    assert history == [("+", org_world.owner.pk, "import customers.csv", "王小明")]


def test_import_records_consent_with_source_import(org_world, tmp_path):
    run(write(tmp_path, GOOD))
    rows = sorted(Consent.objects.values_list("customer__external_id", "channel", "granted", "source"))
    assert rows == [("C1", "sms", True, "import"), ("C2", "sms", False, "import")]
    assert Consent.history.filter(history_type="+").count() == 2


def test_reimport_of_same_file_creates_and_updates_nothing(org_world, tmp_path):
    path = write(tmp_path, GOOD)
    run(path)
    again = run(path)
    assert (again.created, again.updated, again.unchanged, again.errors) == (0, 0, 2, [])
    assert Customer.objects.count() == 2
    assert Customer.history.count() == 2


def test_reimport_with_a_changed_row_updates_it_with_history(org_world, tmp_path):
    run(write(tmp_path, GOOD))
    changed = GOOD.replace("王小明,13812345678", "王晓明,13812345678")
    result = run(write(tmp_path, changed, name="second.csv"))
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    c = Customer.objects.get(external_id="C1")
    assert (c.name, c.version) == ("王晓明", 2)
    assert list(c.history.order_by("history_id").values_list("history_type", "name")) == [
        ("+", "王小明"),
        ("~", "王晓明"),
    ]
    assert not CustomerSearchKey.objects.filter(customer=c, key="n:小明").exists()
    assert CustomerSearchKey.objects.filter(customer=c, key="n:晓明").exists()


def test_row_without_external_id_matches_existing_customer_by_phone(org_world, tmp_path):
    existing = CustomerFactory(owner=org_world.rep1, name="张三", phone="+8613700000001")
    result = run(write(tmp_path, "name,phone,tier\n张三,13700000001,silver\n"))
    assert (result.created, result.updated) == (0, 1)
    existing.refresh_from_db()
    assert existing.tier == "silver"


def test_referrer_earlier_in_the_file_is_linked(org_world, tmp_path):
    text = "external_id,name,referred_by_external_id\nR1,老客户,\nR2,新客户,R1\n"
    result = run(write(tmp_path, text))
    assert result.errors == []
    assert Customer.objects.get(external_id="R2").referred_by == Customer.objects.get(external_id="R1")


def test_chinese_header_aliases_are_accepted(org_world, tmp_path):
    result = run(write(tmp_path, "姓名,手机,生日\n陈静,13812345678,1990-01-31\n"))
    assert result.created == 1
    assert Customer.objects.get().birthday.isoformat() == "1990-01-31"


def test_gbk_encoded_file_is_read(org_world, tmp_path):
    path = write(tmp_path, "姓名,手机\n赵敏,13812345678\n", encoding="gbk")
    assert run(path).created == 1
    assert Customer.objects.get().name == "赵敏"


def test_utf8_file_with_bom_is_read(org_world, tmp_path):
    path = write(tmp_path, "name\n周杰\n", encoding="utf-8-sig")
    assert run(path).created == 1


# -- customers: rejected rows -----------------------------------------------------------------


def _errors(result):
    return [(e.line, e.field, e.error) for e in result.errors]


def test_malformed_phone_is_rejected_with_line_and_field(org_world, tmp_path):
    result = run(write(tmp_path, "name,phone\n甲,13812345678\n乙,1234\n"))
    assert _errors(result) == [(3, "phone", "malformed phone number '1234'")]
    assert list(Customer.objects.values_list("name", flat=True)) == ["甲"]


def test_impossible_date_is_rejected(org_world, tmp_path):
    result = run(write(tmp_path, "name,birthday\n甲,2023-02-30\n"))
    assert _errors(result) == [(2, "birthday", "impossible date '2023-02-30'")]
    assert Customer.objects.count() == 0


def test_missing_required_value_is_rejected(org_world, tmp_path):
    result = run(write(tmp_path, "external_id,name\nA1,\nA2,乙\n"))
    assert _errors(result) == [(2, "name", "required")]
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["A2"]


def test_duplicate_external_id_in_file_rejects_the_second_and_names_the_first(org_world, tmp_path):
    result = run(write(tmp_path, "external_id,name\nA1,甲\nA2,乙\nA1,丙\n"))
    assert _errors(result) == [(4, "external_id", "duplicate of line 2")]
    assert Customer.objects.get(external_id="A1").name == "甲"


def test_unknown_owner_is_rejected(org_world, tmp_path):
    result = run(write(tmp_path, "name,owner_username\n甲,nobody\n"))
    assert _errors(result) == [(2, "owner_username", "unknown user 'nobody'")]
    assert Customer.objects.count() == 0


def test_unknown_store_is_rejected(org_world, tmp_path):
    result = run(write(tmp_path, "name,store_code\n甲,XX\n"))
    assert _errors(result) == [(2, "store_code", "unknown store 'XX'")]
    assert Customer.objects.count() == 0


def test_bad_enum_value_is_rejected(org_world, tmp_path):
    result = run(write(tmp_path, "name,tier\n甲,platinum\n"))
    assert _errors(result) == [(2, "tier", "unknown value 'platinum'; use one of: gold, silver, bronze")]
    assert Customer.objects.count() == 0


def test_manager_cannot_assign_an_owner_outside_their_scope(org_world, tmp_path):
    path = write(tmp_path, "name,owner_username\n甲,rep1\n乙,rep3\n")
    result = run(path, actor=org_world.manager1)
    assert _errors(result) == [(3, "owner_username", "user 'rep3' is outside your scope")]
    assert list(Customer.objects.values_list("name", flat=True)) == ["甲"]


def test_dry_run_stores_nothing_and_reports_the_same(org_world, tmp_path):
    text = GOOD + "C3,,13812345670,,,,,,\n"
    dry = run(write(tmp_path, text), dry_run=True)
    assert Customer.objects.count() == 0
    assert Consent.objects.count() == 0
    assert Customer.history.count() == 0
    real = run(write(tmp_path, text, name="again.csv"))
    assert (dry.created, dry.updated, _errors(dry)) == (real.created, real.updated, _errors(real))
    assert (dry.created, _errors(dry)) == (2, [(4, "name", "required")])


# -- unusable files ---------------------------------------------------------------------------


def test_undecodable_file_is_refused(org_world, tmp_path):
    path = write(tmp_path, "name\n", encoding="utf-8")
    path.write_bytes(b"name\n\xff\xfe\xfa\n")
    with pytest.raises(ImportFileError, match="neither UTF-8 nor GBK"):
        run(path)


def test_utf16_file_is_refused(org_world, tmp_path):
    path = write(tmp_path, "name\n甲\n", encoding="utf-16")
    with pytest.raises(ImportFileError, match="UTF-16"):
        run(path)


def test_missing_required_column_is_refused(org_world, tmp_path):
    with pytest.raises(ImportFileError, match="missing required column\\(s\\) for customers: name"):
        run(write(tmp_path, "external_id,phone\nA,13812345678\n"))
    assert Customer.objects.count() == 0


def test_unknown_column_is_refused(org_world, tmp_path):
    with pytest.raises(ImportFileError, match="unknown column\\(s\\) for customers: phon"):
        run(write(tmp_path, "name,phon\n甲,1\n"))


def test_empty_file_is_refused(org_world, tmp_path):
    with pytest.raises(ImportFileError, match="empty"):
        run(write(tmp_path, ""))


def test_unknown_extension_is_refused(org_world, tmp_path):
    with pytest.raises(ImportFileError, match=r"unknown file type '\.txt'"):
        run(write(tmp_path, "name\n甲\n", name="c.txt"))


# -- export -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_then_import_round_trips(org_world, tmp_path, suffix):
    run(write(tmp_path, GOOD))
    CustomerFactory(owner=org_world.rep2, name="无编号", phone="+8613600000000", external_id=None)
    first = tmp_path / f"one{suffix}"
    assert export_file(kind="customers", path=first, organisation_slug="huanan") == 3
    result = run(first)
    assert (result.created, result.updated, result.unchanged, result.errors) == (0, 0, 3, [])
    second = tmp_path / f"two{suffix}"
    export_file(kind="customers", path=second, organisation_slug="huanan")
    if suffix == ".csv":
        assert first.read_bytes() == second.read_bytes()


def test_csv_export_writes_the_documented_layout_with_national_phones(org_world, tmp_path):
    run(write(tmp_path, GOOD))
    out = tmp_path / "out.csv"
    export_file(kind="customers", path=out, organisation_slug="huanan")
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows[0]["external_id"] == "C1"
    assert rows[0]["phone"] == "13812345678"
    assert rows[0]["tags"] == "VIP;车主"
    assert rows[0]["consent_sms"] == "yes"
    assert rows[0]["owner_username"] == "rep1"


def test_export_protects_formula_cells_and_import_restores_them(org_world, tmp_path):
    evil = "=cmd|' /C calc'!A0"
    CustomerFactory(owner=org_world.rep1, name=evil, external_id="X1", company="@SUM(1)")
    out = tmp_path / "out.csv"
    export_file(kind="customers", path=out, organisation_slug="huanan")
    row = next(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert (row["name"], row["company"]) == ("'" + evil, "'@SUM(1)")
    Customer.objects.update(name="changed", company="")
    run(out)
    assert Customer.objects.values_list("name", "company").get() == (evil, "@SUM(1)")


def test_xlsx_export_protects_formula_cells(org_world, tmp_path):
    from openpyxl import load_workbook

    evil = "=cmd|' /C calc'!A0"
    CustomerFactory(owner=org_world.rep1, name=evil, external_id="X1")
    out = tmp_path / "out.xlsx"
    export_file(kind="customers", path=out, organisation_slug="huanan")
    ws = load_workbook(out).active
    header = [c.value for c in ws[1]]
    assert ws.cell(row=2, column=header.index("name") + 1).value == "'" + evil


# -- owned products and purchases -------------------------------------------------------------


def test_owned_products_import_links_customers_and_is_idempotent(org_world, tmp_path):
    CustomerFactory(owner=org_world.rep1, external_id="C1", name="王小明")
    ProductFactory(organisation=org_world.org, sku="MODEL-Y")
    text = (
        "external_id,customer_external_id,sku,vin,plate,delivered_on,mileage_km\n"
        "V1,C1,MODEL-Y,LSVAB2BJ0AB123456,粤B12345,2024-05-01,1200\n"
        "V2,C9,MODEL-Y,LSVAB2BJ0AB123457,,2024-05-01,\n"
    )
    path = write(tmp_path, text, name="vehicles.csv")
    result = run(path, kind="products")
    assert (result.kind, result.created, _errors(result)) == (
        "owned_products",
        1,
        [(3, "customer_external_id", "unknown customer 'C9'")],
    )
    vehicle = OwnedProduct.objects.get()
    assert (vehicle.vin, vehicle.plate, vehicle.product.sku) == ("LSVAB2BJ0AB123456", "粤B12345", "MODEL-Y")
    assert CustomerSearchKey.objects.filter(customer__external_id="C1", key="c:12345").exists()
    again = run(path, kind="products")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)


def test_purchases_import_records_purchase_and_timeline(org_world, tmp_path):
    CustomerFactory(owner=org_world.rep1, external_id="C1", name="王小明", phone="+8613812345678")
    text = (
        "external_id,customer_phone,ordered_on,kind,amount,margin\n"
        "P1,13812345678,2024-05-01,first,150000.00,9000\n"
        "P2,13812345678,2024-13-01,first,1,0\n"
    )
    result = run(write(tmp_path, text, name="purchases.csv"), kind="purchases")
    assert (result.created, _errors(result)) == (1, [(3, "ordered_on", "impossible date '2024-13-01'")])
    purchase = Purchase.objects.get()
    assert (str(purchase.amount), str(purchase.margin), purchase.rep_id) == (
        "150000.00",
        "9000.00",
        org_world.rep1.pk,
    )
    assert purchase.history.count() == 1
    assert Activity.objects.filter(purchase=purchase, kind="purchase").count() == 1


def test_purchases_import_takes_the_dates_the_contact_plan_reacts_to(org_world, tmp_path):
    CustomerFactory(owner=org_world.rep1, external_id="C1")
    text = (
        "订单号,客户编号,下单日期,金额,承诺交付日期,发货日期,预计到达日期\n"
        "P1,C1,2026-11-01,1,2026-11-20,2026-11-12,\n"
    )

    result = run(write(tmp_path, text, name="purchases.csv"), kind="purchases")

    purchase = Purchase.objects.get()
    assert (result.created, _errors(result)) == (1, [])
    assert (purchase.promised_on, purchase.shipped_on, purchase.arrives_on) == (
        dt.date(2026, 11, 20),
        dt.date(2026, 11, 12),
        None,
    )


def test_purchases_export_round_trips(org_world, tmp_path):
    CustomerFactory(owner=org_world.rep1, external_id="C1", name="王小明")
    text = "external_id,customer_external_id,ordered_on,amount,margin\nP1,C1,2024-05-01,150000,-200\n"
    run(write(tmp_path, text, name="p.csv"), kind="purchases")
    out = tmp_path / "p.xlsx"
    assert export_file(kind="purchases", path=out, organisation_slug="huanan") == 1
    again = run(out, kind="purchases")
    assert (again.created, again.updated, again.unchanged, again.errors) == (0, 0, 1, [])


# -- command line -----------------------------------------------------------------------------


def test_cli_json_prints_counts_and_rejected_rows(org_world, tmp_path, capsys):
    path = write(tmp_path, "name,phone\n甲,13812345678\n乙,12\n")
    code = cli_main(["import", "customers", str(path), "--json", "--org", "huanan"])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {
        "created": 1,
        "updated": 0,
        "rejected": [{"line": 3, "field": "phone", "error": "malformed phone number '12'"}],
    }


def test_cli_exits_2_for_an_unusable_file(org_world, tmp_path, capsys):
    path = write(tmp_path, "phone\n13812345678\n")
    code = cli_main(["import", "customers", str(path), "--json", "--org", "huanan"])
    assert code == 2
    assert json.loads(capsys.readouterr().out) == {"error": "missing required column(s) for customers: name"}
    assert Customer.objects.count() == 0


def test_cli_dry_run_stores_nothing(org_world, tmp_path, capsys):
    path = write(tmp_path, "name\n甲\n")
    assert cli_main(["import", "customers", str(path), "--dry-run", "--json", "--org", "huanan"]) == 0
    assert json.loads(capsys.readouterr().out)["created"] == 1
    assert Customer.objects.count() == 0


def test_cli_export_writes_the_file(org_world, tmp_path, capsys):
    CustomerFactory(owner=org_world.rep1, name="甲")
    out = tmp_path / "all.csv"
    assert cli_main(["export", "customers", str(out), "--org", "huanan"]) == 0
    assert out.read_text(encoding="utf-8-sig").count("\n") == 2


def test_history_timestamp_is_the_import_time(org_world, tmp_path):
    before = timezone.now()
    run(write(tmp_path, GOOD))
    assert Customer.history.filter(history_date__gte=before).count() == 2


# -- chunks read ahead on a reader thread (importer._prepared_chunks) -------------------------


def test_referrer_in_an_earlier_chunk_is_linked(org_world, tmp_path, monkeypatch):
    monkeypatch.setattr("huitou.customers.io.importer.CHUNK_ROWS", 1)
    text = "external_id,name,referred_by_external_id\nR1,老客户,\nR2,新客户,R1\nR3,朋友,R2\n"
    result = run(write(tmp_path, text))
    assert (result.rows, result.created, result.errors) == (3, 3, [])
    links = dict(Customer.objects.values_list("external_id", "referred_by__external_id"))
    assert links == {"R1": None, "R2": "R1", "R3": "R2"}


def test_duplicate_in_a_later_chunk_names_the_line_of_the_first(org_world, tmp_path, monkeypatch):
    monkeypatch.setattr("huitou.customers.io.importer.CHUNK_ROWS", 2)
    text = "external_id,name,phone\nA1,甲,\n,乙,13812345678\nA3,丙,\nA1,丁,\n,戊,138 1234 5678\n"
    result = run(write(tmp_path, text))
    assert _errors(result) == [(5, "external_id", "duplicate of line 2"), (6, "phone", "duplicate of line 3")]
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["丙", "乙", "甲"]


def test_malformed_csv_in_a_later_chunk_keeps_the_earlier_chunks_and_names_the_line(
    org_world, tmp_path, monkeypatch
):
    monkeypatch.setattr("huitou.customers.io.importer.CHUNK_ROWS", 2)
    too_long = "x" * ((1 << 20) + 1)  # beyond csv.field_size_limit: the csv module raises
    text = f"external_id,name\nA1,甲\nA2,乙\nA3,丙\nA4,{too_long}\n"
    with pytest.raises(ImportFileError, match="line 5: the CSV is malformed"):
        run(write(tmp_path, text))
    assert sorted(Customer.objects.values_list("external_id", flat=True)) == ["A1", "A2"]


def test_new_customers_get_the_same_search_keys_as_a_rebuild(org_world, tmp_path):
    from huitou.customers import services

    text = "external_id,name,phone\nK1,欧阳 娜娜,13812345678\nK2,李·娜,\nK3,王,+86 139 1234 0001\n"
    run(write(tmp_path, text))
    ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    imported = sorted(CustomerSearchKey.objects.values_list("customer_id", "key"))
    services.search_keys_rebuild(customer_ids=ids)
    assert imported == sorted(CustomerSearchKey.objects.values_list("customer_id", "key"))
    assert len(imported) == 9
