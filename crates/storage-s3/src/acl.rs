//! Canned ACLs on the wire: the `x-amz-acl` header that sets one, and reading one back from S3's
//! `AccessControlPolicy` document (typed in `xml.rs`).

use http::{HeaderName, HeaderValue};
use storage_core::{Acl, Result};

use crate::xml::{self, AccessControlPolicy};

/// The header that gives a new object, or an existing one (`PUT ?acl`), a canned ACL.
pub(crate) fn acl_header(acl: Acl) -> (HeaderName, HeaderValue) {
    (HeaderName::from_static("x-amz-acl"), HeaderValue::from_static(acl.as_str()))
}

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// The canned ACL whose grants GetObjectAcl answered for `key`. Grants to the owner alone read as `private`; a
/// document that does not parse is an error, never a guess.
pub(crate) fn canned(body: &str, key: &str) -> Result<Acl> {
    let policy: AccessControlPolicy = xml::read(body, "GetObjectAcl", key)?;
    let grants = &policy.access_control_list.grants;
    let granted = |uri: &str, permission: &str| {
        grants.iter().any(|grant| grant.grantee.uri.as_deref() == Some(uri) && grant.permission == permission)
    };
    Ok(match (granted(ALL_USERS, "READ"), granted(ALL_USERS, "WRITE"), granted(AUTHENTICATED_USERS, "READ")) {
        (true, true, _) => Acl::PublicReadWrite,
        (true, false, _) => Acl::PublicRead,
        (false, _, true) => Acl::AuthenticatedRead,
        _ => Acl::Private,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        let canned = |body: &str| canned(body, "k").unwrap();
        assert_eq!(canned(&policy(&[])), Acl::Private);
        assert_eq!(canned(&policy(&[(ALL_USERS, "READ")])), Acl::PublicRead);
        assert_eq!(canned(&policy(&[(ALL_USERS, "READ"), (ALL_USERS, "WRITE")])), Acl::PublicReadWrite);
        assert_eq!(canned(&policy(&[(AUTHENTICATED_USERS, "READ")])), Acl::AuthenticatedRead);
    }

    /// A grant is read from its own elements: text elsewhere that looks like a public grant (an owner's display
    /// name, a grant split across elements) makes nothing public, and a reply that is no ACL is an error.
    #[test]
    fn only_a_whole_grant_to_all_users_makes_an_object_public() {
        let lookalike = format!(
            "<AccessControlPolicy><Owner><ID>me</ID><DisplayName><![CDATA[<Grant><URI>{ALL_USERS}</URI>\
             <Permission>READ</Permission></Grant>]]></DisplayName></Owner><AccessControlList>\
             <Grant><Grantee><ID>me</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>\
             </AccessControlList></AccessControlPolicy>"
        );
        assert_eq!(canned(&lookalike, "k").unwrap(), Acl::Private);
        let err = canned("<AccessControlPolicy><AccessControlList><Grant>", "k").unwrap_err();
        assert_eq!(err.kind(), storage_core::ErrorKind::Backend);
    }

    fn escape(text: &str) -> String {
        quick_xml::escape::escape(text).into_owned()
    }

    proptest! {
        /// Whatever grants a server answers (group URIs, users, any permission, markup in a display name) the canned
        /// ACL is exactly what the grants say, and no text outside a grant's own elements makes an object public;
        /// any body at all gives an ACL or a typed error, never a panic.
        #[test]
        fn fuzz_access_control_policy(
            grants in proptest::collection::vec(
                (
                    prop_oneof![Just(Some(ALL_USERS.to_owned())), Just(Some(AUTHENTICATED_USERS.to_owned())), Just(None), ".{0,30}".prop_map(Some)],
                    prop_oneof![Just("READ".to_owned()), Just("WRITE".to_owned()), Just("FULL_CONTROL".to_owned()), "[A-Z_]{0,12}"],
                ),
                0..6,
            ),
            display_name in ".{0,60}",
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let grant_elements: String = grants
                .iter()
                .map(|(uri, permission)| {
                    let grantee = match uri {
                        Some(uri) => format!("<Grantee xsi:type=\"Group\"><URI>{}</URI></Grantee>", escape(uri)),
                        None => "<Grantee xsi:type=\"CanonicalUser\"><ID>someone</ID></Grantee>".to_owned(),
                    };
                    format!("<Grant>{grantee}<Permission>{}</Permission></Grant>", escape(permission))
                })
                .collect();
            let document = format!(
                "<AccessControlPolicy><Owner><ID>me</ID><DisplayName>{}</DisplayName></Owner><AccessControlList>\
                 {grant_elements}</AccessControlList></AccessControlPolicy>",
                escape(&display_name)
            );
            let granted = |to: &str, what: &str| grants.iter().any(|(uri, permission)| uri.as_deref() == Some(to) && permission == what);
            let expected = match (granted(ALL_USERS, "READ"), granted(ALL_USERS, "WRITE"), granted(AUTHENTICATED_USERS, "READ")) {
                (true, true, _) => Acl::PublicReadWrite,
                (true, false, _) => Acl::PublicRead,
                (false, _, true) => Acl::AuthenticatedRead,
                _ => Acl::Private,
            };
            prop_assert_eq!(canned(&document, "k").unwrap(), expected);
            if let Err(err) = canned(&String::from_utf8_lossy(&body), "k") {
                prop_assert_eq!(err.kind(), storage_core::ErrorKind::Backend);
            }
        }
    }
}
