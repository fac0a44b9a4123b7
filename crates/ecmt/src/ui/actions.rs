//! Actions: each runs the same `ops` call as the command line and shows its outcome.

use super::*;

impl App {
    pub(super) async fn run_action(&mut self, terminal: &mut DefaultTerminal, action: Action) -> Result<()> {
        if let Action::Journey(version) = action {
            let r = self.run_journey(terminal, version).await;
            self.busy = None;
            // `download` may print a note on stderr, which lands on this screen: redraw all.
            terminal.clear()?;
            return r;
        }
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

    pub(super) async fn perform(&mut self, action: Action) {
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
                let update = match &self.update {
                    UpdateStatus::Checked(u) => Some(u.as_ref()),
                    _ => None,
                };
                let installed = self.installed.as_ref().ok().and_then(Option::as_ref);
                self.health = crate::health::splash_lines(&self.e, installed, update).await;
            }
            Action::Login { epoc, pin } => match self.e.login(&epoc, &pin).await {
                Ok(r) => {
                    self.form = self.logon_form();
                    self.go(Screen::MainMenu);
                    self.say(Kind::Ok, format!("Logged on as {} (EPOC {}).", r.organisation.name, r.organisation.epoc));
                    self.refresh(None).await;
                    // The guide's "Logon successful" dialog, over the Main Menu.
                    self.screen = Screen::LogonOk;
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
                        self.say(
                            Kind::Ok,
                            format!("Request {} created ({}): {}", r.id, words::status_word(&r), status_hint(&r)),
                        );
                    }
                    Err(e) => self.main_error(&e),
                }
            }
            Action::Journey(_) => {}
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
                    let file = ops::with_pfx(&file);
                    if let Some(report) = &mut self.report {
                        report.backup = Some(file);
                        self.go(Screen::Done);
                    } else {
                        self.go(Screen::MainMenu);
                        self.say(
                            Kind::Ok,
                            format!(
                                "Backed up certificate {} to {}. {}",
                                inst.info.serial,
                                file.display(),
                                ops::BACKUP_ADVICE
                            ),
                        );
                    }
                }
                Err(e) => {
                    self.form.error = Some(error_text(&e));
                    self.form.confirmed_overwrite = None;
                }
            },
            Action::Restore { file, password } => match self.e.restore(&file, &password) {
                Ok(inst) => {
                    self.installed = Ok(Some(inst.clone()));
                    self.go(self.back);
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
    pub(super) async fn refresh(&mut self, select: Option<i64>) -> bool {
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
    pub(super) fn main_error(&mut self, e: &anyhow::Error) {
        let code = e.chain().find_map(|c| c.downcast_ref::<ClientError>()).and_then(ClientError::code);
        if code == Some("session_invalid") || self.e.session().is_none() {
            self.form = self.logon_form();
            self.form.error = Some(format!("Your session has ended: log on again. ({})", error_text(e)));
            self.go(Screen::Logon);
        } else {
            self.say(Kind::Error, error_text(e));
        }
    }

    // ---- drawing -----------------------------------------------------------------------
}
