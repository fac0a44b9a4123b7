//! Users, card batches and sponsors (unlock authority).

use store::User;

use crate::CardsError;
use crate::error::InputProblem;
use crate::service::Cards;

impl Cards {
    /// Registers a user.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_user(
        &self,
        uid: &str,
        name: &str,
        email: Option<&str>,
        mobile: Option<&str>,
        landline: Option<(&str, bool)>,
        roles: &[String],
        organisation: &str,
        actor: &str,
    ) -> Result<User, CardsError> {
        if uid.is_empty() || uid.len() > 20 || !uid.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardsError::BadInput(InputProblem::Uid(uid.into())));
        }
        if name.trim().is_empty() || name.chars().count() > 64 {
            return Err(CardsError::BadInput(InputProblem::Name));
        }
        if let Some(e) = email
            && (!e.contains('@') || e.len() > 254)
        {
            return Err(CardsError::BadInput(InputProblem::Email(e.into())));
        }
        let u = User {
            uid: uid.into(),
            name: name.trim().into(),
            email: email.map(str::to_string),
            mobile: mobile.map(str::to_string),
            landline: landline.map(|l| l.0.to_string()),
            landline_voice: landline.is_some_and(|l| l.1),
            roles: roles.to_vec(),
            organisation: organisation.into(),
            created_at: self.now(),
        };
        let ev =
            self.event(actor, "user.added", &format!("user:{uid}"), serde_json::json!({"organisation": organisation}));
        self.store().insert_user(&u, ev).await?;
        Ok(u)
    }

    /// Sets the minimum agent version of a card batch.
    pub async fn set_batch(&self, batch: &str, min_agent_version: &str, actor: &str) -> Result<(), CardsError> {
        types::ClientVersion::parse(min_agent_version)
            .map_err(|_| CardsError::BadInput(InputProblem::Version(min_agent_version.into())))?;
        let ev = self.event(
            actor,
            "card_batch.set",
            &format!("batch:{batch}"),
            serde_json::json!({"min_agent_version": min_agent_version}),
        );
        self.store().set_card_batch(batch, min_agent_version, self.now(), ev).await?;
        Ok(())
    }

    /// Grants a user unlock authority for an organisation (RA).
    pub async fn grant_sponsor(&self, uid: &str, organisation: &str, ra: &str) -> Result<(), CardsError> {
        self.user(uid).await?;
        let ev = self.event(
            ra,
            "sponsor.granted",
            &format!("user:{uid}"),
            serde_json::json!({"organisation": organisation}),
        );
        self.store().grant_sponsor(uid, organisation, ra, self.now(), ev).await?;
        Ok(())
    }
}
