"""Test doubles of Clerk that we cannot run here: a real RSA key pair minting real session
tokens, and a real Svix signer for webhooks. Nothing is mocked on the server side."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from svix.webhooks import Webhook

ISSUER = "https://clerk.nexod.test"
APP = "https://app.nexod.test"


class ClerkDouble:
    """Signs tokens the way a Clerk instance does (RS256, v2 claims)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        self.webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()

    def token(self, user: str, org: str | None = None, role: str = "org:member", *,
              key: Any = None, kid: str = "ins_1", **overrides: Any) -> str:
        """A v2 session token; ``overrides`` replace or (with None) drop claims."""
        now = int(time.time())
        claims: dict[str, Any] = {"sub": user, "sid": f"sess_{uuid.uuid4().hex[:12]}", "iss": ISSUER,
                                  "azp": APP, "iat": now - 1, "nbf": now - 1, "exp": now + 60, "v": 2}
        if org:
            claims["o"] = {"id": org, "slg": org, "rol": role.removeprefix("org:")}
        for k, v in overrides.items():
            if v is None:
                claims.pop(k, None)
            else:
                claims[k] = v
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid})

    def jwks(self, kid: str = "ins_1") -> dict[str, Any]:
        """The JWKS document Clerk serves at ``/.well-known/jwks.json``."""
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]}

    def env(self) -> dict[str, str]:
        """The server settings for this Clerk instance."""
        return {"NEXOD_AUTH": "clerk", "CLERK_JWT_KEY": self.public_pem, "NEXOD_CLERK_ISSUER": ISSUER,
                "NEXOD_CLERK_AUTHORIZED_PARTIES": f"{APP},http://localhost:3000",
                "NEXOD_CLERK_WEBHOOK_SECRET": self.webhook_secret}

    def webhook(self, event: dict[str, Any], *, msg_id: str | None = None, at: float | None = None,
                secret: str | None = None) -> tuple[bytes, dict[str, str]]:
        """A signed delivery: body and Svix headers."""
        body = orjson.dumps(event)
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        ts = datetime.fromtimestamp(at if at is not None else time.time(), tz=UTC)
        sig = Webhook(secret or self.webhook_secret).sign(msg_id, ts, body.decode())
        return body, {"svix-id": msg_id, "svix-timestamp": str(int(ts.timestamp())),
                      "svix-signature": sig, "content-type": "application/json"}


def membership_event(kind: str, org: str, user: str, role: str = "org:member") -> dict[str, Any]:
    """An ``organizationMembership.*`` event as Clerk sends it."""
    return {"type": f"organizationMembership.{kind}", "object": "event", "data": {
        "id": f"orgmem_{uuid.uuid4().hex[:10]}", "role": role,
        "organization": {"id": org, "name": org.upper(), "slug": org},
        "public_user_data": {"user_id": user, "identifier": f"{user}@example.com"}}}
