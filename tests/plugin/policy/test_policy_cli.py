"""``rxlane policy quote|show|list`` (docs/configuration.md): the split as JSON (exit 0) or an error object (exit 2),
never a traceback."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from plugin.commands.policy import policy
from plugin.policy.load import policies_dir

EXAMPLE = {"insutype": "310", "hosp_lv": "3", "acct_used": True, "balc": "50.00",
           "ytd": {"deductible_paid": "0", "fund_paid": "0", "selfpay": "0", "supplementary_paid": "0"},
           "lines": [{"med_list_codg": "XJ01", "category": "B", "price": "1000.00", "qty": "1",
                      "payment_standard": "1000.00", "eligible": True, "donated": False}]}


def invoke(*args, stdin=""):
    return CliRunner().invoke(policy, list(args), input=stdin)


def test_quote_prints_the_worked_example_split_policies_5():
    result = invoke("quote", "--region", "jiangxi", stdin=json.dumps(EXAMPLE))
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert (body["hifp_pay"], body["acct_pay"], body["psn_cash_pay"], body["medfee_sumamt"]) == (
        "720.00", "50.00", "230.00", "1000.00")
    assert body["lines"][0]["preselfpay_amt"] == "100.00"


def test_quote_with_a_policy_file(tmp_path):
    text = (policies_dir() / "jiangxi.toml").read_text(encoding="utf-8").replace('"310" = "0.80"', '"310" = "0.50"')
    (tmp_path / "mine.toml").write_text(text, encoding="utf-8")
    result = invoke("quote", "--policy", str(tmp_path / "mine.toml"), stdin=json.dumps(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["hifp_pay"] == "450.00"


def test_quote_prints_chinese_reasons_unescaped():
    body = {**EXAMPLE, "lines": [{**EXAMPLE["lines"][0], "category": "C"}]}
    result = invoke("quote", "--region", "jiangxi", stdin=json.dumps(body))
    assert result.exit_code == 0
    assert "药店" in result.output and json.loads(result.output)["lines"][0]["reasons"][0]["code"] == \
        "CATEGORY_EXCLUDED"


def test_price_above_standard_is_an_error_object_with_exit_2():
    body = {**EXAMPLE, "lines": [{**EXAMPLE["lines"][0], "price": "1000.01"}]}
    result = invoke("quote", "--region", "jiangxi", stdin=json.dumps(body))
    assert result.exit_code == 2
    error = json.loads(result.output)["error"]
    assert error["code"] == "PRICE_ABOVE_STANDARD" and error["message_zh"]
    assert error["details"] == {"med_list_codg": "XJ01", "price": "1000.01", "payment_standard": "1000.00"}


@pytest.mark.parametrize("stdin, field", [
    ("{not json", "body"),
    ("", "body"),
    (json.dumps({**EXAMPLE, "lines": [{**EXAMPLE["lines"][0], "price": "1.234"}]}), "lines[0].price"),
    (json.dumps({**EXAMPLE, "insutype": "999"}), "insutype"),
    (json.dumps([1, 2]), "body"),
])
def test_bad_input_is_invalid_input_naming_the_field_with_exit_2(stdin, field):
    result = invoke("quote", "--region", "jiangxi", stdin=stdin)
    assert result.exit_code == 2
    error = json.loads(result.output)["error"]
    assert error["code"] == "INVALID_INPUT" and error["details"]["field"] == field
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [["quote"], ["quote", "--region", "jiangxi", "--policy", "x.toml"],
                                  ["quote", "--region", "atlantis"], ["quote", "--policy", "/nonexistent.toml"]])
def test_policy_choice_errors_are_error_objects(args):
    result = invoke(*args, stdin=json.dumps(EXAMPLE))
    assert result.exit_code == 2
    assert json.loads(result.output)["error"]["code"] == "INVALID_INPUT"


def test_table_format_shows_chinese_labels():
    result = invoke("quote", "--region", "jiangxi", "--format", "table", stdin=json.dumps(EXAMPLE))
    assert result.exit_code == 0, result.output
    for label in ("医保统筹", "大额医保", "大病保险", "个人账户", "现金", "720.00", "230.00"):
        assert label in result.output


def test_show_prints_parameters_and_source_document():
    result = invoke("show", "chongqing")
    assert result.exit_code == 0, result.output
    for text in ("渝医保发〔2021〕12号", "0.80", "BZ", "TB", "按定点医院等级", "300.00", "after_fund_cap"):
        assert text in result.output


def test_show_json_is_the_policy_mapping():
    result = invoke("show", "jilin", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.output)["source"] == "吉医保发〔2023〕29号"


def test_show_a_policy_file():
    result = invoke("show", "--policy", str(policies_dir() / "shanxi.toml"))
    assert result.exit_code == 0 and "晋医保发〔2022〕4号" in result.output and "90" in result.output


def test_list_names_every_shipped_region():
    result = invoke("list")
    assert result.exit_code == 0
    names = [row.split("\t")[0] for row in result.output.splitlines()]
    assert {"jiangxi", "chongqing", "jilin", "shanxi", "national"} <= set(names)


def test_rxlane_policy_quote_as_a_real_process_reads_stdin_and_prints_the_split():
    # `python -m plugin.cli` is the `rxlane` console script's entry point, run with this interpreter
    repo = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-m", "plugin.cli", "policy", "quote", "--region", "jiangxi"],
                          input=json.dumps(EXAMPLE), capture_output=True, text=True, timeout=60, cwd=repo,
                          encoding="utf-8")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["psn_cash_pay"] == "230.00"
    assert done.stderr == ""
