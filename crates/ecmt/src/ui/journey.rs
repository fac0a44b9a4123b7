//! Request and Download Cert (the v4 guide's one button): request → wait for approval →
//! download → install, with progress; then the backup offer (Yes / No), the file chooser,
//! the Backup Certificate dialog and the confirmation of what was done. Also the "Logon
//! successful" dialog.

use std::path::Path;
use std::time::Instant;

use super::*;

/// How long the journey waits for the RA before leaving the request Pending.
const APPROVAL_WAIT: Duration = Duration::from_secs(30 * 60);
/// How often it asks.
const POLL_EVERY: Duration = Duration::from_secs(2);

/// A simple file chooser: folders and `.pfx` files of one folder, and a file name.
#[derive(Debug, Default)]
pub(super) struct Chooser {
    pub(super) dir: PathBuf,
    /// (name, is a folder); ".." first when there is a parent.
    pub(super) entries: Vec<(String, bool)>,
    pub(super) selected: usize,
    pub(super) name: String,
    pub(super) error: Option<String>,
}

impl Chooser {
    /// Opens `dir` (created if missing; else its nearest existing parent).
    pub(super) fn open(dir: &Path) -> Chooser {
        let mut c = Chooser::default();
        let _ = std::fs::create_dir_all(dir);
        let mut d = dir.to_path_buf();
        while !d.is_dir() {
            match d.parent() {
                Some(p) => d = p.to_path_buf(),
                None => break,
            }
        }
        c.load(d);
        c
    }

    fn load(&mut self, dir: PathBuf) {
        let mut dirs = Vec::new();
        let mut files = Vec::new();
        match std::fs::read_dir(&dir) {
            Ok(rd) => {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().to_string();
                    if name.starts_with('.') {
                        continue;
                    }
                    if e.path().is_dir() {
                        dirs.push(name);
                    } else if name.to_ascii_lowercase().ends_with(".pfx") {
                        files.push(name);
                    }
                }
                self.error = None;
            }
            Err(err) => self.error = Some(format!("Cannot list {}: {err}", dir.display())),
        }
        dirs.sort();
        files.sort();
        self.entries.clear();
        if dir.parent().is_some() {
            self.entries.push(("..".into(), true));
        }
        self.entries.extend(dirs.into_iter().map(|d| (d, true)));
        self.entries.extend(files.into_iter().map(|f| (f, false)));
        self.selected = 0;
        self.dir = dir;
    }
}

impl App {
    fn step(&mut self, terminal: &mut DefaultTerminal, busy: impl Into<String>) -> Result<()> {
        self.busy = Some(busy.into());
        terminal.draw(|f| self.draw(f))?;
        Ok(())
    }

    /// Request and Download Cert, after "I accept".
    pub(super) async fn run_journey(&mut self, terminal: &mut DefaultTerminal, version: String) -> Result<()> {
        self.screen = Screen::Journey;
        self.message = None;
        self.progress = vec![format!("Acceptable-use policy {version} accepted.")];
        self.report = Some(Report::default());
        self.step(terminal, "making a new key on this machine and requesting a certificate…")?;
        let mut view = match self.e.create_request(&version).await {
            Ok(r) => r,
            Err(e) => return self.journey_failed(&e).await,
        };
        let id = view.id;
        if let Some(r) = &mut self.report {
            r.request = Some(id);
        }
        self.progress.push(format!("Request {id} made: {}.", words::status_word(&view)));
        let started = Instant::now();
        while view.status == api::RequestStatus::Pending {
            if started.elapsed() > APPROVAL_WAIT {
                return self.journey_left_pending(id).await;
            }
            self.step(
                terminal,
                format!(
                    "request {id} is Pending: waiting for the Registration Authority to approve it ({} s). Esc stops waiting; the request stays.",
                    started.elapsed().as_secs()
                ),
            )?;
            if event::poll(POLL_EVERY)?
                && let Event::Key(k) = event::read()?
                && k.kind == KeyEventKind::Press
                && k.code == KeyCode::Esc
            {
                return self.journey_left_pending(id).await;
            }
            view = match self.e.request_status(id).await {
                Ok(v) => v,
                Err(e) => return self.journey_failed(&e).await,
            };
        }
        match view.status {
            api::RequestStatus::Approved | api::RequestStatus::Downloaded => {
                self.progress.push(format!("Request {id}: {}.", words::status_word(&view)));
            }
            _ => {
                self.report = None;
                self.refresh(Some(id)).await;
                self.go(Screen::MainMenu);
                self.say(Kind::Error, format!("Request {id}: {}", status_hint(&view)));
                return Ok(());
            }
        }
        self.step(terminal, format!("downloading and installing the certificate of request {id}…"))?;
        match self.e.download(id).await {
            Ok(inst) => {
                self.progress.push(format!("Certificate {} downloaded.", inst.info.serial));
                let where_ = self.e.store.dir().join("cert.pem");
                self.progress.push(format!("Installed in {} ({}).", where_.display(), expiry_text(&inst)));
                if let Some(r) = &mut self.report {
                    r.installed = Some(format!(
                        "Installed: certificate {} in {} ({}).",
                        inst.info.serial,
                        where_.display(),
                        expiry_text(&inst)
                    ));
                }
                self.installed = Ok(Some(inst));
            }
            Err(e) => return self.journey_failed(&e).await,
        }
        self.busy = None;
        self.refresh(Some(id)).await;
        self.offer_yes = true;
        self.screen = Screen::BackupOffer;
        Ok(())
    }

