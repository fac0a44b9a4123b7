//! The PIN letter, as PDF (to print and post) and as text.
//!
//! The PDF is one A4 page in the standard Helvetica font (no font embedded), written with
//! `pdf-writer`. Text is kept to printable ASCII so every viewer shows it the same way.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

/// What goes on a letter.
#[derive(Debug, Clone)]
pub struct PinLetter {
    /// Organisation code.
    pub epoc: String,
    /// Organisation name.
    pub organisation: String,
    /// The PIN.
    pub pin: String,
    /// Issued (YYYY-MM-DD).
    pub issued_on: String,
    /// Valid until (YYYY-MM-DD HH:MM and the zone, e.g. GMT or BST).
    pub expires: String,
    /// Helpdesk contact.
    pub helpdesk: String,
    /// Where to download ecmt.
    pub download_page: String,
}

impl PinLetter {
    /// The letter's lines (the PDF prints the same lines).
    pub fn lines(&self) -> Vec<String> {
        vec![
            "carecert - Client Certificate Management".to_string(),
            String::new(),
            format!("To: {} (EPOC {})", self.organisation, self.epoc),
            format!("Date: {}", self.issued_on),
            String::new(),
            "Your enrolment PIN".to_string(),
            String::new(),
            format!("    EPOC (organisation code):  {}", self.epoc),
            format!("    PIN:                       {}", self.pin),
            format!("    Valid until:               {}", self.expires),
            String::new(),
            "Use this PIN to obtain or renew the certificate of your system:".to_string(),
            format!("  1. Install the current ecmt client from {}.", self.download_page),
            "  2. Run `ecmt renew` (or `ecmt ui` and choose Logon) on the system.".to_string(),
            "  3. Enter the EPOC and the PIN above, and accept the acceptable-use policy.".to_string(),
            "  4. When the request is approved, the certificate is installed; make a backup.".to_string(),
            String::new(),
            "This PIN replaces every PIN sent to you before. It can be used until the date".to_string(),
            "above; after 5 wrong attempts, logon is locked for 15 minutes.".to_string(),
            "Keep this letter safe and do not send the PIN by email.".to_string(),
            String::new(),
            format!("Questions? Contact the helpdesk: {}", self.helpdesk),
        ]
    }

    /// The letter as plain text.
    pub fn text(&self) -> String {
        let mut s = self.lines().join("\n");
        s.push('\n');
        s
    }
}

/// `t` (Unix seconds) as a local date (`2026-03-01`), or with the time and the zone's
/// abbreviation (`2026-03-01 14:05 GMT`), in `tz`.
pub fn local_date(t: i64, tz: &jiff::tz::TimeZone, with_time: bool) -> String {
    let at = jiff::Timestamp::from_second(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH).to_zoned(tz.clone());
    if with_time { at.strftime("%Y-%m-%d %H:%M %Z").to_string() } else { at.strftime("%Y-%m-%d").to_string() }
}

fn ascii(s: &str) -> Vec<u8> {
    s.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c as u8 } else { b'?' }).collect()
}

/// Renders the letter as a one-page PDF.
pub fn render_letter(letter: &PinLetter) -> Vec<u8> {
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let page_id = Ref::new(3);
    let font = Ref::new(4);
    let bold = Ref::new(5);
    let contents = Ref::new(6);
    let info = Ref::new(7);

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page_id]).count(1);
    let mut page = pdf.page(page_id);
    page.media_box(Rect::new(0.0, 0.0, 595.0, 842.0));
    page.parent(tree);
    page.contents(contents);
    let mut resources = page.resources();
    let mut fonts = resources.fonts();
    fonts.pair(Name(b"F1"), font);
    fonts.pair(Name(b"F2"), bold);
    fonts.finish();
    resources.finish();
    page.finish();
    pdf.type1_font(font).base_font(Name(b"Helvetica")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold).base_font(Name(b"Helvetica-Bold")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.document_info(info).title(pdf_writer::TextStr("carecert enrolment PIN letter"));

    let mut c = Content::new();
    let mut y = 780.0;
    for (i, line) in letter.lines().iter().enumerate() {
        let (f, size) = match i {
            0 => (Name(b"F2"), 16.0),
            5 => (Name(b"F2"), 14.0),
            8 => (Name(b"F2"), 13.0),
            _ => (Name(b"F1"), 11.0),
        };
        c.begin_text();
        c.set_font(f, size);
        c.next_line(60.0, y);
        c.show(Str(&ascii(line)));
        c.end_text();
        y -= if line.is_empty() { 10.0 } else { size + 7.0 };
    }
    pdf.stream(contents, &c.finish());
    pdf.finish()
}
