//! `ecmt ui`: the interactive screens (ratatui + crossterm), with the names users know from
//! the old Windows tool.
//!
//! ```text
//! Welcome ──L──> Logon ──Enter──> Logon successful ──OK──> Main Menu
//!    │ R: Restore dialog             (EPOC pre-filled)
//!    │ A: About
//!    └ Q: Quit
//! Main Menu ──c: Request and Download Cert──> Policy ──I accept──> progress (request → approval
//!    → download → install) ──> Backup offer ──Yes──> file chooser ──> Backup Certificate
//!    (password twice) ──> Confirmation (downloaded, installed, backed up to PATH)
//!                                     └──No──> Confirmation (downloaded, installed, no backup)
//! Main Menu also: n Request Cert · d Download · b Backup · F5/r Refresh · t Restore · a About ·
//!    o Logout · q Quit
//! ```
//!
//! Statuses read as in the guides ("Pending", "Available for Download", "Downloaded",
//! "Installed", "Denied — call <helpdesk>", see `words`); times are local.
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
mod journey;
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
use crate::words;
use client::Error as ClientError;

use form::{Form, FormEvent, button, error_style, panel};

/// The title every screen shows.
const TITLE: &str = "ecmt — Client Certificate Management";
/// Longest text a field takes.
const MAX_FIELD: usize = 512;
/// Width of the labels in forms.
const LABEL_W: u16 = 18;

/// Runs the interactive interface until the user quits.
pub async fn run(e: Ecmt, backup_dir: PathBuf) -> Result<()> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        bail!("ecmt ui needs a terminal; use the other commands in scripts");
    }
    // Dropped last: restores the terminal on every way out of this function, including
    // `?` and a half-done `try_init`. `try_init` also installs a panic hook that restores
    // it before the panic message is printed.
    let _restore = RestoreTerminal;
    let mut terminal = ratatui::try_init().context("cannot set up the terminal for ecmt ui")?;
    let mut app = App::new(e);
    app.backup_dir = backup_dir;
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

/// The screens. `Restore` and `About` are dialogs over Welcome or the Main Menu (`App::back`);
/// `LogonOk`, `Policy`, `Journey`, `BackupOffer`, `Chooser`, `Backup` and `Done` are dialogs
/// over the Main Menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Screen {
    Welcome,
    Logon,
    LogonOk,
    MainMenu,
    Policy,
    Journey,
    BackupOffer,
    Chooser,
    Backup,
    Done,
    Restore,
    About,
}

/// What a key asked for that needs the server or the store.
#[derive(Debug)]
enum Action {
    CheckStatus,
    Login {
        epoc: String,
        pin: String,
    },
    OpenMainMenu,
    Refresh,
    LoadPolicy,
    CreateRequest(String),
    /// Request and Download Cert, with the accepted policy version.
    Journey(String),
    Download(i64),
    Backup {
        file: PathBuf,
        password: String,
        repeat: String,
    },
    Restore {
        file: PathBuf,
        password: String,
    },
    Logout,
}

impl Action {
    fn busy_text(&self) -> String {
        match self {
            Action::CheckStatus => "checking the carecert service for updates…".into(),
            Action::Login { .. } => "logging on…".into(),
            Action::OpenMainMenu | Action::Refresh => "reading the requests…".into(),
            Action::LoadPolicy => "fetching the acceptable-use policy…".into(),
            Action::CreateRequest(_) | Action::Journey(_) => "making a new key and requesting a certificate…".into(),
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
/// The buttons of the Main Menu, with their keys.
const MAIN_BUTTONS: [(&str, &str); 8] = [
    ("Request and Download Cert", "c"),
    ("Refresh", "F5"),
    ("Request Cert", "n"),
    ("Download", "d"),
    ("Backup", "b"),
    ("Restore", "t"),
    ("About", "a"),
    ("Logout", "o"),
];

/// What Request and Download Cert did, for the confirmation.
#[derive(Debug, Clone, Default)]
struct Report {
    request: Option<i64>,
    installed: Option<String>,
    backup: Option<PathBuf>,
}

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
    /// The organisation's default backup folder: where the chooser starts.
    backup_dir: PathBuf,
    /// Where Restore and About return.
    back: Screen,
    /// "I accept" runs the whole journey (Request and Download Cert), not only the request.
    policy_for_journey: bool,
    /// The journey's steps so far.
    progress: Vec<String>,
    /// Yes is focused in the backup offer.
    offer_yes: bool,
    chooser: journey::Chooser,
    /// Set during Request and Download Cert: the backup belongs to it and ends in the confirmation.
    report: Option<Report>,
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
            backup_dir: PathBuf::from("/var/backups/ecmt"),
            back: Screen::Welcome,
            policy_for_journey: false,
            progress: Vec::new(),
            offer_yes: true,
            chooser: journey::Chooser::default(),
            report: None,
            health: Vec::new(),
        }
    }

    /// The Logon form, with the EPOC of the last logon filled in.
    fn logon_form(&self) -> Form {
        Form::logon_with(self.e.store.state().last_epoc)
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
    let word = words::status_word(r);
    match r.status {
        api::RequestStatus::Pending => {
            format!("{word}: waiting for approval by the Registration Authority; press F5 later to check again.")
        }
        api::RequestStatus::Approved => format!("{word}: press d to download and install the certificate."),
        api::RequestStatus::Downloaded => {
            format!("{word} but not confirmed installed: press d to download it again and finish.")
        }
        api::RequestStatus::Installed => {
            format!("{word}: its certificate was installed on the machine that requested it.")
        }
        api::RequestStatus::Denied => format!("{word}. {}", sentence(&r.message)),
        api::RequestStatus::Cancelled => format!("{word}: {}", r.message),
    }
}

fn status_style(status: api::RequestStatus) -> Style {
    match status {
        api::RequestStatus::Pending => Style::new().fg(Color::Yellow),
        api::RequestStatus::Approved | api::RequestStatus::Downloaded => Style::new().fg(Color::Green).bold(),
        api::RequestStatus::Installed => Style::new().fg(Color::Green),
        api::RequestStatus::Denied => Style::new().fg(Color::Red),
        api::RequestStatus::Cancelled => Style::new(),
    }
}

fn expiry_text(i: &Installed) -> String {
    let days = crate::days_left(i);
    let when = crate::fmt_time(i.info.not_after);
    if days < 0 { format!("expired {when}") } else { format!("expires {when}, in {days} days") }
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
