//! Single sign-on against a real OpenID Connect provider: the npm package `oidc-provider`
//! (web/e2e/oidc-provider.mjs), started by each test. The test plays the browser: it follows the
//! provider's redirects, fills in its sign-in form, and brings the code back to DocuVault's
//! callback with the state cookie DocuVault set.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use docuvault_core::auth::oidc::{OidcClient, pkce_challenge};
use docuvault_core::config::OidcConfig;
use url::Url;

use crate::helpers::{Cookies, Options, PASSWORD, TestApp};

/// The callback registered with the provider: DocuVault's PUBLIC_URL in the tests is the
/// default, so the provider's last redirect names it; the test sends it to the real address.
const CALLBACK: &str = "http://localhost:8080/api/auth/oidc/callback";
const SECRET: &str = "a client secret for the tests";

struct Provider {
    issuer: String,
    child: Child,
}

impl Provider {
    fn start() -> Self {
        let web = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web");
        let mut child = Command::new("node")
            .arg("e2e/oidc-provider.mjs")
            .current_dir(web)
            .env("OIDC_REDIRECT_URIS", CALLBACK)
            .env("OIDC_CLIENT_SECRET", SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs web/e2e/oidc-provider.mjs (make test installs web/node_modules)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the provider's first line");
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the provider did not start: {line:?}"));
        Self {
            issuer: v["issuer"].as_str().expect("issuer").to_owned(),
            child,
        }
    }

    fn env(&self, auto_create: bool) -> Vec<(&'static str, String)> {
        vec![
            ("OIDC_ISSUER", self.issuer.clone()),
            ("OIDC_CLIENT_ID", "docuvault".to_owned()),
            ("OIDC_CLIENT_SECRET", SECRET.to_owned()),
            ("OIDC_DISPLAY_NAME", "Test ID".to_owned()),
            ("OIDC_AUTO_CREATE", auto_create.to_string()),
        ]
    }

    /// As a public client: no secret, PKCE alone.
    fn public_env(&self, auto_create: bool) -> Vec<(&'static str, String)> {
        let mut env = self.env(auto_create);
        env.retain(|(k, _)| *k != "OIDC_CLIENT_SECRET" && *k != "OIDC_CLIENT_ID");
        env.push(("OIDC_CLIENT_ID", "docuvault-public".to_owned()));
        env
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location in a {} answer", resp.status()))
        .to_owned()
}

/// Plays the person at the provider: from the authorization URL through its sign-in form (as
/// `login`) to the redirect back to the client, whose URL is returned.
async fn at_provider(auth_url: &str, login: &str) -> Url {
    let http = no_redirects();
    let mut jar = Cookies::default();
    let mut next = Url::parse(auth_url).expect("authorization URL");
    for _ in 0..10 {
        let resp = http
            .get(next.clone())
            .header("cookie", jar.header())
            .send()
            .await
            .expect("provider");
        jar.store(&resp);
        if resp.status().is_redirection() {
            let to = next.join(&location(&resp)).expect("location");
            if to.as_str().starts_with(CALLBACK) {
                return to;
            }
            next = to;
            continue;
        }
        let page = resp.text().await.expect("page");
        assert!(
            page.contains("name=\"login\""),
            "the provider showed no sign-in form: {page}"
        );
        let action = page
            .split("action=\"")
            .nth(1)
            .and_then(|a| a.split('"').next())
            .expect("form action");
        let resp = http
            .post(next.join(action).expect("action URL"))
            .header("cookie", jar.header())
            .form(&[("prompt", "login"), ("login", login), ("password", "any")])
            .send()
            .await
            .expect("sign-in form");
        jar.store(&resp);
        assert!(resp.status().is_redirection(), "{}", resp.status());
        next = next.join(&location(&resp)).expect("location");
    }
    panic!("the provider never sent the browser back");
}

/// A started sign-in: the provider URL and the state cookie DocuVault set.
async fn start(app: &TestApp, return_to: &str) -> (String, String) {
    let resp = no_redirects()
        .get(app.url(&format!("/api/auth/oidc/start?return_to={return_to}")))
        .send()
        .await
        .expect("start");
    assert_eq!(resp.status(), 303);
    let mut jar = Cookies::default();
    jar.store(&resp);
    let state = jar.0.get("docuvault_sso").expect("state cookie").clone();
    (location(&resp), state)
}

/// Brings the provider's redirect to DocuVault's callback, as the browser would.
async fn callback(app: &TestApp, back: &Url, state_cookie: &str, html: bool) -> reqwest::Response {
    let url = app.url(&format!(
        "/api/auth/oidc/callback?{}",
        back.query().unwrap_or("")
    ));
    let mut req = no_redirects()
        .get(url)
        .header("cookie", format!("docuvault_sso={state_cookie}"));
    if html {
        req = req.header("accept", "text/html,application/xhtml+xml");
    }
    req.send().await.expect("callback")
}

/// The whole sign-in, started from /documents; the callback's answer.
async fn sign_in(app: &TestApp, login: &str) -> reqwest::Response {
    sign_in_to(app, "/documents", login).await
}

async fn sign_in_to(app: &TestApp, return_to: &str, login: &str) -> reqwest::Response {
    let (auth_url, state) = start(app, return_to).await;
    let back = at_provider(&auth_url, login).await;
    callback(app, &back, &state, false).await
}

async fn app_with(env: Vec<(&'static str, String)>) -> TestApp {
    TestApp::spawn_with(Options {
        env,
        ..Options::default()
    })
    .await
}

/// The handle of the account a successful callback signed in to, through the refresh cookie.
async fn signed_in_handle(app: &TestApp, resp: reqwest::Response) -> String {
    signed_in_user(app, resp).await["handle"]
        .as_str()
        .expect("handle")
        .to_owned()
}

/// `GET /api/me` of the account a successful callback signed in to.
async fn signed_in_user(app: &TestApp, resp: reqwest::Response) -> serde_json::Value {
    assert_eq!(resp.status(), 303, "{:?}", resp.text().await);
    let mut jar = Cookies::default();
    jar.store(&resp);
    let csrf = jar.0.get("docuvault_csrf").expect("csrf cookie").clone();
    let refresh = app
        .anonymous()
        .post(app.url("/api/auth/refresh"))
        .header("cookie", jar.header())
        .header("x-csrf-token", csrf)
        .send()
        .await
        .expect("refresh");
    assert_eq!(refresh.status(), 200);
    let body: serde_json::Value = refresh.json().await.expect("json");
    let me = app
        .anonymous()
        .get(app.url("/api/me"))
        .bearer_auth(body["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("me");
    me.json().await.expect("json")
}

fn no_session_cookie(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .all(|c| !c.to_str().unwrap_or("").starts_with("docuvault_refresh"))
}

async fn error_of(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test]
async fn verified_email_links_the_account_and_nothing_else_signs_in() {
    let op = Provider::start();
    let app = app_with(op.env(false)).await;

    let (_, methods) = app.get_json("/api/auth/methods").await;
    assert_eq!(methods["password"], true);
    assert_eq!(methods["sso"]["name"], "Test ID");

    // alice@example.org is alice's address, verified by the provider: linked, signed in, and
    // sent to the page she started from.
    let resp = sign_in(&app, "alice").await;
    assert_eq!(location(&resp), "/documents");
    assert_eq!(signed_in_handle(&app, resp).await, "alice");
    assert_eq!(app.audit("sso_linked").await.len(), 1);
    let logins = app.audit("login_succeeded").await;
    assert!(
        logins.iter().any(|(_, _, _, m)| m["method"] == "sso"),
        "{logins:?}"
    );

    // The second time the identity is found by its subject; nothing is linked again.
    assert_eq!(
        signed_in_handle(&app, sign_in(&app, "alice").await).await,
        "alice"
    );
    assert_eq!(app.audit("sso_linked").await.len(), 1);
    assert_eq!(app.count("user_identities").await, 1);

    // Nobody here has carol's address, and accounts are not made: refused, nothing created.
    let users = app.count("users").await;
    let (status, body) = error_of(sign_in(&app, "carol").await).await;
    app.assert_error((status, body), 403, "sso_no_account");
    assert_eq!(app.count("users").await, users);

    // A browser is sent to the sign-in page with the reason instead.
    let (auth_url, state) = start(&app, "/").await;
    let back = at_provider(&auth_url, "carol").await;
    let resp = callback(&app, &back, &state, true).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/sign-in?sso_error=sso_no_account");

    // An unverified address never matches an account, even one that exists.
    app.new_user("unverified-bob").await;
    let (status, body) = error_of(sign_in(&app, "unverified-bob").await).await;
    app.assert_error((status, body), 403, "sso_email_unverified");
    assert_eq!(app.count("user_identities").await, 1);
    assert!(!app.audit("sso_failed").await.is_empty());
}

#[tokio::test]
async fn auto_create_makes_one_account_per_identity() {
    let op = Provider::start();
    let app = app_with(op.public_env(true)).await;

    let carol = signed_in_user(&app, sign_in(&app, "carol").await).await;
    assert_eq!(carol["handle"], "carol");
    assert_eq!(carol["email"], "carol@example.org");
    assert_eq!(
        carol["password_set"], false,
        "made by single sign-on: no password"
    );
    assert_eq!(
        signed_in_handle(&app, sign_in(&app, "carol").await).await,
        "carol"
    );
    let (_, alice) = app.get_json("/api/me").await;
    assert_eq!(alice["password_set"], true);
    let created = app.audit("sso_account_created").await;
    assert_eq!(created.len(), 1, "{created:?}");

    // Another person whose username is a taken handle gets a free one.
    let handle = signed_in_handle(&app, sign_in(&app, "alice@elsewhere.example").await).await;
    assert_eq!(handle, "alice-2");

    // The new account has no password: nobody can sign in to it with one.
    let resp = app
        .anonymous()
        .post(app.url("/api/auth/login"))
        .json(&serde_json::json!({ "login": "carol", "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 401);

    // Not even auto-creation takes an address the provider did not verify.
    let (status, body) = error_of(sign_in(&app, "unverified-eve").await).await;
    app.assert_error((status, body), 403, "sso_email_unverified");
    assert_eq!(app.audit("sso_account_created").await.len(), 2);
}

#[tokio::test]
async fn the_state_works_once_and_only_in_the_browser_that_started() {
    let op = Provider::start();
    let app = app_with(op.env(false)).await;

    // A code brought to another browser (no state cookie, or another's) signs nobody in.
    let (auth_url, state) = start(&app, "/").await;
    let back = at_provider(&auth_url, "alice").await;
    let (other_url, other_state) = start(&app, "/").await;
    drop(other_url);
    for cookie in ["", other_state.as_str()] {
        let resp = callback(&app, &back, cookie, false).await;
        assert!(no_session_cookie(&resp));
        let (status, body) = error_of(resp).await;
        app.assert_error((status, body), 400, "sso_state_invalid");
    }

    // The right browser signs in once; the same answer again is refused.
    assert_eq!(
        signed_in_handle(&app, callback(&app, &back, &state, false).await).await,
        "alice"
    );
    let (status, body) = error_of(callback(&app, &back, &state, false).await).await;
    app.assert_error((status, body), 400, "sso_state_invalid");

    // The provider's own refusal is passed on.
    let (_, state) = start(&app, "/").await;
    let refused =
        Url::parse(&format!("{CALLBACK}?error=access_denied&state={state}")).expect("url");
    let (status, body) = error_of(callback(&app, &refused, &state, false).await).await;
    app.assert_error((status, body), 401, "sso_failed");

    // return_to never leads off the site.
    let resp = sign_in_to(&app, "//evil.example/x", "alice").await;
    assert_eq!(location(&resp), "/");
}

#[tokio::test]
async fn an_id_token_for_another_nonce_is_refused() {
    let op = Provider::start();
    let app = app_with(op.env(false)).await;
    // The authorization request is changed on its way to the provider: it issues an ID token
    // with a nonce this sign-in did not make (a replayed or injected token).
    let (auth_url, state) = start(&app, "/").await;
    let mut url = Url::parse(&auth_url).expect("url");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "nonce" {
                "another-nonce".into()
            } else {
                v
            };
            (k.into_owned(), v.into_owned())
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let back = at_provider(url.as_str(), "alice").await;
    let resp = callback(&app, &back, &state, false).await;
    assert!(no_session_cookie(&resp));
    let (status, body) = error_of(resp).await;
    app.assert_error((status, body), 401, "sso_invalid_token");
    assert!(body_mentions(&app, "nonce").await);
}

async fn body_mentions(app: &TestApp, word: &str) -> bool {
    app.audit("sso_failed")
        .await
        .iter()
        .any(|(_, _, _, m)| m["reason"].as_str().is_some_and(|r| r.contains(word)))
}

/// Runs the code flow as the client `client_id` itself and returns the provider's ID token.
async fn id_token_from(op: &Provider, client_id: &str, secret: &str, nonce: &str) -> String {
    let verifier = "a-verifier-of-enough-length-for-pkce-0123456789";
    let mut auth = Url::parse(&format!("{}/auth", op.issuer)).expect("url");
    auth.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", "openid email")
        .append_pair("state", "s")
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", &pkce_challenge(verifier))
        .append_pair("code_challenge_method", "S256");
    let back = at_provider(auth.as_str(), "alice").await;
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let resp = reqwest::Client::new()
        .post(format!("{}/token", op.issuer))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("token");
    let body: serde_json::Value = resp.json().await.expect("token json");
    body["id_token"].as_str().expect("id_token").to_owned()
}

#[tokio::test]
async fn tampered_and_foreign_id_tokens_are_refused() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let op = Provider::start();
    let client = OidcClient::new(
        OidcConfig {
            issuer: op.issuer.clone(),
            client_id: "docuvault".to_owned(),
            client_secret: None,
            scopes: "openid email".to_owned(),
            display_name: "Test ID".to_owned(),
            auto_create: false,
            ca_file: None,
        },
        &Url::parse("http://localhost:8080").expect("url"),
    )
    .expect("client");
    let code = |e: docuvault_core::Error| match e {
        docuvault_core::Error::Unauthorized { code, .. } => code,
        other => panic!("{other:?}"),
    };

    let token = id_token_from(&op, "docuvault", SECRET, "n-1").await;
    let claims = client
        .verify_id_token(&token, "n-1")
        .await
        .expect("a real token verifies");
    assert_eq!(claims.sub, "alice");

    // The wrong nonce.
    assert_eq!(
        code(
            client
                .verify_id_token(&token, "n-2")
                .await
                .expect_err("nonce")
        ),
        "sso_invalid_token"
    );

    // A changed claim under the provider's signature.
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&b64.decode(parts[1]).expect("b64")).expect("json");
    payload["sub"] = "mallory".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(payload.to_string()),
        parts[2]
    );
    assert_eq!(
        code(
            client
                .verify_id_token(&forged, "n-1")
                .await
                .expect_err("forged")
        ),
        "sso_invalid_token"
    );

    // No signature at all (alg none), and one cut off.
    let none = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    assert!(client.verify_id_token(&none, "n-1").await.is_err());
    let cut = format!("{}.{}.", parts[0], parts[1]);
    assert!(client.verify_id_token(&cut, "n-1").await.is_err());

    // A real token of this provider, issued to another client: not for us.
    let foreign = id_token_from(&op, "other-client", "other-secret", "n-1").await;
    let err = client
        .verify_id_token(&foreign, "n-1")
        .await
        .expect_err("audience");
    assert!(err.to_string().contains("another client"), "{err}");
}

#[tokio::test]
async fn passwords_can_be_turned_off_in_favour_of_sso() {
    let op = Provider::start();
    let mut env = op.env(false);
    env.push(("PASSWORD_LOGIN", "false".to_owned()));
    let app = app_with(env).await;

    let (_, methods) = app.get_json("/api/auth/methods").await;
    assert_eq!(
        (
            methods["password"].as_bool(),
            methods["registration"].as_bool()
        ),
        (Some(false), Some(false))
    );

    let anon = app.anonymous();
    for (path, body) in [
        (
            "/api/auth/login",
            serde_json::json!({ "login": "alice", "password": PASSWORD }),
        ),
        (
            "/api/auth/register",
            serde_json::json!({ "handle": "newbie", "email": "n@example.org", "password": PASSWORD }),
        ),
        (
            "/api/auth/password-reset/request",
            serde_json::json!({ "email": "alice@example.org" }),
        ),
    ] {
        let resp = anon
            .post(app.url(path))
            .json(&body)
            .send()
            .await
            .expect("post");
        let (status, body) = error_of(resp).await;
        app.assert_error((status, body), 403, "password_login_disabled");
    }
    // Single sign-on still works.
    assert_eq!(
        signed_in_handle(&app, sign_in(&app, "alice").await).await,
        "alice"
    );
}

#[tokio::test]
async fn sso_routes_answer_clearly_when_it_is_not_set_up() {
    let app = TestApp::spawn().await;
    let (_, methods) = app.get_json("/api/auth/methods").await;
    assert!(methods.get("sso").is_none(), "{methods}");
    let resp = no_redirects()
        .get(app.url("/api/auth/oidc/start"))
        .send()
        .await
        .expect("start");
    let (status, body) = error_of(resp).await;
    app.assert_error((status, body), 403, "sso_not_configured");
}
