"""``pq data ingest / profile / links`` against the real local Spark session."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from data_engine.ingest import IngestOptionsError
from services.cli.data_commands import data_app

pytestmark = pytest.mark.integration


def test_ingest_profile_and_links_commands(tmp_path, spark):
    env = {"PQ_HOME": str(tmp_path / "home"), "PQ_SPARK_MASTER": "local[2]", "COLUMNS": "200"}
    runner = CliRunner()
    (tmp_path / "users.csv").write_text("user_id;signup;plan\n1;03/01/2024;free\n2;03/02/2024;pro\n3;03/05/2024;free\n",
                                        encoding="utf-8")
    (tmp_path / "visits.csv").write_text(
        "visit_id,user_id,seconds\n" + "".join(f"{i},{1 + i % 3},{i * 7}\n" for i in range(1, 31)))

    shown = runner.invoke(data_app, ["ingest", str(tmp_path / "users.csv"), "users", "--dtype", "plan=string",
                                     "--stype", "plan=categorical"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "users: 3 rows, 0 rejected" in shown.output
    assert "delimiter ';'" in shown.output
    assert "primary key: user_id" in shown.output

    printed = runner.invoke(data_app, ["ingest", str(tmp_path / "visits.csv"), "visits", "--json"], env=env)
    assert printed.exit_code == 0, printed.output
    visits = json.loads(printed.stdout)
    assert visits["rows"] == 30 and visits["dtypes"]["seconds"] == "int64"
    users_uri = json.loads(runner.invoke(data_app, ["ingest", str(tmp_path / "users.csv"), "users", "--json",
                                                    "--dtype", "plan=string", "--stype", "plan=categorical"],
                                         env=env).stdout)
    assert users_uri["reused"] is True

    profile = runner.invoke(data_app, ["profile", visits["uri"], "--json", "--primary-key", "visit_id",
                                       "--time-column", ""], env=env)
    assert profile.exit_code == 0, profile.output
    document = json.loads(profile.stdout)
    assert document["primary_key"]["origin"] == "override" and document["time_column"]["column"] is None
    table = runner.invoke(data_app, ["profile", visits["uri"]], env=env)
    assert "visits: 30 rows" in table.output and "seconds" in table.output

    links = runner.invoke(data_app, ["links", f"users={users_uri['uri']}", f"visits={visits['uri']}"], env=env)
    assert links.exit_code == 0, links.output
    assert "visits.user_id -> users" in links.output and "100.0%" in links.output
    bad = runner.invoke(data_app, ["links", f"users={users_uri['uri']}", f"visits={visits['uri']}",
                                   "--link", "visits.seconds=users"], env=env)
    assert bad.exit_code == 2
    assert "no value of visits.seconds is found in users.user_id" in bad.output

    wrong = runner.invoke(data_app, ["ingest", str(tmp_path / "users.csv"), "users", "--dtype", "plan=integr"], env=env)
    assert isinstance(wrong.exception, IngestOptionsError)
    assert "unknown dtype 'integr'" in str(wrong.exception)
    malformed = runner.invoke(data_app, ["ingest", str(tmp_path / "users.csv"), "users", "--dtype", "plan"], env=env)
    assert malformed.exit_code == 2 and "expected COLUMN=VALUE" in malformed.output
