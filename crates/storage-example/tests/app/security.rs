//! What another site, a forged `Host`, an anonymous visitor or an oversized field can and cannot do to the app, over
//! real HTTP against the real binary.

use reqwest::StatusCode;
use reqwest::header::{HOST, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::multipart::{Form, Part};

use crate::{Backend, RunningApp, Visitor, href, random_bytes, value_of};

/// Each `<input type="hidden" name="…" value="…">` of a page, unescaped, and its form's `action`.
fn hidden_form(html: &str) -> (String, Vec<(String, String)>) {
    let unescape = |text: &str| text.replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&");
    let between = |text: &str, start: &str| -> String {
        let from = text.find(start).map(|at| at + start.len()).unwrap();
        unescape(&text[from..from + text[from..].find('"').unwrap()])
    };
    let action = between(html, "action=\"");
    let fields = html
        .split("<input type=\"hidden\" ")
        .skip(1)
        .map(|input| (between(input, "name=\""), between(input, "value=\"")))
        .collect();
    (action, fields)
}

/// A request the app refused before reading its whole body: the app answers `status` and closes the connection rather
/// than read the rest, so the client sees that answer, or a connection closed while it was still sending.
async fn refused_unread(sent: reqwest::Result<reqwest::Response>, status: StatusCode, message: &str) {
    match sent {
        Ok(refused) => {
            assert_eq!(refused.status(), status);
            let text = refused.text().await.unwrap();
            assert!(text.contains(message), "{text}");
        }
        Err(err) => assert!(err.is_request(), "the connection was closed mid-request, nothing else: {err:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_direct_upload_returns_to_the_configured_origin_and_a_get_records_nothing() {
    let app = RunningApp::start(Backend::Fs).await;
    let alice = Visitor::logged_in(&app, "alice").await;
    let page = alice.get_with("/documents/direct", HOST, "evil.example").await.text().await.unwrap();
    assert!(!page.contains("evil.example"), "the form's redirect comes from the configuration, not Host: {page}");

    let (action, fields) = hidden_form(&page);
    let mut form = Form::new();
    for (name, value) in fields {
        form = form.text(name, value);
    }
    let file = Part::bytes(random_bytes(1000)).file_name("scan.pdf");
    let stored = alice.client.post(&action).multipart(form.part("file", file)).send().await.unwrap();
    assert_eq!(stored.status(), StatusCode::SEE_OTHER);
    let back = stored.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(back.starts_with(&format!("{}/documents/direct/done?key=", app.origin)), "{back}");

    // The storage's redirect shows a confirmation; only its POST, with the session's token, records the document.
    let confirmation = alice.get(&back).await;
    assert_eq!(confirmation.status(), StatusCode::OK);
    let confirmation = confirmation.text().await.unwrap();
    assert!(!alice.get("/").await.text().await.unwrap().contains("scan.pdf"), "a GET recorded nothing");
    let key = hidden_form(&confirmation).1.into_iter().find(|(name, _)| name == "key").unwrap().1;
    let forged = alice.post("/documents/direct/done").form(&[("key", key.as_str()), ("csrf", "guessed")]);
    assert_eq!(forged.send().await.unwrap().status(), StatusCode::FORBIDDEN, "a stale or guessed token");
    let confirmed = alice.post("/documents/direct/done").form(&[("key", key.as_str()), ("csrf", alice.csrf())]);
    let confirmed = confirmed.send().await.unwrap();
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER, "{:?}", confirmed.text().await);
    assert!(alice.get("/").await.text().await.unwrap().contains("scan.pdf"), "the POST recorded it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_are_accepted_only_from_the_apps_origin_with_the_sessions_token() {
    let app = RunningApp::start(Backend::Fs).await;
    let stranger = Visitor::anonymous(&app);
    let credentials = [("name", "alice"), ("password", "alice-demo-password")];
    let url = format!("{}/login", app.url);
    let forged = [
        ("another site", stranger.client.post(&url).header(ORIGIN, "http://evil.example")),
        ("an opaque origin", stranger.client.post(&url).header(ORIGIN, "null")),
        ("no Origin", stranger.client.post(&url)),
        ("a second Origin", stranger.post("/login").header(ORIGIN, "http://evil.example")),
    ];
    for (what, request) in forged {
        let login = request.form(&credentials).send().await.unwrap();
        assert_eq!(login.status(), StatusCode::FORBIDDEN, "a login posted with {what}");
        assert!(login.headers().get(SET_COOKIE).is_none());
    }
    let huge = stranger.post("/login").form(&[("name", "x".repeat(100_000))]).send().await;
    refused_unread(huge, StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded").await;

    let login = stranger.post("/login").form(&credentials).send().await.unwrap();
    let cookie = login.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "the app is reached over plain http here: {cookie}");

    let alice = Visitor::logged_in(&app, "alice").await;
    let untokened = Form::new().text("title", "forged").part("public_file", Part::bytes(vec![1]).file_name("a.txt"));
    let upload = alice.post("/documents").multipart(untokened).send().await.unwrap();
    assert_eq!(upload.status(), StatusCode::FORBIDDEN, "an upload without the session's token");
    let logout = alice.post("/logout").form(&[("csrf", "guessed")]).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::FORBIDDEN, "a logout with another token");
    let front = alice.get("/").await.text().await.unwrap();
    assert!(front.contains("id=\"user\">alice") && !front.contains("forged"), "nothing changed: {front}");
    let logout = alice.post("/logout").form(&[("csrf", alice.csrf())]).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_secure_when_the_public_url_is_https() {
    let app = RunningApp::start_with_public_url(Backend::Fs, Some("https://docs.example.com")).await;
    let stranger = Visitor::anonymous(&app);
    let credentials = [("name", "alice"), ("password", "alice-demo-password")];
    let login = stranger.post("/login").form(&credentials).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let cookie = login.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_title_over_200_characters_is_refused() {
    let app = RunningApp::start(Backend::Fs).await;
    let alice = Visitor::logged_in(&app, "alice").await;
    let form = Form::new().text("csrf", alice.csrf().to_owned()).text("title", "é".repeat(201));
    let refused = alice.post("/documents").multipart(form).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "a title of 201 characters");
    assert!(refused.text().await.unwrap().contains("longer than 200 characters"));
    // The app answers after reading 800 bytes of the title.
    let form = Form::new().text("csrf", alice.csrf().to_owned()).text("title", "x".repeat(10 << 20));
    refused_unread(alice.post("/documents").multipart(form).send().await, StatusCode::BAD_REQUEST, "200 characters")
        .await;
    assert!(!alice.get("/").await.text().await.unwrap().contains("xxxx"), "nothing recorded");
    let form = Form::new().text("csrf", alice.csrf().to_owned()).text("title", "é".repeat(200));
    assert_eq!(alice.post("/documents").multipart(form).send().await.unwrap().status(), StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_learn_nothing_of_private_documents() {
    let app = RunningApp::start(Backend::Fs).await;
    let alice = Visitor::logged_in(&app, "alice").await;
    let private = alice.upload("Merger with Initech", ("cover.txt", b"cover"), ("terms.pdf", b"%PDF")).await;
    let public_only = Form::new()
        .text("csrf", alice.csrf().to_owned())
        .text("title", "Open minutes")
        .part("public_file", Part::bytes(b"minutes".to_vec()).file_name("minutes.txt"));
    assert_eq!(alice.post("/documents").multipart(public_only).send().await.unwrap().status(), StatusCode::SEE_OTHER);

    let (stranger, bob) = (Visitor::anonymous(&app), Visitor::logged_in(&app, "bob").await);
    for (who, visitor) in [("an anonymous visitor", &stranger), ("another user", &bob)] {
        let index = visitor.get("/").await.text().await.unwrap();
        assert!(index.contains("Open minutes"), "{who} sees the public document");
        assert!(!index.contains("Merger"), "{who} sees no private title: {index}");
        assert_eq!(index.matches("<li>").count(), 1, "{who} cannot count private documents: {index}");
        let page = visitor.get(&format!("/documents/{private}")).await;
        assert_eq!(page.status(), StatusCode::NOT_FOUND, "{who} cannot open the private document's page");
    }
    let carol = Visitor::logged_in(&app, "carol").await;
    assert!(carol.get("/").await.text().await.unwrap().contains("Merger"), "staff see every document");
    let page = alice.get(&format!("/documents/{private}")).await.text().await.unwrap();
    assert!(href(&page, "private-link").is_some(), "the owner sees her document");
    assert!(value_of(&alice.get("/").await.text().await.unwrap(), "csrf").is_some());
}
