"""Authentication primitives shared by the services and the gateway.

- :class:`PasswordHasher`: argon2id with OWASP's recommended parameters.
- :class:`SigningKey`: an Ed25519 key whose ``kid`` is its RFC 7638 thumbprint.
- :class:`TokenIssuer`: short-lived EdDSA access tokens and the public JWK set.
- :class:`TokenVerifier`: strict verification (algorithm allow-list, required
  claims, size limit, one JWKS refresh on an unknown ``kid``) -> :class:`Principal`.
- :func:`new_refresh_token`: opaque refresh tokens, stored only as SHA-256.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import argon2
import httpx
import jwt
import structlog
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kopano.errors import Unauthenticated

__all__ = [
    "MAX_TOKEN_BYTES",
    "HttpJwksProvider",
    "JwksProvider",
    "PasswordHasher",
    "Principal",
    "SigningKey",
    "StaticJwks",
    "TokenIssuer",
    "TokenVerifier",
    "hash_refresh_token",
    "new_refresh_token",
    "principal_from_request",
]

_log = structlog.get_logger("kopano.auth")

# Tokens larger than this are rejected before any parsing (cheap DoS guard).
MAX_TOKEN_BYTES = 8 * 1024


# --------------------------------------------------------------------------- passwords


class PasswordHasher:
    """argon2id password hashing.

    Defaults follow the OWASP Password Storage Cheat Sheet's argon2id setting
    (m = 19 MiB, t = 2, p = 1): affordable on a 2-core host, still memory-hard.
    """

    def __init__(
        self,
        *,
        time_cost: int = 2,
        memory_cost_kib: int = 19 * 1024,
        parallelism: int = 1,
        hash_len: int = 32,
        salt_len: int = 16,
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            hash_len=hash_len,
            salt_len=salt_len,
            type=argon2.Type.ID,
        )
        # Verified against when the account does not exist, so both paths cost the
        # same; made on first use so constructing a hasher stays cheap.
        self._dummy_hash: str | None = None

    def hash(self, password: str) -> str:
        """Return an encoded ``$argon2id$...`` hash with a random salt."""
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches; False on mismatch or a malformed hash."""
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def dummy_verify(self, password: str) -> bool:
        """Spend the same time as :meth:`verify` for an unknown account; always False."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        self.verify(self._dummy_hash, password)
        return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters (rehash after login)."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    # argon2 releases the GIL, so a worker thread keeps the event loop responsive.
    async def hash_async(self, password: str) -> str:
        return await asyncio.to_thread(self.hash, password)

    async def verify_async(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self.verify, password_hash, password)

    async def dummy_verify_async(self, password: str) -> bool:
        return await asyncio.to_thread(self.dummy_verify, password)


# --------------------------------------------------------------------------- keys


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An Ed25519 private key and its RFC 7638 thumbprint as ``kid``."""

    private_key: Ed25519PrivateKey
    kid: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kid", _thumbprint(self.public_jwk_members()))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: str | bytes) -> SigningKey:
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("signing key must be an Ed25519 private key")
        return cls(key)

    @classmethod
    def all_from_pem(cls, pem: str | bytes) -> list[SigningKey]:
        """Every key in a PEM bundle, in order (the first signs, the rest verify)."""
        text = pem.decode("ascii") if isinstance(pem, bytes) else pem
        marker = "-----BEGIN "
        blocks = [marker + part for part in text.split(marker)[1:]]
        if not blocks:
            raise ValueError("no PEM block found")
        return [cls.from_pem(block) for block in blocks]

    @classmethod
    def load_or_create(cls, path: str | Path) -> SigningKey:
        """Load the PEM at ``path``; create it (mode 0600) when absent. For dev/test."""
        path = Path(path)
        if path.exists():
            return cls.from_pem(path.read_bytes())
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = cls.generate()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            # Another process created it first: use theirs so both sign alike.
            return cls.from_pem(path.read_bytes())
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.to_pem())
        return key

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def to_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_jwk_members(self) -> dict[str, str]:
        raw = self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}

    def public_jwk(self) -> dict[str, str]:
        return {**self.public_jwk_members(), "kid": self.kid, "use": "sig", "alg": "EdDSA"}

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"


def _thumbprint(required_members: Mapping[str, str]) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, no whitespace."""
    canonical = json.dumps(dict(required_members), sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


# --------------------------------------------------------------------------- principal


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, as stated by a verified access token."""

    subject: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    token_id: str | None = None
    expires_at: datetime | None = None

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


# --------------------------------------------------------------------------- issuing


