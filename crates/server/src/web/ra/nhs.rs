//! The NHS.UK design-system pieces the console's pages share: the error summary and form
//! fields with their error messages, status tags (card states, request states, unlock codes)
//! and summary lists. Markup only (maud escapes every value); no page logic.

use maud::{Markup, html};

/// A field's refusal: the field's element id (the summary links to it) and the message.
pub(crate) struct FieldError {
    /// The `id` of the input the message is about.
    pub(crate) id: &'static str,
    /// What is wrong and what to do.
    pub(crate) message: String,
}

/// The errors of a form, in the order of its fields.
#[derive(Default)]
pub(crate) struct Errors(pub(crate) Vec<FieldError>);

impl Errors {
    /// Adds a refusal for field `id`.
    pub(crate) fn add(&mut self, id: &'static str, message: impl Into<String>) {
        self.0.push(FieldError { id, message: message.into() });
    }

    /// The message for field `id`, if it was refused.
    pub(crate) fn of(&self, id: &str) -> Option<&str> {
        self.0.iter().find(|e| e.id == id).map(|e| e.message.as_str())
    }

    /// Whether nothing was refused.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The NHS.UK error summary: "There is a problem" and a link to every refused field.
    pub(crate) fn summary(&self) -> Markup {
        html! {
            @if !self.0.is_empty() {
                div.nhsuk-error-summary aria-labelledby="error-summary-title" role="alert" tabindex="-1" {
                    h2.nhsuk-error-summary__title id="error-summary-title" { "There is a problem" }
                    div.nhsuk-error-summary__body {
                        ul."nhsuk-list"."nhsuk-error-summary__list" {
                            @for e in &self.0 { li { a href=(format!("#{}", e.id)) { (e.message) } } }
                        }
                    }
                }
            }
        }
    }
}

/// A text input with its label, hint and error message (NHS.UK form group).
pub(crate) struct Field<'a> {
    /// Element id (and the error summary's anchor).
    pub(crate) id: &'static str,
    /// Form name.
    pub(crate) name: &'static str,
    /// Label text.
    pub(crate) label: &'a str,
    /// Hint under the label.
    pub(crate) hint: Option<&'a str>,
    /// Current value.
    pub(crate) value: &'a str,
    /// `type` (text, email, tel).
    pub(crate) kind: &'static str,
    /// `autocomplete` value.
    pub(crate) autocomplete: &'static str,
    /// `inputmode` value, if any.
    pub(crate) inputmode: Option<&'static str>,
    /// Width class (`nhsuk-input--width-10` …), if any.
    pub(crate) width: Option<&'static str>,
}

impl Field<'_> {
    /// The form group, with `error` shown above the input when given.
    pub(crate) fn render(&self, error: Option<&str>) -> Markup {
        let hint_id = format!("{}-hint", self.id);
        let error_id = format!("{}-error", self.id);
        let described = match (self.hint.is_some(), error.is_some()) {
            (true, true) => Some(format!("{hint_id} {error_id}")),
            (true, false) => Some(hint_id.clone()),
            (false, true) => Some(error_id.clone()),
            (false, false) => None,
        };
        let class = match (self.width, error.is_some()) {
            (Some(w), true) => format!("nhsuk-input {w} nhsuk-input--error"),
            (Some(w), false) => format!("nhsuk-input {w}"),
            (None, true) => "nhsuk-input nhsuk-input--error".to_string(),
            (None, false) => "nhsuk-input".to_string(),
        };
        html! {
            div class=(if error.is_some() { "nhsuk-form-group nhsuk-form-group--error" } else { "nhsuk-form-group" }) {
                label.nhsuk-label for=(self.id) { (self.label) }
                @if let Some(h) = self.hint { div.nhsuk-hint id=(hint_id) { (h) } }
                @if let Some(e) = error { span.nhsuk-error-message id=(error_id) { span.nhsuk-u-visually-hidden { "Error: " } (e) } }
                input class=(class) id=(self.id) name=(self.name) type=(self.kind) value=(self.value)
                    autocomplete=(self.autocomplete) inputmode=[self.inputmode] aria-describedby=[described] spellcheck="false";
            }
        }
    }
}

/// An NHS.UK tag: `text` in colour `colour` (green, red, grey, yellow, blue, orange, …).
pub(crate) fn tag(text: &str, colour: &str) -> Markup {
    html! { strong class=(format!("nhsuk-tag nhsuk-tag--{colour}")) { (text) } }
}

/// A card's state as a tag (the state's stored text, so pages and tests read the same word).
pub(crate) fn card_tag(status: store::CardStatus) -> Markup {
    let colour = match status {
        store::CardStatus::Active => "green",
        store::CardStatus::Locked => "red",
        store::CardStatus::Cancelled => "grey",
    };
    tag(&status.to_string(), colour)
}

/// A machine-certificate request's state as a tag.
pub(crate) fn request_tag(status: &str) -> Markup {
    let colour = match status {
        "pending" => "yellow",
        "approved" | "downloaded" | "installed" => "green",
        "denied" | "cancelled" => "red",
        _ => "grey",
    };
    tag(status, colour)
}

/// A summary list (key, value) without actions.
pub(crate) fn summary(id: &str, rows: &[(&str, Markup)]) -> Markup {
    html! {
        dl.nhsuk-summary-list id=(id) {
            @for (k, v) in rows {
                div."nhsuk-summary-list__row"."nhsuk-summary-list__row--no-actions" {
                    dt.nhsuk-summary-list__key { (k) }
                    dd.nhsuk-summary-list__value { (v) }
                }
            }
        }
    }
}
