"""``tillpoint catalog export`` and ``tillpoint catalog import``: CSV and JSON, upsert by
SKU, dry runs, the row-by-row report, all-or-nothing, and an exact round trip."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tillpoint.cli import app
from tillpoint.migrate import upgrade

HEADER = (
    "sku,parent_sku,name,slug,description,price,currency,compare_at_price,images,category,"
    "tags,weight_grams,tax_category,active,metadata,attributes,position\n"
)


def _env(monkeypatch: pytest.MonkeyPatch, db: Path) -> None:
    url = f"sqlite+aiosqlite:///{db}"
    upgrade(url)
    monkeypatch.setenv("TILLPOINT_DATABASE_URL", url)
    monkeypatch.setenv("TILLPOINT_SECRET_KEY", "cli-test-secret-key-long-enough-0123456789")
    monkeypatch.delenv("TILLPOINT_REDIS_URL", raising=False)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, tmp_path / "cli.db")


def _run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, list(args))
    return r.exit_code, r.stdout


def _export(fmt: str) -> str:
    code, out = _run("catalog", "export", "--format", fmt)
    assert code == 0, out
    return out


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_demo_catalog_round_trips_exactly(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env(monkeypatch, tmp_path / "a.db")
    assert _run("demo", "--no-serve")[0] == 0
    path = tmp_path / f"catalog.{fmt}"
    assert _run("catalog", "export", "--format", fmt, "-o", str(path))[0] == 0
    exported = path.read_text()
    assert "MUG-STONE-SLATE" in exported
    # Into an empty shop, then out again: the same file.
    _env(monkeypatch, tmp_path / "b.db")
    code, out = _run("catalog", "import", str(path))
    assert code == 0, out
    assert "12 products: 12 created, 0 updated, 0 unchanged, 0 refused; written" in out
    assert _export(fmt) == exported
    # Into the shop it came from: nothing changes.
    code, out = _run("catalog", "import", str(path))
    assert code == 0 and "0 created, 0 updated, 12 unchanged" in out


def test_csv_variants_and_updates(cli_env: None, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        HEADER
        + 'TEE,,"Tee, organic",,"Soft.\nWashable.",2500,,3000,https://img.example.com/t.jpg,'
        + "apparel,cotton|gift,180,standard,true,,,\n"
        + 'TEE-S,TEE,Small,,,,,,,,,,,true,,"{""size"": ""S""}",\n'
        + 'TEE-XL,TEE,XL,,,2700,,,,,,,,true,,"{""size"": ""XL""}",\n'
    )
    code, out = _run("catalog", "import", str(path))
    assert code == 0, out
    (product,) = json.loads(_export("json"))
    assert (product["slug"], product["description"], product["tags"]) == (
        "tee-organic",
        "Soft.\nWashable.",
        ["cotton", "gift"],
    )
    assert [(v["sku"], v["price"], v["attributes"]) for v in product["variants"]] == [
        ("TEE-S", None, {"size": "S"}),
        ("TEE-XL", 2700, {"size": "XL"}),
    ]
    # The file is the truth: a variant no longer listed is switched off, a price moves.
    path.write_text(path.read_text().replace("2500", "2600").rsplit("TEE-XL", 1)[0])
    code, out = _run("catalog", "import", str(path))
    assert code == 0 and "1 updated" in out, out
    (product,) = json.loads(_export("json"))
    assert product["price"] == 2600
    assert [(v["sku"], v["active"]) for v in product["variants"]] == [
        ("TEE-S", True),
        ("TEE-XL", False),
    ]


def _bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text(
        HEADER
        + "GOOD-1,,Good one,,,100,,,,,,,,,,,\n"
        + "BAD-1,,Bad price,,,-5,,,,,,,,,,,\n"
        + "BAD-2,,Bad image,,,100,,,ftp://x.example.com/a.png,,,,,,,,\n"
        + "BAD-2-V,BAD-2,Variant,,,,,,,,,,,,,,\n"
        + "GOOD-2,,Good two,,,200,,150,https://[x,,,,,,,,\n"
        + "ORPHAN,NOPE,Orphan,,,,,,,,,,,,,,\n"
        + "GOOD-3,,Good three,,,abc,,,,,,,,maybe,,,\n"
    )
    return path


def test_a_row_by_row_report_and_good_rows_imported(cli_env: None, tmp_path: Path) -> None:
    code, out = _run("catalog", "import", str(_bad_file(tmp_path)))
    assert code == 1
    assert "row 3: price: invalid_amount:" in out
    assert "row 4: images.0: invalid_image_url:" in out
    assert "row 6: compare_at_price: compare_at_below_price:" in out
    assert "row 6: images.0: invalid_image_url:" in out
    assert "row 7: parent_sku: unknown_parent:" in out
    assert "row 8: price: not_a_whole_number:" in out and "row 8: active: not_a_boolean:" in out
    assert "6 products: 1 created, 0 updated, 0 unchanged, 5 refused; written" in out
    skus = [p["sku"] for p in json.loads(_export("json"))]
    assert skus == ["GOOD-1"]


def test_dry_run_and_all_or_nothing_write_nothing(cli_env: None, tmp_path: Path) -> None:
    bad = _bad_file(tmp_path)
    code, out = _run("catalog", "import", "--all-or-nothing", str(bad))
    assert code == 1 and "nothing written (--all-or-nothing)" in out
    assert json.loads(_export("json")) == []
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps([{"sku": "A", "name": "A", "price": 1}, {"sku": "B", "name": "B", "price": 2}])
    )
    code, out = _run("catalog", "import", "--dry-run", str(good))
    assert code == 0 and "2 created" in out and "dry run: nothing written" in out
    assert json.loads(_export("json")) == []
    assert _run("catalog", "import", str(good))[0] == 0
    assert [p["sku"] for p in json.loads(_export("json"))] == ["A", "B"]


def test_sku_clashes_and_json_errors_are_reported(cli_env: None, tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(
            [
                {"sku": "P1", "name": "One", "price": 1, "variants": [{"sku": "V1", "name": "v"}]},
                {"sku": "P2", "name": "Two", "price": 1, "variants": [{"sku": "v1", "name": "v"}]},
                {"sku": "P3", "name": "Three", "price": "lots", "colour": "red"},
                {"sku": "P4", "name": "Four", "price": 1, "variants": ["P4-S"]},
            ]
        )
    )
    code, out = _run("catalog", "import", str(path))
    assert code == 1
    assert "row 2: variants.0.sku: sku_taken:" in out
    assert "row 3: price: not_a_whole_number:" in out and "row 3: colour: unknown_field:" in out
    assert "row 4: variants: not_a_list:" in out
    code, out = _run("catalog", "import", "--format", "json", str(_bad_file(tmp_path)))
    assert code == 2


def test_the_csv_export_reads_as_csv(cli_env: None, tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    path.write_text(json.dumps([{"sku": "Q", "name": 'Quote "this", please', "price": 5}]))
    assert _run("catalog", "import", str(path))[0] == 0
    rows = list(csv.DictReader(io.StringIO(_export("csv"))))
    assert rows[0]["name"] == 'Quote "this", please' and rows[0]["price"] == "5"


def test_every_field_survives_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full = {
        "sku": "LAMP-01", "name": "Brass Lamp, \"large\"", "price": 8900, "currency": "EUR",
        "slug": "brass-lamp", "description": "Warm.\n\nBrass; linen.", "compare_at_price": 9900,
        "images": ["https://img.example.com/a.jpg?w=1&h=2", "http://img.example.com/b.jpg"],
        "category": "home", "tags": ["light", "gift idea"], "weight_grams": 1800,
        "tax_category": "reduced", "active": False, "metadata": {"supplier": {"id": 7}},
        "variants": [
            {"sku": "LAMP-01-BK", "name": "Black", "price": 9200, "compare_at_price": None,
             "weight_grams": 1700, "attributes": {"finish": "black"}, "position": 3,
             "active": False},
        ],
    }  # fmt: skip
    _env(monkeypatch, tmp_path / "a.db")
    source = tmp_path / "in.json"
    source.write_text(json.dumps([full]))
    assert _run("catalog", "import", str(source))[0] == 0
    as_json = _export("json")
    path = tmp_path / "out.csv"
    assert _run("catalog", "export", "-o", str(path))[0] == 0
    _env(monkeypatch, tmp_path / "b.db")
    assert _run("catalog", "import", str(path))[0] == 0
    assert _export("json") == as_json
    (product,) = json.loads(as_json)
    assert {k: product[k] for k in full if k != "variants"} == {
        k: v for k, v in full.items() if k != "variants"
    }
    assert product["variants"] == full["variants"]