class TokenIssuer:
    """Issues EdDSA access tokens. The first key signs; all keys are published.

    Rotation: publish the new key second for a while, then move it first and keep
    the old one until its last token has expired.
    """

    algorithm = "EdDSA"

    def __init__(
        self,
        signing_keys: SigningKey | Sequence[SigningKey],
        issuer: str,
        audience: str,
        access_ttl: timedelta | float = timedelta(minutes=15),
    ) -> None:
        keys = [signing_keys] if isinstance(signing_keys, SigningKey) else list(signing_keys)
        if not keys:
            raise ValueError("TokenIssuer needs at least one signing key")
        self._keys = keys
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = (
            access_ttl if isinstance(access_ttl, timedelta) else timedelta(seconds=access_ttl)
        )

    @property
    def current_key(self) -> SigningKey:
        return self._keys[0]

    def issue_access_token(
        self,
        subject: str,
        roles: Iterable[str] = (),
        scopes: Iterable[str] = (),
        *,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = dict(extra_claims or {})
        claims.update(
            {
                "iss": self.issuer,
                "aud": self.audience,
                "sub": subject,
                "iat": now,
                "nbf": now,
                "exp": now + int(self.access_ttl.total_seconds()),
                "jti": uuid.uuid4().hex,
                "roles": sorted(set(roles)),
                "scope": " ".join(sorted(set(scopes))),
            }
        )
        key = self.current_key
        return jwt.encode(
            claims,
            key.private_key,
            algorithm=self.algorithm,
            headers={"kid": key.kid, "typ": "at+jwt"},
        )

    def jwks(self) -> dict[str, Any]:
        """The public JWK set to serve at ``/.well-known/jwks.json``."""
        return {"keys": [key.public_jwk() for key in self._keys]}


# --------------------------------------------------------------------------- JWKS


def parse_jwks(jwks: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """Map ``kid`` -> key for every usable signing key; skip the rest."""
    keys: dict[str, jwt.PyJWK] = {}
    raw_keys = jwks.get("keys")
    if not isinstance(raw_keys, list):
        raise ValueError("JWKS document has no 'keys' list")
    for raw in raw_keys:
        if not isinstance(raw, dict):
            continue
        kid = raw.get("kid")
        if not isinstance(kid, str) or raw.get("use", "sig") != "sig":
            continue
        try:
            keys[kid] = jwt.PyJWK(raw)
        except jwt.PyJWTError as exc:
            _log.warning("jwks.key_skipped", kid=kid, reason=str(exc))
    return keys


@runtime_checkable
class JwksProvider(Protocol):
    async def keys(self) -> Mapping[str, jwt.PyJWK]:
        """The currently known keys by ``kid``."""
        ...

    async def refresh(self) -> bool:
        """Re-read the key set if allowed now; True when it was re-read."""
        ...


class StaticJwks:
    """A fixed key set (in-process issuer, tests). ``update`` swaps it atomically."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = parse_jwks(jwks)

    def update(self, jwks: Mapping[str, Any]) -> None:
        self._keys = parse_jwks(jwks)

    async def keys(self) -> Mapping[str, jwt.PyJWK]:
        return self._keys

    async def refresh(self) -> bool:
        return False


class JwksUnavailableError(Exception):
    """The key set could not be fetched and no earlier copy exists."""


class HttpJwksProvider:
    """Fetches a JWK set over HTTP and caches it for ``ttl`` seconds.

    An unknown ``kid`` triggers a refresh, at most once per ``min_refresh_interval``
    so random ``kid`` values cannot make us hammer the issuer. A failed fetch keeps
    the previous keys.
    """

    def __init__(
        self,
        url: str,
        ttl: float = 300.0,
        *,
        min_refresh_interval: float = 10.0,
        timeout: float = 3.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.ttl = ttl
        self.min_refresh_interval = min_refresh_interval
        self._timeout = timeout
        self._client = client
        self._owns_client = client is None
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def keys(self) -> Mapping[str, jwt.PyJWK]:
        if self._keys is None or time.monotonic() - self._fetched_at > self.ttl:
            await self._fetch(minimum_age=0.0)
        if self._keys is None:
            raise JwksUnavailableError(f"could not fetch signing keys from {self.url}")
        return self._keys

    async def refresh(self) -> bool:
        return await self._fetch(minimum_age=self.min_refresh_interval)

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _fetch(self, *, minimum_age: float) -> bool:
        started = time.monotonic()
        async with self._lock:
            # Someone refreshed while we waited, or we refreshed too recently.
            if self._attempted_at >= started and self._keys is not None:
                return True
            if time.monotonic() - self._attempted_at < minimum_age:
                return False
            self._attempted_at = time.monotonic()
            if self._client is None:
                self._client = httpx.AsyncClient(timeout=self._timeout)
            try:
                response = await self._client.get(self.url, timeout=self._timeout)
                response.raise_for_status()
                keys = parse_jwks(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                _log.warning("jwks.fetch_failed", url=self.url, error=str(exc))
                return False
            self._keys = keys
            self._fetched_at = time.monotonic()
            self.fetch_count += 1
            return True


# --------------------------------------------------------------------------- verifying

_REQUIRED_CLAIMS = ("exp", "nbf", "iss", "aud", "sub")


class TokenVerifier:
    """Verifies access tokens and returns the :class:`Principal` they carry.

    Every failure raises :class:`kopano.errors.Unauthenticated` with a short,
    client-safe reason. Algorithms outside the allow-list (``none``, any HMAC
    algorithm, RSA/EC unless allowed) are refused before a key is even chosen, and
    the header's algorithm must match the key's, so a public key can never be used
    as an HMAC secret.
    """

    def __init__(
        self,
        jwks_provider: JwksProvider,
        issuer: str,
        audience: str,
        algorithms: Sequence[str] = ("EdDSA",),
        leeway: timedelta | float = timedelta(seconds=10),
        *,
        max_token_bytes: int = MAX_TOKEN_BYTES,
        cache_size: int = 4096,
    ) -> None:
        unsafe = {a for a in algorithms if a.lower() == "none" or a.upper().startswith("HS")}
        if unsafe:
            raise ValueError(f"algorithms not allowed for access tokens: {sorted(unsafe)}")
        if not algorithms:
            raise ValueError("at least one algorithm must be allowed")
        self._provider = jwks_provider
        self.issuer = issuer
        self.audience = audience
        self.algorithms = tuple(algorithms)
        self.leeway = leeway.total_seconds() if isinstance(leeway, timedelta) else float(leeway)
        self.max_token_bytes = max_token_bytes
        # Verified tokens by SHA-256: a client sends the same token on every request
        # until it expires, and a signature check is the costly part. A hit only
        # ever returns what a full verification returned, still re-checked for expiry.
        self._cache_size = cache_size
        self._cache: OrderedDict[bytes, Principal] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        if not token:
            raise Unauthenticated("missing access token")
        if len(token) > self.max_token_bytes:
            raise Unauthenticated("access token too large")
        if self._cache_size <= 0:
            return await self._verify(token)
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        cached = self._cache.get(digest)
        if cached is not None:
            expires_at = cached.expires_at
            if expires_at is not None and expires_at.timestamp() + self.leeway > time.time():
                self._cache.move_to_end(digest)
                return cached
            del self._cache[digest]
        principal = await self._verify(token)
        self._cache[digest] = principal
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed access token") from None

        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise Unauthenticated("access token algorithm not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("access token has no key id")

        key = await self._key_for(kid)
        if key.algorithm_name != alg:
            raise Unauthenticated("access token algorithm does not match its key")

        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(_REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("access token expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("access token not yet valid") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("access token has the wrong audience") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("access token has the wrong issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"access token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("access token signature is invalid") from None
        except jwt.PyJWTError:
            raise Unauthenticated("malformed access token") from None
        return _principal_from_claims(claims)

    async def _key_for(self, kid: str) -> jwt.PyJWK:
        try:
            keys = await self._provider.keys()
            key = keys.get(kid)
            if key is None and await self._provider.refresh():
                key = (await self._provider.keys()).get(kid)
        except JwksUnavailableError:
            raise Unauthenticated("signing keys are unavailable; try again later") from None
        if key is None:
            raise Unauthenticated("access token signed with an unknown key")
        return key


def _principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    subject = claims.get("sub")
    roles = claims.get("roles", [])
    scope = claims.get("scope", "")
    token_id = claims.get("jti")
    if (
        not isinstance(subject, str)
        or not subject
        or not isinstance(roles, list)
        or not all(isinstance(r, str) for r in roles)
        or not isinstance(scope, str)
        or (token_id is not None and not isinstance(token_id, str))
    ):
        raise Unauthenticated("access token claims are malformed")
    exp = claims.get("exp")
    return Principal(
        subject=subject,
        roles=frozenset(roles),
        scopes=frozenset(scope.split()),
        token_id=token_id,
        expires_at=datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else None,
    )


class _HasHeaders(Protocol):
    @property
    def headers(self) -> Mapping[str, str]: ...


def bearer_token(request: _HasHeaders) -> str | None:
    """The bearer token of ``Authorization``, None when absent; bad schemes raise."""
    value = request.headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated("Authorization header must use the Bearer scheme")
    token = token.strip()
    if not token:
        raise Unauthenticated("missing access token")
    return token


async def principal_from_request(request: _HasHeaders, verifier: TokenVerifier) -> Principal | None:
    """None without an ``Authorization`` header; raises Unauthenticated on a bad token."""
    token = bearer_token(request)
    if token is None:
        return None
    return await verifier.verify(token)


# --------------------------------------------------------------------------- refresh tokens


def hash_refresh_token(token: str) -> str:
    """SHA-256 hex of a refresh token: what the database stores and looks up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_refresh_token() -> tuple[str, str]:
    """A new opaque refresh token (256 random bits) and its SHA-256 hex."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)
