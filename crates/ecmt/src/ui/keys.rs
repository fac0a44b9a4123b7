//! Keys: what each key does on each screen, turned into an [`Action`] for `actions`.

use super::*;

impl App {
    // ---- keys --------------------------------------------------------------------------

    pub(super) fn on_key(&mut self, k: KeyEvent) -> Option<Action> {
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            self.quit = true;
            return None;
        }
        match self.screen {
            Screen::Welcome => self.welcome_key(k),
            Screen::Logon => self.logon_key(k),
            Screen::LogonOk => {
                // OK closes the dialog; any other key closes it and does its Main Menu job.
                self.go(Screen::MainMenu);
                if matches!(k.code, KeyCode::Enter | KeyCode::Esc | KeyCode::Char(' ')) {
                    None
                } else {
                    self.main_key(k)
                }
            }
            Screen::MainMenu => self.main_key(k),
            Screen::Policy => self.policy_key(k),
            Screen::Journey => None,
            Screen::BackupOffer => self.offer_key(k),
            Screen::Chooser => self.chooser_key(k),
            Screen::Backup => self.backup_key(k),
            Screen::Done => self.done_key(k),
            Screen::Restore => self.restore_key(k),
            Screen::About => {
                if matches!(k.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q' | 'Q' | 'a' | 'A')) {
                    self.go(self.back);
                }
                None
            }
        }
    }

    pub(super) fn welcome_key(&mut self, k: KeyEvent) -> Option<Action> {
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
                self.form = self.logon_form();
                self.go(Screen::Logon);
                None
            }
            "Restore" => {
                self.form = Form::restore();
                self.back = Screen::Welcome;
                self.go(Screen::Restore);
                None
            }
            "About" => {
                self.back = Screen::Welcome;
                self.go(Screen::About);
                None
            }
            _ => {
                self.quit = true;
                None
            }
        }
    }

    pub(super) fn logon_key(&mut self, k: KeyEvent) -> Option<Action> {
        match self.form.on_key(k) {
            FormEvent::Cancel => {
                self.form = self.logon_form();
                self.go(Screen::Welcome);
                None
            }
            FormEvent::Submit => {
                Some(Action::Login { epoc: self.form.value(0).trim().to_string(), pin: self.form.value(1).to_string() })
            }
            FormEvent::None => None,
        }
    }

    pub(super) fn main_key(&mut self, k: KeyEvent) -> Option<Action> {
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
            KeyCode::F(5) => return self.main_button_action(1),
            KeyCode::Char(c) => {
                let key = if c == 'r' || c == 'R' { "F5".to_string() } else { c.to_ascii_lowercase().to_string() };
                if c == 'q' || c == 'Q' {
                    self.quit = true;
                } else if let Some(i) = MAIN_BUTTONS.iter().position(|(_, k)| *k == key) {
                    return self.main_button_action(i);
                }
            }
            _ => {}
        }
        None
    }

    pub(super) fn main_button_action(&mut self, i: usize) -> Option<Action> {
        self.main_button = i;
        match MAIN_BUTTONS.get(i).map(|b| b.0).unwrap_or_default() {
            "Request and Download Cert" => {
                self.policy_for_journey = true;
                Some(Action::LoadPolicy)
            }
            "Refresh" => Some(Action::Refresh),
            "Request Cert" => {
                self.policy_for_journey = false;
                Some(Action::LoadPolicy)
            }
            "Download" => self.download_selected(),
            "Restore" => {
                self.form = Form::restore();
                self.back = Screen::MainMenu;
                self.go(Screen::Restore);
                None
            }
            "About" => {
                self.back = Screen::MainMenu;
                self.go(Screen::About);
                None
            }
            "Backup" => {
                match self.e.store.installed() {
                    Ok(Some(inst)) => {
                        let name = format!("ecmt-backup-{}.pfx", inst.info.serial.chars().take(16).collect::<String>());
                        self.report = None;
                        self.form = Form::backup(self.backup_dir.join(name).display().to_string());
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

    pub(super) fn download_selected(&mut self) -> Option<Action> {
        let Some(r) = self.selected() else {
            self.say(Kind::Error, "No request is selected: choose one with ↑/↓, or press n to request a certificate.");
            return None;
        };
        let (id, status) = (r.id, r.status);
        let text = match status.as_str() {
            "approved" | "downloaded" => return Some(Action::Download(id)),
            "denied" => format!("Request {id} cannot be downloaded: {}", status_hint(r)),
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

    pub(super) fn policy_key(&mut self, k: KeyEvent) -> Option<Action> {
        match k.code {
            KeyCode::Up => self.policy_scroll = self.policy_scroll.saturating_sub(1),
            KeyCode::Down => self.policy_scroll = self.policy_scroll.saturating_add(1),
            KeyCode::PageUp => self.policy_scroll = self.policy_scroll.saturating_sub(10),
            KeyCode::PageDown => self.policy_scroll = self.policy_scroll.saturating_add(10),
            KeyCode::Left | KeyCode::Right | KeyCode::Tab | KeyCode::BackTab => {
                self.policy_accept_focused = !self.policy_accept_focused;
            }
            KeyCode::Enter if self.policy_accept_focused => {
                let journey = self.policy_for_journey;
                return self.policy.as_ref().map(|p| {
                    if journey { Action::Journey(p.version.clone()) } else { Action::CreateRequest(p.version.clone()) }
                });
            }
            KeyCode::Enter | KeyCode::Esc | KeyCode::Char('c' | 'C') => {
                self.go(Screen::MainMenu);
                self.say(Kind::Info, "The policy was not accepted: nothing was requested.");
            }
            _ => {}
        }
        None
    }

    pub(super) fn backup_key(&mut self, k: KeyEvent) -> Option<Action> {
        match self.form.on_key(k) {
            FormEvent::Cancel => {
                if self.report.is_some() {
                    self.go(Screen::Done);
                } else {
                    self.go(Screen::MainMenu);
                    self.say(Kind::Info, "Backup cancelled: nothing was written.");
                }
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
                let file = ops::with_pfx(&expand_home(self.form.value(0).trim()));
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

    pub(super) fn restore_key(&mut self, k: KeyEvent) -> Option<Action> {
        match self.form.on_key(k) {
            FormEvent::Cancel => {
                self.go(self.back);
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
}
