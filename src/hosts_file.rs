//! A linker's hosts file on disk, after its creation: the lock that
//! serializes its refreshes, and its crash-safe rewrite in place.
//!
//! # Why in place, and why that is safe
//!
//! The file is bind-mounted over the container's `/etc/hosts`, so a refresh
//! must keep its inode: no temp file and rename. Everything before
//! linkshim's `BEGIN` line (the base the engine or precreate wrote) is never
//! written again; linkshim owns the file from its `BEGIN` line to the end.
//! A rewrite is a fixed sequence of steps ([`plan`]), each one `pwrite` or
//! one `ftruncate`:
//!
//! 1. **Blank the old block.** Every byte after the `BEGIN` line becomes
//!    `#`, except newlines, which stay where they are.
//! 2. **Write the new block, commented.** The new lines and the `END` line,
//!    each line's first byte replaced by `#`.
//! 3. **Switch each line on**: one single-byte write per line puts its real
//!    first byte back.
//! 4. **Cut** the file after the new `END` line.
//!
//! A hosts reader (glibc's nss_files, musl, busybox) drops everything from a
//! `#` to the end of the line, and skips a line with no address or no name.
//! A crash, `ENOSPC` or a short write stops the sequence after any byte; at
//! that byte the file reads as:
//!
//! - during step 1: a prefix of `#`s that ends inside an old line, so that
//!   line is a comment, and the old lines after it untouched (old names,
//!   old addresses, each line whole);
//! - during step 2: new commented lines, then one line that starts with a
//!   new `#` and runs into step 1's `#`s, then step 1's `#` lines: comments
//!   and blank lines only (the block's names are absent for that instant);
//! - during step 3: each line either switched on whole or still a comment.
//!   A line is only ever switched on by its first byte, after all its other
//!   bytes are in place, so no reader ever sees half an address or half a
//!   name;
//! - before step 4: the new block, then `#` lines.
//!
//! So no state has a line a reader misreads, and the next rewrite rebuilds
//! the block from the same base whatever state it finds (a `BEGIN` line is
//! never written over once it is whole; a torn `BEGIN` at the very end is
//! recognised as one). No fsync between the steps: the page cache keeps a
//! process's writes in order across its crash, and a power loss ends the
//! containers that read the file (the state directory is a tmpfs).
//!
//! The same holds for a reader that reads while a rewrite runs, as far as
//! the kernel copies a write's bytes in order.
//!
//! # The lock
//!
//! A refresh reads the registry, renders, and rewrites: two at once could
//! lose one's line. Each rewrite of `hosts/<token>` holds an exclusive
//! `flock` on `hosts/<token>.lock`, taken before the registry is read, so
//! the last refresh renders from what every earlier one registered. The lock
//! file lives in the root-only state directory: no container can hold it.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use crate::render::hosts;

/// How long a refresh waits for another one on the same hosts file.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// The most of a hosts file that is read.
const MAX_READ: u64 = 1 << 20;

/// One step of a rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write these bytes at this offset.
    Write { at: u64, bytes: Vec<u8> },
    /// Cut (or extend) the file to this length.
    Truncate(u64),
}

