//! The lines each sink gets: `linkshim.log`'s, stderr's, and a runtime's
//! `--log` file's in its `--log-format`, shaped as runc (logrus) writes them.

use std::time::SystemTime;

use log::Level;

/// The format of a runtime's `--log` file, as runc writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// logrus' text: `time="..." level=error msg="..."`.
    Text,
    /// logrus' JSON: `{"level":"error","msg":"...","time":"..."}`.
    Json,
}

impl Format {
    /// The format a `--log-format` value names (runc's default is text).
    pub fn from_flag(value: Option<&str>) -> Format {
        match value {
            Some("json") => Format::Json,
            _ => Format::Text,
        }
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

pub(super) fn stderr_line(level: Level, msg: &str) -> String {
    match level {
        Level::Error => format!("linkshim: {msg}\n"),
        other => format!("linkshim: {}: {msg}\n", level_name(other)),
    }
}

/// A line of `linkshim.log`: `<time> linkshim[<pid>] <LEVEL> <what>: <msg>`.
pub fn file_line(now: SystemTime, what: &str, level: Level, msg: &str) -> String {
    format!(
        "{} linkshim[{}] {} {what}: {msg}\n",
        humantime::format_rfc3339_millis(now),
        std::process::id(),
        level.as_str()
    )
}

/// A line of a runtime's `--log` file, as runc (logrus) writes it.
pub fn engine_line(format: Format, now: SystemTime, level: Level, msg: &str) -> String {
    let time = humantime::format_rfc3339_seconds(now).to_string();
    match format {
        Format::Json => format!(
            "{}\n",
            serde_json::json!({"level": level_name(level), "msg": msg, "time": time})
        ),
        Format::Text => format!(
            "time={} level={} msg={}\n",
            go_quote(&time),
            level_name(level),
            go_quote(msg)
        ),
    }
}

/// A string quoted as Go's `%q` does (what logrus' text format uses).
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn engine_lines_are_shaped_as_runc_writes_them() {
        let json = engine_line(Format::Json, at(), Level::Error, "linkshim: no \"db\"");
        assert_eq!(
            json,
            "{\"level\":\"error\",\"msg\":\"linkshim: no \\\"db\\\"\",\"time\":\"2023-11-14T22:13:20Z\"}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["msg"], "linkshim: no \"db\"");
        let text = engine_line(Format::Text, at(), Level::Warn, "a \"b\"\tc\\d\u{1}");
        assert_eq!(
            text,
            "time=\"2023-11-14T22:13:20Z\" level=warning msg=\"a \\\"b\\\"\\tc\\\\d\\x01\"\n"
        );
        assert_eq!(Format::from_flag(Some("json")), Format::Json);
        assert_eq!(Format::from_flag(Some("text")), Format::Text);
        assert_eq!(Format::from_flag(None), Format::Text);
    }

    #[test]
    fn file_lines_carry_time_pid_level_and_stage() {
        let line = file_line(at(), "hook precreate", Level::Debug, "link db");
        assert_eq!(
            line,
            format!(
                "2023-11-14T22:13:20.000Z linkshim[{}] DEBUG hook precreate: link db\n",
                std::process::id()
            )
        );
    }
}
