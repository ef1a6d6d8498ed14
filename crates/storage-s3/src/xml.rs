//! The S3 XML documents this crate reads and writes, as serde types (quick-xml's serde support, as object_store
//! reads and writes its own): error responses, `AccessControlPolicy`, `Tagging`, `InitiateMultipartUploadResult`,
//! `CopyPartResult` and `CompleteMultipartUpload`. No document is read by searching its text or written by
//! formatting it; a reply that does not parse is a typed error naming the request, never a panic or a default.

use quick_xml::events::Event;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use storage_core::{Error, Result, Retry};

use crate::NAME;

/// The largest reply body read: these documents are a few KiB at most (an ACL has at most 100 grants, an object at
/// most 10 tags), so a larger one is refused rather than held in memory.
pub(crate) const MAX_REPLY_BYTES: usize = 1 << 20;

/// A document S3 answers with, named by its root element.
pub(crate) trait Reply: DeserializeOwned {
    /// The root element every such document has.
    const ROOT: &'static str;
}

/// `request`'s reply document, as `T`; a body that is not one (another document, a proxy's page, a reply cut short)
/// is a retryable `Backend` error on `key`, never a document read as empty.
pub(crate) fn read<T: Reply>(body: &str, request: &str, key: &str) -> Result<T> {
    let not_one = |what: String| {
        Error::backend(NAME, Some(key), format!("{request} answered {what}, not {}", T::ROOT))
            .with_retry(Retry::Temporary)
    };
    match root_element(body) {
        Some(root) if root == T::ROOT => {}
        Some(root) => return Err(not_one(format!("a document whose root is `{root}`"))),
        None => return Err(not_one("no XML document".to_owned())),
    }
    quick_xml::de::from_str(body).map_err(|err| not_one("a document that does not parse".to_owned()).with_source(err))
}

/// `document` as the body of `request`, for `key`.
pub(crate) fn write<T: Serialize>(document: &T, request: &str, key: &str) -> Result<bytes::Bytes> {
    let text = quick_xml::se::to_string(document).map_err(|err| {
        let message = format!("the {request} document could not be written");
        Error::backend(NAME, Some(key), message).with_source(err)
    })?;
    Ok(bytes::Bytes::from(text))
}

