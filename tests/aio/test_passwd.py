"""Password files in mosquitto_passwd's format (mqttsim.aio.passwd)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from mqttsim.aio.passwd import (
    DEFAULT_ITERATIONS,
    HashScheme,
    PasswordFile,
    PasswordHash,
)
from mqttsim.protocol.enums import ReasonCode
from mqttsim.protocol.errors import ConfigError
from mqttsim.protocol.hooks import Authenticator

from .mosquitto import MOSQUITTO, start_mosquitto

SALT = bytes(range(1, 13))  # 12 bytes, fixed so the expected lines are reproducible


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def pbkdf2_line(username: str, password: str, salt: bytes = SALT, iterations: int = 101) -> str:
    """A $7$ line computed here, independently of the code under test."""
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"{username}:$7${iterations}${b64(salt)}${b64(digest)}"


def sha512_line(username: str, password: str, salt: bytes = SALT) -> str:
    """A $6$ line: SHA-512 over the password followed by the salt."""
    digest = hashlib.sha512(password.encode() + salt).digest()
    return f"{username}:$6${b64(salt)}${b64(digest)}"


# --- verifying the formats ---------------------------------------------------------------------


def test_pbkdf2_line_computed_independently_is_verified() -> None:
    passwords = PasswordFile.parse(pbkdf2_line("alice", "s3cret") + "\n")
    assert passwords.authenticate("c1", "alice", b"s3cret") is ReasonCode.SUCCESS
    assert passwords.authenticate("c1", "alice", b"s3creT") is ReasonCode.BAD_USER_NAME_OR_PASSWORD


def test_pbkdf2_iteration_count_is_read_from_the_line() -> None:
    passwords = PasswordFile.parse(pbkdf2_line("alice", "pw", iterations=1000))
    assert passwords.verify("alice", b"pw")


def test_sha512_line_is_verified() -> None:
    passwords = PasswordFile.parse(sha512_line("bob", "hunter2"))
    assert passwords.authenticate("c", "bob", b"hunter2") is ReasonCode.SUCCESS
    assert passwords.authenticate("c", "bob", b"hunter3") is ReasonCode.BAD_USER_NAME_OR_PASSWORD


def test_line_written_by_mosquitto_passwd_2_0_is_verified() -> None:
    # Made with Debian's mosquitto_passwd 2.0.11: `mosquitto_passwd -c -b pw alice secret`.
    line = (
        "alice:$7$101$YGioqiR1CXPozoeW$1e7aIU8XCMR6WgNTbdnDzYmy0T53PFEOPkN7wPSYyhFDf3gyg5mNYH"
        "bf/UOkqZsmlop2G8Soq1++auO7U3a0nw=="
    )
    passwords = PasswordFile.parse(line)
    assert passwords.verify("alice", b"secret")
    assert not passwords.verify("alice", b"Secret")


def test_both_schemes_and_comments_blank_lines_and_crlf_in_one_file() -> None:
    text = "# users\r\n\r\n" + pbkdf2_line("a", "1") + "\r\n  \n" + sha512_line("b", "2") + "\r\n"
    passwords = PasswordFile.parse(text)
    assert passwords.usernames == ["a", "b"]
    assert passwords.verify("a", b"1") and passwords.verify("b", b"2")


def test_format_reproduces_the_line_exactly() -> None:
    for line in (pbkdf2_line("a", "x"), sha512_line("b", "y")):
        assert PasswordFile.parse(line).format() == line + "\n"


def test_create_uses_pbkdf2_with_mosquittos_defaults() -> None:
    entry = PasswordHash.create("pw")
    assert entry.scheme is HashScheme.SHA512_PBKDF2
    assert entry.iterations == DEFAULT_ITERATIONS == 101
    assert len(entry.salt) == 12 and len(entry.digest) == 64
    assert entry.digest == hashlib.pbkdf2_hmac("sha512", b"pw", entry.salt, 101, 64)
    assert PasswordHash.create("pw").salt != entry.salt  # a fresh salt each time


def test_repr_shows_neither_salt_nor_hash() -> None:
    entry = PasswordHash.create("pw", salt=SALT)
    assert b64(entry.digest) not in repr(entry)
    assert b64(entry.salt) not in repr(entry)


# --- the Authenticator hook --------------------------------------------------------------------


def test_is_an_authenticator() -> None:
    hook: Authenticator = PasswordFile()
    assert hook.authenticate("c", None, None) is ReasonCode.NOT_AUTHORIZED


def test_unknown_user_is_a_bad_user_name_or_password() -> None:
    passwords = PasswordFile.parse(pbkdf2_line("alice", "pw"))
    assert passwords.authenticate("c", "mallory", b"pw") is ReasonCode.BAD_USER_NAME_OR_PASSWORD
    assert passwords.authenticate("c", "", b"pw") is ReasonCode.BAD_USER_NAME_OR_PASSWORD


def test_user_name_without_password_is_refused() -> None:
    passwords = PasswordFile.parse(pbkdf2_line("alice", ""))
    assert passwords.verify("alice", b"")
    assert passwords.authenticate("c", "alice", None) is ReasonCode.BAD_USER_NAME_OR_PASSWORD


def test_anonymous_client_needs_allow_anonymous() -> None:
    line = pbkdf2_line("alice", "pw")
    assert PasswordFile.parse(line).authenticate("c", None, None) is ReasonCode.NOT_AUTHORIZED
    allowing = PasswordFile.parse(line, allow_anonymous=True)
    assert allowing.authenticate("c", None, None) is ReasonCode.SUCCESS
    # A named client must still give the right password.
    assert allowing.authenticate("c", "alice", b"no") is ReasonCode.BAD_USER_NAME_OR_PASSWORD


def test_every_answer_goes_through_a_constant_time_comparison(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    passwords = PasswordFile.parse(pbkdf2_line("alice", "pw") + "\n" + sha512_line("bob", "pw"))
    answers = [
        passwords.authenticate("c", "alice", b"pw"),
        passwords.authenticate("c", "alice", b"wrong"),
        passwords.authenticate("c", "bob", b"wrong"),
        # An unknown user costs a hash and a comparison too, so timing does not
        # tell which user names exist.
        passwords.authenticate("c", "nobody", b"pw"),
        passwords.authenticate("c", "alice", None),
    ]
    assert answers[0] is ReasonCode.SUCCESS
    assert all(answer is ReasonCode.BAD_USER_NAME_OR_PASSWORD for answer in answers[1:])
    assert len(calls) == 5
    assert all(len(a) == len(b) == 64 for a, b in calls)


def _hash_work(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every hash computed from now on, as (function, iterations): the work
    a check does, counted instead of timed."""
    work: list[tuple[str, int]] = []
    pbkdf2, sha512 = hashlib.pbkdf2_hmac, hashlib.sha512

    def counting_pbkdf2(name: str, password: bytes, salt: bytes, rounds: int, *a: int) -> bytes:
        work.append(("pbkdf2_hmac", rounds))
        return pbkdf2(name, password, salt, rounds, *a)

    def counting_sha512(data: bytes = b"") -> object:
        work.append(("sha512", 1))
        return sha512(data)

    monkeypatch.setattr(hashlib, "pbkdf2_hmac", counting_pbkdf2)
    monkeypatch.setattr(hashlib, "sha512", counting_sha512)
    return work


