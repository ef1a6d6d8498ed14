//! storage-s3's integration tests, in one binary, against a real Ceph RADOS Gateway (never a mock): the whole
//! conformance suite (and under faults), and what only S3 shows — private objects refusing strangers, presigned URLs that expire and
//! refuse tampering, canned ACLs on every kind of write, create-only multipart uploads.

mod acls_off;
mod claims;
mod conformance;
mod errors;
mod private_files;
mod recording;
mod server_side;
mod support;
mod uploads;
