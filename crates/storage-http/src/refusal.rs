//! Refused requests say why: a one-line text body, or JSON when the request's `Accept` prefers it (storage-core's
//! `LinkAnswer::refused` decides and writes both, for the links and the forms alike).

use http::{HeaderMap, Response, StatusCode, header};
use storage_core::link::LinkAnswer;

use crate::ResponseBody;

/// Why a request was refused, kept on the response until it is answered in the form the client prefers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusal(pub(crate) &'static str);

/// A refusal with a one-line text body that says why (JSON instead, see [`in_preferred_form`]).
pub(crate) fn refused(code: StatusCode, why: &'static str) -> Response<ResponseBody> {
    let mut response = crate::http_response(LinkAnswer::refused(code.as_u16(), why, []));
    response.extensions_mut().insert(Refusal(why));
    response
}

/// `response`, with a refusal's body in the form `request_headers` prefer.
pub(crate) fn in_preferred_form(
    request_headers: &HeaderMap,
    response: Response<ResponseBody>,
) -> Response<ResponseBody> {
    let Some(Refusal(why)) = response.extensions().get::<Refusal>().copied() else { return response };
    let accept = request_headers.get_all(header::ACCEPT).iter().map(http::HeaderValue::as_bytes);
    crate::http_response(LinkAnswer::refused(response.status().as_u16(), why, accept))
}
