//! storage-gcs's integration tests, in one binary: the signer on Google's own conformance vectors (`vectors`), the
//! storage's upload policies as POST policies and signed PUTs (`uploads`), the fuzz targets of what an attacker
//! controls (`fuzz`), and the data path on fake-gcs-server (`fake_gcs`), whose gaps docs/gcs.md lists.

mod fake_gcs;
mod fuzz;
mod uploads;
mod vectors;

/// Google's published dummy service account key (tests/data, with the vectors): it signs nothing but tests.
const DUMMY_KEY: &str = include_str!("../data/test_service_account.not-a-test.json");
