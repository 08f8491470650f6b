import io
import re

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

from incident_cmd.cli import app as cli
from incident_cmd.customers import service
from incident_cmd.customers.models import Customer, Purchase
from incident_cmd.errors import Invalid

HEADER = "external_ref,name,phone,email,locale,timezone,region,product_model,batch,serial,purchase_date,sales_channel\n"
GOOD = (
    "C001,张伟,13800138000,zhang@example.com,zh-CN,,Guangdong,PX-200,B7,SN1,2026-03-01,JD\n"
    "C002,Kelly Moore,+1 212 555 0123,kelly@example.com,en,,New York,PX-200,B7,SN2,2026-03-02,Amazon\n"
    "C001,张伟,13800138000,zhang@example.com,zh-CN,,Guangdong,RC-10,B9,,2026-04-01,JD\n"
)
BAD = (
    "C003,李娜,12345,li@example.com,zh-CN,,Fujian,PX-200,B7,SN3,,\n"  # row 5: phone
    "C004,王强,13900139000,not-an-email,zh-CN,,Fujian,PX-200,B7,SN4,,\n"  # row 6: email
    "C005,赵磊,,zhao@example.com,fr,,Fujian,,,,,\n"  # row 7: locale
    "C001,张伟,13800138000,zhang@example.com,zh-CN,,Guangdong,PX-200,B7,SN1,2026-03-01,JD\n"  # row 8
    "C002,Kelly Other,+12125550123,kelly@example.com,en,,New York,,,,,\n"  # row 9: conflict
    ",无名,,,,,,,,,,\n"  # row 10: no ref
    "C006,陈静,,chen@example.com,zh-CN,Mars/Base,,,,,,\n"  # row 11: time zone
    "C007,孙丽,,sun@example.com,zh-CN,,,PX-200,B7,SN7,2026-13-01,\n"  # row 12: date
)


def run_import(session, text: str, chunk_rows: int = 2):
    return service.import_csv(
        session,
        stream=io.StringIO(text),
        chunk_rows=chunk_rows,
        after_chunk=lambda _: session.flush(),
    )


def test_good_rows_are_kept_and_bad_rows_named(session):
    report = run_import(session, HEADER + GOOD + BAD)
    assert report.rows == 11
    assert (report.customers_created, report.purchases_added) == (2, 3)
    rejected = [(item.row, item.field) for item in report.rejected]
    assert rejected == [
        (5, "phone"),
        (6, "email"),
        (7, "locale"),
        (8, None),
        (9, "external_ref"),
        (10, "external_ref"),
        (11, "timezone"),
        (12, "purchase_date"),
    ]
    assert report.rejected_total == 8
    assert "duplicate of row 2" in report.rejected[3].reason
    assert "different details on row 3" in report.rejected[4].reason
    zhang = session.exec(select(Customer).where(Customer.external_ref == "C001")).one()
    assert (zhang.name, zhang.phone, zhang.timezone) == ("张伟", "+8613800138000", "Asia/Shanghai")
    kelly = session.exec(select(Customer).where(Customer.external_ref == "C002")).one()
    assert kelly.timezone == "America/New_York"
    assert session.exec(select(func.count()).select_from(Customer)).one() == 2


def test_reimporting_the_same_file_changes_nothing(session):
    run_import(session, HEADER + GOOD)
    again = run_import(session, HEADER + GOOD)
    assert (
        again.customers_created,
        again.customers_updated,
        again.customers_unchanged,
        again.purchases_added,
    ) == (0, 0, 2, 0)
    assert session.exec(select(func.count()).select_from(Purchase)).one() == 3


def test_changed_details_update_the_customer(session):
    run_import(session, HEADER + GOOD)
    report = run_import(session, HEADER + GOOD.replace("Guangdong", "Hainan"))
    assert report.customers_updated == 1
    zhang = session.exec(select(Customer).where(Customer.external_ref == "C001")).one()
    assert zhang.region == "Hainan"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("external_ref,name,telephone\n", "unknown column(s) 'telephone'"),
        ("name,phone\n", "missing column(s) external_ref"),
        ("", "the file is empty"),
        ("external_ref,name,name\n", "named twice: name"),
    ],
)
def test_bad_header_refuses_the_file_and_imports_nothing(session, header, message):
    with pytest.raises(Invalid, match=re.escape(message)):
        run_import(session, header + ("C1,x\n" if header else ""))
    assert session.exec(select(func.count()).select_from(Customer)).one() == 0


def test_surplus_cells_are_rejected(session):
    report = run_import(
        session, "external_ref,name,phone\nC1,甲,13800138000,extra\nC2,乙,13800138001\n"
    )
    assert [(item.row, item.reason) for item in report.rejected] == [
        (2, "1 more cell(s) than columns")
    ]
    assert report.customers_created == 1


