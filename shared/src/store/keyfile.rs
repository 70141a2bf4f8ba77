//! Random keys kept in files readable only by their owner (mode 0600), created on first use.

use std::{
    fs::OpenOptions,
    io::{self, Read, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
};

/// Reads the `len`-byte key at `path`, creating it with fresh random bytes and mode 0600 if it
/// does not exist. A key file that others can read is refused rather than trusted.
pub fn load_or_create(path: &Path, len: usize) -> io::Result<Vec<u8>> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            let mut key = vec![0u8; len];
            getrandom::fill(&mut key).map_err(io::Error::other)?;
            file.write_all(&key)?;
            file.sync_all()?;
            Ok(key)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let mut file = OpenOptions::new().read(true).open(path)?;
            let mode = file.metadata()?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "key file {} has mode {mode:o}; it must be readable by its owner only (chmod 600)",
                        path.display()
                    ),
                ));
            }
            let mut key = Vec::with_capacity(len);
            file.read_to_end(&mut key)?;
            if key.len() != len {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("key file {} is not a {len}-byte key", path.display()),
                ));
            }
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_key_once_and_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let first = load_or_create(&path, 32).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load_or_create(&path, 32).unwrap(), first);
        assert_ne!(first, vec![0u8; 32]);
    }

    #[test]
    fn refuses_a_world_readable_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        load_or_create(&path, 32).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(&path, 32).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    }
}
