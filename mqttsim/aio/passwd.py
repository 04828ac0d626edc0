"""Password files in mosquitto_passwd's format, so users bring the files they have.

A password file holds one user per line::

    alice:$7$101$<base64 salt>$<base64 hash>
    bob:$6$<base64 salt>$<base64 hash>

``$7$`` is PBKDF2-HMAC-SHA512 with the iteration count in the line (mosquitto
2.x writes 101); ``$6$`` is one SHA-512 over the password followed by the salt
(mosquitto 1.6 and earlier). Both use a 12-byte salt and a 64-byte hash, in
standard base64 with ``=`` padding (OpenSSL's encoder, no line breaks). These
facts come from mosquitto's ``password_mosq.c`` and ``mosquitto_passwd.c``.

Like the broker, we skip blank lines and lines starting with ``#``, and strip
blanks around the user name and the hash. Unlike the broker, which logs and
drops a bad entry, we refuse the whole file: a user who silently cannot log in
is harder to debug than a one-line error naming the line. No message ever
repeats a hash or a password; a plain password is never stored, and the file
is written 0600 through a temporary file and ``os.replace``. A file written
back keeps its comments, blank lines and the order of its users; a new user
goes at the end.

Checking a password costs the same whether or not the user exists: an
unknown user is checked against a dummy hash as dear as the dearest in the
file (the same scheme, the largest iteration count), so the time an answer
takes does not tell which user names exist.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from ..protocol.enums import ReasonCode
from ..protocol.errors import ConfigError

__all__ = [
    "DEFAULT_ITERATIONS",
    "SALT_BYTES",
    "HASH_BYTES",
    "HashScheme",
    "PasswordHash",
    "PasswordFile",
    "check_username",
]

DEFAULT_ITERATIONS = 101
"""mosquitto_passwd's PBKDF2 iteration count (``PW_DEFAULT_ITERATIONS``)."""
SALT_BYTES = 12
HASH_BYTES = 64
_MAX_ITERATIONS = 2**31 - 1  # mosquitto keeps the count in a C int
_MAX_FIELD = 65_535  # MQTT strings and binary data (§1.5.4, §1.5.6)


class HashScheme(Enum):
    """The hash schemes of mosquitto password files, by their ``$n$`` tag."""

    SHA512 = "6"
    """SHA-512 over password + salt (mosquitto 1.6 and earlier)."""
    SHA512_PBKDF2 = "7"
    """PBKDF2-HMAC-SHA512 (mosquitto 2.x default)."""


