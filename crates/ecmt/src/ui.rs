//! `ecmt ui`: the interactive screens (ratatui).

use anyhow::Result;

use crate::ops::Ecmt;

/// Runs the interactive interface until the user quits.
pub async fn run(_e: Ecmt) -> Result<()> {
    anyhow::bail!("the interactive interface is not built yet")
}
