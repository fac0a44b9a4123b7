//! How the agent asks a person for a passcode: a pinentry program (GnuPG's passcode dialogs,
//! over the Assuan protocol, through the `pinentry` crate), or — for scripts and a person
//! at a terminal — a file, an environment variable or the terminal (`prompt`).
//!
//! The dialog's description names the card (serial, label), its holder (the name in the
//! card's own certificate) and the tries left when known; after a wrong passcode the next
//! dialog shows the failure (SETERROR). Cancel is [`Cancelled`]: the operation stops with
//! nothing changed. This module must never log, store or print a passcode.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use secrecy::ExposeSecret;

use crate::secret;

/// Programs tried, in order, when no `--pinentry` is given.
pub(crate) const DEFAULT_PROGRAMS: [&str; 4] = ["pinentry-gnome3", "pinentry-qt", "pinentry-curses", "pinentry-tty"];

/// The person pressed Cancel in the passcode dialog.
#[derive(Debug)]
pub(crate) struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled in the passcode dialog; nothing was changed")
    }
}

impl std::error::Error for Cancelled {}

/// The first of [`DEFAULT_PROGRAMS`] found on `PATH`.
pub(crate) fn default_program() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    DEFAULT_PROGRAMS
        .iter()
        .find_map(|name| std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable(p)))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Which card a dialog is about, for its description.
#[derive(Debug, Clone, Default)]
pub(crate) struct CardDesc {
    /// The card's serial.
    pub(crate) serial: String,
    /// Its label.
    pub(crate) label: String,
    /// The holder's name, when known (the card's certificate).
    pub(crate) holder: Option<String>,
    /// Passcode tries left before the card locks, when known.
    pub(crate) tries_left: Option<i64>,
}

impl CardDesc {
    /// The dialog's text: `purpose`, then the card, holder and tries left.
    pub(crate) fn describe(&self, purpose: &str) -> String {
        let mut s = format!("{purpose}\n\nCard {} ({})", self.serial, self.label);
        if let Some(h) = &self.holder {
            s.push_str(&format!("\nHolder: {h}"));
        }
        if let Some(t) = self.tries_left {
            let tries = if t == 1 { "1 try".to_string() } else { format!("{t} tries") };
            s.push_str(&format!("\n{tries} left before the card locks"));
        }
        s
    }
}

/// The text of a wrong passcode, for the next dialog's error line.
pub(crate) fn wrong_passcode(tries_left: Option<i64>) -> String {
    match tries_left {
        Some(1) => "Wrong passcode — 1 try left".into(),
        Some(n) => format!("Wrong passcode — {n} tries left"),
        None => "Wrong passcode".into(),
    }
}

/// Where passcodes come from.
#[derive(Debug, Clone)]
pub(crate) enum Asker {
    /// Files, environment variables (`CARECERT_PASSCODE`, `CARECERT_NEW_PASSCODE`,
    /// `CARECERT_SPONSOR_PASSCODE`) or the terminal: scripts and a person at a terminal.
    Stored {
        /// `--passcode-file`.
        passcode_file: Option<PathBuf>,
        /// `--new-passcode-file`.
        new_passcode_file: Option<PathBuf>,
        /// `--sponsor-passcode-file`.
        sponsor_passcode_file: Option<PathBuf>,
    },
    /// A pinentry program.
    Dialog(PathBuf),
}

impl Asker {
    /// Scripts' and the terminal's way, with these files.
    pub(crate) fn stored(passcode_file: Option<PathBuf>) -> Asker {
        Asker::Stored { passcode_file, new_passcode_file: None, sponsor_passcode_file: None }
    }

    /// The same, with the new passcode's file too.
    pub(crate) fn with_new_file(self, file: Option<PathBuf>) -> Asker {
        match self {
            Asker::Stored { passcode_file, sponsor_passcode_file, .. } => {
                Asker::Stored { passcode_file, new_passcode_file: file, sponsor_passcode_file }
            }
            d => d,
        }
    }

    /// The same, with the sponsor's passcode file too.
    pub(crate) fn with_sponsor_file(self, file: Option<PathBuf>) -> Asker {
        match self {
            Asker::Stored { passcode_file, new_passcode_file, .. } => {
                Asker::Stored { passcode_file, new_passcode_file, sponsor_passcode_file: file }
            }
            d => d,
        }
    }

