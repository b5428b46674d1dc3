"""A bearer-token service for the test registry, as Docker Hub's auth.docker.io or GHCR's token endpoint.

``GET /token?service=...&scope=repository:NAME:pull,push`` with the right basic-auth login
answers ``{"token": JWT}`` granting the asked actions; anonymously it grants nothing (the
registry then refuses with ``insufficient_scope``); a wrong password is 401. The JWT is RS256,
signed with a key whose self-signed certificate the registry trusts (``rootcertbundle``) and
carried in the ``x5c`` header, which is what distribution 2.8 verifies. Every request is recorded.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import secrets
import threading
import time
import urllib.parse
from pathlib import Path

ISSUER = "materialize-test-issuer"
SERVICE = "materialize-test-registry"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    def __init__(self, folder: Path, username: str, password: str) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.username, self.password = username, password
        self.requests: list[dict] = []
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "materialize test token issuer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self._cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                      .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                      .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
                      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                      .sign(self._key, hashes.SHA256()))
        self.cert_file = folder / "token-cert.pem"
        folder.mkdir(parents=True, exist_ok=True)
        self.cert_file.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._der = self._cert.public_bytes(serialization.Encoding.DER)
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/token"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def registry_auth(self) -> str:
        return (f"token:\n  realm: {self.url}\n  service: {SERVICE}\n  issuer: {ISSUER}\n"
                f"  rootcertbundle: {self.cert_file}\n")

    def __enter__(self) -> "TokenServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _sign(self, subject: str, access: list[dict]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self._der).decode()]}
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": secrets.token_hex(8), "access": access}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def _answer(self, query: dict[str, str], authorization: str | None) -> tuple[int, dict]:
        user = None
        if authorization and authorization.startswith("Basic "):
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            if (user, password) != (self.username, self.password):
                return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "wrong username or password"}]}
        access = []
        scope = query.get("scope", "")
        if user is not None and scope.startswith("repository:"):
            _, name, actions = scope.split(":", 2)
            access = [{"type": "repository", "name": name, "actions": actions.split(",")}]
        return 200, {"token": self._sign(user or "", access), "expires_in": 300}

    def _handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                authorization = self.headers.get("Authorization")
                server.requests.append({"query": query, "authorization": authorization})
                status, body = server._answer(query, authorization)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
