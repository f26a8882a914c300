"""HQ publishes the province's dual-channel list (validated like `rxlane catalog import`); heartbeat answers name its
version; stores download it with their token and can check it against its sha256."""
from __future__ import annotations

import hashlib
import json

from click.testing import CliRunner

from plugin.cli import main
from plugin.dclist import parse_document
from plugin.hq.enrolment import enroll
from tests.hq.conftest import bearer, beat
from tests.plugin.dclist_files import drugs, province_csv, province_xlsx


def publish(db_url: str, path, *extra: str):
    return CliRunner().invoke(main, ["hq", "publish-list", str(path), "--database-url", db_url, *extra], env={})


def test_a_published_list_is_named_in_heartbeat_answers_and_downloads_with_its_hash(hq, db_url, tmp_path):
    service, http = hq
    token = enroll(service.db, "jx-nc-0001").token
    assert http.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", 1), headers=bearer(token)).json()["catalog"] is None
    assert http.get("/v1/hq/catalog", headers=bearer(token)).status_code == 404
    src = tmp_path / "江西目录.xlsx"
    src.write_bytes(province_xlsx(drugs()))
    result = publish(db_url, src, "--source", "赣医保字〔2026〕1号", "--date", "2026-01-05", "--region", "jiangxi")
    assert result.exit_code == 0, result.output
    head = json.loads(result.stdout)
    assert head["rows"] == 3 and head["source"] == "赣医保字〔2026〕1号" and head["publication_date"] == "2026-01-05"
    service.heads.ttl_s = 0
    named = http.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", 2), headers=bearer(token)).json()["catalog"]
    assert named["version"] == head["version"] and named["url"] == "/v1/hq/catalog"
    got = http.get("/v1/hq/catalog", headers=bearer(token))
    assert got.status_code == 200 and got.headers["ETag"] == f'"{head["version"]}"'
    document = got.json()["document"].encode("utf-8")
    assert hashlib.sha256(document).hexdigest() == head["version"] == got.json()["sha256"]
    assert len(parse_document(document)) == 3
    unchanged = http.get("/v1/hq/catalog", headers={**bearer(token), "If-None-Match": f'"{head["version"]}"'})
    assert unchanged.status_code == 304
    assert http.get("/v1/hq/catalog").status_code == 401


def test_a_bad_list_is_not_published_and_the_current_one_stays(hq, db_url, tmp_path):
    service, http = hq
    good = tmp_path / "good.csv"
    good.write_bytes(province_csv(drugs(2)))
    first = json.loads(publish(db_url, good).stdout)
    rows = drugs()
    rows[0]["协议到期日期"] = "2027-02-29"
    bad = tmp_path / "bad.csv"
    bad.write_bytes(province_csv(rows))
    refused = publish(db_url, bad)
    assert refused.exit_code == 2 and json.loads(refused.stderr)["error"]["code"] == "LIST_INVALID"
    service.heads.ttl_s = 0
    assert service.heads.get().version == first["version"]


def test_publishing_the_same_list_twice_keeps_one_version(hq, db_url, tmp_path):
    service, _ = hq
    src = tmp_path / "l.csv"
    src.write_bytes(province_csv(drugs()))
    a = json.loads(publish(db_url, src).stdout)
    from plugin.dclist import read_province_file
    from plugin.dclist.columns import load_region_mapping
    from plugin.hq.published import publish as publish_imported
    imported = read_province_file(src.read_bytes(), "l.csv", mapping=load_region_mapping("jiangxi"),
                                  categories={"A", "B", "C"})
    again = publish_imported(service.db, imported)
    assert again.version != a["version"]                  # a new import is a new document (its imported_at)…
    assert publish_imported(service.db, imported).version == again.version   # …the same document is one version