    async fn journey_left_pending(&mut self, id: i64) -> Result<()> {
        self.report = None;
        self.busy = None;
        self.refresh(Some(id)).await;
        self.go(Screen::MainMenu);
        self.say(
            Kind::Info,
            format!(
                "Request {id} is Pending: the Registration Authority has not approved it yet. Press F5 later; when it is Available for Download press d."
            ),
        );
        Ok(())
    }

    async fn journey_failed(&mut self, e: &anyhow::Error) -> Result<()> {
        self.report = None;
        self.busy = None;
        self.go(Screen::MainMenu);
        self.main_error(e);
        if self.screen == Screen::MainMenu {
            self.refresh(None).await;
            self.main_error(e);
        }
        Ok(())
    }

    pub(super) fn offer_key(&mut self, k: KeyEvent) -> Option<Action> {
        let yes = match k.code {
            KeyCode::Left | KeyCode::Right | KeyCode::Tab | KeyCode::BackTab => {
                self.offer_yes = !self.offer_yes;
                return None;
            }
            KeyCode::Enter => self.offer_yes,
            KeyCode::Char('y' | 'Y') => true,
            KeyCode::Char('n' | 'N') | KeyCode::Esc => false,
            _ => return None,
        };
        if yes {
            self.chooser = Chooser::open(&self.backup_dir);
            self.go(Screen::Chooser);
        } else {
            self.go(Screen::Done);
        }
        None
    }

    pub(super) fn chooser_key(&mut self, k: KeyEvent) -> Option<Action> {
        let c = &mut self.chooser;
        let n = c.entries.len();
        match k.code {
            KeyCode::Esc => {
                if self.report.is_some() {
                    self.go(Screen::Done);
                } else {
                    self.go(Screen::MainMenu);
                }
            }
            KeyCode::Up if n > 0 => c.selected = (c.selected + n - 1) % n,
            KeyCode::Down if n > 0 => c.selected = (c.selected + 1) % n,
            KeyCode::Backspace => {
                c.name.pop();
            }
            KeyCode::Char('u') if k.modifiers.contains(KeyModifiers::CONTROL) => c.name.clear(),
            KeyCode::Char(ch)
                if !k.modifiers.contains(KeyModifiers::CONTROL) && ch != '/' && c.name.chars().count() < 255 =>
            {
                c.name.push(ch);
            }
            KeyCode::Enter => {
                let name = c.name.trim().to_string();
                if name.is_empty() {
                    match c.entries.get(c.selected).cloned() {
                        Some((d, true)) => {
                            let next = if d == ".." {
                                c.dir.parent().map(Path::to_path_buf).unwrap_or_else(|| c.dir.clone())
                            } else {
                                c.dir.join(d)
                            };
                            c.load(next);
                        }
                        Some((f, false)) => c.name = f,
                        None => c.error = Some("Type a file name for the backup (.pfx is added).".into()),
                    }
                    return None;
                }
                let file = ops::with_pfx(&c.dir.join(name));
                self.form = Form::backup(file.display().to_string());
                self.go(Screen::Backup);
            }
            _ => {}
        }
        None
    }

    pub(super) fn done_key(&mut self, k: KeyEvent) -> Option<Action> {
        if matches!(k.code, KeyCode::Enter | KeyCode::Esc | KeyCode::Char(' ' | 'o' | 'O')) {
            self.report = None;
            self.go(Screen::MainMenu);
            return Some(Action::Refresh);
        }
        None
    }

    // ---- drawing -----------------------------------------------------------------------

    fn dialog(&self, f: &mut Frame, area: Rect, title: &str, lines: Vec<Line<'static>>, height: u16) -> Rect {
        let w = area.width.saturating_sub(4).min(100);
        let r = area.centered(Constraint::Length(w), Constraint::Length(height.min(area.height)));
        let block = panel().title(format!(" {title} ")).title_style(Style::new().bold());
        let inner = block.inner(r);
        f.render_widget(Clear, r);
        f.render_widget(block, r);
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        inner
    }