/// The name of the document's root element, if it has one.
fn root_element(body: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(body);
    loop {
        match reader.read_event().ok()? {
            Event::Start(start) | Event::Empty(start) => {
                return Some(String::from_utf8_lossy(start.local_name().as_ref()).into_owned());
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// An error response: `<Error><Code>SlowDown</Code><Message>…</Message></Error>`.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ErrorDocument {
    /// S3's error code, such as `NoSuchKey`; empty when the document has none.
    #[serde(default)]
    pub code: String,
}

impl ErrorDocument {
    /// The error document `body` is, or `None` for a body that is none (another document, or no XML at all).
    pub(crate) fn of(body: &str) -> Option<ErrorDocument> {
        if root_element(body)? != "Error" {
            return None;
        }
        quick_xml::de::from_str(body).ok()
    }
}

/// GetObjectAcl's answer; only the grants are read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AccessControlPolicy {
    #[serde(default)]
    pub access_control_list: AccessControlList,
}

impl Reply for AccessControlPolicy {
    const ROOT: &'static str = "AccessControlPolicy";
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AccessControlList {
    #[serde(default, rename = "Grant")]
    pub grants: Vec<Grant>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Grant {
    pub grantee: Grantee,
    pub permission: String,
}

/// Who a grant is to: a group has a URI, a user an ID (not read).
#[derive(Debug, Deserialize)]
pub(crate) struct Grantee {
    #[serde(default, rename = "URI")]
    pub uri: Option<String>,
}

/// An object's tags, written by PutObjectTagging and read back from GetObjectTagging.
#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Tagging {
    #[serde(default)]
    pub tag_set: TagSet,
}

impl Reply for Tagging {
    const ROOT: &'static str = "Tagging";
}

#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
pub(crate) struct TagSet {
    #[serde(default, rename = "Tag")]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Tag {
    pub key: String,
    pub value: String,
}

impl Tagging {
    pub(crate) fn new(tags: impl IntoIterator<Item = (String, String)>) -> Self {
        let tags = tags.into_iter().map(|(key, value)| Tag { key, value }).collect();
        Tagging { tag_set: TagSet { tags } }
    }

    pub(crate) fn into_pairs(self) -> Vec<(String, String)> {
        self.tag_set.tags.into_iter().map(|tag| (tag.key, tag.value)).collect()
    }
}

/// CreateMultipartUpload's answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct InitiateMultipartUploadResult {
    pub upload_id: String,
}

impl Reply for InitiateMultipartUploadResult {
    const ROOT: &'static str = "InitiateMultipartUploadResult";
}

/// UploadPartCopy's answer.
#[derive(Debug, Deserialize)]
pub(crate) struct CopyPartResult {
    #[serde(rename = "ETag")]
    pub e_tag: String,
}

impl Reply for CopyPartResult {
    const ROOT: &'static str = "CopyPartResult";
}

/// CompleteMultipartUpload's request: the parts, numbered from 1 in order.
#[derive(Debug, Serialize)]
pub(crate) struct CompleteMultipartUpload {
    #[serde(rename = "Part")]
    pub parts: Vec<CompletedPart>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CompletedPart {
    pub part_number: usize,
    #[serde(rename = "ETag")]
    pub e_tag: String,
}

impl CompleteMultipartUpload {
    pub(crate) fn new(etags: &[String]) -> Self {
        let parts = etags
            .iter()
            .enumerate()
            .map(|(index, e_tag)| CompletedPart { part_number: index + 1, e_tag: e_tag.clone() })
            .collect();
        CompleteMultipartUpload { parts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use storage_core::ErrorKind;

    /// Text a document may carry: any character XML allows, without the whitespace at either end that every XML
    /// reader of S3's documents trims, and without a carriage return, which XML reads as a line feed.
    fn text() -> impl Strategy<Value = String> {
        "[^\u{0}-\u{8}\u{b}-\u{1f}\u{fffe}\u{ffff}]{0,40}".prop_map(|text| text.trim().to_owned())
    }

    /// Arbitrary bytes, and documents that are almost S3's: the element names it uses, nested and cut anywhere.
    fn bodies() -> impl Strategy<Value = String> {
        let tags = prop_oneof![
            Just("Error"),
            Just("Code"),
            Just("AccessControlPolicy"),
            Just("AccessControlList"),
            Just("Grant"),
            Just("Grantee"),
            Just("URI"),
            Just("Permission"),
            Just("Tagging"),
            Just("TagSet"),
            Just("Tag"),
            Just("Key"),
            Just("Value"),
            Just("UploadId"),
            Just("ETag"),
        ];
        let piece = prop_oneof![
            tags.clone().prop_map(|tag| format!("<{tag}>")),
            tags.clone().prop_map(|tag| format!("</{tag}>")),
            tags.prop_map(|tag| format!("<{tag}/>")),
            ".{0,8}",
            Just("<?xml version=\"1.0\"?>".to_owned()),
            Just("<![CDATA[x]]>".to_owned()),
            Just("&amp;&lt;&#x0;&bogus;".to_owned()),
        ];
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..256)
                .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
            proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat()),
        ]
    }

    /// Every reply parser on `body`: no panic, and a failure is a typed `Backend` error naming the request and key.
    fn parses_or_says_so(body: &str) -> std::result::Result<(), TestCaseError> {
        fn check<T: Reply>(body: &str, request: &str) -> std::result::Result<(), TestCaseError> {
            match read::<T>(body, request, "k") {
                Err(err) => {
                    prop_assert_eq!(err.kind(), ErrorKind::Backend);
                    prop_assert!(err.to_string().contains(request) && err.to_string().contains("`k`"), "{}", err);
                }
                // Only a document of its own kind is ever read as one.
                Ok(_) => {
                    let root = root_element(body);
                    prop_assert_eq!(root.as_deref(), Some(T::ROOT));
                }
            }
            Ok(())
        }
        check::<AccessControlPolicy>(body, "GetObjectAcl")?;
        check::<Tagging>(body, "GetObjectTagging")?;
        check::<InitiateMultipartUploadResult>(body, "CreateMultipartUpload")?;
        check::<CopyPartResult>(body, "UploadPartCopy")?;
        let _ = ErrorDocument::of(body);
        Ok(())
    }

    #[test]
    fn an_error_document_is_told_from_other_documents_by_its_root() {
        let error = ErrorDocument::of("<?xml version=\"1.0\"?>\n<Error><Code>SlowDown</Code></Error>");
        assert_eq!(error.map(|error| error.code).as_deref(), Some("SlowDown"));
        assert_eq!(ErrorDocument::of("<Error/>"), Some(ErrorDocument::default()));
        // A document that merely holds an element named Code (a tag's key, say) is not an error.
        assert_eq!(
            ErrorDocument::of("<Tagging><TagSet><Tag><Key>Code</Key><Value><Error/></Value></Tag></TagSet></Tagging>"),
            None
        );
        assert_eq!(ErrorDocument::of("<Code>AccessDenied</Code>"), None);
        assert_eq!(ErrorDocument::of("not xml <Error><Code>x</Code></Error>"), None);
    }

    /// A document of another kind (a proxy's page, an error, another reply) is an error, never read as an empty one:
    /// an ACL with no grants would say private, a tag set with no tags would drop them.
    #[test]
    fn only_a_document_of_its_own_kind_is_read_as_one() {
        for body in ["<html><body>captive portal</body></html>", "<Tagging><TagSet/></Tagging>", "<Error/>", "", "x"] {
            let err = read::<AccessControlPolicy>(body, "GetObjectAcl", "k").unwrap_err();
            assert!(err.is_retryable() && err.to_string().contains("not AccessControlPolicy"), "{body}: {err}");
        }
        for body in ["<html/>", "<Error><Code>X</Code></Error>", "<AccessControlPolicy/>"] {
            let err = read::<Tagging>(body, "GetObjectTagging", "k").unwrap_err();
            assert!(err.to_string().contains("not Tagging"), "{body}: {err}");
        }
        assert!(
            read::<Tagging>("<?xml version=\"1.0\"?>\n<Tagging><TagSet/></Tagging>", "GetObjectTagging", "k").is_ok()
        );
    }

    #[test]
    fn rgws_namespaced_acl_document_reads() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><AccessControlPolicy \
                    xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>me</ID></Owner><AccessControlList>\
                    <Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"Group\"><URI>\
                    http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission>\
                    </Grant></AccessControlList></AccessControlPolicy>";
        let policy: AccessControlPolicy = read(body, "GetObjectAcl", "k").unwrap();
        let grant = &policy.access_control_list.grants[0];
        assert_eq!(grant.grantee.uri.as_deref(), Some("http://acs.amazonaws.com/groups/global/AllUsers"));
        assert_eq!(grant.permission, "READ");
    }

    #[test]
    fn the_completion_document_numbers_its_parts_and_escapes_their_etags() {
        let body = write(&CompleteMultipartUpload::new(&["\"a\"".into(), "b<&".into()]), "complete", "k").unwrap();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag></Part><Part>\
             <PartNumber>2</PartNumber><ETag>b&lt;&amp;</ETag></Part></CompleteMultipartUpload>"
        );
    }

    proptest! {
        /// Whatever a server (or anything between it and us) answers, no reply parser panics, and one that cannot
        /// read the body says so with a typed error.
        #[test]
        fn fuzz_s3_reply_documents(body in bodies()) {
            parses_or_says_so(&body)?;
        }

        /// A server's error document gives back exactly its code, whatever the code holds; an error document
        /// without one gives an empty code, and any other document is no error document.
        #[test]
        fn fuzz_error_document(code in text(), message in text(), other in bodies()) {
            let escape = |text: &str| quick_xml::escape::escape(text).into_owned();
            let body = format!("<Error><Code>{}</Code><Message>{}</Message></Error>", escape(&code), escape(&message));
            prop_assert_eq!(ErrorDocument::of(&body).map(|error| error.code), Some(code));
            if let Some(error) = ErrorDocument::of(&other) {
                let root = root_element(&other);
                prop_assert_eq!(root.as_deref(), Some("Error"), "{:?}", error);
            }
        }

        /// Tags written by PutObjectTagging read back exactly, whatever they hold (markup included), and a value
        /// can never smuggle in another tag.
        #[test]
        fn fuzz_tagging(tags in proptest::collection::vec((text(), text()), 0..10)) {
            let body = write(&Tagging::new(tags.clone()), "PutObjectTagging", "k").unwrap();
            let read: Tagging = read(std::str::from_utf8(&body).unwrap(), "GetObjectTagging", "k").unwrap();
            prop_assert_eq!(read.into_pairs(), tags);
        }

        /// The upload id and a part's ETag come back exactly as the server sent them, escaped or not.
        #[test]
        fn fuzz_upload_replies(id in text(), e_tag in text()) {
            let escape = |text: &str| quick_xml::escape::escape(text).into_owned();
            let initiated = format!(
                "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>{}</UploadId>\
                 </InitiateMultipartUploadResult>",
                escape(&id)
            );
            let read_id: InitiateMultipartUploadResult = read(&initiated, "CreateMultipartUpload", "k").unwrap();
            prop_assert_eq!(read_id.upload_id, id);
            let copied = format!("<CopyPartResult><LastModified>x</LastModified><ETag>{}</ETag></CopyPartResult>", escape(&e_tag));
            let read_e_tag: CopyPartResult = read(&copied, "UploadPartCopy", "k").unwrap();
            prop_assert_eq!(read_e_tag.e_tag, e_tag);
        }
    }
}
