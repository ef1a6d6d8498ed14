//! The whole conformance suite on Azurite.

use crate::support::fixture;

storage_conformance::conformance_tests!(fixture);

/// The whole suite again over retryable faults and retries, on Azurite: it must pass unchanged.
mod under_faults {
    use storage_conformance::Fixture;

    async fn fixture() -> Fixture {
        storage_conformance::under_faults(crate::support::fixture().await)
    }

    storage_conformance::conformance_tests!(fixture);
}
