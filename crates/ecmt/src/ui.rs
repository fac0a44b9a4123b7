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

/// A text field of a form.
struct Field {
    label: &'static str,
    value: String,
    masked: bool,
}

/// What a key did to a form.
#[derive(Debug, PartialEq, Eq)]
enum FormEvent {
    None,
    Submit,
    Cancel,
}

/// A form: fields, then an OK and a Cancel button. `focus` counts fields, then the buttons.
struct Form {
    title: &'static str,
    intro: &'static str,
    ok_label: &'static str,
    fields: Vec<Field>,
    focus: usize,
    error: Option<String>,
    /// Set when the file exists: a second OK for the same file replaces it.
    confirmed_overwrite: Option<PathBuf>,
}

impl Form {
    fn new(title: &'static str, intro: &'static str, ok_label: &'static str, fields: &[(&'static str, bool)]) -> Self {
        Form {
            title,
            intro,
            ok_label,
            fields: fields.iter().map(|&(label, masked)| Field { label, value: String::new(), masked }).collect(),
            focus: 0,
            error: None,
            confirmed_overwrite: None,
        }
    }

    fn logon() -> Self {
        Form::new(
            "Logon",
            "Enter your organisation code (EPOC) and the PIN from your PIN letter.",
            "Logon",
            &[("EPOC", false), ("PIN", true)],
        )
    }

    fn backup(default_file: String) -> Self {
        let mut f = Form::new(
            "Backup",
            "Back up the installed key and certificate to a password-protected .pfx file.",
            "OK",
            &[("File", false), ("Password", true), ("Repeat password", true)],
        );
        f.fields[0].value = default_file;
        f.focus = 1;
        f
    }

    fn restore() -> Self {
        Form::new(
            "Restore",
            "Install a key and certificate from a .pfx backup file.",
            "OK",
            &[("File", false), ("Password", true)],
        )
    }

    fn value(&self, i: usize) -> &str {
        self.fields.get(i).map(|f| f.value.as_str()).unwrap_or_default()
    }

    fn ok_index(&self) -> usize {
        self.fields.len()
    }

    fn cancel_index(&self) -> usize {
        self.fields.len() + 1
    }

    fn on_key(&mut self, k: KeyEvent) -> FormEvent {
        let n = self.fields.len() + 2;
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match k.code {
            KeyCode::Esc => return FormEvent::Cancel,
            KeyCode::Enter if self.focus == self.cancel_index() => return FormEvent::Cancel,
            KeyCode::Enter => match self.fields.iter().position(|f| f.value.is_empty()) {
                Some(empty) => {
                    self.focus = empty;
                    self.error = Some(format!("Enter the {} first.", self.fields[empty].label));
                }
                None => return FormEvent::Submit,
            },
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % n,
            KeyCode::BackTab | KeyCode::Up => self.focus = (self.focus + n - 1) % n,
            KeyCode::Left | KeyCode::Right if self.focus >= self.ok_index() => {
                self.focus = if self.focus == self.ok_index() { self.cancel_index() } else { self.ok_index() };
            }
            KeyCode::Char('u') if ctrl => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.value.clear();
                }
            }
            KeyCode::Backspace => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.value.pop();
                }
            }
            KeyCode::Char(c) if !ctrl && !k.modifiers.contains(KeyModifiers::ALT) => {
                if let Some(f) = self.fields.get_mut(self.focus)
                    && f.value.chars().count() < MAX_FIELD
                {
                    f.value.push(c);
                }
            }
            _ => {}
        }
        FormEvent::None
    }

    /// Lines the form needs inside its border.
    fn height(&self) -> u16 {
        // intro, blank, fields, blank, buttons, blank, four lines of message
        u16::try_from(self.fields.len()).unwrap_or(8) + 9
    }

    fn draw(&self, f: &mut Frame, area: Rect) {
        let block = panel().title(format!(" {} ", self.title)).title_style(Style::new().bold());
        let inner = block.inner(area);
        f.render_widget(Clear, area);
        f.render_widget(block, area);
        let [intro, fields, buttons, error] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(u16::try_from(self.fields.len()).unwrap_or(8) + 1),
            Constraint::Length(2),
            Constraint::Min(1),
        ])
        .areas(inner);
        f.render_widget(Paragraph::new(self.intro).wrap(Wrap { trim: true }), intro);
        let value_w = usize::from(inner.width.saturating_sub(LABEL_W + 2)).max(1);
        for (i, field) in self.fields.iter().enumerate() {
            let focused = self.focus == i;
            let shown: String =
                if field.masked { "*".repeat(field.value.chars().count()) } else { field.value.clone() };
            // Show the end of a value longer than the box.
            let len = shown.chars().count();
            let visible: String = shown.chars().skip(len.saturating_sub(value_w - 1)).collect();
            let label_style = if focused { Style::new().bold().fg(Color::Yellow) } else { Style::new() };
            let value_style = if focused {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new().add_modifier(Modifier::UNDERLINED)
            };
            let line = Line::from(vec![
                Span::styled(format!("{:<w$}", field.label, w = usize::from(LABEL_W)), label_style),
                Span::styled(format!(" {visible:<value_w$}"), value_style),
            ]);
            let row = Rect { y: fields.y + u16::try_from(i).unwrap_or(0), height: 1, ..fields };
            if row.y < fields.bottom() {
                f.render_widget(Paragraph::new(line), row);
                if focused {
                    let x = row.x + LABEL_W + 1 + u16::try_from(visible.chars().count()).unwrap_or(0);
                    f.set_cursor_position((x.min(row.right().saturating_sub(1)), row.y));
                }
            }
        }
        let ok = button(self.ok_label, self.focus == self.ok_index());
        let cancel = button("Cancel", self.focus == self.cancel_index());
        f.render_widget(
            Paragraph::new(Line::from(vec![ok, Span::raw("   "), cancel])).alignment(Alignment::Center),
            buttons,
        );
        if let Some(e) = &self.error {
            f.render_widget(Paragraph::new(e.as_str()).style(error_style()).wrap(Wrap { trim: true }), error);
        }
    }
}