/// Where a file writes: a file, or a test's file that fails on purpose.
pub trait Sink {
    /// Write some of `buf` at `offset`; how many bytes were written.
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<usize>;
    /// Set the file's length.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

impl Sink for File {
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<usize> {
        FileExt::write_at(self, buf, offset)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
}

/// The offset of the first line that is exactly `BEGIN` (trailing blanks
/// allowed) and ends in a newline, and the offset after that newline.
fn find_begin(text: &[u8]) -> Option<(usize, usize)> {
    let mut start = 0;
    while start < text.len() {
        let end = text[start..].iter().position(|&b| b == b'\n')? + start;
        if text[start..end].trim_ascii_end() == hosts::BEGIN.as_bytes() {
            return Some((start, end + 1));
        }
        start = end + 1;
    }
    None
}

/// `bytes` with the first byte of each line set to `#`, and the offsets
/// (in `bytes`) of the lines whose first byte was something else.
fn commented(bytes: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut out = bytes.to_vec();
    let mut flips = Vec::new();
    let mut at_start = true;
    for (i, b) in out.iter_mut().enumerate() {
        if at_start && *b != b'#' && *b != b'\n' {
            *b = b'#';
            flips.push(i);
        }
        at_start = *b == b'\n';
    }
    (out, flips)
}

/// The steps that turn `text` (a whole hosts file) into its base followed
/// by a block of `lines`; none when it already is that. Pure.
pub fn plan(text: &[u8], lines: &[hosts::Line]) -> Vec<Step> {
    let block = if lines.is_empty() {
        String::new()
    } else {
        hosts::render("", lines)
    };
    // Where linkshim's part starts, what stays of it (a whole BEGIN line),
    // and what is new.
    let (cut, keep, new): (usize, usize, Vec<u8>) = match find_begin(text) {
        Some((begin, body)) if !lines.is_empty() => {
            (begin, body, block.as_bytes()[body - begin..].to_vec())
        }
        Some((begin, _)) => (begin, begin, Vec::new()),
        None => {
            // A last line without its newline that is a piece of BEGIN is
            // a torn BEGIN: it is written over.
            let tail = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let torn = tail < text.len() && hosts::BEGIN.as_bytes().starts_with(&text[tail..]);
            let start = if torn { tail } else { text.len() };
            let mut new = Vec::new();
            if !lines.is_empty() && start > 0 && text[start - 1] != b'\n' {
                new.push(b'\n');
            }
            new.extend_from_slice(block.as_bytes());
            (start, start, new)
        }
    };
    let end = keep + new.len();
    if text.get(keep..) == Some(&new[..]) {
        return Vec::new();
    }
    let mut steps = Vec::new();
    if new.is_empty() {
        steps.push(Step::Truncate(cut as u64));
        return steps;
    }
    // Step 1: only a BEGIN line kept whole has an old block after it.
    let old = &text[keep..];
    if keep > cut && !old.is_empty() {
        let blank = old
            .iter()
            .map(|&b| if b == b'\n' { b'\n' } else { b'#' })
            .collect();
        steps.push(Step::Write {
            at: keep as u64,
            bytes: blank,
        });
    }
    let (hidden, flips) = commented(&new);
    steps.push(Step::Write {
        at: keep as u64,
        bytes: hidden,
    });
    for i in flips {
        steps.push(Step::Write {
            at: (keep + i) as u64,
            bytes: vec![new[i]],
        });
    }
    steps.push(Step::Truncate(end as u64));
    steps
}

/// Run `steps` on `sink`, in order; the first failure stops them.
pub fn apply(steps: &[Step], sink: &mut impl Sink) -> io::Result<()> {
    for step in steps {
        match step {
            Step::Write { at, bytes } => {
                let mut done = 0;
                while done < bytes.len() {
                    match sink.write_at(&bytes[done..], at + done as u64) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => done += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Step::Truncate(len) => sink.set_len(*len)?,
        }
    }
    Ok(())
}

/// Open the hosts file at `path` for a rewrite: a regular file, never
/// through a symlink, never blocking.
pub fn open(path: &Path) -> io::Result<File> {
    let file = File::options()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// The whole of `file` (at most 1 MiB of it).
pub fn read(file: &File) -> io::Result<Vec<u8>> {
    let mut text = Vec::new();
    file.take(MAX_READ).read_to_end(&mut text)?;
    Ok(text)
}

/// Give the hosts file at `path` a block of `lines`, keeping its inode and
/// its base; false when it had it already.
pub fn rewrite(path: &Path, lines: &[hosts::Line]) -> io::Result<bool> {
    let mut file = open(path)?;
    let steps = plan(&read(&file)?, lines);
    apply(&steps, &mut file)?;
    Ok(!steps.is_empty())
}

/// The lock file of the hosts file at `path`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Held while a hosts file is refreshed; released on drop.
#[derive(Debug)]
pub struct Lock(#[allow(dead_code)] Flock<File>);

/// Lock the hosts file at `path` against other refreshes, waiting at most
/// `wait` for one that holds it.
pub fn lock(path: &Path, wait: Duration) -> io::Result<Lock> {
    let lock = lock_path(path);
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&lock)?;
    let deadline = Instant::now() + wait;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(held) => return Ok(Lock(held)),
            Err((f, nix::errno::Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                file = f;
                std::thread::sleep(Duration::from_millis(2));
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{}: another refresh held it for {} s",
                        lock.display(),
                        wait.as_secs_f32()
                    ),
                ));
            }
            Err((_, e)) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    /// What a resolver takes from a line: an address and its names.
    type Entry = (IpAddr, Vec<String>);

    const BASE: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n";

    fn line(ip: &str, names: &[&str]) -> hosts::Line {
        hosts::Line {
            ip: ip.parse().unwrap(),
            names: names.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Starting files, from clean to torn, and the lines each is given.
    fn cases() -> Vec<(&'static str, Vec<u8>, Vec<hosts::Line>)> {
        let old = vec![
            line("10.0.0.2", &["db", "330ef1855f71", "mysql"]),
            line("fd00::2", &["db", "330ef1855f71", "mysql"]),
            line("10.0.0.7", &["cache", "8c1f3e0a9d22"]),
        ];
        let shorter = vec![line("10.0.0.35", &["db2", "aa", "mysql"])];
        let longer: Vec<_> = (1..=9)
            .map(|i| line(&format!("10.1.{i}.{i}"), &[&format!("web-{i}"), "svc"]))
            .collect();
        let clean = hosts::render(BASE, &old).into_bytes();
        let mut torn_end = clean.clone();
        torn_end.extend_from_slice(b"0.0.2\tdb 330ef1855f71 mysql\n# END linkshim links\n");
        let mut torn_begin = BASE.as_bytes().to_vec();
        torn_begin.extend_from_slice(b"# BEGIN links");
        torn_begin.truncate(BASE.len() + 7);
        vec![
            ("no block yet", BASE.into(), old.clone()),
            (
                "no newline at the end",
                b"127.0.0.1\tlocalhost".to_vec(),
                old.clone(),
            ),
            ("a shorter block", clean.clone(), shorter.clone()),
            ("a longer block", clean.clone(), longer.clone()),
            ("the same size", clean.clone(), {
                let mut o = old.clone();
                o[0] = line("10.0.0.3", &["db", "330ef1855f71", "mysql"]);
                o
            }),
            ("no lines left", clean.clone(), vec![]),
            ("a torn old rewrite", torn_end, shorter.clone()),
            ("a torn BEGIN", torn_begin, longer),
        ]
    }

    /// What a hosts reader takes from each line of `text` that is not
    /// blank or a comment: (address, names), or why it cannot be read. A
    /// line is cut at `#`; the address must parse whole and be followed by
    /// a name.
    fn read_as_resolver(text: &[u8]) -> Vec<(String, Result<Entry, String>)> {
        let text = String::from_utf8_lossy(text);
        let mut out = Vec::new();
        for raw in text.split('\n') {
            let l = raw.split('#').next().unwrap().trim();
            if l.is_empty() {
                continue;
            }
            let mut words = l.split_whitespace();
            let read = match words.next().unwrap().parse() {
                Err(_) => Err(format!("half an address: {raw:?}")),
                Ok(ip) => {
                    let names: Vec<String> = words.map(str::to_string).collect();
                    if names.is_empty() {
                        Err(format!("an address with no name: {raw:?}"))
                    } else {
                        Ok((ip, names))
                    }
                }
            };
            out.push((raw.to_string(), read));
        }
        out
    }

    fn entries(lines: &[hosts::Line]) -> Vec<Entry> {
        lines.iter().map(|l| (l.ip, l.names.clone())).collect()
    }

    /// A file that accepts `budget` bytes (and `ops` calls), then fails as
    /// a full disk does; a crash at that byte leaves what it wrote.
    struct Faulty {
        file: File,
        bytes: usize,
        ops: usize,
    }

    impl Sink for Faulty {
        fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<usize> {
            if self.bytes == 0 || self.ops == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            self.ops -= 1;
            let n = buf.len().min(self.bytes);
            self.bytes -= n;
            FileExt::write_at(&self.file, &buf[..n], offset)
        }

        fn set_len(&mut self, len: u64) -> io::Result<()> {
            if self.ops == 0 {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            self.ops -= 1;
            self.file.set_len(len)
        }
    }

    fn bytes_written(steps: &[Step]) -> usize {
        steps
            .iter()
            .map(|s| match s {
                Step::Write { bytes, .. } => bytes.len(),
                Step::Truncate(_) => 0,
            })
            .sum()
    }

    /// Every active line of a file stopped mid-rewrite is a whole line of
    /// the base, the old block or the new one (or a line of the start left
    /// as it was); the next rewrite gives exactly what a rewrite with no
    /// fault gives.
    fn check_stopped_at(start: &[u8], lines: &[hosts::Line], bytes: usize, ops: usize) {
        let dir = tempfile::tempdir().unwrap();
        let clean = dir.path().join("clean");
        std::fs::write(&clean, start).unwrap();
        rewrite(&clean, lines).unwrap();
        let want = std::fs::read(&clean).unwrap();

        let path = dir.path().join("h");
        std::fs::write(&path, start).unwrap();
        let mut faulty = Faulty {
            file: open(&path).unwrap(),
            bytes,
            ops,
        };
        let _ = apply(&plan(start, lines), &mut faulty);
        let torn = std::fs::read(&path).unwrap();
        let before = read_as_resolver(start);
        let mut allowed: Vec<_> = before.iter().filter_map(|(_, r)| r.clone().ok()).collect();
        allowed.extend(entries(lines));
        let at = match (bytes, ops) {
            (usize::MAX, k) => format!("stopped at write {k}"),
            (n, _) => format!("stopped after {n} bytes"),
        };
        for (raw, read) in read_as_resolver(&torn) {
            if before.iter().any(|(r, _)| *r == raw) {
                continue;
            }
            let show = String::from_utf8_lossy(&torn);
            let entry = read.unwrap_or_else(|e| panic!("{at}: {e}\n{show}"));
            assert!(
                allowed.contains(&entry),
                "{at}: {entry:?} is no whole line\n{show}"
            );
        }
        rewrite(&path, lines).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&std::fs::read(&path).unwrap()),
            String::from_utf8_lossy(&want),
            "{at}: the next rewrite repairs it"
        );
        for (raw, read) in read_as_resolver(&want) {
            assert!(read.is_ok(), "the repaired file reads well: {raw:?}");
        }
    }

    #[test]
    fn a_rewrite_stopped_at_any_byte_reads_well_and_is_repaired() {
        for (what, start, lines) in cases() {
            let steps = plan(&start, &lines);
            let total = bytes_written(&steps);
            for n in 0..=total {
                check_stopped_at(&start, &lines, n, usize::MAX);
            }
            eprintln!("{what}: {} steps, {total} bytes", steps.len());
        }
    }

    #[test]
    fn a_rewrite_stopped_at_any_write_reads_well_and_is_repaired() {
        for (_, start, lines) in cases() {
            for k in 0..=plan(&start, &lines).len() {
                check_stopped_at(&start, &lines, usize::MAX, k);
            }
        }
    }

    #[test]
    fn a_clean_rewrite_gives_the_rendered_file() {
        for (what, start, lines) in cases() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("h");
            std::fs::write(&path, &start).unwrap();
            rewrite(&path, &lines).unwrap();
            let got = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
            let base = match find_begin(&start) {
                Some((b, _)) => String::from_utf8(start[..b].to_vec()).unwrap(),
                None if what == "a torn BEGIN" => BASE.to_string(),
                None => String::from_utf8(start.clone()).unwrap(),
            };
            let base = if base.is_empty() || base.ends_with('\n') || lines.is_empty() {
                base
            } else {
                base + "\n"
            };
            assert_eq!(got, hosts::render(&base, &lines), "{what}");
            assert!(
                !rewrite(&path, &lines).unwrap(),
                "{what}: a second rewrite changes nothing"
            );
        }
    }

    #[test]
    fn a_waiting_refresh_gives_up_after_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h");
        let held = lock(&path, LOCK_WAIT).unwrap();
        let err = lock(&path, Duration::from_millis(50)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        drop(held);
        lock(&path, Duration::from_millis(50)).expect("free again");
    }
}
