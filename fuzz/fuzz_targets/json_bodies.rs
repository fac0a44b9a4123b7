//! Fuzz target: the JSON request bodies the server accepts. Every input is decoded as each
//! `api` body type (the same `deny_unknown_fields` types the handlers take), and a body that
//! decodes is encoded and decoded again: the round trip must succeed.
#![forbid(unsafe_code)]

/// Decodes `data` as each listed type; a decoded value must survive a round trip.
macro_rules! bodies {
    ($data:expr; $($ty:ty),* $(,)?) => {
        $(
            if let Ok(v) = serde_json::from_slice::<$ty>($data) {
                let again = serde_json::to_vec(&v).map(|b| serde_json::from_slice::<$ty>(&b));
                assert!(matches!(again, Ok(Ok(_))), "{} did not survive a round trip", stringify!($ty));
            }
        )*
    };
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        bodies!(data;
            api::ClientInfo,
            api::LoginRequest,
            api::NewRequestBody,
            api::NewOrganisationBody,
            api::OrganisationChangeBody,
            api::DenyBody,
            api::NewReleaseBody,
            api::CardLoginBody,
            api::PasscodeFailureBody,
            api::UnlockCodeBody,
            api::UnlockBody,
            api::SponsorUnlockBody,
            api::StartRenewalBody,
            api::RenewCertificateBody,
            api::AbortBody,
            api::NewUserBody,
            api::IssueCardBody,
            api::IdentityCheckBody,
            api::CancelCardBody,
            api::SponsorBody,
            api::CardBatchBody,
            api::NewWebAccountBody,
            api::IssueBody,
            api::RevokeBody,
            api::PresenceBody,
        );
    });
}
