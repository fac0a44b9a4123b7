//! # prompt — secrets for command-line clients, the Unix way
//!
//! A secret (PIN, passcode, password) comes from a file named on the command line, else an
//! environment variable, else a prompt — and a prompt only when a person is at a terminal,
//! never echoed. Scripts never hang on a prompt: without a terminal they get an error that
//! names the variable to set.
//!
//! This crate must never log, store or print a secret.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::IsTerminal;
use std::path::Path;

use thiserror::Error;

/// Why no secret could be had.
#[derive(Debug, Error)]
pub enum PromptError {
    /// The named file cannot be read.
    #[error("cannot read {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// No file, no variable, and no terminal to ask on.
    #[error("no {what} given and no terminal to ask on: set {env} or pass the file option")]
    NoTerminal {
        /// What was wanted.
        what: String,
        /// The variable to set.
        env: String,
    },
    /// Reading from the terminal failed.
    #[error("reading from the terminal: {0}")]
    Terminal(std::io::Error),
}

/// Whether a person is at a terminal (standard input and standard error).
pub fn on_terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// The secret `what`: from `file` (trailing newline removed), else `$env`, else asked with
/// `prompt` on a terminal (not echoed).
pub fn secret(file: Option<&Path>, env: &str, prompt: &str, what: &str) -> Result<String, PromptError> {
    if let Some(f) = file {
        return std::fs::read_to_string(f)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|source| PromptError::File { path: f.display().to_string(), source });
    }
    if let Ok(v) = std::env::var(env) {
        return Ok(v);
    }
    if on_terminal() {
        return rpassword::prompt_password(prompt).map_err(PromptError::Terminal);
    }
    Err(PromptError::NoTerminal { what: what.into(), env: env.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_wins_and_loses_its_newline() {
        let dir = std::env::temp_dir().join(format!("prompt-test-{}", std::process::id()));
        std::fs::write(&dir, "s3cret\n").unwrap();
        assert_eq!(secret(Some(&dir), "PROMPT_TEST_UNSET_VARIABLE", "", "PIN").unwrap(), "s3cret");
        std::fs::remove_file(&dir).unwrap();
        let missing = secret(Some(Path::new("/nonexistent/x")), "PROMPT_TEST_UNSET_VARIABLE", "", "PIN");
        assert!(matches!(missing, Err(PromptError::File { .. })));
    }
}
