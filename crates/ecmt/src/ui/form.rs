//! The dialogs' forms (Logon, Backup, Restore): fields, OK and Cancel, and the widgets they share.

use super::*;

/// A text field of a form.
pub(super) struct Field {
    pub(super) label: &'static str,
    pub(super) value: String,
    pub(super) masked: bool,
}

/// What a key did to a form.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum FormEvent {
    None,
    Submit,
    Cancel,
}

/// A form: fields, then an OK and a Cancel button. `focus` counts fields, then the buttons.
pub(super) struct Form {
    pub(super) title: &'static str,
    pub(super) intro: &'static str,
    pub(super) ok_label: &'static str,
    pub(super) fields: Vec<Field>,
    pub(super) focus: usize,
    pub(super) error: Option<String>,
    /// Set when the file exists: a second OK for the same file replaces it.
    pub(super) confirmed_overwrite: Option<PathBuf>,
}

impl Form {
    pub(super) fn new(
        title: &'static str,
        intro: &'static str,
        ok_label: &'static str,
        fields: &[(&'static str, bool)],
    ) -> Self {
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

    pub(super) fn logon() -> Self {
        Form::new(
            "Logon",
            "Enter your organisation code (EPOC) and the PIN from your PIN letter.",
            "Logon",
            &[("EPOC", false), ("PIN", true)],
        )
    }

    /// The Logon form with the EPOC of the last logon filled in (the focus on the PIN).
    pub(super) fn logon_with(epoc: Option<String>) -> Self {
        let mut f = Form::logon();
        if let Some(e) = epoc.filter(|e| !e.is_empty()) {
            f.fields[0].value = e;
            f.focus = 1;
        }
        f
    }

    pub(super) fn backup(default_file: String) -> Self {
        let mut f = Form::new(
            "Backup Certificate",
            "Back up the installed key and certificate to a password-protected file (.pfx is added to the name). The password needs 8+ characters with upper and lower case and a digit.",
            "Backup",
            &[("Certificate File", false), ("Password", true), ("Repeat Password", true)],
        );
        f.fields[0].value = default_file;
        f.focus = 1;
        f
    }

    pub(super) fn restore() -> Self {
        Form::new(
            "Restore",
            "Install a key and certificate from a .pfx backup file.",
            "OK",
            &[("File", false), ("Password", true)],
        )
    }

    pub(super) fn value(&self, i: usize) -> &str {
        self.fields.get(i).map(|f| f.value.as_str()).unwrap_or_default()
    }

    pub(super) fn ok_index(&self) -> usize {
        self.fields.len()
    }

    pub(super) fn cancel_index(&self) -> usize {
        self.fields.len() + 1
    }

    pub(super) fn on_key(&mut self, k: KeyEvent) -> FormEvent {
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
    pub(super) fn height(&self) -> u16 {
        // intro, blank, fields, blank, buttons, blank, four lines of message
        u16::try_from(self.fields.len()).unwrap_or(8) + 9
    }

    pub(super) fn draw(&self, f: &mut Frame, area: Rect) {
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
pub(super) fn panel() -> Block<'static> {
    Block::bordered().padding(Padding::horizontal(1))
}

pub(super) fn button(label: &str, focused: bool) -> Span<'static> {
    let style = if focused { Style::new().bold().add_modifier(Modifier::REVERSED) } else { Style::new().bold() };
    Span::styled(format!("[ {label} ]"), style)
}

pub(super) fn error_style() -> Style {
    Style::new().fg(Color::Red).bold()
}
