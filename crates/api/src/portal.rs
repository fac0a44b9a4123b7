//! The portal's JSON endpoints, which the agent calls with its card session: a one-time
//! login ticket and the presence heartbeat.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/portal/tickets`: a one-time portal login ticket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketView {
    /// The ticket (the portal page submits it once).
    pub ticket: String,
}

/// `POST /api/v1/portal/presence`: the agent's heartbeat or removal report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PresenceBody {
    /// True: the card is in the reader (heartbeat); false: it was removed.
    pub present: bool,
}
