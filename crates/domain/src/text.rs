//! Small text helpers shared by the services.

/// At most `max` characters of `text`, cut at a character boundary (never inside a UTF-8
/// sequence), without copying.
pub fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// The largest index at most `max` that is a character boundary of `text` (so `text[..i]` is
/// at most `max` bytes and valid UTF-8).
pub fn floor_char_boundary(text: &str, max: usize) -> usize {
    if max >= text.len() {
        return text.len();
    }
    (0..=max)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_boundaries_stay_inside_characters() {
        assert_eq!(floor_char_boundary("Grüße", 3), 2);
        assert_eq!(floor_char_boundary("Grüße", 4), 4);
        assert_eq!(floor_char_boundary("abc", 10), 3);
        assert_eq!(floor_char_boundary("€", 2), 0);
    }

    #[test]
    fn truncates_on_characters() {
        assert_eq!(truncate_chars("Grüße", 3), "Grü");
        assert_eq!(truncate_chars("abc", 10), "abc");
        assert_eq!(truncate_chars("", 0), "");
    }
}
