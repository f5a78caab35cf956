"""Password hashing, signing keys, access tokens and their verification."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kopano.auth import (
    MAX_TOKEN_BYTES,
    HttpJwksProvider,
    PasswordHasher,
    Principal,
    SigningKey,
    StaticJwks,
    TokenIssuer,
    TokenVerifier,
    hash_refresh_token,
    new_refresh_token,
    principal_from_request,
)
from kopano.errors import ErrorCode, Unauthenticated

ISSUER = "kopano-members"
AUDIENCE = "kopano"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="module")
def issuer(key: SigningKey) -> TokenIssuer:
    return TokenIssuer(key, issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture(scope="module")
def verifier(issuer: TokenIssuer) -> TokenVerifier:
    return TokenVerifier(StaticJwks(issuer.jwks()), issuer=ISSUER, audience=AUDIENCE)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "member-1",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "abc",
        "roles": ["member"],
        "scope": "",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: SigningKey, payload: dict[str, Any], **header: Any) -> str:
    return jwt.encode(
        payload, key.private_key, algorithm="EdDSA", headers={"kid": key.kid, **header}
    )


async def rejected(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as info:
        await verifier.verify(token)
    assert info.value.code is ErrorCode.UNAUTHENTICATED
    return info.value.message


# --------------------------------------------------------------------------- passwords


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher()


def test_argon2id_hash_format_and_verify(hasher: PasswordHasher) -> None:
    encoded = hasher.hash("correct horse battery staple")
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.verify(encoded, "correct horse battery staple")
    assert not hasher.verify(encoded, "correct horse battery stapl")
    # Same password, new salt.
    assert hasher.hash("correct horse battery staple") != encoded


def test_verify_never_raises(hasher: PasswordHasher) -> None:
    assert hasher.verify("not-a-hash", "x") is False
    assert hasher.verify("", "") is False
    assert hasher.dummy_verify("anything") is False


def test_needs_rehash(hasher: PasswordHasher) -> None:
    encoded = hasher.hash("pw")
    assert not hasher.needs_rehash(encoded)
    stronger = PasswordHasher(time_cost=3)
    assert stronger.needs_rehash(encoded)
    assert stronger.verify(encoded, "pw")  # old hashes still verify
    assert hasher.needs_rehash("garbage")


async def test_async_hashing(hasher: PasswordHasher) -> None:
    encoded = await hasher.hash_async("pw")
    assert await hasher.verify_async(encoded, "pw")
    assert not await hasher.verify_async(encoded, "nope")


# --------------------------------------------------------------------------- keys


def test_kid_is_rfc7638_thumbprint() -> None:
    # RFC 8037, appendix A.1-A.3: Ed25519 key and its JWK thumbprint.
    d = base64.urlsafe_b64decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
    key = SigningKey(Ed25519PrivateKey.from_private_bytes(d))
    assert key.public_jwk()["x"] == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    assert key.kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert key.public_jwk() == {
        "crv": "Ed25519",
        "kty": "OKP",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
        "use": "sig",
        "alg": "EdDSA",
    }
    assert "d" not in key.public_jwk()


def test_load_or_create_persists_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "members-signing-key.pem"
    first = SigningKey.load_or_create(path)
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = SigningKey.load_or_create(path)
    assert again.kid == first.kid
    assert SigningKey.from_pem(path.read_text()).kid == first.kid


def test_from_pem_refuses_other_key_types() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="Ed25519"):
        SigningKey.from_pem(pem)


def test_repr_hides_private_key(key: SigningKey) -> None:
    assert repr(key) == f"SigningKey(kid={key.kid!r})"


# --------------------------------------------------------------------------- tokens


async def test_issued_token_verifies(issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    token = issuer.issue_access_token("member-42", roles=["member", "admin"], scopes=["b", "a"])
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header["kid"] == issuer.current_key.kid
    payload = jwt.decode(token, options={"verify_signature": False})
    assert {"iss", "aud", "sub", "exp", "iat", "nbf", "jti", "roles", "scope"} <= payload.keys()
    assert payload["exp"] - payload["iat"] == 15 * 60
    assert payload["scope"] == "a b"

    principal = await verifier.verify(token)
    assert principal == Principal(
        subject="member-42",
        roles=frozenset({"member", "admin"}),
        scopes=frozenset({"a", "b"}),
        token_id=payload["jti"],
        expires_at=principal.expires_at,
    )
    assert principal.has_role("admin")
    assert not principal.has_role("moderator")
    assert principal.has_scope("a")


def test_jwks_shape(issuer: TokenIssuer, key: SigningKey) -> None:
    jwks = issuer.jwks()
    assert jwks == {"keys": [key.public_jwk()]}
    (jwk,) = jwks["keys"]
    assert jwk["use"] == "sig"
    assert jwk["alg"] == "EdDSA"
    assert jwk["kid"] == key.kid


async def test_alg_none_rejected(verifier: TokenVerifier, key: SigningKey) -> None:
    token = f"{b64url_json({'alg': 'none', 'kid': key.kid})}.{b64url_json(claims())}."
    assert "algorithm" in await rejected(verifier, token)
    token = f"{b64url_json({'alg': 'None', 'kid': key.kid})}.{b64url_json(claims())}."
    assert "algorithm" in await rejected(verifier, token)


async def test_key_confusion_hs256_with_public_key_rejected(
    verifier: TokenVerifier, key: SigningKey
) -> None:
    public_pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    raw_x = key.public_jwk()["x"].encode()
    for secret in (public_pem, raw_x):
        signing_input = f"{b64url_json({'alg': 'HS256', 'kid': key.kid})}.{b64url_json(claims())}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{b64url(mac)}"
        assert "algorithm" in await rejected(verifier, token)


async def test_rs256_rejected_when_not_allowed(verifier: TokenVerifier, key: SigningKey) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": key.kid})
    assert "algorithm" in await rejected(verifier, token)


async def test_expired_rejected(key: SigningKey, verifier: TokenVerifier) -> None:
    now = int(time.time())
    token = sign(key, claims(iat=now - 600, nbf=now - 600, exp=now - 60))
    assert await rejected(verifier, token) == "access token expired"


async def test_expiry_within_leeway_accepted(key: SigningKey, verifier: TokenVerifier) -> None:
    now = int(time.time())
    token = sign(key, claims(iat=now - 600, nbf=now - 600, exp=now - 2))
    assert (await verifier.verify(token)).subject == "member-1"


async def test_not_yet_valid_rejected(key: SigningKey, verifier: TokenVerifier) -> None:
    now = int(time.time())
    token = sign(key, claims(nbf=now + 3600, exp=now + 7200))
    assert await rejected(verifier, token) == "access token not yet valid"


async def test_wrong_audience_rejected(key: SigningKey, verifier: TokenVerifier) -> None:
    token = sign(key, claims(aud="someone-else"))
    assert await rejected(verifier, token) == "access token has the wrong audience"


async def test_wrong_issuer_rejected(key: SigningKey, verifier: TokenVerifier) -> None:
    token = sign(key, claims(iss="https://evil.example"))
    assert await rejected(verifier, token) == "access token has the wrong issuer"


@pytest.mark.parametrize("claim", ["exp", "nbf", "iss", "aud", "sub"])
async def test_missing_required_claim_rejected(
    key: SigningKey, verifier: TokenVerifier, claim: str
) -> None:
    token = sign(key, claims(**{claim: None}))
    message = await rejected(verifier, token)
    assert claim in message


async def test_unknown_kid_rejected(verifier: TokenVerifier) -> None:
    stranger = SigningKey.generate()
    token = sign(stranger, claims())
    assert await rejected(verifier, token) == "access token signed with an unknown key"


async def test_kid_of_trusted_key_but_foreign_signature_rejected(
    verifier: TokenVerifier, key: SigningKey
) -> None:
    stranger = SigningKey.generate()
    token = jwt.encode(claims(), stranger.private_key, algorithm="EdDSA", headers={"kid": key.kid})
    assert await rejected(verifier, token) == "access token signature is invalid"


async def test_bad_signature_rejected(issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    token = issuer.issue_access_token("member-1")
    head, body, signature = token.split(".")
    sig = bytearray(base64.urlsafe_b64decode(signature + "=="))
    sig[10] ^= 0x01
    assert await rejected(verifier, f"{head}.{body}.{b64url(bytes(sig))}") == (
        "access token signature is invalid"
    )
    # A tampered payload with the original signature fails too.
    forged = b64url_json({**jwt.decode(token, options={"verify_signature": False}), "sub": "x"})
    assert await rejected(verifier, f"{head}.{forged}.{signature}") == (
        "access token signature is invalid"
    )


@pytest.mark.parametrize("cut", [1, 20, 60])
async def test_truncated_rejected(issuer: TokenIssuer, verifier: TokenVerifier, cut: int) -> None:
    token = issuer.issue_access_token("member-1")
    await rejected(verifier, token[:-cut])


@pytest.mark.parametrize("garbage", ["", "abc", "a.b", "a.b.c", "....", "Bearer x"])
async def test_garbage_rejected(verifier: TokenVerifier, garbage: str) -> None:
    await rejected(verifier, garbage)


async def test_oversized_rejected(key: SigningKey, verifier: TokenVerifier) -> None:
    token = sign(key, claims(padding="x" * MAX_TOKEN_BYTES))
    assert len(token) > MAX_TOKEN_BYTES
    assert await rejected(verifier, token) == "access token too large"


def test_verifier_refuses_unsafe_algorithm_lists() -> None:
    jwks = StaticJwks({"keys": []})
    for algorithms in (("none",), ("HS256",), ("EdDSA", "HS512"), ()):
        with pytest.raises(ValueError):
            TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, algorithms=algorithms)


async def test_malformed_roles_claim_rejected(key: SigningKey, verifier: TokenVerifier) -> None:
    token = sign(key, claims(roles="admin"))
    assert await rejected(verifier, token) == "access token claims are malformed"


# --------------------------------------------------------------------------- JWKS over HTTP


class JwksServer:
    """A tiny issuer publishing a JWK set that tests can rotate."""

    def __init__(self, keys: list[SigningKey]) -> None:
        self.keys = keys
        self.requests = 0
        self.app = Starlette(routes=[Route("/.well-known/jwks.json", self.jwks)])

    async def jwks(self, request: Request) -> JSONResponse:
        self.requests += 1
        return JSONResponse({"keys": [k.public_jwk() for k in self.keys]})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://members"
        )


async def test_jwks_rotation_refreshes_on_unknown_kid() -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    server = JwksServer([old])
    async with server.client() as client:
        provider = HttpJwksProvider(
            "http://members/.well-known/jwks.json", ttl=3600, min_refresh_interval=0, client=client
        )
        verifier = TokenVerifier(provider, issuer=ISSUER, audience=AUDIENCE)

        await verifier.verify(TokenIssuer(old, ISSUER, AUDIENCE).issue_access_token("a"))
        await verifier.verify(TokenIssuer(old, ISSUER, AUDIENCE).issue_access_token("b"))
        assert server.requests == 1  # cached

        server.keys = [new, old]  # the issuer rotates
        principal = await verifier.verify(
            TokenIssuer([new, old], ISSUER, AUDIENCE).issue_access_token("c")
        )
        assert principal.subject == "c"
        assert server.requests == 2  # exactly one refresh for the unknown kid

        # Tokens from the old key still verify from the refreshed set.
        await verifier.verify(TokenIssuer(old, ISSUER, AUDIENCE).issue_access_token("d"))
        assert server.requests == 2


async def test_unknown_kid_refresh_is_rate_limited() -> None:
    known = SigningKey.generate()
    server = JwksServer([known])
    async with server.client() as client:
        provider = HttpJwksProvider(
            "http://members/.well-known/jwks.json",
            ttl=3600,
            min_refresh_interval=3600,
            client=client,
        )
        verifier = TokenVerifier(provider, issuer=ISSUER, audience=AUDIENCE)
        await verifier.verify(TokenIssuer(known, ISSUER, AUDIENCE).issue_access_token("a"))
        for _ in range(5):
            stranger = SigningKey.generate()
            await rejected(
                verifier, TokenIssuer(stranger, ISSUER, AUDIENCE).issue_access_token("x")
            )
        assert server.requests == 1


async def test_jwks_unreachable_gives_unauthenticated() -> None:
    app = Starlette(routes=[Route("/jwks", lambda r: JSONResponse({}, status_code=500))])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://members"
    ) as client:
        provider = HttpJwksProvider("http://members/jwks", client=client)
        verifier = TokenVerifier(provider, issuer=ISSUER, audience=AUDIENCE)
        key = SigningKey.generate()
        message = await rejected(
            verifier, TokenIssuer(key, ISSUER, AUDIENCE).issue_access_token("a")
        )
        assert "unavailable" in message


# --------------------------------------------------------------------------- requests


class FakeRequest:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


async def test_principal_from_request(issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    assert await principal_from_request(FakeRequest({}), verifier) is None
    token = issuer.issue_access_token("member-7", roles=["member"])
    principal = await principal_from_request(
        FakeRequest({"authorization": f"Bearer {token}"}), verifier
    )
    assert principal is not None
    assert principal.subject == "member-7"
    with pytest.raises(Unauthenticated, match="Bearer"):
        await principal_from_request(FakeRequest({"authorization": "Basic dTpw"}), verifier)
    with pytest.raises(Unauthenticated):
        await principal_from_request(FakeRequest({"authorization": "Bearer "}), verifier)


def test_new_refresh_token() -> None:
    token, digest = new_refresh_token()
    assert len(token) >= 43
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert hash_refresh_token(token) == digest
    assert new_refresh_token()[0] != token


# --------------------------------------------------------------------------- verification cache


class CountingJwks(StaticJwks):
    def __init__(self, jwks: dict[str, Any]) -> None:
        super().__init__(jwks)
        self.lookups = 0

    async def keys(self) -> Any:
        self.lookups += 1
        return await super().keys()


async def test_verified_tokens_are_cached_until_expiry(
    issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    jwks = CountingJwks(issuer.jwks())
    verifier = TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE)
    token = issuer.issue_access_token("member-1", roles=["member"])
    first = await verifier.verify(token)
    assert await verifier.verify(token) is first
    assert jwks.lookups == 1

    # A token differing in one byte is never answered from the cache.
    await rejected(verifier, token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])

    # Past its expiry the cached entry is dropped and the token verified again.
    assert first.expires_at is not None
    later = first.expires_at.timestamp() + 3600
    monkeypatch.setattr("kopano.auth.time.time", lambda: later)
    lookups = jwks.lookups
    await verifier.verify(token)
    assert jwks.lookups == lookups + 1


async def test_cache_is_bounded_and_can_be_disabled(issuer: TokenIssuer) -> None:
    jwks = CountingJwks(issuer.jwks())
    verifier = TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, cache_size=2)
    tokens = [issuer.issue_access_token(f"m{i}") for i in range(3)]
    for token in tokens:
        await verifier.verify(token)
    assert jwks.lookups == 3
    await verifier.verify(tokens[2])
    await verifier.verify(tokens[1])
    assert jwks.lookups == 3
    await verifier.verify(tokens[0])  # evicted: verified again
    assert jwks.lookups == 4

    uncached = TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, cache_size=0)
    await uncached.verify(tokens[0])
    await uncached.verify(tokens[0])
    assert jwks.lookups == 6


async def test_concurrent_unknown_kids_share_one_refresh() -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    server = JwksServer([old])
    async with server.client() as client:
        provider = HttpJwksProvider(
            "http://members/.well-known/jwks.json", ttl=3600, min_refresh_interval=0, client=client
        )
        verifier = TokenVerifier(provider, issuer=ISSUER, audience=AUDIENCE)
        await verifier.verify(TokenIssuer(old, ISSUER, AUDIENCE).issue_access_token("a"))
        server.keys = [new, old]
        signer = TokenIssuer(new, ISSUER, AUDIENCE)
        tokens = [signer.issue_access_token(f"m{i}") for i in range(20)]
        principals = await asyncio.gather(*(verifier.verify(t) for t in tokens))
        assert [p.subject for p in principals] == [f"m{i}" for i in range(20)]
        assert server.requests == 2


async def test_jwks_ttl_expiry_refetches() -> None:
    key = SigningKey.generate()
    server = JwksServer([key])
    async with server.client() as client:
        provider = HttpJwksProvider("http://members/.well-known/jwks.json", ttl=0, client=client)
        verifier = TokenVerifier(provider, issuer=ISSUER, audience=AUDIENCE, cache_size=0)
        signer = TokenIssuer(key, ISSUER, AUDIENCE)
        await verifier.verify(signer.issue_access_token("a"))
        await verifier.verify(signer.issue_access_token("b"))
        assert server.requests == 2
        # When the issuer is down, the keys already known keep working.
        server.app.router.routes.clear()
        await verifier.verify(signer.issue_access_token("c"))
        assert server.requests == 2