/// A bordered box with a space inside each side.
fn panel() -> Block<'static> {
    Block::bordered().padding(Padding::horizontal(1))
}

fn button(label: &str, focused: bool) -> Span<'static> {
    let style = if focused { Style::new().bold().add_modifier(Modifier::REVERSED) } else { Style::new().bold() };
    Span::styled(format!("[ {label} ]"), style)
}

fn error_style() -> Style {
    Style::new().fg(Color::Red).bold()
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

    // ---- keys --------------------------------------------------------------------------

    fn on_key(&mut self, k: KeyEvent) -> Option<Action> {
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            self.quit = true;
            return None;
        }
        match self.screen {
            Screen::Welcome => self.welcome_key(k),
            Screen::Logon => self.logon_key(k),
            Screen::MainMenu => self.main_key(k),
            Screen::Policy => self.policy_key(k),
            Screen::Backup => self.backup_key(k),
            Screen::Restore => self.restore_key(k),
            Screen::About => {
                if matches!(k.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q' | 'Q' | 'a' | 'A')) {
                    self.go(Screen::Welcome);
                }
                None
            }
        }
    }

    fn welcome_key(&mut self, k: KeyEvent) -> Option<Action> {
        let n = WELCOME_CHOICES.len();
        let choice = match k.code {
            KeyCode::Up | KeyCode::BackTab | KeyCode::Left => {
                self.welcome_choice = (self.welcome_choice + n - 1) % n;
                return None;
            }
            KeyCode::Down | KeyCode::Tab | KeyCode::Right => {
                self.welcome_choice = (self.welcome_choice + 1) % n;
                return None;
            }
            KeyCode::Enter => self.welcome_choice,
            KeyCode::Char(c) => WELCOME_CHOICES.iter().position(|(_, h)| h.eq_ignore_ascii_case(&c))?,
            _ => return None,
        };
        self.welcome_choice = choice;
        match WELCOME_CHOICES[choice].0 {
            "Logon" if self.e.session().is_some() => Some(Action::OpenMainMenu),
            "Logon" => {
                self.form = Form::logon();
                self.go(Screen::Logon);
                None
            }
            "Restore" => {
                self.form = Form::restore();
                self.go(Screen::Restore);
                None
            }
            "About" => {
                self.go(Screen::About);
                None
            }
            _ => {
                self.quit = true;
                None
            }
        }
    }

    fn logon_key(&mut self, k: KeyEvent) -> Option<Action> {
        match self.form.on_key(k) {
            FormEvent::Cancel => {
                self.form = Form::logon();
                self.go(Screen::Welcome);
                None
            }
            FormEvent::Submit => {
                Some(Action::Login { epoc: self.form.value(0).trim().to_string(), pin: self.form.value(1).to_string() })
            }
            FormEvent::None => None,
        }
    }

    fn main_key(&mut self, k: KeyEvent) -> Option<Action> {
        let n = MAIN_BUTTONS.len();
        match k.code {
            KeyCode::Up | KeyCode::Char('k') => self.table.select_previous(),
            KeyCode::Down | KeyCode::Char('j') if self.table.selected().is_none_or(|i| i + 1 < self.requests.len()) => {
                self.table.select_next()
            }
            KeyCode::Home => self.table.select_first(),
            KeyCode::End => self.table.select(self.requests.len().checked_sub(1)),
            KeyCode::Tab | KeyCode::Right => self.main_button = (self.main_button + 1) % n,
            KeyCode::BackTab | KeyCode::Left => self.main_button = (self.main_button + n - 1) % n,
            KeyCode::Enter => return self.main_button_action(self.main_button),
            KeyCode::F(5) | KeyCode::Char('r' | 'R') => return self.main_button_action(0),
            KeyCode::Char('n' | 'N') => return self.main_button_action(1),
            KeyCode::Char('d' | 'D') => return self.main_button_action(2),
            KeyCode::Char('b' | 'B') => return self.main_button_action(3),
            KeyCode::Char('o' | 'O') => return self.main_button_action(4),
            KeyCode::Char('q' | 'Q') => self.quit = true,
            _ => {}
        }
        None
    }

    fn main_button_action(&mut self, i: usize) -> Option<Action> {
        self.main_button = i;
        match i {
            0 => Some(Action::Refresh),
            1 => Some(Action::LoadPolicy),
            2 => self.download_selected(),
            3 => {
                match self.e.store.installed() {
                    Ok(Some(inst)) => {
                        let name = format!("ecmt-backup-{}.pfx", inst.info.serial.chars().take(16).collect::<String>());
                        let file = dirs::home_dir().map(|h| h.join(&name)).unwrap_or_else(|| PathBuf::from(&name));
                        self.form = Form::backup(file.display().to_string());
                        self.go(Screen::Backup);
                    }
                    Ok(None) => self.say(
                        Kind::Error,
                        "No certificate is installed, so there is nothing to back up: download one first (d).",
                    ),
                    Err(e) => self.say(Kind::Error, sentence(&e.to_string())),
                }
                None
            }
            _ => Some(Action::Logout),
        }
    }

    fn download_selected(&mut self) -> Option<Action> {
        let Some(r) = self.selected() else {
            self.say(Kind::Error, "No request is selected: choose one with ↑/↓, or press n to request a certificate.");
            return None;
        };
        let (id, status) = (r.id, r.status);
        let text = match status.as_str() {
            "approved" | "downloaded" => return Some(Action::Download(id)),
            "pending" => format!(
                "Request {id} is still waiting for approval by the Registration Authority: press F5 later to check again."
            ),
            "installed" => {
                format!("The certificate of request {id} is installed already: there is nothing to download.")
            }
            _ => format!("Request {id} cannot be downloaded: {}", r.message),
        };
        self.say(Kind::Info, text);
        None
    }

    fn policy_key(&mut self, k: KeyEvent) -> Option<Action> {
        match k.code {
            KeyCode::Up => self.policy_scroll = self.policy_scroll.saturating_sub(1),
            KeyCode::Down => self.policy_scroll = self.policy_scroll.saturating_add(1),
            KeyCode::PageUp => self.policy_scroll = self.policy_scroll.saturating_sub(10),
            KeyCode::PageDown => self.policy_scroll = self.policy_scroll.saturating_add(10),
            KeyCode::Left | KeyCode::Right | KeyCode::Tab | KeyCode::BackTab => {
                self.policy_accept_focused = !self.policy_accept_focused;
            }
            KeyCode::Enter if self.policy_accept_focused => {
                return self.policy.as_ref().map(|p| Action::CreateRequest(p.version.clone()));
            }
            KeyCode::Enter | KeyCode::Esc | KeyCode::Char('c' | 'C') => {
                self.go(Screen::MainMenu);
                self.say(Kind::Info, "The policy was not accepted: nothing was requested.");
            }
            _ => {}
        }
        None
    }

    fn backup_key(&mut self, k: KeyEvent) -> Option<Action> {
        match self.form.on_key(k) {
            FormEvent::Cancel => {
                self.go(Screen::MainMenu);
                self.say(Kind::Info, "Backup cancelled: nothing was written.");
                None
            }
            FormEvent::Submit => {
                let (password, repeat) = (self.form.value(1).to_string(), self.form.value(2).to_string());
                if let Err(rule) = ops::check_password(&password, &repeat) {
                    self.form.error = Some(sentence(&format!("{rule}; nothing was written.")));
                    self.form.fields[1].value.clear();
                    self.form.fields[2].value.clear();
                    self.form.focus = 1;
                    return None;
                }
                let file = expand_home(self.form.value(0).trim());
                if file.exists() && self.form.confirmed_overwrite.as_ref() != Some(&file) {
                    self.form.error =
                        Some(format!("{} exists already: press Enter again to replace it.", file.display()));
                    self.form.confirmed_overwrite = Some(file);
                    self.form.focus = self.form.ok_index();
                    return None;
                }
                Some(Action::Backup { file, password, repeat })
            }
            FormEvent::None => None,
        }
    }

    fn restore_key(&mut self, k: KeyEvent) -> Option<Action> {
        match self.form.on_key(k) {
            FormEvent::Cancel => {
                self.go(Screen::Welcome);
                None
            }
            FormEvent::Submit => Some(Action::Restore {
                file: expand_home(self.form.value(0).trim()),
                password: self.form.value(1).to_string(),
            }),
            FormEvent::None => None,
        }
    }

    // ---- actions -----------------------------------------------------------------------

    async fn run_action(&mut self, terminal: &mut DefaultTerminal, action: Action) -> Result<()> {
        self.busy = Some(action.busy_text());
        terminal.draw(|f| self.draw(f))?;
        let download = matches!(action, Action::Download(_));
        self.perform(action).await;
        self.busy = None;
        if download {
            // `download` may print a note on stderr, which lands on this screen: redraw all.
            terminal.clear()?;
        }
        Ok(())
    }

    async fn perform(&mut self, action: Action) {
        match action {
            Action::CheckStatus => {
                self.installed = self.e.store.installed().map_err(|e| e.to_string());
                self.update = match self.e.update_check().await {
                    Ok(u) => UpdateStatus::Checked(Box::new(u)),
                    Err(e) if e.downcast_ref::<ClientError>().is_some_and(ClientError::is_unreachable) => {
                        UpdateStatus::Unreachable(e.to_string())
                    }
                    Err(e) => UpdateStatus::Failed(e.to_string()),
                };
            }
            Action::Login { epoc, pin } => match self.e.login(&epoc, &pin).await {
                Ok(r) => {
                    self.form = Form::logon();
                    self.go(Screen::MainMenu);
                    self.say(Kind::Ok, format!("Logged on as {} (EPOC {}).", r.organisation.name, r.organisation.epoc));
                    self.refresh(None).await;
                }
                Err(e) => {
                    self.form.error = Some(error_text(&e));
                    self.form.fields[1].value.clear();
                    self.form.focus = 1;
                }
            },
            Action::OpenMainMenu => {
                self.go(Screen::MainMenu);
                if let Some(s) = self.e.session() {
                    self.say(Kind::Ok, format!("Logged on as {} (EPOC {}).", s.name, s.epoc));
                }
                self.refresh(None).await;
            }
            Action::Refresh => {
                if self.refresh(None).await {
                    let n = self.requests.len();
                    self.say(Kind::Info, format!("{n} request{} listed.", if n == 1 { "" } else { "s" }));
                }
            }
            Action::LoadPolicy => match self.e.update_check().await {
                Ok(u) => {
                    self.policy = Some(u.policy);
                    self.policy_scroll = 0;
                    self.policy_accept_focused = false;
                    self.go(Screen::Policy);
                }
                Err(e) => self.say(Kind::Error, sentence(&e.to_string())),
            },
            Action::CreateRequest(version) => {
                self.go(Screen::MainMenu);
                match self.e.create_request(&version).await {
                    Ok(r) => {
                        self.refresh(Some(r.id)).await;
                        self.say(Kind::Ok, format!("Request {} created ({}): {}", r.id, r.status, status_hint(&r)));
                    }
                    Err(e) => self.main_error(&e),
                }
            }
            Action::Download(id) => match self.e.download(id).await {
                Ok(inst) => {
                    self.installed = Ok(Some(inst.clone()));
                    self.refresh(Some(id)).await;
                    self.say(
                        Kind::Ok,
                        format!(
                            "Certificate {} installed in {} ({}). Make a backup now: press b.",
                            inst.info.serial,
                            self.e.store.dir().join("cert.pem").display(),
                            expiry_text(&inst)
                        ),
                    );
                }
                Err(e) => self.main_error(&e),
            },
            Action::Backup { file, password, repeat } => match self.e.backup(&file, &password, &repeat) {
                Ok(inst) => {
                    self.go(Screen::MainMenu);
                    self.say(
                        Kind::Ok,
                        format!(
                            "Backed up certificate {} to {} — keep the password safe: it is not stored.",
                            inst.info.serial,
                            file.display()
                        ),
                    );
                }
                Err(e) => {
                    self.form.error = Some(error_text(&e));
                    self.form.confirmed_overwrite = None;
                }
            },
            Action::Restore { file, password } => match self.e.restore(&file, &password) {
                Ok(inst) => {
                    self.installed = Ok(Some(inst.clone()));
                    self.go(Screen::Welcome);
                    self.say(
                        Kind::Ok,
                        format!(
                            "Restored certificate {} from {} ({}).",
                            inst.info.serial,
                            file.display(),
                            expiry_text(&inst)
                        ),
                    );
                }
                Err(e) => {
                    self.form.error = Some(error_text(&e));
                    self.form.fields[1].value.clear();
                    self.form.focus = 1;
                }
            },
            Action::Logout => {
                let result = self.e.logout().await;
                self.requests.clear();
                self.table.select(None);
                self.go(Screen::Welcome);
                self.welcome_choice = 0;
                match result {
                    Ok(()) => self.say(Kind::Ok, "Logged off."),
                    Err(e) => self.say(
                        Kind::Error,
                        format!("Logged off on this machine, but the server was not told: {}", error_text(&e)),
                    ),
                }
                self.installed = self.e.store.installed().map_err(|e| e.to_string());
            }
        }
    }

    /// Reloads the table, keeping (or moving to) the selected request. False if it failed.
    async fn refresh(&mut self, select: Option<i64>) -> bool {
        let keep = select.or_else(|| self.selected().map(|r| r.id));
        match self.e.requests().await {
            Ok(rs) => {
                self.requests = rs;
                let i = keep.and_then(|id| self.requests.iter().position(|r| r.id == id));
                self.table.select(i.or(if self.requests.is_empty() { None } else { Some(0) }));
                true
            }
            Err(e) => {
                self.main_error(&e);
                false
            }
        }
    }

    /// Shows an error of a Main Menu action; an ended session leads back to Logon.
    fn main_error(&mut self, e: &anyhow::Error) {
        let code = e.chain().find_map(|c| c.downcast_ref::<ClientError>()).and_then(ClientError::code);
        if code == Some("session_invalid") || self.e.session().is_none() {
            self.form = Form::logon();
            self.form.error = Some(format!("Your session has ended: log on again. ({})", error_text(e)));
            self.go(Screen::Logon);
        } else {
            self.say(Kind::Error, error_text(e));
        }
    }

    // ---- drawing -----------------------------------------------------------------------

    fn draw(&mut self, f: &mut Frame) {
        let [header, body, message, hints] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(8), Constraint::Length(3), Constraint::Length(1)])
                .areas(f.area());
        f.render_widget(Paragraph::new(TITLE).style(Style::new().bold().fg(Color::Cyan)), header);
        f.render_widget(
            Paragraph::new(format!("ecmt {} · {}", ops::VERSION, self.e.server))
                .alignment(Alignment::Right)
                .style(Style::new().fg(Color::DarkGray)),
            header,
        );
        match self.screen {
            Screen::Welcome | Screen::Restore | Screen::About => self.draw_welcome(f, body),
            Screen::Logon => self.draw_logon(f, body),
            Screen::MainMenu | Screen::Policy | Screen::Backup => self.draw_main(f, body),
        }
        match self.screen {
            Screen::Restore | Screen::Backup => {
                let w = body.width.saturating_sub(4).min(100);
                self.form.draw(f, body.centered(Constraint::Length(w), Constraint::Length(self.form.height() + 2)));
            }
            Screen::Policy => self.draw_policy(f, body),
            Screen::About => self.draw_about(f, body),
            _ => {}
        }
        let msg = match (&self.busy, &self.message) {
            (Some(b), _) => Paragraph::new(format!("Please wait: {b}")).style(Style::new().fg(Color::Yellow)),
            (None, Some((kind, text))) => Paragraph::new(text.as_str()).style(match kind {
                Kind::Info => Style::new(),
                Kind::Ok => Style::new().fg(Color::Green),
                Kind::Error => error_style(),
            }),
            (None, None) => Paragraph::new(""),
        };
        f.render_widget(msg.wrap(Wrap { trim: true }), message);
        f.render_widget(Paragraph::new(self.hints()).style(Style::new().fg(Color::DarkGray)), hints);
    }

    fn hints(&self) -> &'static str {
        match self.screen {
            Screen::Welcome => "↑/↓ Tab choose · Enter select · L Logon · R Restore · A About · Q Quit",
            Screen::Logon => "Tab next field · Enter Logon · Esc back · Ctrl+U clear field",
            Screen::MainMenu => {
                "↑/↓ select · F5/r Refresh · n Request Cert · d Download · b Backup · o Logout · Tab/Enter buttons · q Quit"
            }
            Screen::Policy => "↑/↓ PgUp/PgDn scroll · ←/→ Tab choose · Enter confirm · Esc Cancel",
            Screen::Backup | Screen::Restore => "Tab next field · Enter OK · Esc Cancel · Ctrl+U clear field",
            Screen::About => "Esc/Enter close",
        }
    }

    fn status_lines(&self) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        lines.push(match &self.installed {
            Ok(Some(i)) => {
                let days = crate::days_left(i);
                let style = match days {
                    d if d < 0 => error_style(),
                    d if d < 30 => Style::new().fg(Color::Yellow).bold(),
                    _ => Style::new().fg(Color::Green),
                };
                Line::from(vec![
                    Span::raw("Certificate:  "),
                    Span::styled(format!("{} — {}", i.info.serial, expiry_text(i)), style),
                ])
            }
            Ok(None) => Line::from(vec![
                Span::raw("Certificate:  "),
                Span::styled("No certificate installed", Style::new().fg(Color::Yellow).bold()),
                Span::raw(" — Logon with your PIN letter to request one, or Restore a backup."),
            ]),
            Err(e) => Line::from(vec![Span::raw("Certificate:  "), Span::styled(e.clone(), error_style())]),
        });
        let update = match &self.update {
            UpdateStatus::NotChecked => Span::raw("not checked yet"),
            UpdateStatus::Checked(u) if u.update_required => Span::styled(
                format!(
                    "UPDATE REQUIRED: ecmt {} is below the minimum supported version {}. Download the current version from {}",
                    ops::VERSION,
                    u.minimum_version.clone().unwrap_or_default(),
                    u.latest.as_ref().map(|r| r.url.clone()).unwrap_or_else(|| u.download_page.clone())
                ),
                error_style(),
            ),
            UpdateStatus::Checked(u) if u.update_available => Span::styled(
                format!(
                    "Update available: ecmt {} from {}",
                    u.latest.as_ref().map(|r| r.version.clone()).unwrap_or_default(),
                    u.latest.as_ref().map(|r| r.url.clone()).unwrap_or_else(|| u.download_page.clone())
                ),
                Style::new().fg(Color::Yellow).bold(),
            ),
            UpdateStatus::Checked(_) => {
                Span::styled(format!("Up to date (ecmt {})", ops::VERSION), Style::new().fg(Color::Green))
            }
            UpdateStatus::Unreachable(e) => Span::styled(format!("Server unreachable: {e}"), error_style()),
            UpdateStatus::Failed(e) => Span::styled(format!("Update check failed: {e}"), error_style()),
        };
        lines.push(Line::from(vec![Span::raw("Update check: "), update]));
        lines.push(match self.e.session() {
            Some(s) => Line::raw(format!(
                "Session:      logged on as {} (EPOC {}) until {} UTC",
                s.name,
                s.epoc,
                crate::fmt_time(s.expires_at)
            )),
            None => Line::raw("Session:      not logged on"),
        });
        lines
    }

    fn draw_welcome(&self, f: &mut Frame, area: Rect) {
        let block = panel().title(" Welcome ").title_style(Style::new().bold());
        let inner = block.inner(area);
        f.render_widget(block, area);
        let [status, _, choices] =
            Layout::vertical([Constraint::Length(8), Constraint::Length(1), Constraint::Min(4)]).areas(inner);
        f.render_widget(Paragraph::new(self.status_lines()).wrap(Wrap { trim: false }), status);
        let lines: Vec<Line> = WELCOME_CHOICES
            .iter()
            .enumerate()
            .map(|(i, (name, key))| {
                let selected = i == self.welcome_choice;
                let text = format!("{} {name:<10} ({key})", if selected { '>' } else { ' ' });
                if selected { Line::styled(text, Style::new().bold().reversed()) } else { Line::raw(text) }
            })
            .collect();
        f.render_widget(Paragraph::new(lines), choices.centered_horizontally(Constraint::Length(20)));
    }

    fn draw_logon(&self, f: &mut Frame, area: Rect) {
        let w = area.width.saturating_sub(4).min(100);
        self.form.draw(f, area.centered(Constraint::Length(w), Constraint::Length(self.form.height() + 2)));
    }

    fn draw_main(&mut self, f: &mut Frame, area: Rect) {
        let block = panel().title(" Main Menu ").title_style(Style::new().bold());
        let inner = block.inner(area);
        f.render_widget(block, area);
        let [who, table, detail, buttons] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(2), Constraint::Length(1)])
                .areas(inner);
        let who_text = match self.e.session() {
            Some(s) => format!("{} (EPOC {}) · session until {} UTC", s.name, s.epoc, crate::fmt_time(s.expires_at)),
            None => "not logged on".into(),
        };
        f.render_widget(Paragraph::new(who_text).bold(), who);
        let rows: Vec<Row> = self
            .requests
            .iter()
            .map(|r| {
                let issued = if r.serial.is_some() {
                    r.decided_at.map(crate::fmt_time).unwrap_or_default()
                } else {
                    String::new()
                };
                Row::new(vec![
                    Span::raw(r.id.to_string()),
                    Span::styled(r.status.as_str(), status_style(r.status.as_str())),
                    Span::raw(crate::fmt_time(r.created_at)),
                    Span::raw(issued),
                ])
            })
            .collect();
        let t = Table::new(
            rows,
            [Constraint::Length(12), Constraint::Length(12), Constraint::Length(18), Constraint::Length(18)],
        )
        .header(Row::new(vec!["Request ID", "Status", "Created", "Issued"]).style(Style::new().bold().underlined()))
        .row_highlight_style(Style::new().reversed())
        .highlight_symbol("> ");
        f.render_stateful_widget(t, table, &mut self.table);
        let detail_text = match self.selected() {
            Some(r) => format!("Request {}: {}", r.id, status_hint(r)),
            None => "No requests yet: press n (Request Cert) to request a certificate for this machine.".into(),
        };
        f.render_widget(
            Paragraph::new(detail_text).style(Style::new().fg(Color::Cyan)).wrap(Wrap { trim: true }),
            detail,
        );
        let mut spans = Vec::new();
        for (i, (name, key)) in MAIN_BUTTONS.iter().enumerate() {
            spans.push(button(&format!("{name} ({key})"), i == self.main_button && self.screen == Screen::MainMenu));
            spans.push(Span::raw("  "));
        }
        f.render_widget(Paragraph::new(Line::from(spans)).alignment(Alignment::Center), buttons);
    }

    fn draw_policy(&self, f: &mut Frame, area: Rect) {
        let Some(p) = &self.policy else { return };
        let w = area.width.saturating_sub(4).min(100);
        // Border, padding, intro and buttons take 4 columns and 6 lines; the text wraps.
        let text_w = usize::from(w.saturating_sub(4)).max(1);
        let text_lines: usize = p.text.lines().map(|l| l.chars().count().div_ceil(text_w).max(1)).sum();
        let h = u16::try_from(text_lines + 7).unwrap_or(u16::MAX).min(area.height.saturating_sub(2));
        let r = area.centered(Constraint::Length(w), Constraint::Length(h));
        let block =
            panel().title(format!(" Acceptable-use policy (version {}) ", p.version)).title_style(Style::new().bold());
        let inner = block.inner(r);
        f.render_widget(Clear, r);
        f.render_widget(block, r);
        let [intro, text, buttons] =
            Layout::vertical([Constraint::Length(2), Constraint::Min(1), Constraint::Length(2)]).areas(inner);
        f.render_widget(
            Paragraph::new("Read the policy. A certificate is requested only if you choose \"I accept\".").bold(),
            intro,
        );
        f.render_widget(
            Paragraph::new(Text::raw(p.text.as_str())).wrap(Wrap { trim: false }).scroll((self.policy_scroll, 0)),
            text,
        );
        let line = Line::from(vec![
            button("I accept", self.policy_accept_focused),
            Span::raw("   "),
            button("Cancel", !self.policy_accept_focused),
        ]);
        f.render_widget(Paragraph::new(line).alignment(Alignment::Center), buttons);
    }

    fn draw_about(&self, f: &mut Frame, area: Rect) {
        let r = area.centered(Constraint::Length(area.width.saturating_sub(4).min(90)), Constraint::Length(10));
        let block = panel().title(" About ").title_style(Style::new().bold());
        let inner = block.inner(r);
        f.render_widget(Clear, r);
        f.render_widget(block, r);
        let root = match &self.e.ca_file {
            Some(p) => p.display().to_string(),
            None => {
                self.e.store.trusted_root().map(|p| p.display().to_string()).unwrap_or_else(|| "not known yet".into())
            }
        };
        let helpdesk = match &self.update {
            UpdateStatus::Checked(u) => u.helpdesk.clone(),
            _ => "(ask the server: it was not reached)".into(),
        };
        let lines = vec![
            Line::raw(format!("ecmt version {}", ops::VERSION)).bold(),
            Line::raw("Client certificate manager for pharmacy, GP, dental and ophthalmic systems (carecert)."),
            Line::raw(""),
            Line::raw(format!("Server:           {}", self.e.server)),
            Line::raw(format!("Root certificate: {root}")),
            Line::raw(format!("Store directory:  {}", self.e.store.dir().display())),
            Line::raw(format!("Helpdesk:         {helpdesk}")),
        ];
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
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