def _b64decode(text: str, what: str, size: int) -> bytes:
    """Decode strict standard base64 of exactly ``size`` bytes (ValueError otherwise)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise ValueError(f"the {what} is not valid base64") from None
    if len(raw) != size:
        raise ValueError(f"the {what} is {len(raw)} bytes, expected {size}")
    return raw


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordHash:
    """One salted password hash, as found after ``username:`` in a password file.

    The salt and hash are left out of ``repr`` so logs and tracebacks never show them.

    Attributes:
        scheme: ``$6$`` (SHA-512) or ``$7$`` (PBKDF2-HMAC-SHA512).
        salt: 12 random bytes.
        digest: the 64-byte hash.
        iterations: PBKDF2 iteration count; 1 for ``$6$``, which has none.
    """

    scheme: HashScheme
    salt: bytes = field(repr=False)
    digest: bytes = field(repr=False)
    iterations: int = 1

    def __post_init__(self) -> None:
        if len(self.salt) != SALT_BYTES:
            raise ValueError(f"the salt is {len(self.salt)} bytes, expected {SALT_BYTES}")
        if len(self.digest) != HASH_BYTES:
            raise ValueError(f"the hash is {len(self.digest)} bytes, expected {HASH_BYTES}")
        if not 1 <= self.iterations <= _MAX_ITERATIONS:
            raise ValueError(f"the iteration count must be 1 to {_MAX_ITERATIONS}")

    @classmethod
    def create(
        cls,
        password: str | bytes,
        *,
        iterations: int = DEFAULT_ITERATIONS,
        salt: bytes | None = None,
    ) -> PasswordHash:
        """Hash ``password`` as ``$7$`` with a fresh random salt (or ``salt``, for tests)."""
        if not 1 <= iterations <= _MAX_ITERATIONS:
            raise ValueError(f"the iteration count must be 1 to {_MAX_ITERATIONS}")
        secret = password.encode("utf-8") if isinstance(password, str) else password
        salt = os.urandom(SALT_BYTES) if salt is None else salt
        digest = hashlib.pbkdf2_hmac("sha512", secret, salt, iterations, HASH_BYTES)
        return cls(scheme=HashScheme.SHA512_PBKDF2, salt=salt, digest=digest, iterations=iterations)

    @classmethod
    def parse(cls, text: str) -> PasswordHash:
        """Read ``$7$<iterations>$<salt>$<hash>`` or ``$6$<salt>$<hash>``.

        Raises:
            ValueError: with a reason that never quotes ``text``.
        """
        parts = text.split("$")
        if len(parts) < 2 or parts[0] != "":
            raise ValueError("it does not start with $6$ or $7$")
        tag = parts[1]
        if tag == HashScheme.SHA512_PBKDF2.value:
            if len(parts) != 5:
                raise ValueError("a $7$ hash has the form $7$<iterations>$<salt>$<hash>")
            count = parts[2]
            if not (count.isascii() and count.isdigit()) or len(count) > 10:
                raise ValueError("the iteration count is not a whole number")
            return cls(
                scheme=HashScheme.SHA512_PBKDF2,
                iterations=int(count),
                salt=_b64decode(parts[3], "salt", SALT_BYTES),
                digest=_b64decode(parts[4], "hash", HASH_BYTES),
            )
        if tag == HashScheme.SHA512.value:
            if len(parts) != 4:
                raise ValueError("a $6$ hash has the form $6$<salt>$<hash>")
            return cls(
                scheme=HashScheme.SHA512,
                salt=_b64decode(parts[2], "salt", SALT_BYTES),
                digest=_b64decode(parts[3], "hash", HASH_BYTES),
            )
        raise ValueError("its scheme is not $6$ or $7$ (the two mosquitto_passwd writes)")

    def format(self) -> str:
        """Return the text that follows ``username:`` in the file."""
        salt = base64.b64encode(self.salt).decode("ascii")
        digest = base64.b64encode(self.digest).decode("ascii")
        if self.scheme is HashScheme.SHA512_PBKDF2:
            return f"$7${self.iterations}${salt}${digest}"
        return f"$6${salt}${digest}"

    def verify(self, password: bytes) -> bool:
        """Return True if ``password`` hashes to :attr:`digest`, compared in constant time."""
        if self.scheme is HashScheme.SHA512_PBKDF2:
            computed = hashlib.pbkdf2_hmac(
                "sha512", password, self.salt, self.iterations, HASH_BYTES
            )
        else:
            computed = hashlib.sha512(password + self.salt).digest()
        return hmac.compare_digest(computed, self.digest)


def _cost(entry: PasswordHash) -> int:
    """How dear checking ``entry`` is, to compare entries: one SHA-512 ($6$)
    costs less than PBKDF2 with any iteration count ($7$)."""
    return entry.iterations if entry.scheme is HashScheme.SHA512_PBKDF2 else 0


def _unknown_user_hash(entries: Iterable[PasswordHash]) -> PasswordHash:
    """The hash an unknown user is checked against: as dear as the dearest
    of ``entries`` (PBKDF2 with the default count if there are none). Its
    digest is all zeros, which no password hashes to in practice."""
    dearest = max(entries, key=_cost, default=None)
    return PasswordHash(
        scheme=HashScheme.SHA512_PBKDF2 if dearest is None else dearest.scheme,
        salt=bytes(SALT_BYTES),
        digest=bytes(HASH_BYTES),
        iterations=DEFAULT_ITERATIONS if dearest is None else dearest.iterations,
    )


def check_username(username: str) -> None:
    """Apply mosquitto_passwd's rules to a new user name.

    Raises:
        ConfigError: if it is empty, contains ``:`` or a control character, or
            is longer than 65535 bytes in UTF-8.
    """
    if not username:
        raise ConfigError("the user name is empty")
    if ":" in username:
        raise ConfigError("a user name must not contain ':'")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in username):
        raise ConfigError("a user name must not contain control characters")
    if len(username.encode("utf-8", "surrogatepass")) > _MAX_FIELD:
        raise ConfigError("a user name must be at most 65535 bytes in UTF-8")


def _read_text(path: Path, what: str) -> str:
    """Read a UTF-8 file, turning every failure into a one-line ConfigError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError(f"cannot read {what} {path}: {reason}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text") from None


