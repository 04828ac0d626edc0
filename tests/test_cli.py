"""The mqttsim command line (mqttsim.cli), in process and as ``python -m mqttsim``."""

from __future__ import annotations

import argparse
import getpass
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mqttsim.aio.passwd import PasswordFile
from mqttsim.cli import COMMANDS, Command, build_parser, main


def run_module(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``python -m mqttsim ARGS`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "mqttsim", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_error(stderr: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("mqttsim"), stderr
    assert ": error: " in lines[0]


# --- as a separate process --------------------------------------------------------------------


def test_module_creates_a_file_that_verifies(tmp_path: Path) -> None:
    result = run_module("passwd", "-c", "-b", "pw", "alice", "wonder land", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Adding password for user alice\n"
    path = tmp_path / "pw"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "wonder land" not in path.read_text()
    assert PasswordFile.load(path).verify("alice", b"wonder land")


def test_module_bad_flag_is_one_line_and_status_2(tmp_path: Path) -> None:
    result = run_module("passwd", "-x", "pw", "alice", cwd=tmp_path)
    assert result.returncode == 2
    assert_one_line_error(result.stderr)
    assert "-x" in result.stderr


def test_module_missing_file_is_one_line(tmp_path: Path) -> None:
    result = run_module("passwd", "-b", "missing", "alice", "pw", cwd=tmp_path)
    assert result.returncode != 0
    assert_one_line_error(result.stderr)
    assert "missing" in result.stderr
    assert not (tmp_path / "missing").exists()


def test_module_malformed_file_names_the_line_and_hides_the_hash(tmp_path: Path) -> None:
    salt = "AAAAAAAAAAAAAAAA"
    (tmp_path / "pw").write_text(f"alice:$7$101${salt}$tooshort==\n")
    result = run_module("passwd", "-b", "pw", "bob", "x", cwd=tmp_path)
    assert result.returncode == 2
    assert_one_line_error(result.stderr)
    assert "pw:1:" in result.stderr
    assert salt not in result.stderr and "tooshort" not in result.stderr


def test_module_without_a_command_is_a_usage_error(tmp_path: Path) -> None:
    result = run_module(cwd=tmp_path)
    assert result.returncode == 2
    assert_one_line_error(result.stderr)


# --- in process --------------------------------------------------------------------------------


@pytest.fixture
def pwfile(tmp_path: Path) -> Path:
    path = tmp_path / "passwd"
    assert main(["passwd", "-c", "-b", str(path), "alice", "one"]) == 0
    return path


def test_batch_mode_adds_then_updates(pwfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["passwd", "-b", str(pwfile), "bob", "two"]) == 0
    assert main(["passwd", "-b", str(pwfile), "alice", "three"]) == 0
    assert capsys.readouterr().out == (
        "Adding password for user bob\nUpdating password for user alice\n"
    )
    passwords = PasswordFile.load(pwfile)
    assert passwords.usernames == ["alice", "bob"]
    assert passwords.verify("alice", b"three") and passwords.verify("bob", b"two")


def test_create_overwrites_an_existing_file(pwfile: Path) -> None:
    assert main(["passwd", "-c", "-b", str(pwfile), "bob", "two"]) == 0
    assert PasswordFile.load(pwfile).usernames == ["bob"]


def test_iterations_option(pwfile: Path) -> None:
    assert main(["passwd", "-I", "500", "-b", str(pwfile), "alice", "x"]) == 0
    assert "alice:$7$500$" in pwfile.read_text()
    assert PasswordFile.load(pwfile).verify("alice", b"x")


def test_delete_user(pwfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["passwd", "-D", str(pwfile), "alice"]) == 0
    assert len(PasswordFile.load(pwfile)) == 0
    assert main(["passwd", "-D", str(pwfile), "alice"]) == 2
    assert capsys.readouterr().err == f"mqttsim: error: user 'alice' is not in {pwfile}\n"


def test_update_hashes_a_plain_text_file(tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_text("alice:one\nbob:two\n")
    assert main(["passwd", "-U", str(path)]) == 0
    assert "one" not in path.read_text()
    passwords = PasswordFile.load(path)
    assert passwords.verify("alice", b"one") and passwords.verify("bob", b"two")


COMMENTED = """\
# Pipeline stations. Ask ops before removing one.
{alice}

# SCADA
{bob}
{carol}
# end
"""


@pytest.fixture
def commented(tmp_path: Path) -> Path:
    """A password file a person wrote: comments, blank lines, a chosen order."""
    path = tmp_path / "passwd"
    lines = {}
    for name in ("alice", "bob", "carol"):
        one = PasswordFile()
        one.set_password(name, name + "-pw")
        lines[name] = one.format().strip()
    path.write_text(COMMENTED.format(**lines))
    return path


def test_adding_a_user_keeps_comments_blank_lines_and_order(commented: Path) -> None:
    before = commented.read_text()
    assert main(["passwd", "-b", str(commented), "dave", "x"]) == 0
    after = commented.read_text()
    assert after.startswith(before)
    assert after[len(before) :].startswith("dave:$7$")


def test_changing_a_password_keeps_the_line_in_its_place(commented: Path) -> None:
    before = commented.read_text().splitlines()
    assert main(["passwd", "-b", str(commented), "bob", "new"]) == 0
    after = commented.read_text().splitlines()
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert [after[i].split(":")[0] for i in changed] == ["bob"]
    assert PasswordFile.load(commented).verify("bob", b"new")


def test_deleting_a_user_removes_only_their_line(commented: Path) -> None:
    before = commented.read_text().splitlines()
    assert main(["passwd", "-D", str(commented), "bob"]) == 0
    assert commented.read_text().splitlines() == [
        line for line in before if not line.startswith("bob:")
    ]


def test_hashing_a_plain_text_file_keeps_its_comments(tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_text("# stations\nalice:one\n\n# scada\nbob:two\n")
    assert main(["passwd", "-U", str(path)]) == 0
    lines = path.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["# stations", "alice", "", "# scada", "bob"]
    passwords = PasswordFile.load(path)
    assert passwords.verify("alice", b"one") and passwords.verify("bob", b"two")


@pytest.fixture
def typed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Answers that getpass will return, in order."""
    answers: list[str] = []

    def fake_getpass(prompt: str = "Password: ") -> str:
        if not answers:
            raise EOFError
        return answers.pop(0)

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    yield answers


def test_prompts_twice_for_the_password(pwfile: Path, typed: list[str]) -> None:
    typed.extend(["secret", "secret"])
    assert main(["passwd", str(pwfile), "carol"]) == 0
    assert PasswordFile.load(pwfile).verify("carol", b"secret")


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        (["secret", "secreT"], "passwords do not match"),
        (["", ""], "empty password"),
        ([], "no password given"),
    ],
)
def test_bad_prompt_answers_change_nothing(
    pwfile: Path,
    typed: list[str],
    capsys: pytest.CaptureFixture[str],
    answers: list[str],
    reason: str,
) -> None:
    before = pwfile.read_text()
    typed.extend(answers)
    assert main(["passwd", str(pwfile), "carol"]) == 2
    assert capsys.readouterr().err == f"mqttsim: error: {reason}\n"
    assert pwfile.read_text() == before


@pytest.mark.parametrize(
    "argv",
    [
        ["passwd", "-c", "-D", "f", "u"],  # argparse: mutually exclusive
        ["passwd", "-b", "f", "u"],  # -b without PASSWORD
        ["passwd", "f", "u", "p"],  # PASSWORD without -b
        ["passwd", "-D", "-b", "f", "u", "p"],
        ["passwd", "-U", "f", "u"],
        ["passwd", "f"],  # USERNAME missing
        ["passwd", "-I", "0", "-b", "f", "u", "p"],
        ["passwd", "-I", "many", "-b", "f", "u", "p"],
        ["passwd", "-c", "-b", "f", "a:b", "p"],  # user name with ':'
        ["nosuchcommand"],
    ],
)
def test_usage_mistakes_are_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    argv = [str(tmp_path / a) if a == "f" else a for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert_one_line_error(captured.err)
    assert captured.out == ""
    assert not (tmp_path / "f").exists()


def test_unwritable_location_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    target = tmp_path / "file" / "passwd"  # a path through a regular file
    assert main(["passwd", "-c", "-b", str(target), "alice", "pw"]) == 2
    assert_one_line_error(capsys.readouterr().err)


def test_help_and_version_exit_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "passwd" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("mqttsim ")


def test_new_subcommands_plug_into_the_registry() -> None:
    seen: list[argparse.Namespace] = []

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--port", type=int, default=0)

    def run(args: argparse.Namespace) -> int:
        seen.append(args)
        return 0

    extra = Command(name="example", help="an example command", add_arguments=add_arguments, run=run)
    args = build_parser((*COMMANDS, extra)).parse_args(["example", "--port", "1884"])
    assert args.run(args) == 0
    assert seen[0].port == 1884


def test_an_unknown_top_level_flag_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--frobnicate"]) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err)
    assert "unrecognized arguments: --frobnicate" in err
    assert main([]) == 2  # and no command at all is still asked for
    assert "required: COMMAND" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "path", "message"),
    [
        ("--out", "/nonexistent/dir/x.parquet", "folder /nonexistent/dir does not exist"),
        ("--json", "/tmp/summary.txt", "must end in .json"),
        ("--pcap", "/tmp/traffic.txt", "must end in .pcap"),
    ],
)
def test_sim_pipeline_refuses_an_output_path_before_simulating(
    flag: str, path: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "pipeline", "--hours", "0.01", flag, path]) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err)  # no progress bar: nothing ran
    assert message in err


def test_the_exit_statuses_are_documented_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for status in ("0 done", "2 a usage or configuration error", "1 a failure", "130 interrupted"):
        assert status in out
