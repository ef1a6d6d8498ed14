//! Refused requests say why: a one-line text body, or JSON when the request's `Accept` prefers it.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, header};

use crate::ResponseBody;

/// Why a request was refused, kept on the response until it is answered in the form the client prefers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusal(pub(crate) &'static str);

/// A refusal with a one-line text body that says why (JSON instead, see [`in_preferred_form`]).
pub(crate) fn refused(code: StatusCode, why: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(crate::form::full(Bytes::from_static(why.as_bytes())));
    *response.status_mut() = code;
    response.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    response.extensions_mut().insert(Refusal(why));
    response
}

/// `response`, with a refusal's body as `{"error": {"status", "message"}}` when `request_headers` prefer JSON.
pub(crate) fn in_preferred_form(
    request_headers: &HeaderMap,
    mut response: Response<ResponseBody>,
) -> Response<ResponseBody> {
    let Some(Refusal(why)) = response.extensions().get::<Refusal>().copied() else { return response };
    if !prefers_json(request_headers) {
        return response;
    }
    let body = serde_json::json!({ "error": { "status": response.status().as_u16(), "message": why } });
    *response.body_mut() = crate::form::full(Bytes::from(body.to_string()));
    response.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// At most this many media ranges of an `Accept` header are weighed; a client needs a handful.
const MAX_MEDIA_RANGES: usize = 32;

/// Whether `Accept` ranks `application/json` first: the highest quality wins, the earlier on a tie.
fn prefers_json(headers: &HeaderMap) -> bool {
    let mut best: Option<(u16, bool)> = None;
    let ranges =
        headers.get_all(header::ACCEPT).iter().filter_map(|value| value.to_str().ok()).flat_map(|v| v.split(','));
    for range in ranges.take(MAX_MEDIA_RANGES) {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim();
        let quality = parts
            .filter_map(|parameter| parameter.trim().strip_prefix("q="))
            .find_map(quality_in_thousandths)
            .unwrap_or(1000);
        if media.is_empty() || quality == 0 {
            continue;
        }
        if best.is_none_or(|(top, _)| quality > top) {
            best = Some((quality, media.eq_ignore_ascii_case("application/json")));
        }
    }
    best.is_some_and(|(_, json)| json)
}

/// `q=0.8` as 800: RFC 9110's weight, at most three decimals, between 0 and 1.
fn quality_in_thousandths(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    fn accept(value: &HeaderValue) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, value.clone());
        headers
    }

    #[test]
    fn json_is_chosen_only_when_ranked_first() {
        let prefers = |text: &str| prefers_json(&accept(&HeaderValue::from_str(text).unwrap()));
        assert!(prefers("application/json"));
        assert!(prefers("text/plain;q=0.5, application/json"));
        assert!(prefers("application/json, text/plain"));
        assert!(!prefers("text/html, application/json;q=0.9"));
        assert!(!prefers("*/*"));
        assert!(!prefers("application/json;q=0, text/plain"));
        assert!(!prefers(""));
    }

    /// Media ranges built from the types clients send, with weights in and out of range.
    fn accept_text() -> impl Strategy<Value = String> {
        let media = prop::sample::select(vec!["application/json", "text/plain", "text/*", "*/*", "application/*", ""]);
        let quality =
            prop::sample::select(vec!["", ";q=1", ";q=0", ";q=0.5", ";q=0.999", ";q=1.5", ";q=-1", ";q=0.1234"]);
        proptest::collection::vec((media, quality), 0..6).prop_map(|ranges| {
            ranges.into_iter().map(|(media, quality)| format!("{media}{quality}")).collect::<Vec<_>>().join(", ")
        })
    }

    proptest! {
        #[test]
        fn fuzz_accept_header(raw in proptest::collection::vec(any::<u8>(), 0..64), structured in accept_text()) {
            for value in [HeaderValue::from_bytes(&raw).ok(), HeaderValue::from_str(&structured).ok()].into_iter().flatten() {
                let json = prefers_json(&accept(&value));
                let text = value.to_str().unwrap_or_default().to_ascii_lowercase();
                // JSON is never chosen for a header that does not name it.
                prop_assert!(!json || text.contains("application/json"), "{value:?}");
                let response = in_preferred_form(&accept(&value), refused(StatusCode::PAYLOAD_TOO_LARGE, "too large"));
                let content_type = response.headers()[header::CONTENT_TYPE].to_str().unwrap().to_owned();
                prop_assert_eq!(content_type == "application/json", json);
            }
        }
    }
}
