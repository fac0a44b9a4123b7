//! Renewal on a card: where it stands, promoting the pending objects, discarding them
//! (see the crate docs, "Renewal").

use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};

use super::{CLASSES, Card};
use crate::encoding;
use crate::{CardKeyRole, TokenError};

/// Where a role's renewal stands on the card (see the crate docs, "Renewal").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewalState {
    /// No pending objects: nothing to finish or clean up.
    Idle,
    /// A pending key pair without its certificate: an attempt in progress or abandoned;
    /// [`Card::discard_pending`] removes it.
    KeysPending,
    /// A pending key pair and its certificate, the current pair untouched:
    /// [`Card::promote_pending`] puts it in place, [`Card::discard_pending`] drops it.
    CertificatePending,
    /// A promotion started (the current certificate is gone) and did not finish: the old key
    /// is gone too, so there is no way back; [`Card::promote_pending`] (or
    /// [`Card::discard_pending`]) completes the swap.
    Interrupted,
}

impl Card {
    // ---- renewal ---------------------------------------------------------------------

    /// Where `role`'s renewal stands. Needs a login to see pending private keys.
    pub fn renewal_state(&self, role: CardKeyRole) -> Result<RenewalState, TokenError> {
        let pending_cert = self.has(ObjectClass::CERTIFICATE, role, true)?;
        let current_cert = self.has(ObjectClass::CERTIFICATE, role, false)?;
        let pending_keys =
            self.has(ObjectClass::PRIVATE_KEY, role, true)? || self.has(ObjectClass::PUBLIC_KEY, role, true)?;
        Ok(match (pending_cert, current_cert, pending_keys) {
            (true, false, _) => RenewalState::Interrupted,
            (true, true, _) => RenewalState::CertificatePending,
            (false, _, true) => RenewalState::KeysPending,
            (false, _, false) => RenewalState::Idle,
        })
    }

    /// Puts `role`'s pending key pair and certificate in place of the current ones: deletes
    /// the current certificate, private key and public key, then gives the pending public
    /// key, private key and certificate the current id and labels, in that order. Needs a
    /// login.
    ///
    /// Before anything is deleted the pending certificate must certify the pending public
    /// key and the pending private key must exist. If the process or the card stops half
    /// way, calling this again finishes the swap (see the crate docs, "Renewal").
    pub fn promote_pending(&self, role: CardKeyRole) -> Result<(), TokenError> {
        self.require_user()?;
        let cert = self.handle(ObjectClass::CERTIFICATE, role, true)?.ok_or(TokenError::NothingPending { role })?;
        let new_key = encoding::certificate_facts(&self.value_of(cert)?)?.public_key;
        let pending_public = self.handle(ObjectClass::PUBLIC_KEY, role, true)?;
        let pending_private = self.handle(ObjectClass::PRIVATE_KEY, role, true)?;
        let matches_certificate = |public: ObjectHandle| -> Result<bool, TokenError> {
            Ok(new_key.is_some() && Some(self.ec_point_of(public)?) == new_key)
        };
        if let Some(public) = pending_public {
            // Nothing renamed yet: check the new pair, then delete every current object.
            if !matches_certificate(public)? {
                return Err(TokenError::CertificateKeyMismatch { role, pending: true });
            }
            if pending_private.is_none() {
                return Err(Self::missing(role, true, ObjectClass::PRIVATE_KEY));
            }
            for class in CLASSES {
                self.destroy(self.handles(class, role, false)?, "removing the old key and certificate")?;
            }
        }
        // From here on every object under the current id belongs to the new generation
        // (a swap interrupted after its deletions resumes here).
        let public = match pending_public {
            Some(h) => h,
            None => {
                let h = self
                    .handle(ObjectClass::PUBLIC_KEY, role, false)?
                    .ok_or_else(|| Self::missing(role, false, ObjectClass::PUBLIC_KEY))?;
                if !matches_certificate(h)? {
                    return Err(TokenError::CertificateKeyMismatch { role, pending: false });
                }
                h
            }
        };
        let current_private = self.handles(ObjectClass::PRIVATE_KEY, role, false)?;
        let private = match (pending_private, current_private.as_slice()) {
            (Some(h), []) => h,
            (None, [h]) => *h,
            (None, []) => return Err(Self::missing(role, true, ObjectClass::PRIVATE_KEY)),
            _ => {
                return Err(TokenError::Card {
                    op: "finishing an interrupted renewal",
                    detail: format!("the card holds several {role} private keys; the RA must re-initialise it"),
                });
            }
        };
        // Renaming is idempotent; the pending certificate goes last and so marks an unfinished swap.
        for (h, label) in
            [(public, role.key_label(false)), (private, role.key_label(false)), (cert, role.certificate_label(false))]
        {
            self.session
                .update_attributes(h, &[Attribute::Id(role.object_id(false)), Attribute::Label(label.into_bytes())])
                .map_err(self.err("putting the new key and certificate in place"))?;
        }
        tracing::info!(serial = %self.info.serial, %role, "pending key pair and certificate promoted");
        Ok(())
    }

    /// Cleans up what a renewal left on the card, role by role. Pending objects of a renewal
    /// that had not started its swap are deleted (certificate first, then the private and
    /// public key) and the current objects are not touched: the card is exactly as before the
    /// renewal. A swap that had started ([`RenewalState::Interrupted`]: the old key and
    /// certificate are already gone, so the pending ones are the card's only valid ones) is
    /// finished instead, as [`Card::promote_pending`] would. Returns how many objects were
    /// deleted. Needs a login.
    pub fn discard_pending(&self) -> Result<usize, TokenError> {
        self.require_user()?;
        let mut n = 0;
        for role in CardKeyRole::BOTH {
            if self.renewal_state(role)? == RenewalState::Interrupted {
                tracing::warn!(serial = %self.info.serial, %role, "finishing an interrupted swap instead of discarding it");
                self.promote_pending(role)?;
            } else {
                n += self.discard_role(role)?;
            }
        }
        Ok(n)
    }

    pub(super) fn discard_role(&self, role: CardKeyRole) -> Result<usize, TokenError> {
        let mut n = 0;
        for class in CLASSES {
            n += self.destroy(self.handles(class, role, true)?, "removing a pending object")?;
        }
        if n > 0 {
            tracing::info!(serial = %self.info.serial, %role, objects = n, "pending objects discarded");
        }
        Ok(n)
    }
}
