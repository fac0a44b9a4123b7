//! `ecmt ui`: the interactive screens (ratatui + crossterm), with the names users know from
//! the old Windows tool.
//!
//! ```text
//! Welcome ──L──> Logon ──Enter──> Main Menu ──n──> Policy dialog ──I accept──> (request created)
//!    │ R: Restore dialog            │ d: Download (selected row)   b: Backup dialog
//!    │ A: About                     │ F5/r: Refresh                o: Logout ──> Welcome
//!    └ Q: Quit                      └ q: Quit
//! ```
//!
//! Every action calls the same [`Ecmt`] operations as the command line (`ops`); this module
//! only draws screens and turns keys into those calls. The event loop reads crossterm
//! events with a poll timeout and awaits the operations directly: while one runs, the
//! screen shows "Please wait" and keys wait in the terminal's queue.
//!
//! The terminal is restored (raw mode off, alternate screen left) when the loop ends, when
//! it fails (a drop guard) and on a panic (the hook `ratatui::try_init` installs).
//!
//! Files: this one holds the screens, the state and the event loop; `keys` turns keys into
//! actions, `actions` performs them through `ops`, `draw` paints the screens, `form` is the
//! dialogs' form widget.

mod actions;
mod draw;
mod form;
mod keys;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Clear, Padding, Paragraph, Row, Table, TableState, Wrap};
use ratatui::{DefaultTerminal, Frame};

use crate::local::Installed;
use crate::ops::{self, Ecmt};
use client::Error as ClientError;

use form::{Form, FormEvent, button, error_style, panel};

/// The title every screen shows.
const TITLE: &str = "ecmt — Client Certificate Management";
/// Longest text a field takes.
const MAX_FIELD: usize = 512;
/// Width of the labels in forms.
const LABEL_W: u16 = 18;

/// Runs the interactive interface until the user quits.
pub async fn run(e: Ecmt) -> Result<()> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        bail!("ecmt ui needs a terminal; use the other commands in scripts");
    }
    // Dropped last: restores the terminal on every way out of this function, including
    // `?` and a half-done `try_init`. `try_init` also installs a panic hook that restores
    // it before the panic message is printed.
    let _restore = RestoreTerminal;
    let mut terminal = ratatui::try_init().context("cannot set up the terminal for ecmt ui")?;
    let mut app = App::new(e);
    app.run_action(&mut terminal, Action::CheckStatus).await?;
    while !app.quit {
        terminal.draw(|f| app.draw(f))?;
        if !event::poll(Duration::from_millis(250))? {
            continue;
        }
        match event::read()? {
            Event::Key(k) if k.kind == KeyEventKind::Press => {
                if let Some(action) = app.on_key(k) {
                    app.run_action(&mut terminal, action).await?;
                }
            }
            Event::Resize(..) => terminal.autoresize()?,
            _ => {}
        }
    }
    Ok(())
}

/// Leaves raw mode and the alternate screen when dropped.
struct RestoreTerminal;

impl Drop for RestoreTerminal {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// The screens. `Restore` and `About` are dialogs over Welcome; `Policy` and `Backup`
/// dialogs over the Main Menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Screen {
    Welcome,
    Logon,
    MainMenu,
    Policy,
    Backup,
    Restore,
    About,
}

/// What a key asked for that needs the server or the store.
#[derive(Debug)]
enum Action {
    CheckStatus,
    Login { epoc: String, pin: String },
    OpenMainMenu,
    Refresh,
    LoadPolicy,
    CreateRequest(String),
    Download(i64),
    Backup { file: PathBuf, password: String, repeat: String },
    Restore { file: PathBuf, password: String },
    Logout,
}

