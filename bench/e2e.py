#!/usr/bin/env python3
"""The web app end to end: a real `docuvault serve --with-worker` on the local stack (its own
database, bucket and Redis prefix, a short access-token lifetime so one expires during the run,
an admin made with the CLI), then web/e2e/e2e.mjs drives Debian's Chromium through it.
Screenshots go to web/e2e/output/.

Usage: python3 bench/e2e.py   (`make test` runs it; DOCUVAULT_BIN picks the binary)
Exit status: the browser run's.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import lib

PORT = 58191
TOKEN_TTL = 20
ADMIN = ("e2e-admin", "an admin passphrase for e2e")
OUT = lib.ROOT / "web" / "e2e" / "output"
OIDC_SECRET = "an e2e client secret"
DAV_PASSWORD = "an e2e webdav password"


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    scratch = lib.Scratch("e2e")
    subprocess.run([str(lib.BIN), "user", "create", "--handle", ADMIN[0], "--email",
                    f"{ADMIN[0]}@example.org", "--admin"], env=scratch.env, input=ADMIN[1] + "\n",
                   check=True, capture_output=True, text=True)
    base = f"http://127.0.0.1:{PORT}"
    # A real OpenID provider for single sign-on; it stops when its stdin closes.
    provider = subprocess.Popen(["node", "e2e/oidc-provider.mjs"], cwd=lib.ROOT / "web",
                                env=dict(os.environ,
                                         OIDC_REDIRECT_URIS=f"{base}/api/auth/oidc/callback",
                                         OIDC_CLIENT_SECRET=OIDC_SECRET),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=open(OUT / "oidc-provider.log", "w"), text=True)
    issuer = json.loads(provider.stdout.readline())["issuer"]
    # A real WebDAV server (rclone, installed by scripts/stack.sh) for the own-cloud step.
    dav_dir = OUT / "dav"
    shutil.rmtree(dav_dir, ignore_errors=True)
    dav_dir.mkdir()
    dav_port = lib.free_port()
    dav = subprocess.Popen(["rclone", "serve", "webdav", str(dav_dir), "--addr",
                            f"127.0.0.1:{dav_port}", "--user", "nas", "--pass", DAV_PASSWORD,
                            "--config", "/dev/null"],
                           stdout=subprocess.DEVNULL, stderr=open(OUT / "webdav.log", "w"))
    # OneDrive's and Google's sign-in and APIs, played locally; it stops when its stdin closes.
    cloud = subprocess.Popen(["node", "e2e/cloud-provider.mjs"], cwd=lib.ROOT / "web",
                             env=dict(os.environ, CLIENT_ID="docuvault-e2e",
                                      CLIENT_SECRET=OIDC_SECRET, ACCOUNT="ada@example.org"),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=open(OUT / "cloud-provider.log", "w"), text=True)
    cloud_url = cloud.stdout.readline().strip()
    oauth = {}
    for prefix, path, api in [("ONEDRIVE", "onedrive", "/v1.0"), ("GDRIVE", "google", "/google")]:
        oauth.update({f"{prefix}_CLIENT_ID": "docuvault-e2e", f"{prefix}_CLIENT_SECRET": OIDC_SECRET,
                      f"{prefix}_AUTH_URL": f"{cloud_url}/{path}/authorize",
                      f"{prefix}_TOKEN_URL": f"{cloud_url}/{path}/token",
                      f"{prefix}_API_URL": f"{cloud_url}{api}"})
    server = lib.Process(["serve", "--with-worker"], scratch.env, OUT / "server.log", {
        **oauth,
        "BIND_ADDR": f"127.0.0.1:{PORT}",
        "PUBLIC_URL": base,
        # Plain http on loopback: the browser must keep the sign-in cookies.
        "COOKIE_SECURE": "false",
        "ACCESS_TOKEN_TTL_SECS": str(TOKEN_TTL),
        "QUOTA_DEFAULT_BYTES": str(100 * 1024 * 1024),
        "AUTH_RATE_MAX_PER_IP": "1000",
        # Password-reset mail goes to the stack's SMTP server, which keeps it in a Maildir.
        "SMTP_HOST": scratch.stack["SMTP_HOST"],
        "SMTP_PORT": scratch.stack["SMTP_PORT"],
        "SMTP_TLS": "none",
        "SMTP_FROM": scratch.stack.get("SMTP_FROM", "docuvault@localhost"),
        # Mail ingest from the stack's IMAP server, on loopback, over TLS with the stack's CA.
        "MAIL_ALLOW_PRIVATE_ENDPOINTS": "true",
        "MAIL_CA_FILE": scratch.stack["DOCUVAULT_TEST_IMAP_CA"],
        # Single sign-on through that provider; people it vouches for get an account.
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": "docuvault",
        "OIDC_CLIENT_SECRET": OIDC_SECRET,
        "OIDC_DISPLAY_NAME": "Test ID",
        "OIDC_AUTO_CREATE": "true",
        # The WebDAV server is on loopback.
        "CLOUD_ALLOW_PRIVATE_ENDPOINTS": "true",
    })
    try:
        lib.wait_until(lambda: lib.http("GET", f"{base}/health", timeout=1)[0] == 200, 30,
                       "the server to answer /health")
        env = dict(os.environ, BASE_URL=base, OUT_DIR=str(OUT), TOKEN_TTL=str(TOKEN_TTL),
                   ADMIN_LOGIN=ADMIN[0], ADMIN_PASSWORD=ADMIN[1],
                   MAIL_DIR=scratch.stack["DOCUVAULT_TEST_MAILDIR"],
                   IMAPS_PORT=scratch.stack["DOCUVAULT_TEST_IMAPS_PORT"],
                   IMAP_PASSWORD=scratch.stack["DOCUVAULT_TEST_IMAP_PASSWORD"],
                   IMAP_CA=scratch.stack["DOCUVAULT_TEST_IMAP_CA"],
                   DAV_URL=f"http://127.0.0.1:{dav_port}/", DAV_USER="nas",
                   DAV_PASSWORD=DAV_PASSWORD, DAV_DIR=str(dav_dir), CLOUD_PROVIDER_URL=cloud_url,
                   CHROMIUM=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
        result = subprocess.run(["node", "e2e/e2e.mjs"], cwd=lib.ROOT / "web", env=env)
        if server.panicked():
            print(f"[e2e] the server panicked; see {OUT / 'server.log'}", flush=True)
            return 1
        # No credential reaches the log: the WebDAV password, the tokens the provider issued
        # (`<provider>-access-…`, `<provider>-refresh-…`), the client secret.
        logged = (OUT / "server.log").read_text(errors="replace")
        leaked = [s for s in (DAV_PASSWORD, "-access-", "-refresh-", OIDC_SECRET) if s in logged]
        if leaked:
            print(f"[e2e] credentials in {OUT / 'server.log'}: {leaked}", flush=True)
            return 1
        return result.returncode
    finally:
        server.stop()
        provider.kill()
        provider.wait()
        dav.kill()
        dav.wait()
        cloud.kill()
        cloud.wait()
        scratch.drop()


if __name__ == "__main__":
    sys.exit(main())