def test_api_upload_reports_rejects(client, headers):
    files = {"file": ("customers.csv", (HEADER + GOOD + BAD).encode("utf-8-sig"), "text/csv")}
    response = client.post("/api/v1/customers/import", files=files, headers=headers("comms"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customers_created"] == 2 and body["rejected_total"] == 8
    assert body["rejected"][0] == {
        "row": 5,
        "field": "phone",
        "reason": "Value error, not a valid phone number: '12345'",
    }
    denied = client.post("/api/v1/customers/import", files=files, headers=headers("agent"))
    assert denied.status_code == 403
    listed = client.get("/api/v1/customers", headers=headers("comms")).json()
    assert [item["external_ref"] for item in listed["items"]] == ["C001", "C002"]


@pytest.mark.parametrize(("role", "status"), [("agent", 200), ("responder", 200), ("viewer", 403)])
def test_agents_read_the_customer_directory_and_viewers_do_not(client, headers, role, status):
    files = {"file": ("customers.csv", (HEADER + GOOD).encode("utf-8-sig"), "text/csv")}
    client.post("/api/v1/customers/import", files=files, headers=headers("comms"))
    listed = client.get("/api/v1/customers", headers=headers(role))
    assert listed.status_code == status
    assert ("+86" in listed.text) is (status == 200)


def test_api_upload_refuses_non_utf8(client, headers):
    files = {"file": ("c.csv", (HEADER + "C1,Jos\xe9\n").encode("latin-1"), "text/csv")}
    response = client.post("/api/v1/customers/import", files=files, headers=headers("comms"))
    assert response.status_code == 422
    assert "not UTF-8" in response.json()["detail"]


def test_cli_import_with_progress_and_rejects(use_database, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text(HEADER + GOOD + BAD, encoding="utf-8")
    result = CliRunner().invoke(cli, ["customers", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert (
        "11 rows: 2 customers created, 0 updated, 0 unchanged, 3 purchases added, 8 rejected"
        in result.stdout
    )
    assert "row 5 phone: Value error, not a valid phone number: '12345'" in result.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("ref,name\n", encoding="utf-8")
    refused = CliRunner().invoke(cli, ["customers", "import", str(bad)])
    assert refused.exit_code == 1
    assert "unknown column(s) 'ref'" in refused.stderr


def test_a_row_nobody_could_be_told_is_refused(session):
    report = run_import(
        session, "external_ref,name,phone,email\nC1,甲,,\nC2,乙,13800138000,\nC3,丙,,c@x.com\n"
    )
    assert [(item.row, item.reason) for item in report.rejected] == [
        (2, "Value error, neither phone nor email: the customer could not be told anything")
    ]
    assert report.customers_created == 2


@pytest.mark.parametrize(
    "phone",
    ["+86 138 ABCD 0000", "1-800-FLOWERS", "+1 212 555 0123 ext. 4", "+86 138 ＡＢＣＤ 0000"],
)
def test_letters_in_a_phone_number_are_refused_not_read_as_keypad_digits(session, phone):
    report = run_import(session, f'external_ref,name,phone\nC1,甲,"{phone}"\n')
    assert [(item.row, item.field) for item in report.rejected] == [(2, "phone")]
    assert "has letters in it" in report.rejected[0].reason
    assert session.exec(select(func.count()).select_from(Customer)).one() == 0


@pytest.mark.parametrize("field", ["name", "product_model", "batch", "serial", "region"])
@pytest.mark.parametrize("breaker", ["\r\n", "\n", "\r", "\x0b", "\u2028"])
def test_line_breaks_and_control_characters_in_header_values_are_refused(session, field, breaker):
    values = {"name": "甲", "product_model": "PX-200", "batch": "B7", "serial": "S1", "region": "R"}
    values[field] = f"bad{breaker}Bcc: victim@example.com"
    cells = ",".join(f'"{values[name]}"' for name in values)
    text = f"external_ref,phone,{','.join(values)}\nC0,13800138000,甲,PX-200,B7,S0,R\nC1,13800138001,{cells}\n"
    report = run_import(session, text)
    assert [(item.row, item.field) for item in report.rejected] == [(3, field)]
    assert "line break or control character" in report.rejected[0].reason
    assert session.exec(select(func.count()).select_from(Customer)).one() == 1


def test_long_names_are_kept_up_to_the_documented_limit(session):
    long_name = "Maria " + "de los Santos " * 60  # real names from real systems run long
    too_long = "x" * 1001
    report = run_import(
        session,
        f"external_ref,name,phone\nC1,{long_name.strip()},13800138000\nC2,{too_long},13800138001\n",
    )
    assert [(item.row, item.field) for item in report.rejected] == [(3, "name")]
    kept = session.exec(select(Customer).where(Customer.external_ref == "C1")).one()
    assert kept.name == long_name.strip() and len(kept.name) > 200
