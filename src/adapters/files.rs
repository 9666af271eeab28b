//! Files under the data directory (the SQLite database, the master key,
//! event files, the spool) are the server's alone: directories are created
//! 0700 and files 0600, whatever the umask. The one home of that rule; every
//! adapter that creates something under the data directory calls it.
//! Existing files and directories keep the mode they have (an operator may
//! have chosen another on purpose); the master key warns when exposed.

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::path::Path;

/// Mode of the directories portcullis creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the files portcullis creates.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents, each owner-only (0700).
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// `OpenOptions` whose `create`/`create_new` makes the file owner-only
/// (0600); the caller adds read, write, append, create as it needs.
pub fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options
}

/// Creates `path` empty and owner-only if it does not exist yet (before a
/// library that opens it with its own mode, such as SQLite, creates it).
pub fn touch_private(path: &Path) -> io::Result<()> {
    match private_options().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_directories_and_files_are_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a").join("b");
        create_private_dir_all(&dir).unwrap();
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("f");
        touch_private(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        let other = dir.join("g");
        private_options()
            .append(true)
            .create(true)
            .open(&other)
            .unwrap();
        assert_eq!(mode(&other), 0o600);
        // An existing file is left as it is.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        touch_private(&file).unwrap();
        assert_eq!(mode(&file), 0o640);
    }
}
