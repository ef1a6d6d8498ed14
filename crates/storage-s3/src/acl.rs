//! Canned ACLs on the wire: the `x-amz-acl` header that sets one, and reading one back from S3's
//! `AccessControlPolicy` document.

use http::{HeaderName, HeaderValue};
use storage_core::Acl;

/// The header that gives a new object, or an existing one (`PUT ?acl`), a canned ACL.
pub(crate) fn acl_header(acl: Acl) -> (HeaderName, HeaderValue) {
    (HeaderName::from_static("x-amz-acl"), HeaderValue::from_static(acl.as_str()))
}

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// The canned ACL whose grants these are. Grants to the owner alone read as `private`.
pub(crate) fn canned(xml: &str) -> Acl {
    let grants: Vec<(&str, &str)> = xml
        .split("<Grant>")
        .skip(1)
        .filter_map(|grant| {
            let grant = grant.split("</Grant>").next()?;
            let uri = between(grant, "<URI>", "</URI>").unwrap_or_default();
            let permission = between(grant, "<Permission>", "</Permission>")?;
            Some((uri, permission))
        })
        .collect();
    let granted = |uri: &str, permission: &str| grants.iter().any(|(u, p)| *u == uri && *p == permission);
    match (granted(ALL_USERS, "READ"), granted(ALL_USERS, "WRITE"), granted(AUTHENTICATED_USERS, "READ")) {
        (true, true, _) => Acl::PublicReadWrite,
        (true, false, _) => Acl::PublicRead,
        (false, _, true) => Acl::AuthenticatedRead,
        _ => Acl::Private,
    }
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(grants: &[(&str, &str)]) -> String {
        let grants: String = grants
            .iter()
            .map(|(uri, permission)| {
                format!(
                    "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"Group\"><URI>{uri}</URI></Grantee><Permission>{permission}</Permission></Grant>"
                )
            })
            .collect();
        format!(
            "<AccessControlPolicy><Owner><ID>me</ID></Owner><AccessControlList><Grant><Grantee xsi:type=\"CanonicalUser\"><ID>me</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>{grants}</AccessControlList></AccessControlPolicy>"
        )
    }

    #[test]
    fn grants_map_to_canned_acls() {
        assert_eq!(canned(&policy(&[])), Acl::Private);
        assert_eq!(canned(&policy(&[(ALL_USERS, "READ")])), Acl::PublicRead);
        assert_eq!(canned(&policy(&[(ALL_USERS, "READ"), (ALL_USERS, "WRITE")])), Acl::PublicReadWrite);
        assert_eq!(canned(&policy(&[(AUTHENTICATED_USERS, "READ")])), Acl::AuthenticatedRead);
    }
}