    pub(super) fn draw_logon_ok(&self, f: &mut Frame, area: Rect) {
        let who = match self.e.session() {
            Some(s) => format!("Logged on as {} (EPOC {}).", s.name, s.epoc),
            None => String::new(),
        };
        let lines = vec![
            Line::styled("Logon successful", Style::new().bold().fg(Color::Green)),
            Line::raw(""),
            Line::raw(who),
            Line::raw(""),
            Line::from(button("OK", true)).alignment(Alignment::Center),
        ];
        self.dialog(f, area, "Logon", lines, 7);
    }

    pub(super) fn draw_journey(&self, f: &mut Frame, area: Rect) {
        let mut lines: Vec<Line<'static>> =
            self.progress.iter().map(|p| Line::styled(format!("✓ {p}"), Style::new().fg(Color::Green))).collect();
        if let Some(b) = &self.busy {
            lines.push(Line::styled(format!("… {}", sentence(b)), Style::new().fg(Color::Yellow)));
        }
        let h = u16::try_from(lines.len() * 2 + 2).unwrap_or(20);
        self.dialog(f, area, "Request and Download Cert", lines, h);
    }

    pub(super) fn draw_offer(&self, f: &mut Frame, area: Rect) {
        let mut lines: Vec<Line<'static>> =
            self.progress.iter().map(|p| Line::styled(format!("✓ {p}"), Style::new().fg(Color::Green))).collect();
        lines.push(Line::raw(""));
        lines.push(Line::raw("The certificate was downloaded and installed successfully.").bold());
        lines.push(Line::raw("Do you want to back up the new certificate now? (a password-protected .pfx file)"));
        lines.push(Line::raw(""));
        lines.push(
            Line::from(vec![button("Yes", self.offer_yes), Span::raw("   "), button("No", !self.offer_yes)])
                .alignment(Alignment::Center),
        );
        let h = u16::try_from(lines.len() * 2 + 2).unwrap_or(20);
        self.dialog(f, area, "Backup Certificate?", lines, h);
    }

    pub(super) fn draw_chooser(&self, f: &mut Frame, area: Rect) {
        let c = &self.chooser;
        let w = area.width.saturating_sub(4).min(100);
        let r = area.centered(Constraint::Length(w), Constraint::Length(area.height.min(22)));
        let block = panel().title(" Select the Certificate File location ").title_style(Style::new().bold());
        let inner = block.inner(r);
        f.render_widget(Clear, r);
        f.render_widget(block, r);
        let [look, list, name, err] =
            Layout::vertical([Constraint::Length(2), Constraint::Min(3), Constraint::Length(2), Constraint::Length(2)])
                .areas(inner);
        f.render_widget(Paragraph::new(format!("Look in: {}", c.dir.display())).bold(), look);
        let rows: Vec<Line> = c
            .entries
            .iter()
            .enumerate()
            .map(|(i, (n, is_dir))| {
                let text = if *is_dir { format!("[{n}/]") } else { n.clone() };
                if i == c.selected {
                    Line::styled(format!("> {text}"), Style::new().reversed())
                } else {
                    Line::raw(format!("  {text}"))
                }
            })
            .collect();
        let skip = c.selected.saturating_sub(usize::from(list.height.saturating_sub(1)));
        f.render_widget(Paragraph::new(rows.into_iter().skip(skip).collect::<Vec<_>>()), list);
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::raw("File name: "),
                Span::styled(format!("{:<40}", c.name), Style::new().add_modifier(Modifier::REVERSED)),
                Span::raw("  (.pfx is added)"),
            ])),
            name,
        );
        if let Some(e) = &c.error {
            f.render_widget(Paragraph::new(e.as_str()).style(error_style()), err);
        }
    }

    pub(super) fn draw_done(&self, f: &mut Frame, area: Rect) {
        let ok = Style::new().fg(Color::Green);
        let mut lines: Vec<Line<'static>> = Vec::new();
        if let Some(r) = &self.report {
            if let Some(id) = r.request {
                lines.push(Line::styled(format!("✓ Downloaded: the certificate of request {id}."), ok));
            }
            if let Some(i) = &r.installed {
                lines.push(Line::styled(format!("✓ {i}"), ok));
            }
            match &r.backup {
                Some(p) => {
                    lines.push(Line::styled(format!("✓ Backed up to {}", p.display()), ok));
                    lines.push(Line::raw(""));
                    lines.push(Line::raw(ops::BACKUP_ADVICE));
                }
                None => {
                    lines.push(Line::styled(
                        "✗ No backup was made: you can back the certificate up later with Backup (b) on the Main Menu.",
                        Style::new().fg(Color::Yellow),
                    ));
                }
            }
        }
        lines.push(Line::raw(""));
        lines.push(Line::from(button("OK", true)).alignment(Alignment::Center));
        self.dialog(f, area, "Confirmation", lines, 16);
    }
}