def _lines(text: str, source: str) -> Iterator[tuple[int, str, str | None, str]]:
    """Yield ``(line number, line, user name, rest)`` for each line; the user
    name is None for a blank line or a comment, which are kept as they are
    (without a CR of a CRLF ending)."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line starts no new one
    for number, raw in enumerate(lines, start=1):
        raw = raw.removesuffix("\r")
        line = raw.strip()
        if not line or line.startswith("#"):
            yield number, raw, None, ""
            continue
        username, colon, rest = line.partition(":")
        username = username.strip()
        if not colon or not username:
            raise ConfigError(f"{source}:{number}: expected 'username:password hash'")
        yield number, raw, username, rest.strip()


class PasswordFile:
    """A mosquitto password file in memory, and an ``Authenticator`` for the broker.

    Args:
        entries: user name -> hash.
        allow_anonymous: whether a CONNECT without a user name is accepted.
            mosquitto 2.x refuses anonymous clients once a password file is
            set, and so do we by default.
    """

    def __init__(
        self,
        entries: Mapping[str, PasswordHash] | None = None,
        *,
        allow_anonymous: bool = False,
    ) -> None:
        self._entries: dict[str, PasswordHash] = dict(entries or {})
        self.allow_anonymous = allow_anonymous
        # The file's lines: (True, user name) for an entry, (False, text) for
        # a comment or blank line, kept so that save() writes them back.
        self._layout: list[tuple[bool, str]] = [(True, name) for name in self._entries]
        self._unknown: PasswordHash | None = None  # built when first needed

    @classmethod
    def parse(
        cls, text: str, *, source: str = "<string>", allow_anonymous: bool = False
    ) -> PasswordFile:
        """Read a password file's text; ``source`` names it in error messages.

        Raises:
            ConfigError: ``"<source>:<line>: ..."`` for the first bad line.
        """
        entries: dict[str, PasswordHash] = {}
        first_seen: dict[str, int] = {}
        layout: list[tuple[bool, str]] = []
        for number, raw, username, rest in _lines(text, source):
            if username is None:
                layout.append((False, raw))
                continue
            if username in entries:
                raise ConfigError(
                    f"{source}:{number}: user {username!r} is already defined"
                    f" on line {first_seen[username]}"
                )
            if not rest.startswith("$"):
                raise ConfigError(
                    f"{source}:{number}: user {username!r} has no password hash (plain text?"
                    " 'mqttsim passwd -U FILE' hashes a plain-text file)"
                )
            try:
                entries[username] = PasswordHash.parse(rest)
            except ValueError as exc:
                raise ConfigError(
                    f"{source}:{number}: the password hash for user {username!r} is not"
                    f" valid: {exc}"
                ) from None
            first_seen[username] = number
            layout.append((True, username))
        result = cls(entries, allow_anonymous=allow_anonymous)
        result._layout = layout
        return result

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, allow_anonymous: bool = False) -> PasswordFile:
        """Read a password file written by mosquitto_passwd or by :meth:`save`.

        Raises:
            ConfigError: if the file cannot be read, or naming its first bad line.
        """
        path = Path(path)
        return cls.parse(
            _read_text(path, "password file"), source=str(path), allow_anonymous=allow_anonymous
        )

    @classmethod
    def from_plain_text(
        cls, path: str | os.PathLike[str], *, iterations: int = DEFAULT_ITERATIONS
    ) -> PasswordFile:
        """Hash a file of ``username:password`` lines (``mosquitto_passwd -U``).

        Unlike mosquitto_passwd, a line that already holds a ``$6$``/``$7$`` hash
        is refused rather than hashed a second time, which would lock the user out.

        Raises:
            ConfigError: if the file cannot be read or a line is malformed.
        """
        path = Path(path)
        result = cls()
        for number, raw, username, password in _lines(_read_text(path, "password file"), str(path)):
            if username is None:
                result._layout.append((False, raw))
                continue
            if not password:
                raise ConfigError(f"{path}:{number}: user {username!r} has no password")
            if password.startswith(("$6$", "$7$")):
                raise ConfigError(f"{path}:{number}: already hashed; -U expects plain passwords")
            if username in result:
                raise ConfigError(f"{path}:{number}: user {username!r} is already defined")
            try:
                result.set_password(username, password, iterations=iterations)
            except ConfigError as exc:
                raise ConfigError(f"{path}:{number}: {exc}") from None
        return result

    def __contains__(self, username: object) -> bool:
        return username in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def usernames(self) -> list[str]:
        """The user names, in file order."""
        return list(self._entries)

    def verify(self, username: str, password: bytes) -> bool:
        """Return True if ``username`` exists and ``password`` is theirs.

        An unknown user costs the same hashing as a known one.
        """
        entry = self._entries.get(username)
        if entry is None:
            if self._unknown is None:
                self._unknown = _unknown_user_hash(self._entries.values())
            self._unknown.verify(password)
            return False
        return entry.verify(password)

    def authenticate(
        self, client_id: str, username: str | None, password: bytes | None
    ) -> ReasonCode:
        """Decide a CONNECT (the ``Authenticator`` hook).

        Returns:
            ``SUCCESS``; ``NOT_AUTHORIZED`` for a client without a user name
            when anonymous access is off; ``BAD_USER_NAME_OR_PASSWORD`` for an
            unknown user, a wrong password or a missing one.
        """
        if username is None:
            return ReasonCode.SUCCESS if self.allow_anonymous else ReasonCode.NOT_AUTHORIZED
        # Hash even when the password is missing, so that case is not faster either.
        good = self.verify(username, b"" if password is None else password)
        if good and password is not None:
            return ReasonCode.SUCCESS
        return ReasonCode.BAD_USER_NAME_OR_PASSWORD

    def set_password(
        self, username: str, password: str | bytes, *, iterations: int = DEFAULT_ITERATIONS
    ) -> None:
        """Add ``username`` or replace their password, hashed as ``$7$``.

        Raises:
            ConfigError: if the user name breaks mosquitto_passwd's rules, the
                password is over 65535 bytes, or ``iterations`` is below 1.
        """
        check_username(username)
        secret = password.encode("utf-8") if isinstance(password, str) else password
        if len(secret) > _MAX_FIELD:
            raise ConfigError("a password must be at most 65535 bytes")
        try:
            entry = PasswordHash.create(secret, iterations=iterations)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if username not in self._entries:
            self._layout.append((True, username))
        self._entries[username] = entry
        self._unknown = None

    def delete(self, username: str) -> bool:
        """Remove ``username``; return False if there was no such user."""
        if self._entries.pop(username, None) is None:
            return False
        self._layout.remove((True, username))
        self._unknown = None
        return True

    def format(self) -> str:
        """Return the file's text: its comments and blank lines as they were,
        and one ``username:hash`` line per user, in the file's order."""
        return "".join(
            f"{value}:{self._entries[value].format()}\n" if is_user else f"{value}\n"
            for is_user, value in self._layout
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the file atomically with mode 0600.

        The text goes to a temporary file beside the target, is flushed to disk,
        then renamed over it, so a crash leaves the old file or the new one,
        never half of one. A symbolic link is followed, as mosquitto_passwd
        does, and an existing file's owner is kept where we are allowed to.

        Raises:
            OSError: if the directory cannot be written.
        """
        target = Path(os.path.realpath(path))
        try:
            status = target.stat()
            owner: tuple[int, int] | None = (status.st_uid, status.st_gid)
        except OSError:
            owner = None
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as stream:
                os.chmod(tmp_name, 0o600)
                if owner is not None and hasattr(os, "fchown"):
                    with contextlib.suppress(OSError):
                        os.fchown(stream.fileno(), *owner)
                stream.write(self.format())
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