    /// For a terminal command: a stored passcode (file or variable) wins; else the dialog
    /// when `--pinentry` was given; else the terminal's prompt; without a terminal but on a
    /// desktop (`DISPLAY` / `WAYLAND_DISPLAY`), the first pinentry found; else the terminal
    /// way's own error naming the variable to set (a script never waits on a dialog).
    pub(crate) fn for_command(pinentry: Option<PathBuf>, passcode_file: Option<PathBuf>) -> Asker {
        let stored = passcode_file.is_some() || std::env::var_os("CARECERT_PASSCODE").is_some();
        if stored {
            return Asker::stored(passcode_file);
        }
        if let Some(p) = pinentry {
            return Asker::Dialog(p);
        }
        if crate::tty() {
            return Asker::stored(None);
        }
        let desktop = std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
        desktop.then(default_program).flatten().map(Asker::Dialog).unwrap_or_else(|| Asker::stored(None))
    }

    /// Whether a wrong passcode can be asked again (a dialog can; a file would say the same).
    pub(crate) fn can_retry(&self) -> bool {
        matches!(self, Asker::Dialog(_))
    }

    /// The card's current passcode; `error` is the previous failure, shown in the dialog.
    pub(crate) fn current(&self, card: &CardDesc, error: Option<&str>) -> Result<String> {
        match self {
            Asker::Stored { passcode_file, .. } => {
                secret(passcode_file.as_ref(), "CARECERT_PASSCODE", "Card passcode: ")
            }
            Asker::Dialog(p) => dialog(p, &card.describe("Enter the passcode of your smartcard."), "Passcode:", error),
        }
    }

    /// A sponsor's passcode, for their own card.
    pub(crate) fn sponsor(&self, card: &CardDesc, error: Option<&str>) -> Result<String> {
        match self {
            Asker::Stored { sponsor_passcode_file, .. } => {
                secret(sponsor_passcode_file.as_ref(), "CARECERT_SPONSOR_PASSCODE", "Sponsor's passcode: ")
            }
            Asker::Dialog(p) => dialog(
                p,
                &card.describe("Sponsor: enter the passcode of YOUR card to unlock the other card."),
                "Sponsor's passcode:",
                error,
            ),
        }
    }

    /// A new passcode (6 to 8 digits), typed twice; `purpose` says whose and why.
    pub(crate) fn new_passcode(&self, card: &CardDesc, purpose: &str) -> Result<String> {
        match self {
            Asker::Stored { new_passcode_file, .. } => crate::new_passcode(new_passcode_file.as_ref()),
            Asker::Dialog(p) => {
                let mut error: Option<String> = None;
                for _ in 0..5 {
                    let text = card.describe(&format!("{purpose}\nChoose a new passcode of 6 to 8 digits."));
                    let a = dialog(p, &text, "New passcode:", error.as_deref())?;
                    if !valid_passcode(&a) {
                        error = Some("The passcode must be 6 to 8 digits".into());
                        continue;
                    }
                    let again = card.describe(&format!("{purpose}\nType the new passcode again."));
                    let b = dialog(p, &again, "Repeat the new passcode:", None)?;
                    if a != b {
                        error = Some("The two passcodes were not the same — choose it again".into());
                        continue;
                    }
                    return Ok(a);
                }
                bail!("no valid new passcode was typed; nothing was changed")
            }
        }
    }
}

/// 6 to 8 digits.
pub(crate) fn valid_passcode(p: &str) -> bool {
    (6..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
}

/// One dialog: description, prompt, the previous error; the typed passcode or [`Cancelled`].
fn dialog(program: &Path, description: &str, prompt: &str, error: Option<&str>) -> Result<String> {
    let Some(mut input) = ::pinentry::PassphraseInput::with_binary(program) else {
        bail!(
            "the passcode dialog {} cannot be started (not found or not executable): install pinentry-gnome3, pinentry-qt, pinentry-curses or pinentry-tty, or name one with --pinentry PROGRAM",
            program.display()
        );
    };
    input.with_title("carecert smartcard").with_description(description).with_prompt(prompt);
    if let Some(e) = error {
        input.with_error(e);
    }
    match input.interact() {
        Ok(p) => Ok(p.expose_secret().to_string()),
        Err(::pinentry::Error::Cancelled) | Err(::pinentry::Error::Timeout) => Err(Cancelled.into()),
        Err(e) => bail!("the passcode dialog {} failed: {e}", program.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_names_card_holder_and_tries() {
        let d = CardDesc {
            serial: "ABC123".into(),
            label: "card-12".into(),
            holder: Some("Dr Ada Jones".into()),
            tries_left: Some(2),
        };
        let t = d.describe("Enter the passcode.");
        assert!(
            t.contains("ABC123") && t.contains("card-12") && t.contains("Dr Ada Jones") && t.contains("2 tries left")
        );
        assert_eq!(wrong_passcode(Some(1)), "Wrong passcode — 1 try left");
        assert!(valid_passcode("123456") && !valid_passcode("12345") && !valid_passcode("12ab56"));
    }
}
