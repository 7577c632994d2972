//! What a message may carry: URL passwords masked, long quoted input cut
//! with a marker, the whole bounded and on one line.

/// The longest quoted string kept whole in a message, in bytes.
pub const QUOTE_CAP: usize = 256;
/// The longest message kept whole, in bytes.
pub const MESSAGE_CAP: usize = 4096;

/// A message as every sink gets it: URL passwords masked, long quoted
/// strings cut, the whole capped, on one line.
pub fn clean(msg: &str) -> String {
    let masked = mask_passwords(msg);
    let mut out = cap_quotes(&masked, QUOTE_CAP);
    if out.len() > MESSAGE_CAP {
        let cut = floor_boundary(&out, MESSAGE_CAP);
        let more = out.len() - cut;
        out.truncate(cut);
        out.push_str(&format!("...[{more} more bytes]"));
    }
    out.replace(['\n', '\r'], " ")
}

fn floor_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Cut every `"..."` (as `{:?}` writes it) longer than `cap` bytes, with
/// a marker saying how much was cut; the closing quote stays.
fn cap_quotes(msg: &str, cap: usize) -> String {
    let mut out = String::with_capacity(msg.len().min(MESSAGE_CAP + 64));
    let mut rest = msg;
    while let Some(open) = rest.find('"') {
        out.push_str(&rest[..=open]);
        let body = &rest[open + 1..];
        // The closing quote is the first one not escaped by a backslash.
        let mut close = None;
        let mut escaped = false;
        for (i, b) in body.bytes().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => {
                    close = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = close.unwrap_or(body.len());
        let inner = &body[..end];
        if inner.len() > cap {
            let cut = floor_boundary(inner, cap);
            out.push_str(&inner[..cut]);
            out.push_str(&format!("...[{} more bytes]", inner.len() - cut));
        } else {
            out.push_str(inner);
        }
        match close {
            Some(i) => {
                out.push('"');
                rest = &body[i + 1..];
            }
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// Replace the password of every `scheme://user:password@host` with `***`.
pub fn mask_passwords(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The authority ends at a path, query, fragment, space or quote.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '\\') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(userinfo_end) => {
                let userinfo = &authority[..userinfo_end];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..=colon]);
                        out.push_str("***");
                        out.push_str(&authority[userinfo_end..]);
                    }
                    None => out.push_str(authority),
                }
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_quoted_input_is_cut_with_a_marker() {
        let long = "x".repeat(10_000);
        let msg = format!("annotation io.linkshim.links: {long:?} is not a valid link: why");
        let got = clean(&msg);
        let want = format!(
            "annotation io.linkshim.links: \"{}...[{} more bytes]\" is not a valid link: why",
            "x".repeat(QUOTE_CAP),
            10_000 - QUOTE_CAP
        );
        assert_eq!(got, want);
        // Short quotes, and escaped quotes inside them, are kept as they are.
        let msg = format!("link {:?} and {:?}", "a\"b", "c");
        assert_eq!(clean(&msg), msg);
        // A multibyte character is never split.
        let msg = format!("{:?}", "é".repeat(QUOTE_CAP));
        assert!(clean(&msg).contains("more bytes]"));
        // Unquoted input is capped as a whole.
        let got = clean(&"y".repeat(MESSAGE_CAP * 2));
        assert!(got.len() < MESSAGE_CAP + 32, "{}", got.len());
        assert!(got.ends_with(&format!("...[{MESSAGE_CAP} more bytes]")));
        // One line, always.
        assert_eq!(clean("a\nb\r\nc"), "a b  c");
    }

    #[test]
    fn url_passwords_are_masked() {
        let cases = [
            (
                "url \"postgres://app:s3cret@db:5432/x\" is bad",
                "url \"postgres://app:***@db:5432/x\" is bad",
            ),
            ("redis://:pw@cache", "redis://:***@cache"),
            ("http://user@h/p", "http://user@h/p"),
            ("http://h:80/p?u=a:b@c", "http://h:80/p?u=a:b@c"),
            ("a://u:p@h b://v:q@i", "a://u:***@h b://v:***@i"),
            ("mysql://u:p:q@x@h/", "mysql://u:***@h/"),
            ("no url here", "no url here"),
        ];
        for (input, want) in cases {
            assert_eq!(mask_passwords(input), want, "{input}");
            assert_eq!(clean(input), want, "{input}");
        }
    }
}