impl Action {
    fn busy_text(&self) -> String {
        match self {
            Action::CheckStatus => "checking the carecert service for updates…".into(),
            Action::Login { .. } => "logging on…".into(),
            Action::OpenMainMenu | Action::Refresh => "reading the requests…".into(),
            Action::LoadPolicy => "fetching the acceptable-use policy…".into(),
            Action::CreateRequest(_) => "making a new key and requesting a certificate…".into(),
            Action::Download(id) => format!("downloading and installing the certificate of request {id}…"),
            Action::Backup { .. } => "writing the backup…".into(),
            Action::Restore { .. } => "restoring the backup…".into(),
            Action::Logout => "logging off…".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Info,
    Ok,
    Error,
}

/// The result of the update check, as the Welcome screen shows it.
enum UpdateStatus {
    NotChecked,
    Checked(Box<api::UpdateInfo>),
    Unreachable(String),
    Failed(String),
}

/// The choices on the Welcome screen.
const WELCOME_CHOICES: [(&str, char); 4] = [("Logon", 'L'), ("Restore", 'R'), ("About", 'A'), ("Quit", 'Q')];
/// The buttons of the Main Menu.
const MAIN_BUTTONS: [(&str, &str); 5] =
    [("Refresh", "F5"), ("Request Cert", "n"), ("Download", "d"), ("Backup", "b"), ("Logout", "o")];

struct App {
    e: Ecmt,
    screen: Screen,
    quit: bool,
    welcome_choice: usize,
    installed: Result<Option<Installed>, String>,
    update: UpdateStatus,
    form: Form,
    requests: Vec<api::RequestView>,
    table: TableState,
    main_button: usize,
    policy: Option<api::PolicyView>,
    policy_scroll: u16,
    policy_accept_focused: bool,
    message: Option<(Kind, String)>,
    busy: Option<String>,
    /// What the start-up check found about trust and the installed certificate (issue 11).
    health: Vec<String>,
}

impl App {
    fn new(e: Ecmt) -> Self {
        App {
            e,
            screen: Screen::Welcome,
            quit: false,
            welcome_choice: 0,
            installed: Ok(None),
            update: UpdateStatus::NotChecked,
            form: Form::logon(),
            requests: Vec::new(),
            table: TableState::default(),
            main_button: 0,
            policy: None,
            policy_scroll: 0,
            policy_accept_focused: false,
            message: None,
            busy: None,
            health: Vec::new(),
        }
    }

    fn say(&mut self, kind: Kind, text: impl Into<String>) {
        self.message = Some((kind, text.into()));
    }

    fn go(&mut self, screen: Screen) {
        self.screen = screen;
        self.message = None;
    }

    fn selected(&self) -> Option<&api::RequestView> {
        self.table.selected().and_then(|i| self.requests.get(i))
    }
}

/// What the user should do next with a request, in the words of this screen.
fn status_hint(r: &api::RequestView) -> String {
    match r.status.as_str() {
        "pending" => "waiting for approval by the Registration Authority; press F5 later to check again.".into(),
        "approved" => "approved: press d to download and install the certificate.".into(),
        "downloaded" => "downloaded but not confirmed installed: press d to download it again and finish.".into(),
        "installed" => "its certificate was installed on the machine that requested it.".into(),
        _ => r.message.clone(),
    }
}

fn status_style(status: &str) -> Style {
    match status {
        "pending" => Style::new().fg(Color::Yellow),
        "approved" | "downloaded" => Style::new().fg(Color::Green).bold(),
        "installed" => Style::new().fg(Color::Green),
        "denied" => Style::new().fg(Color::Red),
        _ => Style::new(),
    }
}

fn expiry_text(i: &Installed) -> String {
    let days = crate::days_left(i);
    let when = crate::fmt_time(i.info.not_after);
    if days < 0 { format!("expired {when} UTC") } else { format!("expires {when} UTC, in {days} days") }
}

/// The full error chain, as one sentence.
fn error_text(e: &anyhow::Error) -> String {
    sentence(&format!("{e:#}"))
}

/// `s` with a capital first letter (the server's and ops' messages start in lower case).
fn sentence(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `~/x` → the home directory's `x`.
fn expand_home(s: &str) -> PathBuf {
    match (s.strip_prefix("~/"), dirs::home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(s),
    }
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::local::LocalStore;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn screen_text(app: &mut App) -> String {
        let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
        t.draw(|f| app.draw(f)).unwrap();
        let buf = t.backend().buffer().clone();
        let mut s = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                s.push_str(buf[(x, y)].symbol());
            }
            s.push('\n');
        }
        s
    }

    fn app() -> (tempfile::TempDir, App) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&dir.path().join("store")).unwrap();
        let e = Ecmt { server: "https://127.0.0.1:1".into(), ca_file: None, store };
        (dir, App::new(e))
    }

    #[test]
    fn welcome_shows_title_status_and_choices_and_hotkeys_navigate() {
        let (_d, mut app) = app();
        app.update = UpdateStatus::Unreachable("cannot reach the carecert service".into());
        let s = screen_text(&mut app);
        for want in [TITLE, "Welcome", "No certificate installed", "Server unreachable", "Logon", "Restore", "About"] {
            assert!(s.contains(want), "missing {want:?} in\n{s}");
        }
        assert!(app.on_key(key(KeyCode::Char('a'))).is_none());
        assert_eq!(app.screen, Screen::About);
        assert!(screen_text(&mut app).contains("Store directory"));
        app.on_key(key(KeyCode::Esc));
        app.on_key(key(KeyCode::Char('L')));
        assert_eq!(app.screen, Screen::Logon);
    }

    #[test]
    fn logon_masks_the_pin_and_enter_submits_only_when_complete() {
        let (_d, mut app) = app();
        app.on_key(key(KeyCode::Char('l')));
        for c in "123".chars() {
            app.on_key(key(KeyCode::Char(c)));
        }
        // Enter with an empty PIN moves to it instead of submitting.
        assert!(app.on_key(key(KeyCode::Enter)).is_none());
        assert_eq!(app.form.focus, 1);
        for c in "s3cret".chars() {
            app.on_key(key(KeyCode::Char(c)));
        }
        let s = screen_text(&mut app);
        assert!(s.contains("******") && !s.contains("s3cret"), "{s}");
        match app.on_key(key(KeyCode::Enter)) {
            Some(Action::Login { epoc, pin }) => assert_eq!((epoc.as_str(), pin.as_str()), ("123", "s3cret")),
            other => panic!("expected a login, got {other:?}"),
        }
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.screen, Screen::Welcome);
    }
}
