//! The text being read out of an office document: bounded in length, in the XML it may read
//! and in time, with lines and cells laid out as plain text.

use std::io::Read;
use std::time::Instant;

/// Why reading stopped before the end.
#[derive(Debug)]
pub enum Stop {
    /// The text reached its bound: what was read is kept, marked truncated.
    Full,
    /// The document's parts expand to more than the XML budget (a ZIP bomb, or a huge file).
    Budget,
    /// Past the deadline.
    Late,
    /// The part is not well-formed, or cannot be decompressed.
    Damaged(String),
}

pub struct Text {
    pub text: String,
    max: usize,
    pub truncated: bool,
    deadline: Instant,
    /// XML bytes that may still be read, across all parts.
    pub budget: u64,
}

impl Text {
    pub fn new(max: usize, budget: u64, deadline: Instant) -> Self {
        Self {
            text: String::new(),
            max,
            truncated: false,
            deadline,
            budget,
        }
    }

    pub fn push_str(&mut self, s: &str) -> Result<(), Stop> {
        let room = self.max - self.text.len();
        if s.len() > room {
            let cut = docuvault_domain::text::floor_char_boundary(s, room);
            self.text.push_str(&s[..cut]);
            self.truncated = true;
            return Err(Stop::Full);
        }
        self.text.push_str(s);
        Ok(())
    }

    pub fn push(&mut self, c: char) -> Result<(), Stop> {
        let mut buf = [0u8; 4];
        self.push_str(c.encode_utf8(&mut buf))
    }

    /// Ends the line (no blank lines beyond one in a row, none at the start).
    pub fn line(&mut self) -> Result<(), Stop> {
        let trimmed = self.text.trim_end_matches([' ', '\t']).len();
        self.text.truncate(trimmed);
        if self.text.is_empty() || self.text.ends_with("\n\n") {
            return Ok(());
        }
        self.push('\n')
    }

    /// Separates cells: a tab, unless the line has just begun.
    pub fn tab(&mut self) -> Result<(), Stop> {
        let trimmed = self.text.trim_end_matches(' ').len();
        self.text.truncate(trimmed);
        if self.text.is_empty() || self.text.ends_with(['\n', '\t']) {
            return Ok(());
        }
        self.push('\t')
    }

    pub fn space(&mut self) -> Result<(), Stop> {
        if self.text.is_empty() || self.text.ends_with([' ', '\n', '\t']) {
            return Ok(());
        }
        self.push(' ')
    }

    pub fn check_time(&self) -> Result<(), Stop> {
        if Instant::now() > self.deadline {
            return Err(Stop::Late);
        }
        Ok(())
    }

    /// The final text: trailing white space gone.
    pub fn finish(mut self) -> (String, bool) {
        let end = self.text.trim_end().len();
        self.text.truncate(end);
        (self.text, self.truncated)
    }
}

/// A reader that fails once `budget` bytes have been read through it, so a part that expands
/// without end stops at the bound instead of filling memory or time.
pub struct Budgeted<'a, R> {
    pub inner: R,
    pub budget: &'a mut u64,
}

/// The error a [`Budgeted`] reader ends with.
#[derive(Debug)]
pub struct OverBudget;

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the XML budget is spent")
    }
}

impl std::error::Error for OverBudget {}

impl<R: Read> Read for Budgeted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if *self.budget == 0 {
            return Err(std::io::Error::other(OverBudget));
        }
        let want = buf
            .len()
            .min(usize::try_from(*self.budget).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        *self.budget -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lines_tabs_and_the_bound() {
        let mut t = Text::new(20, 0, Instant::now() + Duration::from_secs(5));
        t.line().unwrap();
        t.push_str("a").unwrap();
        t.tab().unwrap();
        t.tab().unwrap();
        t.push_str("b ").unwrap();
        t.line().unwrap();
        t.line().unwrap();
        t.line().unwrap();
        t.push_str("c").unwrap();
        assert_eq!(t.text, "a\tb\n\nc");
        assert!(matches!(t.push_str("ünïcödé ünïcödé"), Err(Stop::Full)));
        let (text, truncated) = t.finish();
        assert!(truncated && text.len() <= 20, "{text}");
    }

    #[test]
    fn the_budget_ends_reading() {
        let mut budget = 10;
        let mut r = Budgeted {
            inner: std::io::repeat(b'x'),
            budget: &mut budget,
        };
        let mut sink = Vec::new();
        let err = r.read_to_end(&mut sink).unwrap_err();
        assert!(err.get_ref().is_some_and(|e| e.is::<OverBudget>()));
        assert_eq!(sink.len(), 10);
    }
}
