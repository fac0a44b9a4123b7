//! Conversions from domain records to the `api` crate's bodies (the orphan rule keeps them
//! out of `From` impls: both sides are foreign to this crate).

/// A user record as its wire body.
pub(crate) fn user_view(u: store::User) -> api::UserView {
    api::UserView {
        uid: u.uid,
        name: u.name,
        email: u.email,
        mobile: u.mobile,
        landline: u.landline,
        landline_voice: u.landline_voice,
        roles: u.roles,
        organisation: u.organisation,
        created_at: u.created_at,
    }
}

/// A card status as its wire enum.
pub(crate) fn card_status_view(s: store::CardStatus) -> api::CardStatus {
    match s {
        store::CardStatus::Active => api::CardStatus::Active,
        store::CardStatus::Locked => api::CardStatus::Locked,
        store::CardStatus::Cancelled => api::CardStatus::Cancelled,
    }
}

/// A card record as the RA sees it (never its SO PIN).
pub(crate) fn card_record_view(c: store::Card) -> api::CardRecordView {
    api::CardRecordView {
        serial: c.serial,
        uid: c.uid,
        batch: c.batch,
        status: card_status_view(c.status),
        failed_passcodes: c.failed_passcodes,
        auth_serial: c.auth_serial,
        sign_serial: c.sign_serial,
        not_after: c.not_after,
        remote_renewals: c.remote_renewals,
        identity_checked_at: c.identity_checked_at,
        identity_checked_by: c.identity_checked_by,
        created_at: c.created_at,
    }
}

/// A web account just created, with its second factor shown once.
pub(crate) fn new_web_account_view(a: portal::NewAccount) -> api::NewWebAccountView {
    api::NewWebAccountView {
        username: a.account.username,
        name: a.account.name,
        uid: a.account.uid,
        roles: a.account.roles.iter().map(|r| r.as_str().to_string()).collect(),
        totp_uri: a.totp_uri,
        totp_secret: a.totp_secret,
    }
}
