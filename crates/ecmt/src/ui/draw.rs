//! Drawing: the title bar, each screen and the status lines.

use super::*;

impl App {
    pub(super) fn draw(&mut self, f: &mut Frame) {
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
        let under = match self.screen {
            Screen::Restore | Screen::About => self.back,
            other => other,
        };
        match under {
            Screen::Welcome | Screen::Restore | Screen::About => self.draw_welcome(f, body),
            Screen::Logon => self.draw_logon(f, body),
            _ => self.draw_main(f, body),
        }
        match self.screen {
            Screen::Restore | Screen::Backup => {
                let w = body.width.saturating_sub(4).min(100);
                self.form.draw(f, body.centered(Constraint::Length(w), Constraint::Length(self.form.height() + 2)));
            }
            Screen::Policy => self.draw_policy(f, body),
            Screen::About => self.draw_about(f, body),
            Screen::LogonOk => self.draw_logon_ok(f, body),
            Screen::Journey => self.draw_journey(f, body),
            Screen::BackupOffer => self.draw_offer(f, body),
            Screen::Chooser => self.draw_chooser(f, body),
            Screen::Done => self.draw_done(f, body),
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

    pub(super) fn hints(&self) -> &'static str {
        match self.screen {
            Screen::Welcome => "↑/↓ Tab choose · Enter select · L Logon · R Restore · A About · Q Quit",
            Screen::Logon => "Tab next field · Enter Logon · Esc back · Ctrl+U clear field",
            Screen::MainMenu => {
                "↑/↓ select · c Request and Download Cert · F5/r Refresh · n Request Cert · d Download · b Backup · t Restore · a About · o Logout · q Quit"
            }
            Screen::LogonOk | Screen::Done => "Enter OK",
            Screen::Journey => "Please wait · Esc stops waiting for the approval (the request stays)",
            Screen::BackupOffer => "←/→ choose · Enter confirm · Y Yes · N No",
            Screen::Chooser => {
                "↑/↓ select · Enter open folder / choose · type a file name · Backspace · Ctrl+U clear · Esc no backup"
            }
            Screen::Policy => "↑/↓ PgUp/PgDn scroll · ←/→ Tab choose · Enter confirm · Esc Cancel",
            Screen::Backup | Screen::Restore => "Tab next field · Enter OK · Esc Cancel · Ctrl+U clear field",
            Screen::About => "Esc/Enter close",
        }
    }

    pub(super) fn status_lines(&self) -> Vec<Line<'static>> {
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
                    "UPDATE REQUIRED: ecmt {} is below the minimum supported version {}. Quit and run `sudo ecmt update`, or download the current version from {}/download",
                    ops::VERSION,
                    u.minimum_version.clone().unwrap_or_default(),
                    self.e.server.trim_end_matches('/')
                ),
                error_style(),
            ),
            UpdateStatus::Checked(u) if u.update_available => Span::styled(
                format!(
                    "Update available: ecmt {} — run `sudo ecmt update` (or see {}/download)",
                    u.latest.as_ref().map(|r| r.version.clone()).unwrap_or_default(),
                    self.e.server.trim_end_matches('/')
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
        // Issue 11: revocation, expiry and trust changes found at start-up (health.rs).
        lines.extend(self.health.iter().map(|l| Line::styled(l.clone(), Style::new().fg(Color::Yellow).bold())));
        lines.push(match self.e.session() {
            Some(s) => Line::raw(format!(
                "Session:      logged on as {} (EPOC {}) until {}",
                s.name,
                s.epoc,
                crate::fmt_time(s.expires_at)
            )),
            None => Line::raw("Session:      not logged on"),
        });
        lines
    }

    pub(super) fn draw_welcome(&self, f: &mut Frame, area: Rect) {
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

    pub(super) fn draw_logon(&self, f: &mut Frame, area: Rect) {
        let w = area.width.saturating_sub(4).min(100);
        self.form.draw(f, area.centered(Constraint::Length(w), Constraint::Length(self.form.height() + 2)));
    }

    pub(super) fn draw_main(&mut self, f: &mut Frame, area: Rect) {
        let block = panel().title(" Main Menu ").title_style(Style::new().bold());
        let inner = block.inner(area);
        f.render_widget(block, area);
        let [who, table, detail, buttons] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(2), Constraint::Length(2)])
                .areas(inner);
        let who_text = match self.e.session() {
            Some(s) => format!(
                "You are currently logged on as {} (EPOC {}) · session until {}",
                s.name,
                s.epoc,
                crate::fmt_time(s.expires_at)
            ),
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
                    Span::styled(words::status_short(r), status_style(r.status)),
                    Span::raw(crate::fmt_time(r.created_at)),
                    Span::raw(issued),
                ])
            })
            .collect();
        let t = Table::new(
            rows,
            [Constraint::Length(12), Constraint::Length(24), Constraint::Length(22), Constraint::Length(22)],
        )
        .header(Row::new(vec!["Request ID", "Status", "Created", "Issued"]).style(Style::new().bold().underlined()))
        .row_highlight_style(Style::new().reversed())
        .highlight_symbol("> ");
        f.render_stateful_widget(t, table, &mut self.table);
        let detail_text = match self.selected() {
            Some(r) => format!("Request {}: {}", r.id, status_hint(r)),
            None => {
                "No requests yet: press c (Request and Download Cert) to get a certificate for this machine.".into()
            }
        };
        f.render_widget(
            Paragraph::new(detail_text).style(Style::new().fg(Color::Cyan)).wrap(Wrap { trim: true }),
            detail,
        );
        // Two rows: the journey and the request buttons, then the rest.
        let mut rows = vec![Vec::new(), Vec::new()];
        for (i, (name, key)) in MAIN_BUTTONS.iter().enumerate() {
            let row = &mut rows[usize::from(i >= 4)];
            row.push(button(&format!("{name} ({key})"), i == self.main_button && self.screen == Screen::MainMenu));
            row.push(Span::raw("  "));
        }
        let lines: Vec<Line> = rows.into_iter().map(Line::from).collect();
        f.render_widget(Paragraph::new(lines).alignment(Alignment::Center), buttons);
    }

    pub(super) fn draw_policy(&self, f: &mut Frame, area: Rect) {
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

    pub(super) fn draw_about(&self, f: &mut Frame, area: Rect) {
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
