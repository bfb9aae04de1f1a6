"""The ``huitou`` console command: argument handling and the commands owned by the accounts app."""

import pytest

from huitou.accounts.models import User
from huitou.cli import build_parser, main


def test_createuser_with_role_and_store(org_world, capsys):
    code = main(
        [
            "createuser",
            "newrep",
            "--role",
            "rep",
            "--store",
            "TH",
            "--password",
            "s3cret-pass",
            "--org",
            "huanan",
        ]
    )
    assert code == 0
    user = User.objects.get(username="newrep")
    assert user.role == "rep" and user.store == org_world.s1 and user.organisation == org_world.org
    assert user.check_password("s3cret-pass")
    assert user.password.startswith(("argon2", "md5"))  # hashed, never stored plain
    assert "created newrep (rep)" in capsys.readouterr().out


def test_createuser_unknown_store_fails_cleanly(org_world, capsys):
    code = main(["createuser", "x", "--role", "rep", "--store", "NOPE", "--org", "huanan"])
    assert code == 2
    assert "no store with code 'NOPE'" in capsys.readouterr().err
    assert not User.objects.filter(username="x").exists()


def test_createuser_needs_org_when_several(org_world, capsys):
    assert main(["createuser", "y", "--role", "owner"]) == 2
    assert "--org" in capsys.readouterr().err


def test_parser_knows_every_documented_command():
    parser = build_parser()
    args = parser.parse_args(["demo", "--customers", "10", "--seed", "3", "--no-serve", "--port", "8123"])
    assert (args.customers, args.seed, args.no_serve, args.port) == (10, 3, True, 8123)
    args = parser.parse_args(["import", "customers", "a.csv", "--dry-run", "--json"])
    assert (args.kind, args.dry_run, args.json) == ("customers", True, True)
    args = parser.parse_args(["export", "purchases", "b.xlsx"])
    assert args.kind == "purchases"
    with pytest.raises(SystemExit):
        parser.parse_args(["createuser", "z", "--role", "king"])
