//! Reading a small file of `/proc` with as few system calls as it takes.
//! The kernel gives such files no size, so `std::fs::read_to_string` asks
//! for one (`statx`) and then reads in growing steps from 32 bytes: eight
//! calls for a `/proc/PID/stat`, read for each link target on every
//! container start. This reads 1 KiB at a time: open, read, read, close.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The whole of the text file at `path`.
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut text = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => text.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    String::from_utf8(text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_std_reads() {
        for path in [
            "/proc/self/stat",
            "/proc/self/uid_map",
            "/proc/sys/kernel/random/boot_id",
            // Longer than one chunk.
            "/proc/self/maps",
        ] {
            let ours = read_to_string(path).unwrap();
            let std = std::fs::read_to_string(path).unwrap();
            if path.ends_with("stat") {
                // Its times move between the two reads: same pid and fields.
                assert_eq!(ours.split(' ').next(), std.split(' ').next());
                assert_eq!(ours.split(' ').count(), std.split(' ').count());
            } else if !path.ends_with("maps") {
                assert_eq!(ours, std, "{path}");
            } else {
                assert!(ours.len() > 1024, "{path} spans chunks");
                assert_eq!(ours.lines().next(), std.lines().next());
            }
        }
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_to_string(file.path()).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            read_to_string("/proc/self/no-such").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