@pytest.mark.parametrize(
    "lines, known",
    [
        (
            [
                pbkdf2_line("cheap", "pw", iterations=101),
                pbkdf2_line("dear", "pw", iterations=20_000),
            ],
            "dear",
        ),
        ([pbkdf2_line("dear", "pw", iterations=20_000), sha512_line("old", "pw")], "dear"),
        ([sha512_line("old", "pw")], "old"),
    ],
)
def test_an_unknown_user_costs_as_much_hashing_as_the_dearest_known_one(
    monkeypatch: pytest.MonkeyPatch, lines: list[str], known: str
) -> None:
    passwords = PasswordFile.parse("\n".join(lines))
    work = _hash_work(monkeypatch)
    passwords.authenticate("c", known, b"wrong")
    for_known = list(work)
    work.clear()
    passwords.authenticate("c", "nobody", b"wrong")
    assert work == for_known


def test_an_unknown_user_in_an_empty_file_costs_a_default_hash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passwords = PasswordFile()
    work = _hash_work(monkeypatch)
    passwords.authenticate("c", "nobody", b"pw")
    assert work == [("pbkdf2_hmac", DEFAULT_ITERATIONS)]


def test_the_cost_for_unknown_users_follows_the_users_added(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passwords = PasswordFile()
    passwords.set_password("dear", "pw", iterations=5_000)
    work = _hash_work(monkeypatch)
    passwords.authenticate("c", "nobody", b"pw")
    assert work == [("pbkdf2_hmac", 5_000)]
    passwords.delete("dear")
    work.clear()
    passwords.authenticate("c", "nobody", b"pw")
    assert work == [("pbkdf2_hmac", DEFAULT_ITERATIONS)]


# --- changing and saving -----------------------------------------------------------------------


def test_round_trip_through_save_and_load(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    passwords = PasswordFile()
    passwords.set_password("alice", "correct horse")
    passwords.set_password("bob", b"\xffbinary\x00ok")
    passwords.save(path)
    loaded = PasswordFile.load(path)
    assert loaded.usernames == ["alice", "bob"]
    assert loaded.authenticate("c", "alice", b"correct horse") is ReasonCode.SUCCESS
    assert loaded.authenticate("c", "bob", b"\xffbinary\x00ok") is ReasonCode.SUCCESS
    assert loaded.authenticate("c", "alice", b"battery staple") is not ReasonCode.SUCCESS


def test_saved_file_is_private_and_holds_no_plain_password(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_text("")
    path.chmod(0o644)
    passwords = PasswordFile()
    passwords.set_password("alice", "PlainTextSecret")
    passwords.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "PlainTextSecret" not in text
    assert text.startswith("alice:$7$101$") and text.endswith("\n")
    assert [p.name for p in tmp_path.iterdir()] == ["passwd"]  # no temporary file left


def test_save_replaces_the_file_a_symlink_points_to(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_text(pbkdf2_line("old", "x") + "\n")
    link = tmp_path / "link"
    link.symlink_to(real)
    passwords = PasswordFile.load(link)
    passwords.set_password("new", "y")
    passwords.save(link)
    assert link.is_symlink()
    assert PasswordFile.load(real).usernames == ["old", "new"]


def test_failed_save_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "passwd"
    path.write_text(pbkdf2_line("old", "x") + "\n")

    def broken_replace(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    passwords = PasswordFile()
    passwords.set_password("new", "y")
    with pytest.raises(OSError):
        passwords.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["passwd"]
    assert PasswordFile.load(path).usernames == ["old"]


def test_set_password_replaces_and_delete_removes() -> None:
    passwords = PasswordFile()
    passwords.set_password("alice", "one")
    passwords.set_password("alice", "two")
    assert len(passwords) == 1
    assert passwords.verify("alice", b"two") and not passwords.verify("alice", b"one")
    assert passwords.delete("alice") is True
    assert passwords.delete("alice") is False
    assert "alice" not in passwords


def test_iteration_count_is_configurable() -> None:
    passwords = PasswordFile()
    passwords.set_password("alice", "pw", iterations=1000)
    assert passwords.format().startswith("alice:$7$1000$")
    assert PasswordFile.parse(passwords.format()).verify("alice", b"pw")
    with pytest.raises(ConfigError):
        passwords.set_password("alice", "pw", iterations=0)


@pytest.mark.parametrize("username", ["", "a:b", "tab\there", "bell\x07", "del\x7f"])
def test_user_names_that_mosquitto_passwd_refuses_are_refused(username: str) -> None:
    with pytest.raises(ConfigError):
        PasswordFile().set_password(username, "pw")


def test_overlong_password_is_refused() -> None:
    with pytest.raises(ConfigError, match="65535"):
        PasswordFile().set_password("alice", b"x" * 65536)


def test_plain_text_file_is_hashed(tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_text("# plain\nalice:one\nbob : two \n")
    passwords = PasswordFile.from_plain_text(path, iterations=7)
    assert passwords.verify("alice", b"one") and passwords.verify("bob", b"two")
    assert "$7$7$" in passwords.format()


def test_plain_text_update_refuses_an_empty_password(tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_text("alice:one\nbob:\n")
    with pytest.raises(ConfigError, match=r"plain:2: user 'bob' has no password"):
        PasswordFile.from_plain_text(path)


def test_plain_text_update_refuses_an_already_hashed_file(tmp_path: Path) -> None:
    path = tmp_path / "hashed"
    path.write_text(pbkdf2_line("alice", "pw") + "\n")
    with pytest.raises(ConfigError, match=r"hashed:1: already hashed"):
        PasswordFile.from_plain_text(path)


# --- malformed files ---------------------------------------------------------------------------

GOOD = pbkdf2_line("good", "pw")
_, _, GOOD_HASH = GOOD.partition(":")
_, _, _, GOOD_SALT, GOOD_DIGEST = GOOD_HASH.split("$")


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("no colon here", "expected 'username:password hash'"),
        (":" + GOOD_HASH, "expected 'username:password hash'"),
        ("alice:", "has no password hash"),
        ("alice:MyPlainSecret", "plain text"),
        ("alice:$5$" + GOOD_SALT + "$" + GOOD_DIGEST, "scheme is not $6$ or $7$"),
        ("alice:$7$" + GOOD_SALT + "$" + GOOD_DIGEST, "form $7$<iterations>$<salt>$<hash>"),
        ("alice:$7$ten$" + GOOD_SALT + "$" + GOOD_DIGEST, "iteration count"),
        ("alice:$7$0$" + GOOD_SALT + "$" + GOOD_DIGEST, "iteration count must be 1"),
        ("alice:$7$101$not*base64$" + GOOD_DIGEST, "salt is not valid base64"),
        ("alice:$7$101$" + b64(b"short") + "$" + GOOD_DIGEST, "salt is 5 bytes, expected 12"),
        ("alice:$7$101$" + GOOD_SALT + "$" + b64(b"x" * 32), "hash is 32 bytes, expected 64"),
        ("alice:$6$" + GOOD_SALT, "form $6$<salt>$<hash>"),
        ("good:$6$" + GOOD_SALT + "$" + GOOD_DIGEST, "already defined on line 2"),
    ],
)
def test_malformed_line_is_a_config_error_naming_file_and_line(
    tmp_path: Path, bad_line: str, reason: str
) -> None:
    path = tmp_path / "passwd"
    path.write_text(f"# header\n{GOOD}\n{bad_line}\n")
    with pytest.raises(ConfigError) as caught:
        PasswordFile.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: ")
    assert reason in message
    assert "\n" not in message
    # Never echo a secret: neither the plain password nor any part of a hash.
    for secret in ("MyPlainSecret", GOOD_SALT, GOOD_DIGEST):
        assert secret not in message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read password file .*nope: No such file"):
        PasswordFile.load(tmp_path / "nope")


def test_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read password file"):
        PasswordFile.load(tmp_path)


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_bytes(GOOD.encode() + b"\n\xff\xfe:x\n")
    with pytest.raises(ConfigError, match=r"passwd:2: not UTF-8 text"):
        PasswordFile.load(path)


# --- interoperability with mosquitto's own tools -----------------------------------------------

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
needs_mosquitto_passwd = pytest.mark.skipif(
    MOSQUITTO_PASSWD is None, reason="mosquitto_passwd is not installed"
)


@pytest.mark.interop
@needs_mosquitto_passwd
@pytest.mark.parametrize("hash_option", [[], ["-H", "sha512-pbkdf2"], ["-H", "sha512"]])
def test_file_made_by_mosquitto_passwd_is_verified(tmp_path: Path, hash_option: list[str]) -> None:
    assert MOSQUITTO_PASSWD is not None
    path = tmp_path / "passwd"
    for i, (user, password) in enumerate([("alice", "wonder land"), ("bob", "b0b!$:")]):
        create = ["-c"] if i == 0 else []
        subprocess.run(
            [MOSQUITTO_PASSWD, *hash_option, *create, "-b", str(path), user, password],
            check=True,
            capture_output=True,
            timeout=30,
        )
    passwords = PasswordFile.load(path)
    assert passwords.authenticate("c", "alice", b"wonder land") is ReasonCode.SUCCESS
    assert passwords.authenticate("c", "bob", b"b0b!$:") is ReasonCode.SUCCESS
    assert passwords.authenticate("c", "bob", b"b0b") is ReasonCode.BAD_USER_NAME_OR_PASSWORD


MOSQUITTO_PUB = shutil.which("mosquitto_pub")


@pytest.mark.interop
@pytest.mark.skipif(
    MOSQUITTO is None or MOSQUITTO_PUB is None, reason="mosquitto / mosquitto_pub not installed"
)
def test_file_saved_here_is_accepted_by_a_mosquitto_broker(tmp_path: Path, free_port: int) -> None:
    assert MOSQUITTO_PUB is not None
    path = tmp_path / "passwd"
    passwords = PasswordFile()
    passwords.set_password("alice", "wonder land")
    passwords.save(path)
    config = tmp_path / "mosquitto.conf"
    # Run as root, mosquitto drops to user "mosquitto", who cannot read a 0600 file of ours.
    user = "user root\n" if os.geteuid() == 0 else ""
    config.write_text(
        f"{user}listener {free_port} 127.0.0.1\npassword_file {path}\nallow_anonymous false\n"
    )
    broker = start_mosquitto(config)
    try:
        base = [MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(free_port), "-t", "t", "-m", "m"]
        good = subprocess.run(
            [*base, "-u", "alice", "-P", "wonder land"], capture_output=True, timeout=30
        )
        bad = subprocess.run(
            [*base, "-u", "alice", "-P", "wonder"], capture_output=True, timeout=30
        )
    finally:
        broker.terminate()
        broker.wait(timeout=10)
    assert good.returncode == 0, good.stderr
    assert bad.returncode != 0
    assert b"not authori" in bad.stderr
